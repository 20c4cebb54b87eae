"""What a user hears about a catalogue before a forecast: old elements and satellites SGP4
cannot follow over the window (listed with their SGP4 error, then left out)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from scheduler.forecast import Constellation
from scheduler.forecast.screening import element_ages_s, propagation_failures, without
from scheduler.forecast.timeconv import iso8601

DEFAULT_MAX_ELEMENT_AGE_DAYS = 3.0

Warn = Callable[[str], None]


def warn_stderr(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def stale_elements_line(constellation: Constellation, at_s: float, max_age_s: float) -> str | None:
    """One line when some elements are older than max_age_s at at_s, else None."""
    ages = element_ages_s(constellation, at_s)
    old = np.flatnonzero(ages > max_age_s)
    if len(old) == 0:
        return None
    oldest = int(old[np.argmax(ages[old])])
    return (
        f"{len(old)} of {len(constellation)} satellites have elements older than "
        f"{max_age_s / 86400.0:g} days at {iso8601(at_s)} (median age "
        f"{float(np.median(ages[old])) / 86400.0:.1f} d, oldest {constellation.names[oldest]} "
        f"{ages[oldest] / 86400.0:.1f} d); positions drift by km per day of age"
    )


def screen(
    constellation: Constellation,
    start_s: float,
    end_s: float,
    max_age_s: float,
    warn: Warn = warn_stderr,
) -> Constellation:
    """The constellation without the satellites SGP4 fails on within [start_s, end_s]; one
    warning per failed satellite and one when elements are older than max_age_s at start_s."""
    line = stale_elements_line(constellation, start_s, max_age_s)
    if line:
        warn(line)
    failures = propagation_failures(constellation, start_s, end_s)
    for f in failures:
        satnum = constellation.satrecs[f.sat].satnum_str.strip()
        warn(
            f"{f.name} (catalogue {satnum}): SGP4 fails from {iso8601(f.time_s)}: "
            f"{f.message}{f' (error {f.code})' if f.code > 0 else ''}; skipped"
        )
    return without(constellation, failures)
