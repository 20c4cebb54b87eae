"""The one workload generator: reproducible, inside its documented ranges, and accepted by
the scheduler's own validation (the demo and `submit --generate` send these)."""

from __future__ import annotations

from dataclasses import replace

from scheduler.server.convert import spec_to_pb
from scheduler.server.validate import Limits, job_specs_from_pb
from scheduler.sim.workload import batch_workload, offered_rate_per_hour, poisson_workload

T0 = 1_750_000_000.0
LIMITS = Limits(n_satellites=30, max_accelerators=4, max_power_w=2800.0)


def test_poisson_workload_is_reproducible_and_in_range() -> None:
    rate = offered_rate_per_hour(120, 1.5)
    a = poisson_workload(T0, 6.0, seed=4, rate_per_hour=rate, training_jobs=2)
    assert a == poisson_workload(T0, 6.0, seed=4, rate_per_hour=rate, training_jobs=2)
    assert a != poisson_workload(T0, 6.0, seed=5, rate_per_hour=rate, training_jobs=2)
    train = [x for x in a if x.spec.kind == "training"]
    inf = [x for x in a if x.spec.kind == "inference"]
    assert len(train) == 2 and all(x.submit_s == T0 for x in train)
    assert all(2 <= x.spec.gang_size <= 3 for x in train)
    assert all(20 * 3600 <= x.spec.work_acc_s <= 80 * 3600 for x in train)
    # ~225 arrivals per hour offered at 1.5x of 120 accelerators; Poisson within 5 sigma
    assert abs(len(inf) - 6 * rate) < 5 * (6 * rate) ** 0.5
    times = [x.submit_s for x in inf]
    assert times == sorted(times) and times[0] > T0 and times[-1] < T0 + 6 * 3600
    for x in inf:
        s = x.spec
        duration_s = s.work_acc_s / s.accelerators
        assert s.accelerators in (1, 2, 4) and 600 <= duration_s <= 2400 + 1e-6
        assert 3600 - 1 <= s.deadline_s - x.submit_s - duration_s <= 3 * 3600 + 1
        assert s.value > 0 and 100 <= s.output_mb <= 2000


def test_batch_workload_passes_the_schedulers_validation() -> None:
    specs = batch_workload(40, T0, seed=3, prefix="gen3")
    assert len({s.job_id for s in specs}) == 40
    assert {s.kind for s in specs} == {"inference", "training"}
    accepted = job_specs_from_pb([spec_to_pb(s) for s in specs], T0, LIMITS)
    # what the server stores is what was generated (value included)
    assert [replace(s, labels={}) for s in accepted] == [replace(s, labels={}) for s in specs]
