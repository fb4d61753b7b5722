"""How much memory there is, and a one-line refusal when a request cannot fit.

Why here and stdlib only: stores, models, beams and ablation ranges all size their
arrays from numbers a file or a flag declares; a lie (a config saying hidden 10⁹, a store
declaring 10⁹ tokens) must be refused *before* the allocation, with what it would need and
what there is, instead of a ``MemoryError`` traceback or a machine swapping for minutes.
Every layer may import this module (it imports nothing of ours but the errors).
"""

from __future__ import annotations

import os

from neurotui.errors import NeurotuiError


class MemoryNeeded(NeurotuiError):
    """A request that would need more memory than the machine has."""


def available_memory() -> int:
    """Bytes that can be allocated now: ``MemAvailable`` on Linux, else physical memory.

    Why ``MemAvailable``: it counts reclaimable page cache, which is what a large
    allocation can really use; physical memory is the fallback elsewhere.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def human_bytes(n: float) -> str:
    """``7.45 GiB``-style sizes for messages."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} PiB"  # pragma: no cover


def check_fits(what: str, need: float, *, error: type[NeurotuiError] = MemoryNeeded) -> None:
    """Refuse ``what`` in one line when it needs more than the memory available now.

    ``what`` names the file, field or flag that asked for it, e.g.
    ``"model.pt: hidden 1000000000"`` or ``"--beam 100000"``.
    """
    have = available_memory()
    if need > have:
        raise error(
            f"{what} needs about {human_bytes(need)} of memory, and {human_bytes(have)} "
            "is available"
        )
