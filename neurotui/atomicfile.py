"""Replace a file atomically: the one helper behind every file neurotui writes or rewrites.

Why one helper: stores, checkpoints, specs and notes all owe the user the same promises,
and four copies of the logic had drifted apart (one followed no symlinks, one reset the
mode to 0644, one left no trace of why a full disk failed). Here, once:

* **Old or new, never half.** The new content goes to a temporary sibling in the target's
  folder, is fsynced, and only then renamed over the target (``os.replace`` is atomic on
  POSIX within one filesystem); the folder is fsynced after the rename.
* **Symlinks are followed.** A rewrite of ``link -> real.h5`` replaces ``real.h5``; the
  link stays a link (renaming over the link itself would cut it and leave the real file
  untouched).
* **The file stays the user's.** A rewrite keeps the original's permission bits (and,
  where allowed, its owner and group). A file without any write permission is refused:
  renaming over it would succeed (only the folder's permission counts), silently
  defeating the user's ``chmod a-w``.
* **Nothing left behind.** Any error or interrupt (Ctrl-C, and SIGTERM/SIGHUP, which the
  CLI turns into an interrupt) removes the temporary file. Only SIGKILL or a power cut can
  leave one; its name carries the writer's pid and host (``NAME.tmp-<pid>-<tag>``), so
  the next write of the same target removes it once that process is gone, and the store
  opener refuses such names (:func:`is_temporary`), so a leftover never passes for a store.
* **One line on failure.** An ``OSError`` while writing (a full disk, a quota, a
  read-only mount) becomes one user-facing error naming the target and saying that the
  original is unchanged.

This module imports only :mod:`neurotui.errors`, so every layer (store, models,
interventions, the app) can use it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import stat
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neurotui.errors import NeurotuiError

#: what a temporary name adds to its target's name: ``.tmp-<pid>-<host tag><random>``
_TEMP_RE = re.compile(r"\.tmp-(?P<pid>\d+)-(?P<host>[0-9a-f]{4})[0-9a-f]{8}$")
#: temporaries written before the pid was part of the name (never removed automatically)
_LEGACY_TEMP_RE = re.compile(r"\.tmp-[0-9a-f]{8}$")


def _host_tag() -> str:
    """Four hex digits of this machine's name: a pid means nothing on another host."""
    return f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFF:04x}"


def temp_sibling(target: str | Path) -> Path:
    """A fresh temporary path next to ``target`` that names this process (pid and host)."""
    target = Path(target)
    return target.parent / f"{target.name}.tmp-{os.getpid()}-{_host_tag()}{secrets.token_hex(4)}"


def is_temporary(path: str | Path) -> bool:
    """Whether ``path`` is named like one of our temporaries (never a finished file)."""
    name = Path(path).name
    return bool(_TEMP_RE.search(name) or _LEGACY_TEMP_RE.search(name))


def real_target(path: str | Path) -> Path:
    """The file a write to ``path`` must replace: a symlink's target, else ``path``."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def remove_stale_temporaries(target: str | Path) -> list[Path]:
    """Delete temporaries of ``target`` left by dead processes of this user on this host.

    Why only those: a temporary whose writer still runs (here or on another machine
    sharing the folder) is work in progress; one of another user is not ours to delete.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    prefix = target.name + ".tmp-"
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    host, me, uid = _host_tag(), os.getpid(), os.getuid()
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = _TEMP_RE.search(entry.name)
        if match is None or match.start() != len(target.name):
            continue
        pid = int(match["pid"])
        if match["host"] != host or pid == me or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_uid == uid:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"  # pragma: no cover


