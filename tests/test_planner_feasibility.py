"""The pure pruning rules, each alone, against the forecast's own models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planner_cases import T0, ring, sat

from scheduler.forecast.bus import BusParams
from scheduler.forecast.power import battery_trace, generation_w
from scheduler.forecast.thermal import temperature_trace
from scheduler.planner import feasibility as fz
from scheduler.planner.domain import ContactWindow

BUS = BusParams()


def test_duration_slots_rounds_up_and_is_at_least_one() -> None:
    assert fz.duration_slots(60.0, 60.0) == 1
    assert fz.duration_slots(61.0, 60.0) == 2
    assert fz.duration_slots(0.5, 60.0) == 1


def test_route_groups_are_isl_components() -> None:
    sats = [*ring(3, 5), sat("alone", 5)]
    groups = fz.route_groups(sats)
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_first_transfer_needs_room_in_one_contact() -> None:
    w1 = ContactWindow("a", T0 + 100, T0 + 160, 80.0)  # 600 MB
    w2 = ContactWindow("b", T0 + 500, T0 + 1000, 80.0)
    contacts = [fz.RoutedContact((0, 0), w1), fz.RoutedContact((0, 1), w2)]
    done, rc = fz.first_transfer(contacts, T0, 500.0) or (None, None)
    assert rc is not None and rc.key == (0, 0) and done == pytest.approx(T0 + 150)
    done, rc = fz.first_transfer(contacts, T0 + 120, 500.0) or (None, None)  # only 40 s left
    assert rc is not None and rc.key == (0, 1) and done == pytest.approx(T0 + 550)
    assert fz.first_transfer(contacts, T0 + 1001, 1.0) is None


def test_segments_are_monotone_and_cover_the_horizon() -> None:
    sun = np.array([1, 1, 1, 0.5, 0, 0, 0, 0.3, 1, 1], dtype=float)
    segs = fz.battery_segments(generation_w(sun, BUS), BUS.baseline_power_w, BUS.full_load_w)
    assert [(s.first, s.stop, s.kind) for s in segs] == [
        (0, 3, fz.CHARGING),
        (3, 4, fz.MIXED),
        (4, 7, fz.DRAINING),
        (7, 8, fz.MIXED),
        (8, 10, fz.CHARGING),
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0.0, 1.0), min_size=5, max_size=40),
    st.lists(st.floats(0.0, 2800.0), min_size=40, max_size=40),
    st.floats(500.0, 2200.0),
)
def test_segment_ends_match_battery_trace(
    sunlit: list[float], extra_w: list[float], soc0_wh: float
) -> None:
    n = len(sunlit)
    gen = generation_w(np.array(sunlit), BUS)
    load = BUS.baseline_power_w + np.array(extra_w[:n])
    segs = fz.battery_segments(gen, BUS.baseline_power_w, BUS.full_load_w)
    starts = np.array([s.first for s in segs])
    net = np.add.reduceat((gen - load) * (60.0 / 3600.0), starts)
    ends = fz.soc_at_segment_ends(soc0_wh, net, segs, BUS)
    truth = battery_trace(soc0_wh, gen, load, 60.0, BUS)
    stops = np.array([s.stop for s in segs])
    reached = truth.soc_wh[stops]
    ok = truth.deficit_wh.sum() == 0  # no brown-out: both clip the same way
    if ok:
        np.testing.assert_allclose(ends, reached, atol=1e-6)
        # Inside a segment the state of charge never dips below both of its ends.
        for s, end in zip(segs, ends, strict=True):
            inside = truth.soc_wh[s.first + 1 : s.stop + 1]
            assert inside.min() >= min(end, truth.soc_wh[s.first]) - 1e-6


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.0, 3500.0), min_size=30, max_size=30),
    st.floats(-10.0, 59.0),
)
def test_linear_thermal_model_is_conservative(load_w: list[float], t0_c: float) -> None:
    env = np.full(30, 800.0)
    lin = fz.thermal_linear(BUS, 60.0)
    linear = fz.linear_temperature_c(lin, t0_c, env + np.array(load_w))
    truth = temperature_trace(t0_c, env, np.array(load_w), 60.0, BUS).temperature_c[1:]
    assert np.all(linear >= truth - 1e-6)


def test_thermal_kernel_is_the_superposed_rise() -> None:
    lin = fz.thermal_linear(BUS, 60.0)
    env = np.full(40, 900.0)
    base = fz.linear_temperature_c(lin, 30.0, env)
    extra = np.zeros(40)
    extra[5:17] = 1000.0
    loaded = fz.linear_temperature_c(lin, 30.0, env + extra)
    checks = np.arange(1, 41)
    rise = fz.thermal_kernel(lin, checks, 5, 12) * 1000.0
    np.testing.assert_allclose(loaded - base, rise, atol=1e-9)


def test_margin_covers_unchecked_slot_ends() -> None:
    lin = fz.thermal_linear(BUS, 60.0)
    margin = fz.thermal_margin_c(lin, BUS, np.full(10, 850.0), 5, 60.0)
    assert 0.1 < margin < 5.0
    assert fz.thermal_margin_c(lin, BUS, np.full(10, 850.0), 1, 60.0) == pytest.approx(0.1)
    assert list(fz.check_slots(12, 5)) == [5, 10, 12]
