"""A store held in memory: the same read API over plain Python/numpy values.

Why: analyses, the app and tests need a store without a file; building one from arrays
(e.g. a fake backend's output) keeps them independent of HDF5. Summaries are computed on
first use by the same streaming code the file stores use, so numbers agree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import DataError, StoreError
from neurotui.store.base import BaseStore, make_sites

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import StoreSite
    from neurotui.store.ranking import Ranking
    from neurotui.store.summary import Summary


class MemoryStore(BaseStore):
    """``tokens[i]`` words of sentence ``i``; ``activations[i]`` its ``(words, neurons)`` rows.

    ``sites`` are ``(name, size)`` pairs in column order; their sizes must add up to the
    activation width. ``labels`` maps a task name to per-sentence token labels.
    """

    format = "memory"

    def __init__(
        self,
        tokens: list[list[str]],
        activations: list[np.ndarray],
        sites: list[tuple[str, int]],
        labels: dict[str, list[list[str]]] | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        rankings: dict[str, Ranking] | None = None,
        path: str | Path = "<memory>",
    ) -> None:
        self.path = Path(path)
        if len(tokens) != len(activations):
            raise DataError(f"{len(tokens)} token lines but {len(activations)} activation arrays")
        self._sites = make_sites(sites)
        width = sum(s.size for s in self._sites)
        self._tokens = [list(map(str, t)) for t in tokens]
        self._acts: list[np.ndarray] = []
        for i, (toks, act) in enumerate(zip(self._tokens, activations, strict=True)):
            arr = np.asarray(act, dtype=np.float32)
            if arr.ndim != 2 or arr.shape != (len(toks), width):
                raise DataError(
                    f"sentence {i}: activations have shape {arr.shape}, expected "
                    f"({len(toks)} tokens, {width} neurons)"
                )
            self._acts.append(arr)
        lengths = np.array([len(t) for t in self._tokens], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._labels: dict[str, list[list[str]]] = {}
        for task, rows in (labels or {}).items():
            self.add_labels(task, rows)
        self._metadata = dict(metadata or {})
        self._rankings: dict[str, Ranking] = dict(rankings or {})

    # -- contract ------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, object]:
        """Whatever metadata was given (plus the site list)."""
        meta: dict[str, object] = {"sites": [[s.name, s.size] for s in self._sites]}
        meta.update(self._metadata)
        return meta

    def tokens(self, i: int) -> list[str]:
        """The tokens of sentence ``i``."""
        return list(self._tokens[self._check_sentence(i)])

    def _sentence(self, i: int, sites: list[StoreSite]) -> np.ndarray:
        arr = self._acts[i]
        if len(sites) == len(self._sites):
            return arr.copy()
        return np.concatenate([arr[:, s.offset : s.offset + s.size] for s in sites], axis=1)

    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = 65536
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Corpus-order blocks (gathers whole sentences)."""
        yield from super().iter_chunks(neurons, chunk_tokens)

    def _load_summary(self) -> Summary | None:
        from neurotui.store.summary import summarize

        if self.total_tokens == 0:
            return None
        return summarize(self)

    # -- labels and rankings -------------------------------------------------------
    @property
    def label_tasks(self) -> list[str]:
        """Names of the label tasks held."""
        return sorted(self._labels)

    def labels(self, task: str) -> list[list[str]]:
        """Per-sentence token labels of ``task``."""
        if task not in self._labels:
            tasks = ", ".join(self.label_tasks) or "(none)"
            raise StoreError(f"{self._label()}: no label task {task!r}; tasks: {tasks}")
        return [list(row) for row in self._labels[task]]

    def add_labels(self, task: str, rows: list[list[str]]) -> None:
        """Attach a label task after checking it lines up with the tokens."""
        if len(rows) != self.sentences:
            raise DataError(
                f"label task {task!r}: {len(rows)} sentences, the store has {self.sentences}"
            )
        for i, (labs, toks) in enumerate(zip(rows, self._tokens, strict=True)):
            if len(labs) != len(toks):
                raise DataError(
                    f"label task {task!r}: sentence {i} has {len(labs)} labels for "
                    f"{len(toks)} tokens"
                )
        self._labels[task] = [list(map(str, r)) for r in rows]

    @property
    def rankings(self) -> dict[str, Ranking]:
        """Rankings attached, by name."""
        return dict(self._rankings)

    def add_ranking(self, name: str, ranking: Ranking) -> None:
        """Attach a ranking under ``name`` (replaces one of the same name)."""
        self._rankings[name] = ranking
