"""The scheduler's side of plan delivery at constellation size, in one process: adopting a
plan (lifecycle.apply_plan, the store) and queueing each changed satellite's plan as wire
bytes (sessions.broadcast_plans), without sockets, so each step can be timed and profiled.

    .venv/bin/python bench/delivery.py [--satellites 10000] [--jobs 10000] [--rounds 3]
                                       [--profile FILE]

A generated Walker shell (bench/streams.py's), every satellite connected (an outbox each),
--jobs fresh 4-accelerator inference jobs placed one per satellite; then rounds like
bench/streams.py's Replan: half the jobs move later by a slot, the rest keep their
placement. Per round: the wall time of the adoption and of the broadcast (the scheduler's own
log line splits the read of the placed jobs from the build), and the CPU time of both (the
world's contacts computed ahead in a thread are waited for after each round, so that no
round shares its CPU with them).
bench/streams.py measures the whole path with real agents and gRPC.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from streams import scenario_file  # noqa: E402

from scheduler.planner.domain import Plan, PlanItem  # noqa: E402
from scheduler.server.app import ServerConfig, build_core  # noqa: E402
from scheduler.server.messages import Hello  # noqa: E402
from scheduler.server.model import JobSpec, PlanRecord  # noqa: E402
from scheduler.server.replanner import ReplanConfig  # noqa: E402
from scheduler.server.wire import PlanEncoder  # noqa: E402


def record(version: int, now: float, placement: dict[str, tuple[str, float]]) -> PlanRecord:
    items = tuple(
        PlanItem(sat, job_id, "inference", start, start + 600.0, 4, 1400.0, delivery_s=start + 900)
        for job_id, (sat, start) in placement.items()
    )
    plan = Plan(version, now, now, now + 3 * 3600, items, ())
    return PlanRecord(
        version, now, now, now + 3 * 3600, "bench", "FEASIBLE", 1.0, 1.0, 0.0, 0.1, plan
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--satellites", type=int, default=10_000)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", type=Path, default=None, help="cProfile of the rounds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(message)s")
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        scenario = scenario_file(args.satellites, Path(tmp) / "shell.toml")
        t0 = time.time()
        core = build_core(
            ServerConfig(
                db=str(Path(tmp) / "s.db"),
                scenario=str(scenario),
                speed=1.0,
                replan=ReplanConfig(in_process=True),
            )
        )
        print(f"core built in {time.time() - t0:.1f} s", flush=True)
        core.sessions.plan_encoder = PlanEncoder  # as the AgentService sets it
        names = list(core.world.names)
        outboxes = [core.sessions.connect(Hello(n))[1] for n in names]
        now = core.clock.now_s()
        core.lifecycle.submit(
            [
                JobSpec(f"j{i}", "inference", 1, 2400.0, 4, power_w=1400.0, output_mb=10.0,
                        deadline_s=now + 6 * 3600)
                for i in range(args.jobs)
            ]
        )  # fmt: skip
        placement = {f"j{i}": (names[i % len(names)], now + 120.0) for i in range(args.jobs)}
        prof = cProfile.Profile() if args.profile else None
        for r in range(args.rounds):
            if r:
                placement = {
                    j: (sat, start + (60.0 if k % 2 == r % 2 else 0.0))
                    for k, (j, (sat, start)) in enumerate(placement.items())
                }
            version = core.store.next_plan_version()
            rec = record(version, now, placement)
            if prof:
                prof.enable()
            c0, t0 = time.process_time(), time.perf_counter()
            core.lifecycle.apply_plan(rec, set(placement))
            c1, t1 = time.process_time(), time.perf_counter()
            asyncio.run(core.sessions.broadcast_plans(solved_wall_s=time.time()))
            c2, t2 = time.process_time(), time.perf_counter()
            if prof:
                prof.disable()
            ahead = getattr(core.world, "_next", None)  # contacts computed ahead (a thread):
            if ahead is not None:  # wait for them, so that they share no round's CPU
                ahead[1].result()
            queued = sum(o.qsize() for o in outboxes)
            for o in outboxes:
                while not o.empty():
                    o.get_nowait()
            core.sessions.plan_writes_pending = 0
            print(
                f"round {r + 1} (v{version}, {len(placement)} jobs): adopt {t1 - t0:.3f} s "
                f"({c1 - c0:.3f} s CPU), broadcast {t2 - t1:.3f} s ({c2 - c1:.3f} s CPU), "
                f"{queued} plans queued",
                flush=True,
            )
        if prof and args.profile:
            prof.dump_stats(str(args.profile))
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        core.replanner.close()
        core.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
