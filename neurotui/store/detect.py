"""Tell store formats apart by their content, then open them.

Why content and not the extension: users rename files (``acts.h5``, ``acts.hdf5``,
``acts.jsonl``), and a wrong guess would give a confusing error deep inside a reader. The
HDF5 signature (at offset 0 or a power-of-two user-block offset) or a first line that is a
JSON object with ``features`` decides; only the first bytes are read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from neurotui.atomicfile import is_temporary
from neurotui.errors import StoreError

if TYPE_CHECKING:
    from neurotui.store.base import BaseStore

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _has_hdf5_signature(path: Path, size: int) -> bool:
    with path.open("rb") as fh:
        offset = 0
        while offset + len(HDF5_SIGNATURE) <= size:
            fh.seek(offset)
            if fh.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
            offset = 512 if offset == 0 else offset * 2
    return False


def _first_line(path: Path, limit: int = 1 << 16) -> bytes:
    with path.open("rb") as fh:
        return fh.read(limit).lstrip().split(b"\n", 1)[0]


def detect_format(path: str | Path) -> str:
    """``"neurotui"``, ``"neurotui-sharded"`` (a shard manifest), ``"neurox-hdf5"`` or
    ``"neurox-json"``; a one-line error otherwise."""
    path = Path(path)
    try:
        return _detect(path)
    except PermissionError:
        raise StoreError(f"{path}: permission denied (cannot read this store)") from None


def _detect(path: Path) -> str:
    import h5py

    if is_temporary(path):
        raise StoreError(
            f"{path}: a temporary file left by an interrupted write (its name ends in "
            "'.tmp-…'), not a finished store; delete it, or run the command again"
        )
    if not path.exists():
        raise StoreError(f"{path}: no such file")
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, expected an activation store file")
    size = path.stat().st_size
    if size == 0:
        raise StoreError(f"{path}: empty file, not an activation store")
    if _has_hdf5_signature(path, size):
        try:
            with h5py.File(path, "r") as f:
                if f.attrs.get("neurotui_format") is not None:
                    return "neurotui"
                if "sentence_to_index" in f:
                    return "neurox-hdf5"
                names = ", ".join(list(f.keys())[:5]) or "nothing"
        except PermissionError:
            raise
        except OSError as exc:
            first = (str(exc).splitlines() or [""])[0][:160]
            raise StoreError(f"{path}: truncated or damaged HDF5 file ({first})") from None
        raise StoreError(
            f"{path}: HDF5 file that is neither a neurotui store nor NeuroX activations "
            f"(no 'sentence_to_index'; it holds {names})"
        )
    head = _first_line(path)
    if head.startswith(b"{"):
        try:
            obj = json.loads(head)
        except ValueError:
            obj = None
            # A very long first line may simply exceed the peek; check the key instead.
            if b'"features"' in head:
                return "neurox-json"
        if isinstance(obj, dict) and "features" in obj:
            return "neurox-json"
        from neurotui.store.sharded import is_manifest

        if is_manifest(obj):
            return "neurotui-sharded"
        raise StoreError(
            f"{path}:1: JSON that is not NeuroX activations (no 'features' in the first line)"
        )
    raise StoreError(
        f"{path}: not an activation store (neither HDF5 nor NeuroX JSON lines), whatever "
        "its extension"
    )


def open_store(path: Path, *, display_path: str | Path | None = None) -> BaseStore:
    """Open ``path`` as whatever store format its content says."""
    kind = detect_format(path)
    if kind == "neurotui":
        from neurotui.store.h5store import NeurotuiStore

        return NeurotuiStore(path, display_path=display_path)
    if kind == "neurotui-sharded":
        from neurotui.store.sharded import ShardedStore

        return ShardedStore(path, display_path=display_path)
    if kind == "neurox-hdf5":
        from neurotui.store.neurox import NeuroXHDF5Store

        return NeuroXHDF5Store(path)
    from neurotui.store.neurox import NeuroXJSONStore

    return NeuroXJSONStore(path)
