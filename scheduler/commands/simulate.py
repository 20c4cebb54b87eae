"""orbitctl simulate: the deterministic in-process mode, for policy comparison."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scheduler.errors import UserError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run the planner against simulated satellites in virtual time",
        description="Rolling-horizon simulation in virtual time: a seeded workload, satellites "
        "whose truth is the nonlinear power and thermal model, the agent's executor. Writes "
        "DIR/summary.json, DIR/plan.json and DIR/gantt.png and prints a short table.",
    )
    p.add_argument("--scenario", default=None, help="scenario file or built-in name")
    p.add_argument("--policy", default="cpsat", help="cpsat or greedy")
    p.add_argument(
        "--compare",
        default=None,
        metavar="P1,P2",
        help="run several policies on the same seed (e.g. cpsat,greedy)",
    )
    p.add_argument("--hours", type=float, default=24.0, help="simulated hours (default 24)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="sim-out", help="output directory (default sim-out)")
    p.add_argument(
        "--contention",
        type=float,
        default=1.5,
        help="offered accelerator-hours per fleet accelerator-hour (default 1.5)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=3.0,
        dest="time_limit_s",
        help="CP-SAT deterministic time limit per replan (default 3)",
    )
    p.add_argument(
        "--replan",
        type=float,
        default=900.0,
        dest="replan_s",
        help="seconds of simulated time between replans (default 900)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scheduler.sim.report import table, write_outputs
    from scheduler.sim.simulator import SimConfig, run_simulation

    policies = [s.strip() for s in (args.compare or args.policy).split(",") if s.strip()]
    for policy in policies:
        if policy not in ("cpsat", "greedy"):
            raise UserError(f"--policy/--compare: unknown policy {policy!r} (cpsat, greedy)")
    if args.hours <= 0 or args.hours > 24 * 14:
        raise UserError(f"--hours: expected 0 < hours <= 336, got {args.hours}")
    if args.replan_s < 60 or args.replan_s % 60:
        raise UserError("--replan: expected a whole number of minutes (>= 60 s)")
    if args.contention <= 0 or args.time_limit_s <= 0:
        raise UserError("--contention and --time-limit must be positive")
    out = Path(args.out)
    summaries = []
    for policy in policies:
        cfg = SimConfig(
            policy=policy,
            hours=args.hours,
            seed=args.seed,
            scenario=args.scenario,
            replan_s=args.replan_s,
            time_limit_s=args.time_limit_s,
            contention=args.contention,
        )
        result = run_simulation(cfg)
        write_outputs(result, out / policy if len(policies) > 1 else out)
        summaries.append(result.summary)
    if len(policies) > 1:
        (out / "compare.json").write_text(json.dumps(summaries, indent=2) + "\n")
    print(table(summaries))
    print(f"wrote {out}/")
    return 0
