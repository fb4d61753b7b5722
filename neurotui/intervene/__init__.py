"""Interventions: ablate and clamp neurons, re-run the model, measure the effect.

``spec`` (the Intervention value) → ``bind`` (resolve for a model and a store) → ``apply``
(hooks through ``Backend.edits`` for one call) → ``compare`` / ``ablation`` / ``control``;
``runner`` + ``jobs`` run them on a background worker; ``log`` + ``replay`` record and
re-run them. See docs/interventions.md. Importing this package is light (no torch).
"""
