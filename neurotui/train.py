"""Training the project's LSTM translation models and language models.

Why here and not a notebook: the sample models must be rebuildable by one command
(written into each card), bit-for-bit given the same seed, thread count, device and torch
version. Reproducibility comes from ``torch.manual_seed`` plus a data order drawn from a
``random.Random(seed)``; the learning rate is multiplied by ``--lr-decay`` whenever the dev
loss does not improve, training stops after ``--patience`` epochs without improvement (or
below ``--min-lr``), and the checkpoint on disk is always the best one on the dev set.
At the end the saved checkpoint is reloaded (so fp16 rounding is included) and scored on
the held-out set; the scores go into ``card.json``/``card.md``.

Usage: ``neurotui train seq2seq --synth 1 --seed 1 --out DIR`` or
``python -m neurotui.train lm --train text.en --dev dev.en --test test.en --out DIR``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neurotui import textfiles
from neurotui.errors import DataError, NeurotuiError
from neurotui.models.checkpoint import (
    atomic_write_bytes,
    atomic_write_text,
    save_checkpoint,
    write_json,
)
from neurotui.models.lm import LanguageModel, LMConfig
from neurotui.models.lstm import count_parameters
from neurotui.models.seq2seq import Seq2SeqConfig, Seq2SeqModel, pad_batch
from neurotui.models.vocab import BOS_ID, EOS_ID, PAD_ID, Vocab


# -- data ----------------------------------------------------------------------------
@dataclass
class Corpus:
    """Sentences of every split; ``tgt`` lists are empty for a language model."""

    train_src: list[str]
    train_tgt: list[str]
    dev_src: list[str]
    dev_tgt: list[str]
    test_src: list[str]
    test_tgt: list[str]
    description: str
    heldout_files: dict[str, Path] = field(default_factory=dict)  # existing files to point at


def read_lines(path: Path) -> list[str]:
    """The file's lines with whitespace normalised to single spaces (tokenised text)."""
    return [" ".join(line.split()) for line in textfiles.read_lines(path)]


def _split_files(files: list[Path] | None, kind: str, option: str) -> tuple[list[str], list[str]]:
    want = 2 if kind == "seq2seq" else 1
    if not files or len(files) != want:
        raise NeurotuiError(
            f"{option}: give {'SRC TGT files' if want == 2 else 'one text file'} for {kind}"
        )
    src = read_lines(files[0])
    if want == 1:
        return src, []
    tgt = read_lines(files[1])
    if len(src) != len(tgt):
        raise DataError(f"{files[0]} has {len(src)} lines but {files[1]} has {len(tgt)}")
    return src, tgt


def load_corpus(args: argparse.Namespace) -> Corpus:
    """The splits named by ``--synth`` or by ``--train/--dev/--test``."""
    if args.synth:
        return _synthetic_corpus(args)
    train = _split_files(args.train, args.kind, "--train")
    dev = _split_files(args.dev, args.kind, "--dev")
    test = _split_files(args.test, args.kind, "--test")
    files = list(args.test)
    heldout = {"src": files[0], "ref": files[1]} if args.kind == "seq2seq" else {"text": files[0]}
    description = args.data_name or f"files: train {', '.join(map(str, args.train))}"
    return Corpus(*train, *dev, *test, description=description, heldout_files=heldout)


