"""Retention: terminal jobs older than the retention period are compacted in the background,
and stored plans older than it dropped (only the latest one is ever read).

A compacted job keeps its row (final state, reason and code, times, work done, placement,
submitter, spec without labels) and is still answered by GetJob and ListJobs; its events,
checkpoints, fencing memberships and labels are dropped (store.Store.compact). Work runs on
the event loop in transactions sized to a time budget, with a pause between them, so RPCs
wait at most about one budget; each batch commits whole, so a kill mid-way loses nothing and
a restart continues where it stopped. Ages are simulated time, like every job time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path

from scheduler.server.clock import SimClock
from scheduler.server.metrics import SchedulerMetrics
from scheduler.server.store import Store

log = logging.getLogger("orbit-scheduler")

DEFAULT_RETENTION_S = 7 * 86400.0
# Longest retention accepted (--retention-s): 100 years.
MAX_RETENTION_S = 100 * 365 * 86400.0
DEFAULT_BATCH = 2000
MAX_BATCH = 100_000
# Wall time one compaction transaction aims at, and the pause between two of them (the event
# loop serves requests meanwhile).
BATCH_BUDGET_S = 0.005
PAUSE_S = 0.005
# Stored plans (each up to megabytes of JSON at thousands of satellites) dropped per step.
PLANS_PER_STEP = 5
# Wall seconds between looks for newly expired jobs once nothing is left to compact.
IDLE_S = 5.0


class Compactor:
    """retention_s: simulated seconds a terminal job keeps its history (0: forever).
    max_batch: at most this many jobs per transaction (the budget sizes it below that)."""

    def __init__(
        self,
        store: Store,
        clock: SimClock,
        metrics: SchedulerMetrics,
        retention_s: float = DEFAULT_RETENTION_S,
        max_batch: int = DEFAULT_BATCH,
    ) -> None:
        if not (math.isfinite(retention_s) and 0.0 <= retention_s <= MAX_RETENTION_S):
            raise ValueError(f"retention_s: expected 0 to {MAX_RETENTION_S:g}, got {retention_s}")
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch: expected 1 to {MAX_BATCH}, got {max_batch}")
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.retention_s = retention_s
        self.max_batch = max_batch
        self.batch = min(100, max_batch)

    def step(self) -> int:
        """Compact one batch of expired jobs and drop a few expired plans; returns how many
        of both. The next batch is sized so that it takes about BATCH_BUDGET_S."""
        if self.retention_s <= 0:
            return 0
        now = self.clock.now_s()
        t0 = time.perf_counter()
        n = self.store.compact(now - self.retention_s, now, self.batch)
        took_s = time.perf_counter() - t0
        if plans := self.store.drop_plans(now - self.retention_s, PLANS_PER_STEP):
            self.metrics.plans_dropped_total.inc(plans)
        if n:
            self.metrics.jobs_compacted_total.inc(n)
            if n == self.batch:
                per_job_s = max(took_s / n, 1e-7)
                target = int(BATCH_BUDGET_S / per_job_s)
                self.batch = max(1, min(self.max_batch, target, 2 * self.batch))
        return n + plans

    def update_size(self) -> None:
        total, free = self.store.size_bytes()
        wal = Path(self.store.path + "-wal")
        wal_bytes = wal.stat().st_size if self.store.path != ":memory:" and wal.exists() else 0
        self.metrics.store_size(total + wal_bytes, free)

    async def run(self) -> None:
        """Forever: compact while jobs are expired (pausing between batches), then look
        again every IDLE_S."""
        while True:
            total = 0
            try:
                while (n := self.step()) > 0:
                    total += n
                    await asyncio.sleep(PAUSE_S)
                self.update_size()
            except Exception:
                log.exception("compaction failed")
            if total:
                log.info("compacted %d jobs older than %.0f s", total, self.retention_s)
            await asyncio.sleep(IDLE_S)
