"""The state store at 1,000,000 jobs, measured from a real gRPC client.

    python bench/store.py [--jobs 1000000] [--samples 2000] [--page-size 100]
                          [--submit-batches 10] [--batch 1000] [--retention-s S]
                          [--dir DIR] [--refill] [--profile] [--compaction-only]

Fills a real scheduler database (scheduler/server/store.py's schema, written by the Store
itself, then bulk rows in its formats) with --jobs jobs in realistic states: the newest
6,000 active (5,000 PENDING, 700 PLANNED, 250 RUNNING, 50 CHECKPOINTED), the rest terminal
(92% SUCCEEDED, 5% FAILED, 3% CANCELLED) over 30 simulated days, 15% training, with their
events (2-6 per job), memberships and checkpoints. The filled file is kept in --dir and
copied for each run. Then starts a real `orbit-scheduler` on the copy (default 30-satellite
scenario, speed 1, greedy policy, 127.0.0.1, free port) and measures from a gRPC client:
  * start-up: process start to "listening", and RSS after start-up and at the end;
  * ListJobs: first page, every page of a walk through all jobs (deep pages via the page
    tokens the server returns), filtered by one state and by several, by kind, by satellite;
  * GetJob p50/p99 over --samples random ids, with and without events;
  * SubmitJobs throughput with the jobs present;
  * with --retention-s: the compaction rate and GetJob p50/p99 while it runs.
--profile also records the scheduler with py-spy (if installed) during the measurements
and prints its top functions. Not a test: prints figures. Results, before and after the
store's indexes, counts and retention: bench/store_results.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
from orbitalsched.v1 import jobs_pb2, jobs_pb2_grpc

from scheduler.cluster.local import LocalCluster
from scheduler.scenario import load_scenario
from scheduler.server.model import JobSpec
from scheduler.server.store import Store

DAY_S = 86400.0
HISTORY_S = 30 * DAY_S
ACTIVE = (("PENDING", 5000), ("PLANNED", 700), ("RUNNING", 250), ("CHECKPOINTED", 50))
TERMINAL = (("SUCCEEDED", 0.92), ("FAILED", 0.05), ("CANCELLED", 0.03))
USERS = tuple(f"user:team-{i}" for i in range(20))


def job_id(i: int) -> str:
    return f"job-{i:07d}"


def _rows(n_jobs: int, now_s: float, names: tuple[str, ...], seed: int) -> Iterator[tuple]:
    """(job row, event rows, membership rows, checkpoint rows) per job, oldest first."""
    rng = random.Random(seed)
    n_active = sum(n for _, n in ACTIVE)
    active = [s for s, n in ACTIVE for _ in range(n)]
    rng.shuffle(active)
    first_s = now_s - HISTORY_S
    for i in range(n_jobs):
        k = i - (n_jobs - n_active)
        if k >= 0:
            state = active[k]
            submit_s = now_s - 3600.0 + 3600.0 * k / n_active
        else:
            u = rng.random()
            state = "SUCCEEDED" if u < 0.92 else "FAILED" if u < 0.97 else "CANCELLED"
            submit_s = first_s + (HISTORY_S - 4 * 3600.0) * i / max(1, n_jobs - n_active)
        training = state == "CHECKPOINTED" or rng.random() < 0.15
        kind = "training" if training else "inference"
        work_s = rng.uniform(600, 20000) if training else rng.uniform(60, 1800)
        spec = JobSpec(
            job_id=job_id(i),
            kind=kind,
            priority=rng.choice((0, 1, 1, 2)),
            work_acc_s=work_s,
            accelerators=rng.choice((1, 2, 4)),
            input_mb=rng.uniform(0, 500),
            output_mb=rng.uniform(0, 100),
            deadline_s=submit_s + 12 * 3600.0 if rng.random() < 0.5 else None,
            gang_size=2 if training and rng.random() < 0.3 else 1,
            checkpoint_interval_s=600.0 if training else 0.0,
            checkpoint_cost_s=10.0 if training else 0.0,
            labels={"team": f"team-{i % 20}", "model": rng.choice(("llama", "vit", "unet"))},
            value=rng.uniform(0.5, 5.0),
        )
        who = USERS[i % len(USERS)]
        sats = tuple(sorted(rng.sample(names, spec.gang_size)))
        ran = state in ("SUCCEEDED", "FAILED", "RUNNING", "CHECKPOINTED") or (
            state == "CANCELLED" and rng.random() < 0.5
        )
        start_s = submit_s + rng.uniform(60, 3600) if ran else 0.0
        end_s = 0.0
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            end_s = (start_s or submit_s) + rng.uniform(60, 3 * 3600)
        placed = state in ("PLANNED", "RUNNING", "CHECKPOINTED")
        version = 1 + i // 1000
        members = [[s, version] for s in sats] if placed or ran else []
        done = spec.work_acc_s if state == "SUCCEEDED" else (rng.uniform(0, work_s) if ran else 0)
        ckpt = done * 0.8 if training and ran else 0.0
        job = (
            spec.job_id,
            kind,
            json.dumps(dataclasses.asdict(spec)),
            state,
            {"FAILED": "failed on agent: out of memory", "CANCELLED": "cancelled by user"}.get(
                state, ""
            ),
            submit_s,
            start_s,
            end_s,
            json.dumps(list(sats) if placed or ran else []),
            start_s if placed else 0.0,
            start_s + work_s if placed else 0.0,
            done,
            ckpt,
            version if placed or ran else 0,
            1 if state == "FAILED" else 0,
            json.dumps(members),
            who,
            "CAPACITY" if state == "PENDING" and rng.random() < 0.5 else "",
        )
        events = [(spec.job_id, submit_s, "submitted", "PENDING", "", who)]
        if placed or ran:
            events.append((spec.job_id, submit_s + 30, "planned", "PLANNED", "", "scheduler"))
        if ran:
            events.append((spec.job_id, start_s, "started", "RUNNING", "", f"satellite:{sats[0]}"))
        if state == "FAILED":
            events.append((spec.job_id, end_s - 60, "retry", "PENDING", "oom", "scheduler"))
            events.append((spec.job_id, end_s - 30, "planned", "PLANNED", "", "scheduler"))
        if end_s:
            events.append((spec.job_id, end_s, state.lower(), state, job[4], who))
        checkpoints = [(spec.job_id, sats[0], start_s + 600.0, ckpt)] if ckpt else []
        memberships = [(spec.job_id, s, v) for s, v in members]
        yield job, events, memberships, checkpoints


def fill(path: Path, n_jobs: int, now_s: float, names: tuple[str, ...], seed: int = 1) -> None:
    """A scheduler database with n_jobs jobs (see the module docstring)."""
    path.unlink(missing_ok=True)
    Store(path).close()  # the real schema, indexes and pragmas
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    cols = (
        "job_id, kind, spec, state, reason, submit_time_s, start_time_s, end_time_s, "
        "satellite_ids, planned_start_s, planned_end_s, done_accelerator_s, "
        "checkpoint_accelerator_s, assignment_version, preemptions, member_versions, "
        "submitted_by, reason_code"
    )
    t0 = time.perf_counter()
    batch: list[tuple] = []
    rows = _rows(n_jobs, now_s, names, seed)
    while True:
        batch = [r for _, r in zip(range(50_000), rows, strict=False)]
        if not batch:
            break
        db.execute("BEGIN")
        db.executemany(
            f"INSERT INTO jobs ({cols}) VALUES ({','.join('?' * 18)})", [b[0] for b in batch]
        )
        db.executemany(
            "INSERT INTO job_events (job_id, time_s, what, state, reason, principal) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [e for b in batch for e in b[1]],
        )
        db.executemany(
            "INSERT OR IGNORE INTO memberships (job_id, satellite_id, version) VALUES (?, ?, ?)",
            [m for b in batch for m in b[2]],
        )
        db.executemany(
            "INSERT INTO checkpoints (job_id, satellite_id, time_s, accelerator_s) "
            "VALUES (?, ?, ?, ?)",
            [c for b in batch for c in b[3]],
        )
        db.execute("COMMIT")
        done = db.execute("SELECT MAX(seq) FROM jobs").fetchone()[0]
        print(f"  filled {done:,} jobs ({time.perf_counter() - t0:.0f} s)", flush=True)
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('plan_version', ?)",
        (str(1 + n_jobs // 1000),),
    )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def set_clock(path: Path, now_s: float) -> None:
    """The stored simulation clock: now_s at this wall instant, speed 1."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('clock', ?)",
        (f"{now_s!r} {time.time()!r} {1.0!r}",),
    )
    db.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(rest.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def timed(call: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def pct(ms: list[float], q: float) -> float:
    s = sorted(ms)
    return s[min(len(s) - 1, int(q * len(s)))]


def line(what: str, ms: list[float]) -> str:
    return (
        f"  {what:<46} p50 {pct(ms, 0.5):7.2f} ms  p99 {pct(ms, 0.99):7.2f} ms  "
        f"max {max(ms):7.2f} ms  (n={len(ms)})"
    )


def walk(
    stub: jobs_pb2_grpc.JobServiceStub, size: int, **filters: object
) -> tuple[list[float], int]:
    """Every page of one listing, following the server's tokens: (latencies ms, jobs)."""
    token, ms, n = "", [], 0
    while True:
        t0 = time.perf_counter()
        resp = stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=size, page_token=token, **filters))
        ms.append((time.perf_counter() - t0) * 1000.0)
        n += len(resp.jobs)
        token = resp.next_page_token
        if not token:
            return ms, n


