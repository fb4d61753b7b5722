"""Rendering that leaves no reference cycles behind (two small patches of Textual 8.2).

Why: memory held in reference cycles is freed only by Python's cyclic garbage collector,
and a full collection runs on whichever thread allocates at the time — in the app, mostly
the UI thread — pausing it for as long as the collection takes. Two sources in Textual
filled the oldest generation with dead cycles at every key press (measured with
``bench/bench_tui.py`` on the 2 GB store: each full collection then found 22,000–26,000
dead objects and paused 80–320 ms, the key-latency stalls while a ranking ran; 10 neuron
keys left ~40,000 dead objects in cycles, after these patches ~45):

* ``LRUCache`` keeps its entries in a ring of Python lists, and ``clear()`` drops the whole
  ring at once: a cycle holding every cached line. The sentence pane clears its line
  cache at every recolour (each neuron switch), the neuron list at every filter, focus
  or theme change, Textual's option lists (the card's top words) at every refill. The
  patched ``clear`` empties each link first, so reference counting frees the lines.
* ``Strip`` memoises its transformations, and three of them store the strip itself when
  the transformation changes nothing: ``divide`` caches ``[self]`` (the compositor divides
  every line of every frame, nearly always at its own length), ``adjust_cell_length`` and
  ``crop_extend`` cache ``self``. Each such strip sits in a cycle (strip → cache → strip)
  with its seven caches and its segments, about twenty objects. The patched methods drop
  just those self-entries (the strip is returned unchanged either way: nothing is lost but
  a dict hit).

:func:`install` applies both once per process (the app calls it); results are identical.
Each patch checks Textual's shape first and stays off when it differs, and
``tests/tui/test_acyclic.py`` fails then, so an upgrade cannot lose them silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

_INSTALLED: dict[str, bool] = {}


def _forget(cache: Any, key: object) -> None:
    """Remove ``key`` from a Textual ``FIFOCache`` (its ``_cache`` dict), if present."""
    entries = getattr(cache, "_cache", None)
    if isinstance(entries, dict):
        entries.pop(key, None)


def _patch_lru_clear() -> bool:
    from textual.cache import LRUCache

    probe: LRUCache[int, int] = LRUCache(2)
    probe[1] = 1
    links = getattr(probe, "_cache", None)
    if not (isinstance(links, dict) and all(isinstance(v, list) for v in links.values())):
        return False
    clear = LRUCache.clear

    def clear_acyclic(self: LRUCache[Any, Any]) -> None:
        for link in self._cache.values():
            link.clear()  # a ring link is a list [prev, next, key, value]
        clear(self)

    LRUCache.clear = clear_acyclic  # type: ignore[method-assign]  # upstream class, on purpose
    return True


def _patch_strip() -> bool:
    from textual.strip import Strip

    probe = Strip([], 0)
    needed = ("_divide_cache", "_line_length_cache", "_crop_extend_cache")
    if not all(hasattr(getattr(probe, name, None), "_cache") for name in needed):
        return False
    divide, adjust, crop_extend = Strip.divide, Strip.adjust_cell_length, Strip.crop_extend

    def divide_acyclic(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
        cuts = list(cuts)
        strips = divide(self, cuts)
        if len(strips) == 1 and strips[0] is self:
            _forget(self._divide_cache, tuple(c for c in cuts if c <= self.cell_length))
        return strips

    def adjust_acyclic(self: Strip, cell_length: int, style: Any = None) -> Strip:
        strip = adjust(self, cell_length, style)
        if strip is self:
            _forget(self._line_length_cache, (cell_length, style))
        return strip

    def crop_extend_acyclic(self: Strip, start: int, end: int, style: Any) -> Strip:
        strip = crop_extend(self, start, end, style)
        if strip is self:
            _forget(self._crop_extend_cache, (start, end, style))
        return strip

    Strip.divide = divide_acyclic  # type: ignore[method-assign]  # upstream class, on purpose
    Strip.adjust_cell_length = adjust_acyclic  # type: ignore[method-assign]  # likewise
    Strip.crop_extend = crop_extend_acyclic  # type: ignore[method-assign]  # likewise
    return True


def install() -> dict[str, bool]:
    """Apply the patches (idempotent); which ones are on (``lru_clear``, ``strip``)."""
    if not _INSTALLED:
        _INSTALLED["lru_clear"] = _patch_lru_clear()
        _INSTALLED["strip"] = _patch_strip()
    return dict(_INSTALLED)
