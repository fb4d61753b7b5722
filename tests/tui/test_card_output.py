"""The output side of a neuron, end to end: the app's neuron card and ``top-words``.

A tiny random Llama (from ``hf_families``) whose vocabulary holds a token that looks like
Rich markup (``[b]``), rigged so that MLP neuron ``lm.l1.ffn:0`` promotes it above all
else: if the card passed model tokens through markup, the token would vanish (and the
text after it turn bold). Its store records the model folder, as ``neurotui extract``
writes it; the app and the CLI load the model from there. A BERT store (an encoder) and
the store of a model that is gone show nothing new / a one-line note.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import torch  # noqa: E402
from hf_families import _LM_SPECIALS, LINES, build, build_model, word_tokenizer  # noqa: E402

from neurotui.analysis import output_side  # noqa: E402
from neurotui.tui.testing import settle, sync  # noqa: E402

MARKUP = "[b]"
SITE = "lm.l1.ffn"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config and cache of each test in its own folder; no model kept between tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    output_side.forget_models()


def _rigged_llama(folder: Path) -> Path:
    """A tiny Llama whose neuron ``lm.l1.ffn:0`` (block 0's MLP) promotes ``[b]`` most:
    that token's unembedding row is the neuron's output column through the final norm."""
    tok = word_tokenizer(
        [*_LM_SPECIALS, MARKUP],
        None,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    model = build_model("llama", len(tok))
    with torch.no_grad():
        column = model.model.layers[0].mlp.down_proj.weight[:, 0]
        direction = model.model.norm.weight * column
        row = model.get_output_embeddings().weight
        row[tok.convert_tokens_to_ids(MARKUP)] = 50 * direction / direction.norm()
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _extract(model: Path, out: Path, site: str) -> Path:
    from neurotui.store.extract import extract

    text = out.parent / "text.txt"
    text.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    extract(model, text, out, sites=[site], device="cpu", batch_size=4)
    return out


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The rigged model folder, its store, and the direct logit effects of neurons 0, 1."""
    from neurotui.models.registry import load_backend

    root = tmp_path_factory.mktemp("card-llama")
    folder = _rigged_llama(root / "llama")
    store = _extract(folder, root / "llama.h5", SITE)
    backend = load_backend(folder, "cpu")
    effects = {n: backend.neuron_logit_effect(SITE, n, k=8) for n in (0, 1)}
    return {"folder": folder, "store": store, "effects": effects}


@pytest.fixture(scope="module")
def bert_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card-bert")
    return _extract(build("bert", root / "bert"), root / "bert.h5", "enc.l1.ffn")


async def _until(pilot: Any, predicate: Any, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting for the card"
        await pilot.pause(0.05)


def _manipulate_ready(screen: Any) -> bool:
    """The Manipulate mode has its runner, a loaded model and a first outcome."""
    return (
        getattr(screen, "runner", None) is not None
        and screen.runner.backend is not None
        and screen.outcome is not None
    )


@sync
async def test_card_lists_promoted_tokens_of_an_llm_mlp_neuron(llama: dict[str, Any]) -> None:
    import neurotui.store as ns
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.widgets.neuron_card import NeuronCard

    store = ns.open(llama["store"])
    app = NeurotuiApp(stores=[store], open_default=False, device="cpu")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        card = app.screen.query_one(NeuronCard)
        for neuron in (0, 1):
            if neuron:
                await pilot.press("j")
                await settle(pilot)
            await _until(
                pilot,
                lambda n=neuron: (
                    card.card is not None and card.card.neuron == n and not card.card.output_pending
                ),
            )
            want = llama["effects"][neuron]
            assert card.card.output_model == str(llama["folder"])
            assert card.card.output_note == ""
            assert [t for t, _ in card.card.promoted] == [t for t, _ in want.promoted]
            assert [t for t, _ in card.card.suppressed] == [t for t, _ in want.suppressed]
            for (_, ours), (_, theirs) in zip(card.card.promoted, want.promoted, strict=True):
                assert ours == pytest.approx(theirs, rel=1e-5)
            shown = card.query_one("#card-output")
            text = str(shown.render())
            assert shown.display and "▲ promotes" in text and "▼ suppresses" in text
            first = text.split("▲ promotes")[1].splitlines()[1]
            assert first.startswith(want.promoted[0][0])
        # neuron 0 was rigged: the markup-like token is first, drawn literally
        assert llama["effects"][0].promoted[0][0] == MARKUP
    store.close()


@sync
async def test_card_of_an_encoder_store_shows_no_output_side(bert_store: Path) -> None:
    import neurotui.store as ns
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.widgets.neuron_card import NeuronCard

    store = ns.open(bert_store)
    app = NeurotuiApp(stores=[store], open_default=False, device="cpu")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        card = app.screen.query_one(NeuronCard)
        await _until(pilot, lambda: card.card is not None and not card.card.extra["words_pending"])
        assert card.card.output_model is None and not card.card.promoted
        assert not card.query_one("#card-output").display
    assert output_side.cached_backend(bert_store.parent / "bert", "cpu") is None
    store.close()


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from neurotui import cli

    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_top_words_lists_promoted_tokens(
    llama: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(llama["store"])
    want = llama["effects"][0]
    code, out, _ = _cli(["top-words", store, f"{SITE}:0", "-k", "8", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert [r["token"] for r in doc["promoted"]] == [t for t, _ in want.promoted]
    assert [r["token"] for r in doc["suppressed"]] == [t for t, _ in want.suppressed]
    assert doc["promoted"][0]["token"] == MARKUP
    assert doc["output_model"] == str(llama["folder"])
    code, out, _ = _cli(["top-words", store, f"{SITE}:0", "-k", "3"], capsys)
    lines = out.splitlines()
    promotes = next(line for line in lines if line.startswith("promotes (llama):"))
    assert promotes.split(":", 1)[1].split()[0] == MARKUP
    assert any(line.startswith("suppresses:") for line in lines)
    # --no-model: the words only
    code, out, _ = _cli(["top-words", store, f"{SITE}:0", "--no-model", "--json"], capsys)
    assert code == 0 and json.loads(out)["promoted"] == []


def test_top_words_without_a_loadable_model(
    llama: dict[str, Any],
    bert_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # an encoder store: nothing new, and no model is loaded for it
    code, out, err = _cli(["top-words", str(bert_store), "enc.l1.ffn:0", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["promoted"] == [] and doc["output_model"] is None and not err
    # the store's model was deleted since: a warning, the words still printed
    gone = shutil.copytree(llama["folder"], tmp_path / "gone")
    store = _extract(gone, tmp_path / "gone.h5", SITE)
    shutil.rmtree(gone)
    code, out, err = _cli(["top-words", str(store), f"{SITE}:0", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["promoted"] == [] and doc["top_contexts"]
    assert "no promoted tokens" in err and len(err.strip().splitlines()) == 1
    # ... but given with --model, it is read from there; a --model that is no model fails
    code, out, _ = _cli(
        ["top-words", str(store), f"{SITE}:0", "--model", str(llama["folder"]), "--json"], capsys
    )
    assert json.loads(out)["promoted"][0]["token"] == MARKUP
    code, out, err = _cli(
        ["top-words", str(store), f"{SITE}:0", "--model", str(tmp_path / "none")], capsys
    )
    assert code == 2 and err.startswith("neurotui: error:") and len(err.strip().splitlines()) == 1


@sync
async def test_app_loads_the_model_in_the_dtype_asked(llama: dict[str, Any]) -> None:
    """``neurotui app … --dtype bfloat16``: the translation modes' model is loaded in that
    compute type, and the Manipulate mode continues the store's sentence with it."""
    import neurotui.store as ns
    from neurotui.tui.app import NeurotuiApp

    store = ns.open(llama["store"])
    app = NeurotuiApp(stores=[store], open_default=False, device="cpu", model_dtype="bfloat16")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        screen = app.screen
        await _until(pilot, lambda: _manipulate_ready(screen))
        assert str(screen.runner.backend.dtype) == "torch.bfloat16"
        assert screen.outcome.comparison.original.extra["ids"]
        screen.close_runner()
    store.close()


@sync
async def test_card_and_manipulate_share_one_load(
    llama: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The card's promoted tokens and the Manipulate mode need the same model: it is read
    once per process (two concurrent loads of a GGUF file on two cores took three times as
    long as one), whichever asks first."""
    import neurotui.models.registry as registry
    import neurotui.store as ns
    from neurotui.analysis import output_side
    from neurotui.tui.app import NeurotuiApp
    from neurotui.tui.widgets.neuron_card import NeuronCard

    output_side.forget_models()
    loads: list[str] = []
    real = registry.load_backend

    def counted(*args: Any, **kwargs: Any) -> Any:
        loads.append(str(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "load_backend", counted)
    store = ns.open(llama["store"])
    app = NeurotuiApp(stores=[store], open_default=False, device="cpu")
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        card = app.screen.query_one(NeuronCard)
        await _until(pilot, lambda: card.card is not None and not card.card.output_pending)
        await pilot.press("2")
        screen = app.screen
        await _until(pilot, lambda: _manipulate_ready(screen))
        assert screen.runner.backend is output_side.cached_backend(llama["folder"], "cpu")
        assert loads == [str(llama["folder"])]
        screen.close_runner()
    store.close()
    output_side.forget_models()
