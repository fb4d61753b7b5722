"""Interventions applied through backend hooks: ops, units, positions, flow, removal."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models  # beside this file: pytest puts tests/ on sys.path
import torch

from neurotui.data.synthetic import generate
from neurotui.errors import NeurotuiError
from neurotui.intervene.apply import DecodeSettings, intervening, translate
from neurotui.intervene.bind import bind
from neurotui.intervene.compare import compare, diff_tokens, mark, render
from neurotui.intervene.spec import Intervention, Positions
from neurotui.models.lm import LSTMLMBackend
from neurotui.models.seq2seq import LSTMSeq2SeqBackend
from neurotui.store.memory import MemoryStore

EXAMPLES = generate(30, seed=5)
SENTS = [e.src for e in EXAMPLES[:6]]


def tiny_seq2seq() -> LSTMSeq2SeqBackend:
    return tiny_models.tiny_seq2seq(EXAMPLES)


def tiny_lm() -> LSTMLMBackend:
    return tiny_models.tiny_lm(EXAMPLES)


@pytest.fixture(scope="module")
def s2s() -> LSTMSeq2SeqBackend:
    return tiny_seq2seq()


def edited(backend, ivs, sites, store=None, sents=SENTS):
    """Per-sentence site activations with ``ivs`` applied (captures see edited outputs)."""
    bound = bind(ivs, backend, store, sentences=sents)
    with intervening(backend, bound):
        return backend.encode(sents, sites)


def test_each_op_on_an_encoder_site(s2s) -> None:
    plain = s2s.encode(SENTS, ["enc.l0.fw"])
    cases = {
        "zero": (None, lambda h: np.zeros_like(h)),
        "set": (1.5, lambda h: np.full_like(h, 1.5)),
        "add": (0.25, lambda h: h + 0.25),
        "scale": (-2.0, lambda h: h * -2.0),
    }
    for op, (value, expect) in cases.items():
        out = edited(
            s2s, [Intervention(neurons=(1, 3), op=op, site="enc.l0.fw", value=value)], ["enc.l0.fw"]
        )
        for before, after in zip(plain, out, strict=True):
            a, b = before["enc.l0.fw"], after["enc.l0.fw"]
            np.testing.assert_allclose(b[:, [1, 3]], expect(a[:, [1, 3]]), rtol=1e-5, atol=1e-6)
            keep = [i for i in range(a.shape[1]) if i not in (1, 3)]
            np.testing.assert_array_equal(b[:, keep], a[:, keep])
    assert s2s.active_hook_count() == 0


def test_per_neuron_values_and_names(s2s) -> None:
    iv = Intervention(neurons=("enc.l1.bw:2", "enc.l1.bw:5"), op="set", value=(3.0, -4.0))
    out = edited(s2s, [iv], ["enc.l1.bw"])
    for row in out:
        np.testing.assert_allclose(row["enc.l1.bw"][:, 2], 3.0)
        np.testing.assert_allclose(row["enc.l1.bw"][:, 5], -4.0)


def test_global_ids_split_by_site(s2s) -> None:
    offsets = s2s.neuron_offsets()
    ids = (offsets["enc.l0.bw"] + 1, offsets["enc.l1.fw"] + 7)
    bound = bind([Intervention(neurons=ids, op="zero")], s2s)
    assert [(b.site, b.indices) for b in bound] == [("enc.l0.bw", [1]), ("enc.l1.fw", [7])]


def test_sigma_unit_reads_the_store(s2s) -> None:
    acts = s2s.encode(SENTS)
    sites = [(s.name, s.size) for s in s2s.sites() if s.side == "encoder"]
    matrix = [np.concatenate([a[name] for name, _ in sites], axis=1) for a in acts]
    store = MemoryStore([s.split() for s in SENTS], matrix, sites)
    stats = store.stats
    col = store.neuron_id("enc.l0.bw:4")
    mean, std = float(stats.mean[col]), float(stats.std[col])
    assert std > 0
    out = edited(
        s2s,
        [Intervention(neurons=(4,), site="enc.l0.bw", op="set", value=2.0, unit="sigma")],
        ["enc.l0.bw"],
        store,
    )
    for row in out:
        np.testing.assert_allclose(row["enc.l0.bw"][:, 4], mean + 2.0 * std, rtol=1e-5)
    plain = s2s.encode(SENTS, ["enc.l0.bw"])
    out = edited(
        s2s,
        [Intervention(neurons=(4,), site="enc.l0.bw", op="add", value=-1.0, unit="sigma")],
        ["enc.l0.bw"],
        store,
    )
    for a, b in zip(plain, out, strict=True):
        np.testing.assert_allclose(
            b["enc.l0.bw"][:, 4], a["enc.l0.bw"][:, 4] - std, rtol=1e-4, atol=1e-6
        )
    with pytest.raises(NeurotuiError, match="sigma needs a store"):
        bind([Intervention(neurons=(4,), site="enc.l0.bw", op="set", value=1.0, unit="sigma")], s2s)


def test_positions_select_words(s2s) -> None:
    sent = "the boy sees the dog ."
    plain = s2s.encode([sent], ["enc.l0.fw"])[0]["enc.l0.fw"]
    for positions, rows in [
        (Positions.at([1, -2]), [1, 4]),
        (Positions.word("the"), [0, 3]),
        (Positions.regex("^(boy|dog)$"), [1, 4]),
        (Positions.sentences({sent: [2]}), [2]),
        (Positions.sentences({"another sentence": [0]}), []),
    ]:
        iv = Intervention(neurons=(0,), site="enc.l0.fw", op="set", value=9.0, positions=positions)
        out = edited(s2s, [iv], ["enc.l0.fw"], sents=[sent])[0]["enc.l0.fw"]
        changed = [t for t in range(out.shape[0]) if out[t, 0] != plain[t, 0]]
        assert changed == rows, positions
        assert all(out[t, 0] == 9.0 for t in rows)


def test_encoder_edit_flows_into_later_layers_and_attention(s2s) -> None:
    sents = SENTS[:3]
    iv = [Intervention(neurons=tuple(range(8)), site="enc.l0.fw", op="set", value=3.0)]
    before = s2s.encode(sents, ["enc.l1.fw", "enc.l1.bw"])
    after = edited(s2s, iv, ["enc.l1.fw", "enc.l1.bw"], sents=sents)
    for a, b in zip(before, after, strict=True):
        assert not np.allclose(a["enc.l1.fw"], b["enc.l1.fw"])
    # the decoder reads the edited memory: its states under the same targets change
    targets = ["le garçon voit ."] * len(sents)
    dec_before = s2s.encode(sents, ["dec.l0"], targets=targets)
    bound = bind(iv, s2s)
    with intervening(s2s, bound):
        dec_after = s2s.encode(sents, ["dec.l0"], targets=targets)
    assert not np.allclose(dec_before[0]["dec.l0"], dec_after[0]["dec.l0"])


def test_decoder_site_is_clamped_at_every_step(s2s) -> None:
    sites = ["dec.l1"]
    seen: list[torch.Tensor] = []
    bound = bind([Intervention(neurons=(2, 9), site="dec.l1", op="set", value=0.75)], s2s)
    from neurotui.intervene.apply import make_edits

    fn = make_edits(bound)["dec.l1"]

    def spy(hidden, ctx):
        out = fn(hidden, ctx)
        seen.append(out.detach().clone())
        return out

    with s2s.edits({"dec.l1": spy}):
        out = s2s.translate(SENTS[:2], max_len=6)
    assert len(seen) >= max(len(t.tokens) for t in out)  # one call per decoding step
    for step in seen:
        assert step.shape[1] == 1
        np.testing.assert_allclose(step[..., [2, 9]].numpy(), 0.75)
    # greedy and beam both see it; output differs from the unclamped run for some sentence
    base = translate(s2s, SENTS, (), DecodeSettings(beam=3, max_len=8))
    mod = translate(
        s2s,
        SENTS,
        bind([Intervention(neurons=tuple(range(16)), site="dec.l1", op="set", value=5.0)], s2s),
        DecodeSettings(beam=3, max_len=8),
    )
    assert [t.tokens for t in base] != [t.tokens for t in mod]
    assert s2s.active_hook_count() == 0
    _ = sites


def test_decoder_steps_positions(s2s) -> None:
    bound = bind(
        [
            Intervention(
                neurons=(0,), site="dec.l0", op="set", value=7.0, positions=Positions.at([1])
            )
        ],
        s2s,
    )
    from neurotui.intervene.apply import make_edits

    fn = make_edits(bound)["dec.l0"]
    hits: list[tuple[int | None, float]] = []

    def spy(hidden, ctx):
        out = fn(hidden, ctx)
        hits.append((ctx.word_index[0][0], float(out[0, 0, 0])))
        return out

    with s2s.edits({"dec.l0": spy}):
        s2s.translate(SENTS[:1], max_len=5)
    assert [v for wi, v in hits if wi == 1] == [7.0]
    assert all(v != 7.0 for wi, v in hits if wi != 1)


def test_hooks_removed_when_the_run_fails(s2s) -> None:
    base = [t.text for t in translate(s2s, SENTS)]

    def boom(hidden, ctx):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"), s2s.edits({"enc.l0.fw": boom}):
        s2s.translate(SENTS)
    assert s2s.active_hook_count() == 0
    bound = bind([Intervention(neurons=(0,), site="enc.l0.fw", op="zero")], s2s)
    with pytest.raises(RuntimeError, match="inside"), intervening(s2s, bound):
        assert s2s.active_hook_count() == 1
        raise RuntimeError("inside")
    assert s2s.active_hook_count() == 0
    assert [t.text for t in translate(s2s, SENTS)] == base  # nothing left behind


def test_original_and_modified_runs_are_deterministic(s2s) -> None:
    bound = bind(
        [Intervention(neurons=tuple(range(8)), site="enc.l1.fw", op="scale", value=-4.0)], s2s
    )
    first = compare(s2s, SENTS, bound, DecodeSettings(beam=2, max_len=8))
    second = compare(s2s, SENTS, bound, DecodeSettings(beam=2, max_len=8))
    assert [c.to_dict() for c in first] == [c.to_dict() for c in second]
    assert any(c.changed for c in first)
    text = render(first)
    assert "original:" in text and "modified:" in text


def test_diff_marks_changed_tokens() -> None:
    removed, added = diff_tokens(["le", "chat", "dort", "."], ["la", "chatte", "dort", "."])
    assert removed == [True, True, False, False]
    assert added == [True, True, False, False]
    assert mark(["la", "chatte", "dort", "."], added, "{+", "+}") == "{+la chatte+} dort ."
    assert mark(["[SEP]", "x"], [False, True], "{+", "+}") == "[SEP] {+x+}"


def test_language_model_backend() -> None:
    lm = tiny_lm()
    sents = SENTS[:4]
    plain = lm.encode(sents, ["lm.l0"])
    out = edited(
        lm,
        [Intervention(neurons=(0, 1), site="lm.l0", op="set", value=2.0)],
        ["lm.l0"],
        sents=sents,
    )
    np.testing.assert_allclose(out[0]["lm.l0"][:, :2], 2.0)
    assert not np.allclose(plain[0]["lm.l0"][:, :2], 2.0)
    from neurotui.intervene.apply import perplexity

    base = perplexity(lm, sents)
    zeroed = perplexity(
        lm,
        sents,
        bind([Intervention(neurons=tuple(range(12)), site="lm.l1", op="scale", value=20.0)], lm),
    )
    assert base != zeroed
    assert lm.active_hook_count() == 0
