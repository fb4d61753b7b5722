"""Manipulation mode: clamp the selected neurons and watch one sentence re-translate.

Why a screen of its own: the NeuroX demo's "Neuron Manipulation" loop — change a value,
see the translation change at once — needs the model on a background thread (the
intervention runner owns it), debounced requests with stale results dropped, and the
original and modified outputs side by side. The neurons come from the shared selection
(``app.session``: cursor neuron first, then pinned ones); the sentence is the analysis
view's cursor sentence when this mode is shown, and can be moved here with ``[``/``]``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from neurotui.errors import NeurotuiError
from neurotui.intervene import bind as _bind_module
from neurotui.intervene.spec import Intervention, Positions
from neurotui.tui.widgets.header import AppHeader

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.compare import Comparison
    from neurotui.intervene.runner import Event, JobContext, Runner
    from neurotui.models.base import Backend
    from neurotui.tui.session import OpenStore

#: seconds between the last key press and the re-translation request
DEBOUNCE = 0.05
OPS = ("set", "add", "scale", "zero")
POSITION_KINDS = ("all", "token", "word")
#: step of the +/- keys per unit
STEPS = {"sigma": 0.5, "raw": 0.25, "scale": 0.25}


class RunnerEvent(Message):
    """An intervention-runner event, carried from its worker thread onto the screen."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


@dataclass
class Outcome:
    """What one manipulation request produced (shown when it is still current)."""

    sentence: int
    comparison: Comparison
    description: str
    bleu: float | None
    device: str
    #: (op, value, unit, positions) as chosen on screen when the request was made
    request: tuple[str, float, str, str] = ("", 0.0, "", "")


def reference_lines(opened: OpenStore) -> list[str] | None:
    """The French references aligned with the store's sentences, when they exist.

    Stores extracted from ``…/analysis.en`` (or dev/test) have a parallel ``.fr`` file next
    to the source; it is used only when its line count matches the store.
    """
    with contextlib.suppress(Exception):
        source = dict(opened.store.metadata).get("source") or {}
        path = Path(str(source.get("path", "")))
        if path.suffix == ".en":
            ref = path.with_suffix(".fr")
            if ref.is_file():
                lines = ref.read_text(encoding="utf-8").splitlines()
                if len(lines) == len(opened.store.sentence_lengths()):
                    return lines
    return None


def model_name_of(opened: OpenStore) -> str | None:
    """The model a store was extracted from (its bundled name or path), if recorded."""
    with contextlib.suppress(Exception):
        model = dict(opened.store.metadata).get("model")
        if isinstance(model, dict):
            path = model.get("path")
            if isinstance(path, str) and Path(path).exists():
                return path
            return model.get("name")
        if isinstance(model, str):
            return model
    return None


def device_label(backend: Backend) -> str:
    """``CPU`` or the GPU's name and memory (for the status line)."""
    device = getattr(backend, "device", None)
    if device is None or getattr(device, "type", "cpu") != "cuda":
        return "CPU"
    with contextlib.suppress(Exception):
        import torch

        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return str(device)


def marked(tokens: list[str], flags: list[bool], style: str) -> Text:
    """Tokens joined by spaces, changed ones styled; built from segments (never markup)."""
    text = Text()
    for k, (token, flag) in enumerate(zip(tokens, flags, strict=True)):
        if k:
            text.append(" ")
        text.append(token, style=style if flag else "")
    return text


