"""Evaluating a ranking with a probe: masking-out and retraining (Tables 2 and 4).

Masking-out keeps the top / bottom / random N % of neurons, sets every other activation to
zero in the test set and re-scores the *already trained* probe — zeroing a column is the
same as dropping it from the dot product, so we drop it (no copy of the data). Retraining
trains a fresh probe on the kept columns only. When the data were z-normalised, "zero"
means the neuron's training mean (zero in the probe's input space).

A good ranking gives top ≫ bottom, and top > random, for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from neurotui.analysis.data import ProbeData
from neurotui.analysis.probe import ProbeConfig, TrainedProbe, train_probe
from neurotui.analysis.progress import ProgressFn, report
from neurotui.errors import DataError

DEFAULT_PERCENTS = (10, 15, 20)
KINDS = ("top", "bottom", "random")


def columns_of(data: ProbeData, order: Sequence[int]) -> np.ndarray:
    """Map a ranking's global neuron ids to the data's column indices (same order)."""
    pos = {int(n): k for k, n in enumerate(data.neurons.tolist())}
    missing = [n for n in order if int(n) not in pos]
    if missing:
        raise DataError(
            f"the ranking names {len(missing)} neurons that are not in these activations "
            f"(e.g. {missing[0]}); was it made on another store or site?"
        )
    cols = np.array([pos[int(n)] for n in order], dtype=np.int64)
    if cols.size != data.n_neurons:
        raise DataError(
            f"the ranking orders {cols.size} neurons, the activations have {data.n_neurons}"
        )
    return cols


def selections(cols: np.ndarray, percent: float, seed: int = 0) -> dict[str, np.ndarray]:
    """The top, bottom and a seeded random ``percent`` % of the ordered columns."""
    n = cols.size
    k = max(1, int(round(n * percent / 100.0)))
    rng = np.random.default_rng([seed, int(round(percent * 1000))])
    return {
        "top": cols[:k],
        "bottom": cols[-k:],
        "random": np.sort(rng.choice(n, size=k, replace=False)),
    }


def masking_table(
    probe: TrainedProbe,
    data: ProbeData,
    order: Sequence[int],
    percents: Sequence[float] = DEFAULT_PERCENTS,
    *,
    part: str = "test",
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy of the trained ``probe`` keeping only top/bottom/random N % (Table 2)."""
    cols = columns_of(data, order)
    X, y = data.part(part)
    out: dict[str, Any] = {"all": probe.accuracy(X, y), "percents": list(percents)}
    for kind in KINDS:
        out[kind] = []
    for p in percents:
        sel = selections(cols, p, seed)
        for kind in KINDS:
            out[kind].append(probe.accuracy(X, y, keep=sel[kind]))
    return out


def retraining_table(
    data: ProbeData,
    order: Sequence[int],
    percents: Sequence[float] = DEFAULT_PERCENTS,
    config: ProbeConfig | None = None,
    *,
    part: str = "test",
    seed: int = 0,
    all_accuracy: float | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Accuracy of probes retrained on only the top/bottom/random N % (Table 4)."""
    cfg = config or ProbeConfig()
    cols = columns_of(data, order)
    Xtr, ytr = data.part("train")
    X, y = data.part(part)
    if all_accuracy is None:
        full = train_probe(Xtr, ytr, data.classes, cfg, shuffled=True)
        all_accuracy = full.accuracy(X, y)
    out: dict[str, Any] = {"all": all_accuracy, "percents": list(percents)}
    for kind in KINDS:
        out[kind] = []
    total = len(percents) * len(KINDS)
    done = 0
    for p in percents:
        sel = selections(cols, p, seed)
        for kind in KINDS:
            keep = np.sort(sel[kind])
            sub = train_probe(
                np.ascontiguousarray(Xtr[:, keep]), ytr, data.classes, replace(cfg), shuffled=True
            )
            out[kind].append(sub.accuracy(np.ascontiguousarray(X[:, keep]), y))
            done += 1
            report(progress, "retraining", done, total)
    return out


def format_table(title: str, table: dict[str, Any]) -> str:
    """A plain-text table in the layout of the paper's Tables 2/4."""
    percents = table["percents"]
    head = ["ALL"] + [f"{p:g}% {k}" for p in percents for k in KINDS]
    vals = [table["all"]] + [table[k][i] for i in range(len(percents)) for k in KINDS]
    widths = [max(len(h), 6) for h in head]
    lines = [title]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    lines.append("  ".join(f"{100 * v:.1f}".rjust(w) for v, w in zip(vals, widths, strict=True)))
    return "\n".join(lines)
