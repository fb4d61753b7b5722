"""Control tasks and selectivity (Hewitt & Liang 2019; Durrani et al. 2020 for neurons).

A probe can score well by memorising words rather than reading a property out of the
activations. The control task gives every word type one fixed random label (drawn from the
task's own label distribution), so only memorisation can solve it. Selectivity = task
accuracy − control accuracy: high when the activations encode the property itself. It can
be measured on all neurons and on a ranking's top N % (retrained), where a good ranking
should stay selective.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from neurotui.analysis.data import ProbeData
from neurotui.analysis.evaluation import columns_of
from neurotui.analysis.probe import ProbeConfig, train_probe
from neurotui.analysis.progress import ProgressFn, report


def control_labels(data: ProbeData, seed: int = 0) -> np.ndarray:
    """One random class per word type, drawn from the training label distribution."""
    rng = np.random.default_rng([seed, 7])
    tr = data.rows("train")
    freq = np.bincount(data.y[tr], minlength=len(data.classes)).astype(np.float64)
    freq /= freq.sum()
    per_type = rng.choice(len(data.classes), size=len(data.vocab), p=freq)
    return per_type[data.words].astype(np.int64)


def selectivity(
    data: ProbeData,
    config: ProbeConfig | None = None,
    *,
    order: Sequence[int] | None = None,
    percents: Sequence[float] = (),
    seed: int = 0,
    part: str = "test",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Task and control accuracy and their difference, on all neurons and top N %.

    Returns ``{"all": {"task": a, "control": c, "selectivity": a − c}, "top": {N: {…}}}``.
    """
    cfg = config or ProbeConfig()
    control = data.with_labels(control_labels(data, seed), data.classes, f"{data.task}:control")
    Xtr, _ = data.part("train")
    X, _ = data.part(part)
    rows_tr, rows = data.rows("train"), data.rows(part)

    def score(cols: np.ndarray | None) -> dict[str, float]:
        xtr = Xtr if cols is None else np.ascontiguousarray(Xtr[:, cols])
        xte = X if cols is None else np.ascontiguousarray(X[:, cols])
        res = {}
        for name, d in (("task", data), ("control", control)):
            if np.unique(d.y[rows_tr]).size < 2:
                res[name] = float("nan")
                continue
            p = train_probe(xtr, d.y[rows_tr], d.classes, cfg, shuffled=True)
            res[name] = p.accuracy(xte, d.y[rows])
        res["selectivity"] = res["task"] - res["control"]
        return res

    out: dict[str, Any] = {"all": score(None), "top": {}}
    report(progress, "control task", 1, 1 + len(percents))
    if order is not None and percents:
        cols = columns_of(data, order)
        for k, pct in enumerate(percents):
            n = max(1, int(round(cols.size * pct / 100.0)))
            out["top"][f"{pct:g}"] = score(np.sort(cols[:n]))
            report(progress, "control task", 2 + k, 1 + len(percents))
    return out
