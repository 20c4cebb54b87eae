"""Orbital physics: propagation, Sun, eclipses, contacts, links, power and thermal.

A leaf package: it imports numpy and sgp4 only, nothing else of the project. Absolute times
are POSIX seconds (UTC). See README.md beside this file.
"""

from scheduler.forecast.bus import BusParams
from scheduler.forecast.constellation import (
    Constellation,
    WalkerShell,
    dawn_dusk_sso,
    parse_tle,
    sun_synchronous_inclination_deg,
    walker_delta,
)
from scheduler.forecast.contacts import Contact, find_contacts
from scheduler.forecast.eclipse import Eclipse, altitude_km, find_eclipses, sunlit_fraction
from scheduler.forecast.isl import DEFAULT_ISL_MAX_RANGE_KM, isl_visible, plus_grid_pairs
from scheduler.forecast.power import BatteryTrace, battery_trace, generation_w
from scheduler.forecast.stations import Station
from scheduler.forecast.thermal import (
    ThermalTrace,
    environment_heat_w,
    temperature_trace,
    thermal_headroom_w,
)
from scheduler.forecast.tle import TleError

__all__ = [
    "DEFAULT_ISL_MAX_RANGE_KM",
    "BatteryTrace",
    "BusParams",
    "Constellation",
    "Contact",
    "Eclipse",
    "Station",
    "ThermalTrace",
    "TleError",
    "WalkerShell",
    "altitude_km",
    "battery_trace",
    "dawn_dusk_sso",
    "environment_heat_w",
    "find_contacts",
    "find_eclipses",
    "generation_w",
    "isl_visible",
    "parse_tle",
    "plus_grid_pairs",
    "sun_synchronous_inclination_deg",
    "sunlit_fraction",
    "temperature_trace",
    "thermal_headroom_w",
    "walker_delta",
]
