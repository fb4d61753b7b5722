"""Command palette providers (ctrl+p): context commands named "area: action …".

Why providers per area: the palette is the keyboard user's menu. Each provider yields the
commands that make sense now (neurons of the open store, rankings that can be computed,
themes, open models, modes), fuzzy-matched on the typed text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual import on
from textual.await_complete import AwaitComplete
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.widgets import Button, Input

from neurotui.tui.host import AppHost, host

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.tui.screens.analysis import AnalysisScreen

#: neurons offered by the palette at most (the fuzzy matcher is per candidate)
MAX_NEURON_CANDIDATES = 400


class _Base(Provider):
    @property
    def napp(self) -> AppHost:
        return host(self.app)

    def analysis(self) -> AnalysisScreen | None:
        from neurotui.tui.screens.analysis import AnalysisScreen

        screen = self.screen
        return screen if isinstance(screen, AnalysisScreen) else None

    def commands(self, query: str) -> Iterator[tuple[str, Callable[[], object], str]]:
        """(title, callback, help) of every command this provider offers now."""
        return iter(())

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, callback, help_text in self.commands(query):
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)

    async def discover(self) -> Hits:
        for title, callback, help_text in self.commands(""):
            yield DiscoveryHit(title, callback, help=help_text)


class NeuronCommands(_Base):
    """neuron: jump to … / pin / note."""

    def commands(self, query: str) -> Iterator[tuple[str, Callable[[], object], str]]:
        screen = self.analysis()
        opened = self.napp.session.active
        if screen is None or opened is None:
            return
        if opened.view.cursor is not None:
            name = opened.store.neuron_name(opened.view.cursor)
            yield (
                f"neuron: pin/unpin {name}",
                partial(screen.toggle_pin, opened.view.cursor),
                "add to or remove from the selection",
            )
            yield (
                f"neuron: name or note {name}",
                screen.action_edit_note,
                "saved beside the store",
            )
        yield ("neuron: jump to…", screen.action_jump, "by id, name or your own name")
        if not query:
            return
        for neuron, note in opened.notes.items():
            if note.name:
                title = f"neuron: jump to {note.name} ({opened.store.neuron_name(neuron)})"
                yield (title, partial(screen.goto_neuron, None, neuron), note.note)
        needle = query.split()[-1].lower().removeprefix("neuron:")
        if not needle or needle in ("jump", "to", "neuron"):
            return
        found = 0
        store = opened.store
        for n in range(store.neuron_count):
            name = store.neuron_name(n)
            if needle in name.lower() or needle == str(n):
                yield (f"neuron: jump to {name} (#{n})", partial(screen.goto_neuron, None, n), "")
                found += 1
                if found >= MAX_NEURON_CANDIDATES:
                    return


class RankingCommands(_Base):
    """ranking: compute … / show …"""

    def commands(self, query: str) -> Iterator[tuple[str, Callable[[], object], str]]:
        screen = self.analysis()
        opened = self.napp.session.active
        if screen is None or opened is None:
            return
        done = opened.rankings or {}
        for key in done:
            yield (f"ranking: show {key}", partial(screen.show_ranking, key), "in the neuron list")
        yield ("ranking: show all neurons (by id)", partial(screen.show_ranking, None), "")
        for spec in self.napp.specs.get(opened.name, []):
            verb = "recompute" if spec.key in done else "compute"
            yield (
                f"ranking: {verb} {spec.title}",
                partial(screen.compute_ranking, spec.key),
                "in the background; saved into the store",
            )


class ThemeCommands(_Base):
    """theme: … / scale: … / view: …"""

    def commands(self, query: str) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.napp
        for name in app.theme_set.themes:
            yield (f"theme: {name}", partial(app.set_theme, name), "switch now")
        for name, scale in app.theme_set.scales.items():
            safe = " (colour-blind safe)" if scale.colourblind_safe else ""
            yield (f"scale: {name}{safe}", partial(app.set_scale, name), scale.description)
        yield (
            "view: monochrome cues on/off",
            app.action_toggle_mono,
            "like NO_COLOR: bold/underline/glyphs",
        )
        screen = self.analysis()
        if screen is not None:
            yield ("view: per-neuron / global scaling", screen.action_toggle_scaling, "")
            yield (
                "view: label tags under tokens",
                screen.action_cycle_labels,
                "cycles the label tasks",
            )
            yield ("view: search sentences for a word…", screen.start_search, "")


class ModelCommands(_Base):
    """model: switch to … / mode: …"""

    def commands(self, query: str) -> Iterator[tuple[str, Callable[[], object], str]]:
        app = self.napp
        screen = self.analysis()
        active = app.session.active
        if screen is not None:
            for opened in app.session.stores:
                if opened is not active:
                    yield (
                        f"model: switch to {opened.name}",
                        partial(screen.goto_neuron, opened.name, opened.view.cursor or 0),
                        str(opened.store.path),
                    )
        from neurotui.tui.modes import MODES

        for spec in MODES:
            yield (f"mode: {spec.title}", partial(app.switch_mode, spec.name), spec.description)


PROVIDERS = (NeuronCommands, RankingCommands, ThemeCommands, ModelCommands)


class Palette(CommandPalette):
    """Textual's command palette, safe against two keys that ended the app (Textual 8.2.8).

    Why, 1: the palette's list receives its first commands before it has a size; it then
    knows no line of any command, and ``OptionList._move_page`` looks the highlighted
    command's line up in that empty map — ``KeyError: 0``. A user who opens the palette
    and pages down at once (the monkey test did) hit it. A page step with nothing laid out
    has nothing to move to, so it is dropped.

    Why, 2: a second Enter queued behind the one that chose a command reaches the palette
    after it dismissed itself; it dismissed itself again, popping the screen under it —
    ``ScreenStackError`` (or a ``RuntimeError`` after a mode switch). Once the palette has
    chosen, further Enters are its own leftovers and are dropped.
    """

    _done = False

    def dismiss(self, result: None = None) -> AwaitComplete:
        self._done = True
        return super().dismiss(result)

    @on(Input.Submitted)
    @on(Button.Pressed)
    def _select_or_command(self, event: Input.Submitted | Button.Pressed | None = None) -> None:
        if event is not None:
            event.prevent_default()  # Textual's own handler: called here, or not at all
        if self._done or not self.is_current:
            if event is not None:
                event.stop()
            return
        super()._select_or_command(event)

    def _action_command_list(self, action: str) -> None:
        if action in ("page_up", "page_down"):
            commands = self.query_one(CommandList)
            lines = getattr(commands, "_index_to_line", None)
            if isinstance(lines, dict) and (commands.highlighted or 0) not in lines:
                return
        super()._action_command_list(action)
