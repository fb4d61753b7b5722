"""Heavy jobs in a child process: progress is relayed, user errors come back as one line."""

from __future__ import annotations

import pytest

from neurotui.errors import NeurotuiError
from neurotui.tui.procjob import run_in_process


class _Ctx:
    def cancelled(self) -> bool:
        return False


def test_child_result_progress_and_errors() -> None:
    ctx = _Ctx()
    seen: list[tuple[object, ...]] = []
    result = run_in_process(
        ctx, "neurotui.tui.testing:child_count", (3,), relay=lambda *r: seen.append(r)
    )
    assert result == {"counted": 3}
    assert seen and seen[0][0] == "counting" and seen[-1][2] == 3
    with pytest.raises(NeurotuiError, match="labels.txt line 3"):
        run_in_process(ctx, "neurotui.tui.testing:child_count", (1, True), relay=lambda *r: None)
