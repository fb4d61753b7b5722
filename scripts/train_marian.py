"""Train the ``synth-en-fr-marian`` sample: a tiny Hugging Face MarianMTModel.

Why a script (not ``neurotui train``): the sample exists to show that neurotui opens a
model in the *standard* Hugging Face layout (``save_pretrained`` + ``MarianTokenizer``),
so it is built with transformers' own classes, on the same synthetic English→French task
as the LSTM samples (``neurotui.data.synthetic``), and scored on the shipped
``sample_models/synth-data/test.*`` through ``neurotui.models.hf.load_hf_backend`` — the
path users take.

Steps: generate the splits from ``--data-seed``; train one sentencepiece BPE model per
language (``source.spm``/``target.spm``, identity normalisation so the files stay a few
KB) and a joint ``vocab.json``; train a MarianMTModel with Adam, warm-up then inverse
square-root learning-rate decay, label smoothing; after every epoch decode the dev set
greedily and keep the best (exact match, then dev loss); stop on patience or
``--time-limit``; save fp16 safetensors atomically; reload, score, write ``card.json`` and
``card.md``.

Reproducible from ``--seed`` (torch seed and batch order) given the same thread count and
torch version. Run with ``NEUROTUI_THREADS=1 nice -n 10 python scripts/train_marian.py``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHIPPED = REPO / "sample_models" / "synth-data"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "sample_models" / "synth-en-fr-marian")
    p.add_argument("--seed", type=int, default=1, help="torch seed and batch order")
    p.add_argument("--data-seed", type=int, default=0, help="synthetic grammar seed")
    p.add_argument("--partition", default="train.1", help="training split of make_splits")
    p.add_argument("--train-size", type=int, default=30_000)
    p.add_argument("--src-vocab", type=int, default=360, help="English sentencepiece (BPE) size")
    p.add_argument("--tgt-vocab", type=int, default=480, help="French sentencepiece (BPE) size")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2, help="encoder and decoder layers each")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=256)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--warmup", type=int, default=800, help="warm-up steps, then lr ∝ 1/√step")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=4, help="epochs without dev improvement")
    p.add_argument(
        "--time-limit", type=float, default=18.0, help="minutes of training (0: no limit)"
    )
    p.add_argument("--eval-beam", type=int, default=5, help="also score test with this beam")
    p.add_argument("--threads", type=int, default=None, help="torch threads (NEUROTUI_THREADS)")
    p.add_argument("--fp32", action="store_true", help="save float32 weights (default fp16)")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def log(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


# -- tokenizer -------------------------------------------------------------------------


def train_spm(lines: list[str], size: int) -> bytes:
    """A sentencepiece BPE model (bytes) with only ``<unk>`` as a special piece.

    BPE, not unigram: on this small closed vocabulary the unigram trainer stops at ~220
    pieces and splits even the commonest words (``th`` ``is``), doubling sequence lengths.
    """
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buffer,
        vocab_size=size,
        model_type="bpe",
        character_coverage=1.0,
        normalization_rule_name="identity",
        hard_vocab_limit=False,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        unk_id=0,
        num_threads=1,
        minloglevel=2,
    )
    return buffer.getvalue()


def build_tokenizer(folder: Path, src: list[str], tgt: list[str], args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """Write ``source.spm``, ``target.spm``, ``vocab.json`` and return a MarianTokenizer.

    Marian's convention: ``</s>`` = 0, ``<unk>`` = 1, the pieces of both languages, and
    ``<pad>`` last (it doubles as the decoder start token).
    """
    import sentencepiece as spm
    from transformers import MarianTokenizer

    (folder / "source.spm").write_bytes(train_spm(src, args.src_vocab))
    (folder / "target.spm").write_bytes(train_spm(tgt, args.tgt_vocab))
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for name in ("source.spm", "target.spm"):
        model = spm.SentencePieceProcessor(model_file=str(folder / name))
        for i in range(model.get_piece_size()):
            vocab.setdefault(model.id_to_piece(i), len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(
        json.dumps(vocab, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Recommended: pip install sacremoses."
        return MarianTokenizer(
            str(folder / "source.spm"),
            str(folder / "target.spm"),
            str(folder / "vocab.json"),
            source_lang="en",
            target_lang="fr",
            model_max_length=128,
        )


def encode_pairs(tok: Any, src: list[str], tgt: list[str]) -> list[tuple[list[int], list[int]]]:
    """Token ids of each pair (both end with ``</s>``)."""
    sources = tok(src)["input_ids"]
    targets = tok(text_target=tgt)["input_ids"]
    return [(list(s), list(t)) for s, t in zip(sources, targets, strict=True)]


# -- training ------------------------------------------------------------------------------


def make_batches(
    pairs: list[tuple[list[int], list[int]]], size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of similar length (less padding, same order for the same seed)."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    pool = size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(
            order[start : start + pool], key=lambda i: len(pairs[i][0]) + len(pairs[i][1])
        )
        batches.extend(chunk[k : k + size] for k in range(0, len(chunk), size))
    rng.shuffle(batches)
    return batches


def collate(pairs: list[tuple[list[int], list[int]]], pad: int):  # type: ignore[no-untyped-def]
    import torch

    width = max(len(s) for s, _ in pairs)
    twidth = max(len(t) for _, t in pairs)
    src = torch.full((len(pairs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    dec = torch.full((len(pairs), twidth), pad, dtype=torch.long)
    labels = torch.full((len(pairs), twidth), -100, dtype=torch.long)
    for b, (s, t) in enumerate(pairs):
        src[b, : len(s)] = torch.tensor(s)
        mask[b, : len(s)] = 1
        dec[b, 1 : len(t)] = torch.tensor(t[:-1])  # position 0 = decoder start (= <pad>)
        labels[b, : len(t)] = torch.tensor(t)
    return src, mask, dec, labels


def batch_loss(model: Any, pairs: list[tuple[list[int], list[int]]], pad: int, smoothing: float):  # type: ignore[no-untyped-def]
    import torch.nn.functional as F

    src, mask, dec, labels = collate(pairs, pad)
    logits = model(
        input_ids=src, attention_mask=mask, decoder_input_ids=dec, use_cache=False
    ).logits
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=-100,
        label_smoothing=smoothing,
    )


def dev_loss(model: Any, pairs: list[tuple[list[int], list[int]]], pad: int) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(pairs), 100):
            chunk = pairs[start : start + 100]
            n = sum(len(t) for _, t in chunk)
            total += float(batch_loss(model, chunk, pad, 0.0)) * n
            count += n
    model.train()
    return total / max(1, count)


def greedy(model: Any, tok: Any, sentences: list[str], beam: int = 1) -> list[str]:
    """Decode with ``generate`` exactly as the backend does (used for best-on-dev)."""
    import torch

    model.eval()
    out: list[str] = []
    pad = tok.pad_token_id
    with torch.inference_mode():
        for start in range(0, len(sentences), 100):
            chunk = sentences[start : start + 100]
            enc = tok(chunk, return_tensors="pt", padding=True)
            ids = model.generate(
                **enc, num_beams=beam, do_sample=False, max_new_tokens=64, bad_words_ids=[[pad]]
            )
            out.extend(" ".join(t.split()) for t in tok.batch_decode(ids, skip_special_tokens=True))
    model.train()
    return out


def train(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Train into ``work`` (model + tokenizer files); return the training record."""
    import torch
    from transformers import MarianConfig, MarianMTModel
    from transformers.utils import logging as hf_logging

    from neurotui import metrics
    from neurotui.data.synthetic import make_splits
    from neurotui.device import configure_threads

    hf_logging.disable_progress_bar()  # no "Writing model shards" bars in the log
    threads = configure_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.monotonic()
    splits = make_splits(args.data_seed, train_size=args.train_size)
    train_src = [e.src for e in splits[args.partition]]
    train_tgt = [e.tgt for e in splits[args.partition]]
    dev_src, dev_tgt = [e.src for e in splits["dev"]], [e.tgt for e in splits["dev"]]
    tok = build_tokenizer(work, train_src, train_tgt, args)
    pad = tok.pad_token_id
    train_pairs = encode_pairs(tok, train_src, train_tgt)
    dev_pairs = encode_pairs(tok, dev_src, dev_tgt)
    vocab = len(tok.encoder)
    config = MarianConfig(
        vocab_size=vocab,
        decoder_vocab_size=vocab,
        d_model=args.d_model,
        encoder_layers=args.layers,
        decoder_layers=args.layers,
        encoder_attention_heads=args.heads,
        decoder_attention_heads=args.heads,
        encoder_ffn_dim=args.ffn,
        decoder_ffn_dim=args.ffn,
        activation_function="swish",
        max_position_embeddings=128,
        dropout=args.dropout,
        attention_dropout=0.0,
        activation_dropout=0.0,
        scale_embedding=True,
        pad_token_id=pad,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=pad,
        forced_eos_token_id=tok.eos_token_id,
        share_encoder_decoder_embeddings=True,
    )
    model = MarianMTModel(config)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    src_len = sum(len(s) for s, _ in train_pairs) / len(train_pairs)
    log(
        args,
        f"training MarianMTModel: {len(train_pairs)} pairs, vocab {vocab}, {params:,} parameters, "
        f"{threads} thread(s), {src_len:.1f} source tokens per sentence",
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)

    def lr_at(step: int) -> float:
        return args.lr * min(step / args.warmup, math.sqrt(args.warmup / max(step, 1)))

    best: tuple[float, float] = (-1.0, math.inf)
    best_state: dict[str, Any] | None = None
    best_epoch, bad, step, epoch = 0, 0, 0, 0
    history: list[dict[str, Any]] = []
    limit = args.time_limit * 60
    stopped = "epochs"
    for epoch in range(1, args.epochs + 1):
        batches = make_batches(train_pairs, args.batch_size, rng)
        total, count, t0, last = 0.0, 0, time.monotonic(), time.monotonic()
        for b, idx in enumerate(batches, 1):
            step += 1
            for group in optimiser.param_groups:
                group["lr"] = lr_at(step)
            loss = batch_loss(model, [train_pairs[i] for i in idx], pad, args.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            total += loss.item() * len(idx)
            count += len(idx)
            if time.monotonic() - last > 30:
                last = time.monotonic()
                rate = count / (last - t0)
                log(
                    args,
                    f"  epoch {epoch} batch {b}/{len(batches)} loss {total / count:.3f} "
                    f"lr {lr_at(step):.2e} {rate:.0f} sent/s",
                )
        hyps = greedy(model, tok, dev_src)
        exact = metrics.exact_match(hyps, dev_tgt)
        loss_dev = dev_loss(model, dev_pairs, pad)
        elapsed = time.monotonic() - started
        improved = (exact, -loss_dev) > (best[0], -best[1])
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(total / count, 4),
                "dev_loss": round(loss_dev, 4),
                "dev_exact_match": round(exact, 4),
                "lr": float(f"{lr_at(step):.3g}"),
                "seconds": round(elapsed, 1),
            }
        )
        log(
            args,
            f"epoch {epoch}: train loss {total / count:.4f}, dev loss {loss_dev:.4f}, "
            f"dev exact match {exact:.3f}, {elapsed:.0f} s" + (" — best" if improved else ""),
        )
        if improved:
            best, best_epoch, bad = (exact, loss_dev), epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= args.patience:
                stopped = "patience"
                break
        if exact >= 1.0 and loss_dev <= best[1]:
            stopped = "perfect dev"
            break
        if limit > 0 and elapsed > limit:
            stopped = "time limit"
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    # defaults for anyone calling generate() directly (neurotui passes its own settings)
    model.generation_config.bad_words_ids = [[pad]]
    model.generation_config.num_beams = 1
    model.generation_config.max_length = 128
    if not args.fp32:
        model.half()
    model.save_pretrained(work)
    tok.save_pretrained(work)
    return {
        "seed": args.seed,
        "data_seed": args.data_seed,
        "epochs": epoch,
        "best_epoch": best_epoch,
        "steps": step,
        "stopped": stopped,
        "seconds": round(time.monotonic() - started, 1),
        "device": "cpu",
        "threads": threads,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "warmup": args.warmup,
        "lr_schedule": "linear warm-up, then inverse square root",
        "label_smoothing": args.label_smoothing,
        "train_sentences": len(train_pairs),
        "parameters": params,
        "history": history,
    }


