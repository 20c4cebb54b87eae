"""Benchmark: how often an explanation's suggested change, applied, really places the job
(a script, not a test).

The default scenario's real forecast (30 satellites, 8 stations with antennas), one
satellite cordoned, a seeded contended workload (scheduler.planner.synthetic, N inference
and training jobs over a 3 h horizon). Plan with CP-SAT; for up to --per-seed waiting jobs,
ask `explain`; apply its first suggestion (the changed job, or the uncordon) to the problem
and replan with the same planner, the previous plan as hint; count the jobs the new plan
places. Also: how many waiting jobs got a suggestion at all, and the explain latency.

    nice .venv/bin/python bench/explain.py                 # seeds 1-3, 400 jobs
    nice .venv/bin/python bench/explain.py --seeds 1,2 --jobs 300 --per-seed 8

The machine is shared: CP-SAT runs with --time-limit per solve, deterministic.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from scheduler.planner.domain import SatelliteState
from scheduler.planner.explain import explain
from scheduler.planner.problem_builder import forecast_book, problem_at
from scheduler.planner.solve import plan
from scheduler.planner.synthetic import synthetic_jobs
from scheduler.scenario import load_scenario

CORDONED = "sat-0-3"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--per-seed", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=5.0)
    args = parser.parse_args(argv)
    sc = load_scenario("default")
    book = forecast_book(sc.constellation, sc.stations, sc.bus, sc.epoch_s, 4 * 3600.0, 60.0)
    asked = suggested = placed = 0
    latencies: list[float] = []
    kinds: dict[str, list[int]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        jobs = synthetic_jobs(args.jobs, sc.epoch_s, 3 * 3600.0, seed=seed, n_sats=len(book.names))
        states = {n: SatelliteState(n, sc.bus.initial_soc_wh, 35.0) for n in book.names}
        states[CORDONED] = replace(states[CORDONED], available=False)
        problem = problem_at(book, sc.epoch_s, 180, jobs, states)
        base = plan(problem, time_limit_s=args.time_limit, deterministic=True).plan
        waiting = [u.job_id for u in base.unplaced][: args.per_seed]
        for job_id in waiting:
            asked += 1
            t0 = time.perf_counter()
            e = explain(problem, base, job_id, cordoned={CORDONED})
            latencies.append(time.perf_counter() - t0)
            if not e.suggestions:
                continue
            suggested += 1
            s = e.suggestions[0]
            kind = "uncordon" if s.uncordon else s.change.split(" with ")[-1].split(" ")[1]
            changed = replace(
                problem, jobs=tuple(s.job if j.job_id == job_id else j for j in problem.jobs)
            )
            if s.uncordon:
                up = replace(changed.states[s.uncordon], available=True)
                changed = replace(changed, states={**changed.states, s.uncordon: up})
            again = plan(changed, time_limit_s=args.time_limit, previous=base, deterministic=True)
            ok = job_id in again.plan.placed_job_ids()
            placed += ok
            kinds.setdefault(kind, [0, 0])
            kinds[kind][0] += ok
            kinds[kind][1] += 1
            print(f"seed {seed} {job_id}: {s.change} -> {'placed' if ok else 'NOT placed'}")
    print(
        f"{asked} waiting jobs explained, {suggested} with a suggestion; the first suggestion, "
        f"applied and replanned, placed the job in {placed} of {suggested} "
        f"({100.0 * placed / max(suggested, 1):.0f}%); explain latency median "
        f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    for kind, (ok, n) in sorted(kinds.items()):
        print(f"  {kind}: {ok}/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
