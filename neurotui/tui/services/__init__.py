"""The app's calls into the layers below (store, analysis, extraction), one module per job.

Why an adapter: the widgets should not know which analysis module computes what, and the
analysis and store packages grow while the app is built. Every function here is plain
Python (no Textual widgets), runs inside a job (:mod:`neurotui.tui.workers`) and takes a
:class:`neurotui.progress.JobContext` only for progress and cancellation. Anything
computed here is *display glue* (picking, grouping, formatting); the numbers themselves
come from ``neurotui.store`` / ``neurotui.analysis``.

- :mod:`.opening` — open a store or extract a checkpoint; the bundled samples; statistics
- :mod:`.cards` — the neuron card (quick part, column-reading details, output side)
- :mod:`.rankings` — which rankings can be computed, computing and saving them
- :mod:`.search` — word search over the store's tokens
- :mod:`.placement` — the one rule for where a job runs (thread or child process)
"""
