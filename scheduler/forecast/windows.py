"""The one interval finder behind eclipses, contacts and link windows.

Given a function f(row, t) sampled on a uniform grid, find every interval where f >= 0 and
refine its ends on f itself: bisection down to a bracket of `tolerance_s`, then one step of
linear interpolation inside it (f is smooth, so the result is far better than the bracket).
A short interval that falls between two samples is found too: at every local maximum of
the samples that is still negative, a parabola through the three samples estimates the
peak, and where it comes within `peak_margin` of zero the true maximum is searched (golden
section) before giving up. Optionally each interval's peak (time and value of max f) is
located the same way.
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
# Bisection stops at this bracket; linear interpolation inside it then lands within a few
# ms for the smooth functions used here (elevation, shadow angles): the error is about
# f'' h^2 / (8 f'), e.g. 1e-5 * 1 / 8e-3 ~ 1 ms for sin(elevation) at the mask. It grows
# where f barely clears zero (a grazing pass a few seconds long): ~0.1 s at worst.
DEFAULT_BRACKET_S = 1.0
# Peaks are located to this; f is flat there, so the peak value is far more precise.
DEFAULT_PEAK_TOLERANCE_S = 1.0
# A sample next to a hidden peak lies within this many peak margins below zero.
_PEAK_PREFILTER = 10.0


@dataclass(frozen=True)
class Windows:
    """Intervals as parallel arrays, sorted by row then start.

    start_clipped / end_clipped mark intervals already under way at the grid's first
    sample or still open at its last one. peak_s / peak_value are filled when asked for.
    """

    row: IntArray
    start_s: FloatArray
    end_s: FloatArray
    start_clipped: NDArray[np.bool_]
    end_clipped: NDArray[np.bool_]
    peak_s: FloatArray | None = None
    peak_value: FloatArray | None = None

    def __len__(self) -> int:
        return len(self.row)


def bisect_crossings(
    evaluate: Evaluate,
    rows: IntArray,
    lo_s: FloatArray,
    hi_s: FloatArray,
    f_lo: FloatArray,
    f_hi: FloatArray,
    bracket_s: float = DEFAULT_BRACKET_S,
) -> FloatArray:
    """Zero crossings of f within [lo, hi] where f(lo) and f(hi) differ in sign (either way
    round), vectorised over crossings."""
    lo, hi = lo_s.astype(np.float64), hi_s.astype(np.float64)
    flo, fhi = f_lo.astype(np.float64), f_hi.astype(np.float64)
    if len(rows) == 0:
        return lo
    width = float(np.max(hi - lo))
    rising = fhi >= 0
    for _ in range(max(0, int(np.ceil(np.log2(max(width, bracket_s) / bracket_s))))):
        mid = 0.5 * (lo + hi)
        fmid = evaluate(rows, mid)
        to_hi_side = (fmid >= 0) == rising  # the crossing is in [lo, mid]
        hi = np.where(to_hi_side, mid, hi)
        fhi = np.where(to_hi_side, fmid, fhi)
        lo = np.where(to_hi_side, lo, mid)
        flo = np.where(to_hi_side, flo, fmid)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(fhi != flo, flo / (flo - fhi), 0.5)
    return lo + np.clip(share, 0.0, 1.0) * (hi - lo)


def golden_maximum(
    evaluate: Evaluate,
    rows: IntArray,
    lo_s: FloatArray,
    hi_s: FloatArray,
    tolerance_s: float = DEFAULT_PEAK_TOLERANCE_S,
) -> tuple[FloatArray, FloatArray]:
    """Time and value of the maximum of a unimodal f on [lo, hi], per row; one evaluation
    per iteration."""
    a, b = lo_s.astype(np.float64), hi_s.astype(np.float64)
    if len(rows) == 0:
        return a, a.copy()
    c = b - _GOLDEN * (b - a)
    d = a + _GOLDEN * (b - a)
    fc, fd = evaluate(rows, c), evaluate(rows, d)
    for _ in range(
        int(
            np.ceil(np.log(max(float(np.max(b - a)), tolerance_s) / tolerance_s) / -np.log(_GOLDEN))
        )
    ):
        left = fc >= fd  # the maximum lies in [a, d]: d becomes the new upper bound
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        # The surviving interior point carries over; one new point is evaluated.
        new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        f_new = evaluate(rows, new)
        d, fd, c, fc = (
            np.where(left, c, new),
            np.where(left, fc, f_new),
            np.where(left, new, d),
            np.where(left, f_new, fd),
        )
    better_c = fc >= fd
    return np.where(better_c, c, d), np.where(better_c, fc, fd)


def _hidden_peaks(
    t: FloatArray, v: NDArray[np.floating], evaluate: Evaluate, margin: float
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Local maxima of the samples that stay negative but whose true peak clears zero:
    (row, sample index, peak time, peak value)."""
    # One pass over the samples picks the few near zero (a sample next to a hidden peak is
    # close to it); the local-maximum test then runs on those alone.
    pr, pk = np.nonzero((v[:, 1:-1] < 0) & (v[:, 1:-1] > -_PEAK_PREFILTER * margin))
    y0, y1, y2 = v[pr, pk], v[pr, pk + 1], v[pr, pk + 2]
    is_max = (y1 >= y0) & (y1 >= y2)
    pr, pk = pr[is_max], pk[is_max]
    a, b, c = y0[is_max].astype(np.float64), y1[is_max].astype(np.float64), y2[is_max]
    curvature = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(curvature < 0, b - (c - a) ** 2 / (8 * curvature), b)
    near = vertex > -margin
    pr, pk = pr[near], pk[near] + 1
    peak_t, peak_v = golden_maximum(evaluate, pr, t[pk - 1], t[pk + 1], 0.05)
    hit = peak_v >= 0
    return pr[hit], pk[hit], peak_t[hit], peak_v[hit]


