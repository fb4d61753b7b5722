"""Promoted and suppressed tokens of an MLP neuron, against a direct computation.

Tiny random Llama (RMSNorm, Linear), Gemma (RMSNorm that multiplies by 1 + weight), GPT-2
(LayerNorm, Conv1D) and T5 (a decoder) from ``hf_families``; their final norms get random
gains so that getting the gain wrong changes the answer.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import torch  # noqa: E402
from hf_families import build  # noqa: E402

from neurotui.errors import NeurotuiError, Unsupported  # noqa: E402
from neurotui.models.hf import HFBackend, load_hf_backend  # noqa: E402

FAMILIES = ("llama", "gemma", "gpt2", "t5")


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HFBackend]:
    root = tmp_path_factory.mktemp("logit")
    out = {f: load_hf_backend(build(f, root / f), "cpu") for f in FAMILIES}
    generator = torch.Generator().manual_seed(5)
    for backend in out.values():
        norm = _final_norm(backend)
        with torch.no_grad():
            norm.weight.copy_(torch.randn(norm.weight.shape, generator=generator))
    return out


def _final_norm(backend: HFBackend) -> torch.nn.Module:
    model = backend.model
    return {
        "llama": lambda: model.model.norm,
        "gemma": lambda: model.model.norm,
        "gpt2": lambda: model.transformer.ln_f,
        "t5": lambda: model.decoder.final_layer_norm,
    }[backend.family]()


def _direct(backend: HFBackend, neuron: int) -> torch.Tensor:
    """U · (gain ⊙ w) written out per family."""
    model = backend.model
    norm = _final_norm(backend).weight.detach()
    if backend.family == "llama":
        column, gain = model.model.layers[1].mlp.down_proj.weight[:, neuron], norm
    elif backend.family == "gemma":
        column, gain = model.model.layers[1].mlp.down_proj.weight[:, neuron], 1.0 + norm
    elif backend.family == "gpt2":
        column, gain = model.transformer.h[1].mlp.c_proj.weight[neuron, :], norm
    else:
        column = model.decoder.block[1].layer[2].DenseReluDense.wo.weight[:, neuron]
        gain = norm
    return model.get_output_embeddings().weight.detach() @ (gain * column.detach())


@pytest.mark.parametrize("family", FAMILIES)
def test_promoted_and_suppressed_tokens_match_a_direct_computation(
    backends: dict[str, HFBackend], family: str
) -> None:
    backend = backends[family]
    site = "dec.l2.ffn" if family == "t5" else "lm.l2.ffn"
    for neuron in (0, 7):
        effect = backend.neuron_logit_effect(site, neuron, k=5)
        scores = _direct(backend, neuron)
        top, bottom = torch.topk(scores, 5), torch.topk(-scores, 5)
        tok = backend.tokenizer
        assert [t for t, _ in effect.promoted] == tok.convert_ids_to_tokens(top.indices.tolist())
        assert [t for t, _ in effect.suppressed] == tok.convert_ids_to_tokens(
            bottom.indices.tolist()
        )
        assert [v for _, v in effect.promoted] == pytest.approx(top.values.tolist(), rel=1e-5)
        assert [v for _, v in effect.suppressed] == pytest.approx(
            (-bottom.values).tolist(), rel=1e-5
        )
        assert effect.site == site and effect.neuron == neuron


def test_only_mlp_neurons_of_an_lm_or_decoder(backends: dict[str, HFBackend]) -> None:
    with pytest.raises(Unsupported, match=r"\.ffn"):
        backends["t5"].neuron_logit_effect("enc.l1.ffn", 0)
    with pytest.raises(Unsupported, match=r"\.ffn"):
        backends["llama"].neuron_logit_effect("lm.l1.attn", 0)
    with pytest.raises(NeurotuiError, match="not in site"):
        backends["llama"].neuron_logit_effect("lm.l1.ffn", 48)
    with pytest.raises(NeurotuiError, match="unknown site"):
        backends["llama"].neuron_logit_effect("lm.l9.ffn", 0)
