"""Write a store in our HDF5 layout, sentence by sentence, atomically.

Why buffered: extraction hands over a few sentences at a time; rows are buffered and
written in blocks of whole chunk bands, so HDF5 never re-reads a half-filled chunk. The
file is written under a temporary name and renamed only by :meth:`StoreWriter.finish`
(after the summaries are in), so an interrupted run leaves nothing under the target name.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import DataError, StoreError
from neurotui.store import layout
from neurotui.store.atomic import atomic_path
from neurotui.store.base import make_sites

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.analysis.ranking import Ranking

#: rows buffered before a write: a multiple of every chunk height (whole chunk bands)
_FLUSH_ROWS = 2 * layout.CHUNK_ROWS_MAX


class StoreWriter:
    """``with StoreWriter(path, sites) as w: w.add(tokens, acts); …; w.finish()``.

    ``sites`` are ``(name, size)`` pairs in column order. ``add`` takes a sentence's tokens
    and either a ``{site: (tokens, size)}`` mapping or one ``(tokens, neurons)`` array.
    Leaving the block without ``finish`` (an error, Ctrl-C) deletes the temporary file.
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
    ) -> None:
        import h5py

        if dtype not in ("float16", "float32"):
            raise StoreError(f"--dtype {dtype}: use float16 or float32")
        self.path = Path(path)
        self.sites = make_sites(list(sites))
        for site in self.sites:
            layout.check_name("site", site.name)
        self.width = sum(s.size for s in self.sites)
        self.dtype = np.dtype(dtype)
        self.metadata = dict(metadata or {})
        self._atomic = atomic_path(self.path)
        self.tmp = self._atomic.__enter__()
        self._done = False
        try:
            self._file = h5py.File(self.tmp, "w", libver=("v110", "latest"))
            self._create_datasets()
        except BaseException as exc:
            self._abort(exc)
            raise
        self._lengths: list[int] = []
        self._rows = 0
        self._written = 0
        # Rows wait in one reused array per site (no per-flush allocation or concatenate:
        # each value is copied once on its way to HDF5).
        # Two sets, used in turn: while one is being summarised on the helper thread, the
        # next sentences fill the other.
        self._bufs = [
            {s.name: np.empty((_FLUSH_ROWS, s.size), dtype=self.dtype) for s in self.sites}
            for _ in range(2)
        ]
        self._buf = self._bufs[0]
        self._buf_rows = 0
        self._pool: Any = None
        self._pending: dict[int, Any] = {}  # buffer set → its summary job
        self._tok_bytes: list[bytes] = []
        self._tok_lens: list[int] = []
        self._tok_written = 0
        self._byte_written = 0
        self._labels: dict[str, list[list[str]]] = {}
        self._rankings: dict[str, Ranking] = {}
        # With the corpus length known up front, summaries are computed while writing
        # (no second pass over the file); otherwise finish() reads the file back once.
        self._acc = None
        if expected_tokens is not None:
            from neurotui.store.summary import SummaryAccumulator

            self._acc = SummaryAccumulator(
                self.width, int(expected_tokens), **dict(summary_options or {})
            )

    def _create_datasets(self) -> None:
        f = self._file
        group = f.create_group(layout.ACT_GROUP)
        for i, site in enumerate(self.sites):
            ds = group.create_dataset(
                site.name,
                shape=(0, site.size),
                maxshape=(None, site.size),
                dtype=self.dtype,
                chunks=layout.chunk_shape(site.size, self.dtype.itemsize),
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

    # -- adding data ---------------------------------------------------------------
    def add(self, tokens: Sequence[str], acts: Mapping[str, np.ndarray] | np.ndarray) -> None:
        """Append one sentence (its tokens and their activation rows)."""
        n = len(tokens)
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
        if self._buf_rows + n > _FLUSH_ROWS:
            self._flush()
        if n > _FLUSH_ROWS:  # a sentence longer than the buffer: straight through
            self._write_rows(parts)
        else:
            end = self._buf_rows + n
            for site, part in zip(self.sites, parts, strict=True):
                self._buf[site.name][self._buf_rows : end] = part
        for tok in tokens:
            data = str(tok).encode("utf-8")
            self._tok_bytes.append(data)
            self._tok_lens.append(len(data))
        self._lengths.append(n)
        self._rows += n
        if n <= _FLUSH_ROWS:
            self._buf_rows += n
            if self._buf_rows >= _FLUSH_ROWS:
                self._flush()

    def _write_rows(self, parts: Sequence[np.ndarray]) -> None:
        """Append a sentence longer than the buffer (one block per site), summarising it."""
        blocks = [np.ascontiguousarray(b, dtype=self.dtype) for b in parts]
        start = self._append(blocks)
        if self._summarising():
            self._wait()  # one feeder at a time: earlier buffers first
            self._summarise(start, blocks)

    def _append(self, blocks: Sequence[np.ndarray]) -> int:
        """Write one row block per site at the end of the datasets; returns its first row."""
        rows = blocks[0].shape[0] if blocks else 0
        start, stop = self._written, self._written + rows
        group = self._file[layout.ACT_GROUP]
        for site, block in zip(self.sites, blocks, strict=True):
            ds = group[site.name]
            ds.resize((stop, site.size))
            if rows:
                ds.write_direct(block, np.s_[0:rows], np.s_[start:stop])
        self._written = stop
        return start

    def _summarising(self) -> bool:
        """Whether rows written so far still fit the streamed summary's expected length."""
        return self._acc is not None and self._written <= self._acc.total_tokens

    def _summarise(self, start: int, blocks: list[np.ndarray], *, background: bool = False) -> Any:
        """Feed the summary accumulator; on the helper thread when ``background``.

        Why a thread: numpy's reductions release the interpreter while h5py holds it, so
        the summary of one buffer overlaps reading and writing the next.
        """
        acc = self._acc
        assert acc is not None

        def feed() -> None:
            for site, block in zip(self.sites, blocks, strict=True):
                acc.update(start, block.astype(np.float32, copy=False), site.offset)

        if not background:
            feed()
            return None
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="store-summary")
        return self._pool.submit(feed)

    def _wait(self, which: int | None = None) -> None:
        """Wait for the summary job of buffer set ``which`` (all when ``None``)."""
        for key in [which] if which is not None else list(self._pending):
            job = self._pending.pop(key, None)
            if job is not None:
                job.result()  # re-raises a failure of the job here

    def _flush(self) -> None:
        if self._buf_rows:
            n = self._buf_rows
            current = 0 if self._buf is self._bufs[0] else 1
            blocks = [self._buf[s.name][:n] for s in self.sites]
            start = self._append(blocks)
            if self._summarising():
                self._pending[current] = self._summarise(start, blocks, background=True)
            other = 1 - current
            self._wait(other)  # the other set may still be read by its summary job
            self._buf = self._bufs[other]
            self._buf_rows = 0
        if self._tok_lens:
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
            self._flush()
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
            streamed = None
            self._wait()
            self._shutdown()
            if summary and self._acc is not None and self._acc.total_tokens == self._rows:
                streamed = self._acc.finish()
            self._acc = None
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

    def _shutdown(self) -> None:
        """Stop the summary thread (pending jobs are dropped or finish harmlessly)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()

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
