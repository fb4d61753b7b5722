"""``neurotui extract MODEL TEXT -o STORE`` — activations of a model over a text file.

Rows match the words of TEXT (one sentence per line, whitespace-separated words); the
store is written atomically and summarised on the way (see ``neurotui.store.extract``).
"""

from __future__ import annotations

import argparse

from neurotui.argtypes import nonneg_int, positive_int
from neurotui.commands.common import (
    add_cluster_arg,
    add_device_arg,
    add_json_arg,
    add_model_dtype_arg,
    load_stages,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract",
        help="extract a model's activations over a text file into a store",
        description=(
            "Run MODEL (a bundled sample name or a checkpoint directory) over TEXT, one "
            "sentence of whitespace-separated words per line, and write every word's "
            "activations at the chosen sites to the store STORE (atomically). Decoder "
            "sites read the --targets file under teacher forcing, or the model's own "
            "greedy output. With --side both, two stores are written: STEM.enc.EXT and "
            "STEM.dec.EXT."
        ),
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="bundled model name, checkpoint directory or .gguf file",
    )
    p.add_argument("text", metavar="TEXT", help="text file: one sentence per line")
    p.add_argument("-o", "--output", required=True, metavar="STORE", help="store to write (.h5)")
    p.add_argument(
        "--sites",
        action="append",
        metavar="NAMES",
        help="comma-separated site names (repeatable; default: every site of --side)",
    )
    p.add_argument(
        "--side",
        choices=("encoder", "decoder", "both"),
        default="encoder",
        help="which sites when --sites is not given (default: encoder)",
    )
    p.add_argument(
        "--targets", metavar="REF", help="reference file for decoder sites (teacher forcing)"
    )
    p.add_argument(
        "--aggregation",
        choices=("first", "last", "mean"),
        default="mean",
        help="sub-word to word aggregation (default: mean)",
    )
    p.add_argument(
        "--rows",
        choices=("words", "tokens"),
        default="words",
        help=(
            "one row per whitespace word (default; sub-word pieces aggregated) or per "
            "token the model sees (its pieces, special tokens included)"
        ),
    )
    p.add_argument(
        "--bos",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force a leading BOS token on or off (default: as the model's tokenizer does)",
    )
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="B")
    p.add_argument(
        "--dtype",
        choices=("float16", "float32"),
        default="float32",
        help="value type of the store (default: float32)",
    )
    add_model_dtype_arg(p, "--model-dtype")
    p.add_argument("--no-summary", action="store_true", help="skip the per-neuron summaries")
    p.add_argument(
        "--keep",
        choices=("dense", "exemplars"),
        default="dense",
        help=(
            "dense: every token's activations (default); exemplars: per-neuron statistics, "
            "histogram, top/bottom-k contexts with that neuron's values over a window, and "
            "dense rows of a uniform sample of sentences only (size independent of the "
            "corpus length)"
        ),
    )
    p.add_argument(
        "--exemplar-k", type=positive_int, default=10, metavar="K",
        help="top and bottom contexts kept per neuron with --keep exemplars (default 10)",
    )  # fmt: skip
    p.add_argument(
        "--exemplar-sample", type=positive_int, default=64, metavar="S",
        help="sentences sampled uniformly (kept dense) with --keep exemplars (default 64)",
    )  # fmt: skip
    p.add_argument(
        "--exemplar-window", type=nonneg_int, default=12, metavar="W",
        help="tokens kept on each side of a top/bottom context, with that neuron's values "
        "only, with --keep exemplars (default 12)",
    )  # fmt: skip
    add_cluster_arg(p)
    p.add_argument(
        "--chunk-lines", type=positive_int, default=None, metavar="N",
        help="lines per task with --cluster (default: about 4 tasks per worker)",
    )  # fmt: skip
    add_device_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    import sys

    from neurotui.analysis.progress import rich_progress
    from neurotui.store.extract import extract

    sites = None
    if args.sites:
        sites = [name.strip() for group in args.sites for name in group.split(",") if name.strip()]
    with rich_progress(enabled=not args.json) as bar:
        stages = load_stages()

        def progress(stage: str, done: int, total: int) -> None:
            """Loading stages as lines on stderr, extraction on the bar."""
            if stage.startswith("load: "):
                if stages is not None:
                    stages(stage, done, total)
            elif bar is not None:
                bar(stage, done, total)

        options = dict(
            sites=sites,
            side=args.side,
            targets=args.targets,
            aggregation=args.aggregation,
            batch_size=args.batch_size,
            device=args.device,
            dtype=args.dtype,
            summary=not args.no_summary,
            progress=progress,
            rows=args.rows,
            bos=args.bos,
            model_dtype=args.model_dtype,
        )
        exemplar_options = {
            "k": args.exemplar_k, "sample": args.exemplar_sample, "window": args.exemplar_window,
        }  # fmt: skip
        if args.cluster:
            from neurotui.scale.extract import extract_on_cluster

            on_client = options.pop("progress")  # the bar stays here; tasks report as they end
            result = extract_on_cluster(
                args.cluster, args.model, args.text, args.output, keep=args.keep,
                chunk_lines=args.chunk_lines, exemplar_options=exemplar_options,
                progress=on_client, **options,
            )  # fmt: skip
        else:
            result = extract(
                args.model, args.text, args.output, keep=args.keep,
                exemplar_options=exemplar_options, **options,
            )  # fmt: skip
    for warning in result.warnings:
        print(f"neurotui: warning: {warning}", file=sys.stderr)
    tokens = sum(result.tokens.values())
    rate = tokens / result.seconds if result.seconds > 0 else 0.0
    if args.json:
        print_json(
            {
                "stores": {side: str(path) for side, path in result.paths.items()},
                "sentences": result.sentences,
                "tokens": result.tokens,
                "seconds": round(result.seconds, 3),
                "load_seconds": round(result.load_seconds, 3),
                "tokens_per_second": round(rate, 1),
                "warnings": result.warnings,
            }
        )
        return 0
    for side, path in result.paths.items():
        print(f"wrote {path}: {result.sentences} sentences, {result.tokens[side]} tokens ({side})")
    loading = (
        f" (model loaded in {result.load_seconds:.1f} s)" if result.load_seconds >= 0.1 else ""
    )
    print(f"{result.seconds:.1f} s, {rate:,.0f} tokens/s{loading}")
    return 0
