"""Finding the hook sites of a Hugging Face model from its module structure.

Why structure and not names: HF families name the same parts differently (``layers`` /
``block`` / ``h`` / ``encoder.layer``; ``fc2`` / ``mlp.c_proj`` / ``DenseReluDense.wo`` /
``output.dense`` / ``mlp.dense_4h_to_h``), and new families keep arriving. What every
transformer shares is its shape: a list of identical blocks, inside each block one or two
attention modules and a feed-forward part whose last projection maps back to the model
width. This module finds those parts by that shape alone and turns any model into one list
of sites per stack (prefix ``<p>``: ``enc`` for encoders, ``dec`` for the decoder of an
encoder–decoder model, ``lm`` for a causal LM):

* ``<p>.l0`` — the **embeddings**: the input of the first block (token embeddings plus
  positions, scaling and embedding norm where the family has them), read and edited with a
  forward pre-hook on block 0, so an edit flows into the whole stack;
* ``<p>.l{i}`` (``i ≥ 1``) — the **residual stream after block i-1** (what the next block
  reads);
* ``<p>.l{i}.attn`` — the **self-attention output** of block i-1, projected back to the
  model width (the output of the attention's output projection: ``o_proj`` / ``out_proj``
  / ``c_proj`` / ``dense`` / ``attention.output.dense``), before it is added to the
  residual (and before a post-attention norm such as Gemma 2/3's);
* ``<p>.l{i}.xattn`` — the **cross-attention output** of decoder block i-1 of an
  encoder–decoder model (``encoder_attn`` / ``EncDecAttention``), same point;
* ``<p>.l{i}.ffn`` — the **MLP neurons** of block i-1: the feed-forward intermediate after
  the non-linearity, i.e. the *input* of the FFN's output projection (``act(gate) * up``
  for gated MLPs such as Llama's, read with a forward pre-hook on ``down_proj``);
* ``<p>.l{i}.mlp`` — for a **mixture-of-experts** block (Mixtral and the like) instead of
  ``.ffn``: the MoE block's output at model width, i.e. the router-weighted *sum* of the
  experts' outputs.

**Layer numbering follows NeuroX** (and ``output_hidden_states``): layer 0 is the
embeddings, layer ``i`` the output of block ``i-1``, so ``lm.l{i}`` is NeuroX's layer ``i``
and transformers' ``hidden_states[i]``, and a NeuroX file written from the ``l{i}`` sites
has the same layer numbers as one NeuroX extracts itself. Blocks are therefore 1-based in
site names (``lm.l1`` = block 0). One quirk stays: several families (Llama, GPT-2, T5 …)
apply their final norm to the *last* entry of ``hidden_states``; ``<p>.l{L}`` is the last
block's raw output, before that norm.

**Why the expert-summed output for MoE**, not per-expert neurons: a token is routed to
``k`` of ``E`` experts (Mixtral: 2 of 8), so an expert's intermediate neuron has no value
for the other ``(E-k)/E`` of the tokens. Storing zeros there would make routing look like
activation (top-activating contexts, correlations and probes would mostly rank *which
tokens reach the expert*, and 75 % of every column would be structural zeros), and there
is no honest per-word value to aggregate. The summed output is defined for every token,
is what the block adds to the residual stream, and an edit of it flows straight into the
model. (transformers 5 also fuses the experts' weights into one module, so an expert's
intermediate is no module boundary a hook could see.)

Rules (each applied to every stack):

* blocks: the shallowest ``ModuleList`` whose items are all of one class and hold
  projections (``nn.Linear`` or GPT-2's ``Conv1D``); the longest when several are equally
  shallow;
* attention modules: the outermost modules of a block whose attribute name contains
  ``attn`` or ``attention`` and that hold projections (norms such as
  ``self_attn_layer_norm`` hold none); cross-attention when the name also says
  ``encoder``/``encdec``/``cross``;
* attention output: the attention module's last projection that maps to the model width
  and is not a query/key/value projection;
* FFN output projection: the block's last projection outside the attention modules that
  maps to the model width (``fc2`` sits directly in OPT/BART blocks, ``output.dense`` in
  BERT's); when there is none (fused experts), the block's largest non-attention child is
  an MoE block and gives ``.mlp``.

A site's tensor may arrive flattened to ``(batch·time, width)`` (OPT flattens before its
FFN); the hooks restore ``(batch, time, width)`` from the block's input (``hf_hooks``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from neurotui.errors import CheckpointError
from neurotui.models.base import ModelKind, Side, SiteInfo

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

Stack = Literal["enc", "dec", "lm"]
#: ``input``: forward pre-hook, the module's first input; ``output``: forward hook
Hook = Literal["input", "output"]
#: what a site is, for descriptions and for callers that treat kinds apart
SiteKind = Literal["emb", "block", "attn", "xattn", "ffn", "mlp"]

_ATTN_NAME = re.compile(r"attn|attention", re.IGNORECASE)
_CROSS_NAME = re.compile(r"encoder|encdec|cross", re.IGNORECASE)
_QKV_NAME = re.compile(r"^(q|k|v|query|key|value)(_proj|_lin)?$|qkv", re.IGNORECASE)
_WHERE = {"enc": "encoder", "dec": "decoder", "lm": "language-model"}


@dataclass(frozen=True)
class SiteSpec:
    """A site, the module that carries it and how it is hooked.

    ``block`` is the block the site belongs to (the hooks read the block input's shape
    from it to undo a flattened ``(batch·time, width)`` tensor); ``path`` is the module's
    name inside the model, for messages and tests.
    """

    info: SiteInfo
    module: nn.Module
    hook: Hook
    stack: Stack
    kind: SiteKind
    block: nn.Module
    path: str = ""


# -- projections -----------------------------------------------------------------------


def is_projection(module: nn.Module) -> bool:
    """``nn.Linear`` or GPT-2's ``Conv1D`` (a linear map with its weight stored ``(in, out)``)."""
    from torch import nn

    if isinstance(module, nn.Linear):
        return True
    weight = getattr(module, "weight", None)
    return type(module).__name__ == "Conv1D" and weight is not None and weight.dim() == 2


