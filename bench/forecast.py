"""Benchmark of the forecast engine (a script, not a test).

For Walker-delta constellations (550 km / 53 deg, phasing 1) of each requested size, over
`--hours` with `--stations` real ground stations, compute every eclipse (centre of the Sun,
with its penumbra) and every contact interval, refined to better than 1 s, with the
project's engine: its one-pass `survey()` when it has one, else (or with `--engine-path
find`) `find_eclipses` then `find_contacts`. Then do the same work with Skyfield
(`find_events` per satellite and station, `is_sunlit` + `find_discrete` per satellite, i.e.
tests/skyfield_oracle.py; best of 3) on a sample of satellites, scale its time linearly up
to the full size, and print the ratio. The sample's intervals from both are compared as a
sanity check (boundaries within 2 s, no interval on one side only). Skyfield here finds
centre-of-the-Sun eclipses only, while the engine also finds each penumbra: the ratio is
on the conservative side.

Each measurement runs in a fresh subprocess; its wall time is `time.perf_counter()` around
the computation, its peak memory the process's peak resident set size
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`, which includes the interpreter, numpy and
sgp4: the "baseline" column is the RSS just before the computation starts).

    .venv/bin/python bench/forecast.py                      # 1,000 and 10,000 satellites
    .venv/bin/python bench/forecast.py --sizes 10000 --repeat 3 --json
    .venv/bin/python bench/forecast.py --sizes 1000 --hours 6 --stations 8 --sample 40

The machine is shared: check `uptime` first, and use --repeat to keep the best of a few.

Target of the engine (issue 2): 10,000 satellites x 24 h x 20 stations in <= 10 s and
<= 1.5 GB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EPOCH = "2026-12-01T00:00:00Z"
ALTITUDE_KM = 550.0
INCLINATION_DEG = 53.0
TWO_SECONDS = 2.0
SKYFIELD_REPEATS = 3

# Sites beyond those of the embedded default scenario (which lists SvalSat, TrollSat,
# Fairbanks, Wallops, Santiago, Hartebeesthoek, Malindi, Esrange), from the operators' public
# pages, rounded to 0.01 deg: ESA ESTRACK (Kiruna is Esrange's neighbour, so not repeated),
# NASA DSN and NEN, JAXA, ISRO, KSAT, SSC and CNES sites.
EXTRA_STATIONS: tuple[tuple[str, float, float, float], ...] = (
    ("weilheim", 47.88, 11.08, 660.0),
    ("redu", 50.00, 5.15, 380.0),
    ("kourou", 5.25, -52.80, 10.0),
    ("maspalomas", 27.76, -15.63, 200.0),
    ("goldstone", 35.43, -116.89, 1000.0),
    ("canberra", -35.40, 148.98, 690.0),
    ("new-norcia", -31.05, 116.19, 250.0),
    ("south-point", 19.01, -155.66, 370.0),
    ("usuda", 36.13, 138.36, 1450.0),
    ("bangalore", 13.03, 77.51, 830.0),
    ("inuvik", 68.32, -133.55, 100.0),
    ("punta-arenas", -52.94, -70.85, 30.0),
    ("singapore", 1.35, 103.82, 20.0),
    ("mcmurdo", -77.85, 166.67, 100.0),
)


def _walker_layout(size: int) -> tuple[int, int]:
    """planes x sats_per_plane == size with the planes as close to sqrt(size) as divides."""
    planes = math.isqrt(size)
    while size % planes:
        planes -= 1
    return planes, size // planes


def _stations(count: int) -> list[Any]:
    from scheduler.forecast import Station

    try:
        from scheduler.scenario import load_scenario

        base = list(load_scenario("default").stations)
    except Exception:  # the scenario loader is optional for the benchmark
        base = []
    names = {s.name for s in base}
    extra = [Station(n, lat, lon, alt) for n, lat, lon, alt in EXTRA_STATIONS if n not in names]
    stations = (base + extra)[:count]
    if len(stations) < count:
        raise SystemExit(f"--stations: at most {len(base) + len(extra)} sites are known")
    return stations


def _window(hours: float) -> tuple[float, float]:
    from scheduler.forecast.timeconv import parse_iso8601

    start = parse_iso8601(EPOCH)
    return start, start + hours * 3600.0


def _constellation(size: int, start_s: float) -> Any:
    from scheduler.forecast import walker_delta

    planes, per_plane = _walker_layout(size)
    return walker_delta(
        altitude_km=ALTITUDE_KM,
        inclination_deg=INCLINATION_DEG,
        planes=planes,
        sats_per_plane=per_plane,
        phasing=1,
        epoch_s=start_s,
        name_prefix="b",
    )


def _sample_indices(size: int, sample: int) -> list[int]:
    return sorted({round(i * (size - 1) / max(sample - 1, 1)) for i in range(sample)})


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# --- children ---------------------------------------------------------------------------------


def _engine_path(requested: str) -> str:
    """'survey' (one pass per chunk for both searches) when the engine has it, else 'find'
    (find_eclipses then find_contacts, the list API)."""
    if requested == "auto":
        try:
            import scheduler.forecast.survey  # noqa: F401
        except ImportError:
            return "find"
        return "survey"
    return requested


def _column(items: list[Any], field: str) -> Any:
    import numpy as np

    return np.array([getattr(x, field) for x in items])


def child_engine(
    size: int, hours: float, n_stations: int, sample: int, path: str
) -> dict[str, Any]:
    import numpy as np

    from scheduler.forecast import find_contacts, find_eclipses

    start_s, end_s = _window(hours)
    stations = _stations(n_stations)
    t0 = time.perf_counter()
    constellation = _constellation(size, start_s)
    build_s = time.perf_counter() - t0
    baseline = _rss_mib()

    # Both paths end with parallel arrays: (sat, start, end) and (sat, station, aos, los).
    if path == "survey":
        from scheduler.forecast.survey import survey

        t0 = time.perf_counter()
        result = survey(constellation, stations, start_s, end_s)
        t1 = t2 = time.perf_counter()
        ecl = (result.eclipses.sat, result.eclipses.start_s, result.eclipses.end_s)
        c = result.contacts
        con = (c.sat, c.station, c.aos_s, c.los_s)
    else:
        t0 = time.perf_counter()
        eclipses = find_eclipses(constellation, start_s, end_s)
        t1 = time.perf_counter()
        contacts = find_contacts(constellation, stations, start_s, end_s)
        t2 = time.perf_counter()
        ecl = tuple(_column(eclipses, f) for f in ("sat", "start_s", "end_s"))
        con = tuple(_column(contacts, f) for f in ("sat", "station", "aos_s", "los_s"))
    peak = _peak_rss_mib()

    picks = _sample_indices(size, sample)
    sample_out = {}
    for i in picks:
        e_rows = np.nonzero(ecl[0] == i)[0]
        c_rows = np.nonzero(con[0] == i)[0]
        sample_out[str(i)] = {
            "eclipses": [[float(ecl[1][k]), float(ecl[2][k])] for k in e_rows],
            "contacts": [[int(con[1][k]), float(con[2][k]), float(con[3][k])] for k in c_rows],
        }
    return {
        "size": size,
        "path": path,
        "build_s": build_s,
        "eclipses_s": t1 - t0 if path == "find" else None,
        "contacts_s": t2 - t1 if path == "find" else None,
        "wall_s": t2 - t0,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak,
        "n_eclipses": len(ecl[0]),
        "n_contacts": len(con[0]),
        "sample": sample_out,
    }


def child_skyfield(
    size: int, hours: float, n_stations: int, sample: int, path: str
) -> dict[str, Any]:
    """Skyfield on the sample satellites (exported TLEs of the same generated satrecs)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import skyfield_oracle as oracle
    from sgp4.exporter import export_tle

    start_s, end_s = _window(hours)
    stations = _stations(n_stations)
    constellation = _constellation(size, start_s)
    picks = _sample_indices(size, sample)
    sats = {i: oracle.satellite(*export_tle(constellation.satrecs[i])) for i in picks}
    oracle.ephemeris()  # load DE421 and the timescale outside the timing
    oracle.eclipses(sats[picks[0]], start_s, start_s + 600.0)

    # The machine is shared: keep the best of a few runs of the sample (it takes seconds).
    eclipse_runs, contact_runs = [], []
    for _ in range(SKYFIELD_REPEATS):
        t0 = time.perf_counter()
        eclipses = {i: oracle.eclipses(sat, start_s, end_s) for i, sat in sats.items()}
        t1 = time.perf_counter()
        contacts = {
            i: [
                (k, c)
                for k, st in enumerate(stations)
                for c in oracle.contacts(
                    sat, st.lat_deg, st.lon_deg, st.alt_m, st.min_elevation_deg, start_s, end_s
                )
            ]
            for i, sat in sats.items()
        }
        t2 = time.perf_counter()
        eclipse_runs.append(t1 - t0)
        contact_runs.append(t2 - t1)
    oracle.close_ephemeris()
    return {
        "sample_sats": len(picks),
        "eclipses_s": min(eclipse_runs),
        "contacts_s": min(contact_runs),
        "sample": {
            str(i): {
                "eclipses": [[e.start_s, e.end_s] for e in eclipses[i]],
                "contacts": [[k, c.aos_s, c.los_s] for k, c in contacts[i]],
            }
            for i in picks
        },
    }


