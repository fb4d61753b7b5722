"""Write a new store's activation chunks straight into the file, bypassing h5py.

Why: converting a NeuroX file (or extracting a large corpus) is a copy of gigabytes, and
going through h5py costs twice: it holds the interpreter lock for every write (so reading
the next sentences and summarising the last ones wait), and buffered writes copy every byte
into the page cache, which must then be flushed to disk before the store may take its name.
When the corpus length is known up front, the writer creates each site with its final size
and every chunk allocated at once (HDF5's fixed-array chunk index: a site's chunks lie back
to back), so the bytes of a band of whole chunks are the rows in C order, at a known offset.

:class:`RawBandWriter` writes such bands with ``os.pwritev`` (the lock released) and, where
the file system allows it, through a second descriptor opened with ``O_DIRECT``: page-aligned
buffers go to the disk without a page-cache copy, so the final ``fsync`` has little left to
do. On a file system other than a local ext4/xfs/btrfs/f2fs (network mounts, FUSE, tmpfs),
with chunks that are not whole pages, or with ``NEUROTUI_NO_DIRECT_IO=1``, the same writes
go through the page cache. ``NEUROTUI_NO_RAW_WRITES=1`` turns the whole path off (h5py writes everything).
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from neurotui.store.rawchunks import ChunkMap

#: the alignment direct I/O asks of buffers, file offsets and lengths
PAGE = 4096
#: local file systems whose O_DIRECT is well trodden; on others (NFS and other network
#: mounts, FUSE, tmpfs) the page cache is the safer default
DIRECT_FILESYSTEMS = frozenset({"ext4", "xfs", "btrfs", "f2fs"})


def raw_writes_enabled() -> bool:
    """Whether the raw write path may be used at all (``NEUROTUI_NO_RAW_WRITES`` unset)."""
    return not os.environ.get("NEUROTUI_NO_RAW_WRITES")


def aligned_empty(
    shape: tuple[int, ...], dtype: np.dtype | str, *, populate: bool = False
) -> np.ndarray:
    """An uninitialised array whose data starts on a page boundary (anonymous mmap).

    ``populate`` asks the kernel to fault every page in up front (``MAP_POPULATE``, where
    the system has it): one pass instead of a fault per page on first touch.
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    size = max(PAGE, count * dtype.itemsize)
    if hasattr(mmap, "MAP_ANONYMOUS"):
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
        if populate:
            flags |= getattr(mmap, "MAP_POPULATE", 0)
        buf = mmap.mmap(-1, size, flags=flags)
    else:  # pragma: no cover - Windows: an anonymous mapping without flags
        buf = mmap.mmap(-1, size)
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


def filesystem_type(path: str | Path) -> str | None:
    """The type of the file system holding ``path`` (``/proc/self/mountinfo``), or None."""
    try:
        dev = os.stat(path).st_dev
        want = f"{os.major(dev)}:{os.minor(dev)}"
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) > 2 and fields[2] == want and " - " in line:
                    return line.split(" - ", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    return None


class RawBandWriter:
    """Write whole chunk bands of some datasets of an open HDF5 file, given their maps.

    ``maps`` holds the chunk map of each dataset written this way (the others are left to
    h5py). The caller guarantees that h5py never touches these datasets' data meanwhile.
    """

    def __init__(self, path: str | Path, maps: Mapping[str, ChunkMap]) -> None:
        self.maps = dict(maps)
        self._fd = os.open(path, os.O_WRONLY)
        self._direct_fd = -1
        if self.maps and self._direct_possible(path):
            with contextlib.suppress(OSError):
                self._direct_fd = os.open(path, os.O_WRONLY | os.O_DIRECT)

    @property
    def direct(self) -> bool:
        """Whether writes currently bypass the page cache."""
        return self._direct_fd >= 0

    def _direct_possible(self, path: str | Path) -> bool:
        if os.environ.get("NEUROTUI_NO_DIRECT_IO") or not hasattr(os, "O_DIRECT"):
            return False
        if filesystem_type(path) not in DIRECT_FILESYSTEMS:
            return False
        return all(
            m.chunk_bytes % PAGE == 0 and not (m.offsets % PAGE).any() for m in self.maps.values()
        )

    def write(self, name: str, start: int, buffer: np.ndarray, rows: int) -> None:
        """Write rows ``0…rows`` of ``buffer`` as rows ``start…`` of dataset ``name``.

        ``start`` is a multiple of the chunk height. When the band ends inside a chunk
        (the last one), the rows up to the chunk's end are zeroed in ``buffer`` and written
        too, so every write is whole chunks; ``buffer`` must have room for them.
        """
        cmap = self.maps[name]
        whole = min(-(-rows // cmap.chunk_rows) * cmap.chunk_rows, buffer.shape[0])
        if whole > rows:
            buffer[rows:whole] = 0
        block = buffer[:whole]
        if self._direct_fd >= 0 and block.ctypes.data % PAGE == 0 and whole % cmap.chunk_rows == 0:
            try:
                cmap.write_from(self._direct_fd, start, block)
                return
            except OSError as exc:  # the file system refused direct I/O after all
                if exc.errno != errno.EINVAL:
                    raise
                self._close_direct()
        cmap.write_from(self._fd, start, block)

    def _close_direct(self) -> None:
        if self._direct_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._direct_fd)
            self._direct_fd = -1

    def close(self) -> None:
        """Release both descriptors (the store's final ``fsync`` makes the data durable)."""
        self._close_direct()
        os.close(self._fd)
