"""orbitctl forecast contacts|eclipses: the forecast engine from the command line.

JSON output is a stable contract: contacts are {"satellite", "station", "aos", "los",
"max_elevation_deg"}, eclipses {"satellite", "start", "end", "penumbra_start",
"penumbra_end"}, times UTC ISO 8601 with a trailing Z.

Real catalogues: names shared by several element sets become 'NAME [catalogue number]'
(one line on stderr); satellites SGP4 fails on within the window are listed on stderr with
their SGP4 error and skipped; elements older than --max-element-age at the start get a line
on stderr. None of these changes the exit status.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

from scheduler.errors import UserError
from scheduler.forecast import Constellation, Station, find_contacts, find_eclipses
from scheduler.forecast.timeconv import iso8601, parse_iso8601
from scheduler.report.forecast import station_lines
from scheduler.scenario import Scenario, load_scenario, load_tle_file, screen

MAX_HOURS = 24.0 * 31


def _station_arg(text: str) -> Station:
    """NAME=LAT,LON[,ALT_M]"""
    name, sep, coords = text.partition("=")
    parts = coords.split(",")
    if not sep or not name or len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(
            f"expected NAME=LAT,LON[,ALT_M] (e.g. graz=47.07,15.49,500), got {text!r}"
        )
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: latitude, longitude and altitude must be numbers"
        ) from None
    if any(math.isnan(v) or math.isinf(v) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: coordinates must be finite numbers")
    try:
        return Station(name, values[0], values[1], values[2] if len(values) == 3 else 0.0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bounded(flag: str, lo: float, hi: float, lo_open: bool, hi_open: bool, what: str) -> Any:
    """An argparse type: a number within lo..hi (ends open or closed), named in errors."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: not a number: {text!r}") from None
        above = value > lo if lo_open else value >= lo
        below = value < hi if hi_open else value <= hi
        if not (above and below):
            raise argparse.ArgumentTypeError(f"{flag}: expected {what}")
        return value

    return parse


_hours_arg = _bounded(
    "--hours", 0.0, MAX_HOURS, True, False, f"more than 0 and at most {MAX_HOURS:g}"
)
_age_arg = _bounded("--max-element-age", 0.0, 3650.0, True, False, "days, more than 0")
_elevation_arg = _bounded("--min-elevation", -5.0, 90.0, False, True, "degrees in [-5, 90)")


