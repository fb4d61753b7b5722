"""Helpers shared by command modules (kept import-light)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

#: the model compute types ``--dtype`` accepts (see ``neurotui.models.hf_load``)
MODEL_DTYPES = ("auto", "float32", "bfloat16", "float16")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device``: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""
    parser.add_argument(
        "--device",
        default="auto",
        help=(
            "cpu, cuda, cuda:N or auto (default: auto = a GPU when present; a model too "
            "big for one GPU is spread over all of them)"
        ),
    )


def cluster_spec(value: str) -> str:
    """argparse type of ``--cluster`` (checked without importing dask)."""
    import re

    if re.fullmatch(r"local:[1-9]\d*|(tcp|tls)://[^\s:/]+:\d+", value):
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r}: use local:N (N worker processes here) or tcp://HOST:PORT (a running "
        "Dask scheduler)"
    )


def add_cluster_arg(parser: argparse.ArgumentParser) -> None:
    """``--cluster``: run on Dask (needs the [scale] extra); absent, one process as before."""
    parser.add_argument(
        "--cluster",
        type=cluster_spec,
        default=None,
        metavar="SPEC",
        help=(
            "run on Dask: local:N (N worker processes, one per GPU where GPUs exist) or "
            "tcp://HOST:PORT (an existing scheduler; see docs/scale.md)"
        ),
    )


def add_model_dtype_arg(parser: argparse.ArgumentParser, flag: str = "--dtype") -> None:
    """The model's compute type (``dest="model_dtype"``); Hugging Face models only.

    ``flag`` is ``--model-dtype`` where ``--dtype`` already means something else
    (``extract``: the store's value type).
    """
    parser.add_argument(
        flag,
        dest="model_dtype",
        choices=MODEL_DTYPES,
        default="auto",
        help=(
            "compute type of a Hugging Face model (default: auto = float32 on the CPU, "
            "the checkpoint's own type on a GPU)"
        ),
    )


def load_stages(enabled: bool | None = None) -> Callable[[str, int, int], None] | None:
    """A ``progress`` callback printing each model-loading stage as a line on stderr.

    Why lines, not a bar: loading is a few long steps (a GGUF file is parsed and
    dequantised for tens of seconds on a CPU), each worth a line of its own. Only
    ``load: …`` stages are printed; other stages belong to the command's bar. Like the
    bars, the lines are for a person: ``enabled=None`` prints only when stderr is a
    terminal, so piped runs and scripts see just the errors.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None

    def show(stage: str, done: int, total: int) -> None:
        if stage.startswith("load: "):
            print(f"neurotui: {stage} [{done}/{total}]", file=sys.stderr, flush=True)

    return show


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json``: print exactly one JSON document on stdout."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def print_json(document: Any) -> None:
    """Print one JSON document (the contract of every ``--json`` flag)."""
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False, default=_jsonable)
    sys.stdout.write("\n")


def _jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays and paths into JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
