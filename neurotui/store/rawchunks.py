"""Read and write full-width, uncompressed HDF5 chunks with ``os.preadv``/``pwritev``.

Why: h5py keeps Python's interpreter lock for the whole of a read, so while one thread reads
a block no other thread can run Python between its numpy calls — the summary pass's worker
threads and the probe loader's reads then take turns instead of overlapping. Our layout
stores each site in chunks of whole rows (``CHUNK_ROWS × site size``, no filters), so a
chunk's bytes are exactly those rows in C order; HDF5 itself says where each chunk lies
(``get_chunk_info``), and ``os.preadv`` copies them straight into the caller's buffer with
the lock released (and skips HDF5's per-chunk bookkeeping, so it is faster alone too).
Writes work the same way for a store created with all its chunks allocated up front
(:mod:`neurotui.store.rawwrite`).

Only used when it is exactly right: a plain file on disk (the default ``sec2`` driver),
chunks as wide as the dataset, no filters, native little-endian float32/float16, every
chunk allocated. Anything else returns ``None`` and the caller reads through h5py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


def raw_reads_enabled() -> bool:
    """Whether raw reads may be used at all (``NEUROTUI_NO_RAW_READS`` unset)."""
    return not os.environ.get("NEUROTUI_NO_RAW_READS")


@dataclass(frozen=True)
class ChunkMap:
    """Where the row chunks of one 2-D dataset lie in its file."""

    rows: int  # dataset rows
    width: int  # columns (= chunk width)
    chunk_rows: int
    dtype: np.dtype
    offsets: np.ndarray  # byte offset of chunk i (rows i·chunk_rows …), int64

    @property
    def chunk_bytes(self) -> int:
        """Bytes of one (full) chunk in the file."""
        return self.chunk_rows * self.width * self.dtype.itemsize

    def runs(self, start: int, n: int) -> Iterator[tuple[int, int, int]]:
        """``(first row, end row, file offset)`` of each run of chunks that lie back to back
        in the file and hold rows ``start…start+n`` (rows counted from ``start``)."""
        if n <= 0:
            return
        first = start // self.chunk_rows
        last = (start + n - 1) // self.chunk_rows
        i = first
        while i <= last:
            j = i  # extend the run while the next chunk follows this one in the file
            while j < last and self.offsets[j + 1] == self.offsets[j] + self.chunk_bytes:
                j += 1
            row0 = i * self.chunk_rows - start
            row1 = min((j + 1) * self.chunk_rows, start + n) - start
            yield row0, row1, int(self.offsets[i])
            i = j + 1

    def read_into(self, fd: int, start: int, out: np.ndarray) -> None:
        """Fill ``out`` (rows ``start…start+len(out)``, C-contiguous, ``dtype``) from ``fd``.

        ``start`` must be a multiple of ``chunk_rows``. Runs of chunks that lie back to
        back in the file are read with one system call.
        """
        n = out.shape[0]
        if start % self.chunk_rows or start + n > self.rows or out.dtype != self.dtype:
            raise ValueError("raw chunk read outside the chunk grid")
        row_bytes = self.width * self.dtype.itemsize
        view = out.reshape(-1).view(np.uint8).data
        for row0, row1, offset in self.runs(start, n):
            want = (row1 - row0) * row_bytes
            got = os.preadv(fd, [view[row0 * row_bytes : row1 * row_bytes]], offset)
            if got != want:
                raise OSError(f"short read ({got} of {want} bytes)")

    def write_from(self, fd: int, start: int, block: np.ndarray) -> None:
        """Write ``block`` (rows ``start…``, C-contiguous, ``dtype``) into its chunks.

        ``start`` must be a multiple of ``chunk_rows``; ``block`` may run past the last
        row up to the end of the last chunk (whole-chunk writes, as direct I/O needs).
        """
        n = block.shape[0]
        limit = -(-self.rows // self.chunk_rows) * self.chunk_rows
        if start % self.chunk_rows or start + n > limit or block.dtype != self.dtype:
            raise ValueError("raw chunk write outside the chunk grid")
        row_bytes = self.width * self.dtype.itemsize
        view = block.reshape(-1).view(np.uint8).data
        for row0, row1, offset in self.runs(start, n):
            part = view[row0 * row_bytes : row1 * row_bytes]
            done = 0
            while done < len(part):  # a write may be cut short (signals, quotas)
                wrote = os.pwritev(fd, [part[done:]], offset + done)
                if wrote <= 0:
                    raise OSError(f"write stopped after {done} of {len(part)} bytes")
                done += wrote


def chunk_map(dataset: Any) -> ChunkMap | None:  # an h5py Dataset (h5py has no types)
    """The chunk map of an h5py dataset when raw reads are exactly right, else ``None``."""
    try:
        import h5py

        ds = dataset
        dtype = np.dtype(ds.dtype)
        if (
            len(ds.shape) != 2
            or ds.chunks is None
            or ds.chunks[1] != ds.shape[1]
            or dtype not in (np.dtype("<f4"), np.dtype("<f2"))
            or sys.byteorder != "little"
            or ds.file.driver != "sec2"
            or ds.id.get_create_plist().get_nfilters() != 0
        ):
            return None
        rows, width = (int(x) for x in ds.shape)
        chunk_rows = int(ds.chunks[0])
        count = -(-rows // chunk_rows)
        offsets = np.full(count, -1, dtype=np.int64)
        dsid = ds.id
        if hasattr(dsid, "chunk_iter"):

            def visit(info: h5py.h5d.StoreInfo) -> None:
                offsets[info.chunk_offset[0] // chunk_rows] = info.byte_offset

            dsid.chunk_iter(visit)
        else:  # pragma: no cover - older HDF5
            for k in range(dsid.get_num_chunks()):
                info = dsid.get_chunk_info(k)
                offsets[info.chunk_offset[0] // chunk_rows] = info.byte_offset
        if count and (offsets < 0).any():
            return None  # unallocated chunks read as fill values: leave them to HDF5
        return ChunkMap(rows, width, chunk_rows, dtype, offsets)
    except Exception:  # anything unexpected: h5py reads it
        return None
