"""Bind interventions to one model (and a store for σ units): names → indices, σ → raw.

Why a separate step: validation that needs the model (unknown site, neuron out of range)
and the store (σ units) happens once, before anything runs, with one-line errors; what
comes out (:class:`BoundIntervention`) is fully resolved — per-site indices and raw
values — so it can be applied cheaply on every forward, logged, and replayed without the
store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import NeurotuiError
from neurotui.intervene.spec import ABLATIONS, Intervention, Positions, SpecError, split_name

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.reference import NeuronReference
    from neurotui.models.base import Backend, SiteInfo
    from neurotui.store.api import Store


@dataclass
class BoundIntervention:
    """An intervention on one site with indices and raw per-neuron values resolved."""

    site: str
    side: str  # "encoder" / "decoder"
    indices: list[int]
    op: str
    values: np.ndarray | None  # float32 (len(indices),); None for zero
    positions: Positions
    name: str | None = None
    #: op "resample": ``(rows, len(indices))`` values to draw a row from per position
    pool: np.ndarray | None = None
    seed: int = 0

    def to_intervention(self) -> Intervention:
        """The equivalent raw-unit spec (what the log stores for replay).

        A ``resample`` stays ``resample`` (its pool is not logged; re-binding it needs the
        store again); a ``mean`` was already resolved to ``set``.
        """
        values = None if self.values is None else tuple(float(v) for v in self.values)
        return Intervention(
            neurons=tuple(self.indices),
            op=self.op,
            site=self.site,
            positions=self.positions,
            value=values,
            unit="raw",
            name=self.name,
        )


def bind(
    interventions: Sequence[Intervention],
    backend: Backend,
    store: Store | None = None,
    *,
    sentences: Sequence[str] | None = None,
    reference: NeuronReference | None = None,
    seed: int = 0,
) -> list[BoundIntervention]:
    """Resolve ``interventions`` for ``backend``; σ units read ``store.stats``.

    ``sentences`` (source side), when given, are checked against index positions.
    Ops ``mean`` and ``resample`` read ``reference`` when it covers their neurons (a plan
    carries one, so it replays without the store), else ``store`` (pool drawn with
    ``seed``); ``mean`` binds to the equivalent raw ``set``.
    """
    sites = {info.name: info for info in backend.sites()}
    offsets = backend.neuron_offsets()
    bound: list[BoundIntervention] = []
    for k, iv in enumerate(interventions):
        where = f"intervention {k + 1}" + (f" ({iv.name})" if iv.name else "")
        groups = _group(iv, sites, offsets, where)
        values = iv.value
        for site_name, pairs in groups.items():
            info = sites[site_name]
            indices = [index for _, index in pairs]
            if isinstance(values, tuple):
                raw = np.array([values[pos] for pos, _ in pairs], dtype=np.float64)
            elif values is None:
                raw = None
            else:
                raw = np.full(len(indices), float(values), dtype=np.float64)
            if iv.unit == "sigma" and raw is not None:
                mean, std = _moments(store, site_name, indices, where)
                raw = mean + raw * std if iv.op == "set" else raw * std
            op, pool = iv.op, None
            if op in ("mean", "resample"):
                names = [f"{site_name}:{i}" for i in indices]
                ref = _reference(reference, store, names, seed, op, where)
                cols = ref.columns(names, where)
                if op == "mean":
                    op, raw = "set", ref.means[cols]
                else:
                    pool = np.ascontiguousarray(ref.pool[:, cols], dtype=np.float32)
            if info.side == "decoder" and iv.positions.kind in ("word", "regex", "sentences"):
                raise SpecError(
                    f"{where}: decoder site {site_name} takes positions all or target steps, "
                    f"not {iv.positions.describe()}"
                )
            if info.side == "decoder" and any(i < 0 for i in iv.positions.indices):
                raise SpecError(f"{where}: decoder steps count from 0 (no negative positions)")
            if sentences is not None and info.side == "encoder":
                iv.positions.check(sentences, f"{where} positions")
            bound.append(
                BoundIntervention(
                    site=site_name,
                    side=info.side,
                    indices=indices,
                    op=op,
                    values=None if raw is None or op in ABLATIONS else raw.astype(np.float32),
                    positions=iv.positions,
                    name=iv.name,
                    pool=pool,
                    seed=seed,
                )
            )
    return bound


def _reference(
    reference: NeuronReference | None,
    store: Store | None,
    names: list[str],
    seed: int,
    op: str,
    where: str,
) -> NeuronReference:
    """The reference values for ``names``: the given one, else read from ``store``."""
    if reference is not None and reference.covers(names):
        return reference
    if store is None:
        raise SpecError(f"{where}: op {op} needs a store (--store) for the neurons' values")
    from neurotui.intervene.reference import store_reference

    try:
        return store_reference(store, names, seed=seed)
    except NeurotuiError as exc:
        raise SpecError(f"{where}: {exc}") from None


def _group(
    iv: Intervention, sites: dict[str, SiteInfo], offsets: dict[str, int], where: str
) -> dict[str, list[tuple[int, int]]]:
    """``{site: [(position in iv.neurons, index within site)]}`` in first-seen order."""
    if iv.site is not None and iv.site not in sites:
        raise SpecError(f"{where}: unknown site {iv.site!r}; sites: {', '.join(sites)}")
    total = sum(info.size for info in sites.values())
    ordered = sorted(offsets.items(), key=lambda item: item[1])
    groups: dict[str, list[tuple[int, int]]] = {}
    for pos, ref in enumerate(iv.neurons):
        if isinstance(ref, str):
            site, index = split_name(ref, where)
            if site not in sites:
                raise SpecError(f"{where}: unknown site {site!r} in neuron {ref!r}")
            if iv.site is not None and site != iv.site:
                raise SpecError(f"{where}: neuron {ref!r} is not in site {iv.site}")
        elif iv.site is not None:
            site, index = iv.site, ref
        else:
            if ref >= total:
                raise SpecError(f"{where}: global neuron id {ref} ≥ model size {total}")
            site = next(name for name, start in reversed(ordered) if start <= ref)
            index = ref - offsets[site]
        size = sites[site].size
        if index >= size:
            raise SpecError(f"{where}: neuron {index} out of range for {site} ({size} neurons)")
        groups.setdefault(site, []).append((pos, index))
    return groups


def _moments(
    store: Store | None, site: str, indices: list[int], where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of ``site``'s ``indices`` over the store (float64)."""
    if store is None:
        raise SpecError(f"{where}: unit sigma needs a store (--store) for the neurons' mean/std")
    stats = store.stats
    if stats is None:
        raise SpecError(
            f"{store.path}: the store has no per-neuron statistics (unit sigma needs them)"
        )
    offset = store_offset(store, site, where)
    cols = np.asarray(indices, dtype=np.int64) + offset
    return (
        np.asarray(stats.mean, dtype=np.float64)[cols],
        np.asarray(stats.std, dtype=np.float64)[cols],
    )


def store_offset(store: Store, site: str, where: str = "store") -> int:
    """The store column of ``site``'s neuron 0; a one-line error when it is not stored."""
    for s in store.sites:
        if s.name == site:
            return s.offset
    raise SpecError(
        f"{where}: site {site} is not in store {store.path} (stored: {', '.join(store.layer_names)})"
    )


def store_names(store: Store, ids: Iterable[int]) -> list[str]:
    """Store global ids (e.g. a ranking's order) → readable names ``site:index``.

    Names survive the store/model mismatch: a store may hold a subset of the model's
    sites in another column order, but site names are shared. The store resolves them
    (:meth:`~neurotui.store.api.Store.neuron_name`): one resolver for the whole package.
    """
    return [store.neuron_name(int(gid)) for gid in ids]


def bound_to_json(bound: Sequence[BoundIntervention]) -> list[dict[str, Any]]:
    """The resolved interventions as raw-unit spec objects (store-free, replayable)."""
    return [b.to_intervention().to_dict() for b in bound]
