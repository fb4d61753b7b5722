"""Masking, retraining, control-task selectivity and the regularisation search."""

from __future__ import annotations

import numpy as np
import pytest

from neurotui.analysis.control_task import control_labels, selectivity
from neurotui.analysis.data import load_probe_data
from neurotui.analysis.evaluation import format_table, masking_table, retraining_table, selections
from neurotui.analysis.linguistic import run_probe
from neurotui.analysis.methods import evaluate_probe_ranking
from neurotui.analysis.probe import ProbeConfig
from neurotui.analysis.regsearch import format_grid, regularisation_search
from neurotui.analysis.synthetic import planted_tagging
from neurotui.errors import DataError

FAST = ProbeConfig(threads=1, device="cpu")


@pytest.fixture(scope="module")
def setup():
    # 6 classes × 2 planted of 60 neurons: the top 20 % (12) are exactly the planted ones
    p = planted_tagging(tokens=4000, neurons=60, classes=6, per_class=2, shift=3.0, seed=5)
    data = load_probe_data(p.store(), "tag")
    res = run_probe(data, FAST)
    return p, data, res


def test_masking_top_far_above_bottom_and_random(setup):
    _, data, res = setup
    order = res.ranking().order
    t = masking_table(res.probe, data, order, (10, 20))
    assert t["percents"] == [10, 20]
    assert t["all"] > 0.95
    assert t["top"][1] > 0.9  # 20 % = all planted neurons
    assert t["top"][1] - t["bottom"][1] > 0.5
    assert t["top"][1] > t["random"][1]
    assert "ALL" in format_table("Masking", t)


def test_retraining_top_beats_bottom(setup):
    _, data, res = setup
    order = res.ranking().order
    t = retraining_table(data, order, (20,), FAST, all_accuracy=res.accuracy["test"])
    assert t["top"][0] > 0.9
    assert t["top"][0] - t["bottom"][0] > 0.4


def test_evaluate_probe_ranking_has_both_tables(setup):
    _, _, res = setup
    ev = evaluate_probe_ranking(res, (10,))
    assert set(ev) == {"masking", "retraining"}
    assert ev["masking"]["percents"] == [10]


def test_selections_are_disjoint_sizes_and_seeded():
    cols = np.arange(100)[::-1]
    s = selections(cols, 15, seed=1)
    assert len(s["top"]) == len(s["bottom"]) == len(s["random"]) == 15
    assert list(s["top"]) == list(range(99, 84, -1))
    assert np.array_equal(s["random"], selections(cols, 15, seed=1)["random"])


def test_ranking_from_another_neuron_set_is_rejected(setup):
    _, data, res = setup
    with pytest.raises(DataError, match="not in these activations"):
        masking_table(res.probe, data, [999, *range(59)])


def test_control_task_is_per_word_type_and_selectivity_is_high(setup):
    _, data, res = setup
    ctl = control_labels(data, seed=0)
    for w in np.unique(data.words)[:30]:
        assert np.unique(ctl[data.words == w]).size == 1
    out = selectivity(data, FAST, order=res.ranking().order, percents=(20,))
    assert out["all"]["task"] > 0.95
    assert out["all"]["control"] < 0.5
    assert out["all"]["selectivity"] == pytest.approx(out["all"]["task"] - out["all"]["control"])
    assert out["top"]["20"]["selectivity"] > 0.5


def test_regularisation_search_reports_accuracy_sparsity_and_chooses_by_rule(setup):
    _, data, _ = setup
    res = regularisation_search(data, FAST, l1_values=(0.0, 1e-5, 1.0), l2_values=(0.0, 1e-5))
    assert len(res.points) == 6
    by = {(p.l1, p.l2): p for p in res.points}
    assert by[(1.0, 0.0)].zero_fraction > by[(0.0, 0.0)].zero_fraction
    assert by[(1.0, 0.0)].dev_accuracy < res.baseline.dev_accuracy - 0.05  # λ1 = 1 kills it
    assert res.chosen.l1 == 1e-5 and res.chosen.l2 == 1e-5
    assert "*" in format_grid(res)
    assert res.to_dict()["chosen"] == {"l1": 1e-5, "l2": 1e-5}
