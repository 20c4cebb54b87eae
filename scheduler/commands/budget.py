"""orbitctl forecast budget: one satellite's power and thermal forecast, slot by slot.

Per slot: sunlit fraction, array generation, electrical load, the predicted state of charge
and temperature at the start of the slot, and the thermal headroom (the extra watts the node
can dissipate over the next --headroom-interval without crossing its temperature limit;
scheduler/forecast/budget.py). The load is the bus baseline plus --load-w.

JSON output: {"satellite", "start", "step_s", "headroom_interval_s", "load", "limits",
"slots": [{"time", "sunlit_fraction", "generation_w", "load_w", "soc_wh", "temperature_c",
"headroom_w"}]}, times UTC ISO 8601 with a trailing Z.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.commands.jobs import add_scheduler_option
from scheduler.errors import UserError
from scheduler.forecast.budget import DEFAULT_HEADROOM_INTERVAL_S, BudgetSeries, budget_series
from scheduler.forecast.bus import BusParams
from scheduler.forecast.timeconv import iso8601

MAX_LOAD_W = 1_000_000.0


def _number(flag: str, lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag}: not a number: {text!r}") from None
        if not lo <= value <= hi:  # also false for NaN
            raise argparse.ArgumentTypeError(f"{flag}: expected {lo:g} to {hi:g}, got {text}")
        return value

    return parse


def register(kinds: Any, add_source_args: Callable[[argparse.ArgumentParser], None]) -> None:
    budget = kinds.add_parser(
        "budget",
        help="power and thermal forecast of one satellite (SoC, temperature, headroom)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    add_source_args(budget)
    budget.set_defaults(hours=3.0, func=run_budget)
    budget.add_argument("--satellite", required=True, metavar="ID", help="satellite name")
    budget.add_argument(
        "--load-w",
        type=_number("--load-w", 0.0, MAX_LOAD_W),
        default=None,
        metavar="W",
        help="constant load on top of the bus baseline (default 0)",
    )
    add_scheduler_option(budget)
    budget.add_argument(
        "--step",
        type=_number("--step", 10.0, 3600.0),
        default=60.0,
        metavar="S",
        help="slot length in seconds (default 60, the planner's slot)",
    )
    budget.add_argument(
        "--headroom-interval",
        type=_number("--headroom-interval", 1.0, 24 * 60.0),
        default=DEFAULT_HEADROOM_INTERVAL_S / 60.0,
        metavar="MIN",
        help="the interval the headroom is sustained over, minutes (default 30)",
    )
    budget.add_argument("--plot", metavar="FILE", help="also draw the series into FILE (PNG)")
    budget.epilog = (
        "With --scheduler HOST:PORT the series comes from the running scheduler (GetForecast): "
        "its scenario, its slot, the satellite's last telemetry and its current plan as the "
        "load; --scenario, --tle, --load-w and --step do not apply then."
    )


def series_for(args: argparse.Namespace) -> tuple[str, BusParams, BudgetSeries]:
    from scheduler.commands.forecast import load_source
    from scheduler.planner.problem_builder import forecast_book

    src = load_source(args, satellite=args.satellite)
    extra_w = args.load_w or 0.0
    bus = src.scenario.bus
    # The planner's own per-slot forecast (slot-averaged sunlight, generation and heat).
    book = forecast_book(
        src.constellation, (), bus, src.start_s, src.end_s - src.start_s, args.step
    )
    load = np.full(book.n_slots, bus.baseline_power_w + extra_w)
    series = budget_series(
        src.start_s,
        args.step,
        book.sunlit[0],
        book.gen_w[0],
        book.env_w[0],
        load,
        bus.initial_soc_wh,
        bus.initial_temperature_c,
        bus,
        args.headroom_interval * 60.0,
    )
    return src.constellation.names[0], bus, series


def series_records(series: BudgetSeries) -> list[dict[str, Any]]:
    return [
        {
            "time": iso8601(series.start_s + k * series.step_s),
            "sunlit_fraction": round(float(series.sunlit_fraction[k]), 4),
            "generation_w": round(float(series.generation_w[k]), 1),
            "load_w": round(float(series.load_w[k]), 1),
            "soc_wh": round(float(series.soc_wh[k]), 1),
            "temperature_c": round(float(series.temperature_c[k]), 2),
            "headroom_w": round(float(series.headroom_w[k]), 1),
        }
        for k in range(len(series))
    ]


def summary_lines(name: str, bus: BusParams, series: BudgetSeries) -> list[str]:
    k_soc = int(np.argmin(series.soc_wh))
    k_temp = int(np.argmax(series.temperature_c))
    k_head = int(np.argmin(series.headroom_w))
    at = lambda k: iso8601(series.start_s + k * series.step_s)  # noqa: E731
    lines = [
        f"{name}: {len(series)} slots of {series.step_s:g} s from {at(0)}; "
        f"mean load {series.load_w.mean():.0f} W, "
        f"mean generation {series.generation_w.mean():.0f} W",
        f"lowest charge {series.soc_wh[k_soc]:.0f} Wh at {at(k_soc)} "
        f"(floor {bus.battery_floor_wh:.0f} Wh, capacity {bus.battery_capacity_wh:.0f} Wh)",
        f"hottest {series.temperature_c[k_temp]:.1f} C at {at(k_temp)} "
        f"(limit {bus.max_temperature_c:.1f} C)",
        f"least headroom {series.headroom_w[k_head]:.0f} W over "
        f"{series.headroom_interval_s / 60:g} min from {at(k_head)}",
    ]
    if series.soc_wh[k_soc] < bus.battery_floor_wh:
        lines.append("warning: the charge falls below the battery floor under this load")
    if series.temperature_c[k_temp] > bus.max_temperature_c:
        lines.append("warning: the temperature crosses its limit under this load")
    return lines


def remote_series(args: argparse.Namespace) -> tuple[str, BusParams, BudgetSeries]:
    """The series a running scheduler computes under the satellite's current plan."""
    from orbitalsched.v1 import cluster_pb2

    from scheduler.cluster.client import connect
    from scheduler.commands.jobs import scheduler_of, tls_of

    for flag, given in (
        ("--scenario", args.scenario),
        ("--tle", args.tle),
        ("--load-w", args.load_w is not None),
        ("--start", args.start is not None),
    ):
        if given:
            raise UserError(
                f"{flag} does not apply with --scheduler (the scheduler's plan is the load)"
            )
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.call(
            client.cluster.GetForecast,
            cluster_pb2.GetForecastRequest(
                satellite_id=args.satellite, duration_s=args.hours * 3600.0
            ),
        )
    slots = list(resp.budget)
    if not slots:
        raise UserError("the scheduler returned no budget series (an older scheduler?)")
    column = lambda f: np.array([getattr(x, f) for x in slots])  # noqa: E731
    series = BudgetSeries(
        slots[0].start_s,
        resp.budget_step_s,
        column("sunlit_fraction"),
        column("generation_w"),
        column("load_w"),
        column("soc_wh"),
        column("temperature_c"),
        column("thermal_headroom_w"),
        resp.headroom_interval_s,
    )
    # The summary reads only the limits of the bus: the scheduler's, from the response.
    bus = BusParams(
        battery_capacity_wh=resp.battery_capacity_wh,
        battery_floor_fraction=resp.battery_floor_wh / resp.battery_capacity_wh,
        max_temperature_c=resp.max_temperature_c,
    )
    return resp.satellite_id, bus, series


