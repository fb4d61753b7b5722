"""Manipulation mode: select neurons → clamp → the modified translation appears.

Runs the real sample model (synth-en-fr-1) on its sample store, headless with Pilot; the
assertions read what the screen shows, and every flow ends with no hook left attached.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from neurotui.errors import NeurotuiError
from neurotui.tui.app import NeurotuiApp
from neurotui.tui.testing import sync

NEURONS = list(range(256, 266))  # enc.l1.fw:0-9; +6σ changes sentence 0's translation


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NEUROTUI_INTERVENTION_LOG", str(tmp_path / "log.jsonl"))


@pytest.fixture(scope="module")
def store():  # type: ignore[no-untyped-def]
    import neurotui.store as ns
    from neurotui.store.samples import sample_store

    opened = ns.open(sample_store())
    yield opened
    opened.close()


async def _wait(pilot, predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the manipulation screen")
        await pilot.pause(0.05)
    await pilot.pause()


def _app(store) -> NeurotuiApp:  # type: ignore[no-untyped-def]
    app = NeurotuiApp(stores=[store], open_default=False, device="cpu")
    return app


def _text(screen, wid: str) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one(wid).render())


@sync
async def test_clamp_changes_translation_and_failure_recovers(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from neurotui.tui.screens import manipulate

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        active = app.session.active
        active.view.cursor = NEURONS[0]
        active.view.pinned = NEURONS[1:]
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, manipulate.ManipulateScreen)
        assert screen.op == "set" and screen.unit == "sigma"
        for _ in range(8):  # 2σ → 6σ with the + key
            await pilot.press("plus")
        await _wait(
            pilot,
            lambda: (
                screen.outcome is not None
                and screen.outcome.request[:2] == ("set", 6.0)
                and screen.pending is None
            ),
        )
        c = screen.outcome.comparison
        assert c.changed
        assert c.original.text == "son oncle tombera près de mes chapeaux là-bas ."
        modified = _text(screen, "#manip-modified")
        assert c.modified.text.split()[0] in modified
        assert "log-prob" in _text(screen, "#manip-scores")
        assert "BLEU" in _text(screen, "#manip-scores")  # analysis.fr aligns with the store
        assert "device CPU" in _text(screen, "#header")
        assert screen.runner.backend.active_hook_count() == 0

        # a failing request shows an error; the next one works
        real_bind = manipulate._bind_module.bind
        calls = {"n": 0}

        def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 1:
                raise NeurotuiError("injected failure")
            return real_bind(*args, **kwargs)

        monkeypatch.setattr(manipulate._bind_module, "bind", failing)
        notes: list[str] = []
        real_notify = app.notify
        monkeypatch.setattr(
            app, "notify", lambda msg, **kw: (notes.append(msg), real_notify(msg, **kw))
        )
        await pilot.press("minus")
        await _wait(pilot, lambda: screen.error is not None)
        assert "injected failure" in " ".join(notes)
        assert screen.runner.backend.active_hook_count() == 0
        await pilot.press("o")  # add: next request works
        await _wait(
            pilot,
            lambda: (
                screen.pending is None
                and screen.error is None
                and screen.outcome.request[0] == "add"
            ),
        )
        assert screen.runner.backend.active_hook_count() == 0
        # save: the current intervention is appended to the JSONL log (replayable)
        import json
        import os

        await pilot.press("s")
        log_path = Path(os.environ["NEUROTUI_INTERVENTION_LOG"])
        await _wait(pilot, lambda: log_path.is_file() and screen.pending is None)
        record = json.loads(log_path.read_text(encoding="utf-8").splitlines()[-1])
        assert record["kind"] == "translate"
        assert "saved to" in screen.outcome.description
        backend = screen.runner.backend
        screen.close_runner()
        await asyncio.sleep(0)
        assert backend.active_hook_count() == 0


@sync
async def test_no_selection_says_so(store) -> None:  # type: ignore[no-untyped-def]
    app = _app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        app.session.active.view.cursor = None
        await pilot.press("2")
        await pilot.pause(0.2)
        assert "select or pin neurons" in _text(app.screen, "#manip-controls")
        assert app.screen.runner is None


def test_manipulation_snapshot(snap_compare, store) -> None:  # type: ignore[no-untyped-def]
    """The mode after a clamp: header with device/runner, controls, side-by-side outputs."""

    async def clamp(pilot) -> None:  # type: ignore[no-untyped-def]
        app = pilot.app
        app.session.active.view.cursor = NEURONS[0]
        app.session.active.view.pinned = NEURONS[1:]
        await pilot.press("2", *["plus"] * 8)
        screen = app.screen
        await _wait(
            pilot,
            lambda: (
                screen.outcome is not None
                and screen.outcome.request[:2] == ("set", 6.0)
                and screen.pending is None
            ),
        )

    assert snap_compare(_app(store), terminal_size=(120, 24), run_before=clamp)


@sync
async def test_ablation_curve_runs_and_cancels(store) -> None:  # type: ignore[no-untyped-def]
    """A small top/bottom curve finishes and is plotted; a bigger run can be cancelled."""
    from neurotui.tui.screens.ablation import AblationScreen

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, AblationScreen)
        screen.count, screen.steps = 4, (10, 200)
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.curve is not None)
        curve = screen.curve
        assert [(p.direction, p.n) for p in curve.points] == [
            ("top", 10),
            ("top", 200),
            ("bottom", 10),
            ("bottom", 200),
        ]
        assert curve.sentences == 4 and curve.baseline.bleu is not None
        assert "top 10" in _text(screen, "#abl-outputs")
        await pilot.press("right", "down")
        assert "top 200" in _text(screen, "#abl-outputs")
        assert "sentence 2/4" in _text(screen, "#abl-outputs")
        assert screen.runner.backend.active_hook_count() == 0

        # Big enough that even a fast machine is still running when "x" arrives.
        screen.count, screen.steps = 200, (10, 25, 50, 75, 100, 150, 200, 300)
        await pilot.press("enter")
        await pilot.pause(0.05)
        await pilot.press("x")
        await _wait(pilot, lambda: screen.state == "cancelled")
        assert screen.curve is curve  # the cancelled run did not replace the shown curve
        assert screen.runner.backend.active_hook_count() == 0


def test_ablation_snapshot(snap_compare, store) -> None:  # type: ignore[no-untyped-def]
    """The ablation mode after a small top/bottom curve: plot and the outputs at a point."""

    async def run_curve(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("3")
        screen = pilot.app.screen
        screen.count, screen.steps = 4, (10, 200)
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.curve is not None)
        await pilot.press("right")

    assert snap_compare(_app(store), terminal_size=(120, 32), run_before=run_curve)
