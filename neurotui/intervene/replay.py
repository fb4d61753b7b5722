"""Log records for each kind of run, and replaying them.

Why here and not in the command: the CLI, the app and scripts all log through the same
record builders, and ``neurotui replay`` re-runs a record through the same functions that
produced it, then compares what comes out with what was logged. Records carry resolved
(raw-unit) interventions, neuron names and clamp values, so a replay needs the model but
not the store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import DataError, NeurotuiError
from neurotui.intervene.apply import DecodeSettings

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.ablation import AblationCurve, AblationPlan
    from neurotui.intervene.bind import BoundIntervention
    from neurotui.intervene.compare import Comparison
    from neurotui.intervene.control import ControlRequest, ControlResult
    from neurotui.intervene.spec import Intervention
    from neurotui.models.base import Backend

#: absolute tolerance when comparing replayed scores (BLEU, chrF, rates, perplexity)
TOLERANCE = 1e-6


def model_ref(backend: Backend) -> dict[str, str]:
    """How a record names its model: the bundled name, and the checkpoint path if any."""
    ref = {"model": backend.name}
    path = getattr(backend, "path", None)
    if path:
        ref["model_path"] = str(Path(path).resolve())
    return ref


def translate_record(
    backend: Backend,
    spec: Sequence[Intervention],
    bound: Sequence[BoundIntervention],
    comparisons: Sequence[Comparison],
    settings: DecodeSettings,
) -> dict[str, Any]:
    """A ``translate`` record: sources, the spec as given and resolved, both outputs."""
    from neurotui.intervene.bind import bound_to_json
    from neurotui.intervene.spec import spec_to_json

    return {
        "kind": "translate",
        **model_ref(backend),
        "settings": settings.to_dict(),
        "spec": spec_to_json(spec),
        "interventions": bound_to_json(bound),
        "sources": [c.source for c in comparisons],
        "original": [c.original.text for c in comparisons],
        "modified": [c.modified.text for c in comparisons],
    }


def ablation_record(
    backend: Backend,
    plan: AblationPlan,
    sources: Sequence[str],
    references: Sequence[str] | None,
    settings: DecodeSettings,
    curve: AblationCurve,
) -> dict[str, Any]:
    """An ``ablate`` record: the plan (neuron names per direction), data and figures."""
    return {
        "kind": "ablate",
        **model_ref(backend),
        "settings": settings.to_dict(),
        "plan": plan.to_dict(),
        "sources": list(sources),
        "references": list(references) if references is not None else None,
        "result": curve.to_dict(),
    }


def control_record(
    backend: Backend,
    request: ControlRequest,
    settings: DecodeSettings,
    result: ControlResult,
    examples: int = 5,
) -> dict[str, Any]:
    """A ``control`` record: the full request (clamp values, cases) and the result.

    ``examples`` is the number of example outputs per kind the run was asked to keep.
    """
    return {
        "kind": "control",
        **model_ref(backend),
        "settings": settings.to_dict(),
        "examples": examples,
        "request": request.to_dict(),
        "result": result.to_dict(),
    }


@dataclass
class ReplayReport:
    """What a replay found: whether everything logged came out again, and what did not."""

    kind: str
    line: int | None
    model: str
    matches: bool
    differences: list[str] = field(default_factory=list)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "line": self.line,
            "model": self.model,
            "matches": self.matches,
            "differences": self.differences,
            "summary": self.summary,
        }


def replay(
    record: dict[str, Any],
    backend: Backend,
    *,
    should_stop: Callable[[], bool] | None = None,
    log: str | None = None,
) -> ReplayReport:
    """Re-run ``record`` on ``backend`` and compare the outcome with the logged one.

    Every error starts with ``LOG:LINE:`` (``log`` is the log's path), so a bad record is
    found in the file whichever part of it is wrong.
    """
    kind = record.get("kind")
    line = record.get("_line")
    at = f"{log or 'log'}:{line}: "
    try:
        return _replay(record, backend, should_stop, kind, line)
    except KeyError as exc:
        raise DataError(f"{at}{kind} record lacks field {exc.args[0]!r}") from None
    except NeurotuiError as exc:
        if str(exc).startswith(at):
            raise
        try:
            named = type(exc)(f"{at}{exc}")
        except TypeError:
            named = DataError(f"{at}{exc}")
        raise named from None


def _replay(
    record: dict[str, Any],
    backend: Backend,
    should_stop: Callable[[], bool] | None,
    kind: Any,
    line: Any,
) -> ReplayReport:
    settings = DecodeSettings.from_dict(record.get("settings"))
    if kind == "translate":
        diffs, summary = _replay_translate(record, backend, settings, should_stop)
    elif kind == "ablate":
        diffs, summary = _replay_ablation(record, backend, settings, should_stop)
    elif kind == "control":
        diffs, summary = _replay_control(record, backend, settings, should_stop)
    else:
        raise DataError(f"unknown record kind {kind!r}")
    return ReplayReport(str(kind), line, backend.name, not diffs, diffs, summary)


def _replay_translate(
    record: dict[str, Any],
    backend: Backend,
    settings: DecodeSettings,
    should_stop: Callable[[], bool] | None,
) -> tuple[list[str], str]:
    from neurotui.intervene.bind import bind
    from neurotui.intervene.compare import compare
    from neurotui.intervene.spec import parse_spec

    sources = list(record["sources"])
    bound = bind(parse_spec(record["interventions"], "interventions"), backend)
    comparisons = compare(backend, sources, bound, settings, should_stop)
    diffs: list[str] = []
    for k, c in enumerate(comparisons):
        if c.original.text != record["original"][k]:
            diffs.append(
                f"sentence {k + 1} original: {c.original.text!r} ≠ logged {record['original'][k]!r}"
            )
        if c.modified.text != record["modified"][k]:
            diffs.append(
                f"sentence {k + 1} modified: {c.modified.text!r} ≠ logged {record['modified'][k]!r}"
            )
    changed = sum(c.changed for c in comparisons)
    return diffs, f"{len(sources)} sentences, {changed} changed by the intervention"


def _replay_ablation(
    record: dict[str, Any],
    backend: Backend,
    settings: DecodeSettings,
    should_stop: Callable[[], bool] | None,
) -> tuple[list[str], str]:
    from neurotui.intervene.ablation import AblationPlan, run_ablation

    plan = AblationPlan.from_dict(record["plan"])
    curve = run_ablation(
        backend,
        plan,
        record["sources"],
        record.get("references"),
        settings=settings,
        should_stop=should_stop,
    )
    diffs = _compare_numbers(record["result"], curve.to_dict(), "")
    return diffs, f"{len(curve.points)} points over {curve.sentences} sentences"


def _replay_control(
    record: dict[str, Any],
    backend: Backend,
    settings: DecodeSettings,
    should_stop: Callable[[], bool] | None,
) -> tuple[list[str], str]:
    from neurotui.intervene.control import ControlRequest, run_control

    request = ControlRequest.from_dict(record["request"])
    result = run_control(
        backend,
        request,
        settings=settings,
        should_stop=should_stop,
        examples=int(record.get("examples", 5)),
    )
    logged = dict(record["result"])
    fresh = result.to_dict()
    diffs = _compare_numbers(logged, fresh, "")
    return diffs, (
        f"{request.prop} → {request.target}: flip rate {100 * result.test.flip_rate:.1f}%, "
        f"BLEU {result.test.bleu_untouched:.2f}"
    )


_SKIP = {"seconds", "time", "_line"}


def _compare_numbers(logged: Any, fresh: Any, where: str) -> list[str]:
    """Differences between two JSON values (numbers within TOLERANCE; timings ignored)."""
    if isinstance(logged, dict) and isinstance(fresh, dict):
        diffs = []
        for key in logged:
            if key in _SKIP:
                continue
            if key not in fresh:
                diffs.append(f"{where}{key}: missing in the replay")
                continue
            diffs += _compare_numbers(logged[key], fresh[key], f"{where}{key}.")
        return diffs
    if isinstance(logged, list) and isinstance(fresh, list):
        if len(logged) != len(fresh):
            return [f"{where.rstrip('.')}: {len(fresh)} items ≠ logged {len(logged)}"]
        diffs = []
        for k, (a, b) in enumerate(zip(logged, fresh, strict=True)):
            diffs += _compare_numbers(a, b, f"{where}{k}.")
        return diffs
    if isinstance(logged, int | float) and isinstance(fresh, int | float):
        if isinstance(logged, bool) or isinstance(fresh, bool):
            ok = logged == fresh
        else:
            ok = math.isclose(float(logged), float(fresh), rel_tol=0, abs_tol=TOLERANCE) or (
                math.isnan(float(logged)) and math.isnan(float(fresh))
            )
        return [] if ok else [f"{where.rstrip('.')}: {fresh} ≠ logged {logged}"]
    if logged != fresh:
        return [f"{where.rstrip('.')}: {str(fresh)[:60]!r} ≠ logged {str(logged)[:60]!r}"]
    return []
