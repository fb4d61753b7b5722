"""Corpus statistics of one neuron: top words, top/bottom contexts, context samples.

Why: a ranking says *which* neurons; these say *what* a neuron responds to (the paper's
Table 3 and the survey's "concept search"). Top words follow NeuroX's
``get_top_words`` — mean |z-score| per word type, divided by the best type's, types under
0.1 dropped — and a signed variant keeps the direction and the word's frequency, because
a rare word with one extreme value and a frequent word that always fires look the same
under NeuroX's score. Contexts come from the store's stored top/bottom examples when it
has them; the samples (random, and stratified by value quantile) show the typical
behaviour rather than only the extremes.

:class:`CorpusIndex` maps every corpus token to a word id once, so repeated queries (the
app browsing neurons) cost one pass over one neuron's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from neurotui.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

NEUROX_MIN_SCORE = 0.1


@dataclass(frozen=True)
class WordScore:
    """A word type's score for a neuron (``count`` = occurrences in the corpus)."""

    word: str
    score: float
    count: int


@dataclass(frozen=True)
class Context:
    """A token occurrence with a window of words around it."""

    sentence: int
    position: int
    value: float
    left: tuple[str, ...]
    word: str
    right: tuple[str, ...]

    def text(self, marker: str = "[[{}]]") -> str:
        """``left [[word]] right`` (the marker is plain text; tokens are data)."""
        return " ".join([*self.left, marker.format(self.word), *self.right])