def ensure_free_space(
    target: str | Path, needed: int, *, error: type[NeurotuiError] = NeurotuiError
) -> None:
    """Refuse, before writing a byte, a file of about ``needed`` bytes that cannot fit.

    Why check first: HDF5 writes part of a file while closing it, where a full disk
    cannot be reported cleanly (HDF5 2.0 can even crash closing such a file). Writers of
    HDF5 files estimate their output (generously) and call this; the rename-or-remove
    logic of :func:`atomic_path` still covers a disk that fills up meanwhile.
    """
    real = real_target(Path(target))
    folder = real.parent if str(real.parent) else Path(".")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if needed > free:
        state = "the original is unchanged" if real.exists() else "nothing was written"
        raise error(
            f"{target}: not enough disk space (No space left on device: needs about "
            f"{_size(needed)}, {folder} has {_size(free)} free); {state}"
        )


def _reason(exc: OSError) -> str:
    """The short cause of an OSError (h5py's carry the errno only inside their text)."""
    if exc.errno:
        return os.strerror(exc.errno)
    text = str(exc)
    found = re.search(r"errno = (\d+)", text)
    if found:
        return os.strerror(int(found.group(1)))
    return (text.splitlines() or ["I/O error"])[0][:160]


def _check_target(target: Path, shown: Path, error: type[NeurotuiError]) -> os.stat_result | None:
    """The target's stat (``None`` when new); refuse folders, devices and read-only files."""
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise error(f"{shown}: folder {folder} does not exist")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"{shown}: cannot write ({_reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{shown}: is a folder, expected a file name")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{shown}: not a regular file; refusing to replace it")
    if not st.st_mode & 0o222 or not os.access(target, os.W_OK):
        raise error(
            f"{shown}: read-only file (mode {stat.S_IMODE(st.st_mode):04o}); refusing to "
            "replace it — make it writable (chmod u+w) to allow this"
        )
    return st


def _fsync_path(path: Path, *, folder: bool = False) -> None:
    """fsync a file (errors raise: unsynced data must not replace the original) or a
    folder (best effort: some filesystems refuse it)."""
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def _keep_owner_and_mode(tmp: Path, st: os.stat_result) -> None:
    os.chmod(tmp, stat.S_IMODE(st.st_mode))
    if os.getuid() == 0 or st.st_gid != os.getgid():
        with contextlib.suppress(OSError):  # only root may give files away
            os.chown(tmp, st.st_uid, st.st_gid)


@contextmanager
def atomic_path(
    target: str | Path,
    *,
    copy_from: str | Path | None = None,
    error: type[NeurotuiError] = NeurotuiError,
    make_parents: bool = False,
) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on any error it vanishes.

    The body creates (or, with ``copy_from``, edits a byte copy of) the temporary file.
    ``error`` is the class of the one-line errors (naming ``target``), so callers keep
    their layer's exception type.
    """
    shown = Path(target)
    real = real_target(shown)
    if make_parents:
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error(f"{shown}: cannot create folder {real.parent} ({_reason(exc)})") from None
    st = _check_target(real, shown, error)
    remove_stale_temporaries(real)
    tmp = temp_sibling(real)
    try:
        if copy_from is not None:
            shutil.copyfile(copy_from, tmp)
        yield tmp
        _fsync_path(tmp)
        if st is not None:
            _keep_owner_and_mode(tmp, st)
        os.replace(tmp, real)
        _fsync_path(real.parent if str(real.parent) else Path("."), folder=True)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        state = "the original is unchanged" if st is not None else "nothing was written"
        raise error(f"{shown}: cannot write ({_reason(exc)}); {state}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(
    path: str | Path,
    data: bytes,
    *,
    error: type[NeurotuiError] = NeurotuiError,
    make_parents: bool = False,
) -> Path:
    """Replace ``path`` with ``data`` atomically (see the module docstring)."""
    with atomic_path(path, error=error, make_parents=make_parents) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    return Path(path)


def write_text(
    path: str | Path,
    text: str,
    *,
    error: type[NeurotuiError] = NeurotuiError,
    make_parents: bool = False,
) -> Path:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    return write_bytes(path, text.encode("utf-8"), error=error, make_parents=make_parents)
