"""What screens and palette commands may ask of the app, as a type that imports no app.

Why a protocol: the app imports the palette (``tui/commands``) and, through the modes, every
screen; when a screen or command imported ``tui/app`` back, even only under
``TYPE_CHECKING`` for a type, the modules formed an import cycle (app → commands →
screens.analysis → app), so neither side could be read, tested or typed without the other.
Screens now cast ``self.app`` with :func:`host` and see only this face; mypy checks in
``tui/app.py`` that ``NeurotuiApp`` provides all of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.tui.colour import ColourMap
    from neurotui.tui.services.rankings import RankingSpec
    from neurotui.tui.session import Session
    from neurotui.tui.themes import ThemeSet
    from neurotui.tui.workers import JobRunner


class AppHost(Protocol):
    """The app as its screens and commands use it: shared state and a few actions."""

    #: the open stores and the active one
    session: Session
    #: ranking methods offered per store name
    specs: dict[str, list[RankingSpec]]
    #: where screens start background jobs
    jobs: JobRunner
    #: --device as given (``auto``, ``cpu``, ``cuda``…)
    device_name: str
    #: --model, when a model was given
    model_path: Path | None
    #: --cluster: the session's Dask client (or None); corpus-statistics rankings run there
    cluster: Any
    #: themes and activation scales the palette offers
    theme_set: ThemeSet

    def colour_map(self) -> ColourMap:
        """The activation colours of the current theme and scale."""
        ...

    def post_selection_changed(self) -> None:
        """Tell every mode that the active store or its selection changed."""
        ...

    def set_theme(self, name: str) -> None:
        """Switch the theme."""
        ...

    def set_scale(self, name: str) -> None:
        """Switch the activation colour scale."""
        ...

    def action_toggle_mono(self) -> None:
        """Monochrome cues on/off."""
        ...

    def switch_mode(self, mode: str) -> object:
        """Show another mode (Textual's ``App.switch_mode``; callers ignore what it returns)."""
        ...


def host(app: object) -> AppHost:
    """``app`` (a screen's ``self.app``) typed as the host; the app is always a NeurotuiApp."""
    return cast("AppHost", app)
