"""The options of ``neurotui train`` and ``python -m neurotui.train``, in one place.

Why its own module: the command (:mod:`neurotui.commands.train`, which must stay
import-light for ``--help``) and the trainer (:mod:`neurotui.train`, which rebuilds the
exact command for the model card) both need them, and the trainer must not import from
the command layer above it. Stdlib only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neurotui.argtypes import (
    fraction,
    nonneg_float,
    nonneg_int,
    positive_float,
    positive_int,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """All training options (kept in one place so the card can print the exact command)."""
    p.add_argument("kind", choices=["seq2seq", "lm"], help="translation model or language model")
    p.add_argument("--out", type=Path, required=True, help="checkpoint directory to write")
    data = p.add_argument_group("data (files: one sentence per line, words separated by spaces)")
    data.add_argument(
        "--train",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="training text: SRC TGT for seq2seq, TEXT for lm",
    )
    data.add_argument(
        "--dev", nargs="+", type=Path, metavar="FILE", help="development set (best-on-dev)"
    )
    data.add_argument(
        "--test", nargs="+", type=Path, metavar="FILE", help="held-out set scored at the end"
    )
    data.add_argument(
        "--synth",
        metavar="K",
        help="use the synthetic grammar instead of files: train.K (1, 2 or 3), dev, test",
    )
    data.add_argument("--data-seed", type=int, default=0, help="synthetic grammar seed (default 0)")
    data.add_argument(
        "--synth-train-size",
        type=positive_int,
        default=30_000,
        help="sentences per synthetic partition",
    )
    data.add_argument(
        "--copy-heldout",
        action="store_true",
        help="copy the test files into the checkpoint directory (for shipping)",
    )
    data.add_argument(
        "--max-vocab", type=positive_int, default=None, help="keep the N most frequent words"
    )
    data.add_argument("--min-freq", type=nonneg_int, default=1, help="drop words seen fewer times")
    data.add_argument(
        "--max-length", type=positive_int, default=80, help="skip training pairs longer than this"
    )
    data.add_argument("--data-name", default=None, help="description of the data for the card")
    model = p.add_argument_group("model")
    model.add_argument("--emb", type=positive_int, default=128, help="word embedding size")
    model.add_argument(
        "--hidden",
        type=positive_int,
        default=128,
        help="encoder hidden size per direction (seq2seq) or LSTM size (lm)",
    )
    model.add_argument(
        "--layers",
        type=positive_int,
        default=2,
        help="encoder layers (seq2seq) or LSTM layers (lm)",
    )
    model.add_argument(
        "--dec-hidden", type=positive_int, default=256, help="decoder hidden size (seq2seq)"
    )
    model.add_argument(
        "--dec-layers", type=positive_int, default=2, help="decoder layers (seq2seq)"
    )
    model.add_argument("--dropout", type=fraction, default=0.2)
    opt = p.add_argument_group("optimisation")
    opt.add_argument(
        "--seed", type=int, default=1, help="seed for initialisation, dropout and data order"
    )
    opt.add_argument("--epochs", type=positive_int, default=10, help="maximum epochs")
    opt.add_argument("--batch-size", type=positive_int, default=64)
    opt.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate")
    opt.add_argument(
        "--lr-decay",
        type=positive_float,
        default=0.5,
        help="factor applied when dev loss stops improving",
    )
    opt.add_argument(
        "--patience",
        type=nonneg_int,
        default=3,
        help="stop after this many epochs without improvement",
    )
    opt.add_argument(
        "--min-lr",
        type=nonneg_float,
        default=1e-5,
        help="stop when the learning rate falls below this",
    )
    opt.add_argument("--clip", type=positive_float, default=5.0, help="gradient norm clipping")
    opt.add_argument("--label-smoothing", type=fraction, default=0.0)
    opt.add_argument(
        "--time-limit",
        type=positive_float,
        default=None,
        metavar="MIN",
        help="stop after the epoch that passes this many minutes",
    )
    opt.add_argument(
        "--eval-beam",
        type=nonneg_int,
        default=5,
        help="also score the test set with this beam (0: skip)",
    )
    run = p.add_argument_group("running")
    run.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    run.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch CPU threads (default: NEUROTUI_THREADS or all)",
    )
    run.add_argument("--fp32", action="store_true", help="save fp32 weights (default fp16)")
    run.add_argument("--quiet", action="store_true", help="no progress output")
