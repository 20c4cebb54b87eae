"""A readable overview of a scenario's forecast: next passes and eclipses, a constellation
summary, and a timeline plot (eclipses shaded, contacts marked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scheduler.forecast import Contact, Eclipse, find_contacts, find_eclipses, plus_grid_pairs
from scheduler.forecast.antennas import allocate_antennas
from scheduler.forecast.isl import isl_visible
from scheduler.forecast.stations import Station
from scheduler.forecast.timeconv import iso8601
from scheduler.scenario import Scenario


@dataclass(frozen=True)
class ForecastOverview:
    scenario: Scenario
    start_s: float
    end_s: float
    eclipses: list[Eclipse]
    contacts: list[Contact]
    isl_up_fraction: float | None


def compute_overview(scenario: Scenario, hours: float = 24.0) -> ForecastOverview:
    start_s = scenario.epoch_s
    end_s = start_s + hours * 3600.0
    c = scenario.constellation
    eclipses = find_eclipses(c, start_s, end_s)
    contacts = find_contacts(c, scenario.stations, start_s, end_s)
    isl_up = None
    if c.walker is not None:
        pairs = plus_grid_pairs(c)
        times = np.arange(start_s, end_s, 300.0)
        isl_up = float(isl_visible(c, pairs, times, scenario.isl_max_range_km).mean())
    return ForecastOverview(scenario, start_s, end_s, eclipses, contacts, isl_up)


def station_lines(contacts: Sequence[Contact], stations: Sequence[Station]) -> list[str]:
    """Which stations see no satellite in the window, and how many passes find every
    antenna of their station busy (forecast/antennas.py: trimmed or dropped)."""
    lines = []
    seen = {c.station for c in contacts}
    blind = [s.name for i, s in enumerate(stations) if i not in seen]
    if blind:
        lines.append(f"stations that see no satellite in the window: {', '.join(blind)}")
    allocation = allocate_antennas(contacts, stations)
    if allocation.trimmed or allocation.dropped:
        lines.append(
            f"antennas: {allocation.trimmed + allocation.dropped} of {len(contacts)} passes find "
            f"every antenna of their station busy ({allocation.trimmed} served late, "
            f"{allocation.dropped} not served)"
        )
    return lines


def summary_lines(ov: ForecastOverview, sample_satellites: int = 3) -> list[str]:
    c = ov.scenario.constellation
    span_s = ov.end_s - ov.start_s
    lines = [
        f"scenario {ov.scenario.name}: {len(c)} satellites, {len(ov.scenario.stations)} stations, "
        f"{iso8601(ov.start_s)} + {span_s / 3600:.0f} h",
    ]
    eclipse_s = np.zeros(len(c))
    contact_s = np.zeros(len(c))
    for e in ov.eclipses:
        eclipse_s[e.sat] += e.duration_s
    for x in ov.contacts:
        contact_s[x.sat] += x.duration_s
    longest = max((e.duration_s for e in ov.eclipses), default=0.0)
    lines.append(
        f"  eclipses: {len(ov.eclipses)}, longest {longest / 60:.1f} min, "
        f"{100 * eclipse_s.mean() / span_s:.1f}% of the time in shadow on average"
    )
    lines.append(
        f"  contacts: {len(ov.contacts)}, {contact_s.mean() / 60:.0f} min per satellite "
        f"(min {contact_s.min() / 60:.0f}, max {contact_s.max() / 60:.0f})"
    )
    lines += [f"  {line}" for line in station_lines(ov.contacts, ov.scenario.stations)]
    if ov.isl_up_fraction is not None:
        lines.append(
            f"  +Grid inter-satellite links usable {100 * ov.isl_up_fraction:.0f}% of the time"
        )
    bus = ov.scenario.bus
    lines.append(
        f"  bus: {bus.accelerators} x {bus.accelerator_power_w:.0f} W accelerators, "
        f"full load {bus.full_load_w:.0f} W, array {bus.peak_generation_w:.0f} W, "
        f"battery {bus.battery_capacity_wh:.0f} Wh (floor {100 * bus.battery_floor_fraction:.0f}%)"
    )
    for sat in range(min(sample_satellites, len(c))):
        name = c.names[sat]
        nxt_e = next((e for e in ov.eclipses if e.sat == sat), None)
        passes = sorted((x for x in ov.contacts if x.sat == sat), key=lambda x: x.aos_s)[:3]
        if nxt_e is not None:
            lines.append(
                f"  {name}: next eclipse {iso8601(nxt_e.start_s)} - {iso8601(nxt_e.end_s)} "
                f"({nxt_e.duration_s / 60:.1f} min)"
            )
        for x in passes:
            lines.append(
                f"  {name}: pass over {ov.scenario.stations[x.station].name} "
                f"{iso8601(x.aos_s)} - {iso8601(x.los_s)}, max elevation "
                f"{x.max_elevation_deg:.0f} deg"
            )
    return lines


def plot_timeline(ov: ForecastOverview, path: Path, hours: float = 6.0) -> Path:
    """One row per satellite: eclipses shaded grey, contacts as coloured bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = ov.scenario.constellation
    end_s = min(ov.end_s, ov.start_s + hours * 3600.0)
    fig, ax = plt.subplots(figsize=(12, 0.25 * len(c) + 1.5))
    cmap = plt.get_cmap("tab10")
    to_h = 1.0 / 3600.0
    for e in ov.eclipses:
        if e.start_s < end_s:
            ax.barh(
                e.sat,
                (min(e.end_s, end_s) - e.start_s) * to_h,
                left=(e.start_s - ov.start_s) * to_h,
                color="0.75",
                height=0.9,
            )
    for x in ov.contacts:
        if x.aos_s < end_s:
            ax.barh(
                x.sat,
                (min(x.los_s, end_s) - x.aos_s) * to_h,
                left=(x.aos_s - ov.start_s) * to_h,
                color=cmap(x.station % 10),
                height=0.5,
            )
    for i, station in enumerate(ov.scenario.stations):
        ax.barh(-10, 0, color=cmap(i % 10), label=station.name)
    ax.barh(-10, 0, color="0.75", label="eclipse")
    ax.set_ylim(-1, len(c))
    ax.set_yticks(range(len(c)), c.names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"hours after {iso8601(ov.start_s)}")
    ax.set_title(f"{ov.scenario.name}: eclipses and ground contacts")
    fig.legend(loc="lower center", fontsize=7, ncol=len(ov.scenario.stations) + 1, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
