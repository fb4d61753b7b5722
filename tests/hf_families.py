"""Tiny random Hugging Face models of 24 families, built offline from transformers' configs.

Why: site discovery must work from module structure on every family a researcher brings,
and the only way to know is to build each family and look. Each model has 2 layers, width
32 and a word-level tokenizer trained here on a few lines (vocabulary ≈ 50; Qwen2 a
byte-level BPE of ≈ 380), so a family
builds and runs in well under a second. ``build(family, folder)`` saves the model with
``save_pretrained`` (safetensors) and the tokenizer beside it, like a user's directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

LINES = [
    "the cat sees the dog",
    "the small cats do not sleep",
    "a dog will run to the house",
    "we saw the big houses yesterday",
    "the women are not happy",
    "my brother reads a long book",
    "le chat voit le chien",
    "les petits chats ne dorment pas",
    "un chien courra vers la maison",
    "mon frère lit un long livre",
]

WIDTH, FFN, LAYERS, HEADS = 32, 48, 2, 2

#: family → (kind, transformers config class, model class)
LM_FAMILIES = (
    "llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "gemma2", "gemma3",
    "phi", "phi3", "olmo", "gpt2", "gpt_neo", "gpt_neox", "opt",
)  # fmt: skip
SEQ2SEQ_FAMILIES = ("t5", "bart", "mbart", "m2m100", "marian")
ENCODER_FAMILIES = ("bert", "roberta", "distilbert", "modernbert")
FAMILIES = LM_FAMILIES + SEQ2SEQ_FAMILIES + ENCODER_FAMILIES

# special tokens by kind: (specials in id order, post-processor template, tokenizer names)
_LM_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
_S2S_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
_ENC_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def word_tokenizer(specials: list[str], template: str | None, **named: str) -> Any:
    """A word-level fast tokenizer over :data:`LINES` (every word one token)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=named["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece()  # joins words with spaces
    tok.train_from_iterator(LINES, trainers.WordLevelTrainer(special_tokens=specials))
    if template:
        used = [t for t in specials if t in template]
        tok.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, tok.token_to_id(t)) for t in used]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named)


