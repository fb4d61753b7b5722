"""Manipulation mode: clamp the selected neurons and watch one sentence re-translate.

Why a screen of its own: the NeuroX demo's "Neuron Manipulation" loop — change a value,
see the translation change at once — needs the model on a background thread (the
intervention runner owns it), debounced requests with stale results dropped, and the
original and modified outputs side by side. The neurons come from the shared selection
(``app.session``: cursor neuron first, then pinned ones) or from a loaded saved
intervention; the sentence is the shared text cursor (``app.session``'s per-store
``view.sentence``/``view.token``, moved by the analysis view and by ``[``/``]`` here).
With ``v`` the next few sentences re-translate in the same request. ``s`` names and saves
the intervention to the JSONL run log; ``l`` lists the log's interventions and loads one.
``g`` switches from the selected neurons to a *steering vector*: α × the difference of the
store's class means of a label pair (``t`` task, ``c`` target class) over every neuron of
the encoder sites, added at the chosen positions — the intervention ``neurotui control
--mode steer`` adds (:func:`neurotui.intervene.workflows.steering_profile`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Static

from neurotui.errors import NeurotuiError
from neurotui.intervene import bind as _bind_module
from neurotui.intervene.spec import Intervention, Positions, SpecError
from neurotui.store.provenance import source_text
from neurotui.tui.screens.runner_mode import (
    RunnerEvent,
    RunnerModeScreen,
    device_label,
    marked,
    model_name_of,
)
from neurotui.tui.widgets.footer import Footer
from neurotui.tui.widgets.header import AppHeader

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.compare import Comparison
    from neurotui.intervene.runner import RunnerContext
    from neurotui.tui.screens.intervention_picker import SavedIntervention
    from neurotui.tui.session import OpenStore

#: seconds between the last key press and the re-translation request, while a request is
#: in flight or one just went out (an isolated key press is sent at once)
DEBOUNCE = 0.05
OPS = ("set", "add", "scale", "zero")
POSITION_KINDS = ("all", "token", "word")
#: with a steering vector: also the words that express the property (synthetic stores)
STEER_POSITION_KINDS = ("property", "all", "token", "word")
#: step of the +/- keys per unit
STEPS = {"sigma": 0.5, "raw": 0.25, "scale": 0.25, "steer": 1.0}
#: the steering strength α the mode starts with (added at every position by default)
STEER_ALPHA = 4.0
#: sentences re-translated with ``v`` on: the current one and the next ``VISIBLE - 1``
VISIBLE = 5


@dataclass
class Outcome:
    """What one manipulation request produced (shown when it is still current)."""

    sentence: int
    comparison: Comparison
    description: str
    bleu: float | None
    device: str
    #: (op, value, unit, positions) as chosen on screen when the request was made;
    #: ("steer", α, "task→target", positions) for a steering vector
    request: tuple[str, float, str, str] = ("", 0.0, "", "")
    #: the following sentences (index, comparison) when visible sentences are on
    others: list[tuple[int, Comparison]] = field(default_factory=list)
    #: the name it was saved under, when this request saved it
    saved_as: str | None = None


def reference_lines(opened: OpenStore) -> list[str] | None:
    """The French references aligned with the store's sentences, when they exist.

    Stores extracted from ``…/analysis.en`` (or dev/test) have a parallel ``.fr`` file next
    to the source; it is used only when its line count matches the store.
    """
    with contextlib.suppress(Exception):
        path = source_text(dict(opened.store.metadata))
        if path is not None and path.suffix == ".en":
            ref = path.with_suffix(".fr")
            if ref.is_file():
                lines = ref.read_text(encoding="utf-8").splitlines()
                if len(lines) == len(opened.store.sentence_lengths()):
                    return lines
    return None


class ManipulateScreen(RunnerModeScreen):
    """Clamp/scale/zero the selected neurons on the cursor sentence, see the translation."""

    MODE = "manipulate"
    NOTIFY_TITLE = "Manipulation"
    GROUP = "manipulate"

    BINDINGS = [
        Binding("plus,equals_sign", "step(1)", "+", id="manipulate.more"),
        Binding("minus", "step(-1)", "-", id="manipulate.less"),
        Binding("o", "next_op", "Op", id="manipulate.op"),
        Binding("p", "next_positions", "Positions", id="manipulate.positions"),
        Binding("u", "toggle_unit", "σ/raw", id="manipulate.unit"),
        Binding("0", "reset_value", "Reset", show=False, id="manipulate.reset"),
        Binding("left_square_bracket", "sentence(-1)", "Prev sent", id="manipulate.prev"),
        Binding("right_square_bracket", "sentence(1)", "Next sent", id="manipulate.next"),
        Binding("left", "token(-1)", "Token ←", show=False, id="manipulate.token_prev"),
        Binding("right", "token(1)", "Token →", show=False, id="manipulate.token_next"),
        Binding("v", "toggle_visible", "Visible", id="manipulate.visible"),
        Binding("g", "toggle_steer", "Steer", id="manipulate.steer"),
        Binding("t", "next_task", "Task", show=False, id="manipulate.task"),
        Binding("c", "next_target", "Target", show=False, id="manipulate.target"),
        Binding("s", "save", "Save", id="manipulate.save"),
        Binding("l", "load", "Load", id="manipulate.load"),
        Binding("x", "cancel", "Cancel", show=False, id="manipulate.cancel"),
        Binding("question_mark", "app.help", "Help", show=False, id="manipulate.help"),
    ]

    HELP = """\