def weight_of(module: nn.Module) -> torch.Tensor:
    """``module.weight`` as the tensor it is (``nn.Module.__getattr__`` is typed as returning
    ``Tensor | Module``, which hides that every projection and norm holds a tensor)."""
    return cast("torch.Tensor", module.weight)


def in_features(module: nn.Module) -> int:
    """Input width of a projection (see :func:`is_projection`)."""
    width = getattr(module, "in_features", None)
    if width is not None:
        return int(width)
    return int(weight_of(module).shape[0])  # Conv1D: (in, out)


def out_features(module: nn.Module) -> int:
    """Output width of a projection (see :func:`is_projection`)."""
    width = getattr(module, "out_features", None)
    if width is not None:
        return int(width)
    return int(weight_of(module).shape[1])


def _holds_projection(module: nn.Module) -> bool:
    return any(is_projection(m) for m in module.modules())


# -- blocks ----------------------------------------------------------------------------


def find_blocks(stack: nn.Module) -> list[nn.Module]:
    """The blocks of one transformer stack (see the module docstring's rules)."""
    from torch import nn

    best: tuple[int, int, list[nn.Module]] | None = None
    for name, module in stack.named_modules():
        if not name or not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        items = list(module)
        if len({type(m) for m in items}) != 1 or not _holds_projection(items[0]):
            continue
        key = (name.count("."), -len(items))
        if best is None or key < best[:2]:
            best = (key[0], key[1], items)
    if best is None:
        raise CheckpointError(
            f"cannot find the transformer blocks of {type(stack).__name__}: unsupported model"
        )
    return best[2]


