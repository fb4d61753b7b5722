"""A store's source text is found where it is now, never a different text of the same name.

A sample store is cached once per user and shared by every checkout; the path it recorded
may be gone (another checkout, a moved folder), and the Manipulate mode's BLEU reads the
``.fr`` file beside the source.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from neurotui.store.provenance import sha256_file, source_text


@pytest.fixture
def samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "samples"
    (root / "synth-data").mkdir(parents=True)
    (root / "synth-data" / "analysis.en").write_text("the cat sleeps .\n", encoding="utf-8")
    (root / "other").mkdir()
    (root / "other" / "analysis.en").write_text("a different text .\n", encoding="utf-8")
    monkeypatch.setenv("NEUROTUI_SAMPLES", str(root))
    return root


def _meta(path: Path, sha: str) -> dict:
    return {"source": {"path": str(path), "sha256": sha, "lines": 1}}


def test_the_recorded_path_first(samples: Path, tmp_path: Path) -> None:
    own = tmp_path / "mine.en"
    own.write_text("mine .\n", encoding="utf-8")
    assert source_text(_meta(own, "not-checked")) == own


def test_a_gone_path_is_found_in_the_samples_by_name_and_hash(samples: Path) -> None:
    bundled = samples / "synth-data" / "analysis.en"
    gone = Path("/check/elsewhere/sample_models/synth-data/analysis.en")
    assert source_text(_meta(gone, sha256_file(bundled))) == bundled
    other = samples / "other" / "analysis.en"
    assert source_text(_meta(gone, sha256_file(other))) == other


def test_no_text_of_the_same_name_with_another_hash(samples: Path) -> None:
    gone = Path("/check/elsewhere/analysis.en")
    assert source_text(_meta(gone, "0" * 64)) is None
    assert source_text({}) is None
    assert source_text({"source": {"path": ""}}) is None
