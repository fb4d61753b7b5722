"""Activation stores: the in-memory store, the one-pass summaries, our HDF5 layout,
atomic writing and editing. Everything is built tiny in ``tmp_path``."""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurotui.store as ns
from neurotui.errors import DataError, NeurotuiError, StoreError
from neurotui.store.api import Store
from neurotui.store.edit import add_labels, delete_ranking, edit_store, save_ranking
from neurotui.store.memory import MemoryStore
from neurotui.store.ranking import Ranking
from neurotui.store.summary import SummaryAccumulator
from neurotui.store.writer import StoreWriter, write_store

SITES = [("enc.l0", 4), ("enc.l1", 3), ("dec.l0", 5)]
WIDTH = 12


def corpus(n: int = 40, seed: int = 0) -> tuple[list[list[str]], list[np.ndarray]]:
    """Sentences of 1–8 words (unicode included) with random activations."""
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "é", "日本", "</s>", "[SEP]", "a b".replace(" ", "_"), "dog"]
    tokens = [
        [words[j % len(words)] + str(i) for j in range(int(rng.integers(1, 9)))] for i in range(n)
    ]
    acts = [rng.normal(size=(len(t), WIDTH)).astype(np.float32) * 2 + 1 for t in tokens]
    return tokens, acts


def flat(acts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(acts)


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, list[list[str]], list[np.ndarray]]:
    tokens, acts = corpus()
    path = write_store(
        tmp_path / "s.h5",
        tokens,
        acts,
        SITES,
        labels={"len": [[str(len(t))] * len(t) for t in tokens]},
        metadata={"model": {"name": "fake"}, "aggregation": "mean"},
    )
    return path, tokens, acts


# -- the in-memory store ------------------------------------------------------------
def test_memory_store_follows_the_contract() -> None:
    tokens, acts = corpus(10)
    store = MemoryStore(tokens, acts, SITES, labels={"x": [["a"] * len(t) for t in tokens]})
    assert isinstance(store, Store)
    assert store.sentences == 10
    assert store.total_tokens == sum(map(len, tokens))
    assert store.layer_names == ["enc.l0", "enc.l1", "dec.l0"]
    assert [s.offset for s in store.sites] == [0, 4, 7]
    assert store.neuron_count == WIDTH
    assert store.neuron_name(8) == "dec.l0:1"
    assert store.neuron_id("enc.l1:2") == 6
    assert store.neuron_id("6") == 6
    np.testing.assert_array_equal(store.activations(3), acts[3])
    np.testing.assert_array_equal(
        store.activations(3, ["dec.l0", "enc.l0"]),
        np.concatenate([acts[3][:, 7:], acts[3][:, :4]], axis=1),
    )
    np.testing.assert_array_equal(store.neuron_values(5), flat(acts)[:, 5])
    assert store.labels("x")[2] == ["a"] * len(tokens[2])


def test_memory_store_rejects_misaligned_input() -> None:
    tokens, acts = corpus(3)
    with pytest.raises(DataError, match="sentence 1"):
        MemoryStore(
            tokens, [acts[0], acts[1][:-1] if len(acts[1]) > 1 else acts[1][:0], acts[2]], SITES
        )
    with pytest.raises(DataError, match="label task 'x': sentence 0"):
        MemoryStore(tokens, acts, SITES, labels={"x": [["a"] * (len(t) + 1) for t in tokens]})


@pytest.mark.parametrize(
    "bad, pattern",
    [
        (99, "no neuron 99"),
        ("enc.l9:1", "unknown site 'enc.l9'"),
        ("enc.l0:4", "has 4 neurons"),
        ("what", "cannot read neuron"),
        (-1, "no neuron -1"),
    ],
)
def test_unknown_neuron_and_site_are_one_line_errors(bad: object, pattern: str) -> None:
    tokens, acts = corpus(3)
    store = MemoryStore(tokens, acts, SITES)
    with pytest.raises(StoreError, match=pattern) as err:
        store.neuron_id(bad)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_sentence_index_and_site_checks() -> None:
    tokens, acts = corpus(3)
    store = MemoryStore(tokens, acts, SITES)
    with pytest.raises(StoreError, match="no sentence 3"):
        store.tokens(3)
    with pytest.raises(StoreError, match="unknown site 'nope'; sites: enc.l0, enc.l1, dec.l0"):
        store.activations(0, ["nope"])


