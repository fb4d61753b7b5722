"""Linguistic correlation analysis: train the probe, order the neurons, build the Ranking.

Why a separate module: the probe (training), the ordering (Algorithm 1) and the baselines
are independent pieces; this is the one place that runs them in the paper's sequence and
records every number a reader needs next to the ranking (accuracies beside the majority
baseline, per-class top neurons and their counts, the settings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurotui.analysis.baselines import majority_accuracy
from neurotui.analysis.data import ProbeData
from neurotui.analysis.ordering import (
    DEFAULT_MASS,
    DEFAULT_STRIDE,
    BandedOrder,
    neuron_ordering,
    per_class_orderings,
    top_neurons_per_class,
)
from neurotui.analysis.probe import ProbeConfig, TrainedProbe, train_probe
from neurotui.analysis.progress import ProgressFn
from neurotui.store.ranking import Ranking


@dataclass
class ProbeAnalysis:
    """A trained probe on ``data`` with its Algorithm 1 ordering (in column indices)."""

    data: ProbeData
    probe: TrainedProbe
    ordering: BandedOrder
    stride: int = DEFAULT_STRIDE
    accuracy: dict[str, float] = field(default_factory=dict)
    majority: dict[str, float] = field(default_factory=dict)

    @property
    def order_columns(self) -> np.ndarray:
        """Column indices of the data, most important first."""
        return np.asarray(self.ordering.order, dtype=np.int64)

    def ranking(self, mass: float = DEFAULT_MASS) -> Ranking:
        """The :class:`Ranking` (global neuron ids; per-class orders; accuracies)."""
        d = self.data
        ids = d.neurons
        classes = self.probe.classes
        tops = top_neurons_per_class(self.probe.weight, classes, mass)
        per_class = per_class_orderings(self.probe.weight, classes)
        names = d.neuron_names
        evaluation: dict[str, Any] = {
            "accuracy": self.accuracy,
            "majority": self.majority,
            "class_accuracy": self.probe.class_accuracy(*d.part("test")),
            "top_neurons": {c: [int(ids[i]) for i in v] for c, v in tops.items()},
            "top_mass": mass,
            "distributedness": {c: len(v) for c, v in tops.items()},
            "sparsity": self.probe.sparsity(),
            "class_counts": {
                c: int(n)
                for c, n in zip(classes, np.bincount(d.y, minlength=len(classes)), strict=True)
            },
        }
        params: dict[str, Any] = {
            **self.probe.config.to_dict(),
            "stride": self.stride,
            "normalized": bool(d.normalized),
            "split_tokens": {"train": d.counts[0], "dev": d.counts[1], "test": d.counts[2]},
            "split_sentences": {
                "train": int(d.split.train.size),
                "dev": int(d.split.dev.size),
                "test": int(d.split.test.size),
            },
            "dead_neurons": [int(ids[i]) for i in d.constant],
            "nonfinite_neurons": [int(ids[i]) for i in d.nonfinite],
            "device_used": self.probe.device,
            "epochs_run": len(self.probe.losses),
        }
        order = self.ordering.order
        return Ranking(
            method="probe",
            task=d.task,
            order=[int(ids[i]) for i in order],
            scores=[1.0 - e for e in self.ordering.entry],
            bands=list(self.ordering.bands),
            per_class={c: [int(ids[i]) for i in v] for c, v in per_class.items()},
            params=params,
            evaluation=evaluation,
            neuron_names=None if names is None else [names[i] for i in order],
        )


def _train_moments(data: ProbeData) -> tuple[np.ndarray, np.ndarray] | None:
    """The training columns' mean/std in the space the probe sees (saves it a pass)."""
    if data.mean is None or data.std is None:
        return None
    if data.normalized:
        keep = (data.std > 0).astype(np.float64)
        return np.zeros_like(data.mean), keep  # z-scored: mean 0, std 1 (0 if constant)
    std = data.std.copy()
    std[data.constant] = 0.0
    return data.mean, std


def run_probe(
    data: ProbeData,
    config: ProbeConfig | None = None,
    *,
    stride: int = DEFAULT_STRIDE,
    progress: ProgressFn | None = None,
) -> ProbeAnalysis:
    """Train on the training rows (the dev rows pick the epoch), order by Algorithm 1,
    score every part and the majority baseline."""
    cfg = config or ProbeConfig()
    Xtr, ytr = data.part("train")
    Xdev, ydev = data.part("dev")
    probe = train_probe(
        Xtr,
        ytr,
        data.classes,
        cfg,
        shuffled=True,
        dev=(Xdev, ydev) if ydev.size else None,
        moments=_train_moments(data),
        progress=progress,
    )
    ordering = neuron_ordering(probe.weight, stride=stride, exclude=data.constant)
    accuracy = {}
    majority = {}
    for part in ("train", "dev", "test"):
        X, y = data.part(part)
        if y.size:
            accuracy[part] = probe.accuracy(X, y)
            majority[part] = majority_accuracy(data, part)
    return ProbeAnalysis(
        data=data,
        probe=probe,
        ordering=ordering,
        stride=stride,
        accuracy=accuracy,
        majority=majority,
    )
