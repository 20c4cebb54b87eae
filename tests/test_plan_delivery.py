"""Plan delivery and telemetry at fleet scale, without processes (conftest `core`): plans
built and serialised once per broadcast (scheduler/server/wire.py), only to agents whose
entries changed, stamped with the solve's wall clock; telemetry filed per satellite and
processed in bounded batches so heartbeats never wait behind it; the agent's side."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import model_spec
from orbitalsched.v1 import agent_pb2

from agents.agent import HEARTBEATS_PER_LEASE, MAX_TICK_SIM_S, TELEMETRY_MARK, TICK_WALL_S, Agent
from agents.lease import Lease
from agents.metrics import AgentMetrics
from scheduler.forecast.timeconv import SimClock
from scheduler.planner.domain import Plan, PlanItem
from scheduler.server.agent_service import TELEMETRY_BATCH, AgentService
from scheduler.server.app import Core
from scheduler.server.convert import to_agent_pb
from scheduler.server.fleet import Outbox
from scheduler.server.messages import HeartbeatAck, Hello, PlanEntry, SatellitePlan, ToAgent
from scheduler.server.model import PlanRecord
from scheduler.server.wire import PlanEncoder, serialize_to_agent

S0, S1, S2 = "sat-0-0", "sat-0-1", "sat-0-2"


def queued(outbox: Outbox) -> list[ToAgent | None]:
    out = []
    while not outbox.empty():
        out.append(outbox.get_nowait())
    return out


def adopt(core: Core, version: int, starts_in_s: dict[str, float]) -> None:
    """A plan of `version` placing job j-SAT on each satellite SAT, starting in so long."""
    now = core.clock.now_s()
    items = tuple(
        PlanItem(sat, f"j-{sat}", start_s=now + dt, end_s=now + dt + 1800, accelerators=2,
                 power_w=1400.0, kind="inference")
        for sat, dt in starts_in_s.items()
    )  # fmt: skip
    plan = Plan(version, now, now, now + 3 * 3600, items, ())
    record = PlanRecord(
        version, now, now, now + 3 * 3600, "test", "OPTIMAL", 1.0, 1.0, 0.0, 0.01, plan
    )
    core.lifecycle.apply_plan(record, {i.job_id for i in items})


def entry(job_id: str, **kw: object) -> PlanEntry:
    base: dict[str, object] = dict(
        job_id=job_id, kind="training", start_s=100.0, end_s=2000.0, accelerators=4,
        power_w=2800.0, work_acc_s=0.0, resume_from_acc_s=120.5, checkpoint_interval_s=900.0,
        checkpoint_cost_s=60.0, output_mb=0.0, deadline_s=None,
        gang_satellite_ids=(S0, S1, S2), assignment_version=7,
        checkpoint_times_s=(1000.0, 1900.0), delivery_s=None, gang_size=2,
    )  # fmt: skip
    base.update(kw)
    return PlanEntry(**base)  # type: ignore[arg-type]


def test_encoded_plans_are_the_bytes_of_the_converted_message(core: Core) -> None:
    """The oracle is convert.to_agent_pb: every field, deadlines present and absent, shared
    contact windows from the cache, an empty plan."""
    windows = ((10.0, 400.0, 1200.0), (5000.0, 5300.5, 600.0))
    plans = [
        SatellitePlan(3, S0, 50.0, 9000.0, (entry("a"), entry("b", kind="inference",
                      deadline_s=8000.0, work_acc_s=600.0, delivery_s=2500.0, output_mb=40.0)),
                      windows, wall_queued_s=1.7e9, wall_solved_s=1.7e9 - 0.25),
        SatellitePlan(3, S1, 50.0, 9000.0, (entry("a"),), windows, wall_solved_s=1.0),
        SatellitePlan(3, S2, 50.0, 9000.0, (), ()),
    ]  # fmt: skip
    encoder = PlanEncoder()
    for plan in plans:
        decoded = agent_pb2.SchedulerMessage.FromString(encoder.encode(plan))
        assert decoded == to_agent_pb(plan, core.clock)
    assert len(encoder._contacts) == 2  # S0 and S1 share theirs: serialised once
    big = SatellitePlan(1, S0, 0.0, 1.0, tuple(entry(f"j{i}") for i in range(300)), windows)
    assert len(encoder.encode(big)) > 16_384  # a multi-byte length prefix
    assert agent_pb2.SchedulerMessage.FromString(encoder.encode(big)) == to_agent_pb(
        big, core.clock
    )


def test_the_agent_services_serializer_passes_bytes_through() -> None:
    msg = agent_pb2.SchedulerMessage(heartbeat_ack=agent_pb2.HeartbeatAck(seq=5))
    assert serialize_to_agent(msg) == msg.SerializeToString()
    assert serialize_to_agent(b"\x32\x02\x08\x05") == b"\x32\x02\x08\x05"


def test_a_broadcast_goes_only_to_agents_whose_entries_changed(core: Core) -> None:
    AgentService(core.sessions, core.lifecycle)  # sets the sessions' plan encoder
    outboxes = {s: core.sessions.connect(Hello(s))[1] for s in (S0, S1, S2)}
    core.lifecycle.submit([model_spec(f"j-{s}") for s in (S0, S1, S2)])
    adopt(core, 1, {S0: 600, S1: 600, S2: 600})
    solved = time.time() - 0.5
    asyncio.run(core.sessions.broadcast_plans(solved_wall_s=solved))
    for sat, outbox in outboxes.items():
        (plan,) = queued(outbox)
        assert isinstance(plan, SatellitePlan) and plan.plan_version == 1
        assert plan.wall_solved_s == solved and plan.wall_queued_s >= solved
        assert agent_pb2.SchedulerMessage.FromString(plan.wire) == to_agent_pb(plan, core.clock)
        assert [e.job_id for e in plan.entries] == [f"j-{sat}"]
    # v2 moves S1's job later; S0 and S2 hold the same entries: they are not sent v2.
    adopt(core, 2, {S0: 600, S1: 900, S2: 600})
    asyncio.run(core.sessions.broadcast_plans())
    assert queued(outboxes[S0]) == [] and queued(outboxes[S2]) == []
    (moved,) = queued(outboxes[S1])
    assert isinstance(moved, SatellitePlan) and moved.plan_version == 2
    assert moved.entries[0].start_s == core.clock.now_s() + 900
    assert core.sessions.sats[S0].sent_plan_version == 2  # checked: its entries are v2's
    asyncio.run(core.sessions.broadcast_plans())  # nothing more
    assert all(queued(o) == [] for o in outboxes.values())
    # Time passes: the contact windows S0 holds no longer cover half the next horizon.
    core.clock.advance(2 * 3600)  # type: ignore[attr-defined]
    adopt(core, 3, {S0: 600, S1: 900, S2: 600})
    asyncio.run(core.sessions.broadcast_plans())
    assert all(len(queued(o)) == 1 for o in outboxes.values())


def test_a_reconnected_agent_gets_its_plan_even_if_unchanged(core: Core) -> None:
    core.lifecycle.submit([model_spec(f"j-{S0}")])
    adopt(core, 1, {S0: 600})
    _, first = core.sessions.connect(Hello(S0))
    asyncio.run(core.sessions.broadcast_plans())
    assert len(queued(first)) == 1
    _, second = core.sessions.connect(Hello(S0, last_plan_version=1))
    core.sessions.send_plan(S0)  # what Connect does after the Welcome
    (plan,) = queued(second)
    assert isinstance(plan, SatellitePlan) and plan.wall_solved_s == 0.0  # not after a solve


class ScriptedContext:
    """The servicer side of a stream: read() returns the script, then EOF, never waiting."""

    def __init__(self, messages: list[agent_pb2.AgentMessage]) -> None:
        self.messages = list(messages)

    async def read(self) -> object:
        from scheduler.server.agent_service import EOF as GRPC_EOF

        return self.messages.pop(0) if self.messages else GRPC_EOF


def telemetry(t: float, temperature_c: float = 30.0) -> agent_pb2.AgentMessage:
    return agent_pb2.AgentMessage(
        telemetry=agent_pb2.Telemetry(
            time_s=t, battery_soc_wh=1500.0, battery_capacity_wh=2200.0,
            temperature_c=temperature_c,
        )
    )  # fmt: skip


def test_heartbeats_are_answered_while_telemetry_waits_coalesced(core: Core) -> None:
    """1,000 samples then a heartbeat on one stream: the heartbeat is acknowledged as it is
    read, the samples are kept as one (the newest) and applied later in a bounded batch."""
    service = AgentService(core.sessions, core.lifecycle)
    rt, outbox = core.sessions.connect(Hello(S0))
    now = core.clock.now_s()
    script = [telemetry(now + i, 20.0 + i / 100) for i in range(1000)]
    script.append(agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(seq=9)))

    async def read_all() -> None:
        await service._read(rt, outbox, ScriptedContext(script), [])  # type: ignore[arg-type]
        # Read to the end without a sample applied: the heartbeat did not wait for them.
        assert rt.telemetry is None
        assert list(service.pending_telemetry) == [S0]
        service._telemetry_task.cancel()  # type: ignore[union-attr]

    asyncio.run(read_all())
    assert queued(outbox) == [HeartbeatAck(9), None]  # (None: the stream ended)
    superseded = core.metrics.registry.get_sample_value(
        "orbital_agent_messages_total", {"type": "telemetry_superseded"}
    )
    assert superseded == 999
    assert service.process_pending_telemetry(TELEMETRY_BATCH) == 1
    assert rt.telemetry is not None and rt.telemetry.temperature_c == pytest.approx(29.99)
    assert service.pending_telemetry == {}


def test_telemetry_is_processed_in_bounded_batches_and_bad_samples_change_nothing(
    core: Core,
) -> None:
    service = AgentService(core.sessions, core.lifecycle)
    now = core.clock.now_s()
    service.pending_telemetry = {
        S0: telemetry(now, 25.0).telemetry,
        S1: telemetry(now, 900.0).telemetry,  # invalid: dropped and counted
        S2: telemetry(now, 27.0).telemetry,
    }
    assert service.process_pending_telemetry(2) == 2  # oldest first, at most the limit
    assert core.sessions.sats[S0].telemetry.temperature_c == 25.0  # type: ignore[union-attr]
    assert core.sessions.sats[S1].telemetry is None
    assert core.sessions.sats[S2].telemetry is None and list(service.pending_telemetry) == [S2]
    invalid = core.metrics.registry.get_sample_value(
        "orbital_agent_messages_total", {"type": "invalid"}
    )
    assert invalid == 1
    assert service.process_pending_telemetry(10) == 1
    assert core.sessions.sats[S2].telemetry.temperature_c == 27.0  # type: ignore[union-attr]


# --- the agent's side ---------------------------------------------------------------------
def test_the_agent_ticks_within_its_limits() -> None:
    agent = Agent(S0, "127.0.0.1:1", AgentMetrics(S0))
    assert agent.tick_s() == TICK_WALL_S  # no clock yet
    agent.tick_wall_s = 5.0  # a fleet of 2,500
    assert agent.tick_s() == 5.0  # waiting to connect: the fleet's pace, not 10 a second
    agent.clock = SimClock(0.0, time.time(), 1.0)
    agent.telemetry_interval_s = 10.0
    agent.lease = Lease(15.0)
    assert agent.tick_s() == pytest.approx(15.0 / HEARTBEATS_PER_LEASE)  # heartbeats' pace
    agent.telemetry_interval_s = 1.0  # 1 Hz telemetry: a 1 s tick
    assert agent.tick_s() == pytest.approx(1.0)
    agent.clock = SimClock(0.0, time.time(), 60.0)
    agent.telemetry_interval_s = 3600.0
    agent.lease = None
    assert agent.tick_s() == pytest.approx(MAX_TICK_SIM_S / 60.0)  # a simulated minute
    agent.tick_wall_s = 0.0
    assert agent.tick_s() == TICK_WALL_S


def test_the_agent_records_delivery_from_the_solve(core: Core) -> None:
    """A plan sent after a solve 0.2 s ago: the agent's gauge says at least 0.2 s; a plan
    sent on a (re)connection (no solve stamp) leaves it alone."""
    welcome = AgentService(core.sessions, core.lifecycle).welcome(core.sessions.sats[S0])
    agent = Agent(S0, "127.0.0.1:1", AgentMetrics(S0))
    agent.welcome(welcome.welcome)
    core.lifecycle.submit([model_spec(f"j-{S0}")])
    adopt(core, 1, {S0: 600})
    _, outbox = core.sessions.connect(Hello(S0))
    asyncio.run(core.sessions.broadcast_plans(solved_wall_s=time.time() - 0.2))
    (plan,) = queued(outbox)
    assert isinstance(plan, SatellitePlan)
    agent.handle(agent_pb2.SchedulerMessage.FromString(plan.wire))
    assert agent.plan_version == 1 and agent.runtime is not None
    delivery = agent.metrics.registry.get_sample_value(
        "orbital_agent_plan_delivery_seconds", {"satellite": S0}
    )
    assert delivery is not None and 0.2 <= delivery < 5.0
    adopt(core, 2, {S0: 900})
    core.sessions.send_plan(S0)  # as on a connection: no solve stamp
    (again,) = queued(outbox)
    agent.handle(to_agent_pb(again, core.clock))  # type: ignore[arg-type]
    assert agent.plan_version == 2
    assert agent.metrics.registry.get_sample_value(
        "orbital_agent_plan_delivery_seconds", {"satellite": S0}
    ) == pytest.approx(delivery)


def test_the_connected_gauge_counts_streams_as_they_open_and_close(core: Core) -> None:
    def gauge() -> float | None:
        return core.metrics.registry.get_sample_value("orbital_agents_connected")

    first = core.sessions.connect(Hello(S0))
    core.sessions.connect(Hello(S1))
    assert gauge() == 2
    rt, newer = core.sessions.connect(Hello(S0))  # replaces S0's stream: still two
    assert gauge() == 2
    core.sessions.disconnected(*first)  # the replaced stream ends: changes nothing
    assert gauge() == 2
    core.sessions.disconnected(rt, newer)
    assert gauge() == 1 == sum(s.connected for s in core.sessions.sats.values())


def test_a_lapsed_lease_resumes_on_its_stream_but_a_new_stream_waits_for_its_plan(
    core: Core,
) -> None:
    """Plans now go only to agents whose entries changed, so an agent whose lease lapsed on
    a stream that stayed open resumes on the next acknowledged heartbeat; after its stream
    ended it still waits for the new stream's plan (the reconciliation)."""
    welcome = AgentService(core.sessions, core.lifecycle).welcome(core.sessions.sats[S0])
    agent = Agent(S0, "127.0.0.1:1", AgentMetrics(S0))
    agent.welcome(welcome.welcome)
    now = [100.0]
    assert agent.lease is not None and agent.runtime is not None
    agent.lease = Lease(agent.lease.lease_s, lambda: now[0])
    agent.handle(agent_pb2.SchedulerMessage(plan=agent_pb2.Plan(plan_version=1)))  # on connect
    agent._check_lease()
    assert agent.runtime.paused  # no heartbeat acknowledged yet
    agent.handle(to_agent_pb(HeartbeatAck(agent.lease.sent()), core.clock))
    agent._check_lease()
    assert not agent.runtime.paused
    now[0] += 60.0  # the scheduler fell silent: the lease lapses on the open stream
    agent._check_lease()
    assert agent.runtime.paused
    agent.handle(to_agent_pb(HeartbeatAck(agent.lease.sent()), core.clock))
    agent._check_lease()
    assert not agent.runtime.paused  # renewed on the same stream: no plan needed
    now[0] += 60.0
    agent._check_lease()
    agent.need_sync = True  # what the end of a stream sets (Agent.session)
    agent.handle(to_agent_pb(HeartbeatAck(agent.lease.sent()), core.clock))
    agent._check_lease()
    assert agent.runtime.paused  # a new stream: its plan first
    agent.handle(agent_pb2.SchedulerMessage(plan=agent_pb2.Plan(plan_version=2)))
    agent._check_lease()
    assert not agent.runtime.paused


