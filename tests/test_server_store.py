"""The state store (SQLite, WAL) and the job state machine, alone."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import model_job

from scheduler.planner.domain import Plan, PlanItem, Unplaced
from scheduler.server.jobs_logic import apply_assignment, lose_placement
from scheduler.server.model import Assignment, JobState, PlanRecord
from scheduler.server.store import DuplicateJobError, Store, TransitionError


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
