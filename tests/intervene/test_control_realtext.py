"""Control experiments on real text: the French rules, cases from POS tags, one tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurotui.cli import main
from neurotui.data.french import detect
from neurotui.errors import DataError, NeurotuiError
from neurotui.intervene.control import ClampProfile, ControlRequest, get_detector
from neurotui.intervene.realtext import (
    LabelledStore,
    derived_labels,
    english_property,
    read_tagged,
    realtext_cases,
)


@pytest.mark.parametrize(
    ("french", "tense"),
    [
        ("et il toucha le bord de son vêtement", "past"),  # passé simple after a pronoun
        ("aaron rapporta toutes les paroles", "past"),  # -a confirmed by the lexicon
        ("et ils allèrent à jérusalem", "past"),
        ("moïse fit tout ce que l' éternel avait ordonné", "past"),
        ("les fils de juda étaient nombreux", "past"),  # imparfait
        ("ils ont voulu anéantir ma vie", "past"),  # passé composé
        ("la femme est venue vers lui", "past"),  # être + motion verb
        ("le roi est dans son palais", "present"),
        ("il parle à moïse", "present"),
        ("car il est écrit", "present"),  # passive present
        ("vous mangerez du pain", "future"),
        ("car quiconque invoquera le nom du seigneur sera sauvé", "future"),
        ("et il viendra", "future"),
        ("il serait parti", None),  # conditional: undecided
        ("les fils de jedaeja", None),  # no verb
        ("car ils ont <unk> mon esprit", None),  # the model's unknown word: no guess
    ],
)
def test_french_tense(french: str, tense: str | None) -> None:
    assert detect(french)["tense"] == tense


@pytest.mark.parametrize(
    ("french", "number", "gender"),
    [
        ("la femme est venue", "sg", "fem"),
        ("le roi dit", "sg", "masc"),
        ("les fils de juda allèrent", "pl", None),
        ("elles mangeront du pain", "pl", "fem"),
        ("ils glorifièrent dieu", "pl", "masc"),
        ("abraham engendra isaac", "sg", None),  # a name: number from the verb
        ("et dirent à moïse", "pl", None),
        ("cette ville sera détruite", "sg", "fem"),
    ],
)
def test_french_number_and_gender(french: str, number: str, gender: str | None) -> None:
    found = detect(french)
    assert (found["number"], found["gender"]) == (number, gender)


def test_french_negation_and_detector_registry() -> None:
    assert detect("il ne mangera point")["negation"] == "negative"
    assert detect("il mangera")["negation"] == "affirmative"
    assert get_detector("french-rules")("il mangera")["tense"] == "future"
    with pytest.raises(NeurotuiError, match="not one of"):
        get_detector("tagger")


def test_english_properties_from_tags() -> None:
    toks = ["and", "the", "waters", "will", "be", "made", "alive"]
    tags = ["CC", "DT", "NNS", "MD", "VB", "VBN", "JJ"]
    assert english_property(toks, tags, "tense") == ("future", [3, 4, 5])
    assert english_property(toks, tags, "number") == ("pl", [1, 2])
    toks, tags = (
        ["they", "have", "cut", "off", "my", "life"],
        ["PRP", "VBP", "VBN", "RP", "PRP$", "NN"],
    )
    assert english_property(toks, tags, "tense") == ("past", [1, 2])  # present perfect
    assert english_property(toks, tags, "number") == ("pl", [0])
    toks, tags = ["he", "says"], ["PRP", "VBZ"]
    assert english_property(toks, tags, "tense") == ("present", [1])
    assert english_property(["you", "could", "go"], ["PRP", "MD", "VB"], "tense") is None
    with pytest.raises(NeurotuiError, match="gender: not supported on real text"):
        english_property(toks, tags, "gender")


def test_cases_and_tag_mismatch(tmp_path) -> None:
    src, pos = tmp_path / "x.en", tmp_path / "x.pos"
    src.write_text("he went home\nthey will come\nshe is here\n", encoding="utf-8")
    pos.write_text("PRP VBD NN\nPRP MD VB\nPRP VBZ RB\n", encoding="utf-8")
    tagged = read_tagged(src, pos)
    refs = ["il alla", "ils viendront", "elle est ici"]
    cases = realtext_cases(tagged, refs, "tense", "present")
    assert [(c.source, c.original_value, c.positions, c.expected) for c in cases] == [
        ("he went home", "past", [1], "il alla"),
        ("they will come", "future", [1, 2], "ils viendront"),
    ]
    pos.write_text("PRP VBD NN\nPRP MD\nPRP VBZ RB\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_tagged(src, pos)
    assert f"{pos}:2:" in str(err.value) and "\n" not in str(err.value)


class _FakeStore:
    path = "fake.h5"
    label_tasks = ["pos"]

    def tokens(self, i: int) -> list[str]:
        return ["he went home", "the kings will come"][i].split()

    def labels(self, task: str) -> list[list[str]]:
        assert task == "pos"
        return [["PRP", "VBD", "NN"], ["DT", "NNS", "MD", "VB"]]

    def close(self) -> None:
        pass


def test_derived_labels_and_labelled_store() -> None:
    fake = _FakeStore()
    tense = derived_labels(fake, "tense")
    assert tense == [["none", "past", "none"], ["none", "none", "future", "future"]]
    wrapped = LabelledStore(fake, {"tense": tense})
    assert wrapped.label_tasks == ["pos", "tense"] and wrapped.labels("tense") is tense
    assert wrapped.path == "fake.h5" and wrapped.labels("pos")[0][0] == "PRP"


def test_request_round_trip_keeps_detector() -> None:
    profile = ClampProfile(["enc.l0.fw:0"], *(np.zeros(1) for _ in range(4)))
    req = ControlRequest("tense", "present", profile, [], [], [1], [1.0])
    req.detector, req.bleu_against, req.min_bleu_ratio = "french-rules", "reference", 0.9
    back = ControlRequest.from_dict(json.loads(json.dumps(req.to_dict())))
    assert (back.detector, back.bleu_against, back.min_bleu_ratio) == (
        "french-rules",
        "reference",
        0.9,
    )
    old = req.to_dict()
    for key in ("detector", "bleu_against", "min_bleu_ratio"):
        old.pop(key)
    assert ControlRequest.from_dict(old).detector == "synthetic"  # older logs still replay


def test_control_on_bible_end_to_end(capsys) -> None:
    argv = ["control", "bible-en-fr", "--task", "tense", "--target", "present", "--ns", "20"]
    argv += ["--strengths", "2", "--scopes", "all", "--limit", "6", "--examples", "6"]
    assert main([*argv, "--no-log", "--json", "--device", "cpu"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["detector"] == "french-rules" and doc["bleu_against"] == "reference"
    assert 0.0 <= doc["flip_rate"] <= 1.0 and doc["bleu_untouched"] >= 0.0
    assert doc["test"]["total"] == 6 and len(doc["curve"]) == 1
    assert doc["min_bleu"] == pytest.approx(
        0.9 * doc["search_baseline"]["bleu_untouched"], abs=0.01
    )
    # the French rules, not the synthetic grammar, decided what counts as flipped
    assert doc["examples"]
    for ex in doc["examples"]:
        assert ex["flipped"] == (detect(ex["modified"])["tense"] == "present")
    assert doc["test"]["flipped"] == round(doc["flip_rate"] * 6)


def test_control_gender_on_real_text_is_one_line_error(capsys) -> None:
    assert main(["control", "bible-en-fr", "--task", "gender", "--target", "fem", "--no-log"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not supported on real text" in err and "\n" not in err
