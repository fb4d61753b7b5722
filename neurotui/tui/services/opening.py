"""Opening: a store file, a checkpoint extracted on the bundled text, the bundled samples,
and the store's per-neuron statistics — each in a job, with progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from neurotui.errors import NeurotuiError, StoreError
from neurotui.progress import NO_JOB, JobContext, ProgressFn, Reporting, titled
from neurotui.tui.procjob import ProcessJob
from neurotui.tui.services.placement import worth_a_process

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import NeuronStats, Store
    from neurotui.tui.workers import Job, WorkerContext


CHECKPOINT_SUFFIXES = (".pt", ".safetensors", ".bin", ".ckpt")


def looks_like_checkpoint(path: Path) -> bool:
    """A model checkpoint (file or model directory) rather than a store."""
    if path.is_dir():
        return any(
            (path / n).exists()
            for n in ("config.json", "model.safetensors", "model.pt", "checkpoint.pt")
        ) or any(p.suffix in CHECKPOINT_SUFFIXES for p in path.iterdir())
    return path.suffix in CHECKPOINT_SUFFIXES


def open_store_path(path: Path, ctx: JobContext = NO_JOB, device: str = "auto") -> Store:
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


def bundled_text() -> Path:
    """The bundled analysis text a checkpoint alone is extracted on."""
    from neurotui.paths import samples_dir

    return samples_dir() / "synth-data" / "analysis.en"


def extract_checkpoint(path: Path, ctx: JobContext, device: str = "auto") -> Store:
    """Extract a checkpoint's activations on the bundled text (cached), in this worker.

    A bundled sample model reuses its sample store; any other checkpoint is extracted once
    into the cache folder, keyed by the checkpoint's path, size and modification time.
    """
    import hashlib

    import neurotui.store
    from neurotui.paths import cache_dir, samples_dir

    progress = titled(ctx, f"Extracting {path.name}")
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


def sample_path(name: str, ctx: JobContext = NO_JOB) -> Path:
    """The sample store of a bundled model (built on first use, with progress)."""
    from neurotui.store.samples import sample_store

    return Path(sample_store(name, progress=titled(ctx, f"Sample {name}")))


def load_stats(store: Store, ctx: JobContext = NO_JOB) -> NeuronStats:
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
        ctx.progress("statistics", done[0], total)

    summary = compute(progress=progress)
    return summary.stats


#: the array fields of :class:`neurotui.store.api.NeuronStats` (sent as JSON lists)
STATS_FIELDS = ("mean", "std", "min", "max", "quantile_levels", "quantiles", "count", "nonfinite")


def stats_job(store: Store) -> Job[NeuronStats]:
    """The job that gets the store's stats: stored ones are read on the worker thread; a
    missing summary of a large file store is computed in a child process (one pass over
    every activation), of a small one on the worker thread."""

    def job(ctx: WorkerContext) -> NeuronStats:
        if store.stats is not None or not worth_a_process([store]):
            return load_stats(store, ctx)
        from neurotui.tui.workers import run_job

        return run_job(
            ProcessJob(
                "neurotui.tui.services.opening:stats_of_path",
                [str(store.path)],
                finish=_stats_from_json,
            ),
            ctx,
        )

    return job


def _stats_from_json(answer: dict[str, list[object]], ctx: JobContext) -> NeuronStats:
    import numpy as np

    from neurotui.store.api import NeuronStats

    mean, std, vmin, vmax, levels, quantiles, count, nonfinite = (
        np.asarray(answer[k]) for k in STATS_FIELDS
    )
    return NeuronStats(mean, std, vmin, vmax, levels, quantiles, count, nonfinite)


def stats_of_path(path: str, progress: ProgressFn | None = None) -> dict[str, list[object]]:
    """The child-process side of :func:`stats_job`: the stats of the store at ``path`` as
    JSON lists (non-finite values survive: Python's JSON writes NaN and Infinity)."""
    import neurotui.store

    store = neurotui.store.open(path)
    try:
        stats = load_stats(store, Reporting(progress))
    finally:
        store.close()
    return {k: getattr(stats, k).tolist() for k in STATS_FIELDS}
