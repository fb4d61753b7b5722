"""Every site a researcher expects, on 24 Hugging Face families (tiny random models).

Each family is built from transformers' own config class (2 layers, width 32, a word-level
tokenizer; ``hf_families``), saved with ``save_pretrained`` and opened through
``load_hf_backend`` like a user's directory. For every family and every site: the site is
found (embeddings ``l0``, per block the attention output, the MLP neurons and the residual
stream), it extracts finite rows of the right shape, the stored rows equal transformers'
own ``hidden_states`` (embeddings = ``hidden_states[0]``, block ``i`` =
``hidden_states[i+1]``), the attention and MLP sites add up to the residual stream where
the family's blocks are plain pre-norm residuals, and a clamp at the site changes the
model's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import torch  # noqa: E402
from hf_families import (  # noqa: E402
    ENCODER_FAMILIES,
    FAMILIES,
    LAYERS,
    SEQ2SEQ_FAMILIES,
    build,
)

from neurotui.intervene.apply import intervening  # noqa: E402
from neurotui.intervene.bind import bind  # noqa: E402
from neurotui.intervene.spec import Intervention  # noqa: E402
from neurotui.models.hf import HFBackend, load_hf_backend  # noqa: E402

SENTENCES = ["the cat sees the dog", "my brother reads a long book"]
TARGETS = ["le chat voit le chien", "mon frère lit un long livre"]

#: families whose last ``hidden_states`` entry has the final norm applied (l{L} is before it)
FINAL_NORM = {
    "llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "gemma2", "gemma3", "phi",
    "phi3", "olmo", "gpt2", "gpt_neo", "gpt_neox", "opt", "t5", "mbart", "m2m100",
    "modernbert",
}  # fmt: skip
#: families whose blocks are x + attn(x) [+ xattn] + mlp(x): the sites must add up
PLAIN_RESIDUAL = {
    "llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "phi", "phi3", "olmo",
    "gpt2", "gpt_neo", "gpt_neox", "opt", "t5", "mbart", "m2m100", "modernbert",
}  # fmt: skip


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HFBackend]:
    root = tmp_path_factory.mktemp("families")
    return {f: load_hf_backend(build(f, root / f), "cpu") for f in FAMILIES}


def _expected_sites(family: str) -> list[str]:
    stacks = ["enc", "dec"] if family in SEQ2SEQ_FAMILIES else ["enc"]
    if family not in SEQ2SEQ_FAMILIES and family not in ENCODER_FAMILIES:
        stacks = ["lm"]
    mlp = "mlp" if family == "mixtral" else "ffn"
    names = []
    for p in stacks:
        names.append(f"{p}.l0")
        for i in range(1, LAYERS + 1):
            xattn = [f"{p}.l{i}.xattn"] if p == "dec" else []
            names += [f"{p}.l{i}.attn", *xattn, f"{p}.l{i}.{mlp}", f"{p}.l{i}"]
    return names


@pytest.mark.parametrize("family", FAMILIES)
def test_every_site_is_found(backends: dict[str, HFBackend], family: str) -> None:
    backend = backends[family]
    sites = {s.name: s for s in backend.sites()}
    assert list(sites) == _expected_sites(family)
    for name, info in sites.items():
        assert info.layer == int(name.split(".")[1][1:])
        assert info.size in ((40, 48) if name.endswith(".ffn") else (32,)), name
        assert info.description
    if family == "mixtral":  # the expert-summed MoE output, at model width
        assert sites["lm.l1.mlp"].size == 32


def _reference(backend: HFBackend, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Run ``encode`` while capturing the ids it fed, then transformers' own hidden states."""
    called = backend.model.base_model if backend.kind == "lm" else backend.model
    fed: dict[str, Any] = {}

    def grab(_module: Any, _args: Any, kw: dict[str, Any]) -> None:
        fed.update({k: v for k, v in kw.items() if k.endswith(("input_ids", "attention_mask"))})

    handle = called.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        acts = backend.encode(**kwargs)
    finally:
        handle.remove()
    with torch.inference_mode():
        out = called(**fed, output_hidden_states=True, use_cache=False)
    return {"acts": acts, "fed": fed}, out


