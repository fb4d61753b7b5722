"""A store made of several shard files plus a small JSON manifest, read as one store.

Why shards: a distributed extraction has many writers; each writes its own shard (an
ordinary neurotui HDF5 store, written atomically, so it is visible only when complete) and
the manifest, written atomically last, is what makes the set a store. A run that fails
leaves no manifest, so nothing half-written opens as valid.

Manifest (one JSON object, one line)::

    {"neurotui_sharded": 1, "sites": [[name, size], …], "sentences": N, "tokens": T,
     "metadata": {…}, "shards": [{"path": "S.shards/r…-00000.h5", "sentences": n,
     "tokens": t, "bytes": b}, …]}

Shard paths are relative to the manifest's folder. Every count and size is checked on
open: a manifest that lies about its shards is a one-line error naming the shard.

Summaries: each shard carries its own; the store's summary merges them (count, mean, σ by
Chan's parallel formula, min, max and top/bottom examples exactly). Quantiles: a
distributed extraction gathers the very rows one summary pass would sample (every
``stride``-th corpus row) from the shards and writes their quantiles to a side file the
manifest lists (``"quantiles": {"path", "bytes", …}``), so they equal the single pass's;
without one (shards written by other means) they are the token-weighted mean of the
shards' quantiles, marked ``quantiles_merged`` in ``extra`` (approximate).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import StoreError
from neurotui.store.base import BaseStore, make_sites

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import StoreSite
    from neurotui.store.h5store import NeurotuiStore
    from neurotui.store.summary import Summary

MANIFEST_KEY = "neurotui_sharded"
MANIFEST_VERSION = 1
#: a manifest larger than this is not one of ours (it lists files, not data)
MAX_MANIFEST_BYTES = 64 << 20


def is_manifest(obj: object) -> bool:
    """Whether a parsed JSON value is a shard manifest."""
    return isinstance(obj, dict) and MANIFEST_KEY in obj


def shard_folder(manifest: Path) -> Path:
    """Where the shards of ``manifest`` live: ``<manifest>.shards/`` beside it."""
    return manifest.with_name(manifest.name + ".shards")


def write_manifest(
    path: str | Path,
    shards: Sequence[str | Path],
    *,
    metadata: dict[str, Any] | None = None,
    quantiles: tuple[Path, dict[str, Any]] | None = None,
) -> Path:
    """Check the finished ``shards`` (in corpus order) and write the manifest atomically.

    Each shard is opened to read its counts and sites, so a manifest never lists a shard
    that does not open or that disagrees with the others. ``quantiles``: the side file of
    the whole corpus's quantiles (:func:`write_quantiles`) and what its summary says of
    them (sample rows, stride, rank error).
    """
    from neurotui.atomicfile import write_text
    from neurotui.store.h5store import NeurotuiStore

    path = Path(path)
    base = path.parent
    entries, sites = [], None
    sentences = tokens = 0
    for shard in shards:
        shard = Path(shard)
        with NeurotuiStore(shard) as store:
            pairs = [[s.name, s.size] for s in store.sites]
            if sites is None:
                sites = pairs
                meta = dict(store.metadata)
            elif pairs != sites:
                raise StoreError(f"{shard}: sites differ from the first shard's")
            entries.append(
                {
                    "path": _relative(shard, base),
                    "sentences": store.sentences,
                    "tokens": store.total_tokens,
                    "bytes": shard.stat().st_size,
                }
            )
            sentences += store.sentences
            tokens += store.total_tokens
    if sites is None:
        raise StoreError(f"{path}: no shards to list")
    meta.update(metadata or {})
    meta["shards"] = len(entries)
    doc = {
        MANIFEST_KEY: MANIFEST_VERSION,
        "sites": sites,
        "sentences": sentences,
        "tokens": tokens,
        "metadata": meta,
        "shards": entries,
    }
    if quantiles is not None:
        side, extra = quantiles
        doc["quantiles"] = {
            "path": _relative(Path(side), base),
            "bytes": Path(side).stat().st_size,
            **extra,
        }
    write_text(path, json.dumps(doc, separators=(",", ":"), default=str) + "\n", error=StoreError)
    return path


def write_quantiles(path: Path, levels: np.ndarray, quantiles: np.ndarray) -> Path:
    """Write the corpus quantiles side file atomically (``.npz``: levels, quantiles)."""
    import io

    from neurotui.atomicfile import write_bytes

    buf = io.BytesIO()
    np.savez(
        buf, levels=np.asarray(levels, np.float64), quantiles=np.asarray(quantiles, np.float32)
    )
    return write_bytes(path, buf.getvalue(), error=StoreError)


def _relative(shard: Path, base: Path) -> str:
    try:
        return str(shard.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(shard.resolve())


def read_manifest(path: Path, shown: str) -> dict[str, Any]:
    """Parse and check the manifest's own fields (not yet the shards)."""
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise StoreError(f"{shown}: {size} bytes is too large for a shard manifest")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{shown}: shard manifest is not valid JSON ({exc})") from None
    if not is_manifest(doc):
        raise StoreError(f"{shown}: not a shard manifest (no {MANIFEST_KEY!r} key)")
    version = doc[MANIFEST_KEY]
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise StoreError(
            f"{shown}: shard manifest version {version!r} is not one this neurotui reads "
            f"(≤ {MANIFEST_VERSION}); upgrade neurotui"
        )
    for key, kind in (("sites", list), ("shards", list), ("sentences", int), ("tokens", int)):
        if not isinstance(doc.get(key), kind) or isinstance(doc.get(key), bool):
            raise StoreError(f"{shown}: manifest field {key!r} is missing or not a {kind.__name__}")
    if not doc["shards"]:
        raise StoreError(f"{shown}: manifest lists no shards")
    for j, entry in enumerate(doc["shards"]):
        if not isinstance(entry, dict):
            raise StoreError(f"{shown}: shards[{j}] is not an object")
        for key in ("sentences", "tokens", "bytes"):
            value = entry.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise StoreError(f"{shown}: shards[{j}].{key} is missing or not a count")
        if not isinstance(entry.get("path"), str) or not entry["path"]:
            raise StoreError(f"{shown}: shards[{j}].path is missing")
    return doc


