"""Turning data (tokens, names, notes) into display text without ever parsing markup.

Why: model tokens such as ``[SEP]``, ``</s>`` or ``[b]`` are data. Everything the app draws
from a store goes through these helpers into Segments / ``Text.append`` — never into a
markup string — and control characters become visible symbols so one odd token cannot
break the layout.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

_CONTROL = {i: 0x2400 + i for i in range(32)}  # U+2400 control pictures: ␀ ␁ … ␟
_CONTROL[0x7F] = 0x2421  # ␡


def display_token(token: str) -> str:
    """A token as drawn: control characters as ␉-style symbols, empty as ∅."""
    if not token:
        return "∅"
    return token.translate(_CONTROL)


def fit(text: str, width: int) -> str:
    """``text`` cut (with …) or padded to exactly ``width`` cells."""
    text = display_token(text) if text else ""
    if width <= 0:
        return ""
    length = cell_len(text)
    if length <= width:
        return text + " " * (width - length)
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…" + " " * (width - 1 - used)


def literal(*parts: str | tuple[str, str]) -> Text:
    """A Rich Text from plain strings or (text, style) pairs — no markup is parsed."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    return text
