"""The key bar at the bottom of every mode: Textual's ``Footer``, without its leak.

Why a subclass: in Textual 8.2.8 every ``FooterKey`` the footer composes binds its
``compact`` to the footer's (``data_bind``), which appends (key, setter) to the footer's
watcher list; the footer recomposes whenever the screen's bindings change (every mode
switch), and the old keys leave the screen but stay in that list, because closed watchers
are only dropped when ``compact`` itself changes — which it never does. Each mode switch
kept about 20 dead widgets with their caches (the monkey test saw +1.6 MiB per round of
four switches, without bound). Dropping the closed ones after each recompose ends it.
"""

from __future__ import annotations

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual's footer; watchers of keys it has removed are dropped after a recompose."""

    async def recompose(self) -> None:
        await super().recompose()
        self.drop_dead_watchers()
        self.call_after_refresh(self.drop_dead_dirty)

    def drop_dead_dirty(self) -> None:
        """Forget removed widgets the screen still lists as needing a repaint.

        Why: the removed keys' last refresh reaches the screen after they are gone; when
        the mode has been switched away by then (a fast key after the digit), the screen
        keeps them in its repaint set until... never (seen growing by 24 keys a round).
        """
        if not self.is_attached:
            return
        dirty = getattr(self.screen, "_dirty_widgets", None)
        if isinstance(dirty, set):
            dirty.difference_update([w for w in dirty if not w.is_attached])

    def drop_dead_watchers(self) -> None:
        """Forget watchers whose widget is closing or closed (the keys just removed)."""
        watchers = getattr(self, "__watchers", None)  # set by textual.reactive._watch
        if not isinstance(watchers, dict):
            return
        for callbacks in watchers.values():
            callbacks[:] = [
                (node, callback)
                for node, callback in callbacks
                if not (getattr(node, "_closing", False) or getattr(node, "_closed", False))
            ]
