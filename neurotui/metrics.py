"""Translation and language-model scores in one place.

Why shared: the model cards, ``neurotui score``, the trainer and the ablation curves must
report the same numbers computed the same way. BLEU and chrF are sacrebleu's corpus
scores (default settings: 13a tokenisation, chrF with β = 2, character n-grams up to 6)
on the whitespace-joined words; exact match compares word sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from neurotui.errors import DataError


def _check(hyps: Sequence[str], refs: Sequence[str]) -> None:
    if len(hyps) != len(refs):
        raise DataError(f"{len(hyps)} hypotheses but {len(refs)} references")


def exact_match(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Share of hypotheses whose words equal the reference's (whitespace-insensitive)."""
    _check(hyps, refs)
    if not hyps:
        return float("nan")
    return sum(h.split() == r.split() for h, r in zip(hyps, refs, strict=True)) / len(hyps)


def bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU (0–100), sacrebleu defaults."""
    import sacrebleu

    _check(hyps, refs)
    # force: our text is pre-tokenised on purpose (silences sacrebleu's warning)
    return float(sacrebleu.BLEU(force=True).corpus_score(list(hyps), [list(refs)]).score)


def chrf(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus chrF (0–100), sacrebleu defaults."""
    import sacrebleu

    _check(hyps, refs)
    return float(sacrebleu.corpus_chrf(list(hyps), [list(refs)]).score)


def perplexity(nll_sum: float, tokens: int) -> float:
    """``exp(total negative log-likelihood / tokens)``."""
    return math.exp(nll_sum / tokens) if tokens else float("nan")


def translation_scores(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, Any]:
    """``{"bleu", "chrf", "exact_match", "sentences"}`` rounded for display and cards."""
    return {
        "bleu": round(bleu(hyps, refs), 2),
        "chrf": round(chrf(hyps, refs), 2),
        "exact_match": round(exact_match(hyps, refs), 4),
        "sentences": len(hyps),
    }
