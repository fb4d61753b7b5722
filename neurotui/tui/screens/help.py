"""The help screen: what the focused pane does, then every key binding.

Why per pane: each widget carries its own ``HELP`` text, so help is written next to the
code it describes and the screen opens on the part the user is looking at.
"""

from __future__ import annotations

import re

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from neurotui.tui.screens.modal import DismissOnce

_INLINE = re.compile(r"(\*\*[^*]+\*\*|`[^`]+`)")


def render_help(markdown: str) -> Text:
    """A tiny Markdown subset (## headings, - bullets, **bold**, `code`) as Rich Text.

    Why not Textual's Markdown widget: it mounts a widget per block and made opening the
    help take seconds on a busy machine; the help text is ours and this small subset is
    all it uses.
    """
    text = Text()
    for line in markdown.splitlines():
        if line.startswith("## "):
            text.append(line[3:] + "\n", style=Style(bold=True, underline=True))
            continue
        if line.startswith("- "):
            text.append("  • ")
            line = line[2:]
        for part in _INLINE.split(line):
            if part.startswith("**") and part.endswith("**"):
                text.append(part[2:-2], style=Style(bold=True))
            elif part.startswith("`") and part.endswith("`"):
                text.append(part[1:-1], style=Style(italic=True))
            else:
                text.append(part)
        text.append("\n")
    return text


GENERAL = """\
## Everywhere

- **?** this help · **ctrl+p** command palette (jump to a neuron, compute a ranking,
  switch theme, …) · **q** quit
- **tab / shift+tab** next/previous pane · **z** maximise the pane (again: restore)
- **<  >** narrower/wider left column · **[  ]** narrower/wider neuron card
- **:** jump to a neuron by id, name (`enc.l1:217`) or your own name for it
- **x** unpin all neurons · **S** per-neuron/global colour scaling · **L** label tags
- **m** monochrome cues (like `NO_COLOR`) · **T** next theme · digits switch modes

Keys can be rebound in `~/.config/neurotui/keymap.toml` (see `docs/app.md`).
"""


class HelpScreen(DismissOnce, ModalScreen[None]):
    """Markdown help; Escape or ? closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%; background: $panel;
        border: round $primary; padding: 0 1;
    }
    """

    def __init__(self, pane_help: str, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.pane_help = pane_help
        self.bindings_table = bindings

    def compose(self) -> ComposeResult:
        text = render_help("\n".join(p for p in (self.pane_help, GENERAL) if p))
        text.append("Key bindings (current keymap)\n", style=Style(bold=True, underline=True))
        width = max((len(k) for k, _ in self.bindings_table), default=4)
        for key, description in self.bindings_table:
            text.append(f"  {key:<{width}}  ", style=Style(bold=True))
            text.append(description + "\n")
        with VerticalScroll():
            yield Static(text)

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
