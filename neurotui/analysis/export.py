"""Rankings out of the tool: JSON, CSV, and saved inside a store under a name.

Why CSV as well as JSON: a spreadsheet or pandas user wants one row per neuron (rank,
id, name, score, band, best partner per other model); JSON keeps everything (per-class
orders, evaluation tables) and round-trips through :meth:`Ranking.from_json`. Files are
written atomically (temporary sibling, then rename), so an interrupted export never leaves
half a file under the user's name.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from neurotui.errors import DataError, StoreError
from neurotui.store.ranking import Ranking


def ranking_rows(ranking: Ranking) -> list[dict[str, Any]]:
    """One dict per neuron, most important first (the CSV's rows)."""
    models: list[str] = []
    if ranking.partners:
        for plist in ranking.partners.values():
            for p in plist:
                if p.model not in models:
                    models.append(p.model)
    rows = []
    for k, neuron in enumerate(ranking.order):
        row: dict[str, Any] = {
            "rank": k + 1,
            "neuron": int(neuron),
            "name": ranking.neuron_names[k] if ranking.neuron_names else "",
            "score": "" if ranking.scores is None else ranking.scores[k],
            "band": "" if ranking.bands is None else ranking.bands[k],
        }
        if models:
            by_model = {p.model: p for p in (ranking.partners or {}).get(int(neuron), [])}
            for m in models:
                partner = by_model.get(m)
                row[f"partner_{m}"] = "" if partner is None else partner.neuron
                row[f"r_{m}"] = "" if partner is None else partner.r
        rows.append(row)
    return rows


def to_csv_text(ranking: Ranking) -> str:
    """The ranking as CSV text (header + one row per neuron)."""
    rows = ranking_rows(ranking)
    buf = io.StringIO()
    fields = list(rows[0]) if rows else ["rank", "neuron", "name", "score", "band"]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:mod:`neurotui.atomicfile`: old or new, never
    half); a failure is one :class:`DataError` line naming the file."""
    from neurotui.atomicfile import write_text

    return write_text(path, text, error=DataError)


def export(ranking: Ranking, path: str | Path) -> Path:
    """Write ``ranking`` as JSON (``.json``) or CSV (``.csv``), chosen by the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return write_text_atomic(path, ranking.to_json() + "\n")
    if suffix == ".csv":
        return write_text_atomic(path, to_csv_text(ranking))
    raise DataError(f"{path}: unknown export format {suffix or '(none)'}; use .json or .csv")


def load_ranking_file(path: str | Path) -> Ranking:
    """Read a ranking exported as JSON."""
    path = Path(path)
    try:
        return Ranking.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{path}: not a ranking JSON file ({exc})") from None


def save_in_store(store: Any, name: str, ranking: Ranking) -> None:
    """Keep ``ranking`` inside ``store`` under ``name``.

    In-memory stores take it directly; file stores go through the store package's atomic
    editor (which rewrites a copy and swaps it in — close readers first on Windows).
    """
    if not name or "/" in name:
        raise DataError(f"ranking name {name!r}: use a non-empty name without '/'")
    if hasattr(store, "add_ranking"):
        store.add_ranking(name, ranking)
        return
    from neurotui.store.edit import save_ranking

    path = getattr(store, "path", None)
    if path is None:
        raise StoreError("this store cannot hold rankings")
    save_ranking(path, name, ranking)


def find_ranking(store: Any, name: str) -> Ranking:
    """The ranking saved under ``name`` in ``store``, or a ranking JSON file path."""
    saved = store.rankings
    if name in saved:
        return saved[name]
    if Path(name).suffix.lower() == ".json" and Path(name).is_file():
        return load_ranking_file(name)
    listed = ", ".join(sorted(saved)) or "(none)"
    raise DataError(f"{store.path}: no ranking {name!r}; saved rankings: {listed}")
