"""Testbed figures: the image build (cold and warm), its size, the container cluster's
start and its first succeeded job, and its teardown.

    python bench/testbeds.py [--cold] [--agents 4] [--speed 360]

--cold first removes the cached local base (localhost/orbital-base:bookworm), the image and
build/wheels, so the build pays debootstrap, pip wheel and the whole podman build. Then:
  * `make image`'s build (orbital-scheduler:VERSION), wall seconds, and its size;
  * the same build again after touching a source file (the warm case);
  * `orbitctl testbed containers up` to a serving scheduler, wall seconds;
  * submit 4 inference jobs (900 accelerator-seconds each) and wait for the first to
    succeed, wall seconds from the submission (and from the start of `up`);
  * `down`, wall seconds.
Needs podman (or docker) and, for --cold, root and debootstrap. Not a test: prints figures.
Figures are noisy on a shared machine; they are in deploy/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from orbitalsched.v1 import jobs_pb2  # noqa: E402

from scheduler.cluster.local import free_port  # noqa: E402
from scheduler.testbed import containers  # noqa: E402
from scheduler.testbed.engine import find_engine  # noqa: E402
from scheduler.testbed.image import IMAGE, LOCAL_BASE, WHEELS, build_image, image_size_mb  # noqa: E402

J = jobs_pb2


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--cold", action="store_true")
    p.add_argument("--agents", type=int, default=4)
    p.add_argument("--speed", type=float, default=360.0)
    args = p.parse_args()
    engine = find_engine()
    if args.cold:
        for ref in (IMAGE, LOCAL_BASE):
            engine.run("rmi", "--force", ref, check=False)
        shutil.rmtree(WHEELS, ignore_errors=True)
    t0 = time.monotonic()
    build_image(engine=engine)
    first_s = time.monotonic() - t0
    (REPO / "scheduler" / "__init__.py").touch()
    t0 = time.monotonic()
    build_image(engine=engine)
    warm_s = time.monotonic() - t0
    size = image_size_mb(engine, IMAGE)

    name = "orbital-tb-bench"
    t_up = time.monotonic()
    tb = containers.up(
        agents=args.agents, speed=args.speed, port=free_port(), prometheus_port=free_port(),
        name=name, scheduler_args=("--solve-time-limit=2",), engine=engine,
    )  # fmt: skip
    up_s = time.monotonic() - t_up
    try:
        client = tb.client()
        while not all(s.connected for s in client.satellites().satellites):
            time.sleep(0.1)
        now = client.now_s()
        t_submit = time.monotonic()
        client.submit([
            J.JobSpec(job_id=f"b-{i}", kind=J.JOB_KIND_INFERENCE, work_accelerator_s=900,
                      accelerators=1, deadline_s=now + 6 * 3600)
            for i in range(4)
        ])  # fmt: skip
        while not any(j.state == J.JOB_STATE_SUCCEEDED for j in client.all_jobs()):
            if time.monotonic() - t_submit > 300:
                raise SystemExit("no job succeeded within 300 s")
            time.sleep(0.2)
        first_job_s = time.monotonic() - t_submit
        since_up_s = time.monotonic() - t_up
        client.close()
    finally:
        t_down = time.monotonic()
        containers.down(name, engine=engine, quiet=True)
        down_s = time.monotonic() - t_down
    print(f"image build ({'cold' if args.cold else 'as cached'}): {first_s:.0f} s")
    print(f"image build after a source change: {warm_s:.0f} s; size {size:.0f} MB")
    print(f"containers up ({args.agents} agents, serving): {up_s:.1f} s")
    print(f"first job succeeded: {first_job_s:.1f} s after submission at {args.speed:g}x, "
          f"{since_up_s:.1f} s after the start of up")  # fmt: skip
    print(f"down: {down_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
