"""Where bundled and user files live.

Why: the sample models ship in the repository's ``sample_models/`` (the package is
installed editable by ``scripts/setup.sh``); ``NEUROTUI_SAMPLES`` overrides that, and user
config (themes, keymaps) follows XDG.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def samples_dir() -> Path:
    """The folder holding the bundled sample models and stores."""
    override = os.environ.get("NEUROTUI_SAMPLES")
    return Path(override) if override else REPO_ROOT / "sample_models"


def themes_dir() -> Path:
    """The folder holding the bundled themes."""
    return REPO_ROOT / "themes"


def config_dir() -> Path:
    """The user's neurotui config folder (``$XDG_CONFIG_HOME/neurotui``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "neurotui"


def cache_dir() -> Path:
    """Where derived files (e.g. sample stores built on first use) may be cached."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neurotui"
