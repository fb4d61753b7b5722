"""Speed of the explorer app on the 2 GB synthetic store.

Measures, headless at 160×50 (Textual's Pilot):

* first frame: app start → screen painted, and → first sentences coloured;
* recolour: switching neuron re-renders the full sentence pane (≤ 50 ms target);
* scrolling: page steps through 10k sentences (≤ 50 ms per step target; a step counts
  until its rows are drawn with data, placeholders included in the wait);
* responsiveness: key presses served while a ranking computes in a job (a child process
  on this store): key → the frame that shows it (the target), and key → the process idle
  (what Pilot.press waits for; counts the app's background work too).

The store comes from the store benchmark's builder (``bench/bench_store.py``), built once
and reused. Run niced: ``nice -n 10 .venv/bin/python bench/bench_tui.py [--store PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# this checkout's neurotui, not whichever one the venv has installed (as bench_probe does)
sys.path.insert(0, str(BENCH_DIR.parent))


def build_store(folder: Path, sentences: int, tokens: int, sites: int, size: int) -> Path:
    """The 2 GB synthetic store, built once by the store benchmark's builder and reused.

    Shape: 10,000 sentences (the scrolling target) × 25 tokens × 8 sites × 256 neurons,
    float32 ≈ 2.05 GB; summaries are stored, as ``neurotui extract`` does.
    """
    store = folder / "synthetic.h5"
    done = folder / "synthetic.ready"
    if store.is_file() and done.is_file():
        return store
    spec = importlib.util.spec_from_file_location("bench_store", BENCH_DIR / "bench_store.py")
    if spec is None or spec.loader is None:
        raise SystemExit("bench/bench_store.py is missing: it builds the 2 GB store")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_store"] = module
    spec.loader.exec_module(module)
    folder.mkdir(parents=True, exist_ok=True)
    ours, neurox = module.build(folder, sentences, tokens, sites, size)
    neurox.unlink(missing_ok=True)  # the NeuroX copy is not needed here
    from neurotui.store.edit import save_summary

    save_summary(ours)
    done.write_text("ok\n")
    return ours


def _placeholders(view, height: int) -> int:  # type: ignore[no-untyped-def]
    """Visible sentence rows still waiting for data."""
    start = int(view.scroll_y) // view.block_height
    stop = min(view.sentence_count, start + height // view.block_height + 1)
    return len(view.source.cache.missing(range(start, stop)))


def _render_pane(view) -> float:  # type: ignore[no-untyped-def]
    """Render the sentence pane as Textual does for a frame (dirty lines only); seconds."""
    from textual.geometry import Region

    t0 = time.perf_counter()
    lines = view.render_lines(Region(0, 0, view.size.width, view.size.height))
    assert len(lines) == view.size.height
    return time.perf_counter() - t0


async def _key_to_frame(app, widget, key: str) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """Press ``key`` as the terminal driver delivers it; seconds until its effect is on
    screen (the widget's cursor moved and the next refresh painted it), the UI thread's
    CPU seconds in that span (what the key costs the UI: its wall time on an idle core),
    and seconds until the whole process is idle (what Pilot.press waits for).

    Why both: Pilot's wait compares the *process's* CPU time with the wall clock, so any
    background work of the app (a card loading, a job's relay thread) counts as the key's
    latency, up to 1 s per wait; what the user waits for is the frame that shows the key.
    """
    from textual import events
    from textual._wait import wait_for_idle

    before = widget.cursor_neuron
    drawn = asyncio.Event()
    t0, c0 = time.perf_counter(), time.thread_time()
    event = events.Key(key, key)
    event.set_sender(app)
    app._driver.send_message(event)
    while widget.cursor_neuron == before:
        if time.perf_counter() - t0 > 10:
            raise TimeoutError(f"key {key!r} did not move the cursor")
        await asyncio.sleep(0.0005)
    app.screen.call_after_refresh(drawn.set)
    await drawn.wait()
    served, cpu = time.perf_counter() - t0, time.thread_time() - c0
    await wait_for_idle(0)
    await wait_for_idle(0)
    return served, cpu, time.perf_counter() - t0


class _gc_pauses:  # noqa: N801 - used like a function
    """Collections of the garbage collector from now to stop(): (generation, wall ms, CPU
    ms of the collecting thread, objects found dead). Wall above CPU is the box's load."""

    def __init__(self) -> None:
        import gc

        self.found: list[tuple[int, float, float, int]] = []
        self._t0 = self._c0 = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0, self._c0 = time.perf_counter(), time.thread_time()
        elif info["generation"] > 0:
            self.found.append(
                (
                    info["generation"],
                    round(1000 * (time.perf_counter() - self._t0), 1),
                    round(1000 * (time.thread_time() - self._c0), 1),
                    info["collected"],
                )
            )

    def stop(self) -> list[tuple[int, float, float, int]]:
        import gc

        gc.callbacks.remove(self._callback)
        return self.found


def _log(text: str) -> None:
    print(f"[bench_tui] {text}", file=sys.stderr, flush=True)


async def _wait(pred, pilot, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    while not pred():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("timed out")
        await asyncio.sleep(0.002)
    return time.perf_counter() - t0


async def run(store_path: Path, steps: int, keys: int) -> dict[str, object]:
    """All measurements on one app instance."""
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.widgets.sentence_view import SentenceView

    results: dict[str, object] = {
        "store": str(store_path),
        "size_gb": store_path.stat().st_size / 1e9,
    }
    t_start, cpu_start = time.perf_counter(), time.process_time()
    app = NeurotuiApp([store_path])
    async with app.run_test(size=(160, 50)) as pilot:
        results["first_frame_s"] = time.perf_counter() - t_start
        results["first_frame_cpu_s"] = time.process_time() - cpu_start
        _log(f"first frame {results['first_frame_s']:.2f}s")
        await _wait(lambda: app.session.active is not None, pilot)
        screen = app.screen
        view = screen.query_one(SentenceView)
        await _wait(
            lambda: view.sentence_count > 0 and _placeholders(view, view.size.height) == 0, pilot
        )
        await pilot.pause()
        results["first_sentences_s"] = time.perf_counter() - t_start
        results["first_sentences_cpu_s"] = time.process_time() - cpu_start
        _log(f"first sentences {results['first_sentences_s']:.2f}s")
        store = app.session.active.store
        results["sentences"] = store.sentences
        results["neurons"] = store.neuron_count
        results["tokens"] = store.total_tokens

        # Recolour: switch the cursor neuron, re-render the whole 160×50 pane. Wall time
        # and the UI thread's own CPU time (what it costs on an idle core).
        times, cpu = [], []
        for n in range(1, 41):
            t0, c0 = time.perf_counter(), time.thread_time()
            screen._highlight(n * 7 % store.neuron_count)
            _render_pane(view)
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        results["recolour_ms_median"] = 1000 * statistics.median(times)
        results["recolour_ms_max"] = 1000 * max(times)
        results["recolour_ui_cpu_ms_median"] = 1000 * statistics.median(cpu)
        results["recolour_ui_cpu_ms_max"] = 1000 * max(cpu)
        _log(f"recolour median {results['recolour_ms_median']:.1f} ms")
        # The same through the keyboard: key press → frame (includes Textual's compositor).
        screen.query_one("#neurons").focus()
        key_times, key_cpu = [], []
        for _ in range(20):
            t0, c0 = time.perf_counter(), time.thread_time()
            await pilot.press("j")
            await pilot.pause()
            key_times.append(time.perf_counter() - t0)
            key_cpu.append(time.thread_time() - c0)
        results["neuron_key_to_frame_ms_median"] = 1000 * statistics.median(key_times)
        results["neuron_key_ui_cpu_ms_median"] = 1000 * statistics.median(key_cpu)

        _log("key to frame done")
        # Scrolling through 10k sentences, one page per step.
        view.focus()
        step_times, step_cpu, waited = [], [], 0
        page = max(1, view.size.height // view.block_height - 1)
        for k in range(steps):
            t0, c0 = time.perf_counter(), time.thread_time()
            view.jump_to(min(view.sentence_count - 1, (k + 1) * page), 0, top=True)
            _render_pane(view)  # the frame drawn at once (placeholders where not read yet)
            c1 = time.thread_time()
            if _placeholders(view, view.size.height):
                waited += 1
                await _wait(lambda: _placeholders(view, view.size.height) == 0, pilot)
                c0 += time.thread_time() - c1  # waiting is not UI work
                view.refresh()
                _render_pane(view)
            step_times.append(time.perf_counter() - t0)
            step_cpu.append(time.thread_time() - c0)
            await pilot.pause()
        results["scroll_steps"] = steps
        results["scroll_sentences"] = min(view.sentence_count, steps * page)
        results["scroll_ms_median"] = 1000 * statistics.median(step_times)
        results["scroll_ms_p95"] = 1000 * sorted(step_times)[int(0.95 * (len(step_times) - 1))]
        results["scroll_ms_max"] = 1000 * max(step_times)
        results["scroll_ui_cpu_ms_median"] = 1000 * statistics.median(step_cpu)
        results["scroll_ui_cpu_ms_max"] = 1000 * max(step_cpu)
        results["scroll_steps_waiting_for_disk"] = waited
        _log(f"scroll median {results['scroll_ms_median']:.1f} ms")

        # Keys served while a ranking computes (a job: in a child process on this store).
        specs = {s.key: s for s in app.specs.get(app.session.active.name, [])}
        method = "variance" if "variance" in specs else next(iter(specs), None)
        if method is not None:
            neurons = screen.query_one("#neurons")
            screen.compute_ranking(method)
            neurons.focus()
            await pilot.pause()
            lat, idle, lat_cpu, frame_cpu = [], [], [], []
            pauses = _gc_pauses()
            busy_presses = 0
            for _ in range(keys):
                running = any(w.is_running and w.group.startswith("rank:") for w in app.workers)
                c0 = time.thread_time()
                served, cpu, quiet = await _key_to_frame(app, neurons, "j")
                if running:
                    lat.append(served)
                    frame_cpu.append(cpu)
                    idle.append(quiet)
                    lat_cpu.append(time.thread_time() - c0)
                busy_presses += running
            results["gc_pauses_during_keys_ms"] = pauses.stop()
            results["ranking_method"] = method
            results["keys_during_ranking"] = busy_presses
            if lat:
                results["key_latency_ms_median"] = 1000 * statistics.median(lat)
                results["key_latency_ms_max"] = 1000 * max(lat)
                results["key_latencies_ms"] = [round(1000 * x, 1) for x in lat]
                results["key_ui_cpu_ms"] = [round(1000 * x, 1) for x in frame_cpu]
                results["key_latency_ms_p95"] = 1000 * sorted(lat)[int(0.95 * (len(lat) - 1))]
                results["key_to_frame_ui_cpu_ms_median"] = 1000 * statistics.median(frame_cpu)
                results["key_to_frame_ui_cpu_ms_max"] = 1000 * max(frame_cpu)
                results["key_to_idle_ms_median"] = 1000 * statistics.median(idle)
                results["key_to_idle_ms_max"] = 1000 * max(idle)
                results["key_ui_cpu_ms_median"] = 1000 * statistics.median(lat_cpu)
            t0 = time.perf_counter()
            # only the ranking: a card worker cancelled by a later key would raise here
            # only the ranking (an empty list would mean every worker, and a card worker
            # cancelled by a later key raises WorkerCancelled there)
            ranking = [w for w in app.workers if w.group.startswith("rank:")]
            if ranking:
                await app.workers.wait_for_complete(ranking)
            results["ranking_left_after_keys_s"] = time.perf_counter() - t0
    results["load_average_at_end"] = os.getloadavg()
    return results


def main() -> int:
    """Build/reuse the store, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, help="an existing store (default: the 2 GB bench store)"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("/tmp/neurotui-bench-tui"),
        help="where the bench store is built (kept for reuse)",
    )
    parser.add_argument("--sentences", type=int, default=10000)
    parser.add_argument("--tokens", type=int, default=25)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=400, help="page steps to scroll")
    parser.add_argument("--keys", type=int, default=40, help="key presses during the ranking")
    args = parser.parse_args()
    store = args.store
    if store is None:
        store = build_store(args.dir, args.sentences, args.tokens, args.sites, args.size)
    results = asyncio.run(run(store, args.steps, args.keys))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
