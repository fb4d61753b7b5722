"""The Intervention value: JSON round trip and one-line validation errors."""

from __future__ import annotations

import json

import pytest
import torch

from neurotui.intervene.bind import bind
from neurotui.intervene.spec import (
    Intervention,
    Positions,
    SpecError,
    load_spec,
    parse_spec,
    save_spec,
)
from neurotui.models.seq2seq import LSTMSeq2SeqBackend, Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab


@pytest.fixture(scope="module")
def backend() -> LSTMSeq2SeqBackend:
    torch.manual_seed(0)
    vocab = Vocab.build(["the boy sees a dog ."])
    cfg = Seq2SeqConfig(
        len(vocab),
        len(vocab),
        emb=8,
        enc_hidden=4,
        enc_layers=2,
        dec_hidden=8,
        dec_layers=1,
        dropout=0.0,
    )
    return LSTMSeq2SeqBackend(Seq2SeqModel(cfg), vocab, vocab, name="tiny")


def test_json_round_trip() -> None:
    doc = {
        "interventions": [
            {
                "site": "enc.l1.fw",
                "neurons": [3, 1],
                "positions": [0, -1],
                "op": "set",
                "value": 2.5,
                "unit": "sigma",
            },
            {
                "neurons": ["enc.l0.bw:2"],
                "positions": {"word": "boy"},
                "op": "scale",
                "value": [0.5],
            },
            {"neurons": [7], "site": "dec.l0", "op": "zero", "name": "kill"},
            {"neurons": ["enc.l0.fw:1"], "positions": {"regex": "^s"}, "op": "add", "value": 1},
            {
                "neurons": ["enc.l0.fw:1"],
                "positions": {"sentences": {"the boy": [1]}},
                "op": "add",
                "value": 1,
            },
        ]
    }
    ivs = parse_spec(doc)
    again = parse_spec(json.loads(json.dumps([iv.to_dict() for iv in ivs])))
    assert again == ivs
    assert ivs[0].positions == Positions.at([0, -1])
    assert ivs[1].value == (0.5,)
    assert ivs[2].name == "kill" and ivs[2].value is None
    assert "σ" in ivs[0].describe()


def test_short_position_forms() -> None:
    assert Positions.parse("all").kind == "all"
    assert Positions.parse("0,2,-1").indices == (0, 2, -1)
    assert Positions.parse("word:the").select(["the", "boy", "sees", "the", "dog"]) == {0, 3}
    assert Positions.parse("re:^s").select(["the", "boy", "sees"]) == {2}
    with pytest.raises(SpecError, match="positions"):
        Positions.parse("first")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"neurons": [1], "op": "smash"}, "op 'smash' is not one of"),
        ({"neurons": [1], "op": "set", "value": 1, "unit": "kelvin"}, "unit 'kelvin'"),
        ({"neurons": [1], "op": "set"}, "op set needs a value"),
        ({"neurons": [], "op": "zero"}, "no neurons"),
        ({"neurons": [1, 2], "op": "set", "value": [1.0]}, "1 values for 2 neurons"),
        ({"neurons": [1], "op": "scale", "value": 2, "unit": "sigma"}, "scale takes a raw factor"),
        ({"neurons": [1], "op": "zero", "unit": "sigma"}, "zero takes no unit"),
        ({"neurons": ["enc.l0"], "op": "zero"}, "not a name like"),
        ({"neurons": [-1], "op": "zero"}, "negative"),
        ({"neurons": [1], "op": "zero", "colour": "red"}, "unknown field 'colour'"),
        ({"neurons": [1], "op": "set", "value": "high"}, "expected a number"),
        ({"neurons": [1], "positions": {"regex": "("}, "op": "zero"}, "bad regex"),
        ({"neurons": [1], "positions": [1.5], "op": "zero"}, "must hold integers"),
    ],
)
def test_spec_errors_are_one_line(data, message) -> None:
    with pytest.raises(SpecError, match=message) as info:
        parse_spec(data)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("iv", "message"),
    [
        (Intervention(neurons=(1,), site="enc.l9.fw"), "unknown site 'enc.l9.fw'"),
        (Intervention(neurons=(4,), site="enc.l0.fw"), "neuron 4 out of range for enc.l0.fw"),
        (Intervention(neurons=("nope.l0:1",)), "unknown site 'nope.l0'"),
        (Intervention(neurons=("enc.l0.bw:1",), site="enc.l0.fw"), "not in site enc.l0.fw"),
        (Intervention(neurons=(10_000,)), "global neuron id 10000"),
        (
            Intervention(neurons=(1,), site="enc.l0.fw", positions=Positions.at([6])),
            "position 6 is out of range",
        ),
        (
            Intervention(neurons=(1,), site="dec.l0", positions=Positions.word("boy")),
            "decoder site dec.l0",
        ),
        (Intervention(neurons=(1,), site="dec.l0", positions=Positions.at([-1])), "no negative"),
        (
            Intervention(neurons=(1,), site="enc.l0.fw", op="set", value=1.0, unit="sigma"),
            "needs a store",
        ),
    ],
)
def test_binding_errors(backend, iv, message) -> None:
    with pytest.raises(SpecError, match=message):
        bind([iv], backend, sentences=["the boy sees a dog ."])


def test_load_spec_names_file_and_line(tmp_path) -> None:
    path = tmp_path / "spec.json"
    path.write_text('[\n {"neurons": [1],\n  "op": }\n]')
    with pytest.raises(SpecError, match=r"spec.json:3: invalid JSON"):
        load_spec(str(path))
    path.write_text('{"neurons": [1], "op": "nope"}')
    with pytest.raises(SpecError, match=r"spec.json: .*op 'nope'"):
        load_spec(str(path))
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(str(tmp_path / "missing.json"))
    path.write_text('{"site": "enc.l0.fw", "neurons": [0, 1], "op": "zero"}')
    assert load_spec(str(path))[0].neurons == (0, 1)


def test_save_and_reload_named_spec(tmp_path) -> None:
    ivs = [
        Intervention(
            neurons=("enc.l0.fw:1", "enc.l1.bw:3"), op="set", value=(1.0, -2.0), name="tense"
        ),
        Intervention(
            neurons=(4,), site="dec.l0", op="scale", value=0.5, positions=Positions.at([0, 2])
        ),
    ]
    path = tmp_path / "specs" / "mine.json"
    save_spec(str(path), ivs)
    assert load_spec(str(path)) == ivs
    assert [p.name for p in path.parent.iterdir()] == ["mine.json"]  # no temp file left
