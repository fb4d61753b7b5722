"""The output side of a stored neuron: the tokens an MLP neuron promotes and suppresses.

Why a module between the store and the models: a store knows which neuron (its site name)
and which model made it (its metadata); only the model knows the neuron's output weights
(:meth:`HFBackend.neuron_logit_effect`). ``top-words`` and the app's neuron card both put
the two together, and both must not load a model for a neuron that has no output side
(an LSTM state, a residual site, an encoder's MLP): :func:`ffn_site` decides from the name
alone, before anything heavy is imported.

A model is loaded at most once per (model, device) in a process and kept: loading a GGUF
file takes tens of seconds, and moving the card from neuron to neuron must not repeat it.
A backend some other part of the process already loaded (the app's Manipulate mode) is
borrowed through :func:`remember_backend`; the logit effect only reads weights, so it
does not disturb that backend's own work.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.errors import Unsupported

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend
    from neurotui.models.hf_logit import LogitEffect
    from neurotui.store.api import Store

#: stacks whose MLP output an LM head reads (causal LMs and decoders; not encoders)
OUTPUT_STACKS = ("lm", "dec")
#: tokens listed on each side by default
DEFAULT_K = 10


@dataclass
class OutputSide:
    """What :func:`output_side` found: the effect, or why there is none (``note``)."""

    model: str | None = None
    effect: LogitEffect | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def ffn_site(neuron_name: str) -> tuple[str, int] | None:
    """``lm.l3.ffn:17`` → (``lm.l3.ffn``, 17): an MLP neuron of a causal LM or decoder,
    i.e. one with tokens to promote; ``None`` for every other neuron (no model needed)."""
    site, _, index = neuron_name.rpartition(":")
    parts = site.split(".")
    if (
        len(parts) == 3
        and parts[0] in OUTPUT_STACKS
        and parts[1].startswith("l")
        and parts[1][1:].isdigit()
        and parts[2] == "ffn"
        and index.isdigit()
    ):
        return site, int(index)
    return None


def store_model(store: Store, override: str | Path | None = None) -> str | None:
    """The model to load for a store: ``override`` (``--model``) when given, else the one
    the store was extracted from (its path when that still exists, else its name).

    Why the override wins: the user named the model; a store only says which model made
    it, and the user may want another trained alike (or the file moved).
    """
    if override:
        return str(override)
    with contextlib.suppress(Exception):
        model = dict(store.metadata).get("model")
        if isinstance(model, dict):
            path = model.get("path")
            if isinstance(path, str) and Path(path).exists():
                return path
            name = model.get("name")
            return str(name) if name else None
        if isinstance(model, str):
            return model
    return None


_LOCK = threading.Lock()
_LOADING: dict[tuple[str, str, str], threading.Lock] = {}
_LOADED: dict[tuple[str, str, str], Backend] = {}
_BORROWED: dict[tuple[str, str, str], weakref.ReferenceType[Any]] = {}


def _key(model: str | Path, device: str, dtype: str) -> tuple[str, str, str]:
    path = Path(model).expanduser()
    name = str(path.resolve()) if path.exists() else str(model)
    return name, str(device), str(dtype)


def remember_backend(model: str | Path, device: str, backend: Backend, dtype: str = "auto") -> None:
    """Let the output side borrow ``backend`` (loaded elsewhere) while it is alive.

    Held weakly: when its owner (a mode's runner) lets it go, it goes.
    """
    with _LOCK:
        _BORROWED[_key(model, device, dtype)] = weakref.ref(backend)


def cached_backend(model: str | Path, device: str, dtype: str = "auto") -> Backend | None:
    """A backend of ``model`` on ``device`` in ``dtype`` already in this process, if any."""
    key = _key(model, device, dtype)
    with _LOCK:
        ref = _BORROWED.get(key)
        found = ref() if ref is not None else None
        return found if found is not None else _LOADED.get(key)


def load_model(
    model: str | Path,
    device: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
    *,
    dtype: str = "auto",
    keep: bool = True,
) -> Backend:
    """``model`` on ``device`` in ``dtype``, loaded once per process: concurrent callers
    wait for the first load instead of starting their own (two loads of one GGUF file on
    two cores took three times as long as one). ``keep=False``: the caller owns the
    backend (a mode's runner), which is only lent out while it is alive.
    """
    found = cached_backend(model, device, dtype)
    if found is not None:
        return found
    key = _key(model, device, dtype)
    with _LOCK:
        lock = _LOADING.setdefault(key, threading.Lock())
    with lock:
        found = cached_backend(model, device, dtype)
        if found is not None:
            return found
        from neurotui.models.registry import load_backend

        backend = load_backend(model, device, dtype=dtype, progress=progress)
        if keep:
            with _LOCK:
                _LOADED[key] = backend
        else:
            remember_backend(model, device, backend, dtype)
        return backend


def forget_models() -> None:
    """Drop the models loaded here (tests; an app closing)."""
    with _LOCK:
        _LOADED.clear()
        _BORROWED.clear()


def output_side(
    store: Store,
    neuron: int | str,
    k: int = DEFAULT_K,
    *,
    model: str | Path | None = None,
    device: str = "auto",
    dtype: str = "auto",
    progress: Callable[[str, int, int], None] | None = None,
) -> OutputSide:
    """The tokens stored neuron ``neuron`` promotes and suppresses, by the store's model
    (or ``model``). ``effect`` is ``None`` when the neuron has no output side or no model
    is known (``note`` says why); a model that cannot be loaded raises its one-line error.
    """
    name = store.neuron_name(store.neuron_id(neuron))
    found = ffn_site(name)
    if found is None:
        return OutputSide(note=f"{name}: not an MLP neuron of a causal LM or decoder")
    chosen = store_model(store, model)
    if chosen is None:
        return OutputSide(note="no model recorded in the store (give --model)")
    backend = load_model(chosen, device, progress, dtype=dtype)
    effect_of = getattr(backend, "neuron_logit_effect", None)
    if effect_of is None:
        raise Unsupported(f"model {Path(chosen).name}: no unembedding to read promoted tokens")
    site, index = found
    return OutputSide(model=chosen, effect=effect_of(site, index, k))
