"""The probeless ranking (Antverg & Belinkov 2022): differences of class-mean activations.

No classifier, so no probe capacity to confound the ranking: a neuron scores high when the
classes' mean activations differ a lot. Per class c: Σ_{c'≠c} |μ_c − μ_c'| per neuron;
overall: Σ over class pairs |μ_a − μ_b| (NeuroX's ``probeless`` module, computed from the
training rows). Z-normalising first (``ProbeData.zscore``) makes neurons of different
scales comparable.
"""

from __future__ import annotations

import numpy as np

from neurotui.analysis.data import ProbeData
from neurotui.store.ranking import Ranking


def class_means(X: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """``(classes, neurons)`` mean activation per class (NaN for an absent class)."""
    sums = np.zeros((n_classes, X.shape[1]), dtype=np.float64)
    step = 65536
    for r0 in range(0, X.shape[0], step):
        xb = X[r0 : r0 + step]
        yb = y[r0 : r0 + step]
        onehot = np.zeros((yb.size, n_classes), dtype=np.float32)
        onehot[np.arange(yb.size), yb] = 1.0
        sums += (onehot.T @ xb).astype(np.float64)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def pairwise_abs_sum(means: np.ndarray) -> np.ndarray:
    """Σ over class pairs |μ_a − μ_b| per neuron, in O(C log C) via the sorted means."""
    q = np.sort(means, axis=0)
    c = q.shape[0]
    weights = (2 * np.arange(c) - c + 1).astype(np.float64)
    return weights @ q


def probeless_scores(data: ProbeData) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Overall and per-class scores from the training rows (absent classes ignored)."""
    X, y = data.part("train")
    means = class_means(X, y, len(data.classes))
    present = ~np.isnan(means).any(axis=1)
    m = means[present]
    overall = pairwise_abs_sum(m)
    per: dict[str, np.ndarray] = {}
    names = [c for c, p in zip(data.classes, present, strict=True) if p]
    for k, name in enumerate(names):
        per[name] = np.abs(m - m[k]).sum(axis=0)
    return overall, per


def probeless_ranking(data: ProbeData) -> Ranking:
    """A :class:`Ranking` by the probeless score (dead neurons last)."""
    overall, per = probeless_scores(data)
    n = overall.size
    key = overall.copy()
    if data.constant.size:
        key[data.constant] = -np.inf
    order = np.lexsort((np.arange(n), -key))
    ids = data.neurons
    per_class = {c: [int(ids[i]) for i in np.lexsort((np.arange(n), -s))] for c, s in per.items()}
    return Ranking(
        method="probeless",
        task=data.task,
        order=[int(ids[i]) for i in order],
        scores=[float(overall[i]) for i in order],
        per_class=per_class,
        params={
            "normalized": bool(data.normalized),
            "train_tokens": int(data.counts[0]),
            "dead_neurons": [int(ids[i]) for i in data.constant],
        },
        neuron_names=None if data.neuron_names is None else [data.neuron_names[i] for i in order],
    )
