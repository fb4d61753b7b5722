"""The elastic-net probe and its data: planted neurons, splits, determinism, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from neurotui.analysis.baselines import majority_accuracy
from neurotui.analysis.checks import AnalysisWarning
from neurotui.analysis.data import from_arrays, load_probe_data, read_label_file, split_sentences
from neurotui.analysis.linguistic import run_probe
from neurotui.analysis.probe import ProbeConfig, train_probe
from neurotui.analysis.synthetic import planted_tagging
from neurotui.errors import DataError
from neurotui.store.memory import MemoryStore

FAST = ProbeConfig(threads=1, device="cpu")


@pytest.fixture(scope="module")
def planted():
    return planted_tagging(tokens=4000, neurons=48, classes=4, per_class=2, shift=3.0, seed=3)


@pytest.fixture(scope="module")
def data(planted):
    return load_probe_data(planted.store(), "tag", seed=0)


def test_planted_neurons_rank_on_top_and_accuracy_beats_majority(planted, data):
    res = run_probe(data, FAST)
    ranking = res.ranking()
    k = len(planted.planted_all)
    assert set(ranking.order[:k]) == planted.planted_all
    # each class's own top neurons are its planted ones
    for c, ids in planted.planted.items():
        assert set(ranking.per_class[c][:2]) == set(ids)
    assert res.accuracy["test"] > 0.95
    assert ranking.evaluation["accuracy"]["test"] == res.accuracy["test"]
    assert 0.85 < ranking.evaluation["majority"]["test"] < 0.97
    # bands: non-decreasing, one per neuron
    assert ranking.bands == sorted(ranking.bands)
    assert len(ranking.bands) == len(ranking.order) == data.n_neurons


def test_majority_baseline_matches_a_direct_count(data):
    tr, te = data.rows("train"), data.rows("test")
    table: dict[int, dict[int, int]] = {}
    for w, y in zip(data.words[tr], data.y[tr], strict=True):
        table.setdefault(int(w), {}).setdefault(int(y), 0)
        table[int(w)][int(y)] += 1
    glob = int(np.bincount(data.y[tr]).argmax())
    hits = 0
    for w, y in zip(data.words[te], data.y[te], strict=True):
        counts = table.get(int(w))
        pred = glob if counts is None else max(counts, key=lambda c: counts[c])
        hits += pred == int(y)
    assert majority_accuracy(data) == pytest.approx(hits / (te.stop - te.start))


def test_split_is_by_sentence_and_deterministic(data):
    parts = [set(data.split.part(p).tolist()) for p in ("train", "dev", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    for name in ("train", "dev", "test"):
        rows = data.rows(name)
        assert set(np.unique(data.sentence[rows]).tolist()) == set(data.split.part(name).tolist())
    a = split_sentences(100, seed=5)
    b = split_sentences(100, seed=5)
    assert all(np.array_equal(a.part(p), b.part(p)) for p in ("train", "dev", "test"))
    assert not np.array_equal(split_sentences(100, seed=6).test, a.test)


def test_rows_hold_the_store_activations(planted, data):
    store = planted.store()
    for row in (0, 17, data.counts[0], len(data.y) - 1):
        s, p = int(data.sentence[row]), int(data.position[row])
        np.testing.assert_array_equal(data.X[row], store.activations(s)[p])
        assert data.vocab[data.words[row]] == store.tokens(s)[p]


def test_same_seed_same_weights_other_seed_differs(data):
    X, y = data.part("train")
    a = train_probe(X, y, data.classes, FAST, shuffled=True)
    b = train_probe(X, y, data.classes, FAST, shuffled=True)
    c = train_probe(X, y, data.classes, ProbeConfig(threads=1, device="cpu", seed=1), shuffled=True)
    np.testing.assert_array_equal(a.weight, b.weight)
    assert not np.array_equal(a.weight, c.weight)


def test_strong_l1_makes_exact_zeros_but_keeps_planted(planted, data):
    X, y = data.part("train")
    sparse = train_probe(
        X, y, data.classes, ProbeConfig(l1=1e-2, threads=1, device="cpu"), shuffled=True
    )
    dense = train_probe(X, y, data.classes, FAST, shuffled=True)
    assert sparse.sparsity() > 0.4 > dense.sparsity()  # ≈0.5 vs ≈0.125 at λ1 1e-2 vs 1e-5
    used = set(np.flatnonzero(np.abs(sparse.weight).sum(0)).tolist())
    assert planted.planted_all <= used


def test_zscore_rescues_a_badly_scaled_planted_neuron():
    p = planted_tagging(tokens=3000, neurons=32, classes=3, per_class=1, shift=3.0, loud=0, seed=4)
    X = p.X.copy()
    tiny = p.planted["C0"][0]
    X[:, tiny] *= 1e-3  # the signal is there, but at a scale no default step size reaches
    X[:, [c for c in range(32) if c not in p.planted_all][:4]] *= 50.0
    data = from_arrays(X, p.labels, p.lengths, p.words)
    data.zscore()
    assert data.normalized
    np.testing.assert_allclose(data.part("train")[0].mean(0), 0, atol=1e-4)
    ranking = run_probe(data, FAST).ranking()
    assert set(ranking.order[:3]) == p.planted_all


def test_one_class_is_a_clear_error():
    X = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    with pytest.raises(DataError, match="only one class"):
        from_arrays(X, ["A"] * 60)


def test_missing_labels_warn_and_leave_sentences_out(planted):
    store = planted.store()
    rows = store.labels("tag")
    rows[0] = None
    rows[5] = []
    with pytest.warns(AnalysisWarning, match="2 of .* sentences have no labels"):
        data = load_probe_data(store, "tag", labels=rows)
    assert 0 not in data.sentence and 5 not in data.sentence
    rows[3] = rows[3][:-1]
    with pytest.raises(DataError, match="sentence 3 has"):
        load_probe_data(store, "tag", labels=rows)


def test_label_file_blank_lines_short_file_and_bad_line(tmp_path, planted):
    store = planted.store()
    lengths = store.sentence_lengths()
    rows = store.labels("tag")
    f = tmp_path / "lab.txt"
    f.write_text("\n".join([" ".join(rows[0]), "", " ".join(rows[2])]) + "\n")
    with pytest.warns(AnalysisWarning, match="labels for 3 of"):
        got = read_label_file(f, lengths)
    assert got[1] is None and got[2] == rows[2] and got[3] is None
    f.write_text(" ".join(rows[0][:-1]) + "\n")
    with pytest.raises(DataError, match=r"lab.txt:1: .* labels for"):
        read_label_file(f, lengths)


def test_nan_and_dead_neurons_warn_and_dead_rank_last(planted):
    X = planted.X.copy()
    dead = [c for c in range(X.shape[1]) if c not in planted.planted_all][:2]
    X[:, dead[0]] = 0.25
    X[5, dead[1]] = np.nan
    store = MemoryStore(*_split(planted, X))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_probe_data(store, "tag")
    text = " ".join(str(w.message) for w in caught if issubclass(w.category, AnalysisWarning))
    assert "NaN/Inf" in text and "dead (constant)" in text
    assert np.isfinite(data.X).all()
    ranking = run_probe(data, FAST).ranking()
    assert ranking.order[-1] == dead[0]
    assert ranking.bands[-1] == ranking.params["stride"] + 1
    assert ranking.params["dead_neurons"] == [dead[0]]
    assert ranking.params["nonfinite_neurons"] == [dead[1]]


def _split(planted, X):
    b = np.concatenate([[0], np.cumsum(planted.lengths)])
    spans = list(zip(b[:-1], b[1:], strict=True))
    tokens = [planted.words[x:y] for x, y in spans]
    acts = [X[x:y] for x, y in spans]
    labels = [planted.labels[x:y] for x, y in spans]
    return tokens, acts, [("x", X.shape[1])], {"tag": labels}


def test_position_task_is_built_in(planted):
    store = planted.store()
    data = load_probe_data(store, "position")
    assert set(data.classes) == {"begin", "middle", "end"}
    with pytest.raises(DataError, match="no label task 'pos'"):
        load_probe_data(store, "pos")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_gpu_probe_matches_cpu_ranking(planted, data):
    cpu = run_probe(data, FAST).ranking()
    gpu = run_probe(data, ProbeConfig(device="cuda")).ranking()
    k = len(planted.planted_all)
    assert set(gpu.order[:k]) == set(cpu.order[:k]) == planted.planted_all
    assert abs(gpu.evaluation["accuracy"]["test"] - cpu.evaluation["accuracy"]["test"]) < 0.02


def test_wide_data_uses_preconditioned_sgd_and_finds_planted_neurons():
    from neurotui.analysis.probe import choose_optimizer

    assert choose_optimizer("auto", 2000, 400) == "sgd"
    assert choose_optimizer("auto", 40000, 1024) == "adam"
    with pytest.raises(DataError, match="unknown optimizer"):
        choose_optimizer("lbfgs", 10, 10)
    rng = np.random.default_rng(2)
    n, d = 2400, 300
    X = rng.standard_normal((n, d)).astype(np.float32) * rng.uniform(0.1, 5.0, d).astype(np.float32)
    X += rng.uniform(-3, 3, d).astype(np.float32)  # offsets: the SGD path centres them
    signal = [7, 150, 260]
    y = np.argmax(X[:, signal] / X[:, signal].std(0), axis=1)
    data = from_arrays(X, [f"c{v}" for v in y])
    res = run_probe(data, FAST)
    assert res.probe.config.optimizer == "sgd"
    scaled = np.abs(res.probe.weight) * data.std  # weight × scale: the planted ones dominate
    assert set(np.argsort(-scaled.sum(0))[:3].tolist()) == set(signal)
    assert res.accuracy["test"] > 0.8
    adam = run_probe(data, ProbeConfig(threads=1, device="cpu", optimizer="adam"))
    assert res.accuracy["test"] >= adam.accuracy["test"] - 0.02
