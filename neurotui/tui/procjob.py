"""Run a heavy computation in a child process, with progress and cancellation.

Why a process: the app's workers are threads, and a thread that spends its time in calls
that hold the GIL (large HDF5 reads, some numpy/torch paths) starves the UI thread — keys
would wait seconds while a ranking streams a 2 GB store. A child interpreter leaves the UI
its full share; the parent thread relays progress and terminates the child on cancel.

Why ``subprocess`` and JSON lines rather than ``multiprocessing``: inside a Textual app
``sys.stderr`` is captured, and multiprocessing's resource tracker fails to start from
there; and JSON keeps the channel free of pickles. The child is
``python -m neurotui.tui.procjob MODULE:FUNCTION``: it reads the JSON arguments on stdin,
calls ``FUNCTION(*args, progress=…)`` and writes one JSON object per line on stdout:
``{"progress": [...]}`` …, then ``{"done": result}`` or ``{"error": text, "user": bool}``.
The function must return a JSON-serialisable value.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from neurotui.errors import Cancelled, NeurotuiError
from neurotui.progress import JobContext, ProgressFn

#: progress messages from the child at most this often (seconds)
CHILD_PROGRESS_INTERVAL = 0.1
#: a child lowers its CPU priority by this much: background work yields the cores to the
#: UI process when the box is busy (the point of a child is that keys are served first)
CHILD_NICENESS = 5
R = TypeVar("R")


@dataclass(frozen=True)
class ProcessJob(Generic[R]):
    """A job that runs in a child interpreter: ``target(*args, progress=…)``.

    ``target`` is ``"module:function"``; its arguments and return value are plain JSON
    (no pickles cross the boundary). ``finish(value, ctx)`` turns the returned JSON into
    the job's result on the worker thread (cheap work only; ``ctx`` is the job's
    :class:`neurotui.progress.JobContext`); ``stage`` prefixes the
    child's progress stages.
    """

    target: str
    args: Sequence[Any] = ()
    finish: Callable[[Any, Any], R] | None = None
    stage: str = ""


def run_in_process(
    ctx: JobContext,
    target: str,
    args: tuple[Any, ...] | list[Any],
    relay: ProgressFn,
    poll: float = 0.05,
) -> Any:
    """Run ``target(*args, progress=…)`` in a child interpreter; ``relay(stage, done,
    total)`` gets its progress reports in this thread (and may raise :class:`Cancelled`). Raises :class:`NeurotuiError` (one line) for the
    child's user errors, ``RuntimeError`` for its bugs, and :class:`Cancelled` after
    killing the child when ``ctx`` is cancelled.
    """
    with tempfile.TemporaryFile(mode="w+") as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurotui.tui.procjob", target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            close_fds=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(list(args)))
            proc.stdin.close()
            buffer = ""
            fd = proc.stdout.fileno()
            while True:
                if ctx.cancelled():
                    raise Cancelled(target)
                ready, _, _ = select.select([fd], [], [], poll)
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 16).decode("utf-8")
                if not chunk:  # the child ended without an answer
                    proc.wait(timeout=5)
                    errors.seek(0)
                    tail = errors.read()[-2000:]
                    raise RuntimeError(
                        f"background process {target} stopped (exit code {proc.returncode}):\n{tail}"
                    )
                buffer += chunk
                while "\n" in buffer:
                    line, buffer = buffer.split("\n", 1)
                    if not line.strip():
                        continue
                    message = json.loads(line)
                    if "progress" in message:
                        stage, done, total = message["progress"]
                        relay(str(stage), int(done), int(total))
                    elif "done" in message:
                        return message["done"]
                    elif message.get("user"):
                        raise NeurotuiError(message["error"])
                    else:
                        raise RuntimeError(f"background process failed:\n{message['error']}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=5)
            proc.stdout.close()


class ChildServer:
    """A long-lived child interpreter holding an object (e.g. an open store and its word
    index) and answering calls on it, one at a time.

    Why long-lived: per-neuron requests (a card's histogram and top words) are too
    frequent to pay an interpreter start each, but each one reads a whole activation
    column — work that must not share the UI's GIL. ``factory`` (``module:callable``) is
    called once in the child with ``init_args``; ``call(method, args)`` runs
    ``obj.method(*args)`` there. Calls are serialised; a call whose context is cancelled
    while it runs still reads its answer (keeping the channel in step), then raises
    :class:`Cancelled`. The child exits when its stdin closes (the app ended).
    """

    def __init__(self, factory: str, init_args: list[Any]) -> None:
        self.factory = factory
        self.init_args = init_args
        self._proc: subprocess.Popen[str] | None = None
        self._errors: Any = None
        self._buffer = ""
        import threading

        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[str]:
        self._errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the child
        proc = subprocess.Popen(
            [sys.executable, "-m", "neurotui.tui.procjob", "--serve", self.factory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            close_fds=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(self.init_args) + "\n")
        proc.stdin.flush()
        self._buffer = ""
        return proc

    def call(self, ctx: JobContext, method: str, args: list[Any], poll: float = 0.05) -> Any:
        """``obj.method(*args)`` in the child; raises like :func:`run_in_process`."""
        with self._lock:
            if ctx.cancelled():
                raise Cancelled(method)
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps({"method": method, "args": args}) + "\n")
            proc.stdin.flush()
            fd = proc.stdout.fileno()
            while "\n" not in self._buffer:
                ready, _, _ = select.select([fd], [], [], poll)
                if not ready:
                    continue
                chunk = os.read(fd, 1 << 16).decode("utf-8")
                if not chunk:
                    self._proc = None
                    self._errors.seek(0)
                    tail = self._errors.read()[-2000:]
                    raise RuntimeError(f"background process {self.factory} stopped:\n{tail}")
                self._buffer += chunk
            line, self._buffer = self._buffer.split("\n", 1)
        message = json.loads(line)
        if ctx.cancelled():
            raise Cancelled(method)
        if "done" in message:
            return message["done"]
        if message.get("user"):
            raise NeurotuiError(message["error"])
        raise RuntimeError(f"background process failed:\n{message['error']}")

    def close(self) -> None:
        """Stop the child (it also stops by itself when the app exits)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
        if self._errors is not None:
            self._errors.close()
            self._errors = None


class ChildServers:
    """The long-lived :class:`ChildServer` processes of one owner (the app's job runner),
    one per key; :meth:`close` stops them all.

    Why owned rather than module-global: the children live exactly as long as the app
    that started them (two apps in one process — tests — do not share or leak them).
    """

    def __init__(self) -> None:
        self._servers: dict[str, ChildServer] = {}
        import threading

        self._lock = threading.Lock()

    def get(self, key: str, factory: str, init_args: list[Any]) -> ChildServer:
        """The server for ``key``, started on its first call."""
        with self._lock:
            server = self._servers.get(key)
            if server is None:
                server = self._servers[key] = ChildServer(factory, init_args)
            return server

    def __len__(self) -> int:
        return len(self._servers)

    def close(self) -> None:
        """Stop every server."""
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.close()


def _lower_priority() -> None:
    """Yield the CPU to the app's own (UI) process when the cores are busy."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not permitted here: the parent's priority
            os.nice(CHILD_NICENESS)


def _serve(factory: str) -> int:
    """The server child: an object from ``factory``, then one JSON answer per request."""
    _lower_priority()
    out = sys.stdout
    sys.stdout = sys.stderr

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    module, _, name = factory.partition(":")
    obj = getattr(importlib.import_module(module), name)(*json.loads(sys.stdin.readline()))
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            emit({"done": getattr(obj, request["method"])(*request["args"])})
        except NeurotuiError as exc:
            emit({"error": str(exc), "user": True})
        except Exception:
            emit({"error": traceback.format_exc(), "user": False})
    return 0


def _child_main(target: str) -> int:
    """The child side: arguments on stdin, JSON lines on stdout."""
    _lower_priority()
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints of the computation must not corrupt the channel
    last = [0.0]

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= CHILD_PROGRESS_INTERVAL:
            last[0] = now
            emit({"progress": [str(stage), int(done), int(total)]})

    try:
        args = json.loads(sys.stdin.read() or "[]")
        module, _, name = target.partition(":")
        fn = getattr(importlib.import_module(module), name)
        emit({"done": fn(*args, progress=progress)})
    except NeurotuiError as exc:
        emit({"error": str(exc), "user": True})
    except BaseException:  # a bug: the parent logs the traceback
        emit({"error": traceback.format_exc(), "user": False})
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        raise SystemExit(_serve(sys.argv[2]))
    raise SystemExit(_child_main(sys.argv[1]))
