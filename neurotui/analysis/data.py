"""Probe datasets from a store: labelled token rows, split by sentence, in one pass.

Why this shape: a probe needs an activation matrix, labels, and for its baselines the
word of every row. Reading the store once in corpus-order chunks and writing each row
straight to its place (train rows first, then dev, then test) keeps one copy of the data
in memory — ``X[:n_train]`` is the training set without a second copy, which is what lets
a 2 GB store fit a 2.5 GB budget. Splits are by sentence (never by token), so a word's
context never leaks from train into test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from neurotui.analysis.checks import (
    check_classes,
    check_finite_sites,
    constant_columns,
    describe_neurons,
    warn,
)
from neurotui.analysis.progress import ProgressFn, report
from neurotui.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

#: the built-in task computed from sentence lengths when a store has no such labels
POSITION_TASK = "position"
PARTS = ("train", "dev", "test")


@dataclass
class SentenceSplit:
    """Sentence ids of each part (sorted)."""

    train: np.ndarray
    dev: np.ndarray
    test: np.ndarray

    def part(self, name: str) -> np.ndarray:
        """The sentence ids of ``train``, ``dev`` or ``test``."""
        return getattr(self, name)


def split_sentences(
    sentences: np.ndarray | int, seed: int = 0, dev: float = 0.1, test: float = 0.1
) -> SentenceSplit:
    """Shuffle sentence ids with ``seed`` and cut them into train/dev/test.

    At least one sentence goes to train and to test whenever there are three or more.
    """
    ids = (
        np.arange(sentences) if isinstance(sentences, (int, np.integer)) else np.asarray(sentences)
    )
    n = ids.size
    if n < 3:
        raise DataError(f"{n} labelled sentences: a train/test split needs at least 3")
    if not (0 <= dev < 1 and 0 < test < 1 and dev + test < 1):
        raise DataError(f"split fractions dev={dev}, test={test}: need 0 ≤ dev, 0 < test, sum < 1")
    perm = ids[np.random.default_rng(seed).permutation(n)]
    n_test = max(1, round(n * test))
    n_dev = round(n * dev) if dev > 0 else 0
    n_dev = min(n_dev, n - n_test - 1)
    test_ids = np.sort(perm[:n_test])
    dev_ids = np.sort(perm[n_test : n_test + n_dev])
    train_ids = np.sort(perm[n_test + n_dev :])
    return SentenceSplit(train_ids, dev_ids, test_ids)


@dataclass
class ProbeData:
    """Labelled rows in train|dev|test order; ``X[:n_train]`` is the training part.

    Training rows come in a seeded random sentence order (dev and test in corpus order),
    so contiguous batches of the training part are random samples.

    ``words`` are ids into ``vocab`` (the token strings), ``sentence``/``position`` locate
    every row in the store, ``neurons`` are the store's global ids of the columns.
    ``mean``/``std`` are per-column statistics of the training rows (before any
    normalisation); ``constant`` lists columns that are constant on the training rows
    (zeroed, so no probe can use them) and ``nonfinite`` columns whose NaN/Inf values were
    replaced by the column's training mean.
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    words: np.ndarray
    vocab: list[str]
    sentence: np.ndarray
    position: np.ndarray
    counts: tuple[int, int, int]
    neurons: np.ndarray
    task: str
    split: SentenceSplit
    neuron_names: list[str] | None = None
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    constant: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nonfinite: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    normalized: bool = False

    def rows(self, part: str) -> slice:
        """Row range of ``train``, ``dev`` or ``test``."""
        n_train, n_dev, n_test = self.counts
        if part == "train":
            return slice(0, n_train)
        if part == "dev":
            return slice(n_train, n_train + n_dev)
        if part == "test":
            return slice(n_train + n_dev, n_train + n_dev + n_test)
        raise ValueError(f"unknown part {part!r}")

    def part(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` views of one part."""
        rows = self.rows(part)
        return self.X[rows], self.y[rows]

    @property
    def n_neurons(self) -> int:
        """Number of columns."""
        return int(self.X.shape[1])

    def with_labels(self, y: np.ndarray, classes: list[str], task: str) -> ProbeData:
        """Same rows and activations (shared, not copied) with other labels."""
        return replace(self, y=np.asarray(y, dtype=np.int64), classes=list(classes), task=task)

    def zscore(self) -> ProbeData:
        """Z-normalise every column in place with the training rows' mean and std.

        Why in place: the matrix can be most of the memory budget. Constant columns stay 0.
        """
        if self.normalized:
            return self
        assert self.mean is not None and self.std is not None
        mean = self.mean.astype(np.float32)
        std = np.where(self.std > 0, self.std, 1.0).astype(np.float32)
        inv = (1.0 / std).astype(np.float32)
        step = 65536
        for r0 in range(0, self.X.shape[0], step):
            block = self.X[r0 : r0 + step]
            block -= mean
            block *= inv
        if self.constant.size:
            self.X[:, self.constant] = 0.0
        self.normalized = True
        return self


# -- labels ---------------------------------------------------------------------------


def position_labels(lengths: np.ndarray) -> list[list[str]]:
    """The paper's position property: ``begin``/``middle``/``end`` third of the sentence."""
    out = []
    for n in np.asarray(lengths, dtype=np.int64):
        row = []
        for p in range(int(n)):
            third = (3 * p) // max(int(n), 1)
            row.append(("begin", "middle", "end")[min(third, 2)])
        out.append(row)
    return out


def read_label_file(path: str | Path, lengths: np.ndarray) -> list[list[str] | None]:
    """One line of space-separated labels per sentence; a blank line means "no labels".

    A file shorter than the store leaves the remaining sentences unlabelled (with a
    warning); a longer one, or a line whose label count differs from the sentence's token
    count, is an error naming the line.
    """
    from neurotui.store.labels import iter_lines

    path = Path(path)
    n = len(lengths)
    lines: list[str] = []
    count = 0
    for _no, line in iter_lines(path):  # bounded lines, BOM dropped, errors name the line
        count += 1
        if count <= n:
            lines.append(line)
    if count > n:
        raise DataError(f"{path}: {count} lines of labels but the store has {n} sentences")
    rows: list[list[str] | None] = []
    for i, line in enumerate(lines):
        labs = line.split()
        if not labs:
            rows.append(None)
            continue
        if len(labs) != int(lengths[i]):
            raise DataError(
                f"{path}:{i + 1}: {len(labs)} labels for {int(lengths[i])} tokens of sentence {i}"
            )
        rows.append(labs)
    if len(lines) < n:
        warn(f"{path}: labels for {len(lines)} of {n} sentences; the rest are left out")
        rows.extend([None] * (n - len(lines)))
    return rows


def task_labels(store: Store, task: str) -> list[list[str] | None]:
    """Labels of ``task`` from the store (``position`` is computed when not stored)."""
    tasks = list(store.label_tasks)
    if task in tasks:
        return list(store.labels(task))
    if task == POSITION_TASK:
        return list(position_labels(store.sentence_lengths()))
    listed = ", ".join(tasks) if tasks else "(none)"
    raise DataError(
        f"{store.path}: no label task {task!r}; tasks: {listed} (and the built-in "
        f"{POSITION_TASK!r})"
    )


def labelled_sentences(
    rows: Sequence[Sequence[str] | None], lengths: np.ndarray, what: str
) -> np.ndarray:
    """Ids of sentences with a full label row; warns about missing ones, fails on misfits."""
    n = len(lengths)
    if len(rows) != n:
        raise DataError(f"{what}: labels for {len(rows)} sentences but the store has {n}")
    keep, missing = [], 0
    for i, (labs, length) in enumerate(zip(rows, lengths, strict=True)):
        if length == 0:
            continue
        if labs is None or len(labs) == 0:
            missing += 1
            continue
        if len(labs) != int(length):
            raise DataError(f"{what}: sentence {i} has {len(labs)} labels for {int(length)} tokens")
        keep.append(i)
    if missing:
        warn(f"{what}: {missing} of {n} sentences have no labels and are left out")
    return np.asarray(keep, dtype=np.int64)


# -- assembly -------------------------------------------------------------------------


def load_probe_data(
    store: Store,
    task: str | None = None,
    labels: Sequence[Sequence[str] | None] | None = None,
    *,
    neurons: Sequence[int] | None = None,
    seed: int = 0,
    dev: float = 0.1,
    test: float = 0.1,
    chunk_tokens: int = 32768,
    progress: ProgressFn | None = None,
) -> ProbeData:
    """Read the labelled sentences of ``store`` into a :class:`ProbeData` in one pass.

    Give either ``task`` (a stored label task or ``position``) or ``labels`` (one row per
    sentence, ``None`` for unlabelled sentences). ``neurons`` selects columns (global ids).
    """
    lengths = np.asarray(store.sentence_lengths(), dtype=np.int64)
    label_rows: Sequence[Sequence[str] | None]
    if labels is None:
        if task is None:
            raise DataError("give a label task (--task) or a label file (--labels)")
        label_rows = task_labels(store, task)
        what = f"label task {task!r}"
    else:
        label_rows = list(labels)
        task = task or "labels"
        what = f"labels {task!r}"
    sents = labelled_sentences(label_rows, lengths, what)
    split = split_sentences(sents, seed=seed, dev=dev, test=test)

    # Destination row of every corpus token (-1: not used).
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    dest = np.full(total, -1, dtype=np.int64)
    # Training sentences in a seeded random order: probe batches can then be contiguous.
    shuffled_train = np.random.default_rng([seed, 1]).permutation(split.train)
    order = np.concatenate([shuffled_train, split.dev, split.test])
    counts = (
        int(lengths[split.train].sum()),
        int(lengths[split.dev].sum()),
        int(lengths[split.test].sum()),
    )
    n_rows = int(sum(counts))
    row = 0
    sentence = np.empty(n_rows, dtype=np.int32)
    position = np.empty(n_rows, dtype=np.int32)
    for s in order:
        a, b = offsets[s], offsets[s + 1]
        dest[a:b] = np.arange(row, row + (b - a))
        sentence[row : row + (b - a)] = s
        position[row : row + (b - a)] = np.arange(b - a)
        row += b - a

    # Labels and words in row order.
    class_index: dict[str, int] = {}
    vocab_index: dict[str, int] = {}
    y = np.empty(n_rows, dtype=np.int64)
    words = np.empty(n_rows, dtype=np.int32)
    row = 0
    all_tokens = store.all_tokens() if hasattr(store, "all_tokens") else None
    for s in order:
        labs = label_rows[s]
        toks = all_tokens[s] if all_tokens is not None else store.tokens(int(s))
        assert labs is not None
        for lab, tok in zip(labs, toks, strict=True):
            y[row] = class_index.setdefault(str(lab), len(class_index))
            words[row] = vocab_index.setdefault(tok, len(vocab_index))
            row += 1
    # Classes in sorted order, so class ids do not depend on the split seed.
    classes = sorted(class_index)
    remap = np.empty(len(classes), dtype=np.int64)
    for new, name in enumerate(classes):
        remap[class_index[name]] = new
    y = remap[y]
    vocab = list(vocab_index)
    check_classes(y, classes, what)
    if counts[0] and np.unique(y[: counts[0]]).size < 2:
        check_classes(y[: counts[0]], classes, f"{what} (training sentences)")

    cols = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons, dtype=np.int64)
    X = large_empty((n_rows, cols.size))
    bad_cols = np.zeros(cols.size, dtype=bool)
    done = 0

    def put(start: int, col: int, block: np.ndarray) -> None:
        d = dest[start : start + block.shape[0]]
        keep = d >= 0
        width = block.shape[1]
        if keep.all():
            X[d, col : col + width] = block
        elif keep.any():
            X[d[keep], col : col + width] = block[keep]
        bad = ~np.isfinite(block.sum(axis=0))
        if bad.any():
            bad_cols[col : col + width] |= bad & ~np.isfinite(block).all(axis=0)

    if neurons is None and hasattr(store, "iter_site_blocks"):
        # Site by site, straight into place: no full-width temporary block.
        widest = max((s.size for s in store.sites), default=1)
        rows = _rows_for(widest, chunk_tokens)
        total_values = total * cols.size
        for start, col, block in store.iter_site_blocks(rows):
            put(start, col, block)
            done += block.size
            report(progress, "reading activations", done, total_values)
    else:
        rows = _rows_for(cols.size, chunk_tokens)
        for start, block in store.iter_chunks(None if neurons is None else cols.tolist(), rows):
            put(start, 0, block)
            done += block.shape[0]
            report(progress, "reading activations", done, total)

    names = _names(store, cols)
    if bad_cols.any():  # a site with no finite training value at all is refused
        has_finite = np.ones(cols.size, dtype=bool)
        for c in np.flatnonzero(bad_cols):
            has_finite[c] = bool(np.isfinite(X[: counts[0], c]).any())
        check_finite_sites(store, cols, has_finite)
    mean, std, nonfinite = _train_moments(X, counts[0], bad_cols)
    if nonfinite.size:
        warn(
            f"{what}: NaN/Inf activations in {describe_neurons(nonfinite, names)}; "
            "they are replaced by the neuron's training mean"
        )
    constant = constant_columns(std, mean)
    if constant.size:
        warn(
            f"dead (constant) {describe_neurons(constant, names)} on the training sentences; "
            "they are excluded and ranked last"
        )
        X[:, constant] = 0.0
    return ProbeData(
        X=X,
        y=y,
        classes=classes,
        words=words,
        vocab=vocab,
        sentence=sentence,
        position=position,
        counts=counts,
        neurons=cols,
        task=task,
        split=split,
        neuron_names=names,
        mean=mean,
        std=std,
        constant=constant,
        nonfinite=nonfinite,
    )


def large_empty(shape: tuple[int, int]) -> np.ndarray:
    """An uninitialised float32 matrix for the probe's design matrix, pre-faulted.

    Why: a fresh 2 GB matrix filled row-scattered takes one page fault per 4 KiB page, and
    on virtual machines each fault can be costly (2.1–4.5 s for 2 GB measured here);
    asking the kernel to populate the mapping up front (``MAP_POPULATE``) does the same
    work in one pass (0.6–1.3 s). Transparent huge pages were measured too and were erratic
    (0.3–5 s: page compaction). Small matrices and other systems get ``np.empty``.
    """
    import mmap

    from neurotui.store.rawwrite import aligned_empty

    nbytes = int(np.prod(shape)) * 4
    if nbytes < 64 * 2**20 or not hasattr(mmap, "MAP_POPULATE"):
        return np.empty(shape, dtype=np.float32)
    try:
        return aligned_empty(shape, np.dtype(np.float32), populate=True)
    except (OSError, ValueError):
        return np.empty(shape, dtype=np.float32)


#: memory for one block read from the store (rows shrink as the width grows)
BLOCK_BYTES = 64 * 2**20


def _rows_for(width: int, chunk_tokens: int) -> int:
    """Rows per block: at most ``chunk_tokens`` and at most :data:`BLOCK_BYTES` of float32."""
    return int(max(256, min(chunk_tokens, BLOCK_BYTES // max(4 * width, 1))))


def _names(store: Store, cols: np.ndarray) -> list[str] | None:
    try:
        return [store.neuron_name(int(c)) for c in cols]
    except Exception:  # noqa: BLE001 - names are a convenience; ids still work
        return None


def _train_moments(
    X: np.ndarray, n_train: int, bad_cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column mean and std of the training rows (float64 sums over float32 blocks).

    Columns holding NaN/Inf get those values replaced by their finite training mean first.
    """
    nonfinite = np.flatnonzero(bad_cols)
    for c in nonfinite:
        col = X[:, c]
        ok = np.isfinite(col[:n_train])
        fill = float(col[:n_train][ok].mean()) if ok.any() else 0.0
        col[~np.isfinite(col)] = fill
    n = max(n_train, 1)
    shift = X[0].astype(np.float64) if n_train else np.zeros(X.shape[1])
    s1 = np.zeros(X.shape[1], dtype=np.float64)
    s2 = np.zeros(X.shape[1], dtype=np.float64)
    shift32 = shift.astype(np.float32)
    step = _rows_for(X.shape[1], 16384)  # bounded temporaries, however wide the data
    buf = np.empty((min(step, max(n_train, 1)), X.shape[1]), dtype=np.float32)
    for r0 in range(0, n_train, step):
        # float32 reductions of a shifted block (fast), accumulated across blocks in
        # float64; one reused buffer, so no fresh pages to fault in per block
        rows = min(r0 + step, n_train) - r0
        d = np.subtract(X[r0 : r0 + rows], shift32, out=buf[:rows])
        s1 += d.sum(axis=0)
        s2 += np.einsum("ij,ij->j", d, d)
    m = s1 / n
    var = np.maximum(s2 / n - m * m, 0.0)
    return (shift + m), np.sqrt(var), nonfinite


def from_arrays(
    X: np.ndarray,
    y: Sequence[str] | np.ndarray,
    sentence_lengths: Sequence[int] | np.ndarray | None = None,
    words: Sequence[str] | None = None,
    *,
    seed: int = 0,
    dev: float = 0.1,
    test: float = 0.1,
    task: str = "labels",
) -> ProbeData:
    """A :class:`ProbeData` from plain arrays in corpus order (tests, notebooks, benches).

    ``sentence_lengths`` defaults to sentences of 20 rows; ``words`` to the row's label.
    """
    from neurotui.store.memory import MemoryStore

    X = np.asarray(X, dtype=np.float32)
    n = X.shape[0]
    if sentence_lengths is None:
        sentence_lengths = [20] * (n // 20) + ([n % 20] if n % 20 else [])
    lengths = np.asarray(sentence_lengths, dtype=np.int64)
    if lengths.sum() != n:
        raise DataError(f"sentence lengths add up to {int(lengths.sum())}, X has {n} rows")
    labs = [str(v) for v in np.asarray(y).tolist()]
    toks = list(words) if words is not None else labs
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    tokens = [toks[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    label_rows = [labs[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    acts = [X[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    store = MemoryStore(tokens, acts, [("x", X.shape[1])], {task: label_rows})
    return load_probe_data(store, task, seed=seed, dev=dev, test=test)
