"""Checkpoints: save/load round trip and every bad-checkpoint case (one-line errors)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from neurotui.errors import CheckpointError
from neurotui.models.checkpoint import save_checkpoint
from neurotui.models.lm import LanguageModel, LMConfig
from neurotui.models.registry import load_backend
from neurotui.models.seq2seq import Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab

SRC = ["the cat sleeps .", "a small dog eats the bread .", "she runs"]
TGT = ["le chat dort .", "un petit chien mange le pain .", "elle court"]


def write_seq2seq(directory: Path, *, fp16: bool = False, seed: int = 0) -> Seq2SeqModel:
    torch.manual_seed(seed)
    sv, tv = Vocab.build(SRC), Vocab.build(TGT)
    cfg = Seq2SeqConfig(
        len(sv), len(tv), emb=8, enc_hidden=6, enc_layers=2, dec_hidden=10, dec_layers=2
    )
    model = Seq2SeqModel(cfg)
    save_checkpoint(
        directory, cfg.to_json(), model, {"vocab.src.json": sv, "vocab.tgt.json": tv}, fp16=fp16
    )
    return model


def write_lm(directory: Path) -> None:
    torch.manual_seed(0)
    v = Vocab.build(SRC)
    cfg = LMConfig(len(v), emb=8, hidden=10, layers=2)
    save_checkpoint(directory, cfg.to_json(), LanguageModel(cfg), {"vocab.json": v})


def refused(path: Path | str, *fragments: str) -> str:
    """Load ``path``, expect a one-line CheckpointError containing ``fragments``."""
    with pytest.raises(CheckpointError) as info:
        load_backend(path, "cpu")
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- round trip ----------------------------------------------------------------------
def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    from neurotui.models.seq2seq import LSTMSeq2SeqBackend

    model = write_seq2seq(tmp_path / "m")
    original = LSTMSeq2SeqBackend(model, Vocab.build(SRC), Vocab.build(TGT))
    loaded = load_backend(tmp_path / "m", "cpu")
    assert loaded.kind == "seq2seq" and loaded.name == "m"
    for beam in (1, 3):
        a = original.translate(SRC, beam=beam, max_len=8)
        b = loaded.translate(SRC, beam=beam, max_len=8)
        assert [(t.text, t.logprob) for t in a] == [(t.text, t.logprob) for t in b]
    ea, eb = original.encode(SRC, targets=TGT), loaded.encode(SRC, targets=TGT)
    for ra, rb in zip(ea, eb, strict=True):
        assert all((ra[k] == rb[k]).all() for k in ra)
    # the written files are safetensors + JSON only, readable by everyone
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == ["config.json", "model.safetensors", "vocab.src.json", "vocab.tgt.json"]
    assert ((tmp_path / "m" / "config.json").stat().st_mode & 0o777) == 0o644


def test_fp16_weights_load_as_fp32(tmp_path: Path) -> None:
    model = write_seq2seq(tmp_path / "m", fp16=True)
    loaded = load_backend(tmp_path / "m", "cpu")
    for key, value in loaded.model.state_dict().items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, model.state_dict()[key].half().float())


def test_language_model_round_trip(tmp_path: Path) -> None:
    write_lm(tmp_path / "lm")
    lm = load_backend(tmp_path / "lm", "cpu")
    assert lm.kind == "lm"
    assert lm.perplexity(SRC) == load_backend(tmp_path / "lm", "cpu").perplexity(SRC)


# -- missing things ------------------------------------------------------------------
def test_missing_directory_and_files(tmp_path: Path) -> None:
    refused(tmp_path / "nowhere", "nowhere", "no such model")
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "config.json", "missing")
    write_seq2seq(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").unlink()
    refused(tmp_path / "m", "model.safetensors", "missing")
    write_seq2seq(tmp_path / "v")
    (tmp_path / "v" / "vocab.tgt.json").unlink()
    refused(tmp_path / "v", "vocab.tgt.json", "missing")


def test_corrupt_and_truncated_weights(tmp_path: Path) -> None:
    write_seq2seq(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    refused(tmp_path / "m", "model.safetensors", "truncated")
    weights.write_bytes(data[:8] + b"{not json at all" + data[24:])
    refused(tmp_path / "m", "model.safetensors", "corrupt")
    weights.write_bytes(b"\x00\x01garbage" * 10)
    refused(tmp_path / "m", "model.safetensors")
    weights.write_bytes(b"")
    refused(tmp_path / "m", "model.safetensors")


def test_bad_json(tmp_path: Path) -> None:
    write_seq2seq(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{\n "neurotui_format": 1,\n "kind": \n}')
    refused(tmp_path / "m", "config.json:4", "invalid JSON")
    write_seq2seq(tmp_path / "v")
    (tmp_path / "v" / "vocab.src.json").write_text('["<pad>"]')
    refused(tmp_path / "v", "vocab.src.json", "not a neurotui vocabulary")


# -- pickles are refused and never loaded ---------------------------------------------
class Payload:
    """Unpickling this creates ``marker`` — proof that a loader unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


