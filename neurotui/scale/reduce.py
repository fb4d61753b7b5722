"""Corpus passes as Dask reductions over a store's pieces (shards, or row ranges).

Why pieces: a sharded store maps one task per shard; a single neurotui file is cut into
row ranges aligned to its chunk bands, so no HDF5 chunk is read by two tasks. Each task
returns float64 (count, mean, M2, non-finite) per neuron and the client folds them with
Chan's pairwise formula, which equals the single-pass result to rounding (1e-12 relative
here, far inside the 1e-5 the tests ask).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurotui.errors import DataError

#: rows read at once inside a task (bounded memory per worker)
TASK_CHUNK_ROWS = 32768
PIECES_PER_WORKER = 4


def store_pieces(store: Any, workers: int) -> list[tuple[str, int, int]]:
    """``[(file, first_row, stop_row), …]`` covering ``store`` in corpus order."""
    from neurotui.store import layout

    if getattr(store, "format", "") == "neurotui-sharded":
        return [(str(s.path), 0, s.total_tokens) for s in store.shards]
    if getattr(store, "format", "") != "neurotui":
        raise DataError(
            f"{store.path}: --cluster reads neurotui stores (one file or sharded); this is "
            f"{store.format}: convert it first (neurotui convert)"
        )
    total = store.total_tokens
    band = layout.CHUNK_ROWS_MAX
    step = band * max(1, math.ceil(total / max(1, workers * PIECES_PER_WORKER) / band))
    return [(str(store.path), a, min(total, a + step)) for a in range(0, total, step)] or [
        (str(store.path), 0, 0)
    ]


def piece_moments(
    path: str, lo: int, hi: int, neurons: Sequence[int] | None
) -> tuple[np.ndarray, ...]:
    """A task: per-neuron (count, mean, M2, non-finite) of rows ``lo…hi`` of ``path``."""
    from neurotui.store.h5store import NeurotuiStore
    from neurotui.store.sharded import chan_merge

    with NeurotuiStore(Path(path)) as store:
        cols = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons)
        width = cols.size
        n = np.zeros(width)
        mean = np.zeros(width)
        m2 = np.zeros(width)
        bad = np.zeros(width, np.int64)
        for a in range(lo, hi, TASK_CHUNK_ROWS):
            b = min(hi, a + TASK_CHUNK_ROWS)
            block = read_rows(store, a, b, cols)
            finite = np.isfinite(block)
            n_b = finite.sum(0).astype(np.float64)
            vals = np.where(finite, block, 0.0).astype(np.float64)
            mean_b = vals.sum(0) / np.maximum(n_b, 1.0)
            dev = np.where(finite, vals - mean_b, 0.0)
            n, mean, m2 = chan_merge(n, mean, m2, n_b, mean_b, np.einsum("ij,ij->j", dev, dev))
            bad += (~finite).sum(0)
    return n, mean, m2, bad


def read_rows(store: Any, a: int, b: int, cols: np.ndarray) -> np.ndarray:
    """Rows ``a…b`` of the global columns ``cols`` of a neurotui store, float32."""
    out = np.empty((b - a, cols.size), np.float32)
    for site in store.sites:
        sel = np.flatnonzero((cols >= site.offset) & (cols < site.offset + site.size))
        if sel.size == 0:
            continue
        local = cols[sel] - site.offset
        lo, hi = int(local.min()), int(local.max()) + 1
        slab = np.asarray(store._ds[site.name][a:b, lo:hi], np.float32)
        out[:, sel] = slab[:, local - lo]
    return out


def cluster_moments(
    cluster: Any,
    store: Any,
    neurons: Sequence[int] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron mean, population σ and non-finite count of ``store``, on the cluster."""
    from neurotui.scale.engine import client_for, run_tasks
    from neurotui.store.sharded import chan_merge

    with client_for(cluster) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        args = [(path, a, b, None if neurons is None else list(neurons))
                for path, a, b in store_pieces(store, workers)]  # fmt: skip
        parts = run_tasks(
            client, piece_moments, args, stage="statistics", progress=progress, key="moments"
        )
    n, mean, m2, bad = (np.zeros_like(parts[0][0]), np.zeros_like(parts[0][1]),
                        np.zeros_like(parts[0][2]), np.zeros_like(parts[0][3]))  # fmt: skip
    for pn, pmean, pm2, pbad in parts:
        n, mean, m2 = chan_merge(n, mean, m2, pn, pmean, pm2)
        bad = bad + pbad
    std = np.sqrt(np.maximum(m2 / np.maximum(n, 1.0), 0.0))
    return mean, std, bad


# -- the quantile sample ------------------------------------------------------------


def piece_sample(path: str, first_row: int, stride: int) -> np.ndarray:
    """A task: the rows of shard ``path`` whose *corpus* index (``first_row`` + local) is a
    multiple of ``stride`` — its part of the sample one pass over the corpus would keep."""
    from neurotui.store.h5store import NeurotuiStore

    with NeurotuiStore(Path(path)) as store:
        total = store.total_tokens
        first = (-int(first_row)) % stride
        cols = np.arange(store.neuron_count)
        out = np.empty((len(range(first, total, stride)), cols.size), np.float32)
        for a in range(0, total, TASK_CHUNK_ROWS):
            b = min(total, a + TASK_CHUNK_ROWS)
            i0 = (first - a) % stride
            if a + i0 >= b:
                continue
            picked = read_rows(store, a, b, cols)[i0::stride]
            dest = (a + i0 - first) // stride
            out[dest : dest + picked.shape[0]] = picked
    return out


