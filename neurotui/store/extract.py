"""Run a model over a text file and write its activations to a store.

Why here and shaped like this: extraction is the one place where a Backend meets a
store. It checks, sentence by sentence, that the model returned one row per word of the
text file (a tokeniser that merges or splits words would otherwise shift every label), and
writes through :class:`StoreWriter`, so the output is atomic and summarised on the way.

Encoder sites give rows for the source words. Decoder sites give rows for target words:
the reference file (teacher forcing) when one is given, else the model's own greedy
output. The two sides have different tokens, so ``side="both"`` writes two stores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from neurotui.errors import DataError, NeurotuiError
from neurotui.store.labels import read_sentences
from neurotui.store.provenance import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from neurotui.models.base import Aggregation, Backend

SIDES = ("encoder", "decoder", "both")
AGGREGATIONS = ("first", "last", "mean")
#: what a row of the store is: a whitespace word of the text, or a token the model sees
ROWS = ("words", "tokens")
#: sentences handed to the backend per call (it batches inside); sets progress granularity
_STEP = 256


@dataclass
class ExtractResult:
    """Where the stores went and what was seen on the way."""

    paths: dict[str, Path] = field(default_factory=dict)  # side → store path
    sentences: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0  # extraction only (the rate's denominator)
    load_seconds: float = 0.0  # opening the model (tens of seconds for a GGUF file)


def side_paths(out: Path, sides: Sequence[str]) -> dict[str, Path]:
    """One output per side: ``out`` itself, or ``<stem>.enc<ext>`` / ``<stem>.dec<ext>``."""
    if len(sides) == 1:
        return {sides[0]: out}
    suffix = out.suffix or ".h5"
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return {side: out.with_name(f"{stem}.{side[:3]}{suffix}") for side in sides}


def choose_sites(
    backend: Backend, sites: Sequence[str] | None, side: str
) -> dict[str, list[tuple[str, int]]]:
    """Sites to extract, grouped by side, in the model's order."""
    if side not in SIDES:
        raise NeurotuiError(f"--side {side}: choose one of {', '.join(SIDES)}")
    infos = backend.sites()
    if sites:
        wanted = []
        for name in sites:
            wanted.append(backend.site(name).name)  # one-line error listing valid names
        # Named sites decide the side(s) themselves; --side only applies when none are named.
        chosen = [s for s in infos if s.name in set(wanted)]
    else:
        sides = ("encoder", "decoder") if side == "both" else (side,)
        chosen = [s for s in infos if s.side in sides]
        if not chosen:
            have = sorted({s.side for s in infos})
            raise NeurotuiError(
                f"model {backend.name} has no {side} sites (it has {', '.join(have)} sites)"
            )
    grouped: dict[str, list[tuple[str, int]]] = {}
    for info in chosen:
        grouped.setdefault(info.side, []).append((info.name, info.size))
    return grouped


def extract(
    model: str | Path | Backend,
    text: str | Path,
    out: str | Path,
    *,
    sites: Sequence[str] | None = None,
    side: str = "encoder",
    targets: str | Path | None = None,
    aggregation: str = "mean",
    batch_size: int = 32,
    device: str = "auto",
    dtype: str = "float32",
    summary: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    rows: str = "words",
    bos: bool | None = None,
    model_dtype: str = "auto",
    keep: str = "dense",
    first_sentence: int = 0,
    exemplar_options: dict[str, Any] | None = None,
) -> ExtractResult:
    """Extract activations of ``model`` over ``text`` into the store ``out``.

    ``rows="tokens"`` writes one row per token the model sees (sub-word pieces, special
    tokens included; the store's tokens are the piece strings) instead of one per word.
    ``bos`` forces a leading BOS on (``True``) or off (``False``); ``None`` follows the
    tokenizer. ``model_dtype`` is the model's compute type (``--dtype`` of other commands).
    ``keep="exemplars"`` writes an exemplar store (:mod:`neurotui.store.exemplar`:
    per-neuron statistics, top/bottom contexts with each neuron's own window values, dense
    rows of a uniform sample of sentences only); ``first_sentence`` is the corpus id of
    the text's first line there (a chunk of a distributed run) and ``exemplar_options``
    its ``k``, ``sample`` and ``window``.
    """
    import time

    t0 = time.perf_counter()
    if aggregation not in AGGREGATIONS:
        raise NeurotuiError(f"--aggregation {aggregation}: choose one of {', '.join(AGGREGATIONS)}")
    if batch_size < 1:
        raise NeurotuiError(f"--batch-size {batch_size}: must be at least 1")
    if rows not in ROWS:
        raise NeurotuiError(f"--rows {rows}: choose one of {', '.join(ROWS)}")
    if keep not in ("dense", "exemplars"):
        raise NeurotuiError(f"--keep {keep}: choose dense or exemplars")
    if keep == "exemplars" and side == "both":
        raise NeurotuiError("--keep exemplars with --side both: extract one side at a time")
    text = Path(text)
    out = Path(out)
    words = read_sentences(text)
    lines = [" ".join(w) for w in words]
    result = ExtractResult(sentences=len(lines))
    _warn_duplicates(text, lines, result.warnings)
    backend = _load(model, device, model_dtype, progress)
    loaded = time.perf_counter()
    result.load_seconds, t0 = loaded - t0, loaded
    saved_bos = _set_bos(backend, bos)
    try:
        return _extract_with(
            backend, model, text, out, words, lines, result, t0,
            sites=sites, side=side, targets=targets, aggregation=aggregation,
            batch_size=batch_size, device=device, dtype=dtype, summary=summary,
            progress=progress, rows=rows, keep=keep, first_sentence=first_sentence,
            exemplar_options=exemplar_options,
        )  # fmt: skip
    finally:
        if saved_bos is not _NO_BOS:
            cast(Any, backend).bos = saved_bos  # set by _set_bos, so the backend has it


