"""The neurotui app: opens stores in a worker, owns themes, keymap, modes and errors.

Why here: the app is the one place that (1) shows errors — every worker failure arrives as
a ``JobFailed`` message and becomes a notification, the app never exits on a worker error;
(2) holds the shared session (open stores, selection) that every mode reads; (3) turns
themes and the activation scale into one ``ColourMap`` for all views.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from neurotui.errors import NeurotuiError
from neurotui.store.api import Store
from neurotui.tui import acyclic
from neurotui.tui.collector import IdleCollector
from neurotui.tui.colour import ColourMap
from neurotui.tui.commands import PROVIDERS
from neurotui.tui.keymap import binding_ids, load_keymap, mode_binding_id, mode_screen_classes
from neurotui.tui.messages import JobFailed, JobFinished, JobProgress, StoresOpened
from neurotui.tui.modes import MODES, ModeSpec
from neurotui.tui.services import opening
from neurotui.tui.session import OpenStore, Session
from neurotui.tui.themes import DEFAULT_DARK, ThemeSet, load_themes
from neurotui.tui.workers import JobRunner, WorkerContext

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.tui.host import AppHost
    from neurotui.tui.services.rankings import RankingSpec

log = logging.getLogger("neurotui.tui")


def freeze_long_lived() -> None:
    """Take what is alive now (the open stores, their token tables and indexes, the
    widgets) out of the garbage collector's full passes.

    Why: a full (generation 2) collection walks every tracked object; with a large store
    open that took 150–340 ms on the UI thread (measured by bench/bench_tui.py on a busy
    box), a visible stall of whatever key it landed on. These objects live as long as the
    session anyway; one collection first keeps today's garbage from being frozen with them.
    The app unfreezes them when it ends.
    """
    import gc

    gc.collect()
    gc.freeze()


class SelectionChanged(Message):
    """The active store or its cursor/pinned neurons changed (modes listen on the app)."""


class NeurotuiApp(App[None]):
    """Explore the neurons of NLP models."""

    TITLE = "neurotui"
    CSS_PATH = "styles/app.tcss"
    COMMANDS = App.COMMANDS | set(PROVIDERS)
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("T", "next_theme", "Theme", show=False, id="app.next_theme"),
        Binding("m", "toggle_mono", "Mono", show=False, id="app.mono"),
    ]

    def __init__(
        self,
        paths: Sequence[str | Path] = (),
        *,
        stores: Sequence[Store] = (),
        model: str | Path | None = None,
        theme: str | None = None,
        device: str = "auto",
        model_dtype: str = "auto",
        cluster: Any = None,
        mono: bool | None = None,
        open_default: bool = True,
        themes_user_dir: Path | None = None,
        keymap_file: Path | None = None,
    ) -> None:
        super().__init__()
        acyclic.install()  # rendered lines freed by refcount, not by GC pauses
        self.paths = [Path(p) for p in paths]
        self.model_path = Path(model) if model else None
        self.device_name = device
        #: the compute type the translation modes load a Hugging Face model in (--dtype)
        self.model_dtype = model_dtype
        #: the session's Dask client (``--cluster``, connected by the command before the app
        #: starts): corpus-statistics rankings run as Dask reductions there
        self.cluster = cluster
        self.jobs = JobRunner()
        #: full garbage collections wait for an idle moment (see tui/collector.py)
        self.collector = IdleCollector()
        self.session = Session()
        self.specs: dict[str, list[RankingSpec]] = {}
        self._open_default = open_default and not self.paths and not stores and model is None
        self._startup_warnings: list[str] = []
        for store in stores:
            opened = OpenStore.wrap(store)
            self.session.add(opened)
            if opened.notes.warning:
                self._startup_warnings.append(opened.notes.warning)
        self.theme_set: ThemeSet = load_themes(themes_user_dir)
        self._startup_warnings += self.theme_set.warnings
        for t in self.theme_set.themes.values():
            self.register_theme(t)
        self.scale_override: str | None = None
        self.mono = self.no_color if mono is None else mono
        wanted = theme or DEFAULT_DARK
        if wanted not in self.available_themes:
            self._startup_warnings.append(
                f"--theme {wanted}: unknown theme; themes: {', '.join(sorted(self.theme_set.themes))}"
            )
            wanted = DEFAULT_DARK if DEFAULT_DARK in self.available_themes else "textual-dark"
        self.theme = wanted
        self._keymap_file = keymap_file
        for spec in MODES:
            self.add_mode(spec.name, spec.factory())
            self._bind_mode_key(spec)

    def _bind_mode_key(self, spec: ModeSpec) -> None:
        """Bind a mode's digit with the id ``mode.<name>``, so a keymap can rebind it."""
        for key in (k.strip() for k in spec.key.split(",")):
            binding = Binding(
                key,
                f"switch_mode('{spec.name}')",
                spec.title,
                show=False,
                id=mode_binding_id(spec.name),
            )
            self._bindings.key_to_bindings.setdefault(key, []).append(binding)

    async def on_event(self, event: events.Event) -> None:
        """Input marks the app busy for the idle collector, then Textual handles it."""
        if isinstance(event, events.InputEvent):
            self.collector.touch()
        await super().on_event(event)

    # -- startup -------------------------------------------------------------------------
    def on_mount(self) -> None:
        """Keymap, first mode, then open what was asked (in a worker)."""
        self._apply_keymap()
        self.collector.start()
        self.set_interval(0.25, self.collector.tick, name="idle-gc")
        self.theme_changed_signal.subscribe(self, lambda _theme: self._colours_changed())
        self.switch_mode(MODES[0].name)
        for warning in self._startup_warnings:
            self.notify(warning, severity="warning", timeout=8)
        if self.paths or self.model_path is not None:
            targets = list(self.paths)
            if not targets and self.model_path is not None:
                targets = [self.model_path]
            self.open_paths(targets)
        elif self._open_default:
            self.open_default()

    def _apply_keymap(self) -> None:
        from neurotui.tui.screens.analysis import AnalysisScreen
        from neurotui.tui.widgets.heatmap import Heatmap
        from neurotui.tui.widgets.neuron_card import NeuronCard
        from neurotui.tui.widgets.neuron_list import NeuronList
        from neurotui.tui.widgets.ranking_tree import RankingTree
        from neurotui.tui.widgets.sentence_view import SentenceView

        def known() -> Iterator[str]:
            # Lazy: only read when a keymap file exists (it imports every mode's screen).
            yield from binding_ids(
                [
                    type(self),
                    AnalysisScreen,
                    NeuronList,
                    SentenceView,
                    RankingTree,
                    NeuronCard,
                    Heatmap,
                ]
            )
            yield from (mode_binding_id(spec.name) for spec in MODES)
            yield from binding_ids(mode_screen_classes())

        try:
            keymap, warnings = load_keymap(self._keymap_file, known())
        except NeurotuiError as exc:
            self.notify(str(exc), severity="error", title="Keymap")
            return
        for warning in warnings:
            self.notify(warning, severity="warning", title="Keymap")
        if keymap:
            self.set_keymap(keymap)

    def open_default(self) -> None:
        """Open the bundled sample store(s) in a worker."""

        def work(ctx: WorkerContext) -> None:
            # Each sample is shown as soon as it is ready (the first run builds them).
            for k, name in enumerate(opening.SAMPLE_MODELS):
                ctx.progress(
                    f"Preparing sample {name} (the first run builds it)…", 0, 0, force=True
                )
                try:
                    path = opening.sample_path(name, ctx)
                except NeurotuiError:
                    if k == 0:
                        raise
                    continue  # partners are optional (not bundled in every build)
                opened, errors = self._open_in_worker(ctx, [path])
                ctx.post(StoresOpened(opened, errors, activate=k == 0))

        self.jobs.start(self, "open", work, lambda _: None, title="Opening the sample")

    def open_paths(self, paths: Sequence[Path]) -> None:
        """Open stores (or extract checkpoints) in a worker."""
        paths = list(paths)
        self.jobs.start(
            self,
            "open",
            lambda ctx: self._open_in_worker(ctx, paths),
            lambda r: StoresOpened(*r),
            title="Opening " + ", ".join(p.name for p in paths),
        )

    def _open_in_worker(
        self, ctx: WorkerContext, paths: list[Path]
    ) -> tuple[list[OpenStore], list[str]]:
        opened: list[OpenStore] = []
        errors: list[str] = []
        for k, path in enumerate(paths):
            ctx.progress(f"Opening {path.name}", k, len(paths), force=True)
            try:
                store = opening.open_store_path(path, ctx, self.device_name)
                # Read the shape now (in the worker) so the UI never blocks on it.
                store.sentence_lengths()
                opened.append(OpenStore.wrap(store, source=path))
            except NeurotuiError as exc:
                errors.append(str(exc))
        return opened, errors

    def on_stores_opened(self, message: StoresOpened) -> None:
        """Add the opened stores; the analysis screen shows the first."""
        for error in message.errors:
            self.notify(error, severity="error", title="Cannot open", timeout=10)
        if not message.stores:
            if not self.session.stores:
                self._show_empty("Nothing is open. Quit (q) and run: neurotui STORE.h5 [MORE.h5…]")
            return
        first_new = len(self.session.stores)
        for opened in message.stores:
            self.session.add(opened)
            if opened.notes.warning:  # damaged notes file: say so before any save
                self.notify(opened.notes.warning, severity="warning", title="Notes", timeout=15)
        if message.activate or first_new == 0:
            self.session.active_index = first_new
            self.refresh_screens()
        else:
            self.partners_changed()
        self.post_selection_changed()
        self.call_after_refresh(freeze_long_lived)

    def partners_changed(self) -> None:
        """More stores joined: the analysis screen lists the cross-model rankings."""
        from neurotui.tui.screens.analysis import AnalysisScreen

        screen = self.screen
        if isinstance(screen, AnalysisScreen):
            screen.partners_changed()

    def _show_empty(self, text: str) -> None:
        from neurotui.tui.widgets.sentence_view import SentenceView

        for view in self.screen.query(SentenceView):
            view.empty_message = text
            view.refresh()

    def on_job_failed_open(self) -> None:
        """Opening failed altogether: say what to do instead of an empty screen."""
        if not self.session.stores:
            self._show_empty("Nothing is open. Quit (q) and run: neurotui STORE.h5 [MORE.h5…]")

    def on_unmount(self) -> None:
        """Stop helper processes; hand what was frozen back to the garbage collector (an
        app ended inside a longer process — tests, notebooks — must not leak its objects)."""
        import gc

        self.jobs.close()
        self.collector.stop()
        gc.unfreeze()

    def refresh_screens(self) -> None:
        """Redraw the analysis screen for the (new) active store."""
        from neurotui.tui.screens.analysis import AnalysisScreen

        screen = self.screen
        if isinstance(screen, AnalysisScreen):
            screen.show_store()

    def post_selection_changed(self) -> None:
        """Tell every mode that the selection changed."""
        self.post_message(SelectionChanged())

    # -- central error handling and progress ---------------------------------------------
    def on_job_failed(self, message: JobFailed) -> None:
        """The one place that shows worker errors; the app keeps running."""
        error = message.error
        if message.internal:
            text = f"internal error: {type(error).__name__}: {error}"
            log.error(text)
        else:
            text = str(error)
        self.notify(text, title=message.title, severity="error", timeout=10)
        if message.group == "open":
            self.on_job_failed_open()

    def on_job_progress(self, message: JobProgress) -> None:
        """Progress of any job → the current screen's job bar."""
        for bar in self._job_bars():
            bar.report(message.group, message.label, message.done, message.total)

    def on_job_finished(self, message: JobFinished) -> None:
        """A job ended: clear its progress."""
        for bar in self._job_bars():
            bar.finish(message.group)

    def _job_bars(self) -> list[Any]:
        """The job bars of every mode's screen (none while the app shuts down)."""
        from neurotui.tui.widgets.jobs import JobBar

        bars: list[Any] = []
        for stack in self._screen_stacks.values():
            for screen in stack:
                if screen.is_attached:
                    bars.extend(screen.query(JobBar))
        return bars

    # -- themes and colours --------------------------------------------------------------
    def colour_map(self) -> ColourMap:
        """The activation colours for the current theme, scale and colour mode."""
        scale = self.theme_set.scales.get(self.scale_override or "") or self.theme_set.scale_for(
            self.theme
        )
        variables = self.get_css_variables()
        return ColourMap(
            scale,
            background=variables.get("background", "#000000"),
            foreground=variables.get("foreground", "#FFFFFF"),
            mono=self.mono,
            dark=bool(getattr(self.current_theme, "dark", True)),
        )

    def _colours_changed(self) -> None:
        from neurotui.tui.screens.analysis import AnalysisScreen

        for screen in self.screen_stack:
            if isinstance(screen, AnalysisScreen):
                screen.apply_colours()

    def set_theme(self, name: str) -> None:
        """Switch theme now."""
        self.theme = name

    def set_scale(self, name: str) -> None:
        """Use another activation scale (until the theme changes it back)."""
        self.scale_override = name
        self._colours_changed()

    def action_next_theme(self) -> None:
        """Cycle through the neurotui themes."""
        names = sorted(self.theme_set.themes)
        if not names:
            return
        i = names.index(self.theme) + 1 if self.theme in names else 0
        self.theme = names[i % len(names)]
        self.notify(f"theme: {self.theme}", timeout=2)

    def action_toggle_mono(self) -> None:
        """Monochrome activation cues on/off (forced on with NO_COLOR)."""
        self.mono = not self.mono
        self._colours_changed()

    def action_command_palette(self) -> None:
        """The command palette (ctrl+p), guarded against a Textual crash (see ``Palette``)."""
        from textual.command import CommandPalette

        from neurotui.tui.commands import Palette

        # Textual annotates is_open(app: App[object]) while App is invariant in its result
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(Palette(id="--command-palette"))

    # -- help ----------------------------------------------------------------------------
    def action_help(self) -> None:
        """Help for the focused pane plus every binding."""
        from neurotui.tui.screens.help import HelpScreen

        pane_help = ""
        helper = getattr(self.screen, "pane_help", None)
        if callable(helper):
            pane_help = helper()
        rows: list[tuple[str, str]] = []
        seen = set()
        for _node, binding, _enabled, _tooltip in self.screen.active_bindings.values():
            if binding.description and (binding.key, binding.description) not in seen:
                seen.add((binding.key, binding.description))
                rows.append((self.get_key_display(binding), binding.description))
        self.push_screen(HelpScreen(pane_help, rows))


if TYPE_CHECKING:  # pragma: no cover
    # mypy checks here that the app is everything screens may ask of it (tui/host.py)
    _HOST: type[AppHost] = NeurotuiApp
