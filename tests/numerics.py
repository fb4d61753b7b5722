"""Tolerances for comparing two float32 runs of a model that differ only in how they ran.

Why a helper: batching, padding and the thread count change the order in which float32
sums are taken (other matmul blockings), so two correct runs of the same forward differ by
a few units in the last place of the *largest* values of a site, not of each value. A
per-value tolerance (``atol=1e-4``) is then flaky on sites whose values reach the hundreds
(random-weight T5 does), while a scale-free one hides nothing a real bug would cause:
padding that leaks, a wrong row or a missed edit moves values by a sizeable fraction of the
site's range.
"""

from __future__ import annotations

import numpy as np

#: relative to the site's largest magnitude: float32 has 24 bits (6e-8); sums over a few
#: hundred to a few thousand terms in another order stay well inside 1e-4 of the scale
SCALE_TOLERANCE = 1e-4


def assert_same_run(actual: np.ndarray, desired: np.ndarray, err_msg: str = "") -> None:
    """``actual`` equals ``desired`` up to float32 reordering at the scale of ``desired``."""
    desired = np.asarray(desired)
    scale = max(1.0, float(np.max(np.abs(desired))) if desired.size else 1.0)
    np.testing.assert_allclose(
        actual, desired, rtol=SCALE_TOLERANCE, atol=SCALE_TOLERANCE * scale, err_msg=err_msg
    )
