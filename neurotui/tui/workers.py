"""The app's job runner: jobs on a thread or in a child process, typed messages, no stale
results.

Why one runner: every piece of I/O or computation (opening stores, loading sentences, neuron
cards, rankings, search, extraction) goes through :meth:`JobRunner.start`, which runs it in
a named Textual thread worker with ``exit_on_error=False``, turns its result into a typed
message, turns errors into :class:`JobFailed` (the app shows those in one place), and tags
everything with a request id; a result that a newer request of the same group superseded
is dropped here, once, so handlers never see it.

Where a job runs is the job's choice: a plain function ``fn(ctx)`` runs on the worker
thread; a :class:`ProcessJob` runs ``module:function`` in a child interpreter
(:func:`neurotui.tui.procjob.run_in_process`) while the worker thread only relays its
progress. The rule: work that holds the GIL for long (corpus-scale passes over a store,
rankings) goes to a process, so the UI thread keeps its interpreter to itself and keys are
served at once; short or in-memory work stays on a thread (a child costs an interpreter
start). Long-lived child servers (the card's column reads) belong to the runner too
(:attr:`JobRunner.servers`), so they end with the app that started them.

Every job is handed a :class:`WorkerContext`, the package's one job vocabulary
(:class:`neurotui.progress.JobContext`): ``ctx.progress(stage, done, total)``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from neurotui.errors import Cancelled, NeurotuiError
from neurotui.progress import titled
from neurotui.tui.messages import JobFailed, JobFinished, JobMessage, JobProgress
from neurotui.tui.procjob import ChildServers, ProcessJob, run_in_process

if TYPE_CHECKING:  # pragma: no cover
    from textual.dom import DOMNode
    from textual.message_pump import MessagePump
    from textual.worker import Worker

log = logging.getLogger("neurotui.tui")
R = TypeVar("R")

#: progress messages are throttled to this interval (seconds) to keep the UI queue short
PROGRESS_INTERVAL = 0.08


#: what :meth:`JobRunner.start` runs: a function on the worker thread, or a child process
Job = Callable[["WorkerContext"], R] | ProcessJob[R]


class WorkerContext:
    """Handed to a job function: progress reports and cooperative cancellation (the
    :class:`neurotui.progress.JobContext` protocol), plus intermediate messages."""

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

    def progress(self, stage: str, done: int, total: int, force: bool = False) -> None:
        """Report progress (throttled; ``force`` always posts); raises :class:`Cancelled`
        when the job was cancelled, so a long loop stops at its next report."""
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_INTERVAL or done >= total:
            self._last = now
            self.runner._post(
                self.target, JobProgress(int(done), int(total), stage), self.group, self.request
            )
        self.check()

    def post(self, message: JobMessage) -> None:
        """Post an intermediate typed message tagged with this job."""
        self.runner._post(self.target, message, self.group, self.request)


class JobRunner:
    """Starts jobs (thread or child process) and remembers the newest request of each
    group; owns the long-lived child servers."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._lock = threading.Lock()
        #: long-lived child processes (e.g. one per large store for the card's details)
        self.servers = ChildServers()

    def close(self) -> None:
        """Stop the child servers (the app calls this when it ends)."""
        self.servers.close()

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
        job: Job[R],
        done: Callable[[R], JobMessage | None],
        *,
        title: str,
        target: MessagePump | None = None,
        exclusive: bool = True,
    ) -> int:
        """Run ``job`` (``fn(ctx)`` on a thread worker named ``group``, or a
        :class:`ProcessJob` in a child process); post ``done(result)`` unless a newer
        request of ``group`` superseded it.

        ``exclusive`` cancels older workers of the same group (their results would be stale
        anyway). Returns the request id.
        """
        with self._lock:
            request = next(self._ids)
            self._latest[group] = request
        dest = target or owner
        ctx = WorkerContext(self, group, request, dest)

        def work() -> None:
            try:
                result = run_job(job, ctx)
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


S = TypeVar("S", bound="MessagePump")
M = TypeVar("M", bound=JobMessage)


def current_result(handler: Callable[[S, M], None]) -> Callable[[S, M], None]:
    """Decorate the handler of a job's result: the message stops there, and a result that
    a newer request of its group has superseded since it was posted is dropped.

    Why here: the runner drops superseded results before posting them; this is the same
    check at delivery (a newer request may start while the message waits in the queue),
    written once instead of in every handler.
    """

    @functools.wraps(handler)
    def handle(self: S, message: M) -> None:
        message.stop()
        jobs = getattr(self.app, "jobs", None)
        if isinstance(jobs, JobRunner) and not jobs.is_current(message):
            return
        handler(self, message)

    return handle


def run_job(job: Job[R], ctx: WorkerContext) -> R:
    """``job`` on this (worker) thread, or in a child process relayed from here — also
    from inside a thread job that decides where the heavy part runs only once it has
    looked (e.g. whether a store's statistics are stored)."""
    if not isinstance(job, ProcessJob):
        return job(ctx)
    relay = titled(ctx, job.stage) if job.stage else ctx.progress
    value = run_in_process(ctx, job.target, list(job.args), relay=relay)
    return job.finish(value, ctx) if job.finish is not None else value
