"""Named thread workers that post typed messages, and drop stale results.

Why one runner: every piece of I/O or computation (opening stores, loading sentences, neuron
cards, rankings, search, extraction) goes through :meth:`JobRunner.start`, which runs it in
a named Textual thread worker with ``exit_on_error=False``, turns its result into a typed
message, turns errors into :class:`JobFailed` (the app shows those in one place), and tags
everything with a request id so a handler can ask :meth:`JobRunner.is_current` and drop
results that a newer request of the same group has superseded.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from neurotui.errors import Cancelled, NeurotuiError
from neurotui.tui.messages import JobFailed, JobFinished, JobMessage, JobProgress

if TYPE_CHECKING:  # pragma: no cover
    from textual.dom import DOMNode
    from textual.message_pump import MessagePump
    from textual.worker import Worker

log = logging.getLogger("neurotui.tui")
R = TypeVar("R")

#: progress messages are throttled to this interval (seconds) to keep the UI queue short
PROGRESS_INTERVAL = 0.08


class JobContext:
    """Handed to a job function: progress reports and cooperative cancellation."""

    def __init__(self, runner: JobRunner, group: str, request: int, target: MessagePump) -> None:
        self.runner = runner
        self.group = group
        self.request = request
        self.target = target
        self.worker: Worker[Any] | None = None
        self._last = 0.0

    def cancelled(self) -> bool:
        """True when the worker was cancelled or a newer request of this group started."""
        if self.worker is not None and self.worker.is_cancelled:
            return True
        return not self.runner.is_current_id(self.group, self.request)

    def check(self) -> None:
        """Raise :class:`Cancelled` when :meth:`cancelled` is true."""
        if self.cancelled():
            raise Cancelled(self.group)

    def progress(self, done: int, total: int, label: str = "", force: bool = False) -> None:
        """Report progress (throttled; ``force`` always posts)."""
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL and done < total:
            return
        self._last = now
        self.runner._post(self.target, JobProgress(done, total, label), self.group, self.request)

    def post(self, message: JobMessage) -> None:
        """Post an intermediate typed message tagged with this job."""
        self.runner._post(self.target, message, self.group, self.request)


class JobRunner:
    """Starts jobs as thread workers and remembers the newest request of each group."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()

    def is_current_id(self, group: str, request: int) -> bool:
        """Is ``request`` the newest request of ``group``?"""
        with self._lock:
            return self._latest.get(group) == request

    def is_current(self, message: JobMessage) -> bool:
        """Is ``message`` the answer to the newest request of its group (else: stale)?"""
        return self.is_current_id(message.group, message.request)

    def _post(self, target: MessagePump, message: JobMessage, group: str, request: int) -> None:
        message.group = group
        message.request = request
        target.post_message(message)

    def start(
        self,
        owner: DOMNode,
        group: str,
        fn: Callable[[JobContext], R],
        done: Callable[[R], JobMessage | None],
        *,
        title: str,
        target: MessagePump | None = None,
        exclusive: bool = True,
    ) -> int:
        """Run ``fn(ctx)`` in a thread worker named ``group``; post ``done(result)``.

        ``exclusive`` cancels older workers of the same group (their results would be stale
        anyway). Returns the request id.
        """
        with self._lock:
            request = next(self._ids)
            self._latest[group] = request
        dest = target or owner
        ctx = JobContext(self, group, request, dest)

        def work() -> None:
            try:
                result = fn(ctx)
                if ctx.cancelled():
                    return
                message = done(result)
                if message is not None:
                    self._post(dest, message, group, request)
            except Cancelled:
                return
            except NeurotuiError as exc:
                self._post(dest, JobFailed(title, exc, internal=False), group, request)
            except Exception as exc:  # a bug: keep the app alive, log the traceback
                log.error("job %s failed:\n%s", group, traceback.format_exc())
                self._post(dest, JobFailed(title, exc, internal=True), group, request)
            finally:
                self._post(dest, JobFinished(title), group, request)

        worker = owner.run_worker(
            work,
            name=f"{group}#{request}",
            group=group,
            description=title,
            exit_on_error=False,
            exclusive=exclusive,
            thread=True,
        )
        ctx.worker = worker
        return request
