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


def test_missing_stats_of_a_large_file_store_are_computed_in_a_child(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A corpus-scale pass (a store without its summary) runs in a child process; its
    statistics come back equal to the in-thread computation."""
    import numpy as np

    import neurotui.store
    from neurotui.progress import NO_JOB
    from neurotui.store.writer import write_store
    from neurotui.tui.services import opening, placement
    from neurotui.tui.testing import make_tokens

    tokens = make_tokens(12)
    rng = np.random.default_rng(3)
    acts = [rng.standard_normal((len(t), 6)).astype(np.float32) for t in tokens]
    acts[0][0, 2] = np.nan  # a non-finite value survives the JSON channel
    path = write_store(tmp_path / "s.h5", tokens, acts, [("enc.l0", 6)], summary=False)
    store = neurotui.store.open(path)
    try:
        assert store.stats is None
        here = opening.load_stats(store)
        monkeypatch.setattr(placement, "PROCESS_BYTES", 0)  # this small store counts as large
        calls: list[str] = []
        real = opening.load_stats
        monkeypatch.setattr(opening, "load_stats", lambda *a: calls.append("thread") or real(*a))
        child = opening.stats_job(store)(NO_JOB)  # type: ignore[arg-type]
    finally:
        store.close()
    assert calls == []  # not computed in this process
    for field in opening.STATS_FIELDS:
        np.testing.assert_allclose(getattr(child, field), getattr(here, field), equal_nan=True)
    assert child.nonfinite.sum() == 1


@sync
async def test_the_open_stores_are_frozen_out_of_full_collections_while_the_app_runs(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    """A full garbage collection stalled keys for 150–340 ms with a large store open; what
    is alive once the stores are open is frozen, and handed back when the app ends."""
    import gc

    import numpy as np

    from neurotui.store.writer import write_store
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.testing import make_tokens, settle

    tokens = make_tokens(8)
    rng = np.random.default_rng(5)
    acts = [rng.standard_normal((len(t), 4)).astype(np.float32) for t in tokens]
    path = write_store(tmp_path / "s.h5", tokens, acts, [("enc.l0", 4)])
    assert gc.get_freeze_count() == 0
    app = NeurotuiApp([path])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert app.session.active is not None
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