# -- summaries ----------------------------------------------------------------------
def test_summary_is_exact_on_a_small_corpus() -> None:
    tokens, acts = corpus(60)
    store = MemoryStore(tokens, acts, SITES)
    data = flat(acts)
    st = store.stats
    assert st is not None
    np.testing.assert_allclose(st.mean, data.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(st.std, data.std(0), rtol=1e-5)
    np.testing.assert_array_equal(st.min, data.min(0))
    np.testing.assert_array_equal(st.max, data.max(0))
    np.testing.assert_allclose(
        st.quantiles, np.quantile(data, st.quantile_levels, axis=0), rtol=1e-6
    )
    assert st.extra["quantiles_exact"] is True
    assert (st.count == data.shape[0]).all() and (st.nonfinite == 0).all()
    # top and bottom examples: the exact extremes, best first, located correctly
    for neuron in (0, 7, 11):
        top = store.top_examples(neuron, 5)
        assert [e.value for e in top] == pytest.approx(sorted(data[:, neuron])[::-1][:5])
        for ex in top:
            assert acts[ex.sentence][ex.position, neuron] == ex.value
        bottom = store.top_examples(neuron, 3, bottom=True)
        assert [e.value for e in bottom] == pytest.approx(sorted(data[:, neuron])[:3])


def test_streamed_top_and_bottom_k_match_a_full_sort_over_many_tiles() -> None:
    # 20,000 rows: dozens of 512-row tiles, so most of them take the warm path (a
    # column's tile max/min against its k-th best); a rising trend in column 0 and a
    # falling one in column 1 keep producing survivors late, column 2 has its extremes
    # in the first rows only, and NaNs in one block send it through the cleaning path.
    rng = np.random.default_rng(7)
    rows, cols, k = 20_000, 9, 6
    data = rng.normal(size=(rows, cols)).astype(np.float32)
    data[:, 0] += np.linspace(0, 6, rows, dtype=np.float32)
    data[:, 1] -= np.linspace(0, 6, rows, dtype=np.float32)
    data[:7, 2] = [50, -50, 40, -40, 30, -30, 20]
    data[9000, 3] = np.nan
    acc = SummaryAccumulator(cols, rows, k=k)
    for start in range(0, rows, 3333):  # blocks that cut tiles at odd places
        acc.update(start, data[start : start + 3333])
    s = acc.finish()
    clean = np.where(np.isfinite(data), data, np.nan)
    for j in range(cols):
        finite = np.flatnonzero(np.isfinite(clean[:, j]))
        order = finite[np.argsort(-clean[finite, j], kind="stable")]
        np.testing.assert_array_equal(s.top_rows[:, j], order[:k])
        np.testing.assert_array_equal(s.top_values[:, j], clean[order[:k], j])
        order = finite[np.argsort(clean[finite, j], kind="stable")]
        np.testing.assert_array_equal(s.bottom_rows[:, j], order[:k])
        np.testing.assert_array_equal(s.bottom_values[:, j], clean[order[:k], j])
    np.testing.assert_allclose(s.stats.mean, np.nanmean(clean, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s.stats.std, np.nanstd(clean, 0), rtol=1e-5)


def test_summary_excludes_and_counts_nan_and_inf() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(3000, 6)).astype(np.float32)
    data[5, 0] = np.nan
    data[100:110, 1] = np.inf
    data[2000, 1] = -np.inf
    data[:, 2] = np.nan  # a neuron that is never finite
    acc = SummaryAccumulator(6, 3000, k=4)
    for start in range(0, 3000, 700):  # uneven blocks
        acc.update(start, data[start : start + 700])
    s = acc.finish()
    st = s.stats
    assert list(st.nonfinite) == [1, 11, 3000, 0, 0, 0]
    assert list(st.count) == [2999, 2989, 0, 3000, 3000, 3000]
    clean = np.where(np.isfinite(data), data, np.nan)
    for j in (0, 1, 3):
        np.testing.assert_allclose(st.mean[j], np.nanmean(clean[:, j]), rtol=1e-5)
        np.testing.assert_allclose(st.std[j], np.nanstd(clean[:, j]), rtol=1e-5)
        assert st.max[j] == np.nanmax(clean[:, j]) and np.isfinite(st.max[j])
        assert np.isfinite(s.top_values[:, j]).all()
        np.testing.assert_allclose(
            st.quantiles[:, j], np.nanquantile(clean[:, j], st.quantile_levels)
        )
    assert np.isnan(st.mean[2]) and np.isnan(st.max[2]) and (s.top_rows[:, 2] == -1).all()


def test_summary_blocks_may_arrive_by_column_range_and_keep_precision() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(size=(5000, 8)).astype(np.float32)
    data[:, 3] = 1000.0 + 0.01 * data[:, 3]  # a large mean over a tiny spread
    acc = SummaryAccumulator(8, 5000, k=3)
    for start in range(0, 5000, 1024):
        acc.update(start, data[start : start + 1024, 4:], col=4)
    for start in range(0, 5000, 999):
        acc.update(start, data[start : start + 999, :4], col=0)
    st = acc.finish().stats
    np.testing.assert_allclose(st.std, data.astype(np.float64).std(0), rtol=1e-4)
    np.testing.assert_allclose(st.mean, data.astype(np.float64).mean(0), rtol=1e-6, atol=1e-6)


def test_sampled_quantiles_stay_within_the_documented_rank_error() -> None:
    rng = np.random.default_rng(3)
    data = rng.standard_exponential(size=(40000, 3)).astype(np.float32)
    acc = SummaryAccumulator(3, 40000, sample_bytes=4 * 3 * 2000)  # forces a 2,000-row sample
    for start in range(0, 40000, 8192):
        acc.update(start, data[start : start + 8192])
    st = acc.finish().stats
    assert st.extra["quantiles_exact"] is False
    bound = st.extra["quantile_rank_error"]
    assert 0 < bound < 0.05
    for j in range(3):
        ranks = np.searchsorted(np.sort(data[:, j]), st.quantiles[:, j]) / 40000
        assert np.all(np.abs(ranks - st.quantile_levels) <= bound)


def test_summary_of_an_empty_block_range_is_harmless() -> None:
    acc = SummaryAccumulator(2, 0)
    st = acc.finish().stats
    assert st.count.tolist() == [0, 0] and np.isnan(st.mean).all()


def test_summary_by_site_group_threads_equals_the_single_thread_pass(tmp_path: Path) -> None:
    tokens, acts = corpus(400, seed=5)  # ~1,800 tokens: both tile paths are taken
    acts[3][1, 6] = np.nan
    path = write_store(tmp_path / "t.h5", tokens, acts, SITES)
    with ns.open(path) as store:
        seen: list[int] = []
        one = store.compute_summary(workers=1, chunk_tokens=256)
        many = store.compute_summary(workers=3, chunk_tokens=256, progress=seen.append)
    assert sum(seen) == sum(a.size for a in acts)  # every value reported once
    for field in ("mean", "std", "min", "max", "quantiles", "count", "nonfinite"):
        np.testing.assert_array_equal(getattr(many.stats, field), getattr(one.stats, field))
    for field in ("top_rows", "top_values", "bottom_rows", "bottom_values"):
        np.testing.assert_array_equal(getattr(many, field), getattr(one, field))
    assert many.stats.nonfinite[6] == 1


def test_a_failure_in_a_summary_thread_reaches_the_caller(small) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = small

    def stop(_: int) -> None:
        raise KeyboardInterrupt

    with ns.open(path) as store, pytest.raises(KeyboardInterrupt):
        store.compute_summary(workers=2, progress=stop)


# -- our HDF5 layout ----------------------------------------------------------------
def test_store_round_trip(small: tuple[Path, list, list]) -> None:
    path, tokens, acts = small
    with ns.open(path) as store:
        assert isinstance(store, Store) and store.format == "neurotui"
        assert store.sentences == len(tokens)
        assert [store.tokens(i) for i in range(store.sentences)] == tokens
        assert store.all_tokens() == tokens
        for i in (0, 7, len(tokens) - 1):
            np.testing.assert_array_equal(store.activations(i), acts[i])
        np.testing.assert_array_equal(store.activations(4, ["enc.l1"]), acts[4][:, 4:7])
        np.testing.assert_array_equal(store.neuron_values("dec.l0:4"), flat(acts)[:, 11])
        meta = store.metadata
        assert meta["format_version"] == 1 and meta["model"] == {"name": "fake"}
        assert meta["sites"] == [list(s) for s in SITES]
        assert store.label_tasks == ["len"]
        assert store.labels("len")[5] == [str(len(tokens[5]))] * len(tokens[5])
        codes, classes = store.label_codes("len")
        assert codes.shape == (store.total_tokens,) and classes == sorted(classes)
        mem = MemoryStore(tokens, acts, SITES)
        np.testing.assert_allclose(store.stats.mean, mem.stats.mean, rtol=1e-6)
        assert store.top_examples(3, 4) == mem.top_examples(3, 4)
        one = store.neuron_summary("enc.l0:3")
        assert one["mean"] == pytest.approx(float(mem.stats.mean[3]), rel=1e-6)
        assert one["top"][:4] == mem.top_examples(3, 4)
        # blocks of chosen neurons, in corpus order
        parts = [b for _, b in store.iter_chunks([11, 0, 5], chunk_tokens=1)]
        np.testing.assert_array_equal(np.concatenate(parts), flat(acts)[:, [11, 0, 5]])


def test_float16_store_and_streamed_summary_agree(tmp_path: Path) -> None:
    tokens, acts = corpus(30)
    total = sum(map(len, tokens))
    with StoreWriter(tmp_path / "h.h5", SITES, dtype="float16", expected_tokens=total) as w:
        for t, a in zip(tokens, acts, strict=True):
            w.add(t, a)
        w.finish()
    with ns.open(tmp_path / "h.h5") as store:
        assert str(store.dtype) == "float16"
        halves = [a.astype(np.float16).astype(np.float32) for a in acts]
        np.testing.assert_array_equal(store.activations(2), halves[2])
        again = store.compute_summary()
        np.testing.assert_allclose(store.stats.mean, again.stats.mean, rtol=1e-6)
        np.testing.assert_array_equal(store.stats.max, flat(halves).max(0))


def test_writer_keeps_order_across_buffer_flushes_and_overlong_sentences(tmp_path: Path) -> None:
    # Short sentences fill the reused write buffer several times; one sentence is longer
    # than the buffer and is split across bands.
    from neurotui.store.writer import _FLUSH_ROWS

    rng = np.random.default_rng(11)
    lengths = [700] * 5 + [_FLUSH_ROWS + 333] + [5] * 50 + [1500]
    tokens = [[f"w{i}_{j}" for j in range(n)] for i, n in enumerate(lengths)]
    acts = [rng.normal(size=(n, WIDTH)).astype(np.float32) for n in lengths]
    total = sum(lengths)
    with StoreWriter(tmp_path / "l.h5", SITES, dtype="float16", expected_tokens=total) as w:
        for t, a in zip(tokens, acts, strict=True):
            w.add(t, a)
        w.finish()
    halves = [a.astype(np.float16).astype(np.float32) for a in acts]
    with ns.open(tmp_path / "l.h5") as store:
        assert store.sentences == len(lengths) and store.total_tokens == total
        for i in (0, 4, 5, 6, 55, len(lengths) - 1):
            assert store.tokens(i) == tokens[i]
            np.testing.assert_array_equal(store.activations(i), halves[i])
        np.testing.assert_array_equal(store.stats.max, flat(halves).max(0))
        np.testing.assert_allclose(store.stats.mean, flat(halves).mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_raw_chunk_reads_equal_h5py_reads(tmp_path: Path, monkeypatch, dtype: str) -> None:  # type: ignore[no-untyped-def]
    # 3 sites, one wider than a chunk (1,100 columns: chunked in column bands, so it must
    # fall back to h5py); ~3,000 rows so the last chunk of each site is partial.
    from neurotui.store.rawchunks import chunk_map

    rng = np.random.default_rng(4)
    sites = [("a", 5), ("wide", 1100), ("b", 7)]
    lengths = [int(x) for x in rng.integers(1, 40, size=150)]
    tokens = [[f"t{i}"] * n for i, n in enumerate(lengths)]
    acts = [rng.normal(size=(n, 1112)).astype(np.float32) for n in lengths]
    path = write_store(tmp_path / f"r{dtype}.h5", tokens, acts, sites, dtype=dtype)

    def blocks() -> list[tuple[int, int, np.ndarray]]:
        with ns.open(path) as store:
            return [(s, c, b.copy()) for s, c, b in store.iter_site_blocks(3072)]  # across flushes

    with ns.open(path) as store:
        kinds = {name: chunk_map(store._ds[name]) is not None for name, _ in sites}
    assert kinds == {"a": True, "wide": False, "b": True}
    raw = blocks()
    monkeypatch.setenv("NEUROTUI_NO_RAW_READS", "1")
    plain = blocks()
    assert [(s, c, b.shape) for s, c, b in raw] == [(s, c, b.shape) for s, c, b in plain]
    for (_, _, x), (_, _, y) in zip(raw, plain, strict=True):
        np.testing.assert_array_equal(x, y)
    expected = flat(acts).astype(dtype).astype(np.float32)
    first_a = np.concatenate([b for s, c, b in raw if c == 0])
    np.testing.assert_array_equal(first_a, expected[:, :5])


def test_writer_checks_shapes_and_names(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "x.h5", SITES) as w, pytest.raises(DataError, match="site enc.l1"):
        w.add(
            ["a", "b"],
            {"enc.l0": np.zeros((2, 4)), "enc.l1": np.zeros((3, 3)), "dec.l0": np.zeros((2, 5))},
        )
    assert not list(tmp_path.iterdir())
    with pytest.raises(StoreError, match="invalid site name"):
        StoreWriter(tmp_path / "y.h5", [("a/b", 3)])
    with pytest.raises(StoreError, match="appears twice"):
        StoreWriter(tmp_path / "y.h5", [("a", 3), ("a", 2)])


def test_interrupted_writer_leaves_nothing(tmp_path: Path) -> None:
    tokens, acts = corpus(20)
    target = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt), StoreWriter(target, SITES) as w:
        for i, (t, a) in enumerate(zip(tokens, acts, strict=True)):
            w.add(t, a)
            if i == 10:
                raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_existing_target_survives_a_failed_rewrite(small: tuple[Path, list, list]) -> None:
    path, tokens, acts = small
    before = path.read_bytes()
    with pytest.raises(RuntimeError), StoreWriter(path, SITES) as w:
        w.add(tokens[0], acts[0])
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["s.h5"]


def test_edits_add_labels_and_rankings_atomically(small: tuple[Path, list, list]) -> None:
    path, tokens, _ = small
    rows = [["X"] * len(t) for t in tokens]
    add_labels(path, "const", rows, source="const.txt")
    ranking = Ranking(method="probe", order=[3, 1, 2], scores=[0.9, 0.5, 0.1], task="const")
    save_ranking(path, "probe-const", ranking)
    with ns.open(path) as store:
        assert store.label_tasks == ["const", "len"]
        assert store.rankings["probe-const"] == ranking
        assert store.stats is not None  # summaries survive edits
    delete_ranking(path, "probe-const")
    before = path.read_bytes()
    bad = [["X"] * len(t) for t in tokens]
    bad[6] = bad[6] + ["extra"]
    with pytest.raises(DataError, match=r"labels.txt:7: .* labels for .* tokens"):
        edit_store(path, labels={"bad": bad}, label_sources={"bad": "labels.txt"})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["s.h5"]
    with ns.open(path) as store:
        assert store.rankings == {}


def test_open_is_lazy(small: tuple[Path, list, list], monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, _ = small
    reads: list[tuple[str, int]] = []
    original = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, key: object) -> object:
        out = original(self, key)
        reads.append((self.name, int(np.size(out))))
        return out

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    store = ns.open(path)
    # the sentence offsets, and the two ends of the token index (checked against the text)
    assert {name for name, _ in reads} <= {"/sentences/offsets", "/tokens/offsets"}
    assert [n for name, n in reads if name == "/tokens/offsets"] == [1, 1]
    store.close()


def test_truncated_store_is_a_one_line_error(small: tuple[Path, list, list]) -> None:
    path, _, _ = small
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="truncated or damaged HDF5") as err:
        ns.open(path)
    assert "\n" not in str(err.value)