_NO_BOS = object()


def _set_bos(backend: Backend, bos: bool | None) -> Any:
    """Apply ``--bos/--no-bos`` to ``backend``; return the setting to restore after."""
    if not hasattr(backend, "bos"):
        if bos is not None:
            raise NeurotuiError(
                f"--{'' if bos else 'no-'}bos: model {backend.name} reads words, it has no BOS token"
            )
        return _NO_BOS
    tokenizing: Any = backend  # a sub-word backend: bos and uses_bos (checked above)
    if bos is True and tokenizing.uses_bos() is None:
        raise NeurotuiError(f"--bos: the tokenizer of {backend.name} has no BOS token")
    saved = tokenizing.bos
    if bos is not None:
        tokenizing.bos = bos
    return saved


def _extract_with(
    backend: Backend,
    model: Any,
    text: Path,
    out: Path,
    words: list[list[str]],
    lines: list[str],
    result: ExtractResult,
    t0: float,
    *,
    sites: Sequence[str] | None,
    side: str,
    targets: str | Path | None,
    aggregation: str,
    batch_size: int,
    device: str,
    dtype: str,
    summary: bool,
    progress: Callable[[str, int, int], None] | None,
    rows: str,
    keep: str = "dense",
    first_sentence: int = 0,
    exemplar_options: dict[str, Any] | None = None,
) -> ExtractResult:
    """The body of :func:`extract` once the model is loaded and its BOS set."""
    import time

    from neurotui.store.writer import StoreWriter

    grouped = choose_sites(backend, sites, side)
    if rows == "tokens":
        if "decoder" in grouped:
            raise NeurotuiError(
                "--rows tokens: decoder sites have word rows only; use --side encoder"
            )
        words = backend.token_rows(lines)
    target_words: list[list[str]] | None = None
    target_origin: dict[str, Any] | None = None
    if "decoder" in grouped:
        if targets is not None:
            target_words = read_sentences(targets)
            if len(target_words) != len(lines):
                raise DataError(
                    f"{targets}: {len(target_words)} lines, but {text} has {len(lines)}; "
                    "targets must be parallel to the text"
                )
            target_origin = {"path": str(targets), "sha256": sha256_file(targets)}
        elif backend.kind != "seq2seq":
            raise NeurotuiError(f"model {backend.name} ({backend.kind}) has no decoder to run")
        else:
            target_words = []
            for start in range(0, len(lines), _STEP):
                batch = lines[start : start + _STEP]
                outs = backend.translate(batch, batch_size=batch_size)
                target_words.extend(t.text.split() for t in outs)
                _report(progress, "translate", start + len(batch), len(lines))
            target_origin = {"model_output": "greedy"}
            empty = [i for i, t in enumerate(target_words) if not t]
            if empty:
                result.warnings.append(
                    f"{text}:{empty[0] + 1}: the model produced an empty translation "
                    f"({len(empty)} line(s)); their decoder rows are empty"
                )
    rows_of = {"encoder": words}
    if target_words is not None:
        rows_of["decoder"] = target_words
    paths = side_paths(out, list(grouped))
    uses_bos = getattr(backend, "uses_bos", None)
    base_meta = {
        "model": {
            "name": backend.name,
            "kind": backend.kind,
            "path": str(model) if not hasattr(model, "sites") else backend.name,
            "device": str(getattr(backend, "device", device)),
            "dtype": str(getattr(backend, "dtype", "float32")).replace("torch.", ""),
        },
        "aggregation": aggregation if rows == "words" else None,
        "rows": rows,
        "bos": uses_bos() if uses_bos is not None else None,
        "extraction": {
            "batch_size": batch_size,
            "dtype": dtype,
            "targets": target_origin,
        },
        "source": {"path": str(text), "sha256": sha256_file(text), "lines": len(lines)},
    }
    writers: dict[str, Any] = {}
    try:
        for s, pairs in grouped.items():
            side_rows = rows_of[s]
            assert side_rows is not None
            meta = dict(base_meta, side=s)
            total = sum(len(r) for r in side_rows)  # every line's rows are checked below
            if keep == "exemplars":
                from neurotui.store.exemplar import ExemplarWriter

                writers[s] = ExemplarWriter(
                    paths[s], pairs, dtype=dtype, metadata=meta,
                    first_sentence=first_sentence, **(exemplar_options or {}),
                )  # fmt: skip
            else:
                writers[s] = StoreWriter(
                    paths[s], pairs, dtype=dtype, metadata=meta, expected_tokens=total, rows=total
                )
        names = [n for pairs in grouped.values() for n, _ in pairs]
        for start in range(0, len(lines), _STEP):
            batch = lines[start : start + _STEP]
            tgt = None
            if target_words is not None:
                tgt = [" ".join(t) for t in target_words[start : start + _STEP]]
            if rows == "tokens":
                acts = backend.encode_tokens(batch, names, batch_size=batch_size)
            else:
                acts = backend.encode(
                    batch,
                    names,
                    targets=tgt,
                    aggregation=cast("Aggregation", aggregation),  # checked by extract()
                    batch_size=batch_size,
                )
            if len(acts) != len(batch):
                raise DataError(
                    f"{text}: model {backend.name} returned {len(acts)} results for "
                    f"{len(batch)} lines (from line {start + 1})"
                )
            for j, row in enumerate(acts):
                i = start + j
                for s, pairs in grouped.items():
                    toks = rows_of[s][i]
                    part: dict[str, np.ndarray] = {}
                    for name, _size in pairs:
                        arr = row.get(name)
                        if arr is None or arr.shape[0] != len(toks):
                            got = None if arr is None else arr.shape[0]
                            where = text if s == "encoder" else (targets or "model output")
                            unit = "tokens" if rows == "tokens" else "words"
                            raise DataError(
                                f"{where}:{i + 1}: model {backend.name} returned {got} rows at "
                                f"site {name} for a line of {len(toks)} {unit}"
                            )
                        part[name] = arr
                    writers[s].add(toks, part)
            _report(progress, "extract", start + len(batch), len(lines))
        for s, writer in writers.items():
            writer.finish(summary=summary)
            result.paths[s] = paths[s]
            result.tokens[s] = sum(len(r) for r in rows_of[s])
            from neurotui.store.h5store import nonfinite_warnings

            result.warnings.extend(nonfinite_warnings(paths[s]))
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    result.seconds = time.perf_counter() - t0
    return result


def _load(
    model: Any,
    device: str,
    dtype: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> Backend:
    if hasattr(model, "encode") and hasattr(model, "sites"):
        return model  # already a Backend
    from neurotui.models.registry import load_backend

    return load_backend(model, device, dtype=dtype, progress=progress)


def _report(
    progress: Callable[[str, int, int], None] | None, stage: str, done: int, total: int
) -> None:
    if progress is not None:
        progress(stage, done, total)


def _warn_duplicates(path: Path, lines: list[str], warnings: list[str]) -> None:
    seen: dict[str, int] = {}
    dups = 0
    first = None
    for i, line in enumerate(lines):
        if line in seen:
            dups += 1
            if first is None:
                first = (i + 1, seen[line] + 1)
        else:
            seen[line] = i
    if dups and first is not None:
        warnings.append(
            f"{path}:{first[0]}: duplicate of line {first[1]} ({dups} duplicate sentence(s) in "
            "all); kept, NeuroX exports will key them '(Occurrence N)'"
        )
