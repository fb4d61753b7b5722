"""Full garbage collections at idle moments, not in the middle of a key.

Why: Python runs a full (oldest-generation) collection on whichever thread happens to
allocate when its counters say so; in the app that is mostly the UI thread, drawing the
frame of a key. A full pass walks every tracked object that is not frozen: with a large
store open and a ranking arriving, ~30 ms of CPU each, six to eight times in 40 neuron
keys (``bench/bench_tui.py``, after :mod:`neurotui.tui.acyclic` removed the dead cycles
that made them 80–320 ms). On a busy box those 30 ms of CPU become 100+ ms of wall time,
landing on whichever key is being served.

The collector leaves the young generations to Python (cheap, and they free short-lived
cycles as before) and takes the oldest off the automatic schedule. A timer runs the full
collection Python would have run when the user has been idle for a moment; if input never
pauses (a held key), it runs anyway after ``at_most_s``, so memory stays bounded.
:meth:`stop` restores the interpreter's thresholds (an app ended inside a longer process).
"""

from __future__ import annotations

import gc
import time

#: the oldest generation's threshold while the collector runs: never reached
NEVER = 1_000_000_000


class IdleCollector:
    """Defers full collections to moments without input."""

    def __init__(self, idle_s: float = 0.4, due_after: int = 10, at_most_s: float = 20.0) -> None:
        #: input-free seconds that count as idle
        self.idle_s = idle_s
        #: young collections since the last full one that make a full one due (Python's
        #: own third threshold, 10 by default)
        self.due_after = due_after
        #: longest wait for idleness while a full collection is due
        self.at_most_s = at_most_s
        self.collections = 0
        self._saved: tuple[int, int, int] | None = None
        self._last_input = time.monotonic()
        self._last_full = time.monotonic()

    def start(self) -> None:
        """Take full collections off Python's schedule (idempotent)."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, _oldest = self._saved
            gc.set_threshold(young, middle, NEVER)

    def stop(self) -> None:
        """Give the schedule back to Python."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def touch(self) -> None:
        """Input arrived (a key, the mouse): not idle now."""
        self._last_input = time.monotonic()

    def due(self) -> bool:
        """Whether Python would have run a full collection by now."""
        return gc.get_count()[2] >= self.due_after

    def tick(self) -> bool:
        """Run a due full collection if the user is idle (or has waited too long)."""
        if self._saved is None or not self.due():
            return False
        now = time.monotonic()
        if now - self._last_input < self.idle_s and now - self._last_full < self.at_most_s:
            return False
        gc.collect()
        self._last_full = time.monotonic()
        self.collections += 1
        return True
