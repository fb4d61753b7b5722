"""The app's job runner: a superseded result is dropped once, at delivery; a superseded
job stops at its next progress report; a process job runs in a child."""

from __future__ import annotations

import os
import threading

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from neurotui.errors import Cancelled
from neurotui.tui.messages import JobMessage
from neurotui.tui.procjob import ProcessJob
from neurotui.tui.testing import sync
from neurotui.tui.workers import JobRunner, WorkerContext, current_result


class Answer(JobMessage):
    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value


class Listener(Widget):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    @current_result
    def on_answer(self, message: Answer) -> None:
        self.seen.append(message.value)


class JobsApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.jobs = JobRunner()

    def compose(self) -> ComposeResult:
        yield Listener()

    def on_unmount(self) -> None:
        self.jobs.close()


@sync
async def test_a_superseded_result_is_dropped_at_delivery() -> None:
    app = JobsApp()
    async with app.run_test() as pilot:
        listener = app.query_one(Listener)
        gate = threading.Event()

        def slow(ctx: WorkerContext) -> str:
            gate.wait(10)
            return "old"

        first = app.jobs.start(listener, "g", slow, Answer, title="slow", exclusive=False)
        # a result of the first request posted after the second request started
        second = app.jobs.start(
            listener, "g", lambda ctx: "new", Answer, title="fast", exclusive=False
        )
        assert second > first
        stale = Answer("stale")
        stale.group, stale.request = "g", first
        listener.post_message(stale)
        gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert listener.seen == ["new"]


def test_a_superseded_job_stops_at_its_next_progress_report() -> None:
    runner = JobRunner()

    class Target:
        def post_message(self, message: object) -> bool:
            return True

    ctx = WorkerContext(runner, "g", 1, Target())  # type: ignore[arg-type]
    runner._latest["g"] = 1
    ctx.progress("reading", 1, 10)  # current: no error
    runner._latest["g"] = 2  # a newer request of the group started
    assert ctx.cancelled()
    with pytest.raises(Cancelled):
        ctx.progress("reading", 2, 10)


@sync
async def test_a_process_job_runs_in_a_child_and_relays_progress() -> None:
    app = JobsApp()
    async with app.run_test() as pilot:
        listener = app.query_one(Listener)
        job = ProcessJob(
            "neurotui.tui.testing:child_pid",
            (),
            finish=lambda value, ctx: (value["pid"], value["progress"]),
        )
        app.jobs.start(listener, "p", job, Answer, title="child")
        await app.workers.wait_for_complete()
        await pilot.pause()
        ((pid, reports),) = listener.seen
        assert pid != os.getpid() and reports == 1
