"""One entry point for every ranking method: ``compute_ranking(store, method, …)``.

Why: the CLI (``neurotui rank``), the app's workers and the report all need "a ranking of
this store by that method"; the choice of data to read (a label task, other stores, or
just the store's own statistics) lives here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.analysis.probe import ProbeConfig
from neurotui.analysis.progress import ProgressFn
from neurotui.errors import DataError
from neurotui.store.ranking import CROSS_MODEL_METHODS as CROSS
from neurotui.store.ranking import METHODS, Ranking

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

LABELLED = ("probe", "probeless")
#: methods whose corpus pass runs as a Dask reduction with ``--cluster`` (an exemplar
#: store answers them from its stored corpus-wide statistics, no pass needed)
CLUSTER_METHODS = ("variance", "meandist", "random", *CROSS)


@dataclass
class RankOptions:
    """Everything a method may need; unused fields are ignored by the others."""

    task: str | None = None
    labels: Sequence[Sequence[str] | None] | None = None
    others: Sequence[Store] = ()
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    #: standardise each neuron (train-split mean/σ) before a label method: without it a
    #: probe's L1/L2 penalty favours large-range neurons and its weights rank near-silent
    #: ones first on LLM activations (NeuroX recommends it too); recorded in the ranking
    znorm: bool = True
    search: bool = False
    stride: int = 100
    mass: float = 0.25
    seed: int = 0
    device: str = "auto"
    evaluate: bool = False
    percents: Sequence[float] = (10, 15, 20)
    sites: Sequence[str] | None = None
    #: a ``--cluster`` spec or a ``distributed.Client``: statistics as Dask reductions
    cluster: Any = None


def _neurons_for(store: Store, sites: Sequence[str] | None) -> list[int] | None:
    if not sites:
        return None
    ids: list[int] = []
    by_name = {s.name: s for s in store.sites}
    for name in sites:
        if name not in by_name:
            raise DataError(f"{store.path}: unknown site {name!r}; sites: {', '.join(by_name)}")
        s = by_name[name]
        ids.extend(range(s.offset, s.offset + s.size))
    return ids


def compute_ranking(
    store: Store,
    method: str,
    options: RankOptions | None = None,
    *,
    progress: ProgressFn | None = None,
) -> Ranking:
    """Rank the neurons of ``store`` by ``method`` (see :data:`METHODS`)."""
    opt = options or RankOptions()
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    from neurotui.store.exemplar import is_exemplar, refuse_dense_method

    for s in (store, *opt.others):
        refuse_dense_method(s, method)
    if opt.cluster is not None and method not in CLUSTER_METHODS:
        raise DataError(
            f"--cluster: --method {method} runs in one process for now; "
            f"{', '.join(CLUSTER_METHODS)} run on the cluster (drop --cluster)"
        )
    neurons = _neurons_for(store, opt.sites)
    for s in (store, *opt.others):
        _refuse_empty_sites(s, neurons if s is store else None)
    if method in LABELLED:
        return _labelled(store, method, opt, neurons, progress)
    if method in CROSS:
        from neurotui.analysis import crossmodel

        if not opt.others:
            raise DataError(f"--method {method} compares models: give the others with --others")
        stores = [store, *opt.others]
        if opt.cluster is not None:
            from neurotui.scale.reduce import cluster_cross

            stats = cluster_cross(
                opt.cluster,
                stores,
                within=method in ("linreg", "svcca"),
                neurons=[neurons] * len(stores) if neurons else None,
                progress=progress,
            )
        else:
            stats = crossmodel.accumulate(
                stores,
                within=method in ("linreg", "svcca"),
                neurons=[neurons] * len(stores) if neurons else None,
                device=opt.device,
                progress=progress,
            )
        names = crossmodel.model_names(stores)
        ids = list(range(store.neuron_count)) if neurons is None else neurons
        return crossmodel.cross_ranking(
            stats,
            0,
            method,
            names,
            [store.neuron_name(i) for i in ids],
            neuron_ids=ids,
            model_ids=[neurons] * len(stores) if neurons else None,
        )
    from neurotui.analysis import baselines

    pre = None
    if opt.cluster is not None and method != "random" and not is_exemplar(store):
        from neurotui.scale.reduce import cluster_moments

        pre = cluster_moments(opt.cluster, store, neurons, progress=progress)
    if method == "variance":
        return baselines.variance_ranking(store, neurons, progress=progress, precomputed=pre)
    if method == "meandist":
        return baselines.meandist_ranking(store, neurons, progress=progress, precomputed=pre)
    return baselines.random_ranking(store, opt.seed, neurons)


def _refuse_empty_sites(store: Store, neurons: list[int] | None) -> None:
    """A site with no finite value is refused before any work, from the stored summary
    (stores without one are checked as their values are read)."""
    from neurotui.analysis.checks import check_finite_sites

    stats = getattr(store, "stats", None)
    if stats is None or store.total_tokens == 0:
        return
    cols = np.arange(store.neuron_count) if neurons is None else np.asarray(neurons)
    check_finite_sites(store, cols, np.asarray(stats.count)[cols] > 0)


def _labelled(
    store: Store,
    method: str,
    opt: RankOptions,
    neurons: list[int] | None,
    progress: ProgressFn | None,
) -> Ranking:
    from dataclasses import replace

    from neurotui.analysis.data import load_probe_data

    if opt.labels is None and opt.task is None:
        raise DataError(f"--method {method} needs labels: --task T or --labels FILE")
    data = load_probe_data(
        store, opt.task, opt.labels, neurons=neurons, seed=opt.seed, progress=progress
    )
    if opt.znorm:
        data.zscore()
    if method == "probeless":
        from neurotui.analysis.probeless import probeless_ranking

        ranking = probeless_ranking(data)
        ranking.params = {**ranking.params, "znorm": opt.znorm}
        return ranking
    from neurotui.analysis.linguistic import run_probe

    cfg = replace(opt.probe, seed=opt.seed, device=opt.device)
    extra: dict[str, Any] = {}
    if opt.search:
        from neurotui.analysis.regsearch import regularisation_search

        found = regularisation_search(data, cfg, mass=opt.mass, progress=progress)
        cfg = replace(cfg, l1=found.chosen.l1, l2=found.chosen.l2)
        extra["regularisation"] = found.to_dict()
    analysis = run_probe(data, cfg, stride=opt.stride, progress=progress)
    ranking = analysis.ranking(mass=opt.mass)
    ranking.params = {**ranking.params, "znorm": opt.znorm}
    ranking.evaluation = {**(ranking.evaluation or {}), **extra}
    if opt.evaluate:
        ranking.evaluation.update(evaluate_probe_ranking(analysis, opt.percents, progress=progress))
    return ranking


def evaluate_probe_ranking(
    analysis: Any, percents: Sequence[float], *, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Masking and retraining tables for a probe ranking (its own probe, its own data)."""
    from neurotui.analysis.evaluation import masking_table, retraining_table

    data = analysis.data
    order = [int(data.neurons[i]) for i in analysis.ordering.order]
    cfg = analysis.probe.config
    return {
        "masking": masking_table(analysis.probe, data, order, percents, seed=cfg.seed),
        "retraining": retraining_table(
            data,
            order,
            percents,
            cfg,
            seed=cfg.seed,
            all_accuracy=analysis.accuracy.get("test"),
            progress=progress,
        ),
    }
