"""`make image`: the orbital-scheduler image, built here without a registry.

The Dockerfile's base is `python:3.11-slim`; where it cannot be pulled, a Debian bookworm base
made with debootstrap (with python3 and python3-venv in it) is imported once and reused
(image `localhost/orbital-base:bookworm`). The project's wheels and those of its pinned
dependencies are built on the host (pip inside a container build may not trust this machine's
HTTPS proxy) into build/wheels and installed offline in the image.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scheduler import __version__
from scheduler.errors import UserError
from scheduler.testbed.engine import REPO, STATE_DIR, Engine, find_engine

IMAGE = f"orbital-scheduler:{__version__}"
PROMETHEUS_IMAGE = f"orbital-prometheus:{__version__}"
DEFAULT_BASE = "docker.io/library/python:3.11-slim"
LOCAL_BASE = "localhost/orbital-base:bookworm"
WHEELS = REPO / "build" / "wheels"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"


def log(message: str) -> None:
    print(f"image: {message}", flush=True)


def source_tree() -> Path:
    if not (REPO / "pyproject.toml").is_file() or not (REPO / "deploy" / "Dockerfile").is_file():
        raise UserError(f"building the image needs the source tree; {REPO} is not one")
    return REPO


def choose_base(engine: Engine, base: str | None) -> str:
    """The given base, else python:3.11-slim if present or pullable, else the local base."""
    if base:
        if not engine.image_exists(base):
            engine.run("pull", base, timeout_s=900)
        return base
    if engine.image_exists(DEFAULT_BASE):
        return DEFAULT_BASE
    pulled = engine.run("pull", DEFAULT_BASE, check=False, timeout_s=900)
    if pulled.returncode == 0:
        return DEFAULT_BASE
    if engine.image_exists(LOCAL_BASE):
        log(f"{DEFAULT_BASE} cannot be pulled; using the cached local base {LOCAL_BASE}")
        return LOCAL_BASE
    log(f"{DEFAULT_BASE} cannot be pulled; building a local Debian base with debootstrap")
    build_local_base(engine)
    return LOCAL_BASE


def build_local_base(engine: Engine) -> None:
    """debootstrap --variant=minbase bookworm (with Python), imported as LOCAL_BASE."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise UserError("no base image: install debootstrap (apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise UserError("debootstrap needs root; or pass --base IMAGE with Python 3.11")
    mirror = os.environ.get("ORBIT_DEBIAN_MIRROR", DEBIAN_MIRROR)
    t0 = time.monotonic()
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=STATE_DIR) as tmp:
        rootfs = Path(tmp) / "rootfs"
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm",
             str(rootfs), mirror],
            capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise UserError(f"debootstrap failed: {proc.stdout[-1500:]}{proc.stderr[-500:]}")
        # Smaller and reproducible enough: no apt lists or caches in the base.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (rootfs / junk).glob("*"):
                if f.is_file():
                    f.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [engine.binary, "import", "--change", 'CMD ["/bin/bash"]', "-", LOCAL_BASE],
            stdin=tar.stdout, env=engine.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        if imported.returncode != 0:
            raise UserError(f"{engine.name} import failed: {imported.stderr[-1000:]}")
    log(f"local base {LOCAL_BASE} built in {time.monotonic() - t0:.0f} s (cached from now on)")


def build_wheels() -> None:
    """Wheels of the pinned dependencies (build/wheels/deps, once per pyproject.toml) and of
    the project (build/wheels/project, every time): the image caches the first."""
    repo = source_tree()
    deps, project = WHEELS / "deps", WHEELS / "project"
    digest = hashlib.sha256((repo / "pyproject.toml").read_bytes()).hexdigest()
    stamp = WHEELS / "deps.stamp"
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir"]
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    t0 = time.monotonic()
    if not stamp.exists() or stamp.read_text() != digest:
        log("building wheels of the pinned dependencies on the host (pip wheel)")
        shutil.rmtree(deps, ignore_errors=True)
        _pip([*pip, str(deps), str(repo)])
        for wheel in deps.glob("orbital_scheduler-*.whl"):
            wheel.rename(project / wheel.name)
        stamp.write_text(digest)
    else:
        _pip([*pip, str(project), "--no-deps", str(repo)])
    log(f"wheels in {WHEELS.relative_to(repo)} ({time.monotonic() - t0:.0f} s)")


def _pip(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise UserError(f"pip wheel failed: {proc.stderr[-1500:]}")


def build_image(base: str | None = None, tag: str = IMAGE, engine: Engine | None = None) -> str:
    engine = engine or find_engine()
    repo = source_tree()
    t0 = time.monotonic()
    base_image = choose_base(engine, base)
    build_wheels()
    log(f"{engine.name} build -t {tag} (base {base_image})")
    engine.stream(
        "build", "--file", str(repo / "deploy" / "Dockerfile"), "--build-arg",
        f"BASE_IMAGE={base_image}", "--tag", tag, str(repo),
    )  # fmt: skip
    # Earlier builds' final images, now untagged (not the cached stages: they lack the label).
    engine.run(
        "image", "prune", "--force", "--filter", "label=org.orbital.image=orbital-scheduler",
        check=False,
    )  # fmt: skip
    log(f"{tag} built in {time.monotonic() - t0:.0f} s, {image_size_mb(engine, tag):.0f} MB")
    return tag


def build_prometheus_image(engine: Engine, base_image: str, tag: str = PROMETHEUS_IMAGE) -> str:
    """Debian's Prometheus in a container on the same base as the project image."""
    repo = source_tree()
    engine.stream(
        "build", "--file", str(repo / "deploy" / "prometheus" / "Dockerfile"), "--build-arg",
        f"BASE_IMAGE={base_image}", "--tag", tag, str(repo / "deploy" / "prometheus"),
    )  # fmt: skip
    return tag


def image_size_mb(engine: Engine, ref: str) -> float:
    out = engine.run("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip()
    return int(out) / 1e6 if out.isdigit() else float("nan")
