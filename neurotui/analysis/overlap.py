"""Comparing rankings and neuron sets: top-k overlap, rank correlation, shared neurons.

Used for the paper's comparisons — cross-model top neurons vs single-model baselines
("less than 10 % overlap among the top 50"), linguistic vs cross-model neurons, and
neurons shared between classes (JJ/JJR/JJS) or between tasks (POS vs morphology).

Rank correlations respect Algorithm 1's bands: neurons in one band are tied, so they get
the band's average rank (Spearman on average ranks; Kendall's τ-b counts the ties).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from neurotui.errors import DataError
from neurotui.store.ranking import Ranking


def tied_ranks(ranking: Ranking) -> dict[int, float]:
    """Neuron → rank (0 = most important); tied neurons of a band share the mean rank."""
    order = ranking.order
    if not ranking.bands:
        return {int(n): float(k) for k, n in enumerate(order)}
    bands = np.asarray(ranking.bands)
    out: dict[int, float] = {}
    start = 0
    while start < len(order):
        end = start
        while end < len(order) and bands[end] == bands[start]:
            end += 1
        mean_rank = (start + end - 1) / 2.0
        for n in order[start:end]:
            out[int(n)] = mean_rank
        start = end
    return out


def top_k_overlap(a: Ranking, b: Ranking, k: int) -> dict[str, Any]:
    """Neurons in both top-``k`` lists, their count and fraction of ``k``."""
    if k <= 0:
        raise DataError(f"top-k overlap needs k ≥ 1 (got {k})")
    ta, tb = set(a.top(k)), set(b.top(k))
    both = sorted(ta & tb)
    return {
        "k": int(k),
        "shared": both,
        "count": len(both),
        "fraction": len(both) / float(k),
        "jaccard": len(both) / float(len(ta | tb)) if ta | tb else 0.0,
    }


def rank_correlation(a: Ranking, b: Ranking) -> dict[str, float]:
    """Spearman ρ and Kendall τ-b over the neurons both rankings order."""
    from scipy.stats import kendalltau

    ra, rb = tied_ranks(a), tied_ranks(b)
    common = sorted(set(ra) & set(rb))
    if len(common) < 3:
        raise DataError(
            f"the rankings share {len(common)} neurons; rank correlation needs at least 3"
        )
    xa = np.array([ra[n] for n in common])
    xb = np.array([rb[n] for n in common])
    spearman = float(np.corrcoef(_average_ranks(xa), _average_ranks(xb))[0, 1])
    tau = kendalltau(xa, xb).statistic
    return {"spearman": spearman, "kendall": float(tau), "neurons": len(common)}


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` with ties averaged (what Spearman's ρ needs)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(x.size)
    ranks[order] = np.arange(x.size)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / counts[inv]


def compare(a: Ranking, b: Ranking, ks: Sequence[int] = (10, 50, 100)) -> dict[str, Any]:
    """Top-k overlaps for several k plus the rank correlations."""
    n = min(len(a.order), len(b.order))
    return {
        "a": a.method,
        "b": b.method,
        "top_k": [top_k_overlap(a, b, min(k, n)) for k in ks if k <= n] or [top_k_overlap(a, b, n)],
        **rank_correlation(a, b),
    }


def shared_between_classes(tops: Mapping[str, Sequence[int]]) -> dict[str, Any]:
    """For per-class top-neuron sets: every pair's shared neurons and each class's own.

    ``tops`` maps a class to its top neurons (e.g. ``evaluation["top_neurons"]`` of a
    probe ranking, at the paper's 25 % mass).
    """
    sets = {c: set(map(int, v)) for c, v in tops.items()}
    pairs = []
    for a, b in combinations(sorted(sets), 2):
        both = sorted(sets[a] & sets[b])
        if both:
            pairs.append({"a": a, "b": b, "shared": both})
    pairs.sort(key=lambda p: (-len(p["shared"]), p["a"], p["b"]))
    unique = {}
    for c, s in sets.items():
        others = set().union(*(v for k, v in sets.items() if k != c)) if len(sets) > 1 else set()
        unique[c] = sorted(s - others)
    return {"pairs": pairs, "unique": unique}


def shared_between_tasks(
    tops_a: Mapping[str, Sequence[int]], tops_b: Mapping[str, Sequence[int]]
) -> dict[str, Any]:
    """Class pairs across two tasks whose top neurons intersect (e.g. VER:futu ↔ V--F3s)."""
    pairs = []
    for a, va in tops_a.items():
        for b, vb in tops_b.items():
            both = sorted(set(map(int, va)) & set(map(int, vb)))
            if both:
                pairs.append({"a": a, "b": b, "shared": both})
    pairs.sort(key=lambda p: (-len(p["shared"]), p["a"], p["b"]))
    union_a = set().union(*map(set, tops_a.values())) if tops_a else set()
    union_b = set().union(*map(set, tops_b.values())) if tops_b else set()
    return {"pairs": pairs, "shared_overall": sorted(int(n) for n in union_a & union_b)}
