"""Control mode: clamp tense neurons toward "present", the flip rate and examples appear.

Runs the real sample model (synth-en-fr-1) on its sample store, headless with Pilot; the
assertions read what the screen shows. Every flow ends with no hook left attached, and an
error raised *while the clamp's hooks are attached* must leave none behind.
"""

from __future__ import annotations

from pathlib import Path

import tui_helpers  # beside this file: pytest puts tests/ on sys.path

from neurotui.tui.app import NeurotuiApp
from neurotui.tui.testing import sync

# the shared fixtures (found by these names) and helpers
_isolated, store = tui_helpers._isolated, tui_helpers.store
_app, _text, _wait = tui_helpers._app, tui_helpers._text, tui_helpers._wait


@sync
async def test_control_flips_tense_then_cancel_and_failure_recover(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from neurotui.intervene import control as control_lib
    from neurotui.tui.screens.control import ControlScreen

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, ControlScreen)
        assert screen.tasks() == ["tense", "number", "gender"]  # the store's labels
        assert (screen.chosen_task(), screen.target()) == ("tense", "present")
        assert "press enter" in _text(screen, "#ctl-summary")
        screen.count = 10  # 10 dev + 10 test sentences, one setting (n=100, mean 8)
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.outcome is not None and screen.pending is None)
        result = screen.outcome.result
        assert (result.prop, result.target, result.test.total) == ("tense", "present", 10)
        assert result.best.setting.describe() == "n=100 mean 8 @property"
        assert result.test.flipped > result.test_baseline.flipped  # the clamp flips tense
        summary = _text(screen, "#ctl-summary")
        assert f"flip rate {100 * result.test.flip_rate:.1f}%" in summary
        assert "67%" in summary and "37%" in summary and "21%" in summary  # the seeds
        assert f"untouched-content BLEU {result.test.bleu_untouched:.2f}" in summary
        assert f"no clamp: flip rate {100 * result.test_baseline.flip_rate:.1f}%" in summary
        assert "device CPU" in _text(screen, "#header")
        assert "runner idle" in _text(screen, "#header")

        # browse: flipped examples first, then those that did not flip
        flipped = [e for e in result.examples if e["flipped"]]
        shown = _text(screen, "#ctl-examples")
        assert f"1/{len(flipped)}" in shown and flipped[0]["source"] in shown
        await pilot.press("down")
        if len(flipped) > 1:
            assert flipped[1]["source"] in _text(screen, "#ctl-examples")
        await pilot.press("f")
        kept = [e for e in result.examples if not e["flipped"]]
        shown = _text(screen, "#ctl-examples")
        assert shown.startswith("not flipped")
        if kept:
            assert kept[0]["source"] in shown
        assert len(flipped) + len(kept) == result.test.total
        assert screen.runner.backend.active_hook_count() == 0

        # cancel: a full grid search on every sentence is still running when "x" arrives
        await pilot.press("a", "l")
        assert screen.search and screen.count == 50  # 10 is not a choice: "l" starts over
        screen.count = 500
        await pilot.press("enter")
        # the experiment is running (a progress report of this request arrived)
        await _wait(
            pilot, lambda: screen.pending is not None and screen.progress_label != "starting"
        )
        await pilot.press("x")
        await _wait(pilot, lambda: screen.state == "cancelled")
        assert "runner cancelled" in _text(screen, "#header")
        assert screen.outcome.result is result  # the cancelled run did not replace it
        assert screen.runner.backend.active_hook_count() == 0

        # a failure while the clamp's hooks are attached: an error notification, no hook
        # left behind, and the next request works
        real_translate = control_lib.translate
        calls = {"n": 0}

        def failing(backend, sources, bound=(), settings=None, should_stop=None):  # type: ignore[no-untyped-def]
            if bound and calls["n"] == 0:
                calls["n"] += 1

                def boom() -> bool:
                    calls["attached"] = backend.active_hook_count()
                    raise RuntimeError("injected failure")

                return real_translate(backend, sources, bound, settings, boom)
            return real_translate(backend, sources, bound, settings, should_stop)

        monkeypatch.setattr(control_lib, "translate", failing)
        notes: list[str] = []
        real_notify = app.notify
        monkeypatch.setattr(
            app, "notify", lambda msg, **kw: (notes.append(msg), real_notify(msg, **kw))
        )
        await pilot.press("a", "l")  # back to one setting, 50 sentences
        screen.count = 10
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.pending is None and screen.error is not None)
        assert calls["attached"] > 0  # it did fail inside the hooked decoding
        assert any("injected failure" in n for n in notes)
        assert screen.runner.backend.active_hook_count() == 0
        await pilot.press("c")  # tense → future: the next request works
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.pending is None and screen.outcome.result is not result)
        assert screen.error is None
        assert screen.outcome.result.target == "future"
        assert "tense → future" in _text(screen, "#ctl-summary")
        backend = screen.runner.backend
        assert backend.active_hook_count() == 0
        screen.close_runner()
        assert backend.active_hook_count() == 0


