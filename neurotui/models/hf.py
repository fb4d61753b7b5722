"""The Hugging Face backend: local checkpoint directories behind the Backend contract.

Why: users bring Marian/T5/BART translation models, GPT-2-style causal LMs and BERT-style
encoders in the standard ``save_pretrained`` layout; the store, rankings and interventions
must treat them exactly like the project's own LSTMs. Nothing is ever downloaded
(``local_files_only`` and the HF offline switches) and nothing is unpickled (safetensors
only; a ``pytorch_model.bin``-only directory is refused).

Families and what they offer:

* encoder–decoder (``is_encoder_decoder``): ``kind="seq2seq"``; ``translate`` through
  ``generate`` (greedy or beam, never sampling); sites ``enc.*`` and ``dec.*``; decoder
  sites are read under teacher forcing on ``targets`` (or on the model's own greedy output);
* causal LM (architecture ``…ForCausalLM``/``…LMHeadModel``): ``kind="lm"``; ``translate``
  continues the sentence; ``perplexity``; sites ``lm.*``;
* encoder (anything else, e.g. BERT): ``kind="encoder"``; ``encode`` only; sites ``enc.*``.

Per stack the sites are ``<p>.l0`` (the embeddings) and per block ``<p>.l{i}`` (residual
stream after block ``i-1``), ``<p>.l{i}.attn`` (+ ``dec.l{i}.xattn``), ``<p>.l{i}.ffn``
(MLP neurons; ``.mlp`` for mixture-of-experts blocks), numbered as NeuroX numbers layers;
see ``hf_sites`` and docs/hf-sites.md.

Rows, words and steps (what :class:`EditContext` says to an edit function):

* encoder and LM sites: ``word_index[b][t]`` is the source word of sub-word position ``t``
  (``None`` for special tokens, BOS and padding; for an LM also for generated positions);
  ``words[b]`` are the source words; activations from ``encode`` are aggregated per word;
* decoder sites follow the LSTM backend's convention: the row at decoder position ``p``
  is the state *after consuming* target token ``p - 1`` (position 0 consumes the decoder
  start token: index ``None``), so ``word_index[b][t]`` is that consumed token's index
  (``None`` for the start position and padding), during ``generate`` and under teacher
  forcing alike. For sub-word models these are *token* positions: word boundaries of an
  output are unknown while it is generated. With the KV cache each forward has one
  position and ``step`` is the decoding step (step ``s`` consumes token ``s - 1``); beam
  search gives ``batch × beam`` rows, row ``r`` belonging to sentence ``r // beam``;
  ``words`` are the target words under teacher forcing, empty while generating.
  ``encode`` aggregates decoder rows to target *words* (the rows that consumed each
  word's pieces).

``Translation.tokens`` are the output words (``text.split()``); sub-word pieces and ids are
in ``Translation.extra`` (``"pieces"``, ``"ids"``). ``translate`` on an LM returns the
continuation only (``max_len`` new tokens, default 20).

See ``hf_sites`` (which modules), ``hf_tokens`` (word alignment) and ``hf_hooks`` (edits
and the decoding-step context).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from neurotui.errors import Cancelled, CheckpointError, DataError, NeurotuiError, Unsupported
from neurotui.models.base import Aggregation, Backend, EditFn, ModelKind, SiteInfo, Translation
from neurotui.models.hf_draft import CannotCrop, DraftMemo, eos_ids, greedy_with_draft, plain_greedy
from neurotui.models.hf_hooks import Capture, RunState, count_hooks, install_site, install_tracker
from neurotui.models.hf_load import (
    locate,
    parameter_bytes,
    parameter_count,
    place,
    resolve_dtype,
)
from neurotui.models.hf_sites import SiteSpec, discover, stacks
from neurotui.models.hf_tokens import Aligned, Batch, align, check_length, pad
from neurotui.progress import ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from torch.utils.hooks import RemovableHandle

    from neurotui.models.hf_logit import LogitEffect

#: how a sentence marks the word an encoder fills (any tokenizer's own mask token works too)
MASK = "[MASK]"
#: fills shown per mask
FILL_TOP_K = 5
#: new tokens a causal LM continues a prompt by when no ``max_len`` is given
LM_CONTINUATION = 20
#: files that would need unpickling; never loaded
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5")
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


# -- loading ---------------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    """``config.json`` as a dict, or a one-line :class:`CheckpointError` saying why not."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{config_file}: missing (not a Hugging Face model directory)")
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{config_file}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(
            f"{config_file}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{config_file}: expected a JSON object")
    if not isinstance(data.get("model_type"), str):
        raise CheckpointError(f"{config_file}: no 'model_type' field")
    return data


def weights_file(path: Path) -> Path:
    """The safetensors weights of ``path``; pickled-only checkpoints are refused."""
    for name in ("model.safetensors", "model.safetensors.index.json"):
        if (path / name).is_file():
            return path / name
    pickled = sorted(
        p.name
        for p in path.iterdir()
        if p.name in PICKLED_WEIGHTS or p.name.endswith(_PICKLE_SUFFIXES)
    )
    if pickled:
        raise CheckpointError(
            f"{path / pickled[0]}: pickled weights are never loaded (unpickling can run "
            "code); save the model with safetensors (model.safetensors)"
        )
    raise CheckpointError(f"{path / 'model.safetensors'}: missing (no model weights)")