def bytelevel_tokenizer() -> Any:
    """A byte-level BPE over :data:`LINES` (each word of them one token, ``Ġ``-prefixed).

    Why for Qwen2 only: transformers 5 loads a ``qwen2`` folder with its own
    ``Qwen2Tokenizer`` whatever the folder's ``tokenizer_class`` says, and that class
    rebuilds a byte-level BPE pipeline, which a word-level vocabulary does not survive.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        LINES,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=_LM_SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )


def tokenizer_for(family: str) -> Any:
    """The tokenizer a tiny model of ``family`` is built with."""
    if family == "qwen2":
        return bytelevel_tokenizer()
    if family in ENCODER_FAMILIES:
        return word_tokenizer(
            _ENC_SPECIALS,
            "[CLS] $A [SEP]",
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            mask_token="[MASK]",
        )
    named = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    if family in SEQ2SEQ_FAMILIES:
        return word_tokenizer(_S2S_SPECIALS, "$A </s>", **named)
    return word_tokenizer(_LM_SPECIALS, None, **named)


def _decoder_only(tf: Any, family: str, vocab: int) -> Any:
    ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}
    llama_like = {
        "vocab_size": vocab,
        "hidden_size": WIDTH,
        "intermediate_size": FFN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": 1,
        "max_position_embeddings": 64,
        "initializer_range": 0.2,
        **ids,
    }
    head = {"head_dim": WIDTH // HEADS}
    builders: dict[str, Callable[[], Any]] = {
        "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**llama_like)),
        "qwen2": lambda: tf.Qwen2ForCausalLM(tf.Qwen2Config(**llama_like)),
        "qwen3": lambda: tf.Qwen3ForCausalLM(tf.Qwen3Config(**llama_like, **head)),
        "mistral": lambda: tf.MistralForCausalLM(tf.MistralConfig(**llama_like, **head)),
        "mixtral": lambda: tf.MixtralForCausalLM(
            tf.MixtralConfig(**llama_like, **head, num_local_experts=4, num_experts_per_tok=2)
        ),
        "gemma": lambda: tf.GemmaForCausalLM(tf.GemmaConfig(**llama_like, **head)),
        "gemma2": lambda: tf.Gemma2ForCausalLM(tf.Gemma2Config(**llama_like, **head)),
        "gemma3": lambda: tf.Gemma3ForCausalLM(
            tf.Gemma3TextConfig(**llama_like, **head, sliding_window=16)
        ),
        "phi": lambda: tf.PhiForCausalLM(tf.PhiConfig(**llama_like)),
        "phi3": lambda: tf.Phi3ForCausalLM(tf.Phi3Config(**llama_like)),
        "olmo": lambda: tf.OlmoForCausalLM(tf.OlmoConfig(**llama_like)),
        "gpt2": lambda: tf.GPT2LMHeadModel(
            tf.GPT2Config(
                vocab_size=vocab,
                n_embd=WIDTH,
                n_layer=LAYERS,
                n_head=HEADS,
                n_inner=FFN,
                n_positions=64,
                initializer_range=0.2,
                **ids,
            )
        ),
        "gpt_neo": lambda: tf.GPTNeoForCausalLM(
            tf.GPTNeoConfig(
                vocab_size=vocab,
                hidden_size=WIDTH,
                num_layers=LAYERS,
                num_heads=HEADS,
                attention_types=[[["global", "local"], 1]],
                intermediate_size=FFN,
                max_position_embeddings=64,
                window_size=16,
                initializer_range=0.2,
                **ids,
            )
        ),
        "gpt_neox": lambda: tf.GPTNeoXForCausalLM(
            tf.GPTNeoXConfig(
                vocab_size=vocab,
                hidden_size=WIDTH,
                num_hidden_layers=LAYERS,
                num_attention_heads=HEADS,
                intermediate_size=FFN,
                max_position_embeddings=64,
                initializer_range=0.2,
                **ids,
            )
        ),
        "opt": lambda: tf.OPTForCausalLM(
            tf.OPTConfig(
                vocab_size=vocab,
                hidden_size=WIDTH,
                word_embed_proj_dim=WIDTH,
                num_hidden_layers=LAYERS,
                num_attention_heads=HEADS,
                ffn_dim=FFN,
                max_position_embeddings=64,
                init_std=0.2,
                **ids,
            )
        ),
    }
    return builders[family]()


def _seq2seq(tf: Any, family: str, vocab: int) -> Any:
    ids = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2}
    if family == "t5":
        config = tf.T5Config(
            vocab_size=vocab,
            d_model=WIDTH,
            d_kv=WIDTH // HEADS,
            d_ff=FFN,
            num_layers=LAYERS,
            num_decoder_layers=LAYERS,
            num_heads=HEADS,
            pad_token_id=0,
            eos_token_id=2,
            decoder_start_token_id=0,
            initializer_factor=3.0,
        )
        return tf.T5ForConditionalGeneration(config)
    bart_like = {
        "vocab_size": vocab,
        "d_model": WIDTH,
        "encoder_layers": LAYERS,
        "decoder_layers": LAYERS,
        "encoder_attention_heads": HEADS,
        "decoder_attention_heads": HEADS,
        "encoder_ffn_dim": FFN,
        "decoder_ffn_dim": FFN - 8,
        "max_position_embeddings": 64,
        "init_std": 0.2,
        "forced_eos_token_id": 2,
        **ids,
    }
    if family == "bart":
        return tf.BartForConditionalGeneration(tf.BartConfig(**bart_like, forced_bos_token_id=None))
    if family == "mbart":
        return tf.MBartForConditionalGeneration(tf.MBartConfig(**bart_like))
    if family == "m2m100":
        return tf.M2M100ForConditionalGeneration(tf.M2M100Config(**bart_like))
    return tf.MarianMTModel(tf.MarianConfig(**bart_like))


def _encoder(tf: Any, family: str, vocab: int) -> Any:
    bert_like = {
        "vocab_size": vocab,
        "hidden_size": WIDTH,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": FFN,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
        "initializer_range": 0.2,
    }
    if family == "bert":
        return tf.BertModel(tf.BertConfig(**bert_like))
    if family == "roberta":
        return tf.RobertaModel(tf.RobertaConfig(**{**bert_like, "max_position_embeddings": 66}))
    if family == "distilbert":
        config = tf.DistilBertConfig(
            vocab_size=vocab,
            dim=WIDTH,
            n_layers=LAYERS,
            n_heads=HEADS,
            hidden_dim=FFN,
            max_position_embeddings=64,
            pad_token_id=0,
            initializer_range=0.2,
        )
        return tf.DistilBertModel(config)
    config = tf.ModernBertConfig(
        **bert_like,
        global_attn_every_n_layers=2,
        local_attention=16,
        cls_token_id=2,
        sep_token_id=3,
    )
    return tf.ModernBertModel(config)


def build_model(family: str, vocab: int) -> Any:
    """A random tiny model of ``family`` (float32, eval mode, fixed seed)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if family in SEQ2SEQ_FAMILIES:
        model = _seq2seq(tf, family, vocab)
    elif family in ENCODER_FAMILIES:
        model = _encoder(tf, family, vocab)
    else:
        model = _decoder_only(tf, family, vocab)
    return model.eval()


def build(family: str, folder: Path) -> Path:
    """Save a tiny ``family`` model and its tokenizer in ``folder`` (safetensors)."""
    import warnings

    folder.mkdir(parents=True, exist_ok=True)
    tok = tokenizer_for(family)
    model = build_model(family, len(tok))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
    return folder
