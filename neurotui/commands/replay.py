"""``neurotui replay`` — re-run logged intervention runs and check they come out the same.

``neurotui replay LOG [--line N | --all] [--device D] [--json]``. By default the last
record of LOG is replayed. Each record names its model (bundled name or checkpoint path)
and carries the resolved interventions (raw values, neuron names), so no store is needed.
Exit status 0 when every replayed record matches, 1 otherwise.
"""

from __future__ import annotations

import argparse
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


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="re-run logged interventions/ablations/control experiments and compare",
        description=(
            "Replay records of an intervention log (JSONL, one run per line, written by "
            "translate --intervene/--ablate/--clamp, ablate and control) and report whether "
            "the outputs and figures come out as logged. Default: the last record."
        ),
    )
    p.add_argument("log", metavar="LOG", help="intervention log (JSONL)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--line", type=positive_int, metavar="N", help="replay the record on line N")
    which.add_argument("--all", action="store_true", help="replay every record")
    p.add_argument("--list", action="store_true", help="list the records instead of replaying")
    add_device_arg(p)
    add_model_dtype_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from neurotui.commands.common import load_stages
    from neurotui.errors import NeurotuiError
    from neurotui.intervene import log as runlog
    from neurotui.intervene.replay import replay
    from neurotui.models.registry import load_backend

    warnings: list[str] = []
    records = runlog.read(args.log, warnings)
    for warning in warnings:  # damaged lines: skipped, but never silently
        print(f"neurotui: warning: {warning}", file=sys.stderr)
    if not records:
        raise NeurotuiError(f"{args.log}: the log holds no records")
    if args.list:
        rows = [_row(r) for r in records]
        if args.json:
            print_json({"log": args.log, "records": rows})
        else:
            for row in rows:
                print(
                    f"line {row['line']:>4}  {row['time']}  {row['kind']:<9}  {row['model']}  {row['what']}"
                )
        return 0
    if args.all:
        chosen = records
    elif args.line is not None:
        chosen = [r for r in records if r["_line"] == args.line]
        if not chosen:
            raise NeurotuiError(f"{args.log}: no record on line {args.line}")
    else:
        chosen = records[-1:]
    backends: dict[str, Backend] = {}
    reports = []
    for record in chosen:
        path = record.get("model_path")
        ref = path if path and Path(path).exists() else record.get("model")
        if not ref:
            raise NeurotuiError(f"{args.log}:{record['_line']}: the record names no model")
        if ref not in backends:
            backends[ref] = load_backend(
                ref, args.device, dtype=args.model_dtype, progress=load_stages()
            )
        reports.append(replay(record, backends[ref], log=args.log))
    ok = all(r.matches for r in reports)
    if args.json:
        print_json({"log": args.log, "matches": ok, "replayed": [r.to_dict() for r in reports]})
    else:
        for r in reports:
            state = "matches" if r.matches else f"DIFFERS ({len(r.differences)} differences)"
            print(f"line {r.line}: {r.kind} on {r.model}: {r.summary} — {state}")
            for diff in r.differences[:10]:
                print(f"    {diff}")
    return 0 if ok else 1


def _row(record: dict) -> dict:
    kind = record.get("kind")
    if kind == "translate":
        what = f"{len(record.get('sources', []))} sentences, {len(record.get('interventions', []))} interventions"
    elif kind == "ablate":
        steps = record.get("plan", {}).get("steps", [])
        ranking = record.get("plan", {}).get("ranking", "")
        what = (
            f"{ranking}: steps {','.join(map(str, steps))} on "
            f"{len(record.get('sources', []))} sentences"
        )
    else:
        req = record.get("request", {})
        res = record.get("result", {})
        what = f"{req.get('prop')} → {req.get('target')}: flip rate {res.get('flip_rate')}"
    return {
        "line": record["_line"],
        "time": record.get("time", ""),
        "kind": kind,
        "model": record.get("model", "?"),
        "what": what,
    }
