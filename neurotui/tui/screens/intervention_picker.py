"""Pick a saved or logged intervention to load into the manipulation mode (key ``l``).

Why a picker over the JSONL run log: every manipulation saved with ``s`` (and every
``neurotui translate --log`` run) is one ``translate`` record of the log, with the spec as
the user chose it (σ units, positions) and the resolved neurons. Listing those records
(name, neurons, op, value, when) turns the log into the app's list of saved interventions,
and loading one re-runs it. Parsing is kept out of the screen class so tests and other
modes can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from neurotui.tui.screens.modal import DismissOnce

#: at most this many records are listed (the newest)
MAX_LISTED = 200


@dataclass
class SavedIntervention:
    """One ``translate`` record of the log, as the manipulation mode can load it."""

    line: int
    name: str
    #: readable neuron names ``site:index`` (resolved, so they do not depend on a store)
    neurons: list[str]
    op: str
    value: float | None
    unit: str
    #: the spec's positions in JSON form (``"all"``, ``[i]``, ``{"word": W}``…)
    positions: Any
    when: str
    model: str
    #: the source sentence the record was made on (the first one)
    source: str
    #: where the app was (store name, sentence, token) when it saved the record, if it did
    app: dict[str, Any] = field(default_factory=dict)
    #: the modified translation of ``source`` the record logged
    modified: str = ""
    #: what the mode cannot represent exactly (several interventions, per-neuron values)
    notes: list[str] = field(default_factory=list)

    def describe_value(self) -> str:
        """The value as the table shows it (``+6σ``, ``×0.5``, ``—`` for zero)."""
        if self.op == "zero" or self.value is None:
            return "—"
        if self.op == "scale":
            return f"×{self.value:g}"
        return f"{self.value:+g}{'σ' if self.unit == 'sigma' else ' raw'}"


def saved_interventions(records: list[dict[str, Any]]) -> list[SavedIntervention]:
    """The ``translate`` records of a log (read by ``intervene.log.read``), newest first.

    Records that cannot be understood at all are skipped; partial fits carry ``notes``.
    """
    out: list[SavedIntervention] = []
    for record in records:
        if record.get("kind") != "translate":
            continue
        saved = _parse(record)
        if saved is not None:
            out.append(saved)
    out.reverse()
    return out[:MAX_LISTED]


def _parse(record: dict[str, Any]) -> SavedIntervention | None:
    spec = record.get("spec")
    resolved = record.get("interventions")
    if not isinstance(spec, list) or not spec or not isinstance(spec[0], dict):
        return None
    first = spec[0]
    notes: list[str] = []
    neurons: list[str] = []
    for item in resolved if isinstance(resolved, list) else []:
        if isinstance(item, dict) and isinstance(item.get("site"), str):
            neurons += [
                f"{item['site']}:{n}" for n in item.get("neurons", []) if isinstance(n, int)
            ]
    if not neurons:  # no resolved form: readable names in the spec itself
        neurons = [n for n in first.get("neurons", []) if isinstance(n, str)]
    if not neurons:
        return None
    shape = {k: first.get(k) for k in ("op", "value", "unit", "positions")}
    if any({k: iv.get(k) for k in shape} != shape for iv in spec[1:] if isinstance(iv, dict)):
        notes.append(f"{len(spec)} different interventions; the mode uses the first one's settings")
    value = first.get("value")
    if isinstance(value, list):
        notes.append("per-neuron values; the mode uses the first")
        value = value[0] if value else None
    sources = record.get("sources") or [""]
    modified = record.get("modified") or [""]
    app = record.get("app")
    return SavedIntervention(
        line=int(record.get("_line", 0)),
        name=str(record.get("name") or first.get("name") or ""),
        neurons=neurons,
        op=str(first.get("op", "zero")),
        value=float(value) if isinstance(value, int | float) else None,
        unit=str(first.get("unit", "raw")),
        positions=first.get("positions", "all"),
        when=str(record.get("time", ""))[:19].replace("T", " "),
        model=Path(str(record.get("model_path") or record.get("model") or "")).name,
        source=str(sources[0]),
        app=app if isinstance(app, dict) else {},
        modified=str(modified[0]),
        notes=notes,
    )


class InterventionPicker(DismissOnce, ModalScreen["SavedIntervention | None"]):
    """A table of saved interventions; Enter loads the highlighted one, Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("enter", "choose", "Load", id="picker.load"),
    ]
    DEFAULT_CSS = """
    InterventionPicker { align: center middle; }
    InterventionPicker > Vertical {
        width: 90%; height: 80%; padding: 1 2; background: $panel; border: round $primary;
    }
    InterventionPicker Label { width: 1fr; color: $text-muted; }
    InterventionPicker DataTable { height: 1fr; }
    """

    def __init__(self, saved: list[SavedIntervention], where: str = "") -> None:
        super().__init__()
        self.saved = saved
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                Text(f"Saved interventions ({self.where}) — Enter loads and re-runs, Esc cancels")
            )
            yield DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("name", "neurons", "op", "value", "positions", "when", "model")
        for k, s in enumerate(self.saved):
            neurons = ", ".join(s.neurons[:3]) + (
                f" (+{len(s.neurons) - 3})" if len(s.neurons) > 3 else ""
            )
            table.add_row(
                Text(s.name or "—"),
                Text(neurons),
                Text(s.op),
                Text(s.describe_value()),
                Text(_positions_text(s.positions)),
                Text(s.when),
                Text(s.model),
                key=str(k),
            )
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter (or a click) on a row: load it."""
        event.stop()
        self.dismiss(self.saved[int(str(event.row_key.value))])

    def action_choose(self) -> None:
        table = self.query_one(DataTable)
        if self.saved and 0 <= table.cursor_row < len(self.saved):
            self.dismiss(self.saved[table.cursor_row])

    def action_cancel(self) -> None:
        self.dismiss(None)


def _positions_text(positions: Any) -> str:
    if positions in (None, "all"):
        return "all"
    if isinstance(positions, list):
        return "tokens " + ",".join(str(p) for p in positions)
    if isinstance(positions, dict) and len(positions) == 1:
        ((key, value),) = positions.items()
        if key == "sentences" and isinstance(value, dict):
            return f"{len(value)} sentences"
        return f"{key}:{value}"
    return str(positions)[:20]
