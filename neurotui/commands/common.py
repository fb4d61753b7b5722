"""Helpers shared by command modules (kept import-light)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device``: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``."""
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)"
    )


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
