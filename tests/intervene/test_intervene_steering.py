"""Steering vectors in the control experiments: values, hooks, the request, replay, CLI errors."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models  # beside this file: pytest puts tests/ on sys.path

from neurotui.cli import main
from neurotui.data.synthetic import generate
from neurotui.errors import NeurotuiError
from neurotui.intervene import log
from neurotui.intervene.apply import DecodeSettings, intervening
from neurotui.intervene.bind import bind
from neurotui.intervene.control import (
    ControlRequest,
    Setting,
    clamp_interventions,
    clamp_profile,
    control_cases,
    run_control,
)
from neurotui.intervene.replay import control_record, replay
from neurotui.intervene.workflows import steer_columns, steer_default
from neurotui.store.memory import MemoryStore

EXAMPLES = generate(60, seed=11)
STORE_EX, DEV_EX, TEST_EX = EXAMPLES[:30], EXAMPLES[30:45], EXAMPLES[45:]
FAST = DecodeSettings(max_len=8)


@pytest.fixture(scope="module")
def s2s():
    return tiny_models.tiny_seq2seq(EXAMPLES, seed=1, dec_layers=1)


@pytest.fixture(scope="module")
def store(s2s) -> MemoryStore:
    sites = [(s.name, s.size) for s in s2s.sites() if s.side == "encoder"]
    acts = s2s.encode([e.src for e in STORE_EX], [n for n, _ in sites])
    matrix = [np.concatenate([a[n] for n, _ in sites], axis=1) for a in acts]
    labels = {t: [e.labels[t] for e in STORE_EX] for t in ("tense", "number", "gender")}
    return MemoryStore([e.src.split() for e in STORE_EX], matrix, sites, labels)


def test_steering_sites_and_columns(s2s, store) -> None:
    assert steer_default(s2s) == ["enc.l0.fw", "enc.l0.bw", "enc.l1.fw", "enc.l1.bw"]
    ids = steer_columns(s2s, store, ["enc.l1.fw", "enc.l1.bw"])
    assert len(ids) == 16 and store.neuron_name(ids[0]) == "enc.l1.fw:0"
    assert len(steer_columns(s2s, store, None)) == 32
    with pytest.raises(NeurotuiError, match="unknown site 'enc.l7.fw'"):
        steer_columns(s2s, store, ["enc.l7.fw"])
    with pytest.raises(NeurotuiError, match="decoder site"):
        steer_columns(s2s, store, ["dec.l0"])


def test_steering_adds_the_class_mean_difference_at_the_positions(s2s, store) -> None:
    ids = steer_columns(s2s, store, ["enc.l1.fw"])
    profile = clamp_profile(store, ids, "tense", "present", store_examples=STORE_EX, prop="tense")
    direction = profile.target_mean - profile.other_mean
    np.testing.assert_allclose(profile.values(8, "steer", 2.5), 2.5 * direction)
    cases = control_cases(TEST_EX, "tense", "present")[:2]
    ivs = clamp_interventions(profile, Setting(8, "steer", 2.0), cases)
    assert ivs[0].op == "add" and ivs[0].name.startswith("steer")
    sent = cases[0].source
    bound = bind(ivs, s2s, sentences=[sent])
    plain = s2s.encode([sent], ["enc.l1.fw"])[0]["enc.l1.fw"]
    with intervening(s2s, bound):
        steered = s2s.encode([sent], ["enc.l1.fw"])[0]["enc.l1.fw"]
    delta = steered - plain
    at = cases[0].positions
    np.testing.assert_allclose(delta[at], np.tile(2.0 * direction, (len(at), 1)), atol=1e-5)
    others = [t for t in range(len(sent.split())) if t not in at]
    np.testing.assert_allclose(delta[others], 0.0, atol=1e-6)
    assert s2s.active_hook_count() == 0


def test_steering_control_runs_and_replays(s2s, store, tmp_path) -> None:
    ids = steer_columns(s2s, store, None)
    profile = clamp_profile(store, ids, "tense", "past", store_examples=STORE_EX, prop="tense")
    request = ControlRequest(
        prop="tense",
        target="past",
        profile=profile,
        search_cases=control_cases(DEV_EX, "tense", "past")[:5],
        test_cases=control_cases(TEST_EX, "tense", "past")[:5],
        ns=[len(ids)],
        strengths=[4.0, 8.0],
        mode="steer",
        scopes=["all"],
        max_bleu_drop=5.0,
    )
    result = run_control(s2s, request, settings=FAST, examples=1)
    data = result.to_dict()
    assert data["mode"] == "steer" and [p["strength"] for p in data["curve"]] == [4.0, 8.0]
    # --bleu-drop: the floor is the unsteered dev BLEU minus 5 points
    assert result.min_bleu == pytest.approx(result.search_baseline.bleu_untouched - 5.0)
    assert ControlRequest.from_dict(request.to_dict()).max_bleu_drop == 5.0
    # the chosen steering changes the test outputs (a random model: flips and BLEU are ~0)
    assert result.test.outputs != result.test_baseline.outputs
    path = tmp_path / "log.jsonl"
    log.append(control_record(s2s, request, FAST, result, examples=1), path)
    assert replay(log.read(path)[0], s2s).matches


def test_control_cli_rejects_bad_steering_flags(capsys) -> None:
    for argv, message in (
        (["--mode", "steer", "--compare"], "--compare runs the clamp"),
        (["--strengths", "1,nan"], "nan is not a finite number"),
        (["--bleu-drop", "5", "--min-bleu", "20"], "give one of them"),
    ):
        code = main(["control", "nonexistent-model", "--task", "tense", *argv])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("neurotui: error:") and message in err, err
        assert err.count("\n") == 1
