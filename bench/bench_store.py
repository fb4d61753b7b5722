"""Benchmark of the activation store against a plain h5py read of the same data.

Builds a synthetic store (default: 2,000 sentences × 25 tokens × 13 sites × 768 neurons,
float32 ≈ 2 GB) in a temporary folder, plus the same data in NeuroX's layout, and measures:

* open time, one sentence (all sites), one neuron's stored summary, one neuron's column;
* the full streaming summary pass vs a plain h5py read of the same datasets (both in a
  fresh subprocess, wall and CPU time, peak RSS);
* NeuroX hdf5 → ours conversion (with and without the summaries computed on the way) vs a
  plain h5py read of the NeuroX file, vs writing as many bytes straight to disk and
  fsync'ing them (the floor any converter that writes the data durably has on this disk),
  and vs a plain h5py copy (read, write into per-layer datasets, fsync);
* extraction throughput of the bundled sample LSTM (when it is present).

Usage::

    nice python bench/bench_store.py [--sentences 2000] [--tokens 25] [--sites 13]
        [--size 768] [--json OUT.json] [--dir DIR] [--repeat 3]

Timings on a shared machine are noisy: passes are repeated (``--repeat``) and the fastest
run of each kind is reported, with CPU time beside wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Code run in a child process: prints one JSON line {wall, cpu, rss_mb, ...}.
_CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
task, path = sys.argv[1], sys.argv[2]
import h5py
import neurotui.store as ns
from neurotui.store.convert import convert
t0, c0 = time.perf_counter(), time.process_time()
extra = {{}}
if task == "plain-ours":
    with h5py.File(path, "r") as f:
        total = 0
        for name in f["activations"]:
            ds = f["activations"][name]
            for s in range(0, ds.shape[0], 8192):
                total += ds[s:s + 8192].size
    extra["values"] = total
elif task == "plain-neurox":
    with h5py.File(path, "r") as f:
        mapping = json.loads(f["sentence_to_index"][0])
        total = 0
        for key in mapping.values():
            total += f[key][()].size
    extra["values"] = total
elif task == "plain-copy":
    # The hand-written floor of a conversion: plain h5py reads of the NeuroX datasets,
    # written into per-layer datasets chunked like ours, then fsync'd as ours is.
    import os
    with h5py.File(path, "r") as f, h5py.File(sys.argv[3], "w") as out:
        mapping = json.loads(f["sentence_to_index"][0])
        keys = list(mapping.values())
        layers, _, hidden = f[keys[0]].shape
        total = sum(f[k].shape[1] for k in keys)
        dss = [out.create_dataset("l%d" % j, (total, hidden), "f4", chunks=(64, hidden))
               for j in range(layers)]
        row = 0
        for key in keys:
            arr = f[key][()]
            for j, ds in enumerate(dss):
                ds[row:row + arr.shape[1]] = arr[j]
            row += arr.shape[1]
    fd = os.open(sys.argv[3], os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
elif task == "disk-write":
    # The floor of any durable conversion on this disk: as many bytes as the NeuroX file
    # holds, written straight to disk (O_DIRECT where the file system allows it, 12 MiB a
    # time, no reading, no computing) and fsync'd.
    import mmap, os
    size = 12 << 20
    total = os.path.getsize(path)
    buf = mmap.mmap(-1, size)
    buf.write(b"\1" * size)
    try:
        fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT)
        extra["direct"] = True
    except (OSError, AttributeError):
        fd = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        extra["direct"] = False
    for off in range(0, total, size):
        os.pwritev(fd, [buf], off)
    os.fsync(fd)
    os.close(fd)
elif task == "summary":
    with ns.open(path) as store:
        summary = store.compute_summary()
        extra["mean0"] = float(summary.stats.mean[0])
elif task == "convert":
    convert(path, sys.argv[3], summary=True)
elif task == "convert-nosummary":
    convert(path, sys.argv[3], summary=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
# VmHWM: the peak of this process only (ru_maxrss keeps the parent's peak across exec)
rss = 0.0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        rss = int(line.split()[1]) / 1024
print(json.dumps(dict(wall=wall, cpu=cpu, rss_mb=rss, **extra)))
"""


def child(task: str, *args: str) -> dict:
    code = _CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, task, *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"child {task} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(runs: list[dict]) -> dict:
    """The fastest run (wall), keeping the largest RSS seen."""
    fastest = dict(min(runs, key=lambda r: r["wall"]))
    fastest["cpu"] = min(r["cpu"] for r in runs)
    fastest["rss_mb"] = max(r["rss_mb"] for r in runs)
    return fastest


