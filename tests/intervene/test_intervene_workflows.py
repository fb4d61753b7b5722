"""The workflows the CLI and the app share: one manipulation step, one logged control run."""

from __future__ import annotations

import json

import pytest
import torch

from neurotui.data.synthetic import generate
from neurotui.errors import DataError
from neurotui.intervene.apply import DecodeSettings, translate
from neurotui.intervene.spec import Intervention
from neurotui.intervene.workflows import manipulation_step
from neurotui.models.seq2seq import LSTMSeq2SeqBackend, Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab

EXAMPLES = generate(30, seed=4)
SENTS = [e.src for e in EXAMPLES]
SPEC = [Intervention(neurons=(0, 1, 2), site="enc.l0.fw", op="set", value=6.0)]


@pytest.fixture(scope="module")
def backend() -> LSTMSeq2SeqBackend:
    torch.manual_seed(0)
    src = Vocab.build(SENTS)
    tgt = Vocab.build([e.tgt for e in EXAMPLES])
    cfg = Seq2SeqConfig(
        len(src),
        len(tgt),
        emb=8,
        enc_hidden=8,
        enc_layers=1,
        dec_hidden=8,
        dec_layers=1,
        dropout=0.0,
    )
    return LSTMSeq2SeqBackend(Seq2SeqModel(cfg), src, tgt, name="tiny")


def test_manipulation_step_reuses_originals_scores_and_logs(backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sources = SENTS[:3]
    settings = DecodeSettings()
    plain = translate(backend, sources, (), settings)
    first = manipulation_step(backend, SPEC, sources, store=None, settings=settings)
    assert [t.text for t in first.originals] == [t.text for t in plain]
    assert [c.source for c in first.comparisons] == sources
    assert first.bleu is None and first.log_path is None
    assert first.description == "; ".join(b.to_intervention().describe() for b in first.bound)
    assert backend.active_hook_count() == 0

    # the next step: two originals at hand (reused as they are), one translated afresh;
    # scored against a reference and logged under a name
    known = [first.originals[0], None, first.originals[2]]
    log = tmp_path / "log.jsonl"
    second = manipulation_step(
        backend,
        SPEC,
        sources,
        store=None,
        settings=settings,
        originals=known,
        reference=first.comparisons[0].modified.text,
        log=True,
        log_path=log,
        name="loud",
        app={"store": "s", "sentence": 0},
    )
    assert second.comparisons[0].original is first.originals[0]
    assert second.originals[1].text == plain[1].text
    assert second.bleu == pytest.approx(100.0)
    assert second.log_path == log
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["kind"] == "translate" and record["name"] == "loud"
    assert record["app"] == {"store": "s", "sentence": 0}
    assert record["sources"] == sources[:1]  # the cursor sentence is what is logged
    assert record["modified"] == [second.comparisons[0].modified.text]

    with pytest.raises(DataError, match="nothing to translate"):
        manipulation_step(backend, SPEC, [], store=None)
