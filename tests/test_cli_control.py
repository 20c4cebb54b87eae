"""orbitctl against a running scheduler, as a user runs it (real subprocesses): submit from
flags and from a TOML file, jobs, sats, plan, cancel; cordon over gRPC; a scheduler that is
not there is one line on stderr and exit status 2."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clusterkit import running_cluster
from conftest import ORBITCTL
from orbitalsched.v1 import cluster_pb2

from scheduler.cluster.local import free_port


def run(
    address: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORBITCTL, "--scheduler", address, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.slow
def test_orbitctl_talks_to_a_running_scheduler(tmp_path: Path) -> None:
    jobs_file = tmp_path / "jobs.toml"
    jobs_file.write_text(
        '[[jobs]]\njob_id = "from-file"\nkind = "JOB_KIND_TRAINING"\n'
        "work_accelerator_s = 7200\naccelerators = 2\ngang_size = 2\n\n"
        '[[jobs]]\njob_id = "file-inf"\nkind = "JOB_KIND_INFERENCE"\n'
        "work_accelerator_s = 600\naccelerators = 1\n"
    )
    with running_cluster(tmp_path / "c", n=2, agents=False) as (cluster, client):
        a = cluster.address
        r = run(a, "submit", "--id", "one", "--work-acc-s", "900", "--deadline-in-s", "7200")
        assert r.returncode == 0 and r.stdout.split() == ["one"], r.stderr
        r = run(a, "submit", "--file", str(jobs_file))
        assert r.returncode == 0 and r.stdout.split() == ["from-file", "file-inf"], r.stderr
        r = run(a, "submit", "--generate", "5", "--seed", "3")
        assert r.returncode == 0 and len(r.stdout.split()) == 5
        r = run(a, "jobs", "--json")
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert len(rows) == 8 and rows[0]["spec"]["jobId"] == "one"
        r = run(a, "cancel", "one", "--reason", "changed my mind")
        assert r.returncode == 0 and "CANCELLED" in r.stdout
        r = run(a, "jobs", "--state", "cancelled")
        assert "one" in r.stdout and "changed my mind" in r.stdout and "file-inf" not in r.stdout
        r = run(a, "sats")
        assert r.returncode == 0 and "sat-0-0" in r.stdout and "sat-0-1" in r.stdout
        r = run(a, "plan")
        assert r.returncode == 0
        r = run(a, "submit", "--work-acc-s", "-1")
        assert r.returncode == 2 and r.stderr.count("\n") == 1
        assert "work_accelerator_s" in r.stderr and "INVALID_ARGUMENT" in r.stderr
        r = run(a, "cancel", "one")
        assert r.returncode == 2 and "already CANCELLED" in r.stderr

        resp = client.call(
            client.cluster.Cordon, cluster_pb2.CordonRequest(satellite_id="sat-0-1", cordoned=True)
        )
        assert resp.satellite.cordoned
        assert "cordoned" in run(a, "sats").stdout
        resp = client.call(
            client.cluster.Drain, cluster_pb2.DrainRequest(satellite_id="sat-0-0", reason="test")
        )
        assert resp.satellite.draining and resp.satellite.cordoned
        assert "cordoned,draining" in run(a, "sats").stdout

    r = run(f"127.0.0.1:{free_port()}", "jobs")
    assert r.returncode == 2 and "no scheduler answers" in r.stderr
    assert r.stderr.count("\n") == 1


def start_cluster_up(tmp_path: Path) -> tuple[subprocess.Popen[str], int, list[str], list[int]]:
    """`orbitctl cluster up` with two satellites, read until it says Ctrl-C: the process,
    its port, what it printed and the pids of the processes it started."""
    port, metrics = free_port(), free_port()
    proc = subprocess.Popen(
        [
            *ORBITCTL,
            "cluster",
            "up",
            "--satellites",
            "2",
            "--port",
            str(port),
            "--metrics-port",
            str(metrics),
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Ctrl-C" in line:
            break
    children = [
        int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    ]
    return proc, port, lines, children


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.slow
def test_cluster_up_runs_until_ctrl_c_and_stops_everything(tmp_path: Path) -> None:
    proc, port, lines, children = start_cluster_up(tmp_path)
    try:
        assert any(f"127.0.0.1:{port}" in line for line in lines), lines
        assert len(children) == 3  # the scheduler and two agents
        # Mutual TLS by default: the operator certificate cluster up made, from the environment.
        assert any("ORBIT_TLS_CERT=" in line for line in lines), lines
        certs = tmp_path / "certs"
        env = {
            **os.environ,
            "ORBIT_TLS_CA": str(certs / "ca.pem"),
            "ORBIT_TLS_CERT": str(certs / "user-operator.pem"),
            "ORBIT_TLS_KEY": str(certs / "user-operator-key.pem"),
        }
        r = run(f"127.0.0.1:{port}", "sats", env=env)
        assert r.returncode == 0 and "sat-0-1" in r.stdout
        plain = {k: v for k, v in os.environ.items() if not k.startswith("ORBIT_TLS_")}
        r = run(f"127.0.0.1:{port}", "sats", env=plain)
        assert r.returncode == 2 and "TLS" in r.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0  # a clean stop, even on a loaded machine
        for pid in children:
            assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived cluster up"
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_a_sigkilled_cluster_up_leaves_no_process_behind(tmp_path: Path) -> None:
    """The children set PR_SET_PDEATHSIG themselves (scheduler/proc/parent.py): killing the
    launcher outright, with no chance to clean up, still stops the scheduler and agents."""
    proc, _, _, children = start_cluster_up(tmp_path)
    try:
        assert len(children) == 3
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_running(pid) for pid in children):
            time.sleep(0.2)
        assert not [pid for pid in children if _running(pid)], "children outlived a SIGKILL"
    finally:
        stop_process(proc)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie (its parent died: init reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
