"""Benchmark of the planner (a script, not a test).

Sizes (satellites x jobs) over a 3 h horizon in 60 s slots, on synthetic Walker-like
problems (scheduler/planner/synthetic.py: real power and thermal models, square-wave
eclipses, one ~8 min contact per orbit): time to the first complete plan, objective, best
bound and gap of CP-SAT at the time limit (10 s), peak memory, and the greedy plan beside it.
Each size runs in a fresh subprocess; memory is the process's peak RSS (ru_maxrss, includes
the interpreter, numpy and OR-Tools).

    .venv/bin/python bench/planner.py                          # 50x300, 200x1000, 1000x5000
    .venv/bin/python bench/planner.py --sizes 50x300 --time-limit 5
    .venv/bin/python bench/planner.py --simulate --hours 24     # default scenario, cpsat vs greedy

Targets (issue 3): at 1000 x 5000 a first plan within 2 s and a gap of at most 3% within
10 s, never below the greedy value; on the default scenario under contention over 24 h,
CP-SAT >= 10% more value than greedy with zero battery/thermal violations in the truth model.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = ("50x300", "200x1000", "1000x5000")


def one(n_sats: int, n_jobs: int, time_limit_s: float, seed: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from scheduler.planner.solve import plan
    from scheduler.planner.synthetic import synthetic_problem
    from scheduler.planner.validator import validate_plan

    problem = synthetic_problem(n_sats, n_jobs, n_slots=180, slot_s=60.0, seed=seed)
    rss_before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    greedy = plan(problem, policy="greedy")
    greedy_s = time.perf_counter() - t
    t = time.perf_counter()
    cpsat = plan(problem, policy="cpsat", time_limit_s=time_limit_s, num_workers=2, seed=seed)
    cpsat_s = time.perf_counter() - t
    violations = len(validate_plan(problem, cpsat.plan)) + len(validate_plan(problem, greedy.plan))
    return {
        "size": f"{n_sats}x{n_jobs}",
        "first_plan_s": round(cpsat.first_solution_s or 0.0, 3),
        "greedy_s": round(greedy_s, 3),
        "cpsat_s": round(cpsat_s, 3),
        "status": cpsat.status,
        "partitions": cpsat.partitions,
        "objective": round(cpsat.objective, 2),
        "best_bound": round(cpsat.best_bound, 2),
        "gap": round(cpsat.gap, 5),
        "greedy_objective": round(greedy.objective, 2),
        "value": round(cpsat.value, 2),
        "greedy_value": round(greedy.value, 2),
        "placed": len(cpsat.plan.placed_job_ids()),
        "greedy_placed": len(greedy.plan.placed_job_ids()),
        "validator_violations": violations,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(rss_before_mb, 1),
    }


def simulate(hours: float, seed: int, time_limit_s: float, contention: float) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from scheduler.sim.simulator import SimConfig, run_simulation

    out = {}
    for policy in ("cpsat", "greedy"):
        cfg = SimConfig(
            policy=policy, hours=hours, seed=seed, time_limit_s=time_limit_s, contention=contention
        )
        out[policy] = run_simulation(cfg).summary
    out["cpsat_vs_greedy"] = round(out["cpsat"]["value"] / max(out["greedy"]["value"], 1e-9) - 1, 4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(DEFAULT_SIZES))
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--simulate", action="store_true", help="the 24 h policy comparison instead")
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--contention", type=float, default=1.5)
    ap.add_argument("--sim-time-limit", type=float, default=3.0)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    if args.one:
        n_sats, n_jobs = (int(x) for x in args.one.split("x"))
        print(json.dumps(one(n_sats, n_jobs, args.time_limit, args.seed)))
        return 0
    if args.simulate:
        result: Any = simulate(args.hours, args.seed, args.sim_time_limit, args.contention)
        print(json.dumps(result, indent=1))
    else:
        result = []
        cols = (
            "size",
            "first_plan_s",
            "cpsat_s",
            "status",
            "partitions",
            "objective",
            "best_bound",
            "gap",
            "greedy_objective",
            "value",
            "greedy_value",
            "validator_violations",
            "peak_rss_mb",
        )
        print("  ".join(cols))
        for size in args.sizes.split(","):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    size,
                    "--time-limit",
                    str(args.time_limit),
                    "--seed",
                    str(args.seed),
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            result.append(row)
            print("  ".join(str(row[c]) for c in cols), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
