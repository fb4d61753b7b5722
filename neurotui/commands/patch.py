"""``neurotui patch`` — activation patching between a clean and a corrupted input.

``neurotui patch MODEL --clean "…" --corrupt "…" [--sites S1,S2] [--target T]
[--patch SITE[:N1,N2][@POS] …] [--attribution [--check K] [--ranking-out F]]
[--json F] [--csv F]``.

Without ``--patch``: the causal-tracing sweep (every site × every aligned source position,
plus each site as a whole) printed as a heatmap of the restored share of the clean output's
log-probability. With ``--patch``: those patches applied together, one score. With
``--attribution``: attribution patching ranks every neuron of the sites from one
forward/backward pass and the top ``--check`` are patched for real (Spearman reported).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from neurotui.argtypes import nonneg_int
from neurotui.commands.common import add_device_arg, add_model_dtype_arg

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.intervene.patching import Patch, TracingMap


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "patch",
        help="activation patching: clean → corrupted runs, causal-tracing map, attribution",
        description=(
            "Run a clean and a corrupted input, copy clean activations (neurons, a site, a "
            "source position) into the corrupted run and measure how much of the clean "
            "output's log-probability comes back (Meng et al. 2022). Positions are word "
            "indices aligned from the start; see docs/interventions.md."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="bundled model name or checkpoint directory")
    p.add_argument("--clean", required=True, metavar="TEXT", help="the clean input")
    p.add_argument("--corrupt", required=True, metavar="TEXT", help="the corrupted input")
    p.add_argument(
        "--target",
        metavar="TEXT",
        help="output to score (default: the clean input's greedy translation/continuation)",
    )
    p.add_argument("--sites", metavar="S1,S2", help="sites to sweep (default: all)")
    p.add_argument(
        "--patch",
        action="append",
        default=[],
        metavar="SITE[:N1,N2][@POS]",
        help="apply this patch (repeatable; all together) instead of the sweep; prints the "
        "patched score and the clean, corrupted and patched outputs",
    )
    p.add_argument(
        "--attribution",
        action="store_true",
        help="rank the sites' neurons by attribution patching and check the top against "
        "real patching",
    )
    p.add_argument(
        "--check",
        type=nonneg_int,
        default=50,
        metavar="K",
        help="top neurons patched for real with --attribution (default 50)",
    )
    p.add_argument(
        "--ranking-out",
        metavar="F",
        help="with --attribution: write the ranking as JSON (ablate --ranking F takes it)",
    )
    p.add_argument("--json", metavar="F", help="write the result as JSON to F (- = stdout)")
    p.add_argument("--csv", metavar="F", help="write the map as CSV to F (sweep only)")
    add_device_arg(p)
    add_model_dtype_arg(p)


def parse_patch(text: str) -> Patch:
    """``enc.l1.fw``, ``enc.l1.fw:3,7-9``, ``enc.l1.fw@2``, ``enc.l1.fw:3@2`` → Patch."""
    from neurotui.intervene.patching import Patch, PatchError

    body, at, pos = text.partition("@")
    position = None
    if at:
        if not pos.strip().isdigit():
            raise PatchError(f"--patch {text!r}: position after @ must be a word index ≥ 0")
        position = int(pos)
    site, colon, spec = body.partition(":")
    if not site.strip():
        raise PatchError(f"--patch {text!r}: expected SITE[:N1,N2][@POS]")
    neurons: tuple[int, ...] | None = None
    if colon:
        values: list[int] = []
        for part in spec.split(","):
            part = part.strip()
            lo, dash, hi = part.partition("-")
            if not lo.isdigit() or (dash and not hi.isdigit()):
                raise PatchError(f"--patch {text!r}: neurons must be indices like 3,7-9")
            values.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        if not values:
            raise PatchError(f"--patch {text!r}: no neurons after ':'")
        neurons = tuple(values)
    return Patch(site.strip(), neurons, position)


def write_outputs(
    args: argparse.Namespace, document: dict[str, Any], rows: list[list[str]]
) -> None:
    """``--json F`` / ``--csv F`` through :func:`neurotui.intervene.patching.write_results`
    (the Patch mode's export writes the same files); ``--json -`` prints to stdout."""
    from neurotui.commands.common import print_json
    from neurotui.intervene.patching import write_results

    if args.json == "-":
        print_json(document)
    if args.csv and not rows:
        from neurotui.errors import NeurotuiError

        raise NeurotuiError("--csv: only the sweep writes a CSV map")
    write_results(
        document,
        rows,
        json_path=None if args.json == "-" else args.json,
        csv_path=args.csv,
    )


def heatmap(tmap: TracingMap) -> Any:
    """A rich table: sites × positions, cells = restored share, background by value."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"restored share of log p(target) — {tmap.model}",
        caption=(
            f"clean {tmap.scores.clean_logprob:.3f}, corrupted {tmap.scores.corrupt_logprob:.3f}"
            f"; target: {tmap.scores.target}"
        ),
    )
    table.add_column("site", no_wrap=True, min_width=max(len(s) for s in tmap.sites))
    for label in tmap.positions:
        table.add_column(Text(label), justify="right")
    table.add_column("all", justify="right")
    restored = tmap.restored()
    for i, site in enumerate(tmap.sites):
        cells = [Text(site)]
        for value in [*restored[i], tmap.scores.restored(tmap.whole_site[i])]:
            cells.append(_cell(value))
        table.add_row(*cells)
    return table


def _cell(value: float | None) -> Any:
    from rich.text import Text

    if value is None:
        return Text("·", style="dim")
    share = max(0.0, min(1.0, value))
    level = int(round(share * 4))
    styles = ["", "on grey23", "on dark_orange3", "on orange1", "bold black on yellow"]
    return Text(f"{value:.2f}", style=styles[level])


def run(args: argparse.Namespace) -> int:
    import sys

    from neurotui.commands.common import load_stages
    from neurotui.intervene.patching import (
        PatchError,
        baseline_scores,
        check_patches,
        check_sites,
        patched_translations,
        tracing_sweep,
    )
    from neurotui.models.registry import load_backend

    sites = [s.strip() for s in (args.sites or "").split(",") if s.strip()] or None
    patches = [parse_patch(text) for text in args.patch]
    if patches and args.attribution:
        raise PatchError("--patch and --attribution: give one of them")
    for flag, text in (("--clean", args.clean), ("--corrupt", args.corrupt)):
        if not text.split():
            raise PatchError(f"{flag}: the sentence is empty")
    backend = load_backend(args.model, args.device, dtype=args.model_dtype, progress=load_stages())
    check_sites(backend, sites)
    if patches:
        check_patches(backend, patches)
        scores = baseline_scores(backend, args.clean, args.corrupt, args.target)
        outputs = patched_translations(backend, scores, patches)
        value, restored = outputs.logprob, outputs.restored
        document = {
            "model": backend.name,
            "clean": scores.clean,
            "corrupt": scores.corrupt,
            "target": scores.target,
            "patches": [p.describe() for p in patches],
            "clean_logprob": round(scores.clean_logprob, 5),
            "corrupt_logprob": round(scores.corrupt_logprob, 5),
            "patched_logprob": round(value, 5),
            "restored": None if restored is None else round(restored, 5),
            "clean_output": outputs.clean,
            "corrupt_output": outputs.corrupt,
            "patched_output": outputs.patched,
        }
        write_outputs(args, document, [])
        if args.json != "-":
            print(f"target: {scores.target}")
            print(
                f"log p: clean {scores.clean_logprob:.4f}  corrupted {scores.corrupt_logprob:.4f}"
                f"  patched {value:.4f}  restored "
                + ("n/a (clean = corrupted)" if restored is None else f"{restored:.3f}")
            )
            print(f"clean output:     {outputs.clean}")
            print(f"corrupted output: {outputs.corrupt}")
            print(f"patched output:   {outputs.patched if outputs.patched is not None else '-'}")
            if outputs.note:
                print(f"note: {outputs.note}")
        return 0
    if args.attribution:
        from neurotui.intervene.attribution import attribution_patching

        result = attribution_patching(
            backend, args.clean, args.corrupt, sites=sites, target=args.target, check=args.check
        )
        document = result.to_dict()
        write_outputs(args, document, [])
        if args.ranking_out:
            from neurotui.atomicfile import write_text

            write_text(args.ranking_out, result.ranking().to_json() + "\n")
        if args.json != "-":
            print(f"target: {result.scores.target}")
            print(
                f"{len(result.names)} neurons attributed in {result.seconds_attribution:.2f} s; "
                f"top {result.checked} patched for real in {result.seconds_check:.2f} s"
            )
            sa, ss = result.spearman_abs(), result.spearman_signed()
            print(
                "Spearman (top checked): |estimate| vs |real| "
                + ("n/a" if sa is None else f"{sa:.3f}")
                + ", signed "
                + ("n/a" if ss is None else f"{ss:.3f}")
            )
            for k, name in enumerate(result.names[:10]):
                real = f"  real {result.real[k]:+.4f}" if k < result.checked else ""
                print(f"  {k + 1:>3}. {name:<24} estimate {result.estimate[k]:+.4f}{real}")
        return 0
    quiet = args.json == "-" or not sys.stderr.isatty()

    def progress(message: str, done: int, total: int) -> None:
        if not quiet and done < total:
            print(f"\r[{done + 1}/{total}] {message}…", end="", file=sys.stderr, flush=True)

    tmap = tracing_sweep(
        backend, args.clean, args.corrupt, sites=sites, target=args.target, progress=progress
    )
    if not quiet:
        print("\r", end="", file=sys.stderr)
    write_outputs(args, tmap.to_dict(), tmap.csv_rows())
    if args.json != "-":
        from rich.console import Console

        Console(highlight=False).print(heatmap(tmap))
        for note in tmap.notes:
            print(f"note: {note}")
        print(f"{len(tmap.sites)} sites × {len(tmap.positions)} positions in {tmap.seconds:.2f} s")
    return 0
