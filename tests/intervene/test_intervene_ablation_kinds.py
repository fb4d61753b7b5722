"""Ablation kinds zero / mean / resample: spec, binding, hooks, curves, CLI, replay."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_models  # beside this file: pytest puts tests/ on sys.path
import torch

from neurotui.cli import main
from neurotui.data.synthetic import generate
from neurotui.intervene.ablation import AblationPlan, plan_ablation, run_ablation
from neurotui.intervene.apply import DecodeSettings, intervening
from neurotui.intervene.bind import bind
from neurotui.intervene.spec import Intervention, SpecError, parse_spec
from neurotui.models.checkpoint import save_checkpoint
from neurotui.store.memory import MemoryStore
from neurotui.store.ranking import Ranking

EXAMPLES = generate(40, seed=5)
STORE_EX, TEST_EX = EXAMPLES[:30], EXAMPLES[30:]
FAST = DecodeSettings(max_len=8)
SITE = "enc.l0.fw"


@pytest.fixture(scope="module")
def s2s():
    return tiny_models.tiny_seq2seq(EXAMPLES, seed=2, dec_layers=1)


@pytest.fixture(scope="module")
def store(s2s) -> MemoryStore:
    sites = [(s.name, s.size) for s in s2s.sites() if s.side == "encoder"]
    acts = s2s.encode([e.src for e in STORE_EX], [n for n, _ in sites])
    matrix = [np.concatenate([a[n] for n, _ in sites], axis=1) for a in acts]
    return MemoryStore([e.src.split() for e in STORE_EX], matrix, sites, {})


def site_values(backend, bound, sentences) -> np.ndarray:
    """Every row of SITE after the edits, concatenated (what the next layer reads)."""
    rows = []
    with intervening(backend, bound), backend._capture([SITE]) as rec:
        backend.encode(sentences, [SITE])
    for tensor in rec[SITE]:
        rows.append(tensor.reshape(-1, tensor.shape[-1]).numpy())
    return np.concatenate(rows)


def test_spec_accepts_the_ablation_kinds_and_refuses_units() -> None:
    (iv,) = parse_spec({"site": SITE, "neurons": [1, 2], "op": "mean"})
    assert iv.op == "mean" and iv.describe().endswith("mean @ all")
    assert parse_spec({"neurons": ["enc.l0.fw:1"], "op": "resample"})[0].op == "resample"
    with pytest.raises(SpecError, match="op mean takes no unit"):
        Intervention(neurons=(1,), op="mean", site=SITE, unit="sigma")
    with pytest.raises(SpecError, match="not one of"):
        Intervention(neurons=(1,), op="shuffle", site=SITE)


def test_mean_binds_to_the_store_mean_and_resample_to_real_rows(s2s, store) -> None:
    values = np.concatenate([store.activations(i) for i in range(store.sentences)])
    neurons = [0, 3, 5]
    (mean,) = bind([Intervention(neurons=tuple(neurons), op="mean", site=SITE)], s2s, store)
    assert mean.op == "set"  # logged and replayed as the equivalent raw clamp
    np.testing.assert_allclose(mean.values, values[:, neurons].mean(axis=0), atol=1e-5)
    (res,) = bind([Intervention(neurons=tuple(neurons), op="resample", site=SITE)], s2s, store)
    assert res.op == "resample" and res.pool.shape == (64, 3)
    # every pool row is one real token of the store (the three neurons jointly)
    real = {tuple(np.round(r, 5)) for r in values[:, neurons]}
    assert all(tuple(np.round(r, 5)) in real for r in res.pool)
    # the hook writes pool rows into the site: each edited row is one of them
    sentences = [e.src for e in TEST_EX]
    out = site_values(s2s, [res], sentences)[:, neurons]
    pool = {tuple(np.round(r, 5)) for r in res.pool}
    assert all(tuple(np.round(r, 5)) in pool for r in out)
    assert len({tuple(r) for r in np.round(out, 5)}) > 1  # drawn per position, not one row
    # seeded: the same run draws the same rows; another seed draws others
    again = site_values(s2s, [res], sentences)[:, neurons]
    np.testing.assert_array_equal(out, again)
    (other,) = bind(
        [Intervention(neurons=tuple(neurons), op="resample", site=SITE)], s2s, store, seed=9
    )
    assert not np.array_equal(site_values(s2s, [other], sentences)[:, neurons], out)
    # untouched neurons keep their values
    clean = site_values(s2s, [], sentences)
    np.testing.assert_allclose(site_values(s2s, [res], sentences)[:, 1], clean[:, 1], atol=1e-6)
    assert s2s.active_hook_count() == 0


def test_mean_and_resample_need_a_store(s2s) -> None:
    for op in ("mean", "resample"):
        with pytest.raises(SpecError, match=f"op {op} needs a store"):
            bind([Intervention(neurons=(1,), op=op, site=SITE)], s2s)


def test_curves_of_each_kind_differ_and_replay_without_the_store(s2s, store) -> None:
    ranking = Ranking(method="test", order=list(range(store.neuron_count)))
    sources, refs = [e.src for e in TEST_EX], [e.tgt for e in TEST_EX]
    outputs = {}
    for kind in ("zero", "mean", "resample"):
        plan = plan_ablation(ranking, [32], store=store, directions=["top"], kind=kind)
        assert (plan.reference is None) == (kind == "zero")
        curve = run_ablation(s2s, plan, sources, refs, settings=FAST, keep_outputs=True)
        assert curve.to_dict()["ablation"] == kind
        outputs[kind] = [p.outputs for p in curve.points]
        if kind == "resample":
            # the plan carries its pool: a JSON round trip replays the same curve, storeless
            again = AblationPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
            assert again.kind == kind and again.reference is not None
            replayed = run_ablation(s2s, again, sources, refs, settings=FAST, keep_outputs=True)
            assert [p.outputs for p in replayed.points] == outputs[kind]
    # all 32 encoder neurons replaced by 0, by a constant mean, by resampled rows: different
    assert outputs["zero"][-1] != outputs["mean"][-1]
    assert outputs["mean"][-1] != outputs["resample"][-1]
    with pytest.raises(Exception, match="needs an activation store"):
        plan_ablation(ranking, [8], backend=s2s, kind="mean")
    with pytest.raises(Exception, match="expected one of"):
        plan_ablation(ranking, [8], store=store, kind="shuffle")


def test_ablate_cli_mean_kind(s2s, store, tmp_path, capsys) -> None:
    from neurotui.store.writer import write_store

    folder = tmp_path / "tiny"
    config = {
        "neurotui_format": 1,
        "kind": "lstm-seq2seq",
        "emb": 16,
        "enc_hidden": 8,
        "enc_layers": 2,
        "dec_hidden": 16,
        "dec_layers": 1,
        "dropout": 0.0,
    }
    save_checkpoint(
        folder,
        config,
        s2s.model,
        {"vocab.src.json": s2s.src_vocab, "vocab.tgt.json": s2s.tgt_vocab},
    )
    torch.manual_seed(0)
    src, ref = tmp_path / "t.en", tmp_path / "t.fr"
    src.write_text("\n".join(e.src for e in TEST_EX) + "\n")
    ref.write_text("\n".join(e.tgt for e in TEST_EX) + "\n")
    argv = ["ablate", str(folder), "--src", str(src), "--ref", str(ref), "--steps", "4"]
    argv += ["--max-len", "6", "--device", "cpu", "--no-log", "--ablation", "mean", "--json"]
    names = [f"enc.l{layer}.{d}:{i}" for layer in (0, 1) for d in ("fw", "bw") for i in range(8)]
    ranking = tmp_path / "r.json"
    ranking.write_text(Ranking(method="f", order=list(range(32)), neuron_names=names).to_json())
    code = main([*argv, "--ranking", str(ranking)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("neurotui: error:") and "store" in err
    assert err.count("\n") == 1
    sites = [(s.name, s.size) for s in s2s.sites() if s.side == "encoder"]
    path = write_store(
        tmp_path / "s.h5",
        [store.tokens(i) for i in range(store.sentences)],
        [store.activations(i) for i in range(store.sentences)],
        sites,
    )
    code = main([*argv, "--ranking", str(ranking), "--store", str(path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    doc = json.loads(out.out)
    assert doc["ablation"] == "mean" and doc["top"][0]["n"] == 4
    zero = main([*argv[:-3], "--json", "--ranking", str(ranking), "--store", str(path)])
    assert zero == 0 and json.loads(capsys.readouterr().out)["ablation"] == "zero"
