"""The neuron card: what one neuron does, with jumps to its contexts and partners.

Why these parts: μ/σ/range and a histogram say how the neuron fires; top words (signed
counts) and top/bottom contexts say *on what*; the best partner in each other model says
whether models trained alike learnt it too (Bau et al.). Contexts and partners are a list
you can move through and press Enter on to jump. All text is built with ``Text.append``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from neurotui.tui.colour import LEVELS, ColourMap, level_of
from neurotui.tui.messages import (
    CardData,
    CardDetailsLoaded,
    CardLoaded,
    CardOutputLoaded,
    JumpToNeuron,
    JumpToSentence,
    WordStat,
)
from neurotui.tui.notes import NeuronNote
from neurotui.tui.services import cards
from neurotui.tui.text import display_token
from neurotui.tui.workers import current_result

if TYPE_CHECKING:  # pragma: no cover
    from textual.timer import Timer

    from neurotui.store.ranking import Ranking
    from neurotui.tui.session import OpenStore
    from neurotui.tui.workers import JobRunner, WorkerContext

#: seconds the list cursor must rest before the neuron card is computed
CARD_DELAY = 0.12


@dataclass
class CardRequest:
    """What loading one neuron's card needs, gathered by the screen when the cursor moves."""

    jobs: JobRunner
    opened: OpenStore
    neuron: int
    #: the other open stores (partners) and the cross-model rankings that name them
    others: list[OpenStore]
    partner_rankings: list[Ranking]
    #: the app's ``--model`` (the output side's model) and device
    model: str | Path | None
    device: str
    #: the colour map and this neuron's colour scale, read when the card is shown
    colours: Callable[[int], tuple[ColourMap, float]]


SPARK = " ▁▂▃▄▅▆▇█"


def _num(value: float) -> str:
    if value != value:
        return "—"
    return f"{value:+.3f}" if abs(value) < 1000 else f"{value:+.3g}"


def histogram_lines(counts: list[int], rows: int = 3) -> list[str]:
    """A ``rows``-high bar chart of ``counts`` from block characters (top line first)."""
    peak = max(counts) if counts else 0
    if peak <= 0:
        return [" " * len(counts)] * rows
    steps = rows * 8
    heights = [0 if c == 0 else max(1, round(c / peak * steps)) for c in counts]
    lines = []
    for row in range(rows - 1, -1, -1):
        line = []
        for h in heights:
            part = min(8, max(0, h - row * 8))
            line.append(SPARK[part])
        lines.append("".join(line))
    return lines


