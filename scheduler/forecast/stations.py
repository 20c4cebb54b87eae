"""Ground stations: WGS84 geodetic position, local vertical, elevation of a satellite."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scheduler.forecast.constants import EARTH_ECCENTRICITY_SQ, EARTH_EQUATORIAL_RADIUS_KM

FloatArray = NDArray[np.float64]

DEFAULT_MIN_ELEVATION_DEG = 10.0


@dataclass(frozen=True)
class Station:
    """A ground station. downlink_mbps is the rate of one pass (one antenna); antennas how
    many satellites it can serve at once (see antennas.py)."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    min_elevation_deg: float = DEFAULT_MIN_ELEVATION_DEG
    downlink_mbps: float = 1200.0
    antennas: int = 1

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("station: name must not be empty")
        for key in ("lat_deg", "lon_deg", "alt_m", "min_elevation_deg", "downlink_mbps"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValueError(f"station {self.name!r}: {key} must be a finite number")
        checks = (
            (-90.0 <= self.lat_deg <= 90.0, f"lat_deg must be in [-90, 90], got {self.lat_deg}"),
            (
                -180.0 <= self.lon_deg <= 360.0,
                f"lon_deg must be in [-180, 360], got {self.lon_deg}",
            ),
            (-500.0 <= self.alt_m <= 9000.0, f"alt_m must be in [-500, 9000], got {self.alt_m}"),
            (
                -5.0 <= self.min_elevation_deg < 90.0,
                f"min_elevation_deg must be in [-5, 90), got {self.min_elevation_deg}",
            ),
            (self.downlink_mbps > 0, f"downlink_mbps must be positive, got {self.downlink_mbps}"),
            (
                isinstance(self.antennas, int)
                and not isinstance(self.antennas, bool)
                and 1 <= self.antennas <= 1000,
                f"antennas must be a whole number from 1 to 1000, got {self.antennas!r}",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"station {self.name!r}: {message}")


def geodetic_to_ecef_km(lat_deg: ArrayLike, lon_deg: ArrayLike, alt_m: ArrayLike) -> FloatArray:
    """WGS84 geodetic to Earth-fixed cartesian, (..., 3) km."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    h_km = np.asarray(alt_m, dtype=np.float64) / 1000.0
    n = EARTH_EQUATORIAL_RADIUS_KM / np.sqrt(1.0 - EARTH_ECCENTRICITY_SQ * np.sin(lat) ** 2)
    return np.stack(
        [
            (n + h_km) * np.cos(lat) * np.cos(lon),
            (n + h_km) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - EARTH_ECCENTRICITY_SQ) + h_km) * np.sin(lat),
        ],
        axis=-1,
    )


def local_up(lat_deg: ArrayLike, lon_deg: ArrayLike) -> FloatArray:
    """Unit normal to the ellipsoid (geodetic zenith), (..., 3)."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def sin_elevation(r_ecef_km: ArrayLike, station_ecef_km: ArrayLike, up: ArrayLike) -> FloatArray:
    """Sine of the geometric elevation (no refraction) of points seen from a station;
    arrays broadcast over the leading axes."""
    los = np.asarray(r_ecef_km) - np.asarray(station_ecef_km)
    return np.asarray(np.sum(los * np.asarray(up), axis=-1) / np.linalg.norm(los, axis=-1))
