"""The power and thermal budget of one satellite (forecast/budget.py, orbitctl forecast
budget): headroom checked against the nonlinear node, energy balance, the CLI contract."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ORBITCTL
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.forecast.budget import (
    BudgetSeries,
    budget_series,
    headroom_windows,
    load_from_intervals,
)
from scheduler.forecast.thermal import radiated_w, temperature_trace, thermal_headroom_w
from scheduler.planner.problem_builder import forecast_book
from scheduler.scenario import load_scenario

SC = load_scenario("default")
BUS = SC.bus
BOOK = forecast_book(SC.constellation.subset([0]), (), BUS, SC.epoch_s, 4 * 3600.0, 60.0)


def _series(extra_w: float, temperature0_c: float = BUS.initial_temperature_c) -> BudgetSeries:
    load = np.full(BOOK.n_slots, BUS.baseline_power_w + extra_w)
    return budget_series(
        SC.epoch_s, 60.0, BOOK.sunlit[0], BOOK.gen_w[0], BOOK.env_w[0], load,
        BUS.initial_soc_wh, temperature0_c, BUS,
    )  # fmt: skip


@pytest.mark.parametrize("extra_w", [0.0, 700.0, 1400.0, 2800.0])
def test_adding_exactly_the_headroom_reaches_the_limit(extra_w: float) -> None:
    """The acceptance check of issue 11: over each slot's interval, the nonlinear node
    (RK4 with 8 substeps, finer than the search's) with the headroom added peaks at the
    temperature limit within 0.5 C; 50 W more crosses it."""
    s = _series(extra_w)
    windows = headroom_windows(len(s), s.step_s, s.headroom_interval_s)
    checked = 0
    for k in range(0, len(s), 7):
        if s.headroom_w[k] <= 0.0:
            continue
        env, load = BOOK.env_w[0][windows[k]], s.load_w[windows[k]]
        peak = temperature_trace(
            s.temperature_c[k], env, load + s.headroom_w[k], 60.0, BUS, substeps=8
        ).temperature_c.max()
        assert abs(peak - BUS.max_temperature_c) <= 0.5, (k, peak)
        over = temperature_trace(
            s.temperature_c[k], env, load + s.headroom_w[k] + 50.0, 60.0, BUS, substeps=8
        ).temperature_c.max()
        assert over > BUS.max_temperature_c
        checked += 1
    assert checked >= 3


def test_no_headroom_at_or_over_the_limit() -> None:
    s = _series(0.0, temperature0_c=BUS.max_temperature_c + 5.0)
    assert s.headroom_w[0] == 0.0


def test_state_of_charge_follows_the_energy_balance() -> None:
    s = _series(1400.0)
    net_wh = (s.generation_w - s.load_w) * s.step_s / 3600.0
    expected = np.clip(s.soc_wh[:-1] + net_wh[:-1], 0.0, BUS.battery_capacity_wh)
    assert np.allclose(s.soc_wh[1:], expected)
    assert s.soc_wh[0] == BUS.initial_soc_wh


@settings(max_examples=25, deadline=None)
@given(st.floats(0, 3000), st.floats(1, 2000))
def test_more_load_never_more_headroom(extra_w: float, more_w: float) -> None:
    a, b = _series(extra_w), _series(extra_w + more_w)
    assert np.all(a.headroom_w >= 0.0) and np.all(b.headroom_w >= 0.0)
    assert np.all(b.headroom_w <= a.headroom_w + 1.0)  # bisection tolerance 1 W


def test_load_from_intervals_weights_partial_slots() -> None:
    load = load_from_intervals(0.0, 60.0, 4, [(30.0, 150.0, 600.0), (120.0, 240.0, 100.0)], 300.0)
    assert load.tolist() == [600.0, 900.0, 700.0, 400.0]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORBITCTL, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_json_contract_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "b.png"
    r = run(
        "forecast", "budget", "--satellite", "sat-1-3", "--load-w", "1400", "--hours", "2",
        "--json", "--plot", str(plot),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["satellite"] == "sat-1-3" and doc["step_s"] == 60.0
    assert doc["headroom_interval_s"] == 1800.0
    assert doc["load"] == {"mode": "constant", "baseline_w": 300.0, "extra_w": 1400.0}
    slots = doc["slots"]
    assert len(slots) == 120
    keys = {"time", "sunlit_fraction", "generation_w", "load_w", "soc_wh", "temperature_c",
            "headroom_w"}  # fmt: skip
    assert all(set(x) == keys for x in slots)
    assert all(x["load_w"] == 1700.0 for x in slots)
    assert {x["sunlit_fraction"] for x in slots} >= {0.0, 1.0}  # an eclipse within 2 h
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_cli_table_warns_when_the_load_is_too_much() -> None:
    r = run("forecast", "budget", "--satellite", "sat-0-0", "--load-w", "2800", "--hours", "6")
    assert r.returncode == 0, r.stderr
    assert "warning: the charge falls below the battery floor under this load" in r.stdout
    assert "least headroom" in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--satellite", "nope"], "--satellite: unknown satellite 'nope'"),
        (["--satellite", "sat-0-0", "--load-w", "nan"], "--load-w: expected 0 to"),
        (["--satellite", "sat-0-0", "--load-w", "-5"], "--load-w: expected 0 to"),
        (["--satellite", "sat-0-0", "--step", "1"], "--step: expected 10 to 3600"),
        (["--load-w", "5"], "the following arguments are required: --satellite"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    r = run("forecast", "budget", *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1


def test_the_headroom_search_agrees_with_plain_bisection() -> None:
    """The secant search against 20 bisections of the same model (what it replaced), on
    random starts, heat and load around the limit: within the 1 W tolerance, zero alike."""
    rng = np.random.default_rng(7)
    env = rng.uniform(100.0, 1500.0, (40, 30, 30))
    load = rng.uniform(200.0, 2500.0, (40, 30, 30))
    t0 = rng.uniform(-10.0, 65.0, (40, 30))
    got = thermal_headroom_w(t0, env, load, 60.0, BUS)
    lo = np.zeros((40, 30))
    hi = np.full((40, 30), BUS.heat_capacity_j_k * 200.0 / 60.0 + radiated_w(400.0, BUS))

    def ok(extra: np.ndarray) -> np.ndarray:
        trace = temperature_trace(t0, env, load + extra[..., None], 60.0, BUS, substeps=1)
        return np.asarray(trace.temperature_c[..., 1:].max(axis=-1) <= BUS.max_temperature_c)

    at_zero = ok(lo)
    while np.any(hi - lo > 1.0):
        mid = 0.5 * (lo + hi)
        good = ok(mid)
        lo, hi = np.where(good, mid, lo), np.where(good, hi, mid)
    expected = np.where(at_zero, lo, 0.0)
    assert 0 < (expected == 0).sum() < expected.size
    assert np.array_equal(got == 0, expected == 0)
    assert np.abs(got - expected).max() <= 1.0
    assert np.all(ok(got) | ~at_zero)  # what it returns is within the limit
