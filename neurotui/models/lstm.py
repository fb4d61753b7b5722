"""LSTM building blocks shared by the encoder–decoder and the language model.

Why per-layer modules: every layer output is a *site* that can be read and edited, so each
layer is its own ``nn.LSTM``/``nn.LSTMCell`` followed by a :class:`SiteTap` (an identity
module that exists only to carry forward hooks). Editing a tap changes what everything
downstream of the layer sees — later layers, the attention memory, the output layer — but
not the layer's own recurrence (cuDNN-style ``nn.LSTM`` runs a whole sequence in one call,
so the same rule is kept for the step-wise decoder, for one consistent semantics).

:class:`TapBackend` holds the hook plumbing both backends share: installing edit hooks,
capturing activations, and building the :class:`EditContext` each hook receives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from neurotui.models.base import EditContext, EditFn, SiteInfo

#: (word_index, words, step) for the rows of the current forward pass
ContextParts = tuple[list[list[int | None]], list[list[str]], int | None]


class SiteTap(nn.Module):
    """Identity module: the place where neurotui hooks read and edit a site."""

    def __init__(self, site: str) -> None:
        super().__init__()
        self.site = site

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return f"site={self.site!r}"


def run_packed(
    lstm: nn.LSTM,
    x: torch.Tensor,
    lengths: torch.Tensor | None,
    state: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Run ``lstm`` over right-padded ``x`` so padding never enters a real state."""
    if lengths is None:
        return lstm(x, state)
    total = x.size(1)
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, final = lstm(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=total)
    return out, final


class BiLSTMLayer(nn.Module):
    """One bidirectional encoder layer; sites ``<prefix>.fw`` and ``<prefix>.bw``."""

    def __init__(self, input_size: int, hidden: int, prefix: str) -> None:
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(input_size, hidden, batch_first=True, bidirectional=True)
        self.fw = SiteTap(f"{prefix}.fw")
        self.bw = SiteTap(f"{prefix}.bw")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, _ = run_packed(self.lstm, x, lengths)
        h = self.hidden
        return torch.cat([self.fw(out[..., :h]), self.bw(out[..., h:])], dim=-1)


class UniLSTMLayer(nn.Module):
    """One unidirectional layer (language model); works on whole sequences or one step."""

    def __init__(self, input_size: int, hidden: int, site: str) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden, batch_first=True)
        self.tap = SiteTap(site)

    def forward(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor | None = None,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        out, final = run_packed(self.lstm, x, lengths, state)
        return self.tap(out), final


class CellLayer(nn.Module):
    """One decoder layer advanced one step at a time (input feeding needs steps)."""

    def __init__(self, input_size: int, hidden: int, site: str) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(input_size, hidden)
        self.tap = SiteTap(site)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Returns the (possibly edited) output ``(N, H)`` and the raw recurrent state."""
        h, c = self.cell(x, state)
        return self.tap(h.unsqueeze(1)).squeeze(1), (h, c)


class LuongAttention(nn.Module):
    """Luong "general" attention: ``score(h_t, m_s) = h_t · W_a m_s``."""

    def __init__(self, query_size: int, memory_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(query_size, memory_size, bias=False)

    def forward(
        self, query: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``query (N, Hq)``, ``memory (N, S, Hm)``, ``mask (N, S)`` → context, weights."""
        scores = torch.bmm(memory, self.proj(query).unsqueeze(2)).squeeze(2)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        return context, weights


def select_state(state: Any, index: torch.Tensor) -> Any:
    """Pick batch rows ``index`` from every tensor of a nested decoding state."""
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    if isinstance(state, dict):
        return {k: select_state(v, index) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(select_state(v, index) for v in state)
    return state


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class TapBackend:
    """Hook plumbing for models whose sites are :class:`SiteTap` modules.

    Subclasses set ``self.model`` and call :meth:`_init_taps` once. While a forward pass
    runs, the backend publishes a *context builder* per site group ("enc", "dec", "lm")
    with :meth:`_context`; hooks call it lazily, so nothing is built when no edit is
    active.
    """

    model: nn.Module

    if TYPE_CHECKING:  # provided by the Backend this mixes into

        def sites(self) -> list[SiteInfo]: ...

    def _init_taps(self, group_of: Callable[[str], str]) -> None:
        self._taps: dict[str, SiteTap] = {
            m.site: m for m in self.model.modules() if isinstance(m, SiteTap)
        }
        self._group_of = {name: group_of(name) for name in self._taps}
        self._builders: dict[str, Callable[[], ContextParts]] = {}
        self._infos: dict[str, SiteInfo] = {}

    # -- contexts ------------------------------------------------------------------
    @contextmanager
    def _context(self, group: str, build: Callable[[], ContextParts]) -> Iterator[None]:
        """Publish how to describe the rows of group ``group`` for the enclosed forward."""
        cache: list[ContextParts] = []

        def cached() -> ContextParts:
            if not cache:
                cache.append(build())
            return cache[0]

        previous = self._builders.get(group)
        self._builders[group] = cached
        try:
            yield
        finally:
            if previous is None:
                self._builders.pop(group, None)
            else:
                self._builders[group] = previous

    def _edit_context(self, site: str) -> EditContext:
        if not self._infos:
            self._infos = {info.name: info for info in self.sites()}
        info = self._infos[site]
        builder = self._builders.get(self._group_of[site])
        word_index, words, step = builder() if builder else ([], [], None)
        return EditContext(site=site, side=info.side, word_index=word_index, words=words, step=step)

    # -- hooks ---------------------------------------------------------------------
    def _install_edits(self, edits: dict[str, EditFn]) -> list[torch.utils.hooks.RemovableHandle]:
        handles = []
        try:
            for site, fn in edits.items():
                handles.append(self._taps[site].register_forward_hook(self._edit_hook(site, fn)))
        except BaseException:
            for handle in handles:
                handle.remove()
            raise
        return handles

    def _edit_hook(self, site: str, fn: EditFn) -> Callable[..., torch.Tensor]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
            new = fn(output, self._edit_context(site))
            if new is None:
                return output
            if new.shape != output.shape:
                from neurotui.errors import NeurotuiError

                raise NeurotuiError(
                    f"edit of site {site} returned shape {tuple(new.shape)}, "
                    f"expected {tuple(output.shape)}"
                )
            return new

        hook.neurotui_hook = True  # type: ignore[attr-defined]  # a marker on a function object
        return hook

    def active_hook_count(self) -> int:
        """Neurotui hooks (edits and captures) attached to the model right now."""
        return sum(
            1
            for module in self.model.modules()
            for fn in module._forward_hooks.values()
            if getattr(fn, "neurotui_hook", False)
        )

    @contextmanager
    def _capture(self, sites: Sequence[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
        """Record every output of ``sites`` (after any edits) for the enclosed block."""
        records: dict[str, list[torch.Tensor]] = {site: [] for site in sites}
        handles = []

        def make(site: str) -> Callable[..., None]:
            def hook(module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
                records[site].append(output.detach())

            hook.neurotui_hook = True  # type: ignore[attr-defined]  # a marker on a function object
            return hook

        try:
            for site in sites:
                handles.append(self._taps[site].register_forward_hook(make(site)))
            yield records
        finally:
            for handle in handles:
                handle.remove()


def source_context(words: list[list[str]], total: int) -> ContextParts:
    """Encoder rows: word ``t`` at position ``t``; ``</s>`` and padding are ``None``."""
    index: list[list[int | None]] = [
        [t if t < len(ws) else None for t in range(total)] for ws in words
    ]
    return index, words, None
