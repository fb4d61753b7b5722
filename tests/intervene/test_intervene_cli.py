"""The intervention commands end to end on a tiny checkpoint: translate flags, ablate, replay."""

from __future__ import annotations

import json

import pytest
import torch

from neurotui.cli import main
from neurotui.data.synthetic import generate
from neurotui.models.checkpoint import save_checkpoint
from neurotui.models.seq2seq import Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab
from neurotui.store.ranking import Ranking

EXAMPLES = generate(20, seed=4)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    src = Vocab.build([e.src for e in EXAMPLES])
    tgt = Vocab.build([e.tgt for e in EXAMPLES])
    config = {
        "neurotui_format": 1,
        "kind": "lstm-seq2seq",
        "emb": 8,
        "enc_hidden": 6,
        "enc_layers": 1,
        "dec_hidden": 8,
        "dec_layers": 1,
        "dropout": 0.0,
    }
    cfg = Seq2SeqConfig(
        len(src),
        len(tgt),
        emb=8,
        enc_hidden=6,
        enc_layers=1,
        dec_hidden=8,
        dec_layers=1,
        dropout=0.0,
    )
    folder = tmp_path_factory.mktemp("models") / "tiny-s2s"
    save_checkpoint(
        folder, config, Seq2SeqModel(cfg), {"vocab.src.json": src, "vocab.tgt.json": tgt}
    )
    return folder


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip().startswith("{") else out.out), out.err


def test_translate_flags_log_and_replay(model_dir, tmp_path, capsys) -> None:
    log = tmp_path / "runs.jsonl"
    sentence = EXAMPLES[0].src
    argv = [
        "translate",
        str(model_dir),
        sentence,
        EXAMPLES[1].src,
        "--device",
        "cpu",
        "--max-len",
        "6",
        "--ablate",
        "enc.l0.fw:0-5",
        "--clamp",
        "enc.l0.bw:1,2=3.5",
        "--positions",
        "0,1",
        "--log",
        str(log),
        "--json",
    ]
    code, doc, _ = run_json(capsys, argv)
    assert code == 0
    assert [iv["op"] for iv in doc["interventions"]] == ["zero", "set"]
    assert doc["interventions"][1]["value"] == [3.5, 3.5]
    assert len(doc["translations"]) == 2 and doc["log"] == str(log)
    row = doc["translations"][0]
    assert set(row) >= {"source", "original", "modified", "changed", "modified_changed"}
    # plain-text form marks changes; the log holds both runs and replays
    code, text, _ = run_json(capsys, argv[:-1])
    assert code == 0 and "original:" in text and "modified:" in text
    code, text, _ = run_json(capsys, ["replay", str(log), "--all", "--device", "cpu"])
    assert code == 0 and text.count("matches") == 2
    code, text, _ = run_json(capsys, ["replay", str(log), "--list"])
    assert code == 0 and "translate" in text
    # a record whose outputs were altered does not replay
    lines = log.read_text().splitlines()
    record = json.loads(lines[0])
    record["modified"] = ["autre chose"] * 2
    log.write_text(json.dumps(record) + "\n")
    code, doc, _ = run_json(capsys, ["replay", str(log), "--json", "--device", "cpu"])
    assert code == 1 and doc["matches"] is False


def test_translate_flag_errors_are_one_line(model_dir, capsys) -> None:
    base = ["translate", str(model_dir), EXAMPLES[0].src, "--device", "cpu", "--no-log"]
    for flags, message in [
        (["--clamp", "enc.l0.fw:1=2σ"], "needs an activation store"),
        (["--clamp", "enc.l0.fw:1"], "expected SITE:N=VALUE"),
        (["--ablate", "enc.l9.fw:1"], "unknown site 'enc.l9.fw'"),
        (["--ablate", "enc.l0.fw:99"], "out of range"),
        (["--ablate", "enc.l0.fw:1", "--positions", "40"], "out of range for sentence 1"),
    ]:
        code = main(base + flags)
        err = capsys.readouterr().err
        assert code == 2, flags
        assert message in err and err.count("\n") == 1, err


def test_ablate_command_with_a_ranking_file(model_dir, tmp_path, capsys) -> None:
    src, ref = tmp_path / "test.en", tmp_path / "test.fr"
    src.write_text("\n".join(e.src for e in EXAMPLES[:6]) + "\n")
    ref.write_text("\n".join(e.tgt for e in EXAMPLES[:6]) + "\n")
    names = [f"enc.l0.{d}:{i}" for d in ("fw", "bw") for i in range(6)]
    ranking = tmp_path / "ranking.json"
    ranking.write_text(Ranking(method="file", order=list(range(12)), neuron_names=names).to_json())
    log = tmp_path / "log.jsonl"
    argv = [
        "ablate",
        str(model_dir),
        "--ranking",
        str(ranking),
        "--src",
        str(src),
        "--ref",
        str(ref),
        "--steps",
        "3,12",
        "--max-len",
        "6",
        "--device",
        "cpu",
        "--log",
        str(log),
        "--json",
    ]
    code, doc, _ = run_json(capsys, argv)
    assert code == 0
    assert [r["n"] for r in doc["top"]] == [3, 12] and {"bleu", "chrf"} <= set(doc["top"][0])
    assert doc["bottom"][-1]["bleu"] == pytest.approx(doc["top"][-1]["bleu"])  # all 12 zeroed
    code, text, _ = run_json(capsys, ["replay", str(log), "--device", "cpu"])
    assert code == 0 and "matches" in text
    code = main([*argv[:-1], "--steps", "13"])
    assert code == 2 and "ranking orders 12" in capsys.readouterr().err
