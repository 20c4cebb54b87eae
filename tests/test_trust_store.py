"""One scheduler per database, and a one-line error (exit status 2) for any database that
cannot be used: locked by a running scheduler, not SQLite, another application's, corrupt
pages, a corrupt clock row. The lock dies with its process, SIGKILL included."""

from __future__ import annotations

import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import model_job
from orbitalsched.v1 import jobs_pb2

from scheduler.cluster.client import Client
from scheduler.cluster.local import LocalCluster
from scheduler.scenario import load_scenario
from scheduler.server.clock import load_or_create
from scheduler.server.convert import STATE_TO_PB
from scheduler.server.model import Job, JobState
from scheduler.server.store import Store, StoreError
from scheduler.server.store_schema import SCHEMA

HOLD = """
import sys, time
from scheduler.server.store import Store
s = Store(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def _holder(db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_a_second_store_is_refused_until_the_first_process_dies(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc = _holder(db)
    try:
        with pytest.raises(StoreError, match="another scheduler"):
            Store(db)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    store = Store(db)  # the kernel released the lock with the killed process
    store.set_meta("k", "v")
    with pytest.raises(StoreError, match="another scheduler"):
        Store(db)  # also within one process
    store.close()
    again = Store(db)
    assert again.get_meta("k") == "v"
    again.close()


def _scheduler(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler.server.main",
            "--listen",
            "127.0.0.1:0",
            "--db",
            str(db),
            "--satellites",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _valid_db(path: Path) -> None:
    store = Store(path)
    load_or_create(store, 1.8e9, 60.0)
    for i in range(300):  # a few pages of rows
        store.set_meta(f"filler-{i}", "x" * 200)
    store.close()


def _scribble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for off in range(4096, len(data), 4096):  # every page header after the first
        data[off : off + 16] = b"\xa5" * 16
    path.write_bytes(bytes(data))


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    db.commit()
    db.close()


def _bad_clock(path: Path) -> None:
    _valid_db(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = 'nan tomorrow' WHERE key = 'clock'")
    db.commit()
    db.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "make", "says"),
    [
        ("garbage", lambda p: p.write_bytes(b"\x00\x01garbage" * 1000), "not a usable"),
        ("foreign", _foreign, "another application"),
        ("scribbled", lambda p: (_valid_db(p), _scribble(p)), "corrupt"),
        ("clock", _bad_clock, "clock is corrupt"),
        ("directory", lambda p: p.mkdir(), "directory"),
    ],
)
def test_unusable_databases_are_one_line_and_exit_2(
    tmp_path: Path, case: str, make: object, says: str
) -> None:
    db = tmp_path / f"{case}.db"
    make(db)  # type: ignore[operator]
    before = db.read_bytes() if db.is_file() else None
    r = _scheduler(db)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(db) in r.stderr and says in r.stderr, r.stderr
    if before is not None and case in ("garbage", "scribbled"):
        assert db.read_bytes() == before  # refused without writing


@pytest.mark.slow
def test_a_second_scheduler_on_the_same_database_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    proc = _holder(db)
    try:
        r = _scheduler(db)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "another scheduler is using this database" in r.stderr


def _spec_job(job_id: str) -> Job:
    return model_job(job_id, submit_s=10.0, work_s=60.0, acc=1)


def test_submitters_and_the_principal_of_every_event_are_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.insert_jobs([_spec_job("a")], 10.0)  # outside an RPC: the scheduler itself
    store.insert_jobs([replace(_spec_job("b"), submitted_by="user:sam")], 10.0)
    assert store.get_job("a").submitted_by == "scheduler"  # type: ignore[union-attr]
    assert store.get_job("b").submitted_by == "user:sam"  # type: ignore[union-attr]
    b = store.get_job("b")
    assert b is not None
    store.update_job(
        replace(b, state=JobState.CANCELLED, reason="x"), "cancelled", 11.0, "user:olga"
    )
    assert [(e.what, e.principal) for e in store.events("b")] == [
        ("submitted", "user:sam"),
        ("cancelled", "user:olga"),
    ]
    store.close()


def test_request_ids_are_remembered_across_restarts_and_pruned_after_a_week(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.db")
    jobs = [replace(_spec_job(f"j{i}"), submitted_by="user:sam") for i in range(3)]
    store.insert_jobs(jobs, 10.0, request_id="r-1", wall_time_s=1000.0)
    store.close()
    store = Store(tmp_path / "s.db")
    assert store.submitted_ids("user:sam", "r-1") == ["j0", "j1", "j2"]
    assert store.submitted_ids("user:olga", "r-1") is None  # per principal
    assert store.submitted_ids("user:sam", "r-2") is None
    # A day later it is still there; a week and more later the next insert prunes it.
    later = [replace(_spec_job("k"), submitted_by="user:sam")]
    store.insert_jobs(later, 10.0, request_id="r-2", wall_time_s=1000.0 + 86400.0)
    assert store.submitted_ids("user:sam", "r-1") == ["j0", "j1", "j2"]
    much_later = [replace(_spec_job("m"), submitted_by="user:sam")]
    store.insert_jobs(much_later, 10.0, request_id="r-3", wall_time_s=1000.0 + 8 * 86400.0)
    assert store.submitted_ids("user:sam", "r-1") is None
    store.close()


def test_a_database_of_the_first_schema_gains_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)  # the first release's tables (new columns are added on open)
    con.execute(
        "INSERT INTO jobs (job_id, kind, spec, state, submit_time_s) VALUES "
        "('old', 'inference', ?, 'PENDING', 1.0)",
        (json.dumps(dataclasses.asdict(_spec_job("old").spec)),),
    )
    con.commit()
    con.close()
    store = Store(db)
    assert store.get_job("old").submitted_by == ""  # type: ignore[union-attr]
    store.insert_jobs([_spec_job("a")], 1.0)
    assert store.events("a")[0].principal == "scheduler"
    store.close()


@pytest.mark.slow
def test_compaction_killed_midway_loses_nothing_and_resumes(tmp_path: Path) -> None:
    """A scheduler SIGKILLed while it compacts 2,000 expired jobs (5 per transaction): every
    job is whole or compacted, never half; restarted, it finishes, and GetJob still answers
    each job's final state."""
    db = tmp_path / "s.db"
    store = Store(db)
    clock = load_or_create(store, load_scenario(None).epoch_s, 1.0)
    ended_s = clock.now_s() - 10 * 86400.0
    store.insert_jobs([_spec_job(f"j{i:04d}") for i in range(2000)], 10.0)
    for i, job in enumerate(store.list_jobs(limit=2000)):
        for state in (
            (JobState.CANCELLED,)
            if i % 3 == 0
            else (JobState.PLANNED, JobState.RUNNING, (JobState.SUCCEEDED, JobState.FAILED)[i % 2])
        ):
            job = replace(
                job,
                state=state,
                satellite_ids=("sat-0-1",) if state != JobState.CANCELLED else (),
                end_time_s=ended_s + i if state.terminal else 0.0,
                reason=f"reason {i}" if state.terminal else "",
            )
            store.update_job(job, state.value.lower(), ended_s)
    before = {j.job_id: j for j in store.list_jobs(limit=2000)}
    history = {job_id: len(store.events(job_id)) for job_id in before}
    store.close()
    cluster = LocalCluster(
        ("sat-0-0", "sat-0-1"),
        tmp_path / "run",
        speed=1.0,
        db=db,
        metrics=False,
        scheduler_args=("--retention-s", "86400", "--compaction-batch", "5"),
    )
    watch = sqlite3.connect(db)

    def compacted() -> int:
        return int(watch.execute("SELECT COUNT(*) FROM jobs WHERE compacted_s > 0").fetchone()[0])

    with cluster:
        cluster.start_scheduler()
        deadline = time.time() + 30.0
        while compacted() == 0 and time.time() < deadline:
            time.sleep(0.005)
        cluster.kill_scheduler()
        midway = compacted()
        assert 0 < midway < 2000
        rows = watch.execute(
            "SELECT job_id, compacted_s, spec, (SELECT COUNT(*) FROM job_events e "
            "WHERE e.job_id = jobs.job_id) FROM jobs"
        ).fetchall()
        assert len(rows) == 2000
        for job_id, compacted_s, spec, events in rows:
            if compacted_s > 0:
                assert events == 0 and json.loads(spec)["labels"] == {}
            else:
                assert events == history[job_id]
        cluster.start_scheduler()
        while compacted() < 2000 and time.time() < deadline + 30.0:
            time.sleep(0.05)
        assert compacted() == 2000
        client = Client(cluster.address, timeout_s=10.0)
        try:
            for job_id in ("j0000", "j0001", "j0002", "j1999"):
                got = client.jobs.GetJob(
                    jobs_pb2.GetJobRequest(job_id=job_id, include_events=True), timeout=10.0
                )
                old = before[job_id]
                assert got.job.compacted_time_s > 0 and got.job.reason == old.reason
                assert (got.job.end_time_s, got.job.state) == (
                    old.end_time_s,
                    STATE_TO_PB[old.state],
                )
                assert [e.what for e in got.events] == ["compacted"]
            page = client.jobs.ListJobs(
                jobs_pb2.ListJobsRequest(states=[jobs_pb2.JOB_STATE_FAILED], page_size=1000),
                timeout=10.0,
            )
            assert len(page.jobs) == sum(j.state == JobState.FAILED for j in before.values())
        finally:
            client.close()
    watch.close()