## Manipulation

The selected neurons (the neuron under the cursor in the Analysis mode, then the pinned
ones) are changed on the current sentence and it re-translates in the background;
original and modified outputs side by side, changed tokens marked.

- **+ / -** change the value (σ of the neuron over the store; **u** raw units instead)
- **o** op: set (clamp), add, scale, zero · **0** value 0 · **p** positions: all, the
  cursor token, tokens equal to the cursor word
- **[ ]** previous/next sentence · **← →** cursor token (shared with the Analysis mode)
- **v** also re-translate the next sentences (one request, pairs listed below)
- **s** name and save the intervention to the run log (`neurotui replay LOG` re-runs it)
- **l** list saved interventions; Enter loads one and re-runs it · **x** cancel a request
- **g** steering vector instead of the selected neurons: α × (class mean of the target −
  class mean of the others) of a label pair of the store, added to every encoder neuron
  (as `neurotui control --mode steer`); **t** task, **c** target class, **+ / -** α
"""

    def pane_help(self) -> str:
        """The help screen's text for this mode."""
        return self.HELP

    def __init__(self) -> None:
        super().__init__()  # runner, runner_model, state, device, pending, error
        self.sentence = 0
        self.token = 0
        self.op = "set"
        self.value = 2.0
        self.unit = "sigma"
        self.positions_kind = "all"
        self.outcome: Outcome | None = None
        self._originals: dict[tuple[str, int], Any] = {}
        self._refs: dict[str, list[str] | None] = {}
        self._timer: Any = None
        self._last_request = 0.0
        self._last_signature: tuple[Any, ...] | None = None
        self._save_next = False
        self._save_name: str | None = None
        #: ids of save requests still running (their outcome is reported even if stale)
        self._saving: set[str] = set()
        #: re-translate the next sentences too (``v``); not ``visible``: that is Widget's
        self.show_next = False
        #: neurons of a loaded intervention: (store name, ids, the selection when loaded);
        #: they replace the selection until the selection changes
        self.loaded: tuple[str, list[int], list[int]] | None = None
        #: name of the loaded or last saved intervention (shown, and the default name)
        self.label = ""
        #: the last "cannot read this sentence" error shown (said once, not every redraw)
        self._read_error: str | None = None
        #: steering vector instead of the selected neurons (``g``), its label pair and α
        self.steer = False
        self.steer_task = 0
        self.steer_target = 1  # tense → present first (PROP_VALUES: past, present, future)
        self.alpha = STEER_ALPHA
        #: (store, task, target) → the class-mean profile (computed once on the runner)
        self._profiles: dict[tuple[str, str, str], Any] = {}
        self._real: dict[str, Any] = {}  # store → its real-text sets (None: synthetic)
        #: (store, sentence, task) → the words expressing the property (steering scope)
        self._property_positions: dict[tuple[str, int, str], list[int]] = {}

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        yield Static(id="manip-controls")
        yield Static(id="manip-source")
        with Horizontal(id="manip-outputs"):
            yield Static(id="manip-original", classes="manip-pane")
            yield Static(id="manip-modified", classes="manip-pane")
        yield Static(id="manip-scores")
        yield Static(id="manip-visible")
        yield Footer()

    DEFAULT_CSS = """
    ManipulateScreen #manip-controls { height: auto; padding: 1 1 0 1; }
    ManipulateScreen #manip-source { height: auto; padding: 1 1; }
    ManipulateScreen #manip-outputs { height: auto; }
    ManipulateScreen .manip-pane { width: 1fr; height: auto; border: round $primary; padding: 0 1; }
    ManipulateScreen #manip-scores { height: auto; padding: 0 1; }
    ManipulateScreen #manip-visible { height: auto; padding: 1 1 0 1; }
    """

    def on_screen_resume(self) -> None:
        """Pick up the shared text cursor (moved in the analysis view); re-run if needed.

        Back from a modal (prompt, picker, help) nothing changed: no new request, which
        would also supersede a save or load sent from the modal's callback. (The base
        screen's handler then redraws; Textual's own resume handling must not be
        prevented, or the screen stays blank.)
        """
        opened = self.opened
        if opened is not None:
            self.sentence, self.token = opened.view.sentence, opened.view.token
        if self.signature() != self._last_signature:
            self.schedule()
        else:
            self.render_panels()

    # -- shared state --------------------------------------------------------------------
    def neurons(self) -> list[int]:
        """Store ids of the neurons to change: a loaded intervention's while the selection
        is as it was when loading, else the selection (cursor neuron, then pinned ones)."""
        opened = self.opened
        if opened is None:
            return []
        shown = opened.view.shown()
        if self.loaded is not None:
            store, ids, selection = self.loaded
            if store == opened.name and selection == shown:
                return list(ids)
            self.loaded = None  # the user chose other neurons since
            self.label = ""
        return shown

    def words(self) -> list[str]:
        """The current sentence's tokens (clamping the sentence/token cursor into range)."""
        opened = self.opened
        if opened is None:
            return []
        n = len(opened.cache.lengths)
        self.sentence = max(0, min(self.sentence, n - 1))
        try:
            words = list(opened.store.tokens(self.sentence))
        except NeurotuiError as exc:
            # A damaged store (tokens that are not UTF-8, say): this runs on the UI thread
            # in every redraw, so the error is said once and the sentence shows empty.
            if str(exc) != self._read_error:
                self._read_error = str(exc)
                self.notify_error(str(exc))
            words = []
        self.token = max(0, min(self.token, len(words) - 1))
        return words

    def _share_cursor(self) -> None:
        """Moving the sentence/token here moves the shared text cursor too."""
        opened = self.opened
        if opened is not None:
            self.words()  # clamp first
            opened.view.move_text_cursor(self.sentence, self.token)

    def visible_sentences(self) -> list[int]:
        """The sentences a request translates: the current one, then the next few (``v``)."""
        opened = self.opened
        if opened is None:
            return []
        if not self.show_next:
            return [self.sentence]
        n = len(opened.cache.lengths)
        return list(range(self.sentence, min(n, self.sentence + VISIBLE)))

    def positions(self, words: list[str]) -> Positions:
        if self.positions_kind == "property":  # steering: known once the runner found them
            pair = self.steer_pair()
            opened = self.opened
            key = (opened.name if opened else "", self.sentence, pair[0] if pair else "")
            found = self._property_positions.get(key)
            return Positions.at(found) if found else Positions.all()
        if self.positions_kind == "token":
            return Positions.at([self.token])
        if self.positions_kind == "word" and words:
            return Positions.word(words[self.token])
        return Positions.all()

    def intervention(
        self,
        opened: OpenStore,
        words: list[str],
        name: str | None = None,
        positions: Positions | None = None,
    ) -> Intervention:
        """The selection as one intervention (readable names survive store/model order)."""
        names = _bind_module.store_names(opened.store, self.neurons())
        where = positions if positions is not None else self.positions(words)
        op = self.op
        if op == "zero":
            return Intervention(tuple(names), "zero", positions=where, name=name)
        unit = "raw" if op == "scale" else self.unit
        return Intervention(
            tuple(names), op, positions=where, value=self.value, unit=unit, name=name
        )

    # -- actions -------------------------------------------------------------------------
    def action_step(self, direction: int) -> None:
        if self.steer:
            self.alpha = round(self.alpha + direction * STEPS["steer"], 6)
            self.schedule()
            return
        step = STEPS["scale" if self.op == "scale" else self.unit]
        self.value = round(self.value + direction * step, 6)
        self.schedule()

    def action_next_op(self) -> None:
        self.op = OPS[(OPS.index(self.op) + 1) % len(OPS)]
        if self.op == "scale" and self.value == 2.0:
            self.value = 0.0
        self.schedule()

    def action_next_positions(self) -> None:
        kinds = STEER_POSITION_KINDS if self.steer else POSITION_KINDS
        self.positions_kind = kinds[(kinds.index(self.positions_kind) + 1) % len(kinds)]
        self.schedule()

    def action_toggle_unit(self) -> None:
        self.unit = "raw" if self.unit == "sigma" else "sigma"
        self.schedule()

    def action_reset_value(self) -> None:
        self.value = 0.0
        self.schedule()

    def action_sentence(self, delta: int) -> None:
        self.sentence += delta
        self.token = 0
        self._share_cursor()
        self.schedule()

    def action_token(self, delta: int) -> None:
        self.token += delta
        self._share_cursor()
        self.schedule()

    # -- steering ------------------------------------------------------------------------
    def steer_tasks(self) -> list[str]:
        """The label tasks of the store a steering vector can be built for."""
        from neurotui.intervene.control import CONTROL_PROPS

        opened = self.opened
        if opened is None:
            return []
        with contextlib.suppress(Exception):
            have = set(opened.store.label_tasks)
            real = self._realtext(opened)
            if real is not None:
                from neurotui.intervene.realtext import REALTEXT_PROPS

                return list(REALTEXT_PROPS)
            return [t for t in CONTROL_PROPS if t in have]
        return []

    def _realtext(self, opened: OpenStore) -> Any:
        from neurotui.tui.screens.control import realtext_for

        if opened.name not in self._real:
            self._real[opened.name] = realtext_for(opened, getattr(self.app, "model_path", None))
        return self._real[opened.name]

    def steer_pair(self) -> tuple[str, str] | None:
        """(task, target class) of the steering vector, or ``None`` without labels."""
        from neurotui.data.synthetic import PROP_VALUES

        tasks = self.steer_tasks()
        if not tasks:
            return None
        task = tasks[self.steer_task % len(tasks)]
        targets = PROP_VALUES[task]
        return task, targets[self.steer_target % len(targets)]

    def action_toggle_steer(self) -> None:
        """Steering vector instead of the selected neurons, or back."""
        self.steer = not self.steer
        if self.steer and self.steer_pair() is None:
            self.steer = False
            self.app.notify(
                "no tense / number / gender labels in this store to build a steering vector",
                severity="warning",
            )
        if self.steer and self.positions_kind == "all" and self.opened is not None:
            # the property's words, where a synthetic store knows them (as control does)
            if self._realtext(self.opened) is None:
                self.positions_kind = "property"
        elif not self.steer and self.positions_kind == "property":
            self.positions_kind = "all"
        self.schedule()

    def action_next_task(self) -> None:
        if self.steer:
            self.steer_task += 1
            self.steer_target = 0
            self.schedule()

    def action_next_target(self) -> None:
        if self.steer:
            self.steer_target += 1
            self.schedule()

    def action_toggle_visible(self) -> None:
        """Also re-translate the next few sentences (one request), or only the current one."""
        self.show_next = not self.show_next
        self.schedule()

    def action_save(self) -> None:
        """Ask for a name, then re-run the intervention and append it to the JSONL log."""
        from neurotui.tui.screens.prompt import PromptScreen

        if self.opened is None or not self.neurons():
            self.app.notify("nothing to save: select neurons first", severity="warning")
            return
        prompt = PromptScreen(
            "Name this intervention (Enter saves, Esc cancels)",
            placeholder="e.g. tense-to-present",
            value=self.label,
            hint="saved to the run log; l lists saved interventions",
        )
        self.app.push_screen(prompt, self.save_as)

    def save_as(self, name: str | None) -> None:
        """Save under ``name`` (``None``: cancelled): the next request is logged."""
        if name is None:
            return
        self._save_name = name.strip() or None
        self.label = self._save_name or ""
        self._save_next = True
        # through schedule() like any change: sent at once when the runner is free, else
        # it goes with the next debounced request
        self.schedule()

    def action_load(self) -> None:
        """List the interventions of the run log; the chosen one is loaded and re-run."""
        from neurotui.intervene import log as runlog
        from neurotui.tui.screens.intervention_picker import InterventionPicker, saved_interventions

        path = runlog.default_log_path()
        if not path.is_file():
            self.app.notify(f"no saved interventions yet ({path}); save one with s", timeout=4)
            return
        try:
            warnings: list[str] = []
            saved = saved_interventions(runlog.read(path, warnings))
        except NeurotuiError as exc:
            self.app.notify(str(exc), severity="error", title="Saved interventions")
            return
        for warning in warnings[:3]:  # damaged lines were skipped: say which
            self.app.notify(warning, severity="warning", title="Saved interventions", timeout=8)
        if not saved:
            self.app.notify(f"{path}: no translate interventions logged yet", timeout=4)
            return

        def picked(chosen: SavedIntervention | None) -> None:
            self.load(chosen)

        self.app.push_screen(InterventionPicker(saved, path.name), picked)

    def load(self, saved: SavedIntervention | None) -> bool:
        """Load a saved intervention into the mode and re-run it; a misfit is a notification.

        Returns whether it was loaded (``None``, i.e. a cancelled picker, loads nothing).
        """
        if saved is None:
            return False
        opened = self.opened
        where = f"log line {saved.line}" + (f" ({saved.name})" if saved.name else "")
        try:
            if opened is None:
                raise SpecError("no store open")
            if saved.op not in OPS:
                raise SpecError(f"op {saved.op!r} is not one the mode knows ({', '.join(OPS)})")
            ids = _store_ids(opened, saved.neurons)
            sentence = _find_sentence(opened, saved)
        except NeurotuiError as exc:
            self.app.notify(f"{where}: {exc}", severity="error", title="Cannot load")
            return False
        self.op = saved.op
        if saved.value is not None:
            self.value = saved.value
        if saved.op in ("set", "add"):
            self.unit = "sigma" if saved.unit == "sigma" else "raw"
        if sentence is not None:
            self.sentence = sentence
        self.token = 0
        words = self.words()
        kind, token, note = _positions_kind(saved.positions, words)
        self.positions_kind = kind
        if token is not None:
            self.token = token
        self.loaded = (opened.name, ids, opened.view.shown())
        self.label = saved.name
        self._share_cursor()
        notes = list(saved.notes) + ([note] if note else [])
        if sentence is None:
            notes.append("its sentence is not in this store; running it on the current one")
        model = model_name_of(opened, getattr(self.app, "model_path", None))
        if saved.model and model and Path(model).name != saved.model:
            notes.append(f"logged with model {saved.model}, running on {Path(model).name}")
        text = f"loaded {saved.name or where}: {len(ids)} neurons, {saved.op}"
        self.app.notify(text + ("; " + "; ".join(notes) if notes else ""), timeout=5)
        self.schedule()
        return True

    def action_cancel(self) -> None:
        if self.runner is not None and self.pending is not None:
            self.runner.cancel(self.pending)

    # -- requests ------------------------------------------------------------------------
    def schedule(self) -> None:
        """Send the request now when the runner is free (leading edge), else debounce.

        Why both: an isolated key press should not wait for the debounce (the latency
        target is key → screen), while a burst of presses (or a held key) coalesces into
        one request after the keys pause; a newer request supersedes a running one anyway.
        """
        self.render_panels()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        quiet = time.monotonic() - self._last_request >= DEBOUNCE
        if self.pending is None and quiet:
            self.request()
        else:
            self._timer = self.set_timer(DEBOUNCE, self.request)

    def signature(self) -> tuple[Any, ...]:
        """What a request depends on (a resume re-runs only when this changed)."""
        opened = self.opened
        return (
            opened.name if opened is not None else None,
            tuple(self.neurons()),
            self.sentence,
            self.token,
            self.op,
            self.value,
            self.unit,
            self.positions_kind,
            self.show_next,
            self.steer and (self.steer_pair(), self.alpha),
        )

    def runner_changed(self) -> None:
        """Originals belong to the model that made them."""
        self._originals.clear()

    def request(self) -> None:
        """Submit the current intervention on the current sentence (stale ones superseded)."""
        self._timer = None
        self._last_request = time.monotonic()
        self._last_signature = self.signature()
        opened = self.opened
        if opened is None or not (self.steer or self.neurons()):
            self.error = None
            self.render_panels()
            return
        save, name = self._save_next, self._save_name
        self._save_next, self._save_name = False, None
        try:
            words = self.words()
            self._last_signature = self.signature()  # with the cursor clamped into range
            sentences = self.visible_sentences()
            others = sentences[1:]
            per = None
            if others and self.positions_kind == "token":
                # the cursor token is a position of the current sentence only
                per = Positions.sentences({" ".join(words): [self.token]})
            steer = self.steer_request(opened, words, name, per)
            if steer is None:
                spec = [self.intervention(opened, words, name)]
                wide = spec if per is None else [self.intervention(opened, words, name, per)]
            else:
                spec = wide = []  # built on the runner (the class means read the store)
            if not words:  # unreadable (already said): nothing to translate
                self.render_panels()
                return
            store = opened.store
            sources = [" ".join(words)] + [" ".join(store.tokens(i)) for i in others]
            runner = self.ensure_runner(opened)
        except NeurotuiError as exc:
            self.app.notify(str(exc), severity="error", title="Manipulation")
            return
        sentence = self.sentence
        if opened.name not in self._refs:
            self._refs[opened.name] = reference_lines(opened)
        refs = self._refs[opened.name]
        reference = refs[sentence] if refs else None
        keys = [(opened.name, i) for i in sentences]
        cached = [self._originals.get(key) for key in keys]
        chosen = (self.op, self.value, self.unit, self.positions_kind)
        if steer is not None:  # ("steer", α, "task→target", positions)
            pair = self.steer_pair() or ("", "")
            chosen = ("steer", self.alpha, "→".join(pair), self.positions_kind)
        where = {"store": opened.name, "sentence": sentence, "token": self.token}
        where_token = self.token
        originals = self._originals

        def job(ctx: RunnerContext) -> Outcome:
            from neurotui.intervene.workflows import manipulation_step

            nonlocal spec, wide
            if steer is not None:
                spec, wide = steer(ctx)
            step = manipulation_step(
                ctx.backend,
                spec,
                sources,
                store=store,
                wide=None if wide is spec else wide,
                originals=cached,
                reference=reference,
                log=save,
                name=name,
                app=where,
                mask_token=where_token,
                should_stop=ctx.should_stop,
            )
            if ctx.backend.kind != "encoder":  # (an encoder's fills depend on the cursor word)
                for key, translation in zip(keys, step.originals, strict=True):
                    originals[key] = translation
            description = step.description
            if step.log_path is not None:
                description += f"  (saved{' as ' + repr(name) if name else ''} to {step.log_path})"
            return Outcome(
                sentence,
                step.comparisons[0],
                description,
                step.bleu,
                device_label(ctx.backend),
                chosen,
                # (an encoder answers for the cursor sentence only)
                list(zip(others, step.comparisons[1:], strict=True)) if step.originals[1:] else [],
                (name or "") if step.log_path is not None else None,
            )

        # A save is not superseded by the keys pressed while it runs (it is not in the
        # group): it always reaches the log; its result is shown only if still current.
        self.pending = runner.submit(job, group=None if save else "manipulate")
        if save:
            self._saving.add(self.pending)
        self.state = "busy"
        self.render_panels()

    def steer_request(
        self, opened: OpenStore, words: list[str], name: str | None, per: Positions | None
    ) -> Any:
        """With steering on: a function the job calls on the runner's thread that returns
        ``(spec, wide)`` — the steering vector at the chosen positions (its class means
        computed once per store and label pair). ``None`` with steering off."""
        pair = self.steer_pair() if self.steer else None
        if pair is None:
            return None
        task, target = pair
        alpha = self.alpha
        where = self.positions(words)
        key = (opened.name, task, target)
        profiles = self._profiles
        store = opened.store
        real = self._realtext(opened)
        spot = (opened.name, self.sentence, task) if self.positions_kind == "property" else None
        found = self._property_positions
        visible, opened_name = self.visible_sentences(), opened.name

        def build(ctx: RunnerContext) -> tuple[list[Intervention], list[Intervention]]:
            from dataclasses import replace

            from neurotui.intervene.workflows import steering_intervention, steering_profile
            from neurotui.tui.screens.control import synthetic_splits

            profile = profiles.get(key)
            if profile is None:
                ctx.progress(f"steering vector {task} → {target}: class means", 0, 0)
                splits = synthetic_splits() if real is None else None
                profile = steering_profile(
                    ctx.backend, store, task, target, real=real, splits=splits
                )
                profiles[key] = profile
            if spot is not None:
                # each visible sentence's property words (spec: the cursor sentence's)
                spots: dict[str, list[int]] = {}
                for index in visible:
                    at = _property_words(store, opened_name, index, task, real, found)
                    spots[" ".join(store.tokens(index))] = at
                where_now = Positions.at(found[spot])
                wide_where: Positions | None = (
                    Positions.sentences(spots) if len(visible) > 1 else None
                )
            else:
                where_now, wide_where = where, per
            one = steering_intervention(profile, alpha, where_now)
            label = f"steer {task}→{target} α={alpha:g}"
            one = replace(one, name=name or label)
            wide = one if wide_where is None else replace(one, positions=wide_where)
            return [one], [wide]

        return build

    def on_runner_event(self, message: RunnerEvent) -> None:
        """Show current results; drop stale ones; failures become notifications.

        Handled here rather than by the base screen's routing: a save's result is
        reported even when a later request has superseded it.
        """
        message.prevent_default()
        from neurotui.intervene.runner import Failed, RequestCancelled, Result, Started

        event = message.event
        runner = self.runner
        if runner is None:
            return
        current = event.request_id == self.pending
        saving = False
        if not isinstance(event, Started) and event.request_id in self._saving:
            self._saving.discard(event.request_id)
            saving = True
        if isinstance(event, Started):
            if current:
                self.state = "busy"
        elif isinstance(event, Result):
            if saving:
                self.app.notify(event.value.description, title="Intervention saved")
            if current and runner.is_current(event):
                self.outcome = event.value
                self.device = event.value.device
                self.error = None
                self.state = "idle"
                self.pending = None
        elif isinstance(event, Failed):
            if saving and not current:
                self.app.notify(
                    f"not saved: {event.message}", severity="error", title="Manipulation"
                )
            if current:
                self.error = event.message
                self._last_signature = None  # coming back to the mode retries it
                self.state = "idle"
                self.pending = None
                self.app.notify(event.message, severity="error", title="Manipulation")
        elif isinstance(event, RequestCancelled) and current:
            self.state = "cancelled"
            self.pending = None
        self.render_panels()

    # -- drawing -------------------------------------------------------------------------
    def render_panels(self) -> None:
        if not self.is_mounted:
            return
        opened = self.opened
        runner_state = self.state if self.runner is not None else "no model"
        model = Path(self.runner_model).name if self.runner_model else "—"
        info = [
            (opened.name if opened else "no store", "bold"),
            (f"· model {model} · device {self.device} ·", "dim"),
            (f"runner {runner_state}", "bold"),
        ]
        self.query_one(AppHeader).show(info, "manipulate")

        controls = Text()
        neurons = self.neurons()
        pair = self.steer_pair() if self.steer else None
        if opened is None:
            controls.append("no store open")
        elif pair is not None:
            controls.append("steering vector: ", style="bold")
            controls.append(f"{pair[0]} → {pair[1]}")
            controls.append("   α ", style="bold")
            controls.append(f"{self.alpha:+g}")
            controls.append(" × (μ target − μ others), every encoder neuron", style="dim")
            controls.append("\npositions: ", style="bold")
            controls.append(self.positions_kind)
            controls.append("   sentences: ", style="bold")
            controls.append(f"{VISIBLE} visible" if self.show_next else "current")
            controls.append(
                "\nkeys: +/- α, t task, c target, g neurons instead, p positions, [ ] sentence, "
                "← → token, v visible, s save",
                style="dim",
            )
        elif not neurons:
            controls.append("select or pin neurons in the Analysis mode (1) to manipulate them")
        else:
            names = _safe_names(opened, neurons)
            if self.label or self.loaded is not None:
                controls.append("intervention: ", style="bold")
                controls.append(self.label or "(unnamed)")
                controls.append(" (loaded)\n" if self.loaded is not None else "\n", style="dim")
            controls.append("neurons: ", style="bold")
            controls.append(
                ", ".join(names[:8]) + (f" (+{len(names) - 8})" if len(names) > 8 else "")
            )
            controls.append("\nop: ", style="bold")
            controls.append(self.op)
            if self.op != "zero":
                unit = "×" if self.op == "scale" else ("σ" if self.unit == "sigma" else " raw")
                controls.append("   value: ", style="bold")
                controls.append(f"{self.value:+g}{unit}")
            controls.append("   positions: ", style="bold")
            controls.append(self.positions_kind)
            controls.append("   sentences: ", style="bold")
            controls.append(f"{VISIBLE} visible" if self.show_next else "current")
            controls.append(
                "\nkeys: +/- value, o op, p positions, u σ/raw, [ ] sentence, ← → token, "
                "v visible, s save, l load, g steering vector",
                style="dim",
            )
        self.query_one("#manip-controls", Static).update(controls)

        source = Text()
        words = self.words() if opened is not None else []
        if words:
            source.append(f"sentence {self.sentence + 1}: ", style="bold")
            chosen = self.positions(words).select(words)
            for k, word in enumerate(words):
                if k:
                    source.append(" ")
                style = "underline" if k == self.token else ""
                if chosen is not None and k in chosen:
                    style += " bold reverse"
                source.append(word, style=style.strip())
        self.query_one("#manip-source", Static).update(source)

        original = Text("original\n", style="bold")
        modified = Text("modified\n", style="bold")
        scores = Text()
        outcome = self.outcome
        if outcome is not None:
            c = outcome.comparison
            original.append_text(marked(c.original.tokens, c.original_changed, "strike red"))
            modified.append_text(marked(c.modified.tokens, c.modified_changed, "bold green"))
            if "fills" in c.original.extra:  # an encoder: its top fills of the cursor word
                from neurotui.intervene.compare import format_fills

                scores.append("fills ", style="bold")
                scores.append(f"{format_fills(c.original)}\n   → {format_fills(c.modified)}\n")
            scores.append(f"log-prob {c.original.logprob:.2f} → {c.modified.logprob:.2f}")
            if outcome.bleu is not None:
                scores.append(f"   BLEU vs reference {outcome.bleu:.1f}")
            scores.append("   changed" if c.changed else "   unchanged", style="bold")
            if outcome.sentence != self.sentence:
                scores.append(f"   (sentence {outcome.sentence + 1}; updating…)", style="dim")
            scores.append(f"\n{outcome.description}", style="dim")
        if self.error:
            scores.append(f"\nerror: {self.error}", style="red")
        self.query_one("#manip-original", Static).update(original)
        self.query_one("#manip-modified", Static).update(modified)
        self.query_one("#manip-scores", Static).update(scores)
        visible = self.query_one("#manip-visible", Static)
        visible.display = self.show_next  # (an empty, zero-height Static would still lay out)
        visible.update(self._visible_text())

    def _visible_text(self) -> Text:
        """The following sentences' original/modified pairs (``v``), changed tokens marked."""
        text = Text()
        outcome = self.outcome
        if not self.show_next:
            return text
        if outcome is None or not outcome.others:
            text.append("next sentences: waiting for the model…", style="dim")
            return text
        text.append("next sentences", style="bold")
        for index, c in outcome.others:
            text.append(f"\n{index + 1:>4} ", style="bold")
            text.append_text(marked(c.original.tokens, c.original_changed, "strike red"))
            text.append("\n   → " if c.changed else "\n   = ", style="dim")
            text.append_text(marked(c.modified.tokens, c.modified_changed, "bold green"))
        return text