# --- parent -----------------------------------------------------------------------------------


def _run_child(kind: str, size: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        kind,
        "--sizes",
        str(size),
        "--hours",
        str(args.hours),
        "--stations",
        str(args.stations),
        "--sample",
        str(args.sample),
        "--engine-path",
        args.engine_path,
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{kind} child for {size} satellites failed ({done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _worst_difference(engine: dict[str, Any], sky: dict[str, Any]) -> tuple[float, int, str]:
    """Largest boundary difference (s) over matched sample intervals, how many intervals
    exist on one side only (window-edge slivers aside), and where the largest one is."""
    worst, lonely, where = 0.0, 0, ""
    for sat, ours in engine["sample"].items():
        theirs = sky["sample"][sat]
        groups = [(f"sat {sat} eclipse", ours["eclipses"], theirs["eclipses"])]
        keys = {c[0] for c in ours["contacts"]} | {c[0] for c in theirs["contacts"]}
        for k in sorted(keys):
            groups.append(
                (
                    f"sat {sat} contact with station {k}",
                    [c[1:] for c in ours["contacts"] if c[0] == k],
                    [c[1:] for c in theirs["contacts"] if c[0] == k],
                )
            )
        for label, a, b in groups:
            used: set[int] = set()
            for b0, b1 in b:
                best = max(
                    (i for i in range(len(a)) if i not in used),
                    key=lambda i, b0=b0, b1=b1: min(a[i][1], b1) - max(a[i][0], b0),
                    default=None,
                )
                if best is None or min(a[best][1], b1) - max(a[best][0], b0) <= 0:
                    lonely += b1 - b0 > TWO_SECONDS
                    continue
                used.add(best)
                diff = max(abs(a[best][0] - b0), abs(a[best][1] - b1))
                if diff > worst:
                    worst = diff
                    where = (
                        f"{label}: engine {_iso(a[best][0])}-{_iso(a[best][1])}, "
                        f"Skyfield {_iso(b0)}-{_iso(b1)} ({b1 - b0:.0f} s long)"
                    )
            lonely += sum(
                1 for i, (a0, a1) in enumerate(a) if i not in used and a1 - a0 > TWO_SECONDS
            )
    return worst, lonely, where


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, UTC).strftime("%H:%M:%S.%f")[:-4]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated, e.g. 1000,10000")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--sample", type=int, default=5, help="satellites Skyfield computes")
    parser.add_argument(
        "--engine-path",
        choices=["auto", "survey", "find"],
        default="auto",
        help="survey(): one pass for eclipses and contacts; find: find_eclipses + "
        "find_contacts; auto: survey when the engine has it",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="engine runs per size, each in a fresh subprocess: the best wall time and the "
        "largest peak memory are shown",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--child", choices=["engine", "skyfield"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: expected integers, got {args.sizes!r}")
    if not sizes or min(sizes) < 1 or args.hours <= 0 or min(args.stations, args.sample) < 1:
        parser.error("sizes, hours, stations and sample must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if args.child:
        fn = child_engine if args.child == "engine" else child_skyfield
        path = _engine_path(args.engine_path)
        print(json.dumps(fn(sizes[0], args.hours, args.stations, args.sample, path)))
        return 0

    load1, _, _ = os.getloadavg()
    print(
        f"forecast benchmark {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}: Walker {ALTITUDE_KM:.0f} km "
        f"/ {INCLINATION_DEG:.0f} deg, {args.hours:g} h from {EPOCH}, {args.stations} stations, "
        f"{os.cpu_count()} CPUs, load average {load1:.2f}, engine path "
        f"{_engine_path(args.engine_path)}"
    )
    print("memory: peak RSS of a fresh subprocess per size (getrusage ru_maxrss)")
    header = (
        f"{'sats':>6} {'layout':>8} {'eclipses':>9} {'contacts':>9} {'engine s':>9} "
        f"{'ecl s':>6} {'cont s':>7} {'base MiB':>9} {'peak MiB':>9} {'skyfield s':>11} "
        f"{'ratio':>6} {'max |d| s':>9}"
    )
    print(header)
    results = []
    for size in sizes:
        runs = [_run_child("engine", size, args) for _ in range(args.repeat)]
        eng = min(runs, key=lambda r: r["wall_s"])
        eng["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
        eng["wall_s_runs"] = [r["wall_s"] for r in runs]
        sky = _run_child("skyfield", size, args)
        n = sky["sample_sats"]
        sky_scaled = (sky["eclipses_s"] + sky["contacts_s"]) / n * size
        worst, lonely, where = _worst_difference(eng, sky)
        planes, per_plane = _walker_layout(size)
        print(
            f"{size:>6} {f'{planes}x{per_plane}':>8} {eng['n_eclipses']:>9} "
            f"{eng['n_contacts']:>9} {eng['wall_s']:>9.2f} {_secs(eng['eclipses_s']):>6} "
            f"{_secs(eng['contacts_s']):>7} {eng['baseline_rss_mib']:>9.0f} "
            f"{eng['peak_rss_mib']:>9.0f} {sky_scaled:>11.1f} {sky_scaled / eng['wall_s']:>6.1f} "
            f"{worst:>9.3f}" + (f"  ({lonely} unmatched intervals!)" if lonely else ""),
            flush=True,
        )
        if worst > TWO_SECONDS:
            print(f"       worst sample boundary is over {TWO_SECONDS} s: {where}", flush=True)
        results.append(
            {
                "size": size,
                "engine": {k: v for k, v in eng.items() if k != "sample"},
                "skyfield_sample": {k: v for k, v in sky.items() if k != "sample"},
                "skyfield_scaled_s": sky_scaled,
                "ratio": sky_scaled / eng["wall_s"],
                "sample_max_difference_s": worst,
                "sample_max_difference_at": where,
                "sample_unmatched": lonely,
            }
        )
    print(
        "engine s = survey() or find_eclipses + find_contacts (generating the constellation "
        "excluded); "
        f"skyfield s = Skyfield on {args.sample} satellites (find_events per station, "
        "is_sunlit + find_discrete; best of 3) scaled linearly to the full size; "
        "ratio = skyfield / engine; "
        "max |d| = worst boundary difference between the two on the sample"
    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
