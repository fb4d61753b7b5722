"""The app's calls into the layers below (store, analysis, extraction), in one place.

Why an adapter: the widgets should not know which analysis module computes what, and the
analysis and store packages grow while the app is built. Every function here is plain
Python (no Textual), runs inside a worker, and takes a ``JobContext``-like object only for
progress and cancellation. Anything computed here is *display glue* (picking, grouping,
formatting); the numbers themselves come from ``neurotui.store`` / ``neurotui.analysis``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from neurotui.errors import DataError, NeurotuiError, StoreError
from neurotui.tui.messages import CardData, WordStat

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import NeuronStats, Store
    from neurotui.store.ranking import Partner, Ranking
    from neurotui.tui.session import OpenStore

#: histogram bins of the neuron card
HIST_BINS = 24
#: contexts shown on each side of a token in the card
CONTEXT_WORDS = 4
#: a word must occur this often to be a neuron's top/bottom word (one extreme token of a
#: rare word says little)
TOP_WORD_MIN_COUNT = 3


class Progress(Protocol):
    """What services need from a worker context."""

    def progress(self, done: int, total: int, label: str = "", force: bool = False) -> None: ...

    def check(self) -> None: ...


class _NoProgress:
    def progress(self, done: int, total: int, label: str = "", force: bool = False) -> None:
        pass

    def check(self) -> None:
        pass


NO_PROGRESS = _NoProgress()


# -- opening -------------------------------------------------------------------------------


CHECKPOINT_SUFFIXES = (".pt", ".safetensors", ".bin", ".ckpt")


def looks_like_checkpoint(path: Path) -> bool:
    """A model checkpoint (file or model directory) rather than a store."""
    if path.is_dir():
        return any(
            (path / n).exists()
            for n in ("config.json", "model.safetensors", "model.pt", "checkpoint.pt")
        ) or any(p.suffix in CHECKPOINT_SUFFIXES for p in path.iterdir())
    return path.suffix in CHECKPOINT_SUFFIXES


def open_store_path(path: Path, ctx: Progress = NO_PROGRESS, device: str = "auto") -> Store:
    """Open a store file, or extract a store from a checkpoint (with progress)."""
    if not path.exists():
        raise StoreError(f"{path}: no such file or directory")
    if looks_like_checkpoint(path):
        return extract_checkpoint(path, ctx, device)
    import neurotui.store

    try:
        return neurotui.store.open(path)
    except NeurotuiError:
        raise
    except NotImplementedError as exc:
        raise StoreError(f"{path}: {exc}") from None
    except (OSError, ValueError, KeyError) as exc:
        raise StoreError(f"{path}: cannot open as a store ({exc})") from None


def _stage_progress(ctx: Progress, title: str) -> Callable[[str, int, int], None]:
    """The store layer reports ``(stage, done, total)``; raising Cancelled stops it."""

    def progress(stage: str, done: int, total: int) -> None:
        ctx.progress(int(done), int(total), f"{title}: {stage}")
        ctx.check()

    return progress


def bundled_text() -> Path:
    """The bundled analysis text a checkpoint alone is extracted on."""
    from neurotui.paths import samples_dir

    return samples_dir() / "synth-data" / "analysis.en"


def extract_checkpoint(path: Path, ctx: Progress, device: str = "auto") -> Store:
    """Extract a checkpoint's activations on the bundled text (cached), in this worker.

    A bundled sample model reuses its sample store; any other checkpoint is extracted once
    into the cache folder, keyed by the checkpoint's path, size and modification time.
    """
    import hashlib

    import neurotui.store
    from neurotui.paths import cache_dir, samples_dir

    progress = _stage_progress(ctx, f"Extracting {path.name}")
    model_dir = path if path.is_dir() else path.parent
    if model_dir.resolve().parent == samples_dir().resolve():
        from neurotui.store.samples import sample_store

        return neurotui.store.open(sample_store(model_dir.name, progress=progress))
    text = bundled_text()
    if not text.is_file():
        raise NeurotuiError(f"{path}: no bundled text to extract on ({text} is missing)")
    stat = path.stat()
    key = hashlib.sha256(
        f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()[:16]
    out = cache_dir() / "stores" / f"{model_dir.name}-extract-{key}.h5"
    if not out.is_file():
        from neurotui.store.extract import extract

        out.parent.mkdir(parents=True, exist_ok=True)
        extract(path, text, out, side="encoder", device=device, progress=progress)
    return neurotui.store.open(out)


#: the bundled sample models opened without arguments: the first is shown, the others
#: (when bundled) are its cross-model partners
SAMPLE_MODELS = ("synth-en-fr-1", "synth-en-fr-2", "synth-en-fr-3")


def sample_path(name: str, ctx: Progress = NO_PROGRESS) -> Path:
    """The sample store of a bundled model (built on first use, with progress)."""
    from neurotui.store.samples import sample_store

    return Path(sample_store(name, progress=_stage_progress(ctx, f"Sample {name}")))


# -- statistics and the neuron card -------------------------------------------------------


def load_stats(store: Store, ctx: Progress = NO_PROGRESS) -> NeuronStats:
    """The store's per-neuron stats; computed (one pass, with progress) when missing."""
    stats = store.stats
    if stats is not None:
        return stats
    compute = getattr(store, "compute_summary", None)
    if compute is None:
        raise StoreError(f"{store.path}: the store has no statistics")
    total = max(1, store.total_tokens * store.neuron_count)
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        ctx.progress(done[0], total, "statistics")
        ctx.check()

    summary = compute(progress=progress)
    return summary.stats


