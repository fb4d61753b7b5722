"""argparse ``type=`` functions for numbers with a range, shared by every command.

Why one place: a negative ``--k``, ``--batch-size 0`` or ``--percents 150`` used to reach
the code that uses it and fail there with a traceback (``Cannot pack empty tensors``) or,
worse, run on garbage. Refusing them while parsing names the flag for free: argparse turns
an :class:`argparse.ArgumentTypeError` into ``argument --k: …``, and ``neurotui.cli``
prints that as the one ``neurotui: error:`` line. Import-light (stdlib only).
"""

from __future__ import annotations

import argparse
import math


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """A whole number ≥ 1 (counts, sizes, beams, batches, epochs)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def nonneg_int(text: str) -> int:
    """A whole number ≥ 0 (a window, a minimum count; 0 means none)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (NaN and ±Inf refused)."""
    return _float(text)


def nonneg_float(text: str) -> float:
    """A finite number ≥ 0 (regularisation strengths, rates, minutes)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value:g}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, factors)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {value:g}")
    return value


def percent(text: str) -> float:
    """A percentage in (0, 100]: a share of neurons to keep."""
    value = _float(text)
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 100, got {value:g}")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1) (dropout, label smoothing)."""
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value:g}")
    return value
