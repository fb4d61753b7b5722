"""Benchmark interventions on the bundled LSTM (issue: interventions, "Speed").

Targets on CPU: clamp + re-translate one sentence p50 ≤ 100 ms; an ablation curve of 10
points (baseline + top/bottom/random × 3 steps) over 500 sentences ≤ 60 s.

    NEUROTUI_THREADS=1 nice -n 10 .venv/bin/python bench/bench_intervene.py [--model synth-en-fr-1]
        [--device cpu] [--repeats 30] [--sentences 500] [--json] [--results]

``--results`` then prints the figures the README quotes (ablation curve top/bottom/random
with the default ranking, control flip rates for tense/number/gender), a few minutes of CPU.

The clamp uses 10 neurons of every encoder site set to +2σ (the sample store's statistics
when present, else raw 2.0) at word 2 of the first test sentence; the ablation ranking is
the sample store's first saved ranking, or a seeded random order when the store has none
(speed does not depend on which neurons are zeroed). Wall time and the process's CPU time
are both reported, with the load average: on a shared box the wall time mostly measures
the other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="synth-en-fr-1")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--results",
        action="store_true",
        help="also print the README figures: `neurotui ablate MODEL --steps 10,25,50,100,200` "
        "(default ranking) and `neurotui control MODEL --task all`",
    )
    args = parser.parse_args(argv)

    import numpy as np

    from neurotui.device import describe_device
    from neurotui.errors import NeurotuiError
    from neurotui.intervene.ablation import plan_ablation, run_ablation
    from neurotui.intervene.apply import DecodeSettings, translate
    from neurotui.intervene.bind import bind
    from neurotui.intervene.spec import Intervention, Positions
    from neurotui.intervene.workflows import heldout, open_store
    from neurotui.models.registry import load_backend
    from neurotui.store.ranking import Ranking

    backend = load_backend(args.model, args.device)
    store = open_store(None, backend, required=False, why="")
    try:
        sources, references, origin = heldout(backend)
    except NeurotuiError:  # a model without a card: the synthetic test split
        from neurotui.intervene.workflows import read_lines
        from neurotui.paths import samples_dir

        origin = str(samples_dir() / "synth-data" / "test.en")
        sources, references = read_lines(origin), read_lines(origin[:-3] + ".fr")
    sources, references = sources[: args.sentences], (references or [])[: args.sentences]
    sentence = sources[0]
    settings = DecodeSettings()

    # -- clamp + re-translate one sentence ------------------------------------------------
    use_sigma = store is not None and store.stats is not None
    spec = [
        Intervention(
            neurons=tuple(range(10)),
            site=s.name,
            op="set",
            value=2.0,
            unit="sigma" if use_sigma else "raw",
            positions=Positions.at([2]),
        )
        for s in backend.sites()
        if s.side == "encoder"
    ]
    translate(backend, [sentence], (), settings)  # warm up
    times, cpu = [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        bound = bind(spec, backend, store, sentences=[sentence])
        translate(backend, [sentence], bound, settings)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    clamp_ms = {
        "p50": 1000 * statistics.median(times),
        "p90": 1000 * float(np.percentile(times, 90)),
        "min": 1000 * min(times),
        "cpu_p50": 1000 * statistics.median(cpu),
    }

    # -- ablation curve: 10 points over the test set --------------------------------------
    ranking = None
    if store is not None and store.rankings:
        ranking = next(iter(store.rankings.values()))
    if ranking is None:
        total = sum(s.size for s in backend.sites() if s.side == "encoder")
        order = np.random.default_rng(0).permutation(total).tolist()
        ranking = Ranking(method="random-order", order=[int(i) for i in order])
        plan = plan_ablation(ranking, [10, 50, 100], backend=backend)
    else:
        plan = plan_ablation(ranking, [10, 50, 100], store=store)
    t0, c0 = time.perf_counter(), time.process_time()
    curve = run_ablation(backend, plan, sources, references, settings=settings)
    ablation_s = time.perf_counter() - t0
    ablation_cpu = time.process_time() - c0
    if store is not None:
        store.close()

    result = {
        "model": backend.name,
        "device": describe_device(backend.device),
        "clamp_retranslate_ms": {k: round(v, 2) for k, v in clamp_ms.items()},
        "clamp_unit": "sigma" if use_sigma else "raw",
        "ablation_points": len(curve.points) + 1,
        "ablation_sentences": len(sources),
        "ablation_seconds": round(ablation_s, 2),
        "ablation_cpu_seconds": round(ablation_cpu, 2),
        "load_average": os.getloadavg()[0],
        "ablation_ranking": ranking.method,
        "ablation": curve.to_dict(),
        "targets": {"clamp_p50_ms": 100, "ablation_s": 60},
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 0
    print(f"{backend.name} on {result['device']}, load average {result['load_average']:.1f}")
    print(
        f"clamp + re-translate one sentence: p50 {clamp_ms['p50']:.1f} ms, "
        f"p90 {clamp_ms['p90']:.1f} ms, CPU time p50 {clamp_ms['cpu_p50']:.1f} ms "
        f"({args.repeats} runs; target p50 ≤ 100 ms)"
    )
    print(
        f"ablation curve: {result['ablation_points']} points × {len(sources)} sentences in "
        f"{ablation_s:.1f} s wall, {ablation_cpu:.1f} s CPU (target ≤ 60 s; ranking "
        f"{ranking.method}, {origin})"
    )
    print(curve.table())
    if args.results:
        from neurotui.cli import main as cli

        for command in (
            ["ablate", args.model, "--steps", "10,25,50,100,200", "--no-log"],
            ["control", args.model, "--task", "all", "--examples", "1", "--no-log"],
        ):
            print(f"\n$ neurotui {' '.join(command)}", flush=True)
            status = cli([*command, "--device", args.device])
            if status:
                return status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