def _property_words(
    store: Any,
    name: str,
    sentence: int,
    task: str,
    real: Any,
    found: dict[tuple[str, int, str], list[int]],
) -> list[int]:
    """The words of ``sentence`` expressing ``task`` (cached in ``found``); a one-line
    error when the store's sentences are not the synthetic grammar's."""
    from neurotui.intervene.workflows import property_positions_of
    from neurotui.tui.screens.control import synthetic_splits

    key = (name, sentence, task)
    if key not in found:
        at = (
            property_positions_of(store, sentence, task, synthetic_splits())
            if real is None
            else None
        )
        if not at:
            raise NeurotuiError(
                f"sentence {sentence + 1}: no {task} words known (not a synthetic-grammar "
                "sentence); press p for other positions"
            )
        found[key] = at
    return found[key]


def _safe_names(opened: OpenStore, neurons: list[int]) -> list[str]:
    try:
        return _bind_module.store_names(opened.store, neurons)
    except NeurotuiError:
        return [str(n) for n in neurons]


def _store_ids(opened: OpenStore, names: list[str]) -> list[int]:
    """Readable names ``site:index`` → the store's global ids (one-line error otherwise)."""
    return [opened.store.neuron_id(ref) for ref in names]


#: sentences searched for a saved intervention's source when its saved index does not match
FIND_LIMIT = 20000


