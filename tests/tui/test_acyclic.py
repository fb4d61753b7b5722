"""Rendered lines are freed by reference counting, and full collections wait for idleness.

Why: dead reference cycles (Textual's cleared LRU rings, strips caching themselves) are
freed only by full garbage collections, which paused the UI thread 80–320 ms during a
ranking (bench/bench_tui.py); tui/acyclic.py removes the cycles and tui/collector.py moves
the remaining full collections to idle moments. Each test runs with the collector off, so
an object that is still alive afterwards is held by a cycle.
"""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.segment import Segment
from textual.cache import LRUCache
from textual.strip import Strip

from neurotui.tui import acyclic
from neurotui.tui.app import NeurotuiApp
from neurotui.tui.collector import NEVER, IdleCollector
from neurotui.tui.testing import make_store, settle, sync


@pytest.fixture(autouse=True)
def _no_gc() -> Iterator[None]:
    """The cyclic collector stays off: only reference counting frees objects here."""
    assert all(acyclic.install().values()), "Textual's shape changed: patches are off"
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _strip(text: str = "neuron 217") -> Strip:
    return Strip([Segment(text)])


class _Line:
    """A cached value that can be watched with a weak reference (Strip cannot)."""


def test_a_cleared_lru_cache_frees_its_lines_at_once() -> None:
    cache: LRUCache[int, _Line] = LRUCache(8)
    lines = [_Line() for _ in range(5)]
    refs = [weakref.ref(line) for line in lines]
    for i, line in enumerate(lines):
        cache[i] = line
    assert cache.get(3) is lines[3]  # moves a link: the ring is really used
    del lines, line
    assert all(r() is not None for r in refs)  # the cache holds them
    cache.clear()
    assert [r() for r in refs] == [None] * 5
    cache[9] = _Line()  # still a working cache after clear
    assert cache.get(9) is not None and len(cache) == 1


def test_strips_that_change_nothing_do_not_cache_themselves() -> None:
    strip = _strip()
    length = strip.cell_length
    assert list(strip.divide([length])) == [strip]
    assert strip.adjust_cell_length(length) is strip
    assert strip.crop_extend(0, length, None) is strip
    # nothing but this variable holds the strip (getrefcount adds its own argument)
    assert sys.getrefcount(strip) == 2


def test_real_transformations_are_still_cached_and_unchanged() -> None:
    strip = _strip("abcdef")
    left, right = strip.divide([2, 6])
    assert (left.text, right.text) == ("ab", "cdef")
    assert strip.divide([2, 6])[0] is left  # the memo still answers
    longer = strip.adjust_cell_length(8)
    assert longer.text == "abcdef  " and strip.adjust_cell_length(8) is longer
    assert strip.crop_extend(1, 3, None).text == "bc"


def test_the_idle_collector_defers_full_collections_to_idle_moments() -> None:
    saved = gc.get_threshold()
    collector = IdleCollector(idle_s=60.0, due_after=0, at_most_s=60.0)
    collector.start()
    try:
        assert gc.get_threshold() == (saved[0], saved[1], NEVER)
        collector.touch()
        assert collector.due() and not collector.tick()  # due, but input just came
        collector.idle_s = 0.0
        assert collector.tick() and collector.collections == 1  # idle: collected
        collector.idle_s = 60.0
        collector.touch()
        collector.at_most_s = 0.0
        assert collector.tick()  # input never pauses: collected anyway after at_most_s
    finally:
        collector.stop()
    assert gc.get_threshold() == saved
    assert not collector.tick()  # stopped: Python's own schedule again


@sync
async def test_the_app_runs_the_idle_collector_and_gives_the_schedule_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    saved = gc.get_threshold()
    app = NeurotuiApp(stores=[make_store(name="m0")])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert gc.get_threshold()[2] == NEVER
        before = app.collector._last_input
        await pilot.press("j")
        await settle(pilot)
        assert app.collector._last_input > before  # a key marks the app busy
        assert app.session.active is not None and app.session.active.view.cursor == 1
    assert gc.get_threshold() == saved
