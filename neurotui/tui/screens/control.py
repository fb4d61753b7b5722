"""Control mode: clamp a task's neurons toward a target class, count flipped translations.

Why a screen of its own: the proof that "tense neurons" are tense neurons is that setting
them turns a past-tense sentence present (Bau et al. 2019: tense 67 %, number 37 %,
gender 21 %). This is ``neurotui control`` in the app: pick the task and target class,
one setting (neurons, strength, scope) or the CLI's grid search (chosen on the dev split,
reported on the test split), run it on the intervention runner with progress and cancel
(``x``), then read the flip rate, the BLEU of the output against the expected flipped
translation, the unclamped baseline, and browse the sentences that flipped and those that
did not, with the changed tokens marked.

``u`` cycles the method: clamp to class means (``mean``), to σ units (``sigma``), or add a
*steering vector* (``steer``: α × the difference of class means over every encoder neuron,
as ``neurotui control --mode steer``); ``+``/``-`` change the strength. ``m`` compares, on
the same test cases, no intervention, the clamp and the steering vector (``control
--compare``).

The neurons come from a ranking for the task: one already in the session (e.g. computed in
the analysis mode), else what the CLI uses (:func:`neurotui.intervene.workflows.
task_ranking`: a saved ranking, else a fresh probe), computed on the runner's thread.
The experiment is built by the same function as the CLI's
(:func:`neurotui.intervene.workflows.control_request`), and every completed run is appended
to the CLI's replayable intervention log, so ``neurotui replay LOG`` re-runs it.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import ProgressBar, Static

from neurotui.intervene import control as _control
from neurotui.intervene.control import CONTROL_PROPS, DEFAULT_NS, SEED_FLIP_RATES
from neurotui.tui.screens.runner_mode import RunnerModeScreen, marked
from neurotui.tui.widgets.footer import Footer
from neurotui.tui.widgets.header import AppHeader

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.control import ControlResult
    from neurotui.intervene.realtext import RealText
    from neurotui.intervene.runner import Failed, Progress, RunnerContext
    from neurotui.store.ranking import Ranking
    from neurotui.tui.session import OpenStore

SCOPES = ("property", "all")
CLAMP_MODES = ("mean", "sigma")
#: what ``u`` cycles through: the two clamps and the steering vector
METHODS = (*CLAMP_MODES, "steer")
#: the step of ``+``/``-`` per method (α for mean and steer, k σ for sigma)
STRENGTH_STEPS = {"mean": 1.0, "sigma": 0.5, "steer": 1.0}
#: dev and test sentences (each) per run; the synthetic splits hold 500 of each
SENTENCE_COUNTS: tuple[int, ...] = (50, 100, 200, 500)
#: a single setting that flips tense well on the sample model (dev search, 60 sentences)
DEFAULT_N = 100
DEFAULT_STRENGTH = 8.0


def strengths_for(mode: str) -> tuple[float, ...]:
    """The strengths the keys cycle through: the CLI's search values for the clamp mode."""
    return _control.DEFAULT_STRENGTHS[mode]


@functools.cache
def synthetic_splits() -> dict:
    """The synthetic dev/test splits (deterministic; built once per process, ~1 s)."""
    from neurotui.intervene.workflows import synthetic_splits as build

    return build()


def realtext_for(opened: OpenStore, override: str | Path | None = None) -> RealText | None:
    """The tagged dev/test sets of the store's model when it is a real-text model
    (``bible-en-fr``), else ``None`` (a model of the synthetic grammar)."""

    from neurotui.tui.screens.runner_mode import model_name_of

    name = model_name_of(opened, override)
    if name is None or "pos" not in opened.store.label_tasks:
        return None
    try:
        from neurotui.intervene.realtext import realtext_at
        from neurotui.models.registry import resolve

        path = resolve(name)
    except Exception:  # not a bundled model / no real-text support: the synthetic route
        return None
    with contextlib.suppress(Exception):
        return realtext_at(path)
    return None


