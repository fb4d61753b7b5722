"""Whole intervention runs as the CLI (and scripts) use them: defaults, data, logging.

Why a module between the commands and the core: ``neurotui translate --clamp``,
``neurotui ablate``, ``neurotui control`` and ``neurotui replay`` share the same defaults
for bundled models (the sample store, the card's held-out set, the synthetic splits), the
same store handling and the same logging; the command modules stay argparse + printing.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import DataError, NeurotuiError
from neurotui.intervene.apply import DecodeSettings
from neurotui.progress import ProgressFn
from neurotui.store.ranking import CROSS_MODEL_METHODS
from neurotui.textfiles import read_lines

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.data.synthetic import Example
    from neurotui.intervene.bind import BoundIntervention
    from neurotui.intervene.compare import Comparison
    from neurotui.intervene.control import ClampProfile, ControlRequest, ControlResult
    from neurotui.intervene.realtext import RealText
    from neurotui.intervene.spec import Intervention, Positions
    from neurotui.models.base import Backend, Translation
    from neurotui.store.api import Store
    from neurotui.store.ranking import Ranking


# -- stores -----------------------------------------------------------------------------
def default_store_path(backend: Backend) -> Path | None:
    """The bundled sample store of a bundled model (``None`` for other models)."""
    try:
        from neurotui.store.samples import sample_store
    except ImportError:  # the store helper's sample module is not there
        return None
    try:
        path = sample_store(backend.name)
    except NeurotuiError:
        return None
    return Path(path)


def open_store(
    path: str | Path | None, backend: Backend, *, required: bool, why: str
) -> Store | None:
    """``path`` or the bundled model's sample store; a one-line error when required and absent."""
    import neurotui.store

    if path is None:
        found = default_store_path(backend)
        if found is None:
            if required:
                raise NeurotuiError(f"{why} needs an activation store: give --store S")
            return None
        path = found
    return neurotui.store.open(path)


# -- translate with interventions ---------------------------------------------------------
@dataclass
class IntervenedRun:
    """One ``translate --intervene`` run: what was asked, resolved and produced."""

    spec: list[Intervention]
    bound: list[BoundIntervention]
    comparisons: list[Comparison]
    settings: DecodeSettings
    record: dict[str, Any]
    log_path: Path | None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: settings, resolved interventions, per-sentence pairs."""
        return {
            "model": self.record["model"],
            "settings": self.settings.to_dict(),
            "interventions": self.record["interventions"],
            "changed": sum(c.changed for c in self.comparisons),
            "translations": [c.to_dict() for c in self.comparisons],
            "log": str(self.log_path) if self.log_path else None,
        }

    def render(self) -> str:
        """Plain text: the interventions, then original and modified with changes marked."""
        from neurotui.intervene.compare import render

        lines = [f"intervention: {b.to_intervention().describe()}" for b in self.bound]
        lines.append(render(self.comparisons))
        if self.log_path:
            lines.append(f"logged to {self.log_path}")
        return "\n".join(lines)


def log_translation(
    backend: Backend,
    spec: Sequence[Intervention],
    bound: Sequence[BoundIntervention],
    comparisons: Sequence[Comparison],
    settings: DecodeSettings,
    *,
    log_path: str | Path | None = None,
    name: str | None = None,
    app: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Path]:
    """Append the replayable ``translate`` record of a run to the run log (``neurotui replay
    LOG`` re-runs it); ``name`` and ``app`` (where in the app it was made) ride along."""
    from neurotui.intervene import log as runlog
    from neurotui.intervene.replay import translate_record

    record = translate_record(backend, spec, bound, comparisons, settings)
    if name:
        record["name"] = name
    if app is not None:
        record["app"] = app
    return record, runlog.append(record, log_path)


def intervened_translation(
    backend: Backend,
    sources: Sequence[str],
    spec: Sequence[Intervention],
    *,
    store: Store | None,
    settings: DecodeSettings,
    log_path: str | Path | None = None,
    log: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> IntervenedRun:
    """Bind ``spec``, translate without and with it, log the run."""
    from neurotui.intervene.bind import bind
    from neurotui.intervene.compare import compare
    from neurotui.intervene.replay import translate_record

    if not sources:
        raise DataError("nothing to translate")
    bound = bind(spec, backend, store, sentences=sources)
    comparisons = compare(backend, sources, bound, settings, should_stop)
    if log:
        record, written = log_translation(
            backend, spec, bound, comparisons, settings, log_path=log_path
        )
    else:
        record, written = translate_record(backend, spec, bound, comparisons, settings), None
    return IntervenedRun(list(spec), bound, comparisons, settings, record, written)


# -- one step of interactive manipulation --------------------------------------------------
@dataclass
class ManipulationStep:
    """One manipulation request's answer: the cursor sentence first, then the others."""

    comparisons: list[Comparison]
    #: ``spec`` bound on the cursor sentence (what is described and logged)
    bound: list[BoundIntervention]
    #: every source's unmodified translation (the caller caches them for the next step)
    originals: list[Translation]
    #: sentence BLEU of the modified cursor sentence against ``reference``
    bleu: float | None
    log_path: Path | None

    @property
    def description(self) -> str:
        """The resolved interventions in one line."""
        return "; ".join(b.to_intervention().describe() for b in self.bound)


