"""Scenario files: the embedded ones load, and broken ones say what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scheduler.forecast import environment_heat_w, find_eclipses, temperature_trace
from scheduler.forecast.isl import isl_visible, plus_grid_pairs
from scheduler.scenario import BUILTIN_SCENARIOS, ScenarioError, load_scenario


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtin_scenarios_load(name: str) -> None:
    s = load_scenario(name)
    assert len(s.constellation) > 0 and 6 <= len(s.stations) <= 10


def test_default_is_small_and_its_limits_bind() -> None:
    s = load_scenario(None)
    assert 20 <= len(s.constellation) <= 48
    bus = s.bus
    eclipses = find_eclipses(s.constellation, s.epoch_s, s.epoch_s + 6 * 3600)
    longest_s = max(e.duration_s for e in eclipses)
    # A fully loaded node cannot ride out the longest eclipse on its usable battery ...
    usable_wh = bus.battery_capacity_wh - bus.battery_floor_wh
    assert bus.full_load_w * longest_s / 3600.0 > usable_wh
    # ... but an idle one can.
    assert bus.baseline_power_w * longest_s / 3600.0 < usable_wh
    # Flat out in full sun the node settles above its temperature limit (radiated = absorbed
    # at equilibrium), and within one sunlit half-orbit it gets there from its start.
    heat_in_w = float(environment_heat_w(1.0, 550.0, bus)) + bus.full_load_w
    steady_k = (
        heat_in_w / (bus.radiator_emissivity * 5.670374419e-8 * bus.radiator_area_m2)
    ) ** 0.25
    assert steady_k - 273.15 > bus.max_temperature_c
    trace = temperature_trace(
        bus.initial_temperature_c,
        np.full(60, heat_in_w - bus.full_load_w),
        bus.full_load_w,
        60.0,
        bus,
    )
    assert trace.temperature_c.max() > bus.max_temperature_c
    # With half the accelerators it stays under the limit in full sun.
    half_w = bus.baseline_power_w + bus.accelerators // 2 * bus.accelerator_power_w
    trace = temperature_trace(
        bus.initial_temperature_c, np.full(600, heat_in_w - bus.full_load_w), half_w, 60.0, bus
    )
    assert trace.temperature_c.max() < bus.max_temperature_c


def test_default_in_plane_links_clear_the_atmosphere() -> None:
    s = load_scenario(None)
    c = s.constellation
    pairs = [(i, j) for i, j in plus_grid_pairs(c) if c.plane[i] == c.plane[j]]
    up = isl_visible(c, pairs, s.epoch_s + np.arange(0, 6000, 300.0), s.isl_max_range_km)
    assert up.all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name = 'x'", "missing key 'epoch'"),
        ("epoch = 'soon'", "epoch"),
        ("epoch = '2026-01-01T00:00:00Z'\n[constellation]\nkind = 'ring'", "kind"),
        (
            "epoch = '2026-01-01T00:00:00Z'\n[constellation]\nkind = 'walker'\naltitude_km = 'low'",
            "altitude_km",
        ),
        (
            "epoch = '2026-01-01T00:00:00Z'\n[constellation]\nkind = 'walker'\naltitude_km = 550\n"
            "inclination_deg = 53\nplanes = 2\nsats_per_plane = 2\n[[stations]]\nname = 'a'\n"
            "lat_deg = 100\nlon_deg = 0",
            "lat_deg",
        ),
        (
            "epoch = '2026-01-01T00:00:00Z'\n[constellation]\nkind = 'walker'\naltitude_km = 550\n"
            "inclination_deg = 53\nplanes = 2\nsats_per_plane = 2\n[[stations]]\nname = 'a'\n"
            "lat_deg = 10\nlon_deg = 0\n[bus]\nbattery_capacity_wh = -5",
            "battery_capacity_wh",
        ),
        ("epoch = [", "not valid TOML"),
    ],
)
def test_broken_scenarios_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(path)
