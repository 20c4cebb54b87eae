"""Planning problems from a scenario: forecasts computed once for a whole run
(`forecast_book`), then sliced into the horizon of each planning round (`problem_at`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from scheduler.forecast import (
    BusParams,
    Constellation,
    Station,
    environment_heat_w,
    find_contacts,
    generation_w,
)
from scheduler.forecast.antennas import allocate_antennas
from scheduler.forecast.eclipse import sampled_sunlight
from scheduler.forecast.isl import in_plane_neighbours
from scheduler.planner.domain import (
    ContactWindow,
    FloatArray,
    Job,
    Problem,
    Satellite,
    SatelliteForecast,
    SatelliteState,
    TrainingProgress,
    Weights,
)


@dataclass(frozen=True, eq=False)
class ForecastBook:
    """Per-slot forecasts of every satellite over [start_s, start_s + n_slots * slot_s)."""

    start_s: float
    slot_s: float
    names: tuple[str, ...]
    planes: tuple[int, ...]
    bus: BusParams
    sunlit: FloatArray  # (n_sat, n_slots), slot average
    altitude_km: FloatArray  # (n_sat, n_slots), slot middle
    contacts: tuple[tuple[ContactWindow, ...], ...]  # per satellite, whole span
    neighbours: tuple[tuple[str, ...], ...]  # in-plane ISL neighbours
    gen_w: FloatArray  # (n_sat, n_slots) array output
    env_w: FloatArray  # (n_sat, n_slots) absorbed environment heat

    @property
    def n_slots(self) -> int:
        return int(self.sunlit.shape[1])


def forecast_book(
    constellation: Constellation,
    stations: Sequence[Station],
    bus: BusParams,
    start_s: float,
    duration_s: float,
    slot_s: float = 60.0,
) -> ForecastBook:
    n = int(np.ceil(duration_s / slot_s))
    # The sub-samples (1/6, 1/2, 5/6 of each slot) are one uniform grid of slot / 3.
    sun, alt_sub = sampled_sunlight(constellation, start_s + slot_s / 6, slot_s / 3, 3 * n)
    sun = sun.reshape(len(constellation.names), n, 3)
    alt = alt_sub[:, 1::3]  # slot middles
    per_sat: list[list[ContactWindow]] = [[] for _ in constellation.names]
    passes = find_contacts(constellation, stations, start_s, start_s + n * slot_s)
    # Only the passes a station has an antenna for can carry outputs (forecast/antennas.py).
    for c in allocate_antennas(passes, stations).served:
        st = stations[c.station]
        per_sat[c.sat].append(ContactWindow(st.name, c.aos_s, c.los_s, st.downlink_mbps))
    sunlit = sun.mean(axis=2)
    return ForecastBook(
        start_s=start_s,
        slot_s=slot_s,
        names=tuple(constellation.names),
        planes=tuple(int(p) for p in constellation.plane),
        bus=bus,
        sunlit=sunlit,
        altitude_km=np.asarray(alt),
        contacts=tuple(tuple(sorted(c, key=lambda w: w.start_s)) for c in per_sat),
        neighbours=tuple(in_plane_neighbours(constellation).values()),
        gen_w=generation_w(sunlit, bus),
        env_w=environment_heat_w(sunlit, alt, bus),
    )


def problem_at(
    book: ForecastBook,
    now_s: float,
    n_slots: int,
    jobs: Sequence[Job],
    states: Mapping[str, SatelliteState],
    training_progress: Mapping[str, TrainingProgress] | None = None,
    weights: Weights | None = None,
) -> Problem:
    """The planning problem for the horizon [now_s, now_s + n_slots * slot_s), now_s on the
    book's slot grid; the horizon is cut at the end of the book."""
    k0 = round((now_s - book.start_s) / book.slot_s)
    if k0 < 0 or k0 >= book.n_slots:
        raise ValueError(f"now_s {now_s} is outside the forecast book")
    n = min(n_slots, book.n_slots - k0)
    end_s = now_s + n * book.slot_s
    gen = book.gen_w[:, k0 : k0 + n]
    env = book.env_w[:, k0 : k0 + n]
    sats = []
    for i, name in enumerate(book.names):
        windows = tuple(
            ContactWindow(w.station, max(w.start_s, now_s), min(w.end_s, end_s), w.downlink_mbps)
            for w in book.contacts[i]
            if w.end_s > now_s and w.start_s < end_s
        )
        sats.append(
            Satellite(
                name=name,
                bus=book.bus,
                forecast=SatelliteForecast(
                    sunlit_fraction=book.sunlit[i, k0 : k0 + n],
                    generation_w=gen[i],
                    environment_heat_w=env[i],
                    contacts=windows,
                ),
                plane=book.planes[i],
                isl_neighbours=book.neighbours[i],
            )
        )
    return Problem(
        now_s=now_s,
        satellites=tuple(sats),
        jobs=tuple(jobs),
        states=dict(states),
        slot_s=book.slot_s,
        n_slots=n,
        training_progress=dict(training_progress or {}),
        weights=weights or Weights(),
    )
