"""Neuron orderings from probe weights: per-class top neurons and Algorithm 1 with bands.

Dalvi et al. (2019), Algorithm 1: for p = 0 %, α, 2α, … 100 % of the weight mass, take each
class's top neurons that hold p of that class's |weight| mass, and append the neurons not
seen before. Neurons added at the same p are *tied* (their order is arbitrary); NeuroX
returns them in set order and throws that information away, we keep it as the band.

Vectorised instead of looping over p: a neuron at sorted position k of class c enters at
the first grid value p with ``mass_before(k) < p · total_mass(c)`` — exactly NeuroX's
``cumsum >= total·p`` cut — so one sort per class gives every neuron's band at once.
Inside a band we order by the smallest fraction of a class's mass that comes before the
neuron, then by the largest share of a class's mass the neuron holds (so among the
classes' top neurons of band 0 the most dominant comes first), then by id — deterministic,
but the band remains the honest tie marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_STRIDE = 100  # NeuroX's search_stride: p = 0, 1, …, 100 %
DEFAULT_MASS = 0.25  # the paper's per-class threshold for Figure 6 and shared neurons


def _abs_weights(weight: np.ndarray) -> np.ndarray:
    w = np.abs(np.asarray(weight, dtype=np.float64))
    if w.ndim != 2:
        raise ValueError(f"weights must be (classes, neurons), got shape {w.shape}")
    return w


def mass_before(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per class: sorted neuron ids (|w| descending), mass before each, and total mass.

    Returns ``(order, before, total)`` with ``order`` and ``before`` of shape
    ``(classes, neurons)`` and ``total`` of shape ``(classes,)``.
    """
    w = _abs_weights(weight)
    # Stable sort of -|w| keeps ties in id order, so results are deterministic.
    order = np.argsort(-w, axis=1, kind="stable")
    sorted_w = np.take_along_axis(w, order, axis=1)
    cum = np.cumsum(sorted_w, axis=1)
    before = cum - sorted_w
    total = cum[:, -1] if cum.shape[1] else np.zeros(w.shape[0])
    return order, before, total


def top_neurons_per_class(
    weight: np.ndarray, classes: Sequence[str], mass: float = DEFAULT_MASS
) -> dict[str, list[int]]:
    """Each class's top neurons holding ``mass`` (0–1) of its |weight| mass (best first).

    Same cut as NeuroX's ``get_top_neurons``: neurons up to and including the first whose
    cumulative mass reaches ``mass · total``. A class whose weights are all zero gets none.
    """
    order, before, total = mass_before(weight)
    out: dict[str, list[int]] = {}
    for c, name in enumerate(classes):
        if total[c] <= 0:
            out[name] = []
            continue
        sel = before[c] < mass * total[c]
        sel[0] = True
        out[name] = [int(i) for i in order[c][sel]]
    return out


def top_neurons(
    weight: np.ndarray, classes: Sequence[str], mass: float = DEFAULT_MASS
) -> list[int]:
    """The union of the per-class top neurons at ``mass`` (sorted ids)."""
    per = top_neurons_per_class(weight, classes, mass)
    return sorted({n for ids in per.values() for n in ids})


def distributedness(
    weight: np.ndarray, classes: Sequence[str], mass: float = DEFAULT_MASS
) -> dict[str, int]:
    """How many neurons each class needs for ``mass`` of its weight (Figure 6)."""
    return {k: len(v) for k, v in top_neurons_per_class(weight, classes, mass).items()}


def per_class_orderings(weight: np.ndarray, classes: Sequence[str]) -> dict[str, list[int]]:
    """Every neuron per class, by |weight| for that class (largest first)."""
    order, _, _ = mass_before(weight)
    return {name: [int(i) for i in order[c]] for c, name in enumerate(classes)}


@dataclass
class BandedOrder:
    """Algorithm 1's result: ``order`` (most important first) with a band per position.

    ``bands[k]`` is the grid step (0…stride) at which ``order[k]`` entered, ``stride + 1``
    for neurons that never enter (all their weights are zero, e.g. dead neurons).
    ``entry[k]`` is the smallest fraction of any class's mass that precedes the neuron
    (0 for a class's top neuron); the score shown is ``1 − entry``.
    """

    order: list[int]
    bands: list[int]
    entry: list[float]
    stride: int

    @property
    def cutoffs(self) -> list[int]:
        """NeuroX-style cutoffs: the order's length after each grid step."""
        b = np.asarray(self.bands)
        return [int(np.searchsorted(b, j, side="right")) for j in range(self.stride + 1)]


def neuron_ordering(
    weight: np.ndarray,
    stride: int = DEFAULT_STRIDE,
    exclude: Sequence[int] | np.ndarray | None = None,
) -> BandedOrder:
    """Algorithm 1 over the grid p = j/stride, j = 0…stride, keeping the bands.

    ``exclude`` (e.g. dead neurons) are put in the last band whatever their weight.
    """
    order, before, total = mass_before(weight)
    n_classes, n = order.shape
    grid = np.arange(stride + 1) / stride
    band = np.full(n, stride + 1, dtype=np.int64)
    entry = np.full(n, np.inf)
    share = np.zeros(n)
    for c in range(n_classes):
        if total[c] <= 0:
            continue
        # First grid step whose threshold exceeds the mass before the neuron.
        j = np.searchsorted(grid * total[c], before[c], side="right")
        j[0] = 0  # a class's top neuron is selected at every p (NeuroX includes index 0)
        ids = order[c]
        np.minimum.at(band, ids, j)
        np.minimum.at(entry, ids, before[c] / total[c])
        w_sorted = np.diff(np.append(before[c], total[c]))
        np.maximum.at(share, ids, w_sorted / total[c])
    if exclude is not None and len(exclude):
        ex = np.asarray(exclude, dtype=np.int64)
        band[ex] = stride + 1
        entry[ex] = np.inf
    entry_key = np.where(np.isfinite(entry), entry, 2.0)
    final = np.lexsort((np.arange(n), -share, entry_key, band))
    ent = entry[final]
    return BandedOrder(
        order=[int(i) for i in final],
        bands=[int(b) for b in band[final]],
        entry=[float(e) if np.isfinite(e) else 1.0 for e in ent],
        stride=int(stride),
    )