# -- scoring and the card --------------------------------------------------------------


def score(folder: Path, beam: int) -> dict[str, Any]:
    """Scores of the saved folder through the HF backend (fp16 rounding included)."""
    from neurotui import metrics
    from neurotui.models.hf import load_hf_backend

    backend = load_hf_backend(folder, "cpu")
    read = lambda name: (SHIPPED / name).read_text(encoding="utf-8").splitlines()  # noqa: E731
    scores: dict[str, Any] = {}
    for split, k in (("test", 1), ("dev", 1), (f"test_beam{beam}", beam)):
        if k < 1 or (split.startswith("test_beam") and k == 1):
            continue
        name = "dev" if split == "dev" else "test"
        hyps = [t.text for t in backend.translate(read(f"{name}.en"), beam=k)]
        scores[split] = {**metrics.translation_scores(hyps, read(f"{name}.fr")), "beam": k}
    return scores


def rebuild_command(args: argparse.Namespace, training: dict[str, Any]) -> str:
    """The command that rebuilds these weights; a wall-clock stop becomes an epoch count
    (the time limit depends on the machine, the epoch count does not)."""
    defaults = parse_args([])
    options = dict(vars(args))
    if training.get("stopped") == "time limit":
        options["epochs"], options["time_limit"] = training["epochs"], 0.0
    words = ["NEUROTUI_THREADS=1", "python", "scripts/train_marian.py"]
    for key, value in options.items():
        if key in ("out", "quiet") or value == getattr(defaults, key):
            continue
        flag = "--" + key.replace("_", "-")
        words.extend([flag] if value is True else [flag, str(value)])
    return " ".join(words)


