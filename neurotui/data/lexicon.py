"""Word lists for the synthetic English→French grammar (see docs/synthetic-grammar.md).

Why a separate module: the grammar rules in ``synthetic.py`` stay readable, and the tables
here are the one place to grow or shrink the vocabulary (kept near 300 English word types so
a small LSTM learns the language in minutes). Every irregular form is spelled out; regular
ones are derived by the two plural helpers below.
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- helpers

FR_VOWELS = set("aeiouyéèêëàâîïôöûüœæ")
#: French words with a mute h: they elide like vowels (l' homme, cet hôtel).
H_MUET = {"homme", "hommes", "hôte", "hôtes", "hôtesse", "hôtesses", "hôtel", "hôtels"}


def fr_vowel(word: str) -> bool:
    """True when French elision/liaison applies before ``word`` (vowel or mute h)."""
    return bool(word) and (word[0] in FR_VOWELS or word in H_MUET)


def en_vowel(word: str) -> bool:
    """True when English uses ``an`` before ``word`` (no exceptions in this vocabulary)."""
    return bool(word) and word[0] in "aeiou"


def _en_plural(word: str) -> str:
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _fr_plural(word: str) -> str:
    if word.endswith(("s", "x", "z")):
        return word
    if word.endswith(("eau", "eu")):
        return word + "x"
    if word.endswith("al"):
        return word[:-2] + "aux"
    return word + "s"


# --------------------------------------------------------------------------- nouns


@dataclass(frozen=True)
class Noun:
    """A noun with both languages' singular and plural forms.

    ``cls`` drives selection (which verbs/prepositions take it); ``pair`` names the English
    lemma of the opposite-gender counterpart, which is what lets ``flip`` steer gender.
    """

    en: str
    fr: str
    gender: str  # "masc" | "fem" (French grammatical gender)
    cls: str  # human | animal | thing | food | place
    en_pl: str
    fr_pl: str
    pair: str | None = None


def _n(
    en: str,
    fr: str,
    gender: str,
    cls: str,
    en_pl: str | None = None,
    fr_pl: str | None = None,
    pair: str | None = None,
) -> Noun:
    return Noun(en, fr, gender, cls, en_pl or _en_plural(en), fr_pl or _fr_plural(fr), pair)


# (English masc, French masc, English fem, French fem, class, irregular plurals)
_PAIRS: list[tuple[Noun, Noun]] = [
    (_n("actor", "acteur", "masc", "human"), _n("actress", "actrice", "fem", "human")),
    (_n("waiter", "serveur", "masc", "human"), _n("waitress", "serveuse", "fem", "human")),
    (_n("king", "roi", "masc", "human"), _n("queen", "reine", "fem", "human")),
    (_n("prince", "prince", "masc", "human"), _n("princess", "princesse", "fem", "human")),
    (_n("boy", "garçon", "masc", "human"), _n("girl", "fille", "fem", "human")),
    (
        _n("man", "homme", "masc", "human", en_pl="men"),
        _n("woman", "femme", "fem", "human", en_pl="women"),
    ),
    (_n("brother", "frère", "masc", "human"), _n("sister", "sœur", "fem", "human")),
    (_n("father", "père", "masc", "human"), _n("mother", "mère", "fem", "human")),
    (_n("uncle", "oncle", "masc", "human"), _n("aunt", "tante", "fem", "human")),
    (_n("son", "fils", "masc", "human"), _n("daughter", "fille", "fem", "human")),
    (_n("host", "hôte", "masc", "human"), _n("hostess", "hôtesse", "fem", "human")),
    (_n("nephew", "neveu", "masc", "human"), _n("niece", "nièce", "fem", "human")),
    (_n("lion", "lion", "masc", "animal"), _n("lioness", "lionne", "fem", "animal")),
]

_OTHERS: list[Noun] = [
    _n("child", "enfant", "masc", "human", en_pl="children"),
    # animals
    _n("cat", "chat", "masc", "animal"),
    _n("dog", "chien", "masc", "animal"),
    _n("horse", "cheval", "masc", "animal"),
    _n("bird", "oiseau", "masc", "animal"),
    _n("mouse", "souris", "fem", "animal", en_pl="mice"),
    _n("goose", "oie", "fem", "animal", en_pl="geese"),
    _n("wolf", "loup", "masc", "animal", en_pl="wolves"),
    # food
    _n("apple", "pomme", "fem", "food"),
    _n("cake", "gâteau", "masc", "food"),
    _n("bread", "pain", "masc", "food"),
    _n("egg", "œuf", "masc", "food"),
    _n("orange", "orange", "fem", "food"),
    _n("cheese", "fromage", "masc", "food"),
    # things
    _n("book", "livre", "masc", "thing"),
    _n("car", "voiture", "fem", "thing"),
    _n("flower", "fleur", "fem", "thing"),
    _n("letter", "lettre", "fem", "thing"),
    _n("key", "clé", "fem", "thing"),
    _n("box", "boîte", "fem", "thing"),
    _n("knife", "couteau", "masc", "thing", en_pl="knives"),
    _n("newspaper", "journal", "masc", "thing"),
    _n("game", "jeu", "masc", "thing"),
    _n("boat", "bateau", "masc", "thing"),
    _n("leaf", "feuille", "fem", "thing", en_pl="leaves"),
    _n("foot", "pied", "masc", "thing", en_pl="feet"),
    _n("tooth", "dent", "fem", "thing", en_pl="teeth"),
    _n("eye", "œil", "masc", "thing", fr_pl="yeux"),
    _n("hat", "chapeau", "masc", "thing"),
    # places
    _n("garden", "jardin", "masc", "place"),
    _n("school", "école", "fem", "place"),
    _n("city", "ville", "fem", "place"),
    _n("river", "rivière", "fem", "place"),
    _n("forest", "forêt", "fem", "place"),
    _n("street", "rue", "fem", "place"),
    _n("church", "église", "fem", "place"),
    _n("hotel", "hôtel", "masc", "place"),
    _n("bridge", "pont", "masc", "place"),
    _n("park", "parc", "masc", "place"),
    _n("house", "maison", "fem", "place"),
    _n("castle", "château", "masc", "place"),
]


def _build_nouns() -> dict[str, Noun]:
    out: dict[str, Noun] = {}
    for m, f in _PAIRS:
        out[m.en] = Noun(m.en, m.fr, m.gender, m.cls, m.en_pl, m.fr_pl, f.en)
        out[f.en] = Noun(f.en, f.fr, f.gender, f.cls, f.en_pl, f.fr_pl, m.en)
    for n in _OTHERS:
        out[n.en] = n
    return out


NOUNS: dict[str, Noun] = _build_nouns()
#: Subjects are always gender-paired nouns (or pronouns) so gender can always be flipped.
SUBJECT_NOUNS: list[str] = [k for k, n in NOUNS.items() if n.pair is not None]

#: English subject pronouns → (French, number, gender). "they" is always masculine (ils):
#: English does not mark its gender, so the grammar never emits "elles".
PRONOUNS: dict[str, tuple[str, str, str]] = {
    "he": ("il", "sg", "masc"),
    "she": ("elle", "sg", "fem"),
    "they": ("ils", "pl", "masc"),
}

# --------------------------------------------------------------------------- adjectives


@dataclass(frozen=True)
class Adj:
    """An adjective: four French forms, the pre-vowel masculine form, and its placement."""

    en: str
    ms: str
    fs: str
    mp: str
    fp: str
    pre: bool  # True: before the noun in French (petit chat); False: after (chat noir)
    cls: str  # any | animate | thing
    ms_vowel: str | None = None  # bel, vieil, nouvel before a vowel-initial masc sg word
    predicative: bool = True

    def form(self, gender: str, number: str, next_word: str | None = None) -> str:
        """The French form agreeing in gender/number (``next_word`` for bel/vieil/nouvel)."""
        if gender == "masc" and number == "sg":
            if self.ms_vowel and next_word is not None and fr_vowel(next_word):
                return self.ms_vowel
            return self.ms
        return {"fsg": self.fs, "mpl": self.mp, "fpl": self.fp}[gender[0] + number]


def _reg(en: str, ms: str, pre: bool, cls: str, fs: str | None = None) -> Adj:
    fs = fs or (ms if ms.endswith("e") else ms + "e")
    return Adj(en, ms, fs, _fr_plural(ms), fs + "s", pre, cls)


ADJECTIVES: dict[str, Adj] = {
    a.en: a
    for a in [
        _reg("small", "petit", True, "any"),
        _reg("big", "grand", True, "any"),
        Adj("beautiful", "beau", "belle", "beaux", "belles", True, "any", "bel"),
        Adj("old", "vieux", "vieille", "vieux", "vieilles", True, "any", "vieil"),
        Adj("new", "nouveau", "nouvelle", "nouveaux", "nouvelles", True, "any", "nouvel"),
        _reg("young", "jeune", True, "animate"),
        _reg("good", "bon", True, "any", fs="bonne"),
        _reg("pretty", "joli", True, "any"),
        _reg("red", "rouge", False, "thing"),
        _reg("black", "noir", False, "thing"),
        Adj("white", "blanc", "blanche", "blancs", "blanches", False, "thing"),
        _reg("green", "vert", False, "thing"),
        _reg("happy", "content", False, "animate"),
        _reg("sad", "triste", False, "animate"),
        _reg("tired", "fatigué", False, "animate"),
        _reg("angry", "fâché", False, "animate"),
        _reg("clever", "intelligent", False, "animate"),
        _reg("kind", "gentil", False, "animate", fs="gentille"),
        Adj("lazy", "paresseux", "paresseuse", "paresseux", "paresseuses", False, "animate"),
        Adj("proud", "fier", "fière", "fiers", "fières", False, "animate"),
        _reg("famous", "célèbre", False, "animate"),
    ]
}

# --------------------------------------------------------------------------- verbs


@dataclass(frozen=True)
class Verb:
    """A verb: English base/3sg/past, French present 3sg/3pl, future stem, participle."""

    en: str
    en_3sg: str
    en_past: str
    pres_sg: str
    pres_pl: str
    fut_stem: str  # futur simple = stem + a / ont
    participle: str
    aux: str  # "avoir" | "etre" (passé composé auxiliary)
    kind: str  # "trans" | "intrans"
    objects: tuple[str, ...] = ()  # noun classes allowed as direct object

    @property
    def fut_sg(self) -> str:
        return self.fut_stem + "a"

    @property
    def fut_pl(self) -> str:
        return self.fut_stem + "ont"


_ANY_OBJ = ("human", "animal", "thing", "food")
_ALL = ("human", "animal", "thing", "food", "place")

VERBS: dict[str, Verb] = {
    v.en: v
    for v in [
        # transitive, passé composé with avoir
        Verb("see", "sees", "saw", "voit", "voient", "verr", "vu", "avoir", "trans", _ALL),
        Verb("like", "likes", "liked", "aime", "aiment", "aimer", "aimé", "avoir", "trans", _ALL),
        Verb("find", "finds", "found", "trouve", "trouvent", "trouver", "trouvé", "avoir", "trans", _ALL),
        Verb("take", "takes", "took", "prend", "prennent", "prendr", "pris", "avoir", "trans", ("animal", "thing", "food")),
        Verb("want", "wants", "wanted", "veut", "veulent", "voudr", "voulu", "avoir", "trans", ("animal", "thing", "food")),
        Verb("eat", "eats", "ate", "mange", "mangent", "manger", "mangé", "avoir", "trans", ("food",)),
        Verb("hear", "hears", "heard", "entend", "entendent", "entendr", "entendu", "avoir", "trans", ("human", "animal")),
        Verb("follow", "follows", "followed", "suit", "suivent", "suivr", "suivi", "avoir", "trans", ("human", "animal")),
        Verb("help", "helps", "helped", "aide", "aident", "aider", "aidé", "avoir", "trans", ("human", "animal")),
        Verb("call", "calls", "called", "appelle", "appellent", "appeller", "appelé", "avoir", "trans", ("human", "animal")),
        Verb("buy", "buys", "bought", "achète", "achètent", "achèter", "acheté", "avoir", "trans", ("animal", "thing", "food", "place")),
        Verb("watch", "watches", "watched", "regarde", "regardent", "regarder", "regardé", "avoir", "trans", _ALL),
        Verb("draw", "draws", "drew", "dessine", "dessinent", "dessiner", "dessiné", "avoir", "trans", _ALL),
        Verb("know", "knows", "knew", "connaît", "connaissent", "connaîtr", "connu", "avoir", "trans", ("human", "animal", "place")),
        # intransitive with avoir
        Verb("sleep", "sleeps", "slept", "dort", "dorment", "dormir", "dormi", "avoir", "intrans"),
        Verb("sing", "sings", "sang", "chante", "chantent", "chanter", "chanté", "avoir", "intrans"),
        Verb("dance", "dances", "danced", "danse", "dansent", "danser", "dansé", "avoir", "intrans"),
        Verb("laugh", "laughs", "laughed", "rit", "rient", "rir", "ri", "avoir", "intrans"),
        Verb("work", "works", "worked", "travaille", "travaillent", "travailler", "travaillé", "avoir", "intrans"),
        Verb("run", "runs", "ran", "court", "courent", "courr", "couru", "avoir", "intrans"),
        Verb("wait", "waits", "waited", "attend", "attendent", "attendr", "attendu", "avoir", "intrans"),
        # intransitive with être (participle agrees with the subject)
        Verb("arrive", "arrives", "arrived", "arrive", "arrivent", "arriver", "arrivé", "etre", "intrans"),
        Verb("leave", "leaves", "left", "part", "partent", "partir", "parti", "etre", "intrans"),
        Verb("come", "comes", "came", "vient", "viennent", "viendr", "venu", "etre", "intrans"),
        Verb("go", "goes", "went", "va", "vont", "ir", "allé", "etre", "intrans"),
        Verb("fall", "falls", "fell", "tombe", "tombent", "tomber", "tombé", "etre", "intrans"),
        Verb("return", "returns", "returned", "revient", "reviennent", "reviendr", "revenu", "etre", "intrans"),
    ]
}  # fmt: skip

TRANSITIVE = [k for k, v in VERBS.items() if v.kind == "trans"]
INTRANSITIVE = [k for k, v in VERBS.items() if v.kind == "intrans"]

# French auxiliaries and copula, by tense and number
AVOIR = {"sg": "a", "pl": "ont"}
ETRE_PRESENT = {"sg": "est", "pl": "sont"}
ETRE_IMPARFAIT = {"sg": "était", "pl": "étaient"}
ETRE_FUTURE = {"sg": "sera", "pl": "seront"}

# --------------------------------------------------------------------------- other words

#: determiner keys (number-independent, so flipping number keeps the determiner's meaning)
DETERMINERS = ["the", "indef", "dem", "my", "his", "her", "their", "your"]

#: English preposition → (French preposition, noun classes of its object)
PREPOSITIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "in": ("dans", ("place",)),
    "near": ("près", ("place", "thing", "animal")),  # "près de" (+ du/des contraction)
    "behind": ("derrière", ("place", "thing", "animal", "human")),
    "with": ("avec", ("human", "animal")),
}

#: sentence-final adverbs, neutral to tense → French tokens
ADVERBS: dict[str, tuple[str, ...]] = {
    "here": ("ici",),
    "there": ("là-bas",),
    "quickly": ("vite",),
    "slowly": ("lentement",),
    "today": ("aujourd'hui",),
    "again": ("de", "nouveau"),
    "together": ("ensemble",),
}
