"""Forward hooks that read and edit Hugging Face sites, with the rows' context.

Why: an edit function needs to know which word or decoding step each row of a hidden
state is (:class:`EditContext`), but a hook only sees tensors. The backend keeps a
:class:`RunState` describing the batch it is running; the hooks translate positions into
word indices with it.

Decoder positions come from counting: a forward pre-hook on each decoding stack counts the
forwards and positions of the current ``generate`` (:func:`install_tracker`), so with a KV
cache (one new position per forward) every block and FFN hook knows the absolute position
of its single row and the decoding step; without a cache the whole prefix is re-run and
edited again at every step. Either way an edit applies at every step, and the same on
every transformers release (the cache object's own length is not trusted).

Every hook function carries the attribute ``_neurotui`` so :func:`count_hooks` can tell
ours from anyone else's (tests assert the count returns to zero).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from neurotui.errors import NeurotuiError
from neurotui.models.base import EditContext, EditFn
from neurotui.models.hf_sites import SiteSpec

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn
    from torch.utils.hooks import RemovableHandle


@dataclass
class RunState:
    """What the rows of the model's current forward pass are.

    ``src_index[b][t]``: word index of encoder/LM input position ``t`` of batch row ``b``
    (before beam expansion). ``tgt_pad[b][t]``: decoder position ``t`` is padding (teacher
    forcing only). ``offset``/``step`` are set by the stack pre-hook on every forward, from its own count
    of the run's forwards (``forwards``, ``consumed``).
    """

    src_index: list[list[int | None]] = field(default_factory=list)
    src_words: list[list[str]] = field(default_factory=list)
    tgt_words: list[list[str]] | None = None
    tgt_pad: list[list[bool]] | None = None
    generating: bool = False
    cached: bool = True  # generating with the KV cache (one new position per forward)
    forwards: int = 0  # forwards of the decoding stack so far in this run
    consumed: int = 0  # positions the decoding stack has run so far in this run
    offset: int = 0  # position of this forward's first row
    step: int | None = None


def _mark(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn._neurotui = True  # type: ignore[attr-defined]  # a marker on a function object
    return fn


def count_hooks(model: nn.Module) -> int:
    """Number of neurotui hooks attached anywhere in ``model``."""
    total = 0
    for module in model.modules():
        for hooks in (module._forward_hooks, module._forward_pre_hooks):
            total += sum(1 for fn in hooks.values() if getattr(fn, "_neurotui", False))
    return total


def _rows_per_item(rows: int, items: int) -> int:
    """Beam expansion factor (rows = items × beams); 1 when it does not divide."""
    if items and rows % items == 0:
        return rows // items
    return 1


def context(state: RunState, spec: SiteSpec, hidden: torch.Tensor) -> EditContext:
    """The :class:`EditContext` of ``hidden`` at site ``spec`` under ``state``."""
    rows, time = int(hidden.shape[0]), int(hidden.shape[1])
    info = spec.info
    items = len(state.src_index)
    per = _rows_per_item(rows, items)
    word_index: list[list[int | None]] = []
    words: list[list[str]] = []
    if spec.stack == "enc":
        for r in range(rows):
            src = state.src_index[r // per] if items else []
            word_index.append([src[t] if t < len(src) else None for t in range(time)])
            words.append(state.src_words[r // per] if items else [])
        step = None
    elif spec.stack == "dec":
        for r in range(rows):
            pad = state.tgt_pad[r // per] if state.tgt_pad and items else None
            row: list[int | None] = []
            for t in range(time):
                pos = state.offset + t  # consumes target token pos - 1 (the start token at 0)
                is_pad = pad is not None and (pos >= len(pad) or pad[pos])
                row.append(None if is_pad or pos == 0 else pos - 1)
            word_index.append(row)
            tgt = state.tgt_words
            words.append(tgt[r // per] if tgt and items else [])
        step = state.step
    else:  # lm: positions of the (left-padded when generating) prompt, then generated ones
        for r in range(rows):
            src = state.src_index[r // per] if items else []
            word_index.append(
                [
                    src[state.offset + t] if state.offset + t < len(src) else None
                    for t in range(time)
                ]
            )
            words.append(state.src_words[r // per] if items else [])
        step = state.step
    return EditContext(
        site=info.name, side=info.side, word_index=word_index, words=words, step=step
    )


def _checked(fn: EditFn, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
    new: torch.Tensor | None = fn(hidden, ctx)  # a user's edit may return anything
    if new is None or tuple(new.shape) != tuple(hidden.shape):
        shape = None if new is None else tuple(new.shape)
        raise NeurotuiError(
            f"edit of site {ctx.site} returned shape {shape}, expected {tuple(hidden.shape)}"
        )
    return new.to(hidden.dtype)


def _hidden_arg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """The hidden states a module is called with (first positional, else ``hidden_states``)."""
    return args[0] if args else kwargs["hidden_states"]


class _Shape:
    """The ``(rows, time)`` of the block input, recorded by a pre-hook on the block.

    Why: some families flatten a block's tokens before a sub-module (OPT runs its FFN on
    ``(batch·time, width)``); an edit function must still see ``(rows, time, size)``.
    """

    def __init__(self) -> None:
        self.rows_time: tuple[int, int] | None = None

    def record(self, _module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        hidden = _hidden_arg(args, kwargs)
        self.rows_time = (int(hidden.shape[0]), int(hidden.shape[1]))

    def unflatten(self, hidden: torch.Tensor, site: str) -> torch.Tensor:
        """``hidden`` as ``(rows, time, size)``: a 2-D tensor is split by the recorded shape."""
        if hidden.dim() == 3:
            return hidden
        if hidden.dim() == 2 and self.rows_time is not None:
            rows, time = self.rows_time
            if rows * time == hidden.shape[0]:
                return hidden.reshape(rows, time, hidden.shape[1])
        raise NeurotuiError(
            f"site {site}: cannot read a tensor of shape {tuple(hidden.shape)} as "
            "(rows, time, size)"
        )


def _edited(
    fn: EditFn, hidden: torch.Tensor, spec: SiteSpec, state: RunState, shape: _Shape
) -> torch.Tensor:
    """``fn`` applied to ``hidden`` seen as ``(rows, time, size)``, in ``hidden``'s own shape."""
    view = shape.unflatten(hidden, spec.info.name)
    new = _checked(fn, view, context(state, spec, view))
    return new.reshape(hidden.shape)