def _check_safetensors(file: Path) -> None:
    """Read the safetensors header(s) so corrupt files fail with a clear line."""
    from safetensors import safe_open

    files = [file]
    if file.name.endswith(".index.json"):
        try:
            index = json.loads(file.read_text(encoding="utf-8"))
            files = [file.parent / f for f in sorted(set(index["weight_map"].values()))]
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{file}: invalid safetensors index ({exc})") from None
    for item in files:
        try:
            with safe_open(str(item), framework="pt") as handle:
                handle.keys()
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(
                f"{item}: corrupt safetensors file ({_first_line(exc)})"
            ) from None


def _refuse_mismatched(mismatched: Any, weights: Path, folder: Path) -> None:
    """Weights whose shapes differ from what config.json builds (a wrong ``d_model``,
    ``hidden_size``, vocabulary or head count): one line naming a weight and both shapes."""
    found = sorted((str(k), tuple(a), tuple(b)) for k, a, b in mismatched)
    if not found:
        return
    key, ckpt, model = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    raise CheckpointError(
        f"{weights}: weight {key} has shape {ckpt}, but {folder / 'config.json'} makes it "
        f"{model}{more}; the config's sizes (d_model/hidden_size, vocabulary, heads) do not "
        "match these weights"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _quiet_transformers() -> None:
    """No progress bars or advice on stderr: neurotui owns the terminal."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def model_kind(config: Any) -> ModelKind:
    """``seq2seq`` / ``lm`` / ``encoder`` from the config's flags and architectures."""
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    archs = list(getattr(config, "architectures", None) or [])
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "lm"
    if archs:
        return "encoder"
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = config.model_type
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and (
        model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES or getattr(config, "is_decoder", False)
    ):
        return "lm"
    return "encoder"


def load_hf_backend(
    path: str | os.PathLike[str],
    device: Any = None,
    *,
    name: str | None = None,
    dtype: str = "auto",
    progress: ProgressFn | None = None,
) -> HFBackend:
    """Open a local HF model folder or GGUF file as a :class:`Backend` (never downloads).

    ``path``: a ``save_pretrained`` folder (safetensors, sharded or not), a ``.gguf`` file
    or a folder holding one (see :mod:`neurotui.models.hf_load`). ``device``: a
    ``torch.device``, ``cpu``, ``cuda``, ``cuda:N`` or ``None``/``"auto"``; ``dtype``:
    ``auto``, ``float32``, ``bfloat16`` or ``float16``. ``progress(stage, done, total)``
    hears each loading stage. Raises :class:`CheckpointError` (one line naming the file)
    for a missing, broken, pickled-only, unsupported or too large checkpoint.
    """
    source = locate(Path(path))
    folder, shown = source.folder, source.shown
    weights = shown
    if source.gguf is None:
        raw = read_config(folder)
        weights = weights_file(folder)
        _check_safetensors(weights)
        model_type = raw["model_type"]
    else:
        model_type = "gguf"
    try:
        _quiet_transformers()
        import torch
        import transformers
    except ImportError as exc:
        raise NeurotuiError(
            f"{shown}: Hugging Face models need the [hf] extra ({_first_line(exc)})"
        ) from None
    steps = 4
    _stage(progress, "reading the config", 0, steps)
    files: dict[str, Any] = {"local_files_only": True}
    if source.gguf is not None:
        _need_gguf(shown)
        files["gguf_file"] = source.gguf
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = transformers.AutoConfig.from_pretrained(folder, **files)
    except Exception as exc:
        where = shown if source.gguf else folder / "config.json"
        raise CheckpointError(
            f"{where}: unsupported or invalid config for model_type {model_type!r} "
            f"({_first_line(exc)})"
        ) from None
    kind = model_kind(config)
    auto = _auto_class(transformers, kind, config)
    guess = device if isinstance(device, torch.device) else _likely_device(device)
    torch_dtype = resolve_dtype(dtype, guess, source, config)
    count = parameter_count(auto, config)
    placement = place(
        device,
        parameter_bytes(count, torch_dtype),
        what=shown,
        dtype=torch_dtype,
        staging=parameter_bytes(count, torch.float32) if source.gguf else 0,
    )
    _stage(progress, "loading the tokenizer", 1, steps)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **files)
    except Exception as exc:
        raise CheckpointError(f"{shown}: cannot load the tokenizer ({_first_line(exc)})") from None
    what = "dequantising GGUF weights" if source.gguf else "loading weights"
    _stage(progress, f"{what} ({count / 1e6:,.0f} M parameters)", 2, steps)
    options: dict[str, Any] = dict(files, config=config, dtype=torch_dtype)
    if source.gguf is None:
        options["use_safetensors"] = True
    # Mismatches are reported below, by name: transformers' own error says "see the above
    # report", a report its logging (silenced here) never shows.
    options["ignore_mismatched_sizes"] = True
    if placement.device_map is not None:
        options["device_map"] = placement.device_map
    elif placement.device.type != "cpu":
        options["device_map"] = {"": placement.device}
    try:
        with warnings.catch_warnings(), _no_gguf_bar():
            warnings.simplefilter("ignore")
            model, info = auto.from_pretrained(folder, output_loading_info=True, **options)
    except Exception as exc:
        raise CheckpointError(f"{weights}: cannot load ({_first_line(exc)})") from None
    _refuse_mismatched(info.get("mismatched_keys") or (), weights, folder)
    missing = [k for k in info.get("missing_keys", ()) if not _tolerated_missing(k)]
    if missing:
        raise CheckpointError(
            f"{weights}: weights do not fit a {type(model).__name__} "
            f"({len(missing)} missing, e.g. {sorted(missing)[0]})"
        )
    _stage(progress, f"placing on {placement.device_map or placement.device}", 3, steps)
    if placement.device_map is None:
        model.to(placement.device)
    model.eval()
    dev = model.get_input_embeddings().weight.device  # where inputs go (device_map too)
    label = name or (Path(source.gguf).stem if source.gguf else folder.name)
    backend = HFBackend(model, tokenizer, kind, label, dev, Path(path))
    _stage(progress, "ready", steps, steps)
    return backend


