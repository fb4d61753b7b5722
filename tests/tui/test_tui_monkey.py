"""Monkey test of the app: thousands of random keys, every mode, good and broken stores.

Why: the flows of the other app tests press the keys someone thought of. Here a seeded
storm of the app's real bindings, printable characters and navigation keys goes through
Textual's Pilot (quit keys excluded until the end) on the bundled sample store, on a store
whose tokens and labels are damaged and on one that does not open. Each run must end with
no exception escaping (``run_test`` re-raises one), no "internal error" shown, every mode
still answering its key and ``q`` still quitting, and memory flat: the resident size after
the storm (runner work cancelled and waited for, ``gc`` and ``malloc_trim`` run) may exceed
the size after a warm-up of 300 keys (every mode visited, every runner's model loaded) by
at most :data:`RSS_GROWTH_MIB`.

The bound: on the sample store 1,200–1,500 keys grew the live size by 40–55 MiB — the
caches the modes fill once (the synthetic splits and probe rankings of the control mode,
original translations, sentence rows, reference lines); the storms on the broken stores
grew by 0. Before the footer fix the same storm grew by 94–143 MiB and 4,000 keys by
246 MiB, still climbing (``bench/bench_monkey.py`` shows the slope over 8,000+ keys). A
leak of that size fails 100 MiB; the caches stay well within it.

Found by this test and fixed (each with its regression test below): PgUp/PgDn in a
palette not laid out yet, a second Enter in the palette or a prompt, Textual's ANSI
themes, the footer's leak, and the manipulation mode on unreadable tokens.

``NEUROTUI_MONKEY_KEYS`` overrides the number of keys on the sample store (CI: 1,200, about
a minute on the 2-core box); ``bench/bench_monkey.py`` runs longer storms by hand.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import pytest
import tui_helpers  # beside this file: pytest puts tests/ on sys.path
from test_bad_inputs import declare_huge, good_store, labels_out_of_range, non_utf8_tokens

from neurotui.tui.app import NeurotuiApp
from neurotui.tui.modes import MODES
from neurotui.tui.testing import (
    QUIT_KEYS,
    MonkeyReport,
    bound_keys,
    make_partner_stores,
    monkey,
    monkey_keys,
    press_fast,
    settle,
    sync,
)

_isolated = tui_helpers._isolated  # config, cache and log of each test in tmp_path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path: a storm can type a relative file name into a prompt that writes
    (the patch mode's export wrote 'Ejg' into the checkout)."""
    monkeypatch.chdir(tmp_path)


SEED = 16
KEYS = int(os.environ.get("NEUROTUI_MONKEY_KEYS", "1200"))
WARMUP = 300
RSS_GROWTH_MIB = 100.0


def check(report: MonkeyReport, keys: int, record_property) -> None:  # type: ignore[no-untyped-def]
    """What every storm must leave: all keys pressed, no bug shown, modes answering, q
    quitting, memory flat."""
    print(report.summary())
    record_property("monkey", report.summary())
    assert report.keys == keys, report.last_keys
    assert report.internal_errors == [], report.internal_errors
    assert report.final == [(spec.key, spec.name) for spec in [*MODES[1:], MODES[0]]]
    assert report.quit, "q did not quit after the storm"
    assert set(report.per_mode) == {spec.name for spec in MODES}, report.per_mode
    assert min(report.per_mode.values()) >= keys // 50, report.per_mode
    grown = (report.rss_after - report.rss_before) / 2**20
    assert report.rss_before > 0 and grown < RSS_GROWTH_MIB, report.summary()


def test_the_keys_come_from_the_bindings_and_never_quit() -> None:
    keys = monkey_keys(2000, SEED)
    assert keys == monkey_keys(2000, SEED)  # a fixed seed replays the same storm
    assert not QUIT_KEYS & set(keys)
    bound = set(bound_keys())
    for expected in ("1", "2", "3", "4", "question_mark", "plus", "enter", "colon", "L"):
        assert expected in bound
    assert {"1", "2", "3", "4"} <= set(keys) and "ctrl+p" in keys


