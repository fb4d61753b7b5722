"""``neurotui convert IN OUT [--to neurotui|neurox-hdf5]`` — between store formats.

IN may be ours, NeuroX hdf5 or NeuroX json (read from its content). The default target is
our format, or NeuroX hdf5 when IN already is ours. OUT is written atomically.
"""

from __future__ import annotations

import argparse

from neurotui.commands.common import add_json_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert activation stores (neurotui ⇄ NeuroX hdf5, NeuroX json → either)",
        description=(
            "Convert IN to OUT. IN's format is read from its content. --to neurotui (the "
            "default unless IN is already a neurotui store) computes the per-neuron "
            "summaries on the way; --to neurox-hdf5 writes the layout NeuroX's "
            "load_activations reads."
        ),
    )
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--to", choices=("neurotui", "neurox-hdf5"), default=None)
    p.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default=None,
        help="activation dtype of a neurotui output (default: keep)",
    )
    p.add_argument("--no-summary", action="store_true", help="skip the per-neuron summaries")
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from neurotui.analysis.progress import rich_progress
    from neurotui.store.convert import convert
    from neurotui.store.detect import detect_format

    source = detect_format(args.input)
    to = args.to or ("neurox-hdf5" if source == "neurotui" else "neurotui")
    warnings: list[str] = []
    t0 = time.perf_counter()
    with rich_progress(enabled=not args.json) as progress:
        tick = (lambda done, total: progress("convert", done, total)) if progress else None
        out = convert(
            args.input,
            args.output,
            to=to,
            dtype=args.dtype,
            summary=not args.no_summary,
            progress=tick,
            warnings=warnings,
        )
    seconds = time.perf_counter() - t0
    for warning in warnings:
        print(f"neurotui: warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(
            {
                "input": str(args.input),
                "from": source,
                "output": str(out),
                "to": to,
                "seconds": round(seconds, 3),
                "warnings": warnings,
            }
        )
    else:
        print(f"wrote {out} ({to}) from {args.input} ({source}) in {seconds:.1f} s")
    return 0
