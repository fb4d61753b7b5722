"""The paper-style findings on a set of models' stores, as one document.

What it checks (Dalvi et al. 2019 and Bau et al. 2019, scaled down to the sample models):

1. Probe accuracy beside the word-majority baseline, per label task (Table 1).
2. Masking-out and retraining with the probe's top / bottom / random 10 % (Tables 2, 4):
   top ≫ bottom.
3. A position neuron: the probe's top neuron for begin/middle/end of the sentence, how
   strongly it tracks the token index, and where the cross-model ranking puts it.
4. Tense and number neurons: each class's top neuron and its top words; how many neurons
   each class needs for 25 % of its weight (Figure 6); neurons shared between classes and
   between tasks.
5. Cross-model ranking (MaxCorr, MinCorr) of the first model against the others, and its
   top-50 overlap with the single-model variance / distance-from-mean rankings (the paper
   found < 10 %).

:func:`build_report` takes open stores (so tests can feed synthetic ones);
``neurotui report`` feeds it the sample models' stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from neurotui.analysis.cli_support import pct
from neurotui.analysis.progress import ProgressFn

if TYPE_CHECKING:  # pragma: no cover
    from neurotui.store.api import Store

POSITION3 = "position (begin/middle/end)"
DEFAULT_TASKS = ("pos", "tense", "number")


def _probe(
    store: Store, task: str | None, labels: Any, cfg: Any, progress: ProgressFn | None
) -> Any:
    from neurotui.analysis.data import load_probe_data
    from neurotui.analysis.linguistic import run_probe

    data = load_probe_data(store, task, labels, seed=cfg.seed, progress=progress)
    return run_probe(data, cfg, progress=progress)


def position_correlations(store: Store, chunk_tokens: int = 16384) -> np.ndarray:
    """Pearson r of every neuron with the token's index in its sentence (one pass)."""
    lengths = np.asarray(store.sentence_lengths())
    pos = np.concatenate([np.arange(n) for n in lengths]).astype(np.float64)
    n = store.neuron_count
    sx, sxx, sxp = np.zeros(n), np.zeros(n), np.zeros(n)
    shift = None
    for start, block in store.iter_chunks(None, chunk_tokens):
        b = np.where(np.isfinite(block), block, 0.0).astype(np.float64)
        if shift is None:
            shift = b[: min(len(b), 1024)].mean(0)
        b -= shift
        p = pos[start : start + len(b)] - pos.mean()
        sx += b.sum(0)
        sxx += np.einsum("ij,ij->j", b, b)
        sxp += p @ b
    t = max(pos.size, 1)
    var_x = sxx / t - (sx / t) ** 2
    cov = sxp / t  # p is centred, so E[p]·E[x] vanishes
    std_p = pos.std()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / (np.sqrt(np.maximum(var_x, 0)) * std_p)
    return np.nan_to_num(r)


