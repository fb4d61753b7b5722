"""Progress reporting for long analyses, without tying the analysis layer to a UI.

Why a plain callback: the CLI draws a rich progress bar, the app's worker posts messages
and checks for cancellation, a notebook passes nothing. Every long loop calls
``report(progress, stage, done, total)``; the callback may raise
:class:`neurotui.errors.Cancelled` to stop the computation cleanly. The vocabulary itself
(:data:`ProgressFn`, :func:`report`) is the package's one, :mod:`neurotui.progress`; this
module adds the command line's progress bar.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from neurotui.progress import ProgressFn, report

__all__ = ["ProgressFn", "report", "rich_progress"]


@contextlib.contextmanager
def rich_progress(enabled: bool = True) -> Iterator[ProgressFn | None]:
    """A rich progress bar on stderr (one task per stage) for command-line runs.

    Disabled (yields ``None``) when ``enabled`` is false or stderr is not a terminal, so
    ``--json`` output and piped runs stay clean.
    """
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(stage, total=total or None)
        bars.update(tasks[stage], completed=done, total=total or None)

    with bars:
        yield update