def write_card(folder: Path, args: argparse.Namespace, training: dict[str, Any]) -> dict[str, Any]:
    from neurotui.data.synthetic import make_splits

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    splits = make_splits(args.data_seed, train_size=0)
    shipped = (SHIPPED / "test.en").read_text(encoding="utf-8").splitlines()
    if shipped != [e.src for e in splits["test"]]:
        raise SystemExit(f"{SHIPPED}/test.en is not the test split of data seed {args.data_seed}")
    weights = folder / "model.safetensors"
    files = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    card = {
        "name": args.out.name,
        "kind": "seq2seq",
        "backend": "hf-marian",
        "description": (
            "Hugging Face MarianMTModel (transformer encoder-decoder, "
            f"{config['encoder_layers']}+{config['decoder_layers']} layers, d_model {config['d_model']}) "
            "with its MarianTokenizer (sentencepiece), standard save_pretrained layout"
        ),
        "architecture": {
            k: config[k]
            for k in (
                "model_type",
                "d_model",
                "encoder_layers",
                "decoder_layers",
                "encoder_attention_heads",
                "encoder_ffn_dim",
                "decoder_ffn_dim",
                "activation_function",
                "vocab_size",
                "max_position_embeddings",
            )
        },  # fmt: skip
        "data": {
            "description": (
                f"synthetic English→French grammar (neurotui.data.synthetic, seed {args.data_seed}): "
                f"partition {args.partition} ({training['train_sentences']} sentences) for training, "
                "the dev split for checkpoint selection (greedy exact match), the test split "
                f"({len(shipped)} sentences) held out"
            ),
            "train_sentences": training["train_sentences"],
            "dev_sentences": len(splits["dev"]),
            "test_sentences": len(shipped),
        },
        "size": {
            "parameters": training["parameters"],
            "bytes": weights.stat().st_size,
            "folder_bytes": files,
            "dtype": "float32" if args.fp32 else "float16",
        },
        "scores": score(folder, args.eval_beam),
        "heldout": {"src": "../synth-data/test.en", "ref": "../synth-data/test.fr"},
        "training": training,
        "rebuild": rebuild_command(args, training),
    }
    write_atomic(folder / "card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    write_atomic(folder / "card.md", card_markdown(card))
    return card


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def card_markdown(card: dict[str, Any]) -> str:
    t, size = card["training"], card["size"]
    rows = [
        f"| {split} | {s['bleu']} | {s['chrf']} | {s['exact_match']} | {s['beam']} | {s['sentences']} |"
        for split, s in card["scores"].items()
    ]
    return "\n".join(
        [
            f"# {card['name']}",
            "",
            f"{card['description']} (kind {card['kind']}, backend `{card['backend']}`), trained by "
            "`scripts/train_marian.py`. It exists to show neurotui on a standard Hugging Face "
            "checkpoint: sites `enc.l0`/`dec.l0` (embeddings) and per block `l{i}`, `l{i}.attn`, "
            "`l{i}.ffn` (+ `dec.l{i}.xattn`), numbered as NeuroX does (docs/hf-sites.md).",
            "",
            "## Data",
            "",
            f"{card['data']['description']} ({card['data']['train_sentences']} training, "
            f"{card['data']['dev_sentences']} dev, {card['data']['test_sentences']} held-out sentences).",
            f"Held-out files (relative to this folder): `{card['heldout']['src']}`, `{card['heldout']['ref']}`.",
            "",
            "## Size",
            "",
            f"{size['parameters']:,} parameters; `model.safetensors` {size['bytes'] / 1e6:.2f} MB "
            f"({size['dtype']}); folder {size['folder_bytes'] / 1e6:.2f} MB. Vocabulary: "
            f"{card['architecture']['vocab_size']} (joint `vocab.json` over `source.spm` + `target.spm`).",
            "",
            "## Scores (held-out test set, sacrebleu)",
            "",
            "| split | BLEU | chrF | exact match | beam | sentences |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"`neurotui score {card['name']}` reproduces the `test` row (greedy decoding).",
            "",
            "## Training",
            "",
            f"Seed {t['seed']}, {t['epochs']} epochs / {t['steps']} steps (best on dev: epoch "
            f"{t['best_epoch']}; stopped: {t['stopped']}), {t['seconds']:.0f} s on {t['device']} with "
            f"{t['threads']} thread(s), torch {t['torch']}, transformers {t['transformers']}. Adam, "
            f"peak lr {t['lr']} ({t['lr_schedule']}, {t['warmup']} warm-up steps), batch "
            f"{t['batch_size']}, label smoothing {t['label_smoothing']}.",
            "",
            "## Rebuild",
            "",
            "    " + card["rebuild"],
            "",
            "Same seed, thread count and torch/transformers versions give the same weights.",
            "",
        ]
    )


def replace_dir(work: Path, out: Path) -> None:
    """Move the finished ``work`` folder to ``out`` (the old one goes only at the end)."""
    old = out.with_name(f".{out.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(work, out)
    if old.exists():
        shutil.rmtree(old)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    try:
        training = train(args, work)
        card = write_card(work, args, training)
        for path in work.iterdir():
            os.chmod(path, 0o644)
        os.chmod(work, 0o755)
        replace_dir(work, args.out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log(args, f"wrote {args.out}: " + json.dumps(card["scores"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
