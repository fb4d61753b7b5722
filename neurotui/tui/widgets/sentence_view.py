"""The sentence view: tokens coloured by the selected neurons, one row per neuron.

Why the Line API with cached strips: a store may hold millions of sentences; only the rows
on screen are built, from Segments (tokens are data, never markup), and cached. Switching
neuron only re-slices activation rows already in memory (the worker-filled
``SentenceCache`` holds whole rows), so recolouring a full pane is a few milliseconds of
pure Python. Sentences not yet read show a placeholder and are fetched by a worker.

Layout: each sentence is a block of fixed height — one token row per shown neuron, an
optional label row, a separator when the block has more than one row — so a line number
maps to (sentence, row) by division and 10k sentences scroll as fast as ten.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from neurotui.progress import JobContext
from neurotui.tui.colour import LEVELS, ColourMap
from neurotui.tui.messages import LabelsLoaded, SearchDone, SentencesLoaded, TokenFocused
from neurotui.tui.session import OpenStore, SentenceRows
from neurotui.tui.text import display_token, fit
from neurotui.tui.workers import current_result

Scaling = Literal["neuron", "global"]

#: sentences read ahead above and below the visible ones
PREFETCH_PAGES = 1
#: rendered lines kept for scrolling back (see SentenceView.__init__)
STRIP_CACHE_LINES = 1024


class SentenceView(ScrollView, can_focus=True):
    """Colour-coded sentences with a token cursor."""

    HELP = """\
## Sentences

Each token is coloured by the activation of the neuron under the list cursor (first row)
and of every pinned neuron (one more row each). Blue-ish is negative, orange-ish positive
(with the default scale); stronger colour = larger |activation|. Without colour, **bold**
is positive, underlined negative, reverse video strong, and ▴▲/▾▼ mark strength.

