"""A bounded fuzz of every RPC against a real scheduler (tests/fuzzkit.py says what is sent
and what is checked); bench/fuzz.py runs the same for 100,000 inputs and more."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusterkit import running_cluster
from fuzzkit import ALL_METHODS, Fuzzer, Input, inputs, report, tracebacks
from hypothesis import HealthCheck, given, settings

from scheduler.cluster.local import LocalCluster

EXAMPLES = int(os.environ.get("ORBIT_FUZZ_EXAMPLES", "400"))
# Quiet scheduler: nothing is lost while the fuzz runs (no agents are expected), and it
# replans only when asked, so the store changes only through the inputs themselves.
FUZZ_ARGS = ("--policy", "greedy", "--agent-timeout", "86400", "--replan-interval", "1e7")


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCluster, Fuzzer]]:
    work = tmp_path_factory.mktemp("fuzz")
    with running_cluster(work / "c", n=3, agents=False, extra=FUZZ_ARGS) as (cluster, _client):
        fuzzer = Fuzzer(cluster.address, Path(str(cluster.db)))
        yield cluster, fuzzer
        fuzzer.close()


@pytest.mark.slow
def test_fuzz_every_rpc(fuzz: tuple[LocalCluster, Fuzzer]) -> None:
    cluster, fuzzer = fuzz

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(ALL_METHODS))
    def one(item: Input) -> None:
        fuzzer.run(item)

    one()
    report(fuzzer)
    assert fuzzer.healthy(), "the scheduler stopped answering health checks"
    assert cluster.alive()
    assert not fuzzer.failures, "\n".join(fuzzer.failures[:20])
    assert {m.rpartition("/")[2] for m in ALL_METHODS} <= {k.split()[0] for k in fuzzer.outcomes}
    found = tracebacks(cluster.workdir / "scheduler.log")
    assert not found, found[0]
