"""Heavy jobs in a child process: progress is relayed, user errors come back as one line."""

from __future__ import annotations

import pytest

from neurotui.errors import NeurotuiError
from neurotui.progress import NO_JOB
from neurotui.tui.procjob import run_in_process


def test_child_result_progress_and_errors() -> None:
    ctx = NO_JOB
    seen: list[tuple[object, ...]] = []
    result = run_in_process(
        ctx, "neurotui.tui.testing:child_count", (3,), relay=lambda *r: seen.append(r)
    )
    assert result == {"counted": 3}
    assert seen and seen[0][0] == "counting" and seen[-1][2] == 3
    with pytest.raises(NeurotuiError, match="labels.txt line 3"):
        run_in_process(ctx, "neurotui.tui.testing:child_count", (1, True), relay=lambda *r: None)


def test_a_cancelled_child_is_killed_and_cancel_raises() -> None:
    """Cancelling a process job (the user moved on) stops the child at once."""
    import time

    from neurotui.errors import Cancelled

    class StopAfterFirstReport:
        def __init__(self) -> None:
            self.reports = 0

        def progress(self, stage: str, done: int, total: int) -> None:
            self.reports += 1

        def cancelled(self) -> bool:
            return self.reports > 0

        def check(self) -> None:
            if self.cancelled():
                raise Cancelled("test")

    ctx = StopAfterFirstReport()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        # 40 reports × 0.15 s: 6 s if it ran to the end
        run_in_process(ctx, "neurotui.tui.testing:child_count", (40,), relay=ctx.progress)
    assert ctx.reports == 1
    assert time.monotonic() - t0 < 5.5


def test_child_servers_are_owned_one_per_key_and_closed() -> None:
    """The runner's servers: one child per key, answers from it, all ended by close()."""
    import os

    from neurotui.tui.procjob import ChildServers

    servers = ChildServers()
    try:
        a = servers.get("a", "neurotui.tui.testing:EchoServer", ["a:"])
        assert servers.get("a", "neurotui.tui.testing:EchoServer", ["ignored"]) is a
        b = servers.get("b", "neurotui.tui.testing:EchoServer", ["b:"])
        assert len(servers) == 2
        assert a.call(NO_JOB, "echo", ["x"]) == "a:x"
        assert b.call(NO_JOB, "echo", ["y"]) == "b:y"
        pids = [a.call(NO_JOB, "pid", []), b.call(NO_JOB, "pid", [])]
        assert len(set(pids)) == 2 and os.getpid() not in pids
        procs = [a._proc, b._proc]
    finally:
        servers.close()
    assert len(servers) == 0
    assert all(p is not None and p.poll() is not None for p in procs)  # both children ended


def test_titled_progress_prefixes_stages_and_passes_cancellation() -> None:
    """One vocabulary: ``titled(ctx, title)`` is a ProgressFn; a cancelled job's report raises."""
    from neurotui.errors import Cancelled
    from neurotui.progress import titled

    seen: list[tuple[str, int, int]] = []

    class Ctx:
        stop = False

        def progress(self, stage: str, done: int, total: int) -> None:
            seen.append((stage, done, total))
            self.check()

        def cancelled(self) -> bool:
            return self.stop

        def check(self) -> None:
            if self.stop:
                raise Cancelled("x")

    ctx = Ctx()
    report = titled(ctx, "Ranking")
    report("statistics", 1, 4)
    report("Ranking", 2, 4)
    report("", 3, 4)
    assert seen == [("Ranking: statistics", 1, 4), ("Ranking", 2, 4), ("Ranking", 3, 4)]
    ctx.stop = True
    with pytest.raises(Cancelled):
        report("statistics", 4, 4)


def test_a_child_runs_at_a_lower_priority_than_the_app() -> None:
    """Background work yields the cores to the UI process when the box is busy."""
    import os

    from neurotui.tui.procjob import CHILD_NICENESS

    answer = run_in_process(
        NO_JOB, "neurotui.tui.testing:child_niceness", (), relay=lambda *r: None
    )
    assert answer == min(19, os.nice(0) + CHILD_NICENESS)
