"""``neurotui top-words STORE NEURON`` — what one neuron responds to (words and contexts)
and, for an MLP neuron of a causal LM or decoder, what it writes: the tokens it promotes
and suppresses, read from the store's model (or ``--model``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurotui.argtypes import nonneg_int, positive_int
from neurotui.commands.common import add_device_arg, add_json_arg, load_stages, print_json

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.analysis.output_side import OutputSide
    from neurotui.store.api import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "top-words",
        help="top words and contexts of one neuron",
        description=(
            "NeuroX's top words (mean |z-score| per word type, relative to the best type), "
            "the signed variant with word frequencies (highest and lowest mean z), the "
            "top and bottom activating contexts, and a random and per-quantile sample. "
            "For an MLP neuron (.ffn site) of a causal LM or decoder, also the tokens it "
            "promotes and suppresses (its output weights through the final norm and the "
            "unembedding), when the store's model (or --model) can be loaded."
        ),
    )
    p.add_argument("store", metavar="STORE", help="activation store")
    p.add_argument("neuron", metavar="NEURON", help="neuron id or name like enc.l1:217")
    p.add_argument("-k", type=positive_int, default=10, help="how many words/contexts (default 10)")
    p.add_argument(
        "--min-count", type=nonneg_int, default=1, help="signed lists: minimum word count"
    )
    p.add_argument(
        "--window", type=nonneg_int, default=5, help="context words on each side (default 5)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random samples")
    p.add_argument(
        "--model",
        metavar="M",
        help="model for the promoted/suppressed tokens (default: the store's own model)",
    )
    p.add_argument(
        "--no-model",
        action="store_true",
        help="skip the promoted/suppressed tokens (no model is loaded)",
    )
    add_device_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from neurotui.analysis.cli_support import open_store
    from neurotui.analysis.corpus_stats import CorpusIndex

    with open_store(args.store) as store:
        gid = store.neuron_id(args.neuron)
        name = store.neuron_name(gid)
        idx = CorpusIndex(store)
        top = idx.top_words(gid, args.k)
        high = idx.signed_words(gid, args.k, min_count=args.min_count)
        low = idx.signed_words(gid, args.k, bottom=True, min_count=args.min_count)
        ctx_top = idx.extreme_contexts(gid, args.k, window=args.window)
        ctx_bottom = idx.extreme_contexts(gid, args.k, bottom=True, window=args.window)
        rnd = idx.random_contexts(gid, args.k, seed=args.seed, window=args.window)
        quant = idx.quantile_contexts(gid, 5, 2, seed=args.seed, window=args.window)
        output = _output_side(store, gid, args)
        note = _exemplar_note(store, name)
    effect = output.effect if output is not None else None
    promoted = [{"token": t, "score": v} for t, v in (effect.promoted if effect else [])]
    suppressed = [{"token": t, "score": v} for t, v in (effect.suppressed if effect else [])]
    if args.json:
        print_json(
            {
                "neuron": gid,
                "name": name,
                "top_words": [asdict(w) for w in top],
                "signed_high": [asdict(w) for w in high],
                "signed_low": [asdict(w) for w in low],
                "top_contexts": [asdict(c) for c in ctx_top],
                "bottom_contexts": [asdict(c) for c in ctx_bottom],
                "random_contexts": [asdict(c) for c in rnd],
                "quantile_contexts": [
                    {"range": list(r), "contexts": [asdict(c) for c in cs]} for r, cs in quant
                ],
                "promoted": promoted,
                "suppressed": suppressed,
                "output_model": output.model if output is not None else None,
                "output_note": output.note if output is not None else "",
            }
        )
        return 0
    print(f"neuron {name} (id {gid})")
    print("top words (NeuroX score):  " + ", ".join(f"{w.word} {w.score:.2f}" for w in top))
    print(
        "highest mean z (count):    "
        + ", ".join(f"{w.word} {w.score:+.2f} ({w.count})" for w in high)
    )
    print(
        "lowest mean z (count):     "
        + ", ".join(f"{w.word} {w.score:+.2f} ({w.count})" for w in low)
    )
    if output is not None and effect is not None:
        print(f"promotes ({Path(str(output.model)).name}):".ljust(27) + _tokens(promoted))
        print("suppresses:".ljust(27) + _tokens(suppressed))
    elif output is not None and output.note:
        print(f"promoted tokens: {output.note}")
    if note:
        print(note)
    for title, rows in (
        ("top contexts", ctx_top),
        ("bottom contexts", ctx_bottom),
        ("random contexts", rnd),
    ):
        print(f"{title}:")
        for c in rows:
            print(f"  {c.value:+8.3f}  {c.text()}")
    print("per-quantile samples:")
    for (lo, hi), rows in quant:
        for c in rows:
            print(f"  [{lo:+.2f}, {hi:+.2f}]  {c.value:+8.3f}  {c.text()}")
    return 0


def _exemplar_note(store: Store, name: str) -> str:
    """What an exemplar store's contexts are (empty for other stores)."""
    from neurotui.store.exemplar import layout_version

    if layout_version(store) < 2:
        return ""
    meta = getattr(store, "metadata", {})
    ex = meta.get("exemplars") if isinstance(meta, dict) else None
    ex = ex if isinstance(ex, dict) else {}
    return (
        f"exemplar store: top/bottom contexts are windows of ±{ex.get('window', '?')} tokens "
        f"keeping {name}'s values only (sentence = index in the text); words, random and quantile "
        f"contexts come from the {store.sentences} stored sample sentences"
    )


def _tokens(rows: list[dict[str, Any]]) -> str:
    """``tok +1.23, …``, tokens as the model spells them (``repr`` when they hold spaces or
    control characters, so a leading space stays visible)."""
    out = []
    for row in rows:
        token = str(row["token"])
        shown = token if token.isprintable() and token.strip() == token and token else repr(token)
        out.append(f"{shown} {row['score']:+.2f}")
    return ", ".join(out)


def _output_side(store: Store, gid: int, args: argparse.Namespace) -> OutputSide | None:
    """The neuron's promoted/suppressed tokens, or ``None`` when it has no output side.

    The store's own model that cannot be loaded is a warning (the words and contexts are
    still worth printing); a ``--model`` the user named that cannot be loaded is an error.
    """
    from neurotui.analysis.output_side import OutputSide, ffn_site, output_side
    from neurotui.errors import NeurotuiError

    if args.no_model or ffn_site(store.neuron_name(gid)) is None:
        return None
    try:
        return output_side(
            store, gid, args.k, model=args.model, device=args.device, progress=load_stages()
        )
    except NeurotuiError as exc:
        if args.model:
            raise
        print(f"neurotui: warning: no promoted tokens: {exc}", file=sys.stderr)
        return OutputSide(note=f"the store's model cannot be loaded ({exc})")
