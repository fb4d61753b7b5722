"""Progress of background jobs (one line above the footer; hidden when idle).

Why one place: rankings, extraction, statistics and searches all report progress the same
way, so the user always sees what is running and that the app is alive.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class JobBar(Horizontal):
    """The newest running job's label and progress bar."""

    DEFAULT_CSS = """
    JobBar { height: 1; display: none; }
    JobBar.-busy { display: block; }
    JobBar > Label { width: auto; padding: 0 1; }
    JobBar > ProgressBar { width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._jobs: dict[str, tuple[str, int, int]] = {}

    def compose(self) -> ComposeResult:
        yield Label(id="job-label")
        yield ProgressBar(show_eta=False, id="job-progress")

    @property
    def running(self) -> dict[str, tuple[str, int, int]]:
        """Jobs shown: group → (label, done, total)."""
        return dict(self._jobs)

    def report(self, group: str, label: str, done: int, total: int) -> None:
        """A job's progress (``total`` 0: unknown)."""
        self._jobs[group] = (label, done, total)
        self._show(group)

    def finish(self, group: str) -> None:
        """A job ended."""
        self._jobs.pop(group, None)
        if self._jobs:
            self._show(next(reversed(self._jobs)))
        else:
            self.remove_class("-busy")

    def _show(self, group: str) -> None:
        label, done, total = self._jobs[group]
        more = f" (+{len(self._jobs) - 1})" if len(self._jobs) > 1 else ""
        self.query_one("#job-label", Label).update(Text(f"{label}{more}"))
        bar = self.query_one("#job-progress", ProgressBar)
        if total > 0:
            bar.update(total=total, progress=done)
        else:
            bar.update(total=None)
        self.add_class("-busy")
