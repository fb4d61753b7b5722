"""Ablation mode: knock out the top / bottom / random N neurons of a ranking, plot the curve.

Why a screen of its own: the NeuroX demo's "Model Ablation" — if a ranking is right,
knocking out its top neurons hurts far more than its bottom ones (Bau et al. 2019). The
curve runs on the intervention runner's thread (progress, cancel with ``x``) while the UI
keeps serving keys; the plot is textual-plotext; ``←``/``→`` pick a point of the curve and
``↑``/``↓`` browse the per-sentence outputs at that point. ``k`` cycles the ablation kind —
``zero``, ``mean`` (the neuron's corpus mean from the store) or ``resample`` (its value on
a random token of another sentence) — passed to the same
:func:`~neurotui.intervene.ablation.plan_ablation` as ``neurotui ablate --ablation``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static
from textual_plotext import PlotextPlot

from neurotui.errors import NeurotuiError
from neurotui.tui.screens.runner_mode import RunnerModeScreen
from neurotui.tui.widgets.footer import Footer
from neurotui.tui.widgets.header import AppHeader

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.ablation import AblationCurve
    from neurotui.intervene.runner import Failed, Progress, RunnerContext
    from neurotui.store.ranking import Ranking
    from neurotui.tui.session import OpenStore

DIRECTION_SETS: tuple[tuple[str, ...], ...] = (
    ("top", "bottom"),
    ("top", "bottom", "random"),
    ("top",),
    ("bottom",),
    ("random",),
)
STEP_SETS: tuple[tuple[int, ...], ...] = ((10, 50, 100), (5, 10, 20, 50), (50, 100, 200, 400))
SENTENCE_COUNTS: tuple[int, ...] = (20, 50, 100, 200)
#: what replaces a knocked-out neuron (``neurotui ablate --ablation``)
KINDS: tuple[str, ...] = ("zero", "mean", "resample")
#: the plot's verb per kind
KIND_VERBS = {"zero": "zeroed", "mean": "mean-ablated", "resample": "resampled"}
#: the fallback ranking when the store has none: neurons by their standard deviation
VARIANCE = "variance (store σ)"


def variance_ranking(opened: OpenStore) -> Ranking:
    """Neurons by decreasing variance, from the store's statistics (the analysis layer's
    baseline; dead neurons last). Only stored statistics: this runs on the UI thread, so
    a store without them says so instead of streaming its activations here."""
    import warnings

    from neurotui.analysis import baselines
    from neurotui.analysis.checks import AnalysisWarning

    if opened.store.stats is None:
        raise NeurotuiError(f"store {opened.name} has no statistics and no ranking")
    with warnings.catch_warnings():  # dead neurons are ranked last; no console warning
        warnings.simplefilter("ignore", AnalysisWarning)
        return baselines.variance_ranking(opened.store)


class AblationScreen(RunnerModeScreen):
    """Choose ranking, directions and steps; run the curve; browse the outputs."""

    MODE = "ablation"
    NOTIFY_TITLE = "Ablation"
    GROUP = "ablation"

    BINDINGS = [
        Binding("r", "next_ranking", "Ranking", id="ablation.ranking"),
        Binding("d", "next_directions", "Directions", id="ablation.directions"),
        Binding("n", "next_steps", "Steps", id="ablation.steps"),
        Binding("c", "next_count", "Sentences", id="ablation.count"),
        Binding("b", "next_metric", "BLEU/chrF", id="ablation.metric"),
        Binding("k", "next_kind", "Kind", id="ablation.kind"),
        Binding("enter", "run", "Run", id="ablation.run"),
        Binding("x", "cancel", "Cancel", id="ablation.cancel"),
        Binding("left", "point(-1)", "Point ←", show=False, id="ablation.point_prev"),
        Binding("right", "point(1)", "Point →", show=False, id="ablation.point_next"),
        Binding("up", "output(-1)", "Sentence ↑", show=False, id="ablation.out_prev"),
        Binding("down", "output(1)", "Sentence ↓", show=False, id="ablation.out_next"),
        Binding("question_mark", "app.help", "Help", show=False, id="ablation.help"),
    ]

    DEFAULT_CSS = """
    AblationScreen #abl-controls { height: auto; padding: 1 1 0 1; }
    AblationScreen #abl-progress { height: 1; padding: 0 1; }
    AblationScreen #abl-body { height: 1fr; }
    AblationScreen #abl-plot { width: 1fr; min-height: 12; }
    AblationScreen #abl-outputs { width: 1fr; padding: 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.ranking_index = 0
        self.directions = DIRECTION_SETS[0]
        self.steps = STEP_SETS[0]
        self.count = SENTENCE_COUNTS[0]
        self.curve: AblationCurve | None = None
        self.sources: list[str] = []
        self.references: list[str] = []
        self.point = 0
        self.output = 0
        self.progress_label = ""
        self.metric = "bleu"  # what the plot shows for translation curves: bleu or chrf
        self.kind = KINDS[0]  # what replaces a knocked-out neuron
        self.plot_title = ""  # the plot's title (says the kind of the curve shown)
        self.plotted: dict[str, list[float]] = {}  # direction → y values on the plot

    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        yield Static(id="abl-controls")
        yield ProgressBar(id="abl-progress", show_eta=False)
        with Horizontal(id="abl-body"):
            yield PlotextPlot(id="abl-plot")
            yield Static(id="abl-outputs")
        yield Footer()

    def pane_help(self) -> str:
        """The help screen's text for this mode."""
        return (
            "## Ablation mode\n\n"
            "Knock out the top / bottom / random N neurons of a ranking and score the translations "
            "of the model's held-out set (BLEU and chrF; perplexity for language models). If "
            "the ranking is right, losing its top neurons hurts far more than its bottom ones.\n\n"
            "- **r** ranking · **d** directions · **n** steps · **c** sentences · "
            "**b** plot BLEU or chrF\n"
            "- **k** ablation kind: `zero`, `mean` (the neuron's corpus mean — removes its "
            "information without shifting the next layer's input) or `resample` (its value "
            "on a random token of another sentence), as `neurotui ablate --ablation`\n"
            "- **enter** run · **x** cancel · **← →** point of the curve · **↑ ↓** sentence\n"
        )

    # -- choices -------------------------------------------------------------------------
    def ranking_names(self) -> list[str]:
        """Rankings known for the active store (the analysis mode's first), then σ order."""
        opened = self.opened
        names: list[str] = []
        if opened is not None:
            if opened.view.ranking:
                names.append(opened.view.ranking)
            names += [n for n in (opened.rankings or {}) if n not in names]
        return [*names, VARIANCE]

    def ranking(self) -> tuple[Ranking, str]:
        opened = self.opened
        assert opened is not None
        names = self.ranking_names()
        name = names[self.ranking_index % len(names)]
        if name != VARIANCE and opened.rankings and name in opened.rankings:
            return opened.rankings[name], name
        return variance_ranking(opened), VARIANCE

    def action_next_ranking(self) -> None:
        self.ranking_index = (self.ranking_index + 1) % len(self.ranking_names())
        self.render_panels()

    def action_next_directions(self) -> None:
        k = DIRECTION_SETS.index(self.directions)
        self.directions = DIRECTION_SETS[(k + 1) % len(DIRECTION_SETS)]
        self.render_panels()

    def action_next_steps(self) -> None:
        self.steps = STEP_SETS[(STEP_SETS.index(self.steps) + 1) % len(STEP_SETS)]
        self.render_panels()

    def action_next_count(self) -> None:
        k = SENTENCE_COUNTS.index(self.count)
        self.count = SENTENCE_COUNTS[(k + 1) % len(SENTENCE_COUNTS)]
        self.render_panels()

    def action_next_kind(self) -> None:
        """zero → mean → resample → zero (the next run uses it)."""
        self.kind = KINDS[(KINDS.index(self.kind) + 1) % len(KINDS)]
        self.render_panels()

    def action_next_metric(self) -> None:
        """Plot chrF instead of BLEU, or back (language models always plot perplexity)."""
        self.metric = "chrf" if self.metric == "bleu" else "bleu"
        self.render_panels()

    def action_point(self, delta: int) -> None:
        if self.curve is not None and self.curve.points:
            self.point = (self.point + delta) % len(self.curve.points)
            self.render_panels()

    def action_output(self, delta: int) -> None:
        if self.sources:
            self.output = (self.output + delta) % len(self.sources)
            self.render_panels()

    # -- running -------------------------------------------------------------------------
    def action_run(self) -> None:
        """Plan the curve and run it on the runner (a new run supersedes the old one)."""
        from neurotui.intervene.ablation import plan_ablation

        opened = self.opened
        if opened is None:
            return
        try:
            ranking, name = self.ranking()
            steps = [n for n in self.steps if n <= len(ranking.order)]
            # checked here (cheap); mean/resample read their reference values on the runner
            plan = plan_ablation(
                ranking,
                steps,
                store=opened.store,
                directions=self.directions,
                ranking_name=name,
            )
        except NeurotuiError as exc:
            self.notify_error(str(exc))
            return
        count, kind, store, directions = self.count, self.kind, opened.store, self.directions

        def job(ctx: RunnerContext) -> tuple[AblationCurve, list[str], list[str]]:
            from neurotui.intervene.ablation import run_ablation
            from neurotui.intervene.workflows import heldout

            nonlocal plan
            if kind != "zero":
                ctx.progress(f"{kind}-ablation: reference values from the store", 0, 0)
                plan = plan_ablation(
                    ranking,
                    steps,
                    store=store,
                    directions=directions,
                    ranking_name=name,
                    kind=kind,
                )

            sources, references, _ = heldout(ctx.backend)
            sources = sources[:count]
            refs = list(references or [])[:count] if references is not None else None
            curve = run_ablation(
                ctx.backend,
                plan,
                sources,
                refs,
                should_stop=ctx.should_stop,
                progress=ctx.progress,
                keep_outputs=True,
            )
            return curve, sources, refs or []

        self.progress_label = "starting"
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.submit(opened, job)

    def runner_progress(self, event: Progress) -> None:
        self.progress_label = event.message
        self.query_one(ProgressBar).update(total=event.total, progress=event.done)

    def runner_result(self, value: object) -> None:
        self.curve, self.sources, self.references = cast("tuple[Any, list[str], list[str]]", value)
        self.point, self.output = 0, 0
        assert self.curve is not None
        self.progress_label = f"done: {len(self.curve.points)} points"

    def runner_failed(self, event: Failed) -> None:
        self.progress_label = "failed"

    def runner_cancelled(self) -> None:
        self.progress_label = "cancelled"

    # -- drawing -------------------------------------------------------------------------
    def render_panels(self) -> None:
        if not self.is_mounted:
            return
        self.show_header()
        controls = Text()
        names = self.ranking_names()
        controls.append("ranking: ", style="bold")
        controls.append(names[self.ranking_index % len(names)])
        controls.append("   directions: ", style="bold")
        controls.append("/".join(self.directions))
        controls.append("   steps: ", style="bold")
        controls.append(",".join(str(n) for n in self.steps))
        controls.append("   sentences: ", style="bold")
        controls.append(str(self.count))
        controls.append("   ablation: ", style="bold")
        controls.append(self.kind)
        controls.append(f"   {self.progress_label}", style="italic")
        controls.append(
            "\nkeys: r ranking, d directions, n steps, c sentences, k zero/mean/resample, "
            "b BLEU/chrF, enter run, x cancel, ← → point, ↑ ↓ sentence",
            style="dim",
        )
        self.query_one("#abl-controls", Static).update(controls)
        self._plot()
        self._outputs()

    def _plot(self) -> None:
        widget = self.query_one(PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        curve = self.curve
        if curve is None:
            plt.title("press enter to run the ablation curve")
            widget.refresh()
            return
        field = "perplexity" if curve.metric == "perplexity" else self.metric
        self.plotted = {}
        title = {"perplexity": "perplexity", "bleu": "BLEU", "chrf": "chrF"}[field]
        verb = KIND_VERBS.get(curve.kind, curve.kind)
        self.plot_title = f"{title} vs neurons {verb} ({curve.sentences} sentences)"
        plt.title(self.plot_title)
        base = getattr(curve.baseline, field)
        for direction in dict.fromkeys(p.direction for p in curve.points):
            pts = [p for p in curve.points if p.direction == direction]
            xs = [0, *(p.n for p in pts)]
            ys = [base or 0.0, *((getattr(p, field) or 0.0) for p in pts)]
            self.plotted[direction] = ys
            plt.plot(xs, ys, label=direction, marker="braille")
        plt.xlabel("N")
        widget.refresh()

    def _outputs(self) -> None:
        text = Text()
        curve = self.curve
        if curve is None or not curve.points:
            self.query_one("#abl-outputs", Static).update(text)
            return
        point = curve.points[self.point % len(curve.points)]
        text.append(f"{point.direction} {point.n}: ", style="bold")
        text.append(f"BLEU {point.bleu or 0:.1f}  chrF {point.chrf or 0:.1f}")
        text.append(f"   (baseline BLEU {curve.baseline.bleu or 0:.1f})\n", style="dim")
        k = self.output % max(1, len(self.sources))
        with contextlib.suppress(IndexError):
            text.append(f"\nsentence {k + 1}/{len(self.sources)}\n", style="bold")
            text.append("src  ", style="dim")
            text.append(self.sources[k] + "\n")
            if self.references:
                text.append("ref  ", style="dim")
                text.append(self.references[k] + "\n")
            if curve.baseline.outputs:
                text.append("base ", style="dim")
                text.append(curve.baseline.outputs[k] + "\n")
            if point.outputs:
                text.append("abl  ", style="dim")
                changed = (
                    not curve.baseline.outputs or point.outputs[k] != curve.baseline.outputs[k]
                )
                text.append(point.outputs[k], style="bold" if changed else "")
        self.query_one("#abl-outputs", Static).update(text)
