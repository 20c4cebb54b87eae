"""The agent's runtime: the simulated bus (agents/bus.py) and the plan executor
(agents/executor.py), the same ones the simulator uses, behind the small interface the
connection loop (agent.py) drives. This module only converts the contract's messages to
and from them, and keeps the truth model's forecast grid ahead of the clock.

Work in the contract is job-level (a gang's accelerator-seconds summed over its members);
the executor counts the accelerators of this satellite only, so training numbers are
scaled by the gang size on the way in and out.
"""

from __future__ import annotations

import zlib
from dataclasses import fields

from orbitalsched.v1 import agent_pb2, jobs_pb2

from agents.bus import SimulatedBus
from agents.executor import ExecItem, Executor, JobEvent, StopCause
from scheduler.forecast import BusParams, parse_tle

# The truth model is propagated this far ahead (simulated seconds), on a 60 s grid, and
# extended when the clock gets within a tenth of it.
BUS_WINDOW_S = 12 * 3600.0
BUS_STEP_S = 60.0
# Longest step handed to the executor at once (a stalled process catches up in steps).
MAX_STEP_S = 60.0

KIND = {
    "started": agent_pb2.JOB_REPORT_KIND_STARTED,
    "progress": agent_pb2.JOB_REPORT_KIND_PROGRESS,
    "checkpointed": agent_pb2.JOB_REPORT_KIND_CHECKPOINTED,
    "stopped": agent_pb2.JOB_REPORT_KIND_STOPPED,
    "succeeded": agent_pb2.JOB_REPORT_KIND_SUCCEEDED,
    "failed": agent_pb2.JOB_REPORT_KIND_FAILED,
}
STOP_CAUSE = {
    StopCause.WINDOW_ENDED: agent_pb2.STOP_CAUSE_WINDOW_ENDED,
    StopCause.SELF_PROTECTION: agent_pb2.STOP_CAUSE_SELF_PROTECTION,
    StopCause.CANCELLED: agent_pb2.STOP_CAUSE_CANCELLED,
}


def bus_params(config: agent_pb2.SatelliteConfig) -> BusParams:
    known = {f.name: f for f in fields(BusParams)}
    values: dict[str, float | int] = {}
    for name, value in config.bus.items():
        if name in known:
            values[name] = int(value) if name == "accelerators" else value
    return BusParams.from_mapping(values, where="welcome.config.bus")


