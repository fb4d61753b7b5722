"""Patch mode: the causal-tracing map of a clean/corrupted pair, one cell patched on Enter.

Runs the real sample model (synth-en-fr-1) on its sample store, headless with Pilot. The
map must hold exactly what the CLI's workflow function computes on the same pair, Enter
must show what ``patched_translations`` returns, and the export must write the CLI's files.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import tui_helpers  # beside this file: pytest puts tests/ on sys.path

from neurotui.tui.testing import sync

_isolated, store = tui_helpers._isolated, tui_helpers.store
_app, _text, _wait = tui_helpers._app, tui_helpers._text, tui_helpers._wait

#: the store's second sentence and the same sentence in the present (what "f" derives)
CLEAN = "my lion wanted some cheeses in my house ."
CORRUPT = "my lion wants some cheeses in my house ."


@sync
async def test_patch_mode_map_cell_and_export(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input

    from neurotui.intervene.patching import Patch, patched_translations, tracing_sweep
    from neurotui.tui.screens.patch import PatchScreen, map_grid
    from neurotui.tui.widgets.heatmap import Heatmap

    app = _app(store)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, PatchScreen)
        assert "press r" in "".join(s.text for s in screen.query_one(Heatmap).render_line(0))
        await pilot.press("]")  # clean = the store's second sentence
        assert screen.clean_text() == CLEAN
        await pilot.press("r")  # corrupted: derived (tense flipped)
        await _wait(pilot, lambda: screen.outcome is not None and screen.pending is None)
        assert screen.outcome.corrupt == CORRUPT
        assert "tense flipped" in _text(screen, "#patch-controls")

        # the map holds what the CLI's workflow function computes on the same pair (on the
        # runner's model, idle now: one load for the test)
        backend = screen.runner.backend
        expected = tracing_sweep(backend, CLEAN, CORRUPT)
        heatmap = screen.query_one(Heatmap)
        assert (
            heatmap.rows
            == expected.sites
            == ["enc.l0.fw", "enc.l0.bw", "enc.l1.fw", "enc.l1.bw", "dec.l0", "dec.l1"]
        )
        assert heatmap.columns == [str(i) for i in range(9)] + ["all"]
        want = map_grid(expected)
        for got_row, want_row in zip(heatmap.values, want, strict=True):
            assert got_row == pytest.approx(want_row, abs=1e-5)
        assert heatmap.values[4][:9] == [None] * 9  # decoder sites: whole site only
        # the cells show those numbers
        line = "".join(s.text for s in heatmap.render_line(2))
        assert line.startswith("enc.l0.fw") and f"{want[0][2]:.2f}" in line

        # arrows move the cell cursor; Enter patches enc.l0.fw at word 2 (wanted → wants)
        await pilot.press("right", "right")
        assert heatmap.cursor == (0, 2)
        assert "enc.l0.fw @ word 2:wanted→wants" in _text(screen, "#patch-cell")
        await pilot.press("enter")
        await _wait(pilot, lambda: screen.cell is not None and screen.pending is None)
        direct = patched_translations(backend, expected.scores, [Patch("enc.l0.fw", None, 2)])
        shown = screen.cell.result
        assert (shown.clean, shown.corrupt, shown.patched) == (
            direct.clean,
            direct.corrupt,
            direct.patched,
        )
        assert shown.patched != shown.corrupt  # this patch restores the past tense
        assert shown.restored == pytest.approx(want[0][2], abs=1e-5)
        assert direct.corrupt in _text(screen, "#patch-corrupt")
        assert direct.patched in _text(screen, "#patch-patched")
        assert screen.runner.backend.active_hook_count() == 0

        # export through the CLI's writer: JSON document and CSV map
        out = tmp_path / "map.json"
        await pilot.press("w")
        await pilot.pause()
        app.screen.query_one(Input).value = str(out)
        await pilot.press("enter")
        await pilot.pause()
        document = json.loads(out.read_text(encoding="utf-8"))
        want_doc = expected.to_dict()
        assert document["sites"] == want_doc["sites"]
        assert document["positions"] == want_doc["positions"]
        rows = tmp_path / "map.csv"
        assert screen.exported == [out]
        screen.export_to(str(rows))
        assert screen.exported == [rows]
        assert list(csv.reader(rows.open(encoding="utf-8"))) == expected.csv_rows()

        # a typed corrupted sentence replaces the derived one
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one(Input).value = "my lion wants  some cheeses"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.corrupt == "my lion wants some cheeses"
        assert screen.clean_text() == CLEAN  # the clean choice survives the prompt
        assert "map is of the previous pair" in _text(screen, "#patch-cell")

        # x cancels a running sweep; the shown map stays. (x's action right after the
        # request: a key sent through Pilot can land after so short a sweep has ended.)
        before = screen.outcome
        screen.action_run()
        screen.action_cancel()
        await _wait(pilot, lambda: screen.state == "cancelled")
        assert screen.outcome is before and screen.progress_label == "cancelled"
        assert screen.runner.backend.active_hook_count() == 0

        # labels are drawn as text, never markup
        heatmap.set_data(["[b]site"], ["0"], [[0.5]], ["[red]x"])
        assert "[b]site" in "".join(s.text for s in heatmap.render_line(2))
        assert "[red]x" in "".join(s.text for s in heatmap.render_line(1))


def test_patch_mode_snapshot(snap_compare, store) -> None:  # type: ignore[no-untyped-def]
    """The mode after a sweep with one cell patched: inputs, the coloured map with its
    cursor, the cell's numbers and the three translations side by side."""

    async def sweep_and_patch(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("5", "right_square_bracket", "r")
        screen = pilot.app.screen
        await _wait(pilot, lambda: screen.outcome is not None and screen.pending is None)
        await pilot.press("right", "right", "enter")
        await _wait(pilot, lambda: screen.cell is not None and screen.pending is None)
        screen.progress_label = "done"  # (the sweep's time varies from run to run)
        screen.render_panels()
        await pilot.pause()

    assert snap_compare(_app(store), terminal_size=(120, 32), run_before=sweep_and_patch)
