"""Live element updates against a real scheduler and agents: all or nothing, durable across
a restart, re-forecast, replanned, sent to the agent, their age exported."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import grpc
import pytest
from clusterkit import fetch, running_cluster, wait_for
from conftest import ORBITCTL
from orbitalsched.v1 import cluster_pb2
from sgp4 import exporter
from sgp4.api import WGS72, Satrec

from scheduler.forecast.timeconv import julian_date
from scheduler.scenario import load_scenario

SAT = "sat-0-0"


def _shifted_tle(epoch_s: float, anomaly_shift_deg: float) -> str:
    """sat-0-0's orbit, a quarter of an orbit further along, with elements of epoch_s."""
    sc = load_scenario(None)
    old = sc.constellation.satrecs[sc.constellation.index(SAT)]
    s = Satrec()
    s.sgp4init(
        WGS72, "i", old.satnum, float(julian_date(epoch_s)) - 2433281.5, 0.0, 0.0, 0.0,
        old.ecco, old.argpo, old.inclo, (old.mo + anomaly_shift_deg * 3.14159265 / 180) % 6.2831853,
        old.no_kozai, old.nodeo,
    )  # fmt: skip
    l1, l2 = exporter.export_tle(s)
    return f"{SAT}\n{l1}\n{l2}\n"


def _contacts(client, now: float) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    resp = client.call(
        client.cluster.GetForecast,
        cluster_pb2.GetForecastRequest(satellite_id=SAT, start_s=now, duration_s=6 * 3600),
    )
    return [(round(w.start_s), round(w.end_s)) for w in resp.contacts]


def _update(client, text: str):  # type: ignore[no-untyped-def]
    return client.cluster.UpdateElements(
        cluster_pb2.UpdateElementsRequest(tle_text=text), timeout=30
    )


@pytest.mark.slow
def test_element_update_all_or_nothing_durable_and_sent(tmp_path: Path) -> None:
    with running_cluster(tmp_path, n=2) as (cluster, client):
        wait_for(lambda: client.plan().plan_version >= 1, 60, "a first plan")
        now = client.now_s()
        before = _contacts(client, now)
        good = _shifted_tle(now, 90.0)
        l1, l2 = good.splitlines()[1:]
        broken = good.replace(l1, l1[:-1] + str((int(l1[-1]) + 1) % 10))
        falling = Satrec()
        falling.sgp4init(
            WGS72, "i", 99999, float(julian_date(now)) - 2433281.5, 0.9, 0.0, 0.0, 1e-4, 0.0,
            0.9, 0.0, 16.4 * 2 * 3.14159265 / 1440.0, 0.0,
        )  # fmt: skip
        f1, f2 = exporter.export_tle(falling)
        for text, words in (
            (broken, "checksum"),
            (good.replace(SAT, "sat-9-9"), "not satellites of this run: sat-9-9"),
            (good + f"sat-0-1\n{f1}\n{f2}\n", "sat-0-1: SGP4 fails"),
            ("", "empty"),
        ):
            with pytest.raises(grpc.RpcError) as err:
                _update(client, text)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert words in (err.value.details() or ""), err.value.details()
        assert _contacts(client, now) == before  # nothing of a refused update applies

        resp = _update(client, good)
        assert [e.satellite_id for e in resp.updated] == [SAT]
        assert (resp.updated[0].tle_line1, resp.updated[0].tle_line2) == (l1, l2)
        after = _contacts(client, now)
        assert after != before
        wait_for(
            lambda: "elements of 1 satellite(s) updated" in client.plan().trigger,
            60,
            "a replan for the new elements",
        )

        def metric(port: int, name: str) -> float | None:
            text = fetch(f"http://127.0.0.1:{port}/metrics")
            m = re.search(rf'^{name}{{satellite="{SAT}"}} (\S+)$', text, re.M)
            return float(m.group(1)) if m else None

        age = wait_for(
            lambda: (
                (
                    a := metric(
                        cluster.scheduler_metrics_port or 0, "orbital_satellite_element_age_seconds"
                    )
                )
                is not None
                and a < 3600
                and a
            ),
            20,
            "the element age of the new elements",
        )
        assert 0 <= age < 3600
        assert wait_for(
            lambda: (
                metric(cluster.agent_metrics_ports[SAT], "orbital_agent_element_updates_total")
                == 1.0
            ),
            20,
            "the agent applying the new elements",
        )

        cluster.kill_scheduler()
        cluster.start_scheduler()
        assert _contacts(client, now) == after  # durable: the restarted scheduler uses them

        tle = tmp_path / "new.tle"
        tle.write_text(_shifted_tle(client.now_s(), 180.0))
        r = subprocess.run(
            [*ORBITCTL, "elements", "update", str(tle), "--scheduler", cluster.address],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 0 and f"{SAT}: elements of" in r.stdout, r.stderr
        tle.write_text("garbage\n")
        r = subprocess.run(
            [*ORBITCTL, "elements", "update", str(tle), "--scheduler", cluster.address],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 2 and "INVALID_ARGUMENT" in r.stderr
