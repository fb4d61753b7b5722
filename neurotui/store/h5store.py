"""Read our HDF5 layout lazily.

Why lazy: opening reads the attributes and the sentence offsets only (a few KB per
thousand sentences); tokens, activations, labels and summaries are read on demand, one
sentence or one neuron at a time, through HDF5's chunk cache.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import StoreError
from neurotui.store import layout
from neurotui.store.base import BaseStore, make_sites, neuron_from_summary
from neurotui.store.rawchunks import ChunkMap, chunk_map, raw_reads_enabled

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.analysis.ranking import Ranking
    from neurotui.store.api import StoreSite
    from neurotui.store.summary import Summary


def _guard(method):  # type: ignore[no-untyped-def]
    """A damaged chunk or index becomes a one-line StoreError, not an HDF5 traceback."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise StoreError(f"{self._shown}: damaged store data ({_short(exc)})") from None

    return wrapper


def _guard_iter(method):  # type: ignore[no-untyped-def]
    """:func:`_guard` for generators."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            yield from method(self, *args, **kwargs)
        except OSError as exc:
            raise StoreError(f"{self._shown}: damaged store data ({_short(exc)})") from None

    return wrapper


class NeurotuiStore(BaseStore):
    """A store in our own layout (see ``docs/store-format.md``)."""

    format = "neurotui"
    _neuron_reader: layout.NeuronSummaryReader | None = None

    def __init__(self, path: str | Path, display_path: str | Path | None = None) -> None:
        import h5py

        self.path = Path(path)
        self._shown = str(display_path or path)
        try:
            self._file = h5py.File(
                self.path,
                "r",
                rdcc_nbytes=layout.READ_CACHE_BYTES,
                rdcc_nslots=layout.READ_CACHE_SLOTS,
            )
        except OSError as exc:
            raise StoreError(f"{self._shown}: cannot open as HDF5 ({_short(exc)})") from None
        try:
            self._open()
        except StoreError:
            self._file.close()
            raise
        except (KeyError, OSError, ValueError, TypeError) as exc:
            self._file.close()
            raise StoreError(f"{self._shown}: damaged neurotui store ({_short(exc)})") from None

    def _label(self) -> str:
        return self._shown

    def _open(self) -> None:
        f = self._file
        version = f.attrs.get("format_version")
        if f.attrs.get("neurotui_format") is None or version is None:
            raise StoreError(f"{self._shown}: not a neurotui store (no format attributes)")
        if int(version) > layout.FORMAT_VERSION:
            raise StoreError(
                f"{self._shown}: store format version {int(version)} is newer than this "
                f"neurotui reads ({layout.FORMAT_VERSION}); upgrade neurotui"
            )
        meta = layout.read_json_attr(f, "metadata", self._shown) or {}
        if not isinstance(meta, dict) or "sites" not in meta:
            raise StoreError(f"{self._shown}: metadata lists no sites")
        self._meta: dict[str, Any] = meta
        self._sites = make_sites([(str(n), int(s)) for n, s in meta["sites"]])
        self._chunk_maps: dict[str, ChunkMap | None] = {}  # filled by _chunk_map
        self._offsets = np.asarray(f["sentences/offsets"][()], dtype=np.int64)
        if self._offsets.ndim != 1 or self._offsets.size == 0 or self._offsets[0] != 0:
            raise StoreError(f"{self._shown}: sentence offsets are damaged")
        if np.any(np.diff(self._offsets) < 0):
            raise StoreError(f"{self._shown}: sentence offsets are not increasing")
        total = int(self._offsets[-1])
        group = f[layout.ACT_GROUP]
        self._ds = {}
        for site in self._sites:
            if site.name not in group:
                raise StoreError(f"{self._shown}: no activations for site {site.name}")
            ds = group[site.name]
            if ds.shape != (total, site.size):
                raise StoreError(
                    f"{self._shown}: site {site.name} has shape {ds.shape}, expected "
                    f"({total}, {site.size})"
                )
            self._ds[site.name] = ds
        self._tok_offsets = f["tokens/offsets"]
        self._tok_utf8 = f["tokens/utf8"]
        if self._tok_offsets.shape != (total + 1,):
            raise StoreError(
                f"{self._shown}: token index has {self._tok_offsets.shape[0] - 1} tokens, expected {total}"
            )
        self.dtype = np.dtype(next(iter(self._ds.values())).dtype) if self._ds else np.dtype("f4")

    # -- contract ------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, object]:
        """Model, sites, aggregation, extraction settings, source hash, format version…"""
        return dict(self._meta)

    @_guard
    def tokens(self, i: int) -> list[str]:
        """The tokens of sentence ``i``."""
        i = self._check_sentence(i)
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        if a == b:
            return []
        ends = self._tok_offsets[a : b + 1]
        blob = self._tok_utf8[int(ends[0]) : int(ends[-1])].tobytes()
        rel = ends - ends[0]
        return [blob[rel[j] : rel[j + 1]].decode("utf-8") for j in range(b - a)]

    @_guard
    def all_tokens(self) -> list[list[str]]:
        """Every sentence's tokens (one read; for conversions and label checks)."""
        ends = self._tok_offsets[()]
        blob = self._tok_utf8[()].tobytes()
        words = [blob[ends[j] : ends[j + 1]].decode("utf-8") for j in range(ends.size - 1)]
        off = self._offsets
        return [words[off[i] : off[i + 1]] for i in range(self.sentences)]

    @_guard
    def _sentence(self, i: int, sites: list[StoreSite]) -> np.ndarray:
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        out = np.empty((b - a, sum(s.size for s in sites)), dtype=np.float32)
        col = 0
        for site in sites:
            if b > a:
                out[:, col : col + site.size] = self._ds[site.name][a:b]
            col += site.size
        return out

    @_guard
    def neuron_values(self, neuron: int | str) -> np.ndarray:
        """One neuron over the corpus (reads one column stripe of chunks)."""
        gid = self.neuron_id(neuron)
        site = self._site_of(gid)
        if self.total_tokens == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self._ds[site.name][:, gid - site.offset], dtype=np.float32)

    @_guard_iter
    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = 65536
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Corpus-order blocks of the chosen neurons (all when ``None``)."""
        total = self.total_tokens
        step = _aligned(chunk_tokens)
        if neurons is None:
            gids = None
        else:
            gids = np.array([self.neuron_id(n) for n in neurons], dtype=np.int64)
        plan = self._plan(gids)
        width = self.neuron_count if gids is None else gids.size
        for start in range(0, total, step):
            stop = min(total, start + step)
            out = np.empty((stop - start, width), dtype=np.float32)
            for site, lo, hi, src_cols, dst_cols in plan:
                slab = self._ds[site.name][start:stop, lo:hi]
                if src_cols is None:
                    out[:, dst_cols] = slab
                else:
                    out[:, dst_cols] = slab[:, src_cols]
            yield start, out

    def _plan(self, gids: np.ndarray | None) -> list[tuple[StoreSite, int, int, Any, Any]]:
        plan = []
        if gids is None:
            for site in self._sites:
                plan.append((site, 0, site.size, None, slice(site.offset, site.offset + site.size)))
            return plan
        for site in self._sites:
            sel = np.flatnonzero((gids >= site.offset) & (gids < site.offset + site.size))
            if sel.size == 0:
                continue
            local = gids[sel] - site.offset
            lo, hi = int(local.min()), int(local.max()) + 1
            plan.append((site, lo, hi, local - lo, sel))
        return plan

    @_guard_iter
    def iter_site_blocks(
        self, chunk_tokens: int = 65536, sites: Sequence[str] | None = None
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """Per-site corpus blocks read straight into a reused float32 buffer.

        ``sites`` restricts the pass to those sites (the summary pass gives each worker
        thread its own group of sites).
        """
        total = self.total_tokens
        step = _aligned(chunk_tokens)
        chosen = set(sites) if sites is not None else None
        fd = -1
        try:
            for site in self._sites:
                if chosen is not None and site.name not in chosen:
                    continue
                ds = self._ds[site.name]
                buf = np.empty((min(step, max(total, 1)), site.size), dtype=np.float32)
                raw = self._chunk_map(site.name)
                if raw is not None and fd < 0:
                    fd = os.open(self.path, os.O_RDONLY)
                half = (
                    np.empty_like(buf, dtype=np.float16)
                    if raw is not None and raw.dtype.itemsize == 2
                    else None
                )
                native = ds.dtype == np.float32
                for start in range(0, total, step):
                    n = min(step, total - start)
                    if raw is not None:  # os.preadv: the interpreter lock is released
                        if half is None:
                            raw.read_into(fd, start, buf[:n])
                        else:
                            raw.read_into(fd, start, half[:n])
                            np.copyto(buf[:n], half[:n])
                        yield start, site.offset, buf[:n]
                    elif native:
                        ds.read_direct(buf, np.s_[start : start + n], np.s_[0:n])
                        yield start, site.offset, buf[:n]
                    else:
                        yield start, site.offset, ds[start : start + n].astype(np.float32)
        finally:
            if fd >= 0:
                os.close(fd)

    def _chunk_map(self, site: str) -> ChunkMap | None:
        """Where ``site``'s chunks lie, when they can be read raw (cached per store)."""
        if site not in self._chunk_maps:
            raw_ok = raw_reads_enabled()
            self._chunk_maps[site] = chunk_map(self._ds[site]) if raw_ok else None
        return self._chunk_maps[site]

    # -- summaries -----------------------------------------------------------------
    @_guard
    def _load_summary(self) -> Summary | None:
        return layout.read_summary(self._file, self._shown)

    @property
    def has_summary(self) -> bool:
        """Whether summaries are stored (without loading them)."""
        return layout.SUMMARY_GROUP in self._file

    @_guard
    def neuron_summary(self, neuron: int | str) -> dict[str, Any] | None:
        """One neuron's stored stats and examples, read without loading the others.

        Keys: count, nonfinite, mean, std, min, max, quantile_levels, quantiles, and
        ``top``/``bottom`` lists of :class:`Example`. ``None`` when no summary is stored.
        """
        from neurotui.store.api import Example

        gid = self.neuron_id(neuron)
        if self._summary_loaded and self._summary is not None:
            return neuron_from_summary(self._summary, gid, self.locate)
        if self._neuron_reader is None:
            group = self._file.get(layout.SUMMARY_GROUP)
            if group is None:
                return None
            self._neuron_reader = layout.NeuronSummaryReader(group)
        raw = self._neuron_reader.neuron(gid)
        for side in ("top", "bottom"):
            rows, vals = raw.pop(f"{side}_rows"), raw.pop(f"{side}_values")
            keep = rows >= 0
            sent, pos = self.locate(rows[keep])
            raw[side] = [
                Example(int(s), int(p), float(v))
                for s, p, v in zip(sent, pos, vals[keep], strict=True)
            ]
        return raw

    # -- labels and rankings -------------------------------------------------------
    @property
    def label_tasks(self) -> list[str]:
        """Names of the label tasks stored."""
        group = self._file.get(layout.LABEL_GROUP)
        return sorted(group.keys()) if group is not None else []

    @_guard
    def label_codes(self, task: str) -> tuple[np.ndarray, list[str]]:
        """``(codes over the corpus, class names)`` of ``task`` (cheap for probes)."""
        group = self._file.get(layout.LABEL_GROUP)
        if group is None or task not in group:
            tasks = ", ".join(self.label_tasks) or "(none)"
            raise StoreError(f"{self._shown}: no label task {task!r}; tasks: {tasks}")
        ds = group[task]
        classes = layout.read_json_attr(ds, "classes", self._shown) or []
        return np.asarray(ds[()], dtype=np.int64), [str(c) for c in classes]

    def labels(self, task: str) -> list[list[str]]:
        """Per-sentence token labels of ``task``."""
        codes, classes = self.label_codes(task)
        names = np.asarray(classes, dtype=object)
        words = names[codes].tolist() if codes.size else []
        off = self._offsets
        return [words[off[i] : off[i + 1]] for i in range(self.sentences)]

    @property
    def rankings(self) -> dict[str, Ranking]:
        """Rankings saved in the store, by name."""
        from neurotui.analysis.ranking import Ranking

        group = self._file.get(layout.RANKING_GROUP)
        out: dict[str, Ranking] = {}
        if group is None:
            return out
        for name in group:
            raw = group[name][()]
            text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            try:
                out[name] = Ranking.from_json(text)
            except (ValueError, TypeError) as exc:
                raise StoreError(f"{self._shown}: ranking {name!r} is damaged ({exc})") from None
        return out

    @property
    def ranking_names(self) -> list[str]:
        """Names of the saved rankings (without decoding them)."""
        group = self._file.get(layout.RANKING_GROUP)
        return sorted(group.keys()) if group is not None else []

    def close(self) -> None:
        """Release the file."""
        with contextlib.suppress(Exception):
            self._file.close()


def nonfinite_warnings(path: str | Path) -> list[str]:
    """A warning about NaN/Inf activations in a stored summary (they are counted and
    excluded from the statistics), or none: extraction and conversion print it."""
    with NeurotuiStore(path) as store:
        stats = store.stats
        if stats is None:
            return []
        bad = int(stats.nonfinite.sum())
        if not bad:
            return []
        worst = int(np.argmax(stats.nonfinite))
        return [
            f"{path}: {bad} NaN/Inf activation values, most at neuron "
            f"{store.neuron_name(worst)} ({int(stats.nonfinite[worst])}); they are "
            "counted and excluded from every statistic"
        ]


def _aligned(chunk_tokens: int) -> int:
    """Round a block length to whole chunk bands (every chunk height divides
    ``CHUNK_ROWS_MAX``), so no chunk is read twice."""
    rows = layout.CHUNK_ROWS_MAX
    return max(rows, (max(1, int(chunk_tokens)) // rows) * rows)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