class Runtime:
    def __init__(self, config: agent_pb2.SatelliteConfig, now_s: float, seed: int = 0) -> None:
        self.config = config
        self.satellite = config.satellite_id
        self.bus_params = bus_params(config)
        self.constellation = parse_tle(
            f"{config.satellite_id}\n{config.tle_line1}\n{config.tle_line2}\n",
            source="welcome.config",
        )
        self.seed = seed
        self.bus = self._new_bus(now_s, None, None)
        self.executor = Executor(self.satellite, self.bus)
        self.last_s = now_s
        self.gang: dict[str, int] = {}  # job id -> gang size of its entry
        self.marks: set[float] = set()  # times the executor must step to exactly
        # Held (agents/lease.py: no word from the scheduler for the lease): no entry starts,
        # running ones make no progress and draw no accelerator power; the bus runs on.
        self.paused = False

    def new_elements(self, line1: str, line2: str, now_s: float) -> None:
        """Follow new orbital elements from now on, keeping battery and temperature (a bad
        element set raises TleError and changes nothing)."""
        self.constellation = parse_tle(
            f"{self.satellite}\n{line1}\n{line2}\n", source="scheduler.elements"
        )
        self.bus = self._new_bus(now_s, self.bus.soc_wh, self.bus.temperature_c)
        self.executor.bus = self.bus

    @classmethod
    def from_config(cls, config: agent_pb2.SatelliteConfig, now_s: float) -> Runtime:
        # A stable seed per satellite: the same truth-model errors on every run.
        return cls(config, now_s, seed=zlib.crc32(config.satellite_id.encode()))

    def _new_bus(self, start_s: float, soc_wh: float | None, temp_c: float | None) -> SimulatedBus:
        return SimulatedBus.from_constellation(
            self.constellation,
            0,
            self.bus_params,
            start_s,
            start_s + BUS_WINDOW_S,
            BUS_STEP_S,
            soc_wh=soc_wh,
            temperature_c=temp_c,
            seed=self.seed,
        )

    def _keep_bus_ahead(self, now_s: float) -> None:
        end_s = self.bus.start_s + len(self.bus.sunlit) * self.bus.step_s
        if now_s > end_s - 0.1 * BUS_WINDOW_S:
            self.bus = self._new_bus(now_s, self.bus.soc_wh, self.bus.temperature_c)
            self.executor.bus = self.bus

    # --- commands from the scheduler -----------------------------------------------------
    def apply_plan(self, plan: agent_pb2.Plan, now_s: float) -> bool:
        items = []
        for e in plan.entries:
            # The members running it at once: gang_satellite_ids is the union over the
            # job's blocks (a plan that moves the gang later lists both sets).
            gang = e.gang_size or max(1, len(e.gang_satellite_ids))
            self.gang[e.job_id] = gang
            training = e.kind == jobs_pb2.JOB_KIND_TRAINING
            items.append(
                ExecItem(
                    job_id=e.job_id,
                    kind="training" if training else "inference",
                    start_s=e.start_s,
                    end_s=e.end_s,
                    accelerators=e.accelerators,
                    power_w=e.power_w or e.accelerators * self.bus_params.accelerator_power_w,
                    work_acc_s=0.0 if training else e.work_accelerator_s,
                    resume_from_acc_s=e.resume_from_accelerator_s / gang,
                    checkpoint_times_s=tuple(e.checkpoint_times_s),
                    checkpoint_cost_s=e.checkpoint_cost_s,
                    output_mb=e.output_mb,
                    deadline_s=e.deadline_s if e.HasField("deadline_s") and e.deadline_s else None,
                    assignment_version=e.assignment_version,
                )
            )
        # Each window at its station's rate when the scheduler sends one (older: the default).
        contacts = [
            (w.start_s, w.end_s, w.downlink_mbps) if w.downlink_mbps > 0 else (w.start_s, w.end_s)
            for w in plan.contacts
        ]
        applied = self.executor.apply_plan(items, plan.plan_version, contacts)
        if applied:
            self.marks = {t for i in items for t in (i.start_s, i.end_s, *i.checkpoint_times_s)}
        return applied

    def cancel(self, job_id: str, reason: str, now_s: float) -> list[agent_pb2.JobReport]:
        return [self._report(e) for e in self.executor.cancel(job_id, now_s, reason)]

    def drain(self, reason: str) -> None:
        self.executor.drain(reason)

    # --- the clock -----------------------------------------------------------------------
    def step(self, now_s: float) -> list[agent_pb2.JobReport]:
        """Advance the executor and the bus to now_s; the reports of what happened.

        Steps end exactly at the plan's start and end times, so an entry starts on time
        however coarse the wall-clock tick is at high simulation speeds."""
        out: list[agent_pb2.JobReport] = []
        if self.paused:
            self._hold(now_s)
            return out
        marks = sorted(t for t in self.marks if self.last_s + 1e-6 < t < now_s - 1e-6)
        for target in [*marks, now_s]:
            while self.last_s < target - 1e-6:
                dt = min(MAX_STEP_S, target - self.last_s)
                self._keep_bus_ahead(self.last_s)
                out.extend(self._report(e) for e in self.executor.advance(self.last_s, dt))
                self.last_s += dt
        return out

    def _hold(self, now_s: float) -> None:
        """Paused: only the bus advances, at its baseline load."""
        while self.last_s < now_s - 1e-6:
            dt = min(MAX_STEP_S, now_s - self.last_s)
            self._keep_bus_ahead(self.last_s)
            self.bus.step(self.last_s, self.bus_params.baseline_power_w, dt)
            self.last_s += dt

    def progress_reports(self) -> list[agent_pb2.JobReport]:
        """A progress report per job computing now (sent with each telemetry)."""
        return [
            self._report(
                JobEvent(
                    self.last_s,
                    self.satellite,
                    r.item.job_id,
                    "progress",
                    r.done_acc_s,
                    r.checkpoint_acc_s,
                    "",
                    r.item.assignment_version,
                )
            )
            for r in self.executor.runs()
            if r.computing
        ]

    def _report(self, e: JobEvent) -> agent_pb2.JobReport:
        gang = self.gang.get(e.job_id, 1)
        return agent_pb2.JobReport(
            job_id=e.job_id,
            kind=KIND[e.kind],
            time_s=e.time_s,
            assignment_version=e.assignment_version,
            # Never negative: a checkpoint's cost can briefly exceed the progress since the
            # last one (the scheduler refuses negative numbers as invalid).
            done_accelerator_s=max(0.0, e.done_acc_s) * gang,
            checkpoint_accelerator_s=max(0.0, e.checkpoint_acc_s) * gang,
            reason=e.reason,
            stop_cause=STOP_CAUSE[e.stop_cause] if e.stop_cause else None,
        )

    def telemetry(self, now_s: float) -> agent_pb2.Telemetry:
        gen, _, sunlit = self.bus.conditions(self.last_s)
        ex = self.executor
        return agent_pb2.Telemetry(
            time_s=self.last_s,
            battery_soc_wh=self.bus.soc_wh,
            battery_capacity_wh=self.bus_params.battery_capacity_wh,
            temperature_c=self.bus.temperature_c,
            power_generated_w=gen,
            power_drawn_w=ex.load_w(),
            sunlit_fraction=sunlit,
            in_contact=ex.in_contact(self.last_s),
            running_job_ids=sorted(i.job_id for i in ex.running_items()),
            accelerators_busy=ex.accelerators_busy(),
            self_protection=ex.self_protection,
        )

    def running_jobs(self) -> list[agent_pb2.RunningJob]:
        """What runs (or waits to downlink), for Hello: the scheduler reconciles it."""
        return [
            agent_pb2.RunningJob(
                job_id=r.item.job_id,
                assignment_version=r.item.assignment_version,
                done_accelerator_s=r.done_acc_s * self.gang.get(r.item.job_id, 1),
                checkpoint_accelerator_s=r.checkpoint_acc_s * self.gang.get(r.item.job_id, 1),
            )
            for r in self.executor.runs()
        ]
