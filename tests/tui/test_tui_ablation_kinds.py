"""Ablation mode: ``k`` cycles zero / mean / resample and the kind reaches the curve.

Runs the real sample model (synth-en-fr-1) on its sample store, headless with Pilot; the
curve the mode shows must be what the CLI's functions (``plan_ablation`` with the kind,
then ``run_ablation``) give on the same sentences.
"""

from __future__ import annotations

import tui_helpers  # beside this file: pytest puts tests/ on sys.path

from neurotui.tui.testing import sync

_isolated, store = tui_helpers._isolated, tui_helpers.store
_app, _text, _wait = tui_helpers._app, tui_helpers._text, tui_helpers._wait


@sync
async def test_mean_ablation_kind_reaches_the_curve(store) -> None:  # type: ignore[no-untyped-def]
    from neurotui.intervene.ablation import plan_ablation, run_ablation
    from neurotui.intervene.workflows import heldout
    from neurotui.tui.screens.ablation import AblationScreen

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, AblationScreen)
        assert screen.kind == "zero" and "ablation: zero" in _text(screen, "#abl-controls")
        await pilot.press("k")
        assert screen.kind == "mean" and "ablation: mean" in _text(screen, "#abl-controls")
        screen.count, screen.steps, screen.directions = 4, (50,), ("top", "bottom")
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.curve is not None and screen.pending is None)
        curve = screen.curve
        assert curve.kind == "mean" and curve.plan is not None
        assert curve.plan.reference is not None  # the neurons' means, read from the store
        assert screen.plot_title == "BLEU vs neurons mean-ablated (4 sentences)"

        # the same curve from the CLI's functions
        ranking, name = screen.ranking()
        backend = screen.runner.backend
        plan = plan_ablation(
            ranking,
            [50],
            store=store,
            directions=("top", "bottom"),
            ranking_name=name,
            kind="mean",
        )
        sources, references, _ = heldout(backend)
        direct = run_ablation(backend, plan, sources[:4], (references or [])[:4])
        assert [(p.direction, p.n, p.bleu) for p in curve.points] == [
            (p.direction, p.n, p.bleu) for p in direct.points
        ]
        # mean-ablation is not zeroing: the zero curve of the same neurons differs
        zero = run_ablation(
            backend,
            plan_ablation(ranking, [50], store=store, directions=("top", "bottom")),
            sources[:4],
            (references or [])[:4],
            keep_outputs=True,
        )
        assert [p.outputs for p in zero.points] != [p.outputs for p in curve.points]
        await pilot.press("k", "k")
        assert screen.kind == "zero"
