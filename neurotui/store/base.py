"""Behaviour shared by every store format (memory, ours, NeuroX hdf5/json).

Why a base class: neuron ids and names, site selection, range checks, corpus-order
bookkeeping and the streaming helpers are the same whatever the file layout; each format
only says how to read one sentence (and, when it can do better, one neuron or one block).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from neurotui.errors import StoreError
from neurotui.store.api import Example, NeuronStats, StoreSite

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.ranking import Ranking
    from neurotui.store.summary import Summary


def make_sites(pairs: Sequence[tuple[str, int]], where: str | Path = "") -> list[StoreSite]:
    """``[(name, size), …]`` → :class:`StoreSite` list with global offsets.

    ``where`` (the file the sites come from) starts every error, so a bad site list is
    traced to its store.
    """
    at = f"{where}: " if str(where) else ""
    sites, offset, seen = [], 0, set()
    if not pairs:
        raise StoreError(f"{at}no sites (no activation columns)")
    for name, size in pairs:
        if name in seen:
            raise StoreError(f"{at}site {name!r} appears twice")
        if int(size) <= 0:
            raise StoreError(f"{at}site {name!r} has size {size}; sizes must be positive")
        seen.add(name)
        sites.append(StoreSite(str(name), int(size), offset))
        offset += int(size)
    return sites


#: a store subclass (``with NeurotuiStore(p) as s`` is a NeurotuiStore)
_S = TypeVar("_S", bound="BaseStore")


class BaseStore:
    """Common read logic; subclasses fill ``_sites``, ``_offsets`` and ``_sentence``."""

    path: Path
    format: str = "memory"
    _sites: list[StoreSite]
    #: token offsets: sentence ``i`` is corpus rows ``_offsets[i]:_offsets[i + 1]``
    _offsets: np.ndarray
    _summary: Summary | None = None
    _summary_loaded: bool = False

    # -- shape ---------------------------------------------------------------------
    @property
    def sentences(self) -> int:
        """Number of sentences."""
        return len(self._offsets) - 1

    @property
    def total_tokens(self) -> int:
        """Number of tokens over all sentences."""
        return int(self._offsets[-1])

    @property
    def sites(self) -> list[StoreSite]:
        """Sites in column order."""
        return list(self._sites)

    @property
    def layer_names(self) -> list[str]:
        """Site names in column order."""
        return [s.name for s in self._sites]

    @property
    def neuron_count(self) -> int:
        """Number of neurons (columns) over all sites."""
        last = self._sites[-1]
        return last.offset + last.size

    @property
    def offsets(self) -> np.ndarray:
        """Corpus row of each sentence's first token (length ``sentences + 1``)."""
        return self._offsets

    @property
    def metadata(self) -> dict[str, object]:
        """The store's metadata (model, sites, extraction settings…); each format says."""
        raise NotImplementedError

    def tokens(self, i: int) -> list[str]:
        """The tokens of sentence ``i``; each format reads them its own way."""
        raise NotImplementedError

    def sentence_lengths(self) -> np.ndarray:
        """Token count of every sentence."""
        return np.diff(self._offsets)

    def _check_sentence(self, i: int) -> int:
        n = self.sentences
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise StoreError(f"{self._label()}: sentence index must be an integer, got {i!r}")
        if not 0 <= int(i) < n:
            raise StoreError(
                f"{self._label()}: no sentence {i} (the store has {n} sentences, 0…{n - 1})"
            )
        return int(i)

    def _label(self) -> str:
        return str(getattr(self, "path", "store"))

    # -- sites and neurons ---------------------------------------------------------
    def site(self, name: str) -> StoreSite:
        """The site called ``name``; a one-line error listing valid names otherwise."""
        for s in self._sites:
            if s.name == name:
                return s
        valid = ", ".join(self.layer_names)
        raise StoreError(f"{self._label()}: unknown site {name!r}; sites: {valid}")

    def _select_sites(self, sites: Sequence[str] | None) -> list[StoreSite]:
        if sites is None:
            return list(self._sites)
        if isinstance(sites, str):
            sites = [sites]
        return [self.site(name) for name in sites]

    def neuron_id(self, neuron: int | str) -> int:
        """Global id of ``neuron`` (an id, ``"217"`` or a name such as ``enc.l1.fw:217``)."""
        total = self.neuron_count
        if isinstance(neuron, (int, np.integer)) and not isinstance(neuron, bool):
            if 0 <= int(neuron) < total:
                return int(neuron)
            raise StoreError(f"{self._label()}: no neuron {neuron} (ids run 0…{total - 1})")
        if isinstance(neuron, str):
            text = neuron.strip()
            if text.isdigit():
                return self.neuron_id(int(text))
            name, sep, index = text.rpartition(":")
            if sep and index.isdigit():
                site = self.site(name)
                if int(index) < site.size:
                    return site.offset + int(index)
                raise StoreError(
                    f"{self._label()}: no neuron {text!r}; site {name} has {site.size} "
                    f"neurons (0…{site.size - 1})"
                )
        raise StoreError(
            f"{self._label()}: cannot read neuron {neuron!r}; use an id 0…{total - 1} "
            "or a name like <site>:<index>"
        )

    def neuron_name(self, neuron: int) -> str:
        """Readable name ``<site>:<index>`` of global id ``neuron``."""
        gid = self.neuron_id(neuron)
        site = self._site_of(gid)
        return f"{site.name}:{gid - site.offset}"

    def _site_of(self, gid: int) -> StoreSite:
        starts = [s.offset for s in self._sites]
        return self._sites[int(np.searchsorted(starts, gid, side="right")) - 1]

    def locate(self, token_index: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Corpus row(s) → (sentence, position) arrays."""
        idx = np.asarray(token_index, dtype=np.int64)
        sent = np.searchsorted(self._offsets, idx, side="right") - 1
        return sent, idx - self._offsets[sent]

    # -- reading -------------------------------------------------------------------
    def activations(self, i: int, sites: Sequence[str] | None = None) -> np.ndarray:
        """``(tokens, neurons)`` float32 for sentence ``i``; ``sites`` selects columns."""
        i = self._check_sentence(i)
        chosen = self._select_sites(sites)
        return self._sentence(i, chosen)

    def _sentence(self, i: int, sites: list[StoreSite]) -> np.ndarray:
        raise NotImplementedError

    def neuron_values(self, neuron: int | str) -> np.ndarray:
        """One neuron over the whole corpus, ``(total_tokens,)`` float32 in corpus order."""
        gid = self.neuron_id(neuron)
        parts = [block[:, 0] for _, block in self.iter_chunks([gid])]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = 65536
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Stream ``(first_token_index, (rows, neurons) float32)`` blocks in corpus order.

        This generic version gathers whole sentences; formats with a corpus-wide layout
        override it to read straight slabs.
        """
        cols = None if neurons is None else np.array([self.neuron_id(n) for n in neurons])
        chunk_tokens = max(1, int(chunk_tokens))
        start, rows, parts = 0, 0, []
        for i in range(self.sentences):
            block = self._sentence(i, self._sites)
            if cols is not None:
                block = block[:, cols]
            parts.append(block)
            rows += block.shape[0]
            if rows >= chunk_tokens:
                out = np.concatenate(parts) if len(parts) > 1 else parts[0]
                yield start, np.ascontiguousarray(out, dtype=np.float32)
                start += rows
                rows, parts = 0, []
        if parts:
            out = np.concatenate(parts) if len(parts) > 1 else parts[0]
            yield start, np.ascontiguousarray(out, dtype=np.float32)

    def iter_site_blocks(self, chunk_tokens: int = 65536) -> Iterator[tuple[int, int, np.ndarray]]:
        """Stream ``(first_token, first_column, block)`` for the summary pass.

        Why per site: a format that stores sites separately can hand each one over without
        building the full-width row, which saves a copy of the whole corpus.
        """
        for start, block in self.iter_chunks(None, chunk_tokens):
            yield start, 0, block

    # -- summaries -----------------------------------------------------------------
    def _load_summary(self) -> Summary | None:
        """Read stored summaries (formats that store them override this)."""
        return None

    @property
    def summary(self) -> Summary | None:
        """Stored per-neuron summaries and top/bottom examples (``None`` if absent)."""
        if not self._summary_loaded:
            self._summary = self._load_summary()
            self._summary_loaded = True
        return self._summary

    @property
    def stats(self) -> NeuronStats | None:
        """Stored per-neuron summaries, or ``None`` when not computed yet."""
        summary = self.summary
        return None if summary is None else summary.stats

    def compute_summary(self, **kwargs: Any) -> Summary:
        """Run the one streaming pass over this store (does not save it)."""
        from neurotui.store.summary import summarize

        return summarize(self, **kwargs)

    def neuron_summary(self, neuron: int | str) -> dict[str, object] | None:
        """One neuron's stored stats and examples (``None`` when no summary exists).

        Keys: count, nonfinite, mean, std, min, max, quantile_levels, quantiles, and
        ``top``/``bottom`` lists of :class:`Example` (best first).
        """
        gid = self.neuron_id(neuron)
        summary = self.summary
        return None if summary is None else neuron_from_summary(summary, gid, self.locate)

    def top_examples(self, neuron: int | str, k: int = 10, bottom: bool = False) -> list[Example]:
        """The ``k`` highest (or lowest) activating token occurrences of ``neuron``.

        Uses the stored summary when it holds at least ``k`` examples; otherwise scans the
        neuron over the corpus (exact, one neuron only).
        """
        gid = self.neuron_id(neuron)
        summary = self.summary
        if summary is not None and summary.k >= k:
            return summary.examples(gid, k, bottom=bottom, locate=self.locate)
        values = self.neuron_values(gid)
        return examples_from_values(values, k, bottom, self.locate)

    # -- labels and rankings (formats without them) --------------------------------
    @property
    def label_tasks(self) -> list[str]:
        """Names of the label tasks stored."""
        return []

    def labels(self, task: str) -> list[list[str]]:
        """Per-sentence token labels of ``task``."""
        raise StoreError(f"{self._label()}: no label task {task!r}; tasks: (none)")

    @property
    def rankings(self) -> dict[str, Ranking]:
        """Rankings saved in the store, by name."""
        return {}

    def close(self) -> None:
        """Release the file."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.format} {self._label()}: {self.sentences} sentences, "
            f"{self.total_tokens} tokens, {self.neuron_count} neurons>"
        )


def examples_from_values(
    values: np.ndarray,
    k: int,
    bottom: bool,
    locate: Locate,
) -> list[Example]:
    """Top (or bottom) ``k`` finite entries of one neuron's corpus values, best first."""
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size == 0 or k <= 0:
        return []
    vals = values[finite]
    k = min(k, vals.size)
    key = vals if bottom else -vals
    part = np.argpartition(key, k - 1)[:k]
    order = part[np.lexsort((finite[part], key[part]))]
    rows = finite[order]
    sent, pos = locate(rows)
    return [
        Example(int(s), int(p), float(v)) for s, p, v in zip(sent, pos, values[rows], strict=True)
    ]


#: corpus rows → (sentence ids, positions)
Locate = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def neuron_from_summary(summary: Summary, gid: int, locate: Locate) -> dict[str, object]:
    """The :meth:`BaseStore.neuron_summary` dict of neuron ``gid`` from a loaded summary."""
    stats = summary.stats
    out: dict[str, object] = {
        name: getattr(stats, name)[gid].item()
        for name in ("count", "nonfinite", "mean", "std", "min", "max")
    }
    out["quantile_levels"] = stats.quantile_levels
    out["quantiles"] = stats.quantiles[:, gid]
    out["top"] = summary.examples(gid, summary.k, locate=locate)
    out["bottom"] = summary.examples(gid, summary.k, bottom=True, locate=locate)
    return out
