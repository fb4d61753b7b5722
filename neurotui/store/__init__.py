"""Activation stores: our HDF5 layout and NeuroX hdf5/json, behind one read API.

``neurotui.store.open(path)`` detects the format from the file's content and returns a
:class:`neurotui.store.api.Store` (lazily: nothing but the index is read on open). This
package imports numpy and h5py only (extraction imports the model layer when called).

Notebook use::

    import neurotui.store as ns
    store = ns.open("acts.h5")            # ours, NeuroX .hdf5 or NeuroX .json
    store.sentences, store.tokens(0), store.activations(0).shape
    store.stats.mean, store.top_examples("enc.l1.fw:217", 10)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.base import BaseStore


def open(path: str | Path) -> BaseStore:  # noqa: A001 - mirrors the builtin on purpose
    """Open an activation store lazily, whatever its format (decided by content)."""
    from neurotui.store.detect import open_store

    return open_store(Path(path))


_LAZY = {
    "MemoryStore": "neurotui.store.memory",
    "StoreWriter": "neurotui.store.writer",
    "write_store": "neurotui.store.writer",
    "edit_store": "neurotui.store.edit",
    "add_labels": "neurotui.store.edit",
    "save_ranking": "neurotui.store.edit",
    "delete_ranking": "neurotui.store.edit",
    "save_summary": "neurotui.store.edit",
    "convert": "neurotui.store.convert",
    "detect_format": "neurotui.store.detect",
    "sample_store": "neurotui.store.samples",
    "summarize": "neurotui.store.summary",
    "write_neurox_hdf5": "neurotui.store.neurox",
}


def __getattr__(name: str) -> Any:
    # Lazy re-exports keep ``import neurotui.store`` light (no h5py until needed).
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neurotui.store' has no attribute {name!r}")


__all__ = ["open", *_LAZY]
