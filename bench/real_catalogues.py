"""Benchmark: the real CelesTrak catalogues in ../shared/data through the forecast path
`orbitctl forecast` takes (a script, not a test).

For each file: parse (names made unique), screen (element age, SGP4 failures over the
window), then 12 h of eclipses and of contacts with three stations (the default scenario's
wallops, santiago and hartebeesthoek), each timed with time.perf_counter() in this process;
counts of satellites, renamed element sets, skipped satellites, eclipses and contacts.
The window starts one day after the file's median element epoch (override with --start).

    nice .venv/bin/python bench/real_catalogues.py
    nice .venv/bin/python bench/real_catalogues.py --hours 24 --json

The machine is shared: figures measured while others run are noisy (best of --repeat).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.forecast import find_contacts, find_eclipses, parse_tle
from scheduler.forecast.screening import element_epoch_s, propagation_failures, without
from scheduler.forecast.timeconv import iso8601, parse_iso8601
from scheduler.scenario import load_scenario

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "tle"
FILES = ("starlink_celestrak-gp_2026-02-23.txt", "active_celestrak-gp_2026-03-19.txt")
STATIONS = ("wallops", "santiago", "hartebeesthoek")


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure(path: Path, hours: float, start: float | None, repeat: int) -> dict[str, Any]:
    text = path.read_text()
    notes: list[str] = []
    best: dict[str, float] = {}
    result: dict[str, Any] = {}
    stations = tuple(s for s in load_scenario("default").stations if s.name in STATIONS)
    for _ in range(repeat):
        notes.clear()
        c, t_parse = _timed(lambda: parse_tle(text, path.name, warn=notes.append))
        epochs = np.array([element_epoch_s(s) for s in c.satrecs])
        start_s = start if start is not None else float(np.median(epochs)) + 86400.0
        end_s = start_s + hours * 3600.0
        failures, t_screen = _timed(lambda: propagation_failures(c, start_s, end_s))  # noqa: B023
        usable = without(c, failures)
        eclipses, t_ecl = _timed(lambda: find_eclipses(usable, start_s, end_s))  # noqa: B023
        contacts, t_con = _timed(lambda: find_contacts(usable, stations, start_s, end_s))  # noqa: B023
        for key, value in (
            ("parse_s", t_parse),
            ("screen_s", t_screen),
            ("eclipses_s", t_ecl),
            ("contacts_s", t_con),
        ):
            best[key] = min(best.get(key, value), value)
        renamed = sum(
            1
            for n, s in zip(c.names, c.satrecs, strict=True)
            if n.endswith(f" [{s.satnum_str.strip()}]")
        )
        result = {
            "file": path.name,
            "start": iso8601(start_s),
            "hours": hours,
            "satellites": len(c),
            "renamed": renamed,
            "skipped": [f"{f.name}: {f.message}" for f in failures],
            "eclipses": len(eclipses),
            "contacts": len(contacts),
            "stations": [s.name for s in stations],
        }
    result.update({k: round(v, 2) for k, v in best.items()})
    result["total_s"] = round(sum(best.values()), 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--start", help="UTC ISO 8601 (default: a day after the median epoch)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    start = parse_iso8601(args.start) if args.start else None
    rows = []
    for name in FILES:
        path = DATA / name
        if not path.is_file():
            print(f"skipping {name}: {path} is absent", file=sys.stderr)
            continue
        rows.append(measure(path, args.hours, start, args.repeat))
    for r in rows:
        print(
            f"{r['file']}: {r['satellites']} satellites ({r['renamed']} renamed, "
            f"{len(r['skipped'])} skipped), {r['hours']:g} h from {r['start']}: "
            f"parse {r['parse_s']} s, screen {r['screen_s']} s, "
            f"{r['eclipses']} eclipses in {r['eclipses_s']} s, "
            f"{r['contacts']} contacts with {len(r['stations'])} stations in "
            f"{r['contacts_s']} s; total {r['total_s']} s"
        )
        for line in r["skipped"]:
            print(f"    skipped {line}")
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
