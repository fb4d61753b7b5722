"""Where the text a store was extracted from is now.

Why: a store records its source text's absolute path and SHA-256. A sample store is cached
once per user and shared by every checkout of neurotui (the cache key is the model and the
data, not where they sit), and users move folders; the recorded path may then name a file
that no longer exists while the same text sits in the bundled samples. Anything that reads
files beside the source (the parallel ``.fr`` references of the Manipulate mode's BLEU)
finds the text here: the recorded path when it is there, else a bundled file of the same
name whose SHA-256 is the recorded one — never a different text under the same name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from neurotui.paths import samples_dir


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file (read in blocks): what a store records of its inputs."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_text(metadata: Mapping[str, Any]) -> Path | None:
    """The store's source text file as it exists now, or ``None``."""
    source = metadata.get("source")
    if not isinstance(source, Mapping) or not source.get("path"):
        return None
    recorded = Path(str(source["path"]))
    if recorded.is_file():
        return recorded
    want = source.get("sha256")
    root = samples_dir()
    if not want or not root.is_dir():
        return None
    for candidate in sorted(root.rglob(recorded.name)):
        if candidate.is_file() and sha256_file(candidate) == want:
            return candidate
    return None
