"""Where a Hugging Face model's files are, which dtype and device it gets, and whether it fits.

Why a module of its own: users bring models in the layouts they have — a
``save_pretrained`` folder (one ``model.safetensors`` or shards behind
``model.safetensors.index.json``), a single ``.gguf`` file, or a folder holding one — and
expect ``--dtype``/``--device`` to mean the same for all of them. Everything here is
decided *before* any weight is read, so a model that cannot fit says so in one line
instead of filling the machine's memory first.

* :func:`locate` turns a path into a :class:`Source` (folder + optional GGUF file name);
* :func:`resolve_dtype`: ``auto`` is float32 on the CPU (exact, and what CPU kernels are
  fastest at) and the checkpoint's own float type on a GPU (``config.json``'s dtype, else
  the first float tensor of the safetensors files); a GGUF file holds quantised blocks,
  which have no float type of their own, so on a GPU ``auto`` dequantises to bfloat16
  (float16 where the GPU has no bfloat16);
* :func:`place`: ``cpu``/``cuda``/``cuda:N`` are taken as given; ``auto`` is the CPU on a
  machine without CUDA, else the GPU with the most free memory when the model fits there,
  else all GPUs together (``device_map="auto"`` through accelerate);
* :func:`parameter_bytes` counts the parameters of the model class built on the ``meta``
  device (no memory), so the estimate is the same for every file format.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import CheckpointError, NeurotuiError

if TYPE_CHECKING:  # pragma: no cover
    import torch

GGUF_MAGIC = b"GGUF"
DTYPES = ("auto", "float32", "bfloat16", "float16")
#: extra room a model needs beyond its parameters (activations, buffers, allocator slack)
HEADROOM = 1.1


@dataclass(frozen=True)
class Source:
    """The files of one model: ``folder`` for ``from_pretrained``, ``gguf`` inside it."""

    folder: Path
    gguf: str | None = None

    @property
    def shown(self) -> Path:
        """The path errors name: the GGUF file, or the folder."""
        return self.folder / self.gguf if self.gguf else self.folder


@dataclass(frozen=True)
class Placement:
    """Where the weights go: one device, or ``device_map="auto"`` over all GPUs."""

    device: torch.device
    device_map: str | None = None  # "auto" when spread over several GPUs


def is_gguf(path: Path) -> bool:
    """True when ``path`` is a file starting with the GGUF magic bytes."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def gguf_files(folder: Path) -> list[Path]:
    """The GGUF files directly inside ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())


def locate(path: Path) -> Source:
    """The :class:`Source` of a model folder or GGUF file (one-line error otherwise).

    A folder with ``config.json`` is a ``save_pretrained`` folder; one without it but
    with exactly one ``.gguf`` file is that file (several: the user must pick one).
    """
    if path.is_file():
        if not is_gguf(path):
            raise CheckpointError(f"{path}: not a GGUF file (no GGUF magic bytes)")
        return Source(path.parent, path.name)
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a directory or GGUF file")
    if (path / "config.json").is_file():
        return Source(path)
    found = gguf_files(path)
    if len(found) == 1:
        return Source(path, found[0].name)
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:4])
        raise CheckpointError(f"{path}: {len(found)} GGUF files ({names}); give one of them")
    raise CheckpointError(
        f"{path / 'config.json'}: missing (not a Hugging Face model directory, no .gguf file)"
    )


# -- dtype ---------------------------------------------------------------------------------


def _torch_dtype(name: str) -> torch.dtype:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def checkpoint_dtype(source: Source, config: Any) -> str | None:
    """The float type the checkpoint was saved in (``None``: unknown or quantised)."""
    for field in ("dtype", "torch_dtype"):
        value = getattr(config, field, None)
        name = str(value).replace("torch.", "") if value is not None else ""
        if name in DTYPES[1:]:
            return name
    if source.gguf:
        return None
    return _safetensors_dtype(source.folder)


def _safetensors_dtype(folder: Path) -> str | None:
    """The dtype of the first float tensor in the (first) safetensors file's header."""
    names = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
    files = [folder / "model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()
            files = [folder / sorted(set(shards))[0]]
        except (ValueError, KeyError, TypeError, IndexError):
            return None
    try:
        with files[0].open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(min(size, 100_000_000)))
    except (OSError, ValueError):
        return None
    for key, info in header.items():
        if key != "__metadata__" and isinstance(info, dict) and info.get("dtype") in names:
            return names[info["dtype"]]
    return None


