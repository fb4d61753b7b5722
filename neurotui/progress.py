"""The one progress and job vocabulary of the package.

Why one: long work runs in many places — a CLI command with a rich progress bar, an app
worker thread that posts messages, a child process that writes JSON lines, the
intervention runner's model thread — and each used to speak its own dialect (``(stage,
done, total)`` here, ``(done, total, message)`` there, adapters between them). Now:

* every long loop reports through a :data:`ProgressFn`, ``progress(stage, done, total)``
  (``total`` 0 when unknown), and a report may raise :class:`neurotui.errors.Cancelled`
  to stop the work cleanly;
* every job function gets a :class:`JobContext`: its :meth:`~JobContext.progress` *is*
  a :data:`ProgressFn` (so ``fn(…, progress=ctx.progress)`` needs no adapter), plus
  :meth:`~JobContext.cancelled` to poll and :meth:`~JobContext.check` to stop.

The app's thread/process jobs (``neurotui.tui.jobs``) and the intervention runner
(``neurotui.intervene.runner``) both hand their jobs a context of this shape. Nothing here
imports anything heavy: the models, store, analysis and app layers all import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from neurotui.errors import Cancelled  # noqa: F401 - named in the docstrings

#: ``(stage, done, total)``; ``total`` is 0 when unknown. May raise :class:`Cancelled`.
ProgressFn = Callable[[str, int, int], None]


def report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` if one was given (keeps call sites one line long)."""
    if progress is not None:
        progress(stage, int(done), int(total))


@runtime_checkable
class JobContext(Protocol):
    """What a job function is handed: progress reports and cooperative cancellation."""

    def progress(self, stage: str, done: int, total: int) -> None:
        """Report progress; raises :class:`Cancelled` when the job should stop."""
        ...

    def cancelled(self) -> bool:
        """True once the job was cancelled or superseded (poll between steps)."""
        ...

    def check(self) -> None:
        """Raise :class:`Cancelled` when :meth:`cancelled` is true."""
        ...


class NoJob:
    """A context for calls made outside any job (scripts, tests): never cancelled."""

    def progress(self, stage: str, done: int, total: int) -> None:
        """Ignored."""

    def cancelled(self) -> bool:
        """Never."""
        return False

    def check(self) -> None:
        """Never raises."""


#: the shared do-nothing context (a default argument)
NO_JOB = NoJob()


class Reporting(NoJob):
    """A context that only forwards reports to a :data:`ProgressFn` (a job's body run
    where no runner is, e.g. inside a child process: the parent relays and cancels)."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self._progress = progress

    def progress(self, stage: str, done: int, total: int) -> None:
        """Forwarded."""
        report(self._progress, stage, done, total)


def titled(ctx: JobContext, title: str) -> ProgressFn:
    """``ctx.progress`` with each stage prefixed by ``title`` (``"Extracting x: read"``).

    Why: the layers below name their stages (``read``, ``statistics``); the app's status
    line says which job they belong to. A stage equal to the title is not repeated.
    """

    def progress(stage: str, done: int, total: int) -> None:
        ctx.progress(title if stage in ("", title) else f"{title}: {stage}", done, total)

    return progress