def build_report(
    stores: Sequence[Store],
    names: Sequence[str] | None = None,
    *,
    tasks: Sequence[str] = DEFAULT_TASKS,
    device: str = "auto",
    seed: int = 0,
    top_k: int = 50,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Findings for ``stores[0]`` (cross-model parts use the others) as a JSON-ready dict."""
    from neurotui.analysis import crossmodel
    from neurotui.analysis.baselines import meandist_ranking, variance_ranking
    from neurotui.analysis.corpus_stats import CorpusIndex
    from neurotui.analysis.data import position_labels
    from neurotui.analysis.evaluation import masking_table, retraining_table
    from neurotui.analysis.ordering import top_neurons_per_class
    from neurotui.analysis.overlap import top_k_overlap
    from neurotui.analysis.probe import ProbeConfig

    primary = stores[0]
    names = list(names) if names else crossmodel.model_names(stores)
    cfg = ProbeConfig(seed=seed, device=device)
    doc: dict[str, Any] = {"model": names[0], "models": names, "tasks": {}}
    available = [t for t in tasks if t in primary.label_tasks]
    doc["missing_tasks"] = [t for t in tasks if t not in primary.label_tasks]
    index = CorpusIndex(primary)

    # 1 + 4: probe per task, majority baseline, per-class top neurons with their words.
    analyses = {}
    for task in available:
        res = _probe(primary, task, None, cfg, progress)
        analyses[task] = res
        tops = top_neurons_per_class(res.probe.weight, res.probe.classes, 0.25)
        per_class = {}
        for c, cols in tops.items():
            if not cols:
                continue
            gid = int(res.data.neurons[cols[0]])
            per_class[c] = {
                "neuron": gid,
                "name": primary.neuron_name(gid),
                "neurons_for_25pct_mass": len(cols),
                "top_words": [w.word for w in index.signed_words(gid, 5, min_count=3)],
                "bottom_words": [
                    w.word for w in index.signed_words(gid, 5, bottom=True, min_count=3)
                ],
            }
        doc["tasks"][task] = {
            "accuracy": res.accuracy.get("test"),
            "majority": res.majority.get("test"),
            "classes": len(res.probe.classes),
            "test_tokens": res.data.counts[2],
            "per_class_top": per_class,
        }

    # Shared neurons between the classes of a task and between tasks (25 % mass tops).
    from neurotui.analysis.overlap import shared_between_classes, shared_between_tasks

    tops_by_task = {
        task: {
            c: [int(res.data.neurons[i]) for i in cols]
            for c, cols in top_neurons_per_class(res.probe.weight, res.probe.classes, 0.25).items()
        }
        for task, res in analyses.items()
    }
    shared: dict[str, Any] = {"between_classes": {}, "between_tasks": {}}
    for task, tops in tops_by_task.items():
        pairs = shared_between_classes(tops)["pairs"]
        shared["between_classes"][task] = [
            {"a": p["a"], "b": p["b"], "count": len(p["shared"])} for p in pairs[:3]
        ]
    names_t = list(tops_by_task)
    for i, ta in enumerate(names_t):
        for tb in names_t[i + 1 :]:
            cross_t = shared_between_tasks(tops_by_task[ta], tops_by_task[tb])
            shared["between_tasks"][f"{ta}/{tb}"] = {
                "neurons": len(cross_t["shared_overall"]),
                "top_pairs": [
                    {"a": p["a"], "b": p["b"], "count": len(p["shared"])}
                    for p in cross_t["pairs"][:3]
                ],
            }
    doc["shared"] = shared

    # 2: masking and retraining on the first task (the paper uses POS).
    if available:
        task = available[0]
        res = analyses[task]
        order = [int(res.data.neurons[i]) for i in res.ordering.order]
        doc["ablation"] = {
            "task": task,
            "masking": masking_table(res.probe, res.data, order, (10,), seed=seed),
            "retraining": retraining_table(
                res.data,
                order,
                (10,),
                replace(cfg),
                seed=seed,
                all_accuracy=res.accuracy.get("test"),
            ),
        }

    # 3: the position neuron: the neuron most correlated with the token index, and where
    # the begin/middle/end probe (and below, the cross-model ranking) puts it.
    pos = _probe(primary, POSITION3, position_labels(primary.sentence_lengths()), cfg, progress)
    r_pos = position_correlations(primary)
    best = int(np.argmax(np.abs(r_pos)))
    pos_order = [int(pos.data.neurons[i]) for i in pos.ordering.order]
    from neurotui.analysis.probeless import probeless_ranking

    probeless_order = probeless_ranking(pos.data).order
    doc["position"] = {
        "accuracy": pos.accuracy.get("test"),
        "majority": pos.majority.get("test"),
        "neuron": best,
        "name": primary.neuron_name(best),
        "r_with_index": float(r_pos[best]),
        "probe_rank": pos_order.index(best) + 1,
        "probeless_rank": probeless_order.index(best) + 1,
        "probe_top": [
            {"neuron": n, "name": primary.neuron_name(n), "r_with_index": float(r_pos[n])}
            for n in pos_order[:5]
        ],
    }
    pos_neuron = best

    # 5: cross-model rankings vs single-model baselines.
    if len(stores) >= 2:
        stats = crossmodel.accumulate(stores, device=device, progress=progress)
        neuron_names = [primary.neuron_name(i) for i in range(primary.neuron_count)]
        var = variance_ranking(primary)
        mean = meandist_ranking(primary)
        k = min(top_k, primary.neuron_count)
        cross: dict[str, Any] = {}
        for method in ("maxcorr", "mincorr"):
            r = crossmodel.cross_ranking(stats, 0, method, names, neuron_names)
            assert r.scores is not None and r.partners is not None  # cross rankings carry both
            top = r.order[0]
            cross[method] = {
                "top": [
                    {
                        "neuron": int(n),
                        "name": neuron_names[n],
                        "score": float(r.scores[i]),
                        "position_r": float(r_pos[int(n)]),
                    }
                    for i, n in enumerate(r.order[:5])
                ],
                "top_neuron_partners": [p.__dict__ for p in r.partners[top]],
                "overlap_variance": top_k_overlap(r, var, k)["fraction"],
                "overlap_meandist": top_k_overlap(r, mean, k)["fraction"],
                "position_neuron_rank": r.rank_of(pos_neuron) + 1,
                "k": k,
            }
        doc["crossmodel"] = cross
    return doc


def format_report(doc: dict[str, Any]) -> str:
    """The findings as plain text (what ``neurotui report`` prints)."""
    lines = [f"Findings on {doc['model']} (models: {', '.join(doc['models'])})", ""]
    lines.append("1. Probe accuracy vs word-majority baseline (test, %) — Table 1")
    for task, t in doc["tasks"].items():
        verdict = "above" if (t["accuracy"] or 0) > (t["majority"] or 0) else "NOT above"
        lines.append(
            f"   {task:<8} probe {pct(t['accuracy']):>5}  majority {pct(t['majority']):>5}  "
            f"({t['classes']} classes, {t['test_tokens']} tokens) → {verdict} the baseline"
        )
    p = doc.get("position")
    if p:
        lines.append(f"   position probe {pct(p['accuracy'])}  majority {pct(p['majority'])}")
    if doc.get("missing_tasks"):
        lines.append(f"   (tasks not in the store: {', '.join(doc['missing_tasks'])})")
    ab = doc.get("ablation")
    if ab:
        m, r = ab["masking"], ab["retraining"]
        lines.append("")
        lines.append(f"2. Keeping 10 % of neurons, task {ab['task']} (test, %) — Tables 2 and 4")
        lines.append(
            f"   masking-out: all {pct(m['all'])}  top {pct(m['top'][0])}  bottom "
            f"{pct(m['bottom'][0])}  random {pct(m['random'][0])}"
        )
        lines.append(
            f"   retraining:  all {pct(r['all'])}  top {pct(r['top'][0])}  bottom "
            f"{pct(r['bottom'][0])}  random {pct(r['random'][0])}"
        )
        gap = m["top"][0] - m["bottom"][0]
        lines.append(f"   top − bottom (masking) = {100 * gap:.1f} points")
    if p:
        lines.append("")
        lines.append("3. Position neuron")
        lines.append(
            f"   most position-correlated neuron: {p['name']} (id {p['neuron']}), r with token "
            f"index {p['r_with_index']:+.3f}; rank {p['probe_rank']} in the begin/middle/end "
            f"probe ranking, {p['probeless_rank']} in the probeless one"
        )
        tops = ", ".join(f"{t['name']} (r {t['r_with_index']:+.2f})" for t in p["probe_top"])
        lines.append(f"   probe's top 5: {tops}")
        for method, c in (doc.get("crossmodel") or {}).items():
            lines.append(f"   its rank in the {method} ranking: {c['position_neuron_rank']}")
    lines.append("")
    lines.append("4. Per-class top neurons (first neuron at 25 % weight mass) and their words")
    for task, t in doc["tasks"].items():
        for c, v in t["per_class_top"].items():
            lines.append(
                f"   {task}:{c:<10} {v['name']:<16} ({v['neurons_for_25pct_mass']:>3} neurons "
                f"for 25 %)  high: {' '.join(v['top_words'])}  low: {' '.join(v['bottom_words'])}"
            )
    sh = doc.get("shared")
    if sh:
        for task, pairs in sh["between_classes"].items():
            if pairs:
                txt = ", ".join(f"{p['a']}∩{p['b']} {p['count']}" for p in pairs)
                lines.append(f"   shared between {task} classes: {txt}")
        for pair, v in sh["between_tasks"].items():
            txt = ", ".join(f"{p['a']}∩{p['b']} {p['count']}" for p in v["top_pairs"])
            lines.append(f"   shared between tasks {pair}: {v['neurons']} neurons ({txt})")
    cross = doc.get("crossmodel")
    if cross:
        lines.append("")
        lines.append("5. Cross-model ranking vs single-model baselines")
        for method, c in cross.items():
            tops = ", ".join(
                f"{t['name']} ({t['score']:.2f}, pos r {t['position_r']:+.2f})" for t in c["top"]
            )
            lines.append(f"   {method} top 5: {tops}")
            lines.append(
                f"   {method} top-{c['k']} overlap: variance {100 * c['overlap_variance']:.0f} %, "
                f"distance from mean {100 * c['overlap_meandist']:.0f} %"
            )
    return "\n".join(lines)