def resolve_dtype(name: str, device: torch.device, source: Source, config: Any) -> torch.dtype:
    """The dtype ``--dtype name`` means on ``device`` for this checkpoint (see module doc)."""
    import torch

    if name not in DTYPES:
        raise NeurotuiError(f"--dtype {name}: choose one of {', '.join(DTYPES)}")
    if name != "auto":
        return _torch_dtype(name)
    if device.type == "cpu":
        return torch.float32
    own = checkpoint_dtype(source, config)
    if own is not None:
        return _torch_dtype(own)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


# -- size and placement --------------------------------------------------------------------


def parameter_count(model_class: Any, config: Any) -> int:
    """Parameters of ``model_class(config)``, built on the meta device (no memory)."""
    import warnings

    import torch

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = model_class.from_config(config)
    return sum(p.numel() for p in model.parameters())


def parameter_bytes(count: int, dtype: torch.dtype) -> int:
    """Bytes of ``count`` parameters in ``dtype``."""
    return count * dtype.itemsize


def cpu_available() -> int:
    """Bytes of RAM available now (``MemAvailable``; the physical size where unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: do not refuse


def gpu_free() -> dict[int, int]:
    """Free bytes of each visible GPU (empty without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {i: int(torch.cuda.mem_get_info(i)[0]) for i in range(torch.cuda.device_count())}


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def place(
    device: str | torch.device | None,
    need: int,
    *,
    what: Path,
    dtype: torch.dtype,
    staging: int = 0,
) -> Placement:
    """The :class:`Placement` for a model of ``need`` bytes, or a one-line refusal.

    ``staging`` is CPU memory needed on the way whatever the device (a GGUF file is
    dequantised to float32 on the CPU before it is moved). Refuses *before* allocating.
    """
    import torch

    from neurotui.device import resolve_device

    name = "auto" if device in (None, "", "auto") else device
    dt = str(dtype).replace("torch.", "")
    wanted = int(need * HEADROOM)
    cpu = cpu_available()
    if staging and staging > cpu:
        raise CheckpointError(
            f"{what}: does not fit: loading needs about {_gib(staging)} of RAM "
            f"(dequantised to float32 on the way), {_gib(cpu)} available"
        )
    if name == "auto":
        free = gpu_free()
        if not free:
            placement = Placement(resolve_device("cpu"))
        else:
            best = max(free, key=lambda i: free[i])
            if wanted <= free[best]:
                placement = Placement(resolve_device(f"cuda:{best}"))
            elif wanted <= sum(free.values()):
                return Placement(resolve_device(f"cuda:{min(free)}"), "auto")
            else:
                raise CheckpointError(
                    f"{what}: does not fit: {_gib(need)} of {dt} weights, "
                    f"{len(free)} GPU(s) have {_gib(sum(free.values()))} free; "
                    "try --dtype bfloat16 or a smaller model"
                )
    else:
        placement = Placement(name if isinstance(name, torch.device) else resolve_device(str(name)))
    dev = placement.device
    if dev.type == "cuda":
        given: int | None = dev.index  # None for a bare "cuda" (torch's stubs say int)
        index = given if given is not None else torch.cuda.current_device()
        have = gpu_free().get(index, 0)
        hint = "; try --device auto (all GPUs) or --dtype bfloat16"
    else:
        have = cpu
        hint = "; try --dtype bfloat16" if dtype == torch.float32 else ""
    if wanted > have:
        raise CheckpointError(
            f"{what}: does not fit: {_gib(need)} of {dt} weights, {dev} has {_gib(have)} free{hint}"
        )
    return placement
