"""The demo: a local multi-process cluster on a scenario, a mixed workload submitted over
gRPC, bounded in wall time, ending with a summary table, a Gantt chart of what actually ran
and the metrics endpoints it served."""

from __future__ import annotations

import statistics
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from orbitalsched.v1 import cluster_pb2, jobs_pb2

from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster
from scheduler.errors import UserError
from scheduler.report.gantt import plot_gantt
from scheduler.report.run_record import RunInterval, RunRecorder
from scheduler.server.convert import spec_to_pb
from scheduler.sim.workload import batch_workload

J = jobs_pb2
# Training runs a demo of a few orbits can finish.
DEMO_TRAINING_ACC_H = (4.0, 16.0)


@dataclass(frozen=True)
class DemoConfig:
    scenario: str | None
    satellite_names: tuple[str, ...]
    speed: float
    wall_s: float
    jobs_per_satellite: float
    waves: int
    out: Path
    seed: int = 0
    tls: bool = True  # mutual TLS with a throwaway CA in out/cluster/certs


def _say(msg: str) -> None:
    print(msg, flush=True)


def _hhmm(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%H:%M")


def run_demo(cfg: DemoConfig) -> int:
    cluster = LocalCluster(
        satellites=cfg.satellite_names,
        workdir=cfg.out / "cluster",
        scenario=cfg.scenario,
        speed=cfg.speed,
        scheduler_args=("--solve-time-limit", "4"),
        db=cfg.out / "cluster" / f"scheduler-{int(time.time())}.db",
        tls=cfg.tls,
    )
    n = len(cfg.satellite_names)
    _say(f"starting the scheduler and {n} agent processes (speed {cfg.speed:.0f}x) ...")
    with cluster:
        cluster.start()
        client = Client(cluster.address, tls=cluster.user_tls())
        try:
            return _drive(cfg, cluster, client)
        finally:
            client.close()


def _drive(cfg: DemoConfig, cluster: LocalCluster, client: Client) -> int:
    deadline = time.time() + 90
    while not all(s.connected for s in client.satellites().satellites):
        if time.time() > deadline or not cluster.alive():
            raise UserError(f"agents did not all connect; logs in {cluster.workdir}")
        time.sleep(0.5)
    recorder = RunRecorder(cluster.address).start()
    start_s = client.now_s()
    n_jobs = max(4, round(cfg.jobs_per_satellite * len(cfg.satellite_names)))
    batch = [
        spec_to_pb(s)
        for s in batch_workload(
            n_jobs, start_s, seed=cfg.seed, prefix="demo", training_acc_h=DEMO_TRAINING_ACC_H
        )
    ]
    waves = [batch[i :: cfg.waves] for i in range(cfg.waves)]
    wall0 = time.time()
    wave_every_s = cfg.wall_s / (cfg.waves + 1)
    submitted = 0
    _say(
        f"all agents connected; simulation time {_hhmm(start_s)} UTC; submitting {n_jobs} jobs "
        f"in {cfg.waves} waves over gRPC"
    )
    next_report = wall0
    while time.time() - wall0 < cfg.wall_s:
        due = min(cfg.waves, int((time.time() - wall0) / wave_every_s) + 1)
        while submitted < due:
            wave = waves[submitted]
            now = client.now_s()
            for spec in wave:  # deadlines relative to the wave's submission
                if spec.HasField("deadline_s"):
                    spec.deadline_s = now + (spec.deadline_s - start_s)
            client.submit(wave)
            submitted += 1
        if time.time() >= next_report:
            counts = Counter(
                J.JobState.Name(j.state).removeprefix("JOB_STATE_").lower()
                for j in client.all_jobs()
            )
            _say(
                f"  [{time.time() - wall0:5.0f} s] sim {_hhmm(client.now_s())} UTC  "
                + "  ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            )
            next_report = time.time() + 10
        if not cluster.alive():
            raise UserError(f"a cluster process exited; logs in {cluster.workdir}")
        time.sleep(0.5)
    end_s = client.now_s()
    intervals = recorder.stop(end_s)
    jobs = list(client.all_jobs())
    plan = client.plan()
    eclipses: dict[str, list[tuple[float, float]]] = {}
    contacts: dict[str, list[tuple[float, float]]] = {}
    for name in cfg.satellite_names:
        fc = client.call(
            client.cluster.GetForecast,
            cluster_pb2.GetForecastRequest(
                satellite_id=name, start_s=start_s, duration_s=end_s - start_s
            ),
        )
        eclipses[name] = [(w.start_s, w.end_s) for w in fc.eclipses]
        contacts[name] = [(w.start_s, w.end_s) for w in fc.contacts]
    metrics = _scrape(cluster)
    _summary(jobs, intervals, plan, start_s, end_s, cfg)
    png = plot_gantt(
        intervals,
        cfg.satellite_names,
        start_s,
        end_s,
        eclipses,
        contacts,
        cfg.out / "gantt.png",
        title=f"What ran: {len(cfg.satellite_names)} satellites, "
        f"{(end_s - start_s) / 5736:.1f} orbits at {cfg.speed:.0f}x",
    )
    _say(f"\nGantt chart of what actually ran: {png}")
    _say("metrics endpoints served during the run:")
    for url, lines in metrics[:3]:
        _say(f"  {url}  ({lines} samples)")
    if len(metrics) > 3:
        rest = metrics[3:]
        _say(f"  ... and {len(rest)} more agents ({sum(n > 0 for _, n in rest)} answered)")
    _say(f"logs and the state database: {cluster.workdir}")
    return 0


def _scrape(cluster: LocalCluster) -> list[tuple[str, int]]:
    urls = [f"http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics"]
    urls += [f"http://127.0.0.1:{p}/metrics" for p in cluster.agent_metrics_ports.values()]
    out = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            out.append((url, sum(1 for line in text.splitlines() if not line.startswith("#"))))
        except OSError:
            out.append((url, 0))
    return out


def _summary(
    jobs: list[J.Job],
    intervals: list[RunInterval],
    plan: cluster_pb2.PlanSummary,
    start_s: float,
    end_s: float,
    cfg: DemoConfig,
) -> None:
    span_s = end_s - start_s
    _say(
        f"\nsimulated {span_s / 3600:.1f} h ({span_s / 5736:.1f} orbits of 95.6 min) from "
        f"{_hhmm(start_s)} to {_hhmm(end_s)} UTC"
    )
    header = (
        "KIND",
        "JOBS",
        "SUCCEEDED",
        "RUNNING",
        "WAITING",
        "FAILED",
        "LATE",
        "PREEMPTED",
        "MEDIAN_TO_GROUND",
    )
    rows: list[tuple[str, ...]] = []
    for kind, code in (("inference", J.JOB_KIND_INFERENCE), ("training", J.JOB_KIND_TRAINING)):
        mine = [j for j in jobs if j.spec.kind == code]
        done = [j for j in mine if j.state == J.JOB_STATE_SUCCEEDED]
        late = [
            j for j in done if j.spec.HasField("deadline_s") and j.end_time_s > j.spec.deadline_s
        ]
        ttg = [j.end_time_s - j.submit_time_s for j in done]
        rows.append(
            (
                kind,
                str(len(mine)),
                str(len(done)),
                str(sum(j.state in (J.JOB_STATE_RUNNING,) for j in mine)),
                str(
                    sum(
                        j.state
                        in (J.JOB_STATE_PENDING, J.JOB_STATE_PLANNED, J.JOB_STATE_CHECKPOINTED)
                        for j in mine
                    )
                ),
                str(sum(j.state == J.JOB_STATE_FAILED for j in mine)),
                str(len(late)),
                str(sum(j.preemptions for j in mine)),
                f"{statistics.median(ttg) / 60:.0f} min" if ttg and kind == "inference" else "-",
            )
        )
    _table(header, rows)
    acc = {j.spec.job_id: j.spec.accelerators for j in jobs}
    busy: dict[str, float] = {}  # accelerator-seconds (with outputs waiting for a contact)
    for iv in intervals:
        held_s = acc.get(iv.job_id, 1) * (iv.end_s - iv.start_s)
        busy[iv.satellite] = busy.get(iv.satellite, 0.0) + held_s
    used = sorted(busy.items(), key=lambda kv: -kv[1])
    if used:
        _say(
            f"satellites used: {len(used)}/{len(cfg.satellite_names)}; accelerators held on "
            "the busiest (incl. outputs waiting for a contact): "
            + ", ".join(f"{s} {100 * b / (4 * span_s):.0f}%" for s, b in used[:3])
        )
    if plan.plan_version:
        _say(
            f"last plan v{plan.plan_version} ({plan.trigger}): {plan.solver_status}, objective "
            f"{plan.objective:.1f}, gap {100 * plan.gap_ratio:.1f}%, {len(plan.unplaced)} "
            f"unplaced"
            + (
                f" (e.g. {plan.unplaced[0].job_id}: {plan.unplaced[0].reason})"
                if plan.unplaced
                else ""
            )
        )


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        _say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
