"""Eclipses and contacts of a whole constellation in one pass: each chunk of satellites is
propagated once and sampled once, and both searches read the same samples."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scheduler.forecast.constellation import Constellation
from scheduler.forecast.contacts import ContactTable, contacts_of_samples
from scheduler.forecast.eclipse import (
    DEFAULT_SEARCH_STEP_S,
    EclipseTable,
    eclipses_of_samples,
    search_times,
)
from scheduler.forecast.propagate import StateGrid
from scheduler.forecast.stations import Station

# Satellites per chunk: bounds the dense samples to ~0.3 GB at 20 stations over a day.
SURVEY_CHUNK = 500


@dataclass(frozen=True)
class Survey:
    eclipses: EclipseTable
    contacts: ContactTable


def survey(
    constellation: Constellation,
    stations: Sequence[Station],
    start_s: float,
    end_s: float,
    step_s: float = DEFAULT_SEARCH_STEP_S,
    chunk: int = SURVEY_CHUNK,
) -> Survey:
    """All eclipses and contacts between start_s and end_s (see eclipse_table and
    contact_table for what each holds)."""
    if end_s <= start_s:
        raise ValueError("end_s must be after start_s")
    times = search_times(start_s, end_s, step_s)
    eclipses, contacts = [], []
    for lo in range(0, len(constellation), chunk):
        grid = StateGrid.propagate(constellation.satrecs[lo : lo + chunk], start_s, end_s)
        eclipses.append(eclipses_of_samples(grid, times, grid.positions_on(times, np.float32), lo))
        if stations:
            ecef = grid.to_ecef()
            r_ecef = ecef.positions_on(times, np.float32)
            contacts.append(contacts_of_samples(ecef, stations, times, r_ecef, lo))
    return Survey(EclipseTable.concatenate(eclipses), ContactTable.concatenate(contacts))
