"""Our HDF5 layout: names, versions, chunk policy and the (de)serialisers shared by the
writer, the reader and the editor. ``docs/store-format.md`` describes the same thing for
people; keep the two in step and bump ``FORMAT_VERSION`` on incompatible changes.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import StoreError
from neurotui.store.api import NeuronStats

if TYPE_CHECKING:  # pragma: no cover
    import h5py

    from neurotui.store.summary import Summary

FORMAT_NAME = "neurotui-activations"
FORMAT_VERSION = 1
#: Activation chunks are bands of whole rows (tokens) across a site, up to 1024 columns
#: wide and about 192 KiB: one sentence is then one or two chunks per site (the app's
#: hot path) and streaming reads whole chunks in order. See docs/store-format.md for the
#: measurements behind this (a 256×64 tiling reads one neuron's column 6× faster but one
#: sentence 4× slower and a full pass 2× slower).
CHUNK_COLS = 1024
CHUNK_BYTES = 192 * 1024
CHUNK_ROWS_MIN, CHUNK_ROWS_MAX = 64, 1024
#: per-dataset HDF5 chunk cache when reading: a band of 256 rows of a 1024-wide site fits
READ_CACHE_BYTES = 4 * 2**20
READ_CACHE_SLOTS = 10007

ACT_GROUP = "activations"
LABEL_GROUP = "labels"
RANKING_GROUP = "rankings"
SUMMARY_GROUP = "summary"

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:+@=-][A-Za-z0-9_.:+@=, -]*$")


def check_name(kind: str, name: object) -> str:
    """Site, task and ranking names become HDF5 names: no ``/``, not empty, printable."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise StoreError(
            f"invalid {kind} name {name!r}: use letters, digits and . _ - : + @ = (no '/')"
        )
    return name


def chunk_shape(size: int, itemsize: int = 4) -> tuple[int, int]:
    """Chunk of a ``(tokens, size)`` dataset: a band of rows across (up to 1024) columns."""
    cols = max(1, min(int(size), CHUNK_COLS))
    rows = CHUNK_ROWS_MIN
    while rows * 2 <= CHUNK_ROWS_MAX and rows * 2 * cols * itemsize <= CHUNK_BYTES:
        rows *= 2
    return rows, cols


