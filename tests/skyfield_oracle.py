"""An independent oracle for the forecast engine: Skyfield, offline.

Everything here goes through Skyfield's own machinery (its SGP4 wrapper ``EarthSatellite``,
its TEME -> GCRS -> ITRS chain with precession, nutation and UT1, the JPL DE421 ephemeris for
the Sun, ``wgs84.latlon`` stations, ``find_events`` and ``searchlib.find_discrete``), so that
it shares nothing with ``scheduler.forecast`` but the TLE text it is fed.

No network: the timescale is Skyfield's builtin one and DE421 comes from the
``skyfield-data`` package. Every absolute time crossing this module's boundary is a float of
POSIX seconds, UTC (leap seconds ignored, as POSIX does).

Semantics, matching the contract in ``scheduler/forecast/README.md``:
- a contact is an interval where the topocentric altitude of the satellite is at least the
  station's elevation mask (Skyfield ``find_events(..., altitude_degrees=mask)``);
- an eclipse is an interval where the centre of the Sun is hidden by the Earth, a sphere of
  the WGS84 equatorial radius (Skyfield ``is_sunlit``);
- a penumbra interval is where any part of the solar disc is hidden: the angular separation,
  seen from the satellite, between the centres of the Earth and the Sun is below the sum of
  their apparent angular radii;
- intervals in progress at the window edges are clipped to the window.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sgp4.api import WGS72, Satrec
from sgp4.exporter import export_tle
from skyfield.api import EarthSatellite, Loader, load, wgs84
from skyfield.constants import ERAD
from skyfield.searchlib import find_discrete
from skyfield.timelib import Time, Timescale

# IAU 2015 nominal solar radius (Resolution B3), metres.
SUN_RADIUS_M = 695_700_000.0
# Step of the coarse scan for shadow transitions. The shortest eclipse a LEO satellite sees
# outside the full-sun season lasts minutes; find_discrete bisects each bracket to
# EPSILON_DAYS afterwards.
SHADOW_SCAN_STEP_S = 30.0
# Near-misses of the coarse scan: a sampled peak of the shadow depth this close to zero may
# hide a short grazing eclipse between samples. The depth changes by at most ~1e-6 rad/s^2
# x (step/2)^2 / 2 ~ 1.4e-4 rad between a sample and the true peak; 1e-3 rad is generous.
NEAR_MISS_RAD = 1e-3
NEAR_MISS_STEP_S = 0.5
# find_discrete's stopping width: 1 ms, three orders below the 2 s tolerance of the tests.
EPSILON_DAYS = 0.001 / 86400.0
# Julian date of 1949-12-31 00:00 UT, the origin of sgp4init's epoch argument.
_SGP4_EPOCH_ORIGIN_JD = 2433281.5
_JD_UNIX_EPOCH = 2440587.5
_SECONDS_PER_DAY = 86400.0
# WGS72, the constants SGP4 is built on (Vallado et al. 2006), for the TLE generator only.
_WGS72_MU_KM3_S2 = 398600.8
_WGS72_RADIUS_KM = 6378.135


@cache
def timescale() -> Timescale:
    return load.timescale(builtin=True)


@cache
def ephemeris() -> Any:
    """JPL DE421 from the skyfield-data package (covers 1900-2050), never downloaded."""
    import skyfield_data

    with warnings.catch_warnings():
        # skyfield-data warns (RuntimeWarning) that its bundled finals2000A.all is past its
        # date; we load only de421.bsp from it, which does not expire.
        warnings.filterwarnings("ignore", message=".*has expired.*", category=RuntimeWarning)
        path = skyfield_data.get_skyfield_data_path()
    return Loader(path, verbose=False, expire=False)("de421.bsp")


def close_ephemeris() -> None:
    """Close the ephemeris file if it was opened (an unclosed file is a ResourceWarning)."""
    if ephemeris.cache_info().currsize:
        ephemeris().close()
        ephemeris.cache_clear()


# --- time -----------------------------------------------------------------------------------


def to_time(posix_s: ArrayLike) -> Time:
    """POSIX seconds UTC (scalar or array) -> Skyfield Time.

    Whole days go into the calendar day and only the second of the day is passed as
    seconds, so that Skyfield applies the leap-second offset of that UTC date: the POSIX
    convention. (``ts.utc(1970, 1, 1, 0, 0, s)`` would count leap seconds inside s.)
    """
    s = np.asarray(posix_s, dtype=np.float64)
    days = np.floor(s / _SECONDS_PER_DAY)
    second_of_day = s - days * _SECONDS_PER_DAY
    return timescale().utc(1970, 1, 1 + days.astype(np.int64), 0, 0, second_of_day)


def to_posix(t: Time) -> NDArray[np.float64]:
    """Skyfield Time (scalar or array) -> POSIX seconds UTC, to the microsecond."""
    stamps = t.utc_datetime()
    if isinstance(stamps, datetime):
        return np.asarray(stamps.timestamp())
    return np.array([d.timestamp() for d in stamps], dtype=np.float64)


def iso(posix_s: float) -> str:
    """Readable UTC for assertion messages."""
    return datetime.fromtimestamp(posix_s, UTC).isoformat(timespec="milliseconds")


# --- TLE text -------------------------------------------------------------------------------


def tle_checksum(line: str) -> int:
    """CelesTrak checksum of the first 68 columns: digits add their value, '-' adds 1."""
    return sum(int(c) if c.isdigit() else (1 if c == "-" else 0) for c in line[:68]) % 10


def circular_orbit_tle(
    catalog_number: int,
    epoch_s: float,
    altitude_km: float,
    inclination_deg: float,
    raan_deg: float = 0.0,
    mean_anomaly_deg: float = 0.0,
    eccentricity: float = 0.0001,
    bstar: float = 0.0,
    designator: str = "26001A",
) -> tuple[str, str]:
    """A valid 2-line element set (checksums included) for a near-circular orbit.

    Built with ``Satrec.sgp4init`` and written with ``sgp4.exporter.export_tle``; the
    Kozai mean motion is the two-body one of a = WGS72 radius + altitude, so the mean
    altitude of the SGP4 orbit lands within a few km of ``altitude_km``.
    """
    a_km = _WGS72_RADIUS_KM + altitude_km
    n_rad_min = math.sqrt(_WGS72_MU_KM3_S2 / a_km**3) * 60.0
    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        catalog_number,
        epoch_s / _SECONDS_PER_DAY + _JD_UNIX_EPOCH - _SGP4_EPOCH_ORIGIN_JD,
        bstar,
        0.0,
        0.0,
        eccentricity,
        0.0,
        math.radians(inclination_deg),
        math.radians(mean_anomaly_deg),
        n_rad_min,
        math.radians(raan_deg),
    )
    line1, line2 = export_tle(sat)
    # export_tle leaves the international designator blank; give it one, as CelesTrak does.
    line1 = line1[:9] + f"{designator:<8}" + line1[17:68]
    line1 += str(tle_checksum(line1))
    return line1, line2


def satellite(line1: str, line2: str, name: str = "") -> EarthSatellite:
    return EarthSatellite(line1, line2, name or None, timescale())


# --- events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OracleContact:
    aos_s: float
    los_s: float
    max_elevation_deg: float


@dataclass(frozen=True)
class OracleInterval:
    start_s: float
    end_s: float


def _intervals(
    start_s: float,
    end_s: float,
    f: Callable[[Time], Any],
    step_s: float,
    margin: Callable[[Time], Any],
) -> list[OracleInterval]:
    """Intervals of [start_s, end_s] where the boolean f(t) is True, edges refined by
    ``find_discrete`` and clipped to the window.

    ``margin(t)`` is a continuous function (radians) that is >= 0 where f is True. The scan
    at ``step_s`` cannot see an interval shorter than a step that falls between two
    samples, so around every sampled local maximum of the margin that is negative but
    within NEAR_MISS_RAD of zero, ``find_discrete`` scans again at NEAR_MISS_STEP_S.
    """
    t0, t1 = to_time(start_s), to_time(end_s)
    f.step_days = step_s / _SECONDS_PER_DAY  # type: ignore[attr-defined]
    times, values = find_discrete(t0, t1, f, epsilon=EPSILON_DAYS)
    edges = list(zip(to_posix(times) if len(values) else [], values, strict=True))

    grid = np.append(np.arange(start_s, end_s, step_s), end_s)
    m = np.asarray(margin(to_time(grid)), dtype=np.float64)
    if len(m) >= 3:
        peak = (m[1:-1] < 0) & (m[1:-1] >= m[:-2]) & (m[1:-1] >= m[2:])
        peak &= m[1:-1] > -NEAR_MISS_RAD
        f.step_days = NEAR_MISS_STEP_S / _SECONDS_PER_DAY  # type: ignore[attr-defined]
        for k in np.nonzero(peak)[0] + 1:
            more_t, more_v = find_discrete(
                to_time(grid[k - 1]), to_time(grid[k + 1]), f, epsilon=EPSILON_DAYS
            )
            if len(more_v):
                edges += list(zip(to_posix(more_t), more_v, strict=True))
    edges.sort(key=lambda e: float(e[0]))

    out: list[OracleInterval] = []
    opened = start_s if bool(f(t0)) else None
    for when, value in edges:
        if value and opened is None:
            opened = float(when)
        elif not value and opened is not None:
            out.append(OracleInterval(opened, float(when)))
            opened = None
    if opened is not None:
        out.append(OracleInterval(opened, end_s))
    return out


def eclipses(sat: EarthSatellite, start_s: float, end_s: float) -> list[OracleInterval]:
    """Intervals where the centre of the Sun is hidden by the Earth (``not is_sunlit``)."""
    eph = ephemeris()

    def in_shadow(t: Time) -> Any:
        return ~sat.at(t).is_sunlit(eph)

    def depth(t: Time) -> Any:
        separation, earth, _ = _shadow_angles(sat, t)
        return earth - separation

    return _intervals(start_s, end_s, in_shadow, SHADOW_SCAN_STEP_S, depth)


def _shadow_angles(sat: EarthSatellite, t: Time) -> tuple[Any, Any, Any]:
    """(separation of the centres of the Earth and the Sun, apparent radius of the Earth,
    apparent radius of the Sun) seen from the satellite, radians (GCRS, geometric Sun)."""
    eph = ephemeris()
    sat_m = sat.at(t).xyz.m
    to_sun = (eph["sun"] - eph["earth"]).at(t).xyz.m - sat_m
    to_earth = -sat_m
    r_sun = np.linalg.norm(to_sun, axis=0)
    r_earth = np.linalg.norm(to_earth, axis=0)
    cos_sep = np.sum(to_sun * to_earth, axis=0) / (r_sun * r_earth)
    separation = np.arccos(np.clip(cos_sep, -1.0, 1.0))
    return separation, np.arcsin(ERAD / r_earth), np.arcsin(SUN_RADIUS_M / r_sun)


def shadow_angles_deg(
    sat: EarthSatellite, times_s: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``_shadow_angles`` at POSIX times, in degrees."""
    sep, earth, sun = _shadow_angles(sat, to_time(times_s))
    return np.degrees(sep), np.degrees(earth), np.degrees(sun)


