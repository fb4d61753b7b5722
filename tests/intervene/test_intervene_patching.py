"""Activation patching and attribution patching on tiny LSTM and Hugging Face models."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tiny_models  # beside this file: pytest puts tests/ on sys.path

from neurotui.cli import main
from neurotui.data.synthetic import generate
from neurotui.intervene.attribution import attribution_patching, spearman
from neurotui.intervene.patching import (
    Patch,
    PatchError,
    baseline_scores,
    patched_score,
    patched_translations,
    row_pairs,
    run_patches,
    tracing_sweep,
)
from neurotui.models.checkpoint import save_checkpoint

EXAMPLES = generate(40, seed=5)
CLEAN = "her proud girls did not fall ."
CORRUPT = "his mothers helped your famous birds ."  # same length (7 words)
SHORT = "the nieces were happy ."


@pytest.fixture(scope="module")
def s2s():
    return tiny_models.tiny_seq2seq(EXAMPLES, seed=2, dec_layers=1)


@pytest.fixture(scope="module")
def lm():
    return tiny_models.tiny_lm(EXAMPLES, seed=3)


def test_row_pairs_align_words_then_pieces() -> None:
    corrupt = [None, 0, 0, 1, 2, None]  # BOS, word 0 in two pieces, …, EOS
    clean = [None, 0, 1, 1, 1, None]
    assert row_pairs(corrupt, clean, 1) == [(3, 2)]
    assert row_pairs(corrupt, clean, 0) == [(1, 1), (2, 1)]  # last clean piece repeated
    # whole-site: specials paired in order, word 2 missing in the clean run is skipped
    assert row_pairs(corrupt, clean, None) == [(0, 0), (1, 1), (2, 1), (3, 2), (5, 5)]


def test_whole_top_encoder_layer_restores_the_clean_score_exactly(s2s) -> None:
    scores = baseline_scores(s2s, CLEAN, CORRUPT)
    assert scores.target == s2s.translate([CLEAN])[0].text
    assert scores.clean_logprob != pytest.approx(scores.corrupt_logprob, abs=1e-4)
    # the decoder reads only the top layer's two directions: patching both is the clean run
    both = patched_score(s2s, scores, [Patch("enc.l1.fw"), Patch("enc.l1.bw")])
    assert both == pytest.approx(scores.clean_logprob, abs=1e-4)
    assert scores.restored(both) == pytest.approx(1.0, abs=1e-3)
    # one direction alone, or a few neurons, restores something else
    one = patched_score(s2s, scores, [Patch("enc.l1.fw")])
    assert one != pytest.approx(scores.clean_logprob, abs=1e-4)
    few = patched_score(s2s, scores, [Patch("enc.l1.fw", (0, 1), 3)])
    assert few != pytest.approx(one, abs=1e-6)
    # batched single patches equal the same patches run one at a time
    batch = run_patches(s2s, scores, [Patch("enc.l0.fw", None, 2), Patch("enc.l0.fw", (1,), 5)])
    alone = [patched_score(s2s, scores, [p]) for p in (Patch("enc.l0.fw", None, 2),)]
    assert batch[0] == pytest.approx(alone[0], abs=1e-4)
    assert s2s.active_hook_count() == 0
    with pytest.raises(PatchError, match="out of range"):
        patched_score(s2s, scores, [Patch("enc.l1.fw", (99,))])
    with pytest.raises(PatchError, match="unknown site"):
        patched_score(s2s, scores, [Patch("enc.l7.fw")])
    with pytest.raises(PatchError, match="empty"):
        baseline_scores(s2s, " ", CORRUPT)


def test_sweep_map_shape_json_and_different_lengths(s2s) -> None:
    tmap = tracing_sweep(s2s, CLEAN, SHORT)
    assert tmap.sites == [s.name for s in s2s.sites()]
    assert len(tmap.positions) == 5 and tmap.positions[0] == "0:her→the"
    assert any("aligned from the start" in n for n in tmap.notes)
    for i, site in enumerate(tmap.sites):
        if site.startswith("dec."):
            assert tmap.logprob[i] == [None] * 5  # decoder: whole site only
        else:
            assert all(isinstance(v, float) for v in tmap.logprob[i])
    doc = json.loads(json.dumps(tmap.to_dict()))
    assert doc["sites"][0]["restored"][0] is not None
    rows = tmap.csv_rows()
    assert rows[0] == ["site", "position", "word", "logprob", "restored"]
    assert len(rows) == 1 + 4 * 6 + 1  # 4 encoder sites × (5 positions + all), 1 decoder
    assert s2s.active_hook_count() == 0


def test_language_model_continuation_patching(lm) -> None:
    clean, corrupt = CLEAN, CORRUPT
    scores = baseline_scores(lm, clean, corrupt, target="the cat")
    # the logits read only the last layer: patching all of it restores the clean score
    full = patched_score(lm, scores, [Patch("lm.l1")])
    assert full == pytest.approx(scores.clean_logprob, abs=1e-4)
    # a prompt position of the last layer feeds no later position: no effect at all
    at = patched_score(lm, scores, [Patch("lm.l1", None, 2)])
    assert at == pytest.approx(scores.corrupt_logprob, abs=1e-5)
    assert lm.active_hook_count() == 0


def test_patched_translations_generate_with_the_patch(s2s, lm) -> None:
    scores = baseline_scores(s2s, CLEAN, CORRUPT)
    top = patched_translations(s2s, scores, [Patch("enc.l1.fw"), Patch("enc.l1.bw")])
    assert top.restored == pytest.approx(1.0, abs=1e-4)
    assert top.patched == top.clean  # the decoder reads only the top layer
    one = patched_translations(s2s, scores, [Patch("enc.l0.fw", None, 1)])
    assert one.logprob == pytest.approx(patched_score(s2s, scores, [Patch("enc.l0.fw", None, 1)]))
    assert isinstance(one.patched, str)
    decoder = patched_translations(s2s, scores, [Patch("dec.l0")])
    assert decoder.patched is None and "decoder" in decoder.note
    assert s2s.active_hook_count() == 0
    # a language model: only the prompt pass is patched; later steps run as generated
    lm_scores = baseline_scores(lm, CLEAN, CORRUPT, target="the cat")
    full = patched_translations(lm, lm_scores, [Patch("lm.l1")])
    assert full.logprob == pytest.approx(lm_scores.clean_logprob, abs=1e-4)
    assert isinstance(full.patched, str) and full.patched.split()
    assert lm.active_hook_count() == 0


def test_attribution_matches_real_patching_on_a_small_model(s2s) -> None:
    result = attribution_patching(s2s, CLEAN, CORRUPT, sites=["enc.l0.fw", "enc.l1.fw"], check=12)
    assert len(result.names) == 16 and result.checked == 12
    assert abs(result.estimate[0]) >= abs(result.estimate[-1])
    # first-order estimate vs real effects: must agree in rank on a random tiny model
    assert result.spearman_abs() is not None and result.spearman_abs() > 0.5
    ranking = result.ranking()
    assert ranking.neuron_names[0] == result.names[0]
    assert s2s.active_hook_count() == 0


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None


def test_patch_cli(s2s, tmp_path, capsys) -> None:
    folder = tmp_path / "tiny"
    config = {
        "neurotui_format": 1,
        "kind": "lstm-seq2seq",
        "emb": 16,
        "enc_hidden": 8,
        "enc_layers": 2,
        "dec_hidden": 16,
        "dec_layers": 1,
        "dropout": 0.0,
    }
    save_checkpoint(
        folder,
        config,
        s2s.model,
        {"vocab.src.json": s2s.src_vocab, "vocab.tgt.json": s2s.tgt_vocab},
    )
    base = ["patch", str(folder), "--clean", CLEAN, "--corrupt", CORRUPT, "--device", "cpu"]
    out_json, out_csv = tmp_path / "map.json", tmp_path / "map.csv"
    assert (
        main([*base, "--sites", "enc.l0.fw,dec.l0", "--json", str(out_json), "--csv", str(out_csv)])
        == 0
    )
    text = capsys.readouterr().out
    assert "restored share" in text and "enc.l0.fw" in text
    doc = json.loads(out_json.read_text())
    assert [s["site"] for s in doc["sites"]] == ["enc.l0.fw", "dec.l0"]
    rows = list(csv.reader(out_csv.open()))
    assert rows[0][0] == "site" and len(rows) == 1 + 8 + 1
    assert main([*base, "--patch", "enc.l1.fw", "--patch", "enc.l1.bw", "--json", "-"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert one["restored"] == pytest.approx(1.0, abs=1e-3)
    # the whole top encoder layer is all the decoder reads: the patched output is the clean one
    assert one["patched_output"] == one["clean_output"]
    ranking = tmp_path / "r.json"
    argv = [*base, "--attribution", "--sites", "enc.l0.fw", "--check", "3"]
    assert main([*argv, "--ranking-out", str(ranking)]) == 0
    assert "Spearman" in capsys.readouterr().out
    assert json.loads(ranking.read_text())["method"] == "attribution-patching"
    for extra, message in (
        (["--sites", "enc.l9.fw"], "unknown site 'enc.l9.fw'"),
        (["--patch", "enc.l0.fw:99"], "out of range"),
        (["--patch", "enc.l0.fw@x"], "position after @"),
    ):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("neurotui: error:") and message in err and err.count("\n") == 1
    assert main(["patch", str(folder), "--clean", "", "--corrupt", CORRUPT]) == 2
    assert "--clean: the sentence is empty" in capsys.readouterr().err


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("sentencepiece")
    import test_hf_backend

    from neurotui.models.hf import load_hf_backend

    root = tmp_path_factory.mktemp("hf-patch")
    out = {}
    for family in ("marian", "gpt2"):
        test_hf_backend._build(family, root / family)
        out[family] = load_hf_backend(root / family, "cpu")
    return out


@pytest.mark.parametrize("family", ["marian", "gpt2"])
def test_hf_patching_restores_from_the_embeddings(hf_models, family) -> None:
    backend = hf_models[family]
    clean, corrupt = "the cat sees the dog", "the dog sees the cat"
    target = "the cat" if family == "gpt2" else None
    scores = baseline_scores(backend, clean, corrupt, target)
    emb = backend.sites()[0].name
    assert emb.endswith(".l0")  # the embeddings: block 0's input
    # the embeddings feed everything: patching all of them is the clean run
    full = patched_score(backend, scores, [Patch(emb)])
    assert full == pytest.approx(scores.clean_logprob, abs=1e-3)
    last = backend.sites()[-1].name
    tmap = tracing_sweep(backend, clean, corrupt, sites=[emb, last], target=target)
    assert len(tmap.positions) == 5 and tmap.whole_site[0] == pytest.approx(full, abs=1e-3)
    # patching an unchanged word restores nothing from the embeddings
    assert tmap.logprob[0][0] == pytest.approx(scores.corrupt_logprob, abs=1e-3)
    # generated with the embeddings patched: the prompt/encoder pass is the clean one
    outputs = patched_translations(backend, scores, [Patch(emb)])
    assert outputs.patched == outputs.clean
    assert outputs.logprob == pytest.approx(full, abs=1e-4)
    result = attribution_patching(backend, clean, corrupt, sites=[emb], target=target, check=8)
    assert result.checked == 8 and np.isfinite(result.estimate).all()
    assert backend.active_hook_count() == 0
