"""Rule-based reading of tense, number and gender in a French clause (Louis Segond style).

Why rules and not a tagger: the real-text sample model ``bible-en-fr`` translates into
the French of the Louis Segond 1910 Bible (passé simple "dit", "fit", "allèrent";
imparfait "-ait/-aient"; passé composé "a/ont/est + participe"; futur "-ra/-ront"), the
project has no French tagger among its dependencies, and a control experiment needs one
cheap, deterministic verdict per output. :func:`detect` returns the same shape as
:func:`neurotui.data.synthetic.detect` — ``{"tense", "number", "gender", "negation"}``, each
a class or ``None`` when the rules cannot decide — so the control machinery can use either.

How it reads a clause (lower-cased, space-tokenised, as the model writes it):

* **tense** — of the *first* finite verb. A verb is finite when it follows a subject
  pronoun (je, tu, il, elle, on, nous, vous, ils, elles, qui; object clitics and ``ne`` may
  stand between) or when its form alone says so: auxiliaries and frequent irregular forms
  (est, sont, a, ont, fait, va, peut…), the imparfait ``-ait/-aient``, the passé simple
  ``-èrent/-irent``, ``-ut`` (fut, mourut), ``vint/tint``, ``fit/prit/mit/dit``, the futur
  (stem + ``r`` + ai/as/a/ons/ez/ont, with the stem shapes of the futur: ``-er-``, ``-ir-``,
  ``-rr-``, ``-dr-``, ``-ttr-``, ``aur-``, ``-vr-``…), and the first-group passé simple
  ``-a`` when the lexicon (by default the bundled bible model's target vocabulary) holds a
  form of the same verb (``toucha`` ← ``toucher``). A word right after a determiner or a
  preposition is never a verb. avoir + participle → past; être + participle → past for the
  verbs conjugated with être (venu, allé, mort…) and reflexives (s'est levé), else present
  (the passive "il est écrit" is an English present too); avoir/être alone → present.
  Imparfait, passé simple, passé composé and plus-que-parfait all count as **past**; the
  conditional (stem of the futur + ``-ait``) is undecided (``None``).
* **number** — of the first noun-phrase marker: a determiner (le/la/un/ce/son… → sg;
  les/des/ces/ses/aux… → pl) or a subject pronoun; when a finite verb comes first (a name or
  no subject: "abraham engendra isaac"), the verb's agreement (-ent/-èrent/-aient/ont → pl).
* **gender** — of the first noun-phrase marker when it shows gender (le/un/ce/il/du/au →
  masc; la/une/cette/sa/elle → fem); ``None`` when that marker does not (l', les, son, des).
* **negation** — ``ne/n'`` with ``pas/point/jamais/plus/rien`` → negative; neither → affirmative.

Limits (measured against the English side's tags in ``bible-en-fr``, see the control
report): the main verb is taken to be the first finite one, so a clause opening with a
subordinate ("quand vous entendrez…") is read by its subordinate's tense; an inverted
"dit l'éternel" is read as present at the start of a clause and as past elsewhere; the
present of ``-ir`` verbs (il finit) reads as passé simple; ``-a`` verbs missing from the
lexicon are not seen; imperatives read as present; a noun that follows no determiner and
looks like a verb form (rare in this text) can be taken for one; gender ignores the noun
itself (no noun lexicon), so "l'épée" has no gender.
A verb the model wrote as ``<unk>`` (after a subject pronoun or an auxiliary) leaves the
tense undecided rather than guessed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import lru_cache

PROPS = ("tense", "number", "gender", "negation")

SUBJECTS: dict[str, str | None] = {
    "je": "sg",
    "j'": "sg",
    "tu": "sg",
    "il": "sg",
    "elle": "sg",
    "on": "sg",
    "nous": "pl",
    "vous": None,
    "ils": "pl",
    "elles": "pl",
    "qui": None,
}
CLITICS = {
    "ne", "n'", "me", "m'", "te", "t'", "se", "s'", "le", "la", "l'", "les", "lui", "leur",
    "y", "en", "nous", "vous",
}  # fmt: skip
#: determiner → (number, gender); None where the form does not show it
DETERMINERS: dict[str, tuple[str | None, str | None]] = {
    "le": ("sg", "masc"),
    "la": ("sg", "fem"),
    "l'": ("sg", None),
    "un": ("sg", "masc"),
    "une": ("sg", "fem"),
    "du": ("sg", "masc"),
    "au": ("sg", "masc"),
    "ce": ("sg", "masc"),
    "cet": ("sg", "masc"),
    "cette": ("sg", "fem"),
    "mon": ("sg", None),
    "ton": ("sg", None),
    "son": ("sg", None),
    "ma": ("sg", "fem"),
    "ta": ("sg", "fem"),
    "sa": ("sg", "fem"),
    "notre": ("sg", None),
    "votre": ("sg", None),
    "leur": ("sg", None),
    "les": ("pl", None),
    "des": ("pl", None),
    "aux": ("pl", None),
    "ces": ("pl", None),
    "mes": ("pl", None),
    "tes": ("pl", None),
    "ses": ("pl", None),
    "nos": ("pl", None),
    "vos": ("pl", None),
    "leurs": ("pl", None),
    "plusieurs": ("pl", None),
}
PRONOUN_FEATURES: dict[str, tuple[str, str | None]] = {
    "je": ("sg", None),
    "j'": ("sg", None),
    "tu": ("sg", None),
    "il": ("sg", "masc"),
    "elle": ("sg", "fem"),
    "on": ("sg", None),
    "nous": ("pl", None),
    "ils": ("pl", "masc"),
    "elles": ("pl", "fem"),
}
NOT_BEFORE_VERB = set(DETERMINERS) | {
    "à", "de", "d'", "dans", "sur", "pour", "par", "avec", "sans", "vers", "chez", "contre",
    "entre", "devant", "derrière", "selon", "sous", "parmi", "envers", "jusqu'", "quelque",
    "chaque", "aucun", "aucune", "nul", "nulle", "tout", "toute", "très", "si",
}  # fmt: skip
NEG_END = {"pas", "point", "jamais", "plus", "rien", "guère"}
#: the model's unknown-word token: data, never a verb form the rules can read
UNKNOWN = {"<unk>"}

AVOIR_PRESENT = {"ai": "sg", "as": "sg", "a": "sg", "avons": "pl", "avez": None, "ont": "pl"}
ETRE_PRESENT = {"suis": "sg", "es": "sg", "est": "sg", "sommes": "pl", "êtes": None, "sont": "pl"}
#: forms whose tense and number need no context: form → (tense, number)
FIXED: dict[str, tuple[str, str | None]] = {
    "va": ("present", "sg"),
    "vont": ("present", "pl"),
    "vais": ("present", "sg"),
    "font": ("present", "pl"),
    "faites": ("present", None),
    "peut": ("present", "sg"),
    "peuvent": ("present", "pl"),
    "veut": ("present", "sg"),
    "veulent": ("present", "pl"),
    "doit": ("present", "sg"),
    "doivent": ("present", "pl"),
    "sait": ("present", "sg"),
    "savent": ("present", "pl"),
    "vient": ("present", "sg"),
    "viennent": ("present", "pl"),
    "voit": ("present", "sg"),
    "voient": ("present", "pl"),
    "disent": ("present", "pl"),
    "dites": ("present", None),
    "prend": ("present", "sg"),
    "prennent": ("present", "pl"),
    "connaît": ("present", "sg"),
    "appartient": ("present", "sg"),
    "fit": ("past", "sg"),
    "prit": ("past", "sg"),
    "mit": ("past", "sg"),
    "vit": ("past", "sg"),
    "fut": ("past", "sg"),
    "eut": ("past", "sg"),
    "fais": ("present", "sg"),
    "dis": ("present", "sg"),
}
#: participles of the verbs conjugated with être (their passé composé is a past)
ETRE_VERBS = (
    "venu", "revenu", "devenu", "parvenu", "survenu", "allé", "arrivé", "parti", "sorti",
    "entré", "rentré", "monté", "descendu", "tombé", "retourné", "resté", "mort", "né",
    "passé", "accouru",
)  # fmt: skip
NOT_PARTICIPLE = {"si", "ici", "ainsi", "aussi", "lui", "qui", "parmi", "celui", "aujourd'hui"}
NOT_VERB = {
    # nouns/adverbs that look like verb forms
    "esprit", "lit", "fruit", "fruits", "nuit", "bruit", "profit", "petit", "produit",
    "habit", "écrit", "édit", "conduit", "dépit", "répit", "récit", "maudit", "interdit",
    "subit", "tribut", "but", "salut", "début", "statut", "attribut", "saint", "point",
    "joint", "craint", "peint", "teint", "lait", "trait", "souhait", "attrait", "portrait",
    "extrait", "parfait", "bienfait", "forfait", "méfait", "jamais", "mais", "désormais",
    "palais", "marais", "frais", "mauvais", "épais", "embarras", "bras", "gras", "vrai",
    "front", "affront", "larrons", "environs", "voilà", "déjà", "là", "cela", "ça", "delà",
    "deçà", "holà", "alentour", "assez", "chez", "nez", "parents", "serpent", "serpents",
    "argent", "vent", "présent", "moment", "temps", "sang", "cependant", "pendant",
    "maintenant", "avant", "devant", "enfant", "enfants", "vivant", "vivants", "rent",
    "gens", "camp", "champ", "nations", "maisons", "sont",
}  # fmt: skip
#: stems + "r" that look like a futur but are -irer/-urer verbs (tira, admirent…)
IRER_STEMS = (
    "ti", "reti", "admi", "dési", "respi", "soupi", "atti", "déchi", "aspi", "expi", "inspi",
    "conspi", "chavi", "envi",
)  # fmt: skip
PAST_URENT = {
    "furent", "eurent", "purent", "surent", "burent", "crurent", "durent", "connurent",
    "reconnurent", "voulurent", "moururent", "parurent", "apparurent", "disparurent",
    "coururent", "accoururent", "reçurent", "aperçurent", "vécurent", "lurent", "résolurent",
    "conçurent", "accrurent", "plurent", "valurent", "élurent", "battirent",
}  # fmt: skip
FUTURE_ENDINGS = {"ai": "sg", "as": "sg", "a": "sg", "ons": "pl", "ez": None, "ont": "pl"}


# -- the lexicon ----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def default_lexicon() -> frozenset[str]:
    """French word forms that confirm a first-group passé simple in ``-a`` (``toucha`` is a
    verb because ``toucher`` or ``touchait`` is a word): the bundled ``bible-en-fr`` model's
    target vocabulary (6,000 forms from its training text); empty when it is not there."""
    from neurotui.paths import samples_dir

    path = samples_dir() / "bible-en-fr" / "vocab.tgt.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return frozenset()
    tokens = data.get("tokens", []) if isinstance(data, dict) else []
    return frozenset(str(t) for t in tokens)


# -- verb forms -----------------------------------------------------------------------------
def _future_stem(stem: str) -> bool:
    """Whether ``stem`` (the form up to and including the futur's ``r``) has the futur's
    shape: parle-r-, fini-r-, ve-rr-, vien-dr-, me-ttr-, conna-îtr-, au-r-, vi-vr-…"""
    if len(stem) < 2 or not stem.endswith("r"):
        return False
    body = stem[:-1]
    if body.endswith("é"):
        return False  # considéra, préféra: passé simple of -érer verbs
    if body.endswith("e"):
        return True
    if body.endswith(("i", "ï")):
        return not any(body == s or (len(s) > 2 and body.endswith(s)) for s in IRER_STEMS)
    if body.endswith("d"):
        return not body.startswith("engend")
    if body.endswith(("ver", "pour", "mour", "cour", "quer")):
        return True  # verra, pourra, mourra, courra, acquerra (not enterra, serra)
    if body.endswith(("tt", "ît", "au", "ev", "omp", "ainc", "clu")):
        return True
    return body.endswith("iv") and not body.endswith(("liv", "niv"))


def _future(word: str) -> str | None:
    """The number of a futur form (``"sg"``, ``"pl"``, ``""`` for vous), else None."""
    for ending, number in FUTURE_ENDINGS.items():
        if word.endswith("r" + ending) and len(word) > len(ending) + 2:
            stem = word[: -len(ending)]
            if _future_stem(stem):
                return number or ""
    return None


def _participle(word: str) -> bool:
    if word in NOT_PARTICIPLE or len(word) < 2:
        return False
    if word in ("été", "eu", "fait", "dit", "mis", "pris", "vu", "su", "pu", "dû", "mort"):
        return True
    return word.endswith(
        ("é", "ée", "és", "ées", "i", "ie", "is", "ies", "u", "ue", "us", "ues", "it", "ite",
         "its", "ert", "erte", "ts", "int", "ainte", "eint")
    )  # fmt: skip


def _passe_simple_a(word: str, lexicon: Collection[str]) -> bool:
    """First-group passé simple 3sg (``toucha``) confirmed by a form of the same verb."""
    if not word.endswith("a") or len(word) < 4 or word in NOT_VERB:
        return False
    x = word[:-1]
    stems = {x}
    if x.endswith("e") and x[-2:-1] == "g":
        stems.add(x[:-1])  # mangea → mang-er
    if x.endswith("ç"):
        stems.add(x[:-1] + "c")  # commença → commenc-er
    return any(
        s + end in lexicon
        for s in stems
        for end in ("er", "èrent", "ait", "aient", "ant", "ez", "é", "és")
    )


def verb_form(
    tokens: Sequence[str], i: int, lexicon: Collection[str], *, after_subject: bool
) -> tuple[str | None, str | None, int] | None:
    """(tense, number, tokens used) when ``tokens[i]`` is a finite verb, else None.

    ``after_subject``: the word follows a subject pronoun (and clitics), so it is a finite
    verb whatever its form; its tense then defaults to present.
    """
    w = tokens[i]
    if w in NOT_VERB and w not in ("sont",):
        return None

    def nxt(k: int = 1) -> str:
        j = i + k
        while j < len(tokens) and tokens[j] in NEG_END:
            j += 1
        return tokens[j] if j < len(tokens) else ""

    if (w in AVOIR_PRESENT or w in ETRE_PRESENT) and nxt() in UNKNOWN:
        # "ont <unk>": a passé composé or a present, nobody knows
        return None, (AVOIR_PRESENT | ETRE_PRESENT)[w], 2
    if w in AVOIR_PRESENT:
        if _participle(nxt()):
            return "past", AVOIR_PRESENT[w], 2
        return "present", AVOIR_PRESENT[w], 1
    if w in ETRE_PRESENT:
        p = nxt()
        reflexive = i > 0 and tokens[i - 1] in ("s'", "se", "me", "m'", "te", "t'")
        if _participle(p) and (reflexive or p.rstrip("es") in ETRE_VERBS or p in ETRE_VERBS):
            return "past", ETRE_PRESENT[w], 2
        return "present", ETRE_PRESENT[w], 1
    if w in FIXED:
        tense, number = FIXED[w]
        return tense, number, 1
    if w == "dit":  # "dit l'éternel" (inverted, present) vs narrative passé simple
        start = i == 0 or tokens[i - 1] in (",", ":", ";", "et")
        if start and not after_subject and i + 1 < len(tokens) and tokens[i + 1] in DETERMINERS:
            return "present", "sg", 1
        return "past", "sg", 1
    future = _future(w)
    if future is not None:
        return "future", future or None, 1
    if w.endswith("aient") and len(w) > 6:
        return (None if _future_stem(w[:-5]) else "past"), "pl", 1
    if w.endswith("ait") and len(w) > 4:
        return (None if _future_stem(w[:-3]) else "past"), "sg", 1
    if w.endswith(("ais", "ions", "iez")) and after_subject and len(w) > 4:
        stem = w[: -3 if w.endswith("ais") else 4]
        return (None if _future_stem(stem) else "past"), None, 1
    if w.endswith(("âmes", "âtes", "îmes", "îtes", "ûmes", "ûtes")) and len(w) > 5:
        return "past", None, 1  # passâmes, fîtes: passé simple 1pl/2pl
    if after_subject and w in ("pris", "mis", "fis", "vis", "fus", "eus", "vins", "tins"):
        return "past", None, 1  # je pris: passé simple 1sg
    if w.endswith("èrent") or (w.endswith("irent") and w[:-5] not in IRER_STEMS):
        return "past", "pl", 1
    if w.endswith(("inrent",)) or w in PAST_URENT:
        return "past", "pl", 1
    if w.endswith(("vint", "tint")) and not w.endswith("teint"):
        return "past", "sg", 1
    if w.endswith("ut") and len(w) > 3:
        return "past", "sg", 1
    if w.endswith("it") and len(w) > 3 and (after_subject or w.endswith(("dit", "rit", "sit"))):
        return "past", "sg", 1
    if _passe_simple_a(w, lexicon) or (after_subject and w.endswith("a") and len(w) > 2):
        return "past", "sg", 1
    if after_subject:
        if w.endswith("ent") and len(w) > 3:
            return "present", "pl", 1
        if w.endswith(("e", "es", "s", "x", "t", "d", "ons", "ez")):
            return "present", None, 1
    return None


# -- the detector -----------------------------------------------------------------------------
def find_verb(
    tokens: Sequence[str], lexicon: Collection[str] | None = None
) -> tuple[int, str | None, str | None] | None:
    """(index, tense, number) of the first finite verb of the clause, or None."""
    lex = default_lexicon() if lexicon is None else lexicon
    subject = False
    for i, w in enumerate(tokens):
        if subject and w in CLITICS:
            continue  # il ne le … : the verb is further on
        if subject and w in UNKNOWN:
            return i, None, None  # the verb is a word the model could not write
        prev = tokens[i - 1] if i > 0 else ""
        blocked = prev in NOT_BEFORE_VERB and not subject
        if not blocked:
            found = verb_form(tokens, i, lex, after_subject=subject)
            if found is not None:
                return i, found[0], found[1]
        subject = w in SUBJECTS
    return None


def detect(
    french: str | Sequence[str], lexicon: Collection[str] | None = None
) -> dict[str, str | None]:
    """Tense, number, gender and negation of a French clause (``None``: undecided)."""
    tokens = french.split() if isinstance(french, str) else list(french)
    result: dict[str, str | None] = dict.fromkeys(PROPS)
    verb = find_verb(tokens, lexicon)
    vi = verb[0] if verb is not None else len(tokens)
    if verb is not None:
        result["tense"] = verb[1]
    for i, w in enumerate(tokens):
        if i == vi and verb is not None:
            result["number"] = verb[2]
            break
        features = PRONOUN_FEATURES.get(w) or DETERMINERS.get(w)
        if features is not None:
            result["number"], result["gender"] = features
            break
    has_ne = any(t in ("ne", "n'") for t in tokens)
    has_end = any(t in NEG_END for t in tokens)
    if has_ne and has_end:
        result["negation"] = "negative"
    elif not has_ne:
        result["negation"] = "affirmative"
    return result
