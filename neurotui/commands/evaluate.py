"""``neurotui evaluate STORE --ranking N --task T`` — masking and retraining tables for a ranking."""

from __future__ import annotations

import argparse

from neurotui.argtypes import nonneg_float, percent
from neurotui.commands.common import add_device_arg, add_json_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a ranking with a probe (masking-out, retraining, control task)",
        description=(
            "Train a probe for the task on all neurons, then keep only the top / bottom / "
            "random N% of the ranking: masking-out re-scores the trained probe with every "
            "other activation zeroed (the paper's Table 2), retraining trains a new probe on "
            "the kept neurons (Table 4). --control adds control-task selectivity."
        ),
    )
    p.add_argument("store", metavar="STORE", help="activation store")
    p.add_argument(
        "--ranking", required=True, metavar="NAME", help="ranking saved in STORE, or a .json file"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", help="label task stored in STORE (or the built-in 'position')")
    src.add_argument("--labels", metavar="FILE", help="label file: one line of labels per sentence")
    p.add_argument(
        "--percents",
        nargs="+",
        type=percent,
        default=[10.0, 15.0, 20.0],
        metavar="N",
        help="percentages of neurons to keep (default 10 15 20)",
    )
    p.add_argument("--control", action="store_true", help="also measure control-task selectivity")
    p.add_argument(
        "--znorm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=(
            "standardise each neuron (train mean/σ) before the probe (default: on; "
            "--no-znorm uses raw activations)"
        ),
    )
    p.add_argument("--l1", type=nonneg_float, default=1e-5, help="probe λ1 (default 1e-5)")
    p.add_argument("--l2", type=nonneg_float, default=1e-5, help="probe λ2 (default 1e-5)")
    p.add_argument("--seed", type=int, default=0, help="split/shuffle/random seed (default 0)")
    add_device_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    from neurotui.analysis.cli_support import open_store, pct, reported_warnings
    from neurotui.analysis.control_task import selectivity
    from neurotui.analysis.data import load_probe_data, read_label_file
    from neurotui.analysis.evaluation import format_table, masking_table, retraining_table
    from neurotui.analysis.export import find_ranking
    from neurotui.analysis.probe import ProbeConfig, train_probe
    from neurotui.analysis.progress import rich_progress

    warnings_seen: list[str] = []
    cfg = ProbeConfig(l1=args.l1, l2=args.l2, seed=args.seed, device=args.device)
    with open_store(args.store) as store, reported_warnings(warnings_seen):
        ranking = find_ranking(store, args.ranking)
        labels = read_label_file(args.labels, store.sentence_lengths()) if args.labels else None
        neurons = sorted(ranking.order) if len(ranking.order) != store.neuron_count else None
        with rich_progress(not args.json) as progress:
            data = load_probe_data(
                store,
                args.task or "labels",
                labels,
                neurons=neurons,
                seed=args.seed,
                progress=progress,
            )
            if args.znorm:
                data.zscore()
            Xtr, ytr = data.part("train")
            probe = train_probe(Xtr, ytr, data.classes, cfg, shuffled=True, progress=progress)
            masking = masking_table(probe, data, ranking.order, args.percents, seed=args.seed)
            retraining = retraining_table(
                data,
                ranking.order,
                args.percents,
                cfg,
                seed=args.seed,
                all_accuracy=masking["all"],
                progress=progress,
            )
            control = (
                selectivity(data, cfg, order=ranking.order, percents=args.percents, seed=args.seed)
                if args.control
                else None
            )
    from neurotui.analysis.baselines import majority_accuracy

    doc = {
        "store": str(args.store),
        "ranking": args.ranking,
        "method": ranking.method,
        "task": data.task,
        "test_tokens": data.counts[2],
        "znorm": args.znorm,
        "majority": majority_accuracy(data),
        "masking": masking,
        "retraining": retraining,
        "control": control,
        "warnings": warnings_seen,
    }
    if args.json:
        print_json(doc)
        return 0
    print(
        f"ranking {args.ranking!r} ({ranking.method}) evaluated on task {data.task!r}: "
        f"{data.counts[2]} test tokens, majority baseline {pct(doc['majority'])}"
        f"{'' if args.znorm else ', raw activations (--no-znorm)'}"
    )
    print(format_table("Masking-out (test accuracy %)", masking))
    print(format_table("Retraining (test accuracy %)", retraining))
    if control is not None:
        a = control["all"]
        print(
            f"Control task: task {pct(a['task'])}  control {pct(a['control'])}  "
            f"selectivity {pct(a['selectivity'])}"
        )
        for p, v in control["top"].items():
            print(
                f"  top {p}%: task {pct(v['task'])}  control {pct(v['control'])}  "
                f"selectivity {pct(v['selectivity'])}"
            )
    return 0
