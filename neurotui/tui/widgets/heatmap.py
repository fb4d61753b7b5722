"""A sites × positions heatmap with a cell cursor (the Patch mode's causal-tracing map).

Why the Line API: a map is a grid of short cells that is redrawn on every cursor move;
drawing it line by line from segments (``render_line``) costs only the visible rows, and
scrolling comes from ``ScrollView``. Every label (site names, the model's source tokens)
goes in as a plain ``Segment`` — never parsed as markup — so a token like ``[b]`` shows as
itself. Cells are coloured by value with the app's activation colour map (themes, the
activation scale and monochrome mode apply as everywhere else): positive toward the
scale's positive colour, negative toward its negative one, ``±1`` at full strength.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.tui.colour import ColourMap

#: characters per cell (a value like ``-0.25`` plus a space)
CELL = 7
#: header lines above the grid: position index, then its word
HEADER = 2


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters (an ellipsis when cut), right-aligned."""
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…"
    return text.rjust(width)


class Heatmap(ScrollView, can_focus=True):
    """Rows × columns of values; arrow keys move the cursor, Enter chooses its cell."""

    BINDINGS = [
        Binding("left", "move(0, -1)", "Cell ←", show=False, id="heatmap.left"),
        Binding("right", "move(0, 1)", "Cell →", show=False, id="heatmap.right"),
        Binding("up", "move(-1, 0)", "Cell ↑", show=False, id="heatmap.up"),
        Binding("down", "move(1, 0)", "Cell ↓", show=False, id="heatmap.down"),
        Binding("enter", "choose", "Patch cell", id="heatmap.choose"),
    ]

    DEFAULT_CSS = """
    Heatmap { height: auto; max-height: 60%; scrollbar-size: 1 1; }
    Heatmap:focus { background-tint: $foreground 3%; }
    """

    class CellChosen(Message):
        """Enter on a cell (``row``/``column`` index the data; ``None`` when empty)."""

        def __init__(self, row: int | None, column: int | None) -> None:
            super().__init__()
            self.row = row
            self.column = column

    class CursorMoved(Message):
        """The cursor moved to another cell."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.words: list[str] = []
        self.values: list[list[float | None]] = []
        self.cursor = (0, 0)
        self.empty_message = ""

    # -- data ----------------------------------------------------------------------------
    def set_data(
        self,
        rows: Sequence[str],
        columns: Sequence[str],
        values: Sequence[Sequence[float | None]],
        words: Sequence[str] | None = None,
    ) -> None:
        """Show ``values[row][column]``; ``columns`` head the cells, ``words`` (same
        length) go on the second header line. The cursor is kept when it still fits."""
        self.rows = list(rows)
        self.columns = list(columns)
        self.words = list(words) if words is not None else [""] * len(self.columns)
        self.values = [list(r) for r in values]
        r, c = self.cursor
        self.cursor = (min(r, max(0, len(self.rows) - 1)), min(c, max(0, len(self.columns) - 1)))
        self.virtual_size = Size(
            self._label_width() + CELL * len(self.columns), HEADER + len(self.rows)
        )
        self.refresh()

    def clear(self, message: str = "") -> None:
        """No map: show ``message`` instead."""
        self.empty_message = message
        self.set_data([], [], [])

    @property
    def has_data(self) -> bool:
        return bool(self.rows and self.columns)

    def value_at(self, row: int, column: int) -> float | None:
        return self.values[row][column]

    def _label_width(self) -> int:
        return max((len(r) for r in self.rows), default=4) + 2

    # -- keys ----------------------------------------------------------------------------
    def action_move(self, rows: int, columns: int) -> None:
        if not self.has_data:
            return
        r, c = self.cursor
        r = max(0, min(len(self.rows) - 1, r + rows))
        c = max(0, min(len(self.columns) - 1, c + columns))
        if (r, c) != self.cursor:
            self.cursor = (r, c)
            x = self._label_width() + CELL * c
            # keep the cursor cell (and the row labels' width of context) in view
            self.scroll_to_region(
                Region(max(0, x - self._label_width()), r, CELL + self._label_width(), HEADER + 1),
                animate=False,
            )
            self.refresh()
            self.post_message(self.CursorMoved())

    def action_choose(self) -> None:
        if self.has_data:
            self.post_message(self.CellChosen(*self.cursor))
        else:
            self.post_message(self.CellChosen(None, None))

    # -- drawing -------------------------------------------------------------------------
    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return HEADER + len(self.rows) if self.has_data else 1

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        if not self.has_data:
            if y:
                return Strip.blank(width)
            return Strip([Segment(self.empty_message[:width], Style(dim=True))]).extend_cell_length(
                width
            )
        label_w = self._label_width()
        row = y + scroll_y if y >= HEADER else y
        bold, dim = Style(bold=True), Style(dim=True)
        segments: list[Segment] = []
        cur_r, cur_c = self.cursor
        if row < HEADER:
            segments.append(Segment(" " * label_w))
            for c, label in enumerate(self.columns):
                text = label if row == 0 else self.words[c]
                style = bold if c == cur_c else dim
                segments.append(Segment(_fit(text, CELL - 1) + " ", style))
        else:
            r = row - HEADER
            if r >= len(self.rows):
                return Strip.blank(width)
            style = Style(bold=True, reverse=r == cur_r)
            segments.append(Segment(self.rows[r].ljust(label_w - 1), style))
            segments.append(Segment(" "))
            colours = self._colours()
            for c, value in enumerate(self.values[r]):
                segments.append(self._cell(value, colours, r == cur_r and c == cur_c))
        strip = Strip(segments)
        # the row labels stay put; the cells scroll horizontally under them
        head = strip.crop(0, label_w)
        body = strip.crop(label_w + scroll_x, label_w + scroll_x + max(0, width - label_w))
        return Strip.join([head, body]).extend_cell_length(width).crop(0, width)

    def _colours(self) -> ColourMap | None:
        """The app's activation colours (``None`` in an app without them)."""
        colour_map = getattr(self.app, "colour_map", None)
        return colour_map() if callable(colour_map) else None

    @staticmethod
    def _cell(value: float | None, colours: ColourMap | None, cursor: bool) -> Segment:
        from neurotui.tui.colour import level_of

        if value is None:
            style = Style(dim=True)
            text = "·".rjust(CELL - 1) + " "
        else:
            level = level_of(value, 1.0)
            style = colours.style(level) if colours is not None else Style()
            text = _fit(f"{value:.2f}", CELL - 1) + " "
        if cursor:
            style = style + Style(reverse=True, bold=True, underline=True)
        return Segment(text, style)
