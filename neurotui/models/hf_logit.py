"""The output side of an MLP neuron: which tokens it promotes and suppresses.

Why: a neuron's top-activating contexts say what it reads; what it *writes* is its column
of the MLP's output projection, added to the residual stream. Taken through the final
norm's per-dimension gain and the unembedding (the "logit lens" of one neuron), that
column is a score per vocabulary token: the tokens a unit of activation pushes up and
down. Like the logit lens it ignores the blocks after the neuron and the norm's centering
and normalisation (a per-token factor that does not change the order), so values are
comparable within a model, not calibrated logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neurotui.errors import NeurotuiError, Unsupported
from neurotui.models.hf_sites import SiteSpec, find_blocks, in_features, weight_of

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


@dataclass
class LogitEffect:
    """Tokens a neuron promotes (highest scores first) and suppresses (lowest first)."""

    site: str
    neuron: int
    promoted: list[tuple[str, float]] = field(default_factory=list)
    suppressed: list[tuple[str, float]] = field(default_factory=list)


def output_column(spec: SiteSpec, neuron: int) -> torch.Tensor:
    """The output weights of MLP neuron ``neuron`` (model width) at an ``.ffn`` site."""
    module = spec.module
    if not 0 <= neuron < in_features(module):
        raise NeurotuiError(
            f"neuron {neuron} is not in site {spec.info.name} (size {spec.info.size})"
        )
    weight = weight_of(module).detach().float()
    if hasattr(module, "in_features"):  # nn.Linear: (out, in)
        return weight[:, neuron]
    return weight[neuron, :]  # GPT-2's Conv1D: (in, out)


def final_norm(stack: nn.Module) -> nn.Module | None:
    """The norm the stack applies after its last block (``norm``, ``ln_f``,
    ``final_layer_norm`` …): a norm-like module outside the blocks and not the embeddings'."""
    blocks = {id(m) for block in find_blocks(stack) for m in block.modules()}
    found = None
    for name, module in stack.named_modules():
        weight = getattr(module, "weight", None)
        if id(module) in blocks or weight is None or weight.dim() != 1:
            continue
        if "norm" in type(module).__name__.lower() and "emb" not in name.lower():
            found = module
    return found


def norm_gain(norm: nn.Module | None, width: int) -> torch.Tensor:
    """The per-dimension gain of ``norm``: its ``weight``, or ``1 + weight`` where the norm
    multiplies by that (Gemma), decided by probing the norm with basis vectors."""
    import torch

    if norm is None:
        return torch.ones(width)
    stored = weight_of(norm)
    weight = stored.detach().float().cpu()
    basis = torch.eye(width, dtype=stored.dtype, device=stored.device)
    with torch.inference_mode():
        probed = ((norm(basis) - norm(-basis)) / 2).diagonal().float().cpu()
    best, spread = weight, float("inf")
    for gain in (weight, 1.0 + weight):
        usable = gain.abs() > 1e-6
        if not usable.any():
            continue
        ratio = probed[usable] / gain[usable]
        value = float(ratio.std() / ratio.abs().mean()) if usable.sum() > 1 else 0.0
        if value < spread:
            best, spread = gain, value
    return best


def logit_effect(
    model: Any, tokenizer: Any, spec: SiteSpec, stack: nn.Module, neuron: int, k: int
) -> LogitEffect:
    """Top-``k`` promoted and suppressed tokens of MLP neuron ``neuron`` at ``spec``."""
    import torch

    unembed = model.get_output_embeddings()
    if unembed is None:
        raise Unsupported(f"site {spec.info.name}: the model has no unembedding (no LM head)")
    column = output_column(spec, neuron)
    gain = norm_gain(final_norm(stack), column.shape[0])
    matrix = unembed.weight.detach().float()
    if matrix.shape[1] != column.shape[0]:
        raise Unsupported(
            f"site {spec.info.name}: the LM head reads width {matrix.shape[1]}, not the "
            f"residual width {column.shape[0]}"
        )
    with torch.inference_mode():
        scores = matrix @ (gain.to(matrix.device) * column.to(matrix.device))
    k = max(0, min(k, int(scores.shape[0])))
    top = torch.topk(scores, k)
    bottom = torch.topk(-scores, k)

    def named(ids: torch.Tensor, values: torch.Tensor) -> list[tuple[str, float]]:
        tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
        return [(str(t), float(v)) for t, v in zip(tokens, values.tolist(), strict=True)]

    return LogitEffect(
        spec.info.name,
        neuron,
        promoted=named(top.indices, top.values),
        suppressed=named(bottom.indices, -bottom.values),
    )
