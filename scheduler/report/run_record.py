"""What actually ran on a cluster, recorded from the scheduler's WatchJobs stream: one
interval per (job, satellite) from "started" to the event that ended it. Used by the demo's
summary and Gantt plot."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import grpc
from orbitalsched.v1 import jobs_pb2, jobs_pb2_grpc

ENDING = {"succeeded", "failed", "cancelled", "stopped", "placement lost", "planned", "unplaced"}


@dataclass(frozen=True)
class RunInterval:
    job_id: str
    kind: str
    satellite: str
    start_s: float
    end_s: float
    outcome: str  # succeeded, stopped, ... or "running" when the record ended first


@dataclass
class RunRecorder:
    """Watches every job event in a background thread until stop()."""

    address: str
    intervals: list[RunInterval] = field(default_factory=list)
    events: int = 0
    last_time_s: float = 0.0
    _open: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _channel: grpc.Channel | None = None
    _thread: threading.Thread | None = None

    def start(self) -> RunRecorder:
        self._channel = grpc.insecure_channel(self.address)
        stub = jobs_pb2_grpc.JobServiceStub(self._channel)
        stream = stub.WatchJobs(jobs_pb2.WatchJobsRequest())
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()
        return self

    def _run(self, stream: object) -> None:
        try:
            for event in stream:  # type: ignore[attr-defined]
                self.observe(event)
        except grpc.RpcError:
            pass

    def observe(self, event: jobs_pb2.JobEvent) -> None:
        job = event.job
        kind = jobs_pb2.JobKind.Name(job.spec.kind).removeprefix("JOB_KIND_").lower()
        with self._lock:
            self.events += 1
            self.last_time_s = max(self.last_time_s, event.time_s)
            if event.what == "started":
                for sat in job.satellite_ids:
                    self._open.setdefault((job.spec.job_id, sat), (event.time_s, kind))
            elif event.what in ENDING:
                for (job_id, sat), (start, k) in list(self._open.items()):
                    if job_id == job.spec.job_id:
                        del self._open[(job_id, sat)]
                        self.intervals.append(
                            RunInterval(job_id, k, sat, start, event.time_s, event.what)
                        )

    def stop(self, now_s: float) -> list[RunInterval]:
        """Close what still runs at now_s and return every interval."""
        if self._channel is not None:
            self._channel.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for (job_id, sat), (start, kind) in self._open.items():
                self.intervals.append(RunInterval(job_id, kind, sat, start, now_s, "running"))
            self._open.clear()
            return list(self.intervals)
