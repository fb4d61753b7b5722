"""Rankings in the app: which can be computed for a store, and one job that computes a
ranking and saves it into the store(s) it ranks.

Why compute and save in one job: on a large store both are corpus-scale (the ranking
streams the activations; saving rewrites the file atomically, a copy renamed over the
original), so both run in the child process (:mod:`.placement` decides), and the UI
thread only receives the finished rankings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import NeurotuiError, StoreError
from neurotui.progress import JobContext, ProgressFn, titled
from neurotui.tui.procjob import ProcessJob
from neurotui.tui.services.placement import worth_a_process

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store
    from neurotui.store.ranking import Ranking
    from neurotui.tui.session import OpenStore
    from neurotui.tui.workers import Job


@dataclass(frozen=True)
class RankingSpec:
    """A ranking the app can compute: saved under ``key`` in the store."""

    key: str
    method: str
    task: str | None
    title: str
    cross_model: bool = False


def saved_rankings(store: Store) -> dict[str, Ranking]:
    """The rankings saved in a store (an unreadable one becomes an error line, not a crash)."""
    try:
        return dict(store.rankings)
    except NeurotuiError:
        raise
    except Exception as exc:
        raise StoreError(f"{store.path}: cannot read rankings ({exc})") from None


def ranking_specs(opened: OpenStore, others: list[OpenStore]) -> list[RankingSpec]:
    """Rankings that can be computed for this store (the analysis layer's methods)."""
    from neurotui.analysis.methods import CROSS, LABELLED, METHODS

    try:
        tasks = list(opened.store.label_tasks)
    except Exception:
        tasks = []
    specs: list[RankingSpec] = []
    for name in METHODS:
        if name in LABELLED:
            specs += [RankingSpec(f"{name}/{t}", name, t, f"{name} · {t}") for t in tasks]
        elif name in CROSS:
            if others:
                specs.append(
                    RankingSpec(
                        name,
                        name,
                        None,
                        f"{name} (vs {len(others)} model{'s' if len(others) > 1 else ''})",
                        True,
                    )
                )
        else:
            specs.append(RankingSpec(name, name, None, name))
    return specs


@dataclass
class RankingOutcome:
    """What a ranking job produced: store name → ranking, and the save notes."""

    rankings: dict[str, Ranking]
    #: store name → whether its ranking was written into its file
    saved: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def on_cluster(spec: RankingSpec, cluster: Any) -> bool:
    """Whether ``spec`` runs as Dask reductions on ``cluster`` (the app's ``--cluster``):
    the single-store corpus-statistics methods do; cross-model and labelled methods stay
    in one process here (the CLI's ``rank --others … --cluster`` runs cross-model ones)."""
    from neurotui.analysis.methods import CLUSTER_METHODS

    return cluster is not None and not spec.cross_model and spec.method in CLUSTER_METHODS


def rank_stores_now(
    stores: Sequence[Store],
    spec: RankingSpec,
    device: str,
    progress: ProgressFn | None,
    cluster: Any = None,
) -> list[Ranking]:
    """Rankings of ``stores`` (one for single-store methods; every store for cross-model
    ones, in order) by the analysis layer."""
    if spec.cross_model:
        from neurotui.analysis.crossmodel import rank_stores

        return rank_stores(stores, spec.method, device=device, progress=progress)
    from neurotui.analysis.methods import RankOptions
    from neurotui.analysis.methods import compute_ranking as analysis_rank

    options = RankOptions(
        task=spec.task, device=device, cluster=cluster if on_cluster(spec, cluster) else None
    )
    return [analysis_rank(stores[0], spec.method, options, progress=progress)]


def _save_all(
    stores: Sequence[Store], key: str, rankings: list[Ranking]
) -> tuple[list[bool], list[str]]:
    saved, notes = [], []
    for store, ranking in zip(stores, rankings, strict=True):
        ok, note = save_ranking(store, key, ranking)
        saved.append(ok)
        notes.append(note)
    return saved, notes


def rank_and_save_paths(
    paths: list[str], spec: dict[str, Any], device: str, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """The child-process side of :func:`ranking_job`: reopen the stores from their paths,
    rank, save, answer in JSON (rankings as dicts, save flags, notes)."""
    import neurotui.store

    stores = [neurotui.store.open(p) for p in paths]
    try:
        rankings = rank_stores_now(stores, RankingSpec(**spec), device, progress)
    finally:
        for store in stores:
            store.close()
    # saved once the stores are closed: an edit replaces the file
    saved, notes = _save_all(stores, spec["key"], rankings)
    return {"rankings": [r.to_dict() for r in rankings], "saved": saved, "notes": notes}


def ranking_job(
    spec: RankingSpec,
    opened: OpenStore,
    others: list[OpenStore],
    device: str = "auto",
    cluster: Any = None,
) -> Job[RankingOutcome]:
    """The job that computes ranking ``spec`` and saves it: on the Dask cluster when the
    app has one and the method runs there (:func:`on_cluster`; the worker thread only
    waits on it and relays its progress), in a child process for large file stores
    (:func:`.placement.worth_a_process`), else on the worker thread.

    Cross-model methods rank every open store at once, so the outcome holds a ranking for
    each of them (partners renamed to the app's store names).
    """
    group = [opened, *others] if spec.cross_model else [opened]
    stores = [o.store for o in group]

    def outcome(rankings: list[Ranking], saved: list[bool], notes: list[str]) -> RankingOutcome:
        if spec.cross_model:
            # Partners name models as the analysis layer does; the app names open stores
            # uniquely — map one onto the other so a partner can be jumped to.
            from neurotui.analysis.crossmodel import model_names

            rename = dict(zip(model_names(stores), (o.name for o in group), strict=True))
            for ranking in rankings:
                for partners in (ranking.partners or {}).values():
                    for p in partners:
                        p.model = rename.get(p.model, p.model)
        names = [o.name for o in group]
        return RankingOutcome(
            dict(zip(names, rankings, strict=True)), dict(zip(names, saved, strict=True)), notes
        )

    if worth_a_process(stores) and not on_cluster(spec, cluster):

        def finish(answer: dict[str, Any], ctx: JobContext) -> RankingOutcome:
            from neurotui.store.ranking import Ranking

            found = [Ranking.from_dict(d) for d in answer["rankings"]]
            return outcome(found, [bool(s) for s in answer["saved"]], list(answer["notes"]))

        return ProcessJob(
            "neurotui.tui.services.rankings:rank_and_save_paths",
            ([str(s.path) for s in stores], asdict(spec), device),
            finish=finish,
            stage=spec.title,
        )

    def here(ctx: JobContext) -> RankingOutcome:
        rankings = rank_stores_now(stores, spec, device, titled(ctx, spec.title), cluster)
        saved, notes = _save_all(stores, spec.key, rankings)
        return outcome(rankings, saved, notes)

    return here


def save_ranking(store: Store, key: str, ranking: Ranking) -> tuple[bool, str]:
    """Save a ranking into the store; returns (saved, a line saying where/why not).

    Our HDF5 stores are edited atomically by the store layer (a copy renamed over the
    original); memory stores keep it for the session; NeuroX files cannot hold rankings.
    """
    saver = getattr(store, "add_ranking", None)
    if getattr(store, "format", "") == "neurotui":
        from neurotui.store.edit import save_ranking as save_in_file

        def saver(name: str, value: Ranking) -> None:
            save_in_file(store.path, name, value)

    if saver is None:
        return (
            False,
            f"{Path(str(store.path)).name}: a {store.format} file cannot hold rankings (kept for this session)",
        )
    try:
        saver(key, ranking)
    except NeurotuiError as exc:
        return False, str(exc)
    except OSError as exc:
        return False, f"{store.path}: cannot save ranking ({exc.strerror or exc})"
    return True, f"saved ranking {key} in {Path(str(store.path)).name}"
