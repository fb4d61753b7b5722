"""The project's LSTM language model, and its Backend.

Architecture: word embeddings → ``layers`` unidirectional LSTM layers (each its own
``nn.LSTM`` + site ``lm.l{i}``) → linear output layer. Input ``<s> w1 … wn``, targets
``w1 … wn </s>``. Row ``t`` of a site is the state *after consuming* word ``t`` (the state
that predicts word ``t + 1``), the NeuroX convention for language models.

``translate`` continues each sentence (greedy, or beam search over continuations):
``Translation.tokens``/``text`` are the generated continuation, ``extra["full"]`` the
sentence with its continuation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotui.errors import Cancelled, CheckpointError
from neurotui.models.base import Aggregation, Backend, SiteInfo, Translation
from neurotui.models.decoding import beam_search, greedy
from neurotui.models.lstm import ContextParts, TapBackend, UniLSTMLayer
from neurotui.models.seq2seq import config_fields, mask_specials, pad_batch
from neurotui.models.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab

KIND = "lstm-lm"


@dataclass(frozen=True)
class LMConfig:
    vocab: int
    emb: int = 128
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.2

    def to_json(self) -> dict[str, Any]:
        return {"neurotui_format": 1, "kind": KIND, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "config.json") -> LMConfig:
        return cls(**config_fields(cls, data, path))


class LanguageModel(nn.Module):
    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab, cfg.emb, padding_idx=PAD_ID)
        self.layers = nn.ModuleList(
            UniLSTMLayer(cfg.emb if i == 0 else cfg.hidden, cfg.hidden, f"lm.l{i}")
            for i in range(cfg.layers)
        )
        self.out = nn.Linear(cfg.hidden, cfg.vocab)
        self.drop = nn.Dropout(cfg.dropout)

    def run(
        self,
        ids: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """``ids (B, T)`` → logits ``(B, T, V)`` and each layer's final ``(h, c)``."""
        x = self.drop(self.emb(ids))
        finals = []
        for i, layer in enumerate(self.layers):
            out, final = layer(x, lengths, None if state is None else state[i])
            finals.append(final)
            x = self.drop(out)
        return self.out(x), finals

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(ids, lengths)[0]


def lm_context(words: list[list[str]], total: int, offset: list[int] | None = None) -> ContextParts:
    """Input position ``t`` consumed word ``t - 1`` (``<s>`` at 0 and padding: ``None``)."""
    index: list[list[int | None]] = []
    for b, ws in enumerate(words):
        base = 0 if offset is None else offset[b]
        index.append([base + t - 1 if 0 < base + t <= len(ws) else None for t in range(total)])
    return index, words, None


