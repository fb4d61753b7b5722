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
import sys
from collections.abc import Iterable
from pathlib import Path

from textual.binding import Binding

from neurotui.errors import NeurotuiError
from neurotui.paths import config_dir

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - Python 3.10 has no TOML reader
    _toml = None


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
    check_keymap(path, keymap)
    return keymap, warnings


#: the quit binding and its key: a keymap may add keys to it, never take ``q`` away
QUIT_ID, QUIT_KEY = "app.quit", "q"
_MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}


def check_keymap(path: Path, keymap: dict[str, str]) -> None:
    """Refuse, naming the file and key, a keymap the app would apply wrongly in silence.

    Why errors, not warnings: Textual accepts any string as a key, so a typo binds nothing,
    two actions on one key leave one unreachable, and ``q`` bound elsewhere stops the app
    from quitting — each found only by the user pressing keys.
    """
    owner: dict[str, str] = {}
    for binding_id, value in keymap.items():
        for key in value.split(","):
            if not is_key(key):
                raise NeurotuiError(
                    f"{path}: {binding_id}: {key!r} is not a key (examples: p, ctrl+g, f2, "
                    "colon, space)"
                )
            if key in owner and owner[key] != binding_id:
                raise NeurotuiError(
                    f"{path}: key {key!r} is bound to both {owner[key]} and {binding_id}"
                )
            owner[key] = binding_id
            if key == QUIT_KEY and binding_id != QUIT_ID:
                raise NeurotuiError(
                    f"{path}: {binding_id}: key 'q' quits the app and cannot be rebound"
                )
    if QUIT_ID in keymap and QUIT_KEY not in keymap[QUIT_ID].split(","):
        raise NeurotuiError(
            f"{path}: {QUIT_ID}: keep 'q' among its keys (e.g. \"q,ctrl+q\"), so the app "
            "can always be quit"
        )


def is_key(key: str) -> bool:
    """Whether Textual can name ``key``: modifiers + a character, key name or char name."""
    import unicodedata

    from textual.keys import KEY_ALIASES, KEY_TO_UNICODE_NAME, Keys

    *mods, base = key.split("+")
    if not base or any(m not in _MODIFIERS for m in mods):
        return False
    if len(base) == 1:
        return base.isprintable() and not base.isspace()
    names = {k.value.rpartition("+")[2] for k in Keys} | set(KEY_ALIASES) | set(KEY_TO_UNICODE_NAME)
    if base in names or base in ("space", "enter", "tab", "backspace", "escape"):
        return True
    try:
        unicodedata.lookup(base.replace("_", " ").upper())
    except KeyError:
        return False
    return True
