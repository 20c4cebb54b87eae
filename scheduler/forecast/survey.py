"""Eclipses and contacts of a whole constellation in one pass: each chunk of satellites is
propagated once and sampled once, and both searches read the same samples."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from scheduler.forecast.constellation import Constellation
from scheduler.forecast.contacts import DEFAULT_SEARCH_STEP_S, ContactTable, contacts_of_samples
from scheduler.forecast.eclipse import EclipseTable, eclipses_of_grid
from scheduler.forecast.propagate import StateGrid
from scheduler.forecast.stations import Station
from scheduler.forecast.windows import search_times

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
    workers: int | None = None,
) -> Survey:
    """All eclipses and contacts between start_s and end_s (see eclipse_table and
    contact_table for what each holds). Chunks run on `workers` threads (default: one per
    core, at most 4): the work is numpy on arrays large enough to release the GIL."""
    if end_s <= start_s:
        raise ValueError("end_s must be after start_s")
    times = search_times(start_s, end_s, step_s)

    def one_chunk(lo: int) -> tuple[EclipseTable, ContactTable | None]:
        grid = StateGrid.propagate(constellation.satrecs[lo : lo + chunk], start_s, end_s)
        eclipses = eclipses_of_grid(grid, start_s, end_s, lo)
        if not stations:
            return eclipses, None
        ecef = grid.to_ecef()
        r_ecef = ecef.positions_on(times, np.float32)
        return eclipses, contacts_of_samples(ecef, stations, times, r_ecef, lo)

    starts = range(0, len(constellation), chunk)
    n_workers = min(workers or min(os.cpu_count() or 1, 4), len(starts)) or 1
    if n_workers == 1:
        results = [one_chunk(lo) for lo in starts]
    else:
        with ThreadPoolExecutor(n_workers) as pool:
            results = list(pool.map(one_chunk, starts))
    return Survey(
        EclipseTable.concatenate([e for e, _ in results]),
        ContactTable.concatenate([c for _, c in results if c is not None]),
    )