@sync
async def test_page_keys_in_a_palette_not_laid_out_yet_do_not_crash() -> None:
    """Regression: ctrl+p then PgDn at once raised KeyError in Textual's OptionList."""
    for key in ("pagedown", "pageup"):
        app = NeurotuiApp(stores=make_partner_stores(), open_default=False, device="cpu")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await press_fast(pilot, "ctrl+p")
            await press_fast(pilot, key)
            await pilot.pause(0.2)
            assert app.is_running and app._exception is None
            assert app.screen.id == "--command-palette"


@pytest.mark.parametrize(
    ("keys", "mode"),
    [(["enter", "enter"], "analysis"), ([*"mode abl", "enter", "enter"], "ablation")],
)
def test_a_second_enter_in_the_palette_does_not_crash(keys: list[str], mode: str) -> None:
    """Regression: an Enter queued behind the one that ran a command dismissed the palette
    a second time, popping the screen under it (ScreenStackError, or RuntimeError after a
    mode switch)."""

    @sync
    async def flow() -> None:
        app = NeurotuiApp(stores=make_partner_stores(), open_default=False, device="cpu")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await press_fast(pilot, "ctrl+p")
            await pilot.pause(0.5)  # the commands are listed
            for key in keys:
                await press_fast(pilot, key)
            await pilot.pause(0.3)
            assert app.is_running and app.current_mode == mode
            assert app.screen.id != "--command-palette"

    flow()  # run_test re-raises what ended the app


@pytest.mark.parametrize("keys", [["enter", "enter"], ["enter", "escape"]])
def test_keys_typed_behind_the_one_closing_a_prompt_do_not_crash(keys: list[str]) -> None:
    """Regression: the jump prompt's second Enter (or an Escape) arrived after the first
    had closed it and closed it again, popping the screen under it (ScreenStackError)."""
    from textual import events

    @sync
    async def flow() -> None:
        app = NeurotuiApp(stores=make_partner_stores(), open_default=False, device="cpu")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("colon")
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "PromptScreen"
            for key in keys:  # queued together, as a fast typist sends them
                event = events.Key(key, None)
                event.set_sender(app)
                app._driver.send_message(event)
            await pilot.pause(0.3)
            assert app.is_running and app.current_mode == "analysis"
            assert type(app.screen).__name__ == "AnalysisScreen"

    flow()  # run_test re-raises what ended the app


def test_a_prompt_dismissed_under_another_screen_stays_closable() -> None:
    """Regression (8,000-key storm): a dismiss that reached the jump prompt while another
    modal was on top of it popped *that* screen (Textual pops the top) and marked the
    prompt closed, so no key could close the prompt any more and the app was stuck."""
    from neurotui.tui.screens.help import HelpScreen

    @sync
    async def flow() -> None:
        app = NeurotuiApp(stores=make_partner_stores(), open_default=False, device="cpu")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            await pilot.press("colon")
            await pilot.pause(0.2)
            prompt = app.screen
            assert type(prompt).__name__ == "PromptScreen"
            help_screen = HelpScreen("help over the prompt", [("escape", "close")])
            app.push_screen(help_screen)
            await pilot.pause(0.2)
            prompt.dismiss(None)  # a late escape meant for the prompt
            await pilot.pause(0.2)
            assert app.screen is help_screen  # the screen on top was not closed under it
            await pilot.press("escape")  # closes the help
            await pilot.pause(0.2)
            assert app.screen is prompt
            await pilot.press("escape")  # and the prompt still closes
            await pilot.pause(0.2)
            assert type(app.screen).__name__ == "AnalysisScreen"
            await pilot.press("2")
            await pilot.pause(0.2)
            assert app.current_mode == "manipulate"

    flow()


@pytest.mark.parametrize("theme", ["ansi-dark", "ansi-light"])
def test_textual_ansi_themes_do_not_crash(theme: str) -> None:
    """Regression: Textual's own "theme" palette command offers ANSI themes, whose
    background is ``ansi_default`` (the terminal's); parsing it ended the app."""
    from neurotui.tui.widgets.sentence_view import SentenceView

    @sync
    async def flow() -> None:
        app = NeurotuiApp(stores=make_partner_stores(), open_default=False, device="cpu")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            app.theme = theme
            await settle(pilot)
            assert app.is_running
            background = "#FFFFFF" if theme == "ansi-light" else "#000000"
            assert app.colour_map().swatch(0).upper() == background
            assert app.screen.query_one(SentenceView).render_line(0)  # still draws

    flow()