def colour_range(stats: NeuronStats | None, neuron: int) -> float:
    """Half-width of the colour scale of one neuron: robust (1st/99th percentile) |value|."""
    if stats is None:
        return 0.0
    levels = np.asarray(stats.quantile_levels, dtype=float)
    if levels.size:
        lo = int(np.argmin(np.abs(levels - 0.01)))
        hi = int(np.argmin(np.abs(levels - 0.99)))
        value = max(
            abs(float(stats.quantiles[lo, neuron])), abs(float(stats.quantiles[hi, neuron]))
        )
        if np.isfinite(value) and value > 0:
            return value
    value = max(abs(float(stats.min[neuron])), abs(float(stats.max[neuron])))
    return value if np.isfinite(value) else 0.0


def _context(store: Store, sentence: int, position: int) -> list[str]:
    tokens = store.tokens(sentence)
    lo = max(0, position - CONTEXT_WORDS)
    return tokens[lo : position + CONTEXT_WORDS + 1]


_INDEX_LOCK = threading.Lock()


def corpus_index(opened: OpenStore) -> Any:
    """The analysis layer's word index of a store (built once per store, in a worker)."""
    with _INDEX_LOCK:
        index = getattr(opened, "corpus", None)
        if index is None:
            from neurotui.analysis.corpus_stats import CorpusIndex

            index = CorpusIndex(_LastValues(opened.store))
            opened.corpus = index
        return index


def top_words(opened: OpenStore, neuron: int, k: int = 6) -> list[WordStat]:
    """Words with the highest and lowest mean z-score (with their corpus counts)."""
    index = corpus_index(opened)
    out: list[WordStat] = []
    for sign, bottom in ((1, False), (-1, True)):
        try:
            words = index.signed_words(neuron, k, bottom=bottom, min_count=TOP_WORD_MIN_COUNT)
        except DataError:  # a dead (constant) neuron has no top words
            return []
        out += [WordStat(w.word, w.count, sign, w.score) for w in words]
    return out


def density_from_quantiles(stats: NeuronStats, neuron: int, bins: int = HIST_BINS) -> list[int]:
    """An approximate histogram from the stored quantiles (no read of the neuron's values).

    Why: on a large store one neuron's column is hundreds of megabytes; the summary already
    holds min, max and quantiles, so the CDF through those points gives each bin's mass
    (in ‰) at once. The exact histogram replaces it when the details worker finishes.
    """
    lo, hi = float(stats.min[neuron]), float(stats.max[neuron])
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return [0] * bins
    levels = np.asarray(stats.quantile_levels, dtype=float)
    qs = np.asarray(stats.quantiles[:, neuron], dtype=float)
    keep = np.isfinite(qs)
    xs = np.concatenate([[lo], qs[keep], [hi]])
    ys = np.concatenate([[0.0], levels[keep], [1.0]])
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], np.maximum.accumulate(ys[order])
    edges = np.linspace(lo, hi, bins + 1)
    cdf = np.interp(edges, xs, ys)
    return [int(round(1000 * m)) for m in np.diff(cdf)]


