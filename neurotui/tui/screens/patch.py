"""Patch mode: activation patching between a clean and a corrupted sentence, as a map.

Why a screen of its own: the causal-tracing map (Meng et al. 2022) says *where* the
information that makes the clean output likely lives — which site, at which source word.
This is ``neurotui patch`` in the app: pick the clean sentence (the store's sentences, or
typed) and the corrupted one (typed, another store sentence, or — for the synthetic
grammar's stores — the clean sentence with its tense flipped), run the sweep over every
site × source position on the intervention runner (progress, cancel with ``x``), read the
map (cells coloured by the restored share of the clean output's log-probability), move
the cell cursor with the arrows and press Enter: that single patch is applied and the
clean, corrupted and patched translations show side by side. ``w`` exports the map as
JSON or CSV through the writer the CLI's ``--json``/``--csv`` use.

Everything runs through :mod:`neurotui.intervene.patching` — the same
:func:`~neurotui.intervene.patching.tracing_sweep` and
:func:`~neurotui.intervene.patching.patched_translations` the command calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from neurotui.errors import NeurotuiError
from neurotui.tui.screens.runner_mode import RunnerModeScreen, marked
from neurotui.tui.widgets.footer import Footer
from neurotui.tui.widgets.header import AppHeader
from neurotui.tui.widgets.heatmap import Heatmap

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.patching import Patch, PatchedTranslations, TracingMap
    from neurotui.intervene.runner import Failed, Progress, RunnerContext

#: the map's last column: each site patched at every position at once
WHOLE = "all"


@dataclass
class SweepOutcome:
    """A finished sweep, with the corrupted sentence it used (derived when none was given)."""

    tmap: TracingMap
    corrupt: str


@dataclass
class CellOutcome:
    """Enter on a cell: the patch and its translations."""

    row: int
    column: int
    result: PatchedTranslations


def map_grid(tmap: TracingMap) -> list[list[float | None]]:
    """The values the map shows: the restored share per site × position, then the whole
    site (``all``) — the numbers of ``tmap.to_dict()`` / ``neurotui patch``."""
    restored = tmap.restored()
    return [
        [*restored[i], tmap.scores.restored(tmap.whole_site[i])] for i in range(len(tmap.sites))
    ]


def cell_patch(tmap: TracingMap, row: int, column: int) -> Patch:
    """The patch behind a cell: its site at its word position (``all``: every position)."""
    from neurotui.intervene.patching import Patch

    position = None if column >= len(tmap.positions) else column
    return Patch(tmap.sites[row], None, position)


class PatchScreen(RunnerModeScreen):
    """Pick clean and corrupted inputs; sweep; browse the map; patch one cell."""

    MODE = "patch"
    NOTIFY_TITLE = "Patch"
    GROUP = "patch"

    BINDINGS = [
        Binding("r", "run", "Sweep", id="patch.run"),
        Binding("x", "cancel", "Cancel", id="patch.cancel"),
        Binding("c", "type_clean", "Clean", id="patch.type_clean"),
        Binding("e", "type_corrupt", "Corrupted", id="patch.type_corrupt"),
        Binding("left_square_bracket", "clean(-1)", "Prev clean", id="patch.clean_prev"),
        Binding("right_square_bracket", "clean(1)", "Next clean", id="patch.clean_next"),
        Binding(
            "left_curly_bracket", "corrupt(-1)", "Prev corr.", show=False, id="patch.corrupt_prev"
        ),
        Binding(
            "right_curly_bracket", "corrupt(1)", "Next corr.", show=False, id="patch.corrupt_next"
        ),
        Binding("f", "flip", "Flip tense", show=False, id="patch.flip"),
        Binding("w", "export", "Export", id="patch.export"),
        Binding("question_mark", "app.help", "Help", show=False, id="patch.help"),
    ]

    DEFAULT_CSS = """
    PatchScreen #patch-controls { height: auto; padding: 1 1 0 1; }
    PatchScreen #patch-progress { height: 1; padding: 0 1; }
    PatchScreen #patch-map { margin: 1 1 0 1; }
    PatchScreen #patch-cell { height: auto; padding: 1 1 0 1; }
    PatchScreen #patch-outputs { height: auto; }
    PatchScreen .patch-pane { width: 1fr; height: auto; border: round $primary; padding: 0 1; }
    """

    HELP = """\
## Patch mode (activation patching)

Run a **clean** and a **corrupted** sentence, copy the clean run's activations of one
site at one source word into the corrupted run, and measure how much of the clean
output's log-probability comes back (0 = nothing, 1 = all; Meng et al. 2022). The map has
one row per site and one column per aligned source word; `all` patches the whole site.

