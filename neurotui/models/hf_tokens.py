"""Word-aligned tokenisation for Hugging Face tokenizers.

Why: neurotui speaks *pre-tokenised words* (one row of activations per word, edits that
select words), while HF models see sub-word tokens. Every batch that enters an HF model
goes through :func:`align` so that each token position knows which word it belongs to
(``None`` for special tokens such as ``</s>``/``[CLS]`` and for padding).

Two paths, one result:

* fast (Rust ``tokenizers``) tokenizers tokenise the whole sentence once and map tokens to
  words through their character offsets — exactly the tokenisation a user gets from the
  tokenizer, special tokens from its post-processor included;
* other tokenizers (e.g. sentencepiece ``MarianTokenizer``, which has no ``word_ids``)
  tokenise word by word and concatenate; sentencepiece splits at whitespace anyway, so this
  equals whole-sentence tokenisation. Special tokens come from
  ``build_inputs_with_special_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neurotui.errors import DataError


@dataclass
class Aligned:
    """One tokenised sentence: token ids and the word each token belongs to."""

    words: list[str]
    ids: list[int]
    word_index: list[int | None]


def split_words(sentence: str) -> list[str]:
    """The NeuroX convention: words are the whitespace-separated pieces of a line."""
    return sentence.split()


def align(tokenizer: Any, sentence: str, *, target: bool = False, special: bool = True) -> Aligned:
    """Tokenise ``sentence`` and map each token to its word index.

    ``target`` tokenises with the tokenizer's target-side settings (``text_target``), which
    matters for tokenizers with separate source/target vocabularies (Marian).
    ``special`` adds the tokenizer's special tokens (``</s>``, ``[CLS]`` …).
    """
    words = split_words(sentence)
    if getattr(tokenizer, "is_fast", False):
        return _align_fast(tokenizer, words, target=target, special=special)
    return _align_by_word(tokenizer, words, target=target, special=special)


def _call(tokenizer: Any, text: str, *, target: bool, **kwargs: Any) -> dict[str, Any]:
    if target:
        return tokenizer(text_target=text, **kwargs)
    return tokenizer(text, **kwargs)


def _align_fast(tokenizer: Any, words: list[str], *, target: bool, special: bool) -> Aligned:
    text = " ".join(words)
    char_word: list[int | None] = []
    for w, word in enumerate(words):
        if w:
            char_word.append(None)  # the separating space
        char_word.extend([w] * len(word))
    enc = _call(
        tokenizer,
        text,
        target=target,
        add_special_tokens=special,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    ids = list(enc["input_ids"])
    offsets = enc["offset_mapping"]
    special_mask = enc.get("special_tokens_mask") or [0] * len(ids)
    mask_id = getattr(tokenizer, "mask_token_id", None)
    word_index: list[int | None] = []
    for (start, end), is_special, token in zip(offsets, special_mask, ids, strict=True):
        wi = None
        if not is_special or token == mask_id:  # a [MASK] stands for a word of the text
            # first non-space character of the token's span (byte-level BPE tokens may
            # include the space before a word)
            for pos in range(start, end):
                if pos < len(char_word) and char_word[pos] is not None:
                    wi = char_word[pos]
                    break
        word_index.append(wi)
    return Aligned(words=words, ids=ids, word_index=word_index)


def _align_by_word(tokenizer: Any, words: list[str], *, target: bool, special: bool) -> Aligned:
    ids: list[int] = []
    word_index: list[int | None] = []
    for w, word in enumerate(words):
        piece_ids = list(
            _call(tokenizer, word, target=target, add_special_tokens=False)["input_ids"]
        )
        ids.extend(piece_ids)
        word_index.extend([w] * len(piece_ids))
    if special:
        # Locate the content inside the special-token template with a sentinel id, so the
        # content's own ids are never mistaken for special tokens.
        template = list(tokenizer.build_inputs_with_special_tokens([-1]))
        start = template.index(-1)
        ids = template[:start] + ids + template[start + 1 :]
        word_index = [None] * start + word_index + [None] * (len(template) - start - 1)
    return Aligned(words=words, ids=ids, word_index=word_index)


@dataclass
class Batch:
    """Padded token ids with the word index of every position of every row."""

    input_ids: Any  # torch.LongTensor (batch, time)
    attention_mask: Any  # torch.LongTensor (batch, time)
    word_index: list[list[int | None]]
    words: list[list[str]]


def pad(items: Sequence[Aligned], pad_id: int, *, left: bool = False, device: Any = None) -> Batch:
    """Pad ``items`` to one length (left padding for decoder-only generation)."""
    import torch

    width = max((len(item.ids) for item in items), default=0)
    ids: list[list[int]] = []
    mask: list[list[int]] = []
    index: list[list[int | None]] = []
    none: list[int | None] = [None]
    for item in items:
        fill = width - len(item.ids)
        if left:
            ids.append([pad_id] * fill + item.ids)
            mask.append([0] * fill + [1] * len(item.ids))
            index.append(none * fill + item.word_index)
        else:
            ids.append(item.ids + [pad_id] * fill)
            mask.append([1] * len(item.ids) + [0] * fill)
            index.append(item.word_index + none * fill)
    return Batch(
        input_ids=torch.tensor(ids, dtype=torch.long, device=device).reshape(len(items), width),
        attention_mask=torch.tensor(mask, dtype=torch.long, device=device).reshape(
            len(items), width
        ),
        word_index=index,
        words=[item.words for item in items],
    )


def check_length(items: Sequence[Aligned], limit: int | None, what: str) -> None:
    """A one-line :class:`DataError` when a sentence exceeds the model's positions."""
    if not limit:
        return
    for n, item in enumerate(items):
        if len(item.ids) > limit:
            raise DataError(
                f"{what} sentence {n + 1} has {len(item.ids)} tokens; the model takes at most {limit}"
            )
