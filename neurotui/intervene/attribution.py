"""Attribution patching: a first-order estimate of every neuron's patching effect at once.

Why: real activation patching costs one forward per (neuron, pair); attribution patching
(Nanda 2023; Syed et al. 2023, "Attribution patching outperforms automated circuit
discovery") estimates all of them from one forward and one backward pass of the corrupted
input: the effect of patching neuron ``n`` of a site at every position is approximately

    Σ_t  ∂metric/∂a[t, n] · (a_clean[t, n] − a_corrupt[t, n])

with the gradient taken on the corrupted run and positions aligned as in real patching
(:mod:`.patching`). Ranking neurons by its absolute value gives a ranking method; checking
it against real patching of the top neurons says how far the linear estimate holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.intervene.patching import (
    Patch,
    PatchScores,
    _Recorder,
    baseline_scores,
    check_sites,
    record_clean,
    row_pairs,
    run_patches,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from neurotui.models.base import Backend, EditContext


class _GradTap:
    """An ``EditFn`` adding a zero tensor that requires grad, so its ``.grad`` after the
    backward pass is ∂metric/∂activation of that call; also keeps the activation."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, list[list[int | None]]]] = []

    def __call__(self, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        import torch

        delta = torch.zeros_like(hidden, requires_grad=True)
        self.calls.append((hidden.detach().clone(), delta, [list(r) for r in ctx.word_index]))
        return hidden + delta


def site_attribution(clean: _Recorder, tap: _GradTap) -> np.ndarray:
    """Per-neuron signed estimate for one site (sum over calls and aligned positions)."""
    total: np.ndarray | None = None
    for (c_act, c_index), (x_act, delta, x_index) in zip(clean.calls, tap.calls, strict=False):
        grad = delta.grad
        if grad is None:
            continue
        pairs = row_pairs(x_index[0][: x_act.shape[1]], c_index[0], None)
        pairs = [(t, c) for t, c in pairs if c < c_act.shape[1]]
        size = x_act.shape[-1]
        part = np.zeros(size)
        if pairs:
            t_idx = [t for t, _ in pairs]
            c_idx = [c for _, c in pairs]
            diff = (c_act[0, c_idx] - x_act[0, t_idx]).double()
            part = (grad[0, t_idx].double() * diff).sum(dim=0).cpu().numpy()
        total = part if total is None else total + part
    if total is None:
        return np.zeros(0)
    return total


def attribution_scores(
    backend: Backend, scores: PatchScores, sites: Sequence[str]
) -> dict[str, np.ndarray]:
    """``{site: signed per-neuron estimate}`` from one clean run, one corrupted
    forward and one backward pass (all sites at once)."""
    recorders = record_clean(backend, scores, sites)
    taps = {site: _GradTap() for site in sites}
    with backend.edits(taps):
        value = backend.target_scores([scores.corrupt], [scores.target], grad=True)
        value.sum().backward()
    return {site: site_attribution(recorders[site], taps[site]) for site in sites}


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman rank correlation (average ranks for ties); ``None`` for < 3 values or a
    constant side."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.size < 3 or x.size != y.size:
        return None
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(values.size, dtype=np.float64)
    for v in np.unique(values):  # average tied ranks
        tied = values == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


@dataclass
class AttributionResult:
    """Neurons ranked by |estimate|, and the check against real patching of the top ones."""

    model: str
    scores: PatchScores
    names: list[str]  # every neuron of the chosen sites, best first
    estimate: list[float]  # signed estimate of Δ log p, same order
    checked: int = 0  # top neurons also patched for real
    real: list[float] = field(default_factory=list)  # real Δ log p of names[:checked]
    seconds_attribution: float = 0.0
    seconds_check: float = 0.0

    def spearman_abs(self) -> float | None:
        """Rank agreement of |estimate| and |real effect| over the checked neurons."""
        k = self.checked
        return spearman(np.abs(self.estimate[:k]).tolist(), np.abs(self.real).tolist())

    def spearman_signed(self) -> float | None:
        k = self.checked
        return spearman(self.estimate[:k], self.real)

    def to_dict(self, top: int = 50) -> dict[str, Any]:
        return {
            "model": self.model,
            "clean": self.scores.clean,
            "corrupt": self.scores.corrupt,
            "target": self.scores.target,
            "clean_logprob": round(self.scores.clean_logprob, 5),
            "corrupt_logprob": round(self.scores.corrupt_logprob, 5),
            "neurons": len(self.names),
            "top": [
                {
                    "neuron": name,
                    "estimate": round(self.estimate[k], 6),
                    **({"real": round(self.real[k], 6)} if k < self.checked else {}),
                }
                for k, name in enumerate(self.names[:top])
            ],
            "checked": self.checked,
            "spearman_abs": _round(self.spearman_abs()),
            "spearman_signed": _round(self.spearman_signed()),
            "seconds_attribution": round(self.seconds_attribution, 3),
            "seconds_check": round(self.seconds_check, 3),
        }

    def ranking(self) -> Any:
        """A :class:`Ranking` by |estimate| (``neurotui ablate --ranking F`` takes its JSON)."""
        from neurotui.store.ranking import Ranking

        return Ranking(
            method="attribution-patching",
            order=list(range(len(self.names))),
            neuron_names=list(self.names),
            scores=[abs(v) for v in self.estimate],
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def attribution_patching(
    backend: Backend,
    clean: str,
    corrupt: str,
    *,
    sites: Sequence[str] | None = None,
    target: str | None = None,
    check: int = 50,
) -> AttributionResult:
    """Rank every neuron of ``sites`` by |attribution|; patch the top ``check`` for real."""
    names_sites = check_sites(backend, sites)
    scores = baseline_scores(backend, clean, corrupt, target)
    t0 = time.perf_counter()
    per_site = attribution_scores(backend, scores, names_sites)
    seconds = time.perf_counter() - t0
    names, values = [], []
    for site in names_sites:
        for n, v in enumerate(per_site[site]):
            names.append(f"{site}:{n}")
            values.append(float(v))
    order = sorted(range(len(names)), key=lambda k: -abs(values[k]))
    result = AttributionResult(
        backend.name,
        scores,
        [names[k] for k in order],
        [values[k] for k in order],
        seconds_attribution=seconds,
    )
    k = min(max(check, 0), len(order))
    if k:
        t1 = time.perf_counter()
        patches = []
        for name in result.names[:k]:
            site, _, index = name.rpartition(":")
            patches.append(Patch(site, (int(index),), None))
        real = run_patches(backend, scores, patches)
        result.real = [v - scores.corrupt_logprob for v in real]
        result.checked = k
        result.seconds_check = time.perf_counter() - t1
    return result