@sync
async def test_app_run_is_logged_and_replays(store, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A run in the app lands in the CLI's replayable log; ``neurotui replay`` re-runs it
    from the record alone and gets the same flip rate. An unwritable log only warns."""
    import json
    import os

    from neurotui.cli import main
    from neurotui.intervene import log as runlog

    log = Path(os.environ["NEUROTUI_INTERVENTION_LOG"])
    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("4")
        screen = app.screen
        screen.count = 10
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.outcome is not None and screen.pending is None)
        result = screen.outcome.result
        assert screen.outcome.log == str(log) and screen.outcome.log_error is None

        # a log that cannot be written: the run still shows, with a warning, not a failure
        notes: list[str] = []
        real_notify = app.notify
        monkeypatch.setattr(
            app, "notify", lambda msg, **kw: (notes.append(msg), real_notify(msg, **kw))
        )
        monkeypatch.setenv("NEUROTUI_INTERVENTION_LOG", str(log.parent))  # a folder
        await pilot.press("c", "enter")  # tense → future
        await _wait(pilot, lambda: screen.pending is None and screen.outcome.result is not result)
        assert screen.error is None and screen.outcome.result.target == "future"
        assert screen.outcome.log is None and "cannot write" in screen.outcome.log_error
        assert any(n.startswith("not logged:") for n in notes)
        screen.close_runner()

    records = runlog.read(log)
    assert [r["kind"] for r in records] == ["control"]
    record = records[0]
    assert record["app"] == "control mode" and record["model"] == "synth-en-fr-1"
    assert (record["request"]["prop"], record["request"]["target"]) == ("tense", "present")
    assert len(record["request"]["test_cases"]) == result.test.total == 10
    assert record["result"]["flip_rate"] == round(result.test.flip_rate, 4)
    assert main(["replay", str(log), "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["matches"] is True, doc["replayed"][0]["differences"]
    assert f"flip rate {100 * result.test.flip_rate:.1f}%" in doc["replayed"][0]["summary"]


@sync
async def test_choices_cycle_and_store_without_labels(store) -> None:  # type: ignore[no-untyped-def]
    """Keys change task/target/setting; a store without the tasks' labels says so."""
    from neurotui.tui.testing import make_store

    app = _app(store)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("4")
        screen = app.screen
        await pilot.press("t")
        assert (screen.chosen_task(), screen.target()) == ("number", "sg")
        await pilot.press("c", "n", "s", "p")
        assert screen.target() == "pl"
        assert (screen.n, screen.strength, screen.scope) == (200, 16.0, "all")
        controls = _text(screen, "#ctl-controls")
        assert "number → pl" in controls and "neurons: 200" in controls
        assert "scope: all" in controls

        # the in-app help describes the mode and lists its keys
        from neurotui.tui.screens.help import HelpScreen

        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        help_text = str(app.screen.query_one("Static").render())
        assert "Control mode" in help_text and "67 %" in help_text
        assert ("a", "Search") in app.screen.bindings_table
        assert ("x", "Cancel") in app.screen.bindings_table

    other = NeurotuiApp(stores=[make_store()], open_default=False, device="cpu")
    async with other.run_test(size=(120, 30)) as pilot:
        await pilot.press("4")
        screen = other.screen
        assert screen.tasks() == []
        assert "no tense / number / gender labels" in _text(screen, "#ctl-controls")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert screen.error is not None and screen.runner is None


def test_real_text_model_offers_its_tasks() -> None:
    """A store of the real-text model (POS labels, tagged dev/test sets in its card) offers
    tense and number (no gender on real text); a synthetic-grammar store is not real text."""
    from neurotui.paths import samples_dir
    from neurotui.store.memory import MemoryStore
    from neurotui.tui.screens.control import realtext_for
    from neurotui.tui.session import OpenStore
    from neurotui.tui.testing import make_store

    base = make_store()
    tokens = [base.tokens(i) for i in range(base.sentences)]
    acts = [base.activations(i) for i in range(base.sentences)]
    model = {"name": "bible-en-fr", "path": str(samples_dir() / "bible-en-fr")}
    bible = MemoryStore(
        tokens,
        acts,
        [(s.name, s.size) for s in base.sites],
        labels={"pos": base.labels("pos")},
        metadata={"model": model},
    )
    real = realtext_for(OpenStore.wrap(bible))
    assert real is not None and set(real.files) >= {"dev.en", "test.pos", "test.fr"}
    synth = {"name": "synth-en-fr-1", "path": str(samples_dir() / "synth-en-fr-1")}
    other = MemoryStore(
        tokens,
        acts,
        [(s.name, s.size) for s in base.sites],
        labels={"pos": base.labels("pos")},
        metadata={"model": synth},
    )
    assert realtext_for(OpenStore.wrap(other)) is None
