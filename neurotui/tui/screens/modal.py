"""Modal screens that close once, however many keys were already on their way.

Why: keys typed fast reach a modal screen after the one that closed it (Enter then Enter,
Enter then Escape): each called ``dismiss`` again, which popped the screen *under* the
modal — ``ScreenStackError`` (or ``InvalidStateError`` when a caller waited for the
result) ended the app. The monkey test found it with the jump prompt; every modal of the
app (prompts, note, help, intervention picker) closes through this mixin.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from textual.await_complete import AwaitComplete

if TYPE_CHECKING:  # pragma: no cover
    from textual.screen import ModalScreen

    _Screen = ModalScreen[Any]
else:  # at run time a plain mixin, placed before ModalScreen in the bases
    _Screen = object


class DismissOnce(_Screen):
    """Mixin for a ``ModalScreen``: the first ``dismiss`` wins, later ones do nothing.

    And only while it is the screen on top: Textual's ``dismiss`` pops the *top* screen, so
    a key that reached the modal after another screen opened over it closed that other
    screen and marked the modal closed — a prompt no key could close any more (an
    8,000-key monkey storm). Such a dismiss is dropped; the next key closes the modal once
    it is on top again.
    """

    _dismissed = False

    def dismiss(self, result: Any = None) -> AwaitComplete:
        if self._dismissed or self.app.screen is not self:
            return AwaitComplete(asyncio.sleep(0))
        self._dismissed = True
        return super().dismiss(result)