def _find_sentence(opened: OpenStore, saved: SavedIntervention) -> int | None:
    """The store sentence a saved intervention was made on (its saved index when it still
    holds the same text, else the first sentence with that text), or ``None``."""
    store = opened.store
    n = len(opened.cache.lengths)
    hint = saved.app.get("sentence") if saved.app.get("store") == opened.name else None
    candidates: list[int] = [hint] if isinstance(hint, int) and 0 <= hint < n else []
    candidates += range(min(n, FIND_LIMIT))
    target = " ".join(saved.source.split())
    for i in candidates:
        try:
            if " ".join(store.tokens(i)) == target:
                return i
        except NeurotuiError:  # a damaged sentence is not the one saved
            continue
    return None


def _positions_kind(positions: Any, words: list[str]) -> tuple[str, int | None, str]:
    """A saved positions value → (the mode's positions kind, cursor token or None, note)."""
    if positions in (None, "all"):
        return "all", None, ""
    if isinstance(positions, list) and len(positions) == 1 and isinstance(positions[0], int):
        index = positions[0] + len(words) if positions[0] < 0 else positions[0]
        if 0 <= index < len(words):
            return "token", index, ""
    if isinstance(positions, dict) and isinstance(positions.get("word"), str):
        word = positions["word"]
        if word in words:
            return "word", words.index(word), ""
        return "all", None, f"the word {word!r} is not in the sentence; positions all"
    return "all", None, f"positions {str(positions)[:30]} are not a mode choice; positions all"
