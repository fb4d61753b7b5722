"""Deterministic synthetic English→French grammar with gold token labels.

Why: the sample translation models, the probing tasks and the control experiments need a
language whose properties (tense, number, gender, negation) are known exactly on both sides.
A sentence is first sampled as a structured ``Spec``; English tokens, French tokens and the
per-token labels are all *derived* from that spec, so a property can be changed in the spec
(``flip``) and the expected translation rebuilt, and ``detect`` can read the properties back
from French output exactly. The grammar and the label semantics are documented in
``docs/synthetic-grammar.md``.

Entry point: ``python -m neurotui.data.synthetic --out DIR [--seed S] [--train-size N]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from neurotui.data import lexicon as L
from neurotui.errors import DataError, NeurotuiError

TASKS = ("pos", "tense", "number", "gender", "negation", "position")
PROPS = ("tense", "number", "gender", "negation")
PROP_VALUES: dict[str, tuple[str, ...]] = {
    "tense": ("past", "present", "future"),
    "number": ("sg", "pl"),
    "gender": ("masc", "fem"),
    "negation": ("affirmative", "negative"),
}
NONE = "none"

# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class NP:
    """A noun phrase: ``noun`` is an English noun lemma, or a pronoun (he/she/they)."""

    noun: str
    number: str = "sg"
    det: str = "the"  # a key of lexicon.DETERMINERS; "" for pronouns
    adj: str | None = None

    @property
    def is_pronoun(self) -> bool:
        return self.noun in L.PRONOUNS

    @property
    def gender(self) -> str:
        """French grammatical gender of the phrase."""
        if self.is_pronoun:
            return L.PRONOUNS[self.noun][2]
        return L.NOUNS[self.noun].gender


@dataclass(frozen=True)
class Spec:
    """One sentence as structure: enough to rebuild both languages and all labels.

    ``frame`` is ``trans`` (subject verb object), ``intrans`` (subject verb) or ``copula``
    (subject be adjective). ``contracted`` picks ``n't`` over ``not`` when negative (kept on
    affirmative sentences too, so flipping negation is deterministic).
    """

    frame: str
    subj: NP
    tense: str
    negative: bool
    contracted: bool
    verb: str | None = None
    obj: NP | None = None
    pred: str | None = None
    pp: tuple[str, NP] | None = None
    adv: str | None = None


@dataclass(frozen=True)
class Example:
    """A sentence pair with gold labels (one per source token per task) and properties."""

    src: str
    tgt: str
    labels: dict[str, list[str]] = field(hash=False, compare=False)
    props: dict[str, str] = field(hash=False, compare=False)
    spec: object = None


# --------------------------------------------------------------------------- English


@dataclass
class _Tok:
    text: str
    pos: str
    group: str  # subj | verb | obj | pred | prep | pp | adv | punct


def _en_np(np: NP, group: str, negative_obj: bool) -> list[_Tok]:
    if np.is_pronoun:
        return [_Tok(np.noun, "PRP", group)]
    noun = L.NOUNS[np.noun]
    words: list[_Tok] = []
    if np.adj:
        words.append(_Tok(np.adj, "JJ", group))
    sg = np.number == "sg"
    words.append(_Tok(noun.en if sg else noun.en_pl, "NN" if sg else "NNS", group))
    if np.det == "the":
        det = _Tok("the", "DT", group)
    elif np.det == "indef":
        if sg:
            det = _Tok("an" if L.en_vowel(words[0].text) else "a", "DT", group)
        else:
            det = _Tok("any" if negative_obj else "some", "DT", group)
    elif np.det == "dem":
        det = _Tok("this" if sg else "these", "DT", group)
    else:
        det = _Tok(np.det, "PRP$", group)
    return [det, *words]


def _en_verb_group(s: Spec) -> list[_Tok]:
    sg = s.subj.number == "sg"
    neg = [_Tok("n't" if s.contracted else "not", "RB", "verb")] if s.negative else []
    if s.frame == "copula":
        if s.tense == "future":
            will = _Tok("wo" if (s.negative and s.contracted) else "will", "MD", "verb")
            return [will, *neg, _Tok("be", "VB", "verb")]
        if s.tense == "present":
            be = _Tok("is", "VBZ", "verb") if sg else _Tok("are", "VBP", "verb")
        else:
            be = _Tok("was" if sg else "were", "VBD", "verb")
        return [be, *neg]
    v = L.VERBS[s.verb or ""]
    base = _Tok(v.en, "VB", "verb")
    if s.tense == "future":
        will = _Tok("wo" if (s.negative and s.contracted) else "will", "MD", "verb")
        return [will, *neg, base]
    if s.negative:
        if s.tense == "past":
            aux = _Tok("did", "VBD", "verb")
        else:
            aux = _Tok("does", "VBZ", "verb") if sg else _Tok("do", "VBP", "verb")
        return [aux, *neg, base]
    if s.tense == "past":
        return [_Tok(v.en_past, "VBD", "verb")]
    return [_Tok(v.en_3sg, "VBZ", "verb") if sg else _Tok(v.en, "VBP", "verb")]


def _english(s: Spec) -> list[_Tok]:
    toks = _en_np(s.subj, "subj", False)
    toks += _en_verb_group(s)
    if s.obj is not None:
        toks += _en_np(s.obj, "obj", s.negative)
    if s.pred is not None:
        toks.append(_Tok(s.pred, "JJ", "pred"))
    if s.pp is not None:
        toks.append(_Tok(s.pp[0], "IN", "prep"))
        toks += _en_np(s.pp[1], "pp", False)
    if s.adv is not None:
        toks.append(_Tok(s.adv, "NN" if s.adv == "today" else "RB", "adv"))
    toks.append(_Tok(".", ".", "punct"))
    return toks


# --------------------------------------------------------------------------- French


def _fr_np(np: NP, negative_obj: bool = False, de: bool = False) -> list[str]:
    """French tokens of a noun phrase; ``negative_obj``: un/une/des → de under negation;
    ``de``: the phrase follows the preposition "de" (contracts to du/des/d')."""
    if np.is_pronoun:
        return [L.PRONOUNS[np.noun][0]]
    noun = L.NOUNS[np.noun]
    g, n = noun.gender, np.number
    head = noun.fr if n == "sg" else noun.fr_pl
    adj = L.ADJECTIVES[np.adj] if np.adj else None
    if adj is None:
        body = [head]
    else:
        body = [adj.form(g, n, head), head] if adj.pre else [head, adj.form(g, n)]
    nxt = body[0]
    v = L.fr_vowel(nxt)
    sg = n == "sg"
    fem = g == "fem"
    if np.det == "the":
        det = ("l'" if v else ("la" if fem else "le")) if sg else "les"
    elif np.det == "indef":
        if negative_obj or (not sg and adj is not None and adj.pre):
            det = "d'" if v else "de"
        else:
            det = ("une" if fem else "un") if sg else "des"
    elif np.det == "dem":
        det = ("cette" if fem else ("cet" if v else "ce")) if sg else "ces"
    elif np.det == "my":
        det = ("ma" if fem and not v else "mon") if sg else "mes"
    elif np.det in ("his", "her"):
        det = ("sa" if fem and not v else "son") if sg else "ses"
    elif np.det == "their":
        det = "leur" if sg else "leurs"
    else:  # your
        det = "votre" if sg else "vos"
    if de:
        if det == "le":
            return ["du", *body]
        if det == "les":
            return ["des", *body]
        return ["d'" if L.fr_vowel(det) else "de", det, *body]
    return [det, *body]


def _ne(next_word: str) -> str:
    return "n'" if L.fr_vowel(next_word) else "ne"


def _agree(word: str, gender: str, number: str) -> str:
    """Past participle agreement with the subject (être verbs)."""
    return word + ("e" if gender == "fem" else "") + ("s" if number == "pl" else "")


def _fr_verb_group(s: Spec) -> list[str]:
    n, g = s.subj.number, s.subj.gender
    rest: list[str]
    if s.frame == "copula":
        table = {
            "present": L.ETRE_PRESENT,
            "past": L.ETRE_IMPARFAIT,
            "future": L.ETRE_FUTURE,
        }
        finite, rest = table[s.tense][n], []
    else:
        v = L.VERBS[s.verb or ""]
        if s.tense == "present":
            finite, rest = (v.pres_sg if n == "sg" else v.pres_pl), []
        elif s.tense == "future":
            finite, rest = (v.fut_sg if n == "sg" else v.fut_pl), []
        elif v.aux == "etre":
            finite, rest = L.ETRE_PRESENT[n], [_agree(v.participle, g, n)]
        else:
            finite, rest = L.AVOIR[n], [v.participle]
    if s.negative:
        return [_ne(finite), finite, "pas", *rest]
    return [finite, *rest]


def _french(s: Spec) -> list[str]:
    out = _fr_np(s.subj)
    out += _fr_verb_group(s)
    if s.obj is not None:
        out += _fr_np(s.obj, negative_obj=s.negative and s.obj.det == "indef")
    if s.pred is not None:
        out.append(L.ADJECTIVES[s.pred].form(s.subj.gender, s.subj.number))
    if s.pp is not None:
        prep, np = s.pp
        fr_prep = L.PREPOSITIONS[prep][0]
        out.append(fr_prep)
        out += _fr_np(np, de=(prep == "near"))
    if s.adv is not None:
        out += list(L.ADVERBS[s.adv])
    out.append(".")
    return out


# --------------------------------------------------------------------------- labels


def _position_label(i: int) -> str:
    return str(i) if i < 10 else "10+"


def _labels(s: Spec, toks: list[_Tok]) -> dict[str, list[str]]:
    tense = s.tense
    neg = "neg" if s.negative else "aff"
    subj = (s.subj.number, s.subj.gender)
    np_of = {"obj": s.obj, "pp": s.pp[1] if s.pp else None}
    number: list[str] = []
    gender: list[str] = []
    for t in toks:
        if t.group in ("subj", "verb", "pred"):
            nb, gd = subj
        elif t.group in np_of and np_of[t.group] is not None:
            np = np_of[t.group]
            assert np is not None
            nb, gd = np.number, np.gender
        else:
            nb, gd = NONE, NONE
        number.append(nb)
        gender.append(gd)
    return {
        "pos": [t.pos for t in toks],
        "tense": [tense] * len(toks),
        "number": number,
        "gender": gender,
        "negation": [neg] * len(toks),
        "position": [_position_label(i) for i in range(len(toks))],
    }


def _props(s: Spec) -> dict[str, str]:
    return {
        "tense": s.tense,
        "number": s.subj.number,
        "gender": s.subj.gender,
        "negation": "negative" if s.negative else "affirmative",
    }


def build(spec: Spec) -> Example:
    """Realise a spec as an Example (both languages, labels, properties)."""
    toks = _english(spec)
    return Example(
        src=" ".join(t.text for t in toks),
        tgt=" ".join(_french(spec)),
        labels=_labels(spec, toks),
        props=_props(spec),
        spec=spec,
    )


# --------------------------------------------------------------------------- sampling

_ADJ_BY_CLS = {
    "animate": [a.en for a in L.ADJECTIVES.values() if a.cls in ("any", "animate")],
    "inanimate": [a.en for a in L.ADJECTIVES.values() if a.cls in ("any", "thing")],
}
_PRED_ADJ = [a.en for a in L.ADJECTIVES.values() if a.cls == "animate"] + ["small", "big", "old"]
_NOUNS_BY_CLS: dict[str, list[str]] = {}
for _k, _n in L.NOUNS.items():
    _NOUNS_BY_CLS.setdefault(_n.cls, []).append(_k)


def _sample_np(rng: random.Random, classes: tuple[str, ...], dets: list[str]) -> NP:
    cls = rng.choice(classes)
    noun = rng.choice(_NOUNS_BY_CLS[cls])
    number = rng.choice(("sg", "pl"))
    det = rng.choice(dets)
    adj = None
    if rng.random() < 0.3:
        key = "animate" if cls in ("human", "animal") else "inanimate"
        adj = rng.choice(_ADJ_BY_CLS[key])
    return NP(noun, number, det, adj)


def _sample_spec(rng: random.Random) -> Spec:
    if rng.random() < 0.15:
        subj = NP(rng.choice(sorted(L.PRONOUNS)), det="")
        subj = replace(subj, number=L.PRONOUNS[subj.noun][1])
    else:
        subj = NP(
            rng.choice(L.SUBJECT_NOUNS),
            rng.choice(("sg", "pl")),
            rng.choice(L.DETERMINERS),
            rng.choice(_ADJ_BY_CLS["animate"]) if rng.random() < 0.3 else None,
        )
    r = rng.random()
    frame = "trans" if r < 0.5 else ("intrans" if r < 0.75 else "copula")
    tense = rng.choice(PROP_VALUES["tense"])
    negative = rng.random() < 0.5
    contracted = rng.random() < 0.6
    verb = obj = pred = None
    if frame == "trans":
        verb = rng.choice(L.TRANSITIVE)
        obj = _sample_np(rng, L.VERBS[verb].objects, L.DETERMINERS)
    elif frame == "intrans":
        verb = rng.choice(L.INTRANSITIVE)
    else:
        pred = rng.choice(_PRED_ADJ)
    pp = None
    if rng.random() < 0.3:
        prep = rng.choice(sorted(L.PREPOSITIONS))
        np = _sample_np(rng, L.PREPOSITIONS[prep][1], ["the", "indef", "dem", "my", "his", "her"])
        if np.det == "indef" and np.number == "pl":
            np = replace(np, det="the")
        pp = (prep, np)
    adv = rng.choice(sorted(L.ADVERBS)) if rng.random() < 0.25 else None
    return Spec(frame, subj, tense, negative, contracted, verb, obj, pred, pp, adv)


def _stream(seed: int) -> Iterator[Example]:
    """Distinct examples (by English side) in a fixed order for ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    misses = 0
    while True:
        ex = build(_sample_spec(rng))
        if ex.src in seen:
            misses += 1
            if misses > 1_000_000:  # pragma: no cover - the language is far larger
                raise DataError("synthetic grammar: ran out of distinct sentences")
            continue
        seen.add(ex.src)
        yield ex


def generate(n: int, seed: int) -> list[Example]:
    """``n`` distinct examples, deterministic for ``seed`` (a prefix of the seed's stream)."""
    if n < 0:
        raise DataError(f"synthetic grammar: n must be >= 0, got {n}")
    out: list[Example] = []
    if n == 0:
        return out
    for ex in _stream(seed):
        out.append(ex)
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------- flip


def _check_prop(prop: str, value: str) -> None:
    if prop not in PROP_VALUES:
        raise DataError(f"synthetic grammar: unknown property {prop!r} (one of {', '.join(PROPS)})")
    if value not in PROP_VALUES[prop]:
        raise DataError(
            f"synthetic grammar: {prop} has no value {value!r} "
            f"(one of {', '.join(PROP_VALUES[prop])})"
        )


def _spec_of(example: Example) -> Spec:
    if not isinstance(example.spec, Spec):
        raise DataError("synthetic grammar: example has no synthetic spec (not from generate)")
    return example.spec


def _flipped_spec(s: Spec, prop: str, value: str) -> Spec:
    if prop == "tense":
        return replace(s, tense=value)
    if prop == "negation":
        return replace(s, negative=value == "negative")
    subj = s.subj
    if prop == "number":
        if subj.number == value:
            return s
        if subj.is_pronoun:
            if subj.noun == "he":
                return replace(s, subj=NP("they", "pl", ""))
            if subj.noun == "they":
                return replace(s, subj=NP("he", "sg", ""))
            raise DataError("synthetic grammar: cannot make 'she' plural ('they' is masculine)")
        return replace(s, subj=replace(subj, number=value))
    # gender
    if subj.gender == value:
        return s
    if subj.is_pronoun:
        if subj.noun == "they":
            raise DataError("synthetic grammar: cannot make 'they' feminine (English 'they')")
        return replace(s, subj=NP("she" if subj.noun == "he" else "he", "sg", ""))
    pair = L.NOUNS[subj.noun].pair
    if pair is None:  # pragma: no cover - subjects are always paired nouns
        raise DataError(f"synthetic grammar: subject {subj.noun!r} has no gender pair")
    return replace(s, subj=replace(subj, noun=pair))


def can_flip(example: Example, prop: str, value: str) -> bool:
    """Whether ``flip(example, prop, value)`` is defined (only pronoun subjects can fail)."""
    try:
        flip(example, prop, value)
    except DataError:
        return False
    return True


def flip(example: Example, prop: str, value: str) -> Example:
    """The same sentence with one property of the main clause set to ``value``.

    Number and gender are the subject's; everything else (objects, adjectives, determiner
    choice, contraction) is kept. Raises DataError for undefined flips: 'she' → plural and
    'they' → feminine (English 'they' does not mark gender; the grammar maps it to 'ils').
    """
    _check_prop(prop, value)
    return build(_flipped_spec(_spec_of(example), prop, value))


# --------------------------------------------------------------------------- positions


def property_positions(example: Example, prop: str) -> list[int]:
    """Source token indices where ``prop`` is expressed (clamp positions).

    tense: the verb group (auxiliaries, main verb, copula; not the negation particle);
    number: subject noun phrase + verb group; gender: subject noun phrase;
    negation: the verb group including n't/not (where negation is or would be expressed).
    """
    if prop not in PROP_VALUES:
        raise DataError(f"synthetic grammar: unknown property {prop!r} (one of {', '.join(PROPS)})")
    toks = _english(_spec_of(example))
    neg_words = {"n't", "not"}
    out = []
    for i, t in enumerate(toks):
        in_verb = t.group == "verb"
        if (
            (prop == "tense" and in_verb and t.text not in neg_words)
            or (prop == "number" and (t.group == "subj" or in_verb))
            or (prop == "gender" and t.group == "subj")
            or (prop == "negation" and in_verb)
        ):
            out.append(i)
    return out


# --------------------------------------------------------------------------- detect


def _build_tables() -> tuple[dict, dict, dict, set, dict]:
    """Form tables for ``detect``: finite verbs, participles, NP forms with features."""
    finite: dict[str, tuple[str, str]] = {}  # form -> (kind, number)
    for v in L.VERBS.values():
        finite[v.pres_sg] = ("present", "sg")
        finite[v.pres_pl] = ("present", "pl")
        finite[v.fut_sg] = ("future", "sg")
        finite[v.fut_pl] = ("future", "pl")
    for n in ("sg", "pl"):
        finite[L.AVOIR[n]] = ("avoir", n)
        finite[L.ETRE_PRESENT[n]] = ("etre", n)
        finite[L.ETRE_IMPARFAIT[n]] = ("past", n)
        finite[L.ETRE_FUTURE[n]] = ("future", n)
    # agreeing words after the finite verb: form -> set of (gender, number)
    participle_etre: dict[str, set[tuple[str, str]]] = {}
    for v in L.VERBS.values():
        if v.aux == "etre":
            for g in ("masc", "fem"):
                for n in ("sg", "pl"):
                    participle_etre.setdefault(_agree(v.participle, g, n), set()).add((g, n))
    participle_avoir = {v.participle for v in L.VERBS.values() if v.aux == "avoir"}
    adj_forms: dict[str, set[tuple[str, str]]] = {}
    for a in L.ADJECTIVES.values():
        for g in ("masc", "fem"):
            for n in ("sg", "pl"):
                adj_forms.setdefault(a.form(g, n), set()).add((g, n))
        if a.ms_vowel:
            adj_forms.setdefault(a.ms_vowel, set()).add(("masc", "sg"))
    np_forms: dict[str, set[tuple[str, str]]] = {k: set(v) for k, v in adj_forms.items()}
    for noun in L.NOUNS.values():
        np_forms.setdefault(noun.fr, set()).add((noun.gender, "sg"))
        np_forms.setdefault(noun.fr_pl, set()).add((noun.gender, "pl"))
    both = {("masc", "sg"), ("fem", "sg")}
    dets: dict[str, set[tuple[str, str]]] = {
        "le": {("masc", "sg")},
        "la": {("fem", "sg")},
        "l'": both,
        "les": {("masc", "pl"), ("fem", "pl")},
        "un": {("masc", "sg")},
        "une": {("fem", "sg")},
        "des": {("masc", "pl"), ("fem", "pl")},
        "de": {("masc", "pl"), ("fem", "pl")},
        "d'": {("masc", "pl"), ("fem", "pl")},
        "ce": {("masc", "sg")},
        "cet": {("masc", "sg")},
        "cette": {("fem", "sg")},
        "ces": {("masc", "pl"), ("fem", "pl")},
        "mon": both,
        "ma": {("fem", "sg")},
        "mes": {("masc", "pl"), ("fem", "pl")},
        "son": both,
        "sa": {("fem", "sg")},
        "ses": {("masc", "pl"), ("fem", "pl")},
        "leur": both,
        "leurs": {("masc", "pl"), ("fem", "pl")},
        "votre": both,
        "vos": {("masc", "pl"), ("fem", "pl")},
        "il": {("masc", "sg")},
        "elle": {("fem", "sg")},
        "ils": {("masc", "pl")},
        "elles": {("fem", "pl")},
    }
    for k, forms in dets.items():
        np_forms.setdefault(k, set()).update(forms)
    return finite, participle_etre, adj_forms, participle_avoir, np_forms


_FINITE, _PART_ETRE, _ADJ_FORMS, _PART_AVOIR, _NP_FORMS = _build_tables()


def _decide(evidence: list[set[tuple[str, str]]], axis: int) -> str | None:
    """One value if all evidence that is unambiguous on ``axis`` agrees, else None."""
    values = set()
    for feats in evidence:
        vals = {f[axis] for f in feats}
        if len(vals) == 1:
            values |= vals
    return values.pop() if len(values) == 1 else None


def detect(french: str | list[str]) -> dict[str, str | None]:
    """Read tense, number, gender and negation of the main clause from French text.

    Exact on the grammar's own output; on malformed model output each property the text
    does not determine unambiguously (missing verb, contradictory agreement, ``ne`` without
    ``pas``) is None. Number and gender come from the subject phrase and everything that
    agrees with it (finite verb, être participle, predicative adjective).
    """
    toks = french.split() if isinstance(french, str) else list(french)
    result: dict[str, str | None] = dict.fromkeys(PROPS)
    vi = next((i for i, t in enumerate(toks) if t in _FINITE), None)
    if vi is None:
        end = 0
        while end < len(toks) and toks[end] in _NP_FORMS:
            end += 1
        evidence = [_NP_FORMS[t] for t in toks[:end]]
        result["number"] = _decide(evidence, 1)
        result["gender"] = _decide(evidence, 0)
        return result
    kind, vnum = _FINITE[toks[vi]]
    has_ne = vi > 0 and toks[vi - 1] in ("ne", "n'")
    has_pas = vi + 1 < len(toks) and toks[vi + 1] == "pas"
    subj_end = vi - 1 if has_ne else vi
    evidence = [_NP_FORMS[t] for t in toks[:subj_end] if t in _NP_FORMS]
    evidence.append({("masc", vnum), ("fem", vnum)})
    nxt = toks[vi + 2] if has_pas else (toks[vi + 1] if vi + 1 < len(toks) else "")
    tense: str | None
    if kind in ("present", "future", "past"):
        tense = kind
        if nxt in _ADJ_FORMS and toks[vi] in ("était", "étaient", "sera", "seront"):
            evidence.append(_ADJ_FORMS[nxt])
    elif kind == "avoir":
        tense = "past" if nxt in _PART_AVOIR else None
    else:  # être: passé composé with a participle, or present copula with an adjective
        if nxt in _PART_ETRE:
            tense = "past"
            evidence.append(_PART_ETRE[nxt])
        elif nxt in _ADJ_FORMS:
            tense = "present"
            evidence.append(_ADJ_FORMS[nxt])
        else:
            tense = None
    result["tense"] = tense
    ne_anywhere = any(t in ("ne", "n'") for t in toks)
    pas_anywhere = "pas" in toks
    if has_ne and has_pas:
        result["negation"] = "negative"
    elif not ne_anywhere and not pas_anywhere:
        result["negation"] = "affirmative"
    result["number"] = _decide(evidence, 1)
    result["gender"] = _decide(evidence, 0)
    return result


# --------------------------------------------------------------------------- splits


def make_splits(
    seed: int = 0,
    train_size: int = 30_000,
    dev_size: int = 500,
    test_size: int = 500,
    analysis_size: int = 2000,
) -> dict[str, list[Example]]:
    """Pairwise-disjoint splits cut from one distinct-sentence stream.

    Order in the stream: test, dev, analysis, train.1, train.2, train.3 — so the held-out
    splits do not depend on ``train_size`` and no held-out sentence is in any train split.
    """
    sizes = [
        ("test", test_size),
        ("dev", dev_size),
        ("analysis", analysis_size),
        ("train.1", train_size),
        ("train.2", train_size),
        ("train.3", train_size),
    ]
    for name, size in sizes:
        if size < 0:
            raise DataError(f"synthetic grammar: {name} size must be >= 0, got {size}")
    pool = generate(sum(s for _, s in sizes), seed)
    out: dict[str, list[Example]] = {}
    start = 0
    for name, size in sizes:
        out[name] = pool[start : start + size]
        start += size
    return out


def _write_atomic(path: Path, lines: Iterable[str]) -> None:
    from neurotui.atomicfile import write_text

    write_text(path, "".join(line + "\n" for line in lines), error=DataError, make_parents=True)


def write_split(prefix: Path, examples: Iterable[Example], tasks: bool = True) -> list[Path]:
    """Write ``prefix.en``, ``prefix.fr`` and (``tasks``) ``prefix.<task>`` label files.

    NeuroX parallel format: one sentence per line, one label per whitespace token of the
    English line. Each file is written atomically. Returns the paths written.
    """
    prefix = Path(prefix)
    exs = list(examples)
    files = {"en": [e.src for e in exs], "fr": [e.tgt for e in exs]}
    if tasks:
        for task in TASKS:
            files[task] = [" ".join(e.labels[task]) for e in exs]
    paths = []
    for ext, lines in files.items():
        path = prefix.with_name(f"{prefix.name}.{ext}")
        _write_atomic(path, lines)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m neurotui.data.synthetic --out DIR`` writes every split with labels."""
    p = argparse.ArgumentParser(
        prog="python -m neurotui.data.synthetic",
        description="Write the synthetic English→French splits (NeuroX parallel format).",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument("--train-size", type=int, default=30_000, help="sentences per train split")
    p.add_argument(
        "--splits",
        default="train.1,train.2,train.3,dev,test,analysis",
        help="comma-separated splits to write (default: all)",
    )
    p.add_argument("--no-labels", action="store_true", help="write only .en/.fr")
    args = p.parse_args(argv)
    try:
        wanted = [s for s in args.splits.split(",") if s]
        known = ("train.1", "train.2", "train.3", "dev", "test", "analysis")
        bad = [s for s in wanted if s not in known]
        if bad:
            raise DataError(f"--splits: unknown split {bad[0]!r} (one of {', '.join(known)})")
        train = args.train_size if any(s.startswith("train") for s in wanted) else 0
        splits = make_splits(args.seed, train_size=train)
        for name in wanted:
            write_split(args.out / name, splits[name], tasks=not args.no_labels)
            print(f"{name}: {len(splits[name])} sentences -> {args.out / name}.*")
    except NeurotuiError as exc:
        print(f"synthetic: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
