"""Activation patching: copy a clean run's activations into a corrupted run and score.

Why: an ablation says a neuron matters; patching says *where* the information that makes
the clean output likely lives. Run the clean input, record a site's activations, run the
corrupted input with some of them (chosen neurons, a whole site, one source position)
replaced by the clean ones, and measure how much of the clean output's log-probability
comes back (Meng et al. 2022, "causal tracing"; Vig et al. 2020). A sweep over sites ×
source positions is the causal-tracing map.

Scored output: ``log p(clean output | corrupted input, patched)`` — for a translation model
the clean source's greedy translation, teacher-forced; for a language model the clean
prompt's greedy continuation after the corrupted prompt (``Backend.target_scores``). The
*restored* share is ``(patched − corrupted) / (clean − corrupted)``: 0 = no effect, 1 = the
clean score is fully back.

Alignment: positions are **word indices**. Clean and corrupted sentences of different
length are aligned word by word from the start; only positions that exist in both are
patched (the sweep covers ``min(len)`` words). A word that is several sub-word pieces
takes the clean word's pieces in order (the last one repeated when the corrupted word has
more). Special rows (``</s>``, BOS) are paired in order and patched only by whole-site
patches. Decoder positions are target steps, identical in both runs (both score the same
target).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import NeurotuiError
from neurotui.progress import ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from neurotui.models.base import Backend, EditContext


class PatchError(NeurotuiError):
    """A patch request that cannot run (one line naming the flag or value)."""


@dataclass(frozen=True)
class Patch:
    """Copy clean activations of ``site`` into the corrupted run.

    ``neurons``: indices within the site (``None``: all). ``position``: a word index of
    the source (encoder and LM sites) or a target step (decoder sites); ``None``: every
    position, special rows included.
    """

    site: str
    neurons: tuple[int, ...] | None = None
    position: int | None = None

    def describe(self) -> str:
        what = "all" if self.neurons is None else ",".join(str(n) for n in self.neurons[:6])
        where = "all" if self.position is None else str(self.position)
        return f"{self.site}[{what}] @ {where}"


# -- recording and patching hooks ---------------------------------------------------------
class _Recorder:
    """An ``EditFn`` that keeps every call's hidden state and row context (clean run)."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, list[list[int | None]]]] = []

    def __call__(self, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        self.calls.append((hidden.detach().clone(), [list(r) for r in ctx.word_index]))
        return hidden


def row_pairs(
    corrupt: Sequence[int | None], clean: Sequence[int | None], position: int | None
) -> list[tuple[int, int]]:
    """``(corrupted row, clean row)`` pairs to copy for one batch row (see module doc)."""
    clean_rows: dict[int | None, list[int]] = {}
    for t, w in enumerate(clean):
        clean_rows.setdefault(w, []).append(t)
    seen: dict[int | None, int] = {}
    pairs = []
    for t, w in enumerate(corrupt):
        rank = seen.get(w, 0)
        seen[w] = rank + 1
        if position is not None and w != position:
            continue
        rows = clean_rows.get(w)
        if not rows:
            continue
        if w is None and rank >= len(rows):
            continue  # an extra special/padding row has no clean partner
        pairs.append((t, rows[min(rank, len(rows) - 1)]))
    return pairs


class _Patcher:
    """An ``EditFn`` for one site: batch row ``b`` gets ``rows[b]`` (patches of this site)
    from the clean run's calls, matched call by call."""

    def __init__(self, clean: _Recorder, rows: Sequence[Sequence[Patch]]) -> None:
        self.clean = clean
        self.rows = [list(r) for r in rows]
        self.call = 0

    def __call__(self, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        import torch

        k = self.call
        self.call += 1
        if k >= len(self.clean.calls):
            raise PatchError(
                f"site {ctx.site}: the corrupted run reached it more often than the clean run"
            )
        source, clean_index = self.clean.calls[k]
        source = source.to(hidden.device, hidden.dtype)
        out = hidden.clone()
        for b, patches in enumerate(self.rows[: hidden.shape[0]]):
            for patch in patches:
                pairs = row_pairs(
                    ctx.word_index[b][: hidden.shape[1]], clean_index[0], patch.position
                )
                pairs = [(t, c) for t, c in pairs if c < source.shape[1]]
                if not pairs:
                    continue
                dst = torch.tensor([t for t, _ in pairs], device=hidden.device)
                src = torch.tensor([c for _, c in pairs], device=hidden.device)
                rows = source[0].index_select(0, src)
                if patch.neurons is None:
                    out[b, dst] = rows
                else:
                    cols = torch.tensor(patch.neurons, device=hidden.device)
                    block = out[b, dst]
                    block[:, cols] = rows[:, cols]
                    out[b, dst] = block
        return out


# -- results ------------------------------------------------------------------------------
@dataclass
class PatchScores:
    """Clean and corrupted baselines of one pair, and the target they score."""

    clean: str
    corrupt: str
    target: str
    clean_logprob: float
    corrupt_logprob: float

    def restored(self, logprob: float) -> float | None:
        """Share of the clean score a patched run recovers (``None`` when clean ≈ corrupt)."""
        gap = self.clean_logprob - self.corrupt_logprob
        if abs(gap) < 1e-6:
            return None
        return (logprob - self.corrupt_logprob) / gap


@dataclass
class TracingMap:
    """The causal-tracing map: restored log-probability per site × source position."""

    model: str
    scores: PatchScores
    sites: list[str]
    positions: list[str]  # column labels: "i:clean_word" or "i:clean→corrupt"
    logprob: list[list[float | None]]  # [site][position]; None where not applicable
    whole_site: list[float]  # patching every position of the site
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def restored(self) -> list[list[float | None]]:
        return [
            [None if v is None else self.scores.restored(v) for v in row] for row in self.logprob
        ]

    def to_dict(self) -> dict[str, Any]:
        restored = self.restored()
        return {
            "model": self.model,
            "clean": self.scores.clean,
            "corrupt": self.scores.corrupt,
            "target": self.scores.target,
            "clean_logprob": _r(self.scores.clean_logprob),
            "corrupt_logprob": _r(self.scores.corrupt_logprob),
            "positions": list(self.positions),
            "sites": [
                {
                    "site": site,
                    "logprob": [_r(v) for v in self.logprob[i]],
                    "restored": [_r(v) for v in restored[i]],
                    "whole_site_logprob": _r(self.whole_site[i]),
                    "whole_site_restored": _r(self.scores.restored(self.whole_site[i])),
                }
                for i, site in enumerate(self.sites)
            ],
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }

    def csv_rows(self) -> list[list[str]]:
        """``site, position, word, logprob, restored`` (position ``all`` = whole site)."""
        rows = [["site", "position", "word", "logprob", "restored"]]
        restored = self.restored()
        for i, site in enumerate(self.sites):
            for j, label in enumerate(self.positions):
                value = self.logprob[i][j]
                if value is None:
                    continue
                index, _, word = label.partition(":")
                rows.append([site, index, word, _s(value), _s(restored[i][j])])
            whole = self.whole_site[i]
            rows.append([site, "all", "", _s(whole), _s(self.scores.restored(whole))])
        return rows


def _r(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 5)


def _s(value: float | None) -> str:
    return "" if value is None else f"{value:.5f}"


# -- running ------------------------------------------------------------------------------
def _words(sentence: str, flag: str) -> list[str]:
    words = sentence.split()
    if not words:
        raise PatchError(f"{flag}: the sentence is empty")
    return words


def clean_target(backend: Backend, clean: str, target: str | None = None) -> str:
    """The output whose log-probability is measured: ``target`` or the clean greedy output."""
    if target is not None:
        if not target.split():
            raise PatchError("--target: the sentence is empty")
        return " ".join(target.split())
    if backend.kind == "encoder":
        raise PatchError(f"{backend.name} is an encoder: patching needs a seq2seq model or an LM")
    from neurotui.intervene.apply import translate

    (out,) = translate(backend, [clean])
    text = " ".join(out.text.split())
    if not text:
        raise PatchError(
            f"the clean input's output is empty: nothing to score (give --target); clean={clean!r}"
        )
    return text


def check_sites(backend: Backend, sites: Sequence[str] | None) -> list[str]:
    """``sites`` (default all) validated against the model; one-line error otherwise."""
    known = [s.name for s in backend.sites()]
    if not sites:
        return known
    for site in sites:
        if site not in known:
            raise PatchError(f"--sites: unknown site {site!r}; sites: {', '.join(known)}")
    return list(dict.fromkeys(sites))


def _score(backend: Backend, sources: list[str], target: str) -> list[float]:
    return [float(v) for v in backend.target_scores(sources, [target] * len(sources)).tolist()]


def baseline_scores(
    backend: Backend, clean: str, corrupt: str, target: str | None = None
) -> PatchScores:
    """Score the target after the clean and after the corrupted input (no patch)."""
    _words(clean, "--clean")
    _words(corrupt, "--corrupt")
    target = clean_target(backend, clean, target)
    clean_lp, corrupt_lp = _score(backend, [clean, corrupt], target)
    return PatchScores(clean, corrupt, target, clean_lp, corrupt_lp)


def record_clean(
    backend: Backend, scores: PatchScores, sites: Sequence[str]
) -> dict[str, _Recorder]:
    """One clean run recording every call of ``sites``."""
    recorders = {site: _Recorder() for site in sites}
    with backend.edits(recorders):
        backend.target_scores([scores.clean], [scores.target])
    return recorders


def check_patches(backend: Backend, patches: Sequence[Patch]) -> None:
    """Unknown sites and neurons out of range → one-line :class:`PatchError`."""
    sizes = {s.name: s.size for s in backend.sites()}
    for patch in patches:
        if patch.site not in sizes:
            raise PatchError(f"unknown site {patch.site!r}; sites: {', '.join(sizes)}")
        for n in patch.neurons or ():
            if not 0 <= n < sizes[patch.site]:
                raise PatchError(
                    f"neuron {n} out of range for {patch.site} ({sizes[patch.site]} neurons)"
                )
        if patch.position is not None and patch.position < 0:
            raise PatchError(f"position {patch.position}: positions count from 0")


def patched_score(
    backend: Backend,
    scores: PatchScores,
    patches: Sequence[Patch],
    recorders: dict[str, _Recorder] | None = None,
) -> float:
    """log p(target | corrupted input) with every patch of ``patches`` applied together."""
    check_patches(backend, patches)
    sites = sorted({p.site for p in patches})
    if recorders is None:
        recorders = record_clean(backend, scores, sites)
    edits = {
        site: _Patcher(recorders[site], [[p for p in patches if p.site == site]]) for site in sites
    }
    with backend.edits(edits):
        return _score(backend, [scores.corrupt], scores.target)[0]


def run_patches(
    backend: Backend,
    scores: PatchScores,
    patches: Sequence[Patch],
    recorders: dict[str, _Recorder] | None = None,
) -> list[float]:
    """log p(target | corrupted, patched) for each patch on its own (one batched run per
    site: batch row ``k`` carries patch ``k``)."""
    check_patches(backend, patches)
    if recorders is None:
        recorders = record_clean(backend, scores, sorted({p.site for p in patches}))
    results: list[float] = [math.nan] * len(patches)
    by_site: dict[str, list[int]] = {}
    for k, patch in enumerate(patches):
        by_site.setdefault(patch.site, []).append(k)
    for site, ks in by_site.items():
        patcher = _Patcher(recorders[site], [[patches[k]] for k in ks])
        with backend.edits({site: patcher}):
            values = _score(backend, [scores.corrupt] * len(ks), scores.target)
        for k, v in zip(ks, values, strict=True):
            results[k] = v
    return results


def position_labels(clean: str, corrupt: str) -> list[str]:
    """Column labels of the aligned word positions (``min(len)`` of the two)."""
    a, b = clean.split(), corrupt.split()
    pairs = enumerate(zip(a, b, strict=False))
    return [f"{i}:{x}" if x == y else f"{i}:{x}→{y}" for i, (x, y) in pairs]


def tracing_sweep(
    backend: Backend,
    clean: str,
    corrupt: str,
    *,
    sites: Sequence[str] | None = None,
    target: str | None = None,
    progress: ProgressFn | None = None,
) -> TracingMap:
    """Patch each site at each aligned source position and as a whole → :class:`TracingMap`.

    Decoder sites take only the whole-site patch (their positions are target steps, not
    source words).
    """
    start = time.perf_counter()
    names = check_sites(backend, sites)
    scores = baseline_scores(backend, clean, corrupt, target)
    labels = position_labels(scores.clean, scores.corrupt)
    info = {s.name: s for s in backend.sites()}
    recorders = record_clean(backend, scores, names)
    grid: list[list[float | None]] = []
    whole: list[float] = []
    for k, site in enumerate(names):
        if progress is not None:
            progress(site, k, len(names))
        by_word = info[site].side != "decoder"
        patches = [Patch(site, None, i) for i in range(len(labels))] if by_word else []
        values = run_patches(backend, scores, [*patches, Patch(site)], recorders)
        row: list[float | None] = list(values[:-1]) if by_word else [None] * len(labels)
        grid.append(row)
        whole.append(values[-1])
    if progress is not None:
        progress("done", len(names), len(names))
    notes = []
    if scores.restored(scores.clean_logprob) is None:
        notes.append("the clean and corrupted inputs score the target alike: nothing to restore")
    n_clean, n_corrupt = len(scores.clean.split()), len(scores.corrupt.split())
    if n_clean != n_corrupt:
        notes.append(
            f"clean has {n_clean} words, corrupted {n_corrupt}: positions aligned from the "
            f"start, words past {min(n_clean, n_corrupt)} not patched one by one"
        )
    return TracingMap(
        backend.name, scores, names, labels, grid, whole, time.perf_counter() - start, notes
    )


# -- one patch, read as translations ------------------------------------------------------
class _FirstCall:
    """Patch only the first call of a site (the source / prompt pass) during generation.

    Why: a generated translation calls the decoder once per step, and a language model
    runs the prompt once and then one token at a time; the clean run was recorded
    teacher-forced, so only the first call (encoder, or the prompt) has a partner. The
    patched source rows then reach every later step through the encoder memory or the
    key/value cache.
    """

    def __init__(self, patcher: _Patcher) -> None:
        self.patcher = patcher
        self.calls = 0

    def __call__(self, hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        self.calls += 1
        if self.calls > 1:
            return hidden
        return self.patcher(hidden, ctx)


@dataclass
class PatchedTranslations:
    """The clean, corrupted and patched-corrupted outputs of one patch (or set of patches),
    with the patched score of the clean target."""

    patches: list[Patch]
    clean: str
    corrupt: str
    patched: str | None  # None: not generated (decoder-site patches; see ``note``)
    logprob: float
    restored: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "patches": [p.describe() for p in self.patches],
            "clean_output": self.clean,
            "corrupt_output": self.corrupt,
            "patched_output": self.patched,
            "patched_logprob": _r(self.logprob),
            "restored": _r(self.restored),
            "note": self.note,
        }


def patched_translations(
    backend: Backend,
    scores: PatchScores,
    patches: Sequence[Patch],
    recorders: dict[str, _Recorder] | None = None,
) -> PatchedTranslations:
    """Apply ``patches`` together: the patched score of the target (as
    :func:`patched_score`) and the greedy outputs of the clean input, the corrupted input
    and the corrupted input with the patches (what ``neurotui patch --patch`` prints and
    the Patch mode shows on Enter).

    Decoder-site patches are scored (teacher-forced) but not generated: a generated
    translation's steps are not the scored target's, so they have no clean partner.
    """
    from neurotui.intervene.apply import translate

    check_patches(backend, patches)
    sites = sorted({p.site for p in patches})
    if recorders is None or any(s not in recorders for s in sites):
        recorders = record_clean(backend, scores, sites)
    logprob = patched_score(backend, scores, patches, recorders)
    clean_out, corrupt_out = (t.text for t in translate(backend, [scores.clean, scores.corrupt]))
    sides = {s.name: s.side for s in backend.sites()}
    decoder = [s for s in sites if sides.get(s) == "decoder"]
    patched: str | None = None
    note = ""
    if decoder:
        note = (
            f"{', '.join(decoder)}: decoder sites are patched per target step of the scored "
            "target; no patched translation is generated"
        )
    else:
        edits = {
            site: _FirstCall(_Patcher(recorders[site], [[p for p in patches if p.site == site]]))
            for site in sites
        }
        # no speculative draft (hf_draft): its first call would carry the draft's target
        # rows, which have no clean partner; plain generation runs the prompt alone first
        drafting = getattr(backend, "draft_decoding", None)
        if drafting:
            backend.draft_decoding = False  # type: ignore[attr-defined]
        try:
            with backend.edits(edits):
                (out,) = translate(backend, [scores.corrupt])
        finally:
            if drafting:
                backend.draft_decoding = drafting  # type: ignore[attr-defined]
        patched = out.text
    return PatchedTranslations(
        list(patches), clean_out, corrupt_out, patched, logprob, scores.restored(logprob), note
    )


# -- writing ------------------------------------------------------------------------------
def write_results(
    document: dict[str, Any],
    rows: Sequence[Sequence[str]] = (),
    *,
    json_path: str | Path | None = None,
    csv_path: str | Path | None = None,
) -> list[Path]:
    """Write a patch result as JSON and/or the map as CSV, each atomically; the paths
    written. The ``patch`` command's ``--json F`` / ``--csv F`` and the Patch mode's
    export both write through here."""
    import csv
    import io
    import json

    from neurotui.atomicfile import write_text

    written: list[Path] = []
    if json_path:
        write_text(json_path, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
        written.append(Path(json_path))
    if csv_path:
        if not rows:
            raise PatchError("--csv: only the sweep writes a CSV map")
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        write_text(csv_path, buffer.getvalue())
        written.append(Path(csv_path))
    return written
