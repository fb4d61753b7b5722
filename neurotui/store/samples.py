"""Sample stores for the bundled sample models, built on first use and cached.

Why built, not shipped: a store is derived data (megabytes) that must match the model's
weights exactly. It is extracted from the bundled model over its analysis text in a few
seconds, with every gold label task of that text, into ``neurotui.paths.cache_dir()``,
keyed by a hash of the weights, the text, the label files and the store format version; a
retrained model or regenerated data gets a fresh store, an unchanged one reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

from neurotui.errors import StoreError
from neurotui.paths import cache_dir, samples_dir

#: model name → (analysis text, label tasks), paths relative to ``samples_dir()``
SAMPLES: dict[str, tuple[str, dict[str, str]]] = {
    "synth-en-fr-1": (
        "synth-data/analysis.en",
        {
            task: f"synth-data/analysis.{task}"
            for task in ("pos", "tense", "number", "gender", "negation", "position")
        },
    ),
    "bible-en-fr": ("bible-en-fr/data/analysis.en", {"pos": "bible-en-fr/data/analysis.pos"}),
}
#: files of a model folder that do not change its activations
_IGNORED = {"card.json", "card.md", "README.md", "train.log", "history.json"}


def _spec(model_name: str) -> tuple[str, dict[str, str]]:
    if model_name in SAMPLES:
        return SAMPLES[model_name]
    # Other synthetic models (synth-en-fr-2, -3…) share the synthetic analysis set.
    if model_name.startswith("synth-"):
        return SAMPLES["synth-en-fr-1"]
    known = ", ".join(sorted(SAMPLES))
    raise StoreError(f"no sample store is defined for model {model_name!r} (samples: {known})")


def _fingerprint(model_dir: Path, files: list[Path]) -> str:
    from neurotui.store.layout import FORMAT_VERSION

    # "sites-2": Hugging Face sites were renumbered (l0 = the embeddings, NeuroX's layer 0),
    # so a store cached under the old names must be rebuilt, not reused under new ones
    digest = hashlib.sha256(f"neurotui-sample-store/{FORMAT_VERSION}/sites-2".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        if path.name in _IGNORED or ".tmp-" in path.name:
            continue
        digest.update(str(path.relative_to(model_dir)).encode())
        digest.update(_file_hash(path))
    for path in files:
        digest.update(path.name.encode())
        digest.update(_file_hash(path))
    return digest.hexdigest()


def _file_hash(path: Path) -> bytes:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def sample_store_path(model_name: str = "synth-en-fr-1") -> Path:
    """Where the sample store of ``model_name`` lives (it may not be built yet)."""
    root = samples_dir()
    model_dir = root / model_name
    text_rel, tasks = _spec(model_name)
    if not (model_dir / "config.json").is_file():
        raise StoreError(
            f"sample model {model_name} is not available ({model_dir} has no config.json)"
        )
    text = root / text_rel
    if not text.is_file():
        raise StoreError(f"sample model {model_name}: analysis text {text} is missing")
    labels = [root / rel for rel in tasks.values() if (root / rel).is_file()]
    key = _fingerprint(model_dir, [text, *labels])[:16]
    return cache_dir() / "stores" / f"{model_name}-{key}.h5"


def sample_store(
    model_name: str = "synth-en-fr-1",
    *,
    rebuild: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """The path of the sample store of ``model_name``, building it on first use."""
    root = samples_dir()
    text_rel, tasks = _spec(model_name)
    path = sample_store_path(model_name)
    present = {task: root / rel for task, rel in tasks.items() if (root / rel).is_file()}
    if path.is_file() and not rebuild and _complete(path, set(present)):
        return path
    from neurotui.store.edit import edit_store
    from neurotui.store.extract import extract
    from neurotui.store.labels import read_parallel_labels

    path.parent.mkdir(parents=True, exist_ok=True)
    extract(
        root / model_name,
        root / text_rel,
        path,
        side="encoder",
        device="cpu",
        batch_size=64,
        progress=progress,
    )
    if present:
        import neurotui.store as ns

        with ns.open(path) as store:
            lengths = list(store.sentence_lengths())
        labels = {task: read_parallel_labels(file, lengths) for task, file in present.items()}
        edit_store(path, labels=labels, label_sources={t: str(f) for t, f in present.items()})
    _drop_stale(path)
    return path


def _complete(path: Path, tasks: set[str]) -> bool:
    import neurotui.store as ns

    try:
        with ns.open(path) as store:
            return tasks <= set(store.label_tasks) and bool(getattr(store, "has_summary", False))
    except Exception:  # a damaged cache entry is simply rebuilt
        return False


def _drop_stale(path: Path) -> None:
    """Remove older cached stores of the same model (other weights or data)."""
    model = path.name.rsplit("-", 1)[0]
    for other in path.parent.glob(f"{model}-*.h5"):
        if other != path and other.name.rsplit("-", 1)[0] == model:
            with contextlib.suppress(OSError):
                other.unlink()
