"""Finding the hook sites of a Hugging Face model.

Why a module of its own: HF families name the same parts differently (``layers`` /
``block`` / ``h`` / ``encoder.layer``; ``fc2`` / ``mlp.c_proj`` / ``DenseReluDense.wo`` /
``output.dense``). This module turns any supported model into one list of sites:

* ``<p>.l{i}`` — the output of block ``i`` (what the next block reads);
* ``<p>.l{i}.ffn`` — the feed-forward intermediate of block ``i``: the activations after
  the non-linearity, i.e. the *input* of the FFN's output projection (read and edited
  with a forward pre-hook on that projection).

The prefix ``<p>`` is ``enc`` for encoder stacks (encoder–decoder models and BERT-style
encoders), ``dec`` for the decoder of an encoder–decoder model, and ``lm`` for the blocks
of a decoder-only causal LM (GPT-2 style). LM sites read the *input sentence's* words, so
they have side ``"encoder"`` in :class:`SiteInfo` terms (rows are words of the text that
was given, selectable by word); the generated continuation's positions have no word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from neurotui.errors import CheckpointError
from neurotui.models.base import ModelKind, SiteInfo

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

#: names of the ModuleList holding the blocks, by family
_BLOCK_LISTS = ("layers", "layer", "block", "h")
#: relative paths (inside a block) of the FFN's output projection, by family
_FFN_OUT_PATHS = (
    "fc2",  # Marian, BART, OPT, M2M100, Pegasus
    "mlp.c_proj",  # GPT-2, GPT-Neo
    "mlp.down_proj",  # Llama-style
    "mlp.fc2",
    "output.dense",  # BERT, RoBERTa, ELECTRA (BertOutput)
    "ffn.lin2",  # DistilBERT
)
_FFN_OUT_SUFFIXES = (".DenseReluDense.wo",)  # T5 (layer index differs by stack)

Stack = Literal["enc", "dec", "lm"]


@dataclass(frozen=True)
class SiteSpec:
    """A site and the module that carries it."""

    info: SiteInfo
    module: nn.Module
    hook: Literal["block", "ffn"]  # forward hook on a block / pre-hook on the FFN output
    stack: Stack


def find_blocks(stack: nn.Module) -> list[nn.Module]:
    """The blocks of one transformer stack (the shortest-named ModuleList of blocks)."""
    from torch import nn

    best: tuple[int, list[nn.Module]] | None = None
    for name, module in stack.named_modules():
        if not name or not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if name.split(".")[-1] not in _BLOCK_LISTS:
            continue
        depth = name.count(".")
        if best is None or depth < best[0]:
            best = (depth, list(module))
    if best is None:
        raise CheckpointError(
            f"cannot find the transformer blocks of {type(stack).__name__}: unsupported model"
        )
    return best[1]


def find_ffn_out(block: nn.Module) -> nn.Module | None:
    """The FFN output projection of ``block`` (its input is the FFN intermediate)."""
    modules = dict(block.named_modules())
    for path in _FFN_OUT_PATHS:
        if path in modules:
            return modules[path]
    for name, module in modules.items():
        if any(("." + name).endswith(suffix) for suffix in _FFN_OUT_SUFFIXES):
            return module
    return None


def _in_features(module: nn.Module) -> int | None:
    if hasattr(module, "in_features"):
        return int(module.in_features)
    weight = getattr(module, "weight", None)  # GPT-2's Conv1D stores (in, out)
    if weight is not None and weight.dim() == 2:
        return int(weight.shape[0])
    return None


def _config_ffn_size(config: Any, stack: Stack) -> int | None:
    names = {
        "enc": ("encoder_ffn_dim", "d_ff", "intermediate_size", "ffn_dim", "hidden_dim"),
        "dec": ("decoder_ffn_dim", "d_ff", "intermediate_size", "ffn_dim"),
        "lm": ("n_inner", "intermediate_size", "ffn_dim", "d_ff"),
    }[stack]
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    if stack == "lm" and getattr(config, "model_type", "") == "gpt2":
        return 4 * int(config.n_embd)  # GPT-2: n_inner=None means 4·n_embd
    return None


def stacks(model: nn.Module, kind: ModelKind) -> dict[Stack, nn.Module]:
    """The transformer stacks of ``model`` by prefix, in site order."""
    if kind == "seq2seq":
        return {"enc": model.get_encoder(), "dec": model.get_decoder()}
    if kind == "lm":
        return {"lm": model.base_model}
    return {"enc": model.base_model}


def discover(model: nn.Module, kind: ModelKind) -> list[SiteSpec]:
    """All sites of ``model`` in their fixed order: per stack, per layer, block then FFN."""
    config = model.config
    hidden = int(config.hidden_size)
    specs: list[SiteSpec] = []
    for prefix, stack in stacks(model, kind).items():
        side = "decoder" if prefix == "dec" else "encoder"
        where = {"enc": "encoder", "dec": "decoder", "lm": "language-model"}[prefix]
        for i, block in enumerate(find_blocks(stack)):
            specs.append(
                SiteSpec(
                    SiteInfo(
                        f"{prefix}.l{i}",
                        hidden,
                        side,
                        i,
                        description=f"{where} block {i} output",
                    ),
                    block,
                    "block",
                    prefix,
                )
            )
            ffn = find_ffn_out(block)
            if ffn is None:
                continue
            size = _config_ffn_size(config, prefix) or _in_features(ffn)
            actual = _in_features(ffn)
            if actual is not None and size != actual:
                size = actual  # e.g. a config field that means something else here
            specs.append(
                SiteSpec(
                    SiteInfo(
                        f"{prefix}.l{i}.ffn",
                        int(size or 0),
                        side,
                        i,
                        description=f"{where} block {i} feed-forward intermediate (after activation)",
                    ),
                    ffn,
                    "ffn",
                    prefix,
                )
            )
    return specs
