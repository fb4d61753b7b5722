"""The colour legend under the sentences, plus the cursor token's values.

Why beside the sentences: a colour means nothing without its range; the legend shows the
scale's swatches (or the monochrome cues) with the numeric range of the first shown neuron
and the scaling mode, so what a colour means is always on screen.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from neurotui.tui.colour import LEVELS, ColourMap


class InfoLine(Widget):
    """One line of text that redraws without a layout pass (the cursor token's values)."""

    DEFAULT_CSS = """
    InfoLine { height: 1; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = Text()

    def show(self, text: Text) -> None:
        """Replace the text."""
        self.text = text
        self.refresh()

    def render(self) -> Text:
        """The text, cut to the width."""
        return self.text


class Legend(Widget):
    """One line: ``−r ▇▇▇▇ 0 ▇▇▇▇ +r`` and the scaling mode."""

    DEFAULT_CSS = """
    Legend { height: 1; width: 44; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cmap = ColourMap()
        self.scale = 0.0
        self.scaling = "neuron"
        self.subject = ""

    def show(self, cmap: ColourMap, scale: float, scaling: str, subject: str) -> None:
        """Update the legend (``subject`` names the neuron whose range is shown)."""
        self.cmap, self.scale, self.scaling, self.subject = cmap, scale, scaling, subject
        self.refresh()  # fixed width: no layout pass on every cursor step

    def render(self) -> Text:
        """Swatches from strong negative to strong positive."""
        text = Text(no_wrap=True, overflow="ellipsis")
        scale = self.scale
        text.append(f"{-scale:+.2f} " if scale else "− ", style=Style(dim=True))
        for level in range(-LEVELS, LEVELS + 1, 2):
            if level == 0:
                text.append(" 0 ", style=Style(dim=True))
                continue
            if self.cmap.mono:
                glyph = self.cmap.marker(level).strip() or ("+" if level > 0 else "−")
                text.append(glyph, style=self.cmap.style(level))
            else:
                text.append(" ", style=Style(bgcolor=self.cmap.swatch(level)))
        text.append(f" {scale:+.2f}" if scale else " +", style=Style(dim=True))
        mode = "per-neuron" if self.scaling == "neuron" else "global"
        text.append(f" {mode}", style=Style(dim=True))
        if self.cmap.mono:
            text.append(" · bold + · underline −", style=Style(dim=True))
        return text
