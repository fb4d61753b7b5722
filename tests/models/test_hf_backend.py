"""The Hugging Face backend on tiny models built here from configs (never downloaded).

Each family (Marian, T5, BART, GPT-2, BERT) is built with random weights and a tokenizer
trained offline on a few lines, saved with ``save_pretrained`` (safetensors) and opened
through ``load_hf_backend`` like a user's directory. Module-scoped fixtures keep the slow
transformers import and model building to once per test run.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")
pytest.importorskip("tokenizers")

import torch  # noqa: E402
from numerics import assert_same_run  # noqa: E402

from neurotui.errors import Cancelled, CheckpointError, NeurotuiError  # noqa: E402
from neurotui.models.base import EditContext  # noqa: E402
from neurotui.models.hf import HFBackend, aggregate, load_hf_backend  # noqa: E402
from neurotui.models.hf_tokens import align  # noqa: E402

EN = [
    "the cat sees the dog",
    "the small cats do not sleep",
    "a dog will run to the house",
    "we saw the big houses yesterday",
    "the women are not happy",
    "my brother reads a long book",
]
FR = [
    "le chat voit le chien",
    "les petits chats ne dorment pas",
    "un chien courra vers la maison",
    "nous avons vu les grandes maisons hier",
    "les femmes ne sont pas heureuses",
    "mon frère lit un long livre",
]
SOURCES = ["the cat sees the dog", "my small brother will not sleep", "a house"]
FAMILIES = ("marian", "t5", "bart", "gpt2", "bert")


# -- building tiny models ------------------------------------------------------------------


def _marian_tokenizer(folder: Path):  # type: ignore[no-untyped-def]
    import sentencepiece as spm
    from transformers import MarianTokenizer

    for name, lines in (("source.spm", EN), ("target.spm", FR)):
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines * 4),
            model_writer=buffer,
            vocab_size=40,
            model_type="unigram",
            character_coverage=1.0,
            normalization_rule_name="identity",
            hard_vocab_limit=False,
            bos_id=-1,
            eos_id=-1,
            unk_id=0,
            pad_id=-1,
            minloglevel=2,
        )
        (folder / name).write_bytes(buffer.getvalue())
    vocab = {"</s>": 0, "<unk>": 1}
    for name in ("source.spm", "target.spm"):
        sp = spm.SentencePieceProcessor(model_file=str(folder / name))
        for i in range(sp.get_piece_size()):
            vocab.setdefault(sp.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Recommended: pip install sacremoses."
        return MarianTokenizer(
            str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json")
        )


def _wordpiece_tokenizer(specials: list[str], template: str | None, **named: str):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token=named["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        EN + FR, trainers.WordPieceTrainer(vocab_size=70, special_tokens=specials)
    )
    # The trainer learns the same pieces every run but numbers the tied ones in a different
    # order each process (a Rust hash map), so the tiny models built on it -- and whether an
    # edit happens to change their argmax -- differed from run to run (a CI failure). Number
    # the pieces canonically: the specials first, then the rest sorted.
    learned = sorted(set(tok.get_vocab()) - set(specials))
    vocab = {piece: i for i, piece in enumerate([*specials, *learned])}
    tok.model = models.WordPiece(vocab=vocab, unk_token=named["unk_token"])
    if template:
        used = [t for t in specials if t in template]
        tok.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, tok.token_to_id(t)) for t in used]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named)


def _bytelevel_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        EN,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )


def _build(family: str, folder: Path) -> None:
    import transformers as tf

    folder.mkdir(parents=True)
    torch.manual_seed(0)
    if family == "marian":
        tok = _marian_tokenizer(folder)
        vocab = len(tok.encoder)
        config = tf.MarianConfig(
            vocab_size=vocab,
            d_model=32,
            encoder_layers=2,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=48,
            decoder_ffn_dim=40,
            max_position_embeddings=64,
            pad_token_id=vocab - 1,
            eos_token_id=0,
            decoder_start_token_id=vocab - 1,
            forced_eos_token_id=0,
            init_std=0.3,
        )
        model = tf.MarianMTModel(config)
    elif family in ("t5", "bart", "bert"):
        specials, template, named = {
            "t5": (
                ["<pad>", "</s>", "<unk>"],
                "$A </s>",
                {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"},
            ),
            "bart": (
                ["<s>", "<pad>", "</s>", "<unk>"],
                "<s> $A </s>",
                {
                    "bos_token": "<s>",
                    "pad_token": "<pad>",
                    "eos_token": "</s>",
                    "unk_token": "<unk>",
                },
            ),
            "bert": (
                ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
                "[CLS] $A [SEP]",
                {
                    "pad_token": "[PAD]",
                    "unk_token": "[UNK]",
                    "cls_token": "[CLS]",
                    "sep_token": "[SEP]",
                },
            ),
        }[family]
        tok = _wordpiece_tokenizer(specials, template, **named)
        vocab = len(tok)
        if family == "t5":
            config = tf.T5Config(
                vocab_size=vocab,
                d_model=32,
                d_kv=8,
                d_ff=48,
                num_layers=2,
                num_decoder_layers=2,
                num_heads=2,
                pad_token_id=0,
                eos_token_id=1,
                decoder_start_token_id=0,
                initializer_factor=3.0,
            )
            model = tf.T5ForConditionalGeneration(config)
        elif family == "bart":
            config = tf.BartConfig(
                vocab_size=vocab,
                d_model=32,
                encoder_layers=2,
                decoder_layers=2,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=48,
                decoder_ffn_dim=40,
                max_position_embeddings=64,
                bos_token_id=0,
                pad_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=2,
                forced_bos_token_id=None,
                forced_eos_token_id=2,
                init_std=0.3,
            )
            model = tf.BartForConditionalGeneration(config)
        else:
            config = tf.BertConfig(
                vocab_size=vocab,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=48,
                max_position_embeddings=64,
                pad_token_id=0,
            )
            model = tf.BertModel(config)
    else:  # gpt2
        tok = _bytelevel_tokenizer()
        eos = tok.convert_tokens_to_ids("<|endoftext|>")
        config = tf.GPT2Config(
            vocab_size=len(tok),
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=64,
            bos_token_id=eos,
            eos_token_id=eos,
            initializer_range=0.3,
        )
        model = tf.GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for family in FAMILIES:
        _build(family, root / family)
        out[family] = root / family
    return out


@pytest.fixture(scope="module")
def backends(folders: dict[str, Path]) -> dict[str, HFBackend]:
    return {family: load_hf_backend(path, "cpu") for family, path in folders.items()}


def _push(size: int, scale: float = 30.0, seed: int = 1) -> torch.Tensor:
    return scale * torch.randn(size, generator=torch.Generator().manual_seed(seed))


# -- loading and sites ---------------------------------------------------------------------


def test_each_family_loads_with_its_kind_and_sites(backends: dict[str, HFBackend]) -> None:
    kinds = {b: backends[b].kind for b in FAMILIES}
    assert kinds == {
        "marian": "seq2seq",
        "t5": "seq2seq",
        "bart": "seq2seq",
        "gpt2": "lm",
        "bert": "encoder",
    }
    marian = {s.name: s for s in backends["marian"].sites()}
    # NeuroX numbering: l0 = embeddings, l{i} = block i-1 with its attention and MLP
    assert list(marian) == [
        "enc.l0", "enc.l1.attn", "enc.l1.ffn", "enc.l1", "enc.l2.attn", "enc.l2.ffn", "enc.l2",
        "dec.l0", "dec.l1.attn", "dec.l1.xattn", "dec.l1.ffn", "dec.l1",
        "dec.l2.attn", "dec.l2.xattn", "dec.l2.ffn", "dec.l2",
    ]  # fmt: skip
    assert marian["enc.l2"].size == 32 and marian["enc.l2.ffn"].size == 48
    assert marian["dec.l1.ffn"].size == 40 and marian["dec.l1"].side == "decoder"
    assert marian["enc.l0"].layer == 0 and marian["dec.l2.xattn"].layer == 2
    t5 = {s.name: s.size for s in backends["t5"].sites()}
    assert t5["enc.l2.ffn"] == 48 and t5["dec.l2.ffn"] == 48 and len(t5) == 16
    gpt2 = {s.name: s.size for s in backends["gpt2"].sites()}
    assert gpt2 == {
        "lm.l0": 32, "lm.l1.attn": 32, "lm.l1.ffn": 128, "lm.l1": 32,
        "lm.l2.attn": 32, "lm.l2.ffn": 128, "lm.l2": 32,
    }  # fmt: skip
    bert = {s.name: s.size for s in backends["bert"].sites()}
    assert bert == {
        "enc.l0": 32, "enc.l1.attn": 32, "enc.l1.ffn": 48, "enc.l1": 32,
        "enc.l2.attn": 32, "enc.l2.ffn": 48, "enc.l2": 32,
    }  # fmt: skip
    offsets = backends["bert"].neuron_offsets()
    assert offsets["enc.l1"] == 32 + 32 + 48


def test_word_alignment_matches_the_tokenizer(backends: dict[str, HFBackend]) -> None:
    sentence = "the smallest cats do not sleep"
    for family in FAMILIES:
        tok = backends[family].tokenizer
        item = align(tok, sentence)
        # same ids as tokenising the sentence in one go (sentencepiece per word included)
        assert item.ids == list(tok(sentence)["input_ids"]), family
        words = sentence.split()
        assert sorted({w for w in item.word_index if w is not None}) == list(range(len(words)))
        # the tokens of each word spell the word
        for w, word in enumerate(words):
            ids = [i for i, wi in zip(item.ids, item.word_index, strict=True) if wi == w]
            spelled = tok.decode(ids).replace(" ", "").replace("##", "")
            assert spelled == word, (family, word, spelled)
    marian = align(backends["marian"].tokenizer, sentence)
    assert len(marian.ids) > len(sentence.split()) + 1  # some words are split into pieces
    assert marian.word_index[-1] is None  # </s>
    bert = align(backends["bert"].tokenizer, sentence)
    assert bert.word_index[0] is None and bert.word_index[-1] is None  # [CLS] … [SEP]


def test_aggregation_first_last_mean() -> None:
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    index = [None, 0, 1, 1, 1, None]
    assert aggregate(rows, index, 2, "first").tolist() == [[2, 3], [4, 5]]
    assert aggregate(rows, index, 2, "last").tolist() == [[2, 3], [8, 9]]
    assert aggregate(rows, index, 2, "mean").tolist() == [[2, 3], [6, 7]]


@pytest.mark.parametrize("family", FAMILIES)
def test_encode_returns_one_row_per_word_per_site(
    backends: dict[str, HFBackend], family: str
) -> None:
    backend = backends[family]
    targets = ["le chat voit le chien", "mon petit frère ne dormira pas", "une maison"]
    use_targets = targets if backend.kind == "seq2seq" else None
    out = backend.encode(SOURCES, targets=use_targets, batch_size=2)
    assert len(out) == len(SOURCES)
    for n, acts in enumerate(out):
        assert set(acts) == {s.name for s in backend.sites()}
        for info in backend.sites():
            words = (targets[n] if info.side == "decoder" else SOURCES[n]).split()
            assert acts[info.name].shape == (len(words), info.size), (family, info.name)
            assert acts[info.name].dtype == np.float32
            assert np.isfinite(acts[info.name]).all()
    # batching and padding do not change a sentence's activations
    single = backend.encode(SOURCES[1:2], targets=use_targets[1:2] if use_targets else None)
    for name, value in single[0].items():
        assert_same_run(value, out[1][name], err_msg=name)


def test_encode_aggregations_differ_on_split_words(backends: dict[str, HFBackend]) -> None:
    backend = backends["marian"]
    first, last = (
        backend.encode(["the smallest cats"], ["enc.l2"], aggregation=a)[0]["enc.l2"]
        for a in ("first", "last")
    )
    split = [w for w in range(3) if not np.allclose(first[w], last[w])]
    assert split  # at least one multi-piece word


def test_teacher_forced_decoder_rows_consume_target_tokens(backends: dict[str, HFBackend]) -> None:
    backend = backends["marian"]
    targets = ["les petits chats dorment", "le chien"]
    plain = backend.encode(SOURCES[:2], ["dec.l1"], targets=targets)
    seen: list[EditContext] = []

    def first_token_only(hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        seen.append(ctx)
        mask = torch.tensor([[w == 0 for w in row] for row in ctx.word_index])
        return torch.where(mask.unsqueeze(-1), hidden + 7.0, hidden)

    with backend.edits({"dec.l1": first_token_only}):
        edited = backend.encode(SOURCES[:2], ["dec.l1"], targets=targets)
    ctx = seen[0]
    assert ctx.side == "decoder" and ctx.step is None
    assert ctx.words == [t.split() for t in targets]
    n0 = len(align(backend.tokenizer, targets[0], target=True).ids)  # pieces + </s>
    assert ctx.word_index[0] == [None, *range(n0 - 1)]  # position p consumed token p - 1
    assert ctx.word_index[1][-1] is None  # padding
    for b in range(2):
        changed = np.abs(edited[b]["dec.l1"] - plain[b]["dec.l1"]).max(axis=1) > 1e-3
        assert changed.tolist() == [True] + [False] * (len(targets[b].split()) - 1)


def test_decoder_sites_without_targets_use_own_translation(backends: dict[str, HFBackend]) -> None:
    backend = backends["marian"]
    text = backend.translate(SOURCES[:1])[0].text
    acts = backend.encode(SOURCES[:1], ["dec.l2"])[0]["dec.l2"]
    assert acts.shape == (len(text.split()), 32)


# -- running -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["marian", "t5", "bart", "gpt2"])
def test_translate_is_deterministic(backends: dict[str, HFBackend], family: str) -> None:
    backend = backends[family]
    for beam in (1, 3):
        first = backend.translate(SOURCES, beam=beam, max_len=8)
        again = backend.translate(SOURCES, beam=beam, max_len=8, batch_size=1)
        assert [t.text for t in first] == [t.text for t in again]
        assert [t.tokens for t in first] == [t.tokens for t in again]
        for t in first:
            assert t.logprob <= 0.0 and np.isfinite(t.logprob)
            assert t.source in SOURCES and 1 <= len(t.extra["ids"]) <= 8


def test_encoder_cannot_translate(
    backends: dict[str, HFBackend], folders: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(NeurotuiError, match="encoder model .* does not translate"):
        backends["bert"].translate(SOURCES)
    from neurotui.cli import main

    assert main(["translate", str(folders["bert"]), "the cat sees the dog"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurotui: error: ") and "does not translate" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_lm_perplexity(backends: dict[str, HFBackend]) -> None:
    backend = backends["gpt2"]
    ppl = backend.perplexity(EN, batch_size=4)
    assert np.isfinite(ppl) and ppl > 1.0
    assert backend.perplexity(EN, batch_size=1) == pytest.approx(ppl, rel=1e-4)
    with backend.edits({"lm.l1": lambda h, ctx: h + _push(h.shape[-1])}):
        assert backend.perplexity(EN) != pytest.approx(ppl, rel=1e-3)


# -- edits ---------------------------------------------------------------------------------


def test_encoder_edit_changes_translation_and_sees_words(backends: dict[str, HFBackend]) -> None:
    backend = backends["marian"]
    before = [t.extra["ids"] for t in backend.translate(SOURCES, max_len=10)]
    seen: list[EditContext] = []

    def push(hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        seen.append(ctx)
        return hidden + _push(hidden.shape[-1])

    with backend.edits({"enc.l1": push}):
        assert backend.active_hook_count() == 1
        after = [t.extra["ids"] for t in backend.translate(SOURCES, max_len=10)]
    assert backend.active_hook_count() == 0
    assert after != before
    ctx = seen[0]
    assert ctx.side == "encoder" and ctx.step is None
    assert ctx.words[0] == SOURCES[0].split()
    row = ctx.word_index[0]
    expected = align(backend.tokenizer, SOURCES[0]).word_index
    assert row[: len(expected)] == expected and expected[-1] is None
    assert all(
        w is None for w in ctx.word_index[2][len(align(backend.tokenizer, SOURCES[2]).ids) :]
    )
    assert backend.translate(SOURCES, max_len=10)[0].extra["ids"] == before[0]  # restored


@pytest.mark.parametrize("family", ["marian", "t5", "bart"])
@pytest.mark.parametrize("beam", [1, 2])
def test_decoder_edit_applies_at_every_cached_step(
    backends: dict[str, HFBackend], family: str, beam: int
) -> None:
    backend = backends[family]
    before = [t.extra["ids"] for t in backend.translate(SOURCES, beam=beam, max_len=8)]
    seen: list[tuple[int | None, int, list[list[int | None]]]] = []

    def push(hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        seen.append((ctx.step, hidden.shape[1], ctx.word_index))
        return hidden + _push(hidden.shape[-1], seed=3)

    with backend.edits({"dec.l2": push}):
        cached = [t.extra["ids"] for t in backend.translate(SOURCES, beam=beam, max_len=8)]
    assert cached != before
    # KV cache: one new position per forward, at every step, with the step as position
    steps = [s for s, _, _ in seen]
    assert steps == list(range(len(steps))) and len(steps) >= 2
    assert all(t == 1 for _, t, _ in seen)
    assert all(len(wi) == len(SOURCES) * beam for _, _, wi in seen)
    # step s consumes output token s - 1 (the decoder start token at step 0)
    assert all(row == [None if step == 0 else step - 1] for step, _, wi in seen for row in wi)
    # the same edit without the cache (whole prefix re-run and edited) decodes alike
    backend.use_cache = False
    try:
        with backend.edits({"dec.l2": lambda h, ctx: h + _push(h.shape[-1], seed=3)}):
            uncached = [t.extra["ids"] for t in backend.translate(SOURCES, beam=beam, max_len=8)]
    finally:
        backend.use_cache = True
    assert uncached == cached
    assert backend.active_hook_count() == 0


def test_decoder_ffn_edit_and_lm_generation_steps(backends: dict[str, HFBackend]) -> None:
    marian = backends["marian"]
    before = [t.extra["ids"] for t in marian.translate(SOURCES, max_len=8)]
    with marian.edits({"dec.l1.ffn": lambda h, ctx: h * 0.0 + 5.0}):
        after = [t.extra["ids"] for t in marian.translate(SOURCES, max_len=8)]
    assert after != before
    gpt2 = backends["gpt2"]
    plain = [t.extra["ids"] for t in gpt2.translate(SOURCES, max_len=6)]
    seen: list[tuple[int | None, int]] = []

    def push(hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        seen.append((ctx.step, hidden.shape[1]))
        return hidden + _push(hidden.shape[-1], seed=4)

    with gpt2.edits({"lm.l2.ffn": push}):
        edited = [t.extra["ids"] for t in gpt2.translate(SOURCES, max_len=6)]
    assert edited != plain
    assert seen[0][0] is None and seen[0][1] > 1  # the prompt, at once
    assert [s for s, _ in seen[1:]] == list(range(1, len(seen)))
    assert all(t == 1 for _, t in seen[1:])


def test_edit_flows_into_later_layers_and_captures_see_it(backends: dict[str, HFBackend]) -> None:
    backend = backends["bert"]
    plain = backend.encode(SOURCES, ["enc.l1", "enc.l2"])
    with backend.edits({"enc.l1": lambda h, ctx: torch.zeros_like(h)}):
        edited = backend.encode(SOURCES, ["enc.l1", "enc.l2"])
    assert np.all(edited[0]["enc.l1"] == 0.0)
    assert not np.allclose(edited[0]["enc.l2"], plain[0]["enc.l2"])
    assert backend.active_hook_count() == 0


def test_hooks_removed_after_an_exception(backends: dict[str, HFBackend]) -> None:
    backend = backends["t5"]

    def boom(hidden: torch.Tensor, ctx: EditContext) -> torch.Tensor:
        raise RuntimeError("edit failed")

    with (
        pytest.raises(RuntimeError, match="edit failed"),
        backend.edits({"dec.l1": boom, "enc.l2.ffn": lambda h, ctx: h}),
    ):
        # two sites + the decoder step tracker + the FFN block's input-shape recorder
        assert backend.active_hook_count() == 4
        backend.translate(SOURCES)
    assert backend.active_hook_count() == 0
    with (
        pytest.raises(NeurotuiError, match="shape"),
        backend.edits({"enc.l1": lambda h, ctx: h[:, :1]}),
    ):
        backend.translate(SOURCES)
    assert backend.active_hook_count() == 0
    with (
        pytest.raises(NeurotuiError, match="unknown site"),
        backend.edits({"enc.l10": lambda h, ctx: h}),
    ):
        pass
    assert backend.active_hook_count() == 0


def test_cancellation_between_steps(backends: dict[str, HFBackend]) -> None:
    backend = backends["marian"]
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled), backend.edits({"dec.l1": lambda h, ctx: h}):
        backend.translate(SOURCES, should_stop=stop, max_len=20)
    assert backend.active_hook_count() == 0


# -- bad checkpoints -----------------------------------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_pickled_only_checkpoint_is_refused(folders: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(folders["gpt2"], tmp_path / "pickled")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(
        CheckpointError, match=r"pytorch_model\.bin: pickled weights are never loaded"
    ) as err:
        load_hf_backend(folder, "cpu")
    assert "\n" not in str(err.value)


def test_broken_config_is_refused_in_one_line(folders: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(folders["bert"], tmp_path / "broken")
    (folder / "config.json").write_text('{\n  "model_type": "bert",\n  "hidden_size": 32,,\n}\n')
    with pytest.raises(CheckpointError, match=r"config\.json:3:\d+: invalid JSON") as err:
        load_hf_backend(folder, "cpu")
    assert "\n" not in str(err.value)
    (folder / "config.json").write_text('{"model_type": "no-such-model"}')
    with pytest.raises(CheckpointError, match="no-such-model") as err:
        load_hf_backend(folder, "cpu")
    assert "\n" not in str(err.value)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json: missing"):
        load_hf_backend(folder, "cpu")
    with pytest.raises(CheckpointError, match="not a directory"):
        load_hf_backend(tmp_path / "nowhere", "cpu")


def test_weights_of_another_architecture_or_corrupt_are_refused(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    folder = _copy(folders["bert"], tmp_path / "mixed")
    shutil.copy(folders["gpt2"] / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.safetensors") as err:
        load_hf_backend(folder, "cpu")
    assert "\n" not in str(err.value)
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(CheckpointError, match="corrupt safetensors"):
        load_hf_backend(folder, "cpu")


# -- the bundled sample ----------------------------------------------------------------------


def test_bundled_marian_sample_translates_held_out_sentences() -> None:
    from neurotui.models.registry import load_backend, read_card
    from neurotui.paths import samples_dir

    folder = samples_dir() / "synth-en-fr-marian"
    if not (folder / "card.json").is_file():
        pytest.skip("sample_models/synth-en-fr-marian not built yet")
    card = read_card(folder)
    assert card is not None and card["kind"] == "seq2seq" and card["backend"] == "hf-marian"
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    assert size <= 4_000_000
    assert not any(p.suffix in (".bin", ".pt", ".pth") for p in folder.iterdir())
    backend = load_backend("synth-en-fr-marian", "cpu")
    assert isinstance(backend, HFBackend) and backend.family == "marian"
    src = (folder / card["heldout"]["src"]).read_text(encoding="utf-8").splitlines()[:16]
    ref = (folder / card["heldout"]["ref"]).read_text(encoding="utf-8").splitlines()[:16]
    hyps = [t.text for t in backend.translate(src)]
    exact = sum(h.split() == r.split() for h, r in zip(hyps, ref, strict=True)) / len(ref)
    assert exact >= 0.75, list(zip(hyps, ref, strict=True))
    # its sites read per word, sub-word pieces aggregated
    acts = backend.encode(src[:2], ["enc.l2", "dec.l2.ffn"], targets=ref[:2])
    assert acts[0]["enc.l2"].shape == (len(src[0].split()), 128)
    assert acts[1]["dec.l2.ffn"].shape == (
        len(ref[1].split()),
        card["architecture"]["decoder_ffn_dim"],
    )
