"""Reason codes end to end: one list (planner ReasonCode = proto ReasonCode), the planner's
"does not fit in the horizon" is HORIZON (not DEADLINE), the store keeps a pending job's code
(also in a database from before the column), and the CLI shows it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import model_job
from orbitalsched.v1 import cluster_pb2, jobs_pb2
from planner_cases import T0, assert_valid, problem, sat

from scheduler.commands.jobs import job_row, reason_code_name
from scheduler.planner import InferenceJob
from scheduler.planner.domain import Plan, ReasonCode, Unplaced
from scheduler.planner.solve import plan
from scheduler.server.convert import job_to_pb, plan_to_pb
from scheduler.server.jobs_logic import apply_assignment
from scheduler.server.model import Assignment, Job, JobState, PlanRecord
from scheduler.server.store import Store


def test_one_list_of_codes_in_the_planner_and_the_contract() -> None:
    proto = {
        n.removeprefix("REASON_CODE_")
        for n in jobs_pb2.ReasonCode.DESCRIPTOR.values_by_name
        if n != "REASON_CODE_UNSPECIFIED"
    }
    assert proto == {c.value for c in ReasonCode}
    with pytest.raises(ValueError):
        Unplaced("j", "NOT_A_CODE", "typo")


@pytest.mark.parametrize("policy", ["cpsat", "greedy"])
def test_work_longer_than_the_horizon_is_horizon_not_deadline(policy: str) -> None:
    # 40 slots of work, a 30-slot horizon, a deadline far beyond it.
    long = InferenceJob("long", T0, T0 + 86400.0, work_acc_s=40 * 60.0, accelerators=1)
    p = problem([sat("sat-0", 30)], [long], 30)
    result = plan(p, policy=policy, time_limit_s=5.0, num_workers=2, seed=1)
    assert_valid(p, result.plan)
    (u,) = result.plan.unplaced
    assert (u.job_id, u.code) == ("long", ReasonCode.HORIZON), u


def _job(job_id: str) -> Job:
    return model_job(job_id, submit_s=T0, work_s=60.0, acc=1)


def test_an_unplaced_job_keeps_the_planners_code_until_it_is_placed() -> None:
    pending = apply_assignment(_job("a"), None, 3, "battery floor", ReasonCode.BATTERY)
    assert (pending.state, pending.reason_code) == (JobState.PENDING, ReasonCode.BATTERY)
    assert job_to_pb(pending).reason_code == jobs_pb2.REASON_CODE_BATTERY
    placed = apply_assignment(pending, Assignment("a", ("s",), T0, T0 + 60), 4, "")
    assert (placed.state, placed.reason_code) == (JobState.PLANNED, None)
    assert job_to_pb(placed).reason_code == jobs_pb2.REASON_CODE_UNSPECIFIED


def test_store_keeps_the_code_and_adds_the_column_to_an_old_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Store(path).close()
    with sqlite3.connect(path) as db:  # a database written before the column existed
        db.execute("ALTER TABLE jobs DROP COLUMN reason_code")
    store = Store(path)
    store.insert_jobs([_job("a")], T0)
    assert store.get_job("a").reason_code is None  # type: ignore[union-attr]
    job = apply_assignment(_job("a"), None, 1, "no contact", ReasonCode.NO_CONTACT)
    store.update_job(job, "unplaced", T0)
    store.close()
    got = Store(path).get_job("a")
    assert got is not None and got.reason_code == ReasonCode.NO_CONTACT


def test_plan_summary_and_cli_tables_show_the_code() -> None:
    record = PlanRecord(
        1,
        T0,
        T0,
        T0 + 3600,
        "t",
        "OPTIMAL",
        1.0,
        1.0,
        0.0,
        0.1,
        Plan(1, T0, T0, T0 + 3600, unplaced=(Unplaced("a", "HORIZON", "does not fit"),)),
    )
    summary = plan_to_pb(record, {})
    assert summary.unplaced[0].code == jobs_pb2.REASON_CODE_HORIZON
    assert cluster_pb2.PlanSummary.FromString(summary.SerializeToString()) == summary
    assert reason_code_name(summary.unplaced[0].code) == "HORIZON"
    job = apply_assignment(_job("a"), None, 1, "does not fit", ReasonCode.HORIZON)
    assert job_row(job_to_pb(job))[-2:] == ("HORIZON", "does not fit")
