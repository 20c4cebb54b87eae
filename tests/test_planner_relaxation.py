"""The heat-aware bound (planner/relaxation.py): it bounds every selection the CP-SAT
model admits (checked against the exact optimum of small problems), and it is tighter than
the relaxations that ignore heat where heat binds."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planner_cases import SLOT_S, T0, problem, sat

from scheduler.forecast.bus import BusParams
from scheduler.planner.assemble import priority_multipliers, score
from scheduler.planner.candidates import enumerate_candidates
from scheduler.planner.cpsat_model import build_model
from scheduler.planner.domain import (
    InferenceJob,
    Priority,
    Problem,
    RunningJob,
    SatelliteState,
    TrainingJob,
    Weights,
)
from scheduler.planner.ledger import contexts
from scheduler.planner.relaxation import build_relaxation, heat_aware_bound
from scheduler.planner.solve import plan, prune_options, relaxed_bound, solve
from scheduler.planner.synthetic import EPOCH_S, contended_jobs, synthetic_satellites

# Only the jobs' value counts: the model's optimum is then the largest value any selection
# it admits earns (the penalties are never negative, and the bound leaves them out).
VALUE_ONLY = Weights(battery_depth_per_kwh=0.0, preemption=0.0)


@st.composite
def small_problems(draw: st.DrawFn) -> tuple[Problem, bool]:
    """1-3 satellites of the default bus (heat and battery bind) in a ring, sun and eclipse
    in random stretches, contacts all along; 2-8 inference jobs of 1-4 accelerators and
    5-35 minutes with deadlines, priorities, values and outputs, and sometimes a training
    gang; a random start temperature and charge, sometimes committed work or a satellite
    not available. And whether candidates are checked alone (False, as at scale, keeps
    candidates that break a limit even alone)."""
    n = draw(st.sampled_from([30, 40, 60]))
    n_sats = draw(st.integers(1, 3))
    bus = BusParams()
    names = [f"s{i}" for i in range(n_sats)]
    sats = []
    for i, name in enumerate(names):
        cut = draw(st.integers(0, n))
        sun = [1.0] * cut + [0.0] * (n - cut)
        if draw(st.booleans()):
            sun = sun[::-1]
        ring = sorted({names[(i - 1) % n_sats], names[(i + 1) % n_sats]} - {name})
        sats.append(sat(name, n, bus, sunlit=sun, contacts=((0, n),), neighbours=ring))
    jobs: list[InferenceJob | TrainingJob] = []
    for j in range(draw(st.integers(2, 8))):
        acc = draw(st.sampled_from([1, 2, 4]))
        minutes = draw(st.integers(5, min(35, n - 2)))
        deadline_slot = draw(st.integers(minutes + 1, n))
        jobs.append(
            InferenceJob(
                f"j{j}",
                T0,
                T0 + deadline_slot * SLOT_S,
                acc * minutes * 60.0,
                accelerators=acc,
                output_mb=draw(st.sampled_from([0.0, 100.0, 30_000.0])),
                value=draw(st.floats(0.1, 5.0)),
                priority=Priority(draw(st.integers(0, 2))),
            )
        )
    if n_sats >= 2 and draw(st.booleans()):
        jobs.append(
            TrainingJob(
                "t",
                T0,
                gang_size=2,
                accelerators_per_member=2,
                work_acc_s=draw(st.floats(3_600.0, 20_000.0)),
                checkpoint_interval_s=600.0,
                value_per_acc_h=draw(st.floats(0.2, 2.0)),
            )
        )
    p = problem(
        sats,
        jobs,
        n,
        soc_fraction=draw(st.floats(0.25, 1.0)),
        temperature_c=draw(st.floats(20.0, 58.0)),
        weights=VALUE_ONLY,
    )
    # Sometimes committed work on the first satellite (accelerators, charge and heat the
    # new work cannot have), or a satellite that is not available.
    states = dict(p.states)
    if draw(st.booleans()):
        first = names[0]
        end_slot = draw(st.integers(1, n))
        acc = draw(st.sampled_from([1, 2, 4]))
        run = RunningJob("run", T0 - 600.0, T0 + end_slot * SLOT_S, acc, acc * 700.0)
        states[first] = replace(states[first], running=(run,))
    if n_sats >= 2 and draw(st.booleans()):
        states[names[-1]] = replace(states[names[-1]], available=False)
    return replace(p, states=states), draw(st.booleans())


def exact_optimum(p: Problem, alone_fit: bool) -> tuple[float, float, float]:
    """(the CP-SAT optimum's value, the heat-aware bound after 0 and 60 steps)."""
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs, opts=replace(prune_options(p), alone_fit=alone_fit))
    mults = priority_multipliers(p, cset)
    model, mv = build_model(p, cset, ctxs, mults)
    out = solve(p, model, mv, time_limit_s=20.0, num_workers=2)
    assert out.status == "OPTIMAL", out.status
    assert out.selection is not None
    best = score(p, ctxs, out.selection, mults, depth=False)[0]
    return (
        best,
        heat_aware_bound(p, ctxs, cset, mults, best, max_iter=0),
        heat_aware_bound(p, ctxs, cset, mults, best, max_iter=60),
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(small_problems())
def test_the_bound_is_never_below_the_exact_optimum(case: tuple[Problem, bool]) -> None:
    p, alone_fit = case
    best, at_zero, stepped = exact_optimum(p, alone_fit)
    tol = 1e-7 * max(abs(best), 1.0)
    assert at_zero >= best - tol
    assert stepped >= best - tol
    assert stepped <= at_zero + tol  # steps only keep a lower bound


def hot_sat(name: str, n: int) -> object:
    """A satellite of the default bus (heat binds) in full sun, contact all along."""
    return sat(name, n, BusParams(), sunlit=1.0, contacts=((0, n),))


def test_a_job_too_hot_to_run_even_alone_earns_nothing_in_the_bound() -> None:
    n = 60
    # 4 accelerators flat out for 50 minutes from 55 C: the node passes 60 C on its own.
    job = InferenceJob("hot", T0, T0 + n * SLOT_S, 4 * 50 * 60.0, accelerators=4, value=3.0)
    p = problem([hot_sat("s", n)], [job], n, temperature_c=55.0, weights=VALUE_ONLY)  # type: ignore[list-item]
    ctxs = contexts(p)
    # As at scale, where candidates are not checked alone (prune_options: alone_fit only
    # for small problems).
    opts = replace(prune_options(p), alone_fit=False)
    cset = enumerate_candidates(p, ctxs, opts=opts)
    mults = priority_multipliers(p, cset)
    assert cset.inference
    assert relaxed_bound(p, ctxs, cset, mults) > 0.0  # the old relaxations ignore heat
    assert heat_aware_bound(p, ctxs, cset, mults, 0.0, max_iter=0) == 0.0
    alone = replace(opts, alone_fit=True)
    assert not enumerate_candidates(p, ctxs, opts=alone).inference  # indeed too hot


def test_two_jobs_that_fit_apart_but_not_together_bound_at_the_linear_optimum() -> None:
    # Two identical 40-minute jobs on a 40-slot horizon: each has one start (slot 0). Each
    # alone stays under the heat limit from 45 C, both together do not; the linear
    # relaxation runs them at x1 + x2 = min over checks of budget / rise of one, and the
    # Lagrangian dual reaches that value from above.
    n = 40
    jobs = [
        InferenceJob(f"j{i}", T0, T0 + n * SLOT_S, 2 * 40 * 60.0, accelerators=2, value=1.0)
        for i in range(2)
    ]
    bus = replace(BusParams(), battery_capacity_wh=1e6)  # heat alone binds
    p = problem(
        [sat("s", n, bus, sunlit=1.0, contacts=((0, n),))],
        jobs,
        n,
        temperature_c=45.0,
        weights=VALUE_ONLY,
    )
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs, opts=prune_options(p))
    mults = priority_multipliers(p, cset)
    one = cset.inference[0][0]
    assert [len(c) for c in cset.inference.values()] == [1, 1] and one.start == 0
    ctx = ctxs[0]
    rise = ctx.thermal_rise_k(one.start, one.slots, one.power_w)  # the ledger's kernel
    assert (rise <= ctx.thermal_budget_k).all() and (2 * rise > ctx.thermal_budget_k).any()
    linear_optimum = min(2.0, float((ctx.thermal_budget_k / rise).min()))
    rel = build_relaxation(p, ctxs, cset, mults)
    assert rel.bound(0.0, max_iter=0)[0] == pytest.approx(2.0)  # both fit alone
    best = plan(p, time_limit_s=5.0, deterministic=True)
    assert best.plan.placed_job_ids() in ({"j0"}, {"j1"})
    bound = rel.bound(best.objective, max_iter=200)[0]
    assert linear_optimum - 1e-9 <= bound <= 1.02 * linear_optimum < 2.0


def test_on_a_contended_problem_the_heat_aware_bound_is_tighter_and_reported() -> None:
    sats = synthetic_satellites(12, EPOCH_S, 180, 60.0, seed=3)
    jobs = contended_jobs(120, 12, EPOCH_S, 180 * 60.0, 4, 1.5, seed=3)
    states = {s.name: SatelliteState(s.name, 0.8 * s.bus.battery_capacity_wh, 35.0) for s in sats}
    p = Problem(EPOCH_S, tuple(sats), tuple(jobs), states, 60.0, 180)
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs, opts=prune_options(p))
    mults = priority_multipliers(p, cset)
    old = relaxed_bound(p, ctxs, cset, mults)
    result = plan(p, time_limit_s=4.0, deterministic=True)
    new = heat_aware_bound(p, ctxs, cset, mults, result.objective, max_iter=40)
    assert result.objective - 1e-6 <= new < old
    # plan() reports the smallest of its bounds, this one among them.
    assert result.best_bound <= min(new, old) + 1e-6 * old
    assert result.best_bound >= result.objective - 1e-6
    again = plan(p, time_limit_s=4.0, deterministic=True)
    assert again.best_bound == result.best_bound  # deterministic mode: a fixed number of steps
