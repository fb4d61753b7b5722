"""Ablation curves, control experiments, the JSONL log and replay, on tiny random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_models  # beside this file: pytest puts tests/ on sys.path

from neurotui.data.synthetic import detect, generate
from neurotui.errors import Cancelled, NeurotuiError
from neurotui.intervene import log
from neurotui.intervene.ablation import plan_ablation, run_ablation
from neurotui.intervene.apply import DecodeSettings
from neurotui.intervene.bind import bind
from neurotui.intervene.compare import compare
from neurotui.intervene.control import (
    ControlRequest,
    Setting,
    clamp_interventions,
    clamp_profile,
    control_cases,
    ranked_neurons,
    run_control,
)
from neurotui.intervene.replay import ablation_record, control_record, replay, translate_record
from neurotui.intervene.spec import Intervention, Positions
from neurotui.models.seq2seq import LSTMSeq2SeqBackend
from neurotui.store.memory import MemoryStore
from neurotui.store.ranking import Ranking

EXAMPLES = generate(60, seed=11)
STORE_EX, DEV_EX, TEST_EX = EXAMPLES[:30], EXAMPLES[30:45], EXAMPLES[45:]
FAST = DecodeSettings(max_len=8)  # random models never stop on their own


@pytest.fixture(scope="module")
def s2s() -> LSTMSeq2SeqBackend:
    return tiny_models.tiny_seq2seq(EXAMPLES, seed=1, dec_layers=1)


@pytest.fixture(scope="module")
def store(s2s) -> MemoryStore:
    sites = [(s.name, s.size) for s in s2s.sites() if s.side == "encoder"]
    acts = s2s.encode([e.src for e in STORE_EX], [n for n, _ in sites])
    matrix = [np.concatenate([a[n] for n, _ in sites], axis=1) for a in acts]
    labels = {t: [e.labels[t] for e in STORE_EX] for t in ("tense", "number", "gender")}
    return MemoryStore([e.src.split() for e in STORE_EX], matrix, sites, labels)


def ranking_for(store: MemoryStore) -> Ranking:
    order = list(np.random.default_rng(0).permutation(store.neuron_count))
    return Ranking(
        method="test",
        order=[int(i) for i in order],
        per_class={"present": [int(i) for i in order[::-1]]},
    )


def test_ablation_curve_top_bottom_random(s2s, store) -> None:
    ranking = ranking_for(store)
    plan = plan_ablation(ranking, [2, 8, 20], store=store, seed=3)
    assert plan.orders["bottom"][0] == store.neuron_name(ranking.order[-1])
    assert sorted(plan.orders["random"]) == sorted(plan.orders["top"])
    sources = [e.src for e in TEST_EX]
    refs = [e.tgt for e in TEST_EX]
    ticks = []
    curve = run_ablation(
        s2s, plan, sources, refs, settings=FAST, progress=lambda m, d, t: ticks.append((d, t))
    )
    assert ticks[0] == (0, 10) and ticks[-1] == (10, 10)
    data = curve.to_dict()
    assert set(data) >= {"baseline", "top", "bottom", "random", "steps"}
    assert [row["n"] for row in data["top"]] == [2, 8, 20]
    for d in ("top", "bottom", "random"):
        for row in data[d]:
            assert 0.0 <= row["bleu"] <= 100.0 and 0.0 <= row["chrf"] <= 100.0
    # 20 neurons zeroed out of 32 encoder neurons: the outputs must move
    top20 = next(p for p in curve.points if p.direction == "top" and p.n == 20)
    assert top20.chrf != curve.baseline.chrf
    assert "top bleu" in curve.table()
    json.dumps(data)
    with pytest.raises(NeurotuiError, match="ranking orders"):
        plan_ablation(ranking, [10_000], store=store)
    with pytest.raises(NeurotuiError, match="references"):
        run_ablation(s2s, plan, sources, refs[:-1])
    with pytest.raises(Cancelled):
        run_ablation(s2s, plan, sources, refs, should_stop=lambda: True)
    assert s2s.active_hook_count() == 0


def test_ablation_of_a_language_model_uses_perplexity() -> None:
    lm = tiny_models.tiny_lm(EXAMPLES, emb=8, hidden=8, layers=1)
    ranking = Ranking(method="test", order=list(range(8)))
    plan = plan_ablation(ranking, [4, 8], backend=lm, directions=["top", "bottom"])
    curve = run_ablation(lm, plan, [e.src for e in TEST_EX])
    assert curve.metric == "perplexity"
    data = curve.to_dict()
    assert "random" not in data and all("perplexity" in row for row in data["top"])
    # all 8 neurons zeroed from either end is the same intervention
    assert data["top"][-1]["perplexity"] == pytest.approx(data["bottom"][-1]["perplexity"])


def test_control_cases_and_clamp_values(s2s, store) -> None:
    cases = control_cases(TEST_EX, "tense", "present")
    assert cases and all(c.original_value != "present" for c in cases)
    assert all(detect(c.expected)["tense"] == "present" for c in cases)
    ranking = ranking_for(store)
    ids = ranked_neurons(
        ranking, "present", store, [s.name for s in s2s.sites() if s.side == "encoder"]
    )
    assert ids[0] == ranking.per_class["present"][0]
    profile = clamp_profile(
        store, ids[:10], "tense", "present", store_examples=STORE_EX, prop="tense"
    )
    assert profile.source == "property positions"
    # target mean at the property positions, computed by hand for one neuron
    col = ids[0]
    vals = [
        store.activations(i)[p, col]
        for i, e in enumerate(STORE_EX)
        if e.props["tense"] == "present"
        for p in __import__("neurotui.data.synthetic", fromlist=["x"]).property_positions(
            e, "tense"
        )
    ]
    assert profile.target_mean[0] == pytest.approx(float(np.mean(vals)), rel=1e-5)
    np.testing.assert_allclose(profile.values(10, "mean", 1.0), profile.target_mean)
    np.testing.assert_allclose(
        profile.values(10, "mean", 3.0),
        profile.target_mean + 2 * (profile.target_mean - profile.other_mean),
    )
    # the clamp touches exactly the property positions of each case
    ivs = clamp_interventions(profile, Setting(4, "mean", 2.0), cases[:3])
    bound = bind(ivs, s2s, sentences=[c.source for c in cases[:3]])
    assert {b.site for b in bound} <= {"enc.l0.fw", "enc.l0.bw", "enc.l1.fw", "enc.l1.bw"}
    from neurotui.intervene.apply import intervening

    sent = cases[0].source
    with intervening(s2s, bound):
        acts = s2s.encode([sent])[0]
    first = bound[0]
    changed = acts[first.site][:, first.indices[0]]
    assert np.allclose(changed[cases[0].positions], first.values[0])
    others = [t for t in range(len(sent.split())) if t not in cases[0].positions]
    assert not np.allclose(changed[others], first.values[0])
    wide = clamp_interventions(profile, Setting(4, "mean", 2.0, "all"), cases[:1])
    assert wide[0].positions.select(sent.split()) == set(range(len(sent.split())))
    assert clamp_interventions(profile, Setting(0), cases) == []


def test_choose_prefers_flips_that_keep_the_sentence() -> None:
    from neurotui.intervene.control import ControlPoint, choose

    a = ControlPoint(
        Setting(10, strength=8.0), flip_rate=0.9, bleu_untouched=5.0, flipped=9, total=10
    )
    b = ControlPoint(
        Setting(10, strength=2.0), flip_rate=0.6, bleu_untouched=40.0, flipped=6, total=10
    )
    c = ControlPoint(
        Setting(5, strength=2.0), flip_rate=0.6, bleu_untouched=40.0, flipped=6, total=10
    )
    assert choose([a, b, c], min_bleu=30.0) is c
    assert choose([a, b], min_bleu=0.0) is a
    assert choose([a, b], min_bleu=99.0) is b  # nothing qualifies: the least damaging


def test_control_search_and_log_replay(s2s, store, tmp_path) -> None:
    ranking = ranking_for(store)
    enc = [s.name for s in s2s.sites() if s.side == "encoder"]
    ids = ranked_neurons(ranking, "present", store, enc)[:12]
    profile = clamp_profile(store, ids, "tense", "present", store_examples=STORE_EX, prop="tense")
    request = ControlRequest(
        prop="tense",
        target="present",
        profile=profile,
        search_cases=control_cases(DEV_EX, "tense", "present")[:6],
        test_cases=control_cases(TEST_EX, "tense", "present")[:6],
        ns=[4, 12],
        strengths=[4.0],
        scopes=["property", "all"],
    )
    result = run_control(s2s, request, settings=FAST, examples=2)
    data = result.to_dict()
    assert [(p["n"], p["scope"]) for p in data["curve"]] == [
        (4, "property"),
        (12, "property"),
        (4, "all"),
        (12, "all"),
    ]
    assert 0.0 <= data["flip_rate"] <= 1.0 and data["bleu_untouched"] >= 0.0
    assert data["exact_rate"] <= data["flip_rate"]  # the expected translation reads as target
    assert data["n"] in (4, 12) and data["baseline"]["n"] == 0
    assert data["test"]["total"] == len(request.test_cases)
    assert "flip rate" in result.table()
    # the log holds it; replay re-runs it and agrees
    path = tmp_path / "log.jsonl"
    log.append(control_record(s2s, request, FAST, result, examples=2), path)
    record = log.read(path)[0]
    report = replay(record, s2s)
    assert report.matches, report.differences
    # a tampered record is caught
    record["result"]["flip_rate"] = record["result"]["flip_rate"] + 0.5
    assert not replay(record, s2s).matches


def test_translate_and_ablation_records_replay(s2s, store, tmp_path) -> None:
    path = tmp_path / "nested" / "runs.jsonl"
    sources = [e.src for e in TEST_EX[:5]]
    spec = [
        Intervention(
            neurons=(0, 1, 2),
            site="enc.l1.fw",
            op="set",
            value=1.5,
            unit="sigma",
            positions=Positions.regex("^[a-m]"),
        )
    ]
    bound = bind(spec, s2s, store, sentences=sources)
    settings = DecodeSettings(beam=2, max_len=8)
    comparisons = compare(s2s, sources, bound, settings)
    log.append(translate_record(s2s, spec, bound, comparisons, settings), path)
    plan = plan_ablation(ranking_for(store), [3, 9], store=store, directions=["top", "random"])
    refs = [e.tgt for e in TEST_EX[:5]]
    curve = run_ablation(s2s, plan, sources, refs, settings=FAST)
    log.append(ablation_record(s2s, plan, sources, refs, FAST, curve), path)
    records = log.read(path)
    assert [r["kind"] for r in records] == ["translate", "ablate"]
    assert records[0]["interventions"][0]["unit"] == "raw"  # resolved: no store needed
    for record in records:
        report = replay(record, s2s)
        assert report.matches, report.differences
    record = dict(records[0], modified=["x"] * 5)
    assert not replay(record, s2s).matches


def test_log_is_append_only_and_tolerates_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "log.jsonl"
    for k in range(3):
        log.append({"kind": "translate", "k": k, "sources": []}, path)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"kind": "transl')  # a crash mid-append
    warnings: list[str] = []
    records = log.read(path, warnings)
    assert [r["k"] for r in records] == [0, 1, 2]
    assert records[1]["_line"] == 2 and records[0]["schema"] == log.SCHEMA
    assert (
        len(warnings) == 1
        and "log.jsonl:4: damaged line skipped: last line cut short" in (warnings[0])
    )
    # the next append ends the torn line first instead of gluing onto it
    log.append({"kind": "translate", "k": 3, "sources": []}, path)
    assert [r["k"] for r in log.read(path)] == [0, 1, 2, 3]
    path.write_text('{"kind": "translate"}\nnot json\n{"kind": "weird"}\n{"kind": "translate"}\n')
    warnings = []
    assert [r["_line"] for r in log.read(path, warnings)] == [1, 4]
    assert [w.split(": damaged")[0] for w in warnings] == [f"{path}:2", f"{path}:3"]
    assert "invalid JSON" in warnings[0] and "not an intervention log record" in warnings[1]
    with pytest.raises(ValueError):
        log.append({"kind": "weird"}, path)