def _word_rows(ids: torch.Tensor, special: set[int]) -> list[int]:
    """Positions holding a word (every word is one token of these word-level tokenizers)."""
    return [t for t, i in enumerate(ids.tolist()) if i not in special]


@pytest.mark.parametrize("family", FAMILIES)
def test_every_site_extracts_and_matches_transformers(
    backends: dict[str, HFBackend], family: str
) -> None:
    backend = backends[family]
    targets = TARGETS if backend.kind == "seq2seq" else None
    got, out = _reference(backend, sentences=SENTENCES, targets=targets, batch_size=2)
    acts, fed = got["acts"], got["fed"]
    special = set(backend.tokenizer.all_special_ids)
    for n, row in enumerate(acts):
        for info in backend.sites():
            words = (TARGETS[n] if info.side == "decoder" else SENTENCES[n]).split()
            value = row[info.name]
            assert value.shape == (len(words), info.size), info.name
            assert np.isfinite(value).all(), info.name
    by_prefix = {
        "lm": (out.hidden_states if backend.kind == "lm" else None, "input_ids"),
        "enc": (
            out.encoder_hidden_states if backend.kind == "seq2seq" else out.hidden_states,
            "input_ids",
        ),
        "dec": (getattr(out, "decoder_hidden_states", None), "decoder_input_ids"),
    }
    for info in backend.sites():
        prefix, layer = info.name.split(".")[:2]
        if info.name != f"{prefix}.{layer}":
            continue  # sub-block sites: checked by the residual sums below
        i = int(layer[1:])
        if i == LAYERS and family in FINAL_NORM:
            continue
        hidden, ids_key = by_prefix[prefix]
        for n, row in enumerate(acts):
            rows = _word_rows(fed[ids_key][n], special)
            expected = hidden[i][n, rows].float().numpy()
            scale = float(np.abs(expected).max())
            np.testing.assert_allclose(
                row[info.name], expected, rtol=1e-4, atol=1e-5 * scale, err_msg=info.name
            )


@pytest.mark.parametrize("family", sorted(PLAIN_RESIDUAL))
def test_attention_and_mlp_sites_add_up_to_the_residual_stream(
    backends: dict[str, HFBackend], family: str
) -> None:
    """l{i} = l{i-1} + attn + xattn + W_out·ffn (or + the MoE output): so ``.attn`` is the
    projected attention output before the add and ``.ffn`` the real MLP intermediate."""
    backend = backends[family]
    targets = TARGETS if backend.kind == "seq2seq" else None
    acts = backend.encode(SENTENCES, targets=targets)
    for row in acts:
        for info in backend.sites():
            prefix, layer = info.name.split(".")[:2]
            if info.name != f"{prefix}.{layer}" or info.layer == 0:
                continue
            base = f"{prefix}.l{info.layer}"
            total = row[f"{prefix}.l{info.layer - 1}"] + row[f"{base}.attn"]
            if f"{base}.xattn" in row:
                total = total + row[f"{base}.xattn"]
            if f"{base}.mlp" in row:
                total = total + row[f"{base}.mlp"]
            else:
                out = backend.site_spec(f"{base}.ffn").module
                with torch.inference_mode():
                    total = total + out(torch.from_numpy(row[f"{base}.ffn"])).numpy()
            scale = float(np.abs(row[base]).max())
            np.testing.assert_allclose(total, row[base], rtol=1e-4, atol=1e-5 * scale)