def build_card(
    opened: OpenStore,
    neuron: int,
    stats: NeuronStats | None,
    others: list[OpenStore],
    partner_rankings: list[Ranking],
    ctx: Progress = NO_PROGRESS,
    model: str | Path | None = None,
) -> CardData:
    """The quick part of the card: stored statistics, contexts and partners.

    Reads no activation column when the store has summaries (the histogram is then
    approximated from quantiles until :func:`card_details` delivers the exact one).
    ``model`` (the app's ``--model``) overrides the store's own model for the output side,
    which :func:`card_output` computes later (it may have to load the model).
    """
    store = opened.store
    exact = False
    if stats is not None:
        mean, std = float(stats.mean[neuron]), float(stats.std[neuron])
        vmin, vmax = float(stats.min[neuron]), float(stats.max[neuron])
        hist = density_from_quantiles(stats, neuron)
    else:
        values = store.neuron_values(neuron)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if finite.size else float("nan")
        std = float(finite.std()) if finite.size else float("nan")
        vmin = float(finite.min()) if finite.size else float("nan")
        vmax = float(finite.max()) if finite.size else float("nan")
        hist = exact_histogram(finite, vmin, vmax)
        exact = True
    ctx.check()
    top = store.top_examples(neuron, k=8)
    bottom = store.top_examples(neuron, k=8, bottom=True)
    contexts = {
        (e.sentence, e.position): _context(store, e.sentence, e.position) for e in top + bottom
    }
    ctx.check()
    partners = find_partners(opened, neuron, others, partner_rankings)
    hint = (
        ""
        if partners or not others
        else "compute a cross-model ranking (e.g. maxcorr) to see partners"
    )
    by_name = {o.name: o for o in others}
    partner_names = {
        p.model: by_name[p.model].store.neuron_name(p.neuron)
        for p in partners
        if p.model in by_name
    }
    output_model = card_output_model(opened, neuron, model)
    return CardData(
        output_model=output_model,
        output_pending=output_model is not None,
        store=opened.name,
        neuron=neuron,
        name=store.neuron_name(neuron),
        mean=mean,
        std=std,
        min=vmin,
        max=vmax,
        histogram=hist,
        hist_edges=(vmin, vmax),
        top_words=[],
        top=top,
        bottom=bottom,
        contexts=contexts,
        partners=partners,
        extra={
            "partner_names": partner_names,
            "partner_hint": hint,
            "exact_histogram": exact,
            "words_pending": True,
        },
    )


def exact_histogram(finite: np.ndarray, lo: float, hi: float, bins: int = HIST_BINS) -> list[int]:
    """Counts of ``bins`` equal bins over ``[lo, hi]``."""
    if finite.size == 0 or not hi > lo:
        return [0] * bins
    hist, _ = np.histogram(finite, bins=bins, range=(lo, hi))
    return [int(h) for h in hist]


class _LastValues:
    """A store proxy that remembers the last neuron column read.

    Why: the card's details need one neuron's values three times (histogram, highest and
    lowest words); on a large store each read is a full column stripe, so read it once.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._last: tuple[int, np.ndarray] | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def neuron_values(self, neuron: int | str) -> np.ndarray:
        gid = self._store.neuron_id(neuron)
        with self._lock:
            if self._last is not None and self._last[0] == gid:
                return self._last[1]
        values = self._store.neuron_values(gid)
        with self._lock:
            self._last = (gid, values)
        return values


class CardServer:
    """Card details computed in a child process for large file stores (see
    :class:`neurotui.tui.procjob.ChildServer`): the store and its word index stay open
    there, so each neuron costs one column read — outside the UI's interpreter."""

    def __init__(self, path: str) -> None:
        import neurotui.store
        from neurotui.tui.session import OpenStore

        self.opened = OpenStore.wrap(neurotui.store.open(path))

    def details(self, neuron: int) -> dict[str, Any]:
        """JSON-ready exact histogram and top/bottom words."""
        hist, words = _card_details_here(self.opened, neuron, NO_PROGRESS)
        return {"hist": hist, "words": [[w.word, w.count, w.sign, w.mean] for w in words]}


_SERVERS: dict[str, Any] = {}
_SERVERS_LOCK = threading.Lock()


def close_servers() -> None:
    """Stop the card child processes (the app calls this on exit)."""
    with _SERVERS_LOCK:
        servers = list(_SERVERS.values())
        _SERVERS.clear()
    for server in servers:
        server.close()


