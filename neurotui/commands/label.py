"""``neurotui label STORE --task NAME FILE`` — store a label task inside a store.

FILE is a NeuroX-style parallel file (one sentence per line, one label per token) or, with
``--conll-column N``, a CoNLL file whose column N holds the labels. Counts must match the
store's tokens line by line; the store is rewritten atomically.
"""

from __future__ import annotations

import argparse

from neurotui.argtypes import positive_int
from neurotui.commands.common import add_json_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "label",
        help="add a label task (e.g. POS tags) to a store",
        description=(
            "Add the labels of FILE to STORE as task NAME. FILE is parallel to the store's "
            "text (one line per sentence, one label per word) or a CoNLL file with "
            "--conll-column N (columns numbered from 1). Any line or token count mismatch "
            "is an error naming the file and line."
        ),
    )
    p.add_argument("store", metavar="STORE")
    p.add_argument("--task", required=True, metavar="NAME", help="task name, e.g. pos")
    p.add_argument("file", metavar="FILE", help="label file")
    p.add_argument(
        "--conll-column", type=positive_int, metavar="N", help="CoNLL label column (1-based)"
    )
    p.add_argument(
        "--conll-token-column",
        type=positive_int,
        metavar="N",
        help="CoNLL token column (default: 2 when column 1 is a numeric id, else 1)",
    )
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    import sys

    import neurotui.store as ns
    from neurotui.errors import StoreError
    from neurotui.store.edit import add_labels
    from neurotui.store.h5store import NeurotuiStore
    from neurotui.store.labels import labels_for_tokens
    from neurotui.store.layout import check_name

    check_name("label task", args.task)
    warnings: list[str] = []
    with ns.open(args.store) as store:
        if not isinstance(store, NeurotuiStore):
            raise StoreError(
                f"{args.store}: a {store.format} file cannot hold label tasks; convert it "
                f"first: neurotui convert {args.store} OUT.h5"
            )
        tokens = store.all_tokens()
    rows = labels_for_tokens(
        args.file,
        tokens,
        conll_column=args.conll_column,
        conll_token_column=args.conll_token_column,
        warnings=warnings,
    )
    add_labels(args.store, args.task, rows, source=str(args.file))
    classes = sorted({x for r in rows for x in r})
    count = sum(len(r) for r in rows)
    for warning in warnings:
        print(f"neurotui: warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "store": str(args.store),
                "task": args.task,
                "classes": classes,
                "tokens": count,
                "warnings": warnings,
            }
        )
    else:
        print(
            f"{args.store}: task {args.task!r} added ({len(classes)} classes over {count:,} tokens)"
        )
    return 0
