"""Prometheus metrics of the scheduler, in a registry of its own (DESIGN.md section 6).

`orbital_` prefix, base units (seconds, watts, joules, celsius, ratios), counters end in
`_total`, labels are bounded: satellite ids, job kinds, outcomes, causes; never job ids.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from scheduler import __version__
from scheduler.server.messages import PreemptionCause, Telemetry
from scheduler.server.model import Job, JobState

# A solve takes from tens of milliseconds (a few jobs) to the time limit (tens of seconds):
# buckets follow that range, not the web-request defaults.
SOLVE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
# Inference time from submission to output on the ground, simulated: minutes to a day.
TIME_TO_GROUND_BUCKETS_S = (60, 300, 600, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
# Plan delivery over loopback or a ground link: milliseconds to seconds.
DELIVERY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
WH_TO_J = 3600.0
PREEMPTION_CAUSES = tuple(c.value for c in PreemptionCause)

# `_created` samples are noise for these short-lived processes.
disable_created_metrics()


class SchedulerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        Info("orbital_build", "Build of the scheduler", registry=r).info(
            {"version": __version__, "python": platform.python_version(), "role": "scheduler"}
        )
        self.jobs_submitted_total = Counter(
            "orbital_jobs_submitted_total", "Jobs accepted", ["kind"], registry=r
        )
        self.jobs_finished_total = Counter(
            "orbital_jobs_finished_total",
            "Jobs that reached a terminal state",
            ["kind", "outcome"],
            registry=r,
        )
        self.jobs_expired_total = Counter(
            "orbital_jobs_expired_total",
            "Waiting jobs failed because their deadline passed before they could run",
            ["kind"],
            registry=r,
        )
        self.jobs = Gauge("orbital_jobs", "Jobs by state", ["kind", "state"], registry=r)
        self.queue_depth = Gauge(
            "orbital_queue_depth",
            "Jobs waiting to be placed or resumed (PENDING and CHECKPOINTED)",
            registry=r,
        )
        self.solve_duration_seconds = Histogram(
            "orbital_solve_duration_seconds",
            "Wall time of one planner run",
            ["policy"],
            buckets=SOLVE_BUCKETS_S,
            registry=r,
        )
        self.solver_restarts_total = Counter(
            "orbital_solver_restarts_total",
            "Solver worker processes that died and were replaced",
            registry=r,
        )
        self.plans_total = Counter(
            "orbital_plans_total",
            "Plans made, by what caused them and the solver status",
            ["cause", "status"],
            registry=r,
        )
        self.plan_objective = Gauge(
            "orbital_plan_objective", "Objective of the last plan", registry=r
        )
        self.plan_best_bound = Gauge(
            "orbital_plan_best_bound", "Best bound the solver proved for the last plan", registry=r
        )
        self.plan_gap_ratio = Gauge(
            "orbital_plan_gap_ratio", "Relative gap of the last plan (0 optimal)", registry=r
        )
        self.plan_version = Gauge("orbital_plan_version", "Version of the current plan", registry=r)
        self.plan_unplaced = Gauge(
            "orbital_plan_unplaced_jobs", "Jobs the last plan could not place", registry=r
        )
        self.plan_delivery_seconds = Histogram(
            "orbital_plan_delivery_seconds",
            "Wall time from a plan's dissemination to the agent's acknowledgement",
            buckets=DELIVERY_BUCKETS_S,
            registry=r,
        )
        self.agents_connected = Gauge(
            "orbital_agents_connected", "Agents with an open stream", registry=r
        )
        sat = ["satellite"]
        self.soc_ratio = Gauge(
            "orbital_satellite_battery_soc_ratio",
            "Battery state of charge reported",
            sat,
            registry=r,
        )
        self.battery_joules = Gauge(
            "orbital_satellite_battery_energy_joules", "Battery energy reported", sat, registry=r
        )
        self.temperature = Gauge(
            "orbital_satellite_temperature_celsius", "Node temperature reported", sat, registry=r
        )
        self.power_generated = Gauge(
            "orbital_satellite_power_generated_watts",
            "Solar array output reported",
            sat,
            registry=r,
        )
        self.power_drawn = Gauge(
            "orbital_satellite_power_drawn_watts", "Electrical load reported", sat, registry=r
        )
        self.sunlit = Gauge(
            "orbital_satellite_sunlit_ratio", "Fraction of the solar disc visible", sat, registry=r
        )
        self.in_contact = Gauge(
            "orbital_satellite_in_contact",
            "1 while the satellite has a ground contact",
            sat,
            registry=r,
        )
        self.accelerators_busy = Gauge(
            "orbital_satellite_accelerators_busy", "Accelerators running jobs", sat, registry=r
        )
        self.self_protection_total = Counter(
            "orbital_satellite_self_protection_events_total",
            "Times an agent overrode its plan to protect itself",
            sat,
            registry=r,
        )
        self.forecast_soc_error = Gauge(
            "orbital_forecast_soc_error_ratio",
            "Reported minus predicted state of charge, one telemetry interval ahead",
            sat,
            registry=r,
        )
        self.forecast_temperature_error = Gauge(
            "orbital_forecast_temperature_error_celsius",
            "Reported minus predicted temperature, one telemetry interval ahead",
            sat,
            registry=r,
        )
        # What the plan in force predicts for the current slot (solver_worker.predict_budget),
        # beside the reported values above: predicted against actual.
        self.predicted_battery_joules = Gauge(
            "orbital_satellite_predicted_battery_energy_joules",
            "Battery energy the plan in force predicts at the start of the current slot",
            sat,
            registry=r,
        )
        self.predicted_temperature = Gauge(
            "orbital_satellite_predicted_temperature_celsius",
            "Node temperature the plan in force predicts at the start of the current slot",
            sat,
            registry=r,
        )
        self.thermal_headroom = Gauge(
            "orbital_satellite_thermal_headroom_watts",
            "Extra constant power the node can dissipate over the next 30 minutes from the "
            "current slot without crossing its temperature limit, under the plan in force",
            sat,
            registry=r,
        )
        self.element_age = Gauge(
            "orbital_satellite_element_age_seconds",
            "Age of the orbital elements the forecasts use (now minus their epoch)",
            sat,
            registry=r,
        )
        self.time_to_ground_seconds = Histogram(
            "orbital_inference_time_to_ground_seconds",
            "Simulated time from submission to output on the ground",
            buckets=TIME_TO_GROUND_BUCKETS_S,
            registry=r,
        )
        self.deadline_misses_total = Counter(
            "orbital_deadline_misses_total",
            "Jobs done after their deadline",
            ["kind"],
            registry=r,
        )
        self.preemptions_total = Counter(
            "orbital_preemptions_total",
            "Running jobs stopped before done",
            ["kind", "cause"],
            registry=r,
        )
        self.fenced_reports_total = Counter(
            "orbital_fenced_reports_total",
            "Agent reports rejected because their assignment version was stale",
            registry=r,
        )
        self.jobs_compacted_total = Counter(
            "orbital_jobs_compacted_total",
            "Terminal jobs past the retention period whose history was compacted",
            registry=r,
        )
        self.plans_dropped_total = Counter(
            "orbital_plans_dropped_total",
            "Stored plans past the retention period deleted (the latest one always stays)",
            registry=r,
        )
        self.store_bytes = Gauge(
            "orbital_store_bytes", "Size of the state database, its WAL included", registry=r
        )
        self.store_free_bytes = Gauge(
            "orbital_store_free_bytes",
            "Free pages in the state database (reused by new rows; VACUUM returns them)",
            registry=r,
        )
        self.agent_messages_total = Counter(
            "orbital_agent_messages_total",
            "Messages received from agents",
            ["type"],
            registry=r,
        )
        self.battery_floor_ratio = Gauge(
            "orbital_satellite_battery_floor_ratio",
            "State of charge the satellite must not go below",
            sat,
            registry=r,
        )
        self.temperature_limit = Gauge(
            "orbital_satellite_temperature_limit_celsius",
            "Temperature the satellite must not exceed",
            sat,
            registry=r,
        )
        self.lost = Gauge(
            "orbital_satellite_lost",
            "1 while the satellite is given up for lost (its work replanned elsewhere)",
            sat,
            registry=r,
        )
        # The gauges that repeat what a satellite last reported: dropped when it is lost, so
        # a dashboard shows a gap instead of a stale flat line.
        self._reported = (
            self.soc_ratio,
            self.battery_joules,
            self.temperature,
            self.power_generated,
            self.power_drawn,
            self.sunlit,
            self.in_contact,
            self.accelerators_busy,
            self.forecast_soc_error,
            self.forecast_temperature_error,
        )
        # Expose counters at zero before their first event, so rate() and increase() see
        # a series from the start instead of "no data".
        for policy in ("cpsat", "greedy"):
            self.solve_duration_seconds.labels(policy)
        for kind in ("inference", "training"):
            self.jobs_submitted_total.labels(kind)
            self.deadline_misses_total.labels(kind)
            self.jobs_expired_total.labels(kind)
            for outcome in ("succeeded", "failed", "cancelled"):
                self.jobs_finished_total.labels(kind, outcome)
            for cause in PREEMPTION_CAUSES:
                self.preemptions_total.labels(kind, cause)
        self._plan_sent_wall_s: dict[int, float] = {}
        self._element_age_children: dict[str, Gauge] = {}
        self._protecting: dict[str, bool] = {}

    def fleet(self, names: tuple[str, ...], battery_floor_ratio: float, max_temp_c: float) -> None:
        """The satellites of the run: their limits, and their counters at zero."""
        for name in names:
            self.battery_floor_ratio.labels(name).set(battery_floor_ratio)
            self.temperature_limit.labels(name).set(max_temp_c)
            self.self_protection_total.labels(name)
            self.lost.labels(name).set(0)

    def satellite_lost(self, sat: str) -> None:
        self.lost.labels(sat).set(1)
        for gauge in self._reported:
            with contextlib.suppress(KeyError):  # KeyError: it never reported
                gauge.remove(sat)

    def element_ages(self, names: tuple[str, ...], ages_s: Sequence[float]) -> None:
        # Every satellite every second: the labelled series looked up once (10,000 of them).
        children = self._element_age_children
        for name, age in zip(names, ages_s, strict=True):
            child = children.get(name)
            if child is None:
                child = children[name] = self.element_age.labels(name)
            child.set(float(age))

    def predicted(self, sat: str, values: tuple[float, float, float] | None) -> None:
        """(soc_wh, temperature_c, headroom_w) predicted for now, or None: no series."""
        gauges = (self.predicted_battery_joules, self.predicted_temperature, self.thermal_headroom)
        if values is None:
            for gauge in gauges:
                with contextlib.suppress(KeyError):
                    gauge.remove(sat)
            return
        soc_wh, temperature_c, headroom_w = values
        self.predicted_battery_joules.labels(sat).set(soc_wh * WH_TO_J)
        self.predicted_temperature.labels(sat).set(temperature_c)
        self.thermal_headroom.labels(sat).set(headroom_w)

    def satellite_returned(self, sat: str) -> None:
        self.lost.labels(sat).set(0)

    def submitted(self, kind: str) -> None:
        self.jobs_submitted_total.labels(kind).inc()

    def finished(self, job: Job, now_s: float) -> None:
        self.jobs_finished_total.labels(job.spec.kind, job.state.value.lower()).inc()
        if job.state != JobState.SUCCEEDED:
            return
        if job.spec.kind == "inference":
            self.time_to_ground_seconds.observe(max(0.0, now_s - job.submit_time_s))
        if job.spec.deadline_s is not None and now_s > job.spec.deadline_s:
            self.deadline_misses_total.labels(job.spec.kind).inc()

    def preempted(self, kind: str, cause: PreemptionCause) -> None:
        self.preemptions_total.labels(kind, cause.value).inc()

    def plan_sent(self, version: int, wall_s: float) -> None:
        self._plan_sent_wall_s.setdefault(version, wall_s)
        if len(self._plan_sent_wall_s) > 64:
            self._plan_sent_wall_s.pop(min(self._plan_sent_wall_s))

    def plan_acked(self, version: int) -> None:
        sent = self._plan_sent_wall_s.get(version)
        if sent is not None:
            self.plan_delivery_seconds.observe(max(0.0, time.time() - sent))

    def telemetry(self, sat: str, tel: Telemetry) -> None:
        cap = tel.battery_capacity_wh
        self.soc_ratio.labels(sat).set(tel.battery_soc_wh / cap if cap else 0.0)
        self.battery_joules.labels(sat).set(tel.battery_soc_wh * WH_TO_J)
        self.temperature.labels(sat).set(tel.temperature_c)
        self.power_generated.labels(sat).set(tel.power_generated_w)
        self.power_drawn.labels(sat).set(tel.power_drawn_w)
        self.sunlit.labels(sat).set(tel.sunlit_fraction)
        self.in_contact.labels(sat).set(1.0 if tel.in_contact else 0.0)
        self.accelerators_busy.labels(sat).set(tel.accelerators_busy)
        protecting = bool(tel.self_protection)
        if protecting and not self._protecting.get(sat, False):
            self.self_protection_total.labels(sat).inc()
        self._protecting[sat] = protecting

    def store_size(self, total_bytes: int, free_bytes: int) -> None:
        self.store_bytes.set(total_bytes)
        self.store_free_bytes.set(free_bytes)

    def job_counts(self, counts: dict[tuple[str, str], int]) -> None:
        for kind in ("inference", "training"):
            for state in JobState:
                self.jobs.labels(kind, state.value.lower()).set(counts.get((kind, state.value), 0))
        self.queue_depth.set(
            sum(n for (_, s), n in counts.items() if s in ("PENDING", "CHECKPOINTED"))
        )
