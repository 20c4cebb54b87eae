"""Scenarios: a constellation, ground stations and a satellite bus, from a TOML file.

The default scenario ships inside the package (scheduler/data/default.toml). A scenario's
constellation is a Walker shell, a dawn-dusk sun-synchronous shell, or a TLE file (a path
relative to the scenario file). Names a TLE file shares are made unique by appending the
catalogue number ('OTTER [58987]'); satellites SGP4 cannot follow over the scenario's first
`screen_hours` (default 24) are listed on stderr and left out, and elements older than
`max_element_age_days` (default 3) at the epoch get a warning line.
"""

from __future__ import annotations

import csv
import io
import sys
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.errors import UserError
from scheduler.forecast import (
    DEFAULT_ISL_MAX_RANGE_KM,
    BusParams,
    Constellation,
    Station,
    TleError,
    dawn_dusk_sso,
    parse_tle,
    walker_delta,
)
from scheduler.forecast.screening import element_ages_s, propagation_failures, without
from scheduler.forecast.timeconv import iso8601, parse_iso8601

DEFAULT_SCENARIO = "default"
BUILTIN_SCENARIOS = ("default", "starlink-shell1", "suncatcher-81")


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


class ScenarioError(UserError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Scenario:
    name: str
    epoch_s: float
    constellation: Constellation
    stations: tuple[Station, ...]
    bus: BusParams
    isl_max_range_km: float
    source: str
    max_element_age_s: float = DEFAULT_MAX_ELEMENT_AGE_DAYS * 86400.0


def _require(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ScenarioError(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ScenarioError(f"{where}.{key}: expected {_kind_name(kind)}, got {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("a number" if k in (int, float) else f"a {k.__name__}" for k in kinds)


_NUMBER = (int, float)


def _constellation(
    table: dict[str, Any], epoch_s: float, where: str, base: Path | None, warn: Warn
) -> Constellation:
    kind = _require(table, "kind", str, where)
    try:
        if kind == "walker":
            return walker_delta(
                altitude_km=float(_require(table, "altitude_km", _NUMBER, where)),
                inclination_deg=float(_require(table, "inclination_deg", _NUMBER, where)),
                planes=_require(table, "planes", int, where),
                sats_per_plane=_require(table, "sats_per_plane", int, where),
                phasing=table.get("phasing", 0),
                epoch_s=epoch_s,
                name_prefix=table.get("name_prefix", "sat"),
            )
        if kind == "sso":
            spacing = table.get("in_plane_spacing_deg")
            return dawn_dusk_sso(
                altitude_km=float(_require(table, "altitude_km", _NUMBER, where)),
                planes=_require(table, "planes", int, where),
                sats_per_plane=_require(table, "sats_per_plane", int, where),
                epoch_s=epoch_s,
                ltan_hours=float(table.get("ltan_hours", 18.0)),
                in_plane_spacing_deg=None if spacing is None else float(spacing),
                name_prefix=table.get("name_prefix", "sso"),
            )
        if kind == "tle":
            path = Path(_require(table, "tle_file", str, where))
            if not path.is_absolute() and base is not None:
                path = base / path
            return load_tle_file(path, warn)
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    raise ScenarioError(f"{where}.kind: expected 'walker', 'sso' or 'tle', got {kind!r}")


def load_tle_file(path: Path, warn: Warn = warn_stderr) -> Constellation:
    """A constellation from a TLE file; ScenarioError (a UserError) if unreadable or broken.
    Shared names become 'NAME [catalogue number]', with one line to `warn`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (TLE files are ASCII)") from None
    try:
        return parse_tle(text, source=str(path), warn=warn)
    except TleError as exc:
        raise ScenarioError(str(exc)) from None


STATION_CSV_COLUMNS = ("name", "lat_deg", "lon_deg", "alt_m", "antennas", "downlink_mbps")
_MAX_STATIONS = 10_000


def _station_tables(items: Any, where: str) -> list[Station]:
    if not isinstance(items, list):
        raise ScenarioError(f"{where}: expected [[stations]] tables")
    out = []
    known = {
        "name",
        "lat_deg",
        "lon_deg",
        "alt_m",
        "min_elevation_deg",
        "downlink_mbps",
        "antennas",
        "max_satellites",  # the old name of antennas
    }
    for i, item in enumerate(items):
        here = f"{where}[{i}]"
        unknown = sorted(set(item) - known)
        if unknown:
            raise ScenarioError(f"{here}: unknown key(s) {', '.join(unknown)}")
        item = dict(item)
        if "max_satellites" in item:
            if "antennas" in item:
                raise ScenarioError(f"{here}: antennas and max_satellites (its old name) both set")
            item["antennas"] = item.pop("max_satellites")
        try:
            out.append(Station(**item))
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{here}: {exc}") from None
    return out


def load_stations_csv(path: Path) -> list[Station]:
    """Stations from a CSV file with the header name,lat_deg,lon_deg,alt_m,antennas,
    downlink_mbps (in that order; a min_elevation_deg column may follow). Errors name the
    file and line; a file with any error loads nothing."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read stations: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a UTF-8 text file") from None
    rows = list(csv.reader(io.StringIO(text)))
    header = tuple(h.strip() for h in rows[0]) if rows else ()
    allowed = (STATION_CSV_COLUMNS, (*STATION_CSV_COLUMNS, "min_elevation_deg"))
    if header not in allowed:
        raise ScenarioError(
            f"{path}:1: header: expected {','.join(STATION_CSV_COLUMNS)}[,min_elevation_deg], "
            f"got {','.join(header) or 'an empty file'}"
        )
    if len(rows) - 1 > _MAX_STATIONS:
        raise ScenarioError(f"{path}: more than {_MAX_STATIONS} stations")
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ScenarioError(f"{path}:{lineno}: expected {len(header)} columns, got {len(row)}")
        values: dict[str, Any] = {"name": row[0].strip()}
        for key, cell in zip(header[1:], row[1:], strict=True):
            try:
                values[key] = int(cell) if key == "antennas" else float(cell)
            except ValueError:
                kind = "a whole number" if key == "antennas" else "a number"
                raise ScenarioError(
                    f"{path}:{lineno}: {key}: expected {kind}, got {cell.strip()!r}"
                ) from None
        try:
            out.append(Station(**values))
        except ValueError as exc:
            raise ScenarioError(f"{path}:{lineno}: {exc}") from None
    return out


def _stations(data: dict[str, Any], source: str, base: Path | None) -> tuple[Station, ...]:
    """[[stations]] tables and/or the stations_file CSV (a path relative to the scenario)."""
    where = f"{source}: stations"
    out = _station_tables(data.get("stations", []), where)
    file = data.get("stations_file")
    if file is not None:
        if not isinstance(file, str) or not file:
            raise ScenarioError(f"{source}: stations_file: expected a path, got {file!r}")
        path = Path(file)
        if not path.is_absolute() and base is not None:
            path = base / path
        out += load_stations_csv(path)
    if not out:
        raise ScenarioError(f"{where}: expected at least one [[stations]] table or a stations_file")
    duplicates = sorted(n for n, k in Counter(s.name for s in out).items() if k > 1)
    if duplicates:
        raise ScenarioError(f"{where}: station names must be unique: {', '.join(duplicates[:5])}")
    return tuple(out)


def _element_screening(table: dict[str, Any], where: str) -> tuple[float, float]:
    """(max_element_age_s, screen_hours) of a constellation table."""
    out = []
    for key, default in (
        ("max_element_age_days", DEFAULT_MAX_ELEMENT_AGE_DAYS),
        ("screen_hours", 24.0),
    ):
        value = table.get(key, default)
        if not isinstance(value, _NUMBER) or isinstance(value, bool) or not 0 < value < 1e6:
            raise ScenarioError(f"{where}.{key}: expected a positive number, got {value!r}")
        out.append(float(value))
    return out[0] * 86400.0, out[1]


def parse_scenario(
    text: str,
    source: str,
    base: Path | None = None,
    warn: Warn = warn_stderr,
    screen_elements: bool = True,
) -> Scenario:
    """A scenario from TOML text. With screen_elements, a TLE constellation is screened
    over its first screen_hours from the epoch (see the module docstring); a caller that
    forecasts another window passes False and screens that window itself."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    name = data.get("name", Path(source).stem)
    epoch_text = _require(data, "epoch", str, source)
    try:
        epoch_s = parse_iso8601(epoch_text)
    except ValueError as exc:
        raise ScenarioError(f"{source}.epoch: {exc}") from None
    table = _require(data, "constellation", dict, source)
    where = f"{source}: constellation"
    constellation = _constellation(table, epoch_s, where, base, warn)
    max_age_s, screen_hours = _element_screening(table, where)
    if screen_elements and table.get("kind") == "tle":
        constellation = screen(
            constellation, epoch_s, epoch_s + screen_hours * 3600.0, max_age_s, warn
        )
        if len(constellation) == 0:
            raise ScenarioError(
                f"{where}: no satellite propagates over its first {screen_hours:g} h"
            )
    stations = _stations(data, source, base)
    try:
        bus = BusParams.from_mapping(data.get("bus", {}), where=f"{source}: bus")
    except (TypeError, ValueError) as exc:
        raise ScenarioError(str(exc)) from None
    links = data.get("links", {})
    isl_range = links.get("isl_max_range_km", DEFAULT_ISL_MAX_RANGE_KM)
    if not isinstance(isl_range, _NUMBER) or isl_range <= 0:
        raise ScenarioError(f"{source}: links.isl_max_range_km: expected a positive number")
    return Scenario(
        str(name), epoch_s, constellation, stations, bus, float(isl_range), source, max_age_s
    )


def load_scenario(
    path: str | Path | None = None, warn: Warn = warn_stderr, screen_elements: bool = True
) -> Scenario:
    """Load a scenario file, or a built-in one by name ("default" when None)."""
    if path is None or str(path) in BUILTIN_SCENARIOS:
        name = DEFAULT_SCENARIO if path is None else str(path)
        text = resources.files("scheduler.data").joinpath(f"{name}.toml").read_text("utf-8")
        return parse_scenario(text, f"<builtin {name}>")
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{file}: cannot read scenario: {exc.strerror or exc}") from None
    return parse_scenario(text, str(file), file.parent, warn, screen_elements)
