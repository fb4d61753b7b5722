"""Apply bound interventions through ``Backend.edits`` for exactly one call.

Why through the backend's hooks only: the backend knows where a site's output flows (an
encoder layer feeds the next layer and the attention memory; a decoder site is hit once
per decoding step, KV cache or not), so one ``EditFn`` per site is all an intervention
needs, and the same code serves the LSTMs and the Hugging Face models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from neurotui.intervene.bind import BoundIntervention

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from neurotui.models.base import Backend, EditContext, EditFn, Translation


@dataclass(frozen=True)
class DecodeSettings:
    """Everything that must be equal between an original and a modified run."""

    beam: int = 1
    max_len: int | None = None
    batch_size: int = 64
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DecodeSettings:
        data = data or {}
        return cls(**{k: data[k] for k in ("beam", "max_len", "batch_size", "seed") if k in data})


class HookLeak(RuntimeError):
    """A backend kept hooks attached after an edit block: a bug, never a user error."""


class SiteEdit:
    """The ``EditFn`` of one site: applies its interventions in order to ``hidden``.

    Values and index tensors are moved to the hidden state's device/dtype once and cached.
    """

    def __init__(self, items: Sequence[BoundIntervention]) -> None:
        self.items = list(items)
        self._tensors: dict[tuple[int, Any, Any], tuple[torch.Tensor, torch.Tensor | None]] = {}
        # one generator per resample item, fresh per edit block: a run draws the same rows
        self._generators: dict[int, Any] = {}

    def _prepared(self, k: int, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        import torch

        key = (k, hidden.device, hidden.dtype)
        if key not in self._tensors:
            item = self.items[k]
            index = torch.as_tensor(item.indices, dtype=torch.long, device=hidden.device)
            values = None
            if item.values is not None:
                values = torch.as_tensor(item.values, device=hidden.device).to(hidden.dtype)
            elif item.pool is not None:
                values = torch.as_tensor(item.pool, device=hidden.device).to(hidden.dtype)
            self._tensors[key] = (index, values)
        return self._tensors[key]

    def __call__(self, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        import torch

        out = hidden.clone()
        for k, item in enumerate(self.items):
            index, values = self._prepared(k, hidden)
            current = out.index_select(-1, index)
            if item.op == "zero":
                new = torch.zeros_like(current)
            elif values is None:  # bind gives every set/add/scale its values
                raise AssertionError(f"{item.op} intervention without values")
            elif item.op == "set":
                new = values.expand_as(current)
            elif item.op == "resample":
                new = values[self._draw(k, current.shape[:-1], values.shape[0]).to(values.device)]
            elif item.op == "add":
                new = current + values
            else:  # scale
                new = current * values
            mask = position_mask(item, ctx, hidden)
            if mask is not None:
                new = torch.where(mask.unsqueeze(-1), new, current)
            out.index_copy_(-1, index, new.contiguous())
        return out

    def _draw(self, k: int, shape: torch.Size, rows: int) -> torch.Tensor:
        """Pool row per position, from item ``k``'s seeded CPU generator (device-free)."""
        import torch

        if k not in self._generators:
            self._generators[k] = torch.Generator().manual_seed(int(self.items[k].seed) + k)
        return torch.randint(rows, tuple(shape), generator=self._generators[k])


def position_mask(
    item: BoundIntervention, ctx: EditContext, hidden: torch.Tensor
) -> torch.Tensor | None:
    """``(batch, time)`` bool mask of the rows to change; ``None`` means all of them.

    Encoder sites select source words (every sub-token of a selected word); decoder sites
    select target steps (``ctx.word_index`` holds the target position of each row).
    """
    import torch

    positions = item.positions
    if positions.kind == "all":
        return None
    batch, time = hidden.shape[0], hidden.shape[1]
    rows: list[list[bool]] = []
    for b in range(batch):
        word_index = ctx.word_index[b] if b < len(ctx.word_index) else [None] * time
        if item.side == "decoder":
            chosen: set[int] | None = {i for i in positions.indices if i >= 0}
        else:
            words = ctx.words[b] if b < len(ctx.words) else []
            chosen = positions.select(words)
        if chosen is None:
            rows.append([True] * time)
        else:
            rows.append([wi is not None and wi in chosen for wi in list(word_index)[:time]])
            rows[-1] += [False] * (time - len(rows[-1]))
    return torch.tensor(rows, dtype=torch.bool, device=hidden.device)


def make_edits(bound: Sequence[BoundIntervention]) -> dict[str, EditFn]:
    """``{site: EditFn}`` for ``Backend.edits``: one function per site, items in order."""
    by_site: dict[str, list[BoundIntervention]] = {}
    for item in bound:
        by_site.setdefault(item.site, []).append(item)
    return {site: SiteEdit(items) for site, items in by_site.items()}


@contextmanager
def intervening(backend: Backend, bound: Sequence[BoundIntervention]) -> Iterator[None]:
    """Apply ``bound`` inside the block; hooks are removed on exit, exceptions included.

    After a normal exit the backend's hook count must be back where it was (else
    :class:`HookLeak`): a leaked hook would silently change every later run.
    """
    if not bound:
        yield
        return
    before = backend.active_hook_count()
    with backend.edits(make_edits(bound)):
        yield
    after = backend.active_hook_count()
    if after != before:
        raise HookLeak(f"{backend.name}: {after - before} hook(s) still attached after an edit")


def seeded(seed: int) -> None:
    """Seed torch (and CUDA) so an original and a modified run decode alike."""
    import torch

    torch.manual_seed(seed)


def translate(
    backend: Backend,
    sentences: Sequence[str],
    bound: Sequence[BoundIntervention] = (),
    settings: DecodeSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Translation]:
    """Translate (or continue, for LMs) ``sentences`` with ``bound`` applied for this call."""
    settings = settings or DecodeSettings()
    seeded(settings.seed)
    with intervening(backend, bound):
        return backend.translate(
            list(sentences),
            beam=settings.beam,
            max_len=settings.max_len,
            batch_size=settings.batch_size,
            should_stop=should_stop,
        )


def perplexity(
    backend: Backend,
    sentences: Sequence[str],
    bound: Sequence[BoundIntervention] = (),
    settings: DecodeSettings | None = None,
) -> float:
    """Corpus perplexity of ``sentences`` with ``bound`` applied for this call."""
    settings = settings or DecodeSettings()
    seeded(settings.seed)
    with intervening(backend, bound):
        return float(backend.perplexity(list(sentences), batch_size=settings.batch_size))