def run_budget(args: argparse.Namespace) -> int:
    remote = getattr(args, "scheduler", None) is not None
    name, bus, series = remote_series(args) if remote else series_for(args)
    records = series_records(series)
    if args.plot:
        plot_budget(name, bus, series, Path(args.plot))
    if args.json:
        print(
            json.dumps(
                {
                    "satellite": name,
                    "start": iso8601(series.start_s),
                    "step_s": series.step_s,
                    "headroom_interval_s": series.headroom_interval_s,
                    "load": {"mode": "plan"}
                    if remote
                    else {
                        "mode": "constant",
                        "baseline_w": bus.baseline_power_w,
                        "extra_w": args.load_w or 0.0,
                    },
                    "limits": {
                        "battery_capacity_wh": bus.battery_capacity_wh,
                        "battery_floor_wh": bus.battery_floor_wh,
                        "max_temperature_c": bus.max_temperature_c,
                    },
                    "slots": records,
                },
                indent=1,
            )
        )
        return 0
    from scheduler.commands.forecast import _print_table

    headers = ["time", "sunlit", "gen_w", "load_w", "soc_wh", "temp_c", "headroom_w"]
    _print_table(
        headers,
        [
            [
                r["time"],
                f"{r['sunlit_fraction']:.2f}",
                f"{r['generation_w']:.0f}",
                f"{r['load_w']:.0f}",
                f"{r['soc_wh']:.0f}",
                f"{r['temperature_c']:.1f}",
                f"{r['headroom_w']:.0f}",
            ]
            for r in records
        ],
    )
    for line in summary_lines(name, bus, series):
        print(line)
    return 0


def plot_budget(name: str, bus: BusParams, series: BudgetSeries, path: Path) -> None:
    """Three panels: generation and load; state of charge with its floor; temperature with
    its limit and the headroom on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = (np.arange(len(series)) * series.step_s) / 3600.0
    fig, (p_ax, s_ax, t_ax) = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    p_ax.plot(hours, series.generation_w, label="generation W")
    p_ax.plot(hours, series.load_w, label="load W")
    p_ax.legend(loc="upper right")
    s_ax.plot(hours, series.soc_wh, color="tab:green", label="state of charge Wh")
    s_ax.axhline(bus.battery_floor_wh, color="tab:red", ls="--", label="floor")
    s_ax.legend(loc="upper right")
    t_ax.plot(hours, series.temperature_c, color="tab:orange", label="temperature C")
    t_ax.axhline(bus.max_temperature_c, color="tab:red", ls="--", label="limit")
    t_ax.legend(loc="upper left")
    h_ax = t_ax.twinx()
    h_ax.plot(hours, series.headroom_w, color="tab:purple", alpha=0.6)
    h_ax.set_ylim(bottom=0.0)
    h_ax.set_ylabel(f"headroom W ({series.headroom_interval_s / 60:g} min)")
    t_ax.set_xlabel(f"hours from {iso8601(series.start_s)}")
    fig.suptitle(f"{name}: power and thermal forecast")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path)
    except OSError as exc:
        raise UserError(f"--plot: cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
