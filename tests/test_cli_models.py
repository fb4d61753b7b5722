"""``neurotui translate / score / models`` on tiny checkpoints (``--json`` contract)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from neurotui.cli import main
from neurotui.models.checkpoint import save_checkpoint, write_json
from neurotui.models.lm import LanguageModel, LMConfig
from neurotui.models.seq2seq import Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab

SRC = ["the cat sleeps .", "a small dog eats the bread .", "she runs"]
TGT = ["le chat dort .", "un petit chien mange le pain .", "elle court"]


@pytest.fixture()
def seq2seq_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    sv, tv = Vocab.build(SRC), Vocab.build(TGT)
    cfg = Seq2SeqConfig(len(sv), len(tv), emb=8, enc_hidden=6, dec_hidden=10)
    d = tmp_path / "tiny-fr"
    save_checkpoint(
        d, cfg.to_json(), Seq2SeqModel(cfg), {"vocab.src.json": sv, "vocab.tgt.json": tv}
    )
    (d / "held.en").write_text("\n".join(SRC) + "\n")
    (d / "held.fr").write_text("\n".join(TGT) + "\n")
    write_json(
        d / "card.json",
        {
            "name": "tiny-fr",
            "kind": "seq2seq",
            "backend": "lstm",
            "heldout": {"src": "held.en", "ref": "held.fr"},
            "scores": {"test": {"exact_match": 0.0, "bleu": 1.0, "chrf": 2.0}},
        },
    )
    return d


@pytest.fixture()
def lm_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    v = Vocab.build(SRC)
    cfg = LMConfig(len(v), emb=8, hidden=10, layers=1)
    d = tmp_path / "tiny-lm"
    save_checkpoint(d, cfg.to_json(), LanguageModel(cfg), {"vocab.json": v})
    (d / "held.en").write_text("\n".join(SRC) + "\n")
    write_json(
        d / "card.json",
        {
            "name": "tiny-lm",
            "kind": "lm",
            "backend": "lstm",
            "heldout": {"text": "held.en"},
            "scores": {"test": {"perplexity": 12.5}},
        },
    )
    return d


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one JSON document


def test_translate_sentences_json(capsys: pytest.CaptureFixture[str], seq2seq_dir: Path) -> None:
    doc = run_json(
        capsys, "translate", str(seq2seq_dir), SRC[0], SRC[2], "--device", "cpu", "--max-len", "5"
    )
    assert doc["model"] == "tiny-fr" and doc["beam"] == 1 and doc["device"] == "cpu"
    rows = doc["translations"]
    assert [r["source"] for r in rows] == [SRC[0], SRC[2]]
    assert all(len(r["tokens"]) <= 5 and isinstance(r["logprob"], float) for r in rows)
    assert "reference" not in rows[0]


def test_translate_file_beam_and_heldout(
    capsys: pytest.CaptureFixture[str], seq2seq_dir: Path, tmp_path: Path
) -> None:
    f = tmp_path / "in.txt"
    f.write_text("\n".join(SRC) + "\n")
    doc = run_json(
        capsys, "translate", str(seq2seq_dir), "--file", str(f), "--beam", "3", "--max-len", "4"
    )
    assert doc["beam"] == 3 and len(doc["translations"]) == 3
    held = run_json(capsys, "translate", str(seq2seq_dir), "-n", "2")
    assert [r["reference"] for r in held["translations"]] == TGT[:2]
    assert all(isinstance(r["exact"], bool) for r in held["translations"])
    assert main(["translate", str(seq2seq_dir), "-n", "2"]) == 0
    text = capsys.readouterr().out
    assert "[1] the cat sleeps ." in text and "= le chat dort ." in text and "exact matches" in text


def test_score_json(capsys: pytest.CaptureFixture[str], seq2seq_dir: Path) -> None:
    doc = run_json(capsys, "score", str(seq2seq_dir))
    assert doc["sentences"] == 3 and 0.0 <= doc["exact_match"] <= 1.0
    assert {"bleu", "chrf", "exact_match", "beam"} <= set(doc)
    ref = seq2seq_dir / "held.fr"
    # scoring the references against themselves via a file of gold translations is perfect
    from neurotui import metrics

    assert metrics.translation_scores(TGT, TGT)["exact_match"] == 1.0
    assert metrics.translation_scores(TGT, TGT)["bleu"] == 100.0
    doc2 = run_json(
        capsys,
        "score",
        str(seq2seq_dir),
        "--src",
        str(seq2seq_dir / "held.en"),
        "--ref",
        str(ref),
        "--limit",
        "2",
    )
    assert doc2["sentences"] == 2


def test_score_language_model(capsys: pytest.CaptureFixture[str], lm_dir: Path) -> None:
    doc = run_json(capsys, "score", str(lm_dir))
    assert doc["kind"] == "lm" and doc["sentences"] == 3 and doc["perplexity"] > 1.0
    cont = run_json(capsys, "translate", str(lm_dir), "the cat", "--max-len", "3")
    assert cont["kind"] == "lm" and len(cont["translations"][0]["tokens"]) <= 3


def test_models_lists_cards(
    capsys: pytest.CaptureFixture[str],
    seq2seq_dir: Path,
    lm_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEUROTUI_SAMPLES", str(seq2seq_dir.parent))
    (seq2seq_dir.parent / "broken").mkdir()
    (seq2seq_dir.parent / "broken" / "card.json").write_text("{oops")
    doc = run_json(capsys, "models")
    by_name = {m["name"]: m for m in doc["models"]}
    assert by_name["tiny-fr"]["kind"] == "seq2seq" and by_name["tiny-fr"]["backend"] == "lstm"
    assert by_name["tiny-fr"]["path"] == str(seq2seq_dir)
    assert by_name["tiny-lm"]["scores"]["test"]["perplexity"] == 12.5
    assert "invalid JSON" in by_name["broken"]["error"]
    # bundled names resolve without a path
    doc = run_json(capsys, "translate", "tiny-fr", "she runs", "--max-len", "2")
    assert doc["model"] == "tiny-fr"
    assert main(["models"]) == 0
    assert "tiny-lm" in capsys.readouterr().out


def test_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seq2seq_dir: Path
) -> None:
    evil = tmp_path / "model.pt"
    evil.write_bytes(pickle.dumps({"w": [1.0]}))
    assert main(["translate", str(evil), "hello"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurotui: error:") and "pickle" in err and "\n" not in err
    assert (
        main(
            [
                "score",
                str(seq2seq_dir),
                "--src",
                str(tmp_path / "missing.en"),
                "--ref",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "missing.en" in capsys.readouterr().err
    assert main(["translate", str(seq2seq_dir), "x", "--beam", "0"]) == 2
