"""User-facing errors.

Why one exception type: every layer raises ``NeurotuiError`` with a one-line message that
names the file, line or field at fault; the CLI prints it as ``neurotui: error: …`` and the
app shows it as a notification. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class NeurotuiError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message.replace("\n", " "))


class CheckpointError(NeurotuiError):
    """A model checkpoint that is missing, corrupt, of the wrong kind or unsafe to load."""


class StoreError(NeurotuiError):
    """An activation store that cannot be read or written as asked."""


class DataError(NeurotuiError):
    """Text, label or reference files that do not line up (counts, tokens, values)."""


class Unsupported(NeurotuiError):
    """What this kind of model cannot do (an encoder does not translate, a seq2seq model
    has no perplexity): the user asked the wrong model, so it is one line, not a bug."""


class Cancelled(Exception):
    """Raised inside long computations when the caller asked them to stop."""
