"""orbitctl demo: what `make demo` runs.

First the scenario's forecast (summary and timeline plot), then the control plane live: a
local cluster (the scheduler and one agent process per satellite) at a speed that shows
several orbits, a mixed workload submitted over gRPC, bounded in wall time, ending with a
summary table, a Gantt chart of what actually ran and the metrics endpoints it served.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scheduler.cluster.demo import DemoConfig, run_demo
from scheduler.errors import UserError
from scheduler.report.forecast import compute_overview, plot_timeline, summary_lines
from scheduler.scenario import load_scenario


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the demo on the embedded default scenario")
    demo.add_argument("--scenario", help="scenario TOML file or built-in name (default: default)")
    demo.add_argument("--out", default="out/demo", help="output directory (default out/demo)")
    demo.add_argument(
        "--satellites",
        type=int,
        default=None,
        help="agent processes: the first N satellites (default: all)",
    )
    demo.add_argument(
        "--speed",
        type=float,
        default=120.0,
        help="simulated seconds per wall second (default 120: an orbit in 48 s)",
    )
    demo.add_argument(
        "--minutes",
        type=float,
        default=2.5,
        help="wall-clock length of the live part (default 2.5)",
    )
    demo.add_argument("--jobs-per-satellite", type=float, default=1.5)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext gRPC (default: mutual TLS with a throwaway CA under --out)",
    )
    demo.add_argument(
        "--forecast-only", action="store_true", help="show the forecast part only (no cluster)"
    )
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    overview = compute_overview(scenario)
    for line in summary_lines(overview):
        print(line)
    png = plot_timeline(overview, Path(args.out) / "forecast.png")
    print(f"timeline plot: {png}")
    if args.forecast_only:
        return 0
    names = scenario.constellation.names
    n = args.satellites or len(names)
    if not 1 <= n <= len(names):
        raise UserError(f"--satellites: expected 1 to {len(names)}")
    if args.minutes <= 0 or args.speed <= 0:
        raise UserError("--minutes and --speed must be positive")
    print()
    return run_demo(
        DemoConfig(
            scenario=args.scenario,
            satellite_names=names[:n],
            speed=args.speed,
            wall_s=60.0 * args.minutes,
            jobs_per_satellite=args.jobs_per_satellite,
            waves=4,
            out=Path(args.out),
            seed=args.seed,
            tls=not args.insecure,
        )
    )
