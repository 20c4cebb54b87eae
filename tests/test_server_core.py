"""The scheduler's core without processes or sockets (conftest `core`): the job lifecycle
(state machine, fencing, stop causes, cancels, lost satellites), agent sessions
(dissemination, liveness) and the deadline across the seam down to the agent's executor."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from conftest import ManualClock, model_spec
from orbitalsched.v1 import agent_pb2

from agents.runtime import Runtime
from scheduler.planner.domain import Plan, PlanItem, ReasonCode, Unplaced
from scheduler.scenario import load_scenario
from scheduler.server.agent_service import AgentService
from scheduler.server.app import Core, ServerConfig, build_core
from scheduler.server.convert import to_agent_pb
from scheduler.server.fleet import Outbox
from scheduler.server.messages import (
    Cancel,
    Hello,
    JobReport,
    ReportKind,
    RunningJob,
    SatellitePlan,
    StopCause,
    ToAgent,
)
from scheduler.server.model import JobState, PlanRecord
from scheduler.server.triggers import ReplanTrigger
from scheduler.server.validate import RequestError

S0, S1, S2 = "sat-0-0", "sat-0-1", "sat-0-2"


def record(core: Core, version: int, items: list[PlanItem], unplaced: tuple[Unplaced, ...] = ()):
    now = core.clock.now_s()
    plan = Plan(version, now, now, now + 3 * 3600, tuple(items), unplaced)
    return PlanRecord(
        version, now, now, now + 3 * 3600, "test", "OPTIMAL", 1.0, 1.0, 0.0, 0.01, plan
    )


def item(sat: str, job_id: str, start_in_s: float, end_in_s: float, core: Core, **kw: object):
    now = core.clock.now_s()
    kw.setdefault("kind", "inference")
    return PlanItem(
        sat,
        job_id,
        start_s=now + start_in_s,
        end_s=now + end_in_s,
        accelerators=2,
        power_w=1400.0,
        **kw,
    )  # type: ignore[arg-type]


def connect(core: Core, sat: str) -> Outbox:
    _, outbox = core.sessions.connect(Hello(sat))
    return outbox


def queued(outbox: Outbox) -> list[ToAgent | None]:
    out = []
    while not outbox.empty():
        out.append(outbox.get_nowait())
    return out


def report(core: Core, sat: str, job_id: str, kind: ReportKind, **kw: object) -> None:
    rep = JobReport(job_id, kind, core.clock.now_s(), **kw)  # type: ignore[arg-type]
    core.lifecycle.report(sat, rep)


def sample(core: Core, name: str, **labels: str) -> float:
    value = core.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def triggers(core: Core) -> list[ReplanTrigger]:
    return [t for t, _ in core.replans.take()]


def placed(core: Core, job_id: str, sat: str = S0, version: int = 1, **kw: object) -> None:
    core.lifecycle.apply_plan(
        record(core, version, [item(sat, job_id, 0, 1800, core, **kw)]), {job_id}
    )


def test_submit_stores_pending_jobs_and_asks_for_a_plan(core: Core) -> None:
    (job,) = core.lifecycle.submit([model_spec("a")])
    stored = core.store.get_job("a")
    assert stored == replace(job, seq=1) and job.state == JobState.PENDING
    assert triggers(core) == [ReplanTrigger.SUBMITTED]
    assert sample(core, "orbital_jobs_submitted_total", kind="inference") == 1


def test_a_plan_places_jobs_records_unplaced_codes_and_reaches_connected_agents(
    core: Core,
) -> None:
    outbox = connect(core, S0)
    core.lifecycle.submit([model_spec("a"), model_spec("b", deadline_s=core.clock.now_s() + 7200)])
    rec = record(
        core,
        1,
        [item(S0, "a", 600, 1800, core)],
        (Unplaced("b", "HORIZON", "does not fit in the planning horizon"),),
    )
    core.lifecycle.apply_plan(rec, {"a", "b"})
    a, b = core.store.get_job("a"), core.store.get_job("b")
    assert a is not None and b is not None
    assert (a.state, a.satellite_ids, a.assignment_version) == (JobState.PLANNED, (S0,), 1)
    assert a.member_versions == ((S0, 1),) and a.reason_code is None
    assert (b.state, b.reason_code, b.reason) == (
        JobState.PENDING,
        ReasonCode.HORIZON,
        "does not fit in the planning horizon",
    )
    assert core.store.latest_plan() == rec
    asyncio.run(core.sessions.broadcast_plans())
    (sent,) = queued(outbox)
    assert isinstance(sent, SatellitePlan) and sent.plan_version == 1
    (entry,) = sent.entries
    assert (entry.job_id, entry.start_s, entry.deadline_s) == ("a", rec.plan.items[0].start_s, None)
    asyncio.run(core.sessions.broadcast_plans())  # it has it: nothing more
    assert queued(outbox) == []


def test_reports_drive_the_state_machine_and_stale_ones_are_fenced(core: Core) -> None:
    old, stranger = connect(core, S1), connect(core, S2)
    core.lifecycle.submit([model_spec("a")])
    placed(core, "a", S1, version=1)
    placed(core, "a", S0, version=2)  # moved: the old satellite is told to stop
    assert queued(old) == [Cancel("a", "moved by plan v2")]
    report(core, S0, "a", ReportKind.STARTED, assignment_version=2)
    assert core.store.get_job("a").state == JobState.RUNNING  # type: ignore[union-attr]
    report(core, S1, "a", ReportKind.PROGRESS, assignment_version=1)  # held it before
    (cancel,) = queued(old)
    assert isinstance(cancel, Cancel) and "stale" in cancel.reason
    report(core, S2, "a", ReportKind.PROGRESS, assignment_version=2)  # never held it
    assert queued(stranger) == []
    assert sample(core, "orbital_fenced_reports_total") == 2
    report(core, S0, "a", ReportKind.PROGRESS, assignment_version=2, done_acc_s=1800.0)
    assert core.store.get_job("a").done_acc_s == 1800.0  # type: ignore[union-attr]
    triggers(core)
    report(core, S0, "a", ReportKind.SUCCEEDED, assignment_version=2)
    done = core.store.get_job("a")
    assert done is not None and done.state == JobState.SUCCEEDED
    assert triggers(core) == [ReplanTrigger.FINISHED]
    assert sample(core, "orbital_jobs_finished_total", kind="inference", outcome="succeeded") == 1
    report(core, S0, "a", ReportKind.PROGRESS, assignment_version=2)  # finished: told to stop
    assert core.store.get_job("a").state == JobState.SUCCEEDED  # type: ignore[union-attr]


def test_stop_causes_decide_between_next_block_preemption_and_window_end(core: Core) -> None:
    core.lifecycle.submit([model_spec("two"), model_spec("shed"), model_spec("ended")])
    rec = record(
        core,
        1,
        [
            item(S0, "two", 0, 600, core),
            item(S0, "two", 1200, 1800, core),
            item(S1, "shed", 0, 600, core),
            item(S2, "ended", 0, 600, core),
        ],
    )
    core.lifecycle.apply_plan(rec, {"two", "shed", "ended"})
    for sat, job_id in ((S0, "two"), (S1, "shed"), (S2, "ended")):
        report(core, sat, job_id, ReportKind.STARTED, assignment_version=1)
    triggers(core)
    core.clock.advance(600)  # type: ignore[attr-defined]
    report(
        core, S0, "two", ReportKind.STOPPED, assignment_version=1, stop_cause=StopCause.WINDOW_ENDED
    )
    two = core.store.get_job("two")
    assert two is not None and (two.state, two.satellite_ids) == (JobState.PLANNED, (S0,))
    assert two.reason == "waiting for its next planned block" and triggers(core) == []
    report(
        core,
        S1,
        "shed",
        ReportKind.STOPPED,
        assignment_version=1,
        reason="self-protection: battery below floor",
        stop_cause=StopCause.SELF_PROTECTION,
    )
    shed = core.store.get_job("shed")
    assert shed is not None and (shed.state, shed.satellite_ids, shed.preemptions) == (
        JobState.PENDING,
        (),
        1,
    )
    assert sample(core, "orbital_preemptions_total", kind="inference", cause="self_protection") == 1
    assert triggers(core) == [ReplanTrigger.STOPPED]
    report(
        core,
        S2,
        "ended",
        ReportKind.STOPPED,
        assignment_version=1,
        stop_cause=StopCause.WINDOW_ENDED,
    )
    ended = core.store.get_job("ended")
    assert ended is not None and (ended.state, ended.preemptions) == (JobState.PENDING, 0)
    assert sample(core, "orbital_preemptions_total", kind="inference", cause="other") == 0


def test_a_block_that_ends_as_the_next_begins_keeps_its_placement(core: Core) -> None:
    """The stop report of the first of two adjacent blocks carries the boundary time: the
    placement is kept for the second (it used to be dropped and the job placed again)."""
    core.lifecycle.submit([model_spec("adj")])
    rec = record(core, 1, [item(S0, "adj", 0, 600, core), item(S0, "adj", 600, 1200, core)])
    core.lifecycle.apply_plan(rec, {"adj"})
    report(core, S0, "adj", ReportKind.STARTED, assignment_version=1)
    triggers(core)
    core.clock.advance(600)  # type: ignore[attr-defined]
    report(
        core, S0, "adj", ReportKind.STOPPED, assignment_version=1, stop_cause=StopCause.WINDOW_ENDED
    )
    adj = core.store.get_job("adj")
    assert adj is not None and (adj.state, adj.satellite_ids) == (JobState.PLANNED, (S0,))
    assert triggers(core) == []
    core.clock.advance(1)  # type: ignore[attr-defined]
    report(  # the second block stopped early: nothing later is planned, so it is placed again
        core, S0, "adj", ReportKind.STOPPED, assignment_version=1, stop_cause=StopCause.WINDOW_ENDED
    )
    adj = core.store.get_job("adj")
    assert adj is not None and adj.state == JobState.PENDING
    assert triggers(core) == [ReplanTrigger.STOPPED]


def test_failures_retry_then_fail(core: Core) -> None:
    core.lifecycle.submit([model_spec("f")])
    for version in range(1, 7):
        placed(core, "f", version=version)
        report(
            core,
            S0,
            "f",
            ReportKind.FAILED,
            assignment_version=version,
            reason="no free accelerators",
        )
    job = core.store.get_job("f")
    assert job is not None and job.state == JobState.FAILED and job.preemptions == 5


def test_cancel_tells_its_satellites_and_refuses_what_it_cannot(core: Core) -> None:
    outbox = connect(core, S0)
    core.lifecycle.submit([model_spec("a")])
    placed(core, "a")
    done = core.lifecycle.cancel("a", "")
    assert (done.state, done.reason) == (JobState.CANCELLED, "cancelled by user")
    assert queued(outbox) == [Cancel("a", "cancelled by user")]
    with pytest.raises(RequestError) as err:
        core.lifecycle.cancel("a", "again")
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(RequestError) as err:
        core.lifecycle.cancel("nope", "")
    assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_a_lost_satellite_loses_its_jobs_stops_the_gang_and_returns(core: Core) -> None:
    peer = connect(core, S1)
    core.lifecycle.submit([model_spec("gang", "training", gang=2)])
    rec = record(
        core,
        1,
        [
            item(S0, "gang", 0, 1800, core, kind="training"),
            item(S1, "gang", 0, 1800, core, kind="training"),
        ],
    )
    core.lifecycle.apply_plan(rec, {"gang"})
    triggers(core)
    rt = core.sessions.sats[S0]
    rt.ever_connected, rt.wall_disconnected_s = True, 0.0  # silent since the epoch
    lost = core.sessions.find_lost()
    assert [s for s, _ in lost] == [S0] and core.sessions.flags[S0].lost
    core.lifecycle.lose_satellite(*lost[0])
    job = core.store.get_job("gang")
    assert job is not None and (job.state, job.satellite_ids) == (JobState.PENDING, ())
    assert [m.job_id for m in queued(peer) if isinstance(m, Cancel)] == ["gang"]
    assert triggers(core) == [ReplanTrigger.LOST]
    assert sample(core, "orbital_satellite_lost", satellite=S0) == 1
    connect(core, S0)
    assert not core.sessions.flags[S0].lost and triggers(core) == [ReplanTrigger.RETURNED]


def test_reconnection_cancels_what_is_no_longer_the_agents_and_counts_the_rest(
    core: Core,
) -> None:
    core.lifecycle.submit([model_spec("mine"), model_spec("moved")])
    placed(core, "mine")
    outbox = connect(core, S0)
    core.lifecycle.reconcile(
        S0,
        [RunningJob("mine", 1, done_acc_s=600.0), RunningJob("moved", 1), RunningJob("ghost", 3)],
    )
    assert {m.job_id for m in queued(outbox) if isinstance(m, Cancel)} == {"moved", "ghost"}
    assert core.store.get_job("mine").done_acc_s == 600.0  # type: ignore[union-attr]


@pytest.mark.parametrize("deadline_in_s", [None, 5400.0])
def test_a_deadline_crosses_the_seam_as_float_or_none(
    core: Core, deadline_in_s: float | None
) -> None:
    now = core.clock.now_s()
    deadline = None if deadline_in_s is None else now + deadline_in_s
    core.lifecycle.submit([model_spec("a", deadline_s=deadline, output_mb=10.0)])
    placed(core, "a")
    service = AgentService(core.sessions, core.lifecycle)
    welcome = service.welcome(core.sessions.sats[S0]).welcome
    runtime = Runtime.from_config(welcome.config, now)
    msg = to_agent_pb(core.sessions.plan_for(S0), core.clock)
    assert msg.plan.entries[0].HasField("deadline_s") == (deadline is not None)
    assert runtime.apply_plan(msg.plan, now)
    (pending,) = runtime.executor._pending  # the item as the executor holds it
    assert pending.deadline_s == deadline


def test_invalid_agent_input_changes_nothing(core: Core) -> None:
    from scheduler.server.validate import report_from_pb, telemetry_from_pb

    assert report_from_pb(agent_pb2.JobReport(job_id="a")) is None  # no kind
    assert report_from_pb(agent_pb2.JobReport(job_id="a", kind=1, time_s=float("nan"))) is None
    with pytest.raises(RequestError, match="temperature_c"):
        telemetry_from_pb(
            agent_pb2.Telemetry(battery_soc_wh=1, battery_capacity_wh=2, temperature_c=900)
        )
    core.lifecycle.submit([model_spec("a")])
    before = core.store.get_job("a")
    report(core, S0, "a", ReportKind.STARTED, assignment_version=99)  # not placed anywhere
    assert core.store.get_job("a") == before


# --- a gang's work across the seam (the agent's Runtime scales job-level work) -----------
def _runtime(core: Core, sat: str) -> Runtime:
    service = AgentService(core.sessions, core.lifecycle)
    welcome = service.welcome(core.sessions.sats[sat]).welcome
    return Runtime.from_config(welcome.config, core.clock.now_s())


def _send(core: Core, runtimes: dict[str, Runtime]) -> None:
    for sat, rt in runtimes.items():
        assert rt.apply_plan(to_agent_pb(core.sessions.plan_for(sat), core.clock).plan, rt.last_s)


def _gang_plan(
    core: Core, version: int, t0: float, moved: bool, sats: tuple[str, str] = (S0, S1)
) -> PlanRecord:
    """Training job "t" (gang of 2 x 2 accelerators) on `sats` (S0+S1) over [t0, t0 + 1800) with a
    checkpoint at t0 + 900; `moved`: and its next block on S1+S2, so the job's satellites
    are the union S0, S1, S2 (3 for a gang of 2)."""
    now = core.clock.now_s()
    blocks = [(sats, t0, t0 + 1800.0)]
    if moved:
        blocks.append(((S1, S2), t0 + 1800.0, t0 + 3600.0))
    items = [
        PlanItem(sat, "t", "training", a, b, 2, 1400.0, checkpoint_times_s=(a + 900.0,))
        for sats, a, b in blocks
        for sat in sats
    ]
    plan = Plan(version, now, now, now + 3 * 3600, tuple(items), ())
    return PlanRecord(
        version, now, now, now + 3 * 3600, "test", "OPTIMAL", 1.0, 1.0, 0.0, 0.01, plan
    )


def test_a_gang_never_does_more_than_its_accelerators_could_when_a_plan_moves_it(
    core: Core,
) -> None:
    """Done work <= gang members x accelerators x time since the job started, also after a
    plan re-sends the running block and lists the next block's other satellites."""
    from scheduler.server.validate import report_from_pb

    t0 = core.clock.now_s()
    core.lifecycle.submit([model_spec("t", "training", work_s=36_000.0, gang=2, acc=2)])
    core.lifecycle.apply_plan(_gang_plan(core, 1, t0, moved=False), {"t"})
    runtimes = {S0: _runtime(core, S0), S1: _runtime(core, S1)}
    _send(core, runtimes)
    for k in range(1, 13):  # 24 min in 2-min steps, the re-plan after 10 min
        if k == 6:
            core.lifecycle.apply_plan(_gang_plan(core, 2, t0, moved=True), {"t"})
            _send(core, runtimes)
        core.clock.advance(120.0)
        now = core.clock.now_s()
        for sat, rt in runtimes.items():
            for pb in [*rt.step(now), *rt.progress_reports()]:
                rep = report_from_pb(pb)
                assert rep is not None
                core.lifecycle.report(sat, rep)
        job = core.store.get_job("t")
        assert job is not None and job.state == JobState.RUNNING
        possible = 2 * 2 * (now - job.start_time_s)
        assert job.done_acc_s <= possible + 1e-6, (k, job.done_acc_s, possible)
    assert job.done_acc_s > 0.5 * possible  # it did run


