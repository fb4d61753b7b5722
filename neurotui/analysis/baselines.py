"""Baselines: the word-majority tagger (Table 1's MAJ) and single-model rankings (Figure 7).

Why they matter: a probe is only interesting if it beats "most frequent tag of the word",
and a cross-model ranking only if it differs from what one model's own statistics give.
Dalvi et al. compare against ranking by variance and by distance from the mean; we read
"distance from mean" as how far a neuron's mean activation lies from the mean over all
neurons of the model (|μ_j − mean_k μ_k|, high first) — the per-neuron spread is what the
variance ranking already measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from neurotui.analysis.checks import describe_neurons, warn
from neurotui.analysis.progress import ProgressFn, report
from neurotui.store.ranking import Ranking

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.analysis.data import ProbeData
    from neurotui.store.api import Store


# -- majority baseline ------------------------------------------------------------------


def majority_table(
    words: np.ndarray, y: np.ndarray, n_words: int, n_classes: int
) -> tuple[np.ndarray, int]:
    """Most frequent class per word id (−1 for unseen words) and the global majority.

    Ties go to the class that is more frequent overall, then to the lower id.
    """
    glob_counts = np.bincount(y, minlength=n_classes)
    glob = int(np.argmax(glob_counts))
    counts = np.zeros((n_words, n_classes), dtype=np.int64)
    np.add.at(counts, (words, y), 1)
    # Break ties by global frequency: add a fraction smaller than 1.
    tie = glob_counts / (glob_counts.max() + 1.0)
    best = np.argmax(counts + tie[None, :] * 0.5, axis=1)
    best[counts.sum(axis=1) == 0] = -1
    return best, glob


def majority_predictions(data: ProbeData, part: str = "test") -> np.ndarray:
    """Predictions of the word-majority tagger trained on the training rows."""
    tr = data.rows("train")
    table, glob = majority_table(data.words[tr], data.y[tr], len(data.vocab), len(data.classes))
    words = data.words[data.rows(part)]
    pred = table[words]
    pred[pred < 0] = glob
    return pred


def majority_accuracy(data: ProbeData, part: str = "test") -> float:
    """Accuracy of the word-majority baseline on ``part`` (Table 1's MAJ)."""
    pred = majority_predictions(data, part)
    y = data.y[data.rows(part)]
    return float((pred == y).mean()) if y.size else float("nan")


# -- single-model statistics -----------------------------------------------------------


def moments(
    store: Store,
    neurons: Sequence[int] | None = None,
    *,
    chunk_tokens: int = 32768,
    use_stored: bool = True,
    progress: ProgressFn | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron mean, population std and non-finite count (stored stats when present)."""
    stats = store.stats if use_stored else None
    if stats is not None:
        cols = slice(None) if neurons is None else np.asarray(neurons)
        return (
            np.asarray(stats.mean, dtype=np.float64)[cols],
            np.asarray(stats.std, dtype=np.float64)[cols],
            np.asarray(stats.nonfinite)[cols],
        )
    width = store.neuron_count if neurons is None else len(neurons)
    s1 = np.zeros(width)
    s2 = np.zeros(width)
    cnt = np.zeros(width)
    bad = np.zeros(width, dtype=np.int64)
    shift: np.ndarray | None = None
    total = store.total_tokens
    for start, block in store.iter_chunks(neurons, chunk_tokens):
        finite = np.isfinite(block)
        if shift is None:
            with np.errstate(invalid="ignore"):
                shift = np.where(finite, block, 0).sum(0) / np.maximum(finite.sum(0), 1)
            shift = shift.astype(np.float32)
        d = np.where(finite, block - shift, 0.0).astype(np.float32)
        s1 += d.sum(0, dtype=np.float64)
        s2 += np.einsum("ij,ij->j", d, d, dtype=np.float64)
        cnt += finite.sum(0)
        bad += (~finite).sum(0)
        report(progress, "statistics", start + block.shape[0], total)
    n = np.maximum(cnt, 1)
    m = s1 / n
    mean = (0 if shift is None else shift.astype(np.float64)) + m
    std = np.sqrt(np.maximum(s2 / n - m * m, 0.0))
    return mean, std, bad


def _ranking_from_scores(
    method: str,
    scores: np.ndarray,
    store: Store,
    neurons: Sequence[int] | None,
    dead: np.ndarray,
    params: dict[str, object],
) -> Ranking:
    ids = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons)
    scores = np.asarray(scores, dtype=np.float64).copy()
    key = scores.copy()
    key[dead] = -np.inf
    order = np.lexsort((np.arange(ids.size), -key))
    return Ranking(
        method=method,
        order=[int(ids[i]) for i in order],
        scores=[float(scores[i]) for i in order],
        params={**params, "dead_neurons": [int(ids[i]) for i in dead]},
        neuron_names=[store.neuron_name(int(ids[i])) for i in order],
    )


def _dead(
    store: Store, ids: np.ndarray, mean: np.ndarray, std: np.ndarray, method: str
) -> np.ndarray:
    dead = np.flatnonzero(~(std > 1e-7 * np.maximum(np.abs(mean), 1.0)))
    if dead.size:
        names = [store.neuron_name(int(ids[i])) for i in dead]
        warn(f"{method}: dead (constant) {describe_neurons(range(len(names)), names)} ranked last")
    return dead


def variance_ranking(
    store: Store,
    neurons: Sequence[int] | None = None,
    *,
    progress: ProgressFn | None = None,
    precomputed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Ranking:
    """Neurons by activation variance, highest first (Figure 7's "Variance").

    ``precomputed``: (mean, σ, non-finite) from elsewhere (a distributed pass).
    """
    mean, std, _ = precomputed or moments(store, neurons, progress=progress)
    ids = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons)
    dead = _dead(store, ids, mean, std, "variance")
    return _ranking_from_scores("variance", std**2, store, neurons, dead, {})


def meandist_ranking(
    store: Store,
    neurons: Sequence[int] | None = None,
    *,
    progress: ProgressFn | None = None,
    precomputed: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Ranking:
    """Neurons by |mean − mean over all neurons|, highest first (Figure 7's "Mean")."""
    mean, std, _ = precomputed or moments(store, neurons, progress=progress)
    ids = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons)
    dead = _dead(store, ids, mean, std, "meandist")
    centre = float(np.mean(mean))
    return _ranking_from_scores(
        "meandist", np.abs(mean - centre), store, neurons, dead, {"centre": centre}
    )


def random_ranking(store: Store, seed: int = 0, neurons: Sequence[int] | None = None) -> Ranking:
    """A seeded random order (the control every other ranking must beat)."""
    ids = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons)
    order = ids[np.random.default_rng(seed).permutation(ids.size)]
    return Ranking(
        method="random",
        order=[int(i) for i in order],
        params={"seed": int(seed)},
        neuron_names=[store.neuron_name(int(i)) for i in order],
    )
