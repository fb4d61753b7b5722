"""Comparing rankings (top-k, Spearman/Kendall with bands) and shared neurons; export."""

from __future__ import annotations

import csv
import io
import json

import pytest

from neurotui.analysis.export import export, find_ranking, save_in_store, to_csv_text
from neurotui.analysis.overlap import (
    compare,
    rank_correlation,
    shared_between_classes,
    shared_between_tasks,
    tied_ranks,
    top_k_overlap,
)
from neurotui.errors import DataError
from neurotui.store.memory import MemoryStore
from neurotui.store.ranking import Partner, Ranking


def test_top_k_and_rank_correlation():
    a = Ranking("x", list(range(10)))
    b = Ranking("y", [1, 0, 2, 3, 9, 8, 7, 6, 5, 4])
    t = top_k_overlap(a, b, 3)
    assert t["shared"] == [0, 1, 2] and t["fraction"] == 1.0
    assert top_k_overlap(a, b, 5)["count"] == 4
    assert rank_correlation(a, a)["spearman"] == pytest.approx(1.0)
    rev = Ranking("r", list(reversed(range(10))))
    rc = rank_correlation(a, rev)
    assert rc["spearman"] == pytest.approx(-1.0) and rc["kendall"] == pytest.approx(-1.0)
    assert compare(a, b, ks=(3, 5))["top_k"][1]["count"] == 4
    with pytest.raises(DataError):
        top_k_overlap(a, b, 0)


def test_bands_are_ties():
    banded = Ranking("probe", [3, 1, 2, 0], bands=[0, 0, 1, 1])
    assert tied_ranks(banded) == {3: 0.5, 1: 0.5, 2: 2.5, 0: 2.5}
    # swapping inside a band changes nothing
    swapped = Ranking("probe", [1, 3, 0, 2], bands=[0, 0, 1, 1])
    assert rank_correlation(banded, swapped)["spearman"] == pytest.approx(1.0)


def test_shared_neurons_between_classes_and_tasks():
    tops = {"JJ": [1, 2, 3], "JJR": [3, 4], "JJS": [3, 5], "NN": [9]}
    out = shared_between_classes(tops)
    assert {"a": "JJ", "b": "JJR", "shared": [3]} in out["pairs"]
    assert out["unique"]["JJ"] == [1, 2] and out["unique"]["NN"] == [9]
    cross = shared_between_tasks({"VER:futu": [7]}, {"V--F3s": [7, 8], "V--F3p": [7], "N": [1]})
    assert [(p["a"], p["b"]) for p in cross["pairs"]] == [
        ("VER:futu", "V--F3p"),
        ("VER:futu", "V--F3s"),
    ]
    assert cross["shared_overall"] == [7]


def test_json_csv_export_and_saving_in_a_store(tmp_path):
    r = Ranking(
        "maxcorr",
        [2, 0, 1],
        scores=[0.9, 0.5, 0.1],
        partners={2: [Partner("m1", 4, -0.9)], 0: [Partner("m1", 1, 0.5)], 1: []},
        neuron_names=["h:2", "h:0", "h:1"],
    )
    j = export(r, tmp_path / "r.json")
    back = Ranking.from_json(j.read_text())
    assert back.order == [2, 0, 1] and back.partners[2][0].r == -0.9
    export(r, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert rows[0]["neuron"] == "2" and rows[0]["partner_m1"] == "4" and rows[0]["name"] == "h:2"
    assert rows[2]["partner_m1"] == ""
    assert to_csv_text(r).splitlines()[0].startswith("rank,neuron,name,score,band")
    with pytest.raises(DataError, match="unknown export format"):
        export(r, tmp_path / "r.txt")
    assert not list(tmp_path.glob("*.tmp-*"))
    store = MemoryStore([["a", "b", "c"]], [[[0.0] * 3] * 3], [("h", 3)])
    save_in_store(store, "mine", r)
    assert find_ranking(store, "mine").order == [2, 0, 1]
    assert find_ranking(store, str(tmp_path / "r.json")).method == "maxcorr"
    with pytest.raises(DataError, match="no ranking 'nope'"):
        find_ranking(store, "nope")
    json.loads(r.to_json())
