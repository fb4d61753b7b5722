"""Saturation check behind the ablation-kinds table (issue 14): top vs bottom neurons.

    nice -n 10 python bench/ablation_saturation.py [MODEL] [--steps 10,25,50]

For each N, the top-N and bottom-N neurons of the default ablation ranking (MaxCorr against
the bundled siblings for synth-en-fr-1): mean |mean|, mean σ, the share of tokens at
|value| > 0.95 and how many neurons are saturated on most tokens. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json

from neurotui.analysis.saturation import saturation
from neurotui.intervene.bind import store_names
from neurotui.intervene.workflows import ablation_ranking, open_store
from neurotui.models.registry import load_backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", nargs="?", default="synth-en-fr-1")
    parser.add_argument("--steps", default="10,25,50,100,200")
    args = parser.parse_args()
    backend = load_backend(args.model, "cpu")
    store = open_store(None, backend, required=True, why="the saturation check")
    assert store is not None
    ranking, name = ablation_ranking(backend, store)
    names = store_names(store, ranking.order)
    doc: dict = {"model": args.model, "ranking": name, "all": saturation(store, names).summary()}
    for n in (int(s) for s in args.steps.split(",")):
        doc[f"top{n}"] = saturation(store, names[:n]).summary()
        doc[f"bottom{n}"] = saturation(store, names[::-1][:n]).summary()
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
