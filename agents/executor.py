"""The plan executor of one satellite: the same logic in the agent process and in the
deterministic simulator. It never imports the planner or the server.

Clock-driven API (the caller owns the clock and calls in time order):

    ex = Executor("sat-0-1", bus)               # bus: agents.bus.SimulatedBus (the truth)
    ex.apply_plan(items, version, contacts)     # replaces every entry that has not started
    events = ex.advance(now_s, dt_s)            # runs [now_s, now_s + dt_s); -> list[JobEvent]
    ex.cancel(job_id, reason) / ex.drain(reason) -> list[JobEvent]
    ex.running_items(), ex.self_protection, ex.accelerators_busy()

`advance` (1) starts the entries whose start time has come, (2) predicts the bus over the
step with that load and, if the battery would cross its floor or the node its temperature
limit, sheds work (training first, then the inference with the latest deadline, none being
latest) whatever the plan says and reports it, (3) steps the bus, (4) books progress:
inference compute done -> output queued for downlink -> `succeeded` when the output is down
(during a contact window, earliest deadline first, outputs without one last); training ->
`checkpointed` at each checkpoint time (the checkpoint costs checkpoint_cost_s of progress),
`stopped` at the end of its block. A stop between checkpoints loses the progress since the
last checkpoint. A later block of the same placement (same assignment_version) resumes from
the newest checkpoint made here, not from the one its plan entry names: that entry was
written before this satellite's last checkpoints (the plan came before the block ended).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from agents.bus import SimulatedBus

EventKind = Literal["started", "progress", "checkpointed", "stopped", "succeeded", "failed"]
# The reason of a `started` event that resumes from this executor's own newer checkpoint.
RESUMED_OWN = "resumed from its own checkpoint"
_EPS = 1e-6


class StopCause(StrEnum):
    """Why a `stopped` event stopped the job (the contract's StopCause)."""

    WINDOW_ENDED = "window_ended"  # its planned window or block is over
    SELF_PROTECTION = "self_protection"  # shed for the battery floor or temperature limit
    CANCELLED = "cancelled"  # the scheduler cancelled it here


@dataclass(frozen=True)
class ExecItem:
    """One entry of a time-tagged plan for this satellite (mirrors the PlanEntry message)."""

    job_id: str
    kind: Literal["inference", "training"]
    start_s: float
    end_s: float
    accelerators: int
    power_w: float
    work_acc_s: float = 0.0  # inference: total work; training: 0 (runs its window)
    resume_from_acc_s: float = 0.0
    checkpoint_times_s: tuple[float, ...] = ()
    checkpoint_cost_s: float = 0.0
    output_mb: float = 0.0
    deadline_s: float | None = None  # None: no deadline (its output goes down last)
    assignment_version: int = 0

    @property
    def due_s(self) -> float:
        """The deadline for ordering: no deadline is latest."""
        return math.inf if self.deadline_s is None else self.deadline_s


@dataclass(frozen=True)
class RunState:
    """What one job has done here so far (for reports and reconciliation)."""

    item: ExecItem
    done_acc_s: float
    checkpoint_acc_s: float
    computing: bool


@dataclass(frozen=True)
class JobEvent:
    time_s: float
    satellite: str
    job_id: str
    kind: EventKind
    done_acc_s: float = 0.0
    checkpoint_acc_s: float = 0.0
    reason: str = ""
    assignment_version: int = 0
    stop_cause: StopCause | None = None  # `stopped` events


@dataclass
class _Run:
    item: ExecItem
    done_acc_s: float
    checkpoint_acc_s: float
    next_checkpoint: int = 0
    computing: bool = True
    output_left_mb: float = 0.0


@dataclass
class Executor:
    satellite: str
    bus: SimulatedBus
    downlink_mbps: float = 1000.0
    # Shed when the next step would end within these margins of the limits.
    floor_margin_wh: float = 0.0
    temperature_margin_c: float = 0.0
    plan_version: int = 0
    self_protection: str = ""
    self_protection_events: int = 0
    _pending: list[ExecItem] = field(default_factory=list)
    _running: dict[str, _Run] = field(default_factory=dict)
    _contacts: list[tuple[float, float, float]] = field(default_factory=list)
    _draining: bool = False
    # job id -> (assignment_version, checkpoint_acc_s) of the last checkpoint made here.
    _saved: dict[str, tuple[int, float]] = field(default_factory=dict)

    # --- commands -------------------------------------------------------------------------
    def apply_plan(
        self,
        items: Sequence[ExecItem],
        version: int,
        contacts: Sequence[tuple[float, ...]] | None = None,
    ) -> bool:
        """Replace the entries not yet started; what runs keeps running (its end can be
        moved by an entry of the same job that starts when it ends). Plans with a version not
        above the last applied are ignored (returns False)."""
        if contacts is not None:
            self.set_contacts(contacts)
        if version <= self.plan_version:
            return False
        self.plan_version = version
        self._pending = sorted(
            (i for i in items if i.job_id not in self._running or i.start_s >= self._end(i)),
            key=lambda i: (i.start_s, i.job_id),
        )
        # A job the plan no longer holds here comes back under a new token.
        keep = {i.job_id for i in items} | set(self._running)
        self._saved = {j: v for j, v in self._saved.items() if j in keep}
        return True

    def set_contacts(self, contacts: Sequence[tuple[float, ...]]) -> None:
        """Windows (start_s, end_s[, downlink_mbps]) in which outputs can be downlinked, each
        at its station's rate (this executor's downlink_mbps when none is given). The
        windows are the ones the station has an antenna for (forecast/antennas.py)."""
        self._contacts = sorted(
            (float(c[0]), float(c[1]), float(c[2]) if len(c) > 2 else self.downlink_mbps)
            for c in contacts
        )

    def cancel(self, job_id: str, now_s: float, reason: str) -> list[JobEvent]:
        self._pending = [i for i in self._pending if i.job_id != job_id]
        self._saved.pop(job_id, None)
        run = self._running.pop(job_id, None)
        return [self._event(now_s, run, "stopped", reason, StopCause.CANCELLED)] if run else []

    def drain(self, reason: str) -> None:
        """Start nothing new; what runs finishes its window."""
        self._draining = True
        self._pending = []

    # --- state ----------------------------------------------------------------------------
    def runs(self) -> list[RunState]:
        """Every job held here: computing, or computed with its output waiting to go down."""
        return [
            RunState(r.item, r.done_acc_s, r.checkpoint_acc_s, r.computing)
            for r in self._running.values()
        ]

    def running_items(self) -> list[ExecItem]:
        return [r.item for r in self._running.values() if r.computing]

    def accelerators_busy(self) -> int:
        return sum(r.item.accelerators for r in self._running.values() if r.computing)

    def load_w(self) -> float:
        return self.bus.bus.baseline_power_w + sum(
            r.item.power_w for r in self._running.values() if r.computing
        )

    def in_contact(self, now_s: float) -> bool:
        return self.downlink_rate_mbps(now_s) > 0.0

    def downlink_rate_mbps(self, now_s: float) -> float:
        """The rate of the best window open at now_s, 0 outside every window."""
        return max((r for a, b, r in self._contacts if a <= now_s < b), default=0.0)

    # --- the clock --------------------------------------------------------------------------
    def advance(self, now_s: float, dt_s: float) -> list[JobEvent]:
        events: list[JobEvent] = []
        self._start_due(now_s, events)
        self._protect(now_s, dt_s, events)
        self.bus.step(now_s, self.load_w(), dt_s)
        self._progress(now_s, dt_s, events)
        self._downlink(now_s, dt_s, events)
        return events

    def _end(self, item: ExecItem) -> float:
        run = self._running.get(item.job_id)
        return run.item.end_s if run else item.start_s

    def _start_due(self, now_s: float, events: list[JobEvent]) -> None:
        due = [i for i in self._pending if i.start_s <= now_s + _EPS]
        self._pending = [i for i in self._pending if i.start_s > now_s + _EPS]
        for item in due:
            if self._draining or item.end_s <= now_s + _EPS:
                continue
            old = self._running.get(item.job_id)
            if old is not None and old.computing:  # the next block of what runs
                old.item = item
                old.next_checkpoint = 0
                continue
            if self.accelerators_busy() + item.accelerators > self.bus.bus.accelerators:
                events.append(
                    JobEvent(
                        now_s,
                        self.satellite,
                        item.job_id,
                        "failed",
                        0.0,
                        item.resume_from_acc_s,
                        "no free accelerators",
                        item.assignment_version,
                    )
                )
                continue
            resume = item.resume_from_acc_s
            version, saved = self._saved.get(item.job_id, (-1, 0.0))
            why = ""
            if item.kind == "training" and version == item.assignment_version and saved > resume:
                why = f"{RESUMED_OWN} at {saved:.0f} (the plan said {resume:.0f})"
                resume = saved
            run = _Run(item, resume, resume)
            self._running[item.job_id] = run
            events.append(self._event(now_s, run, "started", why))

    def _protect(self, now_s: float, dt_s: float, events: list[JobEvent]) -> None:
        self.self_protection = ""
        while True:
            soc, temp = self.bus.predict(now_s, self.load_w(), dt_s)
            low = soc < self.bus.bus.battery_floor_wh + self.floor_margin_wh
            hot = temp > self.bus.bus.max_temperature_c - self.temperature_margin_c
            computing = [r for r in self._running.values() if r.computing]
            if not (low or hot) or not computing:
                return
            reason = "battery below floor" if low else "temperature limit"
            self.self_protection = reason
            self.self_protection_events += 1
            victim = min(
                computing,
                key=lambda r: (r.item.kind != "training", -r.item.due_s, r.item.job_id),
            )
            del self._running[victim.item.job_id]
            events.append(
                self._event(
                    now_s,
                    victim,
                    "stopped",
                    f"self-protection: {reason}",
                    StopCause.SELF_PROTECTION,
                )
            )

    def _progress(self, now_s: float, dt_s: float, events: list[JobEvent]) -> None:
        end_s = now_s + dt_s
        for job_id, run in list(self._running.items()):
            item = run.item
            if not run.computing:
                continue
            if item.kind == "inference":
                run.done_acc_s = min(item.work_acc_s, run.done_acc_s + item.accelerators * dt_s)
                if run.done_acc_s >= item.work_acc_s - _EPS:
                    run.computing = False
                    run.output_left_mb = item.output_mb
                    events.append(self._event(end_s, run, "progress", "compute done"))
                elif end_s >= item.end_s - _EPS:
                    del self._running[job_id]
                    events.append(
                        self._event(end_s, run, "stopped", "window ended", StopCause.WINDOW_ENDED)
                    )
                continue
            cps = item.checkpoint_times_s
            run.done_acc_s += item.accelerators * dt_s
            while run.next_checkpoint < len(cps) and cps[run.next_checkpoint] <= end_s + _EPS:
                run.done_acc_s -= item.accelerators * item.checkpoint_cost_s
                run.checkpoint_acc_s = run.done_acc_s
                run.next_checkpoint += 1
                self._saved[job_id] = (item.assignment_version, run.checkpoint_acc_s)
                events.append(self._event(cps[run.next_checkpoint - 1], run, "checkpointed"))
            if end_s >= item.end_s - _EPS:
                del self._running[job_id]
                run.done_acc_s = run.checkpoint_acc_s
                events.append(
                    self._event(end_s, run, "stopped", "block ended", StopCause.WINDOW_ENDED)
                )

    def _downlink(self, now_s: float, dt_s: float, events: list[JobEvent]) -> None:
        rate_mbps = self.downlink_rate_mbps(now_s)
        if rate_mbps <= 0.0:
            return
        budget_mb = rate_mbps * dt_s / 8.0
        waiting = sorted(
            (r for r in self._running.values() if not r.computing),
            key=lambda r: (r.item.due_s, r.item.job_id),
        )
        for run in waiting:
            sent = min(run.output_left_mb, budget_mb)
            run.output_left_mb -= sent
            budget_mb -= sent
            if run.output_left_mb <= _EPS:
                del self._running[run.item.job_id]
                events.append(self._event(now_s + dt_s, run, "succeeded", "output downlinked"))
            if budget_mb <= _EPS:
                break

    def _event(
        self,
        t: float,
        run: _Run,
        kind: EventKind,
        reason: str = "",
        stop_cause: StopCause | None = None,
    ) -> JobEvent:
        return JobEvent(
            t,
            self.satellite,
            run.item.job_id,
            kind,
            run.done_acc_s,
            run.checkpoint_acc_s,
            reason,
            run.item.assignment_version,
            stop_cause,
        )
