"""Extraction from a (tiny, random) LSTM, the store commands, and the sample stores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from numerics import assert_same_run  # beside this file: pytest puts tests/ on sys.path

import neurotui.store as ns
import neurotui.store.extract as ex
from neurotui.cli import main
from neurotui.errors import DataError
from neurotui.models.seq2seq import LSTMSeq2SeqBackend, Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab

SRC = [
    "the cat sleeps .",
    "a small dog eats the bread .",
    "she runs",
    "the cat eats",
    "the cat sleeps .",
]
TGT = [
    "le chat dort .",
    "un petit chien mange le pain .",
    "elle court",
    "le chat mange",
    "le chat dort .",
]
POS = ["DT NN VBZ .", "DT JJ NN VBZ DT NN .", "PRP VBZ", "DT NN VBZ", "DT NN VBZ ."]


def tiny_seq2seq() -> LSTMSeq2SeqBackend:
    torch.manual_seed(0)
    sv, tv = Vocab.build(SRC), Vocab.build(TGT)
    cfg = Seq2SeqConfig(
        len(sv), len(tv), emb=12, enc_hidden=8, enc_layers=2, dec_hidden=16, dec_layers=2
    )
    return LSTMSeq2SeqBackend(Seq2SeqModel(cfg), sv, tv, name="tiny")


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    backend = tiny_seq2seq()
    monkeypatch.setattr(
        "neurotui.models.registry.load_backend", lambda name, device="auto", **kw: backend
    )
    out = {}
    for name, lines in (("text.en", SRC), ("text.fr", TGT), ("text.pos", POS)):
        out[name] = tmp_path / name
        out[name].write_text("\n".join(lines) + "\n")
    return out


def test_extract_encoder_rows_match_words(files: dict[str, Path], tmp_path: Path) -> None:
    result = ex.extract("tiny", files["text.en"], tmp_path / "enc.h5", batch_size=2)
    assert any("duplicate of line 1" in w for w in result.warnings)
    backend = tiny_seq2seq()
    direct = backend.encode(SRC, [s.name for s in backend.sites() if s.side == "encoder"])
    with ns.open(tmp_path / "enc.h5") as store:
        assert store.layer_names == ["enc.l0.fw", "enc.l0.bw", "enc.l1.fw", "enc.l1.bw"]
        assert store.sentences == len(SRC)
        for i, line in enumerate(SRC):
            assert store.tokens(i) == line.split()
            expect = np.concatenate([direct[i][n] for n in store.layer_names], axis=1)
            assert_same_run(store.activations(i), expect)
        meta = store.metadata
        assert meta["side"] == "encoder" and meta["aggregation"] == "mean"
        assert meta["model"]["name"] == "tiny"
        assert len(meta["source"]["sha256"]) == 64
        assert store.has_summary


def test_extract_decoder_and_both_sides(files: dict[str, Path], tmp_path: Path) -> None:
    result = ex.extract(
        "tiny", files["text.en"], tmp_path / "acts.h5", side="both", targets=files["text.fr"]
    )
    assert set(result.paths) == {"encoder", "decoder"}
    assert result.paths["decoder"].name == "acts.dec.h5"
    with ns.open(result.paths["decoder"]) as dec:
        assert dec.layer_names == ["dec.l0", "dec.l1"]
        assert [dec.tokens(i) for i in range(dec.sentences)] == [t.split() for t in TGT]
        assert dec.metadata["extraction"]["targets"]["path"] == str(files["text.fr"])
    # own output when no reference is given (two lines: random weights decode long)
    short = tmp_path / "short.en"
    short.write_text("she runs\nthe cat eats\n")
    own = ex.extract("tiny", short, tmp_path / "own.h5", sites=["dec.l1"])
    with ns.open(own.paths["decoder"]) as dec:
        assert dec.layer_names == ["dec.l1"]
        assert dec.metadata["extraction"]["targets"] == {"model_output": "greedy"}


def test_extract_row_mismatch_names_file_and_line(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = tiny_seq2seq()
    real = backend.encode

    def short(sentences, sites=None, **kw):  # type: ignore[no-untyped-def]
        rows = real(sentences, sites, **kw)
        rows[2] = {k: v[:-1] for k, v in rows[2].items()}
        return rows

    backend.encode = short  # type: ignore[method-assign]
    with pytest.raises(
        DataError,
        match=r"text.en:3: model tiny returned 1 rows at site enc.l0.fw for a line of 2 words",
    ):
        ex.extract(backend, files["text.en"], tmp_path / "bad.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_interrupted_extraction_leaves_no_file(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = tiny_seq2seq()
    calls = {"n": 0}
    real = backend.encode

    def flaky(*a, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    backend.encode = flaky  # type: ignore[method-assign]
    monkeypatch.setattr(ex, "_STEP", 2)
    with pytest.raises(KeyboardInterrupt):
        ex.extract(backend, files["text.en"], tmp_path / "out.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)


def test_commands_end_to_end(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.h5"
    assert (
        main(["extract", "tiny", str(files["text.en"]), "-o", str(store), "--dtype", "float16"])
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    assert main(["label", str(store), "--task", "pos", str(files["text.pos"])]) == 0
    capsys.readouterr()
    assert main(["info", str(store), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "neurotui" and doc["dtype"] == "float16"
    assert doc["sentences"] == 5 and doc["tokens"] == sum(len(s.split()) for s in SRC)
    assert doc["label_tasks"] == {"pos": {"classes": 6}}
    assert doc["summaries"]["k"] >= 10 and doc["neurons"] == 32
    assert main(["info", str(store)]) == 0
    assert "labels     pos (6 classes)" in capsys.readouterr().out
    nx = tmp_path / "s.hdf5"
    assert main(["convert", str(store), str(nx), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to"] == "neurox-hdf5"
    back = tmp_path / "back.h5"
    assert main(["convert", str(nx), str(back)]) == 0
    with ns.open(store) as a, ns.open(back) as b:
        assert a.layer_names == b.layer_names
        np.testing.assert_array_equal(a.activations(1), b.activations(1))


def test_command_errors_are_one_line(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.h5"
    assert main(["extract", "tiny", str(files["text.en"]), "-o", str(store)]) == 0
    before = store.read_bytes()
    bad = tmp_path / "bad.pos"
    bad.write_text("\n".join(POS[:2] + ["PRP"] + POS[3:]) + "\n")
    capsys.readouterr()
    assert main(["label", str(store), "--task", "pos", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.pos:3: 1 labels but sentence 2 has 2 tokens" in err
    assert store.read_bytes() == before
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    assert main(["info", str(empty)]) == 2
    assert "empty file" in capsys.readouterr().err
    assert (
        main(
            [
                "extract",
                "tiny",
                str(files["text.en"]),
                "-o",
                str(tmp_path / "x.h5"),
                "--sites",
                "enc.l7",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown site 'enc.l7'" in err and "Traceback" not in err
    assert not (tmp_path / "x.h5").exists()


def test_sample_store_is_built_once_and_reused(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = tmp_path / "samples"
    (samples / "synth-en-fr-1").mkdir(parents=True)
    (samples / "synth-en-fr-1" / "config.json").write_text("{}")
    (samples / "synth-en-fr-1" / "model.safetensors").write_bytes(b"weights-v1")
    data = samples / "synth-data"
    data.mkdir()
    (data / "analysis.en").write_text(files["text.en"].read_text())
    (data / "analysis.pos").write_text(files["text.pos"].read_text())
    (data / "analysis.position").write_text(
        "\n".join(" ".join(str(i) for i in range(len(s.split()))) for s in SRC) + "\n"
    )
    monkeypatch.setenv("NEUROTUI_SAMPLES", str(samples))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = ns.sample_store()
    with ns.open(first) as store:
        assert store.label_tasks == ["pos", "position"]
        assert store.labels("pos")[0] == POS[0].split()
    stamp = first.stat().st_mtime_ns
    assert ns.sample_store() == first and first.stat().st_mtime_ns == stamp
    (samples / "synth-en-fr-1" / "model.safetensors").write_bytes(b"weights-v2")  # retrained
    second = ns.sample_store()
    assert second != first and second.is_file() and not first.exists()


def test_nan_activations_are_counted_reported_and_excluded(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = tiny_seq2seq()
    real = backend.encode

    def with_nan(*a, **kw):  # type: ignore[no-untyped-def]
        rows = real(*a, **kw)
        rows[1]["enc.l0.fw"][2, 3] = np.nan
        rows[3]["enc.l0.fw"][0, 3] = np.inf
        return rows

    backend.encode = with_nan  # type: ignore[method-assign]
    result = ex.extract(backend, files["text.en"], tmp_path / "nan.h5")
    assert any(
        "2 NaN/Inf activation values, most at neuron enc.l0.fw:3" in w for w in result.warnings
    )
    with ns.open(tmp_path / "nan.h5") as store:
        st = store.stats
        assert st.nonfinite[3] == 2 and st.nonfinite.sum() == 2
        assert np.isfinite(st.mean[3]) and np.isfinite(st.max[3])
        values = store.neuron_values(3)
        np.testing.assert_allclose(st.mean[3], values[np.isfinite(values)].mean(), rtol=1e-5)
        assert all(np.isfinite(e.value) for e in store.top_examples(3, 5))
    assert main(["info", str(tmp_path / "nan.h5"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["summaries"]["nonfinite_values"] == 2