def test_the_agent_sends_its_newest_sample_once_between_heartbeats_and_reports() -> None:
    """Samples taken while the stream is slow replace each other in one slot; heartbeats and
    reports keep their order and never wait behind a pile of samples."""
    agent = Agent(S0, "127.0.0.1:1", AgentMetrics(S0))
    written: list[agent_pb2.AgentMessage] = []

    class Recorder:  # the stream's write side
        async def write(self, msg: agent_pb2.AgentMessage) -> None:
            written.append(msg)

    def sample(t: float) -> agent_pb2.AgentMessage:
        return agent_pb2.AgentMessage(telemetry=agent_pb2.Telemetry(time_s=t))

    heartbeat = agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat(seq=1))
    report = agent_pb2.AgentMessage(job_report=agent_pb2.JobReport(job_id="a", kind=1))

    async def run() -> None:
        outbox: asyncio.Queue[agent_pb2.AgentMessage] = asyncio.Queue()
        outbox.put_nowait(TELEMETRY_MARK)  # what execute() does for the first sample
        agent.telemetry_out = sample(1.0)
        outbox.put_nowait(heartbeat)
        agent.telemetry_out = sample(2.0)  # replaced before it was written: no new mark
        agent.telemetry_out = sample(3.0)
        outbox.put_nowait(report)
        writer = asyncio.create_task(agent._write(Recorder(), outbox))  # type: ignore[arg-type]
        while not outbox.empty():
            await asyncio.sleep(0)
        writer.cancel()

    asyncio.run(run())
    assert written == [sample(3.0), heartbeat, report]
    assert agent.telemetry_out is None


