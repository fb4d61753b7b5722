"""Probe + neuron ordering: neurotui vs NeuroX 1.0.9, side by side in one run.

Data: 50,000 tokens × 1,024 neurons × 10 classes with planted signal neurons (2 per class,
shifted by ``--shift`` σ for their class), 8 loud high-variance distractors, the rest
Gaussian noise; split by sentence (80/10/10). Both tools train on the same training rows
with λ1 = λ2 = 1e-5 and the same torch thread count, and are scored on the same test rows:

* NeuroX: ``train_logistic_regression_probe`` (Adam, batch 32, 10 epochs) +
  ``get_neuron_ordering``;
* neurotui: ``train_probe`` + ``neuron_ordering`` (Algorithm 1 with bands).

Reported per data seed (default 1, 2, 3): wall time of each (best of ``--repeat``),
speed-up, test accuracy, and whether the planted neurons are the top ``2 × classes`` of
each ordering; then the mean accuracies (single-seed differences of a few test tokens are
noise: the test part has 5,000 tokens) and the smallest and median speed-ups.

NeuroX is installed on first use with ``pip install --no-deps --target`` into
``~/.cache/neurotui/bench/neurox-1.0.9`` (nothing is added to the project's venv); two
shims make 1.0.9 import on today's stack: ``np.int = int`` (removed in numpy 2, used by its
``create_tensors``) and an empty ``imblearn.under_sampling`` module (its utils import
``RandomUnderSampler`` for data balancing, which the probe never calls).

The end-to-end part (``--e2e``) builds the 2 GB store with ``bench/bench_store.py``'s
builder (2,000 sentences × 25 tokens × 13 sites × 768 neurons) unless ``--store`` names
one, plants a 3-class label task on three of its neurons, and measures open → probe →
ordering in a fresh process (wall time and peak RSS).

Usage::

    nice -n 10 .venv/bin/python bench/bench_probe.py [--threads 1] [--repeat 2]
        [--skip-neurox] [--e2e [--store FILE] [--dir DIR]] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NEUROX_VERSION = "1.0.9"


def neurox_site() -> Path:
    """Where NeuroX is (installed there on first use)."""
    from neurotui.paths import cache_dir

    target = cache_dir() / "bench" / f"neurox-{NEUROX_VERSION}"
    if not (target / "neurox" / "interpretation" / "linear_probe.py").is_file():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                f"neurox=={NEUROX_VERSION}",
            ],
            check=True,
        )
    return target


def import_neurox():  # type: ignore[no-untyped-def]
    """NeuroX's linear_probe module with the two compatibility shims."""
    np.int = int  # type: ignore[attr-defined]  # numpy 2 removed it; NeuroX 1.0.9 uses it
    if "imblearn" not in sys.modules:
        pkg = types.ModuleType("imblearn")
        sub = types.ModuleType("imblearn.under_sampling")
        sub.RandomUnderSampler = object  # type: ignore[attr-defined]
        sys.modules["imblearn"] = pkg
        sys.modules["imblearn.under_sampling"] = sub
    sys.path.insert(0, str(neurox_site()))
    from neurox.interpretation import linear_probe

    return linear_probe


def make_data(tokens: int, neurons: int, classes: int, shift: float, seed: int):  # type: ignore[no-untyped-def]
    from neurotui.analysis.data import from_arrays
    from neurotui.analysis.synthetic import planted_tagging

    p = planted_tagging(
        tokens=tokens,
        neurons=neurons,
        classes=classes,
        per_class=2,
        shift=shift,
        loud=8,
        words_per_class=40,
        seed=seed,
    )
    return p, from_arrays(p.X, p.labels, p.lengths, p.words, seed=seed)


def run_ours(data, threads: int, device: str):  # type: ignore[no-untyped-def]
    from neurotui.analysis.ordering import neuron_ordering
    from neurotui.analysis.probe import ProbeConfig, train_probe

    Xtr, ytr = data.part("train")
    cfg = ProbeConfig(threads=threads, device=device)
    t0, c0 = time.perf_counter(), time.process_time()
    probe = train_probe(Xtr, ytr, data.classes, cfg, shuffled=True)
    ordering = neuron_ordering(probe.weight)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    Xte, yte = data.part("test")
    return wall, cpu, probe.accuracy(Xte, yte), ordering.order


def run_neurox(lp, data, threads: int):  # type: ignore[no-untyped-def]
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    Xtr, ytr = data.part("train")
    class_to_idx = {c: i for i, c in enumerate(data.classes)}
    sink = io.StringIO()
    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        probe = lp.train_logistic_regression_probe(Xtr, ytr, lambda_l1=1e-5, lambda_l2=1e-5)
        order, _cutoffs = lp.get_neuron_ordering(probe, class_to_idx)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    Xte, yte = data.part("test")
    with torch.no_grad():
        pred = probe.cpu()(torch.from_numpy(np.ascontiguousarray(Xte))).argmax(1).numpy()
    return wall, cpu, float((pred == yte).mean()), [int(n) for n in order]


# -- end to end on the 2 GB store ------------------------------------------------------

_E2E_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import neurotui.store as ns
from neurotui.analysis.data import load_probe_data
from neurotui.analysis.linguistic import run_probe
from neurotui.analysis.probe import ProbeConfig
t_import = time.perf_counter() - t0
labels = json.load(open(sys.argv[2]))
t0, c0 = time.perf_counter(), time.process_time()
with ns.open(sys.argv[1]) as store:
    data = load_probe_data(store, "planted", labels)
    t_read = time.perf_counter() - t0
    res = run_probe(data, ProbeConfig(threads=int(sys.argv[3]), device="cpu"))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(dict(wall=wall, cpu=cpu, read=t_read, imports=t_import, rss_mb=rss,
                      acc=res.accuracy["test"], top=[int(data.neurons[i]) for i in res.ordering.order[:6]],
                      tokens=int(data.X.shape[0]), neurons=int(data.X.shape[1]))))
