"""A causal LM's continuation checked against a draft equals ``generate``'s greedy one.

The app continues one prompt again and again under changing edits; the backend checks the
prompt's last continuation as a draft (``neurotui.models.hf_draft``). Whatever the draft
(the right one, one wrong from a middle token on, random tokens, longer than asked), the
tokens must be the ones transformers' ``generate`` picks, with and without an edit, on every
decoder-only family of the family test (tiny random models built from transformers' own
configs; nothing is downloaded).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hf_families import LM_FAMILIES, build  # noqa: E402

from neurotui.intervene.apply import intervening  # noqa: E402
from neurotui.intervene.bind import bind  # noqa: E402
from neurotui.intervene.spec import Intervention, Positions  # noqa: E402
from neurotui.models.hf import load_hf_backend  # noqa: E402

PROMPT = "the cat sees the dog"
NEW = 12


def _run(backend, draft: list[int] | None, bound=()):
    """Continue PROMPT with ``draft`` in the memo (``None``: plain ``generate``)."""
    import torch

    backend.draft_decoding = draft is not None
    item = backend._lm_items([PROMPT], eos=False)[0]
    if draft is not None:
        backend._drafts.put(item.ids, draft)
    with torch.inference_mode(), intervening(backend, bound):
        return backend.translate([PROMPT], max_len=NEW)[0]


def _drafts(reference: list[int], vocab: int) -> dict[str, list[int]]:
    rng = np.random.default_rng(0)
    wrong = list(reference)
    if len(wrong) > 4:
        wrong[4] = (wrong[4] + 1) % vocab
    return {
        "right": list(reference),
        "wrong-from-4": wrong,
        "random": [int(t) for t in rng.integers(0, vocab, size=NEW)],
        "too-long": [*reference, *reference],
    }


@pytest.mark.parametrize("family", LM_FAMILIES)
def test_drafted_continuation_is_the_greedy_one(tmp_path, family) -> None:
    backend = load_hf_backend(build(family, tmp_path / family), "cpu")
    vocab = int(backend.model.config.vocab_size)
    ffn = next(s.name for s in backend.sites() if s.name.endswith((".ffn", ".mlp")))
    edits = {
        "none": (),
        "clamp-everywhere": bind(
            [Intervention(neurons=(0, 1, 2), site=ffn, op="set", value=3.0)], backend
        ),
        "clamp-at-a-word": bind(
            [
                Intervention(
                    neurons=(0, 1, 2),
                    site="lm.l1",
                    op="set",
                    value=5.0,
                    positions=Positions.word("cat"),
                )
            ],
            backend,
            sentences=[PROMPT],
        ),
    }
    for edit, bound in edits.items():
        plain = _run(backend, None, bound)
        ids = plain.extra["ids"]
        assert ids, f"{family}/{edit}: generate gave nothing"
        for kind, draft in _drafts(ids, vocab).items():
            drafted = _run(backend, draft, bound)
            # a cache whose sliding-window layers are past their (tiny) window cannot be
            # cut back: the backend says so by turning drafting off, and uses generate
            window = getattr(backend.model.config, "sliding_window", None) or 10**6
            if window > len(ids) + 8:
                assert backend.draft_decoding, f"{family}: drafting fell back to generate"
            assert drafted.extra["ids"] == ids, f"{family}/{edit}/{kind}"
            assert drafted.text == plain.text
            assert drafted.logprob == pytest.approx(plain.logprob, rel=1e-4, abs=1e-4)
        assert backend.active_hook_count() == 0


def test_the_memo_makes_the_draft_and_edits_stay_exact(tmp_path) -> None:
    """As the app uses it: original, then a run of changing clamps, each drafted from the
    last; each equals its own ``generate`` run, and the edit changes the continuation."""
    backend = load_hf_backend(build("llama", tmp_path / "llama"), "cpu")
    original = _run(backend, None)
    backend.draft_decoding = True
    changed = 0
    for value in (0.5, 2.0, 8.0, 8.5, 40.0):
        bound = bind(
            [Intervention(neurons=tuple(range(8)), site="lm.l1.ffn", op="set", value=value)],
            backend,
        )
        import torch

        with torch.inference_mode(), intervening(backend, bound):
            drafted = backend.translate([PROMPT], max_len=NEW)[0]
        assert drafted.extra["ids"] == _run(backend, None, bound).extra["ids"], value
        backend.draft_decoding = True
        changed += drafted.extra["ids"] != original.extra["ids"]
    assert changed >= 1
