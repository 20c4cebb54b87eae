"""The one interval finder behind eclipses, contacts and link windows.

Given a function f(row, t) sampled on a uniform grid, find every interval where f >= 0 and
refine its ends by bisection on f itself. A short interval that falls between two samples is
found too: at every local maximum of the samples that is still negative, a parabola through
the three samples estimates the peak, and where it comes within `peak_margin` of zero the
true maximum is searched (golden section) before giving up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Evaluate = Callable[[IntArray, FloatArray], FloatArray]

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class Windows:
    """Intervals as parallel arrays, sorted by row then start.

    start_clipped / end_clipped mark intervals already under way at the grid's first
    sample or still open at its last one.
    """

    row: IntArray
    start_s: FloatArray
    end_s: FloatArray
    start_clipped: NDArray[np.bool_]
    end_clipped: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.row)


def bisect_crossings(
    evaluate: Evaluate,
    rows: IntArray,
    lo_s: FloatArray,
    hi_s: FloatArray,
    rising: bool,
    tolerance_s: float,
) -> FloatArray:
    """Crossing times of f through 0 within [lo, hi]; f(lo) < 0 <= f(hi) when rising, the
    reverse when falling. Vectorised over crossings."""
    lo, hi = lo_s.astype(np.float64).copy(), hi_s.astype(np.float64).copy()
    if len(rows) == 0:
        return lo
    width = float(np.max(hi - lo))
    for _ in range(max(1, int(np.ceil(np.log2(max(width, tolerance_s) / tolerance_s))))):
        mid = 0.5 * (lo + hi)
        inside = evaluate(rows, mid) >= 0.0
        move_hi = inside if rising else ~inside
        hi = np.where(move_hi, mid, hi)
        lo = np.where(move_hi, lo, mid)
    return 0.5 * (lo + hi)


def golden_maximum(
    evaluate: Evaluate,
    rows: IntArray,
    lo_s: FloatArray,
    hi_s: FloatArray,
    tolerance_s: float,
) -> tuple[FloatArray, FloatArray]:
    """Time and value of the maximum of a unimodal f on [lo, hi], per row."""
    a, b = lo_s.astype(np.float64).copy(), hi_s.astype(np.float64).copy()
    if len(rows) == 0:
        return a, a.copy()
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc, fd = evaluate(rows, c), evaluate(rows, d)
    while float(np.max(b - a)) > tolerance_s:
        left = fc >= fd  # the maximum lies in [a, d]
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        new_c = b - _GOLDEN * (b - a)
        new_d = a + _GOLDEN * (b - a)
        # one of the two interior points carries over; evaluate all for simplicity of shape
        c, d = new_c, new_d
        fc, fd = evaluate(rows, c), evaluate(rows, d)
    t = np.where(fc >= fd, c, d)
    return t, np.maximum(fc, fd)


def find_windows(
    times_s: ArrayLike,
    values: ArrayLike,
    evaluate: Evaluate,
    tolerance_s: float = 0.01,
    peak_margin: float = 0.0,
) -> Windows:
    """Intervals where f >= 0 for each row of `values` (n_rows, n_t) sampled at `times_s`
    (uniform). `evaluate(rows, t)` computes f for paired rows and times in float64."""
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(values)
    inside = v >= 0
    rows_list: list[IntArray] = []
    times_list: list[FloatArray] = []
    kinds_list: list[IntArray] = []

    def add(rows: IntArray, when: FloatArray, kind: int) -> None:
        rows_list.append(rows)
        times_list.append(when)
        kinds_list.append(np.full(len(rows), kind, dtype=np.int64))

    rise_r, rise_k = np.nonzero(~inside[:, :-1] & inside[:, 1:])
    add(rise_r, bisect_crossings(evaluate, rise_r, t[rise_k], t[rise_k + 1], True, tolerance_s), 1)
    fall_r, fall_k = np.nonzero(inside[:, :-1] & ~inside[:, 1:])
    add(
        fall_r, bisect_crossings(evaluate, fall_r, t[fall_k], t[fall_k + 1], False, tolerance_s), -1
    )

    if v.shape[1] >= 3 and peak_margin > 0:
        y0, y1, y2 = v[:, :-2], v[:, 1:-1], v[:, 2:]
        local_max = (y1 < 0) & (y1 >= y0) & (y1 >= y2)
        pr, pk = np.nonzero(local_max)
        a, b, c = (y[pr, pk].astype(np.float64) for y in (y0, y1, y2))
        curvature = a - 2 * b + c
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(curvature < 0, b - (c - a) ** 2 / (8 * curvature), b)
        near = vertex > -peak_margin
        pr, pk = pr[near], pk[near] + 1
        peak_t, peak_v = golden_maximum(evaluate, pr, t[pk - 1], t[pk + 1], tolerance_s)
        hit = peak_v >= 0
        pr, pk, peak_t = pr[hit], pk[hit], peak_t[hit]
        add(pr, bisect_crossings(evaluate, pr, t[pk - 1], peak_t, True, tolerance_s), 1)
        add(pr, bisect_crossings(evaluate, pr, peak_t, t[pk + 1], False, tolerance_s), -1)

    open_rows = np.nonzero(inside[:, 0])[0]
    add(open_rows, np.full(len(open_rows), t[0]), 2)  # 2: a start clipped at the first sample
    close_rows = np.nonzero(inside[:, -1])[0]
    add(close_rows, np.full(len(close_rows), t[-1]), -2)

    rows = np.concatenate(rows_list).astype(np.int64)
    when = np.concatenate(times_list)
    kinds = np.concatenate(kinds_list)
    # Sort by row, then time; at equal times a start sorts before an end.
    order = np.lexsort((-kinds, when, rows))
    rows, when, kinds = rows[order], when[order], kinds[order]
    starts = kinds > 0
    ends = ~starts
    if starts.sum() != ends.sum() or np.any(rows[starts] != rows[ends]):
        raise RuntimeError("find_windows: interval starts and ends do not pair up")
    return Windows(
        rows[starts],
        when[starts],
        when[ends],
        kinds[starts] == 2,
        kinds[ends] == -2,
    )
