"""Control experiments: clamp property neurons and count how often the output flips.

Why: finding "tense neurons" is only convincing if setting them changes the tense of the
translation (Bau et al. 2019 §6: tense up to 67 %, number 37 %, gender 21 %). The
experiment, for a property (tense, number, gender) and a target class:

1. neurons: a probe ranking's ordering for the target class (encoder sites only: the clamp
   acts on source positions);
2. clamp values from the store: per neuron the mean activation of target-class tokens and of
   the other classes (at the property's positions when the store's sentences are synthetic
   examples, else over all labelled tokens), and mean/std over the corpus;
3. clamp those neurons — at each sentence's property positions (``property_positions``;
   scope ``property``) or at every word (scope ``all``) — to ``mode="mean"``:
   ``μ_target + (α − 1)(μ_target − μ_other)`` (α = 1 is the class mean) or
   ``mode="sigma"``: ``μ + k·σ·sign(μ_target − μ_other)`` (Bau et al.'s σ units);
   or, ``mode="steer"``, *add* the steering vector ``α·(μ_target − μ_other)`` to every
   neuron of a site (the difference of class means as a direction, Turner et al. 2023,
   "Activation addition"; Rimsky et al. 2024): the neurons are then all of the steering
   sites (:func:`neurotui.intervene.workflows.control_request`), not a ranking's top;
4. re-translate sentences whose property differs from the target; ``flip_rate`` is the share
   whose output ``detect`` reads as the target; ``bleu_untouched`` is the corpus BLEU of the
   outputs against the expected translation ``flip(example, prop, target).tgt``.

A search over the number of neurons, the strength and the scope picks, on a *dev* set, the
highest flip rate among points whose BLEU is at least that of the unclamped outputs (so a
clamp that wrecks the sentence does not count), and reports it on the *test* set; the
headline number is not tuned on what it reports.
Everything a run needs is in :class:`ControlRequest` (neuron names and raw clamp values,
sentences and positions, the detector's name), so the log can replay it without the store.
Real-text models use another detector (French rules), the reference translation as
``expected`` and a relative BLEU floor: see :mod:`neurotui.intervene.realtext`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import Cancelled, NeurotuiError
from neurotui.intervene.apply import DecodeSettings, translate
from neurotui.intervene.bind import bind
from neurotui.intervene.spec import Intervention, Positions
from neurotui.progress import ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.data.synthetic import Example
    from neurotui.models.base import Backend
    from neurotui.store.api import Store
    from neurotui.store.ranking import Ranking

CONTROL_PROPS = ("tense", "number", "gender")
MODES = ("mean", "sigma", "steer")
DEFAULT_NS: tuple[int, ...] = (10, 25, 50, 100, 200)
DEFAULT_STRENGTHS: dict[str, tuple[float, ...]] = {
    "mean": (1.0, 2.0, 4.0, 8.0, 16.0),
    "sigma": (1.0, 2.0, 4.0, 8.0),
    "steer": (1.0, 2.0, 4.0, 6.0, 8.0, 12.0),
}
#: what the seeds (Bau et al. 2019) report, for comparison next to ours
SEED_FLIP_RATES = {"tense": 0.67, "number": 0.37, "gender": 0.21}

DetectFn = Callable[[str], dict[str, "str | None"]]
#: property detectors by name (what a ControlRequest records): the synthetic grammar's exact
#: reader, and the French rules for real text (:mod:`neurotui.data.french`)
DETECTORS = ("synthetic", "french-rules")


def get_detector(name: str) -> DetectFn:
    """The detector called ``name`` (one-line error for an unknown one)."""
    if name == "synthetic":
        from neurotui.data.synthetic import detect

        return detect
    if name == "french-rules":
        from neurotui.data.french import detect as detect_french

        return detect_french
    raise NeurotuiError(f"detector {name!r} is not one of {', '.join(DETECTORS)}")


# -- cases ------------------------------------------------------------------------------
@dataclass
class ControlCase:
    """One test sentence: where to clamp and what the flipped translation should be."""

    source: str
    expected: str  # flip(example, prop, target).tgt; on real text the reference
    positions: list[int]
    original_value: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "expected": self.expected,
            "positions": self.positions,
            "original_value": self.original_value,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControlCase:
        return cls(
            str(data["source"]),
            str(data["expected"]),
            [int(i) for i in data["positions"]],
            str(data["original_value"]),
        )


def check_target(prop: str, target: str) -> None:
    """One-line errors for an unknown property or class."""
    from neurotui.data.synthetic import PROP_VALUES

    if prop not in CONTROL_PROPS:
        raise NeurotuiError(f"--task: {prop!r} is not one of {', '.join(CONTROL_PROPS)}")
    if target not in PROP_VALUES[prop]:
        raise NeurotuiError(
            f"--target: {prop} has no class {target!r} (one of {', '.join(PROP_VALUES[prop])})"
        )


def control_cases(examples: Sequence[Example], prop: str, target: str) -> list[ControlCase]:
    """Cases for the examples whose ``prop`` differs from ``target`` and can be flipped."""
    from neurotui.data.synthetic import can_flip, flip, property_positions

    check_target(prop, target)
    cases = []
    for ex in examples:
        if ex.props.get(prop) == target or not can_flip(ex, prop, target):
            continue
        positions = property_positions(ex, prop)
        if positions:
            cases.append(ControlCase(ex.src, flip(ex, prop, target).tgt, positions, ex.props[prop]))
    return cases


# -- clamp profile ------------------------------------------------------------------------
@dataclass
class ClampProfile:
    """Candidate neurons (best first) with the statistics the clamp values come from."""

    names: list[str]
    target_mean: np.ndarray
    other_mean: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    source: str = ""  # how the class means were computed

    def values(self, n: int, mode: str, strength: float) -> np.ndarray:
        """Clamp values of the first ``n`` neurons (see the module docstring)."""
        t, o = self.target_mean[:n], self.other_mean[:n]
        if mode == "mean":
            return t + (strength - 1.0) * (t - o)
        if mode == "sigma":
            return self.mean[:n] + strength * self.std[:n] * np.sign(t - o)
        if mode == "steer":  # added, not set: the steering vector scaled by α
            return strength * (t - o)
        raise NeurotuiError(f"--mode: {mode!r} is not one of {', '.join(MODES)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "target_mean": self.target_mean.tolist(),
            "other_mean": self.other_mean.tolist(),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClampProfile:
        arr = {
            k: np.asarray(data[k], dtype=np.float64)
            for k in ("target_mean", "other_mean", "mean", "std")
        }
        return cls(names=[str(x) for x in data["names"]], source=str(data.get("source", "")), **arr)


def ranked_neurons(
    ranking: Ranking, target: str, store: Store, sites: Sequence[str] | None = None
) -> list[int]:
    """Store ids in the ranking's order for ``target`` (its per-class ordering when it has
    one), restricted to ``sites`` (the model's encoder sites)."""
    order = ranking.order
    if ranking.per_class and target in ranking.per_class:
        order = ranking.per_class[target]
    if sites is None:
        return list(order)
    allowed = np.zeros(store.neuron_count, dtype=bool)
    for s in store.sites:
        if s.name in sites:
            allowed[s.offset : s.offset + s.size] = True
    return [int(g) for g in order if 0 <= g < len(allowed) and allowed[g]]


def clamp_profile(
    store: Store,
    ids: Sequence[int],
    task: str,
    target: str,
    *,
    store_examples: Sequence[Example] | None = None,
    prop: str | None = None,
) -> ClampProfile:
    """Class means of ``ids`` (store ids, best first) for ``target`` vs the other classes.

    With ``store_examples`` (the synthetic examples the store was extracted from, one per
    store sentence) the means are taken at the property's positions only — the tokens the
    clamp will touch; otherwise over every token whose ``task`` label is a class (not
    ``none``).
    """
    from neurotui.intervene.bind import store_names

    if task not in store.label_tasks:
        raise NeurotuiError(
            f"{store.path}: no {task!r} labels in the store (tasks: {', '.join(store.label_tasks) or 'none'})"
        )
    labels = store.labels(task)
    cols = np.asarray(ids, dtype=np.int64)
    k = len(cols)
    sums = {"t": np.zeros(k), "o": np.zeros(k)}
    counts = {"t": 0, "o": 0}
    aligned = store_examples is not None and len(store_examples) == store.sentences
    if aligned:
        from neurotui.data.synthetic import property_positions

        for i, ex in enumerate(store_examples or []):
            if ex.src.split() != store.tokens(i):
                aligned = False
                break
    for i in range(store.sentences):
        rows = store.activations(i)[:, cols].astype(np.float64)
        labs = labels[i]
        if aligned:
            ex = (store_examples or [])[i]
            value = ex.props.get(prop or task)
            pos = property_positions(ex, prop or task)
            if not pos or value is None:
                continue
            key = "t" if value == target else "o"
            sums[key] += rows[pos].sum(axis=0)
            counts[key] += len(pos)
        else:
            for t, lab in enumerate(labs):
                if lab in ("none", "O", ""):
                    continue
                key = "t" if lab == target else "o"
                sums[key] += rows[t]
                counts[key] += 1
    if not counts["t"] or not counts["o"]:
        raise NeurotuiError(
            f"{store.path}: the {task!r} labels have no tokens of class {target!r} "
            "or none of the other classes"
        )
    stats = store.stats
    if stats is not None:
        mean = np.asarray(stats.mean, dtype=np.float64)[cols]
        std = np.asarray(stats.std, dtype=np.float64)[cols]
    else:  # no stored summaries: one pass over the selected columns
        acc = np.concatenate([store.activations(i)[:, cols] for i in range(store.sentences)])
        mean, std = acc.mean(axis=0).astype(np.float64), acc.std(axis=0).astype(np.float64)
    return ClampProfile(
        names=store_names(store, cols),
        target_mean=sums["t"] / counts["t"],
        other_mean=sums["o"] / counts["o"],
        mean=mean,
        std=std,
        source="property positions" if aligned else f"{task} labels",
    )


# -- one point --------------------------------------------------------------------------
SCOPES = ("property", "all")


@dataclass(frozen=True)
class Setting:
    """One point of the grid: how many neurons, which values, how strong, where.

    ``scope``: ``property`` clamps at the words that express the property
    (``property_positions``), ``all`` at every word of the sentence.
    """

    n: int
    mode: str = "mean"
    strength: float = 1.0
    scope: str = "property"

    def describe(self) -> str:
        return f"n={self.n} {self.mode} {self.strength:g} @{self.scope}"


def clamp_interventions(
    profile: ClampProfile, setting: Setting, cases: Sequence[ControlCase]
) -> list[Intervention]:
    """Set the first ``n`` neurons at each case's positions (raw values; none for n = 0)."""
    if setting.n <= 0:
        return []
    if setting.scope not in SCOPES:
        raise NeurotuiError(f"--scope: {setting.scope!r} is not one of {', '.join(SCOPES)}")
    values = profile.values(setting.n, setting.mode, setting.strength)
    if setting.scope == "all":
        positions = Positions.sentences({c.source: range(len(c.source.split())) for c in cases})
    else:
        positions = Positions.sentences({c.source: c.positions for c in cases})
    steer = setting.mode == "steer"
    return [
        Intervention(
            neurons=tuple(profile.names[: setting.n]),
            op="add" if steer else "set",
            positions=positions,
            value=tuple(float(v) for v in values),
            name=f"{'steer' if steer else 'clamp'} {setting.describe()}",
        )
    ]


@dataclass
class ControlPoint:
    """Flip rate and untouched-content BLEU of one setting on one set of cases."""

    setting: Setting
    flip_rate: float
    bleu_untouched: float
    flipped: int
    total: int
    undetected: int = 0  # outputs where the detector could not read the property
    exact: int = 0  # outputs equal to the expected flipped translation (perfect control)
    seconds: float = 0.0
    outputs: list[str] | None = None
    hits: list[bool] | None = None  # per output: read as the target class

    @property
    def exact_rate(self) -> float:
        return self.exact / self.total if self.total else 0.0

    @property
    def n(self) -> int:
        return self.setting.n

    @property
    def strength(self) -> float:
        return self.setting.strength

    def to_dict(self, outputs: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "n": self.setting.n,
            "mode": self.setting.mode,
            "strength": self.setting.strength,
            "scope": self.setting.scope,
            "flip_rate": round(self.flip_rate, 4),
            "bleu_untouched": round(self.bleu_untouched, 2),
            "flipped": self.flipped,
            "total": self.total,
            "undetected": self.undetected,
            "exact_rate": round(self.exact_rate, 4),
            "seconds": round(self.seconds, 3),
        }
        if outputs and self.outputs is not None:
            data["outputs"] = self.outputs
        return data


def run_point(
    backend: Backend,
    profile: ClampProfile,
    cases: Sequence[ControlCase],
    prop: str,
    target: str,
    setting: Setting,
    *,
    settings: DecodeSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_outputs: bool = False,
    detector: DetectFn | None = None,
) -> ControlPoint:
    """Translate ``cases`` with the clamp applied and score flips and BLEU.

    ``detector`` reads the property of an output (default: the synthetic grammar's)."""
    from neurotui.metrics import bleu as corpus_bleu

    detect = detector or get_detector("synthetic")

    if should_stop is not None and should_stop():
        raise Cancelled("control")
    t0 = time.perf_counter()
    sources = [c.source for c in cases]
    bound = bind(clamp_interventions(profile, setting, cases), backend)
    outs = translate(backend, sources, bound, settings, should_stop)
    texts = [t.text for t in outs]
    found = [detect(t).get(prop) for t in texts]
    flipped = sum(v == target for v in found)
    bleu = corpus_bleu(texts, [c.expected for c in cases]) if cases else 0.0
    return ControlPoint(
        setting=setting,
        flip_rate=flipped / len(cases) if cases else 0.0,
        bleu_untouched=bleu,
        flipped=flipped,
        total=len(cases),
        undetected=sum(v is None for v in found),
        exact=sum(t.split() == c.expected.split() for t, c in zip(texts, cases, strict=True)),
        seconds=time.perf_counter() - t0,
        outputs=texts if keep_outputs else None,
        hits=[v == target for v in found] if keep_outputs else None,
    )


# -- the experiment ---------------------------------------------------------------------
@dataclass
class ControlRequest:
    """Everything a control experiment needs, store-free (what the log records).

    The grid is ``ns × strengths × scopes`` in ``mode``. ``min_bleu``: the chosen point
    is the highest flip rate among points whose BLEU against the expected translations is
    at least this; ``None`` means the dev BLEU of the unclamped outputs (a clamp that
    leaves the output further from the expected translation than doing nothing does not
    count as control).
    """

    prop: str
    target: str
    profile: ClampProfile
    search_cases: list[ControlCase]  # dev: the grid is searched here
    test_cases: list[ControlCase]  # test: the best point is reported here
    ns: list[int]
    strengths: list[float]
    mode: str = "mean"
    scopes: list[str] = field(default_factory=lambda: ["property"])
    min_bleu: float | None = None
    ranking: str = ""
    detector: str = "synthetic"  # a name in DETECTORS
    bleu_against: str = "expected"  # what ``expected`` is: the flipped translation or a reference
    min_bleu_ratio: float = 1.0  # default floor: this share of the unclamped dev BLEU
    #: when set, the floor is the unclamped dev BLEU minus this many points instead
    max_bleu_drop: float | None = None

    def grid(self) -> list[Setting]:
        limit = len(self.profile.names)
        ns = sorted({min(int(n), limit) for n in self.ns if n > 0})
        return [
            Setting(n, self.mode, float(s), scope)
            for scope in self.scopes
            for n in ns
            for s in self.strengths
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prop": self.prop,
            "target": self.target,
            "profile": self.profile.to_dict(),
            "search_cases": [c.to_dict() for c in self.search_cases],
            "test_cases": [c.to_dict() for c in self.test_cases],
            "ns": self.ns,
            "strengths": self.strengths,
            "mode": self.mode,
            "scopes": self.scopes,
            "min_bleu": self.min_bleu,
            "ranking": self.ranking,
            "detector": self.detector,
            "bleu_against": self.bleu_against,
            "min_bleu_ratio": self.min_bleu_ratio,
            **({"max_bleu_drop": self.max_bleu_drop} if self.max_bleu_drop is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControlRequest:
        min_bleu = data.get("min_bleu")
        return cls(
            prop=str(data["prop"]),
            target=str(data["target"]),
            profile=ClampProfile.from_dict(data["profile"]),
            search_cases=[ControlCase.from_dict(c) for c in data["search_cases"]],
            test_cases=[ControlCase.from_dict(c) for c in data["test_cases"]],
            ns=[int(n) for n in data["ns"]],
            strengths=[float(s) for s in data["strengths"]],
            mode=str(data.get("mode", "mean")),
            scopes=[str(x) for x in data.get("scopes", ["property"])],
            min_bleu=None if min_bleu is None else float(min_bleu),
            ranking=str(data.get("ranking", "")),
            detector=str(data.get("detector", "synthetic")),
            bleu_against=str(data.get("bleu_against", "expected")),
            min_bleu_ratio=float(data.get("min_bleu_ratio", 1.0)),
            max_bleu_drop=(
                None if data.get("max_bleu_drop") is None else float(data["max_bleu_drop"])
            ),
        )


@dataclass
class ControlResult:
    """The searched curve (dev), the chosen point and its test figures."""

    model: str
    prop: str
    target: str
    curve: list[ControlPoint]
    best: ControlPoint
    test: ControlPoint
    test_baseline: ControlPoint  # no clamp: how often the output already reads as target
    search_baseline: ControlPoint  # no clamp on the dev cases (the default BLEU floor)
    min_bleu: float = 0.0
    seconds: float = 0.0
    examples: list[dict[str, Any]] = field(default_factory=list)
    detector: str = "synthetic"
    bleu_against: str = "expected"

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "task": self.prop,
            "target": self.target,
            "flip_rate": round(self.test.flip_rate, 4),
            "bleu_untouched": round(self.test.bleu_untouched, 2),
            "exact_rate": round(self.test.exact_rate, 4),
            "n": self.best.setting.n,
            "mode": self.best.setting.mode,
            "strength": self.best.setting.strength,
            "scope": self.best.setting.scope,
            "test": self.test.to_dict(),
            "baseline": self.test_baseline.to_dict(),
            "search_baseline": self.search_baseline.to_dict(),
            "min_bleu": round(self.min_bleu, 2),
            "seed_flip_rate": SEED_FLIP_RATES.get(self.prop),
            "curve": [p.to_dict() for p in self.curve],
            "examples": self.examples,
            "seconds": round(self.seconds, 3),
            "detector": self.detector,
            "bleu_against": self.bleu_against,
        }

    def table(self) -> str:
        """The searched curve as text, then the chosen point on the test set."""
        base = self.search_baseline
        lines = [
            f"{'scope':>8}  {'n':>4}  {'strength':>8}  {'flip rate':>9}  {'BLEU':>6}"
            f"   (dev, {base.total} sentences; no clamp: {100 * base.flip_rate:.1f}%, "
            f"BLEU {base.bleu_untouched:.2f}; best needs BLEU ≥ {self.min_bleu:.2f})"
        ]
        for p in self.curve:
            mark = "  ◀ best" if p is self.best else ""
            lines.append(
                f"{p.setting.scope:>8}  {p.n:>4}  {p.strength:>8g}  {100 * p.flip_rate:>8.1f}%"
                f"  {p.bleu_untouched:>6.2f}{mark}"
            )
        seed = SEED_FLIP_RATES.get(self.prop)
        lines.append(
            f"test ({self.test.total} sentences, {self.prop} → {self.target}, "
            f"{self.best.setting.describe()}): flip rate {100 * self.test.flip_rate:.1f}% "
            f"(no clamp: {100 * self.test_baseline.flip_rate:.1f}%), BLEU vs {self.bleu_against} "
            f"{self.test.bleu_untouched:.2f} (no clamp: {self.test_baseline.bleu_untouched:.2f}), "
            f"exactly the expected translation {100 * self.test.exact_rate:.1f}%"
            + (f"; Bau et al. 2019: {100 * seed:.0f}%" if seed is not None else "")
        )
        return "\n".join(lines)


def choose(curve: Sequence[ControlPoint], min_bleu: float) -> ControlPoint:
    """Highest flip rate with ``bleu_untouched ≥ min_bleu`` (ties: higher BLEU, fewer
    neurons, weaker); when no point qualifies, the one with the highest BLEU."""
    ok = [p for p in curve if p.bleu_untouched >= min_bleu]
    if not ok:
        return max(curve, key=lambda p: (p.bleu_untouched, p.flip_rate))
    return max(ok, key=lambda p: (p.flip_rate, p.bleu_untouched, -p.n, -p.strength))


def _examples(
    cases: Sequence[ControlCase], before: ControlPoint, after: ControlPoint, k: int
) -> list[dict[str, Any]]:
    """Up to ``k`` outputs that flipped and ``k`` that did not (for the CLI and the app)."""
    flipped: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    rows = zip(cases, before.outputs or [], after.outputs or [], after.hits or [], strict=False)
    for case, original, modified, hit in rows:
        bucket = flipped if hit else kept
        if len(bucket) < k:
            bucket.append(
                {
                    "source": case.source,
                    "original": original,
                    "modified": modified,
                    "expected": case.expected,
                    "flipped": bool(hit),
                }
            )
    return flipped + kept


def run_control(
    backend: Backend,
    request: ControlRequest,
    *,
    settings: DecodeSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: ProgressFn | None = None,
    examples: int = 5,
) -> ControlResult:
    """Search the grid on the dev cases, then report the best point on the test cases."""
    if backend.kind != "seq2seq":
        raise NeurotuiError(
            f"control experiments need a translation model ({backend.name} is {backend.kind})"
        )
    if not request.search_cases or not request.test_cases:
        raise NeurotuiError(f"no sentences whose {request.prop} differs from {request.target!r}")
    grid = request.grid()
    total = len(grid) + 3
    start = time.perf_counter()
    common: dict[str, Any] = {
        "settings": settings,
        "should_stop": should_stop,
        "detector": get_detector(request.detector),
    }
    prop, target = request.prop, request.target

    def point(cases: list[ControlCase], setting: Setting, keep: bool = False) -> ControlPoint:
        return run_point(
            backend, request.profile, cases, prop, target, setting, keep_outputs=keep, **common
        )

    if progress is not None:
        progress("no clamp", 0, total)
    search_baseline = point(request.search_cases, Setting(0, request.mode))
    curve = []
    for k, setting in enumerate(grid, 1):
        if progress is not None:
            progress(setting.describe(), k, total)
        curve.append(point(request.search_cases, setting))
    if request.min_bleu is not None:
        floor = request.min_bleu
    elif request.max_bleu_drop is not None:
        floor = search_baseline.bleu_untouched - request.max_bleu_drop
    else:
        floor = search_baseline.bleu_untouched * request.min_bleu_ratio
    best = choose(curve, floor)
    if progress is not None:
        progress(f"test {best.setting.describe()}", len(grid) + 1, total)
    test = point(request.test_cases, best.setting, keep=True)
    baseline = point(request.test_cases, Setting(0, request.mode), keep=True)
    if progress is not None:
        progress("done", total, total)
    return ControlResult(
        model=backend.name,
        prop=prop,
        target=target,
        curve=curve,
        best=best,
        test=test,
        test_baseline=baseline,
        search_baseline=search_baseline,
        min_bleu=floor,
        seconds=time.perf_counter() - start,
        examples=_examples(request.test_cases, baseline, test, examples),
        detector=request.detector,
        bleu_against=request.bleu_against,
    )


def compare_methods(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (task, target): no intervention, the clamp and the steering vector on the same
    test cases (flip rate, BLEU, the chosen setting) — ``control --compare``'s table and
    the Control mode's comparison. ``results``: run documents
    (:meth:`neurotui.intervene.workflows.ControlRun.to_dict`) with ``method`` clamp or
    steer."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(
            (r["task"], r["target"]),
            {
                "task": r["task"],
                "target": r["target"],
                "cases": r["test"]["total"],
                "none": {k: r["baseline"][k] for k in ("flip_rate", "bleu_untouched")},
            },
        )
        row[r["method"]] = {
            k: r[k] for k in ("flip_rate", "bleu_untouched", "n", "mode", "strength", "scope")
        }
    return list(rows.values())
