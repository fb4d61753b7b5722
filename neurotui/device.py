"""Device and thread choice, in one place.

Why: every path must work on CPU and use the GPU when present; torch's default thread
count on small boxes can be badly oversubscribed, so threads are always set explicitly.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads explicitly (``NEUROTUI_THREADS`` or the core count)."""
    import torch

    if threads is None:
        env = os.environ.get("NEUROTUI_THREADS")
        threads = int(env) if env else max(1, os.cpu_count() or 1)
    torch.set_num_threads(threads)
    return threads


def resolve_device(name: str | None = "auto") -> torch.device:
    """``auto`` → ``cuda`` when available else ``cpu``; otherwise the named device."""
    import torch

    from neurotui.errors import NeurotuiError

    configure_threads()
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise NeurotuiError(f"--device {name}: CUDA is not available on this machine")
    return device


def describe_device(device: torch.device) -> str:
    """A short human description: ``CPU (2 threads)`` or ``NVIDIA H100 (79.2 GiB)``."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.1f} GiB)"
    return f"CPU ({torch.get_num_threads()} threads)"
