"""Shared pieces of the app's mode tests (manipulation, ablation, control).

Why a module beside the tests: those tests run the real sample model on its sample store
inside an isolated config/cache/log, and wait on background runner work the same way.
Fixtures imported from here are used by name, as pytest does for any module fixture.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from neurotui.tui.app import NeurotuiApp


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config, cache and the intervention log of each test in its own folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NEUROTUI_INTERVENTION_LOG", str(tmp_path / "log.jsonl"))


def pristine_sample(folder: Path) -> Path:
    """A copy, in ``folder``, of the bundled sample store without any saved ranking.

    Why: the sample is built once in the real cache and shared, and the app saves into it
    the rankings a user computes there; a test must not see them (one variance ranking
    saved from the app changed the ablation mode's default ranking and broke its snapshot).
    """
    import shutil

    from neurotui.store.edit import annotate_file
    from neurotui.store.h5store import NeurotuiStore
    from neurotui.store.samples import sample_store

    copy = Path(shutil.copy(sample_store(), folder / "sample.h5"))
    with NeurotuiStore(copy) as opened:
        saved = list(opened.ranking_names)
    if saved:
        annotate_file(copy, remove_rankings=saved)
    return copy


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The bundled sample store (built on first use in the real cache, shared), as a
    private copy without saved rankings (:func:`pristine_sample`)."""
    import neurotui.store as ns

    opened = ns.open(pristine_sample(tmp_path_factory.mktemp("sample")))
    yield opened
    opened.close()


async def _wait(pilot, predicate, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    """Let the app run until ``predicate()`` holds (background work included)."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {pilot.app.screen.__class__.__name__}")
        await pilot.pause(0.05)
    await pilot.pause()


def _app(store) -> NeurotuiApp:  # type: ignore[no-untyped-def]
    """The app on ``store`` alone, on the CPU."""
    return NeurotuiApp(stores=[store], open_default=False, device="cpu")


def _text(screen, wid: str) -> str:  # type: ignore[no-untyped-def]
    """What the widget ``wid`` of ``screen`` shows, as plain text."""
    return str(screen.query_one(wid).render())
