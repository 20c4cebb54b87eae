"""Where partition solves run: a local process pool (default, one process per core) or
Ray tasks on an existing cluster (`pip install 'orbital-scheduler[ray]'`).

A solve task is a CP-SAT model (with its hint) in protobuf text format (OR-Tools' Python
model proto parses text, not binary) and the solver parameters; the reply carries the
status, objective, bound and the values of the decision literals. The model is built in the
planner's process, so a worker needs nothing but OR-Tools: the same text gives the same
answer wherever it is solved (in deterministic mode, bit for bit).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from scheduler.proc.parent import die_with_parent

BACKENDS = ("local", "thread", "ray")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SolveTask:
    model: str  # CpModelProto in text format (model_text)
    literals: tuple[int, ...]  # variable indices whose values come back
    time_limit_s: float
    num_workers: int = 1
    seed: int = 0
    deterministic: bool = False


@dataclass(frozen=True)
class SolveReply:
    status: str
    objective: float  # raw model units (VALUE_SCALE x value)
    bound: float
    wall_s: float
    first_solution_s: float | None
    values: bytes  # one byte (0/1) per literal of the task; empty without a solution


def configure(params: Any, time_limit_s: float, num_workers: int, seed: int, det: bool) -> None:
    """Solver parameters of every solve: time limit, workers and seed always set; in
    deterministic mode one worker stops on deterministic time (same input, same plan)."""
    params.random_seed = seed
    if det:
        params.num_workers = 1
        params.max_deterministic_time = max(time_limit_s, 0.05)
        # Only a safety net: a wall-clock stop would make the answer depend on the load.
        params.max_time_in_seconds = max(100 * time_limit_s, 30.0)
    else:
        params.num_workers = max(1, num_workers)
        params.max_time_in_seconds = max(time_limit_s, 0.05)
    params.repair_hint = False
    # Presolve of these dense linear rows costs more than it gives (measured: 3 s of presolve
    # on a 2,800-literal model); keep it light and let the search start from the hint.
    params.max_presolve_iterations = 1
    params.symmetry_level = 0
    params.cp_model_probing_level = 0
    params.find_big_linear_overlap = False


def run_task(task: SolveTask) -> SolveReply:
    """Solve one serialized model (in a pool process, a Ray task or this process)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    if not model.proto.parse_text_format(task.model):
        raise ValueError("solve task: the model is not a CpModelProto in text format")
    solver = cp_model.CpSolver()
    configure(solver.parameters, task.time_limit_s, task.num_workers, task.seed, task.deterministic)
    t0 = time.perf_counter()
    first: list[float] = []

    class _First(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            if not first:
                first.append(time.perf_counter() - t0)

    status = solver.solve(model, _First())
    wall = time.perf_counter() - t0
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return SolveReply(name, float("nan"), float("nan"), wall, None, b"")
    response = solver.response_proto
    values = bytes(1 if response.solution[i] else 0 for i in task.literals)
    return SolveReply(
        name,
        solver.objective_value,
        solver.best_objective_bound,
        wall,
        first[0] if first else None,
        values,
    )


def model_text(model: Any) -> str:
    """A CpModel in protobuf text format (written by OR-Tools' C++ exporter)."""
    tmp = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=tmp) as d:
        path = os.path.join(d, "model.txt")
        if not model.export_to_file(path):
            raise RuntimeError("OR-Tools could not export the model")
        with open(path, encoding="utf-8") as f:
            return f.read()


def _import_solver() -> None:
    from ortools.sat.python import cp_model  # noqa: F401


class Backend(Protocol):
    name: str
    workers: int

    def submit(self, task: SolveTask) -> Future[SolveReply]: ...


class ThreadBackend:
    """Solves in this process on threads (CP-SAT releases the GIL): no start-up cost; for
    small problems and for callers that cannot start processes."""

    name = "thread"

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers)

    def submit(self, task: SolveTask) -> Future[SolveReply]:
        return self._pool.submit(run_task, task)


class LocalBackend:
    """A pool of worker processes on this machine, one per core by default (started on
    first use with the spawn method: OR-Tools threads do not survive a fork)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._fallback: ThreadBackend | None = None
        self._lock = threading.Lock()

    def submit(self, task: SolveTask) -> Future[SolveReply]:
        with self._lock:
            if self._fallback is not None:
                return self._fallback.submit(task)
            if self._pool is None:
                self._pool = self._start()
            pool = self._pool
        try:
            return pool.submit(run_task, task)
        except (BrokenProcessPool, RuntimeError) as exc:
            # A worker could not start (for example a script without an
            # `if __name__ == "__main__":` guard, which spawn re-imports): solve here.
            log.warning("planner process pool unusable (%s); solving in this process", exc)
            with self._lock:
                self._fallback = ThreadBackend(self.workers)
                return self._fallback.submit(task)

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,  # no solver outlives the planner's process
            initargs=(os.getpid(), signal.SIGKILL),
        )

    def warm(self) -> None:
        """Start the worker processes now (each imports OR-Tools, about a second), so that
        the first solves do not wait for them."""
        with self._lock:
            if self._fallback is not None:
                return
            if self._pool is None:
                self._pool = self._start()
            pool = self._pool
        with contextlib.suppress(BrokenProcessPool, RuntimeError):
            for _ in range(self.workers):
                pool.submit(_import_solver)

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


class RayBackend:
    """Partition solves as Ray tasks on an existing Ray cluster (e.g. KubeRay): `address`
    as `ray.init` takes it ("auto", "ray://host:10001", "local" for a new local instance).
    The task function ships with this package; workers need `orbital-scheduler[ray]`."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise RuntimeError(
                "the ray backend needs Ray: pip install 'orbital-scheduler[ray]'"
            ) from exc
        self._ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
            if address and address != "local":
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
                kwargs["include_dashboard"] = False
            ray.init(**kwargs)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, workers or cpus)
        self._remote = ray.remote(num_cpus=1)(run_task)

    def submit(self, task: SolveTask) -> Future[SolveReply]:
        ref = self._remote.remote(task)
        fut: Future[SolveReply] = ref.future()
        return fut


_DEFAULT: Backend | None = None
_DEFAULT_LOCK = threading.Lock()


def default_backend() -> Backend:
    """The process-wide backend (a LocalBackend unless `set_default_backend` chose one)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = LocalBackend()
        return _DEFAULT


def set_default_backend(backend: Backend | None) -> None:
    global _DEFAULT
    with _DEFAULT_LOCK:
        old, _DEFAULT = _DEFAULT, backend
    if isinstance(old, LocalBackend) and old is not backend:
        old.shutdown()


def make_backend(name: str, address: str | None = None, workers: int | None = None) -> Backend:
    """A backend by name: "local" (process pool), "thread" (this process) or "ray"."""
    if name == "local":
        return LocalBackend(workers)
    if name == "thread":
        return ThreadBackend(workers or 1)
    if name == "ray":
        return RayBackend(address, workers)
    raise ValueError(f"planner backend: expected one of {', '.join(BACKENDS)}, got {name!r}")


def gather(futures: Sequence[Future[SolveReply]]) -> list[SolveReply]:
    return [f.result() for f in futures]


@atexit.register
def _shutdown() -> None:
    if isinstance(_DEFAULT, LocalBackend):
        _DEFAULT.shutdown()