@contextmanager
def _no_gguf_bar() -> Iterator[None]:
    """Silence transformers' GGUF dequantisation bar (a bare tqdm on stderr that ignores
    ``disable_progress_bar``): neurotui owns the terminal and reports its own stages."""
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - older layout: nothing to silence
        yield
        return
    saved = getattr(gguf_utils, "tqdm", None)
    gguf_utils.tqdm = lambda items, *args, **kwargs: items
    try:
        yield
    finally:
        gguf_utils.tqdm = saved


def _stage(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(f"load: {stage}", done, total)


def _need_gguf(file: Path) -> None:
    """GGUF reading needs the ``gguf`` package (in the ``[hf]`` extra): say so in one line."""
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise NeurotuiError(
            f"{file}: reading GGUF files needs the gguf package (pip install 'neurotui[hf]')"
        )


def _likely_device(device: Any) -> torch.device:
    """The device ``device`` names, for choosing the dtype (``auto``: a GPU when present)."""
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(str(device))


def _auto_class(transformers: Any, kind: ModelKind, config: Any) -> Any:
    """The Auto class to load with: an encoder with a masked-LM head keeps its head."""
    if kind == "seq2seq":
        return transformers.AutoModelForSeq2SeqLM
    if kind == "lm":
        return transformers.AutoModelForCausalLM
    if has_mlm_head(config):
        return transformers.AutoModelForMaskedLM
    return transformers.AutoModel


def has_mlm_head(config: Any) -> bool:
    """Whether the checkpoint's architecture is a masked-LM (``…ForMaskedLM``)."""
    archs = list(getattr(config, "architectures", None) or [])
    return any(a.endswith("ForMaskedLM") for a in archs)


def _tolerated_missing(key: str) -> bool:
    """Buffers HF recreates on load (sinusoidal positions, logit biases, position ids) and
    BERT's pooler, which a masked-LM checkpoint does not have and no site reads."""
    if key.startswith("pooler.") or ".pooler." in key:
        return True
    return key.endswith(("embed_positions.weight", "final_logits_bias", "position_ids"))


# -- the backend -------------------------------------------------------------------------


class _StopCriterion:
    """A ``generate`` stopping criterion that turns ``should_stop`` into Cancelled."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        import torch

        if self.should_stop():
            raise Cancelled("translation cancelled")
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class HFBackend(Backend):
    """A Hugging Face model with word-level sites; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        kind: ModelKind,
        name: str,
        device: torch.device,
        path: Path | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.kind = kind
        self.name = name
        self.device = device
        self.path = path
        #: generate with the KV cache (False re-runs the whole prefix at each step)
        self.use_cache = True
        #: BOS at the start of every input: ``None`` = as the tokenizer does it (SmolLM2's
        #: adds none, Llama's does), ``True``/``False`` = forced on/off (``--bos``)
        self.bos: bool | None = None
        #: an encoder's read-out for a sentence without ``[MASK]``: mask this word (the
        #: app's cursor word) — the words stay as they are, so edits select the same rows
        self.mask_word: int | None = None
        #: continue one LM prompt by checking its last continuation as a draft (greedy only;
        #: see ``hf_draft``): the same tokens, several times faster when they repeat
        self.draft_decoding = True
        self._drafts = DraftMemo()
        self._specs: list[SiteSpec] = discover(model, kind)
        self._by_name = {spec.info.name: spec for spec in self._specs}
        self._stacks = stacks(model, kind)
        self._state = RunState()
        #: the compute type of the weights (what ``--dtype`` chose)
        self.dtype = next(model.parameters()).dtype
        config = model.config
        limit = getattr(config, "max_position_embeddings", None)
        self._max_positions = limit if isinstance(limit, int) and limit > 0 else None

    # -- introspection -----------------------------------------------------------------
    def sites(self) -> list[SiteInfo]:
        return [spec.info for spec in self._specs]

    def site_spec(self, name: str) -> SiteSpec:
        """Where site ``name`` lives in the model (module, hook kind, block), for callers
        that need the weights around a site (e.g. a neuron's output weights)."""
        self.site(name)  # a one-line error for an unknown name
        return self._by_name[name]

    def neuron_logit_effect(self, site: str, neuron: int, k: int = 10) -> LogitEffect:
        """The ``k`` tokens MLP neuron ``site:neuron`` promotes and suppresses most.

        Its output-weight column through the final norm's gain and the unembedding (see
        ``hf_logit``). Only for ``.ffn`` sites of a causal LM or of a decoder: an encoder's
        neurons write to a stream no LM head reads directly.
        """
        from neurotui.models.hf_logit import logit_effect

        spec = self.site_spec(site)
        if spec.kind != "ffn" or spec.stack == "enc":
            raise Unsupported(
                f"site {site}: promoted tokens need an MLP neuron site (.ffn) of a causal LM "
                "or a decoder"
            )
        return logit_effect(self.model, self.tokenizer, spec, self._stacks[spec.stack], neuron, k)

    @property
    def family(self) -> str:
        """The HF ``model_type`` (``marian``, ``t5``, ``gpt2``, ``bert`` …)."""
        return str(self.model.config.model_type)

    # -- hooks -------------------------------------------------------------------------
    def _install_edits(self, edits: dict[str, EditFn]) -> list[RemovableHandle]:
        handles: list[RemovableHandle] = []
        try:
            prefixes = {self._by_name[name].stack for name in edits}
            for prefix in ("dec", "lm"):
                if prefix in prefixes:
                    handles.append(install_tracker(self._stacks[prefix], prefix, self._state))
            for name, fn in edits.items():
                handles.extend(install_site(self._by_name[name], fn, self._state))
        except BaseException:
            for handle in handles:
                handle.remove()
            raise
        return handles

    def active_hook_count(self) -> int:
        return count_hooks(self.model)

    @contextmanager
    def _running(self, **state: Any) -> Iterator[None]:
        """Describe the batch being run to the hooks for the length of one forward/generate."""
        saved = self._state.__dict__.copy()
        self._state.__dict__.update(RunState().__dict__)
        self._state.__dict__.update(state)
        try:
            yield
        finally:
            self._state.__dict__.update(saved)

    # -- tokenisation ------------------------------------------------------------------
    @property
    def _pad_id(self) -> int:
        for value in (
            self.tokenizer.pad_token_id,
            getattr(self.model.config, "pad_token_id", None),
            self.tokenizer.eos_token_id,
        ):
            if isinstance(value, int):
                return value
        return 0

    def _align_sources(self, sentences: Sequence[str]) -> list[Aligned]:
        items = [self._with_bos(align(self.tokenizer, s)) for s in sentences]
        check_length(items, self._max_positions, "source")
        return items

    def _with_bos(self, item: Aligned) -> Aligned:
        """``item`` with its leading BOS as :attr:`bos` says (the tokenizer's own: as is).

        Why not always prepend it: a model trained without a BOS (SmolLM2) sees a
        different input with one, and every activation changes. An empty input keeps a
        BOS when there is one: a causal LM needs at least one position to run.
        """
        bos = self.tokenizer.bos_token_id
        if not isinstance(bos, int):
            return item
        has = bool(item.ids) and item.ids[0] == bos
        want = has if self.bos is None else self.bos
        want = want or not item.ids
        if want and not has:
            return Aligned(item.words, [bos, *item.ids], [None, *item.word_index])
        if has and not want:
            return Aligned(item.words, item.ids[1:], item.word_index[1:])
        return item

    def uses_bos(self) -> bool | None:
        """Whether inputs start with a BOS under the current setting (``None``: the
        tokenizer has no BOS token). What a store records as ``bos``."""
        bos = self.tokenizer.bos_token_id
        if not isinstance(bos, int):
            return None
        item = self._with_bos(align(self.tokenizer, "a"))
        return bool(item.ids) and item.ids[0] == bos

    def _lm_items(self, sentences: Sequence[str], *, eos: bool) -> list[Aligned]:
        """LM inputs: BOS as :meth:`_with_bos` says + sentence (+ EOS for scoring)."""
        end = self.tokenizer.eos_token_id
        items = []
        for sentence in sentences:
            item = self._with_bos(align(self.tokenizer, sentence))
            if eos and isinstance(end, int) and item.ids[-1] != end:
                item = Aligned(item.words, [*item.ids, end], [*item.word_index, None])
            items.append(item)
        check_length(items, self._max_positions, "input")
        return items

    def token_rows(self, sentences: Sequence[str]) -> list[list[str]]:
        """The sub-word pieces the model sees for each sentence (special tokens included):
        the row labels of :meth:`encode_tokens`."""
        items = self._inputs(sentences)
        return [list(self.tokenizer.convert_ids_to_tokens(item.ids)) for item in items]

    def _inputs(self, sentences: Sequence[str]) -> list[Aligned]:
        if self.kind == "lm":
            return self._lm_items(sentences, eos=False)
        return self._align_sources(sentences)

    def _decoder_inputs(self, targets: Sequence[str]) -> tuple[list[Aligned], Batch]:
        """Teacher forcing: the targets (ending with EOS) and the decoder's input, the
        targets shifted right behind the decoder start token, padded."""
        items = [self._target_item(t) for t in targets]
        check_length(items, self._max_positions, "target")
        start_id = self.model.config.decoder_start_token_id
        if start_id is None:
            start_id = self._pad_id
        shifted = [Aligned(t.words, [start_id, *t.ids[:-1]], t.word_index) for t in items]
        return items, pad(shifted, self._pad_id, device=self.device)

    def _target_item(self, sentence: str) -> Aligned:
        """Target tokens ending with EOS (the decoder input drops it: nothing consumes it)."""
        item = align(self.tokenizer, sentence, target=True)
        eos = self.tokenizer.eos_token_id
        if isinstance(eos, int) and (not item.ids or item.ids[-1] != eos):
            item = Aligned(item.words, [*item.ids, eos], [*item.word_index, None])
        return item

    # -- reading activations -------------------------------------------------------------
    def encode(
        self,
        sentences: Sequence[str],
        sites: Sequence[str] | None = None,
        *,
        targets: Sequence[str] | None = None,
        aggregation: Aggregation = "mean",
        batch_size: int = 32,
    ) -> list[dict[str, np.ndarray]]:
        import torch

        if aggregation not in ("first", "last", "mean"):
            raise NeurotuiError(f"unknown aggregation {aggregation!r}: use first, last or mean")
        names = list(sites) if sites is not None else [s.name for s in self.sites()]
        for name in names:
            self.site(name)
        if targets is not None and len(targets) != len(sentences):
            raise NeurotuiError(
                f"{len(targets)} target sentences for {len(sentences)} source sentences"
            )
        wants_dec = any(self._by_name[n].stack == "dec" for n in names)
        if wants_dec and targets is None:
            targets = [t.text for t in self.translate(sentences, beam=1, batch_size=batch_size)]
        wanted = targets if wants_dec else None
        results: list[dict[str, np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(sentences), max(1, batch_size)):
                chunk = list(sentences[start : start + batch_size])
                tchunk = list(wanted[start : start + batch_size]) if wanted is not None else None
                results.extend(self._encode_batch(chunk, names, tchunk, aggregation))
        return results

    def encode_tokens(
        self, sentences: Sequence[str], sites: Sequence[str] | None = None, *, batch_size: int = 32
    ) -> list[dict[str, np.ndarray]]:
        """One row per input position (:meth:`token_rows`), not per word.

        Why: LLM work reads the model's own positions (BOS, sub-word pieces); words
        stay the default for the papers' per-word methods. Encoder and LM sites only: a
        decoder's rows are target positions, which have no source pieces.
        """
        import torch

        names = list(sites) if sites is not None else [s.name for s in self.sites()]
        for name in names:
            if self.site(name).side == "decoder":
                raise Unsupported(f"--rows tokens: site {name} is a decoder site (words only)")
        results: list[dict[str, np.ndarray]] = []
        with torch.inference_mode():
            for start in range(0, len(sentences), max(1, batch_size)):
                chunk = list(sentences[start : start + batch_size])
                results.extend(self._encode_batch(chunk, names, None, "mean", tokens=True))
        return results

    def _encode_batch(
        self,
        sentences: list[str],
        names: list[str],
        targets: list[str] | None,
        aggregation: Aggregation,
        *,
        tokens: bool = False,
    ) -> list[dict[str, np.ndarray]]:
        items = self._inputs(sentences)
        batch = pad(items, self._pad_id, device=self.device)
        captures = {name: Capture() for name in names}
        state: dict[str, Any] = {"src_index": batch.word_index, "src_words": batch.words}
        tgt_items: list[Aligned] = []
        dec_batch: Batch | None = None
        if targets is not None:
            tgt_items, dec_batch = self._decoder_inputs(targets)
            state["tgt_words"] = [t.words for t in tgt_items]
            state["tgt_pad"] = [[m == 0 for m in row] for row in dec_batch.attention_mask.tolist()]
        with self.edits(captures), self._running(**state):
            if self.kind == "seq2seq" and dec_batch is not None:
                self.model(
                    input_ids=batch.input_ids,
                    attention_mask=batch.attention_mask,
                    decoder_input_ids=dec_batch.input_ids,
                    decoder_attention_mask=dec_batch.attention_mask,
                    use_cache=False,
                )
            elif self.kind == "seq2seq":
                self.model.get_encoder()(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask
                )
            elif self.kind == "lm":
                self.model.base_model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
                )
            else:
                # the encoder alone: a masked-LM head's vocabulary logits are not a site
                self.model.base_model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask
                )
        import numpy as np

        out: list[dict[str, np.ndarray]] = [{} for _ in sentences]
        for name, capture in captures.items():
            if not capture.chunks:
                raise NeurotuiError(f"site {name} was not reached by the forward pass")
            tensor = capture.chunks[-1].numpy()
            is_dec = self._by_name[name].stack == "dec"
            for b in range(len(sentences)):
                if tokens:
                    out[b][name] = tensor[b, : len(items[b].ids)].astype(np.float32, copy=False)
                    continue
                if is_dec:  # position p consumed target token p - 1
                    index = [None, *tgt_items[b].word_index[:-1]]
                    n_words = len(tgt_items[b].words)
                else:
                    index, n_words = batch.word_index[b], len(batch.words[b])
                out[b][name] = aggregate(tensor[b], index, n_words, aggregation)
        return out

    # -- running the model ---------------------------------------------------------------
    def translate(
        self,
        sentences: Sequence[str],
        *,
        beam: int = 1,
        max_len: int | None = None,
        batch_size: int = 64,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Translation]:
        import torch

        if self.kind == "encoder":
            return self.fill_masks(sentences, batch_size=batch_size, should_stop=should_stop)
        if beam < 1:
            raise NeurotuiError(f"beam must be at least 1 (got {beam})")
        results: list[Translation] = []
        with torch.inference_mode():
            for start in range(0, len(sentences), max(1, batch_size)):
                if should_stop is not None and should_stop():
                    raise Cancelled("translation cancelled")
                chunk = list(sentences[start : start + batch_size])
                results.extend(self._generate(chunk, beam, max_len, should_stop))
        return results

    def _generate(
        self,
        sentences: list[str],
        beam: int,
        max_len: int | None,
        should_stop: Callable[[], bool] | None,
    ) -> list[Translation]:
        import torch
        from transformers import StoppingCriteriaList

        lm = self.kind == "lm"
        items = self._lm_items(sentences, eos=False) if lm else self._align_sources(sentences)
        if lm and beam == 1:
            drafted = self._drafted(sentences, items, max_len, should_stop)
            if drafted is not None:
                return drafted
        batch = pad(items, self._pad_id, left=lm, device=self.device)
        width = int(batch.input_ids.shape[1])
        longest = max((len(i.ids) for i in items), default=1)
        max_new = max_len if max_len is not None else (LM_CONTINUATION if lm else 2 * longest + 10)
        kwargs: dict[str, Any] = {
            "num_beams": beam,
            "num_return_sequences": 1,
            "do_sample": False,
            "max_new_tokens": max(1, max_new),
            "return_dict_in_generate": True,
            "output_scores": True,
            "use_cache": self.use_cache,
            "pad_token_id": self._pad_id,
        }
        if should_stop is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_StopCriterion(should_stop)])
        if not lm and self._pad_id != self.tokenizer.eos_token_id:
            kwargs["bad_words_ids"] = [[self._pad_id]]  # the decoder start is never an output
        state = {
            "src_index": batch.word_index,
            "src_words": batch.words,
            "generating": True,
            "cached": self.use_cache,
        }
        with warnings.catch_warnings(), self._running(**state):
            warnings.simplefilter("ignore")
            out = self.model.generate(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, **kwargs
            )
        if beam > 1:
            scores = self.model.compute_transition_scores(
                out.sequences, out.scores, out.beam_indices, normalize_logits=False
            )
        else:  # each step's log-softmax in float32, row by row, as ``hf_draft`` scores
            # (transformers' ``compute_transition_scores(normalize_logits=True)`` was off
            # by ≈ 2e-4 a token on SmolLM2 against float64; this is within 3e-5)
            tokens = out.sequences[:, out.sequences.shape[1] - len(out.scores) :]
            scores = torch.stack(
                [
                    torch.log_softmax(step.float(), dim=-1).gather(1, tokens[:, i : i + 1])[:, 0]
                    for i, step in enumerate(out.scores)
                ],
                dim=1,
            )
        generated = out.sequences[:, width:] if lm else out.sequences[:, 1:]
        results = [
            self._translation(src, generated[b].tolist(), scores[b].tolist())
            for b, src in enumerate(sentences)
        ]
        if lm and beam == 1:
            for item, result in zip(items, results, strict=True):
                self._drafts.put(item.ids, cast("list[int]", result.extra["ids"]))
        return results

    def _drafted(
        self,
        sentences: list[str],
        items: list[Aligned],
        max_len: int | None,
        should_stop: Callable[[], bool] | None,
    ) -> list[Translation] | None:
        """One prompt's greedy continuation checked against its last one (``hf_draft``);
        ``None`` where that does not apply: off, a batch, no draft yet, no KV cache, a
        generation config that is more than an argmax, or a cache that cannot be cut back."""
        if not (self.draft_decoding and self.use_cache and len(items) == 1):
            return None
        config = self.model.generation_config
        draft = self._drafts.get(items[0].ids)
        if not draft or not plain_greedy(config):
            return None
        state = {
            "src_index": [items[0].word_index],
            "src_words": [items[0].words],
            "generating": True,
            "cached": True,
        }
        try:
            with warnings.catch_warnings(), self._running(**state):
                warnings.simplefilter("ignore")
                ids, scores = greedy_with_draft(
                    self.model,
                    items[0].ids,
                    draft,
                    max_new=max(1, max_len if max_len is not None else LM_CONTINUATION),
                    eos=eos_ids(config, self.tokenizer),
                    state=self._state,
                    should_stop=should_stop,
                )
        except CannotCrop:
            self.draft_decoding = False  # this model's cache: every later call uses generate
            return None
        self._drafts.put(items[0].ids, ids)
        return [self._translation(sentences[0], ids, scores)]

    def _translation(self, source: str, ids: list[int], scores: list[float]) -> Translation:
        eos = self.tokenizer.eos_token_id
        keep = len(ids)
        if isinstance(eos, int) and eos in ids:
            keep = ids.index(eos) + 1
        ids, scores = ids[:keep], scores[:keep]
        special = set(self.tokenizer.all_special_ids)
        content = [i for i in ids if i not in special]
        logprob = float(sum(s for s in scores if s > float("-inf")))
        text = " ".join(self.tokenizer.decode(content, skip_special_tokens=True).split())
        # tokens are the output *words* (what diffs and stores line up with, as for the
        # word-level LSTMs); the model's sub-word pieces and ids stay in ``extra``
        return Translation(
            source=source,
            text=text,
            tokens=text.split(),
            logprob=logprob,
            extra={"ids": ids, "pieces": list(self.tokenizer.convert_ids_to_tokens(content))},
        )

    # -- an encoder's read-out: the masked-token prediction -------------------------------
    @property
    def fills_masks(self) -> bool:
        """An encoder with its masked-LM head (``…ForMaskedLM``): it can fill ``[MASK]``."""
        return self.kind == "encoder" and self.model.get_output_embeddings() is not None

    def mask_sentence(self, sentence: str) -> str:
        """``sentence`` with every ``[MASK]`` word spelled as this tokenizer's mask token
        (``<mask>`` for RoBERTa), so one spelling works for every encoder."""
        token = self.tokenizer.mask_token
        if not token:
            return sentence
        return " ".join(token if w == MASK else w for w in sentence.split())

    def fill_masks(
        self,
        sentences: Sequence[str],
        *,
        k: int = FILL_TOP_K,
        batch_size: int = 64,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Translation]:
        """Top-``k`` fills of each ``[MASK]`` (``translate`` for an encoder).

        Why through ``translate``: every consumer of a read-out — ``neurotui translate``
        with ``--clamp``/``--ablate``, the app's Manipulate mode, replays — then compares
        an encoder's original and modified predictions with no code of its own.
        ``Translation.text`` is the sentence with each mask replaced by its best fill
        (so the word diff marks a changed fill), ``logprob`` the best fills' summed
        log-probability, ``extra["fills"]`` the top-``k`` ``[piece, probability]`` per mask.
        """
        import torch

        if not self.fills_masks:
            raise Unsupported(
                f"encoder model {self.name} does not translate and has no masked-LM head to "
                "fill a [MASK] (a …ForMaskedLM checkpoint has one)"
            )
        results: list[Translation] = []
        with torch.inference_mode():
            for start in range(0, len(sentences), max(1, batch_size)):
                if should_stop is not None and should_stop():
                    raise Cancelled("fill-mask cancelled")
                chunk = list(sentences[start : start + batch_size])
                results.extend(self._fill_batch(chunk, start, k))
        return results

    def _fill_batch(self, sentences: list[str], first: int, k: int) -> list[Translation]:
        import torch

        mask_id = self.tokenizer.mask_token_id
        items = self._align_sources([self.mask_sentence(s) for s in sentences])
        for n, item in enumerate(items):
            if mask_id not in item.ids and self.mask_word is not None and item.words:
                items[n] = item = _masked_word(
                    item, min(self.mask_word, len(item.words) - 1), mask_id
                )
            if mask_id not in item.ids:
                raise DataError(
                    f"sentence {first + n + 1} has no {MASK} to fill (an encoder's read-out "
                    "is its prediction for a masked word)"
                )
        batch = pad(items, self._pad_id, device=self.device)
        state = {"src_index": batch.word_index, "src_words": batch.words}
        with self._running(**state):
            logits = self.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask
            ).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        out = []
        for b, source in enumerate(sentences):
            words = list(items[b].words)
            fills, best = [], 0.0
            masks = [t for t, i in enumerate(items[b].ids) if i == mask_id]
            for t in masks:
                top = torch.topk(logp[b, t], k)
                pieces = [self._piece(int(i)) for i in top.indices.tolist()]
                probs = [float(v) for v in top.values.exp().tolist()]
                fills.append([[p, round(q, 6)] for p, q in zip(pieces, probs, strict=True)])
                best += float(top.values[0])
                w = items[b].word_index[t]
                if w is not None:
                    words[w] = pieces[0]
            text = " ".join(words)
            out.append(Translation(source, text, text.split(), best, extra={"fills": fills}))
        return out

    def _piece(self, token_id: int) -> str:
        """A vocabulary entry as a word (``##s`` stays as is: it is a word's end)."""
        text = self.tokenizer.decode([token_id]).strip()
        return text or str(self.tokenizer.convert_ids_to_tokens(token_id))

    def target_scores(
        self, sources: Sequence[str], targets: Sequence[str], *, grad: bool = False
    ) -> torch.Tensor:
        """log p(target | source): a teacher-forced target (seq2seq, EOS included) or the
        continuation's words after the prompt (causal LMs; the prompt and the continuation
        are tokenised together, and the rows' words are prompt + continuation)."""
        import torch

        if self.kind == "encoder":
            return super().target_scores(sources, targets, grad=grad)
        if len(sources) != len(targets):
            raise NeurotuiError(f"{len(targets)} targets for {len(sources)} sources")
        with torch.enable_grad() if grad else torch.inference_mode():
            if self.kind == "lm":
                return self._continuation_scores(list(sources), list(targets))
            items = self._align_sources(list(sources))
            batch = pad(items, self._pad_id, device=self.device)
            tgt_items, dec_batch = self._decoder_inputs(list(targets))
            state: dict[str, Any] = {
                "src_index": batch.word_index,
                "src_words": batch.words,
                "tgt_words": [t.words for t in tgt_items],
                "tgt_pad": [[m == 0 for m in row] for row in dec_batch.attention_mask.tolist()],
            }
            with self._running(**state):
                logits = self.model(
                    input_ids=batch.input_ids,
                    attention_mask=batch.attention_mask,
                    decoder_input_ids=dec_batch.input_ids,
                    decoder_attention_mask=dec_batch.attention_mask,
                    use_cache=False,
                ).logits.float()
            gold = pad(tgt_items, self._pad_id, device=self.device)
            logp = torch.log_softmax(logits, dim=-1)
            picked = logp.gather(-1, gold.input_ids.unsqueeze(-1)).squeeze(-1)
            return picked.masked_fill(gold.attention_mask == 0, 0.0).sum(dim=1)

    def _continuation_scores(self, prompts: list[str], continuations: list[str]) -> torch.Tensor:
        import torch

        n_prompt = [len(p.split()) for p in prompts]
        joined = [f"{p} {c}".strip() for p, c in zip(prompts, continuations, strict=True)]
        items = self._lm_items(joined, eos=False)
        batch = pad(items, self._pad_id, device=self.device)
        with self._running(src_index=batch.word_index, src_words=batch.words):
            logits = self.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
            ).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        picked = logp.gather(-1, batch.input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
        keep = torch.zeros_like(picked, dtype=torch.bool)
        for b, row in enumerate(batch.word_index):
            for t in range(1, len(row)):
                word = row[t]
                keep[b, t - 1] = word is not None and word >= n_prompt[b]
        return picked.masked_fill(~keep, 0.0).sum(dim=1)

    def perplexity(self, sentences: Sequence[str], *, batch_size: int = 64) -> float:
        import math

        import torch

        if self.kind != "lm":
            return super().perplexity(sentences, batch_size=batch_size)
        total, count = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(sentences), max(1, batch_size)):
                items = self._lm_items(list(sentences[start : start + batch_size]), eos=True)
                batch = pad(items, self._pad_id, device=self.device)
                logits = self.model(
                    input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False
                ).logits.float()
                gold = batch.input_ids[:, 1:]
                mask = batch.attention_mask[:, 1:].bool()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                nll = -logp.gather(-1, gold.unsqueeze(-1)).squeeze(-1)
                total += float(nll[mask].sum())
                count += int(mask.sum())
        if count == 0:
            raise NeurotuiError("perplexity needs at least one token")
        return math.exp(total / count)


