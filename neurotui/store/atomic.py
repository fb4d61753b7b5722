"""Atomic output: write a temporary sibling, rename it over the target at the very end.

Why: extraction and conversion run for minutes and can be interrupted; a user must never
find a half-written store under the name they asked for. The temporary file lives in the
target's folder (``<name>.tmp-XXXXXXXX``) so the final ``os.replace`` is a same-filesystem
rename, which POSIX makes atomic.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from neurotui.errors import StoreError


def temp_sibling(target: Path) -> Path:
    """A fresh temporary path next to ``target``."""
    return target.parent / f"{target.name}.tmp-{secrets.token_hex(4)}"


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: str | Path, *, copy_from: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on any error it vanishes.

    ``copy_from`` starts the temporary file as a byte copy of an existing file (used to
    add labels or rankings to a store without ever modifying the original in place).
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise StoreError(f"{target}: folder {folder} does not exist")
    if target.is_dir():
        raise StoreError(f"{target}: is a folder, expected a file name")
    tmp = temp_sibling(target)
    try:
        if copy_from is not None:
            shutil.copyfile(copy_from, tmp)
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