def install_site(spec: SiteSpec, fn: EditFn, state: RunState) -> list[RemovableHandle]:
    """Hook ``fn`` onto ``spec``: it sees and replaces the site's ``(rows, time, size)``.

    ``output`` sites (block outputs, attention outputs, MoE outputs) are forward hooks on
    their module; ``input`` sites (the embeddings = block 0's input, the FFN neurons = the
    FFN output projection's input) are forward pre-hooks, so the edit is what the module
    computes with. Sites inside a block also get a pre-hook on the block that records its
    input shape (see :class:`_Shape`).
    """
    shape = _Shape()
    handles: list[RemovableHandle] = []
    if spec.kind not in ("emb", "block"):

        def record(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            shape.record(module, args, kwargs)

        handles.append(spec.block.register_forward_pre_hook(_mark(record), with_kwargs=True))
    if spec.hook == "output":

        def output_hook(_module: nn.Module, _args: Any, output: Any) -> Any:
            hidden = output[0] if isinstance(output, tuple) else output
            new = _edited(fn, hidden, spec, state, shape)
            return (new, *output[1:]) if isinstance(output, tuple) else new

        handles.append(spec.module.register_forward_hook(_mark(output_hook)))
        return handles

    def input_hook(
        _module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        new = _edited(fn, _hidden_arg(args, kwargs), spec, state, shape)
        if args:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": new}

    handles.append(spec.module.register_forward_pre_hook(_mark(input_hook), with_kwargs=True))
    return handles


def _input_length(args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """Positions this forward of a stack processes (its input's time length)."""
    ids = kwargs.get("input_ids")
    if ids is None:
        ids = kwargs.get("inputs_embeds")
    if ids is None and args:
        ids = args[0]
    shape = getattr(ids, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) >= 2 else 0


def _stated_offset(kwargs: dict[str, Any]) -> int | None:
    """The first position of this forward, where the call states it (``cache_position``).

    transformers 4.x and early 5.x pass ``cache_position`` to every decoding stack; later
    releases dropped it. The cache object's own length is not used: what it reports before a
    stack runs changed between releases (5.24 reports 0 at every step).
    """
    position = kwargs.get("cache_position")
    if position is None or getattr(position, "numel", lambda: 0)() == 0:
        return None
    return int(position.reshape(-1)[0])


def install_tracker(stack: nn.Module, prefix: str, state: RunState) -> RemovableHandle:
    """Pre-hook on a decoding stack: record the offset and step of each forward.

    Why our own count: during one ``generate`` the stack runs once per step. With the KV
    cache the first forward takes the whole prompt (an LM) or the start token (a decoder)
    and each later one a single new position, so the offset is the number of positions run
    so far; without the cache every forward re-runs the prefix from position 0. Counting
    forwards inside the run that :meth:`HFBackend._running` opened depends on nothing but
    that contract, on every transformers release. Where the call states ``cache_position``
    it must agree with the count (else the hooks would edit the wrong rows silently).
    """

    def track(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        time = _input_length(args, kwargs)
        if not state.generating:
            state.offset, state.step = 0, None
            return
        forward = state.forwards
        state.forwards += 1
        offset = state.consumed if state.cached else 0
        stated = _stated_offset(kwargs)
        if stated is not None and stated != offset:
            raise NeurotuiError(
                f"decoding step tracking lost its place: forward {forward} of {prefix} "
                f"starts at position {stated}, expected {offset}"
            )
        state.offset = offset
        state.consumed = offset + time if state.cached else time
        # the step is only named when this forward's rows are that step alone (one new
        # position); a re-run of the whole prefix covers every step at once
        state.step = forward if time == 1 and (state.cached or forward == 0) else None

    return stack.register_forward_pre_hook(_mark(track), with_kwargs=True)


class Capture:
    """An :data:`EditFn` that records what a site produced and changes nothing."""

    def __init__(self) -> None:
        self.chunks: list[torch.Tensor] = []

    def __call__(self, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        self.chunks.append(hidden.detach().float().cpu())
        return hidden
