"""``neurotui report`` — the paper-style findings on the sample models (or given stores)."""

from __future__ import annotations

import argparse

from neurotui.commands.common import add_device_arg, add_json_arg, print_json

DEFAULT_MODELS = ("synth-en-fr-1", "synth-en-fr-2", "synth-en-fr-3")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="paper-style findings on the sample models",
        description=(
            "Probe accuracy vs the majority baseline, masking top vs bottom 10%, the "
            "position, tense and number neurons, and cross-model top neurons vs the "
            "single-model baselines — on the bundled sample models (their stores are built "
            "on first use) or on the stores given with --stores (first one is analysed)."
        ),
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help="sample models (default: synth-en-fr-1 2 3)",
    )
    p.add_argument("--stores", nargs="+", metavar="STORE", help="use these stores instead")
    p.add_argument(
        "--tasks", nargs="+", default=["pos", "tense", "number"], metavar="TASK", help="label tasks"
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    add_device_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack
    from pathlib import Path

    from neurotui.analysis.cli_support import open_store, reported_warnings
    from neurotui.analysis.progress import rich_progress
    from neurotui.analysis.report import build_report, format_report

    with rich_progress(not args.json) as progress:
        if args.stores:
            paths = [Path(p) for p in args.stores]
            names = [p.stem for p in paths]
        else:
            from neurotui.store.samples import sample_store

            paths = [sample_store(m, progress=progress) for m in args.models]
            names = list(args.models)
        warnings_seen: list[str] = []
        with ExitStack() as stack, reported_warnings(warnings_seen):
            stores = [stack.enter_context(open_store(p)) for p in paths]
            doc = build_report(
                stores,
                names,
                tasks=args.tasks,
                device=args.device,
                seed=args.seed,
                progress=progress,
            )
    doc["stores"] = [str(p) for p in paths]
    doc["warnings"] = warnings_seen
    if args.json:
        print_json(doc)
    else:
        print(format_report(doc))
    return 0
