"""Model backends behind one contract (:class:`neurotui.models.base.Backend`).

``load_backend(name_or_path)`` (in ``registry``) opens a bundled sample by name or a
checkpoint directory, detecting the kind from its config; nothing is ever unpickled.
"""
