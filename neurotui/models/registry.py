"""Finding and opening models: bundled sample names or checkpoint paths.

``load_backend(name_or_path)`` accepts a bundled sample name (a folder of
``neurotui.paths.samples_dir()``) or a path, recognises the kind of checkpoint from its
``config.json`` and returns a :class:`~neurotui.models.base.Backend`:

* ``neurotui_format`` present → the project's LSTMs (:mod:`neurotui.models.checkpoint`);
* ``model_type`` present (and no ``neurotui_format``) → a Hugging Face directory, opened by
  ``neurotui.models.hf.load_hf_backend`` (imported only then: transformers is optional);
* a ``.gguf`` file, or a folder without ``config.json`` holding one → a GGUF model, opened
  by the same loader (transformers dequantises it).

Anything else — a missing path, a pickled checkpoint, an HDF5 store or a text file given
as a model — is a one-line :class:`CheckpointError`.

Model cards (``card.json`` in each sample folder) are what ``neurotui models`` lists.
Keys read here: ``name``, ``kind`` (seq2seq/lm/encoder), ``backend`` (lstm/hf),
``description``, ``scores`` (``{"test": {...}}``), ``heldout`` (paths relative to the model
folder: ``{"src": …, "ref": …}`` for translation, ``{"text": …}`` for a language model).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import CheckpointError
from neurotui.paths import samples_dir

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from neurotui.models.base import Backend


def bundled_names() -> list[str]:
    root = samples_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "card.json").is_file())


def resolve(name_or_path: str | Path) -> Path:
    """The directory (or file) that ``name_or_path`` names; bundled names win over
    relative paths only when no such path exists."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    text = str(name_or_path)
    if "/" not in text and (samples_dir() / text).exists():
        return samples_dir() / text
    names = bundled_names()
    hint = f" (bundled models: {', '.join(names)})" if names else ""
    raise CheckpointError(f"{text}: no such model directory or bundled model name{hint}")


def load_backend(
    name_or_path: str | Path,
    device: str | torch.device | None = "auto",
    *,
    dtype: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> Backend:
    """Open a model by bundled name or path; see the module docstring.

    ``dtype`` (``auto``/``float32``/``bfloat16``/``float16``) and ``progress`` (the
    ``(stage, done, total)`` protocol of extraction) apply to Hugging Face models; the
    project's LSTMs always run in float32 and load in an instant.
    """
    from neurotui.models.checkpoint import (
        CONFIG,
        find_pickles,
        load_lstm_checkpoint,
        read_json,
        refuse_pickle,
        sniff,
    )

    path = resolve(name_or_path)
    if path.is_file():
        kind = sniff(path)
        if kind == "gguf":
            return _load_hf(path, device, dtype, progress)
        if kind in ("pickle", "torch-zip"):
            raise refuse_pickle(path)
        if kind == "hdf5":
            raise CheckpointError(
                f"{path}: an HDF5 file (an activation store?), not a model; give a checkpoint directory"
            )
        if kind == "safetensors":
            raise CheckpointError(
                f"{path}: a weights file alone; give its directory (with {CONFIG} and vocabularies)"
            )
        raise CheckpointError(
            f"{path}: not a model checkpoint ({kind} file); expected a directory with "
            f"{CONFIG} or a .gguf file"
        )
    config_path = path / CONFIG
    if not config_path.is_file():
        if any(p.suffix.lower() == ".gguf" for p in path.iterdir()):
            return _load_hf(path, device, dtype, progress)
        pickles = find_pickles(path)
        if pickles:
            raise refuse_pickle(pickles[0])
        raise CheckpointError(
            f"{config_path}: missing — {path} is not a model checkpoint directory"
        )
    config = read_json(config_path, "model config")
    if "neurotui_format" in config:
        from neurotui.device import resolve_device

        if dtype not in ("auto", "float32"):
            raise CheckpointError(
                f"--dtype {dtype}: {path.name} is a neurotui LSTM checkpoint, which runs in "
                "float32 only"
            )
        dev = device if not isinstance(device, (str, type(None))) else resolve_device(device)
        return load_lstm_checkpoint(path, config, device=dev, name=path.name)
    if "model_type" in config:
        return _load_hf(path, device, dtype, progress)
    raise CheckpointError(
        f"{config_path}: neither a neurotui checkpoint (no 'neurotui_format') nor a Hugging Face model (no 'model_type')"
    )


def _load_hf(
    path: Path,
    device: str | torch.device | None,
    dtype: str,
    progress: Callable[[str, int, int], None] | None,
) -> Backend:
    """A Hugging Face folder or GGUF file (transformers is optional: say so if absent)."""
    try:
        from neurotui.models.hf import load_hf_backend
    except ModuleNotFoundError as exc:
        raise CheckpointError(
            f"{path}: a Hugging Face model, but Hugging Face support is not installed ({exc.name} missing; pip install 'neurotui[hf]')"
        ) from None
    return load_hf_backend(path, device, dtype=dtype, progress=progress)


def read_card(directory: Path) -> dict[str, Any] | None:
    """The model card of ``directory`` (``None`` when it has none)."""
    from neurotui.models.checkpoint import read_json

    path = Path(directory) / "card.json"
    return read_json(path, "model card") if path.is_file() else None


def bundled_models() -> list[dict[str, Any]]:
    """One entry per sample folder with a ``card.json``: name, kind, backend, path,
    scores, description (and ``error`` when the card cannot be read)."""
    out: list[dict[str, Any]] = []
    for name in bundled_names():
        directory = samples_dir() / name
        try:
            card = read_card(directory) or {}
        except CheckpointError as exc:
            out.append({"name": name, "path": str(directory), "error": str(exc)})
            continue
        out.append(
            {
                "name": card.get("name", name),
                "kind": card.get("kind"),
                "backend": card.get("backend"),
                "path": str(directory),
                "scores": card.get("scores", {}),
                "description": card.get("description", ""),
                "size": card.get("size", {}),
            }
        )
    return out


def heldout_files(model_dir: Path, card: dict[str, Any] | None) -> dict[str, Path]:
    """The held-out files a card names, resolved against the model folder."""
    if not card or not isinstance(card.get("heldout"), dict):
        return {}
    return {
        k: (Path(model_dir) / v).resolve() for k, v in card["heldout"].items() if isinstance(v, str)
    }
