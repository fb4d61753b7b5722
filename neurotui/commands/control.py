"""``neurotui control`` — clamp property neurons and measure how often translations flip.

``neurotui control MODEL --task tense --target present [--store S] [--ranking R]``
``[--ns 10,25,50,100,200] [--strengths …] [--mode mean|sigma|steer] [--scopes property,all]``
``[--steer-sites S] [--compare]``. ``--mode steer`` adds a steering vector (the difference of
class means over a whole site) instead of clamping ranked neurons; ``--compare`` runs the
clamp and the steering vector on the same cases next to no intervention. ``--task all`` runs
tense, number and gender for every target class and prints a summary next to Bau et al.'s
67 / 37 / 21 %. The grid is searched on the synthetic dev split and the chosen point is
reported on the test split. ``--json`` carries ``flip_rate`` and ``bleu_untouched``.

Real-text models whose card lists tagged dev/test sets (``bible-en-fr``) take their cases,
probe labels and output detector from :mod:`neurotui.intervene.realtext` (tense and number;
BLEU against the reference, ``"bleu_against": "reference"``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from neurotui.argtypes import nonneg_float, nonneg_int, positive_int
from neurotui.commands.common import (
    add_device_arg,
    add_json_arg,
    add_model_dtype_arg,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    from neurotui.intervene.flags import add_log_args

    p = subparsers.add_parser(
        "control",
        help="control experiments: clamp tense/number/gender neurons, measure the flip rate",
        description=(
            "Clamp the neurons a probe ranks highest for a target class (e.g. tense → present) "
            "at the source words that express the property, re-translate sentences whose "
            "property differs, and measure how many outputs flip to the target (with the BLEU "
            "of the output against the expected flipped translation). Needs a model of the "
            "synthetic grammar (the bundled synth-en-fr models) or a real-text model with tagged "
            "dev/test sets (bible-en-fr: tense and number, read by French rules)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="bundled model name or checkpoint directory")
    p.add_argument(
        "--task",
        required=True,
        choices=("tense", "number", "gender", "all"),
        help="property to control (all: the three, every target class)",
    )
    p.add_argument(
        "--target",
        metavar="CLASS",
        help="target class, e.g. present, pl, fem (default: every class)",
    )
    p.add_argument(
        "--store",
        metavar="S",
        help="activation store with the task's labels (default: the sample store)",
    )
    p.add_argument(
        "--ranking",
        metavar="R",
        help="ranking name or JSON file (default: a saved ranking for the task, else a fresh probe)",
    )
    p.add_argument(
        "--ns", default="10,25,50,100,200", metavar="N,…", help="neuron counts to search"
    )
    p.add_argument(
        "--strengths",
        default=None,
        metavar="S,…",
        help="clamp strengths to search (mean: α, 1 = the class mean; sigma: k σ; steer: α × "
        "the class-mean difference; default 1,2,4,8,16 / 1,2,4,8 / 1,2,4,6,8,12)",
    )
    p.add_argument(
        "--steer-strengths",
        metavar="S,…",
        help="with --compare: steering strengths to search (default 1,2,4,6,8,12)",
    )
    p.add_argument(
        "--mode",
        choices=("mean", "sigma", "steer"),
        default="mean",
        help="clamp values (mean, sigma) or steer: add α × the difference of class means to "
        "every neuron of --steer-sites (default mean)",
    )
    p.add_argument(
        "--steer-sites",
        metavar="S1,S2",
        help="sites of the steering vector (default: every encoder site)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="run the clamp (--mode mean or sigma) and the steering vector on the same cases "
        "and print them next to no intervention",
    )
    p.add_argument(
        "--scopes",
        default="property,all",
        metavar="S,…",
        help="where to clamp: property (the words expressing it), all (every word); default both",
    )
    p.add_argument(
        "--min-bleu",
        type=nonneg_float,
        default=None,
        metavar="B",
        help="best point: highest flip rate with BLEU ≥ B (default: the unclamped dev BLEU)",
    )
    p.add_argument(
        "--bleu-drop",
        type=nonneg_float,
        default=None,
        metavar="D",
        help="best point: highest flip rate with BLEU ≥ the unclamped dev BLEU − D points",
    )
    p.add_argument(
        "--limit", type=positive_int, metavar="N", help="use at most N dev and N test sentences"
    )
    p.add_argument("--beam", type=positive_int, default=1, metavar="K")
    p.add_argument("--batch-size", type=positive_int, default=128, metavar="B")
    p.add_argument("--seed", type=int, default=0, help="probe seed (default 0)")
    p.add_argument(
        "--examples",
        type=nonneg_int,
        default=3,
        metavar="N",
        help="example outputs to show (default 3)",
    )
    add_log_args(p)
    add_device_arg(p)
    add_model_dtype_arg(p)
    add_json_arg(p)


def _floats(text: str, flag: str) -> list[float]:
    import math

    from neurotui.errors import NeurotuiError

    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise NeurotuiError(f"{flag} {text!r}: expected numbers like 1,2,4") from None
    if not values:
        raise NeurotuiError(f"{flag}: give at least one value")
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise NeurotuiError(f"{flag} {text!r}: {bad[0]} is not a finite number")
    return values


def run(args: argparse.Namespace) -> int:
    from neurotui.commands.ablate import parse_int_list
    from neurotui.commands.common import load_stages
    from neurotui.data.synthetic import PROP_VALUES
    from neurotui.errors import NeurotuiError
    from neurotui.intervene.apply import DecodeSettings
    from neurotui.intervene.control import (
        DEFAULT_STRENGTHS,
        SEED_FLIP_RATES,
        check_target,
        compare_methods,
    )
    from neurotui.intervene.realtext import REALTEXT_PROPS, check_realtext_prop, realtext_data
    from neurotui.intervene.workflows import (
        control_run,
        open_store,
        require_translation_model,
        synthetic_splits,
    )
    from neurotui.models.registry import load_backend

    ns = parse_int_list(args.ns, "--ns")
    if args.bleu_drop is not None and args.min_bleu is not None:
        raise NeurotuiError("--bleu-drop and --min-bleu: give one of them")
    if args.compare and args.mode == "steer":
        raise NeurotuiError(
            "--compare runs the clamp and the steering vector: give --mode mean or sigma"
        )
    methods = [args.mode, "steer"] if args.compare else [args.mode]
    strengths_of = {
        m: (
            _floats(args.strengths, "--strengths")
            if args.strengths and not (args.compare and m == "steer")
            else list(DEFAULT_STRENGTHS[m])
        )
        for m in methods
    }
    if args.compare and args.steer_strengths:
        strengths_of["steer"] = _floats(args.steer_strengths, "--steer-strengths")
    steer_sites = [x.strip() for x in (args.steer_sites or "").split(",") if x.strip()] or None
    scopes = [x.strip() for x in args.scopes.split(",") if x.strip()]
    if not scopes or any(x not in ("property", "all") for x in scopes):
        raise NeurotuiError(f"--scopes {args.scopes!r}: use property, all or both")
    tasks = ["tense", "number", "gender"] if args.task == "all" else [args.task]
    if args.target is not None:
        if len(tasks) != 1:
            raise NeurotuiError("--target needs one --task (not all)")
        check_target(tasks[0], args.target)
    backend = load_backend(args.model, args.device, dtype=args.model_dtype, progress=load_stages())
    require_translation_model(backend)
    real = realtext_data(backend)  # None: a model of the synthetic grammar
    if real is not None:
        if args.task == "all":
            tasks = list(REALTEXT_PROPS)
        for task in tasks:
            check_realtext_prop(task)
    store = open_store(args.store, backend, required=True, why="a control experiment")
    assert store is not None
    if real is not None:  # derive the tense/number labels once, not per target class
        store = real.wrap(store)
    splits = synthetic_splits() if real is None else None
    settings = DecodeSettings(beam=args.beam, batch_size=args.batch_size)
    quiet = args.json or not sys.stderr.isatty()
    results: list[dict[str, Any]] = []
    texts: list[str] = []
    try:
        for task in tasks:
            found = None  # the task's ranking, found for its first target class
            targets = [args.target] if args.target else list(PROP_VALUES[task])
            for target, method in ((t, m) for t in targets for m in methods):

                def progress(
                    message: str, done: int, total: int, _t: str = f"{task}→{target}"
                ) -> None:
                    if not quiet and done < total:
                        print(
                            f"\r[{_t} {done + 1}/{total}] {message}…   ",
                            end="",
                            file=sys.stderr,
                            flush=True,
                        )

                run = control_run(
                    backend,
                    store,
                    task,
                    target,
                    settings=settings,
                    examples=args.examples,
                    log=not args.no_log,
                    log_path=args.log,
                    progress=progress,
                    real=real,
                    ns=ns,
                    strengths=strengths_of[method],
                    mode=method,
                    scopes=scopes,
                    limit=args.limit,
                    min_bleu=args.min_bleu,
                    ranking=None if method == "steer" else found,
                    ranking_spec=args.ranking,
                    seed=args.seed,
                    splits=splits,
                    steer_sites=steer_sites,
                    max_bleu_drop=args.bleu_drop,
                )
                if not quiet:
                    print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
                plan, result = run.plan, run.result
                if method != "steer":
                    found = (plan.ranking, plan.ranking_name)
                ranking_name = plan.ranking_name
                results.append(run.to_dict())
                texts.append(_describe(result, ranking_name, plan.clamp_means))
    finally:
        store.close()
    summary = _summary(results, SEED_FLIP_RATES)
    comparison = compare_methods(results) if args.compare else None
    if args.json:
        if len(results) == 1:
            print_json(results[0])
        else:
            doc = {"model": backend.name, "results": results, "summary": summary}
            if comparison is not None:
                doc["comparison"] = comparison
            print_json(doc)
        return 0
    print("\n\n".join(texts))
    if comparison is not None:
        print("\n" + _comparison_table(backend.name, comparison))
    if len(results) > 1 and not args.compare:
        print("\n" + _summary_table(backend.name, summary, real is not None))
    return 0


def _comparison_table(model: str, rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{model}: test flip rate / BLEU on the same cases — none, neuron clamp, steering vector",
        f"{'task → target':<18} {'cases':>5} {'none':>14} {'clamp':>14} {'steer':>14}  settings",
    ]
    for row in rows:
        cells = []
        for key in ("none", "clamp", "steer"):
            v = row.get(key)
            cells.append(
                "-" if v is None else f"{100 * v['flip_rate']:.1f}% {v['bleu_untouched']:.1f}"
            )
        settings = "; ".join(
            f"{key}: n={row[key]['n']} {row[key]['mode']} {row[key]['strength']:g} @{row[key]['scope']}"
            for key in ("clamp", "steer")
            if key in row
        )
        lines.append(
            f"{row['task'] + ' → ' + row['target']:<18} {row['cases']:>5} "
            + " ".join(f"{c:>14}" for c in cells)
            + f"  {settings}"
        )
    return "\n".join(lines)


def _describe(result: Any, ranking: str, means: str) -> str:
    lines = [
        f"{result.model}: {result.prop} → {result.target} (ranking {ranking}, clamp values from {means})"
    ]
    lines.append(result.table())
    for ex in result.examples:
        lines.append(f"  src:      {ex['source']}")
        lines.append(f"  original: {ex['original']}")
        lines.append(
            f"  modified: {ex['modified']}   ({'flipped' if ex['flipped'] else 'not flipped'})"
        )
    return "\n".join(lines)


def _summary(results: list[dict[str, Any]], seeds: dict[str, float]) -> dict[str, Any]:
    """Per task: mean (and best) test flip rate, BLEU and exact rate over its target classes."""
    out: dict[str, Any] = {}
    for r in results:
        entry = out.setdefault(r["task"], {"targets": {}, "seed_flip_rate": seeds.get(r["task"])})
        entry["targets"][r["target"]] = {
            k: r[k] for k in ("flip_rate", "bleu_untouched", "exact_rate", "n", "strength", "scope")
        }
    for entry in out.values():
        rows = list(entry["targets"].values())
        entry["flip_rate"] = round(sum(t["flip_rate"] for t in rows) / len(rows), 4)
        entry["best_flip_rate"] = max(t["flip_rate"] for t in rows)
        entry["bleu_untouched"] = round(sum(t["bleu_untouched"] for t in rows) / len(rows), 2)
        entry["exact_rate"] = round(sum(t["exact_rate"] for t in rows) / len(rows), 4)
    return out


def _summary_table(model: str, summary: dict[str, Any], reference: bool = False) -> str:
    lines = [
        f"{model}: test flip rates (mean over target classes; best class) vs Bau et al. 2019",
        f"{'task':<8} {'ours (mean)':>11} {'ours (best)':>11} {'BLEU':>6} {'exact':>6} {'seeds':>6}",
    ]
    for task, e in summary.items():
        seed = e["seed_flip_rate"]
        lines.append(
            f"{task:<8} {100 * e['flip_rate']:>10.1f}% {100 * e['best_flip_rate']:>10.1f}% "
            f"{e['bleu_untouched']:>6.2f} {100 * e['exact_rate']:>5.1f}% "
            f"{'' if seed is None else f'{100 * seed:.0f}%':>6}"
        )
    if reference:  # real text: no flipped translation exists
        lines.append("BLEU: outputs vs the reference (original property); exact: equal to it")
    else:
        lines.append(
            "BLEU: outputs vs the expected flipped translation; exact: outputs equal to it"
        )
    return "\n".join(lines)