def test_newer_format_version_is_refused(small: tuple[Path, list, list]) -> None:
    path, _, _ = small
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(StoreError, match="format version 99 is newer"):
        ns.open(path)


def test_summary_pass_memory_is_bounded() -> None:
    acc = SummaryAccumulator(10_000, 10_000_000)
    assert acc.sample.nbytes <= 100 * 2**20
    assert math.isfinite(acc.stride) and acc.stride > 1


def test_errors_are_neurotui_errors() -> None:
    assert issubclass(StoreError, NeurotuiError) and issubclass(DataError, NeurotuiError)
    assert os.sep  # keep os imported for tmp-path helpers


def test_damaged_data_is_a_store_error(
    small: tuple[Path, list, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _, _ = small

    def broken(self: h5py.Dataset, key: object) -> object:
        raise OSError("Can't read data (inflate() failed)")

    with ns.open(path) as store:
        monkeypatch.setattr(h5py.Dataset, "__getitem__", broken)
        with pytest.raises(StoreError, match="damaged store data"):
            store.activations(0)
        with pytest.raises(StoreError, match="damaged store data"):
            list(store.iter_chunks([1]))


def test_memory_store_neuron_summary() -> None:
    tokens, acts = corpus(5)
    store = MemoryStore(tokens, acts, SITES)
    one = store.neuron_summary("enc.l1:0")
    assert one is not None and one["count"] == store.total_tokens
    assert one["top"][0].value == flat(acts)[:, 4].max()
