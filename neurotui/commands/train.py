"""``neurotui train`` — train an LSTM translation model or language model.

The arguments live in :mod:`neurotui.train_options` (import-light), shared with
``python -m neurotui.train``; the training itself is :func:`neurotui.train.train_from_args`.
"""

from __future__ import annotations

import argparse

from neurotui.train_options import add_arguments


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train an LSTM translation model or language model",
        description=(
            "Train the project's LSTM encoder-decoder (seq2seq) or LSTM language model (lm) "
            "from text files or the synthetic grammar. Reproducible from --seed; keeps the "
            "best model on the dev set; writes config, weights, vocabularies and a card."
        ),
    )
    add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from neurotui.train import train_from_args

    train_from_args(args)
    return 0
