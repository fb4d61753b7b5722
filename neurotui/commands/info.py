"""``neurotui info STORE [--json]`` — what a store holds, read without loading it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from neurotui.commands.common import add_json_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="describe an activation store (ours or NeuroX hdf5/json)",
        description=(
            "Print sentences, tokens, sites, neurons, dtype, size on disk, label tasks, "
            "rankings and whether summaries are present. The format is read from the "
            "file's content."
        ),
    )
    p.add_argument("store", metavar="STORE", help="store file")
    add_json_arg(p)


def describe(path: str | Path) -> dict[str, Any]:
    """Everything ``info`` shows, as a JSON-ready dict."""
    import neurotui.store as ns

    path = Path(path)
    with ns.open(path) as store:
        meta = store.metadata
        doc: dict[str, Any] = {
            "path": str(path),
            "format": store.format,
            "format_version": meta.get("format_version"),
            "sentences": store.sentences,
            "tokens": store.total_tokens,
            "neurons": store.neuron_count,
            "sites": [{"name": s.name, "size": s.size, "first_id": s.offset} for s in store.sites],
            "dtype": str(getattr(store, "dtype", "float32")),
            "size_bytes": path.stat().st_size,
            "label_tasks": {},
            "rankings": {},
            "summaries": False,
            "model": meta.get("model"),
            "side": meta.get("side"),
            "aggregation": meta.get("aggregation"),
            "source": meta.get("source"),
            "created": meta.get("created"),
            "warnings": list(getattr(store, "warnings", [])),
        }
        for task in store.label_tasks:
            codes = getattr(store, "label_codes", None)
            classes = (
                codes(task)[1] if codes else sorted({x for r in store.labels(task) for x in r})
            )
            doc["label_tasks"][task] = {"classes": len(classes)}
        for name, ranking in store.rankings.items():
            doc["rankings"][name] = {
                "method": ranking.method,
                "task": ranking.task,
                "neurons": len(ranking.order),
            }
        has = getattr(store, "has_summary", None)
        if has is not None and has:
            extra = store.stats.extra if store.stats is not None else {}
            nonfinite = int(store.stats.nonfinite.sum()) if store.stats is not None else 0
            doc["summaries"] = {
                "k": store.summary.k if store.summary is not None else 0,
                "quantiles_exact": bool(extra.get("quantiles_exact", False)),
                "quantile_rank_error": extra.get("quantile_rank_error"),
                "quantiles_note": extra.get("quantiles") or extra.get("quantiles_merged"),
                "nonfinite_values": nonfinite,
            }
        meta = store.metadata
        doc["keep"] = meta.get("keep", "dense")
        if doc["keep"] == "exemplars":
            doc["corpus"] = meta.get("corpus")
            doc["exemplars"] = meta.get("exemplars")
        if getattr(store, "shards", None) is not None:
            doc["shards"] = [str(p) for p in getattr(store, "shard_paths", [])]
    return doc


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run(args: argparse.Namespace) -> int:
    import sys

    doc = describe(args.store)
    if args.json:
        print_json(doc)
        return 0
    for warning in doc["warnings"]:
        print(f"neurotui: warning: {warning}", file=sys.stderr)
    version = f" v{doc['format_version']}" if doc["format_version"] else ""
    print(f"{doc['path']}  ({doc['format']}{version}, {_human(doc['size_bytes'])} on disk)")
    print(f"  sentences  {doc['sentences']:,}")
    print(f"  tokens     {doc['tokens']:,}")
    print(f"  neurons    {doc['neurons']:,} in {len(doc['sites'])} sites, {doc['dtype']}")
    for site in doc["sites"]:
        print(
            f"    {site['name']:<20} {site['size']:>6}  ids {site['first_id']}…{site['first_id'] + site['size'] - 1}"
        )
    if isinstance(doc["model"], dict):
        model = doc["model"]
        print(
            f"  model      {model.get('name')} ({model.get('kind')}), {doc.get('side')} side, aggregation {doc.get('aggregation')}"
        )
    if isinstance(doc["source"], dict):
        src = doc["source"]
        print(f"  source     {src.get('path')} (sha256 {str(src.get('sha256'))[:12]}…)")
    tasks = doc["label_tasks"]
    print(
        "  labels     "
        + (", ".join(f"{t} ({v['classes']} classes)" for t, v in tasks.items()) or "none")
    )
    ranks = doc["rankings"]
    print("  rankings   " + (", ".join(f"{n} ({v['method']})" for n, v in ranks.items()) or "none"))
    if doc.get("shards"):
        print(f"  shards     {len(doc['shards'])} ({doc['shards'][0]} …)")
    if doc.get("keep") == "exemplars":
        corpus, ex = doc.get("corpus") or {}, doc.get("exemplars") or {}
        print(
            f"  exemplars  corpus of {corpus.get('sentences', '?'):,} sentences / "
            f"{corpus.get('tokens', '?'):,} tokens; statistics are corpus-wide"
        )
        if ex.get("format", 1) >= 2:
            print(
                f"             top/bottom {ex.get('k')} contexts per neuron with its own values "
                f"over ±{ex['window']} tokens; dense rows of {doc['sentences']:,} sampled "
                "sentences"
            )
        else:
            print(
                f"             kept {doc['sentences']:,} sentences (top/bottom {ex.get('k')} per "
                f"neuron, {ex.get('sample')} sampled; an older layout: re-extract for "
                "per-neuron windows)"
            )
    summ = doc["summaries"]
    if summ:
        if summ["quantiles_exact"]:
            exact = "exact"
        elif summ.get("quantile_rank_error") is not None:
            exact = f"sampled, rank error ≤ {summ['quantile_rank_error']:.3f}"
        else:
            exact = str(summ.get("quantiles_note") or "approximate")
        print(
            f"  summaries  yes (top/bottom {summ['k']}, quantiles {exact}, {summ['nonfinite_values']} NaN/Inf values excluded)"
        )
    else:
        print("  summaries  no")
    return 0
