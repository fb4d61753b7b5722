"""Deterministic data and helpers for the app's tests, benchmarks and demos.

Why in the package: the Pilot tests, the snapshot tests and ``bench/bench_tui.py`` need the
same small seeded stores (with tokens that look like markup) and the same "wait until the
workers are done" helper; the monkey test (``tests/tui/test_tui_monkey.py``) and its longer run
(``bench/bench_monkey.py``) share one key storm (:func:`monkey`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from neurotui.store.memory import MemoryStore
from neurotui.store.ranking import Partner, Ranking

if TYPE_CHECKING:  # pragma: no cover
    from textual.pilot import Pilot

    from neurotui.tui.app import NeurotuiApp

_T = TypeVar("_T")

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "walked", "[SEP]", "</s>", "[b]"]
SITES = (("enc.l0", 12), ("enc.l1", 12))


def make_tokens(n: int = 40, seed: int = 0) -> list[list[str]]:
    """``n`` sentences of 3–11 words drawn from :data:`WORDS` (markup-looking tokens too)."""
    rng = np.random.default_rng(seed)
    return [[WORDS[j] for j in rng.integers(0, len(WORDS), rng.integers(3, 12))] for _ in range(n)]


def make_store(
    name: str = "m0",
    seed: int = 0,
    tokens: list[list[str]] | None = None,
    sites: tuple[tuple[str, int], ...] = SITES,
    base: list[np.ndarray] | None = None,
) -> MemoryStore:
    """A seeded store; ``base`` (shared between stores) makes models "trained alike".

    Neuron 0 fires on "the"-like determiners (positive) and is negative on "[SEP]", so
    tests can check colours against known signs.
    """
    tokens = tokens if tokens is not None else make_tokens(seed=0)
    rng = np.random.default_rng(seed)
    width = sum(size for _, size in sites)
    acts = []
    for i, toks in enumerate(tokens):
        a = rng.standard_normal((len(toks), width)).astype(np.float32) * 0.3
        if base is not None:
            a += base[i][:, :width]
        for j, w in enumerate(toks):
            a[j, 0] = 2.0 if w in ("the", "a") else (-2.0 if w == "[SEP]" else a[j, 0])
        acts.append(a)
    labels = {
        "pos": [
            ["DT" if w in ("the", "a") else "NN" if w in ("cat", "mat", "dog") else "X" for w in t]
            for t in tokens
        ],
    }
    return MemoryStore(tokens, acts, list(sites), labels=labels, metadata={"name": name})


def make_partner_stores(n: int = 40) -> list[MemoryStore]:
    """Three stores of "models trained alike": shared signal, different noise.

    Store ``m0`` carries a saved ``probe/pos`` ranking with bands and per-class orders, and
    a ``maxcorr`` ranking whose partners say m1's neuron 5 is m0-neuron-0's best partner.
    """
    tokens = make_tokens(n)
    rng = np.random.default_rng(42)
    width = sum(size for _, size in SITES)
    base = [rng.standard_normal((len(t), width)).astype(np.float32) for t in tokens]
    stores = [make_store(f"m{k}", seed=k + 1, tokens=tokens, base=base) for k in range(3)]
    order = [0, 3, 1, 7, 2, 5, 4, 6, *range(8, width)]
    probe = Ranking(
        "probe",
        order=order,
        task="pos",
        scores=[round(1.0 - k / width, 4) for k in range(width)],
        bands=[k // 3 for k in range(width)],
        per_class={"DT": order, "NN": list(reversed(order))},
        evaluation={"accuracy": 0.93},
    )
    partners = {
        n: [Partner("m1", (n + 5) % width, 0.91), Partner("m2", n, 0.88)] for n in range(width)
    }
    maxcorr = Ranking("maxcorr", order=list(range(width)), partners=partners)
    stores[0].add_ranking("probe/pos", probe)
    stores[0].add_ranking("maxcorr", maxcorr)
    return stores


def sync(fn: Callable[..., Coroutine[Any, Any, _T]]) -> Callable[..., _T]:
    """Run an ``async def`` test with ``asyncio.run`` (no pytest async plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(pilot: Pilot, rounds: int = 20) -> None:
    """Wait until no worker runs and the message queues are drained.

    A worker superseded in its exclusive group (a newer sentence read, say) ends
    cancelled while we wait: that is normal and not an error; a failed worker is.
    """
    import contextlib

    from textual.worker import WorkerCancelled

    from neurotui.tui.widgets.neuron_card import CARD_DELAY

    app = pilot.app
    for k in range(rounds):
        await pilot.pause(CARD_DELAY + 0.03 if k == 0 else None)
        running = [w for w in app.workers if w.is_running]
        if not running:
            await pilot.pause()
            if not [w for w in app.workers if w.is_running]:
                return
        for worker in running:
            with contextlib.suppress(WorkerCancelled):
                await worker.wait()


def child_count(
    n: int, fail: bool = False, progress: Callable[[str, int, int], None] | None = None
) -> dict[str, int]:
    """A child-process job for tests: reports progress ``n`` times, then returns or fails."""
    import time

    from neurotui.errors import DataError

    for i in range(n):
        if progress is not None:
            progress("counting", i + 1, n)
        time.sleep(0.15)
    if fail:
        raise DataError("labels.txt line 3: 2 labels for 3 tokens")
    return {"counted": n}


def child_pid(progress=None):
    """A child-process job for tests: its process id, after one progress report."""
    import os

    if progress is not None:
        progress("pid", 1, 1)
    return {"pid": os.getpid(), "progress": 1 if progress is not None else 0}


def child_niceness(progress=None):
    """A child-process job for tests: the child's CPU niceness."""
    import os

    return os.nice(0)


class EchoServer:
    """A child-server object for tests (:class:`neurotui.tui.procjob.ChildServer`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def echo(self, text: str) -> str:
        """``prefix + text``, answered from the child."""
        return self.prefix + text

    def pid(self) -> int:
        """The child's process id (to check that it ends)."""
        import os

        return os.getpid()


# -- the monkey test: random keys through the whole app ----------------------------------
#: keys never pressed during a storm: they end the app (``q`` everywhere but in the help
#: screen; ``ctrl+q``/``ctrl+c`` are Textual's own quit keys)
QUIT_KEYS = frozenset({"q", "ctrl+q", "ctrl+c"})
#: editing and navigation keys a user presses anywhere (inputs, lists, modals)
SPECIAL_KEYS = (
    "up",
    "down",
    "left",
    "right",
    "tab",
    "shift+tab",
    "enter",
    "escape",
    "space",
    "backspace",
    "delete",
    "pageup",
    "pagedown",
    "home",
    "end",
    "ctrl+p",
)
PRINTABLE = [chr(c) for c in range(33, 127)]


def bound_keys() -> list[str]:
    """Every key the app binds (app, analysis widgets, every mode and its modal screens).

    Why read the bindings instead of listing keys: a key added to a mode later is pressed
    by the monkey test without anyone remembering to add it there.
    """
    from textual.binding import Binding

    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.keymap import mode_screen_classes
    from neurotui.tui.modes import MODES
    from neurotui.tui.screens.analysis import AnalysisScreen
    from neurotui.tui.screens.help import HelpScreen
    from neurotui.tui.screens.prompt import NoteScreen, PromptScreen
    from neurotui.tui.widgets.neuron_card import NeuronCard
    from neurotui.tui.widgets.neuron_list import NeuronList
    from neurotui.tui.widgets.ranking_tree import RankingTree
    from neurotui.tui.widgets.sentence_view import SentenceView

    classes: list[type] = [
        NeurotuiApp,
        AnalysisScreen,
        NeuronList,
        SentenceView,
        RankingTree,
        NeuronCard,
        HelpScreen,
        PromptScreen,
        NoteScreen,
        *mode_screen_classes(),
    ]
    keys: set[str] = {k.strip() for spec in MODES for k in spec.key.split(",")}
    for cls in classes:
        for binding in getattr(cls, "BINDINGS", []):
            if isinstance(binding, Binding):
                keys.update(k.strip() for k in binding.key.split(","))
    return sorted(keys - QUIT_KEYS)


def monkey_keys(count: int, seed: int) -> list[str]:
    """``count`` keys drawn with a fixed seed: half bound keys, the rest typing and moving.

    The digit keys 1–4 are bound keys (mode switches), so every mode gets its share; the
    quit keys are never drawn (the storm must end with the app still up).
    """
    import random

    rng = random.Random(seed)
    bound = bound_keys()
    printable = [c for c in PRINTABLE if c not in QUIT_KEYS]
    out: list[str] = []
    for _ in range(count):
        draw = rng.random()
        pool = bound if draw < 0.5 else printable if draw < 0.8 else SPECIAL_KEYS
        out.append(rng.choice(pool))
    return out


def rss_bytes() -> int:
    """Resident memory of this process (``VmRSS`` of /proc/self/status; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def live_rss_bytes() -> tuple[int, int]:
    """(RSS as it is, RSS after ``gc.collect()`` and glibc's ``malloc_trim(0)``).

    Why both: the allocator keeps freed memory (a probe's training matrix, a rewritten
    store's buffers) for reuse, so the plain figure moves with the largest transient
    allocation so far; after trimming it is what live objects hold, where a leak shows.
    """
    import contextlib
    import ctypes
    import gc

    gc.collect()
    raw = rss_bytes()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the plain figure only
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return raw, rss_bytes()


@dataclass
class MonkeyReport:
    """What a storm did: keys per mode, memory before/after, notifications shown."""

    keys: int = 0
    per_mode: dict[str, int] = field(default_factory=dict)
    rss_before: int = 0  # after the warm-up, trimmed (see live_rss_bytes)
    rss_after: int = 0  # after the storm, trimmed
    raw_before: int = 0  # the same, untrimmed
    raw_after: int = 0
    seconds: float = 0.0
    notifications: list[str] = field(default_factory=list)
    last_keys: list[str] = field(default_factory=list)
    #: after the storm: (key pressed, mode shown then), proving the app still answers
    final: list[tuple[str, str]] = field(default_factory=list)
    rss_trace: list[tuple[int, int]] = field(default_factory=list)  # (keys, RSS) every 100
    quit: bool = False  # the quit key ended the app at the very end
    #: quits chosen in the command palette during the storm (Textual's "Quit the
    #: application" system command), kept from ending the app
    palette_quits: int = 0

    @property
    def internal_errors(self) -> list[str]:
        """Notifications that report a bug (a worker's unexpected exception)."""
        return [n for n in self.notifications if "internal error" in n]

    def summary(self) -> str:
        """One line for test output and the benchmark."""
        grown = (self.rss_after - self.rss_before) / 2**20
        modes = ", ".join(f"{m} {n}" for m, n in sorted(self.per_mode.items()))
        raw = (self.raw_after - self.raw_before) / 2**20
        return (
            f"{self.keys} keys in {self.seconds:.1f} s ({modes}); RSS "
            f"{self.rss_before / 2**20:.1f} → {self.rss_after / 2**20:.1f} MiB "
            f"({grown:+.1f} MiB; untrimmed {self.raw_before / 2**20:.1f} → "
            f"{self.raw_after / 2**20:.1f}, {raw:+.1f}); "
            f"{len(self.notifications)} notifications"
        )


async def press_fast(pilot: Pilot, key: str) -> None:
    """Press ``key`` and wait until the screen has handled it, but not for an idle CPU.

    Why not ``pilot.press``: it also waits until the *process* looks idle (CPU time vs wall
    time, up to a second per key), and a runner mode's model or a ranking worker keeps the
    process busy; thousands of keys would then take most of an hour. A user typing while
    work runs in the background is what the storm should be anyway.
    """
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(
            _get_unicode_name_from_key(REPLACED_KEYS.get(key, key))
        )
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    driver = app._driver
    if driver is None:  # the app has not started (or has already stopped)
        raise RuntimeError("press_fast: the app has no driver")
    driver.send_message(event)
    await pilot.pause(0)


async def quiesce(pilot: Pilot, timeout: float = 60.0) -> None:
    """Cancel the runner modes' requests, wait for them to end, then :func:`settle`.

    Why: the runner modes work on their own threads (not Textual workers), which
    :func:`settle` does not see; a memory figure taken while an ablation curve still runs
    would measure the curve, not a leak.
    """
    import asyncio
    import time

    app = pilot.app
    screens = [s for stack in app._screen_stacks.values() for s in stack]
    for screen in screens:
        runner, pending = getattr(screen, "runner", None), getattr(screen, "pending", None)
        if runner is not None and pending is not None:
            runner.cancel(pending)
    end = time.monotonic() + timeout
    while any(getattr(s, "pending", None) is not None for s in screens):
        if time.monotonic() > end:
            busy = [type(s).__name__ for s in screens if getattr(s, "pending", None)]
            raise AssertionError(f"runner requests still pending after {timeout:.0f} s: {busy}")
        await asyncio.sleep(0.05)
        await pilot.pause()
    await settle(pilot)


async def prime_runners(pilot: Pilot, timeout: float = 120.0) -> None:
    """Load every runner mode's model now (a no-op job), before memory is measured.

    Why: a runner loads its model at its first request, and the ablation and control
    modes send none until ``enter``; a model loaded in the middle of the storm would count
    as growth. Stores without a model are skipped (the mode says so when asked).
    """
    import asyncio
    import threading
    import time

    from neurotui.errors import NeurotuiError

    app = cast("NeurotuiApp", pilot.app)
    opened = app.session.active
    if opened is None:
        return
    runners = []
    for stack in app._screen_stacks.values():
        for screen in stack:
            ensure = getattr(screen, "ensure_runner", None)
            if callable(ensure):
                try:
                    runners.append(ensure(opened))
                except NeurotuiError:
                    continue
    done = [threading.Event() for _ in runners]
    for runner, event in zip(runners, done, strict=True):
        runner.submit(lambda ctx, event=event: event.set())
    end = time.monotonic() + timeout
    while not all(e.is_set() for e in done):
        if time.monotonic() > end:
            raise AssertionError(f"the runners' models did not load in {timeout:.0f} s")
        await asyncio.sleep(0.05)
    await settle(pilot)


async def close_inputs(pilot: Pilot) -> None:
    """Escape out of modal screens and text inputs (a find box takes digits and ``q``)."""
    from textual.screen import ModalScreen, SystemModalScreen
    from textual.widgets import Input

    app = pilot.app
    for _ in range(10):
        modal = isinstance(app.screen, ModalScreen | SystemModalScreen)
        if not modal and not isinstance(app.focused, Input):
            break
        await press_fast(pilot, "escape")


async def to_mode(pilot: Pilot, name: str) -> None:
    """Close whatever modal screen or input is open (escape), then switch to ``name``."""
    from neurotui.tui.modes import MODES

    await close_inputs(pilot)
    key = next(spec.key for spec in MODES if spec.name == name)
    await press_fast(pilot, key.split(",")[0])


async def monkey(
    app: Any,
    keys: Sequence[str],
    *,
    warmup: int = 300,
    rotate: int = 100,
    size: tuple[int, int] = (120, 36),
) -> MonkeyReport:
    """Press ``keys`` into ``app`` (the first ``warmup`` of them before measuring memory).

    Every ``rotate`` keys the next mode is forced (modal screens closed first), so each
    mode gets its share however the random keys wander (a command palette or
    a prompt can swallow hundreds of them). Every mode is visited first (so each loads its
    model once, outside the measurement);
    the storm stops at the first exception that ends the app, keeping the keys before it
    in :attr:`MonkeyReport.last_keys` to reproduce it. The caller asserts on the report;
    an exception that escaped is re-raised by ``run_test`` when the app ends.
    """
    report = MonkeyReport()
    real_notify = app.notify

    def notify(message: object, **kwargs: Any) -> None:
        report.notifications.append(str(message))
        real_notify(message, **kwargs)

    app.notify = notify
    try:
        await _storm(app, keys, warmup, rotate, size, report)
    except Exception as exc:  # say how to get there again
        if sys.version_info >= (3, 11):  # add_note is new in 3.11; 3.10 re-raises bare
            exc.add_note(f"monkey: after {report.keys} keys; the last ones: {report.last_keys}")
        raise
    return report


async def _storm(
    app: Any,
    keys: Sequence[str],
    warmup: int,
    rotate: int,
    size: tuple[int, int],
    report: MonkeyReport,
) -> None:
    import time

    from neurotui.tui.modes import MODES

    async def palette_quit() -> None:
        # The palette lists Textual's "Quit the application"; random letters and Enter
        # can choose it (it is a quit key by another road). Only the storm is kept from
        # quitting: the palette binds this when it opens, the final ``q`` finds the app's.
        report.palette_quits += 1

    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for spec in MODES:
            await pilot.press(spec.key.split(",")[0])
            await settle(pilot)
        await prime_runners(pilot)
        start = time.perf_counter()
        app.action_quit = palette_quit
        try:
            await _press_all(app, pilot, keys, warmup, rotate, report)
        finally:
            del app.action_quit  # the class's own again
        report.seconds = time.perf_counter() - start
        if app._exception is None and app.is_running:
            await quiesce(pilot)
            report.raw_after, report.rss_after = live_rss_bytes()
            await _answers(pilot, report)


async def _press_all(
    app: Any,
    pilot: Pilot,
    keys: Sequence[str],
    warmup: int,
    rotate: int,
    report: MonkeyReport,
) -> None:
    """The storm's keys, the next mode forced every ``rotate``; stops if the app ends."""
    from neurotui.tui.modes import MODES

    for k, key in enumerate(keys):
        if k == warmup:
            await quiesce(pilot)
            report.raw_before, report.rss_before = live_rss_bytes()
        if rotate and k % rotate == 0:
            await to_mode(pilot, MODES[(k // rotate) % len(MODES)].name)
        if k % 100 == 0:
            report.rss_trace.append((k, rss_bytes()))
        report.per_mode[app.current_mode] = report.per_mode.get(app.current_mode, 0) + 1
        report.last_keys = [*report.last_keys[-29:], key]
        await press_fast(pilot, key)
        report.keys += 1
        if app._exception is not None or not app.is_running:
            break


async def _answers(pilot: Pilot, report: MonkeyReport) -> None:
    """Close what the storm left open, switch through the modes, then quit with ``q``."""
    from neurotui.tui.modes import MODES

    app = pilot.app
    await close_inputs(pilot)
    for spec in [*MODES[1:], MODES[0]]:
        await pilot.press(spec.key.split(",")[0])
        # A mode switch lands a few frames after its key on a loaded box (the storm's last
        # keys may still be queued): wait for it, a few seconds at most, before reading.
        for _ in range(100):
            if app.current_mode == spec.name:
                break
            await pilot.pause(0.05)
        report.final.append((spec.key, app.current_mode))
        # Each mode keeps its own screen stack: a prompt the storm opened in this mode just
        # before it left (its push landed after the rotation's escape) is shown again now,
        # and would take the next digit as text. Close it, as a person would.
        await close_inputs(pilot)
    await settle(pilot)
    await close_inputs(pilot)  # the analysis mode may have kept its find box focused
    await pilot.press("q")
    await pilot.pause()
    report.quit = not app.is_running