def cluster_quantiles(
    cluster: Any,
    shards: Sequence[str | Path],
    first_rows: Sequence[int],
    total_tokens: int,
    neurons: int,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """The quantiles one summary pass over the whole corpus would give (the same rows,
    :func:`~neurotui.store.summary.sample_stride`, the same interpolation), gathered from
    the shards on the cluster: ``(quantiles (levels, neurons), extra)``."""
    from neurotui.scale.engine import client_for, run_tasks
    from neurotui.store.summary import (
        DEFAULT_LEVELS,
        quantile_extra,
        sample_quantiles,
        sample_stride,
    )

    stride = sample_stride(total_tokens, neurons)
    args = [(str(p), int(r), stride) for p, r in zip(shards, first_rows, strict=True)]
    with client_for(cluster) as client:
        parts = run_tasks(
            client, piece_sample, args, stage="quantiles", progress=progress, key="sample"
        )
    sample = np.concatenate(parts) if parts else np.zeros((0, neurons), np.float32)
    return sample_quantiles(sample, DEFAULT_LEVELS), quantile_extra(sample.shape[0], stride)


# -- cross-model statistics (MaxCorr, MinCorr, LinReg, SVCCA) ----------------------------

#: rows per update inside a cross-model task (the single pass's chunk length)
CROSS_CHUNK_ROWS = 16384
#: rows the shift is taken from (as :class:`~neurotui.analysis.crossmodel.CrossStats` does)
SHIFT_ROWS = 1024


def rows_of(store: Any, a: int, b: int, cols: np.ndarray) -> np.ndarray:
    """Rows ``a…b`` (corpus order) of columns ``cols`` of a neurotui or sharded store."""
    if getattr(store, "format", "") != "neurotui-sharded":
        return read_rows(store, a, b, cols)
    parts = []
    for shard, first in zip(store.shards, store.shard_first_rows, strict=True):
        lo, hi = max(a, first), min(b, first + shard.total_tokens)
        if lo < hi:
            parts.append(read_rows(shard, lo - first, hi - first, cols))
    return np.concatenate(parts) if parts else np.zeros((0, cols.size), np.float32)


def piece_cross(
    paths: list[str],
    cols: list[list[int]],
    head: list[np.ndarray],
    a: int,
    b: int,
    within: bool,
) -> dict[str, Any]:
    """A task: the cross-model sums of rows ``a…b`` about the shared shift of ``head``.

    Every task centres on the same shift (the first rows of the corpus, as the single
    pass does), so the client merges the parts by adding their sums.
    """
    import torch

    import neurotui.store as ns
    from neurotui.analysis.crossmodel import CrossStats

    stores = [ns.open(p) for p in paths]
    try:
        sizes = [len(c) for c in cols]
        stats = CrossStats(sizes=sizes, within_needed=within, device="cpu")
        stats._start(head, torch.device("cpu"))
        idx = [np.asarray(c) for c in cols]
        for lo in range(a, b, CROSS_CHUNK_ROWS):
            hi = min(b, lo + CROSS_CHUNK_ROWS)
            stats.update([rows_of(s, lo, hi, c) for s, c in zip(stores, idx, strict=True)])
        stats.finish()
    finally:
        for s in stores:
            s.close()
    return {
        "rows": stats.rows,
        "shift": stats.shift,
        "s1": stats.s1,
        "s2": stats.s2,
        "nonfinite": stats.nonfinite,
        "cross": stats.cross,
        "within": stats.within,
    }


def cluster_cross(
    cluster: Any,
    stores: Sequence[Any],
    *,
    within: bool = False,
    neurons: Sequence[Sequence[int] | None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    """:func:`neurotui.analysis.crossmodel.accumulate` as a Dask reduction over row ranges."""
    from neurotui.analysis.crossmodel import CrossStats, check_same_text
    from neurotui.scale.engine import client_for, run_tasks
    from neurotui.store import layout

    check_same_text(stores)
    for s in stores:
        store_pieces(s, 1)  # one-line refusal of formats a worker cannot reopen
    wanted: Sequence[Sequence[int] | None] = [None] * len(stores) if neurons is None else neurons
    cols = [
        list(range(s.neuron_count)) if picked is None else list(picked)
        for s, picked in zip(stores, wanted, strict=False)
    ]
    total = stores[0].total_tokens
    head_rows = min(total, SHIFT_ROWS)
    head = [rows_of(s, 0, head_rows, np.asarray(c)) for s, c in zip(stores, cols, strict=True)]
    with client_for(cluster) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        band = layout.CHUNK_ROWS_MAX
        step = band * max(1, math.ceil(total / max(1, workers * PIECES_PER_WORKER) / band))
        paths = [str(s.path) for s in stores]
        args = [(paths, cols, head, a, min(total, a + step), within) for a in range(0, total, step)]
        parts = run_tasks(
            client, piece_cross, args, stage="correlating", progress=progress, key="cross"
        )
    if not parts:
        raise DataError("no tokens to correlate")
    stats = CrossStats(sizes=[len(c) for c in cols], within_needed=within, device="cpu")
    stats.rows = sum(p["rows"] for p in parts)
    stats.shift = parts[0]["shift"]
    for key in ("s1", "s2", "nonfinite"):
        setattr(stats, key, [sum(p[key][m] for p in parts) for m in range(len(stores))])
    stats.cross = {pair: sum(p["cross"][pair] for p in parts) for pair in parts[0]["cross"]}
    stats.within = {m: sum(p["within"][m] for p in parts) for m in parts[0]["within"]}
    from neurotui.analysis.checks import warn

    for m, bad in enumerate(stats.nonfinite):
        if np.any(bad):
            warn(
                f"{stores[m].path}: NaN/Inf activations in {int((bad > 0).sum())} neurons were "
                "treated as the neuron's mean in the correlations"
            )
    return stats
