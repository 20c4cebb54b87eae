"""Synthetic planning problems without orbit propagation, for tests and benchmarks.

A Walker-like shell: `planes` rings of satellites (in-plane ISL neighbours), each with a
~95.6 min orbit (LEO at 550 km, DESIGN.md section 8) of which ~35 min are in eclipse, phased
along the ring, and a ground contact of ~8 min once per orbit at a random phase. Power and
heat come from the real forecast functions (generation_w, environment_heat_w).
"""

from __future__ import annotations

import numpy as np

from scheduler.forecast.bus import INITIAL_SOC_FRACTION, BusParams
from scheduler.forecast.power import generation_w
from scheduler.forecast.thermal import environment_heat_w
from scheduler.planner.domain import (
    ContactWindow,
    InferenceJob,
    Job,
    Priority,
    Problem,
    Satellite,
    SatelliteForecast,
    SatelliteState,
    TrainingJob,
)

ORBIT_S = 95.6 * 60.0  # LEO 550 km period (DESIGN.md section 8)
ECLIPSE_S = 35.0 * 60.0  # eclipse at low beta angle (DESIGN.md section 8)
CONTACT_S = 8.0 * 60.0
EPOCH_S = 1_795_000_000.0  # 2026-11-18T09:46:40Z, a whole minute


def sunlit_square_wave(times_s: np.ndarray, phase: float) -> np.ndarray:
    """1 in sun, 0 in eclipse, 0.5 in the slot of a transition."""
    frac = (times_s / ORBIT_S + phase) % 1.0
    ecl = ECLIPSE_S / ORBIT_S
    return np.where(frac < ecl, 0.0, 1.0)


