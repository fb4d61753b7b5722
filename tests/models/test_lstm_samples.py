"""The bundled LSTM samples: held-out quality, beam ≥ greedy, cards, CLI on a sample."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import pytest

from neurotui.models.registry import bundled_models, heldout_files, load_backend, read_card
from neurotui.paths import samples_dir

TRANSLATORS = ["synth-en-fr-1", "synth-en-fr-2", "synth-en-fr-3"]
SUBSET = 120  # first held-out sentences: fast, and enough to tell 95% from less


@cache
def backend(name: str):  # noqa: ANN201
    return load_backend(name, "cpu")


@cache
def heldout(name: str) -> tuple[list[str], list[str]]:
    model = backend(name)
    files = heldout_files(model.path, read_card(model.path))
    src = files["src"].read_text(encoding="utf-8").splitlines()
    ref = files["ref"].read_text(encoding="utf-8").splitlines()
    return src, ref


@pytest.mark.parametrize("name", TRANSLATORS)
def test_heldout_exact_match(name: str) -> None:
    src, ref = heldout(name)
    hyps = backend(name).translate(src[:SUBSET])
    exact = sum(h.text == r for h, r in zip(hyps, ref[:SUBSET], strict=True)) / SUBSET
    assert exact >= 0.95, f"{name}: {exact:.3f} exact match on {SUBSET} held-out sentences"


def test_beam_scores_at_least_greedy() -> None:
    model = backend("synth-en-fr-1")
    src, _ = heldout("synth-en-fr-1")
    greedy = model.translate(src[:40])
    beam = model.translate(src[:40], beam=5)
    for g, b in zip(greedy, beam, strict=True):
        assert b.logprob >= g.logprob - 1e-4, (g.source, g.text, b.text)


def test_identical_architectures_and_cards() -> None:
    configs = []
    for name in TRANSLATORS:
        card = read_card(samples_dir() / name)
        assert card is not None and card["kind"] == "seq2seq" and card["backend"] == "lstm"
        assert card["scores"]["test"]["exact_match"] >= 0.95
        assert card["size"]["bytes"] <= 4_300_000
        assert "neurotui train seq2seq" in card["rebuild"]
        config = json.loads((samples_dir() / name / "config.json").read_text())
        configs.append({k: v for k, v in config.items() if not k.endswith("vocab")})
    assert configs[0] == configs[1] == configs[2]
    seeds = {read_card(samples_dir() / n)["training"]["seed"] for n in TRANSLATORS}
    assert len(seeds) == 3


def test_language_model_sample() -> None:
    lm = backend("synth-en-lm")
    card = read_card(samples_dir() / "synth-en-lm")
    files = heldout_files(lm.path, card)
    text = files["text"].read_text(encoding="utf-8").splitlines()
    ppl = lm.perplexity(text[:SUBSET])
    assert 1.0 < ppl < 3 * card["scores"]["test"]["perplexity"]
    assert ppl < 20  # the synthetic grammar is very predictable (vocabulary ~280 words)
    assert [s.name for s in lm.sites()] == ["lm.l0", "lm.l1"]


def test_models_and_translate_commands_on_the_samples() -> None:
    names = {m["name"] for m in bundled_models()}
    assert {*TRANSLATORS, "synth-en-lm"} <= names
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "neurotui",
            "translate",
            "synth-en-fr-1",
            "-n",
            "3",
            "--json",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    rows = doc["translations"]
    assert len(rows) == 3 and all(r["exact"] for r in rows), rows
