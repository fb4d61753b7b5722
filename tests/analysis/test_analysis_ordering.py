"""Algorithm 1 with bands, per-class top neurons, distributedness (known weight matrices)."""

from __future__ import annotations

import numpy as np

from neurotui.analysis.ordering import (
    distributedness,
    neuron_ordering,
    per_class_orderings,
    top_neurons,
    top_neurons_per_class,
)


def reference_ordering(weight: np.ndarray, stride: int) -> list[set[int]]:
    """Algorithm 1 written as the paper's loop: the set of neurons added at each p."""
    w = np.abs(weight)
    seen: set[int] = set()
    added = []
    for j in range(stride + 1):
        p = j / stride
        now: set[int] = set()
        for c in range(w.shape[0]):
            order = np.argsort(-w[c], kind="stable")
            cum = np.cumsum(w[c][order])
            total = cum[-1]
            stop = np.flatnonzero(cum >= total * p)
            k = stop[0] if stop.size else len(order) - 1
            now |= set(order[: k + 1].tolist())
        added.append(now - seen)
        seen |= now
    return added


def test_bands_match_the_paper_loop_on_random_weights():
    rng = np.random.default_rng(0)
    for stride in (10, 100):
        W = rng.standard_normal((5, 40)) * rng.gamma(0.5, 1.0, size=40)
        got = neuron_ordering(W, stride=stride)
        ref = reference_ordering(W, stride)
        for j, expected in enumerate(ref):
            members = {n for n, b in zip(got.order, got.bands, strict=True) if b == j}
            assert members == expected, f"band {j}"
        assert sorted(got.order) == list(range(40))
        assert got.cutoffs[-1] <= 40


def test_hand_made_weights():
    # class 0 relies on neuron 2, class 1 on neurons 0 and 3 equally; neuron 1 unused
    W = np.array([[0.0, 0.0, 4.0, 1.0], [2.0, 0.0, 0.0, 2.0]])
    o = neuron_ordering(W, stride=4)
    assert o.order[0] in (2, 0)
    assert set(o.order[:2]) == {0, 2}  # both classes' top neurons enter at p = 0
    assert o.bands[:2] == [0, 0]
    assert o.order[-1] == 1 and o.bands[-1] == 5  # never selected: last band
    tops = top_neurons_per_class(W, ["a", "b"], mass=0.5)
    assert tops == {"a": [2], "b": [0]}
    assert top_neurons(W, ["a", "b"], mass=0.75) == [0, 2, 3]
    assert distributedness(W, ["a", "b"], mass=1.0) == {"a": 2, "b": 2}
    assert per_class_orderings(W, ["a", "b"])["a"][:2] == [2, 3]


def test_excluded_neurons_go_last_and_zero_classes_are_harmless():
    W = np.array([[5.0, 1.0, 0.5], [0.0, 0.0, 0.0]])
    o = neuron_ordering(W, stride=10, exclude=[0])
    assert o.order[-1] == 0 and o.bands[-1] == 11
    assert top_neurons_per_class(W, ["x", "y"])["y"] == []
