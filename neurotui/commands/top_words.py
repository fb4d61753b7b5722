"""``neurotui top-words STORE NEURON`` — what one neuron responds to (words and contexts)."""

from __future__ import annotations

import argparse

from neurotui.commands.argtypes import nonneg_int, positive_int
from neurotui.commands.common import add_json_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "top-words",
        help="top words and contexts of one neuron",
        description=(
            "NeuroX's top words (mean |z-score| per word type, relative to the best type), "
            "the signed variant with word frequencies (highest and lowest mean z), the "
            "top and bottom activating contexts, and a random and per-quantile sample."
        ),
    )
    p.add_argument("store", metavar="STORE", help="activation store")
    p.add_argument("neuron", metavar="NEURON", help="neuron id or name like enc.l1:217")
    p.add_argument("-k", type=positive_int, default=10, help="how many words/contexts (default 10)")
    p.add_argument(
        "--min-count", type=nonneg_int, default=1, help="signed lists: minimum word count"
    )
    p.add_argument(
        "--window", type=nonneg_int, default=5, help="context words on each side (default 5)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random samples")
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from neurotui.analysis.cli_support import open_store
    from neurotui.analysis.corpus_stats import CorpusIndex

    with open_store(args.store) as store:
        gid = store.neuron_id(args.neuron)
        name = store.neuron_name(gid)
        idx = CorpusIndex(store)
        top = idx.top_words(gid, args.k)
        high = idx.signed_words(gid, args.k, min_count=args.min_count)
        low = idx.signed_words(gid, args.k, bottom=True, min_count=args.min_count)
        ctx_top = idx.extreme_contexts(gid, args.k, window=args.window)
        ctx_bottom = idx.extreme_contexts(gid, args.k, bottom=True, window=args.window)
        rnd = idx.random_contexts(gid, args.k, seed=args.seed, window=args.window)
        quant = idx.quantile_contexts(gid, 5, 2, seed=args.seed, window=args.window)
    if args.json:
        print_json(
            {
                "neuron": gid,
                "name": name,
                "top_words": [asdict(w) for w in top],
                "signed_high": [asdict(w) for w in high],
                "signed_low": [asdict(w) for w in low],
                "top_contexts": [asdict(c) for c in ctx_top],
                "bottom_contexts": [asdict(c) for c in ctx_bottom],
                "random_contexts": [asdict(c) for c in rnd],
                "quantile_contexts": [
                    {"range": list(r), "contexts": [asdict(c) for c in cs]} for r, cs in quant
                ],
            }
        )
        return 0
    print(f"neuron {name} (id {gid})")
    print("top words (NeuroX score):  " + ", ".join(f"{w.word} {w.score:.2f}" for w in top))
    print(
        "highest mean z (count):    "
        + ", ".join(f"{w.word} {w.score:+.2f} ({w.count})" for w in high)
    )
    print(
        "lowest mean z (count):     "
        + ", ".join(f"{w.word} {w.score:+.2f} ({w.count})" for w in low)
    )
    for title, rows in (
        ("top contexts", ctx_top),
        ("bottom contexts", ctx_bottom),
        ("random contexts", rnd),
    ):
        print(f"{title}:")
        for c in rows:
            print(f"  {c.value:+8.3f}  {c.text()}")
    print("per-quantile samples:")
    for (lo, hi), rows in quant:
        for c in rows:
            print(f"  [{lo:+.2f}, {hi:+.2f}]  {c.value:+8.3f}  {c.text()}")
    return 0
