"""The state store (SQLite, WAL) and the job state machine, alone."""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import model_job, model_spec

from scheduler.planner.domain import Plan, PlanItem, Unplaced
from scheduler.server.app import Core
from scheduler.server.jobs_logic import apply_assignment, lose_placement
from scheduler.server.messages import JobReport, ReportKind
from scheduler.server.model import Assignment, JobState, PlanRecord
from scheduler.server.retention import Compactor
from scheduler.server.store import BACKSTOP_PAGES, DuplicateJobError, Store, TransitionError
from scheduler.server.store_schema import MIGRATIONS, SCHEMA


def test_wal_mode_and_survives_reopen(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = Store(db)
    store.insert_jobs([model_job("a"), model_job("b", "training")], 1000.0)
    v1, v2 = store.next_plan_version(), store.next_plan_version()
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = Store(db)
    assert [j.job_id for j in again.active_jobs()] == ["a", "b"]
    assert again.get_job("b").spec.kind == "training"  # type: ignore[union-attr]
    assert (v1, v2, again.next_plan_version()) == (1, 2, 3)


def test_batch_insert_is_all_or_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.insert_jobs([model_job("a")], 0.0)
    with pytest.raises(DuplicateJobError, match="'a' already exists"):
        store.insert_jobs([model_job("new"), model_job("a")], 0.0)
    assert store.get_job("new") is None
    assert store.events("new") == []


def test_state_machine_refuses_illegal_transitions(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.insert_jobs([model_job("a")], 0.0)
    job = store.get_job("a")
    assert job is not None
    store.update_job(replace(job, state=JobState.CANCELLED, reason="by test"), "cancelled", 1.0)
    with pytest.raises(TransitionError, match="CANCELLED -> RUNNING"):
        store.update_job(replace(job, state=JobState.RUNNING), "started", 2.0)
    assert [e[1] for e in store.events("a")] == ["submitted", "cancelled"]


def test_plan_record_round_trip_keeps_nan(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    rec = PlanRecord(
        1,
        0.0,
        0.0,
        3600.0,
        "t",
        "GREEDY",
        2.0,
        float("nan"),
        float("nan"),
        0.1,
        Plan(
            1,
            0.0,
            0.0,
            3600.0,
            items=(PlanItem("s", "i", "inference", 60.0, 120.0, 1, 700.0, (), None, None),),
            unplaced=(Unplaced("j", "NO_CONTACT", "no contact before deadline"),),
        ),
    )
    store.save_plan(rec)
    got = store.latest_plan()
    assert got is not None and got.unplaced == rec.unplaced and got.best_bound != got.best_bound
    assert got.plan == rec.plan


def test_lost_training_job_resumes_from_checkpoint() -> None:
    job = replace(
        model_job("t", "training"),
        state=JobState.RUNNING,
        satellite_ids=("s1", "s2"),
        assignment_version=4,
        done_acc_s=2000.0,
        checkpoint_acc_s=1500.0,
    )
    lost = lose_placement(job, "satellite s1 lost")
    assert lost.state == JobState.CHECKPOINTED
    assert lost.done_acc_s == 1500.0 and lost.satellite_ids == ()
    assert lost.preemptions == 1
    inference = replace(model_job("i"), state=JobState.RUNNING, satellite_ids=("s1",))
    assert lose_placement(inference, "lost").state == JobState.PENDING


def test_assignment_keeps_its_token_while_placement_is_unchanged() -> None:
    job = replace(
        model_job("a"),
        state=JobState.RUNNING,
        satellite_ids=("s1",),
        assignment_version=3,
        member_versions=(("s1", 3),),
    )
    same = apply_assignment(job, Assignment("a", ("s1",), 10.0, 20.0), 9, "")
    assert (same.state, same.assignment_version) == (JobState.RUNNING, 3)
    moved = apply_assignment(job, Assignment("a", ("s2",), 10.0, 20.0), 9, "")
    assert (moved.state, moved.assignment_version, moved.preemptions) == (JobState.PLANNED, 9, 1)
    grown = apply_assignment(job, Assignment("a", ("s1", "s2"), 10.0, 20.0), 9, "")
    assert grown.member_versions == (("s1", 3), ("s2", 9)) and grown.state == JobState.RUNNING
    pending = apply_assignment(model_job("b"), None, 9, "no contact before deadline")
    assert (pending.state, pending.reason) == (JobState.PENDING, "no contact before deadline")


# --- a store of many jobs: indexes, counts, pages --------------------------------------------
SATS = ("s0", "s1", "s2", "s3", "s4")
# Allowed paths through the state machine, ending in each state (update_jobs checks them).
PATHS = {
    JobState.PENDING: (),
    JobState.PLANNED: (JobState.PLANNED,),
    JobState.RUNNING: (JobState.PLANNED, JobState.RUNNING),
    JobState.CHECKPOINTED: (JobState.PLANNED, JobState.RUNNING, JobState.CHECKPOINTED),
    JobState.SUCCEEDED: (JobState.PLANNED, JobState.RUNNING, JobState.SUCCEEDED),
    JobState.FAILED: (JobState.PLANNED, JobState.RUNNING, JobState.FAILED),
    JobState.CANCELLED: (JobState.CANCELLED,),
}


def many_jobs(store: Store, n: int, seed: int = 3) -> None:
    """n jobs in random states and kinds, placed on random satellites, through the store's
    own writes (so its triggers keep the counts and the satellite index)."""
    rng = random.Random(seed)
    kinds = ("inference", "training")
    store.insert_jobs([model_job(f"j{i:05d}", rng.choice(kinds)) for i in range(n)], 0.0)
    for job in store.list_jobs(limit=n):
        final = rng.choice(list(JobState))
        sats = tuple(sorted(rng.sample(SATS, rng.choice((1, 1, 2)))))
        for step, state in enumerate(PATHS[final]):
            placed = state != JobState.CANCELLED
            job = replace(job, state=state, satellite_ids=sats if placed else ())
            store.update_job(job, state.value.lower(), float(step))
        if final == JobState.RUNNING and rng.random() < 0.3:  # moved to other satellites
            store.update_job(replace(job, satellite_ids=(rng.choice(SATS),)), "", 9.0)


def scan(db: Path) -> list[tuple[int, str, str, list[str]]]:
    """(seq, state, kind, satellites) of every job, read with a second connection."""
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seq, state, kind, satellite_ids FROM jobs ORDER BY seq")
    out = [(seq, state, kind, json.loads(sats)) for seq, state, kind, sats in rows]
    con.close()
    return out


@pytest.mark.parametrize(
    ("states", "kinds", "sat"),
    [
        ((), (), ""),
        ((JobState.SUCCEEDED,), (), ""),
        ((JobState.FAILED, JobState.CANCELLED, JobState.PENDING), (), ""),
        ((), ("training",), ""),
        ((JobState.RUNNING, JobState.PLANNED), ("inference",), ""),
        ((), (), "s2"),
        ((JobState.RUNNING, JobState.CHECKPOINTED), (), "s1"),
        ((JobState.SUCCEEDED, JobState.PLANNED), ("training",), "s3"),
        ((), (), "nowhere"),
    ],
)
def test_pages_of_any_filter_match_a_scan(
    tmp_path: Path, states: tuple[JobState, ...], kinds: tuple[str, ...], sat: str
) -> None:
    store = Store(tmp_path / "s.db")
    many_jobs(store, 600)
    want = [
        seq
        for seq, state, kind, sats in scan(tmp_path / "s.db")
        if (not states or state in states)
        and (not kinds or kind in kinds)
        and (not sat or sat in sats)
    ]
    got: list[int] = []
    after = 0
    while page := store.list_jobs(states, kinds, sat, after, 37):  # keyset pages
        assert len(page) <= 37
        got.extend(j.seq for j in page)
        after = page[-1].seq
        for job in page:
            assert (not states or job.state in states) and (not sat or sat in job.satellite_ids)
    assert got == want
    assert store.list_jobs(states, kinds, sat, 0, len(want) + 5) == store.list_jobs(
        states, kinds, sat, 0, 10**6
    )


def test_job_counts_follow_every_change_without_a_scan(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    many_jobs(store, 400, seed=5)
    with pytest.raises(DuplicateJobError):  # rolled back: counts unchanged
        store.insert_jobs([model_job("new"), model_job("j00001")], 0.0)

    def counted() -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for _, state, kind, _ in scan(tmp_path / "s.db"):
            out[(kind, state)] = out.get((kind, state), 0) + 1
        return out

    assert store.count_by_state() == counted() and sum(counted().values()) == 400
    store.close()
    again = Store(tmp_path / "s.db")
    assert again.count_by_state() == counted()


def test_reads_use_indexes_never_a_scan_or_a_sort(tmp_path: Path) -> None:
    """Every statement of the read paths, with its values, through EXPLAIN QUERY PLAN: no
    full scan of jobs, no temporary sort (what made pages slow at 1,000,000 jobs)."""
    store = Store(tmp_path / "s.db")
    many_jobs(store, 200)
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    store.get_job("j00007")
    store.events("j00007")
    store.count_by_state()
    store.active_jobs()
    for states in ((), (JobState.FAILED, JobState.CANCELLED), (JobState.RUNNING,)):
        for kinds in ((), ("training",)):
            for sat in ("", "s1"):
                store.list_jobs(states, kinds, sat, 50, 20)
    store.compactable(50.0)
    assert store.compact(50.0, 1.0, 10) == 10  # and its deletes and updates
    store.insert_jobs([model_job("new")], 0.0, request_id="r", wall_time_s=1e6)
    new = store.get_job("new")
    assert new is not None
    store.update_job(replace(new, state=JobState.PLANNED, satellite_ids=("s1",)), "planned", 1.0)
    store.get_jobs(["new", "j00002"])
    store.events("j00001")
    store._db.set_trace_callback(None)
    selects = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE"))]
    assert len(selects) > 25
    for sql in selects:
        plan = " | ".join(r[3] for r in store._db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "TEMP B-TREE" not in plan, (sql, plan)
        assert not any(
            step.startswith("SCAN") and "job_counts" not in step for step in plan.split(" | ")
        ), (sql, plan)


def test_a_first_schema_database_is_migrated_once(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(SCHEMA + "CREATE INDEX jobs_state ON jobs (state);")
    for i, (state, sats) in enumerate(
        [("PENDING", []), ("RUNNING", ["s1"]), ("SUCCEEDED", ["s1", "s2"]), ("FAILED", ["s2"])]
    ):
        spec = json.dumps(dataclasses.asdict(model_job(f"o{i}").spec))
        con.execute(
            "INSERT INTO jobs (job_id, kind, spec, state, submit_time_s, satellite_ids) "
            "VALUES (?, 'inference', ?, ?, 1.0, ?)",
            (f"o{i}", spec, state, json.dumps(sats)),
        )
    con.commit()
    con.close()
    store = Store(db)
    assert store.get_meta("schema") == str(len(MIGRATIONS) + 1)
    assert store.count_by_state() == {
        ("inference", s): 1 for s in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED")
    }
    assert [j.job_id for j in store.list_jobs(satellite_id="s2")] == ["o2", "o3"]
    assert [j.job_id for j in store.list_jobs(states=[JobState.RUNNING], satellite_id="s1")] == [
        "o1"
    ]
    indexes = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "jobs_state" not in indexes and "jobs_state_kind" in indexes
    store.close()
    again = Store(db)  # nothing re-run: still one count per job
    assert sum(again.count_by_state().values()) == 4


def test_a_finished_job_leaves_nothing_in_memory(core: Core) -> None:
    core.lifecycle.submit([model_spec("a")])
    core.lifecycle.apply_plan(
        PlanRecord(
            1,
            0.0,
            0.0,
            1.0,
            "t",
            "OPTIMAL",
            1.0,
            1.0,
            0.0,
            0.0,
            Plan(
                1,
                0.0,
                0.0,
                1.0,
                items=(
                    PlanItem("sat-0-0", "a", "inference", 0.0, 600.0, 2, 1400.0, (), None, None),
                ),
            ),
        ),
        {"a"},
    )
    now = core.clock.now_s()
    core.lifecycle.report("sat-0-0", JobReport("a", ReportKind.STARTED, now, assignment_version=1))
    core.lifecycle.report(
        "sat-0-0",
        JobReport("a", ReportKind.PROGRESS, now, assignment_version=1, done_acc_s=100.0),
    )
    assert "a" in core.lifecycle.progress
    core.lifecycle.report(
        "sat-0-0", JobReport("a", ReportKind.SUCCEEDED, now, assignment_version=1)
    )
    assert core.store.get_job("a").state == JobState.SUCCEEDED  # type: ignore[union-attr]
    assert "a" not in core.lifecycle.progress


# --- retention --------------------------------------------------------------------------------
def aged_jobs(store: Store, n: int, seed: int = 11) -> None:
    """n jobs as many_jobs makes them; terminal ones ended at their index (simulated s), with
    a label and a checkpoint each."""
    rng = random.Random(seed)
    kinds = ("inference", "training")
    store.insert_jobs(
        [model_job(f"j{i:05d}", rng.choice(kinds), labels={"team": "x" * 60}) for i in range(n)],
        0.0,
    )
    for i, job in enumerate(store.list_jobs(limit=n)):
        final = rng.choice(list(JobState))
        for step, state in enumerate(PATHS[final]):
            placed = state != JobState.CANCELLED
            job = replace(
                job,
                state=state,
                satellite_ids=(SATS[i % 5],) if placed else (),
                member_versions=((SATS[i % 5], 1),) if placed else (),
                assignment_version=1 if placed else 0,
                end_time_s=float(i) if state.terminal else 0.0,
                done_acc_s=10.0 * step,
            )
            store.update_job(job, state.value.lower(), float(step))
        store.record_checkpoint(job.job_id, SATS[i % 5], 1.0, 5.0)


def test_compaction_keeps_the_final_state_and_drops_the_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    aged_jobs(store, 2000)
    before = {j.job_id: j for j in store.list_jobs(limit=10**6)}
    counts = store.count_by_state()
    expired = {j.job_id for j in before.values() if j.state.terminal and j.end_time_s < 1000}
    assert store.compactable(1000.0) == len(expired) > 300
    done = 0
    while n := store.compact(1000.0, 5e6, 64):  # bounded batches
        assert n <= 64
        done += n
    assert done == len(expired) and store.compactable(1000.0) == 0
    assert store.compact(1000.0, 6e6, 64) == 0  # nothing twice
    after = {j.job_id: j for j in store.list_jobs(limit=10**6)}
    assert after.keys() == before.keys() and store.count_by_state() == counts
    for job_id, old in before.items():
        new = after[job_id]
        if job_id in expired:
            assert new.compacted_s == 5e6
            assert new == replace(
                old,
                spec=replace(old.spec, labels={}),
                member_versions=(),
                compacted_s=5e6,
            )
            assert store.events(job_id) == [
                (5e6, "compacted", old.state.value, old.reason, "scheduler")
            ]
            assert store.checkpoints(job_id) == []
            assert not any(store.held(job_id, s, 1) for s in SATS)
        else:
            assert new == old and len(store.events(job_id)) >= 1
            assert store.checkpoints(job_id) != []
    # Listing still finds compacted jobs by state, kind and satellite.
    failed_s0 = store.list_jobs(states=[JobState.FAILED], satellite_id="s0", limit=10**6)
    assert {j.job_id for j in failed_s0} == {
        j for j, o in before.items() if o.state == JobState.FAILED and "s0" in o.satellite_ids
    }


def test_the_compactor_follows_the_clock_in_budgeted_batches(core: Core) -> None:
    store, clock = core.store, core.clock
    aged = [model_job(f"a{i}", submit_s=clock.now_s()) for i in range(300)]
    store.insert_jobs(aged, clock.now_s())
    for job in store.list_jobs(limit=1000):
        store.update_job(
            replace(job, state=JobState.CANCELLED, end_time_s=clock.now_s()), "cancelled", 0.0
        )
    compactor = core.compactor
    assert compactor.retention_s == 7 * 86400.0  # the default
    assert compactor.step() == 0  # not old enough
    clock.advance(7 * 86400.0 + 1.0)  # type: ignore[attr-defined]
    sizes = []
    while n := compactor.step():
        sizes.append(n)
    assert sum(sizes) == 300 and max(sizes) <= compactor.max_batch
    assert sizes[0] == 100  # the first batch is small, later ones sized to the budget
    assert sample_metric(core, "orbital_jobs_compacted_total") == 300
    compactor.update_size()
    assert sample_metric(core, "orbital_store_bytes") >= Path(store.path).stat().st_size > 0
    forever = Compactor(store, clock, core.metrics, retention_s=0.0)
    store.insert_jobs([model_job("b")], clock.now_s())
    b = store.get_job("b")
    assert b is not None
    store.update_job(replace(b, state=JobState.CANCELLED, end_time_s=1.0), "cancelled", 0.0)
    assert forever.step() == 0 and store.get_job("b").compacted_s == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("retention", "batch"),
    [(float("nan"), 10), (-1.0, 10), (float("inf"), 10), (1e12, 10), (60.0, 0), (60.0, 10**6)],
)
def test_the_compactor_refuses_bad_settings(core: Core, retention: float, batch: int) -> None:
    with pytest.raises(ValueError, match="expected"):
        Compactor(core.store, core.clock, core.metrics, retention, batch)


def sample_metric(core: Core, name: str) -> float:
    value = core.metrics.registry.get_sample_value(name)
    return 0.0 if value is None else value


def test_expired_plans_are_dropped_but_the_latest_stays(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    for version in range(1, 8):
        plan = Plan(version, 100.0 * version, 0.0, 1.0)
        store.save_plan(PlanRecord(version, 100.0 * version, 0.0, 1.0, "t", "OK", 1, 1, 0, 0, plan))
    assert store.drop_plans(350.0, 2) == 2  # versions 1 and 2
    assert store.drop_plans(350.0, 2) == 1  # 3; 4 is not expired
    assert store.drop_plans(1e9, 10) == 3  # 4-6; the latest (7) stays
    assert store.drop_plans(1e9, 10) == 0
    latest = store.latest_plan()
    assert latest is not None and latest.version == 7


def test_the_wal_is_checkpointed_by_a_thread_of_its_own(tmp_path: Path) -> None:
    """Commits on the event loop never pay for a checkpoint: with the background thread the
    data reaches the database file although the connection's own threshold is not met."""
    quiet, busy = Store(tmp_path / "quiet.db"), Store(tmp_path / "busy.db")
    busy.checkpoint_in_background(every_s=0.02)
    for store in (quiet, busy):
        store._db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        store.insert_jobs(
            [model_job(f"j{i}", labels={f"k{k}": "v" * 60 for k in range(16)}) for i in range(800)],
            0.0,
        )
    time.sleep(0.5)
    assert (tmp_path / "quiet.db").stat().st_size < 200_000  # all of it still in the WAL
    assert (tmp_path / "busy.db").stat().st_size > 1_000_000
    busy.close()
    quiet.close()
    assert not any(t.name == "wal-checkpoint" for t in threading.enumerate())
