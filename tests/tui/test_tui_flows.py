"""Pilot-driven flows of the explorer: open → select neuron → recolour → partner → rank.

The app runs headless on seeded in-memory stores; assertions read the rendered strips'
styles (not internal state only), so a broken colouring path fails the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neurotui.tui.app import NeurotuiApp
from neurotui.tui.colour import LEVELS, level_of
from neurotui.tui.testing import make_partner_stores, settle, sync
from neurotui.tui.widgets.neuron_card import NeuronCard
from neurotui.tui.widgets.neuron_list import NeuronList
from neurotui.tui.widgets.sentence_view import SentenceView


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user themes/keymaps/notes leak into the tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NO_COLOR", raising=False)


def _token_bgcolors(view: SentenceView, y: int) -> list[str | None]:
    """Background colours of the token segments of rendered line ``y`` (gutter skipped)."""
    strip = view.render_line(y)
    gutter, tag = view._gutter_width()
    out, x = [], 0
    for seg in strip:
        x += seg.cell_length
        if x <= gutter + tag:
            continue
        if seg.text.strip() and seg.style is not None:
            bg = seg.style.bgcolor
            out.append(None if bg is None else bg.get_truecolor().hex.upper())
    return out


def _expected(view: SentenceView, s: int, neuron: int) -> list[str | None]:
    rows = view.source.cache.get(s)
    scale = view.scales[neuron] or float(np.abs(rows.values[:, neuron]).max())
    background = view.rich_style.bgcolor.get_truecolor().hex.upper()
    out = []
    for value in rows.values[:, neuron]:
        level = level_of(float(value), scale)
        out.append(background if level == 0 else view.cmap.swatch(level).upper())
    return out


def _assert_markup_literal(view: SentenceView) -> None:
    """Tokens that look like markup are drawn as they are (never parsed)."""
    texts = []
    for y in range(view.size.height):
        texts.extend(seg.text for seg in view.render_line(y))
    joined = "".join(texts)
    for token in ("[SEP]", "</s>", "[b]"):
        assert token in joined
    # The segment after a literal "[b]" is not bold (the token was not parsed as markup).
    for y in range(view.size.height):
        segs = list(view.render_line(y))
        for k, seg in enumerate(segs[:-2]):
            if seg.text.strip() == "[b]":
                nxt = segs[k + 2]
                assert not (nxt.style and nxt.style.bold and nxt.text.strip() not in ("", "[b]"))


@sync
async def test_open_select_recolour_partner_rank() -> None:
    stores = make_partner_stores()
    app = NeurotuiApp(stores=stores)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        view = screen.query_one(SentenceView)
        neurons = screen.query_one(NeuronList)
        # Open: the first store is active, sentences and neurons are listed.
        _assert_markup_literal(view)
        assert app.session.active.name == "m0"
        assert len(neurons.rows) == 24
        assert view.render_line(0).text.lstrip().startswith("0")
        # Select neuron 0 (cursor starts there): tokens coloured by its values.
        assert app.session.active.view.cursor == 0
        before = _token_bgcolors(view, 0)
        assert before == _expected(view, 0, 0)
        # Move to neuron 1: the same line is recoloured by neuron 1's values.
        await pilot.press("j")
        await settle(pilot)
        assert app.session.active.view.cursor == 1
        after = _token_bgcolors(view, 0)
        assert after == _expected(view, 0, 1)
        assert after != before
        # Pin neuron 1, move to 2: two token rows per sentence now.
        await pilot.press("space", "j")
        await settle(pilot)
        assert view.neurons == [2, 1]
        assert view.block_height == 3
        assert _token_bgcolors(view, 1) == _expected(view, 0, 1)
        # The card shows the cursor neuron with its partners from the saved ranking.
        card = screen.query_one(NeuronCard)
        assert card.card is not None and card.card.neuron == 2
        assert {p.model for p in card.card.partners} == {"m1", "m2"}
        assert card.card.top_words, "the details worker fills in the top words"
        # Jump to the sentence of the top context (Enter on the first context).
        options = card.query_one("#card-jumps")
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        first_ctx = next(i for i, oid in enumerate(ids) if oid and oid.startswith("ctx:"))
        top = card.card.top[0]
        options.focus()
        options.highlighted = first_ctx
        await pilot.press("enter")
        await settle(pilot)
        assert (view.cursor_sentence, view.cursor_position) == (top.sentence, top.position)
        assert view.has_focus
        # Jump to the partner in m1 (Enter on the partner option).
        options.focus()
        options.highlighted = 1  # row 0 is the "partners" heading
        await pilot.press("enter")
        await settle(pilot)
        assert app.session.active.name == "m1"
        assert app.session.active.view.cursor == (2 + 5) % 24
        assert neurons.cursor_neuron == 7


@sync
async def test_compute_ranking_in_worker() -> None:
    """A ranking not yet computed (⟳): Enter in the tree computes it in a worker with the
    analysis layer, saves it into the store and shows it in the neuron list."""
    from neurotui.tui.widgets.ranking_tree import RankingTree

    stores = make_partner_stores()
    app = NeurotuiApp(stores=stores)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        screen = app.screen
        neurons = screen.query_one(NeuronList)
        # A saved ranking: its order, its cutoff bands, its per-class orders.
        screen.show_ranking("probe/pos")
        await settle(pilot)
        assert [r.neuron for r in neurons.rows[:4]] == [0, 3, 1, 7]
        assert neurons.rows[3].band == 1
        assert "┌1" in neurons.render_line(3).text  # band 1 starts on the 4th row
        screen.show_ranking("probe/pos", "NN")
        await settle(pilot)
        assert neurons.rows[0].neuron == 23
        tree = app.screen.query_one(RankingTree)
        target = None
        for line in range(tree.last_line + 1):
            node = tree.get_node_at_line(line)
            if node is not None and node.data is not None and node.data.key == "variance":
                target = node
        assert target is not None and not target.data.computed
        tree.focus()
        tree.move_cursor(target)
        await pilot.press("enter")
        # Keys are served while it runs.
        await pilot.press("j")
        await settle(pilot)
        opened = app.session.active
        assert "variance" in opened.rankings
        assert "variance" in opened.store.rankings  # saved into the (memory) store
        assert opened.view.ranking == "variance"
        ranking = opened.rankings["variance"]
        assert ranking.method == "variance"
        assert app.screen.query_one(NeuronList).rows[0].neuron == ranking.order[0]
        # Real numbers: the first neuron has the largest variance.
        var = [
            float(np.var(opened.store.neuron_values(n))) for n in range(opened.store.neuron_count)
        ]
        assert ranking.order[0] == int(np.argmax(var))


@sync
async def test_jump_filter_search_labels() -> None:
    app = NeurotuiApp(stores=make_partner_stores())
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press(*"enc.l1:3", "enter")
        await settle(pilot)
        assert app.session.active.view.cursor == 12 + 3
        await pilot.press("slash", *"l0:1", "enter")
        await settle(pilot)
        neurons = app.screen.query_one(NeuronList)
        assert {r.name for r in neurons.visible_rows} == {"enc.l0:1", "enc.l0:10", "enc.l0:11"}
        # Search the sentences for a word, then show label tags under the tokens.
        view = app.screen.query_one(SentenceView)
        view.focus()
        await pilot.press("slash", *"mat", "enter")
        await settle(pilot)
        assert view.hits
        s, p = view.cursor_sentence, view.cursor_position
        assert view.source.cache.get(s).tokens[p] == "mat"
        await pilot.press("L")
        await settle(pilot)
        assert view.label_task == "pos"
        assert view.block_height == 3  # token row, label row, separator
        y = s * view.block_height + 1 - int(view.scroll_y)
        assert "NN" in view.render_line(y).text
        # z maximises the focused pane, Escape restores it.
        await pilot.press("z")
        await pilot.pause()
        assert app.screen.maximized is not None and app.screen.maximized.id == "sentences-pane"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen.maximized is None


@sync
async def test_corrupt_store_shows_error_and_app_lives(tmp_path: Path) -> None:
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 100)
    app = NeurotuiApp([bad])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert any("broken.h5" in m for m in messages), messages
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.pause()
        assert app.is_running


@sync
async def test_theme_switch_recolours_and_mono_cues(tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.toml"
    keymap.write_text('[keys]\n"neurons.pin" = "p"\n')
    app = NeurotuiApp(stores=make_partner_stores(), keymap_file=keymap)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        # The user's keymap rebinds pinning to "p".
        await pilot.press("p")
        await settle(pilot)
        assert app.session.active.view.pinned == [0]
        await pilot.press("space")
        await settle(pilot)
        assert app.session.active.view.pinned == [0]
        view = app.screen.query_one(SentenceView)
        dark = _token_bgcolors(view, 0)
        app.theme = "neurotui-light"
        await settle(pilot)
        light = _token_bgcolors(view, 0)
        assert light != dark
        assert light == _expected(view, 0, 0)
        await pilot.press("m")
        await settle(pilot)
        assert view.cmap.mono
        levels = view.levels_for(0, 0)
        segs = [s for s in list(view.render_line(0))[1:] if s.text.strip()]
        tokens = [s for s in segs if s.text.strip() not in ("▲", "▴", "▼", "▾")]
        for seg, level in zip(tokens, levels, strict=True):
            if level >= 3:
                assert seg.style.bold
            elif level <= -3:
                assert seg.style.underline
        assert abs(max(levels, key=abs)) <= LEVELS


@sync
async def test_ranking_of_a_file_store_in_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large file stores are ranked in a child process (the UI keeps the GIL); the
    result comes back, is saved into the HDF5 store and shown."""
    import neurotui.store
    from neurotui.store.writer import write_store
    from neurotui.tui.services import placement
    from neurotui.tui.testing import make_tokens

    tokens = make_tokens(30)
    rng = np.random.default_rng(7)
    acts = [
        rng.standard_normal((len(t), 24)).astype(np.float32) * np.linspace(0.5, 3, 24)
        for t in tokens
    ]
    path = write_store(tmp_path / "small.h5", tokens, acts, [("enc.l0", 12), ("enc.l1", 12)])
    monkeypatch.setattr(placement, "PROCESS_BYTES", 0)  # this small store counts as large
    app = NeurotuiApp([path])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.screen.compute_ranking("variance")
        for _ in range(200):
            await settle(pilot)
            if app.session.active.rankings and "variance" in app.session.active.rankings:
                break
        ranking = app.session.active.rankings["variance"]
        assert ranking.order[0] == 23  # the widest neuron
        # The card's words and exact histogram came from the card child process.
        card = app.screen.query_one(NeuronCard).card
        assert card is not None and card.top_words and card.extra["exact_histogram"]
        assert sum(card.histogram) == sum(len(t) for t in tokens)
        assert app.screen.query_one(NeuronList).rows[0].neuron == 23
    with neurotui.store.open(path) as reopened:
        assert "variance" in reopened.rankings


