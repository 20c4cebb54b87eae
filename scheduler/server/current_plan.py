"""The plan in force, indexed by job: read by the job lifecycle (placements, the next block
of a stopped job), by dissemination (each satellite's entries) and by the replanner (what is
committed)."""

from __future__ import annotations

from scheduler.planner.domain import PlanItem
from scheduler.server.model import PlanRecord


class CurrentPlan:
    def __init__(self, record: PlanRecord | None = None) -> None:
        self.record: PlanRecord | None = None
        self.by_job: dict[str, list[PlanItem]] = {}
        self.set(record)

    def set(self, record: PlanRecord | None) -> None:
        self.record = record
        self.by_job = {}
        if record is not None:
            for item in record.plan.items:
                self.by_job.setdefault(item.job_id, []).append(item)

    @property
    def version(self) -> int:
        return self.record.version if self.record else 0

    def items(self, job_id: str, satellite: str | None = None) -> list[PlanItem]:
        """The plan's items of a job, on one satellite or all."""
        items = self.by_job.get(job_id, [])
        return items if satellite is None else [i for i in items if i.satellite == satellite]
