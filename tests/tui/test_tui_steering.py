"""Steering vectors in the app: Manipulate (g) and Control (u → steer, m compare).

Runs the real sample model (synth-en-fr-1) on its sample store, headless with Pilot. What
the screens show must be what the workflow functions the CLI calls return on the same
input: the steered translation in Manipulate, the flip counts and outputs in Control.
"""

from __future__ import annotations

import pytest
import tui_helpers  # beside this file: pytest puts tests/ on sys.path

from neurotui.tui.testing import sync

_isolated, store = tui_helpers._isolated, tui_helpers.store
_app, _text, _wait = tui_helpers._app, tui_helpers._text, tui_helpers._wait


@sync
async def test_manipulate_steers_at_the_property_words(store) -> None:  # type: ignore[no-untyped-def]
    from neurotui.intervene.spec import Positions
    from neurotui.intervene.workflows import (
        manipulation_step,
        property_positions_of,
        steering_intervention,
        steering_profile,
        synthetic_splits,
    )
    from neurotui.tui.screens.manipulate import ManipulateScreen

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, ManipulateScreen)
        await pilot.press("g")  # no neuron selected: the steering vector needs none
        assert screen.steer and screen.steer_pair() == ("tense", "present")
        assert screen.positions_kind == "property"
        await _wait(pilot, lambda: screen.outcome is not None and screen.pending is None)
        assert screen.outcome.request == ("steer", 4.0, "tense→present", "property")
        controls = _text(screen, "#manip-controls")
        assert "steering vector: tense → present" in controls and "α +4" in controls

        # what the workflow functions give on the same sentence ("her uncle will fall …"),
        # on the runner's model (idle now: one load for the test)
        backend = screen.runner.backend
        source = " ".join(store.tokens(0))
        profile = steering_profile(backend, store, "tense", "present", splits=synthetic_splits())
        where = Positions.at(property_positions_of(store, 0, "tense"))
        for alpha in (4.0, 8.0):
            if alpha == 8.0:
                await pilot.press(*["plus"] * 4)
                await _wait(
                    pilot,
                    lambda: screen.pending is None and screen.outcome.request[:2] == ("steer", 8.0),
                )
                assert "α +8" in _text(screen, "#manip-controls")
            step = manipulation_step(
                backend, [steering_intervention(profile, alpha, where)], [source], store=store
            )
            want = step.comparisons[0]
            shown = screen.outcome.comparison
            assert shown.modified.text == want.modified.text
            assert shown.original.text == want.original.text
            assert shown.modified.text != shown.original.text  # the steering changes it
            assert want.modified.text in _text(screen, "#manip-modified")
        assert screen.runner.backend.active_hook_count() == 0
        # g again: back to the selected neurons (none here: nothing is run)
        await pilot.press("g")
        assert not screen.steer and screen.positions_kind == "all"


@sync
async def test_control_steering_and_compare(store) -> None:  # type: ignore[no-untyped-def]
    from neurotui.intervene.apply import DecodeSettings
    from neurotui.intervene.workflows import control_run, synthetic_splits
    from neurotui.tui.screens.control import ControlScreen

    app = _app(store)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, ControlScreen)
        await pilot.press("u", "u")  # mean → sigma → steer
        assert screen.clamp_mode == "steer" and screen.strength == 8.0
        await pilot.press("minus", "plus", "plus")
        assert screen.strength == 9.0 and "steer α 9" in _text(screen, "#ctl-controls")
        await pilot.press("minus")
        screen.count = 10
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.outcome is not None and screen.pending is None)
        result = screen.outcome.result
        assert result.best.setting.describe() == "n=512 steer 8 @property"

        # the CLI's workflow function on the same cases and setting (the runner's model)
        backend = screen.runner.backend
        direct = control_run(
            backend,
            store,
            "tense",
            "present",
            settings=DecodeSettings(beam=1, batch_size=128),
            examples=None,
            log=False,
            real=None,
            ns=[100],
            strengths=[8.0],
            mode="steer",
            scopes=["property"],
            limit=10,
            splits=synthetic_splits(),
        ).result
        assert (result.test.flipped, result.test.total) == (direct.test.flipped, 10)
        assert [e["modified"] for e in result.examples] == [e["modified"] for e in direct.examples]
        assert result.test.flipped > result.test_baseline.flipped
        assert "steering vector at enc.l0.fw" in _text(screen, "#ctl-summary")

        # m: none / clamp / steer on the same cases, as control --compare
        await pilot.press("m", "enter")
        await _wait(
            pilot,
            lambda: (
                screen.pending is None
                and screen.outcome is not None
                and screen.outcome.comparison is not None
            ),
        )
        (row,) = screen.outcome.comparison
        assert set(row) >= {"none", "clamp", "steer"} and row["cases"] == 10
        assert row["clamp"]["mode"] == "mean" and row["steer"]["mode"] == "steer"
        assert row["steer"]["flip_rate"] == pytest.approx(direct.test.flip_rate)
        summary = _text(screen, "#ctl-summary")
        assert "compare (same test cases)" in summary
        assert f"steer {100 * direct.test.flip_rate:.1f}%" in summary
        assert screen.runner.backend.active_hook_count() == 0
