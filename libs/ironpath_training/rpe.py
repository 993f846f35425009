"""The RTS RPE chart (Tuchscherer): %1RM for a set of `reps` at `rpe`.

The chart is one curve read at "reps plus reps in reserve": a set of 5 at RPE 8 (2 in
reserve) is as hard as 7 reps at RPE 10, so both are 81.1 % of 1RM. The curve is indexed in
half steps, from 1 rep at RPE 10 (100 %) to 12 reps at RPE 6 (16 effort reps).
"""

from __future__ import annotations

import functools
import math

# %1RM at effort = reps + (10 - RPE), for effort 1, 1.5, 2, ... 16.
_CURVE = (
    100.0, 97.8, 95.5, 93.9, 92.2, 90.7, 89.2, 87.8, 86.3, 85.0,
    83.7, 82.4, 81.1, 79.9, 78.6, 77.4, 76.2, 75.1, 73.9, 72.3,
    70.7, 69.4, 68.0, 66.7, 65.3, 64.0, 62.6, 61.3, 59.9, 58.6, 57.4,
)  # fmt: skip
MIN_RPE = 6.0
MAX_RPE = 10.0
MAX_CHART_REPS = 12


def _effort_index(reps: int, rpe: float) -> float:
    return (reps + (MAX_RPE - rpe) - 1) * 2


def percent_of_1rm(reps: int, rpe: float) -> float:
    """Fraction of 1RM (0.811 for 5 @ 8) for 1-12 reps at RPE 6-10, interpolating half steps."""
    if not 1 <= reps <= MAX_CHART_REPS:
        raise ValueError(f"the chart covers 1-{MAX_CHART_REPS} reps, not {reps}")
    if not MIN_RPE <= rpe <= MAX_RPE:
        raise ValueError(f"the chart covers RPE {MIN_RPE:g}-{MAX_RPE:g}, not {rpe}")
    index = _effort_index(reps, rpe)
    low = math.floor(index)
    high = min(low + 1, len(_CURVE) - 1)
    fraction = index - low
    return (_CURVE[low] * (1 - fraction) + _CURVE[high] * fraction) / 100


@functools.lru_cache(maxsize=4096)
def rpe_for(reps: int, fraction_of_1rm: float) -> float:
    """The chart's RPE for `reps` at a fraction of 1RM, to the nearest half step, held to 6-10
    (the chart has no lower rows: lighter sets are "RPE 6 or less")."""
    best_rpe, best_gap = MIN_RPE, math.inf
    reps = min(max(reps, 1), MAX_CHART_REPS)
    steps = int((MAX_RPE - MIN_RPE) * 2) + 1
    for step in range(steps):
        rpe = MIN_RPE + step / 2
        gap = abs(percent_of_1rm(reps, rpe) - fraction_of_1rm)
        if gap < best_gap - 1e-12:
            best_rpe, best_gap = rpe, gap
    return best_rpe


def estimated_1rm(load: float, reps: int, rpe: float | None) -> float:
    """e1RM of a performed set: the RTS chart when reps (<= 12) and RPE are known, else Epley."""
    if reps <= 0 or load <= 0:
        return 0.0
    if rpe is not None and MIN_RPE <= rpe <= MAX_RPE and reps <= MAX_CHART_REPS:
        return load / percent_of_1rm(reps, rpe)
    return load * (1 + reps / 30)
