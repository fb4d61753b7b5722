"""The app's modes (screens side by side, like the NeuroX demo's tabs).

Why a registry: the analysis mode ships first; ablation and manipulation modes are added by
later features without editing the app — append a :class:`ModeSpec` to :data:`MODES` (or
call :func:`register_mode`) and the mode bar, the digit key and the command palette pick it
up. A mode's screen reads the shared state from ``app.session`` (open stores, per-store
cursor/pinned neurons, chosen ranking) and may listen for ``SelectionChanged`` on the app.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from textual.screen import Screen


@dataclass(frozen=True)
class ModeSpec:
    """A mode: its id, title in the mode bar, key, and screen (``module:Class``)."""

    name: str
    title: str
    key: str
    screen: str
    description: str = ""

    def factory(self) -> Callable[[], Screen]:
        """A callable that builds the mode's screen (imported on first use)."""

        def build() -> Screen:
            module, _, cls = self.screen.partition(":")
            return getattr(importlib.import_module(module), cls)()

        return build


MODES: list[ModeSpec] = [
    ModeSpec(
        "analysis",
        "Analysis",
        "1",
        "neurotui.tui.screens.analysis:AnalysisScreen",
        "rankings, neurons, their cards and coloured sentences",
    ),
    ModeSpec("manipulate", "Manipulate", "2", "neurotui.tui.screens.manipulate:ManipulateScreen"),
    ModeSpec("ablation", "Ablation", "3", "neurotui.tui.screens.ablation:AblationScreen"),
    ModeSpec("control", "Control", "4", "neurotui.tui.screens.control:ControlScreen"),
    ModeSpec(
        "patch",
        "Patch",
        "5",
        "neurotui.tui.screens.patch:PatchScreen",
        "activation patching: the causal-tracing map of a clean/corrupted pair",
    ),
]


def register_mode(spec: ModeSpec) -> None:
    """Add (or replace, by name) a mode."""
    for i, existing in enumerate(MODES):
        if existing.name == spec.name:
            MODES[i] = spec
            return
    MODES.append(spec)
