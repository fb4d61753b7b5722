"""The analysis screen: rankings tree · neuron list · sentences · neuron card.

Why the screen owns the flow: widgets only report what the user did (typed messages); the
screen turns that into state changes in ``app.session`` and routes them to the widgets.
The jobs of one widget belong to it — the card loads itself (:class:`CardRequest`), the
sentence view runs its word search and reads its label tags, the neuron list filters and
titles its columns — and a result that a newer request superseded is dropped once, by
the job runner (:func:`neurotui.tui.workers.current_result`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from neurotui.errors import NeurotuiError
from neurotui.store.ranking import Ranking
from neurotui.tui.host import AppHost, host
from neurotui.tui.messages import (
    JumpToNeuron,
    JumpToSentence,
    NeuronHighlighted,
    NoteSaved,
    PinToggled,
    RankingChosen,
    RankingComputed,
    RankingsListed,
    StatsReady,
    TokenFocused,
)
from neurotui.tui.services import cards, opening
from neurotui.tui.services import rankings as ranking_jobs
from neurotui.tui.text import display_token
from neurotui.tui.widgets.footer import Footer
from neurotui.tui.widgets.header import AppHeader
from neurotui.tui.widgets.jobs import JobBar
from neurotui.tui.widgets.legend import InfoLine, Legend
from neurotui.tui.widgets.neuron_card import CardRequest, NeuronCard
from neurotui.tui.widgets.neuron_list import NeuronList, NeuronRow
from neurotui.tui.widgets.ranking_tree import RankingTree
from neurotui.tui.widgets.sentence_view import SentenceView

if TYPE_CHECKING:  # pragma: no cover
    from textual.dom import DOMNode

    from neurotui.tui.session import OpenStore
    from neurotui.tui.workers import WorkerContext

#: widths the left column and the card may take (cells)
LEFT_WIDTHS = (24, 30, 36, 44, 56)
CARD_WIDTHS = (0, 34, 42, 52, 64)


class Pane(Vertical):
    """A titled pane that ``z`` maximises."""

    ALLOW_MAXIMIZE = True


class AnalysisScreen(Screen[None]):
    """Rankings, neurons, sentences and the neuron card, side by side."""

    BINDINGS = [
        Binding("question_mark", "app.help", "Help", id="app.help"),
        Binding("slash", "find", "Find", id="analysis.find"),
        Binding("colon", "jump", "Jump", id="analysis.jump"),
        Binding("e", "edit_note", "Note", id="analysis.edit_note"),
        Binding("z", "toggle_maximize", "Max", id="analysis.maximize"),
        Binding("L", "cycle_labels", "Labels", id="analysis.labels"),
        Binding("S", "toggle_scaling", "Scale", id="analysis.scaling"),
        Binding("x", "clear_pinned", "Unpin all", show=False, id="analysis.clear_pinned"),
        Binding(
            "less_than_sign", "resize_left(-1)", "Narrower", show=False, id="analysis.left_narrower"
        ),
        Binding(
            "greater_than_sign", "resize_left(1)", "Wider", show=False, id="analysis.left_wider"
        ),
        Binding(
            "left_square_bracket",
            "resize_card(-1)",
            "Card narrower",
            show=False,
            id="analysis.card_narrower",
        ),
        Binding(
            "right_square_bracket",
            "resize_card(1)",
            "Card wider",
            show=False,
            id="analysis.card_wider",
        ),
        Binding("escape", "escape", "Back", show=False, id="analysis.escape"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._left = 2
        self._card = 2
        self._card_neuron: int | None = None

    @property
    def napp(self) -> AppHost:
        """The app, typed as what a screen may use of it (no import of ``tui/app``)."""
        return host(self.app)

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        with Horizontal(id="main"):
            with Pane(id="left-pane"):
                with Pane(id="rankings-pane", classes="pane"):
                    yield RankingTree(id="rankings")
                with Pane(id="neurons-pane", classes="pane"):
                    yield Input(placeholder="filter: id, name or note", id="neuron-filter")
                    yield Static(id="neuron-columns")
                    yield NeuronList(id="neurons")
            with Pane(id="sentences-pane", classes="pane"):
                yield SentenceView(id="sentences")
                yield Input(placeholder="search sentences for a word", id="sentence-search")
                with Horizontal(id="legend-bar"):
                    yield Legend(id="legend")
                    yield InfoLine(id="token-info")
            with Vertical(id="card-col"), Pane(id="card-pane", classes="pane"):
                yield NeuronCard(id="card")
        yield JobBar(id="jobs")
        yield Footer()

    def on_mount(self) -> None:
        """Titles, sizes, and the store if one is already open."""
        self.query_one("#rankings-pane").border_title = "Rankings"
        self.query_one("#neurons-pane").border_title = "Neurons"
        self.query_one("#sentences-pane").border_title = "Sentences"
        self.query_one("#card-pane").border_title = "Neuron"
        self.query_one("#neuron-filter").display = False
        self.query_one("#sentence-search").display = False
        self._apply_widths()
        self.apply_colours()
        if self.napp.session.active is not None:
            self.show_store()
        else:
            self._update_header()
        self.query_one(NeuronList).focus()

    def on_resize(self) -> None:
        """Narrow terminals: a slimmer left column and the card below the sentences."""
        self._apply_widths()

    def _apply_widths(self) -> None:
        width = self.size.width or 160
        narrow = width < 100
        self.set_class(narrow, "-narrow")
        # Medium widths (100–139 columns) take a step off both side columns.
        shrink = 0 if width >= 140 else 1
        left = LEFT_WIDTHS[max(0, self._left - shrink)]
        if narrow:
            left = max(22, LEFT_WIDTHS[self._left] - 8)
        self.query_one("#left-pane").styles.width = left
        card = self.query_one("#card-col")
        if narrow:
            self.query_one("#main").styles.grid_columns = f"{left} 1fr"
            card.styles.width = "1fr"
        else:
            step = self._card if self._card <= 1 else self._card - shrink
            card.styles.width = CARD_WIDTHS[step]
        card.display = CARD_WIDTHS[self._card] > 0

    def action_resize_left(self, step: int) -> None:
        """Narrower/wider left column."""
        self._left = max(0, min(len(LEFT_WIDTHS) - 1, self._left + step))
        self._apply_widths()

    def action_resize_card(self, step: int) -> None:
        """Narrower/wider card (narrowest hides it)."""
        self._card = max(0, min(len(CARD_WIDTHS) - 1, self._card + step))
        self._apply_widths()

    def action_toggle_maximize(self) -> None:
        """Maximise the focused pane, or restore."""
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)

    def action_escape(self) -> None:
        """Escape restores a maximised pane and hides filter/search inputs."""
        if self.maximized is not None:
            self.minimize()
            return
        for input_id, target in (
            ("#neuron-filter", NeuronList),
            ("#sentence-search", SentenceView),
        ):
            box = self.query_one(input_id, Input)
            if box.display:
                box.display = False
                self.query_one(target).focus()

    # -- store ---------------------------------------------------------------------------
    @property
    def opened(self) -> OpenStore | None:
        """The active store."""
        return self.napp.session.active

    def show_store(self) -> None:
        """Show the active store: sentences, rankings, stats (each loaded by a worker)."""
        opened = self.opened
        if opened is None:
            return
        view = self.query_one(SentenceView)
        view.set_source(opened)
        self._restore_text_cursor()
        self._update_header()
        self._load_rankings(opened)
        if opened.stats is None:
            self._load_stats(opened)
        self.show_ranking(opened.view.ranking)
        self._refresh_selection()
        if opened.view.label_task:
            view.load_labels(opened.view.label_task)

    def _update_header(self) -> None:
        session = self.napp.session
        opened = session.active
        info: list[tuple[str, str]] = []
        if opened is None:
            info.append(("opening…", "dim"))
        else:
            info.append((opened.name, "bold"))
            others = session.others()
            if others:
                info.append(("+ " + ", ".join(o.name for o in others), "dim"))
            store = opened.store
            info.append((f"· {store.sentences} sentences · {store.neuron_count} neurons", "dim"))
            if opened.view.ranking:
                info.append((f"· ranking {opened.view.ranking}", ""))
        self.query_one(AppHeader).show(info, "analysis")

    def _load_stats(self, opened: OpenStore) -> None:
        name = opened.name
        self.napp.jobs.start(
            self,
            f"stats:{name}",
            opening.stats_job(opened.store),
            lambda stats: StatsReady(name, stats),
            title=f"Statistics of {name}",
        )

    def on_stats_ready(self, message: StatsReady) -> None:
        """Stats arrived: colour ranges become robust per-neuron ranges."""
        message.stop()
        opened = self.napp.session.by_name(message.store)
        if opened is None:
            return
        opened.stats = message.stats
        if opened is self.opened:
            self._refresh_selection()

    def partners_changed(self) -> None:
        """Stores joined as partners: new header, cross-model rankings in the tree."""
        self._update_header()
        opened = self.opened
        if opened is not None:
            self._load_rankings(opened, force=True)

    def _load_rankings(self, opened: OpenStore, force: bool = False) -> None:
        if opened.rankings is not None and not force:
            self._populate_tree()
            return
        name = opened.name
        others = self.napp.session.others()

        def load(ctx: WorkerContext) -> tuple[dict[str, Ranking], list[ranking_jobs.RankingSpec]]:
            return ranking_jobs.saved_rankings(opened.store), ranking_jobs.ranking_specs(
                opened, others
            )

        self.napp.jobs.start(
            self,
            f"rankings:{name}",
            load,
            lambda result: RankingsListed(name, *result),
            title="Reading rankings",
        )

    def on_rankings_listed(self, message: RankingsListed) -> None:
        """Saved and computable rankings of a store arrived."""
        message.stop()
        name, rankings, specs = message.store, message.rankings, message.specs
        opened = self.napp.session.by_name(name)
        if opened is None:
            return
        if opened.rankings is None:
            opened.rankings = {}
        for key, ranking in rankings.items():
            opened.rankings.setdefault(key, ranking)
        self.napp.specs[name] = specs
        if opened is self.opened:
            self._populate_tree()
            if opened.view.ranking and opened.view.ranking in opened.rankings:
                self.show_ranking(opened.view.ranking)

    def _populate_tree(self) -> None:
        opened = self.opened
        if opened is None:
            return
        self.query_one(RankingTree).populate(
            opened.rankings or {}, self.napp.specs.get(opened.name, []), opened.view.ranking
        )

    # -- ranking → neuron list -----------------------------------------------------------
    def _rows_for(self, opened: OpenStore, key: str | None, cls: str | None) -> list[NeuronRow]:
        store = opened.store
        ranking = (opened.rankings or {}).get(key or "") if key else None
        if ranking is None:
            return [NeuronRow(i, i, store.neuron_name(i)) for i in range(store.neuron_count)]
        if cls is not None and ranking.per_class and cls in ranking.per_class:
            order = ranking.per_class[cls]
            return [NeuronRow(k, n, store.neuron_name(n)) for k, n in enumerate(order)]
        names = ranking.neuron_names
        rows = []
        for k, n in enumerate(ranking.order):
            name = names[k] if names and k < len(names) else store.neuron_name(n)
            score = ranking.scores[k] if ranking.scores and k < len(ranking.scores) else None
            band = ranking.bands[k] if ranking.bands and k < len(ranking.bands) else None
            rows.append(NeuronRow(k, n, name, score, band))
        return rows

    def show_ranking(self, key: str | None, cls: str | None = None, *, keep: bool = True) -> None:
        """Fill the neuron list from ranking ``key`` (``keep``: stay on the cursor neuron,
        else start at the most important neuron)."""
        opened = self.opened
        if opened is None:
            return
        opened.view.ranking = key or None
        rows = self._rows_for(opened, key, cls)
        neurons = self.query_one(NeuronList)
        neurons.set_user_names({n: note.name for n, note in opened.notes.items() if note.name})
        keep_neuron = opened.view.cursor if keep else None
        neurons.set_rows(rows, keep_neuron=keep_neuron)
        neurons.set_pinned(opened.view.pinned)
        self.query_one("#neuron-columns", Static).update(neurons.column_header())
        self._update_header()
        self.query_one(RankingTree).select_key(key, cls)
        cursor = neurons.cursor_neuron
        if cursor is not None and cursor != opened.view.cursor:
            self._highlight(cursor)

    @on(RankingChosen)
    def on_ranking_chosen(self, message: RankingChosen) -> None:
        """Show a ranking, or compute it first."""
        message.stop()
        opened = self.opened
        if opened is None:
            return
        if message.computed:
            self.show_ranking(message.key, message.cls, keep=False)
            self.query_one(NeuronList).focus()
            return
        self.compute_ranking(message.key)

    def compute_ranking(self, key: str) -> None:
        """Compute the ranking ``key`` of the active store in a worker, then save it."""
        opened = self.opened
        if opened is None:
            return
        specs = {s.key: s for s in self.napp.specs.get(opened.name, [])}
        spec = specs.get(key)
        if spec is None:
            self.notify(f"no ranking {key!r} can be computed for {opened.name}", severity="error")
            return
        others = self.napp.session.others()
        name = opened.name
        device = self.napp.device_name

        self.napp.jobs.start(
            self,
            f"rank:{name}:{key}",
            ranking_jobs.ranking_job(spec, opened, others, device, self.napp.cluster),
            lambda done: RankingComputed(
                name, key, done.rankings, done.saved.get(name, False), done.notes
            ),
            title=f"Computing {spec.title}",
            exclusive=False,
        )
        self.notify(f"computing {spec.title} in the background…", timeout=3)

    def on_ranking_computed(self, message: RankingComputed) -> None:
        """A ranking finished: keep it (in every store it ranks), show it if active."""
        message.stop()
        session = self.napp.session
        for store_name, ranking in message.rankings.items():
            target = session.by_name(store_name)
            if target is None:
                continue
            if target.rankings is None:
                target.rankings = {}
            target.rankings[message.key] = ranking
            if target.view.ranking is None:
                target.view.ranking = message.key
        for note in message.notes:
            self.notify(note, severity="information" if message.saved else "warning", timeout=4)
        opened = self.opened
        if opened is not None and opened.name in message.rankings:
            opened.view.ranking = message.key
            self._populate_tree()
            self.show_ranking(message.key, keep=False)
            self.query_one(NeuronList).focus()
            self._card_neuron = None  # partners may have appeared
            self._refresh_selection()

    # -- neuron selection ----------------------------------------------------------------
    def on_neuron_highlighted(self, message: NeuronHighlighted) -> None:
        """The list cursor moved: recolour at once, load the card in a worker."""
        message.stop()
        self._highlight(message.neuron)

    def _highlight(self, neuron: int) -> None:
        opened = self.opened
        if opened is None:
            return
        opened.view.cursor = neuron
        self._refresh_selection()
        self.napp.post_selection_changed()

    def on_pin_toggled(self, message: PinToggled) -> None:
        """Add/remove a neuron to/from the selection."""
        message.stop()
        self.toggle_pin(message.neuron)

    def toggle_pin(self, neuron: int) -> None:
        """Pin ``neuron`` (its own row in the sentences), or unpin it."""
        opened = self.opened
        if opened is None:
            return
        pinned = opened.view.pinned
        if neuron in pinned:
            pinned.remove(neuron)
        else:
            pinned.append(neuron)
        self.query_one(NeuronList).set_pinned(pinned)
        self._refresh_selection()
        self.napp.post_selection_changed()

    def action_clear_pinned(self) -> None:
        """Unpin every neuron."""
        opened = self.opened
        if opened is not None:
            opened.view.pinned.clear()
            self.query_one(NeuronList).set_pinned([])
            self._refresh_selection()
            self.napp.post_selection_changed()

    def _scale_of(self, opened: OpenStore, neuron: int) -> float:
        return cards.colour_range(opened.stats, neuron)

    def _refresh_selection(self) -> None:
        """Push the shown neurons and their ranges to the sentence view, legend and card."""
        opened = self.opened
        if opened is None:
            return
        shown = opened.view.shown()
        store = opened.store
        names = [store.neuron_name(n) for n in shown]
        scales = {n: self._scale_of(opened, n) for n in shown}
        view = self.query_one(SentenceView)
        view.set_neurons(shown, names, scales)
        self._update_legend()
        cursor = opened.view.cursor
        if cursor is not None and cursor != self._card_neuron:
            self._schedule_card(opened, cursor)
        self._update_token_info()

    def _update_legend(self) -> None:
        opened = self.opened
        view = self.query_one(SentenceView)
        shown = view.neurons
        scale = 0.0
        subject = ""
        if opened is not None and shown:
            if view.scaling == "global":
                scale = max(view.scales.get(n, 0.0) for n in shown)
            else:
                scale = view.scales.get(shown[0], 0.0)
            subject = view.neuron_names[0]
        self.query_one(Legend).show(view.cmap, scale, view.scaling, subject)

    def _schedule_card(self, opened: OpenStore, neuron: int) -> None:
        """Ask the card for ``neuron`` (it loads once the cursor rests)."""
        self._card_neuron = neuron
        napp = self.napp
        partner_rankings = [r for r in (opened.rankings or {}).values() if r.partners]
        view = self.query_one(SentenceView)
        self.query_one(NeuronCard).request(
            CardRequest(
                napp.jobs,
                opened,
                neuron,
                napp.session.others(),
                partner_rankings,
                napp.model_path,
                napp.device_name,
                lambda n: (view.cmap, self._scale_of(opened, n)),
            )
        )

    # -- jumps ---------------------------------------------------------------------------
    def on_jump_to_sentence(self, message: JumpToSentence) -> None:
        """Show a context's sentence."""
        message.stop()
        view = self.query_one(SentenceView)
        view.jump_to(message.sentence, message.position)
        view.focus()

    def on_jump_to_neuron(self, message: JumpToNeuron) -> None:
        """Switch to another model's store with its partner neuron selected."""
        message.stop()
        self.goto_neuron(message.store, message.neuron)

    def goto_neuron(self, store_name: str | None, neuron: int) -> None:
        """Make ``store_name`` active (if given) and put the cursor on ``neuron``."""
        session = self.napp.session
        if store_name is not None and (session.active is None or session.active.name != store_name):
            if session.activate(store_name) is None:
                self.notify(f"model {store_name!r} is not open", severity="error")
                return
            self._card_neuron = None
            self.show_store()
        opened = self.opened
        if opened is None:
            return
        neurons = self.query_one(NeuronList)
        if not neurons.select_neuron(neuron):
            # Not in the current ranking (e.g. a per-class list): show all neurons.
            self.show_ranking(None)
            neurons.select_neuron(neuron)
        self._highlight(neuron)
        neurons.focus()

    def action_jump(self) -> None:
        """Ask for a neuron id or name and jump to it."""
        from neurotui.tui.screens.prompt import PromptScreen

        opened = self.opened
        if opened is None:
            return
        example = opened.store.neuron_name(0)
        self.app.push_screen(
            PromptScreen(
                "Jump to neuron",
                placeholder=f"id (217), name ({example}) or your name for it",
            ),
            self._jump_answer,
        )

    def _jump_answer(self, answer: str | None) -> None:
        if not answer:
            return
        try:
            neuron = self.resolve_neuron(answer)
        except NeurotuiError as exc:
            self.notify(str(exc), severity="error", title="Jump")
            return
        self.goto_neuron(None, neuron)

    def resolve_neuron(self, text: str) -> int:
        """A neuron id from an id, a ``site:index`` name or the user's own name."""
        opened = self.opened
        if opened is None:
            raise NeurotuiError("no store is open")
        found = opened.notes.find(text)
        if found:
            return found[0]
        return opened.store.neuron_id(text.strip())

    # -- find: filter neurons or search sentences ----------------------------------------
    def action_find(self) -> None:
        """``/`` filters the neuron list, or searches sentences when they have focus."""
        if isinstance(self.focused, SentenceView):
            box = self.query_one("#sentence-search", Input)
        else:
            box = self.query_one("#neuron-filter", Input)
            box.value = self.query_one(NeuronList).filter_text
        box.display = True
        box.focus()

    def start_search(self) -> None:
        """Open the sentence search box."""
        self.query_one(SentenceView).focus()
        self.action_find()

    @on(Input.Changed, "#neuron-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(NeuronList).set_filter(event.value)

    @on(Input.Submitted, "#neuron-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.input.display = event.value != ""
        neurons = self.query_one(NeuronList)
        neurons.focus()
        if neurons.cursor_neuron is not None:
            self._highlight(neurons.cursor_neuron)

    @on(Input.Submitted, "#sentence-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.input.display = False
        view = self.query_one(SentenceView)
        view.focus()
        word = event.value.strip()
        if not word or self.opened is None:
            view.set_hits("", [])
            return
        view.search(word)

    # -- labels, scaling, notes ----------------------------------------------------------
    def action_cycle_labels(self) -> None:
        """Show the next label task's tags under the tokens (then none)."""
        opened = self.opened
        if opened is None:
            return
        try:
            tasks = list(opened.store.label_tasks)
        except NeurotuiError as exc:
            self.notify(str(exc), severity="error")
            return
        if not tasks:
            self.notify(f"{opened.name} has no label tasks", severity="warning")
            return
        current = opened.view.label_task
        nxt = (
            tasks[0]
            if current not in tasks
            else (
                tasks[tasks.index(current) + 1] if tasks.index(current) + 1 < len(tasks) else None
            )
        )
        opened.view.label_task = nxt
        self.query_one(SentenceView).load_labels(nxt)

    def action_toggle_scaling(self) -> None:
        """Per-neuron ↔ global colour scaling."""
        view = self.query_one(SentenceView)
        view.set_scaling("global" if view.scaling == "neuron" else "neuron")
        self._update_legend()

    def action_edit_note(self) -> None:
        """Name the cursor neuron / write a note about it."""
        from neurotui.tui.screens.prompt import NoteScreen

        opened = self.opened
        if opened is None or opened.view.cursor is None:
            return
        neuron = opened.view.cursor
        note = opened.notes.get(neuron)

        def save(answer: tuple[str, str] | None) -> None:
            if answer is not None:
                self._save_note(opened, neuron, *answer)

        self.app.push_screen(
            NoteScreen(opened.store.neuron_name(neuron), note.name, note.note), save
        )

    def _save_note(self, opened: OpenStore, neuron: int, name: str, note: str) -> None:
        store_name = opened.name

        def work(ctx: WorkerContext) -> None:
            opened.notes.set(neuron, name, note)

        self.napp.jobs.start(
            self,
            f"note:{store_name}",
            work,
            lambda _: NoteSaved(store_name, neuron),
            title="Saving note",
            exclusive=False,
        )

    def on_note_saved(self, message: NoteSaved) -> None:
        """Show the new name in the list and the card."""
        message.stop()
        store, neuron = message.store, message.neuron
        opened = self.opened
        if opened is None or opened.name != store:
            return
        self.query_one(NeuronList).set_user_names(
            {n: note.name for n, note in opened.notes.items() if note.name}
        )
        if opened.view.cursor == neuron:
            self.query_one(NeuronCard).update_note(opened.notes.get(neuron))
        where = opened.notes.path.name if opened.notes.path else "this session only"
        aside, opened.notes.kept_aside = opened.notes.kept_aside, None
        if aside is not None:
            self.notify(
                f"the unreadable notes file was kept as {aside}", severity="warning", timeout=15
            )
        self.notify(f"note saved ({where})", timeout=2)

    # -- cursor token info ---------------------------------------------------------------
    def on_token_focused(self, message: TokenFocused) -> None:
        """The sentence cursor moved: share it (``app.session``) and show the token's values."""
        message.stop()
        opened = self.opened
        if opened is not None:
            opened.view.move_text_cursor(message.sentence, message.position)
        self._update_token_info()

    def on_screen_resume(self) -> None:
        """Back from another mode: follow the text cursor if it was moved there."""
        self._restore_text_cursor()

    def _restore_text_cursor(self) -> None:
        """Put the sentence view's cursor where the session's text cursor is."""
        opened = self.opened
        views = list(self.query(SentenceView))
        if opened is None or not views or views[0].source is not opened:
            return
        view = views[0]
        if not view.sentence_count:
            return
        where = (opened.view.sentence, opened.view.token)
        if where != (view.cursor_sentence, view.cursor_position):
            view.jump_to(*where)

    def _update_token_info(self) -> None:
        view = self.query_one(SentenceView)
        opened = self.opened
        info = Text(no_wrap=True, overflow="ellipsis")
        if opened is not None and view.sentence_count:
            s, p = view.cursor_sentence, view.cursor_position
            rows = opened.cache.get(s)
            info.append(f" s{s}:{p} ", style=Style(dim=True))
            if rows is not None and p < len(rows.tokens):
                info.append(display_token(rows.tokens[p]), style=Style(bold=True))
                for n, name in zip(view.neurons[:3], view.neuron_names[:3], strict=False):
                    value = float(rows.values[p, n])
                    info.append(f"  {name}=", style=Style(dim=True))
                    info.append(f"{value:+.3f}")
                    stats = opened.stats
                    if stats is not None and float(stats.std[n]) > 0:
                        z = (value - float(stats.mean[n])) / float(stats.std[n])
                        info.append(f" ({z:+.1f}σ)", style=Style(dim=True))
        self.query_one("#token-info", InfoLine).show(info)

    # -- colours -------------------------------------------------------------------------
    def apply_colours(self) -> None:
        """The theme or scale changed: rebuild the colour map everywhere."""
        cmap = self.napp.colour_map()
        self.query_one(SentenceView).set_colour_map(cmap)
        self._update_legend()
        card = self.query_one(NeuronCard)
        opened = self.opened
        if card.card is not None and opened is not None:
            card.show_card(card.card, opened.notes.get(card.card.neuron), cmap, card.scale)

    # -- help ----------------------------------------------------------------------------
    def pane_help(self) -> str:
        """Help text of the focused pane."""
        widget: DOMNode | None = self.focused  # walks up: parents are DOM nodes, not widgets
        while widget is not None:
            text = getattr(widget, "HELP", None)
            if isinstance(text, str):
                return text
            widget = widget.parent
        return self.query_one(NeuronList).HELP
