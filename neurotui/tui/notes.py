"""The user's own names and notes for neurons, saved beside the store.

Why beside the store (``<store>.notes.json``): notes belong to one model's neurons and should
travel with its store; a JSON file is easy to read, diff and share. Writes are atomic (temp
file in the same folder, then ``os.replace``) so a crash never leaves half a file. Where the
store's folder is read-only (or the store has no file) the notes go to the cache folder,
keyed by the store's path.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from neurotui.errors import StoreError
from neurotui.paths import cache_dir

FORMAT_VERSION = 1


@dataclass
class NeuronNote:
    """A short display name (shown in lists) and a free-text note."""

    name: str = ""
    note: str = ""


def notes_path_for(store_path: Path | None) -> Path | None:
    """Where the notes of a store at ``store_path`` live (``None``: memory only)."""
    if store_path is None or str(store_path).startswith("<"):
        return None
    beside = store_path.with_name(store_path.name + ".notes.json")
    folder = beside.parent
    if folder.is_dir() and os.access(folder, os.W_OK):
        return beside
    digest = hashlib.sha1(str(store_path.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "notes" / f"{store_path.name}.{digest}.notes.json"


class NeuronNotes:
    """Notes of one store, keyed by global neuron id."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._notes: dict[int, NeuronNote] = {}
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for key, value in data.get("neurons", {}).items():
                self._notes[int(key)] = NeuronNote(
                    name=str(value.get("name", "")), note=str(value.get("note", ""))
                )
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise StoreError(f"{path}: cannot read neuron notes ({exc})") from None

    def get(self, neuron: int) -> NeuronNote:
        """The note of ``neuron`` (empty when none)."""
        return self._notes.get(neuron, NeuronNote())

    def name(self, neuron: int) -> str:
        """The user's display name of ``neuron`` ('' when none)."""
        note = self._notes.get(neuron)
        return note.name if note else ""

    def find(self, text: str) -> list[int]:
        """Neurons whose user name equals ``text`` (case-insensitive)."""
        low = text.strip().lower()
        return sorted(n for n, note in self._notes.items() if note.name.lower() == low)

    def items(self) -> list[tuple[int, NeuronNote]]:
        """All notes, by neuron id."""
        return sorted(self._notes.items())

    def set(self, neuron: int, name: str, note: str) -> None:
        """Set (or clear, with empty strings) a neuron's name and note, then save."""
        if name.strip() or note.strip():
            self._notes[neuron] = NeuronNote(name.strip(), note.strip())
        else:
            self._notes.pop(neuron, None)
        self.save()

    def save(self) -> None:
        """Write the notes atomically (no-op for stores without a file)."""
        if self.path is None:
            return
        data = {
            "format_version": FORMAT_VERSION,
            "neurons": {
                str(k): {"name": v.name, "note": v.note} for k, v in sorted(self._notes.items())
            },
        }
        write_json_atomic(self.path, data)


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to ``path`` via a temp file in the same folder and ``os.replace``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StoreError(f"{path}: cannot save notes ({exc.strerror or exc})") from None
