"""The analysis commands end to end on small HDF5 stores: rank, evaluate, top-words, report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurotui.analysis.synthetic import planted_tagging, shared_models
from neurotui.cli import main
from neurotui.store.writer import write_store


@pytest.fixture(scope="module")
def planted_store(tmp_path_factory):
    p = planted_tagging(tokens=2400, neurons=24, classes=3, per_class=2, shift=3.0, loud=2, seed=11)
    tokens, acts, labels = p.sentences()
    path = tmp_path_factory.mktemp("s") / "planted.h5"
    write_store(path, tokens, acts, [("enc", 24)], labels={"pos": labels})
    return p, path


@pytest.fixture(scope="module")
def model_stores(tmp_path_factory):
    acts, ids, sents = shared_models(tokens=2000, neurons=16, models=3, shared=3, seed=4)
    folder = tmp_path_factory.mktemp("m")
    rng = np.random.default_rng(0)
    tags = [["A" if rng.random() < 0.5 else "B" for _ in s] for s in sents]
    paths = []
    for k, X in enumerate(acts):
        b = np.concatenate([[0], np.cumsum([len(s) for s in sents])])
        path = folder / f"m{k}.h5"
        write_store(
            path,
            sents,
            [X[x:y] for x, y in zip(b[:-1], b[1:], strict=True)],
            [("enc", 16)],
            labels={"pos": tags},
            metadata={"model": f"m{k}"},
        )
        paths.append(path)
    return ids, paths


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_rank_probe_json_name_and_csv(planted_store, capsys, tmp_path):
    p, path = planted_store
    out = tmp_path / "r.csv"
    doc = run_json(
        capsys,
        [
            "rank",
            str(path),
            "--method",
            "probe",
            "--task",
            "pos",
            "--name",
            "probe-pos",
            "-o",
            str(out),
            "--json",
            "--device",
            "cpu",
        ],
    )
    assert set(doc["order"][:6]) == p.planted_all
    assert doc["bands"][0] == 0 and doc["evaluation"]["accuracy"]["test"] > 0.9
    assert out.read_text().splitlines()[1].split(",")[1] == str(doc["order"][0])
    import neurotui.store as ns

    with ns.open(path) as store:
        assert store.rankings["probe-pos"].order == doc["order"]


def test_rank_text_output_and_baselines(planted_store, capsys):
    p, path = planted_store
    assert main(["rank", str(path), "--method", "variance", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "variance ranking" in text and "enc:" in text
    doc = run_json(capsys, ["rank", str(path), "--method", "variance", "--json"])
    assert set(doc["order"][:2]) == set(p.loud)
    doc = run_json(capsys, ["rank", str(path), "--method", "probeless", "--task", "pos", "--json"])
    assert set(doc["order"][:6]) == p.planted_all
    assert doc["params"]["znorm"] is True  # standardised by default, and recorded
    argv = ["rank", str(path), "--method", "probeless", "--task", "pos", "--no-znorm", "--json"]
    raw = run_json(capsys, argv)
    assert raw["params"]["znorm"] is False and raw["scores"] != doc["scores"]
    doc = run_json(capsys, ["rank", str(path), "--method", "random", "--seed", "3", "--json"])
    assert sorted(doc["order"]) == list(range(24))


def test_rank_errors_are_one_line(planted_store, model_stores, capsys, tmp_path):
    _, path = planted_store
    assert main(["rank", str(path), "--method", "probe"]) == 2
    assert "needs labels" in capsys.readouterr().err
    assert main(["rank", str(path), "--method", "maxcorr"]) == 2
    assert "--others" in capsys.readouterr().err
    _, paths = model_stores
    assert main(["rank", str(path), "--method", "maxcorr", "--others", str(paths[0])]) == 2
    assert "different token counts" in capsys.readouterr().err
    assert main(["rank", str(tmp_path / "nope.h5"), "--method", "variance"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_rank_crossmodel_json_has_partners(model_stores, capsys):
    ids, paths = model_stores
    doc = run_json(
        capsys,
        [
            "rank",
            str(paths[0]),
            "--method",
            "mincorr",
            "--others",
            *map(str, paths[1:]),
            "--json",
            "--device",
            "cpu",
        ],
    )
    assert set(doc["order"][:3]) == set(ids[0])
    partners = doc["partners"][str(ids[0][0])]
    assert [q["neuron"] for q in partners] == [ids[1][0], ids[2][0]]


def test_evaluate_and_top_words(planted_store, capsys):
    p, path = planted_store
    assert (
        main(
            [
                "rank",
                str(path),
                "--method",
                "probe",
                "--task",
                "pos",
                "--name",
                "pp",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    capsys.readouterr()
    doc = run_json(
        capsys,
        [
            "evaluate",
            str(path),
            "--ranking",
            "pp",
            "--task",
            "pos",
            "--percents",
            "25",
            "--control",
            "--json",
            "--device",
            "cpu",
        ],
    )
    assert doc["masking"]["top"][0] - doc["masking"]["bottom"][0] > 0.3
    assert doc["retraining"]["top"][0] > doc["retraining"]["bottom"][0]
    assert doc["control"]["all"]["selectivity"] > 0.2
    assert main(["evaluate", str(path), "--ranking", "pp", "--task", "pos", "--device", "cpu"]) == 0
    assert "Masking-out" in capsys.readouterr().out
    assert main(["evaluate", str(path), "--ranking", "zz", "--task", "pos"]) == 2
    assert "no ranking 'zz'" in capsys.readouterr().err
    neuron = sorted(p.planted["C0"])[0]
    doc = run_json(capsys, ["top-words", str(path), f"enc:{neuron}", "-k", "3", "--json"])
    assert doc["neuron"] == neuron and len(doc["top_contexts"]) == 3
    assert all(w["word"].startswith("w") for w in doc["top_words"])
    assert main(["top-words", str(path), "enc:999"]) == 2


def test_report_on_given_stores(model_stores, capsys):
    _, paths = model_stores
    doc = run_json(
        capsys,
        [
            "report",
            "--stores",
            *map(str, paths),
            "--tasks",
            "pos",
            "tense",
            "--json",
            "--device",
            "cpu",
        ],
    )
    assert doc["missing_tasks"] == ["tense"]
    assert "pos" in doc["tasks"] and "crossmodel" in doc and "shared" in doc
    # the shared position signal is the top cross-model neuron and the position neuron
    assert abs(doc["crossmodel"]["maxcorr"]["top"][0]["position_r"]) > 0.9
    assert abs(doc["position"]["r_with_index"]) > 0.9
    assert doc["position"]["neuron"] == doc["crossmodel"]["maxcorr"]["top"][0]["neuron"]
    assert doc["crossmodel"]["maxcorr"]["position_neuron_rank"] == 1
    assert main(["report", "--stores", *map(str, paths), "--tasks", "pos", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "Probe accuracy vs word-majority" in text and "Cross-model" in text


def test_rank_compare_with_saved_ranking(planted_store, capsys):
    p, path = planted_store
    assert main(["rank", str(path), "--method", "probeless", "--task", "pos", "--name", "pl"]) == 0
    capsys.readouterr()
    doc = run_json(
        capsys,
        [
            "rank",
            str(path),
            "--method",
            "probe",
            "--task",
            "pos",
            "--compare",
            "pl",
            "--json",
            "--device",
            "cpu",
        ],
    )
    c = doc["comparisons"]["pl"]
    assert c["b"] == "probeless" and c["top_k"][0]["k"] == 10
    assert c["spearman"] > 0.2  # both put the planted neurons first


def test_rank_with_search_and_evaluate_prints_the_grid_and_tables(planted_store, capsys):
    _, path = planted_store
    argv = [
        "rank",
        str(path),
        "--method",
        "probe",
        "--task",
        "pos",
        "--search",
        "--evaluate",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Regularisation search" in out and "*" in out
    assert "Masking" in out and "Retraining" in out
