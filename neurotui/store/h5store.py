"""Read our HDF5 layout lazily.

Why lazy: opening reads the attributes and the sentence offsets only (a few KB per
thousand sentences); tokens, activations, labels and summaries are read on demand, one
sentence or one neuron at a time, through HDF5's chunk cache.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from neurotui.errors import StoreError
from neurotui.store import layout
from neurotui.store.base import BaseStore, make_sites, neuron_from_summary
from neurotui.store.rawchunks import ChunkMap, chunk_map, raw_reads_enabled

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import StoreSite
    from neurotui.store.ranking import Ranking
    from neurotui.store.summary import Summary


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guard(
    method: Callable[Concatenate[Any, _P], _R],
) -> Callable[Concatenate[Any, _P], _R]:
    """A damaged chunk or index becomes a one-line StoreError, not an HDF5 traceback."""

    def wrapper(self: Any, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            raise StoreError(f"{self._shown}: damaged store data ({_short(exc)})") from None

    functools.update_wrapper(wrapper, method)
    return wrapper


def _guard_iter(
    method: Callable[Concatenate[Any, _P], Iterator[_R]],
) -> Callable[Concatenate[Any, _P], Iterator[_R]]:
    """:func:`_guard` for generators."""

    def wrapper(self: Any, /, *args: _P.args, **kwargs: _P.kwargs) -> Iterator[_R]:
        try:
            yield from method(self, *args, **kwargs)
        except OSError as exc:
            raise StoreError(f"{self._shown}: damaged store data ({_short(exc)})") from None

    functools.update_wrapper(wrapper, method)
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
        self._sites = make_sites([(str(n), int(s)) for n, s in meta["sites"]], self._shown)
        self._chunk_maps: dict[str, ChunkMap | None] = {}  # filled by _chunk_map
        self._offsets = _sentence_offsets(f, self._shown)
        total = int(self._offsets[-1])
        stored = _StoredBytes(self.path, self._shown)
        stored.check(f["sentences/offsets"], "sentences/offsets")
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
            if ds.dtype.kind not in "fiu":
                raise StoreError(
                    f"{self._shown}: site {site.name} holds {ds.dtype} values, not numbers"
                )
            stored.check(ds, f"activations/{site.name}")
            self._ds[site.name] = ds
        self._tok_offsets, self._tok_utf8 = _token_index(f, total, stored, self._shown)
        _check_labels(f, total, stored, self._shown)
        _check_summary(f, self.neuron_count, stored, self._shown)
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
        ends = np.asarray(self._tok_offsets[a : b + 1], dtype=np.int64)
        _check_token_ends(ends, self._tok_utf8.shape[0], self._shown)
        blob = self._tok_utf8[int(ends[0]) : int(ends[-1])].tobytes()
        rel = ends - ends[0]
        text = _decode(blob, self._shown, f"sentence {i}'s token text")
        if text.isascii():
            return [text[rel[j] : rel[j + 1]] for j in range(b - a)]
        return [
            _decode(blob[rel[j] : rel[j + 1]], self._shown, f"sentence {i}, token {j}")
            for j in range(b - a)
        ]

    @_guard
    def all_tokens(self) -> list[list[str]]:
        """Every sentence's tokens (one read; for conversions and label checks).

        The memory it needs (the text, the offsets and a Python string per token) is
        checked first, so a huge store is refused in one line rather than half-read.
        """
        from neurotui.resources import check_fits

        count, size = self.total_tokens, int(self._tok_utf8.shape[0])
        check_fits(f"{self._shown}: reading all {count} tokens", 2 * size + 8 * count + 80 * count)
        ends = np.asarray(self._tok_offsets[()], dtype=np.int64)
        _check_token_ends(ends, size, self._shown)
        blob = self._tok_utf8[()].tobytes()
        try:
            words = [blob[ends[j] : ends[j + 1]].decode("utf-8") for j in range(ends.size - 1)]
        except UnicodeDecodeError:
            bad = _decode(blob, self._shown, "the token text") and "a token boundary"
            raise StoreError(f"{self._shown}: {bad} splits a UTF-8 character") from None
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
        plan: list[tuple[StoreSite, int, int, Any, Any]] = []
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
        summary = layout.read_summary(self._file, self._shown)
        if summary is not None:
            for rows in (summary.top_rows, summary.bottom_rows):
                _check_rows(rows, self.total_tokens, self._shown)
        return summary

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
            _check_rows(rows, self.total_tokens, self._shown)
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
        if not isinstance(classes, list):
            raise StoreError(f"{self._shown}: label task {task!r} has no list of classes")
        codes = np.asarray(ds[()], dtype=np.int64)
        if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= len(classes)):
            bad = int(codes.min()) if int(codes.min()) < 0 else int(codes.max())
            raise StoreError(
                f"{self._shown}: label task {task!r} uses class code {bad}, but it has "
                f"{len(classes)} classes (codes 0…{len(classes) - 1})"
            )
        return codes, [str(c) for c in classes]

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
        from neurotui.store.ranking import Ranking

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


# -- structure checks at open: each compares a declared shape with what is really there,
# reading at most a few elements (no scan of the data) ----------------------------------
class _StoredBytes:
    """Refuse datasets that declare more data than the file can hold.

    Why: HDF5 lets a dataset declare any shape and stores only the chunks written, so a
    store can claim 10⁹ tokens in a few KB; readers would then size arrays (and loops)
    from the claim. An unfiltered dataset's bytes must fit in the file; a compressed one
    must have stored something.
    """

    def __init__(self, path: Path, shown: str) -> None:
        self.file_size = os.path.getsize(path)
        self.shown = shown

    def check(self, ds: Any, name: str) -> None:
        """One-line error when ``ds`` claims data that is not in the file."""
        declared = int(ds.size) * int(ds.dtype.itemsize)
        if declared == 0:
            return
        filtered = ds.id.get_create_plist().get_nfilters() > 0
        if not filtered and declared <= self.file_size:
            return
        if filtered and ds.id.get_storage_size() > 0:
            return
        from neurotui.resources import human_bytes

        raise StoreError(
            f"{self.shown}: {name} declares shape {tuple(ds.shape)} "
            f"({human_bytes(declared)}) but the file holds {human_bytes(self.file_size)}; "
            "the store's sizes are not what it claims"
        )


def _integer_dataset(f: Any, name: str, shown: str) -> Any:
    ds = f[name]
    if ds.dtype.kind not in "iu":
        raise StoreError(f"{shown}: {name} holds {ds.dtype} values, expected integers")
    return ds


def _sentence_offsets(f: Any, shown: str) -> np.ndarray:
    """``/sentences/offsets``: integers from 0, never decreasing (one small read)."""
    offsets = np.asarray(_integer_dataset(f, "sentences/offsets", shown)[()], dtype=np.int64)
    if offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0:
        raise StoreError(f"{shown}: sentence offsets are damaged")
    if np.any(np.diff(offsets) < 0):
        raise StoreError(f"{shown}: sentence offsets are not increasing")
    return offsets


def _token_index(f: Any, total: int, stored: _StoredBytes, shown: str) -> tuple[Any, Any]:
    """``/tokens``: ``total + 1`` integer offsets from 0 to the end of the UTF-8 text.

    Only the two ends are read here; each sentence's own offsets are checked when read.
    """
    offsets = _integer_dataset(f, "tokens/offsets", shown)
    text = _integer_dataset(f, "tokens/utf8", shown)
    if offsets.shape != (total + 1,):
        count = offsets.shape[0] - 1 if offsets.ndim == 1 else offsets.shape
        raise StoreError(f"{shown}: token index has {count} tokens, expected {total}")
    if text.ndim != 1 or text.dtype.itemsize != 1:
        raise StoreError(f"{shown}: tokens/utf8 is {text.dtype} {text.shape}, expected bytes")
    stored.check(offsets, "tokens/offsets")
    stored.check(text, "tokens/utf8")
    first, last = int(offsets[0]), int(offsets[total])
    if first != 0 or last != text.shape[0]:
        raise StoreError(
            f"{shown}: token offsets run {first}…{last} but the token text has "
            f"{text.shape[0]} bytes"
        )
    return offsets, text


def _check_labels(f: Any, total: int, stored: _StoredBytes, shown: str) -> None:
    """Every label task: one integer code per token (codes are range-checked when read)."""
    group = f.get(layout.LABEL_GROUP)
    for task in group.keys() if group is not None else ():
        ds = group[task]
        if ds.shape != (total,) or ds.dtype.kind not in "iu":
            raise StoreError(
                f"{shown}: label task {task!r} is {ds.dtype} {ds.shape}, expected "
                f"{total} integer codes (one per token)"
            )
        stored.check(ds, f"labels/{task}")


def _check_summary(f: Any, neurons: int, stored: _StoredBytes, shown: str) -> None:
    """``/summary``: one row per neuron and ``2k`` examples per row (shapes only)."""
    group = f.get(layout.SUMMARY_GROUP)
    if group is None:
        return
    try:
        k = int(group.attrs["k"])
        levels = np.asarray(group.attrs["quantile_levels"]).size
        parts = {name: group[name] for name in ("stats", "examples", "rows")}
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"{shown}: summary is incomplete ({_short(exc)})") from None
    expected = {"stats": (neurons, 6 + levels), "examples": (neurons, 2 * k)}
    expected["rows"] = expected["examples"]
    for name, ds in parts.items():
        if ds.shape != expected[name] or ds.dtype.kind not in "fiu":
            raise StoreError(
                f"{shown}: summary/{name} is {ds.dtype} {ds.shape}, expected "
                f"{expected[name]} for {neurons} neurons"
            )
        stored.check(ds, f"summary/{name}")
    if parts["rows"].dtype.kind not in "iu":
        raise StoreError(f"{shown}: summary/rows holds {parts['rows'].dtype}, expected integers")


def _check_rows(rows: np.ndarray, total: int, shown: str) -> np.ndarray:
    """Stored example rows must be corpus rows (or -1 for "no example")."""
    if rows.size and (int(rows.min()) < -1 or int(rows.max()) >= total):
        bad = int(rows.max()) if int(rows.max()) >= total else int(rows.min())
        raise StoreError(f"{shown}: summary/rows holds row {bad}, but the store has {total} tokens")
    return rows


def _check_token_ends(ends: np.ndarray, size: int, shown: str) -> None:
    """A slice of ``/tokens/offsets``: never decreasing, inside the token text."""
    if ends.size and (np.any(np.diff(ends) < 0) or int(ends[0]) < 0 or int(ends[-1]) > size):
        raise StoreError(
            f"{shown}: token offsets are damaged (decreasing or past the {size}-byte text)"
        )


def _decode(blob: bytes, shown: str, where: str) -> str:
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        raise StoreError(f"{shown}: {where} is not valid UTF-8") from None


def _aligned(chunk_tokens: int) -> int:
    """Round a block length to whole chunk bands (every chunk height divides
    ``CHUNK_ROWS_MAX``), so no chunk is read twice."""
    rows = layout.CHUNK_ROWS_MAX
    return max(rows, (max(1, int(chunk_tokens)) // rows) * rows)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
