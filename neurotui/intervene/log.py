"""The replayable JSONL log of intervention runs.

Why JSONL and append: every run (translate with interventions, ablation curve, control
experiment) adds one self-contained record — the model, the resolved (raw-unit) request
and what came out — so ``neurotui replay LOG`` can re-run it without the store and check
the outputs agree. A log only grows, so records are appended with one ``write`` on an
``O_APPEND`` descriptor under an exclusive lock and fsynced: concurrent writers never
interleave. An append is a whole line or nothing: when a write fails (a full disk) the
file is cut back to its old size, and a partial line left by a crash (SIGKILL, power cut)
is ended before the next record, so it can never swallow a good one. The reader skips a
damaged line, says which (``LOG:N``), and reads the rest. (Rewriting the whole file
through a temp file on every run would make long logs quadratic; this is the append-only
equivalent of the atomic-write rule.)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

from neurotui import __version__
from neurotui.errors import DataError

SCHEMA = 1
KINDS = ("translate", "ablate", "control")


def default_log_path() -> Path:
    """``$NEUROTUI_INTERVENTION_LOG`` or ``<cache_dir>/interventions.jsonl``."""
    override = os.environ.get("NEUROTUI_INTERVENTION_LOG")
    if override:
        return Path(override)
    from neurotui.paths import cache_dir

    return cache_dir() / "interventions.jsonl"


def append(record: dict[str, Any], path: str | Path | None = None) -> Path:
    """Append ``record`` (stamped with schema, time and version) as one JSON line."""
    if record.get("kind") not in KINDS:
        raise ValueError(f"log record kind must be one of {KINDS}, got {record.get('kind')!r}")
    target = Path(path) if path is not None else default_log_path()
    stamped = {
        "schema": SCHEMA,
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "neurotui": __version__,
        **record,
    }
    line = (json.dumps(stamped, ensure_ascii=False, default=_jsonable) + "\n").encode("utf-8")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DataError(f"{target}: cannot write the intervention log ({exc.strerror})") from None
    try:
        _lock(fd)
        _append_whole(fd, line)
    except OSError as exc:
        raise DataError(
            f"{target}: cannot append to the intervention log ({exc.strerror or exc}); "
            "the log is unchanged"
        ) from None
    finally:
        os.close(fd)  # closing releases the lock
    return target


def _append_whole(fd: int, line: bytes) -> None:
    """Write ``line`` at the end of ``fd``, all of it or (file cut back) none of it."""
    start = os.fstat(fd).st_size
    if start and os.pread(fd, 1, start - 1) != b"\n":
        line = b"\n" + line  # end a crash's partial line: it must not swallow this record
    try:
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
            os.fsync(fd)
        raise


def read(path: str | Path, warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """All readable records of a log, each with its line number as ``_line``.

    A damaged line (cut short by a crash or a full disk, bytes that are not UTF-8 JSON, not
    a record) is skipped and reported in ``warnings`` as ``LOG:N: …``: one bad line must
    not cost the user every other record. A record from a newer neurotui is an error.
    """
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise DataError(f"{target}: cannot read the intervention log ({exc.strerror})") from None
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        record, problem = _parse_line(raw)
        if problem is not None:
            if number == len(lines) and not data.endswith(b"\n"):
                problem = f"last line cut short ({problem}), probably an interrupted append"
            if warnings is not None:
                warnings.append(f"{target}:{number}: damaged line skipped: {problem}")
            continue
        assert record is not None
        if int(record.get("schema", 0)) > SCHEMA:
            raise DataError(
                f"{target}:{number}: log schema {record.get('schema')} is newer than this "
                f"neurotui understands ({SCHEMA})"
            )
        record["_line"] = number
        records.append(record)
    return records


def _parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """A record, or why the line is not one."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        return None, "not an intervention log record"
    try:
        int(record.get("schema", 0))
    except (TypeError, ValueError):
        return None, f"schema {record.get('schema')!r} is not a number"
    return record, None


def _lock(fd: int) -> None:
    try:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX)
    except (ImportError, OSError):  # pragma: no cover - platforms without flock
        pass


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)
