"""Checkpoint files: safetensors weights + JSON config + JSON vocabularies.

Why this format: a pickle (``torch.save``'s ``.pt``/``.bin``) can run arbitrary code when
loaded, so neurotui never unpickles — a pickled file is recognised by its name or its
first bytes and refused before anything reads it. Every problem becomes a one-line
:class:`CheckpointError` naming the file and what is wrong.

Layout of a neurotui checkpoint directory::

    config.json         {"neurotui_format": 1, "kind": "lstm-seq2seq" | "lstm-lm", hyper-parameters…}
    model.safetensors   weights (fp16 or fp32; always loaded as fp32)
    vocab.src.json      + vocab.tgt.json (seq2seq) or vocab.json (lm)
    card.json, card.md  name, kind, backend, data, size, scores, held-out set, how to rebuild

Files are written atomically (temp file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import CheckpointError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import torch
    from torch import nn

    from neurotui.models.base import Backend
    from neurotui.models.vocab import Vocab

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
#: vocabulary files each kind needs
VOCAB_FILES: dict[str, tuple[str, ...]] = {
    "lstm-seq2seq": ("vocab.src.json", "vocab.tgt.json"),
    "lstm-lm": ("vocab.json",),
}
PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt"}
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# -- writing -----------------------------------------------------------------------
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half.

    Symlinks, the file's mode, fsync and cleanup: :mod:`neurotui.atomicfile`.
    """
    from neurotui.atomicfile import write_bytes

    write_bytes(path, data, error=CheckpointError, make_parents=True)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_checkpoint(
    directory: Path,
    config: dict[str, Any],
    model: nn.Module,
    vocabs: dict[str, Vocab],
    *,
    fp16: bool = True,
) -> Path:
    """Write config, weights and vocabularies into ``directory`` (created if needed)."""
    import torch
    from safetensors.torch import save

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if fp16 else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in model.state_dict().items()
    }
    atomic_write_bytes(directory / WEIGHTS, save(tensors, metadata={"format": "pt"}))
    for file, vocab in vocabs.items():
        vocab.save(directory / file)
    write_json(directory / CONFIG, config)
    return directory


# -- recognising files -------------------------------------------------------------
def sniff(path: Path) -> str:
    """What a file is, from its name and first bytes, without parsing it.

    One of ``pickle``, ``torch-zip`` (``torch.save``'s zip of pickles), ``hdf5``, ``gguf``,
    ``safetensors``, ``zip``, ``text``, ``binary`` or ``empty``.
    """
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(4096)
    if not head:
        return "empty"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "zip"
        return "torch-zip" if any(n.endswith(".pkl") for n in names) else "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return "pickle"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary"
    return "text"


def refuse_pickle(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: pickled checkpoint refused — neurotui never unpickles (loading a pickle can "
        "run arbitrary code); convert the weights to safetensors"
    )


def check_weights_file(path: Path) -> None:
    """Raise unless ``path`` looks like a safetensors file (checked before any parsing)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file is missing")
    kind = sniff(path)
    if kind in ("pickle", "torch-zip") or (
        kind != "safetensors" and path.suffix.lower() in PICKLE_SUFFIXES
    ):
        raise refuse_pickle(path)
    if kind == "hdf5":
        raise CheckpointError(
            f"{path}: an HDF5 file (an activation store?), not safetensors weights"
        )
    if kind != "safetensors":
        raise CheckpointError(f"{path}: not a safetensors file ({kind} content)")
    size = path.stat().st_size
    header = int.from_bytes(path.open("rb").read(8), "little")
    if 8 + header > size:
        raise CheckpointError(
            f"{path}: truncated safetensors file (header needs {8 + header} bytes, file has {size})"
        )


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file as float32 (integers kept); never unpickles."""
    from safetensors.torch import load_file

    path = Path(path)
    check_weights_file(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for bad files
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({detail})") from None
    return {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}


def read_json(path: Path, what: str = "JSON file") -> dict[str, Any]:
    """A JSON object from ``path``; one-line error naming the file (and line) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: {what} is missing")
    kind = sniff(path)
    if kind in ("pickle", "torch-zip"):
        raise refuse_pickle(path)
    if kind not in ("text", "empty"):
        raise CheckpointError(f"{path}: expected a {what}, found {kind} content")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: expected a {what}, found binary content") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object in the {what}")
    return data


# -- loading -----------------------------------------------------------------------
def find_pickles(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.iterdir() if p.is_file() and p.suffix.lower() in PICKLE_SUFFIXES
    )


def load_lstm_checkpoint(
    directory: Path, config: dict[str, Any], *, device: torch.device, name: str | None = None
) -> Backend:
    """Build the backend for a neurotui checkpoint whose ``config.json`` is ``config``."""
    directory = Path(directory)
    config_path = directory / CONFIG
    version = config.get("neurotui_format")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: neurotui_format {version!r} is not supported (this neurotui reads {FORMAT_VERSION})"
        )
    kind = config.get("kind")
    if kind not in VOCAB_FILES:
        raise CheckpointError(
            f"{config_path}: kind {kind!r} is not a neurotui model kind ({', '.join(VOCAB_FILES)})"
        )
    weights = directory / WEIGHTS
    if not weights.exists():
        pickles = find_pickles(directory)
        if pickles:
            raise refuse_pickle(pickles[0])
    tensors = read_weights(weights)
    from neurotui.models.vocab import Vocab

    vocabs = {file: Vocab.load(directory / file) for file in VOCAB_FILES[kind]}
    build_backend: Callable[..., Backend]
    if kind == "lstm-seq2seq":
        from neurotui.models import seq2seq

        build_backend = seq2seq.build_backend
    else:
        from neurotui.models import lm

        build_backend = lm.build_backend
    backend = build_backend(
        config,
        tensors,
        vocabs,
        config_path=config_path,
        weights_path=weights,
        name=name or directory.name,
        device=device,
        path=directory,
    )
    card = directory / "card.json"
    if card.is_file():
        try:
            backend.card = read_json(card, "model card")
        except CheckpointError:
            backend.card = None
    return backend
