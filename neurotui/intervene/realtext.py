"""Control experiments on real text: cases and probe labels from English POS tags.

Why: the synthetic grammar knows each sentence's tense and number and can write the
flipped translation; real text cannot. For a real-text model whose card ships POS-tagged
dev/test sets (``bible-en-fr``: ``data/{dev,test,analysis}.{en,fr,pos}``):

* the **property of a source sentence** comes from its Penn tags (:func:`english_property`):
  tense from the first finite verb group (VBD, or have/has + VBN → past; VBZ/VBP →
  present; will/shall/'ll → future; other modals → no case), number from the first noun
  (NN/NNP → sg, NNS/NNPS → pl) or personal pronoun (he/she/it/i/him/me → sg,
  they/them/we/us → pl; "you" is skipped); the **positions** to clamp are that verb group
  or that noun phrase (with its determiners/adjectives).
* **gender is not supported** on real text: English marks no grammatical gender on the
  nouns whose French gender the detector reads (his garment → son vêtement), so there is
  no honest source-side label; the command says so in one line.
* the **output property** is read by the French rules of :mod:`neurotui.data.french`
  (detector ``french-rules``).
* there is no flipped reference, so ``expected`` is the **reference translation** (which
  has the *original* property): ``bleu_untouched`` is BLEU against the reference
  (``bleu_against = "reference"``) and a perfect flip costs the changed words. The best
  point therefore needs BLEU ≥ ``MIN_BLEU_RATIO`` × the unclamped dev BLEU rather than ≥
  the unclamped BLEU itself (the synthetic rule, where a flip raises BLEU).
* the **probe labels** (tense, number) are derived the same way from the store's ``pos``
  labels: the property's positions carry the class, every other token ``none``
  (:class:`LabelledStore` adds them to the store at run time; nothing is written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import DataError, NeurotuiError
from neurotui.intervene.control import ControlCase

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend
    from neurotui.store.api import Store

REALTEXT_PROPS = ("tense", "number")
DETECTOR = "french-rules"
BLEU_AGAINST = "reference"
#: the chosen point may lose at most this share of the unclamped dev BLEU (see docstring)
MIN_BLEU_RATIO = 0.9

FINITE = {"VBD", "VBZ", "VBP"}
HAVE = {"have", "has", "had", "'ve", "'d", "hath", "hast"}
FUTURE_MODALS = {"will", "shall", "'ll", "wo", "sha", "wilt", "shalt"}
SG_PRON = {"he", "she", "it", "i", "him", "me"}
PL_PRON = {"they", "them", "we", "us"}
NP_MODIFIERS = {"DT", "PDT", "PRP$", "JJ", "JJR", "JJS", "CD"}
VERB_TAIL = {"VB", "VBN", "VBG"}


# -- reading tagged text ------------------------------------------------------------------
def read_tagged(src: str | Path, pos: str | Path) -> list[tuple[list[str], list[str]]]:
    """(tokens, tags) per line of ``src`` and its tag file; one-line errors on misfits."""
    from neurotui.textfiles import read_lines

    lines, tag_lines = read_lines(src), read_lines(pos)
    if len(lines) != len(tag_lines):
        raise DataError(f"{pos}: {len(tag_lines)} lines of tags for {len(lines)} lines in {src}")
    out = []
    for n, (line, tags) in enumerate(zip(lines, tag_lines, strict=True), 1):
        toks, tg = line.split(), tags.split()
        if len(toks) != len(tg):
            raise DataError(f"{pos}:{n}: {len(tg)} tags for {len(toks)} tokens of {src}:{n}")
        out.append((toks, tg))
    return out


def _verb_group(tokens: Sequence[str], tags: Sequence[str], i: int) -> list[int]:
    """``i`` and the verbs that follow it, across adverbs ("will not be saved" → will, be, saved)."""
    group, j = [i], i + 1
    while j < len(tags) and (tags[j] in VERB_TAIL or tags[j] == "RB"):
        if tags[j] in VERB_TAIL:
            group.append(j)
        j += 1
    return group


def english_tense(tokens: Sequence[str], tags: Sequence[str]) -> tuple[str, list[int]] | None:
    """Tense of the first finite verb group and its positions (None: no finite verb, or a
    modal other than will/shall)."""
    for i, (w, t) in enumerate(zip(tokens, tags, strict=True)):
        if t == "MD":
            if w not in FUTURE_MODALS:
                return None
            return "future", _verb_group(tokens, tags, i)
        if t in FINITE:
            group = _verb_group(tokens, tags, i)
            perfect = w in HAVE and any(tags[j] == "VBN" for j in group[1:])
            if t == "VBD" or perfect:
                return "past", group
            return "present", group
    return None


def english_number(tokens: Sequence[str], tags: Sequence[str]) -> tuple[str, list[int]] | None:
    """Number of the first noun or personal pronoun and its noun phrase's positions."""
    for i, (w, t) in enumerate(zip(tokens, tags, strict=True)):
        value = None
        if t in ("NN", "NNP"):
            value = "sg"
        elif t in ("NNS", "NNPS"):
            value = "pl"
        elif t == "PRP" and w in SG_PRON:
            value = "sg"
        elif t == "PRP" and w in PL_PRON:
            value = "pl"
        if value is None:
            continue
        start = i
        while start > 0 and tags[start - 1] in NP_MODIFIERS and t != "PRP":
            start -= 1
        return value, list(range(start, i + 1))
    return None


