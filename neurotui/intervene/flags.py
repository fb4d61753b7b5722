"""Short intervention flags (``--ablate``, ``--clamp``) parsed into Interventions.

Why here: ``neurotui translate`` and the app's command line speak the same short forms,
and parsing them needs no torch, so ``neurotui --help`` stays light.

* ``--ablate SITE:N1,N2`` zeroes neurons N1 and N2 of SITE (ranges ``N1-N2`` allowed).
* ``--clamp SITE:N=VALUE`` sets neuron N of SITE to VALUE (raw units); ``VALUE σ`` or
  ``VALUEs`` (e.g. ``2.5σ``, ``-1s``) means ``mean + VALUE·std`` of that neuron in the store.
  Several neurons share a value: ``SITE:N1,N2=VALUE``.
* ``--positions P`` (``all``, ``0,2,-1``, ``word:W``, ``re:R``) applies to both.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from neurotui.intervene.spec import Intervention, Positions, SpecError
from neurotui.resources import check_fits


def add_intervention_args(parser: argparse.ArgumentParser) -> None:
    """The intervention flags of ``neurotui translate`` (argparse only, no heavy imports)."""
    group = parser.add_argument_group(
        "interventions",
        "change neurons and show the original and modified outputs side by side",
    )
    group.add_argument(
        "--intervene",
        metavar="SPEC.json",
        action="append",
        default=[],
        help="intervention spec file (JSON; see docs/interventions.md)",
    )
    group.add_argument(
        "--ablate",
        metavar="SITE:N1,N2",
        action="append",
        default=[],
        help="zero neurons of a site, e.g. enc.l1.fw:12,40-45",
    )
    group.add_argument(
        "--clamp",
        metavar="SITE:N=VALUE[σ]",
        action="append",
        default=[],
        help="set neurons to a value; a σ or s suffix means mean + VALUE·std in the store",
    )
    group.add_argument(
        "--positions",
        metavar="P",
        default="all",
        help="where --ablate/--clamp apply: all, 0,2,-1, word:W or re:REGEX (default all)",
    )
    group.add_argument(
        "--store",
        metavar="S",
        help="activation store for σ values (default: the bundled model's sample store)",
    )
    add_log_args(group)


def add_log_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--log PATH`` / ``--no-log`` (every intervention run is appended to a JSONL log)."""
    parser.add_argument(
        "--log",
        metavar="PATH",
        help="append this run to PATH (default: interventions.jsonl in the neurotui cache)",
    )
    parser.add_argument("--no-log", action="store_true", help="do not log this run")


def wants_interventions(args: argparse.Namespace) -> bool:
    """True when any intervention flag was given."""
    return bool(
        getattr(args, "intervene", None)
        or getattr(args, "ablate", None)
        or getattr(args, "clamp", None)
    )


#: bytes one neuron of a ``--ablate``/``--clamp`` range costs while it is expanded: a list
#: slot, the int object and a tuple slot (48, measured with tracemalloc). Later steps are
#: bounded by the site's size (binding stops at the first neuron outside it).
NEURON_BYTES = 48


def _neuron_list(text: str, flag: str, given: str | None = None) -> tuple[int, ...]:
    """``"12,40-45"`` → the neuron indices, refusing a range that cannot fit in memory.

    Why count first: ``0-99999999999`` is a few characters that expand to 10¹¹ ints;
    expanding it fails with a ``MemoryError`` traceback after minutes of swapping. The
    count is known from the bounds, so the refusal (how much it needs, how much there is)
    comes before any list is built.
    """
    spans: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
            if last < first:
                raise ValueError
        except ValueError:
            raise SpecError(f"{flag}: {part!r} is not a neuron index or range like 3-7") from None
        spans.append((first, last))
    if not spans:
        raise SpecError(f"{flag}: no neurons given")
    count = sum(last - first + 1 for first, last in spans)
    check_fits(
        f"{flag} {given or text!r} ({count:,} neurons)", count * NEURON_BYTES, error=SpecError
    )
    return tuple(n for first, last in spans for n in range(first, last + 1))


def _site_and_rest(text: str, flag: str, form: str) -> tuple[str, str]:
    site, sep, rest = text.partition(":")
    if not sep or not site or not rest:
        raise SpecError(f"{flag} {text!r}: expected {form}")
    return site, rest


def parse_ablate(text: str, positions: Positions | None = None) -> Intervention:
    """``SITE:N1,N2`` → zero those neurons."""
    site, rest = _site_and_rest(text, "--ablate", "SITE:N1,N2")
    return Intervention(
        neurons=_neuron_list(rest, "--ablate", text),
        op="zero",
        site=site,
        positions=positions or Positions.all(),
    )


def parse_clamp(text: str, positions: Positions | None = None) -> Intervention:
    """``SITE:N[,N…]=VALUE[σ|s]`` → set those neurons (σ: in standard deviations)."""
    form = "SITE:N=VALUE, e.g. enc.l1.fw:217=2.5σ"
    site, rest = _site_and_rest(text, "--clamp", form)
    neurons, sep, value = rest.partition("=")
    if not sep or not value.strip():
        raise SpecError(f"--clamp {text!r}: expected {form}")
    value = value.strip()
    unit = "raw"
    if value.endswith(("σ", "s")):
        unit, value = "sigma", value[:-1]
    try:
        number = float(value)
    except ValueError:
        raise SpecError(f"--clamp {text!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise SpecError(f"--clamp {text!r}: {value!r} is not a finite number")
    return Intervention(
        neurons=_neuron_list(neurons, "--clamp", text),
        op="set",
        site=site,
        positions=positions or Positions.all(),
        value=number,
        unit=unit,
    )


def interventions_from_args(args: argparse.Namespace) -> list[Intervention]:
    """Spec files first, then ``--ablate`` and ``--clamp`` in the order given."""
    from neurotui.intervene.spec import load_spec

    positions = Positions.parse(getattr(args, "positions", "all") or "all")
    out: list[Intervention] = []
    for path in getattr(args, "intervene", None) or []:
        out.extend(load_spec(path))
    out.extend(parse_ablate(t, positions) for t in getattr(args, "ablate", None) or [])
    out.extend(parse_clamp(t, positions) for t in getattr(args, "clamp", None) or [])
    return out


def needs_store(interventions: Sequence[Intervention]) -> bool:
    """True when a σ unit must be resolved against a store."""
    return any(iv.unit == "sigma" for iv in interventions)
