"""orbitctl demo: what `make demo` runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scheduler.forecast_report import compute_overview, plot_timeline, summary_lines
from scheduler.scenario import load_scenario


def register(subparsers: Any) -> None:
    demo = subparsers.add_parser("demo", help="run the demo on the embedded default scenario")
    demo.add_argument("--scenario", help="scenario TOML file or built-in name (default: default)")
    demo.add_argument("--out", default="out/demo", help="output directory (default out/demo)")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    overview = compute_overview(scenario)
    for line in summary_lines(overview):
        print(line)
    png = plot_timeline(overview, Path(args.out) / "forecast.png")
    print(f"timeline plot: {png}")
    return 0
