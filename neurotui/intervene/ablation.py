"""Ablation curves: knock out the top / bottom / random N neurons of a ranking and score.

Why: if a ranking is right, knocking out its top neurons hurts the model far more than
knocking out its bottom ones (Bau et al. 2019, Figures 4, 5 and 8). A curve is planned
first (:func:`plan_ablation`: the neuron orders as readable names, so the plan needs no
store to replay), then run (:func:`run_ablation`): one batched pass over the test set per
point, scored with BLEU and chrF (translation) or perplexity (language models).

The ablation *kind* (``zero``, ``mean``, ``resample``; see :mod:`.reference`) says what
replaces a knocked-out neuron. ``mean``/``resample`` plans carry the neurons' reference
values (means and a sampled pool, read from the store when planning), so they too replay
without the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import Cancelled, NeurotuiError
from neurotui.intervene.apply import DecodeSettings, perplexity, translate
from neurotui.intervene.bind import bind, store_names
from neurotui.intervene.reference import NeuronReference, store_reference
from neurotui.intervene.spec import ABLATIONS, Intervention
from neurotui.progress import ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend
    from neurotui.store.api import Store
    from neurotui.store.ranking import Ranking

DIRECTIONS: tuple[str, ...] = ("top", "bottom", "random")
DEFAULT_STEPS: tuple[int, ...] = (10, 50, 100)


@dataclass
class AblationPlan:
    """Which neurons each direction removes: ``orders[d][:n]`` for every ``n`` in ``steps``."""

    steps: list[int]
    orders: dict[str, list[str]]  # direction → neuron names, first removed first
    seed: int = 0
    ranking: str = ""  # ranking method/name, for the record
    kind: str = "zero"  # what replaces a removed neuron: zero, mean or resample
    reference: NeuronReference | None = None  # means/pool of the neurons (mean, resample)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "steps": list(self.steps),
            "orders": {d: list(v) for d, v in self.orders.items()},
            "seed": self.seed,
            "ranking": self.ranking,
            "ablation": self.kind,
        }
        if self.reference is not None:
            data["reference"] = self.reference.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AblationPlan:
        reference = data.get("reference")
        return cls(
            steps=[int(n) for n in data["steps"]],
            orders={d: [str(x) for x in v] for d, v in data["orders"].items()},
            seed=int(data.get("seed", 0)),
            ranking=str(data.get("ranking", "")),
            kind=str(data.get("ablation", "zero")),
            reference=NeuronReference.from_dict(reference) if reference else None,
        )


@dataclass
class AblationPoint:
    """One point of a curve (``n == 0`` is the unablated baseline)."""

    direction: str
    n: int
    bleu: float | None = None
    chrf: float | None = None
    perplexity: float | None = None
    seconds: float = 0.0
    outputs: list[str] | None = None  # per-sentence outputs, when kept

    def scores(self) -> dict[str, float]:
        return {
            k: v
            for k, v in (("bleu", self.bleu), ("chrf", self.chrf), ("perplexity", self.perplexity))
            if v is not None
        }


@dataclass
class AblationCurve:
    """A finished curve: the baseline plus one point per (direction, n)."""

    model: str
    metric: str  # "bleu" (translation) or "perplexity" (language models)
    sentences: int
    baseline: AblationPoint
    points: list[AblationPoint] = field(default_factory=list)
    plan: AblationPlan | None = None
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    seconds: float = 0.0
    kind: str = "zero"

    def series(self, direction: str) -> list[AblationPoint]:
        """Baseline then the points of ``direction`` in step order."""
        return [self.baseline] + [p for p in self.points if p.direction == direction]

    def to_dict(self, outputs: bool = False) -> dict[str, Any]:
        """The JSON figures: per direction, per step ``n`` with ``bleu``/``chrf``/``perplexity``."""
        data: dict[str, Any] = {
            "model": self.model,
            "metric": self.metric,
            "ablation": self.kind,
            "sentences": self.sentences,
            "steps": self.plan.steps if self.plan else sorted({p.n for p in self.points}),
            "baseline": {"n": 0, **self.baseline.scores()},
            "seconds": round(self.seconds, 3),
        }
        directions = [d for d in DIRECTIONS if any(p.direction == d for p in self.points)]
        for d in directions:
            rows = []
            for p in self.points:
                if p.direction != d:
                    continue
                row: dict[str, Any] = {"n": p.n, **p.scores(), "seconds": round(p.seconds, 3)}
                if outputs and p.outputs is not None:
                    row["outputs"] = p.outputs
                rows.append(row)
            data[d] = rows
        if outputs and self.baseline.outputs is not None:
            data["baseline"]["outputs"] = self.baseline.outputs
        return data

    def table(self) -> str:
        """A plain-text table: one row per N, one column per direction."""
        directions = [d for d in DIRECTIONS if any(p.direction == d for p in self.points)]
        keys = ["perplexity"] if self.metric == "perplexity" else ["bleu", "chrf"]
        header = ["N"] + [f"{d} {k}" for d in directions for k in keys]
        steps = sorted({p.n for p in self.points})
        by = {(p.direction, p.n): p for p in self.points}
        rows = [["0"] + [_fmt(getattr(self.baseline, k)) for _ in directions for k in keys]]
        for n in steps:
            row = [str(n)]
            for d in directions:
                p = by.get((d, n))
                row += [_fmt(getattr(p, k)) if p else "-" for k in keys]
            rows.append(row)
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def plan_ablation(
    ranking: Ranking,
    steps: Sequence[int],
    *,
    store: Store | None = None,
    backend: Backend | None = None,
    directions: Sequence[str] = DIRECTIONS,
    seed: int = 0,
    ranking_name: str = "",
    kind: str = "zero",
    reference_store: Store | None = None,
) -> AblationPlan:
    """Neuron orders for each direction from ``ranking``.

    Ranking ids are global ids of ``store`` when given (rankings are computed on stores),
    else of ``backend``'s site order. ``random`` is one seeded permutation of the ranked
    neurons, so its sets are nested like the top/bottom ones. ``kind`` ``mean`` or
    ``resample`` reads the reference values of every neuron the plan can remove from
    ``reference_store`` (default ``store``), seeded with ``seed``.
    """
    if kind not in ABLATIONS:
        raise NeurotuiError(f"--ablation {kind!r}: expected one of {', '.join(ABLATIONS)}")
    steps = sorted({int(n) for n in steps})
    if not steps or steps[0] <= 0:
        raise NeurotuiError("--steps: give positive neuron counts, e.g. 10,50,100")
    bad = [d for d in directions if d not in DIRECTIONS]
    if bad:
        raise NeurotuiError(f"direction {bad[0]!r} is not one of {', '.join(DIRECTIONS)}")
    if steps[-1] > len(ranking.order):
        raise NeurotuiError(
            f"--steps: {steps[-1]} neurons asked but the ranking orders {len(ranking.order)}"
        )
    if ranking.neuron_names and len(ranking.neuron_names) == len(ranking.order):
        # names first: a ranking made on a model (attribution patching) is not in the
        # store's column order; a store's own rankings name the same neurons either way
        names = list(ranking.neuron_names)
    elif store is not None:
        names = store_names(store, ranking.order)
    elif backend is not None:
        names = backend_names(backend, ranking.order)
    else:
        raise NeurotuiError("an ablation plan needs the ranking's store or the model")
    orders: dict[str, list[str]] = {}
    for d in directions:
        if d == "top":
            orders[d] = names[:]
        elif d == "bottom":
            orders[d] = names[::-1]
        else:
            perm = np.random.default_rng(seed).permutation(len(names))
            orders[d] = [names[i] for i in perm]
    reference = None
    if kind != "zero":
        source = reference_store if reference_store is not None else store
        if source is None:
            raise NeurotuiError(f"{kind}-ablation needs an activation store: give --store S")
        needed = [n for d in orders for n in orders[d][: steps[-1]]]
        reference = store_reference(source, needed, seed=seed)
    return AblationPlan(steps, orders, seed, ranking_name or ranking.method, kind, reference)


def backend_names(backend: Backend, ids: Sequence[int]) -> list[str]:
    """Global ids in ``backend``'s site order → readable names."""
    starts = sorted((off, name) for name, off in backend.neuron_offsets().items())
    sizes = {info.name: info.size for info in backend.sites()}
    out = []
    for gid in ids:
        off, name = next((o, n) for o, n in reversed(starts) if o <= gid)
        if gid - off >= sizes[name]:
            raise NeurotuiError(f"neuron id {gid} is outside model {backend.name}")
        out.append(f"{name}:{gid - off}")
    return out


