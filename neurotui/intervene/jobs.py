"""Ready-made runner jobs: the intervention runs the app submits to :class:`Runner`.

Why: a job is ``fn(ctx) -> value`` running on the worker thread with ``ctx.backend``;
these factories close over plain values (bound interventions, settings, plans), wire
``ctx.should_stop`` into decoding and ``ctx.progress`` into long runs, so the app only
chooses what to run and renders the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from neurotui.intervene.apply import DecodeSettings

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.ablation import AblationCurve, AblationPlan
    from neurotui.intervene.bind import BoundIntervention
    from neurotui.intervene.compare import Comparison
    from neurotui.intervene.control import ControlRequest, ControlResult
    from neurotui.intervene.runner import Job, RunnerContext
    from neurotui.intervene.spec import Intervention
    from neurotui.models.base import Translation
    from neurotui.store.api import Store


def translate_job(
    sentences: Sequence[str],
    bound: Sequence[BoundIntervention] = (),
    settings: DecodeSettings | None = None,
) -> Job:
    """Translate ``sentences`` with ``bound`` applied → ``list[Translation]``."""
    from neurotui.intervene.apply import translate

    def job(ctx: RunnerContext) -> list[Translation]:
        return translate(ctx.backend, sentences, bound, settings, ctx.should_stop)

    return job


def compare_job(
    sentences: Sequence[str],
    spec: Sequence[Intervention],
    *,
    store: Store | None = None,
    settings: DecodeSettings | None = None,
    original: Sequence[Translation] | None = None,
) -> Job:
    """Bind ``spec`` on the worker, then original vs modified → ``list[Comparison]``.

    Binding errors (unknown neuron, σ without a store…) fail the request with a one-line
    user error. ``original`` reuses an unmodified translation the caller already has.
    """
    from neurotui.intervene.bind import bind
    from neurotui.intervene.compare import compare

    def job(ctx: RunnerContext) -> list[Comparison]:
        bound = bind(spec, ctx.backend, store, sentences=sentences)
        return compare(ctx.backend, sentences, bound, settings, ctx.should_stop, original)

    return job


def ablation_job(
    plan: AblationPlan,
    sources: Sequence[str],
    references: Sequence[str] | None,
    settings: DecodeSettings | None = None,
    keep_outputs: bool = True,
) -> Job:
    """Run an ablation curve with progress → :class:`AblationCurve`."""
    from neurotui.intervene.ablation import run_ablation

    def job(ctx: RunnerContext) -> AblationCurve:
        return run_ablation(
            ctx.backend,
            plan,
            sources,
            references,
            settings=settings,
            should_stop=ctx.should_stop,
            progress=ctx.progress,
            keep_outputs=keep_outputs,
        )

    return job


def control_job(request: ControlRequest, settings: DecodeSettings | None = None) -> Job:
    """Run a control experiment with progress → :class:`ControlResult`."""
    from neurotui.intervene.control import run_control

    def job(ctx: RunnerContext) -> ControlResult:
        return run_control(
            ctx.backend,
            request,
            settings=settings,
            should_stop=ctx.should_stop,
            progress=ctx.progress,
        )

    return job


def call_job(fn: Any, *args: Any, **kwargs: Any) -> Job:
    """Any ``fn(backend, *args, **kwargs)`` as a job (for one-off work on the worker)."""

    def job(ctx: RunnerContext) -> Any:
        return fn(ctx.backend, *args, **kwargs)

    return job
