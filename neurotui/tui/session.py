"""What the app has open: stores, their notes, caches and per-store view state.

Why a plain object (no Textual): every screen (analysis now, ablation/manipulation later)
reads the same open stores and the same neuron selection; keeping that state here, not in
widgets, lets screens share it and tests inspect it.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurotui.store.api import NeuronStats, Store
from neurotui.store.ranking import Ranking
from neurotui.tui.notes import NeuronNotes, notes_path_for

#: bytes of sentence activations kept per store (rows of all neurons, so that switching
#: neuron recolours from memory without touching the disk)
DEFAULT_CACHE_BYTES = 192 * 2**20


@dataclass
class SentenceRows:
    """One sentence as the views need it: its tokens and ``(tokens, neurons)`` rows."""

    tokens: list[str]
    values: np.ndarray


class SentenceCache:
    """A thread-safe LRU of sentences, bounded in bytes; filled by a worker, read by views."""

    def __init__(self, store: Store, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._rows: OrderedDict[int, SentenceRows] = OrderedDict()
        self._bytes = 0
        self.lengths = np.asarray(store.sentence_lengths(), dtype=np.int64)
        self.generation = 0  # bumped on every insert (views redraw when it changes)

    def get(self, i: int) -> SentenceRows | None:
        """The cached sentence ``i`` or ``None`` (never reads the store)."""
        with self._lock:
            rows = self._rows.get(i)
            if rows is not None:
                self._rows.move_to_end(i)
            return rows

    def missing(self, indices: list[int] | range) -> list[int]:
        """Which of ``indices`` are not cached."""
        with self._lock:
            return [i for i in indices if i not in self._rows]

    def load(self, i: int) -> SentenceRows:
        """Read sentence ``i`` from the store into the cache (worker threads only)."""
        cached = self.get(i)
        if cached is not None:
            return cached
        rows = SentenceRows(list(self.store.tokens(i)), self.store.activations(i))
        size = rows.values.nbytes + 64 * len(rows.tokens)
        with self._lock:
            if i not in self._rows:
                self._rows[i] = rows
                self._bytes += size
                self.generation += 1
                while self._bytes > self.max_bytes and len(self._rows) > 1:
                    _, old = self._rows.popitem(last=False)
                    self._bytes -= old.values.nbytes + 64 * len(old.tokens)
        return rows

    def clear(self) -> None:
        """Forget everything (e.g. after the store changed)."""
        with self._lock:
            self._rows.clear()
            self._bytes = 0
            self.generation += 1


@dataclass
class ViewState:
    """Per-store selection: the neuron under the cursor, pinned neurons, chosen ranking.

    ``sentence``/``token`` are the text cursor (sentence index, token position) shared by
    the modes: the analysis view writes it as its cursor moves, manipulation reads it (and
    writes it back when moved there), so every mode works on the same sentence.
    """

    cursor: int | None = None
    pinned: list[int] = field(default_factory=list)
    ranking: str | None = None
    label_task: str | None = None
    sentence: int = 0
    token: int = 0

    def move_text_cursor(self, sentence: int, token: int) -> bool:
        """Set the text cursor; True when it moved (callers redraw/re-run only then)."""
        sentence, token = max(0, int(sentence)), max(0, int(token))
        if (sentence, token) == (self.sentence, self.token):
            return False
        self.sentence, self.token = sentence, token
        return True

    def shown(self) -> list[int]:
        """Neurons the sentence view draws: the cursor neuron first, then pinned ones."""
        out = [] if self.cursor is None else [self.cursor]
        out += [n for n in self.pinned if n != self.cursor]
        return out


@dataclass
class OpenStore:
    """An opened store with its display name, notes, sentence cache and view state."""

    name: str
    store: Store
    notes: NeuronNotes
    cache: SentenceCache
    view: ViewState = field(default_factory=ViewState)
    source: Path | None = None  # the path the user gave (a checkpoint for extracted stores)
    #: per-neuron stats once a worker has read (or computed) them
    stats: NeuronStats | None = None
    #: saved rankings once read, plus those computed in this session
    rankings: dict[str, Ranking] | None = None
    #: the analysis layer's word index (top words), built by the first card worker
    corpus: Any = None

    @classmethod
    def wrap(cls, store: Store, name: str | None = None, source: Path | None = None) -> OpenStore:
        """Wrap a Store: derive its display name and open its notes."""
        path = getattr(store, "path", None)
        notes_path = notes_path_for(Path(path)) if path is not None else None
        try:
            notes = NeuronNotes(notes_path)
        except Exception as exc:  # unreadable notes must not block opening the store
            notes = NeuronNotes(None)  # memory only: never overwrite a file we could not read
            notes.warning = (
                f"{notes_path}: cannot read neuron notes ({exc}); notes of this session are "
                "not saved"
            )
        return cls(
            name=name or display_name(store),
            store=store,
            notes=notes,
            cache=SentenceCache(store),
            source=source,
        )


def display_name(store: Store) -> str:
    """A short name for a store: its model name from the metadata, else the file stem."""
    meta = {}
    with contextlib.suppress(Exception):
        meta = dict(store.metadata)
    for key in ("name", "model_name", "model"):
        value = meta.get(key)
        if isinstance(value, dict):  # our stores: {"model": {"name": …, "path": …}}
            value = value.get("name") or value.get("path")
        if isinstance(value, str) and value.strip():
            return Path(value.strip()).name
    path = getattr(store, "path", None)
    if path is not None and not str(path).startswith("<"):
        stem = Path(path).name
        for suffix in (".h5", ".hdf5", ".json", ".store"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
        return stem
    return "store"


class Session:
    """The open stores; one is active (shown), the others are cross-model partners."""

    def __init__(self) -> None:
        self.stores: list[OpenStore] = []
        self.active_index = 0

    @property
    def active(self) -> OpenStore | None:
        """The store the analysis screen shows (``None`` before anything is open)."""
        if not self.stores:
            return None
        return self.stores[min(self.active_index, len(self.stores) - 1)]

    def add(self, opened: OpenStore) -> OpenStore:
        """Add a store, giving it a unique name among the open ones."""
        names = {s.name for s in self.stores}
        base, n = opened.name, 2
        while opened.name in names:
            opened.name = f"{base}#{n}"
            n += 1
        self.stores.append(opened)
        return opened

    def by_name(self, name: str) -> OpenStore | None:
        """The open store called ``name``."""
        for s in self.stores:
            if s.name == name:
                return s
        return None

    def activate(self, name: str) -> OpenStore | None:
        """Make ``name`` the active store."""
        for i, s in enumerate(self.stores):
            if s.name == name:
                self.active_index = i
                return s
        return None

    def others(self) -> list[OpenStore]:
        """The open stores other than the active one (cross-model partners)."""
        active = self.active
        return [s for s in self.stores if s is not active]