def build(folder: Path, sentences: int, tokens: int, sites: int, size: int) -> tuple[Path, Path]:
    """Write the synthetic store (ours, no summary yet) and the same data as NeuroX hdf5."""
    import h5py

    from neurotui.store.writer import StoreWriter

    rng = np.random.default_rng(0)
    names = [(f"l{j}", size) for j in range(sites)]
    ours = folder / "synthetic.h5"
    nx = folder / "synthetic.hdf5"
    mapping: dict[str, str] = {}
    block = 100  # sentences generated at once
    t0 = time.perf_counter()
    with StoreWriter(ours, names) as writer, h5py.File(nx, "w") as nxf:
        for start in range(0, sentences, block):
            n = min(block, sentences - start)
            data = rng.standard_normal((n, tokens, sites * size), dtype=np.float32)
            data *= np.linspace(0.5, 2.0, sites * size, dtype=np.float32)
            for j in range(n):
                i = start + j
                toks = [f"w{i}_{t}" for t in range(tokens)]
                writer.add(toks, data[j])
                nxf.create_dataset(
                    str(i), data=data[j].reshape(tokens, sites, size).transpose(1, 0, 2)
                )
                mapping[" ".join(toks)] = str(i)
        ds = nxf.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype("utf-8"))
        ds[0] = json.dumps(mapping)
        writer.finish(summary=False)
    print(
        f"built {ours.stat().st_size / 2**30:.2f} GiB + NeuroX copy in {time.perf_counter() - t0:.1f} s"
    )
    return ours, nx


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def interactive(path: Path, repeat: int) -> dict:
    """Open, one sentence, one neuron's summary, one neuron's column (in this process)."""
    import neurotui.store as ns

    opens = []
    for _ in range(max(3, repeat)):
        t = time.perf_counter()
        store = ns.open(path)
        opens.append(time.perf_counter() - t)
        store.close()
    rng = np.random.default_rng(1)
    with ns.open(path) as store:
        sent = []
        for i in rng.integers(0, store.sentences, 200):
            t = time.perf_counter()
            store.activations(int(i))
            sent.append(time.perf_counter() - t)
        neuron = []
        for n in rng.integers(0, store.neuron_count, 100):
            t = time.perf_counter()
            store.neuron_summary(int(n))
            neuron.append(time.perf_counter() - t)
        column = []
        for n in rng.integers(0, store.neuron_count, 20):
            t = time.perf_counter()
            store.neuron_values(int(n))
            column.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.stats  # noqa: B018 - all summaries at once (what the app loads)
        all_stats = time.perf_counter() - t
    return {
        "open_s": float(np.median(opens)),
        "sentence_ms_median": float(np.median(sent) * 1e3),
        "sentence_ms_p95": float(np.percentile(sent, 95) * 1e3),
        "neuron_summary_ms_median": float(np.median(neuron) * 1e3),
        "neuron_summary_ms_p95": float(np.percentile(neuron, 95) * 1e3),
        "neuron_column_ms_median": float(np.median(column) * 1e3),
        "all_stats_load_s": all_stats,
    }