def _synthetic_corpus(args: argparse.Namespace) -> Corpus:
    from neurotui.data.synthetic import make_splits
    from neurotui.paths import samples_dir

    names = {"1": "train.1", "2": "train.2", "3": "train.3"}
    if str(args.synth) not in names:
        raise NeurotuiError(f"--synth {args.synth}: choose a training partition 1, 2 or 3")
    part = names[str(args.synth)]
    splits = make_splits(args.data_seed, train_size=args.synth_train_size)
    pairs = {k: ([e.src for e in v], [e.tgt for e in v]) for k, v in splits.items()}
    lm = args.kind == "lm"
    train, dev, test = pairs[part], pairs["dev"], pairs["test"]
    # point at the shipped held-out files when they are exactly this test split
    shipped = samples_dir() / "synth-data"
    heldout: dict[str, Path] = {}
    src_file, ref_file = shipped / "test.en", shipped / "test.fr"
    if (
        src_file.is_file()
        and ref_file.is_file()
        and read_lines(src_file) == test[0]
        and read_lines(ref_file) == test[1]
    ):
        heldout = {"text": src_file} if lm else {"src": src_file, "ref": ref_file}
    description = args.data_name or (
        f"synthetic English→French grammar (neurotui.data.synthetic, seed {args.data_seed}): "
        f"partition {part} ({len(train[0])} sentences) for training, the dev split for "
        f"checkpoint selection, the test split ({len(test[0])} sentences) held out"
        + ("; English side only" if lm else "")
    )
    empty: list[str] = []
    return Corpus(
        train[0],
        empty if lm else train[1],
        dev[0],
        empty if lm else dev[1],
        test[0],
        empty if lm else test[1],
        description,
        heldout,
    )


def make_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length within pools of 50 batches, cut, shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


# -- models --------------------------------------------------------------------------
class Task:
    """What differs between seq2seq and lm training: tensors, loss and evaluation."""

    def __init__(self, args: argparse.Namespace, corpus: Corpus, device: torch.device) -> None:
        self.args, self.device = args, device
        self.seq2seq = args.kind == "seq2seq"
        if self.seq2seq:
            self.src_vocab = Vocab.build(
                corpus.train_src, max_size=args.max_vocab, min_freq=args.min_freq
            )
            self.tgt_vocab = Vocab.build(
                corpus.train_tgt, max_size=args.max_vocab, min_freq=args.min_freq
            )
            cfg = Seq2SeqConfig(
                len(self.src_vocab),
                len(self.tgt_vocab),
                emb=args.emb,
                enc_hidden=args.hidden,
                enc_layers=args.layers,
                dec_hidden=args.dec_hidden,
                dec_layers=args.dec_layers,
                dropout=args.dropout,
            )
            self.model: nn.Module = Seq2SeqModel(cfg)
            self.vocabs = {"vocab.src.json": self.src_vocab, "vocab.tgt.json": self.tgt_vocab}
            self.config = cfg.to_json()
        else:
            self.src_vocab = self.tgt_vocab = Vocab.build(
                corpus.train_src, max_size=args.max_vocab, min_freq=args.min_freq
            )
            lm_cfg = LMConfig(
                len(self.src_vocab),
                emb=args.emb,
                hidden=args.hidden,
                layers=args.layers,
                dropout=args.dropout,
            )
            self.model = LanguageModel(lm_cfg)
            self.vocabs = {"vocab.json": self.src_vocab}
            self.config = lm_cfg.to_json()
        self.model.to(device)

    def encode(self, src: list[str], tgt: list[str]) -> list[tuple[list[int], list[int]]]:
        if self.seq2seq:
            return [
                (
                    [*self.src_vocab.ids(s.split()), EOS_ID],
                    [BOS_ID, *self.tgt_vocab.ids(t.split()), EOS_ID],
                )
                for s, t in zip(src, tgt, strict=True)
            ]
        return [([], [BOS_ID, *self.src_vocab.ids(s.split()), EOS_ID]) for s in src]

    def loss(
        self, batch: list[tuple[list[int], list[int]]], smoothing: float
    ) -> tuple[torch.Tensor, int]:
        """Mean token cross-entropy of a batch and its token count."""
        tgt, tgt_len = pad_batch([t for _, t in batch], self.device)
        inp, gold = tgt[:, :-1], tgt[:, 1:]
        if self.seq2seq:
            src, src_len = pad_batch([s for s, _ in batch], self.device)
            logits = self.model(src, src_len, inp)
        else:
            logits = self.model(inp, tgt_len - 1)
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            gold.reshape(-1),
            ignore_index=PAD_ID,
            label_smoothing=smoothing,
        )
        return loss, int((gold != PAD_ID).sum())

    @torch.no_grad()
    def dev_loss(self, data: list[tuple[list[int], list[int]]], batch_size: int) -> float:
        self.model.eval()
        total, count = 0.0, 0
        order = sorted(range(len(data)), key=lambda i: len(data[i][1]))
        for start in range(0, len(order), batch_size):
            batch = [data[i] for i in order[start : start + batch_size]]
            loss, n = self.loss(batch, 0.0)
            total += float(loss) * n
            count += n
        self.model.train()
        return total / max(1, count)


