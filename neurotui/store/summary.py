"""Per-neuron summaries in one streaming pass: moments, extremes, quantiles, top/bottom examples.

Why streaming: a store can be many times larger than RAM, and the app needs μ, σ, quantiles
and the best examples of every neuron at once. One pass over corpus-order blocks feeds an
accumulator whose memory does not grow with the corpus (except the bounded quantile sample).

What is exact and what is not
-----------------------------
* ``count``, ``nonfinite``, ``min``, ``max``, ``mean``, ``std`` (population σ) and the
  top/bottom-k examples are exact (moments are accumulated in float64 around a per-neuron
  shift, so large offsets do not cancel).
* ``quantiles`` are exact when the corpus has at most ``sample_rows`` tokens; above that they
  are the exact quantiles of a systematic sample of every ``stride``-th token. Such a sample
  of ``n`` rows puts each level within ``sqrt(ln(2/α) / 2n)`` in rank of the truth with
  probability ``1-α`` (Dvoretzky–Kiefer–Wolfowitz); ``extra["quantile_rank_error"]`` stores
  that bound for α = 0.01 and ``extra["quantile_sample"]`` the rows used.
* NaN/±Inf values are counted per neuron in ``nonfinite`` and excluded from everything else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from neurotui.store.api import Example, NeuronStats

DEFAULT_LEVELS = np.array([0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])
DEFAULT_K = 10
#: memory allowed for the quantile sample (rows × neurons × 4 bytes)
DEFAULT_SAMPLE_BYTES = 64 * 2**20
#: rows scanned at once for survivors inside a block (the warm-up path)
_SUB_ROWS = 2048
#: rows per tile of the fused pass: a 512 × 768 float32 tile (1.5 MB) stays in L2, so the
#: four reductions after the first read it from cache instead of memory
_TILE_ROWS = 512


class _BlockSource(Protocol):
    @property
    def sentences(self) -> int: ...
    @property
    def total_tokens(self) -> int: ...
    @property
    def neuron_count(self) -> int: ...

    def iter_site_blocks(
        self, chunk_tokens: int = ...
    ) -> Iterator[tuple[int, int, np.ndarray]]: ...


@dataclass
class Summary:
    """Stats plus the top and bottom ``k`` corpus rows of every neuron (best first).

    ``top_rows[j, n]`` is the corpus row of neuron ``n``'s ``j``-th highest value (``-1``
    where the neuron has fewer than ``j + 1`` finite values); ``bottom_*`` likewise, lowest
    first.
    """

    stats: NeuronStats
    top_rows: np.ndarray
    top_values: np.ndarray
    bottom_rows: np.ndarray
    bottom_values: np.ndarray

    @property
    def k(self) -> int:
        """How many examples each neuron keeps on each side."""
        return int(self.top_rows.shape[0])

    def examples(
        self,
        neuron: int,
        k: int,
        *,
        bottom: bool = False,
        locate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    ) -> list[Example]:
        """The stored examples of ``neuron`` as :class:`Example` values."""
        rows = (self.bottom_rows if bottom else self.top_rows)[:k, neuron]
        vals = (self.bottom_values if bottom else self.top_values)[:k, neuron]
        keep = rows >= 0
        rows, vals = rows[keep], vals[keep]
        sent, pos = locate(rows)
        return [Example(int(s), int(p), float(v)) for s, p, v in zip(sent, pos, vals, strict=True)]


class _Extremes:
    """Exact streaming top-k (``largest``) or bottom-k of every column.

    Why this shape: a full compare of each block against the current k-th best is the only
    per-value work; survivors are found by scanning 64 bits at a time and merged in batches,
    so the cost stays close to one memory pass however long the corpus is.
    """

    def __init__(self, k: int, neurons: int, *, largest: bool) -> None:
        self.k = k
        self.largest = largest
        self.fill = np.float32(-np.inf if largest else np.inf)
        self.values = np.full((k, neurons), self.fill, dtype=np.float32)
        self.rows = np.full((k, neurons), -1, dtype=np.int64)
        self._buf = np.zeros(0, dtype=np.bool_)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_count = 0
        #: survivors held before a merge: each merge raises the bar, so fewer values survive
        #: the next blocks (converting the 2 GB benchmark store, 64 Ki took 15 % less CPU and
        #: 130 MB less memory than 1 Mi; the summary pass is the same within noise)
        self.merge_limit = 1 << 16

    def offer(self, start: int, block: np.ndarray, col: int) -> None:
        """Consider rows ``start…`` of columns ``col…`` (non-finite already set to fill)."""
        thr = self.threshold(block, col)
        for r0 in range(0, block.shape[0], _SUB_ROWS):
            self.scan(start + r0, block[r0 : r0 + _SUB_ROWS], col, thr)
        self.settle()

    def threshold(self, block: np.ndarray, col: int) -> np.ndarray:
        """The bar a value of ``block`` must pass (``>=``) to be a survivor, per column.

        While a column's list is not full, a cheap lower bound of the block's own k-th
        best (the smallest of the maxima of k row groups: k distinct elements reach it)
        raises the bar first, so warm-up does not flood the merge.
        """
        r, w = block.shape
        cols = slice(col, col + w)
        warm = self.warm(col, w)
        sign = np.float32(1.0 if self.largest else -1.0)
        # Work on "bigger is better" thresholds; x > t is x >= nextafter(t, +inf).
        cur = self.values[-1, cols] * sign
        thr = np.nextafter(cur, np.float32(np.inf))
        floor = np.nextafter(self.fill * sign, np.float32(np.inf))  # never take the fill
        np.maximum(thr, floor, out=thr)
        if not warm and r >= self.k:
            g = r // self.k
            grouped = block[: g * self.k].reshape(self.k, g, w)
            if self.largest:
                bound = grouped.max(axis=1).min(axis=0)
            else:
                bound = -grouped.min(axis=1).max(axis=0)
            np.maximum(thr, bound, out=thr)
        thr *= sign
        return thr

    def scan(self, start: int, sub: np.ndarray, col: int, thr: np.ndarray) -> None:
        """Queue the values of rows ``start…`` (a tile of the block) that pass ``thr``."""
        pos = self._survivors(sub, thr)
        if pos.size:
            r_idx, c_idx = np.divmod(pos, sub.shape[1])
            self._pending.append((r_idx + start, c_idx + col, sub.reshape(-1)[pos]))
            self._pending_count += pos.size

    def warm(self, col: int, width: int) -> bool:
        """Whether every column ``col…col+width`` holds ``k`` values (merging what is
        queued first when they do not yet: the previous block usually fills them)."""
        full = bool((self.rows[-1, col : col + width] >= 0).all())
        if not full and self._pending:
            self.flush()
            full = bool((self.rows[-1, col : col + width] >= 0).all())
        return full

    def settle(self) -> None:
        """Merge the queue once it is large (called after each block)."""
        if self._pending_count > self.merge_limit:
            self.flush()

    def _survivors(self, sub: np.ndarray, thr: np.ndarray) -> np.ndarray:
        """Flat positions where ``sub`` beats ``thr`` (two-level 64-bit word scan)."""
        size = sub.size
        padded = -(-size // 64) * 64
        if self._buf.size < padded:
            self._buf = np.zeros(padded, dtype=np.bool_)
        buf = self._buf[:padded]
        buf[size:] = False
        mask = buf[:size].reshape(sub.shape)
        if self.largest:
            np.greater_equal(sub, thr, out=mask)
        else:
            np.less_equal(sub, thr, out=mask)
        words = buf.view(np.uint64)
        level1 = words != 0
        hits = np.flatnonzero(level1.view(np.uint64) if level1.size % 8 == 0 else level1)
        if level1.size % 8 == 0:
            if hits.size == 0:
                return hits
            hits = (hits[:, None] * 8 + np.arange(8)).ravel()
            hits = hits[level1[hits]]
        if hits.size == 0:
            return hits
        pos = (hits[:, None] * 8 + np.arange(8)).ravel()
        return pos[buf[pos]]

    def flush(self) -> None:
        """Merge the pending survivors into the per-column lists."""
        if not self._pending:
            return
        c_rows = np.concatenate([p[0] for p in self._pending])
        c_cols = np.concatenate([p[1] for p in self._pending])
        c_vals = np.concatenate([p[2] for p in self._pending])
        self._pending, self._pending_count = [], 0
        k = self.k
        touched = np.unique(c_cols)
        all_v = np.concatenate([self.values[:, touched].T.reshape(-1), c_vals])
        all_r = np.concatenate([self.rows[:, touched].T.reshape(-1), c_rows])
        all_c = np.concatenate([np.repeat(touched, k), c_cols])
        # One int64 sort key: column in the high half, the value's order-preserving bit
        # pattern (best first) in the low half. Existing entries come first, so a stable
        # sort keeps the earlier occurrence on ties.
        bits = all_v.view(np.int32).astype(np.int64)
        bits ^= (bits >> 31) & 0x7FFFFFFF
        low = (0x7FFFFFFF - bits) if self.largest else (bits + 0x80000000)
        order = np.argsort((all_c << 32) | low, kind="stable")
        all_c = all_c[order]
        first = np.searchsorted(all_c, touched)
        rank = np.arange(all_c.size) - np.repeat(first, np.diff(np.append(first, all_c.size)))
        keep = rank < k
        self.values[rank[keep], all_c[keep]] = all_v[order][keep]
        self.rows[rank[keep], all_c[keep]] = all_r[order][keep]


class SummaryAccumulator:
    """Feed corpus-order blocks with :meth:`update`, then call :meth:`finish` once.

    Blocks may cover any column range (``col``) and must cover every (row, column) exactly
    once over the pass. Each block is cut into cache-sized tiles of 512 rows and every tile
    is read four times from cache (sum, sum of squares, max, min) — one trip to memory.
    Moments use Chan's parallel update: float32 tile sums combined in float64; tiles whose
    mean is large against their spread are recomputed around their mean so σ does not
    cancel away.
    """

    def __init__(
        self,
        neurons: int,
        total_tokens: int,
        *,
        k: int = DEFAULT_K,
        levels: np.ndarray | None = None,
        sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    ) -> None:
        self.neurons = int(neurons)
        self.total_tokens = int(total_tokens)
        self.k = max(1, int(k))
        self.levels = np.asarray(DEFAULT_LEVELS if levels is None else levels, dtype=np.float64)
        n = self.neurons
        self.count = np.zeros(n, dtype=np.int64)
        self.nonfinite = np.zeros(n, dtype=np.int64)
        self.mean = np.zeros(n, dtype=np.float64)
        self.m2 = np.zeros(n, dtype=np.float64)
        self.top = _Extremes(self.k, n, largest=True)
        self.bottom = _Extremes(self.k, n, largest=False)
        self.stride = sample_stride(self.total_tokens, n, sample_bytes)
        rows = math.ceil(self.total_tokens / self.stride) if self.total_tokens else 0
        # Every row is written during a complete pass (finish() checks coverage), so no
        # fill is needed; rows × neurons so each block lands as one strided copy.
        self.sample = np.empty((rows, n), dtype=np.float32)
        self._ones_buf = np.ones(_TILE_ROWS, dtype=np.float32)

    # -- feeding -------------------------------------------------------------------
    def update(self, start: int, block: np.ndarray, col: int = 0) -> None:
        """Add corpus rows ``start…start+len(block)`` of columns ``col…col+width``."""
        block = np.asarray(block)
        if block.dtype != np.float32:
            block = block.astype(np.float32)
        rows, width = block.shape
        if rows == 0 or width == 0:
            return
        if col < 0 or col + width > self.neurons or start < 0 or start + rows > self.total_tokens:
            raise ValueError(f"block rows {start}+{rows}, columns {col}+{width} out of range")
        self._sample(start, block, slice(col, col + width))
        block = np.ascontiguousarray(block)
        if not (self.top.warm(col, width) and self.bottom.warm(col, width)):
            # While some list is not full, the extremes see the whole cleaned block, whose
            # own k-th-best bound keeps warm-up from flooding the merge.
            parts = [(tile, top, bottom) for _, tile, top, bottom in self._tiles(block, col)]
            if all(top is tile for tile, top, _ in parts):
                top_src = bottom_src = block
            else:
                top_src = np.concatenate([top for _, top, _ in parts])
                bottom_src = np.concatenate([bottom for _, _, bottom in parts])
            self.top.offer(start, top_src, col)
            self.bottom.offer(start, bottom_src, col)
            return
        # Lists full: the bars are the current k-th bests (NaN-safe: NaN passes nothing),
        # and both survivor scans read each tile while it is still in cache.
        top_thr = self.top.threshold(block, col)
        bottom_thr = self.bottom.threshold(block, col)
        for r0, _, top_src, bottom_src in self._tiles(block, col):
            self.top.scan(start + r0, top_src, col, top_thr)
            self.bottom.scan(start + r0, bottom_src, col, bottom_thr)
        self.top.settle()
        self.bottom.settle()

    def _tiles(
        self, block: np.ndarray, col: int
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """Merge the moments of each cache-sized tile; yield ``(first row, tile, top view,
        bottom view)``, the views with NaN/Inf replaced so they never survive (the tile
        itself when it has none).

        The fused pass: column sums (a BLAS product with a row of ones) and sums of squares
        read the tile from memory once; what the caller does with it next hits the cache.
        """
        ones = self._ones(min(block.shape[0], _TILE_ROWS))
        for r0 in range(0, block.shape[0], _TILE_ROWS):
            tile = block[r0 : r0 + _TILE_ROWS]
            n = tile.shape[0]
            cleaned = self._moments(tile, col, ones[:n] @ tile, np.einsum("ij,ij->j", tile, tile))
            if cleaned is None:
                yield r0, tile, tile, tile
                continue
            idx, fin = cleaned
            top, bottom = tile.copy(), tile.copy()
            top[:, idx] = np.where(fin, tile[:, idx], -np.inf)
            bottom[:, idx] = np.where(fin, tile[:, idx], np.inf)
            yield r0, tile, top, bottom

    def _ones(self, n: int) -> np.ndarray:
        """A reused row of ones: the column sums are ``ones @ tile``."""
        if self._ones_buf.shape[0] < n:
            self._ones_buf = np.ones(n, dtype=np.float32)
        return self._ones_buf

    def _sample(self, start: int, block: np.ndarray, cols: slice) -> None:
        first = (-start) % self.stride
        if first >= block.shape[0]:
            return
        picked = block[first :: self.stride]
        dest = (start + first) // self.stride
        self.sample[dest : dest + picked.shape[0], cols] = picked

    def _moments(
        self, sub: np.ndarray, col: int, s: np.ndarray, q: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """Merge one tile's moments from its float32 column sums ``s`` and sums of squares
        ``q``; return (columns, finite mask) when it has NaN/Inf."""
        r, width = sub.shape
        cols = slice(col, col + width)
        bad = ~(np.isfinite(s) & np.isfinite(q))
        nb = np.full(width, r, dtype=np.int64)
        with np.errstate(invalid="ignore", over="ignore"):
            mb = s.astype(np.float64) / r
            m2b = np.maximum(q.astype(np.float64) - s.astype(np.float64) * mb, 0.0)
            # Large mean against spread: float32 sums cancel, so redo those in float64.
            shaky = np.flatnonzero(~bad & (mb * mb * r > 1e3 * m2b))
        if shaky.size:
            x = sub[:, shaky].astype(np.float64)
            mb[shaky] = x.mean(axis=0)
            d = x - mb[shaky]
            m2b[shaky] = np.einsum("ij,ij->j", d, d)
        cleaned = None
        if bad.any():
            idx = np.flatnonzero(bad)
            x = sub[:, idx].astype(np.float64)
            fin = np.isfinite(x)
            cnt = fin.sum(axis=0)
            self.nonfinite[col + idx] += r - cnt
            xs = np.where(fin, x, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                mbad = xs.sum(axis=0) / cnt
            mbad = np.where(cnt > 0, mbad, 0.0)
            d = np.where(fin, x - mbad, 0.0)
            nb[idx], mb[idx], m2b[idx] = cnt, mbad, (d * d).sum(axis=0)
            cleaned = idx, fin
        # Chan et al.: merge (count, mean, M2) of this sub-block into the running ones.
        na = self.count[cols]
        tot = na + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = mb - self.mean[cols]
            frac = np.where(tot > 0, nb / np.maximum(tot, 1), 0.0)
            self.mean[cols] += delta * frac
            self.m2[cols] += m2b + delta * delta * na * frac
        self.count[cols] = tot
        return cleaned

    # -- result --------------------------------------------------------------------
    def finish(self) -> Summary:
        """Turn the sufficient statistics into a :class:`Summary`."""
        self.top.flush()
        self.bottom.flush()
        count = self.count
        empty = count == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(self.m2 / count).astype(np.float32)
        mean = self.mean.astype(np.float32)
        mn = self.bottom.values[0].copy()
        mx = self.top.values[0].copy()
        mean[empty] = std[empty] = mn[empty] = mx[empty] = np.nan
        quantiles = self._quantiles()
        # A neuron not fed every row (an incomplete pass) has no trustworthy quantiles.
        quantiles[:, (count + self.nonfinite) != self.total_tokens] = np.nan
        stats = NeuronStats(
            mean=mean,
            std=std,
            min=mn,
            max=mx,
            quantile_levels=self.levels.copy(),
            quantiles=quantiles,
            count=count.copy(),
            nonfinite=self.nonfinite.copy(),
            extra=quantile_extra(int(self.sample.shape[0]), self.stride),
        )
        return Summary(
            stats=stats,
            top_rows=self.top.rows,
            top_values=self.top.values,
            bottom_rows=self.bottom.rows,
            bottom_values=self.bottom.values,
        )

    def _quantiles(self) -> np.ndarray:
        return sample_quantiles(self.sample, self.levels)


def sample_stride(total_tokens: int, neurons: int, sample_bytes: int = DEFAULT_SAMPLE_BYTES) -> int:
    """Every how many corpus rows the quantile sample takes one (1: every row, exact).

    The sample keeps the corpus rows whose index is a multiple of the stride, so any split
    of the corpus (shards, :func:`neurotui.scale.reduce.cluster_quantile_sample`) can
    gather the very rows one pass would.
    """
    cap = max(256, int(sample_bytes) // max(1, 4 * int(neurons)))
    return max(1, math.ceil(int(total_tokens) / cap)) if total_tokens else 1


def quantile_extra(rows: int, stride: int) -> dict[str, object]:
    """What a summary says of its quantiles: sample rows, stride, DKW rank error (α = 0.01)."""
    exact = stride == 1
    rank_error = 0.0 if exact else math.sqrt(math.log(2 / 0.01) / (2 * max(1, rows)))
    return {
        "quantile_sample": int(rows),
        "quantile_stride": int(stride),
        "quantile_rank_error": rank_error,
        "quantiles_exact": exact,
    }


def sample_quantiles(sample: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Linear-interpolated quantiles (numpy's default) of ``sample`` (rows × neurons), per
    neuron: ``(levels, neurons)`` float32.

    A full sort of each neuron's sample row beats ``np.quantile``'s multi-kth
    partition several times over (vectorised sorting); NaN sorts last and is cut off.
    """
    levels = np.asarray(levels, dtype=np.float64)
    neurons = int(sample.shape[1])
    out = np.full((levels.size, neurons), np.nan, dtype=np.float32)
    if sample.shape[0] == 0:
        return out
    step = 512  # neurons at once keeps the sorted copy small
    for c0 in range(0, neurons, step):
        block = np.ascontiguousarray(sample[:, c0 : c0 + step].T)
        bad = ~np.isfinite(block)
        if bad.any():  # ±Inf would sort among the values: make every non-finite NaN
            block[bad] = np.nan
        block.sort(axis=1)
        count = block.shape[1] - bad.sum(axis=1)
        pos = levels[None, :] * np.maximum(count - 1, 0)[:, None]
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(count - 1, 0)[:, None])
        frac = (pos - lo).astype(np.float32)
        a = np.take_along_axis(block, lo, axis=1)
        b = np.take_along_axis(block, hi, axis=1)
        q = a + (b - a) * frac
        q[count == 0] = np.nan
        out[:, c0 : c0 + step] = q.T
    return out


