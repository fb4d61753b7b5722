"""The project's LSTM encoder–decoder with attention, and its Backend.

Architecture (as in the NMT models studied by Dalvi et al. 2019 and Bau et al. 2019):

* encoder: word embeddings → ``enc_layers`` bidirectional LSTM layers, each its own
  ``nn.LSTM`` so that ``enc.l{i}.fw`` / ``enc.l{i}.bw`` are sites; the top layer's output
  is the attention memory;
* decoder: ``dec_layers`` LSTM cells with *input feeding* (the previous attentional vector
  is concatenated to the word embedding), Luong "general" attention over the memory, and
  ``tanh(W_c [context; h_top])`` as the attentional vector fed to the output layer;
* the decoder's initial hidden state is ``tanh(W_b [fw_last; bw_first])`` of the top
  encoder layer (computed from the site outputs, so encoder edits reach it too).

Row conventions (:class:`~neurotui.models.base.EditContext`):

* encoder sites: row ``t`` is source word ``t``; the source ends with ``</s>`` (index
  ``None``);
* decoder sites: row ``t`` is the decoder state *after consuming* target word ``t`` (its
  input at that step; the state that predicts word ``t + 1``), like a language model.
  During decoding, step ``s`` consumes word ``s - 1`` (``<s>`` at step 0, index ``None``)
  and ``words`` holds the words generated so far; under teacher forcing ``words`` are the
  given targets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurotui.errors import Cancelled, CheckpointError
from neurotui.models.base import Aggregation, Backend, SiteInfo, Translation
from neurotui.models.decoding import beam_search, greedy
from neurotui.models.lstm import (
    BiLSTMLayer,
    CellLayer,
    ContextParts,
    LuongAttention,
    TapBackend,
    source_context,
)
from neurotui.models.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab

KIND = "lstm-seq2seq"


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Hyper-parameters stored in ``config.json`` (vocab sizes come from the vocab files)."""

    src_vocab: int
    tgt_vocab: int
    emb: int = 128
    enc_hidden: int = 128  # per direction
    enc_layers: int = 2
    dec_hidden: int = 256
    dec_layers: int = 2
    dropout: float = 0.2

    def to_json(self) -> dict[str, Any]:
        return {"neurotui_format": 1, "kind": KIND, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path | str = "config.json") -> Seq2SeqConfig:
        return cls(**config_fields(cls, data, path))


