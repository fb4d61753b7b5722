"""``neurotui ablate`` — ablation curves: knock out the top / bottom / random N ranked neurons.

``neurotui ablate MODEL [--store S] [--ranking R] [--src F --ref F] [--steps 10,50,100]
[--ablation zero|mean|resample]``.
For bundled models the store and the test set default to the bundled ones; the ranking
defaults to one saved in the store, else MaxCorr against the bundled sibling models (Bau et
al.'s setting: synth-en-fr-1 against -2 and -3), else the probe on the ``pos`` labels.
Prints a table (BLEU and chrF per N and direction; perplexity for language models) or,
with ``--json``, one document with per-step ``bleu``/``chrf``/``perplexity`` under
``top``, ``bottom`` and ``random``. Every run is appended to the intervention log.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from neurotui.argtypes import positive_int
from neurotui.commands.common import (
    add_device_arg,
    add_json_arg,
    add_model_dtype_arg,
    print_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend
    from neurotui.store.api import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    from neurotui.intervene.flags import add_log_args

    p = subparsers.add_parser(
        "ablate",
        help="ablation curves: knock out the top/bottom/random N neurons of a ranking and score",
        description=(
            "Ablate the top, bottom and random N neurons of a ranking at every position and "
            "score the model on a test set for each N: BLEU and chrF for translation models, "
            "perplexity for language models (Bau et al. 2019, Figures 4, 5 and 8). "
            "--ablation says what replaces a neuron: 0 (zero), its corpus mean in the store "
            "(mean), or its value on a random token of another store sentence (resample)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="bundled model name or checkpoint directory")
    p.add_argument(
        "--store",
        metavar="S",
        help="activation store the ranking belongs to (default: the sample store)",
    )
    p.add_argument(
        "--ranking", metavar="R", help="ranking name saved in the store, or a ranking JSON file"
    )
    p.add_argument(
        "--method",
        choices=("maxcorr", "mincorr", "linreg", "svcca", "probe"),
        help="compute the ranking: a cross-model method (against --against) or a probe (--task)",
    )
    p.add_argument(
        "--against",
        metavar="M2,M3",
        help="other models for cross-model rankings (default: the bundled siblings)",
    )
    p.add_argument("--task", metavar="T", help="label task of --method probe (default pos)")
    p.add_argument(
        "--src", metavar="F", help="test sources (default: the model card's held-out set)"
    )
    p.add_argument("--ref", metavar="F", help="test references (translation models)")
    p.add_argument(
        "--steps", default="10,50,100", metavar="N1,N2,…", help="neuron counts (default 10,50,100)"
    )
    p.add_argument(
        "--directions",
        default="top,bottom,random",
        metavar="D,…",
        help="any of top, bottom, random (default all three)",
    )
    p.add_argument(
        "--ablation",
        choices=("zero", "mean", "resample"),
        default="zero",
        help="what replaces an ablated neuron: zero, its store mean, or a resampled value "
        "(default zero)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random direction and of resample (default 0)",
    )
    p.add_argument(
        "--limit", type=positive_int, metavar="N", help="use only the first N test sentences"
    )
    p.add_argument(
        "--beam", type=positive_int, default=1, metavar="K", help="beam size (default 1)"
    )
    p.add_argument("--max-len", type=positive_int, metavar="N", help="maximum output words")
    p.add_argument("--batch-size", type=positive_int, default=128, metavar="B")
    p.add_argument("--outputs", action="store_true", help="include per-sentence outputs in --json")
    add_log_args(p)
    add_device_arg(p)
    add_model_dtype_arg(p)
    add_json_arg(p)


def parse_int_list(text: str, flag: str) -> list[int]:
    """``"10,50,100"`` → ``[10, 50, 100]``; a one-line error otherwise."""
    from neurotui.errors import NeurotuiError

    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise NeurotuiError(f"{flag} {text!r}: expected integers like 10,50,100") from None
    if not values:
        raise NeurotuiError(f"{flag}: give at least one value")
    return values


def check_steps(steps: list[int], backend: Backend, store: Store | None) -> None:
    """Refuse a neuron count larger than the model (or its store) before ranking.

    Why here: the ranking is computed before the plan checks its counts against it, and a
    cross-model ranking takes a minute or more; a count no ranking of this model can reach
    (``--steps 100000000000``) is known to be wrong from the model's size alone.
    """
    from neurotui.errors import NeurotuiError

    total = sum(info.size for info in backend.sites())
    if store is not None:
        total = max(total, store.neuron_count)
    if max(steps) > total:
        raise NeurotuiError(
            f"--steps: {max(steps):,} neurons asked but model {backend.name} has {total:,}"
        )


def run(args: argparse.Namespace) -> int:
    from neurotui.commands.common import load_stages
    from neurotui.errors import NeurotuiError
    from neurotui.intervene import log as runlog
    from neurotui.intervene.ablation import plan_ablation, run_ablation
    from neurotui.intervene.apply import DecodeSettings
    from neurotui.intervene.replay import ablation_record
    from neurotui.intervene.workflows import ablation_ranking, heldout, open_store
    from neurotui.models.registry import load_backend
    from neurotui.textfiles import read_lines

    steps = parse_int_list(args.steps, "--steps")
    directions = [d.strip() for d in args.directions.split(",") if d.strip()]
    if args.beam < 1:
        raise NeurotuiError(f"--beam {args.beam}: must be at least 1")
    backend = load_backend(args.model, args.device, dtype=args.model_dtype, progress=load_stages())
    if args.src:
        sources = read_lines(args.src)
        references = read_lines(args.ref) if args.ref else None
        origin = args.src
    else:
        sources, references, origin = heldout(backend)
    if args.limit:
        sources = sources[: args.limit]
        references = references[: args.limit] if references is not None else None
    store = open_store(
        args.store,
        backend,
        required=args.ranking is None or args.ablation != "zero",
        why=f"an ablation curve{'' if args.ablation == 'zero' else ' with ' + args.ablation + '-ablation'}",
    )
    try:
        check_steps(steps, backend, store)
        against = [m for m in (args.against or "").split(",") if m.strip()]
        ranking, name = ablation_ranking(
            backend,
            store,
            ranking=args.ranking,
            method=args.method,
            against=against,
            task=args.task,
            seed=args.seed,
        )
        plan = plan_ablation(
            ranking,
            steps,
            store=store,
            backend=backend,
            directions=directions,
            seed=args.seed,
            ranking_name=name,
            kind=args.ablation,
        )
    finally:
        if store is not None:
            store.close()
    settings = DecodeSettings(beam=args.beam, max_len=args.max_len, batch_size=args.batch_size)
    quiet = args.json or not sys.stderr.isatty()

    def progress(message: str, done: int, total: int) -> None:
        if not quiet and done < total:
            print(f"\r[{done + 1}/{total}] {message}…", end="", file=sys.stderr, flush=True)

    curve = run_ablation(
        backend,
        plan,
        sources,
        references,
        settings=settings,
        progress=progress,
        keep_outputs=args.outputs,
    )
    if not quiet:
        print("\r", end="", file=sys.stderr)
    log_path = None
    if not args.no_log:
        log_path = runlog.append(
            ablation_record(backend, plan, sources, references, settings, curve), args.log
        )
    if args.json:
        document = curve.to_dict(outputs=args.outputs)
        document.update(
            {"ranking": name, "test_set": origin, "log": str(log_path) if log_path else None}
        )
        print_json(document)
        return 0
    print(
        f"{backend.name}: {args.ablation}-ablation curve of ranking {name} on {len(sources)} "
        f"sentences ({origin})"
    )
    print(curve.table())
    print(
        f"{len(curve.points) + 1} points in {curve.seconds:.1f} s"
        + (f"; logged to {log_path}" if log_path else "")
    )
    return 0