@sync
async def test_a_constant_neuron_card_jumps_from_top_and_bottom() -> None:
    """A neuron that never changes has the same tokens as top and bottom contexts: the card
    lists both (it ended the app with Textual's DuplicateID) and Enter on the bottom one
    jumps there."""
    from neurotui.store.memory import MemoryStore
    from neurotui.tui.testing import make_tokens

    tokens = make_tokens(6)
    acts = [np.ones((len(t), 4), dtype=np.float32) for t in tokens]
    store = MemoryStore(tokens, acts, [("l0", 4)], metadata={"name": "flat"})
    app = NeurotuiApp(stores=[store])
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        card = app.screen.query_one(NeuronCard)
        assert card.card is not None and card.card.top and card.card.bottom
        options = card.query_one("#card-jumps")
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        bottom = [i for i, oid in enumerate(ids) if oid and oid.startswith("ctx:bottom:")]
        named = [oid for oid in ids if oid]
        assert bottom and len(set(named)) == len(named)
        target = card.card.bottom[-1]
        options.focus()
        options.highlighted = bottom[-1]
        await pilot.press("enter")
        await settle(pilot)
        view = app.screen.query_one(SentenceView)
        assert (view.cursor_sentence, view.cursor_position) == (target.sentence, target.position)
        assert app.is_running
