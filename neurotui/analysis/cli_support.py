"""Small helpers shared by the analysis commands (rank, evaluate, top-words, report).

Import-light on purpose (stdlib only at import time): command modules import this from
``run()``, never from ``register()``, but keeping it light costs nothing.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def reported_warnings(collected: list[str] | None = None) -> Iterator[list[str]]:
    """Turn analysis warnings into ``neurotui: warning: …`` lines on stderr.

    The messages are also appended to ``collected`` (so ``--json`` output can carry them).
    """
    from neurotui.analysis.checks import AnalysisWarning

    out: list[str] = [] if collected is None else collected
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AnalysisWarning)
        try:
            yield out
        finally:
            for w in caught:
                if issubclass(w.category, AnalysisWarning):
                    msg = str(w.message)
                    if msg not in out:
                        out.append(msg)
                        print(f"neurotui: warning: {msg}", file=sys.stderr)


def open_store(path: str | Path) -> Any:
    """Open a store for a command, with a one-line error for a missing file."""
    import neurotui.store as ns
    from neurotui.errors import StoreError

    p = Path(path)
    if not p.exists():
        raise StoreError(f"{p}: no such file")
    return ns.open(p)


def neuron_label(ranking: Any, k: int) -> str:
    """The readable name of ``ranking.order[k]`` (id when the ranking has no names)."""
    if ranking.neuron_names:
        return str(ranking.neuron_names[k])
    return str(ranking.order[k])


def format_ranking(ranking: Any, top: int = 20) -> str:
    """The first ``top`` neurons as an aligned text table (bands and partners when known)."""
    rows = []
    head = ["rank", "neuron", "id"]
    if ranking.scores is not None:
        head.append("score")
    if ranking.bands is not None:
        head.append("band")
    if ranking.partners:
        head.append("best partners (model:neuron r)")
    for k in range(min(top, len(ranking.order))):
        n = ranking.order[k]
        row = [str(k + 1), neuron_label(ranking, k), str(n)]
        if ranking.scores is not None:
            row.append(f"{ranking.scores[k]:.4f}")
        if ranking.bands is not None:
            row.append(str(ranking.bands[k]))
        if ranking.partners:
            parts = ranking.partners.get(n, [])
            row.append("  ".join(f"{p.model}:{p.neuron} {p.r:+.3f}" for p in parts))
        rows.append(row)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def pct(x: float | None) -> str:
    """``93.2`` style percentage (``-`` for missing)."""
    if x is None or x != x:
        return "-"
    return f"{100 * x:.1f}"