def test_a_member_joining_a_moved_gang_resumes_from_the_stored_checkpoint(core: Core) -> None:
    """The member that joins starts from the stored checkpoint and counts its share of the
    gang's work, also when a later plan lists fewer satellites for the job."""
    t0 = core.clock.now_s()
    core.lifecycle.submit([model_spec("t", "training", work_s=36_000.0, gang=2, acc=2)])
    core.lifecycle.apply_plan(_gang_plan(core, 1, t0, moved=False), {"t"})
    core.clock.advance(960.0)
    for sat in (S0, S1):
        report(
            core,
            sat,
            "t",
            ReportKind.CHECKPOINTED,
            assignment_version=1,
            done_acc_s=3360.0,
            checkpoint_acc_s=3360.0,
        )
    stored = core.store.get_job("t")
    assert stored is not None and stored.checkpoint_acc_s == 3360.0
    core.lifecycle.apply_plan(_gang_plan(core, 2, t0, moved=True), {"t"})
    joining = _runtime(core, S2)
    _send(core, {S2: joining})
    core.clock.advance(t0 + 1800.0 + 120.0 - core.clock.now_s())
    reports = joining.step(core.clock.now_s())
    (started,) = [r for r in reports if r.kind == agent_pb2.JOB_REPORT_KIND_STARTED]
    assert started.done_accelerator_s == pytest.approx(stored.checkpoint_acc_s)
    (progress,) = joining.progress_reports()
    assert progress.done_accelerator_s == pytest.approx(3360.0 + 2 * 2 * 120.0)
    # A later plan keeps only the running gang S1+S2: the job's satellite list shrinks.
    core.lifecycle.apply_plan(_gang_plan(core, 3, t0 + 1800.0, moved=False, sats=(S1, S2)), {"t"})
    _send(core, {S2: joining})
    core.clock.advance(120.0)
    joining.step(core.clock.now_s())
    (progress,) = joining.progress_reports()
    assert progress.done_accelerator_s == pytest.approx(3360.0 + 2 * 2 * 240.0)


