"""Word search over a store's tokens (in a job: a pass over every sentence)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neurotui.progress import NO_JOB, JobContext

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store


def search_word(store: Store, word: str, ctx: JobContext = NO_JOB) -> list[tuple[int, int]]:
    """Every (sentence, position) whose token equals ``word`` (case-insensitive)."""
    target = word.strip().lower()
    hits: list[tuple[int, int]] = []
    n = store.sentences
    for i in range(n):
        for j, tok in enumerate(store.tokens(i)):
            if tok.lower() == target:
                hits.append((i, j))
        if i % 256 == 0:
            ctx.progress(f"searching {word!r}", i, n)
    return hits
