"""Runs beyond one process on Dask (``--cluster local:N`` or ``--cluster tcp://HOST:PORT``).

Why Dask and a package of its own: scheduling, retries of a dead worker's tasks and the
cluster back-ends (LocalCluster, dask-jobqueue on Slurm, SSHCluster, Kubernetes) are
Dask's; neurotui only says what a task is (extract a chunk into a shard, reduce a shard
to moments) and how results merge. Nothing here is imported unless ``--cluster`` is given,
so the single-box path and ``neurotui --help`` never import dask.
"""
