"""Long monkey storms on the app: random keys through Pilot, RSS before and after.

The CI test (``tests/tui/test_tui_monkey.py``) presses 1,200 keys on the sample store; this
runs the same storm longer (default 20,000 keys) and prints, per run, the keys per mode,
the time, and the resident size after the warm-up and after the storm (runner work
cancelled and waited for; trimmed with ``malloc_trim`` and as it was), plus the RSS every
1,000 keys (untrimmed), so a slow leak shows as a slope.
Run niced, by hand: ``nice -n 10 .venv/bin/python bench/bench_monkey.py [--keys N]``.
Config, cache (but the sample store's) and the intervention log go to a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=20_000, help="keys per storm")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--store", type=Path, help="store to run on (default: the sample)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    from neurotui.store.samples import sample_store

    source = args.store or sample_store()  # built in the real cache on first use
    tmp = Path(tempfile.mkdtemp(prefix="neurotui-monkey-"))
    os.environ.update(
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_CACHE_HOME=str(tmp / "cache"),
        NEUROTUI_INTERVENTION_LOG=str(tmp / "log.jsonl"),
    )
    store = Path(shutil.copy(source, tmp / Path(source).name))

    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.testing import monkey, monkey_keys

    app = NeurotuiApp([store], device="cpu")
    here = Path.cwd()
    os.chdir(tmp)  # a storm can type a relative name into the patch mode's export prompt
    try:
        report = asyncio.run(monkey(app, monkey_keys(args.keys, args.seed), warmup=args.warmup))
    finally:
        os.chdir(here)
    print(report.summary())
    print("RSS every 1,000 keys (MiB):", [(k, round(r / 2**20)) for k, r in report.rss_trace][::10])
    print("internal errors:", report.internal_errors or "none")
    print("modes after the storm:", report.final, "q quits:", report.quit)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "keys": report.keys,
                    "seconds": round(report.seconds, 1),
                    "per_mode": report.per_mode,
                    "rss_before_mib": round(report.rss_before / 2**20, 1),
                    "rss_after_mib": round(report.rss_after / 2**20, 1),
                    "untrimmed_before_mib": round(report.raw_before / 2**20, 1),
                    "untrimmed_after_mib": round(report.raw_after / 2**20, 1),
                    "rss_trace_mib": [(k, round(r / 2**20, 1)) for k, r in report.rss_trace],
                },
                indent=2,
            )
        )
    shutil.rmtree(tmp, ignore_errors=True)
    ok = not report.internal_errors and report.quit
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