def _peaks_of(
    t: FloatArray,
    v: NDArray[np.floating],
    evaluate: Evaluate,
    rows: IntArray,
    start_s: FloatArray,
    end_s: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Peak of f in each window, assuming f is unimodal there: the best sample is found by
    binary search on the slope of the samples, then refined by golden section next to it."""
    step = t[1] - t[0]
    first = np.ceil((start_s - t[0]) / step).astype(np.int64)
    last = np.floor((end_s - t[0]) / step).astype(np.int64)
    lo, hi = first.copy(), np.maximum(last, first)
    n_t = len(t)
    while np.any(lo < hi):
        mid = (lo + hi) // 2
        up = v[rows, np.minimum(mid + 1, n_t - 1)] > v[rows, mid]
        active = lo < hi
        lo = np.where(active & up, mid + 1, lo)
        hi = np.where(active & ~up, mid, hi)
    k = np.clip(lo, 0, n_t - 1)
    bracket_lo = np.maximum(start_s, t[np.maximum(k - 1, 0)])
    bracket_hi = np.minimum(end_s, t[np.minimum(k + 1, n_t - 1)])
    no_sample = first > last  # a window found between samples
    bracket_lo = np.where(no_sample, start_s, bracket_lo)
    bracket_hi = np.where(no_sample, end_s, bracket_hi)
    return golden_maximum(evaluate, rows, bracket_lo, bracket_hi)


def find_windows(
    times_s: ArrayLike,
    values: ArrayLike,
    evaluate: Evaluate,
    bracket_s: float = DEFAULT_BRACKET_S,
    peak_margin: float = 0.0,
    peaks: bool = False,
) -> Windows:
    """Intervals where f >= 0 for each row of `values` (n_rows, n_t) sampled at `times_s`
    (uniform). `evaluate(rows, t)` computes f for paired rows and times in float64."""
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(values)
    inside = v >= 0
    rows_list: list[IntArray] = []
    times_list: list[FloatArray] = []
    kinds_list: list[IntArray] = []

    def add(rows: IntArray, when: FloatArray, kind: IntArray | int) -> None:
        rows_list.append(rows)
        times_list.append(when)
        kinds_list.append(np.broadcast_to(np.asarray(kind, dtype=np.int64), len(rows)))

    # +1 where the samples step into an interval, -1 where they step out.
    step = np.diff(inside.view(np.int8), axis=1)
    er, ek = np.nonzero(step)
    when = bisect_crossings(evaluate, er, t[ek], t[ek + 1], v[er, ek], v[er, ek + 1], bracket_s)
    add(er, when, step[er, ek].astype(np.int64))

    if v.shape[1] >= 3 and peak_margin > 0:
        pr, pk, peak_t, peak_v = _hidden_peaks(t, v, evaluate, peak_margin)
        f_before = v[pr, pk - 1].astype(np.float64)
        f_after = v[pr, pk + 1].astype(np.float64)
        add(pr, bisect_crossings(evaluate, pr, t[pk - 1], peak_t, f_before, peak_v, bracket_s), 1)
        add(pr, bisect_crossings(evaluate, pr, peak_t, t[pk + 1], peak_v, f_after, bracket_s), -1)

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
    out = Windows(rows[starts], when[starts], when[ends], kinds[starts] == 2, kinds[ends] == -2)
    if not peaks:
        return out
    peak_s, peak_value = _peaks_of(t, v, evaluate, out.row, out.start_s, out.end_s)
    return Windows(
        out.row, out.start_s, out.end_s, out.start_clipped, out.end_clipped, peak_s, peak_value
    )
