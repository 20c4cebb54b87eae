"""Ground stations with antennas: passes compete for them, in the forecast summary, the
planner's delivery windows and the simulated executor; stations from a CSV file."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import ORBITCTL
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from realdata import GROUND_STATIONS, real_file
from test_executor import T0, executor

from agents.executor import ExecItem
from scheduler.forecast import Contact, Station, find_contacts
from scheduler.forecast.antennas import MIN_SERVED_S, allocate_antennas
from scheduler.planner.problem_builder import forecast_book
from scheduler.scenario import ScenarioError, load_scenario, load_stations_csv

HEADER = "name,lat_deg,lon_deg,alt_m,antennas,downlink_mbps\n"


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals [a, b) open at one instant: an independent sweep."""
    events = sorted([(a, 1) for a, b in intervals] + [(b, -1) for a, b in intervals])
    depth = best = 0
    for _, step in events:  # ends (-1) sort before starts at the same time
        depth += step
        best = max(best, depth)
    return best


passes = st.lists(
    st.tuples(
        st.integers(0, 5),  # satellite
        st.integers(0, 1),  # station
        st.floats(0, 20_000, allow_nan=False),
        st.floats(30, 900, allow_nan=False),
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(passes, st.integers(1, 3), st.integers(1, 3))
def test_never_more_satellites_than_antennas(
    raw: list[tuple[int, int, float, float]], antennas_a: int, antennas_b: int
) -> None:
    stations = [Station("a", 0, 0, antennas=antennas_a), Station("b", 10, 10, antennas=antennas_b)]
    contacts = [Contact(s, g, aos, aos + d, 45.0) for s, g, aos, d in raw]
    # One satellite has one pass at a time over a station: keys are unique in real data.
    assume(len({(c.sat, c.station, c.los_s) for c in contacts}) == len(contacts))
    result = allocate_antennas(contacts, stations)
    assert len(result.served) + result.dropped == len(contacts)
    for g, station in enumerate(stations):
        served = [(c.aos_s, c.los_s) for c in result.served if c.station == g]
        assert _max_overlap(served) <= station.antennas
        if len([c for c in contacts if c.station == g]) <= station.antennas:
            assert len(served) == len([c for c in contacts if c.station == g])
    originals = {(c.sat, c.station, c.los_s): c for c in contacts}
    for c in result.served:
        o = originals[(c.sat, c.station, c.los_s)]
        assert o.aos_s <= c.aos_s < c.los_s == o.los_s  # a sub-interval, never extended
        assert c.aos_s == o.aos_s or c.duration_s >= MIN_SERVED_S


@settings(max_examples=200)
@given(passes, st.integers(1, 3), st.floats(0, 20_000, allow_nan=False))
def test_an_allocation_resumed_at_a_cut_equals_one_in_one_go(
    raw: list[tuple[int, int, float, float]], antennas: int, cut_s: float
) -> None:
    """The world allocates a long span a chunk at a time: the passes before a cut, the
    antennas' state there, then the passes from it on, as in one go."""
    stations = [Station("a", 0, 0, antennas=antennas), Station("b", 10, 10, antennas=1)]
    contacts = [Contact(s, g, aos, aos + d, 45.0) for s, g, aos, d in raw]
    assume(len({(c.sat, c.station, c.los_s) for c in contacts}) == len(contacts))
    whole = allocate_antennas(contacts, stations)
    first = allocate_antennas(contacts, stations, state_at_s=cut_s)
    assert first.served == whole.served and first.state is not None
    rest = allocate_antennas(
        [c for c in contacts if c.aos_s >= cut_s], stations, resume=first.state
    )
    late = {(c.sat, c.station, c.los_s) for c in contacts if c.aos_s >= cut_s}
    assert rest.served == [c for c in whole.served if (c.sat, c.station, c.los_s) in late]


def test_first_come_first_served_then_late_then_dropped() -> None:
    one = [Station("g", 0, 0, antennas=1)]
    contacts = [
        Contact(0, 0, 0.0, 600.0, 50.0),
        Contact(1, 0, 100.0, 900.0, 30.0),  # antenna busy until 600: served from 600
        Contact(2, 0, 200.0, 700.0, 30.0),  # busy until 900 by then: dropped
    ]
    result = allocate_antennas(contacts, one)
    assert [(c.sat, c.aos_s, c.los_s) for c in result.served] == [
        (0, 0.0, 600.0),
        (1, 600.0, 900.0),
    ]
    assert (result.trimmed, result.dropped) == (1, 1)
    two = allocate_antennas(contacts, [Station("g", 0, 0, antennas=2)])
    # With two antennas the third pass waits for the first to end: served 600 to 700.
    assert [(c.sat, c.aos_s) for c in two.served] == [(0, 0.0), (1, 100.0), (2, 600.0)]
    assert (two.trimmed, two.dropped) == (1, 0)


def test_planner_windows_respect_antennas_on_the_default_scenario() -> None:
    sc = load_scenario("default")
    book = forecast_book(sc.constellation, sc.stations, sc.bus, sc.epoch_s, 24 * 3600.0)
    for station in sc.stations:
        windows = [
            (w.start_s, w.end_s) for ws in book.contacts for w in ws if w.station == station.name
        ]
        assert _max_overlap(windows) <= station.antennas
        assert all(
            w.downlink_mbps == station.downlink_mbps
            for ws in book.contacts
            for w in ws
            if w.station == station.name
        )
    # And the default scenario is contended: some passes go without an antenna.
    passes = find_contacts(sc.constellation, sc.stations, sc.epoch_s, sc.epoch_s + 24 * 3600.0)
    windows = sum(len(ws) for ws in book.contacts)
    assert windows < len(passes)


def test_executor_downlinks_at_the_rate_of_the_window() -> None:
    for rate, seconds in ((100.0, 48.0), (20.0, 240.0)):
        ex = executor(sunlit=1.0, soc_wh=1800.0)
        item = ExecItem(
            "inf", "inference", T0 + 60, T0 + 660, 2, 1400.0,
            work_acc_s=1200.0, output_mb=600.0, deadline_s=T0 + 7200,
        )  # fmt: skip
        # 600 MB: 48 s at 100 Mbit/s, 240 s at 20 Mbit/s (this window's station rate).
        ex.apply_plan([item], 1, contacts=[(T0 + 1200, T0 + 1800, rate)])
        events = [e for k in range(40) for e in ex.advance(T0 + 60.0 * k, 60.0)]
        done = [e for e in events if e.kind == "succeeded"]
        assert done and done[0].time_s == T0 + 1200 + 60.0 * np.ceil(seconds / 60.0)


def test_stations_csv_loads_and_rejects_bad_rows(tmp_path: Path) -> None:
    good = tmp_path / "st.csv"
    good.write_text(HEADER + "graz,47.07,15.49,500,2,300\nquito,-0.2,-78.5,2850,1,150\n")
    stations = load_stations_csv(good)
    assert [(s.name, s.antennas, s.downlink_mbps) for s in stations] == [
        ("graz", 2, 300.0),
        ("quito", 1, 150.0),
    ]
    for body, message in (
        ("name,lat,lon\n", "header"),
        (HEADER + "graz,47.07,15.49,500,2\n", r"st\.csv:2: expected 6 columns"),
        (HEADER + "graz,47.07,15.49,500,two,300\n", r":2: antennas: expected a whole number"),
        (HEADER + "graz,nan,15.49,500,2,300\n", r":2: .*lat_deg must be a finite number"),
        (HEADER + "graz,47,15,500,0,300\n", "antennas must be a whole number from 1"),
        (HEADER + "graz,47,15,500,1,-3\n", "downlink_mbps must be positive"),
        (HEADER + "graz,147,15,500,1,3\n", r"lat_deg must be in \[-90, 90\]"),
    ):
        good.write_text(body)
        with pytest.raises(ScenarioError, match=message):
            load_stations_csv(good)


def test_scenario_names_a_stations_file(tmp_path: Path) -> None:
    (tmp_path / "st.csv").write_text(HEADER + "graz,47.07,15.49,500,2,300\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'epoch = "2026-12-01T00:00:00Z"\nstations_file = "st.csv"\n'
        '[constellation]\nkind = "walker"\naltitude_km = 550.0\ninclination_deg = 53.0\n'
        "planes = 1\nsats_per_plane = 2\n"
        '[[stations]]\nname = "wallops"\nlat_deg = 37.94\nlon_deg = -75.46\nantennas = 3\n'
    )
    sc = load_scenario(scenario)
    assert [(s.name, s.antennas) for s in sc.stations] == [("wallops", 3), ("graz", 2)]
    scenario.write_text(scenario.read_text().replace('"wallops"', '"graz"'))
    with pytest.raises(ScenarioError, match="station names must be unique: graz"):
        load_scenario(scenario)


def test_old_key_max_satellites_still_reads_as_antennas(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        'epoch = "2026-12-01T00:00:00Z"\n[constellation]\nkind = "walker"\naltitude_km = 550.0\n'
        "inclination_deg = 53.0\nplanes = 1\nsats_per_plane = 2\n"
        '[[stations]]\nname = "g"\nlat_deg = 1.0\nlon_deg = 2.0\nmax_satellites = 4\n'
    )
    assert load_scenario(scenario).stations[0].antennas == 4


@pytest.mark.slow
def test_forecast_summary_names_blind_stations_and_contention() -> None:
    result = subprocess.run(
        [*ORBITCTL, "forecast", "contacts", "--hours", "24"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    tail = result.stdout.splitlines()[-2:]
    # The default shell (53 deg, 550 km) never rises 10 deg above 78 N or 72 S.
    assert tail[0] == "stations that see no satellite in the window: svalbard, troll"
    assert tail[1].startswith("antennas: ") and "not served" in tail[1]


@pytest.mark.slow
def test_real_ground_stations_from_csv(tmp_path: Path) -> None:
    """The 117 real stations of the Brahe dataset, written as our CSV (1 antenna, 500 Mbit/s):
    every one loads, and the default shell's summary lists the polar ones as blind."""
    rows = list(csv.DictReader(real_file(GROUND_STATIONS).read_text().splitlines()))
    assert len(rows) == 117
    out = tmp_path / "real.csv"
    with out.open("w") as f:
        f.write(HEADER)
        for i, r in enumerate(rows):
            f.write(f"{r['provider']}-{r['name']}-{i},{r['lat_deg']},{r['lon_deg']},0,1,500\n")
    stations = load_stations_csv(out)
    assert len(stations) == 117
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        f'epoch = "2026-12-01T00:00:00Z"\nstations_file = "{out}"\n[constellation]\n'
        'kind = "walker"\naltitude_km = 550.0\ninclination_deg = 53.0\nplanes = 3\n'
        "sats_per_plane = 10\nphasing = 1\n"
    )
    result = subprocess.run(
        [*ORBITCTL, "forecast", "contacts", "--scenario", str(scenario), "--hours", "24"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    blind_line = next(ln for ln in result.stdout.splitlines() if ln.startswith("stations that"))
    blind = blind_line.split(": ", 1)[1].split(", ")
    by_name = {s.name: s for s in stations}
    # Analytic reach: a 10 deg mask at 550 km sees 14.95 deg of Earth-central angle from
    # the ground track, which never passes 53 deg: stations beyond ~67.95 deg are blind.
    r = 6378.137
    reach_deg = np.degrees(np.arccos(r * np.cos(np.radians(10.0)) / (r + 550.0))) - 10.0
    bound = 53.0 + reach_deg
    assert blind and all(abs(by_name[n].lat_deg) > bound - 0.5 for n in blind)
    assert all(abs(s.lat_deg) < bound + 0.3 for s in stations if s.name not in blind)


def test_scheduler_plan_contacts_are_the_antenna_allocated_ones() -> None:
    """What the scheduler sends agents as downlink windows (World.downlink_windows) are the
    same passes the planner's book keeps: within the geometric contacts of the satellite's
    ISL group, at the station's rate, and fewer than the geometric passes when contended."""
    from scheduler.forecast.isl import isl_groups
    from scheduler.server.world import World

    sc = load_scenario(None)
    groups = isl_groups(sc.constellation, sc.constellation.names)
    world = World(sc.constellation, sc.stations, sc.bus, sc.epoch_s, groups=groups)
    start, end = sc.epoch_s, sc.epoch_s + 6 * 3600.0
    rates = {s.downlink_mbps for s in sc.stations}
    book = forecast_book(sc.constellation, sc.stations, sc.bus, start, 6 * 3600.0, 60.0)
    index = {n: i for i, n in enumerate(book.names)}
    for name in ("sat-0-0", "sat-1-4", "sat-2-9"):
        windows = world.downlink_windows(name, start, end)
        geometric = world.contacts(name, start, end, via_group=True)
        assert windows and all(r in rates for _, _, r in windows)
        assert all(
            any(a - 1e-6 <= s and e <= b + 1e-6 for a, b in geometric) for s, e, _ in windows
        )
        planner = sorted(
            (w.start_s, w.end_s)
            for m in groups[name]
            for w in book.contacts[index[m]]
            if w.end_s < end - 600.0
        )
        sent = [(s, e) for s, e, _ in windows if e < end - 600.0]
        assert len(sent) == len(planner)
        assert all(
            abs(a - c) <= 1.5 and abs(b - d) <= 1.5  # the world starts 1 s early
            for (a, b), (c, d) in zip(sent, planner, strict=True)
        )
