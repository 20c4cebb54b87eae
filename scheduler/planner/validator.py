"""Plan validator, independent of the CP-SAT formulation: recomputes the battery with
power.battery_trace and the temperature with the nonlinear thermal.temperature_trace from
the items themselves, and checks every other rule directly on the plan.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from scheduler.forecast.power import battery_trace
from scheduler.forecast.thermal import temperature_trace
from scheduler.planner.domain import (
    ContactWindow,
    FloatArray,
    InferenceJob,
    Plan,
    PlanItem,
    Problem,
    Satellite,
    TrainingJob,
    Violation,
)

BATTERY_TOL_WH = 1e-6
THERMAL_TOL_C = 1e-6
TIME_TOL_S = 1e-6


def _slot_profile(problem: Problem, spans: list[tuple[float, float, float]]) -> FloatArray:
    """Per-slot average of a sum of (start_s, end_s, amount) rectangles."""
    edges = problem.now_s + problem.slot_s * np.arange(problem.n_slots + 1)
    out = np.zeros(problem.n_slots)
    for start_s, end_s, amount in spans:
        overlap = np.clip(np.minimum(edges[1:], end_s) - np.maximum(edges[:-1], start_s), 0, None)
        out += amount * overlap / problem.slot_s
    return out


def _groups(problem: Problem) -> dict[str, set[str]]:
    """Satellites reachable from each satellite through ISL neighbours (BFS)."""
    names = {s.name: s for s in problem.satellites}
    out: dict[str, set[str]] = {}
    for sat in problem.satellites:
        seen = {sat.name}
        stack = [sat.name]
        while stack:
            for n in names[stack.pop()].isl_neighbours:
                if n in names and n not in seen:
                    seen.add(n)
                    stack.append(n)
        out[sat.name] = seen
    return out


def _check_accelerators(
    sat: Satellite, state_spans: list[tuple[float, float, float]]
) -> list[Violation]:
    out: list[Violation] = []
    for t in sorted({s for s, _, _ in state_spans}):
        used = sum(a for s, e, a in state_spans if s <= t + TIME_TOL_S and e > t + TIME_TOL_S)
        if used > sat.bus.accelerators:
            out.append(
                Violation(
                    "accelerators",
                    sat.name,
                    None,
                    t,
                    f"{used:.0f} accelerators busy, {sat.bus.accelerators} on board",
                )
            )
    return out


def _check_power_and_heat(
    problem: Problem, sats: list[Satellite], by_sat: dict[str, list[PlanItem]]
) -> list[Violation]:
    """Battery (power.battery_trace) and temperature (the nonlinear thermal.temperature_trace)
    of satellites sharing one bus, integrated together; a breach counts when the plan makes it
    (the committed work alone would not)."""
    out: list[Violation] = []
    bus = sats[0].bus
    base = np.stack(
        [
            bus.baseline_power_w
            + _slot_profile(
                problem, [(r.start_s, r.end_s, r.power_w) for r in problem.states[s.name].running]
            )
            for s in sats
        ]
    )
    load = base + np.stack(
        [
            _slot_profile(problem, [(i.start_s, i.end_s, i.power_w) for i in by_sat[s.name]])
            for s in sats
        ]
    )
    gen = np.stack([np.asarray(s.forecast.generation_w, dtype=np.float64) for s in sats])
    env = np.stack([np.asarray(s.forecast.environment_heat_w, dtype=np.float64) for s in sats])
    soc0 = np.array(
        [min(max(problem.states[s.name].soc_wh, 0.0), bus.battery_capacity_wh) for s in sats]
    )
    t0 = np.array([problem.states[s.name].temperature_c for s in sats])
    both = np.concatenate([load, base])
    soc = battery_trace(
        np.concatenate([soc0, soc0]), np.concatenate([gen, gen]), both, problem.slot_s, bus
    ).soc_wh[:, 1:]
    temp = temperature_trace(
        np.concatenate([t0, t0]), np.concatenate([env, env]), both, problem.slot_s, bus
    ).temperature_c[:, 1:]
    n = len(sats)
    floor = bus.battery_floor_wh - BATTERY_TOL_WH
    low = (soc[:n] < floor) & (soc[:n] < soc[n:] - BATTERY_TOL_WH)
    hot = (temp[:n] > bus.max_temperature_c + THERMAL_TOL_C) & (temp[:n] > temp[n:] + THERMAL_TOL_C)
    for i, sat in enumerate(sats):
        if low[i].any():
            k = int(np.argmax(low[i]))
            out.append(
                Violation(
                    "battery",
                    sat.name,
                    None,
                    problem.slot_start_s(k + 1),
                    f"state of charge {soc[i, k]:.1f} Wh under the floor "
                    f"{bus.battery_floor_wh:.1f} Wh",
                )
            )
        if hot[i].any():
            k = int(np.argmax(hot[i]))
            out.append(
                Violation(
                    "thermal",
                    sat.name,
                    None,
                    problem.slot_start_s(k + 1),
                    f"temperature {temp[i, k]:.2f} C over the limit {bus.max_temperature_c} C",
                )
            )
    return out


def _delivery(
    contacts: list[ContactWindow], ready_s: float, size_mb: float
) -> tuple[float, ContactWindow] | None:
    for w in contacts:  # in the order given (by start)
        begin = max(w.start_s, ready_s)
        done = begin + (size_mb * 8.0 / w.downlink_mbps if size_mb > 0 else 0.0)
        if w.end_s >= ready_s and done <= w.end_s + TIME_TOL_S:
            return done, w
    return None


def validate_plan(problem: Problem, plan: Plan) -> list[Violation]:
    """Every broken rule of the plan; [] when it is sound."""
    out: list[Violation] = []
    sats = {s.name: s for s in problem.satellites}
    sat_index = {s.name: i for i, s in enumerate(problem.satellites)}
    jobs = {j.job_id: j for j in problem.jobs}
    groups = _groups(problem)
    by_sat: dict[str, list[PlanItem]] = defaultdict(list)
    by_job: dict[str, list[PlanItem]] = defaultdict(list)
    for item in plan.items:
        v = None
        if item.satellite not in sats:
            v = "unknown satellite"
        elif not problem.states[item.satellite].available:
            v = "satellite not available"
        elif item.job_id not in jobs:
            v = "unknown job"
        elif (
            item.start_s < problem.now_s - TIME_TOL_S
            or item.end_s > plan.horizon_end_s + TIME_TOL_S
        ):
            v = "outside the horizon"
        elif item.start_s < jobs[item.job_id].submit_s - TIME_TOL_S:
            v = "starts before the job was submitted"
        if v:
            out.append(Violation("item", item.satellite, item.job_id, item.start_s, v))
            continue
        by_sat[item.satellite].append(item)
        by_job[item.job_id].append(item)
    by_bus: dict[object, list[Satellite]] = defaultdict(list)
    for name, items in by_sat.items():
        spans = [(r.start_s, r.end_s, float(r.accelerators)) for r in problem.states[name].running]
        spans += [(i.start_s, i.end_s, float(i.accelerators)) for i in items]
        out.extend(_check_accelerators(sats[name], spans))
        by_bus[sats[name].bus].append(sats[name])
    for group in by_bus.values():
        out.extend(_check_power_and_heat(problem, group, by_sat))
    volume_used: dict[tuple[str, str, float], float] = defaultdict(float)
    volume_cap: dict[tuple[str, str, float], float] = {}
    for job_id, items in by_job.items():
        job = jobs[job_id]
        if isinstance(job, InferenceJob):
            if len(items) != 1:
                out.append(Violation("inference", None, job_id, None, f"placed {len(items)} times"))
                continue
            it = items[0]
            if it.accelerators < job.accelerators or (
                (it.end_s - it.start_s) * it.accelerators < job.work_acc_s - TIME_TOL_S
            ):
                out.append(
                    Violation(
                        "inference",
                        it.satellite,
                        job_id,
                        it.start_s,
                        "too few accelerator-seconds for the work",
                    )
                )
            # The route group's contacts in the planner's order (start, then satellite and
            # contact index: contacts of a plane often start together, cut at the horizon
            # start), those of the station the plan names where it names one.
            routed_at = sorted(
                (
                    (c.start_s, sat_index[n], k, n, c)
                    for n in groups[it.satellite]
                    for k, c in enumerate(sats[n].forecast.contacts)
                    if it.station is None or c.station == it.station
                ),
                key=lambda t: t[:3],
            )
            owner_of = {id(t[4]): t[3] for t in routed_at}
            routed = [t[4] for t in routed_at]
            found = _delivery(routed, it.end_s, job.output_mb)
            if found is None:
                out.append(
                    Violation(
                        "delivery",
                        it.satellite,
                        job_id,
                        it.end_s,
                        "no contact after the end to deliver the output",
                    )
                )
                continue
            done_s, window = found
            if done_s > job.deadline_s + problem.weights.late_grace_s + TIME_TOL_S:
                out.append(
                    Violation(
                        "deadline",
                        it.satellite,
                        job_id,
                        done_s,
                        "output delivered past the deadline and its grace",
                    )
                )
            owner = owner_of[id(window)]
            key = (owner, window.station, window.start_s)
            volume_used[key] += job.output_mb
            volume_cap[key] = window.volume_mb
        elif isinstance(job, TrainingJob):
            members = {i.satellite for i in items}
            if len(members) != job.gang_size:
                out.append(
                    Violation(
                        "gang",
                        None,
                        job_id,
                        None,
                        f"{len(members)} members, gang size {job.gang_size}",
                    )
                )
            first = next(iter(members))
            reach = _connected_within(problem, members, first)
            if reach != members:
                out.append(Violation("gang", None, job_id, None, "members not ISL-connected"))
            windows = {(i.start_s, i.end_s) for i in items}
            for w_start, w_end in windows:
                same = sum(1 for i in items if (i.start_s, i.end_s) == (w_start, w_end))
                if same != len(members):
                    out.append(
                        Violation("gang", None, job_id, w_start, "members run at different times")
                    )
            for i in items:
                cps = i.checkpoint_times_s
                if (
                    not cps
                    or abs(cps[-1] - i.end_s) > TIME_TOL_S
                    or any(
                        b - a > job.checkpoint_interval_s + problem.slot_s
                        for a, b in zip((i.start_s, *cps), cps, strict=False)
                    )
                ):
                    out.append(
                        Violation(
                            "checkpoint",
                            i.satellite,
                            job_id,
                            i.start_s,
                            "checkpoints missing or further apart than the interval",
                        )
                    )
    for key, used in volume_used.items():
        if used > volume_cap[key] + 1e-6:
            out.append(
                Violation(
                    "downlink",
                    key[0],
                    None,
                    key[2],
                    f"{used:.1f} MB routed to a {volume_cap[key]:.1f} MB contact",
                )
            )
    return out


def _connected_within(problem: Problem, members: set[str], start: str) -> set[str]:
    nbrs = {s.name: s.isl_neighbours for s in problem.satellites}
    seen = {start}
    stack = [start]
    while stack:
        for n in nbrs[stack.pop()]:
            if n in members and n not in seen:
                seen.add(n)
                stack.append(n)
    return seen
