"""Snapshot tests of the analysis screen: dark and light themes, 80×24 and 160×50.

Seeded in-memory stores keep the pictures deterministic. Update after an intended change
with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neurotui.tui.app import NeurotuiApp
from neurotui.tui.testing import make_partner_stores, settle, sync


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NO_COLOR", raising=False)


async def _explore(pilot) -> None:  # type: ignore[no-untyped-def]
    """Probe ranking shown, one neuron pinned, cursor on the next one, card loaded."""
    await settle(pilot)
    pilot.app.screen.show_ranking("probe/pos", keep=False)
    await settle(pilot)
    await pilot.press("space", "j")
    await settle(pilot)


@pytest.mark.parametrize("theme", ["neurotui-dark", "neurotui-light"])
@pytest.mark.parametrize("size", [(160, 50), (80, 24)], ids=["160x50", "80x24"])
def test_analysis_screen(snap_compare, theme: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = NeurotuiApp(stores=make_partner_stores(), theme=theme)
    assert snap_compare(app, terminal_size=size, run_before=_explore)


@sync
async def test_help_screen_shows_pane_help_and_keymap() -> None:
    """``?`` opens the help of the focused pane plus the current key bindings; ``?`` closes.

    (A Pilot check rather than a snapshot: the backdrop behind the modal fills in on
    timers, which made a picture of it depend on test order.)
    """
    from textual.widgets import Static

    from neurotui.tui.screens.help import HelpScreen

    app = NeurotuiApp(stores=make_partner_stores())
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one(Static).render())
        assert "Key bindings (current keymap)" in text
        plain = [
            line
            for line in app.screen.pane_help.splitlines()
            if line.strip() and not line.startswith(("#", "-")) and "*" not in line
        ]
        assert plain and plain[0].strip() in text  # the focused pane's own help
        assert any(key and description for key, description in app.screen.bindings_table)
        await pilot.press("question_mark")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


def test_monochrome(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = NeurotuiApp(stores=make_partner_stores(), mono=True)
    assert snap_compare(app, terminal_size=(120, 30), run_before=_explore)


# -- control mode -------------------------------------------------------------------------
def test_control_mode(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Control mode after tense → present on 10 sentences of the sample model: header with
    device/runner, choices, flip rate next to the seeds' figures, a flipped example."""
    import time

    from tui_helpers import pristine_sample

    import neurotui.store as ns

    store = ns.open(pristine_sample(tmp_path))

    async def run_control(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("4")
        screen = pilot.app.screen
        screen.count = 10
        await pilot.press("enter")
        end = time.monotonic() + 90
        while screen.outcome is None or screen.pending is not None:
            assert time.monotonic() < end, "the control run did not finish"
            await pilot.pause(0.05)
        await pilot.press("down")
        await pilot.pause()

    app = NeurotuiApp(stores=[store], open_default=False, device="cpu")
    try:
        assert snap_compare(app, terminal_size=(120, 24), run_before=run_control)
    finally:
        store.close()
