"""Batched greedy and beam search over any step-wise model.

Why generic: the encoder–decoder and the language model both decode one token at a time
from a nested state of batch-first tensors, so one implementation of each search serves
both (a *stepper* supplies ``step``).

Scoring: hypotheses are compared by their summed token log-probability (``</s>``
included). Beam search optionally divides by the hypothesis length (``length_norm``);
it is **off by default**, which makes the search an honest maximiser of model score (the
best finished hypothesis is returned as soon as no live one can beat it) and lets tests
check that beam search never scores below greedy on the samples. Ties are broken by a
stable sort (lowest beam, then lowest token id), so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from neurotui.errors import Cancelled
from neurotui.models.lstm import select_state
from neurotui.resources import check_fits


class Stepper(Protocol):
    """One decoding step: log-probabilities for the next token of every row."""

    def step(
        self, tokens: torch.Tensor, state: Any, step: int, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        """``tokens (N,)`` are this step's inputs; ``history (N, step)`` the tokens
        generated before it. Returns ``(log_probs (N, V), new_state)``."""


@dataclass
class Hypothesis:
    tokens: list[int]  # without the final </s>
    logprob: float  # summed log-probability, </s> included when finished
    finished: bool


def _check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()


def greedy(
    stepper: Stepper,
    state: Any,
    first: torch.Tensor,
    max_lens: list[int],
    eos: int,
    should_stop: Callable[[], bool] | None = None,
) -> list[Hypothesis]:
    """Arg-max decoding; finished rows leave the batch so later steps are cheaper."""
    n = first.size(0)
    results: list[Hypothesis | None] = [None] * n
    tokens_out: list[list[int]] = [[] for _ in range(n)]
    scores = [0.0] * n
    alive = list(range(n))  # original row of each current batch row
    inputs = first
    history = first.new_zeros((n, 0))
    step = 0
    while alive:
        _check(should_stop)
        logp, state = stepper.step(inputs, state, step, history)
        best = logp.argmax(dim=-1)
        best_lp = logp.gather(1, best.unsqueeze(1)).squeeze(1).tolist()
        best_list = best.tolist()
        keep: list[int] = []
        for row, orig in enumerate(alive):
            tok = best_list[row]
            scores[orig] += best_lp[row]
            if tok == eos:
                results[orig] = Hypothesis(tokens_out[orig], scores[orig], True)
                continue
            tokens_out[orig].append(tok)
            if len(tokens_out[orig]) >= max_lens[orig]:
                results[orig] = Hypothesis(tokens_out[orig], scores[orig], False)
            else:
                keep.append(row)
        if not keep:
            break
        step += 1
        if len(keep) < len(alive):
            index = torch.tensor(keep, device=first.device)
            state = select_state(state, index)
            best = best.index_select(0, index)
            history = history.index_select(0, index)
            alive = [alive[r] for r in keep]
        inputs = best
        history = torch.cat([history, best.unsqueeze(1)], dim=1)
    return [r if r is not None else Hypothesis([], 0.0, False) for r in results]


def _tensor_bytes(value: Any) -> int:
    """Bytes of every tensor in a (nested) decoder state."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def beam_search(
    stepper: Stepper,
    state: Any,
    first: torch.Tensor,
    max_lens: list[int],
    eos: int,
    beam: int,
    *,
    length_norm: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> list[Hypothesis]:
    """Batched beam search; returns the best hypothesis of every row of ``first``."""
    n, k = first.size(0), beam
    device = first.device
    finished: list[list[tuple[float, Hypothesis]]] = [[] for _ in range(n)]

    def rank(h: Hypothesis) -> float:
        return h.logprob / (len(h.tokens) + int(h.finished)) if length_norm else h.logprob

    alive = list(range(n))  # sentences still searching, in batch order
    check_fits(f"--beam {k}", k * _tensor_bytes(state))  # the state, copied per beam
    expand = torch.arange(n, device=device).repeat_interleave(k)
    state = select_state(state, expand)
    inputs = first.index_select(0, expand)
    history = inputs.new_zeros((n * k, 0))
    # only the first beam of each sentence is live at step 0
    scores = torch.full((n, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    step = 0
    while alive:
        _check(should_stop)
        logp, state = stepper.step(inputs, state, step, history)
        vocab = logp.size(1)
        if step == 0:  # candidates of every beam: scores, sorted scores, int64 indices
            check_fits(f"--beam {k}", logp.size(0) * vocab * 20)
        cand = (scores.view(-1, 1) + logp.float()).view(len(alive), k * vocab)
        sorted_scores, sorted_index = torch.sort(cand, dim=1, descending=True, stable=True)
        top_scores = sorted_scores[:, : 2 * k].tolist()
        top_index = sorted_index[:, : 2 * k].tolist()
        hist_rows = history.tolist()

        next_rows: list[int] = []
        next_tokens: list[int] = []
        next_scores: list[float] = []
        still: list[int] = []
        for i, sent in enumerate(alive):
            live: list[tuple[int, int, float]] = []
            for score, flat in zip(top_scores[i], top_index[i], strict=True):
                if score == float("-inf") or len(live) == k:
                    break
                b, tok = divmod(flat, vocab)
                row = i * k + b
                if tok == eos:
                    if len(finished[sent]) < k:
                        hyp = Hypothesis(list(hist_rows[row]), score, True)
                        finished[sent].append((rank(hyp), hyp))
                    continue
                live.append((row, tok, score))
            at_limit = step + 1 >= max_lens[sent]
            done = len(finished[sent]) >= k or not live or at_limit
            if not done and not length_norm and finished[sent]:
                # scores only decrease: no live hypothesis can beat the best finished one
                done = max(r for r, _ in finished[sent]) >= live[0][2]
            if done:
                if at_limit and len(finished[sent]) < k:
                    for row, tok, score in live:
                        hyp = Hypothesis([*hist_rows[row], tok], score, False)
                        finished[sent].append((rank(hyp), hyp))
                continue
            while len(live) < k:  # pad with dead copies of the best beam
                live.append((live[0][0], live[0][1], float("-inf")))
            still.append(sent)
            for row, tok, score in live:
                next_rows.append(row)
                next_tokens.append(tok)
                next_scores.append(score)
        if not still:
            break
        index = torch.tensor(next_rows, device=device)
        state = select_state(state, index)
        inputs = torch.tensor(next_tokens, device=device, dtype=first.dtype)
        history = torch.cat([history.index_select(0, index), inputs.unsqueeze(1)], dim=1)
        scores = torch.tensor(next_scores, device=device).view(len(still), k)
        alive = still
        step += 1

    best: list[Hypothesis] = []
    for options in finished:
        if not options:
            best.append(Hypothesis([], 0.0, False))
            continue
        # max() keeps the first of equal scores: deterministic
        best.append(max(options, key=lambda item: item[0])[1])
    return best
