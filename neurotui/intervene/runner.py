"""A background runner: one worker thread owns the model and the device.

Why: the app must keep serving keys while a translation or an ablation curve runs, and
torch models are not safe to share between threads. Every request carries an id; a newer
request in the same ``group`` supersedes the older ones (cancelled if pending or running),
so stale results never reach the screen. Requests are cancelled between batches and
decoding steps (``RunnerContext.should_stop`` is what ``Backend.translate`` polls). Jobs
get a :class:`RunnerContext`, the package's one job vocabulary
(:class:`neurotui.progress.JobContext`: ``progress(stage, done, total)``, ``cancelled``,
``check``) plus the backend. A failure
— CUDA out of memory included — fails that request only; the worker lives on.

Events (:class:`Started`, :class:`Progress`, :class:`Result`, :class:`Failed`,
:class:`RequestCancelled`) go to ``on_event`` (called on the worker thread: the app wraps
them into Textual messages with ``post_message``, which is thread-safe) or, without a
callback, into ``runner.events`` (a ``queue.Queue``). Nothing here imports Textual.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from neurotui.errors import Cancelled, NeurotuiError

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend

Job = Callable[["RunnerContext"], Any]
_KEEP_FINISHED = 1024  # final events kept for wait() after a request finished


# -- events -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    request_id: str
    group: str | None


@dataclass(frozen=True)
class Started(Event):
    pass


@dataclass(frozen=True)
class Progress(Event):
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class Result(Event):
    value: Any
    seconds: float


@dataclass(frozen=True)
class Failed(Event):
    message: str  # one line, fit for a notification
    error_type: str
    out_of_memory: bool = False
    user_error: bool = False  # a NeurotuiError (bad input), not a bug
    details: str = ""  # the traceback for bugs; empty for user errors


@dataclass(frozen=True)
class RequestCancelled(Event):
    pass


FINAL = (Result, Failed, RequestCancelled)


# -- requests ---------------------------------------------------------------------------
@dataclass
class _Request:
    request_id: str
    group: str | None
    job: Job
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    final: Event | None = None


class RunnerContext:
    """What a job sees: the backend, its cancellation flag and a progress reporter (the
    :class:`neurotui.progress.JobContext` protocol)."""

    def __init__(self, runner: Runner, request: _Request, backend: Backend) -> None:
        self._runner = runner
        self._request = request
        self.backend = backend
        self.request_id = request.request_id

    def cancelled(self) -> bool:
        """True once the request was cancelled or superseded (poll between steps)."""
        return self._request.cancel.is_set() or self._runner._closing.is_set()

    #: the name decoding loops poll (``Backend.translate(…, should_stop)``)
    should_stop = cancelled

    def check(self) -> None:
        """Raise :class:`neurotui.errors.Cancelled` when :meth:`cancelled` is true."""
        if self.cancelled():
            raise Cancelled(self.request_id)

    def progress(self, stage: str, done: int, total: int) -> None:
        """Report progress (and stop here when cancelled)."""
        self.check()
        self._runner._emit(
            Progress(self.request_id, self._request.group, int(done), int(total), stage)
        )


class Runner:
    """One worker thread running jobs one at a time against one backend.

    ``backend`` is a loaded backend or a zero-argument factory; a factory is called on the
    worker thread, so the model is created (and its device memory owned) there.
    """

    def __init__(
        self,
        backend: Backend | Callable[[], Backend],
        *,
        on_event: Callable[[Event], object] | None = None,
        name: str = "neurotui-runner",
    ) -> None:
        self._backend: Backend | None = None
        self._factory: Callable[[], Backend] | None = None
        if callable(backend) and not hasattr(backend, "translate"):
            self._factory = backend
        else:
            self._backend = cast("Backend", backend)  # not a factory: a loaded backend
        self._on_event = on_event
        self.events: queue.Queue[Event] = queue.Queue()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._requests: dict[str, _Request] = {}
        self._latest: dict[str, str] = {}
        self._finished: OrderedDict[str, Event] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._closing = threading.Event()
        self._current: _Request | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- public API -------------------------------------------------------------------
    def submit(self, job: Job, *, group: str | None = None, request_id: str | None = None) -> str:
        """Queue ``job(ctx)``; returns its id. A newer job in ``group`` supersedes older ones."""
        if self._closing.is_set():
            raise NeurotuiError("the runner is closed")
        with self._lock:
            rid = request_id or f"r{next(self._ids)}"
            if rid in self._requests:
                raise NeurotuiError(f"request id {rid!r} is still running")
            self._finished.pop(rid, None)
            request = _Request(rid, group, job)
            self._requests[rid] = request
            if group is not None:
                older = self._latest.get(group)
                self._latest[group] = rid
                if older is not None and older in self._requests:
                    self._requests[older].cancel.set()
        self._queue.put(request)
        return rid

    def cancel(self, request_id: str) -> bool:
        """Ask a pending or running request to stop; False when it is unknown or finished."""
        with self._lock:
            request = self._requests.get(request_id)
        if request is None or request.done.is_set():
            return False
        request.cancel.set()
        return True

    def cancel_group(self, group: str) -> int:
        """Cancel every unfinished request of ``group``; returns how many."""
        with self._lock:
            requests = [r for r in self._requests.values() if r.group == group]
        for request in requests:
            request.cancel.set()
        return len(requests)

    def cancel_all(self) -> int:
        """Cancel every unfinished request."""
        with self._lock:
            requests = list(self._requests.values())
        for request in requests:
            request.cancel.set()
        return len(requests)

    def is_current(self, event_or_id: Event | str) -> bool:
        """False for a result that a newer request of its group has superseded."""
        rid = event_or_id if isinstance(event_or_id, str) else event_or_id.request_id
        with self._lock:
            request = self._requests.get(rid)
            group = request.group if request else getattr(event_or_id, "group", None)
            if group is None:
                return request is None or not request.cancel.is_set()
            return self._latest.get(group) == rid

    def wait(self, request_id: str, timeout: float | None = None) -> Event:
        """Block until ``request_id`` finishes; its final event (for scripts and tests)."""
        with self._lock:
            request = self._requests.get(request_id)
            finished = self._finished.get(request_id)
        if request is None:
            if finished is not None:
                return finished
            raise NeurotuiError(f"unknown request id {request_id!r}")
        if not request.done.wait(timeout):
            raise TimeoutError(f"request {request_id} still running after {timeout} s")
        assert request.final is not None
        return request.final

    def call(self, job: Job, timeout: float | None = None) -> Any:
        """Run ``job`` on the worker and return its value (re-raising its error)."""
        event = self.wait(self.submit(job), timeout)
        if isinstance(event, Result):
            return event.value
        if isinstance(event, RequestCancelled):
            raise Cancelled(event.request_id)
        assert isinstance(event, Failed)
        if event.user_error:
            raise NeurotuiError(event.message)
        raise RuntimeError(event.message)

    @property
    def state(self) -> str:
        """``idle``, ``busy`` or ``closed`` (for the status bar)."""
        if not self._thread.is_alive():
            return "closed"
        return "busy" if self._current is not None else "idle"

    @property
    def current(self) -> str | None:
        """Id of the running request, if any."""
        request = self._current
        return request.request_id if request else None

    @property
    def backend(self) -> Backend | None:
        """The backend once loaded (read it only from the worker, i.e. inside jobs)."""
        return self._backend

    def close(self, timeout: float | None = 5.0) -> None:
        """Cancel everything and stop the worker (waits up to ``timeout`` seconds)."""
        self._closing.set()
        self.cancel_all()
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- worker -----------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if self._on_event is None:
            self.events.put(event)
            return
        try:
            self._on_event(event)
        except Exception:  # a broken listener must not kill the worker
            traceback.print_exc()

    def _finish(self, request: _Request, event: Event) -> None:
        request.final = event
        with self._lock:
            self._requests.pop(request.request_id, None)
            self._finished[request.request_id] = event
            while len(self._finished) > _KEEP_FINISHED:
                self._finished.popitem(last=False)
        self._emit(event)
        request.done.set()

    def _loop(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                break
            if request.cancel.is_set() or self._closing.is_set():
                self._finish(request, RequestCancelled(request.request_id, request.group))
                continue
            self._current = request
            try:
                self._run(request)
            finally:
                self._current = None
        # drain: whatever is still queued is cancelled
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is not None:
                self._finish(request, RequestCancelled(request.request_id, request.group))

    def _run(self, request: _Request) -> None:
        rid, group = request.request_id, request.group
        start = time.perf_counter()
        try:
            if self._backend is None:
                assert self._factory is not None
                self._backend = self._factory()
            self._emit(Started(rid, group))
            ctx = RunnerContext(self, request, self._backend)
            value = request.job(ctx)
            leak = self._backend.active_hook_count()
            if leak:
                raise RuntimeError(f"{leak} hook(s) left attached by request {rid}")
        except Cancelled:
            self._finish(request, RequestCancelled(rid, group))
            return
        except BaseException as exc:  # noqa: BLE001 - any failure fails this request only
            self._finish(request, _failure(rid, group, exc))
            if not isinstance(exc, Exception):
                raise
            return
        if request.cancel.is_set():  # superseded while running: drop the stale result
            self._finish(request, RequestCancelled(rid, group))
        else:
            self._finish(request, Result(rid, group, value, time.perf_counter() - start))


def _failure(rid: str, group: str | None, exc: BaseException) -> Failed:
    """A one-line failure event; CUDA out-of-memory frees the cache and says so."""
    oom = _is_oom(exc)
    if oom:
        try:
            import torch

            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - best effort
            pass
        message = "CUDA out of memory: try a smaller batch or beam, or --device cpu"
    else:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        message = text if isinstance(exc, NeurotuiError) else f"{type(exc).__name__}: {text}"
    user = isinstance(exc, NeurotuiError)
    details = "" if user else "".join(traceback.format_exception(exc))
    return Failed(rid, group, message, type(exc).__name__, oom, user, details)


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except Exception:  # noqa: BLE001
        pass
    return isinstance(exc, RuntimeError | MemoryError) and "out of memory" in str(exc).lower()