# -- progress ------------------------------------------------------------------------
class Progress:
    """A rich progress bar on a terminal, plain lines every 30 s otherwise (logs)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.last = 0.0
        if not quiet and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as Bar,
            )

            self.bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task: Any = None

    def epoch(self, epoch: int, total: int) -> None:
        if self.bar is not None:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(f"epoch {epoch}", total=total, info="")

    def update(self, done: int, total: int, epoch: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, info=info)
        elif not self.quiet and time.monotonic() - self.last > 30:
            self.last = time.monotonic()
            print(f"  epoch {epoch} batch {done}/{total} {info}", file=sys.stderr, flush=True)

    def log(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# -- main loop -----------------------------------------------------------------------
def rebuild_command(args: argparse.Namespace) -> str:
    """The ``neurotui train`` command that reproduces this run (non-default options)."""
    from neurotui.train_options import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    words = ["neurotui", "train", args.kind]
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", "quiet"):
            continue
        value = getattr(args, action.dest, None)
        if action.dest != "seed" and (value is None or value == action.default or value is False):
            continue
        flag = action.option_strings[-1]
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    return " ".join(shlex.quote(w) for w in words)


def train_from_args(args: argparse.Namespace) -> Path:
    """Train, keep the best-on-dev checkpoint in ``args.out``, score it, write the card."""
    from neurotui.device import configure_threads, describe_device, resolve_device

    device = resolve_device(args.device)
    threads = configure_threads(args.threads) if args.threads else torch.get_num_threads()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    corpus = load_corpus(args)
    task = Task(args, corpus, device)
    train = [
        ex
        for ex in task.encode(corpus.train_src, corpus.train_tgt)
        if max(len(ex[0]), len(ex[1])) <= args.max_length + 2
    ]
    dev = task.encode(corpus.dev_src, corpus.dev_tgt)
    if not train or not dev:
        raise DataError("training and dev sets must not be empty")
    lengths = [len(s) + len(t) for s, t in train]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(args.quiet)
    progress.log(
        f"training {args.kind} on {describe_device(device)}: {len(train)} sentences, "
        f"{count_parameters(task.model):,} parameters, vocab {len(task.src_vocab)}/{len(task.tgt_vocab)}"
    )
    optimiser = torch.optim.Adam(task.model.parameters(), lr=args.lr)
    lr = args.lr
    best, best_epoch, bad = math.inf, 0, 0
    history: list[dict[str, float]] = []
    started = time.monotonic()
    task.model.train()
    epoch = 0
    try:
        for epoch in range(1, args.epochs + 1):
            batches = make_batches(lengths, args.batch_size, rng)
            progress.epoch(epoch, len(batches))
            total, count, t0 = 0.0, 0, time.monotonic()
            for b, idx in enumerate(batches, 1):
                loss, n = task.loss([train[i] for i in idx], args.label_smoothing)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(task.model.parameters(), args.clip)
                optimiser.step()
                total += loss.item() * n
                count += n
                rate = b * args.batch_size / max(1e-9, time.monotonic() - t0)
                progress.update(
                    b,
                    len(batches),
                    epoch,
                    f"loss {total / count:.3f} lr {lr:.2g} {rate:.0f} sent/s",
                )
            dev_loss = task.dev_loss(dev, args.batch_size)
            improved = dev_loss < best - 1e-4
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": round(total / count, 4),
                    "dev_loss": round(dev_loss, 4),
                    "lr": lr,
                }
            )
            progress.log(
                f"epoch {epoch}: train loss {total / count:.4f}, dev loss {dev_loss:.4f} "
                f"(ppl {math.exp(dev_loss):.3f}), lr {lr:.2g}, {time.monotonic() - started:.0f} s"
                + (" — saved" if improved else "")
            )
            if improved:
                best, best_epoch, bad = dev_loss, epoch, 0
                save_checkpoint(out, task.config, task.model, task.vocabs, fp16=not args.fp32)
            else:
                bad += 1
                lr *= args.lr_decay
                for group in optimiser.param_groups:
                    group["lr"] = lr
                if bad >= args.patience or lr < args.min_lr:
                    break
            if args.time_limit and time.monotonic() - started > args.time_limit * 60:
                progress.log(f"time limit of {args.time_limit} min reached")
                break
    finally:
        progress.close()
    seconds = time.monotonic() - started
    training = {
        "seed": args.seed,
        "epochs": epoch,
        "best_epoch": best_epoch,
        "seconds": round(seconds, 1),
        "device": str(device),
        "threads": threads,
        "torch": torch.__version__,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "lr_decay": args.lr_decay,
        "train_sentences": len(train),
        "history": history,
    }
    write_card(args, corpus, out, training, device)
    return out


# -- scoring and the card -------------------------------------------------------------
def score_checkpoint(
    out: Path, corpus: Corpus, kind: str, device: torch.device, beam: int
) -> dict[str, Any]:
    """Scores of the saved checkpoint on dev and test (reloaded: fp16 rounding counts)."""
    from neurotui import metrics
    from neurotui.models.registry import load_backend

    backend = load_backend(out, device)
    if kind == "lm":
        return {
            "test": {
                "perplexity": round(backend.perplexity(corpus.test_src), 4),
                "sentences": len(corpus.test_src),
            },
            "dev": {
                "perplexity": round(backend.perplexity(corpus.dev_src), 4),
                "sentences": len(corpus.dev_src),
            },
        }
    scores: dict[str, Any] = {}
    for split, src, ref, k in (
        ("test", corpus.test_src, corpus.test_tgt, 1),
        ("dev", corpus.dev_src, corpus.dev_tgt, 1),
        (f"test_beam{beam}", corpus.test_src, corpus.test_tgt, beam),
    ):
        if k < 1 or (k == 1 and split.startswith("test_beam")):
            continue
        hyps = [t.text for t in backend.translate(src, beam=k)]
        scores[split] = {**metrics.translation_scores(hyps, ref), "beam": k}
    return scores


def _heldout(args: argparse.Namespace, corpus: Corpus, out: Path) -> dict[str, str]:
    """Card paths (relative to the model folder) of the held-out files, copying or
    writing them into the folder when nothing shipped matches."""
    lm = args.kind == "lm"
    files = dict(corpus.heldout_files)
    if args.copy_heldout or not files:
        written: dict[str, Path] = {}
        if files:
            names = {key: f"heldout{path.suffix or '.' + key}" for key, path in files.items()}
            if len(set(names.values())) < len(names):  # e.g. test.src.txt / test.ref.txt
                names = {key: f"heldout.{key}{path.suffix}" for key, path in files.items()}
            for key, path in files.items():
                dest = out / names[key]
                if dest.resolve() != path.resolve():
                    atomic_write_bytes(dest, path.read_bytes())
                written[key] = dest
        else:
            written["text" if lm else "src"] = out / "heldout.src"
            atomic_write_text(written["text" if lm else "src"], "\n".join(corpus.test_src) + "\n")
            if not lm:
                written["ref"] = out / "heldout.ref"
                atomic_write_text(written["ref"], "\n".join(corpus.test_tgt) + "\n")
        files = written
    return {k: os.path.relpath(Path(v).resolve(), out.resolve()) for k, v in files.items()}


def write_card(
    args: argparse.Namespace,
    corpus: Corpus,
    out: Path,
    training: dict[str, Any],
    device: torch.device,
) -> None:
    from neurotui.models.checkpoint import read_json

    config = read_json(out / "config.json", "model config")
    scores = score_checkpoint(out, corpus, args.kind, device, args.eval_beam)
    weights = out / "model.safetensors"
    params = count_parameters(
        Seq2SeqModel(Seq2SeqConfig.from_json(config))
        if args.kind == "seq2seq"
        else LanguageModel(LMConfig.from_json(config))
    )
    kind = "seq2seq" if args.kind == "seq2seq" else "lm"
    card = {
        "name": out.name,
        "kind": kind,
        "backend": "lstm",
        "description": (
            "LSTM encoder-decoder with attention (bidirectional encoder, Luong attention, input feeding)"
            if kind == "seq2seq"
            else "LSTM language model"
        ),
        "architecture": config,
        "data": {
            "description": corpus.description,
            "train_sentences": training["train_sentences"],
            "dev_sentences": len(corpus.dev_src),
            "test_sentences": len(corpus.test_src),
        },
        "size": {
            "parameters": params,
            "bytes": weights.stat().st_size,
            "dtype": "float32" if args.fp32 else "float16",
        },
        "scores": scores,
        "heldout": _heldout(args, corpus, out),
        "training": training,
        "rebuild": rebuild_command(args),
    }
    write_json(out / "card.json", card)
    atomic_write_text(out / "card.md", card_markdown(card))


def card_markdown(card: dict[str, Any]) -> str:
    arch = card["architecture"]
    t = card["training"]
    lines = [
        f"# {card['name']}",
        "",
        f"{card['description']} ({card['kind']}, backend `{card['backend']}`), trained by `neurotui train`.",
        "",
        "## Architecture",
        "",
        *[f"- {k}: {v}" for k, v in arch.items() if k not in ("neurotui_format",)],
        "",
        "## Data",
        "",
        card["data"]["description"],
        f"({card['data']['train_sentences']} training, {card['data']['dev_sentences']} dev, "
        f"{card['data']['test_sentences']} held-out sentences)",
        "",
        f"Held-out files (relative to this folder): {', '.join(f'{k}: `{v}`' for k, v in card['heldout'].items())}",
        "",
        "## Size",
        "",
        f"{card['size']['parameters']:,} parameters, `model.safetensors` {card['size']['bytes'] / 1e6:.2f} MB "
        f"({card['size']['dtype']}).",
        "",
        "## Scores",
        "",
        "| split | "
        + " | ".join(k for k in next(iter(card["scores"].values())) if k != "sentences")
        + " | sentences |",
        "|---|" + "---|" * (len(next(iter(card["scores"].values())))),
    ]
    for split, s in card["scores"].items():
        lines.append(
            f"| {split} | "
            + " | ".join(str(v) for k, v in s.items() if k != "sentences")
            + f" | {s['sentences']} |"
        )
    lines += [
        "",
        "`neurotui score " + card["name"] + "` reproduces the `test` row (greedy decoding).",
        "",
        "## Training",
        "",
        f"Seed {t['seed']}, {t['epochs']} epochs (best on dev: epoch {t['best_epoch']}), "
        f"{t['seconds'] / 60:.1f} min on {t['device']} with {t['threads']} thread(s), torch {t['torch']}.",
        "",
        "## Rebuild",
        "",
        "```",
        card["rebuild"],
        "```",
        "",
        "Same seed, thread count, device and torch version give the same weights.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m neurotui.train …`` (same options as ``neurotui train``)."""
    from neurotui.train_options import add_arguments

    parser = argparse.ArgumentParser(
        prog="python -m neurotui.train", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        train_from_args(args)
    except NeurotuiError as exc:
        print(f"neurotui: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
