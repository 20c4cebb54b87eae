"""The interval finder on functions with known roots."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.forecast.windows import find_windows

STEP_S = 60.0
TEN_MS = 0.01
FIFTY_MS = 0.05
# Ends of a window whose peak barely clears zero are ill-conditioned: f is nearly flat.
GRAZING_S = 0.1


def _run(f, t_end_s: float = 3600.0, margin: float = 0.0):  # type: ignore[no-untyped-def]
    times = np.arange(0.0, t_end_s + STEP_S / 2, STEP_S)
    values = f(np.zeros(1, dtype=np.int64)[:, None], times[None, :])
    return find_windows(times, values, lambda rows, t: f(rows, t), peak_margin=margin)


def test_sine_roots_are_found_to_the_tolerance() -> None:
    period_s = 1000.0

    def f(rows, t):  # type: ignore[no-untyped-def]
        return np.sin(2 * np.pi * (t - 123.0) / period_s) + 0.0 * rows

    w = _run(f)
    # Positive from 123 + k*1000 to 623 + k*1000; the last one still open at 3600.
    assert np.allclose(w.start_s, [123.0 + 1000.0 * k for k in range(4)], atol=TEN_MS)
    assert np.allclose(w.end_s, [623.0, 1623.0, 2623.0, 3600.0], atol=TEN_MS)
    assert not w.start_clipped.any()
    assert list(w.end_clipped) == [False, False, False, True]


def test_a_window_shorter_than_one_step_is_found_between_samples() -> None:
    # An 18 s parabola from 1021 s to 1039 s: no 60 s sample sees it positive.
    def f(rows, t):  # type: ignore[no-untyped-def]
        return 1.0 - ((t - 1030.0) / 9.0) ** 2 + 0.0 * rows

    assert len(_run(f)) == 0
    w = _run(f, margin=0.5)
    assert len(w) == 1
    # This parabola is ~100x more curved than an elevation profile, so the final linear
    # interpolation inside a 2 s bracket is off by a few more milliseconds.
    assert abs(w.start_s[0] - 1021.0) < FIFTY_MS
    assert abs(w.end_s[0] - 1039.0) < FIFTY_MS


def test_windows_open_at_the_edges_are_clipped() -> None:
    def f(rows, t):  # type: ignore[no-untyped-def]
        return np.cos(2 * np.pi * t / 3600.0) + 0.0 * rows

    w = _run(f)
    assert w.start_clipped[0] and w.start_s[0] == 0.0
    assert w.end_clipped[-1] and w.end_s[-1] == 3600.0


CURVATURE_S = 150.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-4, 1.0), st.floats(0.0, 60.0)), min_size=1, max_size=4))
def test_random_passes_are_recovered(peaks_and_offsets: list[tuple[float, float]]) -> None:
    """f is the upper envelope of parabolic passes of one curvature (as elevation near the
    top of a pass) and random peak heights: a low peak makes a window of a few seconds,
    which no sample sees. Each is found, with both ends to the tolerance."""
    bumps = []
    centre = 400.0
    for height, offset in peaks_and_offsets:
        centre += offset
        half = CURVATURE_S * np.sqrt(height)
        bumps.append((centre, height, centre - half, centre + half))
        centre += 4 * CURVATURE_S

    def f(rows, t):  # type: ignore[no-untyped-def]
        out = np.full(np.broadcast(rows, t).shape, -np.inf)
        for c, h, _, _ in bumps:
            out = np.maximum(out, h - ((t - c) / CURVATURE_S) ** 2)
        return out

    w = _run(f, t_end_s=centre + 200.0, margin=0.5)
    assert len(w) == len(bumps)
    assert np.allclose(w.start_s, [b[2] for b in bumps], atol=GRAZING_S)
    assert np.allclose(w.end_s, [b[3] for b in bumps], atol=GRAZING_S)