def spec_pb(i: int) -> jobs_pb2.JobSpec:
    return jobs_pb2.JobSpec(
        job_id=f"bench-submit-{i:07d}",
        kind=jobs_pb2.JOB_KIND_INFERENCE,
        priority=jobs_pb2.JOB_PRIORITY_STANDARD,
        work_accelerator_s=600.0,
        accelerators=1,
    )


def measure(args: argparse.Namespace, db: Path, now_s: float, names: tuple[str, ...]) -> None:
    scheduler_args = ["--policy", "greedy", "--solve-time-limit", "2"]
    if not args.baseline:  # compaction off while measuring the store (a phase of its own)
        scheduler_args += ["--retention-s", "0"]
    set_clock(db, now_s)
    if args.compaction_only:
        compaction_only(args, db, names, scheduler_args)
        return
    cluster = _cluster(db, names, scheduler_args)
    spy = None
    with cluster:
        t0 = time.perf_counter()
        cluster.start_scheduler()
        startup_s = time.perf_counter() - t0
        proc = cluster.scheduler_proc
        assert proc is not None
        rss0, _ = rss_mb(proc.pid)
        print(f"start-up to listening: {startup_s:.2f} s; RSS {rss0:.0f} MB")
        spy_bin = shutil.which("py-spy", path=str(Path(sys.executable).parent))
        if args.profile and spy_bin:
            spy = subprocess.Popen(
                [
                    spy_bin,
                    "record",
                    "-p",
                    str(proc.pid),
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(db.parent / "profile.txt"),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(db.parent / "py-spy.log", "wb"),  # noqa: SIM115
            )
        channel = grpc.insecure_channel(
            cluster.address, options=[("grpc.max_receive_message_length", 64 << 20)]
        )
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        grpc.channel_ready_future(channel).result(timeout=30)
        t1 = time.perf_counter()
        while metric(cluster, "orbital_plan_version") < 1 and time.perf_counter() - t1 < 60:
            time.sleep(0.2)  # steady state: the solver worker started and the first plan made
        print(f"first plan after {time.perf_counter() - t0:.1f} s")
        size = args.page_size
        rng = random.Random(7)
        n = args.jobs
        st = jobs_pb2
        first = timed(lambda: stub.ListJobs(st.ListJobsRequest(page_size=size)), 200)
        print(line(f"ListJobs first page ({size})", first))
        ms, seen = walk(stub, 1000)
        print(line(f"ListJobs walk of all {seen:,} jobs, pages of 1000", ms))
        ms, seen = walk(stub, size, states=[st.JOB_STATE_PENDING])
        print(line(f"ListJobs PENDING walk ({seen:,} jobs, pages of {size})", ms))
        ms, seen = walk(stub, 1000, states=[st.JOB_STATE_FAILED, st.JOB_STATE_CANCELLED])
        print(line(f"ListJobs FAILED+CANCELLED walk ({seen:,}, 1000)", ms))
        ms = timed(
            lambda: stub.ListJobs(
                st.ListJobsRequest(page_size=size, states=[st.JOB_STATE_SUCCEEDED])
            ),
            100,
        )
        print(line(f"ListJobs SUCCEEDED first page ({size})", ms))
        ms = timed(
            lambda: stub.ListJobs(
                st.ListJobsRequest(
                    page_size=size,
                    states=[st.JOB_STATE_RUNNING],
                    page_token=str(rng.randrange(n)),
                )
            ),
            100,
        )
        print(line(f"ListJobs RUNNING from a random token ({size})", ms))
        ms = timed(
            lambda: stub.ListJobs(
                st.ListJobsRequest(
                    page_size=size, page_token=str(rng.randrange(n)), kinds=[st.JOB_KIND_TRAINING]
                )
            ),
            100,
        )
        print(line(f"ListJobs training from a random token ({size})", ms))
        ms = timed(
            lambda: stub.ListJobs(
                st.ListJobsRequest(
                    page_size=size,
                    page_token=str(rng.randrange(n)),
                    states=[st.JOB_STATE_FAILED],
                    kinds=[st.JOB_KIND_TRAINING],
                )
            ),
            100,
        )
        print(line(f"ListJobs FAILED training, random token ({size})", ms))
        ms = timed(
            lambda: stub.ListJobs(
                st.ListJobsRequest(
                    page_size=size, satellite_id=rng.choice(names), page_token=str(rng.randrange(n))
                )
            ),
            50,
        )
        print(line(f"ListJobs by satellite, random token ({size})", ms))
        ids = [job_id(rng.randrange(n)) for _ in range(args.samples)]
        it = iter(ids)
        ms = timed(lambda: stub.GetJob(st.GetJobRequest(job_id=next(it))), len(ids))
        print(line("GetJob random id", ms))
        it = iter(ids)
        ms = timed(
            lambda: stub.GetJob(st.GetJobRequest(job_id=next(it), include_events=True)), len(ids)
        )
        print(line("GetJob random id with events", ms))
        rates = []
        for b in range(args.submit_batches):
            batch = [spec_pb(b * args.batch + i) for i in range(args.batch)]
            t1 = time.perf_counter()
            stub.SubmitJobs(st.SubmitJobsRequest(jobs=batch))
            rates.append(args.batch / (time.perf_counter() - t1))
        print(
            f"  SubmitJobs batches of {args.batch}: median {statistics.median(rates):,.0f} "
            f"jobs/s, first {rates[0]:,.0f}, slowest {min(rates):,.0f}"
        )
        rss1, hwm = rss_mb(proc.pid)
        print(f"RSS at the end {rss1:.0f} MB (peak {hwm:.0f} MB); database {db_mb(db):.0f} MB")
        channel.close()
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait()
        if args.retention_s is not None:
            cluster.stop()
            cluster.scheduler_args = (
                *scheduler_args[:-2],
                "--retention-s",
                str(args.retention_s),
            )
            print(f"restarted with --retention-s {args.retention_s:g}")
            t_start = time.perf_counter()
            cluster.start_scheduler()
            channel = grpc.insecure_channel(cluster.address)
            compaction_phase(cluster, jobs_pb2_grpc.JobServiceStub(channel), ids, t_start)
            channel.close()
            cluster.stop()
            print(f"database after compaction {db_mb(db):.0f} MB")
    if spy is not None:
        print_profile(db.parent / "profile.txt")


def _cluster(db: Path, names: tuple[str, ...], scheduler_args: list[str]) -> LocalCluster:
    """The scheduler on the filled database, at speed 1, with metrics (no agents run)."""
    return LocalCluster(
        names,
        db.parent / "run",
        speed=1.0,
        db=db,
        metrics=True,
        scheduler_args=tuple(scheduler_args),
    )


def compaction_only(
    args: argparse.Namespace, db: Path, names: tuple[str, ...], scheduler_args: list[str]
) -> None:
    rng = random.Random(7)
    ids = [job_id(rng.randrange(args.jobs)) for _ in range(args.samples)]
    retention = ("--retention-s", str(args.retention_s or 604800))
    cluster = _cluster(db, names, [*scheduler_args[:-2], *retention])
    with cluster:
        t_start = time.perf_counter()
        cluster.start_scheduler()
        channel = grpc.insecure_channel(cluster.address)
        compaction_phase(cluster, jobs_pb2_grpc.JobServiceStub(channel), ids, t_start)
        channel.close()
    print(f"database after compaction {db_mb(db):.0f} MB")


def db_mb(db: Path) -> float:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists()) / 1e6


