"""The Backend contract shared by every model family.

Why a contract: the store (extraction), the interventions and the app speak only this API,
so the project's LSTMs and Hugging Face models are interchangeable behind it.

Conventions
-----------
* Input text is *pre-tokenised words*: each sentence is a string of whitespace-separated
  words (the NeuroX convention). Activations are returned **per word**, so rows match the
  words of the text file; backends with sub-word tokenisers aggregate (first/last/mean).
* A *site* is one named layer output that can be read and edited, e.g. ``enc.l0.fw``,
  ``enc.l1.bw`` (per direction for bidirectional LSTMs), ``dec.l1``, ``enc.l3.ffn``.
  Sites are listed in a fixed order; a neuron's global id is its offset over the sites in
  that order, and its readable name is ``<site>:<index>``.
* Edits: ``with backend.edits({site: fn}): backend.translate(...)`` calls
  ``fn(hidden, ctx)`` on every forward of that site inside the block and uses its return
  value instead; hooks are always removed on exit, exceptions included. ``hidden`` is the
  site's output ``(batch, time, size)`` (time is 1 during incremental decoding), and
  ``ctx`` (:class:`EditContext`) says which words/steps the rows are. This is the one seam
  through which interventions (``neurotui.intervene``) change a model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from neurotui.errors import Unsupported

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

ModelKind = Literal["seq2seq", "lm", "encoder"]
Side = Literal["encoder", "decoder"]
Aggregation = Literal["first", "last", "mean"]


@dataclass(frozen=True)
class SiteInfo:
    """One readable/editable layer output."""

    name: str  # e.g. "enc.l1.fw"
    size: int  # number of neurons
    side: Side
    layer: int
    direction: str | None = None  # "fw" / "bw" for bidirectional LSTM layers
    description: str = ""


@dataclass
class EditContext:
    """What the rows of an edited tensor are.

    ``word_index[b][t]`` is the source-word index of position ``t`` of batch row ``b``
    (``None`` for special tokens such as ``</s>`` or padding); for decoder sites it is the
    target position. ``step`` is the decoding step during incremental decoding (the tensor
    then has time length 1) and ``None`` when a whole sequence is processed at once.
    ``words[b]`` are the words of batch row ``b`` (source words for encoder sites).
    """

    site: str
    side: Side
    word_index: list[list[int | None]]
    words: list[list[str]]
    step: int | None = None


EditFn = Callable[["torch.Tensor", EditContext], "torch.Tensor"]


@dataclass
class Translation:
    """One decoded output."""

    source: str
    text: str  # detokenised (space-joined words for word-level models)
    tokens: list[str]
    logprob: float  # sum of token log-probabilities of the returned hypothesis
    extra: dict[str, object] = field(default_factory=dict)


class Backend(ABC):
    """A loaded model with named sites that can be read and edited.

    Safe to call from one worker thread at a time; holds no global state.
    """

    #: "seq2seq" (translation), "lm" (language model) or "encoder" (BERT-style)
    kind: ModelKind
    #: display name (bundled sample name or directory name)
    name: str
    device: torch.device

    # -- introspection -------------------------------------------------------------
    @abstractmethod
    def sites(self) -> list[SiteInfo]:
        """All sites in their fixed order (defines global neuron ids)."""

    def site(self, name: str) -> SiteInfo:
        """The site called ``name``; a one-line error listing the valid names otherwise."""
        for info in self.sites():
            if info.name == name:
                return info
        from neurotui.errors import NeurotuiError

        valid = ", ".join(s.name for s in self.sites())
        raise NeurotuiError(f"unknown site {name!r} for model {self.name}; sites: {valid}")

    # -- reading activations -------------------------------------------------------
    @abstractmethod
    def encode(
        self,
        sentences: Sequence[str],
        sites: Sequence[str] | None = None,
        *,
        targets: Sequence[str] | None = None,
        aggregation: Aggregation = "mean",
        batch_size: int = 32,
    ) -> list[dict[str, np.ndarray]]:
        """Per-sentence activations ``{site: (n_words, size) float32}``.

        Encoder sites are rows for the source words. Decoder sites need ``targets``
        (teacher forcing) and are rows for the target words; without ``targets`` a
        seq2seq backend decodes greedily and uses its own output.
        """

    def token_rows(self, sentences: Sequence[str]) -> list[list[str]]:
        """What each row of :meth:`encode_tokens` is: the model's input tokens.

        Word-level models (the LSTMs) see the words themselves; sub-word models override
        this with their pieces (``extract --rows tokens``).
        """
        return [s.split() for s in sentences]

    def encode_tokens(
        self, sentences: Sequence[str], sites: Sequence[str] | None = None, *, batch_size: int = 32
    ) -> list[dict[str, np.ndarray]]:
        """Activations with one row per input token (:meth:`token_rows`), not per word."""
        return self.encode(sentences, sites, batch_size=batch_size)

    # -- running the model ---------------------------------------------------------
    def translate(
        self,
        sentences: Sequence[str],
        *,
        beam: int = 1,
        max_len: int | None = None,
        batch_size: int = 64,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Translation]:
        """Decode each sentence (seq2seq) or continue it (lm). Deterministic.

        ``should_stop`` is polled between batches and decoding steps; when it returns
        true the call raises :class:`neurotui.errors.Cancelled`.
        """
        raise Unsupported(f"{self.kind} model {self.name} does not translate")

    def perplexity(self, sentences: Sequence[str], *, batch_size: int = 64) -> float:
        """Corpus perplexity (language models; seq2seq models may score references)."""
        raise Unsupported(f"{self.kind} model {self.name} has no perplexity")

    def target_scores(
        self, sources: Sequence[str], targets: Sequence[str], *, grad: bool = False
    ) -> torch.Tensor:
        """Summed log p(target | source) per pair as a ``(len(sources),)`` tensor.

        Seq2seq: the target is teacher-forced (its end-of-sentence included); language
        models: the target is the continuation of the source prompt (its words only). Edits
        active around the call apply. ``grad=True`` keeps the autograd graph (attribution
        patching differentiates through the sites' activations); otherwise no graph is built.
        One batch: callers chunk.
        """
        raise Unsupported(f"{self.kind} model {self.name} cannot score target sentences")

    # -- editing -------------------------------------------------------------------
    @contextmanager
    def edits(self, edits: Mapping[str, EditFn]) -> Iterator[None]:
        """Apply ``{site: fn}`` to every forward inside the block; always removed."""
        for name in edits:
            self.site(name)  # validates
        handles = self._install_edits(dict(edits))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    @abstractmethod
    def _install_edits(self, edits: dict[str, EditFn]) -> list[torch.utils.hooks.RemovableHandle]:
        """Register hooks for ``edits``; return handles whose ``remove()`` undoes them."""

    def active_hook_count(self) -> int:
        """Number of neurotui hooks currently attached (tests assert this returns to 0)."""
        return 0

    # -- helpers -------------------------------------------------------------------
    def neuron_offsets(self) -> dict[str, int]:
        """Global id of neuron 0 of each site."""
        offsets, total = {}, 0
        for info in self.sites():
            offsets[info.name] = total
            total += info.size
        return offsets
