"""The neuron card: its quick part (stored statistics, contexts, partners), its slow part
(one column read: exact histogram, top/bottom words; in a child server for large stores)
and its output side (the tokens an MLP neuron promotes, from the model's weights)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.errors import DataError, NeurotuiError
from neurotui.progress import NO_JOB, JobContext, titled
from neurotui.store.exemplar import layout_version
from neurotui.tui.messages import CardData, WordStat
from neurotui.tui.services.placement import worth_a_process

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Example, NeuronStats, Store
    from neurotui.store.ranking import Partner, Ranking
    from neurotui.tui.procjob import ChildServers
    from neurotui.tui.session import OpenStore

#: histogram bins of the neuron card
HIST_BINS = 24
#: contexts shown on each side of a token in the card
CONTEXT_WORDS = 4
#: a word must occur this often to be a neuron's top/bottom word (one extreme token of a
#: rare word says little)
TOP_WORD_MIN_COUNT = 3


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


def exemplar_card_contexts(
    store: Store, neuron: int, k: int = 8
) -> tuple[list[Example], list[Example], dict[tuple[int, int], list[str]], dict[str, Any]]:
    """Top/bottom contexts of an exemplar store's neuron, from its own windows.

    Why not the summary's rows: an exemplar store keeps every neuron's rows only for the
    sampled sentences; a context elsewhere has just this neuron's values over a window.
    Returns ``(top, bottom, contexts, extra)``: a context in a stored sentence keeps its
    store index (Enter shows it); one that is not stored gets ``−1 − corpus id`` (unique,
    never a store index) and ``extra["window_only"]`` lists it, so the card says so.
    ``extra["context_values"]`` holds the neuron's value for every shown token and
    ``extra["context_start"]`` the first shown token's position.
    """
    from neurotui.store.api import Example
    from neurotui.store.exemplar import exemplar_contexts

    contexts: dict[tuple[int, int], list[str]] = {}
    values: dict[tuple[int, int], list[float]] = {}
    starts: dict[tuple[int, int], int] = {}
    outside: list[tuple[int, int]] = []
    sides: list[list[Example]] = []
    for bottom in (False, True):
        examples = []
        for w in exemplar_contexts(store, neuron, k, bottom=bottom):
            s = w.sentence if w.sentence is not None else -1 - w.corpus_sentence
            lo, hi = max(0, w.at - CONTEXT_WORDS), w.at + CONTEXT_WORDS + 1
            key = (s, w.position)
            contexts[key] = w.tokens[lo:hi]
            values[key] = [float(v) for v in w.values[lo:hi]]
            starts[key] = w.start + lo
            if w.sentence is None:
                outside.append(key)
            examples.append(Example(s, w.position, w.value))
        sides.append(examples)
    extra = {
        "context_values": values,
        "context_start": starts,
        "window_only": outside,
        "window_note": f"◦ window of {store.neuron_name(neuron)} only (sentence not stored)",
    }
    return sides[0], sides[1], contexts, extra


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
    ctx: JobContext = NO_JOB,
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
    windows: dict[str, Any] = {}
    if layout_version(store) >= 2:
        top, bottom, contexts, windows = exemplar_card_contexts(store, neuron)
    else:
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
            **windows,
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
        hist, words = _card_details_here(self.opened, neuron, NO_JOB)
        return {"hist": hist, "words": [[w.word, w.count, w.sign, w.mean] for w in words]}


def card_details(
    opened: OpenStore,
    neuron: int,
    ctx: JobContext = NO_JOB,
    servers: ChildServers | None = None,
) -> tuple[list[int], list[WordStat]]:
    """The slow part of the card: the exact histogram and the top/bottom words.

    One read of the neuron's column (plus, once per store, the word index) — in a child
    server of ``servers`` (the job runner's) for large file stores, else in this worker
    thread.
    """
    store = opened.store
    if servers is not None and worth_a_process([store]):
        key = str(Path(str(store.path)).resolve())
        server = servers.get(key, "neurotui.tui.services.cards:CardServer", [key])
        answer = server.call(ctx, "details", [int(neuron)])
        words = [WordStat(w, int(c), int(s), float(m)) for w, c, s, m in answer["words"]]
        return [int(h) for h in answer["hist"]], words
    return _card_details_here(opened, neuron, ctx)


def _card_details_here(
    opened: OpenStore, neuron: int, ctx: JobContext
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
    ctx: JobContext = NO_JOB,
    k: int = CARD_OUTPUT_K,
    dtype: str = "auto",
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

    try:
        found = output_side(
            opened.store,
            neuron,
            k,
            model=model,
            device=device,
            dtype=dtype,
            progress=titled(ctx, title),
        )
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
