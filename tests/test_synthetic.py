"""The synthetic grammar: determinism, disjoint splits, aligned labels, flip/detect."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from neurotui.data import synthetic as S
from neurotui.data.synthetic import (
    PROP_VALUES,
    TASKS,
    can_flip,
    detect,
    flip,
    generate,
    make_splits,
    property_positions,
    write_split,
)
from neurotui.errors import DataError


@pytest.fixture(scope="module")
def sample() -> list[S.Example]:
    return generate(3000, seed=7)


def test_deterministic_by_seed() -> None:
    a = generate(300, seed=1)
    b = generate(300, seed=1)
    c = generate(300, seed=2)
    assert [(e.src, e.tgt) for e in a] == [(e.src, e.tgt) for e in b]
    assert [e.labels for e in a] == [e.labels for e in b]
    assert [e.src for e in a] != [e.src for e in c]
    assert generate(50, seed=1) == a[:50]  # a prefix of the same stream


def test_sentences_distinct_and_translation_is_a_function(sample) -> None:
    assert len({e.src for e in sample}) == len(sample)
    rng = random.Random(0)
    seen: dict[str, str] = {}
    for _ in range(20_000):  # raw specs, before de-duplication
        ex = S.build(S._sample_spec(rng))
        assert seen.setdefault(ex.src, ex.tgt) == ex.tgt, ex.src


def test_splits_disjoint_and_heldout_stable() -> None:
    small = make_splits(seed=0, train_size=400, dev_size=50, test_size=60, analysis_size=80)
    assert {k: len(v) for k, v in small.items()} == {
        "test": 60, "dev": 50, "analysis": 80, "train.1": 400, "train.2": 400, "train.3": 400,
    }  # fmt: skip
    sets = {k: {e.src for e in v} for k, v in small.items()}
    names = list(sets)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not sets[a] & sets[b], (a, b)
    bigger = make_splits(seed=0, train_size=700, dev_size=50, test_size=60, analysis_size=80)
    for k in ("test", "dev", "analysis"):
        assert [e.src for e in bigger[k]] == [e.src for e in small[k]]


def test_labels_aligned_for_every_task(sample) -> None:
    for e in sample:
        n = len(e.src.split())
        assert set(e.labels) == set(TASKS)
        for task in TASKS:
            assert len(e.labels[task]) == n, (task, e.src)
            assert all(lab and " " not in lab for lab in e.labels[task])
        assert set(e.labels["tense"]) == {e.props["tense"]}
        assert e.labels["position"][0] == "0"
        assert 3 <= n <= 15


def test_label_values_on_a_known_sentence() -> None:
    spec = S.Spec(
        frame="trans",
        subj=S.NP("actress", "pl", "the", "small"),
        tense="present",
        negative=True,
        contracted=True,
        verb="see",
        obj=S.NP("mouse", "pl", "indef"),
    )
    ex = S.build(spec)
    assert ex.src == "the small actresses do n't see any mice ."
    assert ex.tgt == "les petites actrices ne voient pas de souris ."
    assert ex.labels["pos"] == ["DT", "JJ", "NNS", "VBP", "RB", "VB", "DT", "NNS", "."]
    assert ex.labels["number"] == ["pl"] * 6 + ["pl", "pl", "none"]
    assert ex.labels["gender"] == ["fem"] * 6 + ["fem", "fem", "none"]
    assert ex.labels["negation"] == ["neg"] * 9
    assert property_positions(ex, "tense") == [3, 5]
    assert property_positions(ex, "number") == [0, 1, 2, 3, 4, 5]
    assert property_positions(ex, "gender") == [0, 1, 2]
    assert property_positions(ex, "negation") == [3, 4, 5]


def test_grammar_phenomena_present(sample) -> None:
    src = " ".join(e.src for e in sample).split()
    tgt = " ".join(e.tgt for e in sample).split()
    for word in ("n't", "wo", "does", "did", "men", "women", "children", "mice", "feet", "an"):
        assert word in src, word
    for word in ("l'", "n'", "yeux", "chevaux", "belle", "bel", "cet", "du", "ne", "pas"):
        assert word in tgt, word
    pairs = {(e.src, e.tgt) for e in sample}
    assert any("the actress" in s and "l' actrice" in t for s, t in pairs)
    assert any(" petites " in f" {t} " for _, t in pairs)


def test_specific_agreement_rules() -> None:
    def one(**kw) -> S.Example:
        base = dict(frame="intrans", subj=S.NP("queen", "pl"), tense="past", negative=False)
        base.update(kw)
        return S.build(S.Spec(contracted=True, **base))

    assert one(verb="arrive").tgt == "les reines sont arrivées ."
    assert one(verb="arrive", negative=True).src == "the queens did n't arrive ."
    assert one(verb="sleep", tense="future", negative=True).tgt == "les reines ne dormiront pas ."
    ex = one(subj=S.NP("man", "sg", "dem", "old"), verb="go", tense="present")
    assert (ex.src, ex.tgt) == ("this old man goes .", "ce vieil homme va .")
    ex = one(subj=S.NP("actress", "sg", "my"), frame="copula", pred="happy", tense="present")
    assert (ex.src, ex.tgt) == ("my actress is happy .", "mon actrice est contente .")


@pytest.mark.parametrize("prop", list(PROP_VALUES))
def test_flip_and_detect_round_trip(sample, prop) -> None:
    flipped = 0
    for e in sample[:1500]:
        assert detect(e.tgt) == e.props
        assert detect(e.tgt.split()) == e.props
        for value in PROP_VALUES[prop]:
            if not can_flip(e, prop, value):
                assert e.spec.subj.is_pronoun
                continue
            f = flip(e, prop, value)
            expected = {**e.props, prop: value}
            assert f.props == expected
            assert detect(f.tgt) == expected, (f.src, f.tgt)
            if value != e.props[prop]:
                assert f.src != e.src and f.tgt != e.tgt
                flipped += 1
    assert flipped > 500


def test_flip_errors() -> None:
    she = S.build(S.Spec("intrans", S.NP("she", "sg", ""), "past", False, True, verb="sleep"))
    with pytest.raises(DataError):
        flip(she, "number", "pl")
    with pytest.raises(DataError):
        flip(she, "tense", "pluperfect")
    with pytest.raises(DataError):
        flip(she, "mood", "x")
    he = flip(she, "gender", "masc")
    assert (he.src, he.tgt) == ("he slept .", "il a dormi .")
    assert flip(he, "number", "pl").tgt == "ils ont dormi ."


def test_detect_on_malformed_output() -> None:
    assert detect("") == dict.fromkeys(PROP_VALUES)
    d = detect("le roi ne voit le chat .")  # ne without pas
    assert d["negation"] is None and d["tense"] == "present"
    assert detect("les roi voit .")["number"] is None  # contradictory number
    assert detect("le reine est partie .")["gender"] is None  # contradictory gender
    assert detect("la reine a .")["tense"] is None  # auxiliary without participle
    assert detect("la reine")["gender"] == "fem"


def test_write_split_neurox_format(tmp_path: Path) -> None:
    exs = generate(25, seed=3)
    paths = write_split(tmp_path / "dev", exs)
    assert sorted(p.name for p in paths) == sorted(f"dev.{x}" for x in ("en", "fr", *TASKS))
    en = (tmp_path / "dev.en").read_text(encoding="utf-8").splitlines()
    assert en == [e.src for e in exs]
    for task in TASKS:
        lines = (tmp_path / f"dev.{task}").read_text(encoding="utf-8").splitlines()
        assert [len(x.split()) for x in lines] == [len(s.split()) for s in en]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_module_entry_point(tmp_path: Path) -> None:
    rc = S.main(["--out", str(tmp_path), "--train-size", "30", "--splits", "dev,train.2"])
    assert rc == 0
    assert len((tmp_path / "train.2.en").read_text().splitlines()) == 30
    assert len((tmp_path / "dev.fr").read_text().splitlines()) == 500
    assert S.main(["--out", str(tmp_path), "--splits", "bogus"]) == 2
