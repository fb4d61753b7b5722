"""The user's own names and notes for neurons, saved beside the store.

Why beside the store (``<store>.notes.json``): notes belong to one model's neurons and should
travel with its store; a JSON file is easy to read, diff and share. Writes are atomic
(:mod:`neurotui.atomicfile`) so a crash never leaves half a file. Where the store's folder
is read-only (or the store has no file) the notes go to the cache folder, keyed by the
store's path.

A notes file that cannot be read (a stray byte, a hand edit gone wrong) holds the user's
work: it is never overwritten. The notes open empty with a :attr:`NeuronNotes.warning`,
and the first save first renames the damaged file aside (``NAME.corrupt-<time>``), so the
new notes and the old file both survive.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
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
        #: why the notes file could not be read (shown to the user); ``None`` when fine
        self.warning: str | None = None
        #: where the last save kept the unreadable file (told to the user once)
        self.kept_aside: Path | None = None
        self._damaged = False
        if path is not None and (path.exists() or path.is_symlink()):
            try:
                self._load(path)
            except StoreError as exc:
                self._notes.clear()
                self._damaged = True
                self.warning = (
                    f"{exc}; it is left untouched, and kept as {path.name}.corrupt-<time> "
                    "when the next note is saved"
                )

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("neurons", {}), dict):
                raise ValueError("not a notes object")
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
        """Write the notes atomically (no-op for stores without a file).

        A notes file that could not be read is renamed aside first, never overwritten.
        """
        if self.path is None:
            return
        if self._damaged:
            self.kept_aside = keep_aside(self.path)
            self._damaged = False
            self.warning = None
        data = {
            "format_version": FORMAT_VERSION,
            "neurons": {
                str(k): {"name": v.name, "note": v.note} for k, v in sorted(self._notes.items())
            },
        }
        write_json_atomic(self.path, data)


def keep_aside(path: Path) -> Path | None:
    """Rename ``path`` to a free ``NAME.corrupt-<time>`` beside it (``None``: it is gone).

    Why link, then unlink: unlike a rename, a link never replaces a file that took the name
    meanwhile, and a crash in between leaves two names for the file, never none (a copy
    could fail halfway on a full disk).
    """
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        aside = path.with_name(f"{path.name}.corrupt-{stamp}" + (f"-{n}" if n else ""))
        if aside.exists() or aside.is_symlink():
            continue
        try:
            os.link(path, aside)  # fails, instead of replacing, if the name was taken
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None
        except OSError:
            break
        try:
            os.unlink(path)
        except OSError as exc:
            raise StoreError(
                f"{path}: cannot move the unreadable notes file aside ({exc.strerror}); "
                "not saving, so that it is not overwritten"
            ) from None
        return aside
    try:
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
        os.rename(path, aside)  # filesystems without hard links
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot move the unreadable notes file aside ({exc.strerror}); "
            "not saving, so that it is not overwritten"
        ) from None
    return aside


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to ``path`` atomically (see :mod:`neurotui.atomicfile`)."""
    from neurotui.atomicfile import write_text

    text = json.dumps(data, ensure_ascii=False, indent=1)
    write_text(path, text, error=StoreError, make_parents=True)
