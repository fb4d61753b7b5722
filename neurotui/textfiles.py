"""Reading the user's plain-text files (sources, references, training text).

Why one function: every command that takes a text file owes the same one-line errors
(missing file, not UTF-8 with the byte offset) and the same line splitting. A UTF-8
byte-order mark (Windows editors add one) is dropped, not glued to the first word.
"""

from __future__ import annotations

from pathlib import Path

from neurotui.errors import DataError


def read_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file (no final empty line); one-line errors naming the file."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return file.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