def _start_arg(text: str) -> float:
    try:
        return parse_iso8601(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_source_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scenario", help="scenario TOML file or built-in name (default: default)")
    source.add_argument(
        "--tle",
        help="TLE file (CelesTrak 2-line or 3-line format); names shared by several element "
        "sets become 'NAME [catalogue number]', e.g. 'OTTER [58987]'",
    )
    parser.add_argument(
        "--start",
        type=_start_arg,
        help="UTC start, ISO 8601 (default: the scenario epoch; with --tle, now)",
    )
    parser.add_argument("--hours", type=_hours_arg, default=24.0, help="window length (default 24)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--max-element-age",
        type=_age_arg,
        metavar="DAYS",
        help="warn on stderr when elements are older than this at the start (default: 3, "
        "or the scenario's max_element_age_days)",
    )


def register(subparsers: Any) -> None:
    forecast = subparsers.add_parser("forecast", help="eclipses and ground contacts")
    kinds = forecast.add_subparsers(
        dest="forecast_kind", required=True, parser_class=type(forecast)
    )
    contacts = kinds.add_parser("contacts", help="ground-station passes (AOS, LOS, max elevation)")
    _add_source_args(contacts)
    contacts.add_argument(
        "--station",
        type=_station_arg,
        action="append",
        metavar="NAME=LAT,LON[,ALT_M]",
        help="a ground station (repeatable); replaces the scenario's stations",
    )
    contacts.add_argument(
        "--min-elevation", type=_elevation_arg, metavar="DEG", help="elevation mask (default 10)"
    )
    contacts.set_defaults(func=run_contacts)
    eclipses = kinds.add_parser("eclipses", help="eclipse intervals (umbra and penumbra)")
    _add_source_args(eclipses)
    eclipses.set_defaults(func=run_eclipses)
    from scheduler.commands import budget

    budget.register(kinds, _add_source_args)


@dataclass(frozen=True)
class Source:
    constellation: Constellation  # screened over [start_s, end_s]
    scenario: Scenario  # with --tle, the default scenario (its stations and bus)
    start_s: float
    end_s: float


def load_source(args: argparse.Namespace, satellite: str | None = None) -> Source:
    """Constellation (screened over the window; only `satellite` if given), scenario, start
    and end from --tle or --scenario."""
    if args.tle:
        from pathlib import Path

        constellation = load_tle_file(Path(args.tle))
        scenario = load_scenario(None)
        default_start_s = float(math.floor(time.time() / 60.0) * 60.0)
    else:
        scenario = load_scenario(args.scenario, screen_elements=False)
        constellation = scenario.constellation
        default_start_s = scenario.epoch_s
    if satellite is not None:
        try:
            constellation = constellation.subset([constellation.index(satellite)])
        except KeyError as exc:
            raise UserError(f"--satellite: {exc.args[0]}") from None
    start_s = args.start if args.start is not None else default_start_s
    end_s = start_s + args.hours * 3600.0
    max_age_s = (
        args.max_element_age * 86400.0
        if args.max_element_age is not None
        else scenario.max_element_age_s
    )
    constellation = screen(constellation, start_s, end_s, max_age_s)
    if len(constellation) == 0:
        raise UserError("no satellite can be propagated over the window (see the lines above)")
    return Source(constellation, scenario, start_s, end_s)


def _source(
    args: argparse.Namespace,
) -> tuple[Constellation, tuple[Station, ...], float, float]:
    src = load_source(args)
    return src.constellation, src.scenario.stations, src.start_s, src.end_s


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def run_contacts(args: argparse.Namespace) -> int:
    constellation, stations, start_s, end_s = _source(args)
    if args.station:
        stations = tuple(args.station)
        if len({s.name for s in stations}) != len(stations):
            raise UserError("--station: station names must be unique")
    if args.min_elevation is not None:
        stations = tuple(replace(s, min_elevation_deg=args.min_elevation) for s in stations)
    contacts = sorted(
        find_contacts(constellation, stations, start_s, end_s), key=lambda c: (c.aos_s, c.sat)
    )
    records = [
        {
            "satellite": constellation.names[c.sat],
            "station": stations[c.station].name,
            "aos": iso8601(c.aos_s),
            "los": iso8601(c.los_s),
            "max_elevation_deg": round(c.max_elevation_deg, 2),
        }
        for c in contacts
    ]
    notes = station_lines(contacts, stations)
    if args.json:
        print(json.dumps(records, indent=1))
        for line in notes:
            sys.stderr.write(f"note: {line}\n")
        return 0
    _print_table(
        ["satellite", "station", "aos", "los", "duration", "max_el_deg"],
        [
            [
                str(r["satellite"]),
                str(r["station"]),
                str(r["aos"]),
                str(r["los"]),
                _duration(c.duration_s),
                f"{c.max_elevation_deg:.1f}",
            ]
            for r, c in zip(records, contacts, strict=True)
        ],
    )
    print(
        f"{len(records)} contacts, {len(constellation)} satellites x {len(stations)} stations, "
        f"{iso8601(start_s)} to {iso8601(end_s)}"
    )
    for line in notes:
        print(line)
    return 0


def run_eclipses(args: argparse.Namespace) -> int:
    constellation, _, start_s, end_s = _source(args)
    eclipses = sorted(
        find_eclipses(constellation, start_s, end_s), key=lambda e: (e.start_s, e.sat)
    )
    records = [
        {
            "satellite": constellation.names[e.sat],
            "start": iso8601(e.start_s),
            "end": iso8601(e.end_s),
            "penumbra_start": iso8601(e.penumbra_start_s),
            "penumbra_end": iso8601(e.penumbra_end_s),
        }
        for e in eclipses
    ]
    if args.json:
        print(json.dumps(records, indent=1))
        return 0
    _print_table(
        ["satellite", "penumbra_start", "start", "end", "penumbra_end", "duration"],
        [
            [
                r["satellite"],
                r["penumbra_start"],
                r["start"],
                r["end"],
                r["penumbra_end"],
                _duration(e.duration_s),
            ]
            for r, e in zip(records, eclipses, strict=True)
        ],
    )
    print(
        f"{len(records)} eclipses, {len(constellation)} satellites, "
        f"{iso8601(start_s)} to {iso8601(end_s)}"
    )
    return 0
