"""``neurotui translate`` — translate sentences (or continue them, for a language model).

``neurotui translate MODEL [SENTENCE… | --file F] [--beam K] [--device D] [--json]``.
MODEL is a bundled sample name or a checkpoint directory. With no sentences, the first
few sentences of the model's held-out set (named in its card) are translated and shown
with their reference.

``run`` is three readable steps — load the backend, gather the inputs, print the results —
so options that change the model (interventions) slot in between.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neurotui.argtypes import nonneg_int, positive_int
from neurotui.commands.common import (
    add_device_arg,
    add_json_arg,
    add_model_dtype_arg,
    print_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.models.base import Backend, Translation


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "translate",
        help="translate sentences with a model (a language model continues them)",
        description=(
            "Translate whitespace-tokenised sentences with a bundled sample or a checkpoint "
            "directory (or a .gguf file). A language model continues them; an encoder "
            "with a masked-LM head fills each [MASK] word (top 5 fills). With no "
            "sentences, translate the first held-out sentences of the model's card and "
            "show the references."
        ),
    )
    p.add_argument(
        "model", metavar="MODEL", help="bundled model name (see `neurotui models`) or path"
    )
    p.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate")
    p.add_argument(
        "--file", "-f", metavar="F", help="read sentences from F, one per line (- for stdin)"
    )
    p.add_argument(
        "--beam", type=positive_int, default=1, metavar="K", help="beam size (1 = greedy, default)"
    )
    p.add_argument(
        "--max-len", type=positive_int, default=None, metavar="N", help="maximum output words"
    )
    p.add_argument("--batch-size", type=positive_int, default=64, metavar="B")
    p.add_argument(
        "-n",
        "--count",
        type=nonneg_int,
        default=5,
        metavar="N",
        help="held-out sentences to show when no input is given (default 5)",
    )
    add_device_arg(p)
    add_model_dtype_arg(p)
    add_json_arg(p)
    from neurotui.intervene.flags import add_intervention_args  # light: no torch

    add_intervention_args(p)


@dataclass
class Inputs:
    """What to translate, with references when they are known."""

    sources: list[str]
    references: list[str] | None
    origin: str  # "arguments", a file path, or "held-out set <path>"


def run(args: argparse.Namespace) -> int:
    from neurotui.errors import NeurotuiError

    if args.beam < 1:
        raise NeurotuiError(f"--beam {args.beam}: must be at least 1")
    from neurotui.intervene.flags import interventions_from_args, wants_interventions

    if wants_interventions(args):
        interventions_from_args(args)  # a bad flag or spec fails before the model loads
    backend = load_model(args.model, args.device, args.model_dtype)
    inputs = gather_inputs(args, backend)

    if wants_interventions(args):  # original vs modified, side by side (neurotui.intervene)
        from neurotui.intervene.workflows import run_translate_flags

        intervened = run_translate_flags(args, backend, inputs.sources)
        if args.json:
            print_json(intervened.to_json())
        else:
            print(intervened.render())
        return 0
    results = backend.translate(
        inputs.sources, beam=args.beam, max_len=args.max_len, batch_size=args.batch_size
    )
    print_results(args, backend, inputs, results)
    return 0


def load_model(model: str, device: str, dtype: str = "auto") -> Backend:
    """The backend of ``model``, loading stages printed on stderr (see ``load_stages``)."""
    from neurotui.commands.common import load_stages
    from neurotui.models.registry import load_backend

    return load_backend(model, device, dtype=dtype, progress=load_stages())


def read_sentences(path: str) -> list[str]:
    """Lines of ``path`` (``-``: stdin), one sentence each; one-line error when unreadable."""
    from neurotui.textfiles import read_lines

    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    return read_lines(path)


def heldout_inputs(backend: Backend, count: int | None) -> Inputs:
    """The first ``count`` held-out sentences of the model's card (all when ``None``).

    A language model's held-out sentences become prompts (their first half) with the rest
    as the reference continuation.
    """
    from neurotui.errors import NeurotuiError
    from neurotui.models.registry import heldout_files, read_card

    path = getattr(backend, "path", None)
    card = read_card(path) if path else None
    files = heldout_files(path, card) if path else {}
    if backend.kind == "lm" and "text" in files:
        lines = read_sentences(str(files["text"]))[:count]
        prompts: list[str] = []
        refs: list[str] = []
        for line in lines:
            words = line.split()
            half = (len(words) + 1) // 2
            prompts.append(" ".join(words[:half]))
            refs.append(" ".join(words[half:]))
        return Inputs(prompts, refs, f"held-out set {files['text']}")
    if "src" in files:
        sources = read_sentences(str(files["src"]))[:count]
        known = read_sentences(str(files["ref"]))[: len(sources)] if "ref" in files else None
        return Inputs(sources, known, f"held-out set {files['src']}")
    raise NeurotuiError(
        f"model {backend.name} has no held-out set in its card; give sentences or --file"
    )


def gather_inputs(args: argparse.Namespace, backend: Backend) -> Inputs:
    from neurotui.errors import NeurotuiError

    if args.sentences and args.file:
        raise NeurotuiError("give sentences or --file, not both")
    if args.sentences:
        return Inputs(list(args.sentences), None, "arguments")
    if args.file:
        return Inputs(read_sentences(args.file), None, args.file)
    return heldout_inputs(backend, args.count)


def result_rows(inputs: Inputs, results: list[Translation]) -> list[dict[str, Any]]:
    rows = []
    for i, t in enumerate(results):
        row: dict[str, Any] = {
            "source": t.source,
            "translation": t.text,
            "tokens": t.tokens,
            "logprob": round(t.logprob, 4),
        }
        if "fills" in t.extra:  # an encoder's masked-token read-out
            row["fills"] = t.extra["fills"]
        if inputs.references is not None:
            ref = inputs.references[i]
            row["reference"] = ref
            row["exact"] = t.text.split() == ref.split()
        rows.append(row)
    return rows


def print_results(
    args: argparse.Namespace, backend: Backend, inputs: Inputs, results: list[Translation]
) -> None:
    rows = result_rows(inputs, results)
    if args.json:
        print_json(
            {
                "model": backend.name,
                "kind": backend.kind,
                "device": str(backend.device),
                "beam": args.beam,
                "input": inputs.origin,
                "translations": rows,
            }
        )
        return
    from neurotui.intervene.compare import format_fills

    lm = backend.kind == "lm"
    arrow = {"lm": "+", "encoder": "▸"}.get(backend.kind, "→")
    for i, row in enumerate(rows, 1):
        print(f"[{i}] {row['source']}")
        print(f"  {arrow} {row['translation']}")
        if "fills" in row:
            print(f"    fills: {format_fills(results[i - 1])}")
        if "reference" in row:
            if lm:  # a continuation is one of many: no verdict
                print(f"  = {row['reference']}   (held-out continuation)")
            else:
                mark = "✓ exact match" if row["exact"] else "✗ differs"
                print(f"  = {row['reference']}   ({mark})")
    if inputs.references is not None and rows and not lm:
        exact = sum(r["exact"] for r in rows)
        print(f"{exact}/{len(rows)} exact matches ({inputs.origin}, beam {args.beam})")
