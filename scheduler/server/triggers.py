"""Replan requests: what asks for a new plan, queued for the replanning loop.

The job lifecycle and the agent sessions request replans through this queue, built before
them and handed to the replanner at construction (build_server), so nothing is wired late.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum


class ReplanTrigger(StrEnum):
    """What asks for a new plan; the value is the `cause` label of orbital_plans_total."""

    SUBMITTED = "submitted"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    LOST = "lost"
    RETURNED = "returned"
    CORDONED = "cordoned"
    DRAINED = "drained"
    TELEMETRY = "telemetry"
    PERIODIC = "periodic"
    STARTUP = "startup"
    REQUESTED = "requested"
    ELEMENTS = "elements"


class ReplanRequests:
    def __init__(self) -> None:
        self.pending: list[tuple[ReplanTrigger, str]] = []
        self.wake = asyncio.Event()

    def request(self, trigger: ReplanTrigger, detail: str = "") -> None:
        """detail: the sentence a plan records as its trigger (default: the trigger)."""
        self.pending.append((trigger, detail or trigger.value))
        self.wake.set()

    def take(self) -> list[tuple[ReplanTrigger, str]]:
        self.wake.clear()
        out, self.pending = self.pending, []
        return out