def card_details(
    opened: OpenStore, neuron: int, ctx: Progress = NO_PROGRESS
) -> tuple[list[int], list[WordStat]]:
    """The slow part of the card: the exact histogram and the top/bottom words.

    One read of the neuron's column (plus, once per store, the word index) — in a child
    process for large file stores, else in this worker thread.
    """
    store = opened.store
    if _worth_a_process([store]):
        from neurotui.tui.procjob import ChildServer

        key = str(Path(str(store.path)).resolve())
        with _SERVERS_LOCK:
            server = _SERVERS.get(key)
            if server is None:
                server = _SERVERS[key] = ChildServer("neurotui.tui.services:CardServer", [key])
        answer = server.call(ctx, "details", [int(neuron)])  # type: ignore[arg-type]  # two progress protocols until they are one
        words = [WordStat(w, int(c), int(s), float(m)) for w, c, s, m in answer["words"]]
        return [int(h) for h in answer["hist"]], words
    return _card_details_here(opened, neuron, ctx)


def _card_details_here(
    opened: OpenStore, neuron: int, ctx: Progress
) -> tuple[list[int], list[WordStat]]:
    """:func:`card_details` in the calling thread."""
    index = corpus_index(opened)
    ctx.check()
    values = index.store.neuron_values(neuron)
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    hist = exact_histogram(finite, lo, hi)
    ctx.check()
    return hist, top_words(opened, neuron)


def card_output_model(
    opened: OpenStore, neuron: int, override: str | Path | None = None
) -> str | None:
    """The model whose weights give this neuron's promoted tokens, or ``None`` when the
    card has no output side (not an MLP neuron of a causal LM/decoder — LSTM states,
    encoders, residual sites — or no model known). Decided from names: nothing is loaded."""
    from neurotui.analysis.output_side import ffn_site, store_model

    if ffn_site(opened.store.neuron_name(neuron)) is None:
        return None
    return store_model(opened.store, override)


#: promoted and suppressed tokens the card lists
CARD_OUTPUT_K = 8


def card_output(
    opened: OpenStore,
    neuron: int,
    model: str | Path,
    device: str = "auto",
    ctx: Progress = NO_PROGRESS,
    k: int = CARD_OUTPUT_K,
) -> tuple[list[tuple[str, float]], list[tuple[str, float]], str]:
    """The tokens ``neuron`` promotes and suppresses, and a note when there are none.

    Loads ``model`` on first use (once per process; a model the Manipulate mode already
    loaded is borrowed), in this worker. Loading is not cancelled when the cursor moves
    on: the next neuron's card needs the same model, and an abandoned load would start
    over. A model that cannot be loaded or read becomes the note (shown on the card), not
    an error popup for every neuron the cursor passes.
    """
    from neurotui.analysis.output_side import output_side

    title = f"Loading {Path(str(model)).name}"

    def loading(stage: str, done: int, total: int) -> None:
        ctx.progress(int(done), int(total), f"{title}: {stage}")

    try:
        found = output_side(opened.store, neuron, k, model=model, device=device, progress=loading)
    except NeurotuiError as exc:
        return [], [], f"no promoted tokens: {exc}"
    ctx.check()
    if found.effect is None:
        return [], [], found.note
    return found.effect.promoted, found.effect.suppressed, ""


def find_partners(
    opened: OpenStore,
    neuron: int,
    others: list[OpenStore],
    rankings: list[Ranking],
) -> list[Partner]:
    """The best-correlated neuron in each other open store, from the cross-model rankings
    computed so far (``ranking: compute maxcorr`` ranks every open store at once)."""
    found: dict[str, Partner] = {}
    names = {o.name for o in others}
    for ranking in rankings:
        for partner in (ranking.partners or {}).get(neuron, []):
            if partner.model in names:
                found.setdefault(partner.model, partner)
    return [found[k] for k in sorted(found)]


# -- rankings --------------------------------------------------------------------------------


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


def _progress_adapter(ctx: Progress, title: str) -> Callable[..., None]:
    """The analysis layer reports ``(stage, done, total)``; forward and allow cancelling."""

    def progress(*args: Any) -> None:
        if args and isinstance(args[0], str):
            stage, done, total = (list(args) + [0, 0])[:3]
        else:
            done, total = (list(args) + [0, 0])[:2]
            stage = title
        ctx.progress(int(done), int(total), f"{title}: {stage}" if stage != title else title)
        ctx.check()

    return progress


