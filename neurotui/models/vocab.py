"""Word-level vocabularies for the project's LSTM models.

Why word level: the NeuroX convention is one activation row per word, and the synthetic
and Bible corpora are pre-tokenised, so a word vocabulary keeps rows = words with no
sub-word aggregation. The four specials always take ids 0–3 so that padding is id 0.

File format (``vocab.src.json`` / ``vocab.tgt.json`` / ``vocab.json``)::

    {"format": "neurotui-vocab", "version": 1, "tokens": ["<pad>", "<unk>", "<s>", "</s>", ...]}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from neurotui.errors import CheckpointError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS: tuple[str, ...] = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
FORMAT = "neurotui-vocab"


class Vocab:
    """A fixed list of words with the four specials first."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}")
        self.tokens: list[str] = list(tokens)
        self.index: dict[str, int] = {tok: i for i, tok in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("duplicate tokens in vocabulary")

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and other.tokens == self.tokens

    # -- building ------------------------------------------------------------------
    @classmethod
    def build(
        cls, sentences: Iterable[str], *, max_size: int | None = None, min_freq: int = 1
    ) -> Vocab:
        """Most frequent words first; ties broken alphabetically so builds are reproducible."""
        counts: Counter[str] = Counter()
        for sentence in sentences:
            counts.update(sentence.split())
        for special in SPECIALS:
            counts.pop(special, None)
        words = sorted(
            (w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *words])

    # -- mapping -------------------------------------------------------------------
    def ids(self, words: Sequence[str]) -> list[int]:
        """Word ids, unknown words mapped to ``<unk>``."""
        get = self.index.get
        return [get(w, UNK_ID) for w in words]

    def words(self, ids: Iterable[int]) -> list[str]:
        """Words for ids (specials included as their strings)."""
        return [self.tokens[i] for i in ids]

    def unknown_rate(self, sentences: Iterable[str]) -> float:
        """Share of running words not in the vocabulary (for data reports)."""
        total = unknown = 0
        for sentence in sentences:
            for w in sentence.split():
                total += 1
                unknown += w not in self.index
        return unknown / total if total else 0.0

    # -- files ---------------------------------------------------------------------
    def to_json(self) -> dict[str, object]:
        return {"format": FORMAT, "version": 1, "tokens": self.tokens}

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file in the same folder, then rename)."""
        from neurotui.atomicfile import write_text

        text = json.dumps(self.to_json(), ensure_ascii=False) + "\n"
        write_text(path, text, error=CheckpointError, make_parents=True)

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        """Read a vocabulary file; one-line :class:`CheckpointError` when it is unusable."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: vocabulary file is missing")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise CheckpointError(f"{path}: not a text file (expected a JSON vocabulary)") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CheckpointError(
                f"{path}: not a neurotui vocabulary (field 'format' != {FORMAT!r})"
            )
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise CheckpointError(f"{path}: field 'tokens' must be a list of strings")
        try:
            return cls(tokens)
        except ValueError as exc:
            raise CheckpointError(f"{path}: {exc}") from None