class NeuronCard(VerticalScroll, can_focus=False):
    """The card of the neuron under the cursor."""

    HELP = """\
## Neuron card

Statistics of the neuron under the list cursor: mean μ, standard deviation σ, range, a
histogram over every token of the store (bars coloured like the sentences), the words it
fires on most (▲ highest, ▼ lowest activations, with counts), its top and bottom contexts,
and its best partner (highest |r|) in each other open model. For an MLP neuron (`.ffn`)
of a causal LM or decoder whose model is known (the store's, or `--model`), also the
tokens it **promotes** and **suppresses**: its output weights through the final norm's gain
and the unembedding (the logit lens of one neuron; the model loads on first use).

- **↑/↓** move through contexts and partners · **Enter** jump there (a context shows its
  sentence, a partner switches to the other model with that neuron selected)
- **e** name the neuron / write a note (saved beside the store in `<store>.notes.json`)
"""

    BINDINGS = [
        Binding("e", "screen.edit_note", "Note", show=False, id="card.edit_note"),
    ]

    DEFAULT_CSS = """
    NeuronCard { height: 1fr; }
    NeuronCard > Static { width: 1fr; }
    NeuronCard > OptionList { height: auto; max-height: 24; border: none; padding: 0; }
    NeuronCard > OptionList:focus { border: none; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.card: CardData | None = None
        self.cmap = ColourMap()
        self.scale = 0.0
        self._wanted: CardRequest | None = None
        self._timer: Timer | None = None

    # -- loading -------------------------------------------------------------------------
    def request(self, request: CardRequest) -> None:
        """Load the card of ``request.neuron`` once the cursor rests there (holding ``j``
        must not start 50 card jobs); a newer request replaces this one."""
        self._wanted = request
        self.show_loading(request.opened.store.neuron_name(request.neuron))
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(CARD_DELAY, lambda: self._load(request))

    def _wants(self, store: str, neuron: int) -> CardRequest | None:
        """The pending request, if it is for this store and neuron (else: stale)."""
        wanted = self._wanted
        if wanted is None or wanted.opened.name != store or wanted.neuron != neuron:
            return None
        return wanted

    def _load(self, request: CardRequest) -> None:
        """The quick part: stored statistics, contexts, partners (no column read)."""
        self._timer = None
        if request is not self._wanted:
            return
        opened, neuron = request.opened, request.neuron
        stats = opened.stats
        others, partners, model = request.others, request.partner_rankings, request.model

        def work(ctx: WorkerContext) -> CardData:
            return cards.build_card(opened, neuron, stats, others, partners, ctx, model=model)

        request.jobs.start(self, "card", work, CardLoaded, title="Neuron card")

    @current_result
    def on_card_loaded(self, message: CardLoaded) -> None:
        """Show a card unless the user has moved on (stale); then its slow parts."""
        card = message.card
        request = self._wants(card.store, card.neuron)
        if request is None:
            return
        cmap, scale = request.colours(card.neuron)
        self.show_card(card, request.opened.notes.get(card.neuron), cmap, scale)
        self._load_details(request)
        if card.output_model is not None:
            self._load_output(request, card.output_model)

    def _load_details(self, request: CardRequest) -> None:
        """Exact histogram and top words: one column read, after the quick card is shown
        (in the runner's child server for a large store)."""
        opened, neuron, servers = request.opened, request.neuron, request.jobs.servers
        name = opened.name

        def work(ctx: WorkerContext) -> CardDetailsLoaded:
            hist, words = cards.card_details(opened, neuron, ctx, servers)
            return CardDetailsLoaded(name, neuron, hist, words)

        request.jobs.start(self, "card-details", work, lambda m: m, title="Neuron words")

    def _load_output(self, request: CardRequest, model: str) -> None:
        """Promoted/suppressed tokens: the model's weights (loaded on first use, in a worker;
        the card says it is loading meanwhile)."""
        opened, neuron, device = request.opened, request.neuron, request.device
        dtype = str(getattr(self.app, "model_dtype", "auto"))  # the app's --dtype
        name = opened.name

        def work(ctx: WorkerContext) -> CardOutputLoaded:
            promoted, suppressed, note = cards.card_output(
                opened, neuron, model, device, ctx, dtype=dtype
            )
            return CardOutputLoaded(name, neuron, promoted, suppressed, note)

        request.jobs.start(self, "card-output", work, lambda m: m, title="Promoted tokens")

    @current_result
    def on_card_details_loaded(self, message: CardDetailsLoaded) -> None:
        """Fill in the exact histogram and words (if still the card wanted)."""
        if self._wants(message.store, message.neuron) is not None:
            self.show_details(message.histogram, message.words)

    @current_result
    def on_card_output_loaded(self, message: CardOutputLoaded) -> None:
        """Fill in the promoted/suppressed tokens (if still the card wanted)."""
        if self._wants(message.store, message.neuron) is not None:
            self.show_output(message.promoted, message.suppressed, message.note)

    # -- drawing -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text("No neuron selected", style=Style(dim=True)), id="card-head")
        yield Static(id="card-stats")
        yield Static(id="card-words")
        output = Static(id="card-output")
        output.display = False  # only cards of MLP neurons with a model show it
        yield output
        yield OptionList(id="card-jumps")

    def show_loading(self, name: str) -> None:
        """The card of ``name`` is being computed: say so in the pane's title.

        Why the title: rewriting the card's text on every cursor step forces a layout of
        the whole screen; the title is redrawn without one.
        """
        pane = self.parent
        if isinstance(pane, Widget):
            pane.border_title = f"Neuron · {name} …"
        if self.card is None:
            head = Text()
            head.append(name, style=Style(bold=True))
            head.append("  loading…", style=Style(dim=True))
            self.query_one("#card-head", Static).update(head)

    def show_card(self, card: CardData, note: NeuronNote, cmap: ColourMap, scale: float) -> None:
        """Fill the card."""
        if isinstance(self.parent, Widget):
            self.parent.border_title = "Neuron"
        self.card, self.cmap, self.scale = card, cmap, scale
        self._head(card, note)
        self._stats(card)
        self._words(card)
        self._output(card)
        self._jumps(card)

    def show_details(self, histogram: list[int], words: list[WordStat]) -> None:
        """The exact histogram and the top/bottom words arrived."""
        card = self.card
        if card is None:
            return
        card.histogram = histogram
        card.top_words = words
        card.extra["exact_histogram"] = True
        card.extra["words_pending"] = False
        self._stats(card)
        self._words(card)

    def show_output(
        self, promoted: list[tuple[str, float]], suppressed: list[tuple[str, float]], note: str
    ) -> None:
        """The tokens the neuron promotes/suppresses arrived (or why there are none)."""
        card = self.card
        if card is None:
            return
        card.promoted, card.suppressed, card.output_note = promoted, suppressed, note
        card.output_pending = False
        self._output(card)

    def update_note(self, note: NeuronNote) -> None:
        """The user's name/note changed."""
        if self.card is not None:
            self._head(self.card, note)

    def _head(self, card: CardData, note: NeuronNote) -> None:
        head = Text()
        head.append(card.name, style=Style(bold=True))
        head.append(f"  #{card.neuron}", style=Style(dim=True))
        head.append(f"  {card.store}", style=Style(dim=True))
        if note.name:
            head.append("\n")
            head.append(note.name, style=Style(bold=True, italic=True))
        if note.note:
            head.append("\n")
            head.append(note.note, style=Style(italic=True))
        self.query_one("#card-head", Static).update(head)

    def _stats(self, card: CardData) -> None:
        text = Text()
        text.append("μ ", style=Style(dim=True))
        text.append(_num(card.mean))
        text.append("  σ ", style=Style(dim=True))
        text.append(_num(card.std).lstrip("+"))
        text.append("\nmin ", style=Style(dim=True))
        text.append(_num(card.min))
        text.append("  max ", style=Style(dim=True))
        text.append(_num(card.max))
        lo, hi = card.hist_edges
        lines = histogram_lines(card.histogram)
        n = len(card.histogram)
        for line in lines:
            text.append("\n")
            for b, ch in enumerate(line):
                centre = lo + (hi - lo) * (b + 0.5) / n if n else 0.0
                level = level_of(centre, self.scale) if self.scale else 0
                style = self._bar_style(level)
                text.append(ch, style=style)
        axis = f"{_num(lo)}"
        right = f"{_num(hi)}"
        gap = max(1, n - len(axis) - len(right))
        text.append("\n" + axis + " " * gap + right, style=Style(dim=True))
        if lo < 0 < hi and n:
            zero = int((0 - lo) / (hi - lo) * n)
            text.append("\n" + " " * zero + "┴0", style=Style(dim=True))
        if not card.extra.get("exact_histogram"):
            text.append("  (≈ from quantiles)", style=Style(dim=True, italic=True))
        self.query_one("#card-stats", Static).update(text)

    def _bar_style(self, level: int) -> Style:
        if self.cmap.mono or level == 0:
            return Style()
        return Style(color=self.cmap.swatch(max(-LEVELS, min(LEVELS, level))))

    def _words(self, card: CardData) -> None:
        text = Text()
        if card.extra.get("words_pending"):
            text.append("top words: reading the neuron…", style=Style(dim=True, italic=True))
        pos = [w for w in card.top_words if w.sign > 0]
        neg = [w for w in card.top_words if w.sign < 0]
        for title, words, glyph in (("top words", pos, "▲"), ("bottom words", neg, "▼")):
            if not words:
                continue
            if text:
                text.append("\n")
            text.append(f"{glyph} {title}\n", style=Style(bold=True))
            for k, w in enumerate(words):
                if k:
                    text.append("  ")
                level = LEVELS if w.sign > 0 else -LEVELS
                text.append(display_token(w.word), style=self.cmap.style(level // 2))
                text.append(f" ×{w.count}", style=Style(dim=True))
        self.query_one("#card-words", Static).update(text)

    def _output(self, card: CardData) -> None:
        """Promoted/suppressed tokens: the neuron's output weights through the unembedding.

        Model tokens (``</s>``, ``[SEP]``, ``Ġthe``) go in as plain segments, never markup.
        """
        text = Text()
        widget = self.query_one("#card-output", Static)
        widget.display = card.output_model is not None
        if card.output_model is None:
            widget.update(text)
            return
        model = display_token(Path(card.output_model).name)
        if card.output_pending:
            text.append(f"promoted tokens: loading {model}…", style=Style(dim=True, italic=True))
        elif card.output_note:
            text.append(card.output_note, style=Style(dim=True, italic=True))
        for title, tokens, glyph, level in (
            ("promotes", card.promoted, "▲", LEVELS),
            ("suppresses", card.suppressed, "▼", -LEVELS),
        ):
            if not tokens:
                continue
            if text:
                text.append("\n")
            text.append(f"{glyph} {title}", style=Style(bold=True))
            text.append(f"  ({model}, logit lens)\n", style=Style(dim=True))
            for k, (token, score) in enumerate(tokens):
                if k:
                    text.append("  ")
                text.append(display_token(token), style=self.cmap.style(level // 2))
                text.append(f" {score:+.2f}", style=Style(dim=True))
        widget.update(text)

    def _context_text(self, card: CardData, sentence: int, position: int, value: float) -> Text:
        text = self._context_full(card, sentence, position, value)
        width = max(10, self.scrollable_content_region.width - 2)
        if text.cell_len > width:
            text.truncate(width, overflow="ellipsis")
        return text

    def _context_full(self, card: CardData, sentence: int, position: int, value: float) -> Text:
        key = (sentence, position)
        tokens = card.contexts.get(key, [])
        # an exemplar store's context: its first token and this neuron's value at each
        # token (its window); other stores colour the context's own token only
        lo = card.extra.get("context_start", {}).get(key, max(0, position - 4))
        values = card.extra.get("context_values", {}).get(key)
        scale = self.scale or abs(value) or 1.0
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{value:+6.2f} ", style=Style(dim=True))
        if key in card.extra.get("window_only", ()):
            text.append("◦ ", style=Style(dim=True))
        if lo > 0:
            text.append("… ", style=Style(dim=True))
        for k, tok in enumerate(tokens):
            if k:
                text.append(" ")
            if lo + k == position:
                style = self.cmap.style(level_of(value, scale))
                if values is not None:  # the context's own token stands out in its window
                    style += Style(bold=True, underline=True)
                text.append(display_token(tok), style=style)
            elif values is not None and k < len(values):
                text.append(display_token(tok), style=self.cmap.style(level_of(values[k], scale)))
            else:
                text.append(display_token(tok))
        return text

    def _jumps(self, card: CardData) -> None:
        options = self.query_one("#card-jumps", OptionList)
        options.clear_options()
        items: list[Option | None] = []
        if card.partners:
            items.append(
                Option(Text("partners in other models", style=Style(bold=True)), disabled=True)
            )
            for p in card.partners:
                t = Text(no_wrap=True, overflow="ellipsis")
                t.append(f"{p.model} ")
                names = card.extra.get("partner_names", {})
                t.append(str(names.get(p.model, f"#{p.neuron}")), style=Style(bold=True))
                r = p.r
                t.append(f"  r={r:+.2f}" if not math.isnan(r) else "  r=—", style=Style(dim=True))
                t.append(" ↵", style=Style(dim=True))
                items.append(Option(t, id=f"partner:{p.model}:{p.neuron}"))
        hint = card.extra.get("partner_hint")
        if hint:
            items.append(
                Option(Text(f"partners: {hint}", style=Style(dim=True, italic=True)), disabled=True)
            )
        sections = (
            ("top", "▲ top contexts", card.top),
            ("bottom", "▼ bottom contexts", card.bottom),
        )
        for section, title, examples in sections:
            if not examples:
                continue
            items.append(Option(Text(title, style=Style(bold=True)), disabled=True))
            outside = card.extra.get("window_only", ())
            if any((e.sentence, e.position) in outside for e in examples):
                note = str(card.extra.get("window_note", ""))
                items.append(Option(Text(note, style=Style(dim=True, italic=True)), disabled=True))
            for e in examples:
                # a neuron that is constant has the same tokens at its top and its bottom:
                # the section keeps the option ids unique (Textual refuses a duplicate id)
                items.append(
                    Option(
                        self._context_text(card, e.sentence, e.position, e.value),
                        id=f"ctx:{section}:{e.sentence}:{e.position}",
                    )
                )
        options.add_options([i for i in items if i is not None])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a context or partner jumps there."""
        event.stop()
        option_id = event.option.id or ""
        kind, _, rest = option_id.partition(":")
        if kind == "ctx":
            _section, s, p = rest.split(":")
            if int(s) < 0:  # an exemplar store's context whose sentence is not stored
                self.notify(
                    str(self.card.extra.get("window_note", "")) if self.card else "", markup=False
                )
                return
            self.post_message(JumpToSentence(int(s), int(p)))
        elif kind == "partner":
            model, _, neuron = rest.rpartition(":")
            self.post_message(JumpToNeuron(model, int(neuron)))
