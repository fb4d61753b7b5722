"""Build an LSTM from its config and load checked weights into it.

Why its own module: the model families (:mod:`neurotui.models.lm`,
:mod:`neurotui.models.seq2seq`) need this while :mod:`neurotui.models.checkpoint`, which
dispatches to them, sits above them; here it imports neither, so the package has no cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from neurotui.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

M = TypeVar("M", bound="nn.Module")


def build_model(
    factory: Callable[[], M],
    tensors: dict[str, torch.Tensor],
    weights_path: Path,
    config_path: Path,
) -> M:
    """Build the model ``config.json`` describes and load ``tensors``, refusing first, in
    one line, a model that cannot fit in memory or does not match the weights.

    Why on the meta device first: the sizes come from the config, and a config that says
    hidden 10⁹ would otherwise allocate terabytes before any shape check; a meta model
    has every shape and no storage, so both checks cost nothing.
    """
    import torch

    from neurotui.resources import MemoryNeeded, available_memory, check_fits, human_bytes

    try:
        with torch.device("meta"):
            sketch = factory()
    except (RuntimeError, OverflowError) as exc:  # sizes whose byte count overflows int64
        if "overflow" not in str(exc).lower():
            raise
        raise MemoryNeeded(
            f"{config_path}: a model of these sizes needs more than 8 EiB of memory, and "
            f"{human_bytes(available_memory())} is available"
        ) from None
    shapes = sketch.state_dict()
    params = sum(t.numel() for t in shapes.values())
    check_fits(f"{config_path}: a model of {params:,} parameters", 4 * params * 1.2)
    _check_state(shapes, tensors, weights_path)
    model = factory()
    model.load_state_dict(tensors)
    return model


def _check_state(
    expected: Mapping[str, torch.Tensor], tensors: dict[str, torch.Tensor], path: Path
) -> None:
    """Names and shapes of ``tensors`` against the model's (``expected``)."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"missing {len(missing)} tensors ({', '.join(missing[:3])}{'…' if len(missing) > 3 else ''})"
            )
        if unexpected:
            parts.append(
                f"unexpected {len(unexpected)} tensors ({', '.join(unexpected[:3])}{'…' if len(unexpected) > 3 else ''})"
            )
        raise CheckpointError(f"{path}: weights do not match config.json: {'; '.join(parts)}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{path}: tensor {key} has shape {tuple(tensors[key].shape)} but config.json "
                f"and the vocabularies imply {tuple(value.shape)}"
            )
