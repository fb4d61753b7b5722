"""How saturated a set of neurons is: mean, σ and time spent near ±1.

Why: zero-ablating a tanh unit that sits near a constant non-zero value shifts the next
layer's input as well as removing information. Comparing the top and bottom of a ranking
on these figures tests that explanation of an ablation curve on the neurons themselves
(issue 14); mean-ablation is the matching experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store


@dataclass
class SaturationProfile:
    """Per-neuron figures over the whole store, in the order of ``names``."""

    names: list[str]
    mean: np.ndarray
    std: np.ndarray
    frac_saturated: np.ndarray  # share of tokens with |value| > threshold
    threshold: float

    def summary(self) -> dict[str, Any]:
        """Set-level figures: mean |mean|, mean σ, neurons saturated on most tokens."""
        return {
            "neurons": len(self.names),
            "mean_abs_mean": round(float(np.abs(self.mean).mean()), 4),
            "mean_std": round(float(self.std.mean()), 4),
            "mean_frac_saturated": round(float(self.frac_saturated.mean()), 4),
            "saturated_most_tokens": int((self.frac_saturated > 0.5).sum()),
            "abs_mean_over_threshold": int((np.abs(self.mean) > self.threshold).sum()),
            "threshold": self.threshold,
        }


def saturation(store: Store, names: Sequence[str], threshold: float = 0.95) -> SaturationProfile:
    """One streaming pass over the store's columns of ``names`` (memory bounded by chunks)."""
    cols = [store.neuron_id(n) for n in names]
    total = np.zeros(len(cols))
    square = np.zeros(len(cols))
    over = np.zeros(len(cols))
    count = 0
    for _, block in store.iter_chunks(cols):
        block = block.astype(np.float64)
        total += block.sum(axis=0)
        square += (block * block).sum(axis=0)
        over += (np.abs(block) > threshold).sum(axis=0)
        count += block.shape[0]
    count = max(count, 1)
    mean = total / count
    std = np.sqrt(np.maximum(square / count - mean * mean, 0.0))
    return SaturationProfile(list(names), mean, std, over / count, threshold)
