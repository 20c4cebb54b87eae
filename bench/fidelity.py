"""Fidelity of the simulator: the same seeded workload through the simulator (virtual time,
in process) and through a live local cluster (one orbit-scheduler and one orbit-agent
process per satellite on 127.0.0.1, at high speed), from the same start time over the same
satellites, with the same planner settings. Prints the value delivered, the deadline misses
and the preemptions of each, and the live/simulated value ratio (target: within 10%).

    .venv/bin/python bench/fidelity.py [--satellites 6] [--hours 3] [--speed 120] [--seed 0]

Both measure their final job records the same way (scheduler/sim/outcome.py). The live run
takes hours x 3600 / speed wall seconds plus start-up; figures taken while other work runs
on the machine are noisy (a slow solve at 120x costs simulated minutes).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from orbitalsched.v1 import jobs_pb2

from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster
from scheduler.planner.domain import Weights
from scheduler.scenario import load_scenario
from scheduler.server.convert import PB_TO_STATE, PRIORITY_TO_PB, spec_to_pb
from scheduler.server.model import Job, JobSpec
from scheduler.sim.outcome import outcome
from scheduler.sim.simulator import SimConfig, run_simulation
from scheduler.sim.workload import Arrival, offered_rate_per_hour, poisson_workload

PB_TO_PRIORITY = {v: k for k, v in PRIORITY_TO_PB.items()}


def job_from_pb(j: jobs_pb2.Job) -> Job:
    s = j.spec
    spec = JobSpec(
        job_id=s.job_id,
        kind="training" if s.kind == jobs_pb2.JOB_KIND_TRAINING else "inference",
        priority=PB_TO_PRIORITY[s.priority],
        work_acc_s=s.work_accelerator_s,
        accelerators=s.accelerators,
        power_w=s.power_w,
        input_mb=s.input_mb,
        output_mb=s.output_mb,
        deadline_s=s.deadline_s if s.HasField("deadline_s") else None,
        gang_size=s.gang_size or 1,
        checkpoint_interval_s=s.checkpoint_interval_s,
        checkpoint_cost_s=s.checkpoint_cost_s,
        value=s.value or 1.0,
    )
    return Job(
        spec=spec,
        state=PB_TO_STATE[j.state],
        submit_time_s=j.submit_time_s,
        reason=j.reason,
        start_time_s=j.start_time_s,
        end_time_s=j.end_time_s,
        satellite_ids=tuple(j.satellite_ids),
        done_acc_s=j.done_accelerator_s,
        checkpoint_acc_s=j.checkpoint_accelerator_s,
        preemptions=j.preemptions,
    )


def workload(args: argparse.Namespace, start_s: float, accelerators: int) -> list[Arrival]:
    rate = offered_rate_per_hour(args.satellites * accelerators, args.contention)
    return poisson_workload(start_s, args.hours, args.seed, rate, args.training_jobs)


PLAN_LOG = re.compile(r"plan v\d+ \(.*?\): \S+, .* ([\d.]+) s \(forecast ([\d.]+) s\)")


def solve_walls(log: Path) -> list[float]:
    """Wall seconds of each solve the scheduler logged (forecast included)."""
    if not log.exists():
        return []
    return [float(m.group(1)) for m in PLAN_LOG.finditer(log.read_text(errors="replace"))]


def run_live(
    args: argparse.Namespace, names: tuple[str, ...], workdir: Path
) -> tuple[float, list[Job], list[float]]:
    """Start the cluster, submit each arrival when the scheduler's clock reaches it, and
    return the start time, the final job records and the wall time of each solve."""
    sc = load_scenario(args.scenario)
    cluster = LocalCluster(
        satellites=names,
        workdir=workdir,
        scenario=args.scenario,
        speed=args.speed,
        link_model="always",
        metrics=False,
        scheduler_args=(
            "--policy",
            args.policy,
            "--solve-time-limit",
            str(args.time_limit),
            "--horizon-slots",
            str(args.horizon_slots),
            "--replan-interval",
            str(args.replan),
        ),
    )
    with cluster:
        cluster.start()
        client = Client(cluster.address)
        try:
            deadline = time.time() + 120
            while not all(s.connected for s in client.satellites().satellites):
                if time.time() > deadline or not cluster.alive():
                    sys.exit(f"agents did not all connect; logs in {workdir}")
                time.sleep(0.2)
            # Start on a minute boundary a little ahead, so the first arrivals are not late.
            start_s = math.ceil(client.now_s() / 60.0) * 60.0 + 60.0
            queue = sorted(workload(args, start_s, sc.bus.accelerators), key=lambda a: a.submit_s)
            end_s = start_s + args.hours * 3600.0
            k = 0
            while (now := client.now_s()) < end_s:
                due = []
                while k < len(queue) and queue[k].submit_s <= now:
                    due.append(spec_to_pb(queue[k].spec))
                    k += 1
                if due:
                    client.submit(due)
                if not cluster.alive():
                    sys.exit(f"a cluster process exited; logs in {workdir}")
                time.sleep(0.1)
            late = [spec_to_pb(a.spec) for a in queue[k:] if a.submit_s < end_s]
            if late:  # due in the last poll interval: the simulator has them too
                client.submit(late)
            jobs = [job_from_pb(j) for j in client.all_jobs()]
        finally:
            client.close()
    return start_s, jobs, solve_walls(workdir / "scheduler.log")


def row(name: str, jobs: list[Job], end_s: float, weights: Weights) -> str:
    o = outcome(jobs, end_s, weights)
    train = outcome([j for j in jobs if j.spec.kind == "training"], end_s, weights)
    return (
        f"{name:<10} {o.value:>9.1f} {train.value:>11.1f} {o.jobs:>5} {o.succeeded:>9} "
        f"{o.deadline_misses:>15} {o.preemptions:>11} {o.accelerator_hours:>7.1f} "
        f"{train.accelerator_hours:>11.1f}"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default=None)
    p.add_argument("--satellites", type=int, default=6)
    p.add_argument("--hours", type=float, default=3.0)
    p.add_argument("--speed", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--contention", type=float, default=1.5)
    p.add_argument("--training-jobs", type=int, default=1)
    p.add_argument("--policy", default="cpsat", choices=("cpsat", "greedy"))
    p.add_argument("--time-limit", type=float, default=2.0, help="wall seconds per solve")
    p.add_argument("--horizon-slots", type=int, default=190)
    p.add_argument("--replan", type=float, default=900.0, help="simulated seconds")
    p.add_argument(
        "--live-runs",
        type=int,
        default=1,
        help="live runs of the same workload (the live cluster is not deterministic: the "
        "spread between runs is the noise floor of the comparison)",
    )
    args = p.parse_args()
    sc = load_scenario(args.scenario)
    names = tuple(sc.constellation.names[: args.satellites])

    lives: list[tuple[float, list[Job], float]] = []
    solves: list[list[float]] = []
    for _ in range(args.live_runs):
        with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
            wall0 = time.time()
            start, jobs, walls = run_live(args, names, Path(tmp))
            lives.append((start, jobs, time.time() - wall0))
            solves.append(walls)
    start_s = lives[0][0]
    end_s = start_s + args.hours * 3600.0
    wall0 = time.time()
    sim = run_simulation(
        SimConfig(
            policy=args.policy,
            hours=args.hours,
            seed=args.seed,
            scenario=args.scenario,
            replan_s=args.replan,
            horizon_slots=args.horizon_slots,
            time_limit_s=args.time_limit,
            contention=args.contention,
            training_jobs=args.training_jobs,
            satellites=args.satellites,
            start_s=start_s,
            speed=args.speed,
            triggers=True,
        )
    )
    sim_wall_s = time.time() - wall0
    weights = Weights()
    # Each live run starts at its own time; its outcome counts to its own end.
    live_runs = [(outcome(j, st + args.hours * 3600.0, weights), w) for st, j, w in lives]
    simulated = outcome(sim.jobs, end_s, weights)
    print(
        f"{len(names)} satellites, {args.hours:g} h from {start_s:.0f}, seed {args.seed}, "
        f"contention {args.contention:g}, {args.policy} {args.time_limit:g} s/solve, "
        f"live at {args.speed:g}x"
    )
    print(
        f"{'run':<10} {'value':>9} {'of training':>11} {'jobs':>5} {'succeeded':>9} "
        f"{'deadline misses':>15} {'preemptions':>11} {'acc-h':>7} {'of training':>11}"
    )
    print(row("simulator", sim.jobs, end_s, weights) + f"   ({sim_wall_s:.0f} s wall)")
    for i, (st, jobs, wall_s) in enumerate(lives):
        name = "live" if len(lives) == 1 else f"live {i + 1}"
        print(row(name, jobs, st + args.hours * 3600.0, weights) + f"   ({wall_s:.0f} s wall)")
    for name, jobs in [
        ("simulator", sim.jobs),
        *((f"live {i + 1}", j) for i, (_, j, _) in enumerate(lives)),
    ]:
        for j in jobs:
            if j.spec.kind == "training":
                print(
                    f"  {name} {j.job_id}: {j.state.value}, gang {','.join(j.satellite_ids) or '-'}"
                    f" of {j.spec.gang_size}, {j.checkpoint_acc_s / 3600:.1f} of "
                    f"{j.spec.work_acc_s / 3600:.1f} acc-h saved, started "
                    f"{(j.start_time_s - start_s) / 60 if j.start_time_s else -1:.0f} min in, "
                    f"{j.preemptions} preemptions; {j.reason[:70]}"
                )
    print(
        f"solves: simulator {sim.summary['replans']}, each taking {args.time_limit:g} s "
        f"({args.time_limit * args.speed / 60:.0f} simulated min)"
    )
    for i, walls in enumerate(solves):
        if walls:
            name = "live" if len(solves) == 1 else f"live {i + 1}"
            print(
                f"        {name} {len(walls)}, wall mean {statistics.fmean(walls):.2f} s, "
                f"max {max(walls):.2f} s ({max(walls) * args.speed / 60:.0f} simulated min)"
            )
    if simulated.value > 0:
        for i, (live, _) in enumerate(live_runs):
            ratio = live.value / simulated.value
            verdict = "within" if abs(ratio - 1.0) <= 0.10 else "OUTSIDE"
            name = "live" if len(live_runs) == 1 else f"live {i + 1}"
            print(f"{name} / simulated value: {ratio:.3f} ({verdict} 10%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
