"""The trainer on toy data: reproducible from a seed, best-on-dev checkpoint, card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurotui.cli import main
from neurotui.models.registry import load_backend

PAIRS = [
    ("the cat sleeps .", "le chat dort ."),
    ("the dog sleeps .", "le chien dort ."),
    ("a cat eats .", "un chat mange ."),
    ("a dog eats .", "un chien mange ."),
    ("the cat eats .", "le chat mange ."),
    ("a dog sleeps .", "un chien dort ."),
] * 4


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for split, pairs in (("train", PAIRS), ("dev", PAIRS[:4]), ("test", PAIRS[2:6])):
        out[f"{split}.en"] = tmp_path / f"{split}.en"
        out[f"{split}.fr"] = tmp_path / f"{split}.fr"
        out[f"{split}.en"].write_text("\n".join(s for s, _ in pairs) + "\n")
        out[f"{split}.fr"].write_text("\n".join(t for _, t in pairs) + "\n")
    return out


def train(files: dict[str, Path], out: Path, *extra: str, kind: str = "seq2seq") -> int:
    data = []
    for split in ("train", "dev", "test"):
        data += [f"--{split}", str(files[f"{split}.en"])]
        if kind == "seq2seq":
            data.append(str(files[f"{split}.fr"]))
    return main(
        [
            "train",
            kind,
            *data,
            "--out",
            str(out),
            "--emb",
            "8",
            "--hidden",
            "8",
            "--dec-hidden",
            "12",
            "--layers",
            "1",
            "--dec-layers",
            "1",
            "--batch-size",
            "4",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--quiet",
            "--eval-beam",
            "2",
            *extra,
        ]
    )


def test_training_is_reproducible_and_writes_a_card(files: dict[str, Path], tmp_path: Path) -> None:
    assert train(files, tmp_path / "a", "--epochs", "3", "--seed", "7") == 0
    assert train(files, tmp_path / "b", "--epochs", "3", "--seed", "7") == 0
    assert train(files, tmp_path / "c", "--epochs", "3", "--seed", "8") == 0
    weights = [(tmp_path / d / "model.safetensors").read_bytes() for d in "abc"]
    assert weights[0] == weights[1]  # same seed: same bytes
    assert weights[0] != weights[2]
    card = json.loads((tmp_path / "a" / "card.json").read_text())
    assert card["kind"] == "seq2seq" and card["backend"] == "lstm"
    assert set(card["scores"]) == {"test", "dev", "test_beam2"}
    assert {"bleu", "chrf", "exact_match"} <= set(card["scores"]["test"])
    assert card["training"]["seed"] == 7 and 1 <= card["training"]["best_epoch"] <= 3
    assert card["rebuild"].startswith("neurotui train seq2seq --out ")
    assert "--seed 7" in card["rebuild"]
    assert (tmp_path / "a" / card["heldout"]["src"]).resolve() == files["test.en"].resolve()
    assert "## Rebuild" in (tmp_path / "a" / "card.md").read_text()
    # the card's test score is what the saved checkpoint gets
    backend = load_backend(tmp_path / "a", "cpu")
    hyps = [t.text for t in backend.translate([s for s, _ in PAIRS[2:6]])]
    exact = sum(h == t for h, (_, t) in zip(hyps, PAIRS[2:6], strict=True)) / 4
    assert card["scores"]["test"]["exact_match"] == exact
    # the best-on-dev epoch is the one on disk: dev loss of the history's minimum
    history = card["training"]["history"]
    best = min(history, key=lambda h: h["dev_loss"])
    assert best["epoch"] == card["training"]["best_epoch"]


def test_lm_training_and_heldout_copy(files: dict[str, Path], tmp_path: Path) -> None:
    assert train(files, tmp_path / "lm", "--epochs", "2", "--copy-heldout", kind="lm") == 0
    card = json.loads((tmp_path / "lm" / "card.json").read_text())
    assert card["kind"] == "lm" and card["heldout"] == {"text": "heldout.en"}
    assert card["scores"]["test"]["perplexity"] > 1.0
    lm = load_backend(tmp_path / "lm", "cpu")
    text = (tmp_path / "lm" / "heldout.en").read_text().splitlines()
    assert lm.perplexity(text) == pytest.approx(card["scores"]["test"]["perplexity"], rel=1e-4)


def test_bad_training_input(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files["train.fr"].write_text("only one line\n")
    assert train(files, tmp_path / "x", "--epochs", "1") == 2
    assert "train.fr has 1" in capsys.readouterr().err
