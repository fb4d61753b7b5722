"""Greedy continuation of one prompt, checked against a draft: the prompt's last continuation.

Why: in the app's Manipulate mode every ``+``/``-`` continues the same prompt again under a
slightly different edit. On a CPU a causal LM decodes at the speed it can read its weights
(SmolLM2-135M in float32: about 70 ms a token on this project's 2-core box, however small
the arithmetic), so 20 tokens cost about 1.4 s one by one — while one forward over 25
positions costs about 0.2 s. The last continuation of the same prompt is usually the new one
or shares a long prefix with it, so one forward over prompt + draft checks every draft token
at once, and decoding goes on token by token only after the first token the model disagrees
with. This is speculative decoding with the previous output as the draft (the idea of
prompt-lookup decoding); transformers' assisted generation takes no external draft, and
our hooks need each forward's positions, which this loop states (:class:`RunState`).

The result is the greedy continuation: a draft token is kept only where it is the model's
argmax after the tokens before it. Positions computed together round differently in the
last bits from positions computed one at a time (the same difference as with and without
the KV cache), so a near-tie between two tokens can, rarely, break the other way.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from neurotui.errors import Cancelled

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.hf_hooks import RunState

#: generation-config fields that make ``generate`` differ from a plain argmax (their
#: neutral values): a model that sets any of them decodes through ``generate`` only
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None, []),
    "begin_suppress_tokens": (None, []),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "sequence_bias": (None,),
    "exponential_decay_length_penalty": (None,),
    "guidance_scale": (None, 1.0),
    "watermarking_config": (None,),
    "cache_implementation": (None,),
}


def plain_greedy(generation_config: Any) -> bool:
    """``generate(do_sample=False)`` under this config is the argmax at every step."""
    return all(getattr(generation_config, key, None) in ok for key, ok in _NEUTRAL.items())


def eos_ids(generation_config: Any, tokenizer: Any) -> set[int]:
    """The token ids that end a continuation (the generation config's, else the tokenizer's)."""
    value = getattr(generation_config, "eos_token_id", None)
    if value is None:
        value = tokenizer.eos_token_id
    values = value if isinstance(value, list | tuple) else [value]
    return {int(v) for v in values if isinstance(v, int)}


class DraftMemo:
    """The last greedy continuation of each recent prompt (token ids in, token ids out)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, ...], list[int]] = OrderedDict()

    def get(self, prompt: Sequence[int]) -> list[int]:
        return list(self._items.get(tuple(prompt), []))

    def put(self, prompt: Sequence[int], continuation: Sequence[int]) -> None:
        key = tuple(prompt)
        self._items[key] = list(continuation)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class CannotCrop(Exception):
    """The model's cache cannot be cut back (sliding-window layers past their window):
    the backend decodes with ``generate`` from then on."""


def greedy_with_draft(
    model: Any,
    prompt: Sequence[int],
    draft: Sequence[int],
    *,
    max_new: int,
    eos: set[int],
    state: RunState,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[int], list[float]]:
    """The greedy continuation of ``prompt`` (ids and their log-probabilities).

    ``state`` is the backend's :class:`RunState`, already set for this prompt: before each
    forward this loop states where the forward starts (``consumed``) and which decoding
    step a single-position forward is (``forwards``), as the tracker hook reads them.
    Raises :class:`CannotCrop` when the cache cannot be cut back to the kept tokens (the
    caller decodes with ``generate`` instead).
    """
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    params = inspect.signature(model.forward).parameters
    name = "cache" if "cache" in params else "past_key_values"  # renamed in transformers 5.x
    device = next(model.parameters()).device
    ids: list[int] = []
    scores: list[float] = []
    feed = list(prompt)
    pending = list(draft)
    consumed = 0
    while len(ids) < max_new:
        if should_stop is not None and should_stop():
            raise Cancelled("translation cancelled")
        k = max(0, min(len(pending), max_new - len(ids) - 1))
        chunk = feed + pending[:k]
        state.consumed = consumed
        state.forwards = len(ids)  # the step a single-position forward decodes
        tensor = torch.tensor([chunk], dtype=torch.long, device=device)
        kwargs: dict[str, Any] = {name: cache, "use_cache": True}
        if "logits_to_keep" in params:
            kwargs["logits_to_keep"] = k + 1
        out = model(input_ids=tensor, **kwargs)
        logits = out.logits[0, -(k + 1) :].float()
        logp = torch.log_softmax(logits, dim=-1)
        best = logits.argmax(dim=-1).tolist()
        accepted = 0
        while accepted < k and best[accepted] == pending[accepted]:
            accepted += 1
        new = [*pending[:accepted], best[accepted]]
        consumed += len(feed) + accepted  # positions whose keys and values are right
        if accepted < k:
            try:  # a negative count removes that many positions on every 5.x release
                cache.crop(-(k - accepted))
            except (
                ValueError,
                RuntimeError,
                NotImplementedError,
                AttributeError,
                TypeError,
            ) as exc:
                # sliding-window layers past their window cannot go back (Mistral-style
                # configs with a short window, Gemma 2/3's local layers)
                raise CannotCrop(str(exc)) from exc
        for i, token in enumerate(new):
            ids.append(token)
            scores.append(float(logp[i, token]))
            if token in eos:
                return ids, scores
        feed = [new[-1]]
        pending = pending[k:] if accepted == k else []
    return ids, scores
