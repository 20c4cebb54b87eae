"""The committed generated code matches the .proto files, and the package imports as
installed (absolute `orbitalsched.v1` imports, no edits to generated files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orbitalsched.v1 import agent_pb2, cluster_pb2_grpc, jobs_pb2

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_has_not_drifted(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "proto" / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = sorted((tmp_path / "orbitalsched" / "v1").glob("*_pb2*"))
    assert len(fresh) == 9
    stale = [
        f.name
        for f in fresh
        if f.read_bytes() != (ROOT / "proto" / "orbitalsched" / "v1" / f.name).read_bytes()
    ]
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_package_imports_from_anywhere(tmp_path: Path) -> None:
    code = "import orbitalsched.v1.cluster_pb2_grpc as m; print(m.__name__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "orbitalsched.v1.cluster_pb2_grpc"


def test_messages_round_trip() -> None:
    spec = jobs_pb2.JobSpec(job_id="a", kind=jobs_pb2.JOB_KIND_TRAINING, work_accelerator_s=3600)
    msg = agent_pb2.PlanEntry(job_id="a", kind=spec.kind, assignment_version=7)
    assert agent_pb2.PlanEntry.FromString(msg.SerializeToString()) == msg
    assert hasattr(cluster_pb2_grpc, "ClusterServiceStub")