#: store formats a child process can reopen from their path
FILE_FORMATS = ("neurotui", "neurox-hdf5", "neurox-json")
#: activations (bytes) above which a ranking runs in a child process: below, starting a
#: process (imports: seconds) costs more than sharing the GIL for a short computation
PROCESS_BYTES = 256 * 2**20


def _file_backed(store: Store) -> bool:
    path = Path(str(getattr(store, "path", "")))
    return getattr(store, "format", "") in FILE_FORMATS and path.is_file()


def _worth_a_process(stores: list[Store]) -> bool:
    size = sum(4 * s.total_tokens * s.neuron_count for s in stores)
    return size >= PROCESS_BYTES and all(_file_backed(s) for s in stores)


def rank_stores_now(
    stores: Sequence[Store], spec: RankingSpec, device: str, progress: Callable[..., None] | None
) -> list[Ranking]:
    """Rankings of ``stores`` (one for single-store methods; every store for cross-model
    ones, in order) by the analysis layer."""
    if spec.cross_model:
        from neurotui.analysis.crossmodel import rank_stores

        return rank_stores(stores, spec.method, device=device, progress=progress)
    from neurotui.analysis.methods import RankOptions
    from neurotui.analysis.methods import compute_ranking as analysis_rank

    options = RankOptions(task=spec.task, device=device)
    return [analysis_rank(stores[0], spec.method, options, progress=progress)]


def rank_paths(
    paths: list[str], spec: dict[str, Any], device: str, progress: Callable[..., None] | None = None
) -> list[dict[str, Any]]:
    """:func:`rank_stores_now` on stores reopened from their paths, as JSON-ready dicts
    (the child-process side of :func:`compute_ranking`)."""
    import neurotui.store

    stores = [neurotui.store.open(p) for p in paths]
    try:
        rankings = rank_stores_now(stores, RankingSpec(**spec), device, progress)
        return [r.to_dict() for r in rankings]
    finally:
        for store in stores:
            store.close()


def compute_ranking(
    spec: RankingSpec,
    opened: OpenStore,
    others: list[OpenStore],
    ctx: Progress,
    device: str = "auto",
) -> dict[str, Ranking]:
    """Compute one ranking; returns store name → ranking.

    File stores are ranked in a child process (the UI thread keeps the GIL to itself);
    in-memory stores in this worker thread. Cross-model methods rank every open store at
    once, so the result holds a ranking for each of them.
    """
    progress = _progress_adapter(ctx, spec.title)
    group = [opened, *others] if spec.cross_model else [opened]
    stores = [o.store for o in group]
    if _worth_a_process(stores):
        from dataclasses import asdict

        from neurotui.store.ranking import Ranking
        from neurotui.tui.procjob import run_in_process

        found = run_in_process(
            ctx,  # type: ignore[arg-type]  # two progress protocols until they are one
            "neurotui.tui.services:rank_paths",
            ([str(s.path) for s in stores], asdict(spec), device),
            relay=progress,
        )
        rankings = [Ranking.from_dict(d) for d in found]
    else:
        rankings = rank_stores_now(stores, spec, device, progress)
    if spec.cross_model:
        # Partners name models as the analysis layer does; the app names open stores
        # uniquely — map one onto the other so a partner can be jumped to.
        from neurotui.analysis.crossmodel import model_names

        rename = dict(zip(model_names(stores), (o.name for o in group), strict=True))
        for ranking in rankings:
            for partners in (ranking.partners or {}).values():
                for p in partners:
                    p.model = rename.get(p.model, p.model)
    return {o.name: r for o, r in zip(group, rankings, strict=True)}


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


# -- search ----------------------------------------------------------------------------------


def search_word(store: Store, word: str, ctx: Progress = NO_PROGRESS) -> list[tuple[int, int]]:
    """Every (sentence, position) whose token equals ``word`` (case-insensitive)."""
    target = word.strip().lower()
    hits: list[tuple[int, int]] = []
    n = store.sentences
    for i in range(n):
        for j, tok in enumerate(store.tokens(i)):
            if tok.lower() == target:
                hits.append((i, j))
        if i % 256 == 0:
            ctx.progress(i, n, f"searching {word!r}")
            ctx.check()
    return hits