class CorpusIndex:
    """Word ids of every corpus token of ``store`` (built once, reused per neuron)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        vocab: dict[str, int] = {}
        ids = np.empty(store.total_tokens, dtype=np.int32)
        row = 0
        if hasattr(store, "all_tokens"):
            self._tokens: list[list[str]] = list(store.all_tokens())
        else:
            self._tokens = [store.tokens(i) for i in range(store.sentences)]
        for toks in self._tokens:
            for t in toks:
                ids[row] = vocab.setdefault(t, len(vocab))
                row += 1
        self.vocab = list(vocab)
        self.ids = ids
        self.counts = np.bincount(ids, minlength=len(vocab))
        self.offsets = np.concatenate([[0], np.cumsum([len(t) for t in self._tokens])]).astype(
            np.int64
        )

    def tokens(self, i: int) -> list[str]:
        """Tokens of sentence ``i`` (cached)."""
        return self._tokens[i]

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Corpus rows → (sentence, position)."""
        rows = np.asarray(rows, dtype=np.int64)
        sent = np.searchsorted(self.offsets, rows, side="right") - 1
        return sent, rows - self.offsets[sent]

    # -- word scores -------------------------------------------------------------------
    def _z(self, neuron: int | str) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(self.store.neuron_values(neuron), dtype=np.float64)
        ok = np.isfinite(values)
        if not ok.any():
            raise DataError(f"neuron {neuron}: no finite activations")
        mean = values[ok].mean()
        std = values[ok].std()
        if not std > 0:
            raise DataError(f"neuron {neuron} is constant (dead): it has no top words")
        z = np.where(ok, (values - mean) / std, 0.0)
        return z, ok

    def top_words(self, neuron: int | str, k: int = 10) -> list[WordScore]:
        """NeuroX's top words: mean |z| per type, normalised by the max, scores > 0.1."""
        z, ok = self._z(neuron)
        sums = np.bincount(self.ids[ok], weights=np.abs(z[ok]), minlength=len(self.vocab))
        counts = np.bincount(self.ids[ok], minlength=len(self.vocab))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        top = mean.max()
        score = mean / top if top > 0 else mean
        order = np.lexsort((np.arange(score.size), -score))
        out = [
            WordScore(self.vocab[i], float(score[i]), int(counts[i]))
            for i in order
            if score[i] > NEUROX_MIN_SCORE and counts[i] > 0
        ]
        return out[:k] if k > 0 else out

    def signed_words(
        self, neuron: int | str, k: int = 10, *, bottom: bool = False, min_count: int = 1
    ) -> list[WordScore]:
        """Mean z per word type with its frequency; highest first (``bottom``: lowest)."""
        z, ok = self._z(neuron)
        sums = np.bincount(self.ids[ok], weights=z[ok], minlength=len(self.vocab))
        counts = np.bincount(self.ids[ok], minlength=len(self.vocab))
        mean = sums / np.maximum(counts, 1)
        eligible = counts >= max(1, min_count)
        key = np.where(eligible, mean if bottom else -mean, np.inf)
        order = np.lexsort((np.arange(key.size), key))
        out = [
            WordScore(self.vocab[i], float(mean[i]), int(counts[i])) for i in order if eligible[i]
        ]
        return out[:k]

    # -- contexts ----------------------------------------------------------------------
    def context(self, sentence: int, position: int, value: float, window: int = 5) -> Context:
        """The occurrence with up to ``window`` words on each side."""
        toks = self._tokens[sentence]
        return Context(
            sentence=int(sentence),
            position=int(position),
            value=float(value),
            left=tuple(toks[max(0, position - window) : position]),
            word=toks[position],
            right=tuple(toks[position + 1 : position + 1 + window]),
        )

    def extreme_contexts(
        self, neuron: int | str, k: int = 10, *, bottom: bool = False, window: int = 5
    ) -> list[Context]:
        """Top (or bottom) ``k`` activating occurrences in context.

        An exemplar store answers from the neuron's own windows (its contexts need not lie
        in the stored sentences): ``sentence`` is then the corpus sentence id and the
        window at most the ±W tokens kept at extraction.
        """
        from neurotui.store.exemplar import exemplar_contexts, layout_version

        if layout_version(self.store) >= 2:
            return [
                Context(
                    sentence=w.corpus_sentence,
                    position=w.position,
                    value=w.value,
                    left=tuple(w.tokens[max(0, w.at - window) : w.at]),
                    word=w.tokens[w.at],
                    right=tuple(w.tokens[w.at + 1 : w.at + 1 + window]),
                )
                for w in exemplar_contexts(self.store, neuron, k, bottom=bottom)
            ]
        examples = self.store.top_examples(neuron, k, bottom=bottom)
        return [self.context(e.sentence, e.position, e.value, window) for e in examples]

    def random_contexts(
        self, neuron: int | str, k: int = 10, *, seed: int = 0, window: int = 5
    ) -> list[Context]:
        """``k`` occurrences drawn uniformly (seeded), in corpus order."""
        values = self.store.neuron_values(neuron)
        rows = np.flatnonzero(np.isfinite(values))
        if rows.size == 0:
            return []
        pick = np.sort(
            np.random.default_rng(seed).choice(rows, size=min(k, rows.size), replace=False)
        )
        sent, pos = self.locate(pick)
        return [
            self.context(s, p, values[r], window) for s, p, r in zip(sent, pos, pick, strict=True)
        ]

    def quantile_contexts(
        self,
        neuron: int | str,
        bins: int = 5,
        per_bin: int = 3,
        *,
        seed: int = 0,
        window: int = 5,
    ) -> list[tuple[tuple[float, float], list[Context]]]:
        """Per value-quantile bin (lowest first): its value range and a few sampled contexts."""
        values = self.store.neuron_values(neuron)
        rows = np.flatnonzero(np.isfinite(values))
        if rows.size == 0:
            return []
        v = values[rows]
        edges = np.quantile(v, np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, bins - 1)
        rng = np.random.default_rng(seed)
        out: list[tuple[tuple[float, float], list[Context]]] = []
        for b in range(bins):
            members = rows[which == b]
            if members.size == 0:
                out.append(((float(edges[b]), float(edges[b + 1])), []))
                continue
            pick = np.sort(rng.choice(members, size=min(per_bin, members.size), replace=False))
            sent, pos = self.locate(pick)
            ctx = [
                self.context(s, p, values[r], window)
                for s, p, r in zip(sent, pos, pick, strict=True)
            ]
            out.append(((float(edges[b]), float(edges[b + 1])), ctx))
        return out