def manipulation_step(
    backend: Backend,
    spec: Sequence[Intervention],
    sources: Sequence[str],
    *,
    store: Store | None,
    wide: Sequence[Intervention] | None = None,
    originals: Sequence[Translation | None] | None = None,
    reference: str | None = None,
    log: bool = False,
    log_path: str | Path | None = None,
    name: str | None = None,
    app: dict[str, Any] | None = None,
    mask_token: int | None = None,
    settings: DecodeSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ManipulationStep:
    """Apply ``spec`` to ``sources[0]`` (and ``wide``, default ``spec``, to every source),
    compare with the unmodified outputs, score BLEU, optionally log — the Manipulate mode's
    one request, on the runner's thread.

    ``originals``: unmodified translations already at hand (``None`` where missing; only
    the missing ones are translated). An encoder (``backend.kind == "encoder"``) answers
    with its top fills of the word at ``mask_token`` on ``sources[0]``, original vs
    modified (nothing cached, scored or logged: the fills depend on the cursor word).
    ``log`` appends the replayable record of the cursor sentence (see
    :func:`log_translation`).
    """
    from neurotui.intervene.apply import translate
    from neurotui.intervene.bind import bind
    from neurotui.intervene.compare import compare

    if not sources:
        raise DataError("nothing to translate")
    settings = settings or DecodeSettings()
    bound = bind(spec, backend, store, sentences=sources[:1])
    if backend.kind == "encoder":
        saved = getattr(backend, "mask_word", None)
        backend.mask_word = mask_token  # type: ignore[attr-defined]  # encoders only
        try:
            comparison = compare(backend, sources[:1], bound, settings, should_stop)[0]
        finally:
            backend.mask_word = saved  # type: ignore[attr-defined]
        return ManipulationStep([comparison], bound, [comparison.original], None, None)
    known: list[Translation | None] = (
        list(originals) if originals is not None else [None] * len(sources)
    )
    missing = [k for k, t in enumerate(known) if t is None]
    if missing:
        fresh = translate(backend, [sources[k] for k in missing], (), settings, should_stop)
        for k, translation in zip(missing, fresh, strict=True):
            known[k] = translation
    done = [t for t in known if t is not None]
    bound_all = bound
    if len(sources) > 1 and wide is not None:
        bound_all = bind(wide, backend, store, sentences=sources)
    comparisons = compare(backend, sources, bound_all, settings, should_stop, original=done)
    bleu = None
    if reference is not None:
        import sacrebleu

        bleu = float(sacrebleu.sentence_bleu(comparisons[0].modified.text, [reference]).score)
    written = None
    if log:
        _, written = log_translation(
            backend, spec, bound, comparisons[:1], settings, log_path=log_path, name=name, app=app
        )
    return ManipulationStep(comparisons, bound, done, bleu, written)


def run_translate_flags(args: Any, backend: Backend, sources: Sequence[str]) -> IntervenedRun:
    """``neurotui translate``'s intervention flags (see :mod:`neurotui.intervene.flags`)."""
    from neurotui.intervene.flags import interventions_from_args, needs_store

    spec = interventions_from_args(args)
    store = open_store(
        getattr(args, "store", None),
        backend,
        required=needs_store(spec),
        why="a σ value (--clamp …σ or unit sigma)",
    )
    settings = DecodeSettings(beam=args.beam, max_len=args.max_len, batch_size=args.batch_size)
    try:
        return intervened_translation(
            backend,
            sources,
            spec,
            store=store,
            settings=settings,
            log_path=getattr(args, "log", None),
            log=not getattr(args, "no_log", False),
        )
    finally:
        if store is not None:
            store.close()


# -- test sets ----------------------------------------------------------------------------
def heldout(backend: Backend) -> tuple[list[str], list[str] | None, str]:
    """The model card's held-out sources and references (LMs: text, no references)."""
    from neurotui.models.registry import heldout_files, read_card

    path = getattr(backend, "path", None)
    card = read_card(path) if path else None
    files = heldout_files(path, card) if path else {}
    if backend.kind == "lm" and "text" in files:
        return read_lines(files["text"]), None, str(files["text"])
    if "src" in files and "ref" in files:
        return read_lines(files["src"]), read_lines(files["ref"]), str(files["src"])
    raise NeurotuiError(
        f"model {backend.name} has no held-out set in its card: give --src and --ref"
    )


# -- rankings -----------------------------------------------------------------------------
def load_ranking(
    spec: str | None, store: Store | None, *, task: str | None = None
) -> tuple[Ranking, str]:
    """A ranking by name in the store, or from a JSON file; ``None`` picks a default.

    Default: a saved ranking of ``task`` when given, else the first saved ranking.
    """
    from neurotui.store.ranking import Ranking

    saved = dict(store.rankings) if store is not None else {}
    if spec is not None:
        if spec in saved:
            return saved[spec], spec
        path = Path(spec)
        if path.is_file():
            try:
                return Ranking.from_json(path.read_text(encoding="utf-8")), path.name
            except (ValueError, TypeError, KeyError) as exc:
                raise DataError(f"{path}: not a ranking JSON file ({exc})") from None
        names = ", ".join(saved) or "none"
        raise NeurotuiError(
            f"--ranking {spec}: no such file or ranking in the store (saved: {names})"
        )
    if task is not None:
        for name, ranking in saved.items():
            if ranking.task == task:
                return ranking, name
        raise NeurotuiError(f"no saved ranking for task {task!r} in the store")
    if saved:
        name = next(iter(saved))
        return saved[name], name
    raise NeurotuiError("the store holds no ranking: give --ranking R (a name or a JSON file)")


def probe_ranking(store: Store, task: str, *, seed: int = 0) -> Ranking:
    """The analysis package's elastic-net probe on ``task`` (z-scored activations), as a
    Ranking with per-class orderings; used when the store has no saved ranking for it."""
    from neurotui.analysis.data import load_probe_data
    from neurotui.analysis.linguistic import run_probe
    from neurotui.analysis.probe import ProbeConfig

    data = load_probe_data(store, task, seed=seed).zscore()
    return run_probe(data, ProbeConfig(seed=seed)).ranking()


def task_ranking(
    store: Store, task: str, spec: str | None, *, seed: int = 0
) -> tuple[Ranking, str]:
    """``--ranking`` when given; else a saved ranking for ``task``; else a fresh probe."""
    if spec is not None:
        return load_ranking(spec, store)
    try:
        return load_ranking(None, store, task=task)
    except NeurotuiError:
        return probe_ranking(store, task, seed=seed), f"probe:{task}"


def sibling_models(backend: Backend) -> list[str]:
    """Bundled models trained alike (``synth-en-fr-1`` → ``synth-en-fr-2``, ``-3``)."""
    from neurotui.models.registry import bundled_names
    from neurotui.paths import samples_dir

    stem, sep, tail = backend.name.rpartition("-")
    if not sep or not tail.isdigit():
        return []
    names = set(bundled_names()) | {
        p.name for p in samples_dir().glob(f"{stem}-*") if (p / "config.json").is_file()
    }
    return sorted(
        n
        for n in names
        if n != backend.name and n.rpartition("-")[0] == stem and n.rpartition("-")[2].isdigit()
    )


def cross_model_ranking(store: Store, others: Sequence[str], method: str) -> Ranking:
    """Rank ``store``'s neurons by ``method`` against the sample stores of ``others``."""
    import neurotui.store
    from neurotui.analysis.crossmodel import rank_stores
    from neurotui.store.samples import sample_store

    opened = [neurotui.store.open(sample_store(name)) for name in others]
    try:
        return rank_stores([store, *opened], method)[0]
    finally:
        for s in opened:
            s.close()


def ablation_ranking(
    backend: Backend,
    store: Store | None,
    *,
    ranking: str | None = None,
    method: str | None = None,
    against: Sequence[str] | None = None,
    task: str | None = None,
    seed: int = 0,
) -> tuple[Ranking, str]:
    """The ranking an ablation curve uses, with a name for the record.

    ``ranking`` (a saved name or a JSON file) wins; then ``method`` (a cross-model method
    against ``against`` or the bundled siblings, or ``probe`` on ``task``); then a ranking
    saved in the store; then MaxCorr against the bundled siblings (Bau et al.'s setting);
    then the probe on the first label task.
    """
    if ranking is not None:
        return load_ranking(ranking, store)
    if store is None:
        raise NeurotuiError("an ablation curve needs --ranking R or a store (--store S)")
    if method is None and store.rankings:
        return load_ranking(None, store)
    others = list(against) if against else sibling_models(backend)
    if method in CROSS_MODEL_METHODS or (method is None and others):
        method = method or "maxcorr"
        if not others:
            raise NeurotuiError(f"--method {method} needs other models: give --against M2,M3")
        return cross_model_ranking(store, others, method), f"{method} vs {','.join(others)}"
    if method not in (None, "probe"):
        raise NeurotuiError(
            f"--method {method!r}: use one of {', '.join(CROSS_MODEL_METHODS)} or probe"
        )
    tasks = [t for t in store.label_tasks if t != "position"]
    task = task or ("pos" if "pos" in tasks else (tasks[0] if tasks else None))
    if task is None:
        raise NeurotuiError("the store has no labels and no ranking: give --ranking R")
    return probe_ranking(store, task, seed=seed), f"probe:{task}"


# -- synthetic data for control experiments ---------------------------------------------
SYNTH_SEED = 0


def synthetic_splits(seed: int = SYNTH_SEED) -> dict[str, list[Example]]:
    """The held-out synthetic splits (dev, test, analysis) the sample models use."""
    from neurotui.data.synthetic import make_splits

    splits = make_splits(seed, train_size=0)
    return {k: v for k, v in splits.items() if not k.startswith("train")}


def store_examples(store: Store, splits: dict[str, list[Example]]) -> list[Example] | None:
    """The synthetic examples behind ``store``'s sentences, when they line up."""
    for examples in splits.values():
        if len(examples) == store.sentences and all(
            examples[i].src.split() == store.tokens(i)
            for i in (0, store.sentences // 2, store.sentences - 1)
        ):
            return examples
    return None


# -- control experiments ----------------------------------------------------------------
def require_translation_model(backend: Backend) -> None:
    """Control experiments clamp encoder neurons and read translations: seq2seq only."""
    if backend.kind != "seq2seq":
        raise NeurotuiError(
            f"control experiments need a translation model ({backend.name} is {backend.kind})"
        )


def steer_default(backend: Backend) -> list[str]:
    """The steering sites by default: every encoder site. Why all layers: on synth-en-fr-1
    the top layer alone (the memory the decoder attends to) flipped tense → present in
    0-5 % of dev sentences at any usable strength, both layers in 62 % (α = 8, property
    positions, BLEU kept; --limit 60)."""
    encoder = [s.name for s in backend.sites() if s.side == "encoder"]
    if not encoder:
        raise NeurotuiError(f"{backend.name} has no encoder sites to steer")
    return encoder


def steer_columns(backend: Backend, store: Store, sites: Sequence[str] | None) -> list[int]:
    """Store ids of every neuron of the steering ``sites`` (one-line error for a site that
    is unknown, on the decoder side, or not in the store)."""
    from neurotui.intervene.bind import store_offset

    known = {s.name: s for s in backend.sites()}
    chosen = list(sites) if sites else steer_default(backend)
    ids: list[int] = []
    for site in chosen:
        info = known.get(site)
        if info is None:
            raise NeurotuiError(f"--steer-sites: unknown site {site!r}; sites: {', '.join(known)}")
        if info.side != "encoder":
            raise NeurotuiError(f"--steer-sites: {site} is a decoder site (steer source words)")
        offset = store_offset(store, site, "--steer-sites")
        ids.extend(range(offset, offset + info.size))
    return ids


@dataclass
class ControlPlan:
    """A control experiment ready for ``run_control``, with the ranking it was built from.

    Why the ranking rides along: callers reuse it for the task's other target classes
    (the CLI's ``--task all``) or keep it for the next run (the app), and show its name.
    """

    request: ControlRequest
    ranking: Ranking
    ranking_name: str

    @property
    def clamp_means(self) -> str:
        """Where the class means came from (property positions or the task's labels)."""
        return self.request.profile.source


def control_request(
    backend: Backend,
    store: Store,
    task: str,
    target: str,
    *,
    real: RealText | None,
    ns: Sequence[int],
    strengths: Sequence[float],
    mode: str,
    scopes: Sequence[str],
    limit: int | None = None,
    min_bleu: float | None = None,
    ranking: tuple[Ranking, str] | None = None,
    ranking_spec: str | None = None,
    seed: int = 0,
    splits: dict[str, list[Example]] | None = None,
    progress: ProgressFn | None = None,
    steer_sites: Sequence[str] | None = None,
) -> ControlPlan:
    """Build the control experiment ``task`` → ``target`` the CLI and the app both run.

    The neurons: ``ranking`` when given (one already at hand), else :func:`task_ranking`
    (``ranking_spec``, a saved ranking for ``task``, or a fresh probe with ``seed``); the
    first ``max(ns)`` encoder neurons for ``target``. ``real`` (a real-text model's tagged
    sets, :func:`neurotui.intervene.realtext.realtext_data`) takes the cases and labels
    from the card's files; ``None`` uses the synthetic grammar (``splits``, default
    :func:`synthetic_splits`). ``limit``: at most this many dev and test cases each.
    ``mode="steer"`` takes every neuron of ``steer_sites`` (default :func:`steer_default`)
    instead of the ranking's top, and ``ns`` becomes that count: the steering vector is
    the whole site's class-mean difference.
    """
    from neurotui.intervene.control import (
        ControlRequest,
        clamp_profile,
        control_cases,
        ranked_neurons,
    )

    def say(message: str) -> None:
        if progress is not None:
            progress(message, 0, 0)

    # real text: tense/number labels derived from the store's POS tags (a no-op on a
    # store already wrapped)
    labelled = real.wrap(store) if real is not None else store
    encoder = [s.name for s in backend.sites() if s.side == "encoder"]
    if mode == "steer":  # no ranking: the direction spans every neuron of the sites
        from neurotui.store.ranking import Ranking

        chosen = list(steer_sites) if steer_sites else steer_default(backend)
        ids = steer_columns(backend, labelled, chosen)
        ns = [len(ids)]
        found = Ranking(method="steering", order=ids)
        ranking_name = f"steering vector at {','.join(chosen)}"
    else:
        if ranking is None:
            say(f"ranking neurons for {task}")
            ranking = task_ranking(labelled, task, ranking_spec, seed=seed)
        found, ranking_name = ranking
        ids = ranked_neurons(found, target, labelled, encoder)[: max(ns)]
    say("clamp values")
    if not ids:
        raise NeurotuiError(f"ranking {ranking_name} has no encoder neurons of {backend.name}")
    if real is not None:  # real text: cases from the card's tagged sets
        profile = clamp_profile(labelled, ids, task, target, prop=task)
        search = real.cases("dev", task, target)
        tests = real.cases("test", task, target)
        fields = real.request_fields()
    else:  # the synthetic grammar: exact cases and flipped translations
        splits = splits if splits is not None else synthetic_splits()
        behind = store_examples(store, splits)
        profile = clamp_profile(store, ids, task, target, store_examples=behind, prop=task)
        search = control_cases(splits["dev"], task, target)
        tests = control_cases(splits["test"], task, target)
        fields = {}
    if limit:
        search, tests = search[:limit], tests[:limit]
    request = ControlRequest(
        prop=task,
        target=target,
        profile=profile,
        search_cases=search,
        test_cases=tests,
        ns=list(ns),
        strengths=list(strengths),
        mode=mode,
        scopes=list(scopes),
        min_bleu=min_bleu,
        ranking=ranking_name,
        **fields,
    )
    return ControlPlan(request, found, ranking_name)


@dataclass
class ControlRun:
    """One logged control run: the plan it ran, its result and where it was logged."""

    plan: ControlPlan
    result: ControlResult
    log_path: Path | None = None
    #: why the run could not be logged (only with ``keep_log_errors``)
    log_error: str | None = None

    @property
    def method(self) -> str:
        """``steer`` (a steering vector) or ``clamp`` (neurons set to values)."""
        return "steer" if self.plan.request.mode == "steer" else "clamp"

    def to_dict(self) -> dict[str, Any]:
        """The result document of ``neurotui control --json`` (one run)."""
        doc = self.result.to_dict()
        doc.update(
            {
                "method": self.method,
                "ranking": self.plan.ranking_name,
                "clamp_means": self.plan.clamp_means,
                "log": str(self.log_path) if self.log_path else None,
            }
        )
        return doc


def control_run(
    backend: Backend,
    store: Store,
    task: str,
    target: str,
    *,
    settings: DecodeSettings,
    examples: int | None,
    log: bool = True,
    log_path: str | Path | None = None,
    keep_log_errors: bool = False,
    app: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_bleu_drop: float | None = None,
    **request: Any,
) -> ControlRun:
    """Build the control experiment (:func:`control_request`, given ``request``'s keywords),
    run it and append its replayable record to the run log — the ``neurotui control``
    command and the Control mode both run exactly this.

    ``examples``: test sentences kept in the result (and the log); ``None``: every one
    (the app browses them). ``keep_log_errors``:
    a log that cannot be written does not fail the run (the app says so beside the result);
    else the one-line error is raised. ``app`` marks records written from the app.
    """
    from neurotui.intervene import log as runlog
    from neurotui.intervene.control import run_control
    from neurotui.intervene.replay import control_record

    plan = control_request(backend, store, task, target, progress=progress, **request)
    if max_bleu_drop is not None:  # choose among points within this many BLEU of no edit
        plan.request.max_bleu_drop = max_bleu_drop
    if examples is None:
        examples = len(plan.request.test_cases)
    result = run_control(
        backend,
        plan.request,
        settings=settings,
        should_stop=should_stop,
        progress=progress,
        examples=examples,
    )
    run = ControlRun(plan, result)
    if not log:
        return run
    record = control_record(backend, plan.request, settings, result, examples)
    if app is not None:
        record["app"] = app
    try:
        run.log_path = runlog.append(record, log_path)
    except NeurotuiError as exc:
        if not keep_log_errors:
            raise
        run.log_error = str(exc)
    return run


# -- activation patching ------------------------------------------------------------------
def flipped_sentence(store: Store, sentence: int, prop: str = "tense") -> str | None:
    """The store's ``sentence`` with ``prop`` flipped to its next class (a corrupted input
    for activation patching), when the store's sentences are the synthetic grammar's
    examples; ``None`` otherwise (real text: the user types one)."""
    from neurotui.data.synthetic import PROP_VALUES, flip

    examples = store_examples(store, synthetic_splits())
    if examples is None or not 0 <= sentence < len(examples):
        return None
    example = examples[sentence]
    value = example.props.get(prop)
    values = PROP_VALUES[prop]
    if value not in values:
        return None
    for k in range(1, len(values)):
        try:
            return flip(example, prop, values[(values.index(value) + k) % len(values)]).src
        except DataError:
            continue
    return None


# -- steering vectors outside a control experiment ----------------------------------------
def steering_profile(
    backend: Backend,
    store: Store,
    task: str,
    target: str,
    *,
    sites: Sequence[str] | None = None,
    real: RealText | None = None,
    splits: dict[str, list[Example]] | None = None,
) -> ClampProfile:
    """The class means behind a steering vector for ``task`` → ``target``: every neuron of
    ``sites`` (default :func:`steer_default`), means at the property's positions when the
    store's sentences are synthetic examples, else over the task's labelled tokens — the
    profile :func:`control_request` builds for ``mode="steer"``."""
    from neurotui.intervene.control import clamp_profile

    labelled = real.wrap(store) if real is not None else store
    ids = steer_columns(backend, labelled, sites)
    if real is not None:
        return clamp_profile(labelled, ids, task, target, prop=task)
    splits = splits if splits is not None else synthetic_splits()
    behind = store_examples(store, splits)
    return clamp_profile(store, ids, task, target, store_examples=behind, prop=task)


def steering_intervention(
    profile: ClampProfile, strength: float, positions: Positions | None = None
) -> Intervention:
    """Add ``strength`` × (μ_target − μ_other) to every neuron of ``profile`` at
    ``positions`` (default all) — ``control --mode steer``'s intervention
    (:func:`neurotui.intervene.control.clamp_interventions`), for any sentence."""
    from neurotui.intervene.spec import Intervention as Spec
    from neurotui.intervene.spec import Positions as Where

    n = len(profile.names)
    values = profile.values(n, "steer", strength)
    return Spec(
        neurons=tuple(profile.names),
        op="add",
        positions=positions if positions is not None else Where.all(),
        value=tuple(float(v) for v in values),
        name=f"steer n={n} steer {strength:g}",
    )


def property_positions_of(
    store: Store,
    sentence: int,
    prop: str,
    splits: dict[str, list[Example]] | None = None,
) -> list[int] | None:
    """The word positions expressing ``prop`` in the store's ``sentence`` (the control
    experiments' ``property`` scope), when the store's sentences are the synthetic
    grammar's examples; ``None`` otherwise."""
    from neurotui.data.synthetic import property_positions

    examples = store_examples(store, splits if splits is not None else synthetic_splits())
    if examples is None or not 0 <= sentence < len(examples):
        return None
    return list(property_positions(examples[sentence], prop))
