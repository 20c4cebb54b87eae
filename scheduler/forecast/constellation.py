"""A constellation: named satellites with SGP4 elements, from TLEs or from generators."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from sgp4.api import WGS72, Satrec

from scheduler.forecast.constants import (
    EARTH_EQUATORIAL_RADIUS_KM,
    EARTH_J2,
    EARTH_MU_KM3_S2,
    SECONDS_PER_DAY,
)
from scheduler.forecast.sun import sun_position_km
from scheduler.forecast.timeconv import julian_date
from scheduler.forecast.tle import parse_tle_records

# Days from JD 2433281.5 (1949 Dec 31 00:00 UT), SGP4's epoch origin.
_SGP4_EPOCH_JD = 2433281.5
# Mean motion of the Sun around the ecliptic: one turn per tropical year (365.2422 days).
_SUN_MEAN_MOTION_RAD_S = 2.0 * math.pi / (365.2422 * SECONDS_PER_DAY)
# Near-zero eccentricity for "circular" generated orbits (SGP4 is singular at exactly 0).
_CIRCULAR_ECCENTRICITY = 1e-4


@dataclass(frozen=True)
class WalkerShell:
    """Walker-delta i:t/p/f; total = planes x sats_per_plane."""

    altitude_km: float
    inclination_deg: float
    planes: int
    sats_per_plane: int
    phasing: int


@dataclass(frozen=True, eq=False)
class Constellation:
    """Satellites by index. plane/slot are -1 when unknown (plain TLE files)."""

    names: tuple[str, ...]
    satrecs: tuple[Satrec, ...]
    plane: NDArray[np.int64]
    slot: NDArray[np.int64]
    walker: WalkerShell | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (len(self.names) == len(self.satrecs) == len(self.plane) == len(self.slot)):
            raise ValueError("constellation: names, satrecs, plane and slot differ in length")
        index = {name: i for i, name in enumerate(self.names)}
        if len(index) != len(self.names):
            raise ValueError("constellation: satellite names must be unique")
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Index of a satellite by name; KeyError with the known names if absent."""
        try:
            return self._index[name]
        except KeyError:
            sample = ", ".join(self.names[:5]) + (", ..." if len(self.names) > 5 else "")
            raise KeyError(f"unknown satellite {name!r} (known: {sample})") from None

    def subset(self, indices: Sequence[int]) -> Constellation:
        """A constellation of the given satellites, in that order (no Walker topology)."""
        idx = list(indices)
        return Constellation(
            tuple(self.names[i] for i in idx),
            tuple(self.satrecs[i] for i in idx),
            self.plane[idx],
            self.slot[idx],
            None,
        )

    def with_elements(self, sets: Mapping[str, Satrec]) -> Constellation:
        """The same satellites (names, planes, Walker topology) with some satellites'
        elements replaced; KeyError for a name that is not here."""
        satrecs = list(self.satrecs)
        for name, satrec in sets.items():
            satrecs[self.index(name)] = satrec
        return Constellation(self.names, tuple(satrecs), self.plane, self.slot, self.walker)

    def mean_altitude_km(self) -> NDArray[np.float64]:
        """Altitude from each satellite's mean motion (spherical Earth)."""
        n_rad_s = np.array([s.no_kozai for s in self.satrecs]) / 60.0
        a_km = (EARTH_MU_KM3_S2 / n_rad_s**2) ** (1.0 / 3.0)
        return np.asarray(a_km - EARTH_EQUATORIAL_RADIUS_KM)


def parse_tle(
    text: str, source: str = "<string>", warn: Callable[[str], None] | None = None
) -> Constellation:
    """A constellation from TLE text (see tle.parse_tle_records for the checks and for how
    shared names are made unique; `warn` hears about that)."""
    records = parse_tle_records(text, source, warn)
    n = len(records)
    return Constellation(
        tuple(r.name for r in records),
        tuple(r.satrec for r in records),
        np.full(n, -1, dtype=np.int64),
        np.full(n, -1, dtype=np.int64),
    )


def circular_mean_motion_rad_s(altitude_km: float) -> float:
    a_km = EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    return math.sqrt(EARTH_MU_KM3_S2 / a_km**3)


def _circular_satrec(
    catalog_number: int,
    epoch_s: float,
    altitude_km: float,
    inclination_deg: float,
    raan_deg: float,
    mean_anomaly_deg: float,
) -> Satrec:
    satrec = Satrec()
    satrec.sgp4init(
        WGS72,
        "i",
        catalog_number,
        float(julian_date(epoch_s)) - _SGP4_EPOCH_JD,
        0.0,  # bstar: no drag, so generated shells are exactly repeatable
        0.0,
        0.0,
        _CIRCULAR_ECCENTRICITY,
        0.0,
        math.radians(inclination_deg),
        math.radians(mean_anomaly_deg % 360.0),
        circular_mean_motion_rad_s(altitude_km) * 60.0,  # rad/min
        math.radians(raan_deg % 360.0),
    )
    return satrec


