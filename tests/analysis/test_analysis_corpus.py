"""Single-model baselines, probeless ranking and per-neuron corpus statistics (planted)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neurotui.analysis.baselines import meandist_ranking, moments, random_ranking, variance_ranking
from neurotui.analysis.checks import AnalysisWarning
from neurotui.analysis.corpus_stats import CorpusIndex
from neurotui.analysis.data import load_probe_data
from neurotui.analysis.probeless import pairwise_abs_sum, probeless_ranking
from neurotui.analysis.synthetic import planted_tagging
from neurotui.errors import DataError
from neurotui.store.memory import MemoryStore


@pytest.fixture(scope="module")
def planted():
    return planted_tagging(
        tokens=3000, neurons=40, classes=4, per_class=2, shift=3.0, loud=3, seed=8
    )


def test_variance_ranking_finds_loud_neurons_and_dead_go_last(planted):
    X = planted.X.copy()
    quiet = [c for c in range(40) if c not in planted.planted_all and c not in planted.loud][0]
    X[:, quiet] = 1.5
    store = MemoryStore(*_sentences(planted, X))
    with pytest.warns(AnalysisWarning, match="dead"):
        r = variance_ranking(store)
    assert set(r.order[:3]) == set(planted.loud)
    assert r.order[-1] == quiet
    mean, std, bad = moments(store, use_stored=False)
    np.testing.assert_allclose(std**2, X.var(0), rtol=1e-4)
    np.testing.assert_allclose(r.scores[0], X[:, r.order[0]].var(), rtol=1e-4)


def test_meandist_ranking_finds_offset_neurons(planted):
    X = planted.X.copy()
    X[:, 7] += 10.0
    X[:, 9] -= 6.0
    store = MemoryStore(*_sentences(planted, X))
    r = meandist_ranking(store)
    assert r.order[:2] == [7, 9]
    assert r.neuron_names[0] == "x:7"


def test_random_ranking_is_seeded_permutation(planted):
    store = planted.store()
    a, b, c = random_ranking(store, 1), random_ranking(store, 1), random_ranking(store, 2)
    assert a.order == b.order != c.order
    assert sorted(a.order) == list(range(40))


def test_probeless_ranks_planted_first(planted):
    data = load_probe_data(planted.store(), "tag")
    r = probeless_ranking(data)
    assert set(r.order[:8]) == planted.planted_all
    for c, ids in planted.planted.items():
        assert set(r.per_class[c][:2]) == set(ids)
    means = np.array([[0.0, 1.0], [2.0, 1.0], [5.0, 1.0]])
    np.testing.assert_allclose(pairwise_abs_sum(means), [2 + 5 + 3, 0])


def test_top_words_signed_words_and_contexts():
    rng = np.random.default_rng(0)
    sents = [["the", "cat", "sat", "in", "july"], ["in", "may", "the", "dog", "ran"]] * 30
    acts = []
    for s in sents:
        a = rng.standard_normal((len(s), 3)).astype(np.float32) * 0.1
        for i, w in enumerate(s):
            if w in ("july", "may"):
                a[i, 1] = 5.0  # a "month" neuron
            if w == "the":
                a[i, 1] = -3.0
        acts.append(a)
    store = MemoryStore(sents, acts, [("x", 3)])
    idx = CorpusIndex(store)
    top = idx.top_words(1, k=3)
    assert {w.word for w in top[:2]} == {"july", "may"}
    assert top[0].score == pytest.approx(1.0)
    signed = idx.signed_words(1, k=2)
    assert {w.word for w in signed} == {"july", "may"} and signed[0].count == 30
    assert idx.signed_words(1, k=1, bottom=True)[0].word == "the"
    ctx = idx.extreme_contexts(1, k=2)
    assert all(c.word in ("july", "may") for c in ctx)
    assert ctx[0].text().count("[[") == 1
    low = idx.extreme_contexts(1, k=1, bottom=True)[0]
    assert low.word == "the" and low.value == pytest.approx(-3.0)
    rnd = idx.random_contexts(1, k=5, seed=3)
    assert len(rnd) == 5 and rnd == idx.random_contexts(1, k=5, seed=3)
    q = idx.quantile_contexts(1, bins=3, per_bin=2)
    assert len(q) == 3 and q[0][0][0] <= q[-1][0][1]
    assert all(c.word in ("july", "may") for c in q[-1][1])


def test_top_words_of_a_dead_neuron_is_an_error():
    store = MemoryStore([["a", "b"]], [np.zeros((2, 1), np.float32)], [("x", 1)])
    with pytest.raises(DataError, match="constant"):
        CorpusIndex(store).top_words(0)


def _sentences(planted, X):
    b = np.concatenate([[0], np.cumsum(planted.lengths)])
    spans = list(zip(b[:-1], b[1:], strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            [planted.words[x:y] for x, y in spans],
            [X[x:y] for x, y in spans],
            [("x", X.shape[1])],
            {"tag": [planted.labels[x:y] for x, y in spans]},
        )