def metric(cluster: LocalCluster, name: str) -> float:
    from urllib.request import urlopen

    text = urlopen(f"http://127.0.0.1:{cluster.scheduler_metrics_port}/metrics", timeout=5).read()
    for row in text.decode().splitlines():
        if row.startswith(name + " ") or row.startswith(name + "{"):
            return float(row.rsplit(" ", 1)[1])
    return float("nan")


def compaction_phase(
    cluster: LocalCluster, stub: jobs_pb2_grpc.JobServiceStub, ids: list[str], t_start: float
) -> None:
    """GetJob and ListJobs latency while the scheduler compacts, until its compacted count
    stays the same for 6 s (the compactor looks for more every 5 s once done)."""
    get_ms: list[float] = []
    list_ms: list[float] = []
    last, last_change = 0.0, time.perf_counter()
    rng = random.Random(3)
    i = 0
    while time.perf_counter() - last_change < 6.0:
        for _ in range(40):
            t1 = time.perf_counter()
            stub.GetJob(jobs_pb2.GetJobRequest(job_id=ids[i % len(ids)], include_events=True))
            get_ms.append((time.perf_counter() - t1) * 1000.0)
            i += 1
        for _ in range(10):
            t1 = time.perf_counter()
            stub.ListJobs(
                jobs_pb2.ListJobsRequest(
                    states=[jobs_pb2.JOB_STATE_SUCCEEDED],
                    page_token=str(rng.randrange(len(ids) * 100)),
                )
            )
            list_ms.append((time.perf_counter() - t1) * 1000.0)
        now = metric(cluster, "orbital_jobs_compacted_total")
        if now != last:
            last, last_change = now, time.perf_counter()
    wall = last_change - t_start
    print(
        f"  compaction: {last:,.0f} jobs compacted in {wall:.1f} s from the scheduler's start, "
        f"{last / max(wall, 1e-9):,.0f} jobs/s; store "
        f"{metric(cluster, 'orbital_store_bytes') / 1e6:,.0f} MB of which "
        f"{metric(cluster, 'orbital_store_free_bytes') / 1e6:,.0f} MB free pages"
    )
    print(line("GetJob with events during compaction", get_ms))
    print(line("ListJobs SUCCEEDED page during compaction", list_ms))


