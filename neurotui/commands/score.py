"""``neurotui score`` — BLEU, chrF and exact match (perplexity for a language model).

By default the model's own held-out set (named in its card) is scored, so the figure in
each sample card can be reproduced with ``neurotui score NAME``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from neurotui.argtypes import positive_int
from neurotui.commands.common import (
    add_device_arg,
    add_json_arg,
    add_model_dtype_arg,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="BLEU/chrF/exact match of a translation model (perplexity of a language model)",
        description=(
            "Score a model on parallel files (--src/--ref) or, by default, on the held-out "
            "set named in its card. Language models report perplexity on --text (or --src)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="bundled model name or checkpoint directory")
    p.add_argument("--src", metavar="F", help="source sentences, one per line")
    p.add_argument("--ref", metavar="F", help="reference translations, one per line")
    p.add_argument("--text", metavar="F", help="text for a language model's perplexity")
    p.add_argument(
        "--beam", type=positive_int, default=1, metavar="K", help="beam size (default 1: greedy)"
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="score only the first N sentences",
    )
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="B")
    add_device_arg(p)
    add_model_dtype_arg(p)
    add_json_arg(p)


def run(args: argparse.Namespace) -> int:
    from neurotui.commands.translate import heldout_inputs, load_model, read_sentences
    from neurotui.errors import DataError, NeurotuiError

    backend = load_model(args.model, args.device, args.model_dtype)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "model": backend.name,
        "kind": backend.kind,
        "device": str(backend.device),
    }
    if backend.kind == "lm":
        path = args.text or args.src
        if path:
            text = read_sentences(path)
        else:
            from neurotui.models.registry import heldout_files, read_card

            model_dir = getattr(backend, "path", None)
            files = heldout_files(model_dir, read_card(model_dir)) if model_dir else {}
            if "text" not in files:
                raise NeurotuiError(
                    f"model {backend.name} has no held-out text in its card; give --text"
                )
            path = str(files["text"])
            text = read_sentences(path)
        text = text[: args.limit]
        result.update(
            text=str(path),
            sentences=len(text),
            perplexity=round(backend.perplexity(text, batch_size=args.batch_size), 4),
        )
    elif backend.kind == "seq2seq":
        from neurotui import metrics

        if bool(args.src) != bool(args.ref):
            raise NeurotuiError("give both --src and --ref (or neither, for the held-out set)")
        if args.src:
            sources, refs, origin = (
                read_sentences(args.src),
                read_sentences(args.ref),
                f"{args.src} / {args.ref}",
            )
            if len(sources) != len(refs):
                raise DataError(
                    f"{args.src} has {len(sources)} lines but {args.ref} has {len(refs)}"
                )
        else:
            inputs = heldout_inputs(backend, None)
            if inputs.references is None:
                raise NeurotuiError(
                    f"model {backend.name}: its held-out set has no references; give --src and --ref"
                )
            sources, refs, origin = inputs.sources, inputs.references, inputs.origin
        sources, refs = sources[: args.limit], refs[: args.limit]
        hyps = [
            t.text for t in backend.translate(sources, beam=args.beam, batch_size=args.batch_size)
        ]
        result.update(data=origin, beam=args.beam, **metrics.translation_scores(hyps, refs))
    else:
        raise NeurotuiError(f"model {backend.name} is a {backend.kind} model: nothing to score")
    result["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print_json(result)
    elif backend.kind == "lm":
        print(
            f"{backend.name}: perplexity {result['perplexity']:.3f} on {result['sentences']} sentences ({result['text']})"
        )
    else:
        print(
            f"{backend.name}: BLEU {result['bleu']:.2f}  chrF {result['chrf']:.2f}  "
            f"exact match {100 * result['exact_match']:.1f}%  "
            f"({result['sentences']} sentences, beam {args.beam}; {result['data']})"
        )
    return 0
