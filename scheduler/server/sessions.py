"""Agent sessions: the run-time state of each satellite (stream, telemetry, flags), its
liveness (reachable, lost, returned) and dissemination (each satellite's plan, cancels,
drains, link down) over the outboxes agent_service.py writes to the streams.

Everything runs on the asyncio thread. Job state is the lifecycle's (lifecycle.py): this
module reads the store to build plans and never changes a job.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from scheduler.server.clock import SimClock
from scheduler.server.current_plan import CurrentPlan
from scheduler.server.fleet import Outbox, SatRuntime
from scheduler.server.forecast_check import ForecastChecker
from scheduler.server.messages import (
    Cancel,
    Drain,
    HeartbeatAck,
    Hello,
    LinkDown,
    NewElements,
    PlanEntry,
    SatellitePlan,
    Telemetry,
)
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.model import Job, JobState, SatelliteFlags
from scheduler.server.store import Store
from scheduler.server.triggers import ReplanRequests, ReplanTrigger
from scheduler.server.world import World

log = logging.getLogger("orbit-scheduler")
PLACED = (JobState.PLANNED, JobState.RUNNING, JobState.CHECKPOINTED)
PLAN_WRITES_FIRST_S = 2.0  # telemetry waits for a broadcast's writes at most this long


class PlanEncoding(Protocol):
    def encode(self, plan: SatellitePlan) -> bytes: ...


class AgentSessions:
    def __init__(
        self,
        store: Store,
        world: World,
        clock: SimClock,
        metrics: SchedulerMetrics,
        plan: CurrentPlan,
        replans: ReplanRequests,
        *,
        link_model: str = "always",
        agent_timeout_s: float = 3.0,
        telemetry_interval_s: float = 60.0,
    ) -> None:
        self.store = store
        self.world = world
        self.clock = clock
        self.metrics = metrics
        self.plan = plan
        self.replans = replans
        self.link_model = link_model
        self.agent_timeout_s = agent_timeout_s
        self.telemetry_interval_s = telemetry_interval_s  # simulated
        self.sats = {n: SatRuntime(n, world.bus.accelerators) for n in world.names}
        self.connected_count = 0
        self.flags = {n: SatelliteFlags(n) for n in world.names}
        self.flags.update({k: v for k, v in store.satellite_flags().items() if k in self.sats})
        self.forecast_checker = ForecastChecker(world.constellation, world.bus)
        # At most one "telemetry departs from the forecast" replan per satellite this often.
        self.departure_replan_every_s = 1800.0
        self._departure_replan_s: dict[str, float] = {}
        # Set by the AgentService (wire.PlanEncoder): a broadcast's plans are serialised once,
        # as they are queued. None (the simulator): the queued plans are model types only.
        self.plan_encoder: Callable[[], PlanEncoding] | None = None
        # Broadcast plans queued and not yet written (AgentService.plan_written): telemetry
        # waits while there are any, for at most PLAN_WRITES_FIRST_S after the last queued.
        self.plan_writes_pending = 0
        self.plan_writes_since_s = 0.0
        self._adopted: tuple[int, int, list[Job]] | None = None  # see adopted()

    # --- streams ----------------------------------------------------------------------
    def reachable(self, sat: str, now_s: float | None = None) -> bool:
        if self.link_model == "always":
            return True
        return (
            self.world.contact_at(sat, self.clock.now_s() if now_s is None else now_s) is not None
        )

    def connect(self, hello: Hello) -> tuple[SatRuntime, Outbox]:
        """A (re)connected agent gets a fresh outbox (a newer stream replaces an older one);
        a satellite given up for lost returns."""
        rt = self.sats[hello.satellite_id]
        if rt.outbox is not None:
            rt.outbox.put_nowait(None)
        else:
            self.connected_count += 1
        outbox: Outbox = asyncio.Queue()
        rt.outbox = outbox
        rt.boot_id = hello.boot_id
        rt.wall_last_seen_s = time.time()  # the Hello is heard
        rt.applied_plan_version = hello.last_plan_version
        rt.sent_plan_version = 0
        rt.sent_entries = None
        rt.ever_connected = True
        flags = self.flags[rt.name]
        if flags.lost:
            self.set_flags(replace(flags, lost=False))
            self.metrics.satellite_returned(rt.name)
            self.replans.request(ReplanTrigger.RETURNED, f"satellite {rt.name} returned")
        self._count_connected()
        return rt, outbox

    def disconnected(self, rt: SatRuntime, outbox: Outbox) -> None:
        if rt.outbox is not outbox:  # replaced by a newer stream
            return
        rt.outbox = None
        rt.wall_disconnected_s = time.time()
        self.connected_count -= 1
        self._count_connected()

    def _count_connected(self) -> None:
        # Counted as streams open and close: a sum over 10,000 satellites per connection
        # made connecting a fleet quadratic.
        self.metrics.agents_connected.set(self.connected_count)

    def seen(self, sat: str) -> None:
        self.sats[sat].wall_last_seen_s = time.time()

    def telemetry(self, sat: str, tel: Telemetry) -> None:
        """A validated sample (validate.telemetry_from_pb): metrics, forecast error, and a
        replan when it departs from the forecast."""
        self.sats[sat].telemetry = tel
        self.metrics.telemetry(sat, tel)
        err = self.forecast_checker.observe(sat, tel)
        if err is None:
            return
        self.metrics.forecast_soc_error.labels(sat).set(err.soc_ratio)
        self.metrics.forecast_temperature_error.labels(sat).set(err.temperature_c)
        last = self._departure_replan_s.get(sat, -math.inf)
        if err.departed and tel.time_s - last >= self.departure_replan_every_s:
            self._departure_replan_s[sat] = tel.time_s
            self.replans.request(
                ReplanTrigger.TELEMETRY, f"telemetry departs from the forecast on {sat}"
            )

    def plan_acked(self, sat: str, version: int) -> None:
        rt = self.sats[sat]
        rt.applied_plan_version = max(rt.applied_plan_version, version)
        self.metrics.plan_acked(version)

    # --- liveness ---------------------------------------------------------------------
    def close_unreachable(self) -> None:
        """Contacts link model: end the streams of satellites out of contact (LinkDown)."""
        if self.link_model != "contacts":
            return
        for rt in self.sats.values():
            if rt.connected and not self.reachable(rt.name):
                rt.send(self.link_down(rt.name))
                rt.send_close()

    @property
    def lease_s(self) -> float:
        """The agents' lease (agents/lease.py): half the agent timeout in the always-linked
        model, so an agent cut off stops computing at least timeout/2 before it is declared
        lost and its work given to another satellite; none in the contacts model."""
        return self.agent_timeout_s / 2 if self.link_model == "always" else 0.0

    def heartbeat(self, sat: str, seq: int) -> None:
        self.sats[sat].send(HeartbeatAck(seq))

    def find_lost(self) -> list[tuple[str, str]]:
        """Satellites that should be reachable but were not heard (any message) for the
        agent timeout, whether or not their stream is still open: flagged lost now, their
        silent streams closed; (satellite, reason) each (the lifecycle then takes their jobs
        away). Never-seen satellites get ten timeouts from the scheduler's start. In the
        contacts model silence out of contact is expected: a satellite is lost only when it
        stayed silent for the timeout inside a contact window it should have used."""
        wall = time.time()
        now = self.clock.now_s()
        out = []
        for rt in self.sats.values():
            flags = self.flags[rt.name]
            if flags.lost:
                continue
            if rt.ever_connected:
                silent_s, limit_s = wall - rt.wall_last_seen_s, self.agent_timeout_s
            else:
                silent_s, limit_s = wall - rt.wall_disconnected_s, 10 * self.agent_timeout_s
            if silent_s < limit_s:
                continue
            if self.link_model == "contacts":
                window = self.world.contact_at(rt.name, now)
                if window is None or (now - window[0]) / self.clock.speed < self.agent_timeout_s:
                    continue
            self.set_flags(replace(flags, lost=True))
            self.metrics.satellite_lost(rt.name)
            if rt.connected:  # a silent (frozen) agent: end its stream; it reconciles later
                rt.send_close()
            out.append((rt.name, f"satellite {rt.name} lost (not heard for {silent_s:.1f} s)"))
        return out

    def set_flags(self, flags: SatelliteFlags) -> None:
        self.store.set_satellite_flags(flags)
        self.flags[flags.satellite_id] = flags

    # --- dissemination ----------------------------------------------------------------
    def link_down(self, sat: str) -> LinkDown:
        now = self.clock.now_s()
        nxt = self.world.next_contact(sat, now + 1.0)
        return LinkDown(nxt[0] if nxt is not None and nxt[0] > now else now + 60.0)

    def link_until_s(self, sat: str) -> float:
        """End of the current contact (contacts link model), else 0."""
        if self.link_model != "contacts":
            return 0.0
        window = self.world.contact_at(sat, self.clock.now_s())
        return window[1] if window else 0.0

    def cancel(self, sat: str, job_id: str, reason: str) -> None:
        self.sats[sat].send(Cancel(job_id, reason))

    def drain(self, sat: str, reason: str) -> None:
        self.sats[sat].send(Drain(reason))

    def send_elements(self, sat: str) -> None:
        """The satellite's current elements to its agent, if its stream is open (an agent
        that connects later gets them in its Welcome)."""
        if self.sats[sat].connected:
            self.sats[sat].send(NewElements(*self.world.tle_lines(sat)))

    def adopted(self, version: int, jobs: Iterable[Job]) -> None:
        """The records of the jobs plan `version` considered, as its adoption left them
        (lifecycle.apply_plan): placed_jobs() answers from them instead of reading every
        placed job back while nothing was written since."""
        self._adopted = (version, self.store.generation, list(jobs))

    def _placed_as_adopted(self) -> list[Job] | None:
        """The placed jobs in submission order from the adoption's records, if nothing was
        written since (the store's generation); the placed jobs the plan did not consider
        (running inference it carried over as committed) are read from the store, found by
        an id-only query."""
        if self._adopted is None:
            return None
        version, generation, jobs = self._adopted
        if version != self.plan.version or generation != self.store.generation:
            self._adopted = None
            return None
        by_id = {j.job_id: j for j in jobs if j.state in PLACED}
        missing = self.store.job_ids(PLACED) - by_id.keys()
        placed = [*by_id.values(), *self.store.get_jobs(missing).values()]
        placed.sort(key=lambda j: j.seq)
        return placed

    def placed_jobs(self, sat: str | None = None) -> dict[str, list[Job]]:
        """Active jobs with a placement, by satellite, in submission order (one query for
        all satellites, or none right after an adoption: _placed_as_adopted)."""
        jobs = self._placed_as_adopted() if sat is None else None
        if jobs is None:
            jobs = self.store.list_jobs(states=PLACED, satellite_id=sat or "", limit=1_000_000)
        out: dict[str, list[Job]] = {}
        for job in jobs:
            if job.assignment_version:
                for name in job.satellite_ids:
                    out.setdefault(name, []).append(job)
        return out

    def plan_for(
        self,
        sat: str,
        jobs: list[Job] | None = None,
        contacts: dict[tuple[str, ...], tuple[tuple[float, float, float], ...]] | None = None,
        solved_wall_s: float = 0.0,
    ) -> SatellitePlan:
        """The current plan of one satellite: an entry per plan item of each placed job.
        contacts: downlink windows already looked up in this broadcast, by ISL group (every
        member of a group has the group's windows)."""
        now = self.clock.now_s()
        record = self.plan.record
        horizon_end = record.horizon_end_s if record else now
        if jobs is None:
            jobs = self.placed_jobs(sat).get(sat, [])
        entries = []
        for job in jobs:
            spec = job.spec
            items = self.plan.items(job.job_id, sat)
            blocks: list[tuple[float, float, float, tuple[float, ...], float | None]] = [
                (i.start_s, i.end_s, i.power_w, i.checkpoint_times_s, i.delivery_s) for i in items
            ] or [(job.planned_start_s, job.planned_end_s, spec.power_w, (), None)]
            for start_s, end_s, power_w, checkpoints, delivery_s in blocks:
                entries.append(
                    PlanEntry(
                        job_id=job.job_id,
                        kind=spec.kind,
                        start_s=start_s,
                        end_s=end_s,
                        accelerators=spec.accelerators,
                        power_w=power_w,
                        work_acc_s=spec.work_acc_s,
                        resume_from_acc_s=job.checkpoint_acc_s,
                        checkpoint_interval_s=spec.checkpoint_interval_s,
                        checkpoint_cost_s=spec.checkpoint_cost_s,
                        output_mb=spec.output_mb,
                        deadline_s=spec.deadline_s,
                        gang_satellite_ids=job.satellite_ids,
                        gang_size=spec.gang_size,
                        assignment_version=job.member_version(sat) or job.assignment_version,
                        checkpoint_times_s=checkpoints,
                        delivery_s=delivery_s,
                    )
                )
        end = max(horizon_end, now + 3600)
        group = self.world.groups.get(sat, (sat,))
        windows = contacts.get(group) if contacts is not None else None
        if windows is None:
            windows = tuple(self.world.downlink_windows(sat, now, end))
            if contacts is not None:
                contacts[group] = windows
        return SatellitePlan(
            plan_version=self.plan.version,
            satellite_id=sat,
            created_s=now,
            horizon_end_s=horizon_end,
            entries=tuple(entries),
            contacts=windows,
            wall_queued_s=time.time(),
            wall_solved_s=solved_wall_s,
        )

    def _queue_plan(self, rt: SatRuntime, plan: SatellitePlan) -> None:
        if rt.send(plan):
            if plan.wire:
                self.plan_writes_pending += 1
                self.plan_writes_since_s = time.time()
            rt.sent_plan_version = plan.plan_version
            rt.sent_entries = plan.entries
            rt.sent_contacts_end_s = max(plan.horizon_end_s, plan.created_s + 3600)
            self.metrics.plan_sent(plan.plan_version, time.time())

    def send_plan(
        self, sat: str, jobs: list[Job] | None = None, solved_wall_s: float = 0.0
    ) -> None:
        """Queue the current plan of one satellite to its stream (if it has one)."""
        self._queue_plan(self.sats[sat], self.plan_for(sat, jobs, solved_wall_s=solved_wall_s))

    def plan_written(self, plan: SatellitePlan) -> None:
        """A broadcast plan was written to its stream, or dropped with the stream."""
        if plan.wire:
            self.plan_writes_pending = max(0, self.plan_writes_pending - 1)

    def plans_first(self) -> bool:
        """Whether broadcast plans are still being written (telemetry waits)."""
        return (
            self.plan_writes_pending > 0
            and time.time() - self.plan_writes_since_s < PLAN_WRITES_FIRST_S
        )

    @staticmethod
    def plan_changed(rt: SatRuntime, plan: SatellitePlan) -> bool:
        """Whether an agent needs this plan: its entries differ from the ones it was sent on
        this stream, or the contact windows it holds end before the middle of this plan's
        (its outputs' passes come from them)."""
        if rt.sent_entries is None or plan.entries != rt.sent_entries:
            return True
        end = max(plan.horizon_end_s, plan.created_s + 3600)
        return rt.sent_contacts_end_s < plan.created_s + 0.5 * (end - plan.created_s)

    async def broadcast_plans(self, chunk: int = 256, solved_wall_s: float = 0.0) -> None:
        """Queue the current plan to every connected agent that needs it (plan_changed);
        the others keep the plan they hold, which has the same entries. Each message is
        built and serialised once, here (wire.PlanEncoder: contact windows once per ISL
        group), and each stream's own task writes its queue, so the writes to thousands of
        agents overlap; the loop is yielded every `chunk` agents so the first plans are on
        the wire while the last are built. Agents get theirs in the order of their first
        placed job's start (soonest first)."""
        version = self.plan.version
        t0 = time.time()
        placed = self.placed_jobs()
        read_s = time.time() - t0
        encoder = self.plan_encoder() if self.plan_encoder is not None else None
        contacts: dict[tuple[str, ...], tuple[tuple[float, float, float], ...]] = {}
        sent = skipped = 0
        # The satellites whose work starts soonest first (those with none last).
        first_s = {
            sat: min(j.planned_start_s for j in jobs) for sat, jobs in placed.items() if jobs
        }
        order = sorted(self.sats.values(), key=lambda rt: first_s.get(rt.name, math.inf))
        for i, rt in enumerate(order):
            if rt.connected and rt.sent_plan_version < version:
                plan = self.plan_for(rt.name, placed.get(rt.name, []), contacts, solved_wall_s)
                if self.plan_changed(rt, plan):
                    if encoder is not None:
                        plan = replace(plan, wire=encoder.encode(plan))
                    self._queue_plan(rt, plan)
                    sent += 1
                else:
                    rt.sent_plan_version = version  # the entries it holds are this version's
                    skipped += 1
            if i % chunk == chunk - 1:
                await asyncio.sleep(0)
        log.info(
            "plan v%d queued to %d agents (%d unchanged) in %.3f s (placed jobs read in %.3f s; "
            "%.3f s after the solve)",
            version,
            sent,
            skipped,
            time.time() - t0,
            read_s,
            time.time() - solved_wall_s if solved_wall_s else 0.0,
        )
