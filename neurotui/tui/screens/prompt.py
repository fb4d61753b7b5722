"""Small modal prompts: one line of input (jump to a neuron), or a neuron's name and note.

Why modal: a prompt takes the keyboard until Enter or Escape, so single-letter bindings of
the panes underneath never fire while typing.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from neurotui.tui.screens.modal import DismissOnce


class PromptScreen(DismissOnce, ModalScreen[str | None]):
    """Ask for one line; dismiss with the text (Enter) or ``None`` (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 64; height: auto; padding: 1 2; background: $panel; border: round $primary;
    }
    PromptScreen Label { width: 1fr; color: $text-muted; }
    """

    def __init__(self, title: str, placeholder: str = "", value: str = "", hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text))
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            if self.hint:
                yield Label(Text(self.hint))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: return the text."""
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        """Escape: return nothing."""
        self.dismiss(None)


class NoteScreen(DismissOnce, ModalScreen[tuple[str, str] | None]):
    """Edit a neuron's display name and note; returns ``(name, note)`` or ``None``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="note.cancel")]
    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical {
        width: 72; height: auto; padding: 1 2; background: $panel; border: round $primary;
    }
    NoteScreen Label { color: $text-muted; }
    """

    def __init__(self, neuron: str, name: str, note: str) -> None:
        super().__init__()
        self.neuron = neuron
        self.name_value = name
        self.note_value = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Name and note for {self.neuron} (Enter saves, Esc cancels)"))
            yield Input(
                value=self.name_value, placeholder="short name, e.g. past-tense", id="note-name"
            )
            yield Input(value=self.note_value, placeholder="note", id="note-text")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in the name moves to the note; Enter in the note saves."""
        event.stop()
        if event.input.id == "note-name":
            self.query_one("#note-text", Input).focus()
            return
        name = self.query_one("#note-name", Input).value
        note = self.query_one("#note-text", Input).value
        self.dismiss((name, note))

    def action_cancel(self) -> None:
        """Escape: keep the old note."""
        self.dismiss(None)
