"""plan(): determinism, warm start, decomposition, never below greedy, the validator's own
teeth, and problems built from the default scenario's forecasts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planner_cases import T0, assert_valid, problem, sat

from scheduler.forecast.bus import BusParams
from scheduler.planner import InferenceJob, Plan, PlanItem, SatelliteState
from scheduler.planner.candidates import enumerate_candidates
from scheduler.planner.greedy import greedy_select
from scheduler.planner.ledger import contexts
from scheduler.planner.problem_builder import forecast_book, problem_at
from scheduler.planner.solve import partitions, plan, prune_options
from scheduler.planner.synthetic import synthetic_jobs, synthetic_problem
from scheduler.planner.validator import validate_plan
from scheduler.scenario import load_scenario


@pytest.mark.slow
def test_same_input_same_plan_in_deterministic_mode() -> None:
    p = synthetic_problem(6, 40, n_slots=90, seed=3)
    a = plan(p, time_limit_s=0.4, seed=7, deterministic=True)
    b = plan(p, time_limit_s=0.4, seed=7, deterministic=True)
    assert a.plan.to_dict() == b.plan.to_dict()
    assert a.objective == b.objective


def test_cpsat_is_never_below_greedy_and_reports_bound_and_gap() -> None:
    p = synthetic_problem(9, 60, n_slots=120, seed=1, planes=3)
    result = plan(p, time_limit_s=1.5, num_workers=2)
    assert_valid(p, result.plan)
    assert result.objective >= result.greedy_objective - 1e-6
    assert result.best_bound >= result.objective - 1e-6
    assert 0.0 <= result.gap < 1.0
    assert result.status in ("OPTIMAL", "FEASIBLE", "FALLBACK")
    placed = result.plan.placed_job_ids()
    assert placed | {u.job_id for u in result.plan.unplaced} == {j.job_id for j in p.jobs}
    assert not placed & {u.job_id for u in result.plan.unplaced}


def test_decomposition_by_plane_gives_each_job_one_partition() -> None:
    p = synthetic_problem(12, 80, n_slots=120, seed=2, planes=4)
    ctxs = contexts(p)
    cset = enumerate_candidates(p, ctxs, opts=prune_options(p))
    parts = partitions(p, cset, greedy_select(p, ctxs, cset), max_literals=200)
    assert len(parts) >= 2
    seen = [j for part in parts for j in [*part.inference, *part.training]]
    assert len(seen) == len(set(seen))
    result = plan(p, time_limit_s=1.5, partition_literals=200)
    assert result.partitions == len(parts)
    assert_valid(p, result.plan)
    assert result.objective >= result.greedy_objective - 1e-6


def test_warm_start_from_the_previous_plan() -> None:
    p = synthetic_problem(6, 30, n_slots=90, seed=4)
    first = plan(p, time_limit_s=1.0)
    again = plan(p, time_limit_s=1.0, previous=first.plan)
    assert again.plan.version == first.plan.version + 1
    assert again.objective >= first.objective - 1e-6
    assert_valid(p, again.plan)


def test_plan_round_trips_through_a_dict() -> None:
    p = synthetic_problem(4, 20, n_slots=60, seed=5)
    result = plan(p, policy="greedy")
    assert Plan.from_dict(result.plan.to_dict()) == result.plan


def test_validator_catches_what_the_planner_must_not_do() -> None:
    # A real bus in eclipse at 900 Wh and 55 C: the same 4-accelerator job twice at once
    # breaks the accelerators, the battery floor and "one placement per job".
    s = sat("sat-0", 30, bus=BusParams(), sunlit=0.0, contacts=[(0, 30)])
    job = InferenceJob("a", T0, T0 + 1800, 4 * 1200.0, accelerators=4)
    p = problem([s], [job], 30, soc_fraction=900.0 / 2200.0, temperature_c=55.0)
    item = PlanItem("sat-0", "a", "inference", T0, T0 + 1200, 4, 2800.0)
    kinds = {v.kind for v in validate_plan(p, Plan(1, T0, T0, T0 + 1800, items=(item, item)))}
    assert {"accelerators", "battery", "inference"} <= kinds
    # In full sun at 59 C, one of them crosses the temperature limit (nonlinear model).
    hot = problem([sat("sat-0", 30, bus=BusParams())], [job], 30, temperature_c=59.0)
    kinds = {v.kind for v in validate_plan(hot, Plan(1, T0, T0, T0 + 1800, items=(item,)))}
    assert kinds == {"thermal"}


def test_problem_from_the_default_scenario_forecasts() -> None:
    sc = load_scenario(None)
    book = forecast_book(sc.constellation, sc.stations, sc.bus, sc.epoch_s, 4 * 3600.0)
    states = {n: SatelliteState(n, 0.8 * sc.bus.battery_capacity_wh, 35.0) for n in book.names}
    jobs = synthetic_jobs(60, sc.epoch_s, 3 * 3600.0, seed=0, n_sats=len(book.names))
    p = problem_at(book, sc.epoch_s, 190, jobs, states)
    assert p.n_slots == 190 and len(p.satellites) == len(sc.constellation.names)
    assert all(len(s.isl_neighbours) == 2 for s in p.satellites)  # in-plane ring
    eclipsed = sum(float((s.forecast.sunlit_fraction < 0.5).mean()) for s in p.satellites)
    assert 0.2 < eclipsed / len(p.satellites) < 0.45
    result = plan(p, time_limit_s=1.5)
    assert_valid(p, result.plan)
    assert result.value > 0
    with pytest.raises(ValueError, match="outside the forecast book"):
        problem_at(book, sc.epoch_s - 60.0, 10, jobs, states)


@settings(max_examples=6, deadline=None)
@given(
    n_sats=st.integers(2, 8),
    n_jobs=st.integers(1, 40),
    seed=st.integers(0, 10_000),
    soc_fraction=st.floats(0.25, 1.0),
    temperature_c=st.floats(0.0, 58.0),
)
def test_every_plan_respects_every_constraint(
    n_sats: int, n_jobs: int, seed: int, soc_fraction: float, temperature_c: float
) -> None:
    p = synthetic_problem(
        n_sats,
        n_jobs,
        n_slots=60,
        seed=seed,
        soc_fraction=soc_fraction,
        temperature_c=temperature_c,
    )
    for policy in ("greedy", "cpsat"):
        result = plan(p, policy=policy, time_limit_s=0.3, num_workers=1)
        assert_valid(p, result.plan)
        assert len(result.plan.unplaced) + len(result.plan.placed_job_ids()) == len(p.jobs)


def test_importing_the_package_does_not_load_ortools() -> None:
    # OR-Tools and grpc_tools.protoc must not share a process (DESIGN.md section 9): the
    # dataclasses come without the solver; plan() loads it on first use.
    code = (
        "import sys, scheduler.planner as p; "
        "assert not any(m.startswith('ortools') for m in sys.modules); "
        "p.plan; assert 'ortools' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
