"""Snapshot tests of the analysis screen: dark and light themes, 80×24 and 160×50.

Seeded in-memory stores keep the pictures deterministic. Update after an intended change
with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neurotui.tui.app import NeurotuiApp
from neurotui.tui.testing import make_partner_stores, settle


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


def test_help_screen(snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_help(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    app = NeurotuiApp(stores=make_partner_stores())
    assert snap_compare(app, terminal_size=(100, 30), run_before=open_help)


def test_monochrome(snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = NeurotuiApp(stores=make_partner_stores(), mono=True)
    assert snap_compare(app, terminal_size=(120, 30), run_before=_explore)
