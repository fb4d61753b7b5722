"""Cross-model correlation: exact Pearson from one streaming pass, the four methods on planted data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neurotui.analysis.checks import AnalysisWarning
from neurotui.analysis.crossmodel import (
    accumulate,
    check_same_text,
    cross_ranking,
    rank_stores,
    svcca_directions,
)
from neurotui.analysis.synthetic import shared_models
from neurotui.errors import DataError
from neurotui.store.memory import MemoryStore


def make_store(sents, X, name):
    b = np.concatenate([[0], np.cumsum([len(s) for s in sents])])
    acts = [X[x:y] for x, y in zip(b[:-1], b[1:], strict=True)]
    return MemoryStore(sents, acts, [("h", X.shape[1])], metadata={"model": name})


@pytest.fixture(scope="module")
def models():
    acts, ids, sents = shared_models(tokens=3000, neurons=24, models=3, shared=4, seed=2)
    stores = [make_store(sents, X, f"m{k}") for k, X in enumerate(acts)]
    return acts, ids, sents, stores


def test_streaming_pearson_equals_numpy_whatever_the_chunking(models):
    acts, _, _, stores = models
    ref = np.corrcoef(np.hstack(acts), rowvar=False)
    for chunk in (7, 1000, 100000):
        st = accumulate(stores, within=True, chunk_tokens=chunk, device="cpu")
        assert st.rows == 3000
        np.testing.assert_allclose(st.correlation(0, 1), ref[:24, 24:48], atol=1e-5)
        np.testing.assert_allclose(st.correlation(2, 0), ref[48:, :24], atol=1e-5)
        np.testing.assert_allclose(st.correlation(1, 1), ref[24:48, 24:48], atol=1e-5)
        np.testing.assert_allclose(st.mean(2), acts[2].mean(0), atol=1e-4)


def test_large_offsets_do_not_cancel():
    rng = np.random.default_rng(0)
    sents = [[f"w{i}" for i in range(20)] for _ in range(100)]
    base = rng.standard_normal((2000, 3)).astype(np.float32)
    a = make_store(sents, (base + 1e4).astype(np.float32), "a")
    b = make_store(sents, (base * 0.5 - 3e3).astype(np.float32), "b")
    st = accumulate([a, b], chunk_tokens=333, device="cpu")
    np.testing.assert_allclose(np.diag(st.correlation(0, 1)), 1.0, atol=1e-4)


@pytest.mark.parametrize("method", ["maxcorr", "mincorr", "linreg", "svcca"])
def test_every_method_puts_the_shared_neurons_on_top_with_partners(models, method):
    _, ids, _, stores = models
    rankings = rank_stores(stores, method, device="cpu")
    for m, r in enumerate(rankings):
        assert set(r.order[:4]) == set(ids[m]), method
        assert r.order[0] == ids[m][0]  # the least noisy shared signal (position) first
        assert r.scores == sorted(r.scores, reverse=True)
        parts = r.partners[ids[m][0]]
        assert [p.model for p in parts] == [f"m{o}" for o in range(3) if o != m]
        assert [p.neuron for p in parts] == [ids[o][0] for o in range(3) if o != m]
        assert all(abs(p.r) > 0.95 for p in parts)


def test_maxcorr_vs_mincorr_and_linreg_on_distributed_information():
    rng = np.random.default_rng(1)
    T = 3000
    sents = [[f"w{i}" for i in range(20)] for _ in range(T // 20)]
    z = rng.standard_normal((T, 3)).astype(np.float32)
    A = rng.standard_normal((T, 10)).astype(np.float32)
    B = rng.standard_normal((T, 10)).astype(np.float32)
    C = rng.standard_normal((T, 10)).astype(np.float32)
    A[:, 0] = z[:, 0]
    B[:, 4] = z[:, 0] + 0.05 * rng.standard_normal(T)  # neuron A0: partner in B only
    A[:, 1] = z[:, 1]
    B[:, 5] = z[:, 1] + 0.3 * rng.standard_normal(T)
    C[:, 5] = z[:, 1] + 0.3 * rng.standard_normal(T)  # neuron A1: good partner in B and C
    A[:, 2] = z[:, 2]
    B[:, 6:9] = z[:, 2:3] + 0.5 * rng.standard_normal((T, 3))  # A2: spread over 3 in B
    C[:, 6:9] = z[:, 2:3] + 0.5 * rng.standard_normal((T, 3))  # … and 3 in C
    stores = [make_store(sents, X, n) for X, n in ((A, "A"), (B, "B"), (C, "C"))]
    st = accumulate(stores, within=True, device="cpu")
    names = ["A", "B", "C"]
    mx = cross_ranking(st, 0, "maxcorr", names)
    mn = cross_ranking(st, 0, "mincorr", names)
    lr = cross_ranking(st, 0, "linreg", names)
    assert mx.order[0] == 0  # strongest single partner anywhere
    assert mn.order[0] == 1  # the only neuron with a partner in every model
    assert mn.rank_of(0) > 2  # A0 has nothing in C
    assert lr.order[0] == 2  # best predicted from all neurons of each other model
    assert lr.scores[0] > 0.9 > mx.scores[mx.rank_of(2)]


def test_svcca_directions_find_the_shared_subspace(models):
    _, _, _, stores = models
    st = accumulate(stores, within=True, device="cpu")
    pair = svcca_directions(st, 0, 1)
    assert pair.correlations[0] > 0.95
    assert (pair.correlations > 0.7).sum() >= 3
    assert pair.correlations[4] < 0.3


def test_different_token_counts_or_text_are_clear_errors(models):
    acts, _, sents, stores = models
    short = make_store(sents[:-1], acts[1][: 3000 - len(sents[-1])], "short")
    with pytest.raises(DataError, match="different token counts"):
        check_same_text([stores[0], short])
    other = [list(s) for s in sents]
    other[10] = ["x"] * len(other[10])
    with pytest.raises(DataError, match="different text at sentence 10"):
        check_same_text([stores[0], make_store(other, acts[1], "o")])
    regrouped = [sents[0] + sents[1], *sents[2:]]
    with pytest.raises(DataError, match="different sentences"):
        check_same_text([stores[0], make_store(regrouped, acts[1], "g")])
    with pytest.raises(DataError, match="at least two"):
        check_same_text([stores[0]])


def test_dead_and_nan_neurons_warn_and_dead_rank_last(models):
    acts, _, sents, stores = models
    X = acts[0].copy()
    X[:, 3] = 7.0
    X[10, 5] = np.nan
    bad = make_store(sents, X, "bad")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = rank_stores([bad, stores[1]], "maxcorr", device="cpu")[0]
    text = " ".join(str(w.message) for w in caught if issubclass(w.category, AnalysisWarning))
    assert "dead (constant)" in text and "NaN/Inf" in text
    assert r.order[-1] == 3 and r.params["dead_neurons"] == [3]
    assert np.isfinite(r.scores).all()


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu(models):
    _, _, _, stores = models
    a = accumulate(stores, within=True, device="cpu")
    b = accumulate(stores, within=True, device="cuda")
    np.testing.assert_allclose(a.correlation(0, 1), b.correlation(0, 1), atol=1e-5)


def test_site_subset_keeps_global_ids_for_partners(models):
    from neurotui.analysis.methods import RankOptions, compute_ranking

    acts, ids, sents, _ = models
    b = np.concatenate([[0], np.cumsum([len(s) for s in sents])])

    def two_sites(X, name):
        spans = list(zip(b[:-1], b[1:], strict=True))
        return MemoryStore(
            sents, [X[x:y] for x, y in spans], [("a", 12), ("b", 12)], metadata={"model": name}
        )

    stores = [two_sites(X, f"m{k}") for k, X in enumerate(acts)]
    opts = RankOptions(others=stores[1:], sites=["b"], device="cpu")
    r = compute_ranking(stores[0], "maxcorr", opts)
    assert sorted(r.order) == list(range(12, 24))
    assert r.neuron_names[0].startswith("b:")
    for n in r.order:
        assert all(12 <= p.neuron < 24 for p in r.partners[n])
    shared_b = [n for n in ids[0] if n >= 12]
    assert set(r.order[: len(shared_b)]) == set(shared_b)


def test_model_names_read_dict_metadata_and_stay_distinct(models):
    from neurotui.analysis.crossmodel import model_names

    acts, _, sents, _ = models
    a = make_store(sents, acts[0], "x")
    a._metadata = {"model": {"name": "synth-en-fr-2", "kind": "seq2seq"}}
    b = make_store(sents, acts[1], "x")
    b._metadata = {"model": {"name": "synth-en-fr-2", "kind": "seq2seq"}}
    assert model_names([a, b]) == ["synth-en-fr-2#1", "synth-en-fr-2#2"]