@sync
async def test_mode_switches_leave_no_widgets_behind() -> None:
    """Regression: each mode switch kept ~20 removed footer keys alive, without bound."""
    import gc

    from textual.widgets._footer import FooterKey

    def footer_keys() -> int:
        gc.collect()
        return sum(isinstance(o, FooterKey) for o in gc.get_objects())

    app = NeurotuiApp(stores=make_partner_stores(), open_default=False, device="cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        counts = []
        for _ in range(3):
            for _ in range(3):
                for spec in MODES:
                    await press_fast(pilot, spec.key)
            await settle(pilot)
            counts.append(footer_keys())
    # the first rounds may still mount keys; then the count stays (it grew 80 a round)
    assert counts[2] <= counts[1] + 5, counts


def test_the_manipulate_mode_on_unreadable_tokens_says_so_and_stays_up(tmp_path: Path) -> None:
    """Regression: mode 2 read the sentence's tokens while drawing; a store whose tokens
    are not UTF-8 ended the app with a StoreError at the first key."""
    store = good_store(tmp_path / "broken.h5")
    with h5py.File(store, "r+") as f:
        non_utf8_tokens(f)
    shown: list[tuple[str | None, str]] = []  # (title, message)

    @sync
    async def flow() -> None:
        app = NeurotuiApp([store], device="cpu")
        real_notify = app.notify

        def notify(message: object, **kwargs: object) -> None:
            shown.append((kwargs.get("title"), str(message)))  # type: ignore[arg-type]
            real_notify(message, **kwargs)  # type: ignore[arg-type]

        app.notify = notify  # type: ignore[method-assign]
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            for key in ("2", "plus", "right_square_bracket", "left_square_bracket", "v", "1"):
                await pilot.press(key)
            await settle(pilot)
            assert app.is_running and app.current_mode == "analysis"

    flow()
    said = [m for title, m in shown if title == "Manipulation" and "UTF-8" in m]
    assert said == [f"{store}: sentence 0's token text is not valid UTF-8"], shown  # once


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled sample store: the storm saves notes and rankings."""
    from neurotui.store.samples import sample_store

    real_cache = os.environ.pop("XDG_CACHE_HOME")  # the sample is built in the real cache
    try:
        source = sample_store()
    finally:
        os.environ["XDG_CACHE_HOME"] = real_cache
    return Path(shutil.copy(source, tmp_path / "sample.h5"))


@sync
async def _storm(paths: list[Path], keys: int, seed: int) -> MonkeyReport:
    app = NeurotuiApp(paths, device="cpu")
    return await monkey(app, monkey_keys(keys, seed), warmup=min(WARMUP, keys // 3))


def test_monkey_on_the_sample_store(sample_copy: Path, record_property) -> None:  # type: ignore[no-untyped-def]
    report = _storm([sample_copy], KEYS, SEED)
    check(report, KEYS, record_property)


def test_monkey_on_a_store_with_bad_tokens_and_labels(tmp_path: Path, record_property) -> None:  # type: ignore[no-untyped-def]
    store = good_store(tmp_path / "broken.h5")
    with h5py.File(store, "r+") as f:
        non_utf8_tokens(f)
        labels_out_of_range(f)
    report = _storm([store], 500, SEED + 1)
    check(report, 500, record_property)
    shown = "\n".join(report.notifications)
    assert f"{store}" in shown and "not valid UTF-8" in shown, report.notifications


def test_monkey_on_a_store_that_does_not_open(tmp_path: Path, record_property) -> None:  # type: ignore[no-untyped-def]
    store = good_store(tmp_path / "huge.h5")
    with h5py.File(store, "r+") as f:
        declare_huge(f)
    report = _storm([store], 250, SEED + 2)
    check(report, 250, record_property)
    assert any(str(store) in n and "declares shape" in n for n in report.notifications)
