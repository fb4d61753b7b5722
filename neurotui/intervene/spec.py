"""The Intervention value: which neurons to change, where, and how.

Why a plain value: the CLI reads it from JSON, the app builds it from a selection, the log
writes it and ``neurotui replay`` reads it back; one validated, JSON-serialisable shape keeps
those in step. Nothing here touches torch: binding to a model lives in ``bind.py`` and
applying it in ``apply.py``.

JSON form (one object, a list of them, or ``{"interventions": [...]}``)::

    {"site": "enc.l1.fw", "neurons": [217, 5], "positions": "all",
     "op": "set", "value": 2.0, "unit": "sigma"}

* ``site``: a site name of the model (``Backend.sites()``). May be omitted when every
  neuron is a readable name (``"enc.l1.fw:217"``) or a global id; the spec is then split
  into one intervention per site when it is bound to a model.
* ``neurons``: with a ``site``, integers are indices *within that site*; without one,
  integers are *global ids* in the model's site order (``Backend.neuron_offsets``).
  Strings are readable names ``<site>:<index>`` in both cases.
* ``positions``: ``"all"`` (every position, special tokens included), a list of word
  indices (negative counts from the end; for decoder sites: target steps), ``{"word": W}``
  (source words equal to ``W``), ``{"regex": R}`` (source words matching ``R``), or
  ``{"sentences": {"<source sentence>": [indices]}}`` (per-sentence positions, used by the
  control experiments; sentences not listed are left alone).
* ``op``: ``zero`` (value ignored), ``set`` (clamp to value), ``add``, ``scale`` (multiply),
  or the ablation kinds ``mean`` (replace by the neuron's corpus mean in a store) and
  ``resample`` (replace, per position, by the neurons' values on a random token of another
  sentence of a store; seeded). ``mean``/``resample`` take no value and need a store
  when bound; a bound ``mean`` is logged as the equivalent raw ``set``.
* ``value``: a number, or one number per neuron.
* ``unit``: ``raw``, or ``sigma``: for ``set`` the neuron is clamped to ``mean + value·std``
  of that neuron in a store, for ``add`` it is shifted by ``value·std``; ``scale`` and
  ``zero`` take no unit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from neurotui.errors import NeurotuiError

Op = Literal["zero", "set", "add", "scale", "mean", "resample"]
Unit = Literal["raw", "sigma"]
OPS: tuple[str, ...] = ("zero", "set", "add", "scale", "mean", "resample")
#: ops that remove a neuron's information and take no value (the ablation kinds)
ABLATIONS: tuple[str, ...] = ("zero", "mean", "resample")
UNITS: tuple[str, ...] = ("raw", "sigma")
NeuronRef = int | str

_KEYS = {"site", "neurons", "positions", "op", "value", "unit", "name"}


class SpecError(NeurotuiError):
    """An intervention spec that cannot be used (one line, naming the field)."""


@dataclass(frozen=True)
class Positions:
    """Where in the sequence an intervention applies.

    ``kind`` is ``all``, ``indices``, ``word``, ``regex`` or ``sentences``.
    """

    kind: str = "all"
    indices: tuple[int, ...] = ()
    pattern: str = ""
    per_sentence: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def all(cls) -> Positions:
        return cls("all")

    @classmethod
    def at(cls, indices: Iterable[int]) -> Positions:
        return cls("indices", indices=tuple(int(i) for i in indices))

    @classmethod
    def word(cls, word: str) -> Positions:
        return cls("word", pattern=word)

    @classmethod
    def regex(cls, pattern: str) -> Positions:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SpecError(f"positions: bad regex {pattern!r}: {exc}") from None
        return cls("regex", pattern=pattern)

    @classmethod
    def sentences(cls, mapping: Mapping[str, Iterable[int]]) -> Positions:
        return cls(
            "sentences",
            per_sentence={_norm(s): tuple(int(i) for i in v) for s, v in mapping.items()},
        )

    @classmethod
    def parse(cls, text: str) -> Positions:
        """Short form used by the CLI and the app: ``all``, ``0,2,-1``, ``word:W``, ``re:R``."""
        text = text.strip()
        if text in ("", "all", "*"):
            return cls.all()
        if text.startswith("word:"):
            return cls.word(text[5:])
        if text.startswith(("re:", "regex:")):
            return cls.regex(text.split(":", 1)[1])
        try:
            return cls.at(int(p) for p in text.split(",") if p.strip())
        except ValueError:
            raise SpecError(
                f"positions {text!r}: expected all, indices like 0,2,-1, word:W or re:R"
            ) from None

    @classmethod
    def from_json(cls, data: Any, where: str = "positions") -> Positions:
        if data is None or data == "all":
            return cls.all()
        if isinstance(data, str):
            return cls.parse(data)
        if isinstance(data, int) and not isinstance(data, bool):
            return cls.at([data])
        if isinstance(data, list):
            if not all(isinstance(i, int) and not isinstance(i, bool) for i in data):
                raise SpecError(f"{where}: a list of positions must hold integers")
            return cls.at(data)
        if isinstance(data, dict) and len(data) == 1:
            ((key, value),) = data.items()
            if key == "word" and isinstance(value, str):
                return cls.word(value)
            if key == "regex" and isinstance(value, str):
                return cls.regex(value)
            if key == "sentences" and isinstance(value, dict):
                for sent, idx in value.items():
                    if not isinstance(idx, list) or not all(
                        isinstance(i, int) and not isinstance(i, bool) for i in idx
                    ):
                        raise SpecError(f"{where}.sentences[{sent!r}]: expected a list of integers")
                return cls.sentences(value)
        raise SpecError(
            f'{where}: expected "all", a list of indices, {{"word": W}}, {{"regex": R}} '
            f'or {{"sentences": {{...}}}}, got {json.dumps(data)[:60]}'
        )

    def to_json(self) -> Any:
        if self.kind == "all":
            return "all"
        if self.kind == "indices":
            return list(self.indices)
        if self.kind in ("word", "regex"):
            return {self.kind: self.pattern}
        return {"sentences": {s: list(v) for s, v in self.per_sentence.items()}}

    def describe(self) -> str:
        """Short human form (the inverse of :meth:`parse` where one exists)."""
        if self.kind == "all":
            return "all"
        if self.kind == "indices":
            return ",".join(str(i) for i in self.indices)
        if self.kind == "word":
            return f"word:{self.pattern}"
        if self.kind == "regex":
            return f"re:{self.pattern}"
        return f"{len(self.per_sentence)} sentences"

    # -- evaluation -------------------------------------------------------------------
    def select(self, words: Sequence[str]) -> set[int] | None:
        """Word indices selected in a sentence of ``words``; ``None`` means every position.

        Negative indices count from the end; indices outside the sentence select nothing
        (``check`` reports them before a run).
        """
        n = len(words)
        if self.kind == "all":
            return None
        if self.kind == "indices":
            return {i + n if i < 0 else i for i in self.indices if -n <= i < n}
        if self.kind == "word":
            return {i for i, w in enumerate(words) if w == self.pattern}
        if self.kind == "regex":
            rx = re.compile(self.pattern)
            return {i for i, w in enumerate(words) if rx.search(w)}
        found = self.per_sentence.get(" ".join(words))
        return {i for i in found if 0 <= i < n} if found else set()

    def check(self, sentences: Sequence[str], where: str = "positions") -> None:
        """One-line error when an index is outside one of ``sentences`` (source side)."""
        if self.kind == "indices":
            for k, sent in enumerate(sentences):
                n = len(sent.split())
                for i in self.indices:
                    if not -n <= i < n:
                        raise SpecError(
                            f"{where}: position {i} is out of range for sentence {k + 1} "
                            f"({n} words)"
                        )
        elif self.kind == "sentences":
            for sent, idx in self.per_sentence.items():
                n = len(sent.split())
                bad = [i for i in idx if not 0 <= i < n]
                if bad:
                    raise SpecError(
                        f"{where}: position {bad[0]} is out of range for {sent[:40]!r} ({n} words)"
                    )


def _norm(sentence: str) -> str:
    return " ".join(sentence.split())


@dataclass(frozen=True)
class Intervention:
    """One change to some neurons of one site (or of named/global neurons, see module doc)."""

    neurons: tuple[NeuronRef, ...]
    op: str = "zero"
    site: str | None = None
    positions: Positions = field(default_factory=Positions.all)
    value: float | tuple[float, ...] | None = None
    unit: str = "raw"
    name: str | None = None

    def __post_init__(self) -> None:
        where = f"intervention{' ' + repr(self.name) if self.name else ''}"
        if self.op not in OPS:
            raise SpecError(f"{where}: op {self.op!r} is not one of {', '.join(OPS)}")
        if self.unit not in UNITS:
            raise SpecError(f"{where}: unit {self.unit!r} is not one of {', '.join(UNITS)}")
        if not self.neurons:
            raise SpecError(f"{where}: no neurons given")
        for ref in self.neurons:
            if isinstance(ref, bool) or not isinstance(ref, int | str):
                raise SpecError(f"{where}: neuron {ref!r} is neither an index nor a name")
            if isinstance(ref, int) and ref < 0:
                raise SpecError(f"{where}: neuron {ref} is negative")
            if isinstance(ref, str):
                split_name(ref, where)
        if self.op in ABLATIONS:
            if self.unit != "raw":
                raise SpecError(f"{where}: op {self.op} takes no unit (got {self.unit})")
        else:
            if self.value is None:
                raise SpecError(f"{where}: op {self.op} needs a value")
            if self.op == "scale" and self.unit != "raw":
                raise SpecError(f"{where}: op scale takes a raw factor; unit sigma is for set/add")
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        for v in values:
            if v is not None and not math.isfinite(v):
                raise SpecError(f"{where}: value {v} is not a finite number")
        if isinstance(self.value, tuple) and len(self.value) != len(self.neurons):
            raise SpecError(
                f"{where}: {len(self.value)} values for {len(self.neurons)} neurons "
                "(give one value, or one per neuron)"
            )

    # -- JSON -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, where: str = "intervention") -> Intervention:
        if not isinstance(data, dict):
            raise SpecError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = set(data) - _KEYS
        if unknown:
            raise SpecError(
                f"{where}: unknown field {sorted(unknown)[0]!r} (fields: {', '.join(sorted(_KEYS))})"
            )
        neurons = data.get("neurons")
        if isinstance(neurons, int | str) and not isinstance(neurons, bool):
            neurons = [neurons]
        if not isinstance(neurons, list):
            raise SpecError(f"{where}.neurons: expected a list of indices or names")
        site = data.get("site")
        if site is not None and not isinstance(site, str):
            raise SpecError(f"{where}.site: expected a site name")
        value = data.get("value")
        if isinstance(value, list):
            if not all(_is_number(v) for v in value):
                raise SpecError(f"{where}.value: expected numbers")
            value = tuple(float(v) for v in value)
            _check_finite(value, f"{where}.value")
        elif value is not None:
            if not _is_number(value):
                raise SpecError(f"{where}.value: expected a number, got {json.dumps(value)[:40]}")
            value = float(value)
            _check_finite((value,), f"{where}.value")
        name = data.get("name")
        return cls(
            neurons=tuple(neurons),
            op=str(data.get("op", "zero")),
            site=site,
            positions=Positions.from_json(data.get("positions", "all"), f"{where}.positions"),
            value=value,
            unit=str(data.get("unit", "raw")),
            name=str(name) if name is not None else None,
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.name is not None:
            data["name"] = self.name
        if self.site is not None:
            data["site"] = self.site
        data["neurons"] = list(self.neurons)
        data["positions"] = self.positions.to_json()
        data["op"] = self.op
        if self.value is not None:
            data["value"] = list(self.value) if isinstance(self.value, tuple) else self.value
        data["unit"] = self.unit
        return data

    def describe(self) -> str:
        """One short line for tables and notifications."""
        where = f"{self.site}:" if self.site else ""
        neurons = ",".join(str(n) for n in self.neurons[:6])
        if len(self.neurons) > 6:
            neurons += f",…(+{len(self.neurons) - 6})"
        if self.op in ABLATIONS:
            how = self.op
        else:
            value = "per-neuron" if isinstance(self.value, tuple) else f"{self.value:g}"
            how = f"{self.op} {value}{'σ' if self.unit == 'sigma' else ''}"
        return f"{where}[{neurons}] {how} @ {self.positions.describe()}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_finite(values: Sequence[float], where: str) -> None:
    """NaN and ±Inf are refused: Python's JSON reader accepts ``NaN``/``Infinity`` (and
    ``1e999`` overflows to inf), and a NaN clamp or scale silently poisons every later
    activation of the sentence."""
    for v in values:
        if not math.isfinite(v):
            raise SpecError(f"{where}: {v} is not a finite number")


def split_name(ref: str, where: str = "neuron") -> tuple[str, int]:
    """``"enc.l1.fw:217"`` → ``("enc.l1.fw", 217)``; a one-line error otherwise."""
    site, sep, index = ref.rpartition(":")
    if not sep or not site or not index.isdigit():
        raise SpecError(f"{where}: neuron {ref!r} is not a name like enc.l1.fw:217")
    return site, int(index)


def parse_spec(data: Any, where: str = "spec") -> list[Intervention]:
    """A spec document (object, list, or ``{"interventions": [...]}``) → interventions."""
    if isinstance(data, dict) and "interventions" in data:
        data = data["interventions"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise SpecError(f"{where}: expected an intervention object or a list of them")
    return [Intervention.from_dict(item, f"{where}[{k}]") for k, item in enumerate(data)]


def spec_to_json(interventions: Sequence[Intervention]) -> list[dict[str, Any]]:
    """Inverse of :func:`parse_spec`."""
    return [iv.to_dict() for iv in interventions]


def load_spec(path: str) -> list[Intervention]:
    """Read a spec file; errors name the file (and the line for JSON syntax errors)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read intervention spec ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    try:
        return parse_spec(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def save_spec(path: str, interventions: Sequence[Intervention]) -> None:
    """Write a spec file atomically (see :mod:`neurotui.atomicfile`)."""
    from neurotui.atomicfile import write_text

    text = json.dumps({"interventions": spec_to_json(interventions)}, indent=2, ensure_ascii=False)
    write_text(path, text + "\n", error=SpecError, make_parents=True)