def _output(backend: HFBackend) -> list[Any]:
    """What the model produces: continuation/translation ids and their log-probability
    (a random tiny model may keep its argmax while its distribution moves), or an
    encoder's last hidden states."""
    if backend.kind != "encoder":
        out = backend.translate(SENTENCES, max_len=6)
        return [(t.extra["ids"], round(t.logprob, 3)) for t in out]
    batch = backend.tokenizer(SENTENCES, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return [backend.model(**batch).last_hidden_state.numpy()]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_clamp_at_every_site_changes_the_output(
    backends: dict[str, HFBackend], family: str
) -> None:
    backend = backends[family]
    before = _output(backend)
    for info in backend.sites():
        clamp = Intervention(neurons=tuple(range(8)), site=info.name, op="set", value=25.0)
        with intervening(backend, bind([clamp], backend)):
            after = _output(backend)
        assert backend.active_hook_count() == 0
        if backend.kind == "encoder":
            assert not np.allclose(after[0], before[0], atol=1e-3), info.name
        else:
            assert after != before, info.name


def test_opt_ffn_edit_sees_rows_time_size(backends: dict[str, HFBackend]) -> None:
    """OPT runs its FFN on (batch·time, width): edits still see (rows, time, size)."""
    backend = backends["opt"]
    shapes: list[tuple[int, ...]] = []

    def spy(hidden: torch.Tensor, ctx: Any) -> torch.Tensor:
        shapes.append(tuple(hidden.shape))
        assert len(ctx.word_index) == hidden.shape[0]
        assert all(len(row) == hidden.shape[1] for row in ctx.word_index)
        return hidden

    with backend.edits({"lm.l1.ffn": spy}):
        backend.translate(SENTENCES, max_len=3)
    assert shapes[0][0] == 2 and shapes[0][1] > 1 and shapes[0][2] == 48
    assert all(s == (2, 1, 48) for s in shapes[1:])


def test_site_modules_are_the_documented_ones(backends: dict[str, HFBackend]) -> None:
    """Spot checks of what the structural rules pick (names only to read the result)."""
    paths = {
        (f, name): backends[f].site_spec(name).path
        for f, name in [
            ("llama", "lm.l1.ffn"),
            ("llama", "lm.l1.attn"),
            ("gpt_neox", "lm.l2.ffn"),
            ("opt", "lm.l1.ffn"),
            ("bert", "enc.l1.attn"),
            ("bert", "enc.l1.ffn"),
            ("t5", "dec.l1.xattn"),
            ("gpt_neo", "lm.l1.attn"),
            ("mixtral", "lm.l1.mlp"),
        ]
    }
    assert paths == {
        ("llama", "lm.l1.ffn"): "model.layers.0.mlp.down_proj",
        ("llama", "lm.l1.attn"): "model.layers.0.self_attn.o_proj",
        ("gpt_neox", "lm.l2.ffn"): "gpt_neox.layers.1.mlp.dense_4h_to_h",
        ("opt", "lm.l1.ffn"): "model.decoder.layers.0.fc2",
        ("bert", "enc.l1.attn"): "encoder.layer.0.attention.output.dense",
        ("bert", "enc.l1.ffn"): "encoder.layer.0.output.dense",
        ("t5", "dec.l1.xattn"): "decoder.block.0.layer.1.EncDecAttention.o",
        ("gpt_neo", "lm.l1.attn"): "transformer.h.0.attn.attention.out_proj",
        ("mixtral", "lm.l1.mlp"): "model.layers.0.mlp",
    }


def test_folder_is_what_a_user_brings(backends: dict[str, HFBackend]) -> None:
    folder = backends["llama"].path
    assert isinstance(folder, Path) and (folder / "model.safetensors").is_file()


@pytest.mark.parametrize("family", ["opt", "mixtral"])
def test_extract_and_rank_every_site_from_the_cli(
    backends: dict[str, HFBackend], family: str, tmp_path: Path
) -> None:
    """The two families that had no usable MLP site before: a store of every site, ranked."""
    import json

    from hf_families import LINES

    import neurotui.store as ns
    from neurotui.cli import main

    folder = backends[family].path
    text = tmp_path / "text.txt"
    text.write_text("\n".join(LINES[:6]) + "\n", encoding="utf-8")
    labels = tmp_path / "labels.txt"
    det = {"the", "a", "my", "we"}
    labels.write_text(
        "".join(" ".join("D" if w in det else "W" for w in s.split()) + "\n" for s in LINES[:6]),
        encoding="utf-8",
    )
    store = tmp_path / "acts.h5"
    assert main(["extract", str(folder), str(text), "-o", str(store), "--json"]) == 0
    with ns.open(store) as opened:
        assert [s.name for s in opened.sites] == [s.name for s in backends[family].sites()]
    out = tmp_path / "ranking.json"
    assert (
        main(["rank", str(store), "--method", "probeless", "--labels", str(labels), "-o", str(out)])
        == 0
    )
    ranking = json.loads(out.read_text(encoding="utf-8"))
    assert len(ranking["order"]) == sum(s.size for s in backends[family].sites())
