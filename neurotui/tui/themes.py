"""Load Textual themes and activation scales from data files.

Why data files: users add a theme by dropping a TOML (or JSON) file into
``<config_dir>/themes`` — no Python. Bundled files live in the repository's ``themes/``;
a user file with the same name overrides the bundled one. Scales live in ``scales/``
beside them. A bad user file is skipped with a one-line warning, never a crash.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from textual.theme import Theme

from neurotui.errors import NeurotuiError
from neurotui.paths import config_dir, themes_dir
from neurotui.tui.colour import DEFAULT_SCALE, ActivationScale

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - Python 3.10 has no TOML reader
    _toml = None

DEFAULT_DARK = "neurotui-dark"
DEFAULT_LIGHT = "neurotui-light"
_THEME_FIELDS = {f.name for f in fields(Theme)}


@dataclass
class ThemeSet:
    """Every theme and scale found, plus warnings about files that could not be read."""

    themes: dict[str, Theme] = field(default_factory=dict)
    theme_scales: dict[str, str] = field(default_factory=dict)  # theme name → scale name
    scales: dict[str, ActivationScale] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def scale_for(self, theme: str) -> ActivationScale:
        """The activation scale a theme asks for (the default scale otherwise)."""
        return self.scales.get(self.theme_scales.get(theme, ""), DEFAULT_SCALE)


def _read(path: Path) -> dict[str, Any]:
    """Parse one TOML/JSON file into a dict (a one-line error naming the file)."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            if _toml is None:  # pragma: no cover
                raise NeurotuiError(f"{path}: TOML themes need Python ≥ 3.11; use JSON")
            data = _toml.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NeurotuiError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise NeurotuiError(f"{path}: expected a table/object at the top level")
    return data


def theme_from_data(data: dict[str, Any], path: Path) -> tuple[Theme, str | None]:
    """Build a Textual Theme from a file's data; returns it and its scale name."""
    body = data.get("theme", data)
    if not isinstance(body, dict) or "name" not in body or "primary" not in body:
        raise NeurotuiError(f"{path}: a theme needs [theme] name and primary")
    unknown = set(body) - _THEME_FIELDS
    if unknown:
        raise NeurotuiError(f"{path}: unknown theme field(s) {', '.join(sorted(unknown))}")
    try:
        theme = Theme(**body)
        theme.to_color_system()  # validates the colours now, not when switching
    except Exception as exc:  # Textual raises ColorParseError / TypeError
        raise NeurotuiError(f"{path}: {exc}") from None
    scale = data.get("activation_scale")
    return theme, str(scale) if scale else None


def scale_from_data(data: dict[str, Any], path: Path) -> ActivationScale:
    """Build an activation scale from a file's data."""
    try:
        neg = tuple(str(c) for c in data["negative"])
        pos = tuple(str(c) for c in data["positive"])
        scale = ActivationScale(
            name=str(data.get("name") or path.stem),
            negative=neg,
            positive=pos,
            description=str(data.get("description", "")),
            colourblind_safe=bool(data.get("colourblind_safe", False)),
        )
    except (KeyError, TypeError) as exc:
        raise NeurotuiError(
            f"{path}: a scale needs 'negative' and 'positive' lists ({exc})"
        ) from None
    if not neg or not pos:
        raise NeurotuiError(f"{path}: 'negative' and 'positive' need at least one colour")
    from neurotui.tui.colour import ColourMap

    try:
        ColourMap(scale)  # validates colours
    except Exception as exc:
        raise NeurotuiError(f"{path}: {exc}") from None
    return scale


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".toml", ".json") and p.is_file())


def load_themes(user_dir: Path | None = None, bundled_dir: Path | None = None) -> ThemeSet:
    """Read bundled then user themes and scales (user files win on equal names)."""
    result = ThemeSet(scales={DEFAULT_SCALE.name: DEFAULT_SCALE})
    folders = [bundled_dir or themes_dir(), user_dir or (config_dir() / "themes")]
    for folder in folders:
        for path in _files(folder / "scales"):
            try:
                scale = scale_from_data(_read(path), path)
            except NeurotuiError as exc:
                result.warnings.append(str(exc))
                continue
            result.scales[scale.name] = scale
        for path in _files(folder):
            try:
                theme, scale_name = theme_from_data(_read(path), path)
            except NeurotuiError as exc:
                result.warnings.append(str(exc))
                continue
            result.themes[theme.name] = theme
            if scale_name:
                result.theme_scales[theme.name] = scale_name
    for name, scale_name in result.theme_scales.items():
        if scale_name not in result.scales:
            result.warnings.append(f"theme {name}: unknown activation scale {scale_name!r}")
    return result
