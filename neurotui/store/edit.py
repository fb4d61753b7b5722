"""Add label tasks, rankings and summaries to a store without risking it.

Why copy-then-rename instead of appending in place: HDF5 updates its metadata (group
indexes, the superblock) in place and has no journal, so a crash or Ctrl-C during an
in-place append can leave the *whole* file unreadable, activations included. Every edit
therefore works on a byte copy next to the store (``<name>.tmp-XXXXXXXX``) and renames it
over the original only when complete: the store is always either the old or the new one.
The price is one sequential copy of the file per edit (about a second per GB); batch edits
(several tasks in one ``edit_store`` call) to pay it once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import DataError, StoreError
from neurotui.store import layout
from neurotui.store.atomic import atomic_path, ensure_free_space

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.ranking import Ranking
    from neurotui.store.summary import Summary


def encode_labels(
    task: str, rows: Sequence[Sequence[str]], lengths: np.ndarray, source: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Per-sentence labels → ``(int32 codes over the corpus, sorted class names)``.

    Mismatches name ``source`` and the 1-based line (sentence) at fault.
    """
    where = source or f"label task {task!r}"
    if len(rows) != len(lengths):
        raise DataError(
            f"{where}: {len(rows)} lines of labels, the store has {len(lengths)} sentences"
        )
    for i, (labs, n) in enumerate(zip(rows, lengths, strict=True)):
        if len(labs) != int(n):
            raise DataError(f"{where}:{i + 1}: {len(labs)} labels for {int(n)} tokens")
    flat = [str(label) for labs in rows for label in labs]
    classes = sorted(set(flat))
    index = {c: j for j, c in enumerate(classes)}
    codes = np.fromiter((index[x] for x in flat), dtype=np.int32, count=len(flat))
    return codes, classes


def annotate_file(
    path: str | Path,
    *,
    labels: Mapping[str, Sequence[Sequence[str]]] | None = None,
    label_sources: Mapping[str, str] | None = None,
    rankings: Mapping[str, Ranking] | None = None,
    remove_rankings: Sequence[str] = (),
    summary: bool = False,
    progress: Callable[[int, int], None] | None = None,
    summary_options: Mapping[str, Any] | None = None,
    display_path: str | Path | None = None,
    precomputed: Summary | None = None,
) -> None:
    """Write labels/rankings/summary into ``path`` in place (only ever a temporary file)."""
    import h5py

    from neurotui.store.h5store import NeurotuiStore

    shown = str(display_path or path)
    encoded: dict[str, tuple[np.ndarray, list[str]]] = {}
    computed = precomputed
    with NeurotuiStore(path, display_path=shown) as store:
        lengths = store.sentence_lengths()
        for task, rows in (labels or {}).items():
            layout.check_name("label task", task)
            source = (label_sources or {}).get(task)
            encoded[task] = encode_labels(task, rows, lengths, source)
        if summary:
            total = store.total_tokens * store.neuron_count
            done = [0]

            def tick(n: int) -> None:
                done[0] += n
                if progress is not None:
                    progress(done[0], total)

            computed = store.compute_summary(progress=tick, **dict(summary_options or {}))
    for name in rankings or {}:
        layout.check_name("ranking", name)
    with h5py.File(path, "r+") as f:
        lab = f.require_group(layout.LABEL_GROUP)
        for task, (codes, classes) in encoded.items():
            if task in lab:
                del lab[task]
            ds = lab.create_dataset(task, data=codes, chunks=True if codes.size else None)
            ds.attrs["classes"] = layout.dumps(classes)
            if label_sources and task in label_sources:
                ds.attrs["source"] = str(label_sources[task])
        rk = f.require_group(layout.RANKING_GROUP)
        for name in remove_rankings:
            if name in rk:
                del rk[name]
        for name, ranking in (rankings or {}).items():
            if name in rk:
                del rk[name]
            ds = rk.create_dataset(name, data=ranking.to_json(), dtype=h5py.string_dtype("utf-8"))
            ds.attrs["method"] = ranking.method
            if ranking.task:
                ds.attrs["task"] = ranking.task
        if computed is not None:
            layout.write_summary(f, computed)


def _edit_size(
    path: Path,
    labels: Mapping[str, Sequence[Sequence[str]]] | None,
    rankings: Mapping[str, Ranking] | None,
    summary: bool,
) -> int:
    """A generous estimate of the edited copy's size: the copy plus what the edits add.

    Labels are stored as class ids plus names, rankings as JSON; HDF5 does not reuse the
    space of what an edit replaces, so nothing is subtracted.
    """
    size = path.stat().st_size
    extra = 1 << 20
    for rows in (labels or {}).values():
        extra += sum(len(row) for row in rows) * 8 + sum(len(x) for row in rows for x in row)
    for ranking in (rankings or {}).values():
        extra += 2 * len(ranking.to_json())
    if summary:
        extra += size // 10
    return size + extra


def edit_store(
    path: str | Path,
    *,
    labels: Mapping[str, Sequence[Sequence[str]]] | None = None,
    label_sources: Mapping[str, str] | None = None,
    rankings: Mapping[str, Ranking] | None = None,
    remove_rankings: Sequence[str] = (),
    summary: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Apply the edits to a copy of the store at ``path`` and swap it in atomically."""
    from neurotui.store.detect import detect_format

    path = Path(path)
    kind = detect_format(path)
    if kind != "neurotui":
        raise StoreError(
            f"{path}: is a {kind} file, which cannot hold labels, rankings or summaries; "
            f"convert it first: neurotui convert {path} OUT.h5"
        )
    ensure_free_space(path, _edit_size(path, labels, rankings, summary))
    with atomic_path(path, copy_from=path) as tmp:
        annotate_file(
            tmp,
            labels=labels,
            label_sources=label_sources,
            rankings=rankings,
            remove_rankings=remove_rankings,
            summary=summary,
            progress=progress,
            display_path=path,
        )
    return path


def add_labels(
    path: str | Path, task: str, rows: Sequence[Sequence[str]], *, source: str | None = None
) -> Path:
    """Store label task ``task`` (one list of labels per sentence) in the store at ``path``."""
    sources = {task: source} if source else None
    return edit_store(path, labels={task: rows}, label_sources=sources)


def save_ranking(path: str | Path, name: str, ranking: Ranking) -> Path:
    """Save ``ranking`` under ``name`` in the store at ``path`` (replacing one of that name)."""
    return edit_store(path, rankings={name: ranking})


def delete_ranking(path: str | Path, name: str) -> Path:
    """Remove the ranking called ``name`` (no error when absent)."""
    return edit_store(path, remove_rankings=[name])


def save_summary(path: str | Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """(Re)compute the per-neuron summaries of the store at ``path`` and store them."""
    return edit_store(path, summary=True, progress=progress)
