"""Data with planted neurons (known answers) for tests, benchmarks and demos.

Why in the package: every ranking method is tested against data where the right answer is
known by construction, and the benchmarks measure speed on the same kind of data; one
generator keeps them honest and in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.memory import MemoryStore


@dataclass
class Planted:
    """Corpus-order arrays plus the answer key.

    ``planted[c]`` are the neurons whose mean shifts by ``shift`` σ for class ``c``;
    ``loud`` are high-variance neurons that carry no label information (they fool
    variance-based rankings, not a probe).
    """

    X: np.ndarray
    labels: list[str]
    words: list[str]
    lengths: np.ndarray
    planted: dict[str, list[int]]
    loud: list[int]

    @property
    def planted_all(self) -> set[int]:
        """Every planted neuron."""
        return {n for ids in self.planted.values() for n in ids}

    def sentences(self) -> tuple[list[list[str]], list[np.ndarray], list[list[str]]]:
        """``(tokens, activations, labels)`` split per sentence (for a MemoryStore)."""
        b = np.concatenate([[0], np.cumsum(self.lengths)])
        spans = list(zip(b[:-1], b[1:], strict=True))
        return (
            [self.words[x:y] for x, y in spans],
            [self.X[x:y] for x, y in spans],
            [self.labels[x:y] for x, y in spans],
        )

    def store(self, task: str = "tag") -> MemoryStore:
        """A :class:`neurotui.store.memory.MemoryStore` holding this corpus."""
        from neurotui.store.memory import MemoryStore

        tokens, acts, labels = self.sentences()
        return MemoryStore(tokens, acts, [("x", self.X.shape[1])], {task: labels})


def planted_tagging(
    tokens: int = 5000,
    neurons: int = 64,
    classes: int = 4,
    per_class: int = 2,
    shift: float = 3.0,
    loud: int = 4,
    words_per_class: int = 12,
    ambiguity: float = 0.1,
    sentence_length: int = 20,
    seed: int = 0,
) -> Planted:
    """Gaussian noise neurons; each class moves ``per_class`` neurons of its own.

    Words come from per-class vocabularies; a fraction ``ambiguity`` of tokens take a word
    of another class, so a word-majority baseline is good but not perfect.
    """
    rng = np.random.default_rng(seed)
    if classes * per_class + loud > neurons:
        raise ValueError("not enough neurons for the planted ones")
    ids = rng.permutation(neurons)
    planted = {
        f"C{c}": sorted(int(i) for i in ids[c * per_class : (c + 1) * per_class])
        for c in range(classes)
    }
    loud_ids = sorted(int(i) for i in ids[classes * per_class : classes * per_class + loud])
    y = rng.integers(0, classes, size=tokens)
    X = rng.standard_normal((tokens, neurons), dtype=np.float32)
    for c in range(classes):
        X[np.ix_(y == c, planted[f"C{c}"])] += shift
    if loud_ids:
        X[:, loud_ids] *= 6.0
    word_class = np.where(rng.random(tokens) < ambiguity, rng.integers(0, classes, tokens), y)
    word_idx = rng.integers(0, words_per_class, size=tokens)
    words = [f"w{wc}_{wi}" for wc, wi in zip(word_class.tolist(), word_idx.tolist(), strict=True)]
    n_full, rest = divmod(tokens, sentence_length)
    lengths = np.array([sentence_length] * n_full + ([rest] if rest else []), dtype=np.int64)
    return Planted(
        X=X,
        labels=[f"C{c}" for c in y.tolist()],
        words=words,
        lengths=lengths,
        planted=planted,
        loud=loud_ids,
    )


def shared_models(
    tokens: int = 4000,
    neurons: int = 32,
    models: int = 3,
    shared: int = 4,
    seed: int = 0,
    sentence_length: int = 20,
) -> tuple[list[np.ndarray], list[list[int]], list[list[str]]]:
    """Activations of ``models`` "models" of the same text.

    ``shared`` latent signals (one of them the token position) appear in every model, each
    in one neuron at a model-specific column (with model-specific scale, sign and noise);
    all other neurons are independent noise. Returns ``(activations, shared_ids, tokens)``
    where ``shared_ids[m][k]`` is model ``m``'s neuron carrying signal ``k``; signal 0 is the
    strongest (least noise) and the position signal.
    """
    rng = np.random.default_rng(seed)
    pos = np.arange(tokens) % sentence_length
    latent = rng.standard_normal((tokens, shared)).astype(np.float32)
    latent[:, 0] = (pos - pos.mean()) / pos.std()
    noise_levels = np.linspace(0.1, 0.6, shared)
    acts, ids = [], []
    for _ in range(models):
        X = rng.standard_normal((tokens, neurons)).astype(np.float32)
        cols = rng.permutation(neurons)[:shared]
        for k, col in enumerate(cols):
            sign = rng.choice([-1.0, 1.0])
            scale = rng.uniform(0.5, 3.0)
            X[:, col] = scale * (
                sign * latent[:, k] + noise_levels[k] * rng.standard_normal(tokens)
            ) + rng.uniform(-2, 2)
        acts.append(X)
        ids.append([int(c) for c in cols])
    words = [f"t{p}" for p in pos.tolist()]
    n_full, rest = divmod(tokens, sentence_length)
    lengths = [sentence_length] * n_full + ([rest] if rest else [])
    b = np.concatenate([[0], np.cumsum(lengths)])
    sents = [words[x:y] for x, y in zip(b[:-1], b[1:], strict=True)]
    return acts, ids, sents