"""


def e2e(store: Path | None, folder: Path, threads: int) -> dict:
    """Open → probe → ordering on the big store in a fresh process."""
    if store is None:
        sys.path.insert(0, str(ROOT / "bench"))
        from bench_store import build  # the store helper's builder (2 GB, 13 × 768 neurons)

        store, _nx = build(folder, 2000, 25, 13, 768)
    import neurotui.store as ns

    planted = [5, 4000, 9000]
    with ns.open(store) as s:
        cols = np.stack([s.neuron_values(n) for n in planted], axis=1)
        lengths = s.sentence_lengths()
    y = np.argmax(cols, axis=1)
    names = np.array(["A", "B", "C"])[y]
    b = np.concatenate([[0], np.cumsum(lengths)])
    rows = [names[x:z].tolist() for x, z in zip(b[:-1], b[1:], strict=True)]
    lab = folder / "planted_labels.json"
    lab.write_text(json.dumps(rows))
    code = _E2E_CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, str(store), str(lab), str(threads)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"end-to-end child failed:\n{out.stderr}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["store"] = str(store)
    res["store_gib"] = store.stat().st_size / 2**30
    res["planted"] = planted
    res["planted_on_top"] = set(res["top"][:3]) == set(planted)
    return res


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=50_000)
    parser.add_argument("--neurons", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--shift", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both tools")
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (best kept)")
    parser.add_argument("--neurox-repeat", type=int, default=1, help="runs of NeuroX (best kept)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="data seeds")
    parser.add_argument("--device", default="cpu", help="device for neurotui's probe")
    parser.add_argument("--skip-neurox", action="store_true")
    parser.add_argument("--e2e", action="store_true", help="also run the 2 GB end-to-end test")
    parser.add_argument("--store", type=Path, help="existing big store for --e2e")
    parser.add_argument("--dir", type=Path, help="work folder for --e2e (default: temporary)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()

    from neurotui.device import configure_threads

    configure_threads(args.threads)
    result: dict = {
        "tokens": args.tokens,
        "neurons": args.neurons,
        "classes": args.classes,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "seeds": {},
    }
    lp = None if args.skip_neurox else import_neurox()
    for seed in args.seeds:
        planted, data = make_data(args.tokens, args.neurons, args.classes, args.shift, seed)
        k = len(planted.planted_all)
        row: dict = {"train_tokens": data.counts[0], "test_tokens": data.counts[2]}
        runs = [run_ours(data, args.threads, args.device) for _ in range(args.repeat)]
        wall, cpu, acc, order = min(runs, key=lambda r: r[0])
        row["neurotui"] = {
            "wall_s": wall,
            "cpu_s": cpu,
            "test_accuracy": acc,
            "planted_on_top": set(order[:k]) == planted.planted_all,
        }
        line = (
            f"seed {seed}: neurotui {wall:.3f} s (cpu {cpu:.3f}) acc {acc:.4f} "
            f"top {row['neurotui']['planted_on_top']}"
        )
        if lp is not None:
            runs = [run_neurox(lp, data, args.threads) for _ in range(args.neurox_repeat)]
            nwall, ncpu, nacc, norder = min(runs, key=lambda r: r[0])
            row["neurox"] = {
                "wall_s": nwall,
                "cpu_s": ncpu,
                "test_accuracy": nacc,
                "planted_on_top": set(norder[:k]) == planted.planted_all,
            }
            row["speedup"] = nwall / wall
            row["speedup_cpu"] = ncpu / cpu
            line += (
                f" | NeuroX {nwall:.3f} s (cpu {ncpu:.3f}) acc {nacc:.4f} "
                f"top {row['neurox']['planted_on_top']} | speed-up {nwall / wall:.1f}× "
                f"(cpu {ncpu / cpu:.1f}×)"
            )
        print(line, flush=True)
        result["seeds"][str(seed)] = row
    rows = list(result["seeds"].values())
    ours_acc = float(np.mean([r["neurotui"]["test_accuracy"] for r in rows]))
    result["neurotui_mean_accuracy"] = ours_acc
    if lp is not None:
        nx_acc = float(np.mean([r["neurox"]["test_accuracy"] for r in rows]))
        speed = [r["speedup"] for r in rows]
        result["neurox_mean_accuracy"] = nx_acc
        result["speedup_min"] = min(speed)
        result["speedup_median"] = float(np.median(speed))
        print(
            f"mean test accuracy: neurotui {ours_acc:.4f}, NeuroX {nx_acc:.4f} "
            f"({100 * (ours_acc - nx_acc):+.2f} points); speed-up min {min(speed):.1f}×, "
            f"median {np.median(speed):.1f}×"
        )
    if args.e2e:
        with contextlib.ExitStack() as stack:
            folder = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
            folder.mkdir(parents=True, exist_ok=True)
            res = e2e(args.store, folder, args.threads)
        result["e2e"] = res
        print(
            f"end to end ({res['store_gib']:.2f} GiB, {res['tokens']} tokens × {res['neurons']} "
            f"neurons): {res['wall']:.2f} s (cpu {res['cpu']:.2f} s, read {res['read']:.2f} s), peak RSS "
            f"{res['rss_mb'] / 1024:.2f} GiB, planted on top: {res['planted_on_top']}, "
            f"test accuracy {res['acc']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
