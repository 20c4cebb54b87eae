"""Low-precision analytic Sun position (Astronomical Almanac; Vallado algorithm 29), good to
~0.01 deg between 1950 and 2050. Returned in the mean equator and equinox of date, which
differs from SGP4's TEME frame by the equation of the equinoxes (at most ~1.2 arcsec)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.constants import AU_KM
from scheduler.forecast.timeconv import jd_pair

FloatArray = NDArray[np.float64]


def sun_position_km(times_s: ArrayLike) -> FloatArray:
    """Geocentric Sun vector, shape (*times.shape, 3), km."""
    jd_whole, fraction = jd_pair(times_s)
    t = ((jd_whole - 2451545.0) + fraction) / 36525.0
    mean_longitude_deg = 280.460 + 36000.771 * t
    mean_anomaly = np.radians(357.5291092 + 35999.05034 * t)
    ecliptic_longitude = np.radians(
        mean_longitude_deg
        + 1.914666471 * np.sin(mean_anomaly)
        + 0.019994643 * np.sin(2.0 * mean_anomaly)
    )
    distance_au = (
        1.000140612 - 0.016708617 * np.cos(mean_anomaly) - 0.000139589 * np.cos(2.0 * mean_anomaly)
    )
    obliquity = np.radians(23.439291 - 0.0130042 * t)
    r_km = distance_au * AU_KM
    return np.stack(
        [
            r_km * np.cos(ecliptic_longitude),
            r_km * np.cos(obliquity) * np.sin(ecliptic_longitude),
            r_km * np.sin(obliquity) * np.sin(ecliptic_longitude),
        ],
        axis=-1,
    )