def synthetic_satellites(
    n_sats: int,
    now_s: float = EPOCH_S,
    n_slots: int = 180,
    slot_s: float = 60.0,
    planes: int | None = None,
    seed: int = 0,
    bus: BusParams | None = None,
    downlink_mbps: float = 100.0,
) -> list[Satellite]:
    bus = bus or BusParams()
    rng = np.random.default_rng(seed)
    planes = planes or max(1, round(np.sqrt(n_sats / 2)))
    per_plane = -(-n_sats // planes)
    sats: list[Satellite] = []
    for i in range(n_sats):
        p, k = divmod(i, per_plane)
        in_plane = min(per_plane, n_sats - p * per_plane)
        phase = k / in_plane + p * 0.37
        edges = now_s + slot_s * np.arange(n_slots + 1)
        # Average of the square wave over each slot (penumbra-like partial slots).
        fine = np.linspace(0, 1, 7)[None, :] * slot_s + edges[:-1, None]
        sunlit = sunlit_square_wave(fine, phase).mean(axis=1)
        contacts = []
        t = now_s + rng.uniform(0, ORBIT_S) - ORBIT_S
        while t < now_s + n_slots * slot_s:
            if t + CONTACT_S > now_s:
                contacts.append(
                    ContactWindow(
                        f"gs-{rng.integers(0, 5)}", max(t, now_s), t + CONTACT_S, downlink_mbps
                    )
                )
            t += ORBIT_S * rng.uniform(0.8, 1.6)
        names = [f"sat-{p}-{(k + d) % in_plane}" for d in (-1, 1) if in_plane > 1]
        sats.append(
            Satellite(
                name=f"sat-{p}-{k}",
                bus=bus,
                forecast=SatelliteForecast(
                    sunlit_fraction=sunlit,
                    generation_w=generation_w(sunlit, bus),
                    environment_heat_w=environment_heat_w(sunlit, np.full(n_slots, 550.0), bus),
                    contacts=tuple(contacts),
                ),
                plane=p,
                isl_neighbours=tuple(sorted(set(names) - {f"sat-{p}-{k}"})),
            )
        )
    return sats


def synthetic_jobs(
    n_jobs: int,
    now_s: float = EPOCH_S,
    horizon_s: float = 3 * 3600.0,
    seed: int = 0,
    training_fraction: float = 0.03,
    n_sats: int = 10,
) -> list[Job]:
    rng = np.random.default_rng(seed + 1)
    jobs: list[Job] = []
    for j in range(n_jobs):
        submit = now_s - rng.uniform(0, 600)
        prio = Priority(int(rng.choice([0, 1, 2], p=[0.3, 0.6, 0.1])))
        if rng.uniform() < training_fraction and n_sats >= 2:
            gang = int(rng.integers(2, min(4, n_sats) + 1))
            jobs.append(
                TrainingJob(
                    job_id=f"train-{j}",
                    submit_s=submit,
                    gang_size=gang,
                    accelerators_per_member=2,
                    work_acc_s=float(rng.uniform(10, 60)) * 3600.0,
                    checkpoint_interval_s=900.0,
                    checkpoint_cost_s=60.0,
                    value_per_acc_h=float(rng.uniform(0.2, 0.6)),
                    priority=Priority.BATCH,
                )
            )
            continue
        acc = int(rng.choice([1, 2, 4], p=[0.5, 0.35, 0.15]))
        dur = float(rng.uniform(5, 40)) * 60.0
        deadline = now_s + rng.uniform(0.2, 1.0) * horizon_s + dur
        jobs.append(
            InferenceJob(
                job_id=f"inf-{j}",
                submit_s=submit,
                deadline_s=deadline,
                work_acc_s=dur * acc,
                accelerators=acc,
                input_mb=float(rng.uniform(10, 300)),
                output_mb=float(rng.uniform(50, 1500)),
                value=round(float(acc * dur / 3600.0 * rng.uniform(0.5, 2.0)), 3),
                priority=prio,
            )
        )
    return jobs


def synthetic_problem(
    n_sats: int,
    n_jobs: int,
    n_slots: int = 180,
    slot_s: float = 60.0,
    seed: int = 0,
    planes: int | None = None,
    soc_fraction: float = INITIAL_SOC_FRACTION,
    temperature_c: float = 35.0,
) -> Problem:
    sats = synthetic_satellites(n_sats, EPOCH_S, n_slots, slot_s, planes, seed)
    jobs = synthetic_jobs(n_jobs, EPOCH_S, n_slots * slot_s, seed, n_sats=n_sats)
    states = {
        s.name: SatelliteState(s.name, soc_fraction * s.bus.battery_capacity_wh, temperature_c)
        for s in sats
    }
    return Problem(EPOCH_S, tuple(sats), tuple(jobs), states, slot_s, n_slots)


def contended_jobs(
    n_jobs: int,
    n_sats: int,
    now_s: float = EPOCH_S,
    horizon_s: float = 3 * 3600.0,
    accelerators_per_sat: int = 4,
    load: float = 1.5,
    training_share: float = 0.1,
    seed: int = 0,
) -> list[Job]:
    """A workload offering `load` times the fleet's accelerator-time over the horizon
    (n_sats x accelerators x horizon): inference jobs with priorities, deadlines and outputs
    that must reach the ground, and training gangs taking `training_share` of the work."""
    rng = np.random.default_rng(seed + 7)
    offered_acc_s = load * n_sats * accelerators_per_sat * horizon_s
    n_train = max(0, round(n_jobs * 0.02)) if n_sats >= 2 else 0
    n_inf = n_jobs - n_train
    train_acc_s = training_share * offered_acc_s
    inf_acc_s = offered_acc_s - train_acc_s
    # Work per job drawn around the mean that gives the offered load, capped so that a job
    # fits in two thirds of the horizon on its accelerators.
    acc = rng.choice([1, 2, 4], size=n_inf, p=[0.45, 0.35, 0.2])
    weight = rng.lognormal(0.0, 0.6, size=n_inf)
    work_acc_s = weight / weight.sum() * inf_acc_s
    dur_s = np.clip(work_acc_s / acc, 300.0, 2 * horizon_s / 3)
    prio = rng.choice([0, 1, 2], size=n_inf, p=[0.3, 0.6, 0.1])
    jobs: list[Job] = []
    for j in range(n_inf):
        d = float(dur_s[j])
        submit = now_s - float(rng.uniform(0, 600))
        slack = float(rng.uniform(0.1, 1.0)) * (horizon_s - d)
        jobs.append(
            InferenceJob(
                job_id=f"inf-{j}",
                submit_s=submit,
                deadline_s=now_s + d + slack,
                work_acc_s=d * int(acc[j]),
                accelerators=int(acc[j]),
                input_mb=float(rng.uniform(10, 300)),
                output_mb=float(rng.uniform(50, 1500)),
                value=round(float(acc[j] * d / 3600.0 * rng.uniform(0.5, 2.0)), 3),
                priority=Priority(int(prio[j])),
            )
        )
    for t in range(n_train):
        gang = int(rng.integers(2, min(4, n_sats) + 1))
        jobs.append(
            TrainingJob(
                job_id=f"train-{t}",
                submit_s=now_s - float(rng.uniform(0, 600)),
                gang_size=gang,
                accelerators_per_member=2,
                work_acc_s=float(train_acc_s / max(n_train, 1) * rng.uniform(0.5, 1.5)),
                value_per_acc_h=float(rng.uniform(0.3, 0.9)),
                priority=Priority.BATCH if rng.uniform() < 0.7 else Priority.STANDARD,
                deadline_s=now_s + horizon_s if rng.uniform() < 0.5 else None,
            )
        )
    return jobs
