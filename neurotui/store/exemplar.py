"""Exemplar stores (``extract … --keep exemplars``): what a neuron does, without every row.

Why: a dense store costs ``neurons × 4`` bytes per token (1.2 MB per token for an 8B LLM).
Most questions about one neuron (its distribution, its strongest and weakest contexts, a
fair sample of what it does elsewhere) need far less. One streaming pass keeps, per neuron:

* exact moments: count, non-finite count, mean and M2 (float64, merged by Chan's formula),
  min and max;
* a histogram over fixed, data-independent bin edges (so parts merge by addition);
* the top-k and bottom-k activating contexts (sentence id, token position, value), ordered
  by value then by corpus position, so any split of the corpus merges to the same lists —
  each with *that neuron's own* activations over a window of ±``window`` tokens around the
  position (its start and length) and the window's token ids into one shared,
  deduplicated token table. Never a row of the other neurons: a context costs
  ``2·window + 1`` floats and ids, so the lists are O(neurons × k × window) whatever the
  corpus and however many distinct sentences the neurons' contexts fall in;
* a uniform sample of whole sentences (the ``sample`` with the smallest hash of their
  corpus id, so the sample is the same however the corpus was split), the only sentences
  kept with dense rows (every neuron); per neuron, its quantile-stratified contexts are
  drawn from these at read time (:func:`stratified_contexts`).

The file is an ordinary neurotui store whose sentences are the sampled ones (so the app,
the card, top words and colouring work on them as on any store), whose ``/summary`` holds
the corpus-wide statistics (example rows point into the sampled sentences where a context
lies in one, else −1), and whose ``/exemplar`` group holds the mergeable state, windows
included. The card and ``top-words`` read a neuron's top/bottom contexts from its windows
(:func:`exemplar_contexts`). ``metadata["keep"] == "exemplars"`` tells it apart; rankings
that need every row refuse it in one line (:func:`refuse_dense_method`).
``/exemplar``'s ``format`` attribute is :data:`FORMAT` (the first layout, which kept the
full-width rows of every context's sentence, has none: it opens as a store, and merging or
reading its windows asks to re-extract).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurotui.errors import DataError, StoreError

GROUP = "exemplar"
KEEPS = ("dense", "exemplars")
DEFAULT_K = 10
DEFAULT_SAMPLE = 64
#: tokens kept on each side of a top/bottom context (its window is 2·W + 1 long)
DEFAULT_WINDOW = 12
#: the ``/exemplar`` layout written here (1: full-width rows of every context's sentence)
FORMAT = 2
#: fixed histogram edges: 0 and ± 10^(−3…3) in 24 log steps; two open end bins
EDGES = np.concatenate([-np.logspace(3, -3, 25), [0.0], np.logspace(-3, 3, 25)])
#: rows gathered before one update (a partition of (k + rows) × neurons per update) …
_BATCH_ROWS = 2048
#: … or fewer for wide sites: an update's temporaries are ~20 copies of rows × neurons
#: (2048 × 17,856 SmolLM2 residual values made a 3 GB peak; 2²² cells, ~350 MB)
_BATCH_CELLS = 1 << 22
#: methods that read only the corpus-wide statistics an exemplar store keeps
SUMMARY_METHODS = ("variance", "meandist", "random")
#: the per-context fields of a top/bottom list: (k, neurons) and (k, neurons, 2W + 1)
_FIELDS = ("sent", "pos", "val", "start", "len", "win", "tok")


def is_exemplar(store: Any) -> bool:
    """Whether ``store`` is an exemplar store."""
    meta = getattr(store, "metadata", None)
    return isinstance(meta, dict) and meta.get("keep") == "exemplars"


def layout_version(store: Any) -> int:
    """The ``/exemplar`` layout of an open exemplar store (0: not one; 1: the first)."""
    f = getattr(store, "_file", None)
    if not is_exemplar(store) or f is None or GROUP not in f:
        return 0
    return int(f[GROUP].attrs.get("format", 1))


def refuse_dense_method(store: Any, method: str) -> None:
    """One-line refusal of a ranking that needs every row of an exemplar store."""
    if is_exemplar(store) and method not in SUMMARY_METHODS:
        raise DataError(
            f"{store.path}: --method {method} needs dense activations of every token, and "
            f"this is an exemplar store (sampled sentences and per-neuron windows only); use "
            f"{', '.join(SUMMARY_METHODS)} or extract with --keep dense"
        )


def _priority(sentence_ids: np.ndarray) -> np.ndarray:
    """splitmix64 of the corpus sentence id: a fixed pseudo-random order of sentences."""
    with np.errstate(over="ignore"):
        z = sentence_ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


#: ``fetch(rows, cols)`` → the window fields (start, len, win, tok) of candidates
Fetch = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]


class ExemplarState:
    """The mergeable per-neuron state, the contexts' windows and the sampled sentences."""

    def __init__(self, sites: Sequence[tuple[str, int]], k: int = DEFAULT_K,
                 sample: int = DEFAULT_SAMPLE, window: int = DEFAULT_WINDOW) -> None:  # fmt: skip
        if k < 1 or sample < 0 or window < 0:
            raise DataError(
                f"exemplars: k must be ≥ 1, sample and window ≥ 0 (got {k}, {sample}, {window})"
            )
        self.sites = [(str(n), int(s)) for n, s in sites]
        n = sum(s for _, s in self.sites)
        self.k, self.sample, self.window = int(k), int(sample), int(window)
        self.count = np.zeros(n, np.int64)
        self.nonfinite = np.zeros(n, np.int64)
        self.mean = np.zeros(n, np.float64)
        self.m2 = np.zeros(n, np.float64)
        self.min = np.full(n, np.inf, np.float32)
        self.max = np.full(n, -np.inf, np.float32)
        self.hist = np.zeros((n, EDGES.size + 1), np.int64)
        self.ext = {side: self._empty(side, self.k, n) for side in ("top", "bottom")}
        self.sample_ids = np.zeros(0, np.int64)
        #: sampled sentences: corpus id → (tokens, (len, neurons) float32)
        self.sentences: dict[int, tuple[list[str], np.ndarray]] = {}
        #: the token table the windows' ids point into (deduplicated)
        self.vocab: list[str] = []
        self._vocab_ids: dict[str, int] = {}
        self._compact_at = 65536
        self.corpus_sentences = 0
        self.corpus_tokens = 0

    def _empty(self, side: str, k: int, n: int) -> dict[str, np.ndarray]:
        w = 2 * self.window + 1
        return {
            "sent": np.full((k, n), -1, np.int64),
            "pos": np.full((k, n), -1, np.int64),
            "val": np.full((k, n), -np.inf if side == "top" else np.inf, np.float32),
            "start": np.full((k, n), -1, np.int64),
            "len": np.zeros((k, n), np.int32),
            "win": np.full((k, n, w), np.nan, np.float32),
            "tok": np.full((k, n, w), -1, np.int32),
        }

    @property
    def width(self) -> int:
        return int(self.count.size)

    @property
    def span(self) -> int:
        """Length of a stored window (``2·window + 1``)."""
        return 2 * self.window + 1

    def nbytes(self) -> int:
        """Bytes of the per-neuron state and windows (not the sampled sentences' rows)."""
        arrays: list[np.ndarray] = [
            self.count, self.nonfinite, self.mean, self.m2, self.min, self.max, self.hist
        ]  # fmt: skip
        arrays += [a for e in self.ext.values() for a in e.values()]
        return int(sum(a.nbytes for a in arrays))

    def _token_ids(self, tokens: Sequence[str]) -> list[int]:
        ids = self._vocab_ids
        out = []
        for t in tokens:
            i = ids.get(t)
            if i is None:
                i = ids[t] = len(self.vocab)
                self.vocab.append(t)
            out.append(i)
        return out

    # -- streaming -----------------------------------------------------------------
    def update(
        self, ids: Sequence[int], tokens: Sequence[list[str]], acts: Sequence[np.ndarray]
    ) -> None:
        """Take sentences ``ids`` (corpus ids) with their tokens and ``(len, neurons)`` rows."""
        if not ids:
            return
        block = np.concatenate(acts).astype(np.float32, copy=False)
        lengths = np.array([a.shape[0] for a in acts], np.int64)
        sent = np.repeat(np.asarray(ids, np.int64), lengths)
        pos = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]) if sent.size else sent
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)  # block row of each sentence
        slen = np.repeat(lengths, lengths)
        toks = np.asarray([i for t in tokens for i in self._token_ids(t)], np.int32)
        self._moments(block)
        fetch = self._block_fetch(block, toks, pos, first, slen)
        self._extremes(block, sent, pos, fetch)
        self._sample(np.asarray(ids, np.int64), tokens, acts)
        self.corpus_sentences += len(ids)
        self.corpus_tokens += int(lengths.sum())
        if len(self.vocab) > self._compact_at:
            self.compact_vocab()
            self._compact_at = max(65536, 2 * len(self.vocab))

    def _block_fetch(self, block: np.ndarray, toks: np.ndarray, pos: np.ndarray,
                     first: np.ndarray, slen: np.ndarray) -> Fetch:  # fmt: skip
        """Windows of candidates ``(row, column)`` of ``block``: only that column's values."""
        w, span = self.window, self.span

        def fetch(rows: np.ndarray, cols: np.ndarray) -> dict[str, np.ndarray]:
            p = pos[rows]
            start = np.maximum(0, p - w)
            length = (np.minimum(slen[rows], p + w + 1) - start).astype(np.int32)
            offs = np.arange(span)
            inside = offs[None, :] < length[:, None]
            at = np.where(inside, (first[rows] + start)[:, None] + offs[None, :], 0)
            win = np.where(inside, block[at, cols[:, None]], np.nan).astype(np.float32)
            tok = np.where(inside, toks[at], -1).astype(np.int32)
            return {"start": start, "len": length, "win": win, "tok": tok}

        return fetch

    def _moments(self, block: np.ndarray) -> None:
        if block.shape[0] == 0:
            return
        finite = np.isfinite(block)
        n_b = finite.sum(0).astype(np.float64)
        vals = np.where(finite, block, 0.0).astype(np.float64)
        mean_b = vals.sum(0) / np.maximum(n_b, 1.0)
        dev = np.where(finite, vals - mean_b, 0.0)
        m2_b = np.einsum("ij,ij->j", dev, dev)
        self.merge_moments(n_b, mean_b, m2_b)
        self.nonfinite += (~finite).sum(0)
        with np.errstate(invalid="ignore"):
            self.min = np.minimum(self.min, np.where(finite, block, np.inf).min(0))
            self.max = np.maximum(self.max, np.where(finite, block, -np.inf).max(0))
        bins = np.searchsorted(EDGES, np.where(finite, block, 0.0), side="right")
        width = self.hist.shape[1]
        flat = (bins + np.arange(block.shape[1])[None, :] * width)[finite]
        self.hist += np.bincount(flat, minlength=self.hist.size).reshape(self.hist.shape)

    def merge_moments(self, n_b: np.ndarray, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        from neurotui.store.sharded import chan_merge

        n, self.mean, self.m2 = chan_merge(
            self.count.astype(np.float64), self.mean, self.m2, n_b, mean_b, m2_b
        )
        self.count = np.rint(n).astype(np.int64)

    def _extremes(self, block: np.ndarray, sent: np.ndarray, pos: np.ndarray,
                  fetch: Fetch) -> None:  # fmt: skip
        finite = np.isfinite(block)
        cols = block.shape[1]
        for side in ("top", "bottom"):
            fill = -np.inf if side == "top" else np.inf
            vals = np.where(finite, block, fill).astype(np.float32)
            s = np.where(finite, sent[:, None], -1)
            p = np.where(finite, pos[:, None], -1)
            self._merge_side(side, vals, np.broadcast_to(s, (s.shape[0], cols)),
                             np.broadcast_to(p, (p.shape[0], cols)), fetch)  # fmt: skip

    def _merge_side(self, side: str, vals: np.ndarray, sent: np.ndarray, pos: np.ndarray,
                    fetch: Fetch) -> None:  # fmt: skip
        """Keep the best ``k`` per column of the current lists plus the candidates.

        Order: value (high first for ``top``), then sentence, then position; empty slots
        last. Why two steps: a partition finds each column's k-th key, and only entries at
        or above it (ties included, so the result stays exact) are sorted — about k per
        column once the lists are warm, instead of every row of the batch. Entries that
        stay keep their windows; a candidate that enters the list brings its own window
        (``fetch``: that column's values only), and one pushed out drops its window.
        """
        cur = self.ext[side]
        held = cur["val"].shape[0]
        v = np.concatenate([cur["val"], vals])
        s = np.concatenate([cur["sent"], sent])
        p = np.concatenate([cur["pos"], pos])
        key = np.where(s >= 0, -v if side == "top" else v, np.inf)
        k, width = self.k, key.shape[1]
        if key.shape[0] > k:
            kth = np.partition(key, k - 1, axis=0)[k - 1]
            cols, rows = np.nonzero((key <= kth[None, :]).T)
        else:
            cols, rows = np.nonzero(np.ones(key.shape[::-1], bool))
        kk, ss, pp = key[rows, cols], s[rows, cols], p[rows, cols]
        order = np.lexsort((pp, ss, kk, cols))
        cols, rows = cols[order], rows[order]
        rank = np.arange(cols.size) - np.searchsorted(cols, np.arange(width))[cols]
        take = rank < k
        r, c, src = rank[take], cols[take], rows[take]
        live = s[src, c] >= 0
        r, c, src = r[live], c[live], src[live]
        out = self._empty(side, k, width)
        out["val"][r, c] = v[src, c]
        out["sent"][r, c] = s[src, c]
        out["pos"][r, c] = p[src, c]
        old = src < held
        for name in ("start", "len", "win", "tok"):
            out[name][r[old], c[old]] = cur[name][src[old], c[old]]
        new = ~old
        if new.any():
            got = fetch(src[new] - held, c[new])
            for name in ("start", "len", "win", "tok"):
                out[name][r[new], c[new]] = got[name]
        self.ext[side] = out

    def _sample(self, ids: np.ndarray, tokens: Sequence[list[str]],
                acts: Sequence[np.ndarray]) -> None:  # fmt: skip
        """Keep the dense rows of the sentences that are in the sample now, and only those.

        A sentence outside the sample when it arrives never enters it later (the sample is
        the smallest hashes of the sentences seen, and the set seen only grows)."""
        self.sample_ids = self._best_sample(np.concatenate([self.sample_ids, ids]))
        chosen = set(self.sample_ids.tolist())
        for i, t, a in zip(ids.tolist(), tokens, acts, strict=True):
            if i in chosen:
                self.sentences[int(i)] = (list(t), np.ascontiguousarray(a, np.float32))
        self._evict()

    def _best_sample(self, ids: np.ndarray) -> np.ndarray:
        ids = np.unique(ids)
        if ids.size <= self.sample:
            return ids
        order = np.lexsort((ids, _priority(ids)))[: self.sample]
        return np.sort(ids[order])

    def kept_ids(self) -> np.ndarray:
        """Corpus ids of the sentences kept with dense rows (the sample), sorted."""
        return np.asarray(self.sample_ids, np.int64)

    def _evict(self) -> None:
        keep = set(self.kept_ids().tolist())
        for sid in [s for s in self.sentences if s not in keep]:
            del self.sentences[sid]

    def compact_vocab(self) -> None:
        """Drop token-table entries no window points at (and renumber the windows' ids)."""
        used = np.unique(np.concatenate([e["tok"].ravel() for e in self.ext.values()]))
        used = used[used >= 0]
        remap = np.full(len(self.vocab) + 1, -1, np.int32)  # index −1 → the last slot: −1
        remap[used] = np.arange(used.size, dtype=np.int32)
        for e in self.ext.values():
            e["tok"] = remap[e["tok"]]
        self.vocab = [self.vocab[i] for i in used.tolist()]
        self._vocab_ids = {t: i for i, t in enumerate(self.vocab)}

    # -- merging ---------------------------------------------------------------------
    def merge(self, other: ExemplarState) -> None:
        """Fold ``other`` (a disjoint part of the corpus) into this state, exactly."""
        if other.sites != self.sites:
            raise StoreError("exemplar parts have different sites; they cannot merge")
        if other.window != self.window:
            raise StoreError(
                f"exemplar parts have different context windows (±{self.window} and "
                f"±{other.window} tokens); they cannot merge"
            )
        self.k = min(self.k, other.k)
        self.sample = min(self.sample, other.sample)
        for side in ("top", "bottom"):
            self.ext[side] = {key: arr[: self.k] for key, arr in self.ext[side].items()}
        self.merge_moments(other.count.astype(np.float64), other.mean, other.m2)
        self.nonfinite += other.nonfinite
        self.min = np.minimum(self.min, other.min)
        self.max = np.maximum(self.max, other.max)
        self.hist += other.hist
        remap = np.asarray(self._token_ids(other.vocab) + [-1], np.int32)
        for side in ("top", "bottom"):
            o = {key: arr[: self.k] for key, arr in other.ext[side].items()}

            def fetch(
                rows: np.ndarray, cols: np.ndarray, o: dict[str, np.ndarray] = o
            ) -> dict[str, np.ndarray]:
                got = {name: o[name][rows, cols] for name in ("start", "len", "win")}
                got["tok"] = remap[o["tok"][rows, cols]]
                return got

            self._merge_side(side, o["val"], o["sent"], o["pos"], fetch)
        self.sentences.update(other.sentences)
        self.sample_ids = self._best_sample(np.concatenate([self.sample_ids, other.sample_ids]))
        self.corpus_sentences += other.corpus_sentences
        self.corpus_tokens += other.corpus_tokens
        self._evict()
        self.compact_vocab()

    # -- the summary the store API reads ---------------------------------------------
    def summary(self, row_of: Mapping[int, int]) -> Any:
        """A :class:`~neurotui.store.summary.Summary` whose example rows index the stored
        (sampled) sentences (``row_of``: corpus sentence id → first row in the written
        store); a context in a sentence that is not stored has row −1 (its window is in
        ``/exemplar``)."""
        from neurotui.store.api import NeuronStats
        from neurotui.store.summary import DEFAULT_LEVELS, Summary

        count = self.count
        std = np.sqrt(np.maximum(self.m2 / np.maximum(count, 1), 0.0))
        lo = np.where(count > 0, self.min, np.nan)
        hi = np.where(count > 0, self.max, np.nan)
        stats = NeuronStats(
            mean=np.where(count > 0, self.mean, np.nan).astype(np.float32),
            std=np.where(count > 0, std, np.nan).astype(np.float32),
            min=lo.astype(np.float32),
            max=hi.astype(np.float32),
            quantile_levels=DEFAULT_LEVELS,
            quantiles=histogram_quantiles(self.hist, lo, hi, DEFAULT_LEVELS),
            count=count.copy(),
            nonfinite=self.nonfinite.copy(),
            extra={
                "keep": "exemplars",
                "quantiles": "interpolated from the fixed-edge histogram (approximate)",
                "corpus_tokens": int(self.corpus_tokens),
                "corpus_sentences": int(self.corpus_sentences),
            },
        )
        rows = {}
        for side in ("top", "bottom"):
            e = self.ext[side]
            first = np.array([row_of.get(int(s), -1) for s in e["sent"].ravel()], np.int64)
            r = np.where(first >= 0, first + e["pos"].ravel(), -1)
            rows[side] = r.reshape(e["sent"].shape)
        return Summary(stats, rows["top"], self.ext["top"]["val"].copy(),
                       rows["bottom"], self.ext["bottom"]["val"].copy())  # fmt: skip

    # -- files -------------------------------------------------------------------------
    def write(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None,
              dtype: str = "float32") -> Path:  # fmt: skip
        """Write the sampled sentences as a store plus summary and state, atomically."""
        import h5py

        from neurotui.atomicfile import atomic_path
        from neurotui.store import layout
        from neurotui.store.writer import StoreWriter

        path = Path(path)
        self.compact_vocab()
        kept = self.kept_ids()
        meta = dict(metadata or {})
        meta["keep"] = "exemplars"
        meta["corpus"] = {"sentences": self.corpus_sentences, "tokens": self.corpus_tokens}
        meta["exemplars"] = {"format": FORMAT, "k": self.k, "sample": self.sample,
                             "window": self.window, "kept_sentences": int(kept.size)}  # fmt: skip
        row_of, row = {}, 0
        with atomic_path(path, error=StoreError) as tmp:
            writer = StoreWriter(tmp, self.sites, dtype=dtype, metadata=meta)
            try:
                for sid in kept.tolist():
                    toks, acts = self.sentences[sid]
                    row_of[sid] = row
                    row += len(toks)
                    writer.add(toks, acts)
                writer.finish(summary=False)
            except BaseException:
                writer.abort()
                raise
            with h5py.File(tmp, "a") as f:
                layout.write_summary(f, self.summary(row_of))
                g = f.create_group(GROUP)
                g.attrs["format"] = FORMAT
                g.attrs["k"], g.attrs["sample"] = self.k, self.sample
                g.attrs["window"] = self.window
                g.attrs["corpus_sentences"] = self.corpus_sentences
                g.attrs["corpus_tokens"] = self.corpus_tokens
                for name in ("count", "nonfinite", "mean", "m2", "min", "max", "hist"):
                    g.create_dataset(name, data=getattr(self, name))
                g.create_dataset("edges", data=EDGES)
                g.create_dataset("sentence_ids", data=kept)
                g.create_dataset("sample_ids", data=self.sample_ids)
                g.create_dataset("tokens", data=np.array(self.vocab, dtype=object),
                                 dtype=h5py.string_dtype("utf-8"))  # fmt: skip
                for side, e in self.ext.items():
                    for key in ("sent", "pos", "val", "start", "len"):
                        g.create_dataset(f"{side}_{key}", data=e[key])
                    # windows packed end to end (no padding): context (r, j) is entries
                    # off[r, j] … off[r, j] + len[r, j] of win and tok
                    lengths = e["len"].astype(np.int64)
                    g.create_dataset(
                        f"{side}_off", data=np.cumsum(lengths).reshape(lengths.shape) - lengths
                    )
                    inside = np.arange(self.span) < lengths[..., None]
                    win = e["win"][inside]
                    g.create_dataset(
                        f"{side}_win", data=win.astype(np.float16) if dtype == "float16" else win
                    )
                    g.create_dataset(f"{side}_tok", data=e["tok"][inside])
        return path

    @classmethod
    def read(cls, path: str | Path) -> ExemplarState:
        """The state of an exemplar store file (its sampled sentences included)."""
        from neurotui.store.h5store import NeurotuiStore

        with NeurotuiStore(path) as store:
            if not is_exemplar(store):
                raise StoreError(f"{path}: not an exemplar store (extract with --keep exemplars)")
            g = store._file.get(GROUP)
            if g is None:
                raise StoreError(f"{path}: exemplar store without its /{GROUP} group")
            _check_format(store)
            try:
                state = cls([(s.name, s.size) for s in store.sites], int(g.attrs["k"]),
                            int(g.attrs["sample"]), int(g.attrs["window"]))  # fmt: skip
                if not np.array_equal(g["edges"][()], EDGES):
                    raise StoreError(f"{path}: exemplar histogram edges differ from this version's")
                for name in ("count", "nonfinite", "mean", "m2", "min", "max", "hist"):
                    setattr(state, name, g[name][()])
                for side, e in state.ext.items():
                    for key in ("sent", "pos", "val", "start", "len"):
                        e[key] = g[f"{side}_{key}"][()].astype(e[key].dtype, copy=False)
                    inside = np.arange(state.span) < e["len"][..., None]
                    e["win"][inside] = g[f"{side}_win"][()]
                    e["tok"][inside] = g[f"{side}_tok"][()]
                state.vocab = [t.decode() if isinstance(t, bytes) else str(t)
                               for t in g["tokens"][()]]  # fmt: skip
                state._vocab_ids = {t: i for i, t in enumerate(state.vocab)}
                state.sample_ids = g["sample_ids"][()]
                ids = g["sentence_ids"][()]
                state.corpus_sentences = int(g.attrs["corpus_sentences"])
                state.corpus_tokens = int(g.attrs["corpus_tokens"])
            except (KeyError, ValueError) as exc:
                raise StoreError(f"{path}: damaged exemplar state ({exc})") from None
            if ids.size != store.sentences:
                raise StoreError(
                    f"{path}: exemplar state lists {ids.size} stored sentences, the store has "
                    f"{store.sentences}"
                )
            for i, sid in enumerate(ids.tolist()):
                state.sentences[int(sid)] = (store.tokens(i), store.activations(i))
        return state


def _check_format(store: Any) -> None:
    version = layout_version(store)
    if version != FORMAT:
        raise StoreError(
            f"{store.path}: exemplar store of layout {version} (this version reads "
            f"{FORMAT}: per-neuron context windows); re-extract it with --keep exemplars"
        )


def histogram_quantiles(hist: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                        levels: np.ndarray) -> np.ndarray:  # fmt: skip
    """``(levels, neurons)`` quantiles interpolated in the fixed-edge histogram bins
    (the open end bins are closed by each neuron's min and max)."""
    n, nb = hist.shape
    out = np.full((levels.size, n), np.nan, np.float32)
    cum = np.cumsum(hist, axis=1)
    for j in range(n):
        total = cum[j, -1]
        if total == 0:
            continue
        edges = np.concatenate([[lo[j]], EDGES, [hi[j]]]).astype(np.float64)
        edges = np.clip(edges, lo[j], hi[j])
        for q, level in enumerate(levels):
            target = level * total
            b = int(np.searchsorted(cum[j], target, side="left"))
            b = min(b, nb - 1)
            before = cum[j, b - 1] if b > 0 else 0
            inside = hist[j, b]
            frac = (target - before) / inside if inside else 0.0
            out[q, j] = edges[b] + frac * (edges[b + 1] - edges[b])
    return out


class ExemplarWriter:
    """The :class:`~neurotui.store.writer.StoreWriter` face of an exemplar extraction."""

    def __init__(self, path: str | Path, sites: Sequence[tuple[str, int]], *,
                 dtype: str = "float32", metadata: Mapping[str, Any] | None = None,
                 first_sentence: int = 0, k: int = DEFAULT_K, sample: int = DEFAULT_SAMPLE,
                 window: int = DEFAULT_WINDOW, **_ignored: Any) -> None:  # fmt: skip
        self.path = Path(path)
        self.state = ExemplarState(sites, k, sample, window)
        self.names = [n for n, _ in self.state.sites]
        self.dtype, self.metadata = dtype, dict(metadata or {})
        self.next_id = int(first_sentence)
        self._ids: list[int] = []
        self._toks: list[list[str]] = []
        self._acts: list[np.ndarray] = []
        self._rows = 0

    def add(self, tokens: Sequence[str], acts: Mapping[str, np.ndarray] | np.ndarray) -> None:
        """One sentence (buffered; the state is updated every few thousand rows)."""
        if isinstance(acts, np.ndarray):
            row = acts
        else:
            row = np.concatenate([np.asarray(acts[n], np.float32) for n in self.names], axis=1)
        self._ids.append(self.next_id)
        self.next_id += 1
        self._toks.append(list(tokens))
        self._acts.append(np.asarray(row, np.float32))
        self._rows += len(tokens)
        if self._rows >= _BATCH_ROWS or self._rows * self.state.width >= _BATCH_CELLS:
            self._flush()

    def _flush(self) -> None:
        self.state.update(self._ids, self._toks, self._acts)
        self._ids, self._toks, self._acts, self._rows = [], [], [], 0

    def finish(self, **_ignored: Any) -> Path:
        """Fold the last sentences in and write the file."""
        self._flush()
        return self.state.write(self.path, metadata=self.metadata, dtype=self.dtype)

    def abort(self) -> None:
        """Nothing was written under the target name; drop the state."""
        self._ids, self._toks, self._acts = [], [], []


def merge_exemplar_files(parts: Sequence[str | Path], out: str | Path, *,
                         metadata: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    """Merge exemplar shards (disjoint, any order) into one exemplar store at ``out``."""
    from neurotui.store.h5store import NeurotuiStore

    if not parts:
        raise StoreError(f"{out}: no exemplar parts to merge")
    state = ExemplarState.read(parts[0])
    with NeurotuiStore(parts[0]) as first:
        meta = dict(first.metadata)
        dtype = str(first.dtype)
    for part in parts[1:]:
        state.merge(ExemplarState.read(part))
    for key in ("keep", "corpus", "exemplars"):
        meta.pop(key, None)
    meta.update(metadata or {})
    return state.write(
        out, metadata=meta, dtype=dtype if dtype in ("float16", "float32") else "float32"
    )


def stratified_contexts(store: Any, neuron: int | str, strata: int = 8) -> list[Any]:
    """Contexts of ``neuron`` at evenly spaced value quantiles of the sampled sentences.

    Why from the sample: the uniform sentence sample is the part of an exemplar store that
    is not biased towards extremes (and the only part with every neuron's rows); sorting
    its rows by the neuron's value and taking one per stratum shows what the neuron does
    across its range (Neuronpedia's intervals).
    """
    from neurotui.store.api import Example

    gid = store.neuron_id(neuron)
    g = store._file.get(GROUP) if is_exemplar(store) else None
    if g is None:
        rows = np.arange(store.total_tokens)
    else:
        ids, sample = g["sentence_ids"][()], set(g["sample_ids"][()].tolist())
        off = store.offsets
        rows = np.concatenate(
            [np.arange(off[i], off[i + 1]) for i, s in enumerate(ids.tolist()) if s in sample]
            or [np.zeros(0, np.int64)]
        )
    values = store.neuron_values(gid)[rows]
    keep = np.isfinite(values)
    rows, values = rows[keep], values[keep]
    if rows.size == 0:
        return []
    order = np.lexsort((rows, values))
    picks = np.unique(np.linspace(0, rows.size - 1, num=min(strata, rows.size)).round().astype(int))
    sent, pos = store.locate(rows[order][picks])
    return [
        Example(int(s), int(p), float(v))
        for s, p, v in zip(sent, pos, values[order][picks], strict=True)
    ]


@dataclass(frozen=True)
class Window:
    """One top/bottom context of one neuron, as an exemplar store keeps it.

    ``values`` are *this neuron's* activations over ``tokens`` (positions ``start…``
    of corpus sentence ``corpus_sentence``): the other neurons' values at these tokens
    are not kept unless the sentence is a stored (sampled) one, ``sentence`` then being
    its index in the store (``None`` otherwise).
    """

    corpus_sentence: int
    sentence: int | None
    position: int
    value: float
    start: int
    tokens: list[str]
    values: np.ndarray

    @property
    def at(self) -> int:
        """Index of the context's own token in ``tokens``."""
        return self.position - self.start


def exemplar_contexts(store: Any, neuron: int | str, k: int = DEFAULT_K,
                      bottom: bool = False) -> list[Window]:  # fmt: skip
    """The top (or bottom) ``k`` contexts of ``neuron`` with its own window values.

    Reads ``k`` windows of one neuron (a few hundred bytes), never a row of the others.
    A layout-1 store (no windows) is a one-line error asking to re-extract.
    """
    _check_format(store)
    gid = store.neuron_id(neuron)
    g = store._file[GROUP]
    side = "bottom" if bottom else "top"
    try:
        kk = min(int(k), g[f"{side}_sent"].shape[0])
        sent = g[f"{side}_sent"][:kk, gid]
        pos = g[f"{side}_pos"][:kk, gid]
        val = g[f"{side}_val"][:kk, gid]
        start = g[f"{side}_start"][:kk, gid]
        length = g[f"{side}_len"][:kk, gid]
        off = g[f"{side}_off"][:kk, gid]
        live = int(np.count_nonzero(sent >= 0))
        win = [np.asarray(g[f"{side}_win"][off[r] : off[r] + length[r]], np.float32)
               for r in range(live)]  # fmt: skip
        tok = [g[f"{side}_tok"][off[r] : off[r] + length[r]] for r in range(live)]
        if any(t.size != n for t, n in zip(tok, length.tolist(), strict=False)):
            raise ValueError(f"{side} windows shorter than their lengths")
        table = g["tokens"]
        stored = {int(s): i for i, s in enumerate(g["sentence_ids"][()].tolist())}
        used = np.unique(np.concatenate([*tok, np.zeros(0, np.int32)]))
        used = used.astype(np.int64)
        if used.size and (used[0] < 0 or used[-1] >= table.shape[0]):
            raise ValueError(f"{side} window token ids outside the token table")
        words = table[used] if used.size else []
        lookup = {
            int(i): (w.decode() if isinstance(w, bytes) else str(w))
            for i, w in zip(used.tolist(), words, strict=True)
        }
        out = []
        for r in range(live):
            out.append(
                Window(
                    corpus_sentence=int(sent[r]),
                    sentence=stored.get(int(sent[r])),
                    position=int(pos[r]),
                    value=float(val[r]),
                    start=int(start[r]),
                    tokens=[lookup[int(i)] for i in tok[r].tolist()],
                    values=win[r],
                )
            )
    except (KeyError, ValueError) as exc:
        raise StoreError(f"{store.path}: damaged exemplar windows ({exc})") from None
    return out