- **c** type the clean sentence · **[ ]** clean = previous/next store sentence
- **e** type the corrupted sentence · **{ }** corrupted = another store sentence ·
  **f** corrupted = the clean sentence with its tense flipped (synthetic-grammar stores)
- **r** run the sweep (every site × word) · **x** cancel
- **← → ↑ ↓** move the cell cursor · **enter** apply that one patch: clean, corrupted and
  patched translations side by side (decoder sites are scored, not generated)
- **w** export the map as JSON or CSV (the `neurotui patch --json/--csv` files)

Same as `neurotui patch MODEL --clean "…" --corrupt "…" [--json F] [--csv F]`.
"""

    def __init__(self) -> None:
        super().__init__()
        self.clean: str | None = None  # None: the store's cursor sentence
        self.clean_index: int | None = None  # the store sentence it came from, if any
        self.corrupt: str | None = None  # None: derived (tense flipped) when the sweep runs
        self.corrupt_index: int | None = None
        self.outcome: SweepOutcome | None = None
        self.cell: CellOutcome | None = None
        self.progress_label = ""
        self.exported: list[Path] = []

    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        yield Static(id="patch-controls")
        yield ProgressBar(id="patch-progress", show_eta=False)
        yield Heatmap(id="patch-map")
        yield Static(id="patch-cell")
        with Horizontal(id="patch-outputs"):
            yield Static(id="patch-clean", classes="patch-pane")
            yield Static(id="patch-corrupt", classes="patch-pane")
            yield Static(id="patch-patched", classes="patch-pane")
        yield Footer()

    def pane_help(self) -> str:
        """The help screen's text for this mode."""
        return self.HELP

    def on_mount(self) -> None:
        self.query_one(Heatmap).focus()

    def on_screen_resume(self) -> None:
        """The clean sentence follows the shared text cursor until one is chosen here."""
        opened = self.opened
        if opened is not None and self.clean is None:
            self.clean_index = opened.view.sentence
        super().on_screen_resume()

    # -- inputs --------------------------------------------------------------------------
    def store_sentence(self, index: int) -> str:
        opened = self.opened
        if opened is None:
            return ""
        return " ".join(opened.store.tokens(index))

    def clean_text(self) -> str:
        """The clean sentence: typed, or a store sentence (the shared cursor's first)."""
        if self.clean is not None:
            return self.clean
        opened = self.opened
        if opened is None:
            return ""
        if self.clean_index is None:
            self.clean_index = opened.view.sentence
        try:
            return self.store_sentence(self.clean_index)
        except NeurotuiError:
            return ""

    def _count(self) -> int:
        opened = self.opened
        return len(opened.cache.lengths) if opened is not None else 0

    def action_clean(self, delta: int) -> None:
        n = self._count()
        if not n:
            return
        start = self.clean_index if self.clean_index is not None else 0
        self.clean_index = (start + delta) % n
        self.clean = None
        opened = self.opened
        if opened is not None:  # the shared text cursor follows (other modes, resume)
            opened.view.move_text_cursor(self.clean_index, 0)
        if self.corrupt_index is None:
            self.corrupt = None  # a derived corrupted sentence follows the clean one
        self.render_panels()

    def action_corrupt(self, delta: int) -> None:
        n = self._count()
        if not n:
            return
        base = self.corrupt_index
        if base is None:
            base = self.clean_index if self.clean_index is not None else 0
        self.corrupt_index = (base + delta) % n
        try:
            self.corrupt = self.store_sentence(self.corrupt_index)
        except NeurotuiError as exc:
            self.notify_error(str(exc))
        self.render_panels()

    def action_flip(self) -> None:
        """Corrupted = the clean sentence with its tense flipped (worked out at the sweep)."""
        self.corrupt, self.corrupt_index = None, None
        self.render_panels()

    def action_type_clean(self) -> None:
        self._type_sentence("clean", "Clean sentence (Enter keeps, Esc cancels)",
                            self.clean_text(), "")  # fmt: skip

    def action_type_corrupt(self) -> None:
        self._type_sentence(
            "corrupt",
            "Corrupted sentence (Enter keeps, Esc cancels)",
            self.corrupt or self.clean_text(),
            "e.g. the clean sentence in another tense; words are aligned from the start",
        )

    def _type_sentence(self, which: str, title: str, value: str, hint: str) -> None:
        """Prompt for the clean or corrupted sentence; a typed one replaces the store's."""
        from neurotui.tui.screens.prompt import PromptScreen

        def typed(text: str | None) -> None:
            if text is not None and text.split():
                setattr(self, which, " ".join(text.split()))
                setattr(self, f"{which}_index", None)
                self.render_panels()

        self.app.push_screen(PromptScreen(title, value=value, hint=hint), typed)

    # -- running -------------------------------------------------------------------------
    def action_run(self) -> None:
        """Run the causal-tracing sweep on the runner (supersedes an older request)."""
        opened = self.opened
        if opened is None:
            return
        clean, corrupt = self.clean_text(), self.corrupt
        if not clean:
            self.notify_error("no clean sentence: type one with c")
            return
        store, index = opened.store, self.clean_index if self.clean is None else None

        def job(ctx: RunnerContext) -> SweepOutcome:
            from neurotui.intervene.patching import PatchError, tracing_sweep
            from neurotui.intervene.workflows import flipped_sentence

            wrong = corrupt
            if wrong is None:
                ctx.progress("flipping the tense of the clean sentence", 0, 0)
                wrong = flipped_sentence(store, index) if index is not None else None
                if wrong is None:
                    raise PatchError(
                        "no corrupted sentence: type one with e (or pick a store sentence with { })"
                    )
            tmap = tracing_sweep(ctx.backend, clean, wrong, progress=ctx.progress)
            return SweepOutcome(tmap, wrong)

        self.progress_label = "starting"
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.submit(opened, job)

    def on_heatmap_cell_chosen(self, message: Heatmap.CellChosen) -> None:
        """Enter on a cell: apply that one patch; with no map yet, run the sweep."""
        message.stop()
        if message.row is None or message.column is None or self.outcome is None:
            self.action_run()
            return
        opened = self.opened
        if opened is None:
            return
        tmap, row, column = self.outcome.tmap, message.row, message.column
        patch = cell_patch(tmap, row, column)

        def job(ctx: RunnerContext) -> CellOutcome:
            from neurotui.intervene.patching import patched_translations

            ctx.progress(f"patching {patch.describe()}", 0, 1)
            return CellOutcome(row, column, patched_translations(ctx.backend, tmap.scores, [patch]))

        self.progress_label = f"patching {patch.describe()}"
        self.submit(opened, job)

    def on_heatmap_cursor_moved(self, message: Heatmap.CursorMoved) -> None:
        message.stop()
        self.query_one("#patch-cell", Static).update(self._cell_text())

    def runner_progress(self, event: Progress) -> None:
        self.progress_label = event.message
        bar = self.query_one(ProgressBar)
        if event.total > 0:
            bar.update(total=event.total, progress=event.done)
        else:
            bar.update(total=None)

    def runner_result(self, value: object) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=1, progress=1)
        if isinstance(value, SweepOutcome):
            self.outcome, self.cell = value, None
            tmap = value.tmap
            self.progress_label = (
                f"done: {len(tmap.sites)} sites × {len(tmap.positions)} positions in "
                f"{tmap.seconds:.2f} s"
            )
            columns = [*(label.partition(":")[0] for label in tmap.positions), WHOLE]
            words = [*(label.partition(":")[2] for label in tmap.positions), ""]
            self.query_one(Heatmap).set_data(tmap.sites, columns, map_grid(tmap), words)
        elif isinstance(value, CellOutcome):
            self.cell = value
            self.progress_label = "patched"

    def runner_failed(self, event: Failed) -> None:
        self.progress_label = "failed"

    def runner_cancelled(self) -> None:
        self.progress_label = "cancelled"

    def runner_changed(self) -> None:
        self.outcome, self.cell = None, None

    # -- export --------------------------------------------------------------------------
    def action_export(self) -> None:
        """Ask for a file; ``.csv`` writes the CSV map, anything else the JSON document."""
        from neurotui.tui.screens.prompt import PromptScreen

        if self.outcome is None:
            self.app.notify("nothing to export: run the sweep first (r)", severity="warning")
            return
        self.app.push_screen(
            PromptScreen(
                "Export the map to (Enter writes, Esc cancels)",
                value="patch-map.json",
                hint="a .csv name writes the CSV map; any other the JSON document",
            ),
            self.export_to,
        )

    def export_to(self, path: str | None) -> None:
        """Write the shown map to ``path`` (``None`` or empty: nothing); the files written
        are kept in :attr:`exported`."""
        from neurotui.intervene.patching import write_results

        self.exported = []
        if path is None or not path.strip() or self.outcome is None:
            return
        target = Path(path.strip()).expanduser()
        tmap = self.outcome.tmap
        try:
            if target.suffix.lower() == ".csv":
                written = write_results({}, tmap.csv_rows(), csv_path=target)
            else:
                written = write_results(tmap.to_dict(), json_path=target)
        except NeurotuiError as exc:
            self.notify_error(str(exc))
            return
        self.exported = written
        self.app.notify(f"map written to {', '.join(map(str, written))}", title="Patch")

    # -- drawing -------------------------------------------------------------------------
    def render_panels(self) -> None:
        if not self.is_mounted:
            return
        self.show_header()
        self.query_one("#patch-controls", Static).update(self._controls())
        heatmap = self.query_one(Heatmap)
        if self.outcome is None:
            heatmap.clear("press r (or enter) to run the sweep: every site × source word")
        self.query_one("#patch-cell", Static).update(self._cell_text())
        self._outputs()

    def _controls(self) -> Text:
        text = Text()
        if self.opened is None:
            text.append("no store open")
            return text
        clean = self.clean_text()
        text.append("clean:     ", style="bold")
        text.append(clean or "—")
        if self.clean is None and self.clean_index is not None:
            text.append(f"   (store sentence {self.clean_index + 1})", style="dim")
        text.append("\ncorrupted: ", style="bold")
        if self.corrupt is not None:
            text.append(self.corrupt)
            if self.corrupt_index is not None:
                text.append(f"   (store sentence {self.corrupt_index + 1})", style="dim")
        elif self.outcome is not None and self.clean is None:
            text.append(self.outcome.corrupt)
            text.append("   (tense flipped)", style="dim")
        else:
            text.append("the clean sentence with its tense flipped (or type one: e)", "dim")
        if self.progress_label:
            text.append(f"\n{self.progress_label}", style="italic")
        text.append(
            "\nkeys: c/e type clean/corrupted, [ ] clean sentence, { } corrupted sentence, "
            "f flip tense, r sweep, x cancel, arrows cell, enter patch cell, w export",
            style="dim",
        )
        return text

    def _cell_text(self) -> Text:
        text = Text()
        outcome = self.outcome
        if outcome is None:
            return text
        tmap = outcome.tmap
        corrupt = self.corrupt if self.corrupt is not None else outcome.corrupt
        if (tmap.scores.clean, tmap.scores.corrupt) != (self.clean_text(), corrupt):
            text.append("the map is of the previous pair: r runs the shown one\n", "yellow")
        text.append("target: ", style="bold")
        text.append(tmap.scores.target)
        text.append(
            f"   log p clean {tmap.scores.clean_logprob:.3f}, corrupted "
            f"{tmap.scores.corrupt_logprob:.3f}\n",
            style="dim",
        )
        heatmap = self.query_one(Heatmap)
        if heatmap.has_data:
            row, column = heatmap.cursor
            site = tmap.sites[row]
            text.append("cell: ", style="bold")
            text.append(site)
            if column < len(tmap.positions):
                text.append(" @ word ")
                text.append(tmap.positions[column])
                logprob = tmap.logprob[row][column]
            else:
                text.append(" @ every position")
                logprob = tmap.whole_site[row]
            value = heatmap.value_at(row, column)
            if value is None:
                text.append("   not patched here", style="dim")
                if logprob is None:
                    text.append(" (decoder sites: whole site only)", style="dim")
            else:
                text.append(f"   restored {value:.3f}", style="bold")
                if logprob is not None:
                    text.append(f" (log p {logprob:.3f})", style="dim")
            text.append("   enter: apply this patch", style="dim")
        for note in tmap.notes:
            text.append(f"\nnote: {note}", style="yellow")
        return text

    def _outputs(self) -> None:
        from neurotui.intervene.compare import diff_tokens

        clean = Text("clean output\n", style="bold")
        corrupt = Text("corrupted output\n", style="bold")
        patched = Text("patched output\n", style="bold")
        cell = self.cell
        if cell is not None:
            r = cell.result
            clean.append(r.clean)
            corrupt_tokens = r.corrupt.split()
            if r.patched is None:
                corrupt.append(r.corrupt)
                patched.append(r.note or "—", style="dim")
            else:
                patched_tokens = r.patched.split()
                removed, added = diff_tokens(corrupt_tokens, patched_tokens)
                corrupt.append_text(marked(corrupt_tokens, removed, "strike red"))
                patched.append_text(marked(patched_tokens, added, "bold green"))
            restored = "n/a" if r.restored is None else f"{r.restored:.3f}"
            patched.append(
                f"\n{r.patches[0].describe()}: log p {r.logprob:.3f}, restored {restored}",
                style="dim",
            )
        else:
            patched.append("enter on a cell applies that patch", style="dim")
        self.query_one("#patch-clean", Static).update(clean)
        self.query_one("#patch-corrupt", Static).update(corrupt)
        self.query_one("#patch-patched", Static).update(patched)
