"""Parse ``--cluster`` and hand out a Dask client.

``local:N`` starts a :class:`distributed.LocalCluster` of N worker processes with one
thread each (extraction and reductions are numpy/torch code that holds the GIL for long
stretches, so processes, not threads, give the speed-up); each worker's torch uses one
thread, and where GPUs exist worker ``i`` takes GPU ``i mod count``. ``tcp://HOST:PORT``
connects to a running scheduler (dask-jobqueue, SSHCluster, Kubernetes: docs/scale.md).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from neurotui.errors import NeurotuiError

_LOCAL = re.compile(r"^local:(\d+)$")
_REMOTE = re.compile(r"^(tcp|tls)://[^\s:/]+:\d+$")
#: seconds to wait for an existing scheduler before giving up
CONNECT_TIMEOUT = 30


def check_spec(spec: str) -> str:
    """Validate a ``--cluster`` value (argparse type: a one-line error when wrong)."""
    m = _LOCAL.match(spec)
    if m:
        if int(m.group(1)) < 1:
            raise NeurotuiError(f"--cluster {spec}: local:N needs N ≥ 1 worker processes")
        return spec
    if _REMOTE.match(spec):
        return spec
    raise NeurotuiError(
        f"--cluster {spec}: use local:N (N worker processes here) or tcp://HOST:PORT "
        "(a running Dask scheduler)"
    )


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise NeurotuiError(
            "--cluster needs Dask: pip install 'neurotui[scale]' (dask[distributed])"
        ) from None
    return distributed


def local_cluster(workers: int) -> Any:
    """A LocalCluster of ``workers`` single-threaded worker processes (no dashboard)."""
    import logging

    distributed = _import_distributed()
    return distributed.LocalCluster(
        silence_logs=logging.CRITICAL,
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env={"NEUROTUI_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )


@contextlib.contextmanager
def client_for(spec: str | Any) -> Iterator[Any]:
    """A connected ``distributed.Client`` for ``spec`` (closed, with its cluster, after).

    ``spec`` may already be a Client (tests share one across calls): it is yielded as is.
    """
    if not isinstance(spec, str):
        yield spec
        return
    check_spec(spec)
    distributed = _import_distributed()
    m = _LOCAL.match(spec)
    if m:
        cluster = local_cluster(int(m.group(1)))
        try:
            with distributed.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(spec, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise NeurotuiError(f"--cluster {spec}: cannot reach the scheduler ({exc})") from None
    with client:
        yield client


def worker_device(device: str) -> str:
    """The device of the calling worker: with GPUs, worker ``i`` takes GPU ``i mod count``."""
    if device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return "cpu" if device == "auto" else device
    index = 0
    with contextlib.suppress(Exception):
        from distributed import get_worker

        name = get_worker().name
        index = int(name) if str(name).isdigit() else abs(hash(name))
    return f"cuda:{index % torch.cuda.device_count()}"


def run_tasks(
    client: Any,
    func: Any,
    args: list[tuple[Any, ...]],
    *,
    stage: str,
    progress: Any = None,
    key: str = "neurotui",
) -> list[Any]:
    """Submit ``func(*a)`` for each ``a``; results in order; progress as tasks finish.

    A task whose worker dies is rescheduled by Dask (up to ``distributed.scheduler.
    allowed-failures`` times); a task that raises fails the run, and the other tasks are
    cancelled.
    """
    import uuid

    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    futures = [
        client.submit(func, *a, key=f"{key}-{run}-{i}", pure=False) for i, a in enumerate(args)
    ]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    done = 0
    try:
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            done += 1
            if progress is not None:
                progress(stage, done, len(futures))
    except BaseException:
        client.cancel(futures)
        raise
    return results
