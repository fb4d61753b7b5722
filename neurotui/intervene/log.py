"""The replayable JSONL log of intervention runs.

Why JSONL and append: every run (translate with interventions, ablation curve, control
experiment) adds one self-contained record — the model, the resolved (raw-unit) request
and what came out — so ``neurotui replay LOG`` can re-run it without the store and check
the outputs agree. A log only grows, so records are appended with one ``write`` on an
``O_APPEND`` descriptor under an exclusive lock and fsynced: concurrent writers never
interleave and a crash can at worst leave a partial last line, which the reader skips
with a note. (Rewriting the whole file through a temp file on every run would make long
logs quadratic; this is the append-only equivalent of the atomic-write rule.)
"""

from __future__ import annotations

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
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DataError(f"{target}: cannot write the intervention log ({exc.strerror})") from None
    try:
        _lock(fd)
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return target


def read(path: str | Path) -> list[dict[str, Any]]:
    """All records of a log; a one-line error naming the line of a corrupt record.

    A truncated *last* line (a crash mid-append) is skipped, not fatal.
    """
    target = Path(path)
    try:
        lines = target.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{target}: cannot read the intervention log ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{target}: not a UTF-8 JSONL intervention log") from None
    records: list[dict[str, Any]] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break  # partial last line from an interrupted append
            raise DataError(f"{target}:{number}: invalid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or record.get("kind") not in KINDS:
            raise DataError(f"{target}:{number}: not an intervention log record")
        if int(record.get("schema", 0)) > SCHEMA:
            raise DataError(
                f"{target}:{number}: log schema {record.get('schema')} is newer than this "
                f"neurotui understands ({SCHEMA})"
            )
        record["_line"] = number
        records.append(record)
    return records


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
