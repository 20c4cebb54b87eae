"""Time conversions. Absolute times are POSIX seconds (UTC); UT1 is taken equal to UTC,
which moves the Earth by at most 0.9 s of rotation (~0.4 km at the equator)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.constants import JD_UNIX_EPOCH, SECONDS_PER_DAY

FloatArray = NDArray[np.float64]


def jd_pair(times_s: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Split POSIX seconds into a Julian date whole part and day fraction (for sgp4 precision)."""
    t = np.asarray(times_s, dtype=np.float64)
    days = np.floor(t / SECONDS_PER_DAY)
    return JD_UNIX_EPOCH + days, (t - days * SECONDS_PER_DAY) / SECONDS_PER_DAY


def julian_date(times_s: ArrayLike) -> FloatArray:
    return JD_UNIX_EPOCH + np.asarray(times_s, dtype=np.float64) / SECONDS_PER_DAY


def gmst_rad(times_s: ArrayLike) -> FloatArray:
    """Greenwich mean sidereal time, IAU-82 (the angle SGP4's TEME frame is defined with;
    Vallado, Fundamentals of Astrodynamics, eq. 3-47)."""
    jd_whole, fraction = jd_pair(times_s)
    t_ut1 = ((jd_whole - 2451545.0) + fraction) / 36525.0
    gmst_s = (
        67310.54841
        + (876600.0 * 3600.0 + 8640184.812866) * t_ut1
        + 0.093104 * t_ut1**2
        - 6.2e-6 * t_ut1**3
    )
    return np.asarray(np.mod(gmst_s * (2.0 * math.pi / SECONDS_PER_DAY), 2.0 * math.pi))


def to_posix_s(moment: datetime) -> float:
    """A timezone-aware datetime (naive ones are taken as UTC) to POSIX seconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_iso8601(text: str) -> float:
    """'2026-03-20T12:00:00Z' (or with an offset) to POSIX seconds; ValueError if malformed."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not an ISO 8601 time: {text!r} (expected e.g. 2026-03-20T12:00:00Z)"
        ) from None
    return to_posix_s(moment)


def iso8601(t_s: float) -> str:
    """POSIX seconds to 'YYYY-MM-DDTHH:MM:SSZ', rounded to the second."""
    return datetime.fromtimestamp(round(t_s), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SimClock:
    """Simulated time running `speed` times faster than the wall clock:
    sim_time_s = sim_epoch_s + speed * (wall_time_s - wall_epoch_s). The scheduler owns it
    (server/clock.py) and hands it to every agent, which keeps the same one. The simulator
    gives it a virtual wall clock (`wall_time_s`) that it advances itself."""

    sim_epoch_s: float
    wall_epoch_s: float
    speed: float
    wall_time_s: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    def now_s(self) -> float:
        return self.sim_epoch_s + self.speed * (self.wall_time_s() - self.wall_epoch_s)
