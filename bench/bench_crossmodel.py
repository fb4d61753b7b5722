"""MaxCorr + MinCorr for 3 models × 1,024 neurons × 1M tokens: time and peak memory.

Target: ≤ 60 s on CPU, peak memory not growing with the token count. Each token count runs
in a fresh process (peak RSS is per process) and the run is repeated at a second, smaller
token count to show the memory is flat.

The activations are generated on the fly by :class:`GeneratedStore` (a Store whose chunks
are made when asked for: a fixed per-model noise bank, sliced at a chunk-dependent offset,
plus shared signals — token position and a few smooth latent signals — in a few columns
of every model), because 3 × 4 GB of real activations would not fit this machine's RAM or
page cache. The generator's own cost is measured separately (a pass that only produces the
chunks) and reported beside the total, so the correlation cost is ``total − generation``.
The shared neurons must come out on top of both rankings (checked).

Usage::

    nice -n 10 .venv/bin/python bench/bench_crossmodel.py [--tokens 1000000]
        [--small 250000] [--neurons 1024] [--models 3] [--threads N] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SENTENCE = 25
CHUNK = 16384


class GeneratedStore:
    """Just enough of the Store protocol for cross-model correlation, generated lazily."""

    format = "generated"

    def __init__(self, tokens: int, neurons: int, model: int, shared: int = 4) -> None:
        self.path = Path(f"<generated model {model}>")
        self._tokens = int(tokens)
        self._neurons = int(neurons)
        self.model = model
        rng = np.random.default_rng(100 + model)
        self._bank = rng.standard_normal((2 * CHUNK, neurons), dtype=np.float32)
        self.shared_cols = rng.permutation(neurons)[:shared].tolist()
        self._scale = rng.uniform(0.5, 2.0, size=shared).astype(np.float32)
        self._sign = rng.choice([-1.0, 1.0], size=shared).astype(np.float32)
        self._noise = np.linspace(0.2, 0.8, shared).astype(np.float32)

    # -- protocol subset ---------------------------------------------------------------
    @property
    def sentences(self) -> int:
        return self._tokens // SENTENCE

    @property
    def total_tokens(self) -> int:
        return self.sentences * SENTENCE

    @property
    def neuron_count(self) -> int:
        return self._neurons

    @property
    def metadata(self) -> dict:
        return {"model": f"gen-{self.model}"}

    def sentence_lengths(self) -> np.ndarray:
        return np.full(self.sentences, SENTENCE, dtype=np.int64)

    def tokens(self, i: int) -> list[str]:
        return [f"t{j}" for j in range(SENTENCE)]

    def neuron_name(self, n: int) -> str:
        return f"h:{n}"

    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = CHUNK
    ) -> Iterator[tuple[int, np.ndarray]]:
        total = self.total_tokens
        step = min(int(chunk_tokens), CHUNK)
        for start in range(0, total, step):
            rows = min(step, total - start)
            offset = (start * 7 + 13 * self.model) % CHUNK
            block = self._bank[offset : offset + rows].copy()
            idx = np.arange(start, start + rows)
            pos = (idx % SENTENCE).astype(np.float32)
            latent = [
                (pos - 12.0) / 7.2,
                np.sin(idx * 0.0137).astype(np.float32),
                np.cos(idx * 0.0071).astype(np.float32),
                np.sign(np.sin(idx * 0.31)).astype(np.float32),
            ]
            noise = self._bank[(offset + 977) % CHUNK : (offset + 977) % CHUNK + rows, :4]
            for k, col in enumerate(self.shared_cols):
                block[:, col] = self._scale[k] * (
                    self._sign[k] * latent[k % 4] + self._noise[k] * noise[:, k]
                )
            if neurons is not None:
                block = block[:, list(neurons)]
            yield start, block


_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {bench!r})
from bench_crossmodel import GeneratedStore
from neurotui.device import configure_threads
from neurotui.analysis import crossmodel
tokens, neurons, models, threads, mode = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                          int(sys.argv[4]), sys.argv[5])
configure_threads(threads)
stores = [GeneratedStore(tokens, neurons, m) for m in range(models)]
t0, c0 = time.perf_counter(), time.process_time()
out = dict(tokens=stores[0].total_tokens)
if mode == "generate":
    n = 0
    for _, blocks in crossmodel.aligned_chunks(stores, None, {chunk}):
        n += blocks[0].shape[0]
    out["rows"] = n
else:
    stats = crossmodel.accumulate(stores, device="cpu", chunk_tokens={chunk})
    t_pass = time.perf_counter() - t0
    names = crossmodel.model_names(stores)
    for method in ("maxcorr", "mincorr"):
        r = crossmodel.cross_ranking(stats, 0, method, names)
        k = len(stores[0].shared_cols)
        out[method + "_shared_on_top"] = set(r.order[:k]) == set(stores[0].shared_cols)
    out["pass_s"] = t_pass
out["wall"] = time.perf_counter() - t0
out["cpu"] = time.process_time() - c0
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def child(tokens: int, neurons: int, models: int, threads: int, mode: str) -> dict:
    code = _CHILD.format(root=str(ROOT), bench=str(ROOT / "bench"), chunk=CHUNK)
    args = [str(tokens), str(neurons), str(models), str(threads), mode]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=250_000)
    parser.add_argument("--neurons", type=int, default=1024)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result: dict = {"neurons": args.neurons, "models": args.models, "threads": args.threads}
    for label, tokens in (("small", args.small), ("full", args.tokens)):
        gen = child(tokens, args.neurons, args.models, args.threads, "generate")
        run = child(tokens, args.neurons, args.models, args.threads, "rank")
        run["generation_s"] = gen["wall"]
        run["correlation_s"] = run["wall"] - gen["wall"]
        run["generation_cpu_s"] = gen["cpu"]
        run["generation_rss_mb"] = gen["rss_mb"]
        result[label] = run
        print(
            f"{run['tokens']:>9} tokens: maxcorr+mincorr {run['wall']:.1f} s (cpu {run['cpu']:.1f} s, "
            f"{args.threads} threads) "
            f"(one pass {run['pass_s']:.1f} s; generating the data alone {gen['wall']:.1f} s), "
            f"peak RSS {run['rss_mb']:.0f} MiB (generator alone {gen['rss_mb']:.0f} MiB), "
            f"shared neurons on top: maxcorr {run['maxcorr_shared_on_top']}, "
            f"mincorr {run['mincorr_shared_on_top']}",
            flush=True,
        )
    growth = result["full"]["rss_mb"] - result["small"]["rss_mb"]
    result["rss_growth_mb"] = growth
    print(f"peak RSS growth from {args.small} to {args.tokens} tokens: {growth:+.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
