"""``neurotui models`` — list the bundled sample models (from their card.json files)."""

from __future__ import annotations

import argparse

from neurotui.commands.common import add_json_arg, print_json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the bundled sample models",
        description="List the bundled sample models: name, kind, backend, path and held-out scores.",
    )
    add_json_arg(p)


def headline(scores: object) -> str:
    """The card's test figures in a few words (``scores`` comes from a JSON card: any type)."""
    test = scores.get("test") if isinstance(scores, dict) else None
    if not isinstance(test, dict):
        return "-"
    parts = []
    if "exact_match" in test:
        parts.append(f"exact {100 * test['exact_match']:.1f}%")
    if "bleu" in test:
        parts.append(f"BLEU {test['bleu']:.1f}")
    if "chrf" in test:
        parts.append(f"chrF {test['chrf']:.1f}")
    if "perplexity" in test:
        parts.append(f"ppl {test['perplexity']:.2f}")
    return ", ".join(parts) or "-"


def run(args: argparse.Namespace) -> int:
    from neurotui.models.registry import bundled_models
    from neurotui.paths import samples_dir

    models = bundled_models()
    if args.json:
        print_json({"samples_dir": str(samples_dir()), "models": models})
        return 0
    if not models:
        print(f"no bundled models in {samples_dir()}")
        return 0
    rows = [
        (
            m["name"],
            m.get("kind") or "?",
            m.get("backend") or "?",
            m.get("error") or headline(m.get("scores", {})),
            m["path"],
        )
        for m in models
    ]
    header = ("NAME", "KIND", "BACKEND", "TEST SCORES", "PATH")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print(
            "  ".join(str(v).ljust(w) for v, w in zip(row[:4], widths, strict=True))
            + "  "
            + str(row[4])
        )
    return 0
