"""The top line: what is open and which mode is shown.

Why custom: Textual's Header shows a title and a clock; we need the open store, its
partners, the chosen ranking and the modes — and no clock (snapshots stay deterministic).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from neurotui.tui.modes import MODES


class AppHeader(Widget):
    """``neurotui · store (+partners) · ranking …        1 Analysis  2 …``"""

    DEFAULT_CSS = """
    AppHeader { height: 1; background: $panel; color: $foreground; }
    """

    COMPONENT_CLASSES = {"app-header--mode", "app-header--mode-active", "app-header--title"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info: list[tuple[str, str]] = []
        self.mode = "analysis"

    def show(self, info: list[tuple[str, str]], mode: str) -> None:
        """``info`` is (text, style name) pairs: '' plain, 'dim', 'bold'."""
        self.info, self.mode = info, mode
        self.refresh()

    def render(self) -> Text:
        """Left: what is open. Right: the modes."""
        width = self.size.width
        left = Text(no_wrap=True, overflow="ellipsis")
        left.append(" neurotui ", style=self.get_component_rich_style("app-header--title"))
        for text, style in self.info:
            left.append(" ")
            left.append(
                text, style=Style(dim=True) if style == "dim" else Style(bold=style == "bold")
            )
        right = Text(no_wrap=True)
        for spec in MODES:
            name = "app-header--mode-active" if spec.name == self.mode else "app-header--mode"
            right.append(f" {spec.key} {spec.title} ", style=self.get_component_rich_style(name))
        room = width - right.cell_len
        if left.cell_len > room:
            left.truncate(max(0, room), overflow="ellipsis")
        left.pad_right(max(0, room - left.cell_len))
        return left + right
