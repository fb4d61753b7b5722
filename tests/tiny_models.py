"""Tiny random LSTM backends built from synthetic examples, shared by the intervention tests.

Why random weights: hook placement, removal and the experiment plumbing do not need a
trained model, and building one takes milliseconds (the trained samples are tested apart).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from neurotui.data.synthetic import Example
from neurotui.models.lm import LanguageModel, LMConfig, LSTMLMBackend
from neurotui.models.seq2seq import LSTMSeq2SeqBackend, Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab


def tiny_seq2seq(
    examples: Sequence[Example], *, seed: int = 0, dec_layers: int = 2
) -> LSTMSeq2SeqBackend:
    """A 2-layer encoder–decoder over the examples' vocabularies."""
    torch.manual_seed(seed)
    src = Vocab.build([e.src for e in examples])
    tgt = Vocab.build([e.tgt for e in examples])
    cfg = Seq2SeqConfig(
        len(src),
        len(tgt),
        emb=16,
        enc_hidden=8,
        enc_layers=2,
        dec_hidden=16,
        dec_layers=dec_layers,
        dropout=0.0,
    )
    return LSTMSeq2SeqBackend(Seq2SeqModel(cfg), src, tgt, name="tiny")


def tiny_lm(
    examples: Sequence[Example], *, seed: int = 0, emb: int = 16, hidden: int = 12, layers: int = 2
) -> LSTMLMBackend:
    """An LSTM language model over the examples' source side."""
    torch.manual_seed(seed)
    vocab = Vocab.build([e.src for e in examples])
    model = LanguageModel(LMConfig(len(vocab), emb=emb, hidden=hidden, layers=layers, dropout=0.0))
    return LSTMLMBackend(model, vocab, name="tiny-lm")
