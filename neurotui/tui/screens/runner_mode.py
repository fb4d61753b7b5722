"""What the runner-backed modes (manipulation, ablation, control) share.

Why a base screen: each of these modes owns one intervention runner (a worker thread that
owns the model, see :mod:`neurotui.intervene.runner`) for the opened store's model, shows
the device and the runner's state in the header, drops events of superseded requests and
turns a failed request into a notification while the app keeps working. Written once here,
a mode only says what to submit and how to draw the result: it implements the
``runner_*`` hooks and ``render_panels``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message
from textual.screen import Screen

from neurotui.errors import NeurotuiError
from neurotui.tui.host import host
from neurotui.tui.widgets.header import AppHeader

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.runner import Event, Failed, Job, Progress, Runner
    from neurotui.models.base import Backend
    from neurotui.tui.session import OpenStore


#: request id of the model-loading progress events (not a request of the runner)
LOADING = "loading-model"


class RunnerEvent(Message):
    """An intervention-runner event, carried from its worker thread onto the screen."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


def model_name_of(opened: OpenStore, override: str | Path | None = None) -> str | None:
    """The model to run for a store: ``override`` (the app's ``--model``) when given, else
    the one the store was extracted from (its bundled name or path), if recorded; see
    :func:`neurotui.analysis.output_side.store_model` (the neuron card asks the same)."""
    from neurotui.analysis.output_side import store_model

    return store_model(opened.store, override)


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


class RunnerModeScreen(Screen[None]):
    """A mode screen that runs its work on one intervention runner.

    Subclasses set :attr:`MODE` (the header's mode id), :attr:`NOTIFY_TITLE` and
    :attr:`GROUP` (the runner group: a new request supersedes the older ones), submit with
    :meth:`submit`, and implement :meth:`render_panels` plus whichever of
    :meth:`runner_progress`, :meth:`runner_result`, :meth:`runner_failed` and
    :meth:`runner_cancelled` they need. Only events of the request in :attr:`pending` reach
    the hooks, so stale results never show.
    """

    MODE = ""
    NOTIFY_TITLE = ""
    GROUP = ""

    def __init__(self) -> None:
        super().__init__()
        self.runner: Runner | None = None
        self.runner_model: str | None = None
        self.state = "idle"  # idle, busy or cancelled (the header shows it)
        self.device = "—"  # filled in once the runner has loaded the model
        self.pending: str | None = None
        self.error: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        self.render_panels()

    def on_unmount(self) -> None:
        self.close_runner()

    def close_runner(self) -> None:
        """Stop the runner (cancels what is queued; the model goes with it)."""
        if self.runner is not None:
            self.runner.close()
            self.runner = None

    @property
    def opened(self) -> OpenStore | None:
        """The active store of the app's session (what every mode shows)."""
        return host(self.app).session.active

    # -- the runner ----------------------------------------------------------------------
    def ensure_runner(self, opened: OpenStore) -> Runner:
        """The runner for ``opened``'s model (a new one when the model changed)."""
        from neurotui.intervene.runner import Runner

        name = model_name_of(opened, getattr(self.app, "model_path", None))
        if name is None:
            raise NeurotuiError(f"store {opened.name}: no model recorded in its metadata")
        if self.runner is None or self.runner_model != name:
            self.close_runner()
            device = getattr(self.app, "device_name", "auto")
            dtype = getattr(self.app, "model_dtype", "auto")

            def loading(stage: str, done: int, total: int) -> None:
                """Loading stages in the header (a GGUF file takes tens of seconds)."""
                from neurotui.intervene.runner import Progress

                self.device = f"{stage.removeprefix('load: ')} ({done}/{total})"
                self.post_message(RunnerEvent(Progress(LOADING, None, done, total, stage)))

            def factory() -> Backend:
                # one load per process: a neuron card that is loading this model already
                # (its promoted tokens) is waited for and borrowed, and the card borrows
                # this one while the runner holds it
                from neurotui.analysis.output_side import load_model

                backend = load_model(name, device, loading, dtype=dtype, keep=False)
                self.device = device_label(backend)  # a str swap: safe from the worker
                return backend

            self.runner = Runner(factory, on_event=lambda e: self.post_message(RunnerEvent(e)))
            self.runner_model = name
            self.runner_changed()
        return self.runner

    def submit(self, opened: OpenStore, job: Job) -> str | None:
        """Run ``job`` on the runner of ``opened``'s model; ``None`` (and a notification)
        when there is no runner for it."""
        try:
            runner = self.ensure_runner(opened)
        except NeurotuiError as exc:
            self.notify_error(str(exc))
            return None
        self.pending = runner.submit(job, group=self.GROUP or None)
        self.state = "busy"
        self.render_panels()
        return self.pending

    def action_cancel(self) -> None:
        """Cancel the running request (the runner stops between batches)."""
        if self.runner is not None and self.pending is not None:
            self.runner.cancel(self.pending)

    def notify_error(self, message: str) -> None:
        """One-line error as a notification; the app keeps working."""
        self.error = message
        self.app.notify(message, severity="error", title=self.NOTIFY_TITLE or "")

    def on_runner_event(self, message: RunnerEvent) -> None:
        """Route the pending request's events to the hooks; drop everything else."""
        from neurotui.intervene.runner import Failed, Progress, RequestCancelled, Result

        event = message.event
        runner = self.runner
        if event.request_id == LOADING:  # the model is loading: show its stage
            self.render_panels()
            return
        if runner is None or event.request_id != self.pending:
            return
        if isinstance(event, Progress):
            self.runner_progress(event)
        elif isinstance(event, Result):
            self.state, self.pending = "idle", None
            if runner.is_current(event):
                self.error = None
                self.runner_result(event.value)
        elif isinstance(event, Failed):
            self.state, self.pending = "idle", None
            self.notify_error(event.message)
            self.runner_failed(event)
        elif isinstance(event, RequestCancelled):
            self.state, self.pending = "cancelled", None
            self.runner_cancelled()
        self.render_panels()

    # -- hooks ---------------------------------------------------------------------------
    def runner_changed(self) -> None:
        """A new runner (another model): forget what belonged to the old one."""

    def runner_progress(self, event: Progress) -> None:
        """A progress report of the pending request."""

    def runner_result(self, value: object) -> None:
        """The pending request's value."""

    def runner_failed(self, event: Failed) -> None:
        """The pending request failed (already notified)."""

    def runner_cancelled(self) -> None:
        """The pending request was cancelled."""

    def render_panels(self) -> None:
        """Redraw the screen from its state."""
        self.show_header()

    # -- drawing -------------------------------------------------------------------------
    def show_header(self) -> None:
        """Store · model · device · runner state, and the mode bar."""
        opened = self.opened
        store = opened.name if opened else "no store"
        model = Path(self.runner_model).name if self.runner_model else "—"
        runner_state = self.state if self.runner is not None else "no model"
        # the model is usually the store's namesake: say it once (the mode bar needs room)
        about = "" if model == store else f" model {model} ·"
        self.query_one(AppHeader).show(
            [
                (store, "bold"),
                (f"·{about} device {self.device} ·", "dim"),
                (f"runner {runner_state}", "bold"),
            ],
            self.MODE,
        )
