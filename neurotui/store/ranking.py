"""The Ranking value: an ordered list of neurons and everything known about the order.

Why a plain value: rankings are computed in a worker, saved inside the store, exported to
JSON/CSV and shown by the app; one serialisable shape keeps those in step. It lives in
``store/`` because stores hold rankings: the analysis code that computes them sits above
and imports it from here, never the other way round.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT_VERSION = 1
#: the ranking methods ``compute_ranking`` knows (here, with no heavy imports, so the CLI's
#: ``--help`` can list them)
METHODS = (
    "probe",
    "maxcorr",
    "mincorr",
    "linreg",
    "svcca",
    "variance",
    "meandist",
    "probeless",
    "random",
)
#: the cross-model ones among them (Bau et al. 2019)
CROSS_MODEL_METHODS = ("maxcorr", "mincorr", "linreg", "svcca")


@dataclass
class Partner:
    """A neuron's best-correlated neuron in another model."""

    model: str  # the other store's name
    neuron: int  # global id in the other store
    r: float  # Pearson correlation (signed)


@dataclass
class Ranking:
    """Neurons ordered from most to least important.

    ``bands[k]`` is the cutoff band of ``order[k]`` (Algorithm 1 adds neurons in bands whose
    inner order is arbitrary: equal band numbers are ties); ``None`` when the method gives a
    strict order. ``scores[k]`` belongs to ``order[k]``. ``per_class`` maps a class label to
    its own ordering. ``partners[neuron_id]`` lists the best partner in each other model.
    """

    method: str
    order: list[int]
    params: dict[str, Any] = field(default_factory=dict)
    task: str | None = None
    scores: list[float] | None = None
    bands: list[int] | None = None
    per_class: dict[str, list[int]] | None = None
    evaluation: dict[str, Any] | None = None
    partners: dict[int, list[Partner]] | None = None
    neuron_names: list[str] | None = None  # names for order[k], for readable exports

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``order`` first: the most important neuron first)."""
        data = asdict(self)
        data["format_version"] = FORMAT_VERSION
        if self.partners is not None:
            data["partners"] = {str(k): [asdict(p) for p in v] for k, v in self.partners.items()}
        return data

    def to_json(self) -> str:
        """Serialise to JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ranking:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data.pop("format_version", None)
        partners = data.pop("partners", None)
        ranking = cls(**data)
        if partners is not None:
            ranking.partners = {int(k): [Partner(**p) for p in v] for k, v in partners.items()}
        return ranking

    @classmethod
    def from_json(cls, text: str) -> Ranking:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def rank_of(self, neuron: int) -> int:
        """0-based position of ``neuron`` in the order."""
        return self.order.index(neuron)

    def top(self, n: int) -> list[int]:
        """The ``n`` most important neurons."""
        return self.order[:n]

    def bottom(self, n: int) -> list[int]:
        """The ``n`` least important neurons (least important first)."""
        return list(reversed(self.order[-n:])) if n else []