class ManipulateScreen(Screen[None]):
    """Clamp/scale/zero the selected neurons on the cursor sentence, see the translation."""

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
        Binding("s", "save", "Save", id="manipulate.save"),
        Binding("x", "cancel", "Cancel", show=False, id="manipulate.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runner: Runner | None = None
        self.runner_model: str | None = None
        self.sentence = 0
        self.token = 0
        self.op = "set"
        self.value = 2.0
        self.unit = "sigma"
        self.positions_kind = "all"
        self.state = "idle"
        self.device = "—"
        self.outcome: Outcome | None = None
        self.error: str | None = None
        self.pending: str | None = None
        self._originals: dict[tuple[str, int], Any] = {}
        self._refs: dict[str, list[str] | None] = {}
        self._timer: Any = None
        self._save_next = False

    # -- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield AppHeader(id="header")
        yield Static(id="manip-controls")
        yield Static(id="manip-source")
        with Horizontal(id="manip-outputs"):
            yield Static(id="manip-original", classes="manip-pane")
            yield Static(id="manip-modified", classes="manip-pane")
        yield Static(id="manip-scores")
        yield Footer()

    DEFAULT_CSS = """
    ManipulateScreen #manip-controls { height: auto; padding: 1 1 0 1; }
    ManipulateScreen #manip-source { height: auto; padding: 1 1; }
    ManipulateScreen #manip-outputs { height: auto; }
    ManipulateScreen .manip-pane { width: 1fr; height: auto; border: round $primary; padding: 0 1; }
    ManipulateScreen #manip-scores { height: auto; padding: 0 1; }
    """

    def on_screen_resume(self) -> None:
        """Pick up the analysis view's cursor sentence/token, then re-run."""
        found = self._analysis_cursor()
        if found is not None:
            self.sentence, self.token = found
        self.schedule()

    def on_unmount(self) -> None:
        self.close_runner()

    def close_runner(self) -> None:
        """Stop the runner (cancels what is queued; the model goes with it)."""
        if self.runner is not None:
            self.runner.close()
            self.runner = None

    # -- shared state --------------------------------------------------------------------
    @property
    def opened(self) -> OpenStore | None:
        return self.app.session.active  # type: ignore[attr-defined]

    def neurons(self) -> list[int]:
        """Store ids of the selected neurons: the cursor neuron, then pinned ones."""
        opened = self.opened
        return [] if opened is None else opened.view.shown()

    def _analysis_cursor(self) -> tuple[int, int] | None:
        with contextlib.suppress(Exception):
            from neurotui.tui.widgets.sentence_view import SentenceView

            for stack in self.app._screen_stacks.values():  # noqa: SLF001 - other modes
                for screen in stack:
                    for view in screen.query(SentenceView):
                        return int(view.cursor_sentence), int(view.cursor_position)
        return None

    def words(self) -> list[str]:
        opened = self.opened
        if opened is None:
            return []
        n = len(opened.cache.lengths)
        self.sentence = max(0, min(self.sentence, n - 1))
        words = list(opened.store.tokens(self.sentence))
        self.token = max(0, min(self.token, len(words) - 1))
        return words

    def positions(self, words: list[str]) -> Positions:
        if self.positions_kind == "token":
            return Positions.at([self.token])
        if self.positions_kind == "word" and words:
            return Positions.word(words[self.token])
        return Positions.all()

    def intervention(self, opened: OpenStore, words: list[str]) -> Intervention:
        """The selection as one intervention (readable names survive store/model order)."""
        names = _bind_module.store_names(opened.store, self.neurons())
        op = self.op
        if op == "zero":
            return Intervention(tuple(names), "zero", positions=self.positions(words))
        unit = "raw" if op == "scale" else self.unit
        return Intervention(
            tuple(names), op, positions=self.positions(words), value=self.value, unit=unit
        )

    # -- actions -------------------------------------------------------------------------
    def action_step(self, direction: int) -> None:
        step = STEPS["scale" if self.op == "scale" else self.unit]
        self.value = round(self.value + direction * step, 6)
        self.schedule()

    def action_next_op(self) -> None:
        self.op = OPS[(OPS.index(self.op) + 1) % len(OPS)]
        if self.op == "scale" and self.value == 2.0:
            self.value = 0.0
        self.schedule()

    def action_next_positions(self) -> None:
        kinds = POSITION_KINDS
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
        self.schedule()

    def action_token(self, delta: int) -> None:
        self.token += delta
        self.schedule()

    def action_save(self) -> None:
        """Re-run the current intervention and append it to the JSONL log (replayable)."""
        self._save_next = True
        self.request()

    def action_cancel(self) -> None:
        if self.runner is not None and self.pending is not None:
            self.runner.cancel(self.pending)

    # -- requests ------------------------------------------------------------------------
    def schedule(self) -> None:
        """Debounce: (re)start the timer; the request goes out when keys pause."""
        self.render_panels()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self.request)

    def ensure_runner(self, opened: OpenStore) -> Runner:
        from neurotui.intervene.runner import Runner

        name = model_name_of(opened)
        if name is None:
            raise NeurotuiError(f"store {opened.name}: no model recorded in its metadata")
        if self.runner is None or self.runner_model != name:
            self.close_runner()
            device = getattr(self.app, "device_name", "auto")

            def factory() -> Backend:
                from neurotui.models.registry import load_backend

                return load_backend(name, device)

            self.runner = Runner(factory, on_event=lambda e: self.post_message(RunnerEvent(e)))
            self.runner_model = name
            self._originals.clear()  # originals belong to the model that made them
        return self.runner

    def request(self) -> None:
        """Submit the current intervention on the current sentence (stale ones superseded)."""
        self._timer = None
        opened = self.opened
        if opened is None or not self.neurons():
            self.error = None
            self.render_panels()
            return
        try:
            words = self.words()
            spec = [self.intervention(opened, words)]
            runner = self.ensure_runner(opened)
        except NeurotuiError as exc:
            self.app.notify(str(exc), severity="error", title="Manipulation")
            return
        source = " ".join(words)
        sentence = self.sentence
        store = opened.store
        if opened.name not in self._refs:
            self._refs[opened.name] = reference_lines(opened)
        refs = self._refs[opened.name]
        reference = refs[sentence] if refs else None
        key = (opened.name, sentence)
        cached = self._originals.get(key)
        save = self._save_next
        chosen = (self.op, self.value, self.unit, self.positions_kind)
        self._save_next = False

        def job(ctx: JobContext) -> Outcome:
            from neurotui.intervene.apply import DecodeSettings, translate
            from neurotui.intervene.compare import compare

            backend = ctx.backend
            bound = _bind_module.bind(spec, backend, store, sentences=[source])
            settings = DecodeSettings()
            original = cached
            if original is None:
                original = translate(backend, [source], (), settings, ctx.should_stop)[0]
                self._originals[key] = original
            comparison = compare(
                backend, [source], bound, settings, ctx.should_stop, original=[original]
            )[0]
            bleu = None
            if reference is not None:
                import sacrebleu

                bleu = float(sacrebleu.sentence_bleu(comparison.modified.text, [reference]).score)
            if save:
                from neurotui.intervene import log as runlog
                from neurotui.intervene.replay import translate_record

                record = translate_record(backend, spec, bound, [comparison], settings)
                path = runlog.append(record)
                ctx_note = f"saved to {path}"
            else:
                ctx_note = ""
            description = "; ".join(b.to_intervention().describe() for b in bound)
            if ctx_note:
                description += f"  ({ctx_note})"
            return Outcome(sentence, comparison, description, bleu, device_label(backend), chosen)

        self.pending = runner.submit(job, group="manipulate")
        self.state = "busy"
        self.render_panels()

    def on_runner_event(self, message: RunnerEvent) -> None:
        """Show current results; drop stale ones; failures become notifications."""
        from neurotui.intervene.runner import Failed, RequestCancelled, Result, Started

        event = message.event
        runner = self.runner
        if runner is None:
            return
        current = event.request_id == self.pending
        if isinstance(event, Started):
            if current:
                self.state = "busy"
        elif isinstance(event, Result):
            if current and runner.is_current(event):
                self.outcome = event.value
                self.device = event.value.device
                self.error = None
                self.state = "idle"
                self.pending = None
                if "saved to" in event.value.description:
                    self.app.notify(event.value.description, title="Intervention saved")
        elif isinstance(event, Failed):
            if current:
                self.error = event.message
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
        if opened is None:
            controls.append("no store open")
        elif not neurons:
            controls.append("select or pin neurons in the Analysis mode (1) to manipulate them")
        else:
            names = _safe_names(opened, neurons)
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
            controls.append(
                "   keys: +/- value, o op, p positions, u σ/raw, [ ] sentence, ← → token, s save",
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


def _safe_names(opened: OpenStore, neurons: list[int]) -> list[str]:
    try:
        return _bind_module.store_names(opened.store, neurons)
    except NeurotuiError:
        return [str(n) for n in neurons]