def print_profile(path: Path, top: int = 25) -> None:
    """Self and total samples per function from py-spy's raw (collapsed) output."""
    if not path.exists():
        return
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    n = 0
    for row in path.read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        frames = [
            f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
            for f in stack.split(";")
        ]
        if not count.isdigit():  # a frame name that py-spy broke across lines
            continue
        c = int(count)
        n += c
        own[frames[-1]] = own.get(frames[-1], 0) + c
        for f in set(frames):
            total[f] = total.get(f, 0) + c
    print(f"py-spy: {n} samples of the scheduler (all threads, idle included)")
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  self {100 * c / n:5.1f}%  total {100 * total[f] / n:5.1f}%  {f}")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=1_000_000)
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--submit-batches", type=int, default=10)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--retention-s", type=float, default=None)
    p.add_argument("--dir", type=Path, default=Path("/tmp/orbit-bench-store"))
    p.add_argument("--refill", action="store_true")
    p.add_argument("--profile", action="store_true")
    p.add_argument(
        "--compaction-only",
        action="store_true",
        help="only the compaction phase (--retention-s, default 7 days)",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="the scheduler has no --retention-s (code from before it): pass none",
    )
    args = p.parse_args(argv)
    scenario = load_scenario(None)
    names = scenario.constellation.names
    now_s = scenario.epoch_s + HISTORY_S
    args.dir.mkdir(parents=True, exist_ok=True)
    pristine = args.dir / f"filled-{args.jobs}.db"
    if args.refill or not pristine.exists():
        print(f"filling {pristine} with {args.jobs:,} jobs")
        t0 = time.perf_counter()
        fill(pristine, args.jobs, now_s, names)
        print(f"filled in {time.perf_counter() - t0:.0f} s, {db_mb(pristine):.0f} MB")
    work = args.dir / "run.db"
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, work)
    print(f"{args.jobs:,} jobs, database {db_mb(work):.0f} MB")
    t0 = time.perf_counter()
    Store(work).close()  # schema migrations, once (not part of the start-up measured)
    print(f"opened (and migrated) in {time.perf_counter() - t0:.2f} s")
    measure(args, work, now_s, names)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