def summarize(
    store: _BlockSource,
    *,
    k: int = DEFAULT_K,
    levels: np.ndarray | None = None,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    chunk_tokens: int = 8192,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Summary:
    """One streaming pass over ``store`` (anything with ``iter_site_blocks``).

    ``progress`` is called with the number of values consumed after each block.
    ``workers`` threads (default: the CPU cores, at most 4) each take a group of sites when
    the store can stream sites separately: h5py reads and numpy's reductions release the
    interpreter in turn, so one thread reads while another computes.
    """
    groups = _site_groups(store, workers)
    if groups is None:
        acc = SummaryAccumulator(
            store.neuron_count, store.total_tokens, k=k, levels=levels, sample_bytes=sample_bytes
        )
        for start, col, block in store.iter_site_blocks(chunk_tokens):
            acc.update(start, block, col)
            if progress is not None:
                progress(int(block.size))
        return acc.finish()
    return _summarize_parallel(store, groups, k, levels, sample_bytes, chunk_tokens, progress)


def default_workers() -> int:
    """Summary threads by default: the CPU cores this process may use, at most 4."""
    import os

    return min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def split_sites(sites: Sequence[Any], workers: int) -> list[list[Any]]:
    """Sites cut into ≤ ``workers`` runs of consecutive columns with balanced widths."""
    sites = list(sites)
    workers = max(1, min(workers, len(sites)))
    total = sum(int(s.size) for s in sites)
    groups: list[list[Any]] = [[]]
    done = 0
    for site in sites:
        if groups[-1] and done >= total * len(groups) / workers:
            groups.append([])
        groups[-1].append(site)
        done += int(site.size)
    return groups


def group_accumulators(
    groups: list[list[Any]],
    total_tokens: int,
    *,
    k: int = DEFAULT_K,
    levels: np.ndarray | None = None,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
) -> list[SummaryAccumulator]:
    """One accumulator per site group, each with its share of the quantile sample budget
    (the same stride one accumulator over every column would use); join their results
    with :func:`join_summaries`."""
    total_width = sum(int(s.size) for group in groups for s in group)
    accs = []
    for group in groups:
        width = sum(int(s.size) for s in group)
        share = max(1, sample_bytes * width // max(1, total_width))
        accs.append(SummaryAccumulator(width, total_tokens, k=k, levels=levels, sample_bytes=share))
    return accs


def _site_groups(store: _BlockSource, workers: int | None) -> list[list[Any]] | None:
    """The store's sites split for ``workers`` threads; ``None`` when one thread is asked
    for or the store cannot stream a subset of sites."""
    import inspect

    sites = list(getattr(store, "sites", []) or [])
    if workers is None:
        workers = default_workers()
    if workers < 2 or len(sites) < 2:
        return None
    try:
        if "sites" not in inspect.signature(store.iter_site_blocks).parameters:
            return None
    except (TypeError, ValueError):
        return None
    groups = split_sites(sites, workers)
    return groups if len(groups) > 1 else None


def _summarize_parallel(
    store: Any,  # a store whose iter_site_blocks takes sites= (checked by _site_groups)
    groups: list[list[Any]],
    k: int,
    levels: np.ndarray | None,
    sample_bytes: int,
    chunk_tokens: int,
    progress: Callable[[int], None] | None,
) -> Summary:
    """One accumulator per site group, each fed by its own thread, then joined by column."""
    import threading

    lock = threading.Lock()
    failure: list[BaseException] = []
    accs = group_accumulators(
        groups, store.total_tokens, k=k, levels=levels, sample_bytes=sample_bytes
    )
    offsets = [int(group[0].offset) for group in groups]

    parts: dict[int, Summary] = {}

    def work(index: int, acc: SummaryAccumulator, group: list[Any], offset: int) -> None:
        try:
            names = [s.name for s in group]
            for start, col, block in store.iter_site_blocks(chunk_tokens, sites=names):
                if failure:
                    return
                acc.update(start, block, col - offset)
                if progress is not None:
                    with lock:
                        progress(int(block.size))
            parts[index] = acc.finish()  # the quantile sorts run in parallel too
        except BaseException as exc:  # re-raised in the calling thread
            failure.append(exc)

    threads = [
        threading.Thread(target=work, args=(i, a, g, o), name=f"summary-{i}", daemon=True)
        for i, (a, g, o) in enumerate(zip(accs, groups, offsets, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failure:
        raise failure[0]
    return join_summaries([parts[i] for i in range(len(accs))])


def join_summaries(parts: list[Summary]) -> Summary:
    """Summaries of consecutive column ranges → one summary over all of them."""
    first = parts[0].stats
    stats = NeuronStats(
        mean=np.concatenate([p.stats.mean for p in parts]),
        std=np.concatenate([p.stats.std for p in parts]),
        min=np.concatenate([p.stats.min for p in parts]),
        max=np.concatenate([p.stats.max for p in parts]),
        quantile_levels=first.quantile_levels,
        quantiles=np.concatenate([p.stats.quantiles for p in parts], axis=1),
        count=np.concatenate([p.stats.count for p in parts]),
        nonfinite=np.concatenate([p.stats.nonfinite for p in parts]),
        extra=dict(first.extra),
    )
    return Summary(
        stats=stats,
        top_rows=np.concatenate([p.top_rows for p in parts], axis=1),
        top_values=np.concatenate([p.top_values for p in parts], axis=1),
        bottom_rows=np.concatenate([p.bottom_rows for p in parts], axis=1),
        bottom_values=np.concatenate([p.bottom_values for p in parts], axis=1),
    )