def find_attention(block: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost attention modules of ``block`` as ``(path, module)``, in order."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in block.named_modules():
        if not name or not _ATTN_NAME.search(name.rsplit(".", 1)[-1]):
            continue
        if is_projection(module) or not _holds_projection(module):
            continue  # a norm (``self_attn_layer_norm``) or a bare projection
        if any(name.startswith(outer + ".") for outer, _ in found):
            continue  # inside an attention module already found (GPT-Neo's attn.attention)
        found.append((name, module))
    return found


def is_cross_attention(path: str) -> bool:
    """Whether the attention module at ``path`` attends to the encoder (by its name)."""
    return bool(_CROSS_NAME.search(path.rsplit(".", 1)[-1]))


def attention_output(attention: nn.Module, width: int) -> tuple[str, nn.Module] | None:
    """The output projection of ``attention``: its last non-q/k/v projection to ``width``."""
    last: tuple[str, nn.Module] | None = None
    for name, module in attention.named_modules():
        if not is_projection(module) or out_features(module) != width:
            continue
        if _QKV_NAME.search(name.rsplit(".", 1)[-1]):
            continue
        last = (name, module)
    return last


def _block_width(block: nn.Module) -> int:
    """The model width seen by ``block``: the most common output width of its projections."""
    from collections import Counter

    widths = Counter(out_features(m) for m in block.modules() if is_projection(m))
    return widths.most_common(1)[0][0]


def _ffn_out(block: nn.Module, width: int) -> tuple[str, nn.Module] | None:
    attention = [path for path, _ in find_attention(block)]
    last: tuple[str, nn.Module] | None = None
    for name, module in block.named_modules():
        if not is_projection(module) or out_features(module) != width:
            continue
        if any(name == a or name.startswith(a + ".") for a in attention):
            continue
        last = (name, module)
    return last


def _moe_block(block: nn.Module) -> tuple[str, nn.Module] | None:
    """The largest non-attention child of ``block`` holding parameters (an MoE block)."""
    attention = {path for path, _ in find_attention(block)}
    best: tuple[int, str, nn.Module] | None = None
    for name, child in block.named_children():
        if name in attention or _ATTN_NAME.search(name):
            continue
        size = sum(p.numel() for p in child.parameters())
        if size and (best is None or size > best[0]):
            best = (size, name, child)
    return (best[1], best[2]) if best else None


# -- sites ------------------------------------------------------------------------------


def stacks(model: nn.Module, kind: ModelKind) -> dict[Stack, nn.Module]:
    """The transformer stacks of ``model`` by prefix, in site order."""
    hf: Any = model  # a transformers PreTrainedModel: get_encoder, base_model
    if kind == "seq2seq":
        return {"enc": hf.get_encoder(), "dec": hf.get_decoder()}
    if kind == "lm":
        return {"lm": hf.base_model}
    return {"enc": hf.base_model}


def model_width(model: nn.Module, blocks: list[nn.Module]) -> int:
    """The width of the residual stream (``hidden_size``, else read off the blocks)."""
    value = getattr(model.config, "hidden_size", None)
    if isinstance(value, int) and value > 0:
        return value
    return _block_width(blocks[0])


def _spec(
    prefix: Stack,
    name: str,
    size: int,
    layer: int,
    description: str,
    module: nn.Module,
    hook: Hook,
    kind: SiteKind,
    block: nn.Module,
    path: str,
) -> SiteSpec:
    side: Side = "decoder" if prefix == "dec" else "encoder"
    return SiteSpec(
        SiteInfo(name, size, side, layer, description=description),
        module,
        hook,
        prefix,
        kind,
        block,
        path,
    )


def _block_sites(
    prefix: Stack, layer: int, block: nn.Module, block_path: str, width: int
) -> list[SiteSpec]:
    """Sites of block ``layer - 1`` in the order they are computed: attention(s), MLP, output."""
    where, n = _WHERE[prefix], layer - 1
    base = f"{prefix}.l{layer}"
    specs: list[SiteSpec] = []
    attention = find_attention(block)
    self_attn = [a for a in attention if not is_cross_attention(a[0])][:1]
    cross_attn = [a for a in attention if is_cross_attention(a[0])][:1]
    attn_kinds: tuple[tuple[tuple[str, nn.Module], SiteKind, str], ...] = (
        *((a, "attn", "self-attention") for a in self_attn),
        *((a, "xattn", "cross-attention") for a in cross_attn),
    )
    for (path, module), suffix, what in attn_kinds:
        out = attention_output(module, width)
        if out is None:
            continue
        specs.append(
            _spec(
                prefix,
                f"{base}.{suffix}",
                width,
                layer,
                f"{where} block {n} {what} output (projected, before the residual add)",
                out[1],
                "output",
                suffix,
                block,
                f"{block_path}.{path}.{out[0]}",
            )
        )
    ffn = _ffn_out(block, width)
    if ffn is not None:
        specs.append(
            _spec(
                prefix,
                f"{base}.ffn",
                in_features(ffn[1]),
                layer,
                f"{where} block {n} MLP neurons (feed-forward intermediate after activation)",
                ffn[1],
                "input",
                "ffn",
                block,
                f"{block_path}.{ffn[0]}",
            )
        )
    else:
        moe = _moe_block(block)
        if moe is not None:
            specs.append(
                _spec(
                    prefix,
                    f"{base}.mlp",
                    width,
                    layer,
                    f"{where} block {n} mixture-of-experts output (sum of the routed experts)",
                    moe[1],
                    "output",
                    "mlp",
                    block,
                    f"{block_path}.{moe[0]}",
                )
            )
    specs.append(
        _spec(
            prefix,
            base,
            width,
            layer,
            f"{where} residual stream after block {n} (NeuroX layer {layer})",
            block,
            "output",
            "block",
            block,
            block_path,
        )
    )
    return specs


def _block_path(model: nn.Module, block: nn.Module) -> str:
    for name, module in model.named_modules():
        if module is block:
            return name
    return ""


def discover(model: nn.Module, kind: ModelKind) -> list[SiteSpec]:
    """All sites of ``model`` in their fixed order: per stack, the embeddings (layer 0),
    then per block its attention output(s), MLP and residual output (layers 1…L)."""
    specs: list[SiteSpec] = []
    for prefix, stack in stacks(model, kind).items():
        blocks = find_blocks(stack)
        width = model_width(model, blocks)
        first = _block_path(model, blocks[0])
        specs.append(
            _spec(
                prefix,
                f"{prefix}.l0",
                width,
                0,
                f"{_WHERE[prefix]} embeddings: the input of block 0 (NeuroX layer 0)",
                blocks[0],
                "input",
                "emb",
                blocks[0],
                first,
            )
        )
        for i, block in enumerate(blocks):
            specs.extend(_block_sites(prefix, i + 1, block, _block_path(model, block), width))
    return specs