def extraction(folder: Path) -> dict | None:
    """Tokens/s of the bundled sample LSTM over its analysis text (CPU; GPU if present)."""
    from neurotui.paths import samples_dir

    model = samples_dir() / "synth-en-fr-1"
    text = samples_dir() / "synth-data" / "analysis.en"
    if not (model / "config.json").is_file() or not text.is_file():
        return None
    from neurotui.store.extract import extract

    out = {}
    for device in ("cpu", "cuda"):
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                continue
        result = extract(model, text, folder / f"extract-{device}.h5", device=device, batch_size=64)
        tokens = sum(result.tokens.values())
        out[device] = {
            "tokens": tokens,
            "seconds": result.seconds,
            "tokens_per_s": tokens / result.seconds,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=25)
    parser.add_argument("--sites", type=int, default=13)
    parser.add_argument("--size", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--skip-extract", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="reuse the files built in --dir")
    args = parser.parse_args()

    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-store-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        ours, nx = folder / "synthetic.h5", folder / "synthetic.hdf5"
        if not (args.reuse and ours.is_file() and nx.is_file()):
            ours, nx = build(folder, args.sentences, args.tokens, args.sites, args.size)
        gb = ours.stat().st_size / 1e9
        # summary pass vs plain read (fresh processes, alternating, fastest kept)
        plain, summ = [], []
        for _ in range(args.repeat):
            plain.append(child("plain-ours", str(ours)))
            summ.append(child("summary", str(ours)))
        plain_b, summ_b = best(plain), best(summ)
        # store the summary so the interactive figures read it
        from neurotui.store.edit import save_summary

        t = time.perf_counter()
        save_summary(ours)
        save_s = time.perf_counter() - t
        inter = interactive(ours, args.repeat)
        # NeuroX → ours
        # Each writer starts with no dirty pages left over from the one before (os.sync),
        # so none pays for another's writeback.
        nplain, conv, conv_ns, copies, disk = [], [], [], [], []
        for _ in range(args.repeat):
            nplain.append(child("plain-neurox", str(nx)))
            for runs, task in (
                (conv, "convert"),
                (conv_ns, "convert-nosummary"),
                (disk, "disk-write"),
            ):
                os.sync()
                runs.append(child(task, str(nx), str(folder / "conv.h5")))
                (folder / "conv.h5").unlink()
        for _ in range(args.repeat):
            os.sync()
            copies.append(child("plain-copy", str(nx), str(folder / "copy.h5")))
            (folder / "copy.h5").unlink()
        nplain_b, conv_b, convns_b = best(nplain), best(conv), best(conv_ns)
        disk_b = best(disk)
        copy_b = best(copies)
        ext = None if args.skip_extract else extraction(folder)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)

    values = args.sentences * args.tokens * args.sites * args.size
    results = {
        "config": {
            "sentences": args.sentences,
            "tokens": args.tokens,
            "sites": args.sites,
            "size": args.size,
            "values": values,
            "store_gb": gb,
            "repeat": args.repeat,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}",
            "load_average": os.getloadavg(),
        },
        "interactive": inter,
        "summary_pass": {
            "plain": plain_b,
            "ours": summ_b,
            "ratio_wall": summ_b["wall"] / plain_b["wall"],
            "ratio_cpu": summ_b["cpu"] / plain_b["cpu"],
            "save_summary_s": save_s,
        },
        "neurox_to_ours": {
            "plain_neurox_read": nplain_b,
            "convert": conv_b,
            "convert_no_summary": convns_b,
            "speed_vs_plain": nplain_b["wall"] / conv_b["wall"],
            "speed_vs_plain_no_summary": nplain_b["wall"] / convns_b["wall"],
            "plain_copy": copy_b,
            "speed_vs_plain_copy": copy_b["wall"] / conv_b["wall"],
            "disk_write": disk_b,
            "disk_write_speed_vs_plain": nplain_b["wall"] / disk_b["wall"],
        },
        "extraction": ext,
    }
    rows = [
        ("open", f"{inter['open_s'] * 1e3:.1f} ms", "≤ 300 ms"),
        (
            "one sentence (all sites)",
            f"{inter['sentence_ms_median']:.2f} ms (p95 {inter['sentence_ms_p95']:.2f})",
            "≤ 5 ms",
        ),
        (
            "one neuron's summary",
            f"{inter['neuron_summary_ms_median']:.2f} ms (p95 {inter['neuron_summary_ms_p95']:.2f})",
            "≤ 5 ms",
        ),
        ("one neuron's column", f"{inter['neuron_column_ms_median']:.1f} ms", "—"),
        (
            "plain h5py read (ours)",
            f"{plain_b['wall']:.2f} s wall, {plain_b['cpu']:.2f} s cpu, {plain_b['rss_mb']:.0f} MB",
            "—",
        ),
        (
            "summary pass",
            f"{summ_b['wall']:.2f} s wall, {summ_b['cpu']:.2f} s cpu, {summ_b['rss_mb']:.0f} MB",
            "≤ 2× plain, ≤ 500 MB",
        ),
        (
            "  ratio",
            f"{results['summary_pass']['ratio_wall']:.2f}× wall, {results['summary_pass']['ratio_cpu']:.2f}× cpu",
            "≤ 2×",
        ),
        (
            "plain h5py read (NeuroX)",
            f"{nplain_b['wall']:.2f} s wall, {nplain_b['rss_mb']:.0f} MB",
            "—",
        ),
        (
            "NeuroX → ours (+summaries)",
            f"{conv_b['wall']:.2f} s wall, {conv_b['rss_mb']:.0f} MB = "
            f"{results['neurox_to_ours']['speed_vs_plain']:.2f}× plain speed",
            "≥ 0.5×",
        ),
        (
            "NeuroX → ours (no summaries)",
            f"{convns_b['wall']:.2f} s = {results['neurox_to_ours']['speed_vs_plain_no_summary']:.2f}× plain speed",
            "—",
        ),
        (
            "disk write of as many bytes" + (" (O_DIRECT)" if disk_b.get("direct") else ""),
            f"{disk_b['wall']:.2f} s = {results['neurox_to_ours']['disk_write_speed_vs_plain']:.2f}× "
            "plain read speed: the floor",
            "—",
        ),
        (
            "plain h5py copy (read+write+fsync)",
            f"{copy_b['wall']:.2f} s wall = {nplain_b['wall'] / copy_b['wall']:.2f}× plain read speed",
            "—",
        ),
        (
            "  conversion vs plain copy",
            f"{results['neurox_to_ours']['speed_vs_plain_copy']:.2f}× its speed",
            "—",
        ),
    ]
    if ext:
        for device, e in ext.items():
            rows.append(
                (
                    f"extraction synth-en-fr-1 ({device})",
                    f"{e['tokens_per_s']:,.0f} tokens/s ({e['tokens']} tokens)",
                    "—",
                )
            )
    else:
        rows.append(("extraction", "skipped (no sample model)", "—"))
    print(f"\nstore: {gb:.2f} GB, {values:,} values; load average {os.getloadavg()[0]:.1f}")
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<55} {target}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
