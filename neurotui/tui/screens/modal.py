"""Modal screens that close once, however many keys were already on their way.

Why: keys typed fast reach a modal screen after the one that closed it (Enter then Enter,
Enter then Escape): each called ``dismiss`` again, which popped the screen *under* the
modal — ``ScreenStackError`` (or ``InvalidStateError`` when a caller waited for the
result) ended the app. The monkey test found it with the jump prompt; every modal of the
app (prompts, note, help, intervention picker) closes through this mixin.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.await_complete import AwaitComplete


class DismissOnce:
    """Mixin for a ``ModalScreen``: the first ``dismiss`` wins, later ones do nothing."""

    _dismissed = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._dismissed:
            return AwaitComplete(asyncio.sleep(0))
        self._dismissed = True
        return super().dismiss(result)  # type: ignore[misc]