def test_the_payload_would_fire(tmp_path: Path) -> None:
    marker = tmp_path / "fired"
    pickle.loads(pickle.dumps(Payload(marker)))  # our own payload, in the test only
    assert marker.exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickled_checkpoints_are_refused_unopened(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "unpickled"
    evil = pickle.dumps({"weights": Payload(marker)}, protocol=protocol)
    # 1. a pickle given directly, under several names
    for name in ("model.pt", "model.bin", "weights.safetensors", "noext"):
        (tmp_path / name).write_bytes(evil)
        message = refused(tmp_path / name, name)
        assert "pickle" in message
    # 2. a directory holding only a pickled checkpoint
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "pytorch_model.bin").write_bytes(evil)
    refused(tmp_path / "hf", "pytorch_model.bin", "never unpickles")
    # 3. a neurotui checkpoint whose weights were replaced by a pickle
    write_seq2seq(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(evil)
    refused(tmp_path / "m", "model.safetensors", "pickle")
    (tmp_path / "m" / "model.safetensors").unlink()
    (tmp_path / "m" / "model.pt").write_bytes(evil)
    refused(tmp_path / "m", "model.pt", "pickle")
    # 4. a pickle posing as config.json
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_bytes(evil)
    refused(tmp_path / "c", "config.json", "pickle")
    assert not marker.exists()


def test_torch_save_zip_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    torch.save({"x": torch.zeros(2), "evil": Payload(marker)}, tmp_path / "ckpt.safetensors")
    refused(tmp_path / "ckpt.safetensors", "ckpt.safetensors", "pickle")
    write_seq2seq(tmp_path / "m")
    shutil.copy(tmp_path / "ckpt.safetensors", tmp_path / "m" / "model.safetensors")
    refused(tmp_path / "m", "model.safetensors", "pickle")
    assert not marker.exists()


# -- wrong kind ----------------------------------------------------------------------
def test_wrong_kinds_of_file(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "store.h5", "w") as f:
        f["x"] = [1, 2, 3]
    refused(tmp_path / "store.h5", "store.h5", "HDF5")
    (tmp_path / "notes.txt").write_text("the cat sleeps .\n")
    refused(tmp_path / "notes.txt", "notes.txt", "not a model checkpoint")
    write_seq2seq(tmp_path / "m")
    refused(tmp_path / "m" / "model.safetensors", "weights file alone")
    shutil.copy(tmp_path / "store.h5", tmp_path / "m" / "model.safetensors")
    refused(tmp_path / "m", "model.safetensors", "HDF5")


# -- another architecture ---------------------------------------------------------------
def _edit_config(directory: Path, **changes: object) -> None:
    path = directory / "config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config))


def test_config_for_another_architecture(tmp_path: Path) -> None:
    write_seq2seq(tmp_path / "m")
    _edit_config(tmp_path / "m", kind="transformer")
    refused(tmp_path / "m", "config.json", "'transformer'", "not a neurotui model kind")
    _edit_config(tmp_path / "m", kind="lstm-seq2seq", neurotui_format=7)
    refused(tmp_path / "m", "config.json", "neurotui_format 7")
    _edit_config(tmp_path / "m", neurotui_format=None)
    refused(tmp_path / "m", "config.json", "neither a neurotui checkpoint")
    _edit_config(tmp_path / "m", neurotui_format=1, enc_layers="two")
    refused(tmp_path / "m", "config.json", "enc_layers")
    _edit_config(tmp_path / "m", enc_layers=None)
    refused(tmp_path / "m", "config.json", "field 'enc_layers' is missing")
    _edit_config(tmp_path / "m", enc_layers=2, dropout=1.5)
    refused(tmp_path / "m", "config.json", "dropout")


def test_weights_that_do_not_match_the_config(tmp_path: Path) -> None:
    write_seq2seq(tmp_path / "m")
    _edit_config(tmp_path / "m", enc_hidden=7)
    refused(tmp_path / "m", "model.safetensors", "shape")
    _edit_config(tmp_path / "m", enc_hidden=6, enc_layers=3)
    refused(tmp_path / "m", "model.safetensors", "missing", "encoder.2")
    _edit_config(tmp_path / "m", enc_layers=1)
    refused(tmp_path / "m", "model.safetensors", "unexpected", "encoder.1")
    _edit_config(tmp_path / "m", enc_layers=2, src_vocab=999)
    refused(tmp_path / "m", "config.json", "src_vocab is 999", "vocab.src.json")
    # an LM's weights under a seq2seq config
    write_lm(tmp_path / "lm")
    _edit_config(tmp_path / "lm", kind="lstm-seq2seq")
    refused(tmp_path / "lm", "vocab.src.json", "missing")
