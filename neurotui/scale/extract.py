"""``neurotui extract … --cluster SPEC``: the text in chunks, one shard per task.

Why this shape: each task is a plain single-process extraction of a slice of the text
(:func:`neurotui.store.extract.extract`, so the results are the single-process ones by
construction) into its own shard, written atomically; the manifest (dense) or the merged
exemplar store is written on the client only after every task has succeeded. A worker
that dies mid-task loses nothing but that task, which Dask runs again; its half-written
shard is a temporary file the rerun replaces. A failed run removes its shards and writes
no manifest, so the previous store (if any) still opens, unchanged.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from neurotui.errors import NeurotuiError
from neurotui.store.extract import ExtractResult, sha256_file
from neurotui.store.labels import read_sentences
from neurotui.store.sharded import shard_folder, write_manifest

#: chunks per worker: enough to balance uneven chunks and to lose little when one dies
CHUNKS_PER_WORKER = 4
#: per-worker-process cache of loaded models (a worker runs many chunks of one model)
_BACKENDS: dict[tuple[str, str, str], Any] = {}


def plan_chunks(
    sentences: int, workers: int, chunk_lines: int | None = None, batch_size: int = 1
) -> list[tuple[int, int]]:
    """``[(first, stop), …]`` line ranges covering ``0…sentences`` in order.

    Chunks are whole model batches (a multiple of ``batch_size`` lines): the model then
    sees the same batches as in one process, so the shards hold the very same values
    (bit for bit when the torch thread count matches too; see docs/scale.md).
    """
    if chunk_lines is None:
        chunk_lines = max(1, math.ceil(sentences / max(1, workers * CHUNKS_PER_WORKER)))
    chunk_lines = batch_size * math.ceil(chunk_lines / max(1, batch_size))
    return [(a, min(sentences, a + chunk_lines)) for a in range(0, sentences, chunk_lines)]


def extract_on_cluster(
    cluster: Any,
    model: str | Path,
    text: str | Path,
    out: str | Path,
    *,
    keep: str = "dense",
    chunk_lines: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    fault_marker: str | None = None,
    exemplar_options: dict[str, Any] | None = None,
    **options: Any,
) -> ExtractResult:
    """Extract ``model`` over ``text`` on the Dask ``cluster`` into the store ``out``.

    ``keep="dense"`` writes shards plus a manifest at ``out``; ``keep="exemplars"`` merges
    the tasks' exemplar shards into one exemplar store at ``out``. ``options`` are
    :func:`neurotui.store.extract.extract`'s keywords. ``fault_marker`` (tests only): the
    first task to find no file there creates it and kills its own worker process.
    """
    from neurotui.scale.engine import client_for, run_tasks

    t0 = time.perf_counter()
    if options.get("side", "encoder") == "both":
        raise NeurotuiError("--side both with --cluster: run one side at a time")
    if options.get("targets") is not None:
        raise NeurotuiError("--targets with --cluster: not supported yet; run without --cluster")
    text, out = Path(text), Path(out)
    words = read_sentences(text)
    folder = shard_folder(out)
    run = secrets.token_hex(4)
    with client_for(cluster) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        chunks = plan_chunks(len(words), workers, chunk_lines, int(options.get("batch_size", 32)))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NeurotuiError(f"{out}: cannot create the shard folder {folder} ({exc})") from None
        shards = [folder / f"r{run}-{i:05d}.h5" for i in range(len(chunks))]
        args = [
            (str(model), words[a:b], str(shard), a, str(text), options, keep,
             exemplar_options or {}, fault_marker)
            for (a, b), shard in zip(chunks, shards, strict=True)
        ]  # fmt: skip
        side = folder / f"r{run}-quantiles.npz"
        quantiles = None
        try:
            parts = run_tasks(
                client, extract_chunk, args, stage="extract", progress=progress, key="extract"
            )
            if keep == "dense":
                quantiles = _corpus_quantiles(client, shards, parts, side, progress)
        except BaseException:
            _remove([*shards, side])
            raise
    result = ExtractResult(sentences=len(words))
    source = {"path": str(text), "sha256": sha256_file(text), "lines": len(words)}
    try:
        if keep == "exemplars":
            from neurotui.store.exemplar import merge_exemplar_files

            merge_exemplar_files(shards, out, metadata={"source": source})
            _remove(shards)
            with contextlib.suppress(OSError):
                folder.rmdir()
        else:
            write_manifest(
                out,
                shards,
                metadata={
                    "source": source,
                    "model": _model_meta(shards[0], model),
                    "distributed": {"chunks": len(chunks), "workers": workers},
                },
                quantiles=quantiles,
            )
            _remove_other_runs(folder, run)
    except BaseException:
        _remove([*shards, side])
        raise
    result.paths["encoder"] = out
    result.tokens["encoder"] = sum(p["tokens"] for p in parts)
    for p in parts:
        result.warnings.extend(p["warnings"])
    result.load_seconds = max(p["load_seconds"] for p in parts)
    result.seconds = time.perf_counter() - t0
    return result


def _corpus_quantiles(
    client: Any,
    shards: Sequence[Path],
    parts: Sequence[dict[str, Any]],
    side: Path,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[Path, dict[str, Any]]:
    """Quantiles of the whole corpus, equal to one summary pass's, into the side file."""
    from neurotui.scale.reduce import cluster_quantiles
    from neurotui.store.h5store import NeurotuiStore
    from neurotui.store.sharded import write_quantiles
    from neurotui.store.summary import DEFAULT_LEVELS

    tokens = [int(p["tokens"]) for p in parts]
    first_rows = [sum(tokens[:i]) for i in range(len(tokens))]
    with NeurotuiStore(shards[0]) as first:
        neurons = first.neuron_count
    quantiles, extra = cluster_quantiles(
        client, shards, first_rows, sum(tokens), neurons, progress=progress
    )
    return write_quantiles(side, DEFAULT_LEVELS, quantiles), extra


