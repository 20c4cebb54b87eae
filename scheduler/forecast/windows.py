"""The one interval finder behind eclipses, contacts and link windows.

Given a function f(row, t) sampled on a uniform grid (densely, or only in stretches:
find_windows_in_segments), find every interval where f >= 0 and refine its ends on f
itself: bisection down to a bracket of `bracket_s`, then one step of linear interpolation
inside it (f is smooth, so the result is far better than the bracket). A short interval
that falls between two samples is found too: at every local maximum of the samples that is
still negative, a parabola through the three samples estimates the peak, and where it comes
within `peak_margin` of zero the true maximum is searched (golden section) before giving
up. Optionally each interval's peak (time and value of max f) is located as well.
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


def parabolic_peak(
    evaluate: Evaluate, rows: IntArray, start_s: FloatArray, end_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Peak of f in each window for f smooth and nearly symmetric about its top (a whole
    pass: sin(elevation) is parabolic near its maximum, even overhead): a parabola through
    three points about the middle, and its vertex. Four evaluations instead of a golden
    search's fourteen; the best of the four is returned."""
    mid = 0.5 * (start_s + end_s)
    half = np.minimum(20.0, 0.25 * (end_s - start_s))
    t0, t1, t2 = mid - half, mid, mid + half
    f0, f1, f2 = evaluate(rows, t0), evaluate(rows, t1), evaluate(rows, t2)
    curvature = f0 - 2 * f1 + f2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(curvature < 0, 0.5 * half * (f0 - f2) / curvature, 0.0)
    t3 = np.clip(t1 + np.nan_to_num(shift), start_s, end_s)
    f3 = evaluate(rows, t3)
    times = np.stack([t0, t1, t2, t3])
    values = np.stack([f0, f1, f2, f3])
    best = np.argmax(values, axis=0)
    pick = np.arange(len(rows))
    return times[best, pick], values[best, pick]


def _hidden_peaks(
    t: FloatArray,
    v: NDArray[np.floating],
    col_k: IntArray,
    seg_row: IntArray,
    evaluate: Evaluate,
    margin: float,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Own samples that are negative local maxima but whose true peak clears zero:
    (segment, column, peak time, peak value)."""
    # One pass picks the few samples near zero (a sample next to a hidden peak is close to
    # it); the local-maximum test then runs on those alone.
    own = v[:, 1:-1]
    pr, pc = np.nonzero((own < 0) & (own > -_PEAK_PREFILTER * margin))
    pc = pc + 1
    k = col_k[pr, pc]
    interior = (k >= 1) & (k <= len(t) - 2)
    pr, pc = pr[interior], pc[interior]
    a, b, c = (v[pr, pc + d].astype(np.float64) for d in (-1, 0, 1))
    is_max = (b >= a) & (b >= c)
    curvature = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(curvature < 0, b - (c - a) ** 2 / (8 * curvature), b)
    near = is_max & (vertex > -margin)
    pr, pc = pr[near], pc[near]
    k = col_k[pr, pc]
    peak_t, peak_v = golden_maximum(evaluate, seg_row[pr], t[k - 1], t[k + 1], 0.05)
    hit = peak_v >= 0
    return pr[hit], pc[hit], peak_t[hit], peak_v[hit]


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
    v = np.asarray(values)
    n_rows = v.shape[0]
    padded = np.concatenate([v[:, :1], v, v[:, -1:]], axis=1)
    return find_windows_in_segments(
        times_s,
        np.arange(n_rows, dtype=np.int64),
        np.zeros(n_rows, dtype=np.int64),
        padded,
        evaluate,
        bracket_s,
        peak_margin,
        peaks,
    )


def find_windows_in_segments(
    times_s: ArrayLike,
    seg_row: IntArray,
    seg_first: IntArray,
    seg_values: NDArray[np.floating],
    evaluate: Evaluate,
    bracket_s: float = DEFAULT_BRACKET_S,
    peak_margin: float = 0.0,
    peaks: bool = False,
) -> Windows:
    """find_windows where each row is sampled only in some stretches ("segments").

    Segment i belongs to row seg_row[i] and owns the samples seg_first[i] ... + q - 1 of
    the global grid; seg_values[i] (width q + 2) holds f at those and at one neighbour
    sample on each side (indices clipped to the grid). Outside its segments a row must be
    negative. Segments of one row may touch but must not overlap.
    """
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(seg_values)
    n_t = len(t)
    q = v.shape[1] - 2
    col_k = seg_first[:, None] + np.arange(-1, q + 1)  # global sample index of each column
    inside = v >= 0
    rows_list: list[IntArray] = []
    times_list: list[FloatArray] = []
    kinds_list: list[IntArray] = []

    def add(rows: IntArray, when: FloatArray, kind: IntArray | int) -> None:
        rows_list.append(rows)
        times_list.append(when)
        kinds_list.append(np.broadcast_to(np.asarray(kind, dtype=np.int64), len(rows)))

    # Own steps: from column c to c + 1 for c = 1 .. q; +1 steps into an interval, -1 out.
    step = np.diff(inside[:, 1:].astype(np.int8), axis=1)
    sr, sc = np.nonzero(step)
    c = sc + 1
    k = col_k[sr, c]
    ok = (k >= 0) & (k + 1 <= n_t - 1)
    sr, c, k = sr[ok], c[ok], k[ok]
    when = bisect_crossings(
        evaluate, seg_row[sr], t[k], t[k + 1], v[sr, c], v[sr, c + 1], bracket_s
    )
    add(seg_row[sr], when, step[sr, c - 1].astype(np.int64))

    if q >= 1 and peak_margin > 0:
        pr, pc, peak_t, peak_v = _hidden_peaks(t, v, col_k, seg_row, evaluate, peak_margin)
        pk = col_k[pr, pc]
        rows = seg_row[pr]
        f_before = v[pr, pc - 1].astype(np.float64)
        f_after = v[pr, pc + 1].astype(np.float64)
        add(
            rows,
            bisect_crossings(evaluate, rows, t[pk - 1], peak_t, f_before, peak_v, bracket_s),
            1,
        )
        add(
            rows,
            bisect_crossings(evaluate, rows, peak_t, t[pk + 1], peak_v, f_after, bracket_s),
            -1,
        )

    # Intervals under way at the first sample or still open at the last one are clipped.
    for k_edge, kind, when_edge in ((0, 2, t[0]), (n_t - 1, -2, t[-1])):
        er = np.unique(seg_row[np.nonzero(np.any((col_k == k_edge) & inside, axis=1))[0]])
        add(er, np.full(len(er), when_edge), kind)

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
    # A window cut by the grid's ends is not centred on its peak: search it (golden section).
    clipped = out.start_clipped | out.end_clipped
    peak_s, peak_value = parabolic_peak(evaluate, out.row, out.start_s, out.end_s)
    if clipped.any():
        cut = np.nonzero(clipped)[0]
        peak_s[cut], peak_value[cut] = golden_maximum(
            evaluate, out.row[cut], out.start_s[cut], out.end_s[cut]
        )
    return Windows(
        out.row, out.start_s, out.end_s, out.start_clipped, out.end_clipped, peak_s, peak_value
    )


def search_times(start_s: float, end_s: float, step_s: float) -> FloatArray:
    """The sampling grid of a search: start, start + step, ..., and end itself."""
    times = start_s + step_s * np.arange(int(np.ceil((end_s - start_s) / step_s)))
    return np.append(times, end_s)
