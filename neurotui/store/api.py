"""The Store read contract that every view and analysis speaks.

Why a contract: the app, the rankings and the interventions read activations only through
this API, so our HDF5 layout and NeuroX's files (hdf5 and json) are interchangeable and the
app never loads a whole store to draw a screen.

Conventions
-----------
* Sentence ``i`` has ``len(tokens(i))`` tokens; ``activations(i)`` is ``(tokens, neurons)``
  float32 with the sites concatenated in ``sites`` order (NeuroX files: NeuroX's column
  order, layer by layer).
* A neuron has one global id (its column) and a readable name ``<site>:<index>``, e.g.
  ``enc.l1.fw:217``. ``neuron_id`` accepts either form.
* Corpus order: sentence 0's tokens, then sentence 1's, … ``total_tokens`` in all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from neurotui.store.ranking import Ranking


@dataclass(frozen=True)
class StoreSite:
    """A site as stored: name, neuron count and the global id of its first neuron."""

    name: str
    size: int
    offset: int


@dataclass(frozen=True)
class Example:
    """One token occurrence with a neuron's value (top/bottom examples, contexts)."""

    sentence: int
    position: int
    value: float


@dataclass
class NeuronStats:
    """Per-neuron summaries computed in one streaming pass (arrays of length neurons).

    ``quantiles`` is ``(len(quantile_levels), neurons)``. ``nonfinite`` counts NaN/Inf
    values per neuron; they are excluded from every statistic.
    """

    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    quantile_levels: np.ndarray
    quantiles: np.ndarray
    count: np.ndarray
    nonfinite: np.ndarray
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Store(Protocol):
    """Read side of an activation store (opened lazily)."""

    path: Path
    #: "neurotui", "neurox-hdf5" or "neurox-json"
    format: str

    @property
    def sentences(self) -> int:
        """Number of sentences."""

    @property
    def total_tokens(self) -> int:
        """Number of tokens over all sentences."""

    @property
    def sites(self) -> list[StoreSite]:
        """Sites in column order."""

    @property
    def layer_names(self) -> list[str]:
        """Site names in column order."""

    @property
    def neuron_count(self) -> int:
        """Number of neurons (columns) over all sites."""

    @property
    def metadata(self) -> dict[str, object]:
        """Model, aggregation, extraction settings, source text hash, format version…"""

    def tokens(self, i: int) -> list[str]:
        """The tokens of sentence ``i`` (a one-line error when out of range)."""

    def sentence_lengths(self) -> np.ndarray:
        """Token count of every sentence (int array of length ``sentences``)."""

    def activations(self, i: int, sites: Sequence[str] | None = None) -> np.ndarray:
        """``(tokens, neurons)`` float32 for sentence ``i``; ``sites`` selects columns."""

    def neuron_values(self, neuron: int | str) -> np.ndarray:
        """One neuron over the whole corpus, ``(total_tokens,)`` float32 in corpus order."""

    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = 65536
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Stream ``(first_token_index, (rows, neurons) float32)`` blocks in corpus order.

        Memory stays bounded by ``chunk_tokens`` whatever the corpus length.
        """

    def neuron_id(self, neuron: int | str) -> int:
        """Global id of ``neuron`` (an id or a name such as ``enc.l1.fw:217``)."""

    def neuron_name(self, neuron: int) -> str:
        """Readable name ``<site>:<index>`` of global id ``neuron``."""

    @property
    def stats(self) -> NeuronStats | None:
        """Stored per-neuron summaries, or ``None`` when not computed yet."""

    def top_examples(self, neuron: int | str, k: int = 10, bottom: bool = False) -> list[Example]:
        """The ``k`` highest (or lowest) activating token occurrences of ``neuron``."""

    @property
    def label_tasks(self) -> list[str]:
        """Names of the label tasks stored (``pos``, ``tense``…)."""

    def labels(self, task: str) -> list[list[str]]:
        """Per-sentence token labels of ``task`` (aligned with ``tokens(i)``)."""

    @property
    def rankings(self) -> dict[str, Ranking]:
        """Rankings saved in the store, by name."""

    def close(self) -> None:
        """Release the file."""