- **↑/↓, j/k** previous/next sentence · **←/→, h/l** previous/next token
- **PgUp/PgDn** page · **g/G, Home/End** first/last sentence
- **/** search sentences for a word · **n/N** next/previous match
- **L** show/hide label tags under tokens (cycles through the store's label tasks)
- **S** scaling: per neuron (each row uses its neuron's range) or global (all rows share
  the widest range, so rows compare)
"""

    BINDINGS = [
        Binding("up,k", "sentence(-1)", "Up", show=False, id="sentences.up"),
        Binding("down,j", "sentence(1)", "Down", show=False, id="sentences.down"),
        Binding("left,h", "token(-1)", "Left", show=False, id="sentences.left"),
        Binding("right,l", "token(1)", "Right", show=False, id="sentences.right"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="sentences.page_up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="sentences.page_down"),
        Binding("home,g", "first", "First", show=False, id="sentences.first"),
        Binding("end,G", "last", "Last", show=False, id="sentences.last"),
        Binding("n", "next_hit(1)", "Next match", show=False, id="sentences.next_hit"),
        Binding("N", "next_hit(-1)", "Prev match", show=False, id="sentences.prev_hit"),
    ]

    COMPONENT_CLASSES = {
        "sentence-view--gutter",
        "sentence-view--gutter-cursor",
        "sentence-view--tag",
        "sentence-view--label",
        "sentence-view--loading",
        "sentence-view--hit",
        "sentence-view--cursor",
    }

    DEFAULT_CSS = """
    SentenceView { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.source: OpenStore | None = None
        #: shown while nothing is open
        self.empty_message = "Opening… (progress at the bottom)"
        self.neurons: list[int] = []
        self.neuron_names: list[str] = []
        self.scales: dict[int, float] = {}
        self.scaling: Scaling = "neuron"
        self.cmap = ColourMap()
        self.labels: list[list[str]] | None = None
        self.label_task: str | None = None
        self.hit_word = ""
        self.hits: dict[int, set[int]] = {}
        self.cursor_sentence = 0
        self.cursor_position = 0
        # ~20 screens of lines; each cached strip keeps ~20 objects (its own memo caches
        # and derived strips) that every full garbage collection walks; 4096 lines made a
        # full pass ~175 ms of UI-thread CPU after scrolling (bench/bench_tui.py)
        self._strips: LRUCache[tuple[int, int, int], Strip] = LRUCache(STRIP_CACHE_LINES)
        self._styles: list[Style] = []
        self._named: dict[str, Style] = {}
        # tuples of str/int: the garbage collector stops tracking them (full passes skip them)
        self._widths: LRUCache[int, tuple[int, ...]] = LRUCache(8192)
        self._padded: LRUCache[int, tuple[tuple[str, ...], int]] = LRUCache(8192)
        self._pass_width = 0
        self._sep = Segment(" ")
        self._max_width = 0
        self._want: set[int] = set()
        self._load_scheduled = False

    # -- configuration -------------------------------------------------------------------
    @property
    def sentence_count(self) -> int:
        """Sentences in the shown store."""
        return 0 if self.source is None else int(self.source.cache.lengths.size)

    def set_source(self, source: OpenStore | None) -> None:
        """Show another store (resets cursor, labels and search)."""
        self.source = source
        self._widths.clear()
        self._padded.clear()
        self.cursor_sentence = self.cursor_position = 0
        self.labels = None
        self.label_task = None
        self.hits, self.hit_word = {}, ""
        self._max_width = 0
        self._want.clear()
        self._invalidate()
        self.scroll_to(0, 0, animate=False, immediate=True)

    def set_neurons(self, neurons: list[int], names: list[str], scales: dict[int, float]) -> None:
        """The neurons to colour by (one row each) and their colour ranges."""
        self.neurons = list(neurons)
        self.neuron_names = list(names)
        self.scales = dict(scales)
        self._invalidate()

    def set_colour_map(self, cmap: ColourMap) -> None:
        """A new activation scale or theme background."""
        self.cmap = cmap
        self._invalidate()

    def set_scaling(self, scaling: Scaling) -> None:
        """Per-neuron or global colour scaling."""
        self.scaling = scaling
        self._invalidate()

    def set_labels(self, task: str | None, labels: list[list[str]] | None) -> None:
        """Label tags shown under the tokens (``None`` hides them)."""
        self.label_task = task
        self.labels = labels
        self._max_width = 0
        self._widths.clear()
        self._padded.clear()
        self._invalidate()

    # -- jobs of this view: word search and label tags -----------------------------------
    def search(self, word: str) -> None:
        """Search the shown store's sentences for ``word`` in a job; the matches are
        marked and the first is shown when it finishes (``n``/``N`` step through them)."""
        source, jobs = self.source, getattr(self.app, "jobs", None)
        if source is None or jobs is None:
            return
        from neurotui.tui.services.search import search_word

        name, store = source.name, source.store
        jobs.start(
            self,
            "search",
            lambda ctx: search_word(store, word, ctx),
            lambda hits: SearchDone(name, word, hits),
            title=f"Searching {word!r}",
        )

    @current_result
    def on_search_done(self, message: SearchDone) -> None:
        """Mark matches and jump to the first."""
        if self.source is None or self.source.name != message.store:
            return
        self.set_hits(message.word, message.hits)
        sentences = len({s for s, _ in message.hits})
        if message.hits:
            self.notify(
                f"{message.word!r}: {len(message.hits)} tokens in {sentences} sentences (n/N: next/previous)"
            )
            self.jump_to(*message.hits[0])
        else:
            self.notify(f"{message.word!r}: not found", severity="warning")

    def load_labels(self, task: str | None) -> None:
        """Show label task ``task``'s tags under the tokens (read in a job), or none."""
        source, jobs = self.source, getattr(self.app, "jobs", None)
        if task is None or source is None or jobs is None:
            self.set_labels(None, None)
            return
        name, store = source.name, source.store
        jobs.start(
            self,
            "labels",
            lambda ctx: store.labels(task),
            lambda labels: LabelsLoaded(name, task, labels),
            title=f"Labels {task}",
        )

    def on_labels_loaded(self, message: LabelsLoaded) -> None:
        """Label tags arrived (shown if the store and task are still the chosen ones)."""
        message.stop()
        source = self.source
        if source is None or source.name != message.store or source.view.label_task != message.task:
            return
        self.set_labels(message.task, message.labels)
        self.notify(f"label tags: {message.task}", timeout=2)

    def set_hits(self, word: str, hits: list[tuple[int, int]]) -> None:
        """Search matches to mark; the cursor jumps to the first one after it."""
        self.hit_word = word
        self.hits = {}
        for s, p in hits:
            self.hits.setdefault(s, set()).add(p)
        self._invalidate()

    def _invalidate(self) -> None:
        self._strips.clear()
        self._styles = []
        self._update_virtual_size()
        self.refresh()

    def notify_style_update(self) -> None:
        """Theme change: rebuild styles and strips."""
        super().notify_style_update()
        self._strips.clear()
        self._styles = []
        self._named = {}

    def _overlay(self, name: str) -> Style:
        """Only the attributes a component class sets (added on top of a token's colour)."""
        key = "+" + name
        style = self._named.get(key)
        if style is None:
            style = self.get_component_rich_style(name, partial=True)
            self._named[key] = style
        return style

    def _style(self, name: str) -> Style:
        """The widget's base style plus a component class (cached until styles change).

        Why cached: ``rich_style`` walks every ancestor's CSS; doing that per line made
        a full-pane recolour cost tens of milliseconds.
        """
        style = self._named.get(name)
        if style is None:
            base = self.rich_style
            style = base if name == "" else base + self.get_component_rich_style(name, partial=True)
            self._named[name] = style
        return style

    # -- geometry ------------------------------------------------------------------------
    @property
    def token_rows(self) -> int:
        """Token rows per sentence (one per shown neuron, at least one)."""
        return max(1, len(self.neurons))

    @property
    def block_height(self) -> int:
        """Lines per sentence block."""
        rows = self.token_rows + (1 if self.labels is not None else 0)
        return rows + (1 if rows > 1 else 0)

    def _gutter_width(self) -> tuple[int, int]:
        digits = len(str(max(0, self.sentence_count - 1)))
        tag = 0
        if len(self.neurons) > 1:
            tag = min(16, max(len(n) for n in self.neuron_names)) + 1
        return digits + 2, tag

    def _update_virtual_size(self) -> None:
        lines = self.sentence_count * self.block_height
        width = max(self._max_width, self.scrollable_content_region.width)
        self.virtual_size = Size(width, lines)

    def _token_widths(self, s: int, tokens: list[str]) -> tuple[int, ...]:
        cached = self._widths.get(s)
        if cached is not None and len(cached) == len(tokens):
            return cached
        widths = tuple(cell_len(display_token(t)) for t in tokens)
        if self.labels is not None and s < len(self.labels):
            labs = self.labels[s]
            widths = tuple(
                max(w, cell_len(display_token(labs[j]))) if j < len(labs) else w
                for j, w in enumerate(widths)
            )
        self._widths[s] = widths
        return widths

    def on_resize(self) -> None:
        """The pane changed size."""
        self._strips.clear()
        self._update_virtual_size()

    # -- loading -------------------------------------------------------------------------
    def _visible_range(self) -> range:
        h = self.block_height
        top = int(self.scroll_y) // h
        rows = self.scrollable_content_region.height // h + 2
        return range(top, min(self.sentence_count, top + rows))

    def _schedule_load(self, s: int) -> None:
        self._want.add(s)
        if not self._load_scheduled:
            self._load_scheduled = True
            self.call_later(self._start_load)

    def _start_load(self) -> None:
        self._load_scheduled = False
        source = self.source
        if source is None or not self._want:
            return
        visible = self._visible_range()
        page = max(1, len(visible))
        lo = max(0, visible.start - PREFETCH_PAGES * page)
        hi = min(self.sentence_count, visible.stop + PREFETCH_PAGES * page)
        wanted = sorted(self._want | set(range(lo, hi)))
        self._want.clear()
        todo = source.cache.missing(wanted)
        if not todo:
            self.refresh()
            return
        jobs = getattr(self.app, "jobs", None)
        if jobs is None:  # used outside NeurotuiApp (tests of the widget alone)
            for i in todo:
                source.cache.load(i)
            self._on_loaded(source.name, todo)
            return
        name = source.name

        def load(ctx: JobContext) -> list[int]:
            # Visible sentences first, then read-ahead.
            first = [i for i in todo if i in visible] + [i for i in todo if i not in visible]
            done: list[int] = []
            for n, i in enumerate(first):
                source.cache.load(i)
                done.append(i)
                if n % 16 == 15:
                    ctx.check()
            return done

        jobs.start(
            self,
            "sentences",
            load,
            lambda done: SentencesLoaded(name, done),
            title="Reading sentences",
        )

    def on_sentences_loaded(self, message: SentencesLoaded) -> None:
        """A worker filled the cache: redraw."""
        message.stop()
        self._on_loaded(message.store, message.indices)

    def _on_loaded(self, store: str, indices: list[int]) -> None:
        if self.source is None or store != self.source.name:
            return
        gutter, tag = self._gutter_width()
        for i in indices:
            rows = self.source.cache.get(i)
            if rows is not None:
                width = gutter + tag + sum(self._token_widths(i, rows.tokens)) + len(rows.tokens)
                self._max_width = max(self._max_width, width)
        self._update_virtual_size()
        # Placeholder strips are never cached, so a plain refresh redraws them.
        self.refresh()
        if self.cursor_sentence in indices:
            self._announce()

    # -- drawing -------------------------------------------------------------------------
    def _level_styles(self) -> list[Style]:
        if not self._styles:
            base = self._style("")
            self._styles = [base + self.cmap.style(lv) for lv in range(-LEVELS, LEVELS + 1)]
            self._sep = Segment(" ", base)
        return self._styles

    def _scale(self, neuron: int, values: np.ndarray) -> float:
        if self.scaling == "global" and self.neurons:
            scale = max((self.scales.get(n, 0.0) for n in self.neurons), default=0.0)
        else:
            scale = self.scales.get(neuron, 0.0)
        if not scale:  # no stats yet: fall back to this sentence's range
            finite = values[np.isfinite(values)]
            scale = float(np.abs(finite).max()) if finite.size else 0.0
        return scale

    def levels_for(self, s: int, row: int) -> list[int] | None:
        """Colour levels of sentence ``s``'s tokens in token row ``row`` (tests use this)."""
        if self.source is None or not self.neurons:
            return None
        rows = self.source.cache.get(s)
        if rows is None:
            return None
        neuron = self.neurons[row]
        return self._levels(rows, neuron)

    def _levels(self, rows: SentenceRows, neuron: int) -> list[int]:
        """Signed colour level of every token (plain Python: sentences are short, and
        numpy's per-call overhead dominated on arrays of ten values)."""
        values = rows.values[:, neuron]
        scale = self._scale(neuron, values)
        if not scale:
            return [0] * len(values)
        k = LEVELS / scale
        out = []
        for v in values.tolist():
            x = v * k
            if x != x:  # NaN
                out.append(0)
            elif x >= LEVELS:  # also +inf
                out.append(LEVELS)
            elif x <= -LEVELS:
                out.append(-LEVELS)
            else:
                out.append(round(x))
        return out

    def render_lines(self, crop: Region) -> list[Strip]:
        """Look up the pane width once per frame, not once per line."""
        self._pass_width = self.scrollable_content_region.width
        try:
            return super().render_lines(crop)
        finally:
            self._pass_width = 0

    def render_line(self, y: int) -> Strip:
        """Draw line ``y`` of the pane."""
        width = self._pass_width or self.scrollable_content_region.width
        line = int(self.scroll_y) + y
        h = self.block_height
        s, r = divmod(line, h)
        if self.source is None:
            if y == 1 and self.empty_message:
                text = "  " + self.empty_message
                return Strip(
                    [Segment(text, self._style("sentence-view--loading"))]
                ).adjust_cell_length(width, self._style(""))
            return Strip.blank(width, self._style(""))
        if s >= self.sentence_count:
            return Strip.blank(width, self._style(""))
        cursor = self.cursor_position if s == self.cursor_sentence else -1
        key = (s, r, cursor)
        strip = self._strips.get(key)
        if strip is None:
            rows = self.source.cache.get(s)
            if rows is None:
                self._schedule_load(s)
                return self._placeholder(s, r, width)
            strip = self._build(s, r, rows, cursor)
            self._strips[key] = strip
        x = int(self.scroll_x)
        if x == 0:
            if strip.cell_length == width:
                return strip
            if strip.cell_length < width:
                return strip.extend_cell_length(width, self._style(""))
        return strip.crop_extend(x, x + width, self._style(""))

    def _gutter(self, s: int, r: int) -> list[Segment]:
        base = self._style("")
        gutter, tag = self._gutter_width()
        segs: list[Segment] = []
        if r == 0:
            name = (
                "sentence-view--gutter-cursor"
                if s == self.cursor_sentence
                else "sentence-view--gutter"
            )
            mark = "•" if s in self.hits else " "
            segs.append(Segment(f"{s:>{gutter - 2}}{mark} ", self._style(name)))
        else:
            segs.append(Segment(" " * gutter, base))
        if tag:
            text = fit(self.neuron_names[r], tag - 1) + " " if r < len(self.neurons) else " " * tag
            segs.append(Segment(text, self._style("sentence-view--tag")))
        return segs

    def _placeholder(self, s: int, r: int, width: int) -> Strip:
        style = self._style("sentence-view--loading")
        segs = self._gutter(s, r)
        if r == 0:
            segs.append(Segment("…", style))
        return Strip(segs).adjust_cell_length(width, self._style(""))

    def _cells(self, s: int, tokens: list[str]) -> tuple[tuple[str, ...], int]:
        """Tokens of sentence ``s`` as drawn (escaped, padded to their column) and the
        width of a token row; cached per sentence."""
        cached = self._padded.get(s)
        if cached is not None:
            return cached
        widths = self._token_widths(s, tokens)
        texts = []
        for token, width in zip(tokens, widths, strict=True):
            text = display_token(token)
            texts.append(text + " " * (width - cell_len(text)))
        result = (tuple(texts), sum(widths) + len(widths))
        self._padded[s] = result
        return result

    def _build(self, s: int, r: int, rows: SentenceRows, cursor: int) -> Strip:
        segs = self._gutter(s, r)
        texts, width = self._cells(s, rows.tokens)
        gutter, tag = self._gutter_width()
        width += gutter + tag
        if r < self.token_rows:
            styles = self._level_styles()
            levels = self._levels(rows, self.neurons[r]) if self.neurons else [0] * len(texts)
            sep = self._sep
            mono = self.cmap.mono
            marker = self.cmap.marker
            append = segs.append
            for text, level in zip(texts, levels, strict=True):
                append(Segment(text, styles[level + LEVELS]))
                append(Segment(marker(level), sep.style) if mono else sep)
            hits = self.hits.get(s)
            if hits or cursor >= 0:
                first = len(segs) - 2 * len(texts)
                hit_style = self._overlay("sentence-view--hit")
                cursor_style = self._overlay("sentence-view--cursor")
                for j in range(len(texts)):
                    style = segs[first + 2 * j].style or Style.null()
                    if hits and j in hits:
                        style = style + hit_style
                    if j == cursor:
                        style = style + cursor_style
                    segs[first + 2 * j] = Segment(texts[j], style)
        elif self.labels is not None and r == self.token_rows:
            labs = self.labels[s] if s < len(self.labels) else []
            style = self._style("sentence-view--label")
            for j, w in enumerate(self._token_widths(s, rows.tokens)):
                text = display_token(labs[j]) if j < len(labs) else ""
                segs.append(Segment(text + " " * (w - cell_len(text)) + " ", style))
        else:
            return Strip(segs)
        return Strip(segs, width)

    # -- cursor and navigation -----------------------------------------------------------
    def _announce(self) -> None:
        self.post_message(TokenFocused(self.cursor_sentence, self.cursor_position))

    def _sentence_length(self, s: int) -> int:
        if self.source is None or not 0 <= s < self.sentence_count:
            return 0
        return int(self.source.cache.lengths[s])

    def jump_to(self, sentence: int, position: int = 0, *, top: bool = True) -> None:
        """Put the cursor on ``sentence``/``position`` and scroll it into view."""
        if self.source is None or self.sentence_count == 0:
            return
        sentence = max(0, min(self.sentence_count - 1, sentence))
        length = self._sentence_length(sentence)
        self.cursor_sentence = sentence
        self.cursor_position = max(0, min(max(0, length - 1), position))
        h = self.block_height
        height = self.scrollable_content_region.height
        y0 = sentence * h
        if top:
            self.scroll_to(y=max(0, y0 - height // 3), animate=False, immediate=True)
        elif y0 < self.scroll_y:
            self.scroll_to(y=y0, animate=False, immediate=True)
        elif y0 + h > self.scroll_y + height:
            self.scroll_to(y=y0 + h - height, animate=False, immediate=True)
        self._scroll_token_visible()
        self.refresh()
        self._announce()

    def _token_x(self, s: int, position: int) -> tuple[int, int]:
        rows = self.source.cache.get(s) if self.source else None
        if rows is None:
            return 0, 0
        gutter, tag = self._gutter_width()
        widths = self._token_widths(s, rows.tokens)
        x = gutter + tag + sum(widths[:position]) + position
        return x, widths[position] if position < len(widths) else 1

    def _scroll_token_visible(self) -> None:
        x, w = self._token_x(self.cursor_sentence, self.cursor_position)
        width = self.scrollable_content_region.width
        gutter, tag = self._gutter_width()
        if x + w + 1 > self.scroll_x + width:
            self.scroll_to(x=x + w + 1 - width, animate=False, immediate=True)
        elif x - gutter - tag < self.scroll_x:
            self.scroll_to(x=max(0, x - gutter - tag), animate=False, immediate=True)

    def action_sentence(self, delta: int) -> None:
        """Previous/next sentence."""
        self.jump_to(self.cursor_sentence + delta, self.cursor_position, top=False)

    def action_token(self, delta: int) -> None:
        """Previous/next token (wraps to the neighbouring sentence)."""
        pos = self.cursor_position + delta
        s = self.cursor_sentence
        if pos < 0 and s > 0:
            s -= 1
            pos = max(0, self._sentence_length(s) - 1)
        elif pos >= self._sentence_length(s) and s < self.sentence_count - 1:
            s, pos = s + 1, 0
        self.jump_to(s, pos, top=False)

    def action_page(self, direction: int) -> None:
        """Page up/down."""
        page = max(1, self.scrollable_content_region.height // self.block_height - 1)
        target = self.cursor_sentence + direction * page
        self.scroll_to(
            y=max(0, self.scroll_y + direction * page * self.block_height),
            animate=False,
            immediate=True,
        )
        self.jump_to(target, 0, top=False)

    def action_first(self) -> None:
        """First sentence."""
        self.jump_to(0, 0)

    def action_last(self) -> None:
        """Last sentence."""
        self.jump_to(self.sentence_count - 1, 0, top=False)

    def action_next_hit(self, direction: int) -> None:
        """Next/previous search match."""
        if not self.hits:
            self.notify("no search matches: press / to search", severity="warning")
            return
        here = (self.cursor_sentence, self.cursor_position)
        matches = sorted((s, p) for s, ps in self.hits.items() for p in ps)
        if direction > 0:
            after = [m for m in matches if m > here]
            target = after[0] if after else matches[0]
        else:
            before = [m for m in matches if m < here]
            target = before[-1] if before else matches[-1]
        self.jump_to(*target)

    def on_click(self, event: events.Click) -> None:
        """Mouse: click a token to put the cursor on it."""
        line = int(self.scroll_y) + event.y
        s = line // self.block_height
        if self.source is None or s >= self.sentence_count:
            return
        rows = self.source.cache.get(s)
        if rows is None:
            return
        x = int(self.scroll_x) + event.x
        gutter, tag = self._gutter_width()
        pos, start = 0, gutter + tag
        for j, w in enumerate(self._token_widths(s, rows.tokens)):
            if start <= x < start + w + 1:
                pos = j
                break
            start += w + 1
        else:
            pos = self.cursor_position
        self.jump_to(s, pos, top=False)
