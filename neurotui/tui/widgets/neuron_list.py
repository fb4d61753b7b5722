"""The ranked neuron list: a Line-API view that stays fast with thousands of rows.

Why the Line API: a ranking can hold every neuron of a model (tens of thousands); drawing
only the visible rows, each built once from Segments and cached as a Strip, keeps scrolling
and filtering instant. Segments (never markup) also keep neuron names and user notes literal.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from neurotui.tui.messages import NeuronHighlighted, PinToggled
from neurotui.tui.text import fit


@dataclass(frozen=True)
class NeuronRow:
    """One row: rank (0-based), neuron id, readable name, score and cutoff band."""

    rank: int
    neuron: int
    name: str
    score: float | None = None
    band: int | None = None


class NeuronList(ScrollView, can_focus=True):
    """Ranked neurons with a cursor, a filter and a pinned selection."""

    HELP = """\
## Neurons

The neurons of the chosen ranking, most important first.

- **↑/↓, j/k** move · **PgUp/PgDn** page · **g/G, Home/End** first/last
- **space** pin/unpin the neuron (pinned neurons get their own row in the sentences)
- **/** filter by id, name or your note · **:** jump to a neuron by id or name
- **e** name the neuron / write a note · **x** clear pinned neurons

The **band** column shows Algorithm 1's cutoff bands: neurons in one band (┌ starts
a band) were added together, so their order inside the band is arbitrary.
"""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="neurons.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="neurons.down"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="neurons.page_up"),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False, id="neurons.page_down"),
        Binding("home,g", "first", "First", show=False, id="neurons.first"),
        Binding("end,G", "last", "Last", show=False, id="neurons.last"),
        Binding("space", "pin", "Pin", id="neurons.pin"),
    ]

    COMPONENT_CLASSES = {
        "neuron-list--cursor",
        "neuron-list--cursor-blur",
        "neuron-list--pinned",
        "neuron-list--dim",
        "neuron-list--band-a",
        "neuron-list--band-b",
        "neuron-list--note",
    }

    DEFAULT_CSS = """
    NeuronList { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[NeuronRow] = []
        self._visible: list[int] = []
        self._cursor = 0
        self._pinned: set[int] = set()
        self._user_names: dict[int, str] = {}
        self._filter = ""
        self._name_width = 12
        # ~10 screens of rows: every cached strip is walked by each full garbage collection
        self._cache: LRUCache[tuple[int, bool, bool, int], Strip] = LRUCache(512)

    # -- data ----------------------------------------------------------------------------
    def set_rows(self, rows: list[NeuronRow], keep_neuron: int | None = None) -> None:
        """Show ``rows``; the cursor stays on ``keep_neuron`` when it is among them."""
        self._rows = rows
        self._name_width = max([8, *(len(r.name) for r in rows[:5000])])
        self._apply_filter(keep_neuron)

    def set_user_names(self, names: dict[int, str]) -> None:
        """Neuron names chosen by the user (shown after the neuron's own name)."""
        self._user_names = dict(names)
        self._apply_filter(self.cursor_neuron)

    def set_pinned(self, pinned: list[int]) -> None:
        """The pinned neurons (marked with ●)."""
        self._pinned = set(pinned)
        self._cache.clear()
        self.refresh()

    @property
    def rows(self) -> list[NeuronRow]:
        """All rows (unfiltered)."""
        return self._rows

    def column_header(self) -> Text:
        """The columns' titles, aligned with the rows: rank, neuron, score, band (the last
        two when the ranking has them)."""
        rows = self._rows
        text = Text(no_wrap=True, overflow="ellipsis", style=Style(dim=True))
        text.append(f"  rank {fit('neuron', self._name_width)} ")
        if rows and rows[0].score is not None:
            text.append("   score ")
        if rows and rows[0].band is not None:
            text.append("band")
        return text

    @property
    def visible_rows(self) -> list[NeuronRow]:
        """The rows that pass the filter, in order."""
        return [self._rows[i] for i in self._visible]

    @property
    def filter_text(self) -> str:
        """The current filter ('' when none)."""
        return self._filter

    @property
    def cursor_neuron(self) -> int | None:
        """The neuron under the cursor."""
        if not self._visible:
            return None
        return self._rows[self._visible[self._cursor]].neuron

    def set_filter(self, text: str) -> None:
        """Keep rows whose id, name or user name contains ``text`` (case-insensitive)."""
        self._filter = text.strip()
        self._apply_filter(self.cursor_neuron)

    def _apply_filter(self, keep_neuron: int | None) -> None:
        text = self._filter.lower()
        if not text:
            self._visible = list(range(len(self._rows)))
        else:
            self._visible = [
                i
                for i, r in enumerate(self._rows)
                if text == str(r.neuron)
                or text in r.name.lower()
                or text in self._user_names.get(r.neuron, "").lower()
            ]
        self._cursor = 0
        if keep_neuron is not None:
            for k, i in enumerate(self._visible):
                if self._rows[i].neuron == keep_neuron:
                    self._cursor = k
                    break
        self._cache.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._visible))
        self._scroll_cursor_visible()
        self.refresh()

    def select_neuron(self, neuron: int) -> bool:
        """Move the cursor to ``neuron`` (clearing a filter that hides it); False if absent."""
        for attempt in range(2):
            for k, i in enumerate(self._visible):
                if self._rows[i].neuron == neuron:
                    self._move_to(k)
                    return True
            if attempt == 0 and self._filter:
                self._filter = ""
                self._apply_filter(None)
        return False

    # -- actions -------------------------------------------------------------------------
    def _move_to(self, index: int, announce: bool = True) -> None:
        if not self._visible:
            return
        index = max(0, min(len(self._visible) - 1, index))
        old = self._cursor
        self._cursor = index
        self._refresh_row(old)
        self._refresh_row(index)
        self._scroll_cursor_visible()
        if announce and self.cursor_neuron is not None:
            self.post_message(NeuronHighlighted(self.cursor_neuron))

    def _refresh_row(self, index: int) -> None:
        self.refresh_line(index)

    def _scroll_cursor_visible(self) -> None:
        height = max(1, self.scrollable_content_region.height)
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + height:
            self.scroll_to(y=self._cursor - height + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        self._move_to(self._cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move a page up or down."""
        self._move_to(self._cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        """First row."""
        self._move_to(0)

    def action_last(self) -> None:
        """Last row."""
        self._move_to(len(self._visible) - 1)

    def action_pin(self) -> None:
        """Pin or unpin the neuron under the cursor."""
        if self.cursor_neuron is not None:
            self.post_message(PinToggled(self.cursor_neuron))

    def on_click(self, event: object) -> None:
        """Mouse: click a row to move the cursor there."""
        y = getattr(event, "y", None)
        if y is not None:
            self._move_to(int(self.scroll_y) + int(y))

    def on_resize(self) -> None:
        """Keep the virtual width in step with the pane."""
        self._cache.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._visible))

    def notify_style_update(self) -> None:
        """Theme changes invalidate the cached strips."""
        super().notify_style_update()
        self._cache.clear()

    # -- drawing -------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """Draw visible row ``y`` (cached per row, cursor and pin state)."""
        index = int(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if index >= len(self._visible):
            return Strip.blank(width, self.rich_style)
        row = self._rows[self._visible[index]]
        is_cursor = index == self._cursor
        key = (index, is_cursor, row.neuron in self._pinned, width)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._build(index, row, is_cursor, width)
            self._cache[key] = strip
        return strip

    def _band_start(self, index: int) -> bool:
        if index == 0:
            return True
        prev = self._rows[self._visible[index - 1]]
        return prev.band != self._rows[self._visible[index]].band

    def _build(self, index: int, row: NeuronRow, is_cursor: bool, width: int) -> Strip:
        base = self.rich_style
        dim = base + self.get_component_rich_style("neuron-list--dim", partial=True)
        note = base + self.get_component_rich_style("neuron-list--note", partial=True)
        pinned = row.neuron in self._pinned
        pin_style = base + self.get_component_rich_style("neuron-list--pinned", partial=True)
        segs = [
            Segment("●" if pinned else " ", pin_style),
            Segment(f"{row.rank + 1:>5} ", dim),
            Segment(fit(row.name, self._name_width) + " ", base),
        ]
        if row.score is not None:
            score = f"{row.score:8.3f}" if abs(row.score) < 1000 else f"{row.score:8.2e}"
            segs.append(Segment(score + " ", base))
        if row.band is not None:
            band_style = base + self.get_component_rich_style(
                "neuron-list--band-a" if row.band % 2 == 0 else "neuron-list--band-b", partial=True
            )
            mark = f"┌{row.band}" if self._band_start(index) else "│"
            segs.append(Segment(f"{mark:<4}", band_style))
        user = self._user_names.get(row.neuron)
        if user:
            segs.append(Segment(user, note))
        strip = Strip(segs).adjust_cell_length(width, base)
        if is_cursor:
            name = "neuron-list--cursor" if self.has_focus else "neuron-list--cursor-blur"
            strip = strip.apply_style(self.get_component_rich_style(name, partial=True))
        return strip.simplify()

    def on_focus(self) -> None:
        """The cursor looks different with focus."""
        self._cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        """The cursor looks different without focus."""
        self._cache.clear()
        self.refresh()
