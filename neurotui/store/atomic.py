"""Atomic output for stores: a temporary sibling renamed over the target at the very end.

Why: extraction and conversion run for minutes and can be interrupted; a user must never
find a half-written store under the name they asked for. The logic (symlinks, modes,
fsync, cleanup, stale temporaries, one-line disk-full errors) lives in
:mod:`neurotui.atomicfile`, shared with every other writer; this module makes its errors
:class:`StoreError` and catches the write failures h5py can only report while closing
objects (:func:`h5py_write_failures`).
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from neurotui.atomicfile import atomic_path as _atomic_path
from neurotui.atomicfile import ensure_free_space as _ensure_free_space
from neurotui.atomicfile import is_temporary, temp_sibling
from neurotui.errors import StoreError

__all__ = [
    "atomic_path",
    "ensure_free_space",
    "h5py_write_failures",
    "is_temporary",
    "temp_sibling",
]


@contextmanager
def atomic_path(target: str | Path, *, copy_from: str | Path | None = None) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on any error it vanishes.

    ``copy_from`` starts the temporary file as a byte copy of an existing file (used to
    add labels or rankings to a store without ever modifying the original in place).
    """
    with (
        _atomic_path(target, copy_from=copy_from, error=StoreError) as tmp,
        h5py_write_failures(tmp),
    ):
        yield tmp


def ensure_free_space(target: str | Path, needed: int) -> None:
    """A :class:`StoreError` unless about ``needed`` bytes fit beside ``target``."""
    _ensure_free_space(target, needed, error=StoreError)


def _is_write_failure(exc: BaseException | None) -> bool:
    """An h5py error caused by a failed write (its text carries HDF5's ``errno = N``)."""
    return isinstance(exc, (OSError, RuntimeError)) and (
        "file write failed" in str(exc) or "errno = " in str(exc)
    )


def _as_oserror(exc: BaseException) -> OSError:
    """An ``OSError`` with the errno HDF5 reported (in the text when h5py set none)."""
    found = re.search(r"errno = (\d+)", str(exc))
    code = getattr(exc, "errno", None) or (int(found.group(1)) if found else errno.EIO)
    return OSError(code, os.strerror(code))


#: failures collected by the active :func:`h5py_write_failures` blocks (innermost last)
_COLLECTORS: list[list[BaseException]] = []
#: temporary files already discarded: later close errors about them are noise
_DISCARDED: set[str] = set()
#: the filters :func:`_install_hooks` put in place last
_HOOKS: dict[str, object] = {}


def _swallowed(exc: BaseException | None) -> bool:
    """Whether a close-time h5py error is ours to handle (collected or dropped)."""
    if not _is_write_failure(exc):
        return False
    if _COLLECTORS and exc is not None:
        _COLLECTORS[-1].append(exc)
        return True
    return any(name in str(exc) for name in _DISCARDED)


def _install_hooks() -> None:
    """Chain filters in front of ``sys.excepthook`` and ``sys.unraisablehook``.

    Cython reports an exception in ``__dealloc__`` through both hooks; anything that is not
    an h5py write failure of ours goes on to the previous hooks unchanged. Installed again
    whenever someone replaced them since (a test runner, a host application): a filter that
    was bypassed would let a full disk pass as a written store.
    """
    if sys.unraisablehook is not _HOOKS.get("unraisable"):
        old_unraisable = sys.unraisablehook

        def unraisablehook(unraisable: sys.UnraisableHookArgs) -> None:
            if not _swallowed(unraisable.exc_value):
                old_unraisable(unraisable)

        sys.unraisablehook = _HOOKS["unraisable"] = unraisablehook
    if sys.excepthook is not _HOOKS.get("except"):
        old_excepthook = sys.excepthook

        def excepthook(
            kind: type[BaseException], value: BaseException, tb: TracebackType | None
        ) -> None:
            if not _swallowed(value):
                old_excepthook(kind, value, tb)

        sys.excepthook = _HOOKS["except"] = excepthook


@contextmanager
def h5py_write_failures(tmp: str | Path) -> Iterator[None]:
    """Turn h5py's failed writes to ``tmp`` (a full disk) into one ``OSError``, raised here.

    Why: HDF5 writes much of its metadata when an object is *closed*, which h5py does in
    ``__dealloc__``, where an exception cannot propagate: Cython prints a traceback per
    object (dozens of them on a full disk) and the caller may never learn that the file is
    damaged. Such errors are collected instead, and the first one is raised when the
    block ends, so the temporary file is discarded rather than renamed into place. Objects
    of a failed file that are freed later (the traceback holds them) close silently.
    """
    _install_hooks()
    failures: list[BaseException] = []
    _COLLECTORS.append(failures)
    try:
        try:
            yield
        except (OSError, RuntimeError) as exc:
            if _is_write_failure(exc):
                raise _as_oserror(exc) from None
            if failures and isinstance(exc, RuntimeError):
                raise _as_oserror(failures[0]) from None
            raise
        if failures:
            raise _as_oserror(failures[0])
    except BaseException:
        _DISCARDED.add(str(tmp))
        raise
    finally:
        _COLLECTORS.remove(failures)
