"""Reference values for mean- and resample-ablation, read from an activation store.

Why: zeroing a neuron is two interventions at once — it removes the neuron's information
*and* shifts the next layer's input when the neuron normally sits far from 0 (a saturated
tanh unit). Mean-ablation (replace by the neuron's corpus mean) keeps the input's average
and removes only the information; resample-ablation (replace by the value the neuron had
on a token of another, random sentence) also keeps its spread (Chan et al. 2022, "causal
scrubbing"; Wang et al. 2022). Both need per-neuron values from a store; this module reads
them once, by neuron *name*, so a plan holding them replays without the store.

The resample pool holds whole rows — the chosen neurons' values on one sampled token — so
a resampled position gets a jointly real activation pattern, not independent draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import NeurotuiError

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

#: rows in a resample pool by default (tokens from as many random sentences)
POOL_ROWS = 64


@dataclass
class NeuronReference:
    """Per-neuron corpus means and a pool of sampled rows, keyed by neuron name."""

    names: list[str]
    means: np.ndarray  # (n,) float64
    pool: np.ndarray  # (rows, n) float32: row r = the neurons on one sampled token
    seed: int = 0
    source: str = ""  # the store it came from, for the record

    def columns(self, names: Sequence[str], where: str = "reference") -> np.ndarray:
        """Column indices of ``names``; a one-line error when one was not sampled."""
        index = {n: k for k, n in enumerate(self.names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise NeurotuiError(f"{where}: neuron {missing[0]} has no reference values")
        return np.asarray([index[n] for n in names], dtype=np.int64)

    def covers(self, names: Sequence[str]) -> bool:
        known = set(self.names)
        return all(n in known for n in names)

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "means": [round(float(v), 6) for v in self.means],
            "pool": [[round(float(v), 5) for v in row] for row in self.pool],
            "seed": self.seed,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeuronReference:
        names = [str(n) for n in data["names"]]
        pool = np.asarray(data["pool"], dtype=np.float32).reshape(-1, len(names))
        return cls(
            names=names,
            means=np.asarray(data["means"], dtype=np.float64),
            pool=pool,
            seed=int(data.get("seed", 0)),
            source=str(data.get("source", "")),
        )


def store_reference(
    store: Store, names: Sequence[str], *, rows: int = POOL_ROWS, seed: int = 0
) -> NeuronReference:
    """Means (the store's summary, computed when absent) and a seeded pool for ``names``.

    Pool row ``r`` is one random token of one random sentence (sentences drawn without
    replacement while the store has enough), the same token for every neuron.
    """
    names = list(dict.fromkeys(names))
    if not names:
        raise NeurotuiError("no neurons to read reference values for")
    cols = np.asarray([store.neuron_id(n) for n in names], dtype=np.int64)
    stats = store.stats
    if stats is None:
        # the Store protocol has no summary pass; every store that reaches here is a BaseStore
        stats = store.compute_summary().stats  # type: ignore[attr-defined]
    means = np.asarray(stats.mean, dtype=np.float64)[cols]
    lengths = np.asarray(store.sentence_lengths(), dtype=np.int64)
    usable = np.flatnonzero(lengths > 0)
    if usable.size == 0:
        raise NeurotuiError(f"{store.path}: the store has no tokens to resample from")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(usable, size=rows, replace=usable.size < rows)
    pool = np.empty((rows, len(names)), dtype=np.float32)
    for r, sentence in enumerate(chosen):
        acts = store.activations(int(sentence))
        pool[r] = acts[int(rng.integers(acts.shape[0])), cols]
    return NeuronReference(names, means, pool, seed, str(store.path))
