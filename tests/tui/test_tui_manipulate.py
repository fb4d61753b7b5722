"""Manipulation mode: select neurons → clamp → the modified translation appears.

Runs the real sample model (synth-en-fr-1) on its sample store, headless with Pilot; the
assertions read what the screen shows, and every flow ends with no hook left attached.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import tui_helpers  # beside this file: pytest puts tests/ on sys.path

from neurotui.errors import NeurotuiError
from neurotui.tui.testing import sync

# the shared fixtures (found by these names) and helpers
_isolated, store = tui_helpers._isolated, tui_helpers.store
_app, _text, _wait = tui_helpers._app, tui_helpers._text, tui_helpers._wait

NEURONS = list(range(256, 266))  # enc.l1.fw:0-9; +6σ changes sentence 0's translation


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
        # an error while the hooks are attached must not leave one behind
        backend = screen.runner.backend
        real_translate = backend.translate

        def exploding(*args, **kwargs):  # type: ignore[no-untyped-def]
            if backend.active_hook_count():
                raise RuntimeError("injected failure inside the hooks")
            return real_translate(*args, **kwargs)

        backend.translate = exploding
        await pilot.press("plus")
        await _wait(pilot, lambda: screen.error is not None and screen.pending is None)
        assert "inside the hooks" in screen.error
        assert backend.active_hook_count() == 0
        del backend.translate  # the class's method again
        await pilot.press("plus")
        await _wait(pilot, lambda: screen.pending is None and screen.error is None)
        assert backend.active_hook_count() == 0
        screen.close_runner()
        await asyncio.sleep(0)
        assert backend.active_hook_count() == 0


def _log_path() -> Path:
    import os

    return Path(os.environ["NEUROTUI_INTERVENTION_LOG"])


@sync
async def test_shared_cursor_visible_sentences_save_and_load(store) -> None:  # type: ignore[no-untyped-def]
    """The session's text cursor drives the mode; ``v`` shows more pairs; ``s`` names and
    saves; ``l`` lists the log, loads the saved one and re-runs it to the logged output;
    a record that no longer fits the store is a notification."""
    import json

    from neurotui.intervene import log as runlog
    from neurotui.tui.screens.intervention_picker import InterventionPicker
    from neurotui.tui.screens.manipulate import VISIBLE, ManipulateScreen
    from neurotui.tui.screens.prompt import PromptScreen
    from neurotui.tui.widgets.sentence_view import SentenceView

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        active = app.session.active
        active.view.cursor = NEURONS[0]
        active.view.pinned = NEURONS[1:]
        # the analysis view's cursor goes into the session …
        app.screen.query_one(SentenceView).jump_to(2, 1)
        await pilot.pause()
        assert (active.view.sentence, active.view.token) == (2, 1)
        # … and the manipulation mode works on that sentence and token
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, ManipulateScreen)
        assert (screen.sentence, screen.token) == (2, 1)
        await pilot.press("right_square_bracket")  # moving here moves the shared cursor
        assert (active.view.sentence, active.view.token) == (3, 0)
        await pilot.press("1")
        await pilot.pause()
        view = app.screen.query_one(SentenceView)
        assert (view.cursor_sentence, view.cursor_position) == (3, 0)
        await pilot.press("2")
        assert app.screen is screen and screen.sentence == 3

        # visible sentences: one request, several original/modified pairs
        await pilot.press(*["plus"] * 8, "v")
        await _wait(
            pilot,
            lambda: (
                screen.outcome is not None
                and screen.outcome.request[:2] == ("set", 6.0)
                and len(screen.outcome.others) == VISIBLE - 1
                and screen.pending is None
            ),
        )
        shown = _text(screen, "#manip-visible")
        assert "next sentences" in shown
        assert screen.query_one("#manip-visible").region.height >= 2 * (VISIBLE - 1)  # laid out
        for index, c in screen.outcome.others:
            assert index in range(4, 4 + VISIBLE - 1)
            assert f"{index + 1} " in shown and c.original.tokens[0] in shown
        assert screen.runner.backend.active_hook_count() == 0
        await pilot.press("v")
        await _wait(pilot, lambda: screen.pending is None and not screen.outcome.others)
        assert _text(screen, "#manip-visible").strip() == ""

        # save under a name (a prompt), then change the settings
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*"to-present", "enter")
        await _wait(
            pilot, lambda: screen.pending is None and screen.outcome.saved_as == "to-present"
        )
        record = json.loads(_log_path().read_text(encoding="utf-8").splitlines()[-1])
        assert record["kind"] == "translate" and record["name"] == "to-present"
        assert record["app"]["sentence"] == 3 and record["spec"][0]["unit"] == "sigma"
        saved_modified = record["modified"][0]
        assert saved_modified == screen.outcome.comparison.modified.text
        await pilot.press("o", "minus", "right_square_bracket")
        await _wait(
            pilot,
            lambda: screen.pending is None and screen.outcome.request[0] == "add",
        )
        assert screen.sentence == 4

        # the picker lists it; Enter loads it and re-runs it
        notes: list[str] = []
        real_notify = app.notify
        app.notify = lambda msg, **kw: (notes.append(msg), real_notify(msg, **kw))  # type: ignore[method-assign]
        await pilot.press("l")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, InterventionPicker)
        assert picker.saved[0].name == "to-present"
        assert picker.saved[0].neurons[:2] == ["enc.l1.fw:0", "enc.l1.fw:1"]
        assert picker.saved[0].describe_value() == "+6σ"
        await pilot.press("enter")
        await _wait(
            pilot,
            lambda: (
                app.screen is screen
                and screen.pending is None
                and screen.outcome.request[:2] == ("set", 6.0)
            ),
        )
        assert screen.sentence == 3 and screen.label == "to-present"
        assert screen.outcome.comparison.modified.text == saved_modified
        assert "to-present" in _text(screen, "#manip-controls")
        assert notes[-1] == "loaded to-present: 10 neurons, set"  # a clean fit: no caveats

        # a record that no longer fits (unknown site) is a notification, not a crash
        bad = {k: v for k, v in record.items() if k not in ("schema", "time", "neurotui")}
        bad["name"] = "stale"
        bad["interventions"] = [dict(record["interventions"][0], site="enc.l9.fw")]
        runlog.append(bad)
        await pilot.press("l")
        await pilot.pause()
        assert app.screen.saved[0].name == "stale"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen
        assert any("unknown site 'enc.l9.fw'" in n for n in notes)  # as the CLI says it
        assert screen.label == "to-present"  # nothing changed
        assert screen.runner.backend.active_hook_count() == 0

        # a key pressed while a save runs does not cancel the save
        lines = len(_log_path().read_text(encoding="utf-8").splitlines())
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("ctrl+a", "ctrl+k", *"again", "enter", "plus")
        await _wait(
            pilot,
            lambda: (
                screen.pending is None
                and screen.outcome.request[:2] == ("set", 6.5)
                and len(_log_path().read_text(encoding="utf-8").splitlines()) == lines + 1
            ),
        )
        record = json.loads(_log_path().read_text(encoding="utf-8").splitlines()[-1])
        assert record["name"] == "again" and record["spec"][0]["value"] == 6.0
        assert any("saved as 'again'" in n for n in notes)
        assert screen.runner.backend.active_hook_count() == 0
        screen.close_runner()


@sync
async def test_no_selection_says_so(store) -> None:  # type: ignore[no-untyped-def]
    app = _app(store)
    async with app.run_test(size=(120, 30)) as pilot:
        app.session.active.view.cursor = None
        await pilot.press("2")
        await pilot.pause(0.2)
        assert "select or pin neurons" in _text(app.screen, "#manip-controls")
        assert app.screen.runner is None
        # ? shows this mode's help and its bindings, the new ones included
        from neurotui.tui.screens.help import HelpScreen

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "## Manipulation" in app.screen.pane_help
        table = dict((d, k) for k, d in app.screen.bindings_table)
        assert table["Visible"] == "v" and table["Load"] == "l" and table["Save"] == "s"
        assert table["Manipulate"] == "2"  # the mode keys are listed too
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        # l with no log yet says so (no crash)
        await pilot.press("l")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "ManipulateScreen"


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
        # "b" plots chrF instead of BLEU: the plotted series become the chrF values
        bleu = [curve.baseline.bleu, *(p.bleu for p in curve.points if p.direction == "top")]
        assert screen.plotted["top"] == bleu
        await pilot.press("b")
        chrf = [curve.baseline.chrf, *(p.chrf for p in curve.points if p.direction == "top")]
        assert screen.metric == "chrf" and screen.plotted["top"] == chrf != bleu

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


def test_saved_interventions_parse_cli_and_app_records() -> None:
    """The picker lists translate records newest first; what the mode cannot hold is noted."""
    from neurotui.tui.screens.intervention_picker import saved_interventions

    app_record = {
        "kind": "translate",
        "_line": 1,
        "time": "2026-11-21T23:00:00+00:00",
        "model": "synth-en-fr-1",
        "name": "to-present",
        "spec": [{"neurons": ["enc.l1.fw:0"], "op": "set", "value": 6.0, "unit": "sigma"}],
        "interventions": [{"site": "enc.l1.fw", "neurons": [0], "op": "set", "value": [1.5]}],
        "sources": ["a b ."],
        "modified": ["x y ."],
        "app": {"store": "s", "sentence": 3, "token": 0},
    }
    cli_record = {
        "kind": "translate",
        "_line": 3,
        "time": "2026-11-21T23:05:00+00:00",
        "model": "m",
        "model_path": "/x/models/m",
        "spec": [
            {"site": "enc.l0", "neurons": [5, 7], "op": "add", "value": [1.0, 2.0]},
            {"site": "dec.l0", "neurons": [1], "op": "zero"},
        ],
        "interventions": [
            {"site": "enc.l0", "neurons": [5, 7], "op": "add", "value": [1.0, 2.0]},
            {"site": "dec.l0", "neurons": [1], "op": "zero"},
        ],
        "sources": ["c d ."],
        "modified": ["z ."],
    }
    other = {"kind": "ablate", "_line": 2}
    listed = saved_interventions([app_record, other, cli_record])
    assert [s.line for s in listed] == [3, 1]  # newest first, ablation records left out
    cli, app = listed
    assert cli.neurons == ["enc.l0:5", "enc.l0:7", "dec.l0:1"] and cli.op == "add"
    assert cli.value == 1.0 and cli.model == "m" and cli.name == ""
    assert len(cli.notes) == 2  # two different interventions; per-neuron values
    assert app.name == "to-present" and app.describe_value() == "+6σ" and not app.notes
    assert app.app["sentence"] == 3 and app.modified == "x y ." and app.when.startswith("2026")
