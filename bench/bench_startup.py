"""Whole-process cost of a probe ranking: ``neurotui rank`` vs NeuroX 1.0.9, start to exit.

Why whole-process: a user waits for the command, not for the probe. The probe on
``bench/bench_probe.py``'s data takes well under a second; what else a command spends is
mostly imports (torch, h5py, scikit-learn …), which this measures by timing fresh
processes from ``exec`` to exit.

Data: ``bench/bench_probe.py``'s (50,000 tokens × 1,024 neurons × 10 classes, planted
neurons; ``--seed``), written once as a NeuroX hdf5 activation file (one layer of 1,024
neurons) with the text and label files NeuroX reads, in ``--dir`` (default: a temporary
folder). Then, ``--runs`` times each, alternating:

* neurotui: ``python -m neurotui rank FILE.hdf5 --method probe --labels LABELS --top 5``
  (the split, the z-normalisation, the probe, Algorithm 1 and the test accuracy);
* NeuroX: a fresh interpreter running its documented pipeline: ``load_activations`` →
  ``load_data`` → ``create_tensors`` → ``train_logistic_regression_probe`` (λ1 = λ2 =
  1e-5) → ``get_neuron_ordering`` (NeuroX installed as ``bench/bench_probe.py`` does it).

Both use torch's default thread count. ``--importtime`` also prints neurotui's slowest
imports (``python -X importtime``) on that command.

Usage::

    nice -n 10 .venv/bin/python bench/bench_startup.py [--runs 3] [--seed 1] [--importtime]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_NEUROX_CHILD = r"""
import sys, types
import numpy as np
np.int = int  # numpy 2 removed it; NeuroX 1.0.9 uses it
pkg, sub = types.ModuleType("imblearn"), types.ModuleType("imblearn.under_sampling")
sub.RandomUnderSampler = object  # imported by its utils, used only for balancing
sys.modules["imblearn"], sys.modules["imblearn.under_sampling"] = pkg, sub
sys.path.insert(0, sys.argv[1])
import io, contextlib
import neurox.data.loader as data_loader
import neurox.interpretation.linear_probe as linear_probe
import neurox.interpretation.utils as utils
with contextlib.redirect_stdout(io.StringIO()):
    activations, _layers = data_loader.load_activations(sys.argv[2])
    tokens = data_loader.load_data(sys.argv[3], sys.argv[4], activations, 512)
    X, y, mapping = utils.create_tensors(tokens, activations, "NN")
    label2idx = mapping[0]
    probe = linear_probe.train_logistic_regression_probe(X, y, lambda_l1=1e-5, lambda_l2=1e-5)
    order, _cutoffs = linear_probe.get_neuron_ordering(probe, label2idx)
print(" ".join(str(int(n)) for n in order[:5]))
"""


def write_data(folder: Path, seed: int) -> tuple[Path, Path, Path, set[int]]:
    """bench_probe's data as a NeuroX hdf5 file plus its text and label files."""
    import h5py
    from bench_probe import make_data

    planted, _data = make_data(50_000, 1024, 10, 2.0, seed)
    bounds = np.concatenate([[0], np.cumsum(planted.lengths)])
    acts = folder / "acts.hdf5"
    text = folder / "text.txt"
    labels = folder / "labels.txt"
    mapping: dict[str, str] = {}
    lines, label_lines = [], []
    with h5py.File(acts, "w") as f:
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            # a per-sentence suffix keeps every text unique (NeuroX indexes sentences by text)
            words = [*planted.words[a:b]]
            words[-1] = f"{words[-1]}_{i}"
            sentence = " ".join(words)
            mapping[sentence] = str(i)
            lines.append(sentence)
            label_lines.append(" ".join(planted.labels[a:b]))
            f.create_dataset(str(i), data=planted.X[a:b][None, :, :].astype(np.float32))
        ds = f.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype("utf-8"))
        ds[0] = json.dumps(mapping)
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels.write_text("\n".join(label_lines) + "\n", encoding="utf-8")
    return acts, text, labels, planted.planted_all


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed:\n{out.stderr[-2000:]}")
    return wall, out.stdout


def slowest_imports(cmd: list[str], n: int = 15) -> list[tuple[float, str]]:
    """The ``n`` largest cumulative import times (s) of ``cmd`` run with -X importtime."""
    out = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, cwd=ROOT
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self, cumulative, name = (p.strip() for p in line[len("import time:") :].split("|"))
        if cumulative.isdigit():
            rows.append((int(cumulative) / 1e6, name))
    top = sorted(rows, reverse=True)[:n]
    total = sum(c for c, name in rows if not name.startswith(" "))
    return [(total, "(all top-level imports)"), *top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="where the data goes (default: temporary)")
    parser.add_argument("--skip-neurox", action="store_true")
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        folder = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        acts, text, labels, planted = write_data(folder, args.seed)
        ours = [sys.executable, "-m", "neurotui", "rank", str(acts), "--method", "probe"]
        ours += ["--labels", str(labels), "--top", "5", "--json"]
        site = None
        if not args.skip_neurox:
            from bench_probe import neurox_site

            site = neurox_site()
        theirs = [sys.executable, "-c", _NEUROX_CHILD, str(site), str(acts), str(text)]
        theirs.append(str(labels))
        result: dict = {"seed": args.seed, "neurotui_s": [], "neurox_s": []}
        for k in range(args.runs):
            wall, out = timed(ours)
            top = [int(n) for n in json.loads(out)["order"][:5]]
            result["neurotui_s"].append(wall)
            line = f"run {k + 1}: neurotui {wall:.2f} s (top {top})"
            if site is not None:
                nwall, nout = timed(theirs)
                result["neurox_s"].append(nwall)
                line += f" | NeuroX {nwall:.2f} s (top {nout.split()}) | {nwall / wall:.1f}×"
            print(line, flush=True)
        if site is not None:
            ratios = [t / o for o, t in zip(result["neurotui_s"], result["neurox_s"], strict=True)]
            result["ratios"] = ratios
            print(
                f"neurotui {min(result['neurotui_s']):.2f}–{max(result['neurotui_s']):.2f} s, "
                f"NeuroX {min(result['neurox_s']):.2f}–{max(result['neurox_s']):.2f} s: "
                f"{min(ratios):.1f}–{max(ratios):.1f}× (planted: {sorted(planted)[:6]}…)"
            )
        if args.importtime:
            for seconds, name in slowest_imports(ours):
                print(f"  {seconds:7.3f} s  {name}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
