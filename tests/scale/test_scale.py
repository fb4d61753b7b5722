"""Sharded stores, Dask runs and exemplar stores (issue: beyond one machine).

Why one module-scoped cluster: starting worker processes costs seconds on a 2-core box,
so every cluster test shares one LocalCluster of 2 single-threaded worker processes
(loopback only). The single-process references run with one torch thread, as the
workers do, so shards hold the very same values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import neurotui.store as ns
from neurotui.cli import main
from neurotui.errors import DataError, NeurotuiError, StoreError
from neurotui.store.exemplar import EDGES, ExemplarState, exemplar_contexts
from neurotui.store.extract import extract
from neurotui.store.sharded import write_manifest

pytest.importorskip("distributed")

MODEL = "synth-en-lm"
LINES = 40
OPTS = {"batch_size": 8, "device": "cpu"}


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    from distributed import Client

    from neurotui.scale.engine import local_cluster

    cluster = local_cluster(2)
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from neurotui.models.registry import samples_dir

    lines = (samples_dir() / "synth-data" / "dev.en").read_text().splitlines()[:LINES]
    path = tmp_path_factory.mktemp("text") / "small.en"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def single(text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process dense store (one torch thread, like a worker)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("NEUROTUI_THREADS", "1")
    try:
        out = tmp_path_factory.mktemp("single") / "one.h5"
        extract(MODEL, text, out, **OPTS)
    finally:
        mp.undo()
    return out


@pytest.fixture(scope="module")
def sharded(client, text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    from neurotui.scale.extract import extract_on_cluster

    out = tmp_path_factory.mktemp("sharded") / "acts.h5"
    seen: list[tuple[str, int, int]] = []
    result = extract_on_cluster(
        client, MODEL, text, out, chunk_lines=8, progress=lambda *a: seen.append(a), **OPTS
    )
    assert result.tokens["encoder"] > 0
    assert ("extract", 5, 5) in seen  # 40 lines in chunks of 8, reported as they end
    assert seen[-1] == ("quantiles", 5, 5)  # then the corpus quantile sample, per shard
    return out


def _same_store(a, b) -> None:  # type: ignore[no-untyped-def]
    assert (a.sentences, a.total_tokens, a.layer_names) == (
        b.sentences,
        b.total_tokens,
        b.layer_names,
    )
    for i in range(a.sentences):
        assert a.tokens(i) == b.tokens(i)
        np.testing.assert_allclose(a.activations(i), b.activations(i), rtol=1e-5, atol=1e-7)


def test_sharded_extraction_equals_single_process(sharded: Path, single: Path) -> None:
    with ns.open(sharded) as s, ns.open(single) as one:
        assert s.format == "neurotui-sharded"
        assert len(s.shards) == 5
        _same_store(s, one)
        # Summaries merge exactly (moments, extremes) across the five shards.
        np.testing.assert_allclose(s.stats.mean, one.stats.mean, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(s.stats.std, one.stats.std, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(s.summary.top_rows, one.summary.top_rows)
        np.testing.assert_array_equal(s.summary.bottom_rows, one.summary.bottom_rows)
        assert s.top_examples("lm.l1:3", 5) == one.top_examples("lm.l1:3", 5)
        # Quantiles too: the shards' rows the single pass samples, gathered on the cluster.
        np.testing.assert_allclose(s.stats.quantiles, one.stats.quantiles, rtol=1e-6)
        assert s.stats.extra["quantiles_exact"] is True and "quantiles_merged" not in s.stats.extra
        np.testing.assert_array_equal(s.neuron_values(300), one.neuron_values(300))
        assert s.metadata["source"]["path"] == str(Path(one.metadata["source"]["path"]))


def test_quantile_sample_gathered_from_shards_is_the_single_pass_sample(
    sharded: Path, single: Path
) -> None:
    """With a stride (a corpus too big to keep every row), each shard gives the rows whose
    corpus index is a multiple of it — the single pass's sample, whatever the shard bounds."""
    from neurotui.scale.reduce import piece_sample
    from neurotui.store.summary import DEFAULT_LEVELS, sample_quantiles

    with ns.open(sharded) as s, ns.open(single) as one:
        rows = np.concatenate([one.activations(i) for i in range(one.sentences)])
        for stride in (3, 7):
            parts = [
                piece_sample(str(path), first, stride)
                for path, first in zip(s.shard_paths, s.shard_first_rows, strict=True)
            ]
            sample = np.concatenate(parts)
            np.testing.assert_allclose(sample, rows[::stride], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(
                sample_quantiles(sample, DEFAULT_LEVELS),
                np.quantile(rows[::stride], DEFAULT_LEVELS, axis=0),
                rtol=1e-4,
                atol=1e-6,
            )


def test_lying_quantiles_side_file_is_one_line_error(
    sharded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    copy = tmp_path / "acts.h5"
    shutil.copy(sharded, copy)
    shutil.copytree(sharded.parent / "acts.h5.shards", tmp_path / "acts.h5.shards")
    side = next((tmp_path / "acts.h5.shards").glob("*-quantiles.npz"))
    with ns.open(copy) as store:
        assert store.stats.extra["quantiles_exact"] is True
    side.write_bytes(side.read_bytes() + b"x")
    assert main(["info", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurotui: error: ") and err.count("\n") == 1 and "quantiles" in err


def test_sharded_store_in_info(sharded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(sharded), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "neurotui-sharded" and len(doc["shards"]) == 5
    assert doc["sentences"] == LINES


@pytest.mark.parametrize("method", ["variance", "meandist"])
def test_distributed_statistics_equal_single(
    client, sharded: Path, single: Path, method: str
) -> None:  # type: ignore[no-untyped-def]
    from neurotui.analysis.methods import RankOptions, compute_ranking

    with ns.open(single) as one, ns.open(sharded) as s:
        local = compute_ranking(one, method)
        for store in (s, one):  # one task per shard / per row range of one file
            far = compute_ranking(store, method, RankOptions(cluster=client))
            assert far.order == local.order
            np.testing.assert_allclose(far.scores, local.scores, rtol=1e-5)


@pytest.fixture(scope="module")
def other(single: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second "model" on the same text: permuted, bent and noised columns of the first."""
    rng = np.random.default_rng(1)
    perm = rng.permutation(512)[:96]
    with ns.open(single) as one:
        toks = [one.tokens(i) for i in range(one.sentences)]
        acts = [np.tanh(2 * one.activations(i)[:, perm]) for i in range(one.sentences)]
    acts = [a + rng.normal(scale=0.05, size=a.shape).astype(np.float32) for a in acts]
    out = tmp_path_factory.mktemp("other") / "other.h5"
    return ns.write_store(out, toks, acts, [("x", 96)])


@pytest.mark.parametrize("method", ["maxcorr", "mincorr", "linreg"])
def test_distributed_crossmodel_equals_single(
    client, sharded: Path, single: Path, other: Path, method: str
) -> None:  # type: ignore[no-untyped-def]
    from neurotui.analysis.methods import RankOptions, compute_ranking

    with ns.open(single) as one, ns.open(sharded) as s, ns.open(other) as o:
        local = compute_ranking(one, method, RankOptions(others=[o], device="cpu"))
        far = compute_ranking(s, method, RankOptions(others=[o], cluster=client))
        assert far.order == local.order
        np.testing.assert_allclose(far.scores, local.scores, rtol=1e-5, atol=1e-9)
        if method == "maxcorr":
            assert far.partners == local.partners


def test_cluster_refuses_methods_it_cannot_run(client, single: Path) -> None:  # type: ignore[no-untyped-def]
    from neurotui.analysis.methods import RankOptions, compute_ranking

    with ns.open(single) as one, pytest.raises(DataError, match="--cluster: --method probe"):
        compute_ranking(one, "probe", RankOptions(cluster=client, task="position"))


def _shards(text: Path, tmp_path: Path) -> list[Path]:
    """Two shards of the text written in one process (no cluster needed)."""
    lines = text.read_text().splitlines()
    out = []
    for j, part in enumerate((lines[:10], lines[10:20])):
        src = tmp_path / f"part{j}.en"
        src.write_text("\n".join(part) + "\n")
        out.append(extract(MODEL, src, tmp_path / f"s{j}.h5", **OPTS).paths["encoder"])
    return out


def test_lying_manifest_is_one_line_error(
    text: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shards = _shards(text, tmp_path)
    manifest = write_manifest(tmp_path / "m.h5", shards)
    with ns.open(manifest) as store:
        assert store.sentences == 20
    good = json.loads(manifest.read_text())
    lies = {
        "bytes": lambda d: d["shards"][1].update(bytes=d["shards"][1]["bytes"] + 1),
        "counts": lambda d: d["shards"][0].update(tokens=d["shards"][0]["tokens"] + 1),
        "missing": lambda d: d["shards"][0].update(path="nowhere.h5"),
        "totals": lambda d: d.update(sentences=21),
        "field": lambda d: d.pop("sites"),
    }
    for name, lie in lies.items():
        doc = json.loads(json.dumps(good))
        lie(doc)
        manifest.write_text(json.dumps(doc))
        with pytest.raises(StoreError):
            ns.open(manifest)
        assert main(["info", str(manifest)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("neurotui: error: ") and err.count("\n") == 1, (name, err)
        assert str(manifest) in err


def test_failed_run_leaves_no_store(client, text: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from neurotui.scale.extract import extract_on_cluster

    out = tmp_path / "bad.h5"
    with pytest.raises(NeurotuiError):
        extract_on_cluster(client, "no-such-model", text, out, chunk_lines=8, **OPTS)
    assert not out.exists()
    assert not list((tmp_path / "bad.h5.shards").glob("*.h5"))


# -- exemplar stores ---------------------------------------------------------------------


def _random_corpus(seed: int = 0, sentences: int = 120, width: int = 12):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    toks, acts = [], []
    for i in range(sentences):
        n = int(rng.integers(1, 9))
        a = rng.normal(size=(n, width)).astype(np.float32)
        a[:, 0] = np.maximum(a[:, 0], 0)  # a ReLU-like neuron: many tied zeros
        a[:, 1] = np.round(a[:, 1])  # many ties everywhere
        if i % 17 == 3:
            a[0, 2] = np.nan
        toks.append([f"w{i}_{j}" for j in range(n)])
        acts.append(a)
    return toks, acts


def _tokens_of(state: ExemplarState, side: str) -> np.ndarray:
    """The windows' token strings (ids differ between states; strings must not)."""
    table = np.array([*state.vocab, None], dtype=object)
    return table[state.ext[side]["tok"]]


def test_exemplar_parts_merge_to_the_single_pass() -> None:
    toks, acts = _random_corpus()
    sites = [("a", 5), ("b", 7)]
    whole = ExemplarState(sites, k=3, sample=6, window=2)
    for lo in range(0, len(toks), 50):  # one pass, in batches
        whole.update(
            list(range(lo, min(lo + 50, len(toks)))), toks[lo : lo + 50], acts[lo : lo + 50]
        )
    parts = []
    for lo, hi in ((70, 120), (0, 33), (33, 70)):  # any split, merged in any order
        part = ExemplarState(sites, k=3, sample=6, window=2)
        for a in range(lo, hi, 7):
            b = min(hi, a + 7)
            part.update(list(range(a, b)), toks[a:b], acts[a:b])
        parts.append(part)
    merged = parts[0]
    for p in parts[1:]:
        merged.merge(p)
    for name in ("count", "nonfinite", "min", "max", "hist", "sample_ids"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(merged.m2, whole.m2, rtol=1e-12)
    for side in ("top", "bottom"):
        for key in ("sent", "pos", "val", "start", "len", "win"):
            np.testing.assert_array_equal(merged.ext[side][key], whole.ext[side][key])
        assert (_tokens_of(merged, side) == _tokens_of(whole, side)).all()
    # Dense rows are kept for the sampled sentences only.
    assert sorted(merged.sentences) == sorted(whole.sentences) == whole.sample_ids.tolist()
    assert len(whole.sentences) == 6
    # Against brute force: exact moments, extremes and ordering (value, then corpus order).
    flat = np.concatenate(acts).astype(np.float64)
    loc = [(i, j) for i, a in enumerate(acts) for j in range(a.shape[0])]
    for col in range(12):
        v = flat[:, col]
        ok = np.isfinite(v)
        assert whole.count[col] == ok.sum()
        np.testing.assert_allclose(whole.mean[col], v[ok].mean(), rtol=1e-12)
        np.testing.assert_allclose(whole.m2[col] / ok.sum(), v[ok].var(), rtol=1e-10)
        best = sorted((r for r in range(v.size) if ok[r]), key=lambda r: (-v[r], r))[:3]
        assert [loc[r] for r in best] == list(
            zip(whole.ext["top"]["sent"][:, col], whole.ext["top"]["pos"][:, col], strict=True)
        )
        # Each context's window: this column's values over ±2 tokens, and their tokens.
        for side in ("top", "bottom"):
            e = whole.ext[side]
            for r in range(3):
                s, p = int(e["sent"][r, col]), int(e["pos"][r, col])
                lo, hi = max(0, p - 2), min(len(toks[s]), p + 3)
                assert (e["start"][r, col], e["len"][r, col]) == (lo, hi - lo)
                np.testing.assert_array_equal(e["win"][r, col, : hi - lo], acts[s][lo:hi, col])
                assert np.isnan(e["win"][r, col, hi - lo :]).all()
                assert list(_tokens_of(whole, side)[r, col, : hi - lo]) == toks[s][lo:hi]


def test_exemplar_state_is_linear_in_neurons(tmp_path: Path) -> None:
    """Every neuron's contexts in sentences of its own: the state still holds k windows of
    that neuron only (no other neuron's row), so its bytes are linear in neurons × k × W
    and the file keeps dense rows of the sampled sentences alone."""
    k, window, length = 2, 3, 10
    sizes = {}
    for n in (64, 128):
        state = ExemplarState([("s", n)], k=k, sample=4, window=window)
        ids = list(range(2 * n))
        toks = [[f"t{i}_{j}" for j in range(length)] for i in ids]
        acts = []
        for i in ids:  # neuron i % n peaks (i < n) or dips (i ≥ n) in sentence i only
            a = np.zeros((length, n), np.float32)
            a[5, i % n] = 10.0 if i < n else -10.0
            acts.append(a)
        state.update(ids, toks, acts)
        assert len(set(state.ext["top"]["sent"][0].tolist())) == n  # n distinct sentences
        for e in state.ext.values():
            assert e["win"].shape == e["tok"].shape == (k, n, 2 * window + 1)
            assert e["win"].dtype == np.float32 and e["tok"].dtype == np.int32
        np.testing.assert_array_equal(state.ext["top"]["win"][0, 7], [0, 0, 0, 10, 0, 0, 0])
        assert sorted(state.sentences) == state.sample_ids.tolist() and len(state.sentences) == 4
        sizes[n] = state.nbytes()
        out = state.write(tmp_path / f"ex{n}.h5")
        with ns.open(out) as st:
            assert st.sentences == 4 and st.total_tokens == 4 * length  # the sample only
            g = st._file["exemplar"]
            # windows packed end to end: at most k × n × (2W + 1) values, no padding
            packed = int(state.ext["top"]["len"].sum())
            assert g["top_win"].shape == g["top_tok"].shape == (packed,)
            assert n * k * 4 <= packed <= n * k * (2 * window + 1)
            assert sum(len(t) for t in g["tokens"][()]) < 2 * (2 * n) * (2 * window + 1) * 8
    moments = 4 * 8 + 2 * 4 + 8 * (EDGES.size + 1)  # count … m2, min, max, histogram
    per_context = 8 + 8 + 4 + 8 + 4 + (2 * window + 1) * (4 + 4)  # ids, value, window
    per_neuron = moments + 2 * k * per_context
    assert sizes[64] == 64 * per_neuron and sizes[128] == 128 * per_neuron


@pytest.fixture(scope="module")
def exemplar_single(text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("NEUROTUI_THREADS", "1")
    try:
        out = tmp_path_factory.mktemp("ex") / "ex1.h5"
        extract(MODEL, text, out, keep="exemplars", exemplar_options={"k": 2, "sample": 3},
                sites=["lm.l1"], **OPTS)  # fmt: skip
    finally:
        mp.undo()
    return out


def test_distributed_exemplar_store_equals_single_pass(
    client, text: Path, exemplar_single: Path, single: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from neurotui.scale.extract import extract_on_cluster

    out = tmp_path / "ex2.h5"
    extract_on_cluster(client, MODEL, text, out, keep="exemplars", chunk_lines=8,
                       exemplar_options={"k": 2, "sample": 3}, sites=["lm.l1"], **OPTS)  # fmt: skip
    assert not (tmp_path / "ex2.h5.shards").exists()
    a, b = ExemplarState.read(exemplar_single), ExemplarState.read(out)
    for name in ("count", "nonfinite", "min", "max", "hist", "sample_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-5, atol=1e-7)
    for side in ("top", "bottom"):
        for key in ("sent", "pos", "start", "len"):
            np.testing.assert_array_equal(a.ext[side][key], b.ext[side][key])
        np.testing.assert_allclose(b.ext[side]["win"], a.ext[side]["win"], rtol=1e-5, atol=1e-7)
        assert (_tokens_of(a, side) == _tokens_of(b, side)).all()
    with ns.open(out) as ex, ns.open(exemplar_single) as ex1, ns.open(single) as dense:
        _same_store(ex, ex1)
        # Dense rows are kept for exactly the sampled sentences.
        ids = ex._file["exemplar/sentence_ids"][()]
        assert ids.tolist() == b.sample_ids.tolist() and ex.sentences == ids.size == 3
        # Corpus-wide statistics equal the dense store's.
        l1 = dense.site("lm.l1")
        cols = slice(l1.offset, l1.offset + l1.size)
        np.testing.assert_allclose(ex.stats.mean, dense.stats.mean[cols], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ex.stats.std, dense.stats.std[cols], rtol=1e-5, atol=1e-6)
        # Top/bottom contexts are the dense store's, each with that neuron's dense values
        # over its window (corpus numbering; a stored sentence also gets its store index).
        for n in (0, 17):
            for bottom in (False, True):
                got = exemplar_contexts(ex, n, 2, bottom=bottom)
                want = dense.top_examples(l1.offset + n, 2, bottom=bottom)
                assert [(w.corpus_sentence, w.position, w.value) for w in got] == [
                    (e.sentence, e.position, e.value) for e in want
                ]
                for w in got:
                    row = dense.activations(w.corpus_sentence)[:, l1.offset + n]
                    lo = max(0, w.position - 12)
                    assert w.start == lo
                    assert w.tokens == dense.tokens(w.corpus_sentence)[lo : w.position + 13]
                    np.testing.assert_allclose(w.values, row[lo : w.position + 13], rtol=1e-6)
                    stored = w.corpus_sentence in ids.tolist()
                    assert (w.sentence is not None) == stored


def test_exemplar_store_rankings(exemplar_single: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rank", str(exemplar_single), "--method", "probe", "--task", "position"]) == 2
    err = capsys.readouterr().err
    assert "exemplar store" in err and err.count("\n") == 1
    assert main(["rank", str(exemplar_single), "--method", "variance", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with ns.open(exemplar_single) as ex:
        best = int(np.argmax(ex.stats.std))
    assert doc["order"][0] == best


def test_killed_worker_task_is_redone(client, text: Path, single: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The first task to start kills its worker process; Dask reruns it elsewhere."""
    from neurotui.scale.extract import extract_on_cluster

    marker = tmp_path / "killed"
    out = tmp_path / "acts.h5"
    extract_on_cluster(client, MODEL, text, out, chunk_lines=8, fault_marker=str(marker), **OPTS)
    assert marker.exists()  # a worker did die mid-run
    with ns.open(out) as s, ns.open(single) as one:
        _same_store(s, one)


def test_app_opens_sharded_and_exemplar_stores(
    sharded: Path, exemplar_single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The explorer shows both like any store: card, top contexts and words, colouring."""
    import asyncio

    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.testing import settle
    from neurotui.tui.widgets.neuron_card import NeuronCard
    from neurotui.tui.widgets.neuron_list import NeuronList
    from neurotui.tui.widgets.sentence_view import SentenceView

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    async def check(path: Path) -> None:
        store = ns.open(path)
        app = NeurotuiApp(stores=[store], open_default=False, device="cpu")
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            card = app.screen.query_one(NeuronCard)
            for _ in range(100):
                if card.card is not None and card.card.top_words:
                    break
                await pilot.pause(0.05)
            assert card.card is not None and card.card.neuron == 0
            if path == exemplar_single:
                _check_window_card(card, store)
                # Enter on a context whose sentence is not stored says so and stays put.
                view = app.screen.query_one(SentenceView)
                jumps = card.query_one("#card-jumps")
                ids = [jumps.get_option_at_index(i).id or "" for i in range(jumps.option_count)]
                outside = next(i for i, o in enumerate(ids) if o.startswith("ctx:top:-"))
                before = (view.cursor_sentence, view.cursor_position)
                jumps.focus()
                jumps.highlighted = outside
                await pilot.press("enter")
                await settle(pilot)
                assert (view.cursor_sentence, view.cursor_position) == before
                assert any("window of lm.l1:0 only" in n.message for n in app._notifications)
                app.screen.query_one(NeuronList).focus()
            else:
                assert card.card.top[:2] == store.top_examples(0, 2)
            assert card.card.top_words
            view = app.screen.query_one(SentenceView)
            assert view.render_line(0).text.split()[1:] == store.tokens(0)
            await pilot.press("j")
            await settle(pilot)
            assert app.session.active.view.cursor == 1
        store.close()

    for path in (sharded, exemplar_single):
        asyncio.run(check(path))


def test_app_ranks_on_the_cluster_with_a_progress_bar(
    client, sharded: Path, single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`neurotui S --cluster …`: the app's variance ranking runs as the Dask reduction (one
    task per shard), reports its progress on the job bar, and equals the one-process one."""
    import asyncio

    from neurotui.analysis.methods import compute_ranking
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.testing import settle
    from neurotui.tui.widgets.jobs import JobBar

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shown: list[tuple[str, int, int]] = []
    report = JobBar.report

    def spy(self: JobBar, group: str, label: str, done: int, total: int) -> None:
        shown.append((label, done, total))
        report(self, group, label, done, total)

    monkeypatch.setattr(JobBar, "report", spy)
    with ns.open(single) as one:
        local = compute_ranking(one, "variance")

    async def run() -> None:
        store = ns.open(sharded)
        app = NeurotuiApp(stores=[store], open_default=False, device="cpu", cluster=client)
        async with app.run_test(size=(160, 50)) as pilot:
            await settle(pilot)
            app.screen.compute_ranking("variance")
            for _ in range(400):
                await settle(pilot)
                if "variance" in app.session.active.rankings:
                    break
            ranking = app.session.active.rankings["variance"]
            assert ranking.order == local.order
            np.testing.assert_allclose(ranking.scores, local.scores, rtol=1e-5)
        store.close()

    asyncio.run(run())
    with ns.open(sharded) as s:
        shards = len(s.shards)
    # the bar counted the reduction's tasks (one per shard; the one-process pass counts
    # token rows), to the last
    steps = [(done, total) for label, done, total in shown if "statistics" in label]
    assert steps and steps[-1] == (shards, shards) and 1 < shards < s.total_tokens


def _check_window_card(card, store) -> None:  # type: ignore[no-untyped-def]
    """An exemplar store's card: contexts from neuron 0's own windows, coloured by its
    values, and the contexts outside the stored sample say so."""
    from textual.widgets import OptionList

    data = card.card
    wins = exemplar_contexts(store, 0, 8)
    assert [(e.position, e.value) for e in data.top] == [(w.position, w.value) for w in wins]
    outside = 0
    for e, w in zip(data.top, wins, strict=True):
        key = (e.sentence, e.position)
        lo = max(0, w.at - 4)
        assert data.contexts[key] == w.tokens[lo : w.at + 5]
        np.testing.assert_array_equal(data.extra["context_values"][key], w.values[lo : w.at + 5])
        assert data.extra["context_start"][key] == w.start + lo
        assert (key in data.extra["window_only"]) == (w.sentence is None)
        assert e.sentence == (w.sentence if w.sentence is not None else -1 - w.corpus_sentence)
        outside += w.sentence is None
    assert outside  # 3 sampled sentences of 40: most top contexts lie elsewhere
    jumps = card.query_one("#card-jumps", OptionList)
    shown = [str(jumps.get_option_at_index(i).prompt) for i in range(jumps.option_count)]
    assert any("window of lm.l1:0 only" in line for line in shown)
    # the context's neighbours are coloured too (by neuron 0's own values)
    first = card._context_full(data, data.top[0].sentence, data.top[0].position, data.top[0].value)
    assert len({str(span.style) for span in first.spans}) > 2


def test_top_words_of_an_exemplar_store(
    exemplar_single: Path, single: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``top-words`` shows the windows' contexts: the dense store's top contexts."""
    args = ["top-words", str(exemplar_single), "lm.l1:5", "-k", "2", "--no-model"]
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with ns.open(single) as dense:
        gid = dense.neuron_id("lm.l1:5")
        want = dense.top_examples(gid, 2)
        got = doc["top_contexts"]
        assert [(c["sentence"], c["position"], c["value"]) for c in got] == [
            (e.sentence, e.position, e.value) for e in want
        ]
        for c, e in zip(got, want, strict=True):
            toks = dense.tokens(e.sentence)
            assert c["word"] == toks[e.position]
            assert c["left"] == toks[max(0, e.position - 5) : e.position]
    assert main(args) == 0
    assert "windows of ±12 tokens keeping lm.l1:5's values only" in capsys.readouterr().out


def test_old_exemplar_layout(exemplar_single: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    """A first-layout file (no ``format``) still opens; merging it asks to re-extract."""
    import shutil

    import h5py

    from neurotui.store.exemplar import merge_exemplar_files

    old = tmp_path / "old.h5"
    shutil.copyfile(exemplar_single, old)
    with h5py.File(old, "a") as f:  # what the first layout wrote: no format, no window
        del f["exemplar"].attrs["format"]
        meta = json.loads(f.attrs["metadata"])
        meta["exemplars"] = {"k": 2, "sample": 3, "kept_sentences": 3}
        f.attrs["metadata"] = json.dumps(meta)
    with pytest.raises(StoreError, match="layout 1.*re-extract it with --keep exemplars"):
        ExemplarState.read(old)
    with pytest.raises(StoreError, match="re-extract"):
        merge_exemplar_files([old, exemplar_single], tmp_path / "merged.h5")
    assert not (tmp_path / "merged.h5").exists()
    assert main(["info", str(old)]) == 0
    assert "older layout: re-extract" in capsys.readouterr().out
    assert main(["info", str(exemplar_single)]) == 0
    out = capsys.readouterr().out
    assert "its own values over ±12 tokens; dense rows of 3 sampled sentences" in out
