"""Original vs modified outputs, with the changed tokens marked.

Why its own module: the CLI's side-by-side print, the app's manipulation view and the log
all need the same pairing and the same token diff; the diff is on tokens (words), so a
marked token is one the intervention changed, not a re-spaced string.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from neurotui.intervene.apply import DecodeSettings, translate
from neurotui.intervene.bind import BoundIntervention

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend, Translation


@dataclass
class Comparison:
    """One source with its original and modified output and per-token change flags."""

    source: str
    original: Translation
    modified: Translation
    original_changed: list[bool]  # per original token: removed/replaced by the edit
    modified_changed: list[bool]  # per modified token: inserted/replaced by the edit

    @property
    def changed(self) -> bool:
        return self.original.tokens != self.modified.tokens

    def to_dict(self) -> dict[str, Any]:
        fills = {}
        if "fills" in self.original.extra or "fills" in self.modified.extra:
            fills = {  # an encoder's masked-token read-out: top-k [piece, p] per mask
                "original_fills": self.original.extra.get("fills"),
                "modified_fills": self.modified.extra.get("fills"),
            }
        return {
            **fills,
            "source": self.source,
            "original": self.original.text,
            "modified": self.modified.text,
            "original_tokens": list(self.original.tokens),
            "modified_tokens": list(self.modified.tokens),
            "original_logprob": float(self.original.logprob),
            "modified_logprob": float(self.modified.logprob),
            "changed": self.changed,
            "original_changed": self.original_changed,
            "modified_changed": self.modified_changed,
        }


def diff_tokens(before: Sequence[str], after: Sequence[str]) -> tuple[list[bool], list[bool]]:
    """Flags for the tokens of ``before`` that were removed and of ``after`` that are new."""
    removed = [False] * len(before)
    added = [False] * len(after)
    matcher = difflib.SequenceMatcher(a=list(before), b=list(after), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for i in range(i1, i2):
            removed[i] = True
        for j in range(j1, j2):
            added[j] = True
    return removed, added


def compare(
    backend: Backend,
    sentences: Sequence[str],
    bound: Sequence[BoundIntervention],
    settings: DecodeSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
    original: Sequence[Translation] | None = None,
) -> list[Comparison]:
    """Run ``sentences`` without and with ``bound`` under identical settings.

    ``original`` skips the first run when the caller already has it (the app caches the
    unmodified translation of the sentence on screen).
    """
    settings = settings or DecodeSettings()
    if original is None:
        original = translate(backend, sentences, (), settings, should_stop)
    modified = translate(backend, sentences, bound, settings, should_stop)
    out = []
    for src, a, b in zip(sentences, original, modified, strict=True):
        removed, added = diff_tokens(a.tokens, b.tokens)
        out.append(Comparison(src, a, b, removed, added))
    return out


def mark(tokens: Sequence[str], flags: Sequence[bool], left: str, right: str) -> str:
    """Tokens joined by spaces, runs of flagged tokens wrapped in ``left``…``right``."""
    parts: list[str] = []
    run: list[str] = []
    for token, flag in zip(tokens, flags, strict=True):
        if flag:
            run.append(token)
            continue
        if run:
            parts.append(left + " ".join(run) + right)
            run = []
        parts.append(token)
    if run:
        parts.append(left + " ".join(run) + right)
    return " ".join(parts)


def render(comparisons: Sequence[Comparison]) -> str:
    """Plain-text side-by-side report (wdiff notation: ``[-old-]`` and ``{+new+}``)."""
    lines: list[str] = []
    changed = sum(c.changed for c in comparisons)
    for k, c in enumerate(comparisons, 1):
        lines.append(f"[{k}] src:      {c.source}")
        lines.append(f"    original: {mark(c.original.tokens, c.original_changed, '[-', '-]')}")
        lines.append(f"    modified: {mark(c.modified.tokens, c.modified_changed, '{+', '+}')}")
        if "fills" in c.original.extra:
            lines.append(f"    fills:    {format_fills(c.original)}")
            lines.append(f"           → {format_fills(c.modified)}")
        lines.append(
            f"    logprob:  {c.original.logprob:.2f} → {c.modified.logprob:.2f}"
            + ("" if c.changed else "   (unchanged)")
        )
    lines.append(f"{changed} of {len(comparisons)} outputs changed")
    return "\n".join(lines)


def format_fills(translation: Translation, k: int = 5) -> str:
    """An encoder's top fills as ``cat 31% · dog 12% …`` (masks separated by ``|``)."""
    # the encoder backends store one list of (piece, probability) pairs per mask
    per_mask = cast("list[list[tuple[str, float]]]", translation.extra.get("fills") or [])
    parts = []
    for fills in per_mask:
        parts.append(" · ".join(f"{piece} {100 * p:.0f}%" for piece, p in list(fills)[:k]))
    return " | ".join(parts)
