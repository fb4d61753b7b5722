"""Token and label files: NeuroX-style parallel files and CoNLL-style columns.

Why strict: a label that slips by one token silently ruins a probe. Every file is checked
line by line against what it must align with, and the first mismatch is reported as
``file:line: …`` (a :class:`DataError`), never as a shape error later on.

* Parallel files: one sentence per line, tokens (or labels) separated by whitespace.
* CoNLL files: one token per line, columns separated by tabs (or runs of spaces), a blank
  line between sentences, ``#`` comment lines ignored; CoNLL-U multi-word (``3-4``) and
  empty-node (``5.1``) lines are skipped. Columns are numbered from 1, like ``cut -f``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from neurotui.errors import DataError

#: the longest line read (a sentence of labels is far shorter): a bigger one is refused
#: after reading this much, so a huge one-line file cannot fill the memory
MAX_LINE_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file, one line in memory at a time.

    Lines end at ``\n`` (a ``\r`` before it is dropped); a UTF-8 byte-order mark, which
    editors on Windows add, is not part of the first label.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a text file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        no = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise DataError(f"{path}: cannot read ({exc.strerror})") from None
            if not raw:
                return
            no += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise DataError(
                    f"{path}:{no}: line longer than {MAX_LINE_BYTES >> 20} MiB; a text or label "
                    "file holds one sentence per line"
                )
            if no == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{no}: not UTF-8 text") from None
            yield no, text.removesuffix("\n").removesuffix("\r")


def read_sentences(path: str | Path, *, allow_empty: bool = False) -> list[list[str]]:
    """One sentence per line, whitespace-separated tokens; a blank line is an error."""
    rows = []
    for no, line in iter_lines(path):
        words = line.split()
        if not words and not allow_empty:
            raise DataError(f"{path}:{no}: empty line (every line must hold one sentence)")
        rows.append(words)
    if not rows:
        raise DataError(f"{path}: empty file, no sentences")
    return rows


def check_aligned(
    path: str | Path,
    rows: Sequence[Sequence[str]],
    lengths: Sequence[int],
    *,
    what: str = "labels",
    against: str = "tokens",
    line_numbers: Sequence[int] | None = None,
) -> None:
    """Raise a ``file:line`` DataError unless ``rows[i]`` has ``lengths[i]`` entries."""
    if len(rows) != len(lengths):
        raise DataError(
            f"{path}: {len(rows)} sentences of {what}, expected {len(lengths)} "
            f"(one per sentence of the {against})"
        )
    for i, (row, n) in enumerate(zip(rows, lengths, strict=True)):
        if len(row) != int(n):
            line = line_numbers[i] if line_numbers is not None else i + 1
            raise DataError(
                f"{path}:{line}: {len(row)} {what} but sentence {i} has {int(n)} {against}"
            )


def read_parallel_labels(path: str | Path, lengths: Sequence[int] | None = None) -> list[list[str]]:
    """Labels aligned token by token with a parallel token file (checked when given).

    With ``lengths``, lines past the expected count are only counted, not kept: a file
    far too long costs no memory before it is refused.
    """
    if lengths is None:
        return read_sentences(path)
    rows: list[list[str]] = []
    count = 0
    for _no, line in iter_lines(path):
        count += 1
        if count <= len(lengths):
            rows.append(line.split())
    if not count:
        raise DataError(f"{path}: empty file, no sentences")
    if count != len(lengths):
        raise DataError(
            f"{path}: {count} sentences of labels, expected {len(lengths)} "
            "(one per sentence of the tokens)"
        )
    check_aligned(path, rows, lengths)
    return rows


@dataclass
class ConllSentences:
    """What a CoNLL file holds: tokens, one column of labels, where each sentence starts."""

    tokens: list[list[str]] = field(default_factory=list)
    labels: list[list[str]] = field(default_factory=list)
    first_line: list[int] = field(default_factory=list)
    lines: list[list[int]] = field(default_factory=list)  # line of every token


def read_conll(path: str | Path, column: int, *, token_column: int | None = None) -> ConllSentences:
    """Read labels from 1-based ``column``; tokens from ``token_column`` (auto: 2 when the
    first column is a numeric id as in CoNLL-U, else 1)."""
    if column < 1:
        raise DataError(f"--conll-column {column}: columns are numbered from 1")
    out = ConllSentences()
    cur_tok: list[str] = []
    cur_lab: list[str] = []
    cur_line: list[int] = []

    def close() -> None:
        if cur_tok:
            out.tokens.append(list(cur_tok))
            out.labels.append(list(cur_lab))
            out.first_line.append(cur_line[0])
            out.lines.append(list(cur_line))
        cur_tok.clear()
        cur_lab.clear()
        cur_line.clear()

    for no, line in iter_lines(path):
        if not line.strip():
            close()
            continue
        if line.lstrip().startswith("#"):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        cols = [c.strip() for c in cols]
        first = cols[0]
        if "-" in first and first.replace("-", "").isdigit():
            continue  # CoNLL-U multi-word token range
        if "." in first and first.replace(".", "").isdigit():
            continue  # CoNLL-U empty node
        tcol = token_column
        if tcol is None:
            tcol = 2 if first.isdigit() and len(cols) > 1 else 1
        need = max(column, tcol)
        if len(cols) < need:
            raise DataError(
                f"{path}:{no}: {len(cols)} columns, need at least {need} "
                f"(label column {column}, token column {tcol})"
            )
        cur_line.append(no)
        cur_tok.append(cols[tcol - 1])
        cur_lab.append(cols[column - 1])
    close()
    if not out.tokens:
        raise DataError(f"{path}: no sentences found")
    return out


def labels_for_tokens(
    path: str | Path,
    tokens: Sequence[Sequence[str]],
    *,
    conll_column: int | None = None,
    conll_token_column: int | None = None,
    warnings: list[str] | None = None,
) -> list[list[str]]:
    """Labels of ``path`` checked against a store's ``tokens`` (counts must match).

    For CoNLL files the token text is compared too; a difference is a warning (appended
    to ``warnings``), not an error, since tokenisers normalise text differently.
    """
    lengths = [len(t) for t in tokens]
    if conll_column is None:
        return read_parallel_labels(path, lengths)
    conll = read_conll(path, conll_column, token_column=conll_token_column)
    check_aligned(path, conll.labels, lengths, line_numbers=conll.first_line)
    if warnings is not None:
        for i, (mine, theirs) in enumerate(zip(tokens, conll.tokens, strict=True)):
            for j, (a, b) in enumerate(zip(mine, theirs, strict=True)):
                if a != b:
                    warnings.append(
                        f"{path}:{conll.lines[i][j]}: token {b!r} where the store has "
                        f"{a!r} (sentence {i}, position {j}); labels kept by position"
                    )
                    return conll.labels
    return conll.labels
