"""Themes, activation scales, keymaps and neuron notes: the app's user-facing files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.segment import Segment
from rich.text import Text

from neurotui.tui.colour import LEVELS, ColourMap, level_of
from neurotui.tui.keymap import load_keymap
from neurotui.tui.notes import NeuronNotes, notes_path_for
from neurotui.tui.text import display_token, fit, literal
from neurotui.tui.themes import load_themes


def test_bundled_themes_and_colourblind_scale() -> None:
    themes = load_themes(user_dir=Path("/nonexistent"))
    assert not themes.warnings
    assert {"neurotui-dark", "neurotui-light"} <= set(themes.themes)
    assert themes.themes["neurotui-dark"].dark and not themes.themes["neurotui-light"].dark
    safe = [s for s in themes.scales.values() if s.colourblind_safe]
    assert safe, "a colour-blind-safe activation scale must ship"
    assert themes.scale_for("neurotui-dark").colourblind_safe


def test_user_theme_overrides_and_bad_files_warn(tmp_path: Path) -> None:
    user = tmp_path / "themes"
    (user / "scales").mkdir(parents=True)
    (user / "mine.toml").write_text(
        'activation_scale = "grey"\n[theme]\nname = "mine"\nprimary = "#112233"\ndark = true\n'
    )
    (user / "scales" / "grey.json").write_text(
        json.dumps({"name": "grey", "negative": ["#444444"], "positive": ["#BBBBBB"]})
    )
    (user / "broken.toml").write_text("[theme\nname=")
    (user / "badcolour.toml").write_text('[theme]\nname = "bad"\nprimary = "not-a-colour"\n')
    themes = load_themes(user_dir=user)
    assert "mine" in themes.themes
    assert themes.scale_for("mine").name == "grey"
    assert len(themes.warnings) == 2
    assert any("broken.toml" in w for w in themes.warnings)
    assert any("badcolour.toml" in w for w in themes.warnings)


def test_colour_map_levels_sign_and_monochrome() -> None:
    assert level_of(0.0, 1.0) == 0
    assert level_of(5.0, 1.0) == LEVELS and level_of(-5.0, 1.0) == -LEVELS
    assert level_of(float("nan"), 1.0) == 0 and level_of(1.0, 0.0) == 0
    cmap = ColourMap(background="#000000")
    pos, neg = cmap.style(LEVELS), cmap.style(-LEVELS)
    assert pos.bgcolor != neg.bgcolor
    assert cmap.swatch(0) == "#000000"
    mono = ColourMap(mono=True)
    assert mono.style(LEVELS).bold and mono.style(LEVELS).reverse
    assert mono.style(-LEVELS).underline and not mono.style(-LEVELS).bold
    assert mono.marker(LEVELS) == "▲" and mono.marker(-LEVELS) == "▼" and mono.marker(1) == " "


def test_keymap_file(tmp_path: Path) -> None:
    path = tmp_path / "keymap.toml"
    path.write_text('[keys]\n"neurons.pin" = "p, space"\n"nope.nothing" = "x"\n')
    keymap, warnings = load_keymap(path, known=["neurons.pin", "analysis.jump"])
    assert keymap == {"neurons.pin": "p,space"}
    assert warnings and "nope.nothing" in warnings[0]
    assert load_keymap(tmp_path / "absent.toml") == ({}, [])


def test_notes_saved_atomically_beside_store(tmp_path: Path) -> None:
    store = tmp_path / "model.h5"
    store.write_bytes(b"")
    path = notes_path_for(store)
    assert path == tmp_path / "model.h5.notes.json"
    notes = NeuronNotes(path)
    notes.set(217, "past tense", "fires on -ed verbs")
    again = NeuronNotes(path)
    assert again.get(217).name == "past tense" and again.find("PAST TENSE") == [217]
    assert not list(tmp_path.glob("*.tmp"))
    notes.set(217, "", "")
    assert NeuronNotes(path).get(217).name == ""
    assert notes_path_for(Path("<memory>")) is None


def test_tokens_are_data_never_markup() -> None:
    text = literal("[b]", ("[SEP]", "bold"), "</s>")
    assert text.plain == "[b][SEP]</s>"
    assert not Text.from_markup("[b]x[/b]").plain.startswith("[")  # markup would eat it
    assert display_token("a\tb") == "a␉b" and display_token("") == "∅"
    assert fit("[SEP]", 3) == "[S…" and fit("ab", 4) == "ab  "
    assert Segment("[b]").text == "[b]"


def test_app_command_parses_options() -> None:
    from neurotui.cli import _split_app_invocation, build_parser

    argv = _split_app_invocation(["a.h5", "b.h5", "--theme", "neurotui-light", "--no-mouse"])
    args = build_parser().parse_args(argv)
    assert args.command == "app" and args.paths == ["a.h5", "b.h5"]
    assert args.theme == "neurotui-light" and args.no_mouse and args.device == "auto"


def test_app_missing_path_is_one_line_error(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "neurotui", str(tmp_path / "missing.h5")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.strip().startswith("neurotui: error:") and "missing.h5" in out.stderr
    assert out.stderr.count("\n") == 1


@pytest.mark.parametrize("name", ["neurotui-dark", "neurotui-light", "neurotui-classic"])
def test_theme_files_parse(name: str) -> None:
    themes = load_themes(user_dir=Path("/nonexistent"))
    assert themes.themes[name].to_color_system() is not None


def test_mode_keys_go_through_the_keymap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``mode.<name>`` ids rebind the modes' digits; mode screens' ids are known ids."""
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.testing import make_partner_stores, settle, sync

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "keymap.toml"
    path.write_text(
        '[keys]\n"mode.manipulate" = "f2"\n"mode.analysis" = "f1"\n'
        '"manipulate.save" = "ctrl+s"\n"mode.nothing" = "f9"\n'
        '"patch.export" = "ctrl+e"\n"heatmap.choose" = "space,enter"\n'
    )

    @sync
    async def flow() -> None:
        app = NeurotuiApp(stores=make_partner_stores(), keymap_file=path)
        warnings: list[str] = []
        real_notify = app.notify
        app.notify = lambda msg, **kw: (warnings.append(msg), real_notify(msg, **kw))  # type: ignore[method-assign]
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            assert app.current_mode == "analysis"
            assert warnings == [f"{path}: unknown binding id 'mode.nothing'"]
            await pilot.press("2")  # the old digit no longer switches
            await pilot.pause()
            assert app.current_mode == "analysis"
            await pilot.press("f2")
            await pilot.pause()
            assert app.current_mode == "manipulate"
            await pilot.press("f1")
            await pilot.pause()
            assert app.current_mode == "analysis"
            await pilot.press("3")  # modes not in the keymap keep their digit
            await pilot.pause()
            assert app.current_mode == "ablation"

    flow()