class LSTMLMBackend(TapBackend, Backend):
    """Backend for :class:`LanguageModel` checkpoints (kind ``lstm-lm``)."""

    model: LanguageModel

    kind = "lm"

    def __init__(
        self,
        model: LanguageModel,
        vocab: Vocab,
        *,
        name: str = "lstm-lm",
        device: torch.device | str = "cpu",
        path: Path | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.vocab = vocab
        self.name, self.path = name, path
        self.config = model.cfg
        self.card: dict[str, Any] | None = None
        self._init_taps(lambda site: "lm")

    def sites(self) -> list[SiteInfo]:
        return [
            SiteInfo(
                f"lm.l{i}", self.config.hidden, "encoder", i, None, f"language model layer {i} LSTM"
            )
            for i in range(self.config.layers)
        ]

    def _inputs(
        self, sentences: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        words = [s.split() for s in sentences]
        ids, lengths = pad_batch([[BOS_ID, *self.vocab.ids(w)] for w in words], self.device)
        return ids, lengths, words

    @torch.inference_mode()
    def encode(
        self,
        sentences: Sequence[str],
        sites: Sequence[str] | None = None,
        *,
        targets: Sequence[str] | None = None,
        aggregation: Aggregation = "mean",
        batch_size: int = 32,
    ) -> list[dict[str, np.ndarray]]:
        names = [s.name for s in self.sites()] if sites is None else list(sites)
        for name in names:
            self.site(name)
        out: list[dict[str, np.ndarray]] = []
        for start in range(0, len(sentences), max(1, batch_size)):
            ids, lengths, words = self._inputs(sentences[start : start + batch_size])
            with (
                self._capture(names) as rec,
                self._context("lm", partial(lm_context, words, ids.size(1))),
            ):
                self.model.run(ids, lengths)
            for b, ws in enumerate(words):
                out.append({n: rec[n][0][b, 1 : len(ws) + 1].float().cpu().numpy() for n in names})
        return out

    @torch.inference_mode()
    def sentence_nll(self, sentences: Sequence[str], *, batch_size: int = 64) -> tuple[float, int]:
        """Summed negative log-likelihood (``</s>`` included) and the token count."""
        total, count = 0.0, 0
        for start in range(0, len(sentences), max(1, batch_size)):
            words = [s.split() for s in sentences[start : start + batch_size]]
            seqs = [[BOS_ID, *self.vocab.ids(w), EOS_ID] for w in words]
            full, lengths = pad_batch(seqs, self.device)
            inp, gold = full[:, :-1], full[:, 1:]
            with self._context("lm", partial(lm_context, words, inp.size(1))):
                logits = self.model(inp, lengths - 1)
            logp = torch.log_softmax(mask_specials(logits.float()), dim=-1)
            picked = logp.gather(2, gold.unsqueeze(2)).squeeze(2)
            mask = gold != PAD_ID
            total -= float(picked[mask].sum())
            count += int(mask.sum())
        return total, count

    def target_scores(
        self, sources: Sequence[str], targets: Sequence[str], *, grad: bool = False
    ) -> torch.Tensor:
        """log p(continuation words | prompt); the rows' words are prompt + continuation."""
        prompts = [s.split() for s in sources]
        words = [p + t.split() for p, t in zip(prompts, targets, strict=True)]
        full, lengths = pad_batch([[BOS_ID, *self.vocab.ids(w)] for w in words], self.device)
        inp, gold = full[:, :-1], full[:, 1:]
        keep = torch.zeros_like(gold, dtype=torch.bool)
        for b, (p, w) in enumerate(zip(prompts, words, strict=True)):
            keep[b, len(p) : len(w)] = True
        with torch.enable_grad() if grad else torch.inference_mode():
            with self._context("lm", partial(lm_context, words, inp.size(1))):
                logits = self.model(inp, (lengths - 1).clamp(min=1))
            logp = torch.log_softmax(mask_specials(logits.float()), dim=-1)
            picked = logp.gather(2, gold.unsqueeze(2)).squeeze(2)
            return picked.masked_fill(~keep, 0.0).sum(dim=1)

    def perplexity(self, sentences: Sequence[str], *, batch_size: int = 64) -> float:
        total, count = self.sentence_nll(sentences, batch_size=batch_size)
        return math.exp(total / count) if count else float("nan")

    @torch.inference_mode()
    def translate(
        self,
        sentences: Sequence[str],
        *,
        beam: int = 1,
        max_len: int | None = None,
        batch_size: int = 64,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Translation]:
        """Continue each sentence until ``</s>`` or ``max_len`` (default 20) new words."""
        results: list[Translation] = []
        for start in range(0, len(sentences), max(1, batch_size)):
            if should_stop is not None and should_stop():
                raise Cancelled()
            batch = list(sentences[start : start + batch_size])
            ids, lengths, words = self._inputs(batch)
            with self._context("lm", partial(lm_context, words, ids.size(1))):
                logits, finals = self.model.run(ids, lengths)
            rows = torch.arange(len(batch), device=self.device)
            pending = torch.log_softmax(
                mask_specials(logits[rows, lengths.to(self.device) - 1].float()), dim=-1
            )
            # decoding states are batch-first so beams can select rows
            layers = [(h.transpose(0, 1), c.transpose(0, 1)) for h, c in finals]
            state = {"layers": layers, "pending": pending}
            stepper = _LMStepper(self, words)
            first = torch.full((len(batch),), BOS_ID, dtype=torch.long, device=self.device)
            max_lens = [max_len or 20] * len(batch)
            if beam > 1:
                hyps = beam_search(
                    stepper, state, first, max_lens, EOS_ID, beam, should_stop=should_stop
                )
            else:
                hyps = greedy(stepper, state, first, max_lens, EOS_ID, should_stop)
            for sentence, ws, hyp in zip(batch, words, hyps, strict=True):
                tokens = self.vocab.words(hyp.tokens)
                results.append(
                    Translation(
                        source=sentence,
                        text=" ".join(tokens),
                        tokens=tokens,
                        logprob=float(hyp.logprob),
                        extra={"full": " ".join([*ws, *tokens]), "finished": hyp.finished},
                    )
                )
        return results


class _LMStepper:
    """Step 0 returns the prediction already computed from the prompt; later steps feed
    back the generated word."""

    def __init__(self, backend: LSTMLMBackend, prompts: list[list[str]]) -> None:
        self.backend = backend
        self.prompts = prompts

    def step(
        self, tokens: torch.Tensor, state: Any, step: int, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        if step == 0:
            return state["pending"], {"layers": state["layers"]}
        backend = self.backend

        def build() -> ContextParts:
            # which prompt each row continues is not tracked through beams/compaction, so
            # words are the generated continuation; index = the word just consumed
            words = [backend.vocab.words(row) for row in history.tolist()]
            return [[len(w) - 1] for w in words], words, step

        with backend._context("lm", build):
            layers = [
                (h.transpose(0, 1).contiguous(), c.transpose(0, 1).contiguous())
                for h, c in state["layers"]
            ]
            logits, finals = backend.model.run(tokens.unsqueeze(1), None, layers)
        finals = [(h.transpose(0, 1), c.transpose(0, 1)) for h, c in finals]
        return torch.log_softmax(mask_specials(logits[:, 0].float()), dim=-1), {"layers": finals}


def build_backend(
    config: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    vocabs: dict[str, Vocab],
    *,
    config_path: Path,
    weights_path: Path,
    name: str,
    device: torch.device,
    path: Path | None,
) -> LSTMLMBackend:
    from neurotui.models.weights import build_model

    vocab = vocabs["vocab.json"]
    if "vocab" in config and config["vocab"] != len(vocab):
        raise CheckpointError(
            f"{config_path}: vocab is {config['vocab']} but vocab.json has {len(vocab)} tokens"
        )
    cfg = LMConfig.from_json(dict(config, vocab=len(vocab)), config_path)
    model = build_model(lambda: LanguageModel(cfg), tensors, weights_path, config_path)
    return LSTMLMBackend(model, vocab, name=name, device=device, path=path)