def english_property(
    tokens: Sequence[str], tags: Sequence[str], prop: str
) -> tuple[str, list[int]] | None:
    """(class, positions) of ``prop`` in a tagged English sentence, or None."""
    check_realtext_prop(prop)
    return english_tense(tokens, tags) if prop == "tense" else english_number(tokens, tags)


def check_realtext_prop(prop: str) -> None:
    if prop == "gender":
        raise NeurotuiError(
            "--task gender: not supported on real text (English tags carry no French "
            "grammatical gender); use tense or number, or a synthetic model"
        )
    if prop not in REALTEXT_PROPS:
        raise NeurotuiError(f"--task: {prop!r} is not one of {', '.join(REALTEXT_PROPS)}")


def realtext_cases(
    tagged: Sequence[tuple[list[str], list[str]]],
    refs: Sequence[str],
    prop: str,
    target: str,
) -> list[ControlCase]:
    """Cases for the sentences whose tagged ``prop`` is known and differs from ``target``;
    ``expected`` is the reference translation (see the module docstring)."""
    from neurotui.intervene.control import check_target

    check_realtext_prop(prop)
    check_target(prop, target)
    if len(refs) != len(tagged):
        raise DataError(f"{len(refs)} reference lines for {len(tagged)} source lines")
    cases = []
    for (toks, tags), ref in zip(tagged, refs, strict=True):
        found = english_property(toks, tags, prop)
        if found is None or found[0] == target:
            continue
        cases.append(ControlCase(" ".join(toks), ref, found[1], found[0]))
    return cases


# -- probe labels -------------------------------------------------------------------------
def derived_labels(store: Store, prop: str, pos_task: str = "pos") -> list[list[str]]:
    """Per-token ``prop`` labels from the store's POS labels: the class at the positions
    :func:`english_property` picks, ``none`` elsewhere."""
    if pos_task not in store.label_tasks:
        raise NeurotuiError(
            f"{store.path}: no {pos_task!r} labels to derive {prop} labels from "
            f"(tasks: {', '.join(store.label_tasks) or 'none'})"
        )
    rows = []
    for i, tags in enumerate(store.labels(pos_task)):
        toks = store.tokens(i)
        labels = ["none"] * len(toks)
        if len(tags) != len(toks):
            raise DataError(
                f"{store.path}: sentence {i} has {len(tags)} POS labels for {len(toks)} tokens"
            )
        found = english_property(toks, tags, prop)
        if found is not None:
            for j in found[1]:
                labels[j] = found[0]
        rows.append(labels)
    return rows


class LabelledStore:
    """A store with extra label tasks computed at run time (everything else delegated)."""

    def __init__(self, store: Store, extra: dict[str, list[list[str]]]):
        self._store = store
        self._extra = extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @property
    def label_tasks(self) -> list[str]:
        return [
            *self._store.label_tasks,
            *(t for t in self._extra if t not in self._store.label_tasks),
        ]

    def labels(self, task: str) -> list[list[str]]:
        if task in self._extra:
            return self._extra[task]
        return self._store.labels(task)

    def close(self) -> None:
        self._store.close()


# -- the model's tagged sets ------------------------------------------------------------------
@dataclass
class RealText:
    """A real-text model's tagged dev and test sets (card files ``dev.en/.pos/.fr``…)."""

    files: dict[str, Path]

    def tagged(self, split: str) -> list[tuple[list[str], list[str]]]:
        return read_tagged(self.files[f"{split}.en"], self.files[f"{split}.pos"])

    def cases(self, split: str, prop: str, target: str) -> list[ControlCase]:
        from neurotui.textfiles import read_lines

        refs = read_lines(self.files[f"{split}.fr"])
        return realtext_cases(self.tagged(split), refs, prop, target)

    def wrap(self, store: Store) -> LabelledStore:
        """``store`` with tense and number labels derived from its POS labels."""
        extra = {p: derived_labels(store, p) for p in REALTEXT_PROPS if p not in store.label_tasks}
        return LabelledStore(store, extra)

    @staticmethod
    def request_fields() -> dict[str, Any]:
        """The ControlRequest fields that differ from the synthetic defaults."""
        return {
            "detector": DETECTOR,
            "bleu_against": BLEU_AGAINST,
            "min_bleu_ratio": MIN_BLEU_RATIO,
        }


def realtext_data(backend: Backend) -> RealText | None:
    """The tagged dev/test sets a model's card lists, or None (a synthetic-grammar model)."""
    return realtext_at(getattr(backend, "path", None))


def realtext_at(path: str | Path | None) -> RealText | None:
    """:func:`realtext_data` of the model folder ``path`` (no backend needs loading)."""
    from neurotui.models.registry import read_card

    if not path:
        return None
    card = read_card(Path(path))
    files = (card or {}).get("data", {}).get("files", {}) if isinstance(card, dict) else {}
    if not isinstance(files, dict):
        return None
    need = [f"{s}.{e}" for s in ("dev", "test") for e in ("en", "pos", "fr")]
    if not all(isinstance(files.get(k), str) for k in need):
        return None
    return RealText({k: Path(path) / files[k] for k in need})
