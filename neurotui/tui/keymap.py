"""The user's keymap: rebind any key by its binding id in ``<config_dir>/keymap.toml``.

Why binding ids: every binding in the app has a stable id (``neurons.pin``,
``analysis.jump``…); Textual's keymap replaces the keys of a binding by id, so users rebind
without touching code, and help/footer show their keys. Example::

    [keys]
    "neurons.pin" = "space,p"
    "analysis.jump" = "colon,ctrl+g"
    "mode.manipulate" = "f2"

Modes' digit keys have the ids ``mode.<name>`` (``mode.analysis``, ``mode.manipulate``…).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterable
from pathlib import Path

from textual.binding import Binding

from neurotui.errors import NeurotuiError
from neurotui.paths import config_dir

try:  # Python ≥ 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover
    _toml = None  # type: ignore[assignment]


def keymap_path() -> Path:
    """Where the user's keymap lives."""
    return config_dir() / "keymap.toml"


def binding_ids(classes: Iterable[type]) -> dict[str, str]:
    """Every binding id defined by ``classes`` → its default keys."""
    ids: dict[str, str] = {}
    for cls in classes:
        for binding in getattr(cls, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.setdefault(binding.id, binding.key)
    return ids


def mode_binding_id(name: str) -> str:
    """The binding id of a mode's key (``mode.analysis``): rebindable like any other."""
    return f"mode.{name}"


def mode_screen_classes() -> list[type]:
    """The screen classes of the registered modes (and the modal screens they open).

    Imported here, only when a keymap is read, so that their binding ids are known and a
    keymap entry for them is not reported as unknown.
    """
    from neurotui.tui.modes import MODES

    classes: list[type] = []
    targets = [spec.screen for spec in MODES]
    targets.append("neurotui.tui.screens.intervention_picker:InterventionPicker")
    for target in targets:
        module, _, name = target.partition(":")
        with contextlib.suppress(Exception):  # a broken mode must not break the keymap
            classes.append(getattr(importlib.import_module(module), name))
    return classes


def load_keymap(
    path: Path | None = None, known: Iterable[str] = ()
) -> tuple[dict[str, str], list[str]]:
    """Read the keymap file; returns (binding id → keys, warnings). Missing file: empty."""
    path = path or keymap_path()
    if not path.exists():
        return {}, []
    if _toml is None:  # pragma: no cover
        return {}, [f"{path}: keymaps need Python ≥ 3.11"]
    try:
        data = _toml.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NeurotuiError(f"{path}: {exc}") from None
    keys = data.get("keys", data)
    if not isinstance(keys, dict):
        raise NeurotuiError(f'{path}: expected a [keys] table of binding-id = "keys"')
    known_set = set(known)
    keymap: dict[str, str] = {}
    warnings: list[str] = []
    for binding_id, value in keys.items():
        if not isinstance(value, str) or not value.strip():
            warnings.append(f"{path}: {binding_id}: keys must be a non-empty string")
            continue
        if known_set and binding_id not in known_set:
            warnings.append(f"{path}: unknown binding id {binding_id!r}")
            continue
        keymap[binding_id] = value.replace(" ", "")
    return keymap, warnings