class ShardedStore(BaseStore):
    """Several neurotui shard files behind one manifest, read as one store."""

    format = "neurotui-sharded"

    def __init__(self, path: str | Path, display_path: str | Path | None = None) -> None:

        self.path = Path(path)
        self._shown = str(display_path or path)
        doc = read_manifest(self.path, self._shown)
        self._doc = doc
        try:
            pairs = [(str(n), int(s)) for n, s in doc["sites"]]
        except (TypeError, ValueError):
            raise StoreError(
                f"{self._shown}: manifest field 'sites' is not [[name, size], …]"
            ) from None
        self._sites = make_sites(pairs, self._shown)
        self.shards: list[NeurotuiStore] = []
        try:
            for j, entry in enumerate(doc["shards"]):
                self.shards.append(self._open_shard(j, entry, pairs))
        except BaseException:
            self.close()
            raise
        lengths = [s.sentence_lengths() for s in self.shards]
        self._offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths))]).astype(np.int64)
        counts = np.array([s.sentences for s in self.shards], dtype=np.int64)
        self._first_sentence = np.concatenate([[0], np.cumsum(counts)])
        rows = np.array([s.total_tokens for s in self.shards], dtype=np.int64)
        self._first_row = np.concatenate([[0], np.cumsum(rows)])
        if int(self._first_sentence[-1]) != doc["sentences"] or int(rows.sum()) != doc["tokens"]:
            raise StoreError(
                f"{self._shown}: manifest says {doc['sentences']} sentences / {doc['tokens']} "
                f"tokens, its shards hold {int(counts.sum())} / {int(rows.sum())}"
            )
        self.dtype = self.shards[0].dtype
        #: the corpus quantiles side file (checked now, read with the summary)
        self._quantiles_file = (
            self._quantiles_side(doc["quantiles"]) if "quantiles" in doc else None
        )

    def _open_shard(
        self, j: int, entry: dict[str, Any], pairs: list[tuple[str, int]]
    ) -> NeurotuiStore:
        from neurotui.store.h5store import NeurotuiStore

        where = f"{self._shown}: shard {j} ({entry['path']})"
        store = NeurotuiStore(self._listed_file(entry, where))
        have = [(s.name, s.size) for s in store.sites]
        problem = None
        if have != pairs:
            problem = "its sites differ from the manifest's"
        elif store.sentences != entry["sentences"] or store.total_tokens != entry["tokens"]:
            problem = (
                f"it holds {store.sentences} sentences / {store.total_tokens} tokens, the "
                f"manifest says {entry['sentences']} / {entry['tokens']}"
            )
        if problem:
            store.close()
            raise StoreError(f"{where}: {problem}")
        return store

    def _label(self) -> str:
        return self._shown

    # -- contract ------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, object]:
        """The first shard's metadata, updated with the manifest's."""
        meta = dict(self.shards[0].metadata)
        meta.update(self._doc.get("metadata") or {})
        return meta

    def _where(self, i: int) -> tuple[NeurotuiStore, int]:
        j = int(np.searchsorted(self._first_sentence, i, side="right")) - 1
        return self.shards[j], i - int(self._first_sentence[j])

    def tokens(self, i: int) -> list[str]:
        """The tokens of sentence ``i``."""
        shard, local = self._where(self._check_sentence(i))
        return shard.tokens(local)

    def all_tokens(self) -> list[list[str]]:
        """Every sentence's tokens, shard after shard."""
        return [t for shard in self.shards for t in shard.all_tokens()]

    def _sentence(self, i: int, sites: list[StoreSite]) -> np.ndarray:
        shard, local = self._where(i)
        return shard.activations(local, [s.name for s in sites])

    def neuron_values(self, neuron: int | str) -> np.ndarray:
        """One neuron over the corpus (its column of every shard, in order)."""
        gid = self.neuron_id(neuron)
        parts = [shard.neuron_values(gid) for shard in self.shards]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def iter_chunks(
        self, neurons: Sequence[int] | None = None, chunk_tokens: int = 65536
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Each shard's blocks in turn, with corpus-wide first rows."""
        for shard, first in zip(self.shards, self._first_row, strict=False):
            for start, block in shard.iter_chunks(neurons, chunk_tokens):
                yield int(first) + start, block

    def iter_site_blocks(self, chunk_tokens: int = 65536) -> Iterator[tuple[int, int, np.ndarray]]:
        """Each shard's per-site blocks in turn, with corpus-wide first rows."""
        for shard, first in zip(self.shards, self._first_row, strict=False):
            for start, col, block in shard.iter_site_blocks(chunk_tokens):
                yield int(first) + start, col, block

    @property
    def has_summary(self) -> bool:
        """Whether every shard carries summaries (the merged one exists)."""
        return all(shard.has_summary for shard in self.shards)

    def _load_summary(self) -> Summary | None:
        if not self.has_summary:
            return None
        parts = [shard.summary for shard in self.shards]
        present = [part for part in parts if part is not None]
        if len(present) < len(parts):  # a shard lost its summary since has_summary was read
            return None
        merged = merge_row_summaries(present, [int(r) for r in self._first_row[:-1]])
        entry = self._doc.get("quantiles")
        if entry is not None and self._quantiles_file is not None:
            levels, quantiles = self._read_quantiles(self._quantiles_file, entry["path"])
            stats = merged.stats
            stats.quantile_levels, stats.quantiles = levels, quantiles
            stats.extra = {k: v for k, v in stats.extra.items() if k != "quantiles_merged"}
            stats.extra.update(
                {k: entry[k] for k in ("quantile_sample", "quantile_stride",
                                       "quantile_rank_error", "quantiles_exact") if k in entry}
            )  # fmt: skip
        return merged

    def _quantiles_side(self, entry: Any) -> Path:
        """The corpus quantiles side file the manifest lists, checked like a shard."""
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise StoreError(f"{self._shown}: manifest field 'quantiles' is not {{path, bytes, …}}")
        return self._listed_file(entry, f"{self._shown}: quantiles ({entry['path']})")

    def _listed_file(self, entry: dict[str, Any], where: str) -> Path:
        """A file the manifest lists (path relative to it), there and of the listed size."""
        file = Path(entry["path"])
        if not file.is_absolute():
            file = self.path.parent / file
        if not file.is_file():
            raise StoreError(f"{where}: no such file")
        size = file.stat().st_size
        if size != entry.get("bytes"):
            raise StoreError(
                f"{where}: {size} bytes on disk, the manifest says {entry.get('bytes')} "
                "(replaced or truncated after the manifest was written)"
            )
        return file

    def _read_quantiles(self, file: Path, shown: str) -> tuple[np.ndarray, np.ndarray]:
        """The corpus quantiles, checked against the store's neurons."""
        where = f"{self._shown}: quantiles ({shown})"
        try:
            with np.load(file, allow_pickle=False) as doc:
                levels = np.asarray(doc["levels"], np.float64)
                quantiles = np.asarray(doc["quantiles"], np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"{where}: unreadable ({exc})") from None
        if levels.ndim != 1 or quantiles.shape != (levels.size, self.neuron_count):
            raise StoreError(
                f"{where}: shape {quantiles.shape} for {levels.size} levels "
                f"× {self.neuron_count} neurons"
            )
        return levels, quantiles

    @property
    def label_tasks(self) -> list[str]:
        """Tasks every shard holds."""
        tasks = [set(shard.label_tasks) for shard in self.shards]
        return sorted(set.intersection(*tasks)) if tasks else []

    def labels(self, task: str) -> list[list[str]]:
        """Per-sentence labels of ``task`` over all shards."""
        if task not in self.label_tasks:
            tasks = ", ".join(self.label_tasks) or "(none)"
            raise StoreError(f"{self._shown}: no label task {task!r}; tasks: {tasks}")
        return [row for shard in self.shards for row in shard.labels(task)]

    @property
    def shard_paths(self) -> list[Path]:
        """The shard files in corpus order (what distributed passes map over)."""
        return [shard.path for shard in self.shards]

    @property
    def shard_first_rows(self) -> list[int]:
        """Corpus row of each shard's first token."""
        return [int(r) for r in self._first_row[:-1]]

    def close(self) -> None:
        """Close every shard."""
        for shard in getattr(self, "shards", []):
            shard.close()


def merge_row_summaries(parts: Sequence[Summary], first_rows: Sequence[int]) -> Summary:
    """Summaries of consecutive row ranges (shards) → one summary over all rows.

    Exact: count, nonfinite, min, max, mean and population σ (Chan et al.'s pairwise
    update in float64) and the top/bottom examples (ties go to the earlier row, as in the
    single pass). Approximate: quantiles (the token-weighted mean of the parts').
    """
    from neurotui.store.api import NeuronStats
    from neurotui.store.summary import Summary

    count = np.zeros_like(np.asarray(parts[0].stats.count, dtype=np.float64))
    mean = np.zeros_like(count)
    m2 = np.zeros_like(count)
    for p in parts:
        n_b = np.asarray(p.stats.count, dtype=np.float64)
        mean_b = np.asarray(p.stats.mean, dtype=np.float64)
        m2_b = np.asarray(p.stats.std, dtype=np.float64) ** 2 * n_b
        count, mean, m2 = chan_merge(count, mean, m2, n_b, mean_b, m2_b)
    weights = np.array([np.asarray(p.stats.count, dtype=np.float64) for p in parts])
    total = np.maximum(weights.sum(0), 1.0)
    quant = (
        sum(
            w[None, :] * np.nan_to_num(np.asarray(p.stats.quantiles, dtype=np.float64))
            for w, p in zip(weights, parts, strict=True)
        )
        / total[None, :]
    )
    with np.errstate(invalid="ignore"):
        std = np.sqrt(np.maximum(m2 / np.maximum(count, 1.0), 0.0))
    first = parts[0].stats
    stats = NeuronStats(
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
        min=np.min([p.stats.min for p in parts], axis=0),
        max=np.max([p.stats.max for p in parts], axis=0),
        quantile_levels=first.quantile_levels,
        quantiles=np.asarray(quant, dtype=np.float32),
        count=np.sum([p.stats.count for p in parts], axis=0),
        nonfinite=np.sum([p.stats.nonfinite for p in parts], axis=0),
        extra=_merged_extra(first.extra, len(parts)),
    )
    k = min(p.k for p in parts)
    top = [_shift(p.top_rows[:k], r) for p, r in zip(parts, first_rows, strict=True)]
    bot = [_shift(p.bottom_rows[:k], r) for p, r in zip(parts, first_rows, strict=True)]
    top_rows, top_values = merge_extremes(
        np.concatenate(top), np.concatenate([p.top_values[:k] for p in parts]), k, largest=True
    )
    bottom_rows, bottom_values = merge_extremes(
        np.concatenate(bot), np.concatenate([p.bottom_values[:k] for p in parts]), k, largest=False
    )
    return Summary(stats, top_rows, top_values, bottom_rows, bottom_values)


def _merged_extra(extra: dict[str, object], parts: int) -> dict[str, object]:
    if parts == 1:
        return dict(extra)
    out = {k: v for k, v in extra.items() if k not in ("quantiles_exact", "quantile_rank_error")}
    out["quantiles_exact"] = False
    out["quantiles_merged"] = f"token-weighted mean of {parts} shards' quantiles (approximate)"
    return out


def _shift(rows: np.ndarray, first: int) -> np.ndarray:
    return np.where(rows >= 0, rows + first, -1)


def chan_merge(
    n_a: np.ndarray, mean_a: np.ndarray, m2_a: np.ndarray,
    n_b: np.ndarray, mean_b: np.ndarray, m2_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Chan, Golub & LeVeque's pairwise update of (count, mean, M2), elementwise."""
    n = n_a + n_b
    safe = np.maximum(n, 1.0)
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / safe)
    m2 = m2_a + m2_b + delta * delta * (n_a * n_b / safe)
    return n, np.where(n > 0, mean, 0.0), np.where(n > 0, m2, 0.0)


def merge_extremes(
    rows: np.ndarray, values: np.ndarray, k: int, *, largest: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per column of candidate ``(rows, values)`` (``-1`` rows are empty).

    Order: value (high first for ``largest``), then the earlier row, which is the order
    the single pass keeps.
    """
    width = rows.shape[1]
    out_rows = np.full((k, width), -1, dtype=np.int64)
    out_vals = np.full((k, width), -np.inf if largest else np.inf, dtype=np.float32)
    for col in range(width):
        r, v = rows[:, col], values[:, col]
        keep = r >= 0
        r, v = r[keep], v[keep]
        order = np.lexsort((r, -v if largest else v))[:k]
        out_rows[: order.size, col] = r[order]
        out_vals[: order.size, col] = v[order]
    return out_rows, out_vals
