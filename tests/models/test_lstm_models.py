"""The LSTM backends on tiny random models: shapes, determinism, decoding, edit hooks."""

from __future__ import annotations

import pytest
import torch

from neurotui.errors import Cancelled, NeurotuiError
from neurotui.models.decoding import beam_search, greedy
from neurotui.models.lm import LanguageModel, LMConfig, LSTMLMBackend
from neurotui.models.seq2seq import LSTMSeq2SeqBackend, Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import BOS_ID, EOS_ID, Vocab

SRC = ["the cat sleeps .", "a small dog eats the bread .", "she runs", "the cat eats"]
TGT = ["le chat dort .", "un petit chien mange le pain .", "elle court", "le chat mange"]


def tiny_seq2seq(seed: int = 0) -> LSTMSeq2SeqBackend:
    torch.manual_seed(seed)
    sv, tv = Vocab.build(SRC), Vocab.build(TGT)
    cfg = Seq2SeqConfig(
        len(sv), len(tv), emb=12, enc_hidden=8, enc_layers=2, dec_hidden=16, dec_layers=2
    )
    return LSTMSeq2SeqBackend(Seq2SeqModel(cfg), sv, tv, name="tiny")


def tiny_lm(seed: int = 0) -> LSTMLMBackend:
    torch.manual_seed(seed)
    v = Vocab.build(SRC)
    return LSTMLMBackend(
        LanguageModel(LMConfig(len(v), emb=12, hidden=16, layers=2)), v, name="tiny-lm"
    )


def test_vocab_specials_and_unknowns() -> None:
    v = Vocab.build(["b a a", "c a b"])
    assert v.tokens[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert v.tokens[4:] == ["a", "b", "c"]  # by frequency, then alphabetically
    assert v.ids(["a", "zzz"]) == [4, 1]


def test_sites_in_fixed_order() -> None:
    b = tiny_seq2seq()
    assert [s.name for s in b.sites()] == [
        "enc.l0.fw",
        "enc.l0.bw",
        "enc.l1.fw",
        "enc.l1.bw",
        "dec.l0",
        "dec.l1",
    ]
    assert [s.size for s in b.sites()] == [8, 8, 8, 8, 16, 16]
    assert b.neuron_offsets()["dec.l0"] == 32
    with pytest.raises(NeurotuiError, match="unknown site"):
        b.site("enc.l9.fw")
    assert [s.name for s in tiny_lm().sites()] == ["lm.l0", "lm.l1"]


def test_translate_is_deterministic_and_consistent() -> None:
    b = tiny_seq2seq()
    first = b.translate(SRC, max_len=6)
    again = b.translate(SRC, max_len=6)
    assert [t.tokens for t in first] == [t.tokens for t in again]
    assert [t.logprob for t in first] == [t.logprob for t in again]
    assert [t.source for t in first] == SRC  # original order restored after length sorting
    for t in first:
        assert len(t.tokens) <= 6
        assert "<pad>" not in t.tokens and "<s>" not in t.tokens
        assert t.text == " ".join(t.tokens)
    # a fresh model from the same seed decodes the same
    assert [t.text for t in tiny_seq2seq().translate(SRC, max_len=6)] == [t.text for t in first]
    beams = b.translate(SRC, beam=3, max_len=6)
    assert [t.text for t in beams] == [t.text for t in b.translate(SRC, beam=3, max_len=6)]


def test_logprob_matches_teacher_forcing() -> None:
    b = tiny_seq2seq()
    with torch.no_grad():
        b.model.out.bias[EOS_ID] += 2.0  # make the random model end its sentences
    outs = b.translate(SRC, beam=2, max_len=30)
    finished = [t for t in outs if t.extra["finished"]]
    assert finished, "tiny model should finish some sentences"
    scored = b.target_logprobs([t.source for t in finished], [t.text for t in finished])
    assert scored == pytest.approx([t.logprob for t in finished], abs=1e-4)


def test_beam_one_equals_greedy() -> None:
    b = tiny_seq2seq(3)
    state, _ = b._encode_batch(SRC)
    first = torch.full((len(SRC),), BOS_ID, dtype=torch.long)
    lens = [7] * len(SRC)
    g = greedy(b._stepper(), state, first, lens, EOS_ID)
    k1 = beam_search(b._stepper(), state, first, lens, EOS_ID, 1)
    assert [h.tokens for h in g] == [h.tokens for h in k1]
    assert [h.logprob for h in g] == pytest.approx([h.logprob for h in k1], abs=1e-5)


def test_encode_rows_are_words() -> None:
    b = tiny_seq2seq()
    acts = b.encode(SRC, targets=TGT)
    for sentence, target, row in zip(SRC, TGT, acts, strict=True):
        assert row["enc.l1.bw"].shape == (len(sentence.split()), 8)
        assert row["dec.l1"].shape == (len(target.split()), 16)
        assert row["enc.l0.fw"].dtype.name == "float32"
    # without targets the decoder rows follow the model's own greedy output
    own = b.encode(SRC[:2], sites=["dec.l0"])
    greedy_out = b.translate(SRC[:2])
    assert [r["dec.l0"].shape[0] for r in own] == [len(t.tokens) for t in greedy_out]
    # batching does not change activations
    single = b.encode(SRC[1:2], targets=TGT[1:2], batch_size=1)[0]
    assert abs(single["enc.l0.fw"] - acts[1]["enc.l0.fw"]).max() < 1e-5


def test_edit_changes_output_and_is_removed() -> None:
    b = tiny_seq2seq()
    before = b.translate(SRC, max_len=6)

    def boost(h: torch.Tensor, ctx: object) -> torch.Tensor:
        return h + 5.0

    with b.edits({"enc.l1.fw": boost, "dec.l0": boost}):
        assert b.active_hook_count() == 2
        during = b.translate(SRC, max_len=6)
    assert b.active_hook_count() == 0
    assert [t.logprob for t in during] != [t.logprob for t in before]
    after = b.translate(SRC, max_len=6)
    assert [t.logprob for t in after] == [t.logprob for t in before]


def test_hooks_removed_when_the_decode_raises() -> None:
    b = tiny_seq2seq()

    def broken(h: torch.Tensor, ctx: object) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), b.edits({"dec.l1": broken}):
        b.translate(SRC)
    assert b.active_hook_count() == 0

    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled), b.edits({"enc.l0.bw": lambda h, c: h}):
        b.translate(SRC, batch_size=1, should_stop=stop)
    assert b.active_hook_count() == 0
    with pytest.raises(Cancelled):  # polled between decoding steps, too
        b.translate(SRC, beam=2, should_stop=lambda: len(calls.append(1) or calls) > 4)


