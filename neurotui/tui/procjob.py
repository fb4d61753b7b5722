"""Run a heavy computation in a child process, with progress and cancellation.

Why a process: the app's workers are threads, and a thread that spends its time in calls
that hold the GIL (large HDF5 reads, some numpy/torch paths) starves the UI thread — keys
would wait seconds while a ranking streams a 2 GB store. A spawned child has its own
interpreter, so the UI keeps its full share; the parent thread only relays progress
messages and the result (a picklable value) and terminates the child on cancel.
"""

from __future__ import annotations

import importlib
import multiprocessing
import queue as queue_mod
import time
import traceback
from typing import Any, Protocol

from neurotui.errors import Cancelled, NeurotuiError

#: progress messages from the child at most this often (seconds)
CHILD_PROGRESS_INTERVAL = 0.1


class _Ctx(Protocol):
    def progress(self, done: int, total: int, label: str = "", force: bool = False) -> None: ...

    def cancelled(self) -> bool: ...


def _child(target: str, args: tuple[Any, ...], out: Any) -> None:
    """Child entry: call ``module:function(*args, progress=…)``, send the outcome."""
    last = [0.0]

    def progress(*report: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= CHILD_PROGRESS_INTERVAL:
            last[0] = now
            out.put(("progress", report))

    try:
        module, _, name = target.partition(":")
        fn = getattr(importlib.import_module(module), name)
        out.put(("done", fn(*args, progress=progress)))
    except NeurotuiError as exc:
        out.put(("error", str(exc), True))
    except BaseException:  # a bug: send the traceback to the parent's log
        out.put(("error", traceback.format_exc(), False))


def run_in_process(
    ctx: _Ctx, target: str, args: tuple[Any, ...], relay: Any, poll: float = 0.05
) -> Any:
    """Run ``target(*args, progress=…)`` in a spawned process; ``relay(*report)`` gets its
    progress reports in this thread. Raises what the child raised (one line for user
    errors), or :class:`Cancelled` after terminating the child when ``ctx`` is cancelled.
    """
    mp = multiprocessing.get_context("spawn")
    out = mp.Queue()
    proc = mp.Process(target=_child, args=(target, args, out), daemon=True, name=target)
    proc.start()
    try:
        while True:
            try:
                message = out.get(timeout=poll)
            except queue_mod.Empty:
                if ctx.cancelled():
                    raise Cancelled(target) from None
                if not proc.is_alive():
                    try:
                        message = out.get(timeout=0.5)
                    except queue_mod.Empty:
                        raise NeurotuiError(
                            f"the background process for {target} stopped (exit code {proc.exitcode})"
                        ) from None
                else:
                    continue
            kind = message[0]
            if kind == "progress":
                relay(*message[1])
            elif kind == "done":
                return message[1]
            elif message[2]:
                raise NeurotuiError(message[1])
            else:
                raise RuntimeError(f"background process failed:\n{message[1]}")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=2)
        out.close()
