"""Convert between store formats (ours ⇄ NeuroX hdf5; NeuroX json → either).

Why streaming: conversion reads one sentence at a time and writes buffered chunk bands,
computing the summaries on the way, so memory stays flat whatever the file size. The corpus
length is known before the first sentence, so the output's chunks are allocated up front
and written raw (see :mod:`neurotui.store.rawwrite`); a NeuroX sentence is read straight
into the writer's buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from neurotui.errors import StoreError
from neurotui.store.detect import open_store

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.base import BaseStore

TARGETS = ("neurotui", "neurox-hdf5")


def convert(
    src: str | Path,
    dst: str | Path,
    *,
    to: str = "neurotui",
    dtype: str | None = None,
    summary: bool = True,
    progress: Callable[[int, int], None] | None = None,
    warnings: list[str] | None = None,
) -> Path:
    """Write the store at ``src`` to ``dst`` in format ``to`` (atomically)."""
    src, dst = Path(src), Path(dst)
    if to not in TARGETS:
        raise StoreError(f"--to {to}: choose one of {', '.join(TARGETS)}")
    if src.resolve() == dst.resolve():
        raise StoreError(f"{dst}: output would overwrite the input; choose another name")
    store = open_store(src)
    try:
        if warnings is not None:
            warnings.extend(getattr(store, "warnings", []))
        if to == "neurox-hdf5":
            from neurotui.store.neurox import write_neurox_hdf5

            return write_neurox_hdf5(store, dst, progress=progress)
        out = _to_neurotui(store, dst, dtype=dtype, summary=summary, progress=progress)
        if warnings is not None:
            from neurotui.store.h5store import nonfinite_warnings

            warnings.extend(nonfinite_warnings(out))
        return out
    finally:
        store.close()


def _to_neurotui(
    store: BaseStore,
    dst: Path,
    *,
    dtype: str | None,
    summary: bool,
    progress: Callable[[int, int], None] | None,
) -> Path:
    from neurotui.store.writer import StoreWriter

    meta = dict(store.metadata)
    meta.pop("sites", None)
    meta.pop("format", None)
    meta["converted_from"] = {"path": str(store.path), "format": store.format}
    if dtype is None:
        dtype = str(getattr(store, "dtype", "float32"))
        dtype = dtype if dtype in ("float16", "float32") else "float32"
    sites = [(s.name, s.size) for s in store.sites]
    total = store.sentences
    with StoreWriter(
        dst,
        sites,
        dtype=dtype,
        metadata=meta,
        expected_tokens=store.total_tokens if summary else None,
        rows=store.total_tokens,
    ) as writer:
        read_into = getattr(store, "read_sites_into", None)
        for i in range(total):
            if read_into is not None:
                writer.add_from(store.tokens(i), partial(read_into, i))
            else:
                writer.add(store.tokens(i), store.activations(i))
            if progress is not None:
                progress(i + 1, total)
        for task in store.label_tasks:
            writer.add_labels(task, store.labels(task))
        for name, ranking in store.rankings.items():
            writer.add_ranking(name, ranking)
        return writer.finish(summary=summary)
