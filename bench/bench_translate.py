"""Translation throughput of the sample LSTM (sentences/s), greedy and beam, batch 1 and 64.

    NEUROTUI_THREADS=2 nice -n 10 .venv/bin/python bench/bench_translate.py \
        [--model synth-en-fr-1] [--devices cpu cuda] [--out bench/results/bench_translate.json]

Sentences come from the model's held-out set (500 synthetic test sentences, 3–15 words).
Each configuration is warmed up once, then timed over ``--sentences`` sentences (batch 1
uses ``--sentences-b1``, fewer, since it is slow); the figure is sentences per second of
wall-clock time, on CPU with the thread count shown. On a shared machine, numbers vary
with load: compare runs taken together. ``sentences_per_cpu_s`` divides by the process's CPU
time instead (all threads together), which is steadier on a busy machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="synth-en-fr-1")
    parser.add_argument(
        "--devices", nargs="+", default=None, help="default: cpu, and cuda when present"
    )
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 64])
    parser.add_argument("--beams", nargs="+", type=int, default=[1, 5])
    parser.add_argument("--sentences", type=int, default=500, help="sentences per batched run")
    parser.add_argument("--sentences-b1", type=int, default=100, help="sentences per batch-1 run")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default NEUROTUI_THREADS or all)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results" / "bench_translate.json",
        help="write the results as JSON here (default: bench/results/bench_translate.json)",
    )
    args = parser.parse_args(argv)

    import torch

    from neurotui.commands.translate import heldout_inputs
    from neurotui.device import configure_threads, describe_device, resolve_device
    from neurotui.models.registry import load_backend

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    results = []
    for name in devices:
        device = resolve_device(name)
        threads = configure_threads(args.threads)
        backend = load_backend(args.model, device)
        sources = heldout_inputs(backend, None).sources
        for beam in args.beams:
            for batch in args.batches:
                n = args.sentences_b1 if batch == 1 else args.sentences
                batch_src = (sources * (n // len(sources) + 1))[:n]
                backend.translate(
                    batch_src[: max(batch, 8)], beam=beam, batch_size=batch
                )  # warm-up
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start, cpu_start = time.perf_counter(), time.process_time()
                out = backend.translate(batch_src, beam=beam, batch_size=batch)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - start
                cpu_seconds = time.process_time() - cpu_start
                words = sum(len(t.tokens) for t in out)
                results.append(
                    {
                        "device": str(device),
                        "device_name": describe_device(device),
                        "threads": threads,
                        "batch": batch,
                        "beam": beam,
                        "sentences": n,
                        "seconds": round(seconds, 3),
                        "sentences_per_s": round(n / seconds, 1),
                        "cpu_seconds": round(cpu_seconds, 3),
                        "sentences_per_cpu_s": round(n / cpu_seconds, 1),
                        "words_per_s": round(words / seconds, 1),
                    }
                )
                r = results[-1]
                print(
                    f"{r['device_name']:<28} batch {batch:>3}  beam {beam}  "
                    f"{r['sentences_per_s']:>8.1f} sent/s  {r['words_per_s']:>9.1f} words/s  "
                    f"{r['sentences_per_cpu_s']:>8.1f} sent/CPU-s",
                    file=sys.stderr,
                )
    document = {
        "benchmark": "translate",
        "model": args.model,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
    }
    print()
    print("| device | batch | beam | sentences/s | words/s | sentences/CPU-s |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['device_name']} | {r['batch']} | {r['beam']} | {r['sentences_per_s']} | "
            f"{r['words_per_s']} | {r['sentences_per_cpu_s']} |"
        )
    if args.out:
        from neurotui.models.checkpoint import write_json

        write_json(args.out, document)
        print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
