"""Interventions on the Hugging Face backend: encoder–decoder, causal LM and encoder.

The tiny random models are built by the HF backend's own test helpers (never downloaded).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from neurotui.intervene.ablation import plan_ablation, run_ablation  # noqa: E402
from neurotui.intervene.apply import DecodeSettings, intervening, perplexity  # noqa: E402
from neurotui.intervene.bind import bind  # noqa: E402
from neurotui.intervene.compare import compare  # noqa: E402
from neurotui.intervene.spec import Intervention, Positions  # noqa: E402

hf_tests = pytest.importorskip("test_hf_backend")  # the builders live beside this file
SOURCES = hf_tests.SOURCES


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from neurotui.models.hf import load_hf_backend

    root = tmp_path_factory.mktemp("hf-intervene")
    out = {}
    for family in ("marian", "t5", "bart", "gpt2", "bert"):
        hf_tests._build(family, root / family)
        out[family] = load_hf_backend(root / family, "cpu")
    return out


@pytest.mark.parametrize("family", ["marian", "gpt2", "bert"])
def test_encoder_side_set_at_selected_words(models, family) -> None:
    backend = models[family]
    site = next(s for s in backend.sites() if s.side == "encoder" or family == "gpt2")
    sent = SOURCES[0]  # "the cat sees the dog"
    iv = Intervention(
        neurons=(0, 3), site=site.name, op="set", value=4.5, positions=Positions.word("the")
    )
    bound = bind([iv], backend, sentences=[sent])
    plain = backend.encode([sent], [site.name])[0][site.name]
    with intervening(backend, bound):
        assert backend.active_hook_count() >= 1
        edited = backend.encode([sent], [site.name])[0][site.name]
    assert backend.active_hook_count() == 0
    np.testing.assert_allclose(edited[[0, 3]][:, [0, 3]], 4.5, rtol=1e-5)
    np.testing.assert_allclose(edited[[1, 2, 4]], plain[[1, 2, 4]], rtol=1e-5, atol=1e-6)


def test_encoder_decoder_translation_changes_and_decoder_steps(models) -> None:
    backend = models["marian"]
    settings = DecodeSettings(beam=2, max_len=5)
    enc = bind(
        [Intervention(neurons=tuple(range(32)), site="enc.l2", op="scale", value=-3.0)], backend
    )
    dec = bind(
        [Intervention(neurons=tuple(range(32)), site="dec.l2", op="set", value=2.0)], backend
    )
    for bound in (enc, dec):
        pairs = compare(backend, SOURCES, bound, settings)
        assert any(p.changed for p in pairs)
        assert backend.active_hook_count() == 0
    # a decoder clamp is applied at every cached decoding step
    from neurotui.intervene.apply import make_edits

    fn = make_edits(dec)["dec.l2"]
    steps = []

    def spy(hidden, ctx):
        out = fn(hidden, ctx)
        steps.append(ctx.step)
        assert np.allclose(out.detach().numpy(), 2.0)
        return out

    with backend.edits({"dec.l2": spy}):
        backend.translate(SOURCES[:1], max_len=4)
    assert len(steps) >= 2 and steps == list(range(len(steps)))


def test_causal_lm_ablation_curve_uses_perplexity(models) -> None:
    backend = models["gpt2"]
    base = perplexity(backend, hf_tests.EN)
    zeroed = perplexity(
        backend,
        hf_tests.EN,
        bind([Intervention(neurons=tuple(range(32)), site="lm.l2", op="zero")], backend),
    )
    assert base != pytest.approx(zeroed)
    from neurotui.store.ranking import Ranking

    ranking = Ranking(method="ids", order=list(range(64)))
    curve = run_ablation(
        backend, plan_ablation(ranking, [8, 64], backend=backend, directions=["top"]), hf_tests.EN
    )
    assert curve.metric == "perplexity"
    assert curve.baseline.perplexity == pytest.approx(base, rel=1e-5)
    assert backend.active_hook_count() == 0


def _decode_with_and_without_cache(backend, site, position, beam, max_len):
    """Decode SOURCES under a ``set`` edit at ``site`` restricted to ``position``, with the
    KV cache and without; per run, the outputs and the (step, absolute position) of every
    row the edit changed."""
    import torch

    from neurotui.intervene.apply import make_edits

    iv = Intervention(
        neurons=tuple(range(32)),
        site=site,
        op="set",
        value=40.0,
        positions=Positions.at([position]),
    )
    fn = make_edits(bind([iv], backend))[site]
    outputs, changed = {}, {}
    for cached in (True, False):
        rows: set[tuple[int | None, int]] = set()

        def spy(hidden, ctx, rows=rows):
            out = fn(hidden, ctx)
            moved = (out != hidden).any(dim=-1).any(dim=0)  # per time position
            for t in torch.nonzero(moved).flatten().tolist():
                rows.add((ctx.step, backend._state.offset + t))
            return out

        backend.use_cache = cached
        try:
            with backend.edits({site: spy}):
                decoded = backend.translate(SOURCES, beam=beam, max_len=max_len)
        finally:
            backend.use_cache = True
        outputs[cached], changed[cached] = [t.extra["ids"] for t in decoded], rows
    assert backend.active_hook_count() == 0
    return outputs, changed


@pytest.mark.parametrize("beam", [1, 2])
@pytest.mark.parametrize("family", ["marian", "t5", "bart"])
def test_decoder_edit_at_one_position_lands_on_that_step(models, family, beam) -> None:
    """A decoder edit restricted to target position 2 changes the row that consumes output
    token 2 (decoder position 3, step 3) and nothing else, with and without the KV cache;
    both decodings agree, and greedy outputs before that step are untouched (a beam may
    re-rank earlier tokens once a later score moves)."""
    backend = models[family]
    plain = [t.extra["ids"] for t in backend.translate(SOURCES, beam=beam, max_len=8)]
    outputs, changed = _decode_with_and_without_cache(backend, "dec.l2", 2, beam, 8)
    for cached, rows in changed.items():
        assert {pos for _, pos in rows} == {3}, (cached, rows)
    assert {step for step, _ in changed[True]} == {3}
    assert outputs[True] == outputs[False]
    assert any(a != b for a, b in zip(outputs[True], plain, strict=True))
    for edited, before in zip(outputs[True], plain, strict=True):
        assert beam > 1 or edited[:3] == before[:3]  # tokens 0–2 come before the edit


@pytest.mark.parametrize("beam", [1, 2])
def test_lm_edit_at_a_prompt_word_stays_on_the_prompt(models, beam) -> None:
    """An LM edit restricted to prompt word 0 changes only the prompt's rows: with the KV
    cache in the prompt forward alone (no generated step maps back to word 0), without it in
    every re-run of the prefix; both decodings agree."""
    outputs, changed = _decode_with_and_without_cache(models["gpt2"], "lm.l1", 0, beam, 6)
    for cached, rows in changed.items():
        assert rows and {step for step, _ in rows} == {None}, (cached, rows)
    assert outputs[True] == outputs[False]