def test_encoder_edit_flows_into_later_layers() -> None:
    b = tiny_seq2seq()
    sites = ["enc.l0.fw", "enc.l0.bw", "enc.l1.fw"]
    base = b.encode(SRC[:2], sites=sites)
    contexts = []

    def edit(h: torch.Tensor, ctx):  # noqa: ANN001
        contexts.append(ctx)
        h = h.clone()
        h[..., 3] = 2.0
        return h

    with b.edits({"enc.l0.fw": edit}):
        edited = b.encode(SRC[:2], sites=sites)
        out_edit = b.translate(SRC[:2])
    for row_base, row_edit in zip(base, edited, strict=True):
        assert (row_edit["enc.l0.fw"][:, 3] == 2.0).all()  # captured after the edit
        assert (row_edit["enc.l0.bw"] == row_base["enc.l0.bw"]).all()  # other direction untouched
        assert abs(row_edit["enc.l1.fw"] - row_base["enc.l1.fw"]).max() > 1e-3  # flows upward
    assert [t.logprob for t in out_edit] != [
        t.logprob for t in b.translate(SRC[:2])
    ]  # and into attention
    ctx = contexts[0]
    assert ctx.site == "enc.l0.fw" and ctx.side == "encoder" and ctx.step is None
    assert ctx.words[0] == SRC[0].split()
    n = len(SRC[0].split())
    assert ctx.word_index[0][:n] == list(range(n))
    assert ctx.word_index[0][n] is None  # </s>


def test_decoder_edit_applies_at_every_step() -> None:
    b = tiny_seq2seq()
    seen: list[tuple[int | None, tuple[int, ...], list]] = []

    def record(h: torch.Tensor, ctx):  # noqa: ANN001
        seen.append((ctx.step, tuple(h.shape), ctx.word_index))
        return h * 0.5

    for beam in (1, 3):
        seen.clear()
        with b.edits({"dec.l1": record}):
            b.translate(SRC[:2], beam=beam, max_len=5)
        steps = [s for s, _, _ in seen]
        assert steps == list(range(len(steps))) and len(steps) >= 5
        assert all(shape[1] == 1 for _, shape, _ in seen)  # time length 1 while decoding
        assert seen[0][2][0] == [None]  # step 0 consumes <s>
        assert seen[2][2][0] == [1]  # step s consumes target word s-1
    # teacher forcing: an edit at dec.l0 changes dec.l1 at every target row
    base = b.encode(SRC[:1], sites=["dec.l1"], targets=TGT[:1])[0]["dec.l1"]
    with b.edits({"dec.l0": lambda h, c: h + 1.0}):
        edited = b.encode(SRC[:1], sites=["dec.l1"], targets=TGT[:1])[0]["dec.l1"]
    assert (abs(edited - base).max(axis=1) > 1e-4).all()


def test_edit_must_keep_shape() -> None:
    b = tiny_seq2seq()
    with (
        pytest.raises(NeurotuiError, match="shape"),
        b.edits({"enc.l0.fw": lambda h, c: h[..., :2]}),
    ):
        b.translate(SRC[:1])
    assert b.active_hook_count() == 0


def test_language_model() -> None:
    lm = tiny_lm()
    ppl = lm.perplexity(SRC)
    assert 1.0 < ppl < 10 * len(lm.vocab)
    assert lm.perplexity(SRC) == ppl
    total, count = lm.sentence_nll(SRC)
    assert count == sum(len(s.split()) + 1 for s in SRC)
    acts = lm.encode(SRC)
    assert [a["lm.l1"].shape for a in acts] == [(len(s.split()), 16) for s in SRC]
    contexts = []

    def edit(h: torch.Tensor, ctx):  # noqa: ANN001
        contexts.append(ctx)
        return h + 3.0

    with lm.edits({"lm.l0": edit}):
        assert lm.perplexity(SRC) != ppl
        edited = lm.encode(SRC[:1], sites=["lm.l1"])[0]["lm.l1"]
    assert lm.active_hook_count() == 0
    assert abs(edited - acts[0]["lm.l1"]).max() > 1e-3
    assert contexts[-1].word_index[0][:2] == [None, 0]  # position 0 consumed <s>
    out = lm.translate(SRC, max_len=4)
    assert [t.text for t in out] == [t.text for t in lm.translate(SRC, max_len=4)]
    assert all(
        len(t.tokens) <= 4 and t.extra["full"].startswith(s) for t, s in zip(out, SRC, strict=True)
    )
    beam = lm.translate(SRC[:2], beam=3, max_len=4)
    assert len(beam) == 2