def test_a_large_fleets_telemetry_stays_within_what_the_scheduler_reads(
    core: Core, tmp_path: Path
) -> None:
    """1,584 agents sending a sample every wall second flooded the event loop (about 280
    read a second): heartbeats queued behind the samples, every lease lapsed and no job
    started (bench/live_fleet.py). A large fleet's default interval keeps the whole fleet
    at FLEET_TELEMETRY_PER_WALL_S samples a wall second; a small one keeps one a second."""
    small = core.sessions
    assert small.telemetry_interval_s == small.clock.speed  # 3 satellites: 1 wall second
    scenario = load_scenario("starlink-shell1")
    config = ServerConfig(db=str(tmp_path / "fleet.db"), scenario="starlink-shell1", speed=60.0)
    big = build_core(config, clock=ManualClock(scenario.epoch_s, 60.0))
    try:
        n = len(big.world.names)
        assert n == 1584
        per_wall_s = n * big.clock.speed / big.sessions.telemetry_interval_s
        assert per_wall_s == pytest.approx(100.0)  # FLEET_TELEMETRY_PER_WALL_S
        rt = big.sessions.sats[big.world.names[0]]
        welcome = AgentService(big.sessions, big.lifecycle).welcome(rt).welcome
        assert welcome.config.telemetry_interval_s == pytest.approx(60.0 * n / 100.0)
        # An operator's --telemetry-interval still wins.
        given = replace(config, db=str(tmp_path / "given.db"), telemetry_interval_s=60.0)
        big.replanner.close()
        big.store.close()
        big = build_core(given, clock=ManualClock(scenario.epoch_s, 60.0))
        assert big.sessions.telemetry_interval_s == 60.0
    finally:
        big.replanner.close()
        big.store.close()