def _model_meta(shard: Path, model: Any) -> dict[str, Any]:
    from neurotui.store.h5store import NeurotuiStore

    with NeurotuiStore(shard) as store:
        model_meta = store.metadata.get("model")
        meta: dict[str, Any] = dict(model_meta) if isinstance(model_meta, dict) else {}
    meta["path"] = str(model)
    return meta


def _remove(paths: Sequence[Path]) -> None:
    for p in paths:
        with contextlib.suppress(OSError):
            p.unlink()


def _remove_other_runs(folder: Path, run: str) -> None:
    """Shards of earlier runs: the manifest just replaced the only one that listed them."""
    for entry in [*folder.glob("r*.h5"), *folder.glob("r*-quantiles.npz")]:
        if not entry.name.startswith(f"r{run}-"):
            with contextlib.suppress(OSError):
                entry.unlink()


def extract_chunk(
    model: str,
    words: list[list[str]],
    shard: str,
    first: int,
    source: str,
    options: dict[str, Any],
    keep: str,
    exemplar_options: dict[str, Any],
    fault_marker: str | None,
) -> dict[str, Any]:
    """One task, on a worker: extract ``words`` (lines ``first…`` of ``source``) into ``shard``."""
    import tempfile

    from neurotui.scale.engine import worker_device
    from neurotui.store.extract import extract

    if fault_marker and not os.path.exists(fault_marker):
        Path(fault_marker).write_text(str(os.getpid()))
        os._exit(1)  # the worker dies mid-task; Dask must run this task elsewhere
    opts = dict(options)
    device = worker_device(str(opts.pop("device", "auto")))
    t0 = time.perf_counter()
    key = (model, device, str(opts.get("model_dtype", "auto")))
    backend = _BACKENDS.get(key)
    if backend is None:
        from neurotui.models.registry import load_backend

        backend = _BACKENDS[key] = load_backend(model, device, dtype=key[2])
    loaded = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="neurotui-chunk-") as tmp:
        chunk = Path(tmp) / "chunk.txt"
        chunk.write_text("".join(" ".join(w) + "\n" for w in words), encoding="utf-8")
        try:
            result = extract(
                backend, chunk, shard, device=device, keep=keep,
                first_sentence=first, exemplar_options=exemplar_options, **opts,
            )  # fmt: skip
        except NeurotuiError as exc:
            raise type(exc)(_relocate(str(exc), chunk, source, first)) from None
    return {
        "tokens": sum(result.tokens.values()),
        "sentences": result.sentences,
        "seconds": result.seconds,
        "load_seconds": loaded,
        "warnings": [_relocate(w, chunk, source, first) for w in result.warnings],
    }


def _relocate(message: str, chunk: Path, source: str, first: int) -> str:
    """``chunk.txt:N`` in a task's message → ``SOURCE:first+N`` (the user's file and line)."""
    pattern = re.escape(str(chunk)) + r"(?::(\d+))?"

    def sub(m: re.Match[str]) -> str:
        return f"{source}:{first + int(m.group(1))}" if m.group(1) else source

    return re.sub(pattern, sub, message)