def session_ranking(opened: OpenStore, task: str) -> tuple[Ranking, str] | None:
    """A ranking for ``task`` that the session already holds (saved or computed in the
    analysis mode); ``None`` when the runner must find or compute one."""
    for name, ranking in (opened.rankings or {}).items():
        if ranking.task == task:
            return ranking, name
    return None


@dataclass
class ControlOutcome:
    """What one control run produced, with the choices it was made with."""

    result: ControlResult
    ranking: Ranking
    ranking_name: str
    clamp_means: str  # where the class means came from (property positions or labels)
    search: bool
    store: str
    log: str | None = None  # the intervention log the run was appended to
    log_error: str | None = None  # why it could not be appended
    #: with ``m``: none / clamp / steer on the same cases (``control --compare``'s rows)
    comparison: list[dict] | None = None


class ControlScreen(RunnerModeScreen):
    """Choose task, target and setting (or search); run; read the flip rate; browse."""

    MODE = "control"
    NOTIFY_TITLE = "Control"
    GROUP = "control"

    BINDINGS = [
        Binding("t", "next_task", "Task", id="control.task"),
        Binding("c", "next_target", "Target", id="control.target"),
        Binding("n", "next_n", "Neurons", id="control.neurons"),
        Binding("s", "next_strength", "Strength", id="control.strength"),
        Binding("p", "next_scope", "Scope", id="control.scope"),
        Binding("u", "next_clamp_mode", "Mean/σ/steer", id="control.clamp_mode"),
        Binding("plus,equals_sign", "strength_step(1)", "+", show=False, id="control.more"),
        Binding("minus", "strength_step(-1)", "-", show=False, id="control.less"),
        Binding("m", "toggle_compare", "Compare", id="control.compare"),
        Binding("a", "toggle_search", "Search", id="control.search"),
        Binding("l", "next_count", "Sentences", id="control.count"),
        Binding("enter", "run", "Run", id="control.run"),
        Binding("x", "cancel", "Cancel", id="control.cancel"),
        Binding("f", "toggle_flipped", "Flipped/not", id="control.flipped"),
        Binding("up", "example(-1)", "Example ↑", show=False, id="control.example_prev"),
        Binding("down", "example(1)", "Example ↓", show=False, id="control.example_next"),
        Binding("question_mark", "app.help", "Help", show=False, id="control.help"),
    ]

    DEFAULT_CSS = """
    ControlScreen #ctl-controls { height: auto; padding: 1 1 0 1; }
    ControlScreen #ctl-progress { height: 1; padding: 0 1; }
    ControlScreen #ctl-summary { height: auto; padding: 1 1 0 1; }
    ControlScreen #ctl-examples { height: 1fr; padding: 1 1 0 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.task_index = 0
        self.target_index = 1  # tense → present first (PROP_VALUES order: past, present, …)
        self.n = DEFAULT_N
        self.clamp_mode = "mean"
        #: the strength of each method (the shown one is the current method's)
        self.strengths = {"mean": DEFAULT_STRENGTH, "sigma": 4.0, "steer": DEFAULT_STRENGTH}
        self.compare = False
        self.scope = "property"
        self.search = False
        self.count = SENTENCE_COUNTS[0]
        self.outcome: ControlOutcome | None = None
        self.show_flipped = True
        self.example = 0
        self.progress_label = ""
        #: (store name, task) → ranking found or computed by an earlier run
        self._rankings: dict[tuple[str, str], tuple[Ranking, str]] = {}
        self._realtext: dict[str, RealText | None] = {}

    @property
    def strength(self) -> float:
        """The strength of the current method (α, or k σ)."""
        return self.strengths[self.clamp_mode]

    @strength.setter
    def strength(self, value: float) -> None:
        self.strengths[self.clamp_mode] = value

    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        yield Static(id="ctl-controls")
        yield ProgressBar(id="ctl-progress", show_eta=False)
        yield Static(id="ctl-summary")
        yield Static(id="ctl-examples")
        yield Footer()

    def pane_help(self) -> str:
        """The help screen's text for this mode."""
        seeds = " · ".join(f"{k} {100 * v:.0f} %" for k, v in SEED_FLIP_RATES.items())
        return (
            "## Control mode\n\n"
            "Clamp the neurons a ranking puts first for the **target class** (e.g. tense → "
            "present) at the words that express the property, re-translate sentences whose "
            "property differs, and count how many outputs now read as the target.\n\n"
            "- **t / c** task / target class · **n / s / p** neurons, strength, scope "
            "(`property`: the words expressing it; `all`: every word) · **+ / -** strength\n"
            "- **u** method: clamp to class means (`mean`), to σ units (`sigma`), or a "
            "**steering vector** (`steer`: α × (class mean of the target − of the others) "
            "added to every encoder neuron, as `neurotui control --mode steer`)\n"
            "- **m** compare no intervention, the clamp and the steering vector on the same "
            "cases (`neurotui control --compare`)\n"
            "- **a** grid search (chosen on the dev split, reported on the test split) · "
            "**l** sentences · **enter** run · **x** cancel\n"
            "- **f** flipped / not flipped examples · **↑ ↓** browse them\n\n"
            "BLEU is against the expected flipped translation (the untouched rest of the "
            f"sentence). Seeds (Bau et al. 2019): {seeds}.\n\n"
            "Every completed run is appended to the intervention log "
            "(`$NEUROTUI_INTERVENTION_LOG`, else the cache folder's `interventions.jsonl`); "
            "`neurotui replay LOG` re-runs it.\n"
        )

    # -- choices -------------------------------------------------------------------------
    def tasks(self) -> list[str]:
        """The control tasks the active store has labels for."""
        opened = self.opened
        if opened is None:
            return []
        if self.realtext(opened) is not None:
            from neurotui.intervene.realtext import REALTEXT_PROPS

            return list(REALTEXT_PROPS)
        with contextlib.suppress(Exception):
            have = set(opened.store.label_tasks)
            return [t for t in CONTROL_PROPS if t in have]
        return []

    def realtext(self, opened: OpenStore) -> RealText | None:
        """The real-text sets of ``opened``'s model (looked up once per store)."""
        if opened.name not in self._realtext:
            self._realtext[opened.name] = realtext_for(
                opened, getattr(self.app, "model_path", None)
            )
        return self._realtext[opened.name]

    def chosen_task(self) -> str | None:
        tasks = self.tasks()
        return tasks[self.task_index % len(tasks)] if tasks else None

    def targets(self) -> list[str]:
        from neurotui.data.synthetic import PROP_VALUES

        task = self.chosen_task()
        return list(PROP_VALUES[task]) if task else []

    def target(self) -> str | None:
        targets = self.targets()
        return targets[self.target_index % len(targets)] if targets else None

    def action_next_task(self) -> None:
        tasks = self.tasks()
        if tasks:
            self.task_index = (self.task_index + 1) % len(tasks)
            self.target_index = 0
        self.render_panels()

    def action_next_target(self) -> None:
        targets = self.targets()
        if targets:
            self.target_index = (self.target_index + 1) % len(targets)
        self.render_panels()

    def action_next_n(self) -> None:
        ns = list(DEFAULT_NS)
        self.n = ns[(ns.index(self.n) + 1) % len(ns)] if self.n in ns else ns[0]
        self.render_panels()

    def action_next_strength(self) -> None:
        values = list(strengths_for(self.clamp_mode))
        k = values.index(self.strength) if self.strength in values else -1
        self.strength = values[(k + 1) % len(values)]
        self.render_panels()

    def action_next_scope(self) -> None:
        self.scope = SCOPES[(SCOPES.index(self.scope) + 1) % len(SCOPES)]
        self.render_panels()

    def action_next_clamp_mode(self) -> None:
        """mean → sigma → steer (the steering vector) → mean."""
        self.clamp_mode = METHODS[(METHODS.index(self.clamp_mode) + 1) % len(METHODS)]
        self.render_panels()

    def action_strength_step(self, direction: int) -> None:
        """``+``/``-``: the current method's strength by one step (never below one step)."""
        step = STRENGTH_STEPS[self.clamp_mode]
        self.strength = max(step, round(self.strength + direction * step, 6))
        self.render_panels()

    def action_toggle_compare(self) -> None:
        """Compare no intervention, the clamp and the steering vector on the same cases."""
        self.compare = not self.compare
        self.render_panels()

    def action_toggle_search(self) -> None:
        self.search = not self.search
        self.render_panels()

    def action_next_count(self) -> None:
        k = SENTENCE_COUNTS.index(self.count) if self.count in SENTENCE_COUNTS else -1
        self.count = SENTENCE_COUNTS[(k + 1) % len(SENTENCE_COUNTS)]
        self.render_panels()

    def action_toggle_flipped(self) -> None:
        self.show_flipped = not self.show_flipped
        self.example = 0
        self.render_panels()

    def action_example(self, delta: int) -> None:
        examples = self.examples()
        if examples:
            self.example = (self.example + delta) % len(examples)
            self.render_panels()

    def examples(self) -> list[dict]:
        """The shown run's test sentences that flipped (or did not, after ``f``)."""
        if self.outcome is None:
            return []
        return [e for e in self.outcome.result.examples if e["flipped"] == self.show_flipped]

    # -- running -------------------------------------------------------------------------
    def action_run(self) -> None:
        """Build the experiment on the runner's thread and run it (supersedes older runs)."""
        opened = self.opened
        if opened is None:
            return
        task, target = self.chosen_task(), self.target()
        if task is None or target is None:
            self.notify_error(
                f"store {opened.name} has no {'/'.join(CONTROL_PROPS)} labels to control"
            )
            return
        known = self._rankings.get((opened.name, task)) or session_ranking(opened, task)
        store, name = opened.store, opened.name
        real = self.realtext(opened)
        search, count, compare = self.search, self.count, self.compare
        # --compare: the clamp (mean or sigma) first, then the steering vector
        clamp = self.clamp_mode if self.clamp_mode in CLAMP_MODES else "mean"
        methods = [clamp, "steer"] if compare else [self.clamp_mode]
        ns = list(DEFAULT_NS) if search else [self.n]
        strengths_of = {
            m: list(strengths_for(m)) if search else [self.strengths[m]] for m in methods
        }
        scopes = list(SCOPES) if search else [self.scope]

        def job(ctx: RunnerContext) -> ControlOutcome:
            from neurotui.intervene.apply import DecodeSettings
            from neurotui.intervene.control import compare_methods
            from neurotui.intervene.workflows import control_run, require_translation_model

            backend = ctx.backend
            require_translation_model(backend)
            runs = []
            found = known
            for mode in methods:
                run = control_run(
                    backend,
                    store,
                    task,
                    target,
                    settings=DecodeSettings(beam=1, batch_size=128),
                    examples=None,  # every test sentence, to browse
                    keep_log_errors=True,  # the run stands; the screen says it was not logged
                    app="control mode",
                    progress=ctx.progress,
                    should_stop=ctx.should_stop,
                    real=real,
                    ns=ns,
                    strengths=strengths_of[mode],
                    mode=mode,
                    scopes=scopes,
                    limit=count,
                    ranking=None if mode == "steer" else found,
                    splits=synthetic_splits() if real is None else None,
                )
                if mode != "steer":
                    found = (run.plan.ranking, run.plan.ranking_name)
                runs.append(run)
            run = runs[-1]  # the steering vector's examples, when comparing
            plan = run.plan
            ranking = (plan.ranking, plan.ranking_name)
            return ControlOutcome(
                run.result,
                ranking[0],
                ranking[1],
                plan.clamp_means,
                search,
                name,
                str(run.log_path) if run.log_path else None,
                run.log_error,
                compare_methods([r.to_dict() for r in runs]) if compare else None,
            )

        self.progress_label = "starting"
        self.query_one(ProgressBar).update(total=None, progress=0)
        self.submit(opened, job)

    def runner_progress(self, event: Progress) -> None:
        self.progress_label = event.message
        bar = self.query_one(ProgressBar)
        if event.total > 0:
            bar.update(total=event.total, progress=event.done)
        else:
            bar.update(total=None)

    def runner_result(self, value: object) -> None:
        assert isinstance(value, ControlOutcome)
        self.outcome = value
        result = value.result
        if value.ranking.method != "steering":  # a steering run ranks nothing
            self._rankings[(value.store, result.prop)] = (value.ranking, value.ranking_name)
        self.show_flipped = result.test.flipped > 0
        self.example = 0
        self.progress_label = "done"
        if value.log_error:
            self.app.notify(
                f"not logged: {value.log_error}", severity="warning", title=self.NOTIFY_TITLE
            )
        bar = self.query_one(ProgressBar)
        bar.update(total=1, progress=1)

    def runner_failed(self, event: Failed) -> None:
        self.progress_label = "failed"

    def runner_cancelled(self) -> None:
        self.progress_label = "cancelled"

    # -- drawing -------------------------------------------------------------------------
    def render_panels(self) -> None:
        if not self.is_mounted:
            return
        self.show_header()
        self.query_one("#ctl-controls", Static).update(self._controls())
        self.query_one("#ctl-summary", Static).update(self._summary())
        self.query_one("#ctl-examples", Static).update(self._example())

    def _controls(self) -> Text:
        text = Text()
        task, target = self.chosen_task(), self.target()
        if task is None:
            text.append("this store has no tense / number / gender labels to control", "bold")
            return text
        text.append("task: ", style="bold")
        text.append(f"{task} → {target}")
        steer = self.clamp_mode == "steer"
        text.append("   method: ", style="bold")
        if self.compare:
            clamp = self.clamp_mode if not steer else "mean"
            text.append(f"compare none / {clamp} clamp / steering vector")
        else:
            text.append("steering vector (every encoder neuron)" if steer else "clamp")
        if self.search:
            text.append("   search: ", style="bold")
            shown = (
                [self.clamp_mode]
                if not self.compare
                else ["mean" if steer else self.clamp_mode, "steer"]
            )
            grids = [f"{m} {','.join(f'{s:g}' for s in strengths_for(m))}" for m in shown]
            text.append(
                f"n {','.join(map(str, DEFAULT_NS))} × {' | '.join(grids)} × "
                f"{'/'.join(SCOPES)} (dev-chosen, test-reported)"
            )
        else:
            if not steer or self.compare:
                text.append("   neurons: ", style="bold")
                text.append(str(self.n))
            text.append("   strength: ", style="bold")
            if self.compare:
                clamp = self.clamp_mode if not steer else "mean"
                text.append(
                    f"{clamp} {self.strengths[clamp]:g}, steer α {self.strengths['steer']:g}"
                )
            elif steer:
                text.append(f"steer α {self.strength:g}")
            else:
                text.append(f"{self.clamp_mode} {self.strength:g}")
            text.append("   scope: ", style="bold")
            text.append(self.scope)
        text.append("   sentences: ", style="bold")
        text.append(str(self.count))
        if self.progress_label:
            text.append(f"   {self.progress_label}", style="italic")
        text.append(
            "\nkeys: t task, c target, n neurons, s/+/- strength, p scope, u mean/σ/steer, "
            "m compare, a search, l sentences, enter run, x cancel, f flipped/not, ↑ ↓ example",
            style="dim",
        )
        return text

    def _summary(self) -> Text:
        text = Text()
        if self.outcome is None:
            text.append("press enter to run the control experiment", style="dim")
            return text
        o = self.outcome
        r = o.result
        test, base = r.test, r.test_baseline
        text.append(f"{r.prop} → {r.target}", style="bold")
        text.append(
            f"  ({r.best.setting.describe()}, ranking {o.ranking_name}, clamp values from "
            f"{o.clamp_means}, {test.total} test sentences)\n",
            style="dim",
        )
        text.append("flip rate ", style="bold")
        text.append(f"{100 * test.flip_rate:.1f}%", style="bold reverse")
        text.append(f" ({test.flipped}/{test.total})")
        text.append("   seeds (Bau et al. 2019): ", style="dim")
        for k, (prop, rate) in enumerate(SEED_FLIP_RATES.items()):
            if k:
                text.append(" / ", style="dim")
            text.append(f"{100 * rate:.0f}%", style="bold" if prop == r.prop else "dim")
        text.append("  (tense/number/gender)\n", style="dim")
        reference = getattr(r, "bleu_against", "expected") == "reference"
        text.append("BLEU vs reference " if reference else "untouched-content BLEU ", "bold")
        text.append(f"{test.bleu_untouched:.2f}")
        exact = "equal to the reference" if reference else "exactly the expected translation"
        text.append(f"   {exact} ", "bold")
        text.append(f"{100 * test.exact_rate:.1f}%\n")
        text.append("no clamp: ", style="bold")
        text.append(
            f"flip rate {100 * base.flip_rate:.1f}%, BLEU {base.bleu_untouched:.2f}, "
            f"exact {100 * base.exact_rate:.1f}%"
        )
        for row in o.comparison or []:
            text.append("\ncompare (same test cases): ", style="bold")
            for key in ("none", "clamp", "steer"):
                cell = row.get(key)
                if cell is None:
                    continue
                text.append(f"{key} ", style="bold")
                text.append(f"{100 * cell['flip_rate']:.1f}% BLEU {cell['bleu_untouched']:.2f}")
                if key != "none":
                    text.append(f" ({cell['mode']} {cell['strength']:g} @{cell['scope']})", "dim")
                text.append("   ")
            text.append("(examples: the steering vector's)", style="dim")
        if o.search:
            dev = r.best
            text.append(
                f"\nsearch: {len(r.curve)} settings on {r.search_baseline.total} dev sentences; "
                f"best {dev.setting.describe()}: dev flip {100 * dev.flip_rate:.1f}%, BLEU "
                f"{dev.bleu_untouched:.2f} (needs ≥ {r.min_bleu:.2f}, the unclamped dev BLEU)",
                style="dim",
            )
        return text

    def _example(self) -> Text:
        from neurotui.intervene.compare import diff_tokens

        text = Text()
        if self.outcome is None:
            return text
        examples = self.examples()
        flipped = self.outcome.result.test.flipped
        kept = self.outcome.result.test.total - flipped
        which = "flipped" if self.show_flipped else "not flipped"
        text.append(f"{which} ", style="bold")
        text.append(f"(flipped {flipped} · not flipped {kept}; f switches)", style="dim")
        if not examples:
            text.append(f"\nno sentence {which}")
            return text
        k = self.example % len(examples)
        ex = examples[k]
        original, modified = ex["original"].split(), ex["modified"].split()
        removed, added = diff_tokens(original, modified)
        text.append(f"   {k + 1}/{len(examples)}\n", style="bold")
        text.append("source    ", style="dim")
        text.append(ex["source"] + "\n")
        text.append("original  ", style="dim")
        text.append_text(marked(original, removed, "strike red"))
        text.append("\nmodified  ", style="dim")
        text.append_text(marked(modified, added, "bold green"))
        reference = getattr(self.outcome.result, "bleu_against", "") == "reference"
        text.append("\nreference " if reference else "\nexpected  ", style="dim")
        text.append(ex["expected"])
        return text