def penumbrae(sat: EarthSatellite, start_s: float, end_s: float) -> list[OracleInterval]:
    """Intervals where any part of the solar disc is hidden by the Earth."""

    def depth(t: Time) -> Any:
        separation, earth, sun = _shadow_angles(sat, t)
        return earth + sun - separation

    def partly_hidden(t: Time) -> Any:
        return depth(t) > 0

    return _intervals(start_s, end_s, partly_hidden, SHADOW_SCAN_STEP_S, depth)


def is_sunlit(sat: EarthSatellite, times_s: ArrayLike) -> NDArray[np.bool_]:
    """Skyfield's ``is_sunlit`` (centre of the Sun visible) at the given times."""
    return np.asarray(sat.at(to_time(times_s)).is_sunlit(ephemeris()), dtype=bool)


def elevation_deg(
    sat: EarthSatellite,
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    times_s: ArrayLike,
) -> NDArray[np.float64]:
    station = wgs84.latlon(lat_deg, lon_deg, elevation_m=alt_m)
    alt, _, _ = (sat - station).at(to_time(times_s)).altaz()
    return np.asarray(alt.degrees, dtype=np.float64)


def contacts(
    sat: EarthSatellite,
    lat_deg: float,
    lon_deg: float,
    alt_m: float,
    min_elevation_deg: float,
    start_s: float,
    end_s: float,
) -> list[OracleContact]:
    """Passes above the elevation mask, from Skyfield's ``find_events``.

    A pass in progress at a window edge is clipped to it; its maximum elevation is then the
    largest of its culminations inside the window and its elevation at the clipped edges.
    """
    station = wgs84.latlon(lat_deg, lon_deg, elevation_m=alt_m)
    times, events = sat.find_events(
        station, to_time(start_s), to_time(end_s), altitude_degrees=min_elevation_deg
    )
    when = to_posix(times) if len(events) else np.zeros(0)
    peak_el = elevation_deg(sat, lat_deg, lon_deg, alt_m, when) if len(events) else when
    edge_el = elevation_deg(sat, lat_deg, lon_deg, alt_m, [start_s, end_s])

    out: list[OracleContact] = []
    aos: float | None = start_s if edge_el[0] >= min_elevation_deg else None
    peak = float(edge_el[0]) if aos is not None else -90.0
    for t, kind, el in zip(when, events, peak_el, strict=True):
        if kind == 0:  # rise
            aos, peak = float(t), -90.0
        elif kind == 1:  # culmination
            if aos is None:  # a culmination whose rise we missed: the window opened mid-pass
                aos = start_s
            peak = max(peak, float(el))
        elif kind == 2 and aos is not None:  # set
            out.append(OracleContact(aos, float(t), peak))
            aos = None
    if aos is not None:
        out.append(OracleContact(aos, end_s, max(peak, float(edge_el[1]))))
    return out


def constellation_lines(text: str) -> list[tuple[str, str, str]]:
    """(name, line1, line2) of each element set of a 3-line TLE text."""
    lines = [ln.rstrip() for ln in text.strip().splitlines() if ln.strip()]
    return [(lines[i].strip(), lines[i + 1], lines[i + 2]) for i in range(0, len(lines), 3)]


def tle_text(entries: Sequence[tuple[str, tuple[str, str]]]) -> str:
    """3-line CelesTrak text from (name, (line1, line2)) pairs."""
    return "".join(f"{name}\n{l1}\n{l2}\n" for name, (l1, l2) in entries)