def config_fields(cls: type, data: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """Typed fields of dataclass ``cls`` from ``data``; one-line error naming the field.

    Every hyper-parameter must be present: a config written for another architecture is
    reported by its missing field rather than guessed from defaults.
    """
    from dataclasses import fields

    out: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            raise CheckpointError(f"{path}: field {f.name!r} is missing")
        value = data[f.name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CheckpointError(f"{path}: field {f.name!r} must be a number, got {value!r}")
        if f.type in ("float", float):
            if not 0.0 <= value < 1.0:
                raise CheckpointError(f"{path}: field {f.name!r} must be in [0, 1), got {value!r}")
            out[f.name] = float(value)
        elif value != int(value) or value < 1:
            raise CheckpointError(
                f"{path}: field {f.name!r} must be a positive integer, got {value!r}"
            )
        else:
            out[f.name] = int(value)
    return out


class Seq2SeqModel(nn.Module):
    """Bidirectional LSTM encoder + attentional LSTM decoder with input feeding."""

    def __init__(self, cfg: Seq2SeqConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.src_emb = nn.Embedding(cfg.src_vocab, cfg.emb, padding_idx=PAD_ID)
        self.tgt_emb = nn.Embedding(cfg.tgt_vocab, cfg.emb, padding_idx=PAD_ID)
        memory = 2 * cfg.enc_hidden
        self.encoder = nn.ModuleList(
            BiLSTMLayer(cfg.emb if i == 0 else memory, cfg.enc_hidden, f"enc.l{i}")
            for i in range(cfg.enc_layers)
        )
        self.bridge = nn.Linear(memory, cfg.dec_hidden)
        self.decoder = nn.ModuleList(
            CellLayer(
                cfg.emb + cfg.dec_hidden if i == 0 else cfg.dec_hidden, cfg.dec_hidden, f"dec.l{i}"
            )
            for i in range(cfg.dec_layers)
        )
        self.attention = LuongAttention(cfg.dec_hidden, memory)
        self.combine = nn.Linear(memory + cfg.dec_hidden, cfg.dec_hidden, bias=False)
        self.out = nn.Linear(cfg.dec_hidden, cfg.tgt_vocab)
        self.drop = nn.Dropout(cfg.dropout)

    # -- encoder -------------------------------------------------------------------
    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> dict[str, Any]:
        """``src (B, S)`` → initial decoding state (memory, mask, h, c, feed)."""
        x = self.drop(self.src_emb(src))
        for i, layer in enumerate(self.encoder):
            out = layer(x, lengths)
            x = self.drop(out) if i + 1 < len(self.encoder) else out
        memory = x
        mask = src != PAD_ID
        h = self.cfg.enc_hidden
        rows = torch.arange(src.size(0), device=src.device)
        last = (lengths.to(src.device) - 1).clamp(min=0)
        summary = torch.cat([memory[rows, last, :h], memory[:, 0, h:]], dim=-1)
        h0 = torch.tanh(self.bridge(summary))
        zeros = torch.zeros_like(h0)
        return {
            "memory": memory,
            "mask": mask,
            "h": tuple(h0 for _ in self.decoder),
            "c": tuple(zeros for _ in self.decoder),
            "feed": zeros,
        }

    # -- decoder -------------------------------------------------------------------
    def step(
        self, tokens: torch.Tensor, state: dict[str, Any]
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """One decoder step: ``tokens (N,)`` → logits ``(N, V)`` and the next state."""
        x = torch.cat([self.drop(self.tgt_emb(tokens)), state["feed"]], dim=-1)
        hs, cs = [], []
        out = x
        for i, layer in enumerate(self.decoder):
            out, (h, c) = layer(x, (state["h"][i], state["c"][i]))
            hs.append(h)
            cs.append(c)
            x = self.drop(out)
        context, _ = self.attention(out, state["memory"], state["mask"])
        feed = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))
        logits = self.out(self.drop(feed))
        new_state = dict(state, h=tuple(hs), c=tuple(cs), feed=feed)
        return logits, new_state

    def forward(
        self, src: torch.Tensor, lengths: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        """Teacher-forced logits ``(B, T, V)`` for inputs ``tgt_in (B, T)`` (``<s> y…``)."""
        state = self.encode(src, lengths)
        logits = []
        for t in range(tgt_in.size(1)):
            step_logits, state = self.step(tgt_in[:, t], state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)


def pad_batch(
    seqs: Sequence[Sequence[int]], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(B, S)`` id tensor and the lengths (on CPU, for packing)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full(
        (len(seqs), max(1, int(lengths.max()) if len(seqs) else 1)), PAD_ID, dtype=torch.long
    )
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device), lengths


def length_order(sentences: Sequence[str]) -> list[int]:
    """Indices sorted longest first (stable), so batches hold similar lengths."""
    return sorted(range(len(sentences)), key=lambda i: -len(sentences[i].split()))


class LSTMSeq2SeqBackend(TapBackend, Backend):
    """Backend for :class:`Seq2SeqModel` checkpoints (kind ``lstm-seq2seq``)."""

    kind = "seq2seq"
    model: Seq2SeqModel
    #: divide beam scores by length (see neurotui.models.decoding); off by default
    length_norm = False

    def __init__(
        self,
        model: Seq2SeqModel,
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        *,
        name: str = "lstm-seq2seq",
        device: torch.device | str = "cpu",
        path: Path | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.src_vocab, self.tgt_vocab = src_vocab, tgt_vocab
        self.name, self.path = name, path
        self.config = model.cfg
        self.card: dict[str, Any] | None = None
        self._init_taps(lambda site: site.split(".")[0])

    # -- introspection -------------------------------------------------------------
    def sites(self) -> list[SiteInfo]:
        cfg = self.config
        out = []
        for i in range(cfg.enc_layers):
            for direction in ("fw", "bw"):
                out.append(
                    SiteInfo(
                        f"enc.l{i}.{direction}",
                        cfg.enc_hidden,
                        "encoder",
                        i,
                        direction,
                        f"encoder layer {i}, {'forward' if direction == 'fw' else 'backward'} LSTM",
                    )
                )
        for i in range(cfg.dec_layers):
            out.append(
                SiteInfo(f"dec.l{i}", cfg.dec_hidden, "decoder", i, None, f"decoder layer {i} LSTM")
            )
        return out

    # -- helpers -------------------------------------------------------------------
    def _source(
        self, sentences: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor, list[list[str]]]:
        words = [s.split() for s in sentences]
        ids = [[*self.src_vocab.ids(w), EOS_ID] for w in words]
        src, lengths = pad_batch(ids, self.device)
        return src, lengths, words

    def _encode_batch(self, sentences: Sequence[str]) -> tuple[dict[str, Any], list[list[str]]]:
        src, lengths, words = self._source(sentences)
        with self._context("enc", lambda: source_context(words, src.size(1))):
            state = self.model.encode(src, lengths)
        return state, words

    def _stepper(self, forced_words: list[list[str]] | None = None) -> _Stepper:
        return _Stepper(self, forced_words)

    # -- Backend API ---------------------------------------------------------------
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
        results: list[Translation | None] = [None] * len(sentences)
        order = length_order(sentences)
        for start in range(0, len(order), max(1, batch_size)):
            if should_stop is not None and should_stop():
                raise Cancelled()
            idx = order[start : start + batch_size]
            batch = [sentences[i] for i in idx]
            state, words = self._encode_batch(batch)
            max_lens = [max_len if max_len else 2 * len(w) + 10 for w in words]
            first = torch.full((len(batch),), BOS_ID, dtype=torch.long, device=self.device)
            if beam > 1:
                hyps = beam_search(
                    self._stepper(),
                    state,
                    first,
                    max_lens,
                    EOS_ID,
                    beam,
                    length_norm=self.length_norm,
                    should_stop=should_stop,
                )
            else:
                hyps = greedy(self._stepper(), state, first, max_lens, EOS_ID, should_stop)
            for i, hyp in zip(idx, hyps, strict=True):
                tokens = self.tgt_vocab.words(hyp.tokens)
                results[i] = Translation(
                    source=sentences[i],
                    text=" ".join(tokens),
                    tokens=tokens,
                    logprob=float(hyp.logprob),
                    extra={"finished": hyp.finished},
                )
        return [r for r in results if r is not None]

    @torch.inference_mode()
    def encode(
        self,
        sentences: Sequence[str],
        sites: Sequence[str] | None = None,
        *,
        targets: Sequence[str] | None = None,
        aggregation: Aggregation = "mean",  # word-level model: one row per word already
        batch_size: int = 32,
    ) -> list[dict[str, np.ndarray]]:
        names = [s.name for s in self.sites()] if sites is None else list(sites)
        for name in names:
            self.site(name)
        dec_sites = [n for n in names if n.startswith("dec.")]
        if dec_sites and targets is None:
            targets = [t.text for t in self.translate(sentences, batch_size=batch_size)]
        if targets is not None and len(targets) != len(sentences):
            from neurotui.errors import DataError

            raise DataError(f"{len(sentences)} sentences but {len(targets)} targets")
        out: list[dict[str, np.ndarray]] = []
        for start in range(0, len(sentences), max(1, batch_size)):
            batch = list(sentences[start : start + batch_size])
            with self._capture(names) as rec:
                state, words = self._encode_batch(batch)
                if dec_sites:
                    assert targets is not None
                    tgt_words = [t.split() for t in targets[start : start + batch_size]]
                    self._teacher_force(state, tgt_words)
            for b, ws in enumerate(words):
                row: dict[str, np.ndarray] = {}
                for name in names:
                    if name.startswith("dec."):
                        seq = torch.cat(rec[name], dim=1)[b]  # (steps, H): step t consumed word t-1
                        row[name] = seq[1 : len(tgt_words[b]) + 1].float().cpu().numpy()
                    else:
                        row[name] = rec[name][0][b, : len(ws)].float().cpu().numpy()
                out.append(row)
        return out

    def _teacher_force(
        self, state: dict[str, Any], tgt_words: list[list[str]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the decoder over ``<s> y…`` (ending with ``</s>``); returns logits and ids."""
        ids = [[BOS_ID, *self.tgt_vocab.ids(w), EOS_ID] for w in tgt_words]
        seq, _ = pad_batch(ids, self.device)
        stepper = self._stepper(tgt_words)
        logits = []
        for t in range(seq.size(1) - 1):
            logp, state = stepper.step(seq[:, t], state, t, seq[:, 1 : t + 1])
            logits.append(logp)
        return torch.stack(logits, dim=1), seq[:, 1:]

    @torch.inference_mode()
    def target_logprobs(
        self, sentences: Sequence[str], targets: Sequence[str], *, batch_size: int = 64
    ) -> list[float]:
        """Summed log-probability of each target given its source (``</s>`` included)."""
        out: list[float] = []
        for start in range(0, len(sentences), max(1, batch_size)):
            state, _ = self._encode_batch(sentences[start : start + batch_size])
            tgt_words = [t.split() for t in targets[start : start + batch_size]]
            logp, gold = self._teacher_force(state, tgt_words)
            picked = logp.gather(2, gold.unsqueeze(2)).squeeze(2).masked_fill(gold == PAD_ID, 0.0)
            out.extend(picked.sum(dim=1).tolist())
        return out

    def target_scores(
        self, sources: Sequence[str], targets: Sequence[str], *, grad: bool = False
    ) -> torch.Tensor:
        with torch.enable_grad() if grad else torch.inference_mode():
            state, _ = self._encode_batch(list(sources))
            logp, gold = self._teacher_force(state, [t.split() for t in targets])
            picked = logp.gather(2, gold.unsqueeze(2)).squeeze(2).masked_fill(gold == PAD_ID, 0.0)
            return picked.sum(dim=1)


class _Stepper:
    """Adapts :class:`Seq2SeqModel` to the decoding loops and publishes decoder contexts."""

    def __init__(self, backend: LSTMSeq2SeqBackend, forced_words: list[list[str]] | None) -> None:
        self.backend = backend
        self.forced = forced_words

    def step(
        self, tokens: torch.Tensor, state: Any, step: int, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        backend = self.backend

        def build() -> ContextParts:
            if self.forced is not None:
                words = self.forced
                index: list[list[int | None]] = [
                    [step - 1 if 0 < step <= len(w) else None] for w in words
                ]
            else:
                words = [backend.tgt_vocab.words(row) for row in history.tolist()]
                index = [[step - 1 if step > 0 else None] for _ in words]
            return index, words, step

        with backend._context("dec", build):
            logits, state = backend.model.step(tokens, state)
        return torch.log_softmax(mask_specials(logits.float()), dim=-1), state


def mask_specials(logits: torch.Tensor) -> torch.Tensor:
    """``<pad>`` and ``<s>`` are never outputs (renormalised without them)."""
    logits = logits.clone()
    logits[..., PAD_ID] = float("-inf")
    logits[..., BOS_ID] = float("-inf")
    return logits


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
) -> LSTMSeq2SeqBackend:
    """Instantiate from checkpoint parts (see :mod:`neurotui.models.checkpoint`)."""
    from neurotui.models.weights import build_model

    src, tgt = vocabs["vocab.src.json"], vocabs["vocab.tgt.json"]
    for field, vocab, file in (
        ("src_vocab", src, "vocab.src.json"),
        ("tgt_vocab", tgt, "vocab.tgt.json"),
    ):
        if field in config and config[field] != len(vocab):
            raise CheckpointError(
                f"{config_path}: {field} is {config[field]} but {file} has {len(vocab)} tokens"
            )
    data = dict(config, src_vocab=len(src), tgt_vocab=len(tgt))
    cfg = Seq2SeqConfig.from_json(data, config_path)
    model = build_model(lambda: Seq2SeqModel(cfg), tensors, weights_path, config_path)
    return LSTMSeq2SeqBackend(model, src, tgt, name=name, device=device, path=path)
