"""The background runner: results, ids, supersession, cancellation, failure isolation."""

from __future__ import annotations

import threading

import pytest
import torch

from neurotui.data.synthetic import generate
from neurotui.errors import NeurotuiError
from neurotui.intervene.apply import DecodeSettings, translate
from neurotui.intervene.bind import bind
from neurotui.intervene.runner import Failed, Progress, RequestCancelled, Result, Runner, Started
from neurotui.intervene.spec import Intervention
from neurotui.models.seq2seq import LSTMSeq2SeqBackend, Seq2SeqConfig, Seq2SeqModel
from neurotui.models.vocab import Vocab

EXAMPLES = generate(40, seed=9)
SENTS = [e.src for e in EXAMPLES]


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


@pytest.fixture
def runner(backend):
    with Runner(backend) as r:
        yield r


def test_result_and_events(runner, backend) -> None:
    bound = bind([Intervention(neurons=(0, 1), site="enc.l0.fw", op="zero")], backend)

    def job(ctx):
        ctx.progress("go", 0, 1)
        return [
            t.text
            for t in translate(ctx.backend, SENTS[:3], bound, DecodeSettings(), ctx.should_stop)
        ]

    rid = runner.submit(job)
    event = runner.wait(rid, timeout=30)
    assert isinstance(event, Result) and event.request_id == rid and len(event.value) == 3
    kinds = []
    while not runner.events.empty():
        kinds.append(type(runner.events.get()))
    assert kinds == [Started, Progress, Result]
    assert runner.state == "idle"
    assert runner.wait(rid) is event  # a finished request can still be waited on


def test_failure_fails_only_that_request(runner, backend) -> None:
    def bad(ctx):
        raise ValueError("broken job")

    def oom(ctx):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    def user(ctx):
        raise NeurotuiError("spec.json: op 'x' is not one of zero, set, add, scale")

    kept = []

    def leak(ctx):
        kept.append(ctx.backend.edits({"enc.l0.fw": lambda h, c: h}))
        kept[-1].__enter__()  # never exited: a buggy job leaves its hook attached
        return "leaked"

    failed = runner.wait(runner.submit(bad), timeout=30)
    assert (
        isinstance(failed, Failed)
        and "broken job" in failed.message
        and "ValueError" in failed.details
    )
    failed = runner.wait(runner.submit(oom), timeout=30)
    assert isinstance(failed, Failed) and failed.out_of_memory and "out of memory" in failed.message
    failed = runner.wait(runner.submit(user), timeout=30)
    assert isinstance(failed, Failed) and failed.user_error and failed.details == ""
    failed = runner.wait(runner.submit(leak), timeout=30)
    assert isinstance(failed, Failed) and "hook" in failed.message
    kept[-1].__exit__(None, None, None)
    assert backend.active_hook_count() == 0
    # the runner lives on
    ok = runner.wait(runner.submit(lambda ctx: len(ctx.backend.translate(SENTS[:2]))), timeout=30)
    assert isinstance(ok, Result) and ok.value == 2
    with pytest.raises(RuntimeError, match="broken"):
        runner.call(bad, timeout=30)


def test_cancel_between_batches_and_steps(runner) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(ctx):
        started.set()
        release.wait(10)
        # batch_size 1: should_stop is polled between batches and decoding steps
        return ctx.backend.translate(SENTS * 5, batch_size=1, should_stop=ctx.should_stop)

    rid = runner.submit(slow)
    assert started.wait(10)
    assert runner.current == rid and runner.state == "busy"
    assert runner.cancel(rid)
    release.set()
    assert isinstance(runner.wait(rid, timeout=30), RequestCancelled)
    assert runner.cancel(rid) is False  # already finished


def test_newer_request_in_a_group_supersedes_older(runner) -> None:
    gate = threading.Event()
    running = threading.Event()

    def first(ctx):
        running.set()
        gate.wait(10)
        return "stale"  # returns normally, but was superseded meanwhile

    a = runner.submit(first, group="sentence")
    assert running.wait(10)
    b = runner.submit(lambda ctx: "pending-then-superseded", group="sentence")
    c = runner.submit(lambda ctx: "fresh", group="sentence")
    assert not runner.is_current(a) and not runner.is_current(b) and runner.is_current(c)
    gate.set()
    assert isinstance(runner.wait(a, timeout=30), RequestCancelled)
    assert isinstance(runner.wait(b, timeout=30), RequestCancelled)
    last = runner.wait(c, timeout=30)
    assert isinstance(last, Result) and last.value == "fresh"
    assert runner.is_current(last)


def test_callback_delivery_and_factory_loading_on_the_worker(backend) -> None:
    seen = []
    threads = []

    def factory():
        threads.append(threading.current_thread().name)
        return backend

    with Runner(factory, on_event=seen.append, name="iv-worker") as r:
        rid = r.submit(lambda ctx: threading.current_thread().name)
        event = r.wait(rid, timeout=30)
    assert threads == ["iv-worker"] and event.value == "iv-worker"
    assert [type(e) for e in seen] == [Started, Result]
    assert r.state == "closed"
    with pytest.raises(NeurotuiError, match="closed"):
        r.submit(lambda ctx: None)


def test_intervention_jobs(backend) -> None:
    """Real intervention work as runner jobs: a bind error is a user error, an ablation
    curve reports progress and stops when its group is cancelled."""
    from neurotui.intervene.ablation import plan_ablation, run_ablation
    from neurotui.intervene.bind import bind
    from neurotui.intervene.compare import compare
    from neurotui.store.ranking import Ranking

    def compare_job(sentences, spec, settings=None):
        def job(ctx):
            bound = bind(spec, ctx.backend, None, sentences=sentences)
            return compare(ctx.backend, sentences, bound, settings, ctx.should_stop)

        return job

    def ablation_job(plan, sources, references, settings):
        def job(ctx):
            return run_ablation(
                ctx.backend,
                plan,
                sources,
                references,
                settings=settings,
                should_stop=ctx.should_stop,
                progress=ctx.progress,
                keep_outputs=True,
            )

        return job

    events = []
    started = threading.Event()

    def listen(event):
        events.append(event)
        if isinstance(event, Progress) and event.group == "ablation":
            started.set()

    with Runner(backend, on_event=listen) as r:
        spec = [Intervention(neurons=(0, 1, 2), site="enc.l0.fw", op="scale", value=-5.0)]
        event = r.wait(
            r.submit(compare_job(SENTS[:3], spec, settings=DecodeSettings(max_len=5))), 30
        )
        assert isinstance(event, Result) and len(event.value) == 3
        bad = [Intervention(neurons=(99,), site="enc.l0.fw", op="zero")]
        event = r.wait(r.submit(compare_job(SENTS[:3], bad)), 30)
        assert isinstance(event, Failed) and event.user_error and "out of range" in event.message
        plan = plan_ablation(Ranking("ids", list(range(16))), [2, 4, 8], backend=backend)
        job = ablation_job(
            plan, SENTS * 3, [e.tgt for e in EXAMPLES] * 3, DecodeSettings(batch_size=4)
        )
        rid = r.submit(job, group="ablation")
        assert started.wait(30)
        r.cancel_group("ablation")
        assert isinstance(r.wait(rid, 30), RequestCancelled)
    assert any(isinstance(e, Progress) and e.request_id == rid for e in events)
    assert backend.active_hook_count() == 0
