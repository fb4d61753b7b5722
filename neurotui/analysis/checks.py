"""Checks on analysis inputs that turn bad data into one-line warnings or errors.

Why one place: dead (constant) neurons, NaN/Inf activations and degenerate label sets make
every ranking method silently wrong in its own way (a constant neuron acts as a second
bias in a probe; its Pearson r is 0/0). Each method calls these helpers so the user always
hears about it, and the affected neurons end up in the ranking's ``params``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from neurotui.errors import DataError


class AnalysisWarning(UserWarning):
    """Something in the data that the user should know; the result is still usable."""


def warn(message: str) -> None:
    """Emit an :class:`AnalysisWarning` (one line; the CLI prints it as a warning)."""
    warnings.warn(message.replace("\n", " "), AnalysisWarning, stacklevel=3)


def describe_neurons(
    ids: Sequence[int] | np.ndarray, names: Sequence[str] | None, limit: int = 5
) -> str:
    """``3 neurons (enc:1, enc:7, enc:9)`` — a short list for messages."""
    ids = [int(i) for i in ids]
    shown = [names[i] if names is not None else str(i) for i in ids[:limit]]
    more = ", …" if len(ids) > limit else ""
    noun = "neuron" if len(ids) == 1 else "neurons"
    return f"{len(ids)} {noun} ({', '.join(shown)}{more})"


def check_finite_sites(
    store: object, cols: np.ndarray, has_finite: np.ndarray, where: str | None = None
) -> None:
    """Refuse a site whose every value is NaN/Inf: there is nothing to rank in it.

    Why an error and not the NaN warning: the warning's repair (the neuron's finite mean)
    has nothing to work from, so every score would come out 0 and the ranking would look
    valid (NeuroX writes such files with ``aggregation="mean"``). ``has_finite`` says,
    per column of ``cols`` (global ids), whether it holds a finite value.
    """
    cols = np.asarray(cols, dtype=np.int64)
    for site in getattr(store, "sites", []):
        sel = (cols >= site.offset) & (cols < site.offset + site.size)
        if sel.any() and not np.asarray(has_finite)[sel].any():
            raise DataError(
                f"{where or getattr(store, 'path', 'store')}: site {site.name} has no finite "
                "activation value (all NaN/Inf); nothing to rank"
            )


def check_classes(y: np.ndarray, classes: Sequence[str], what: str) -> None:
    """A classification task needs at least two classes that actually occur."""
    present = np.unique(y)
    if present.size < 2:
        only = classes[int(present[0])] if present.size else "(none)"
        raise DataError(
            f"{what}: only one class ({only!r}) occurs; a probe needs at least two classes"
        )


def constant_columns(std: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """Indices of columns whose spread is zero (or negligible against their magnitude)."""
    std = np.asarray(std, dtype=np.float64)
    tol = 0.0 if scale is None else 1e-7 * np.maximum(np.abs(np.asarray(scale)), 1.0)
    return np.flatnonzero(~(std > tol))
