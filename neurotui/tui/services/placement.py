"""Where a job runs: on a worker thread, or in a child process.

Why one rule: a thread that spends its time in calls holding the GIL (large HDF5 reads,
streaming numpy passes over a store) starves the UI thread, and keys wait. A child
process leaves the UI its interpreter, but costs an interpreter start (imports: a second
or more). So corpus-scale work on a store a child can reopen from its path goes to a
process; everything small or in memory stays on a thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

#: store formats a child process can reopen from their path
FILE_FORMATS = ("neurotui", "neurotui-sharded", "neurox-hdf5", "neurox-json")
#: activations (bytes) above which a ranking runs in a child process: below, starting a
#: process (imports: seconds) costs more than sharing the GIL for a short computation
PROCESS_BYTES = 256 * 2**20


def file_backed(store: Store) -> bool:
    """A store a child process can reopen from its path."""
    path = Path(str(getattr(store, "path", "")))
    return getattr(store, "format", "") in FILE_FORMATS and path.is_file()


def worth_a_process(stores: list[Store]) -> bool:
    """Corpus-scale work on ``stores`` runs in a child process (large, and reopenable)."""
    size = sum(4 * s.total_tokens * s.neuron_count for s in stores)
    return size >= PROCESS_BYTES and all(file_backed(s) for s in stores)