def _circular_shell(
    planes: int,
    sats_per_plane: int,
    epoch_s: float,
    altitude_km: float,
    inclination_deg: float,
    raan_deg: Callable[[int], float],
    anomaly_deg: Callable[[int, int], float],
    name_prefix: str,
    first_catalog_number: int,
    walker: WalkerShell | None,
) -> Constellation:
    """Circular orbits, plane by plane: satellite (p, s) is named f"{prefix}-{p}-{s}"."""
    layout = [(p, s) for p in range(planes) for s in range(sats_per_plane)]
    satrecs = tuple(
        _circular_satrec(
            first_catalog_number + i,
            epoch_s,
            altitude_km,
            inclination_deg,
            raan_deg(p),
            anomaly_deg(p, s),
        )
        for i, (p, s) in enumerate(layout)
    )
    return Constellation(
        tuple(f"{name_prefix}-{p}-{s}" for p, s in layout),
        satrecs,
        np.array([p for p, _ in layout], dtype=np.int64),
        np.array([s for _, s in layout], dtype=np.int64),
        walker,
    )


def _check_shell(altitude_km: float, planes: int, sats_per_plane: int) -> None:
    if not 150.0 <= altitude_km <= 40000.0:
        raise ValueError(f"altitude_km: expected 150 to 40000, got {altitude_km}")
    if planes < 1 or sats_per_plane < 1:
        raise ValueError("planes and sats_per_plane must be at least 1")


def walker_delta(
    altitude_km: float,
    inclination_deg: float,
    planes: int,
    sats_per_plane: int,
    phasing: int,
    epoch_s: float,
    name_prefix: str = "sat",
    first_catalog_number: int = 90000,
) -> Constellation:
    """Walker-delta shell: planes spread over 360 deg of RAAN, satellites evenly in each
    plane, plane p shifted in mean anomaly by phasing * 360 / total * p.
    Satellites are named f"{name_prefix}-{plane}-{slot}"."""
    _check_shell(altitude_km, planes, sats_per_plane)
    total = planes * sats_per_plane
    if not 0 <= phasing < planes:
        raise ValueError(f"phasing: expected 0 to {planes - 1}, got {phasing}")
    shell = WalkerShell(altitude_km, inclination_deg, planes, sats_per_plane, phasing)
    return _circular_shell(
        planes,
        sats_per_plane,
        epoch_s,
        altitude_km,
        inclination_deg,
        lambda p: 360.0 * p / planes,
        lambda p, s: 360.0 * s / sats_per_plane + 360.0 * phasing * p / total,
        name_prefix,
        first_catalog_number,
        shell,
    )


def sun_synchronous_inclination_deg(altitude_km: float) -> float:
    """Inclination whose J2 nodal precession follows the mean Sun (circular orbit):
    cos i = -2 a^(7/2) (dOmega/dt) / (3 J2 R^2 sqrt(mu))."""
    a_km = EARTH_EQUATORIAL_RADIUS_KM + altitude_km
    cos_i = -(2.0 * a_km**3.5 * _SUN_MEAN_MOTION_RAD_S) / (
        3.0 * EARTH_J2 * EARTH_EQUATORIAL_RADIUS_KM**2 * math.sqrt(EARTH_MU_KM3_S2)
    )
    if cos_i < -1.0:
        raise ValueError(f"altitude_km: no sun-synchronous orbit at {altitude_km} km")
    return math.degrees(math.acos(cos_i))


def dawn_dusk_sso(
    altitude_km: float,
    planes: int,
    sats_per_plane: int,
    epoch_s: float,
    ltan_hours: float = 18.0,
    in_plane_spacing_deg: float | None = None,
    plane_spacing_deg: float = 0.0,
    name_prefix: str = "sso",
    first_catalog_number: int = 80000,
) -> Constellation:
    """Sun-synchronous shell with its ascending node at local time ltan_hours (18:00 is
    dawn-dusk: the orbit rides the terminator and sees almost no eclipse).

    in_plane_spacing_deg defaults to an even spread; a tiny spacing gives a formation
    (e.g. Suncatcher's 81 satellites within ~1 km: 0.005 deg at 650 km is ~0.6 km).
    """
    _check_shell(altitude_km, planes, sats_per_plane)
    inclination = sun_synchronous_inclination_deg(altitude_km)
    sun = sun_position_km(epoch_s)
    sun_ra_deg = math.degrees(math.atan2(sun[1], sun[0]))
    base_raan = sun_ra_deg + (ltan_hours - 12.0) * 15.0
    spacing = 360.0 / sats_per_plane if in_plane_spacing_deg is None else in_plane_spacing_deg
    return _circular_shell(
        planes,
        sats_per_plane,
        epoch_s,
        altitude_km,
        inclination,
        lambda p: base_raan + plane_spacing_deg * p,
        lambda p, s: spacing * s,
        name_prefix,
        first_catalog_number,
        None,
    )