def _masked_word(item: Aligned, word: int, mask_id: int) -> Aligned:
    """``item`` with the pieces of ``word`` replaced by one mask token (still that word)."""
    at = [t for t, w in enumerate(item.word_index) if w == word]
    if not at:
        return item
    first, last = at[0], at[-1] + 1
    ids = [*item.ids[:first], mask_id, *item.ids[last:]]
    index = [*item.word_index[:first], word, *item.word_index[last:]]
    return Aligned(item.words, ids, index)


def aggregate(
    rows: np.ndarray, word_index: Sequence[int | None], n_words: int, how: Aggregation
) -> np.ndarray:
    """Sub-word rows → one row per word (``first``/``last``/``mean`` of its tokens)."""
    import numpy as np

    size = rows.shape[-1]
    out = np.zeros((n_words, size), dtype=np.float32)
    if n_words == 0:
        return out
    positions = [t for t, w in enumerate(word_index) if w is not None and t < rows.shape[0]]
    words = np.asarray([word_index[t] for t in positions], dtype=np.int64)
    picked = rows[positions].astype(np.float32, copy=False)
    if how == "mean":
        counts = np.bincount(words, minlength=n_words).astype(np.float32)
        np.add.at(out, words, picked)
        out /= np.maximum(counts, 1.0)[:, None]
    elif how == "first":
        _, first = np.unique(words, return_index=True)
        out[words[first]] = picked[first]
    else:
        _, last = np.unique(words[::-1], return_index=True)
        last = len(words) - 1 - last
        out[words[last]] = picked[last]
    return out
