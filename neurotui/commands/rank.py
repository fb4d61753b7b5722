"""``neurotui rank STORE --method M …`` — rank a store's neurons and save/export the ranking."""

from __future__ import annotations

import argparse
import sys

from neurotui.argtypes import nonneg_float, nonneg_int, positive_int
from neurotui.commands.common import add_cluster_arg, add_device_arg, add_json_arg, print_json
from neurotui.store.ranking import METHODS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "rank",
        help="rank neurons (probe, cross-model correlation, baselines)",
        description=(
            "Rank the neurons of STORE. probe: elastic-net probe + Algorithm 1 of Dalvi et "
            "al. 2019 (needs --task or --labels); maxcorr/mincorr/linreg/svcca: cross-model "
            "correlation of Bau et al. 2019 (needs --others: stores of models trained alike "
            "on the same text); variance/meandist: single-model baselines; probeless: "
            "class-mean differences; random: a seeded control."
        ),
    )
    p.add_argument("store", metavar="STORE", help="activation store")
    p.add_argument("--method", required=True, choices=METHODS, help="ranking method")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", help="label task stored in STORE (or the built-in 'position')")
    src.add_argument("--labels", metavar="FILE", help="label file: one line of labels per sentence")
    p.add_argument("--others", nargs="+", default=[], metavar="STORE", help="other models' stores")
    p.add_argument("--name", help="save the ranking inside STORE under this name")
    p.add_argument("-o", "--output", metavar="FILE", help="export to FILE (.json or .csv)")
    p.add_argument("--sites", nargs="+", metavar="SITE", help="rank only these sites' neurons")
    p.add_argument("--l1", type=nonneg_float, default=1e-5, help="probe λ1 (default 1e-5)")
    p.add_argument("--l2", type=nonneg_float, default=1e-5, help="probe λ2 (default 1e-5)")
    p.add_argument("--epochs", type=positive_int, default=None, help="probe epochs (default: auto)")
    p.add_argument(
        "--znorm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "standardise each neuron (train mean/σ) before the probe (default: on; "
            "--no-znorm uses raw activations)"
        ),
    )
    p.add_argument(
        "--search", action="store_true", help="choose λ1, λ2 by the Figure 2 grid search"
    )
    p.add_argument(
        "--evaluate", action="store_true", help="add masking and retraining tables (probe)"
    )
    p.add_argument("--seed", type=int, default=0, help="split/shuffle/random seed (default 0)")
    p.add_argument("--top", type=nonneg_int, default=20, help="neurons to print (default 20)")
    p.add_argument(
        "--compare",
        nargs="+",
        default=[],
        metavar="NAME",
        help="compare with rankings saved in STORE (or .json files): top-k overlap, Spearman, Kendall",
    )
    add_cluster_arg(p)
    add_device_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from neurotui.analysis.cli_support import format_ranking, open_store, pct, reported_warnings
    from neurotui.analysis.data import read_label_file
    from neurotui.analysis.export import export, save_in_store
    from neurotui.analysis.methods import RankOptions, compute_ranking
    from neurotui.analysis.probe import ProbeConfig
    from neurotui.analysis.progress import rich_progress

    warnings_seen: list[str] = []
    with ExitStack() as stack:
        store = stack.enter_context(open_store(args.store))
        others = [stack.enter_context(open_store(o)) for o in args.others]
        labels = read_label_file(args.labels, store.sentence_lengths()) if args.labels else None
        options = RankOptions(
            task=args.task or (args.labels and "labels") or None,
            labels=labels,
            others=others,
            probe=ProbeConfig(l1=args.l1, l2=args.l2, epochs=args.epochs),
            znorm=args.znorm,
            search=args.search,
            seed=args.seed,
            device=args.device,
            evaluate=args.evaluate,
            sites=args.sites,
            cluster=args.cluster,
        )
        with reported_warnings(warnings_seen), rich_progress(not args.json) as progress:
            ranking = compute_ranking(store, args.method, options, progress=progress)
        if labels is not None:
            ranking.params["labels_file"] = str(args.labels)
        comparisons = {}
        if args.compare:
            from neurotui.analysis.export import find_ranking
            from neurotui.analysis.overlap import compare

            for name in args.compare:
                comparisons[name] = compare(ranking, find_ranking(store, name))
    # The store is closed before saving: the editor swaps a new file in.
    if args.name:
        save_in_store(store, args.name, ranking)
    if args.output:
        export(ranking, args.output)
    if args.json:
        doc = ranking.to_dict()
        doc["store"] = str(args.store)
        doc["saved_as"] = args.name
        doc["output"] = args.output
        doc["warnings"] = warnings_seen
        doc["comparisons"] = comparisons
        print_json(doc)
        return 0
    out = sys.stdout
    print(f"{args.method} ranking of {args.store} ({len(ranking.order)} neurons)", file=out)
    ev = ranking.evaluation or {}
    if "accuracy" in ev:
        acc, maj = ev["accuracy"], ev.get("majority", {})
        print(
            f"probe accuracy (test) {pct(acc.get('test'))}  majority baseline "
            f"{pct(maj.get('test'))}  train {pct(acc.get('train'))}  dev {pct(acc.get('dev'))}",
            file=out,
        )
    if "regularisation" in ev:
        from neurotui.analysis.regsearch import format_grid

        print("Regularisation search (Figure 2 grid):", file=out)
        print(format_grid(ev["regularisation"]), file=out)
    for key in ("masking", "retraining"):
        if key in ev:
            from neurotui.analysis.evaluation import format_table

            print(format_table(key.capitalize() + " (test accuracy %)", ev[key]), file=out)
    print(format_ranking(ranking, args.top), file=out)
    for name, c in comparisons.items():
        tops = ", ".join(
            f"top-{t['k']} {t['count']} ({100 * t['fraction']:.0f} %)" for t in c["top_k"]
        )
        print(
            f"vs {name} ({c['b']}): {tops}; Spearman {c['spearman']:+.3f}, "
            f"Kendall {c['kendall']:+.3f} over {c['neurons']} neurons",
            file=out,
        )
    if args.name:
        print(f"saved as {args.name!r} in {args.store}", file=out)
    if args.output:
        print(f"exported to {args.output}", file=out)
    return 0