def dumps(value: Any) -> str:
    """JSON for attributes (numpy values become plain ones)."""
    return json.dumps(value, ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_json_attr(obj: h5py.HLObject, name: str, where: str) -> Any:
    """Decode a JSON string attribute, with a one-line error when it is damaged."""
    raw = obj.attrs.get(name)
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        return json.loads(str(raw))
    except ValueError as exc:
        raise StoreError(f"{where}: attribute {name!r} is not valid JSON ({exc})") from None


# -- summaries ---------------------------------------------------------------------------
# Neuron-major tables, so one neuron's whole summary is two row reads (the neuron card),
# and the app's "all stats at once" is two contiguous reads.
#   /summary/stats     float64 (neurons, 6 + levels): count, nonfinite, mean, std, min, max, q…
#   /summary/examples  float32 (neurons, 2k): top values (best first), then bottom values
#   /summary/rows      int64   (neurons, 2k): their corpus rows (-1: no such example)
_STAT_COLUMNS = ("count", "nonfinite", "mean", "std", "min", "max")
_ROW_CHUNK = 64


def write_summary(parent: h5py.Group, summary: Summary) -> None:
    """Replace ``/summary`` with ``summary``."""
    if SUMMARY_GROUP in parent:
        del parent[SUMMARY_GROUP]
    group = parent.create_group(SUMMARY_GROUP)
    stats = summary.stats
    n = int(np.asarray(stats.mean).shape[0])
    table = np.column_stack(
        [np.asarray(getattr(stats, c), dtype=np.float64) for c in _STAT_COLUMNS]
        + [np.asarray(stats.quantiles, dtype=np.float64).T.reshape(n, -1)]
    )
    chunk_rows = max(1, min(_ROW_CHUNK, n))
    group.create_dataset("stats", data=table, chunks=(chunk_rows, table.shape[1]))
    values = np.concatenate([summary.top_values, summary.bottom_values]).T.astype(np.float32)
    rows = np.concatenate([summary.top_rows, summary.bottom_rows]).T.astype(np.int64)
    group.create_dataset("examples", data=values, chunks=(chunk_rows, values.shape[1]))
    group.create_dataset("rows", data=rows, chunks=(chunk_rows, rows.shape[1]))
    group.attrs["columns"] = dumps([*_STAT_COLUMNS] + [f"q{lv:g}" for lv in stats.quantile_levels])
    group.attrs["quantile_levels"] = np.asarray(stats.quantile_levels, dtype=np.float64)
    group.attrs["k"] = summary.k
    group.attrs["extra"] = dumps(stats.extra)


def _split_table(table: np.ndarray, levels: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for j, name in enumerate(_STAT_COLUMNS):
        col = table[..., j]
        if name in ("count", "nonfinite"):
            out[name] = col.astype(np.int64)
        else:
            out[name] = col.astype(np.float32)
    out["quantiles"] = table[..., len(_STAT_COLUMNS) : len(_STAT_COLUMNS) + levels.size].astype(
        np.float32
    )
    return out


def read_summary(parent: h5py.Group, where: str) -> Summary | None:
    """The stored summary, or ``None`` when absent."""
    from neurotui.store.summary import Summary

    if SUMMARY_GROUP not in parent:
        return None
    group = parent[SUMMARY_GROUP]
    try:
        levels = np.asarray(group.attrs["quantile_levels"], dtype=np.float64)
        k = int(group.attrs["k"])
        parts = _split_table(group["stats"][()], levels)
        values = group["examples"][()].T
        rows = group["rows"][()].T
    except (KeyError, ValueError) as exc:
        raise StoreError(f"{where}: summary is incomplete ({exc})") from None
    stats = NeuronStats(
        mean=parts["mean"],
        std=parts["std"],
        min=parts["min"],
        max=parts["max"],
        quantile_levels=levels,
        quantiles=np.ascontiguousarray(parts["quantiles"].T),
        count=parts["count"],
        nonfinite=parts["nonfinite"],
        extra=read_json_attr(group, "extra", where) or {},
    )
    return Summary(
        stats=stats,
        top_rows=np.ascontiguousarray(rows[:k]),
        top_values=np.ascontiguousarray(values[:k]),
        bottom_rows=np.ascontiguousarray(rows[k:]),
        bottom_values=np.ascontiguousarray(values[k:]),
    )


class NeuronSummaryReader:
    """Open handles on ``/summary`` so each neuron costs three small row reads."""

    def __init__(self, group: h5py.Group) -> None:
        self.levels = np.asarray(group.attrs["quantile_levels"], dtype=np.float64)
        self.k = int(group.attrs["k"])
        self._stats = group["stats"]
        self._values = group["examples"]
        self._rows = group["rows"]

    def neuron(self, neuron: int) -> dict[str, Any]:
        """Stats, quantiles and example rows/values of one neuron."""
        parts = _split_table(self._stats[neuron], self.levels)
        out: dict[str, Any] = {name: parts[name].item() for name in _STAT_COLUMNS}
        out["quantile_levels"] = self.levels
        out["quantiles"] = parts["quantiles"]
        values = self._values[neuron]
        rows = self._rows[neuron]
        k = self.k
        out["top_values"], out["bottom_values"] = values[:k], values[k:]
        out["top_rows"], out["bottom_rows"] = rows[:k], rows[k:]
        return out


def read_neuron_summary(parent: h5py.Group, neuron: int) -> dict[str, Any] | None:
    """One neuron's stored summary without loading the others."""
    group = parent.get(SUMMARY_GROUP)
    return None if group is None else NeuronSummaryReader(group).neuron(neuron)