def test_telemetry_waits_while_a_broadcasts_plans_are_written(core: Core) -> None:
    service = AgentService(core.sessions, core.lifecycle)
    s = core.sessions
    outboxes = {sat: s.connect(Hello(sat))[1] for sat in (S0, S1)}
    core.lifecycle.submit([model_spec(f"j-{sat}") for sat in (S0, S1)])
    adopt(core, 1, {S0: 600, S1: 600})
    asyncio.run(s.broadcast_plans(solved_wall_s=time.time()))
    assert s.plan_writes_pending == 2 and s.plans_first()
    service.pending_telemetry[S0] = telemetry(core.clock.now_s()).telemetry

    async def one_turn() -> None:  # the processor runs but leaves the sample while plans wait
        task = asyncio.create_task(service.process_telemetry())
        service._telemetry_ready.set()
        await asyncio.sleep(0.1)
        assert list(service.pending_telemetry) == [S0]
        for outbox in outboxes.values():  # what the streams' writers do
            (plan,) = queued(outbox)
            s.plan_written(plan)  # type: ignore[arg-type]
        assert not s.plans_first()
        await asyncio.sleep(0.1)
        assert service.pending_telemetry == {}
        task.cancel()

    asyncio.run(one_turn())
    assert s.plan_writes_pending == 0
    s.plan_writes_pending, s.plan_writes_since_s = 5, time.time() - 60  # writes never done
    assert not s.plans_first()  # telemetry waits at most PLAN_WRITES_FIRST_S


def test_a_broadcast_queues_the_soonest_starting_satellites_first(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = core.sessions
    for sat in (S0, S1, S2):
        s.connect(Hello(sat))
    core.lifecycle.submit([model_spec(f"j-{sat}") for sat in (S0, S1, S2)])
    adopt(core, 1, {S0: 900, S1: 300, S2: 600})
    order: list[str] = []
    queue_plan = s._queue_plan
    monkeypatch.setattr(
        s, "_queue_plan", lambda rt, plan: (order.append(rt.name), queue_plan(rt, plan))
    )
    asyncio.run(s.broadcast_plans())
    assert order == [S1, S2, S0]
