"""Write a store in our HDF5 layout, sentence by sentence, atomically.

Why buffered: extraction and conversion hand over a few sentences at a time; rows are
buffered and written in bands of whole chunks, so HDF5 never re-reads a half-filled chunk
(a sentence that does not fit the buffer is split across two bands). While one buffer is
written and summarised on helper threads, the next sentences fill the other.

Why ``rows``: when the corpus length is known up front (a conversion, an extraction from a
text file), each site is created with its final size and all chunks allocated at once,
and the bands are written straight into the file (:mod:`neurotui.store.rawwrite`).

The file is written under a temporary name and renamed only by :meth:`StoreWriter.finish`
(after the summaries are in), so an interrupted run leaves nothing under the target name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import DataError, StoreError
from neurotui.store import layout
from neurotui.store.atomic import atomic_path
from neurotui.store.base import make_sites
from neurotui.store.rawwrite import PAGE, RawBandWriter, aligned_empty, raw_writes_enabled

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.ranking import Ranking
    from neurotui.store.summary import Summary, SummaryAccumulator

#: rows buffered before a write: a multiple of every chunk height (whole chunk bands)
_FLUSH_ROWS = 2 * layout.CHUNK_ROWS_MAX
#: tokens held before they are written: HDF5's small writes wait behind the big activation
#: writes in flight, so tokens go out in few pieces (64 Ki tokens: a few MB of memory)
_TOKEN_FLUSH = 1 << 16
#: summary threads while writing (each takes a group of sites)
_SUMMARY_WORKERS = 2

#: ``read(views)`` fills ``views[site]``, a ``(tokens, size)`` array, with a sentence's rows
RowReader = Callable[[Mapping[str, np.ndarray]], None]


class StoreWriter:
    """``with StoreWriter(path, sites) as w: w.add(tokens, acts); …; w.finish()``.

    ``sites`` are ``(name, size)`` pairs in column order. ``add`` takes a sentence's tokens
    and either a ``{site: (tokens, size)}`` mapping or one ``(tokens, neurons)`` array;
    ``add_from`` lets a reader fill the writer's buffers directly. ``rows``, when given, is
    the exact number of token rows that will be added. Leaving the block without
    ``finish`` (an error, Ctrl-C) deletes the temporary file.
    """

    def __init__(
        self,
        path: str | Path,
        sites: Sequence[tuple[str, int]],
        *,
        dtype: str = "float32",
        metadata: Mapping[str, Any] | None = None,
        expected_tokens: int | None = None,
        summary_options: Mapping[str, Any] | None = None,
        rows: int | None = None,
    ) -> None:
        import h5py

        if dtype not in ("float16", "float32"):
            raise StoreError(f"--dtype {dtype}: use float16 or float32")
        self.path = Path(path)
        self.sites = make_sites(list(sites), self.path)
        for site in self.sites:
            layout.check_name("site", site.name)
        self.width = sum(s.size for s in self.sites)
        self.dtype = np.dtype(dtype)
        self.metadata = dict(metadata or {})
        # Fixed-size sites need every chunk to fit inside them: tiny corpora stay growable.
        band = max(
            (layout.chunk_shape(s.size, self.dtype.itemsize)[0] for s in self.sites), default=1
        )
        rows = None if rows is None else int(rows)
        self._announced_rows = rows
        self._fixed_rows = rows if rows is not None and rows >= band else None
        self._atomic = atomic_path(self.path)
        self.tmp = self._atomic.__enter__()
        self._done = False
        self._raw: RawBandWriter | None = None
        self._io: ThreadPoolExecutor | None = None
        self._summary_pools: list[ThreadPoolExecutor] = []
        self._jobs: dict[int, list[Future[None]]] = {}  # buffer set → its write/summary jobs
        try:
            # Page-aligned large objects let a fixed store's chunks take direct I/O.
            align = {"alignment_threshold": 64 * 1024, "alignment_interval": PAGE}
            self._file = h5py.File(
                self.tmp,
                "w",
                libver=("v110", "latest"),
                **(align if self._fixed_rows is not None else {}),
            )
            self._create_datasets()
            self._raw = self._raw_writer()
        except BaseException as exc:
            self._abort(exc)
            raise
        self._lengths: list[int] = []
        self._rows = 0
        self._written = 0
        # Rows wait in one reused array per site (no per-flush allocation or concatenate:
        # each value is copied once on its way to the file), page-aligned for direct I/O.
        # Two sets, used in turn: while one is written and summarised on helper threads,
        # the next sentences fill the other.
        self._bufs = [
            {s.name: aligned_empty((_FLUSH_ROWS, s.size), self.dtype) for s in self.sites}
            for _ in range(2)
        ]
        self._buf_index = 0
        self._buf = self._bufs[0]
        self._buf_rows = 0
        self._tok_bytes: list[bytes] = []
        self._tok_lens: list[int] = []
        self._tok_written = 0
        self._byte_written = 0
        self._labels: dict[str, list[list[str]]] = {}
        self._rankings: dict[str, Ranking] = {}
        # With the corpus length known up front, summaries are computed while writing
        # (no second pass over the file); otherwise finish() reads the file back once.
        self._accs: list[SummaryAccumulator] = []
        self._groups: list[list[Any]] = []
        self._expected = int(expected_tokens) if expected_tokens is not None else None
        if expected_tokens is not None:
            from neurotui.store.summary import group_accumulators, split_sites

            self._groups = split_sites(self.sites, _SUMMARY_WORKERS)
            self._accs = group_accumulators(
                self._groups, int(expected_tokens), **dict(summary_options or {})
            )

    def _create_datasets(self) -> None:
        import h5py

        f = self._file
        group = f.create_group(layout.ACT_GROUP)
        fixed = self._fixed_rows
        for i, site in enumerate(self.sites):
            chunks = layout.chunk_shape(site.size, self.dtype.itemsize)
            if fixed is None:
                ds = group.create_dataset(
                    site.name,
                    shape=(0, site.size),
                    maxshape=(None, site.size),
                    dtype=self.dtype,
                    chunks=chunks,
                )
            else:
                # Final size, every chunk allocated now (back to back, fixed-array index),
                # no fill values written: the bands overwrite every row.
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
                ds = group.create_dataset(
                    site.name,
                    shape=(fixed, site.size),
                    dtype=self.dtype,
                    chunks=chunks,
                    fill_time="never",
                    dcpl=dcpl,
                )
            ds.attrs["index"] = i
            ds.attrs["offset"] = site.offset
        tokens = f.create_group("tokens")
        tokens.create_dataset(
            "utf8", shape=(0,), maxshape=(None,), dtype=np.uint8, chunks=(1 << 14,)
        )
        tokens.create_dataset(
            "offsets", shape=(1,), maxshape=(None,), dtype=np.int64, chunks=(1 << 12,), data=[0]
        )

    def _raw_writer(self) -> RawBandWriter | None:
        """Raw band writes for the sites that allow them (fixed size, full-width chunks)."""
        if self._fixed_rows is None or not raw_writes_enabled():
            return None
        from neurotui.store.rawchunks import chunk_map

        self._file.flush()  # the chunk index on disk before anyone else writes the file
        group = self._file[layout.ACT_GROUP]
        maps = {}
        for site in self.sites:
            cmap = chunk_map(group[site.name])
            if cmap is not None:
                maps[site.name] = cmap
        if not maps:
            return None
        self._io = ThreadPoolExecutor(2, thread_name_prefix="store-write")
        return RawBandWriter(self.tmp, maps)

    # -- adding data ---------------------------------------------------------------
    def add(self, tokens: Sequence[str], acts: Mapping[str, np.ndarray] | np.ndarray) -> None:
        """Append one sentence (its tokens and their activation rows)."""
        n = len(tokens)
        parts = self._check_parts(n, acts)
        self._make_room(n)
        pos = 0
        while pos < n:  # a sentence longer than the buffer's room is split across bands
            take = min(n - pos, _FLUSH_ROWS - self._buf_rows)
            end = self._buf_rows + take
            for site, part in zip(self.sites, parts, strict=True):
                self._buf[site.name][self._buf_rows : end] = part[pos : pos + take]
            self._buf_rows = end
            pos += take
            if self._buf_rows == _FLUSH_ROWS:
                self._flush()
        self._add_tokens(tokens)

    def add_from(self, tokens: Sequence[str], read: RowReader) -> None:
        """Append one sentence whose rows ``read`` writes into the writer's own buffers.

        Why: a converter then moves each value once (file → buffer → file) instead of
        through an intermediate array. ``read`` gets ``{site: (tokens, size)}`` arrays of
        the writer's dtype and must fill them completely.
        """
        n = len(tokens)
        if n == 0 or self._buf_rows + n > _FLUSH_ROWS:
            scratch = {s.name: np.empty((n, s.size), dtype=self.dtype) for s in self.sites}
            read(scratch)
            self.add(tokens, scratch)
            return
        self._make_room(n)
        end = self._buf_rows + n
        read({s.name: self._buf[s.name][self._buf_rows : end] for s in self.sites})
        self._buf_rows = end
        if self._buf_rows == _FLUSH_ROWS:
            self._flush()
        self._add_tokens(tokens)

    def _check_parts(self, n: int, acts: Mapping[str, np.ndarray] | np.ndarray) -> list[np.ndarray]:
        """One ``(n, size)`` array per site, or a :class:`DataError` naming the sentence."""
        where = f"sentence {len(self._lengths)}"
        if isinstance(acts, Mapping):
            parts = []
            for site in self.sites:
                if site.name not in acts:
                    raise DataError(f"{where}: no activations for site {site.name}")
                parts.append(np.asarray(acts[site.name]))
        else:
            arr = np.asarray(acts)
            if arr.ndim != 2 or arr.shape[1] != self.width:
                raise DataError(
                    f"{where}: activations of shape {arr.shape}, expected (*, {self.width})"
                )
            parts = [arr[:, s.offset : s.offset + s.size] for s in self.sites]
        for site, part in zip(self.sites, parts, strict=True):
            if part.ndim != 2 or part.shape != (n, site.size):
                raise DataError(
                    f"{where}: site {site.name} has activations of shape {part.shape} for "
                    f"{n} tokens, expected ({n}, {site.size})"
                )
        return parts

    def _make_room(self, n: int) -> None:
        """Refuse rows beyond the announced corpus length."""
        if self._announced_rows is not None and self._rows + n > self._announced_rows:
            raise DataError(
                f"sentence {len(self._lengths)}: {self._rows + n} token rows so far, but the "
                f"store was created for {self._announced_rows}"
            )

    def _add_tokens(self, tokens: Sequence[str]) -> None:
        for tok in tokens:
            data = str(tok).encode("utf-8")
            self._tok_bytes.append(data)
            self._tok_lens.append(len(data))
        self._lengths.append(len(tokens))
        self._rows += len(tokens)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A full disk or a lost mount becomes one line naming the store, not a traceback."""
        try:
            yield
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StoreError(f"{self.path}: cannot write the store ({reason})") from exc

    def _flush(self) -> None:
        """Hand the filled buffer set to the write and summary threads; switch sets."""
        with self._writing():
            self._flush_band()

    def _flush_band(self) -> None:
        n = self._buf_rows
        if n:
            current = self._buf_index
            bufs, start = self._buf, self._written
            jobs: list[Future[None]] = []
            if self._raw is not None:
                assert self._io is not None
                names = list(self._raw.maps)
                for part in (names[::2], names[1::2]):  # two writes in flight at a time
                    if part:
                        jobs.append(self._io.submit(self._write_raw, start, bufs, n, part))
            self._write_h5py(start, bufs, n)
            self._written = start + n
            jobs.extend(self._summarise(start, bufs, n))
            self._jobs[current] = jobs
            other = 1 - current
            self._wait(other)  # the other set may still be written or summarised
            self._buf_index, self._buf = other, self._bufs[other]
            self._buf_rows = 0
        if len(self._tok_lens) >= _TOKEN_FLUSH:
            self._flush_tokens()

    def _write_raw(
        self, start: int, bufs: Mapping[str, np.ndarray], n: int, names: Sequence[str]
    ) -> None:
        assert self._raw is not None
        for name in names:
            self._raw.write(name, start, bufs[name], n)

    def _write_h5py(self, start: int, bufs: Mapping[str, np.ndarray], n: int) -> None:
        """Write the sites the raw writer does not take, through h5py."""
        group = self._file[layout.ACT_GROUP]
        stop = start + n
        for site in self.sites:
            if self._raw is not None and site.name in self._raw.maps:
                continue
            ds = group[site.name]
            if self._fixed_rows is None:
                ds.resize((stop, site.size))
            ds.write_direct(bufs[site.name], np.s_[0:n], np.s_[start:stop])

    def _summarise(self, start: int, bufs: Mapping[str, np.ndarray], n: int) -> list[Future[None]]:
        """Feed rows ``start…start+n`` to the summary accumulators, one thread per group.

        Why threads: numpy's reductions release the interpreter, so the summary of one
        band overlaps reading (and writing) the next. Each group keeps one thread, so its
        bands arrive in corpus order.
        """
        if not self._accs:
            return []
        if self._expected is None or start + n > self._expected:
            self._accs = []  # more rows than announced: finish() reads the file back
            return []
        if not self._summary_pools:
            self._summary_pools = [
                ThreadPoolExecutor(1, thread_name_prefix=f"store-summary-{i}")
                for i in range(len(self._accs))
            ]

        def feed(acc: SummaryAccumulator, group: list[Any]) -> None:
            base = group[0].offset
            for site in group:
                block = bufs[site.name][:n]
                acc.update(start, block.astype(np.float32, copy=False), site.offset - base)

        return [
            pool.submit(feed, acc, group)
            for pool, acc, group in zip(self._summary_pools, self._accs, self._groups, strict=True)
        ]

    def _wait(self, which: int | None = None) -> None:
        """Wait for the jobs of buffer set ``which`` (all when ``None``)."""
        for key in [which] if which is not None else list(self._jobs):
            for job in self._jobs.pop(key, []):
                job.result()  # re-raises a failure of the job here

    def _flush_tokens(self) -> None:
        if not self._tok_lens:
            return
        tokens = self._file["tokens"]
        blob = np.frombuffer(b"".join(self._tok_bytes), dtype=np.uint8)
        ends = self._byte_written + np.cumsum(np.asarray(self._tok_lens, dtype=np.int64))
        utf8, offsets = tokens["utf8"], tokens["offsets"]
        utf8.resize((self._byte_written + blob.size,))
        utf8[self._byte_written :] = blob
        offsets.resize((self._tok_written + 1 + ends.size,))
        offsets[self._tok_written + 1 :] = ends
        self._byte_written += blob.size
        self._tok_written += ends.size
        self._tok_bytes, self._tok_lens = [], []

    def add_labels(self, task: str, rows: list[list[str]]) -> None:
        """Store a label task (checked against the tokens at :meth:`finish`)."""
        self._labels[layout.check_name("label task", task)] = rows

    def add_ranking(self, name: str, ranking: Ranking) -> None:
        """Store a ranking under ``name``."""
        self._rankings[layout.check_name("ranking", name)] = ranking

    @property
    def sentences(self) -> int:
        """Sentences added so far."""
        return len(self._lengths)

    # -- finishing -----------------------------------------------------------------
    def finish(
        self,
        *,
        summary: bool = True,
        progress: Callable[[int, int], None] | None = None,
        summary_options: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the index and metadata, compute summaries, then rename into place.

        ``progress(done, total)`` is called during the summary pass (values consumed).
        """
        import h5py

        try:
            with self._writing():
                self._finish_file()
                streamed = None
                if summary and self._accs and self._expected == self._rows:
                    streamed = self._finish_summary()
                self._shutdown()
                if self._labels or self._rankings or summary:
                    from neurotui.store.edit import annotate_file

                    annotate_file(
                        self.tmp,
                        labels=self._labels,
                        rankings=self._rankings,
                        summary=summary and streamed is None,
                        precomputed=streamed,
                        progress=progress,
                        summary_options=summary_options,
                        display_path=self.path,
                    )
                # Prove the result opens before it takes the target name.
                with h5py.File(self.tmp, "r") as check:
                    check.attrs["format_version"]
                self._done = True
                self._atomic.__exit__(None, None, None)
        except BaseException as exc:
            self._abort(exc)
            raise
        return self.path

    def _abort(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        self._shutdown()
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(BaseException):
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def _finish_file(self) -> None:
        """The last band, the tokens, the sentence index and the metadata; close the file."""
        self._flush_band()
        self._flush_tokens()
        self._wait()  # every band written and summarised
        if self._raw is not None:
            self._raw.close()
            self._raw = None
        if self._announced_rows is not None and self._rows != self._announced_rows:
            raise DataError(
                f"{self.path}: {self._rows} token rows were added, but the store was "
                f"created for {self._announced_rows}"
            )
        f = self._file
        offsets = np.concatenate([[0], np.cumsum(np.asarray(self._lengths, np.int64))])
        f.create_group("sentences").create_dataset("offsets", data=offsets.astype(np.int64))
        meta = {
            "format": layout.FORMAT_NAME,
            "format_version": layout.FORMAT_VERSION,
            "sites": [[s.name, s.size] for s in self.sites],
            "dtype": self.dtype.name,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        meta.update(self.metadata)
        f.attrs["neurotui_format"] = layout.FORMAT_NAME
        f.attrs["format_version"] = layout.FORMAT_VERSION
        f.attrs["metadata"] = layout.dumps(meta)
        f.create_group(layout.LABEL_GROUP)
        f.create_group(layout.RANKING_GROUP)
        self._file.close()

    def _finish_summary(self) -> Summary:
        """Each group's quantiles and extremes on its own thread, joined by column."""
        from neurotui.store.summary import join_summaries

        if not self._summary_pools:  # no band was ever flushed (an empty corpus)
            return join_summaries([acc.finish() for acc in self._accs])
        jobs = [
            pool.submit(acc.finish)
            for pool, acc in zip(self._summary_pools, self._accs, strict=True)
        ]
        return join_summaries([job.result() for job in jobs])

    def _shutdown(self) -> None:
        """Stop the helper threads (pending jobs are dropped or finish harmlessly) and
        release the raw descriptors."""
        for pool in [self._io, *self._summary_pools]:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._io, self._summary_pools = None, []
        self._jobs.clear()
        self._accs = []
        if self._raw is not None:
            with contextlib.suppress(OSError):
                self._raw.close()
            self._raw = None

    def abort(self) -> None:
        """Drop everything written so far."""
        self._abort(StoreError("aborted"))

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if not self._done:
            self._abort(exc if exc is not None else StoreError("writer left without finish()"))


def write_store(
    path: str | Path,
    tokens: Sequence[Sequence[str]],
    activations: Sequence[np.ndarray],
    sites: Sequence[tuple[str, int]],
    *,
    labels: Mapping[str, list[list[str]]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    summary: bool = True,
) -> Path:
    """Write a whole store from in-memory sentences (tests, small conversions)."""
    with StoreWriter(path, sites, dtype=dtype, metadata=metadata) as writer:
        for toks, acts in zip(tokens, activations, strict=True):
            writer.add(toks, acts)
        for task, rows in (labels or {}).items():
            writer.add_labels(task, rows)
        return writer.finish(summary=summary)