def ablation_interventions(names: Sequence[str], kind: str = "zero") -> list[Intervention]:
    """Ablate ``names`` (``kind``) at every position (one spec, split per site when bound)."""
    return [Intervention(neurons=tuple(names), op=kind)] if names else []


def run_ablation(
    backend: Backend,
    plan: AblationPlan,
    sources: Sequence[str],
    references: Sequence[str] | None = None,
    *,
    settings: DecodeSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: ProgressFn | None = None,
    keep_outputs: bool = False,
) -> AblationCurve:
    """Run the baseline and every (direction, n) of ``plan`` over ``sources``.

    Translation models need ``references`` (BLEU, chrF); language models are scored by
    perplexity of ``sources``. Cancellation is checked between points and inside decoding.
    """
    from neurotui.metrics import bleu, chrf

    settings = settings or DecodeSettings()
    sources = list(sources)
    is_lm = backend.kind == "lm"
    if not sources:
        raise NeurotuiError("the ablation test set is empty")
    if not is_lm:
        if references is None:
            raise NeurotuiError(f"{backend.name} translates: an ablation needs --ref references")
        if len(references) != len(sources):
            raise NeurotuiError(f"{len(sources)} source sentences but {len(references)} references")
    jobs = [("baseline", 0)] + [(d, n) for d in plan.orders for n in plan.steps]
    start = time.perf_counter()

    def point(direction: str, n: int) -> AblationPoint:
        if should_stop is not None and should_stop():
            raise Cancelled("ablation")
        names = plan.orders[direction][:n] if n else []
        bound = bind(
            ablation_interventions(names, plan.kind),
            backend,
            reference=plan.reference,
            seed=plan.seed,
        )
        t0 = time.perf_counter()
        if is_lm:
            ppl = perplexity(backend, sources, bound, settings)
            result = AblationPoint(direction, n, perplexity=ppl)
        else:
            outs = translate(backend, sources, bound, settings, should_stop)
            texts = [t.text for t in outs]
            refs = list(references or [])
            result = AblationPoint(direction, n, bleu=bleu(texts, refs), chrf=chrf(texts, refs))
            if keep_outputs:
                result.outputs = texts
        result.seconds = time.perf_counter() - t0
        return result

    baseline: AblationPoint | None = None
    points: list[AblationPoint] = []
    for k, (direction, n) in enumerate(jobs):
        if progress is not None:
            progress(f"{direction} {n}", k, len(jobs))
        p = point(direction, n)
        if direction == "baseline":
            baseline = p
        else:
            points.append(p)
    if progress is not None:
        progress("done", len(jobs), len(jobs))
    assert baseline is not None
    return AblationCurve(
        model=backend.name,
        metric="perplexity" if is_lm else "bleu",
        sentences=len(sources),
        baseline=baseline,
        points=points,
        plan=plan,
        settings=settings,
        seconds=time.perf_counter() - start,
        kind=plan.kind,
    )
