"""Deterministic data and helpers for the app's tests, benchmarks and demos.

Why in the package: the Pilot tests, the snapshot tests and ``bench/bench_tui.py`` need the
same small seeded stores (with tokens that look like markup) and the same "wait until the
workers are done" helper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from neurotui.analysis.ranking import Partner, Ranking
from neurotui.store.memory import MemoryStore

if TYPE_CHECKING:  # pragma: no cover
    from textual.pilot import Pilot

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


def sync(fn):  # type: ignore[no-untyped-def]
    """Run an ``async def`` test with ``asyncio.run`` (no pytest async plugin needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


async def settle(pilot: Pilot, rounds: int = 20) -> None:
    """Wait until no worker runs and the message queues are drained.

    A worker superseded in its exclusive group (a newer sentence read, say) ends
    cancelled while we wait: that is normal and not an error; a failed worker is.
    """
    import contextlib

    from textual.worker import WorkerCancelled

    from neurotui.tui.screens.analysis import CARD_DELAY

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


def child_count(n: int, fail: bool = False, progress=None):  # type: ignore[no-untyped-def]
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
