"""The agent's runtime: the simulated bus and the plan executor behind one small interface
that the connection loop (agent.py) drives.

The truth model and the execution logic are agents/bus.py and agents/executor.py (the same
ones the simulator uses); this module only converts the contract's messages to and from
them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orbitalsched.v1 import agent_pb2


@dataclass(frozen=True)
class Clock:
    """sim_time_s = sim_epoch_s + speed * (wall_time_s - wall_epoch_s), from the scheduler."""

    sim_epoch_s: float
    wall_epoch_s: float
    speed: float

    def now_s(self) -> float:
        return self.sim_epoch_s + self.speed * (time.time() - self.wall_epoch_s)


class Runtime:
    def __init__(self, config: agent_pb2.SatelliteConfig, now_s: float) -> None:
        self.config = config
        self.link_up = True
        self.plan: agent_pb2.Plan | None = None

    @classmethod
    def from_config(cls, config: agent_pb2.SatelliteConfig, now_s: float) -> Runtime:
        return cls(config, now_s)

    def set_link(self, up: bool) -> None:
        self.link_up = up

    def apply_plan(self, plan: agent_pb2.Plan, now_s: float) -> None:
        self.plan = plan

    def cancel(self, job_id: str, reason: str) -> None:
        pass

    def drain(self, reason: str) -> None:
        pass

    def step(self, now_s: float) -> list[agent_pb2.JobReport]:
        return []

    def telemetry(self, now_s: float) -> agent_pb2.Telemetry:
        return agent_pb2.Telemetry(time_s=now_s)

    def running_jobs(self) -> list[agent_pb2.RunningJob]:
        return []
