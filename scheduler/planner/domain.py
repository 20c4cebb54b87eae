"""The planner's domain: problem in, plan out. Plain dataclasses, no protobuf.

Absolute times are POSIX seconds UTC (`*_s`), power in W, energy in Wh, sizes in MB,
rates in Mbit/s. See README.md in this package for the contract.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from scheduler.forecast.bus import BusParams

FloatArray = NDArray[np.float64]


class Priority(IntEnum):
    """Job class; a higher class dominates value (one critical job beats any number of
    standard ones)."""

    BATCH = 0
    STANDARD = 1
    CRITICAL = 2


@dataclass(frozen=True)
class ContactWindow:
    station: str
    start_s: float
    end_s: float
    downlink_mbps: float

    @property
    def volume_mb(self) -> float:
        return max(self.end_s - self.start_s, 0.0) * self.downlink_mbps / 8.0


@dataclass(frozen=True, eq=False)
class SatelliteForecast:
    """One value per slot of the problem horizon (shape (n_slots,))."""

    sunlit_fraction: FloatArray
    generation_w: FloatArray
    environment_heat_w: FloatArray
    contacts: tuple[ContactWindow, ...] = ()


@dataclass(frozen=True, eq=False)
class Satellite:
    name: str
    bus: BusParams
    forecast: SatelliteForecast
    plane: int = -1
    isl_neighbours: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunningJob:
    job_id: str
    start_s: float
    end_s: float
    accelerators: int
    power_w: float


@dataclass(frozen=True)
class SatelliteState:
    name: str
    soc_wh: float
    temperature_c: float
    running: tuple[RunningJob, ...] = ()
    available: bool = True


@dataclass(frozen=True)
class TrainingProgress:
    job_id: str
    done_acc_s: float = 0.0
    last_checkpoint_s: float | None = None
    gang: tuple[str, ...] = ()


@dataclass(frozen=True)
class InferenceJob:
    job_id: str
    submit_s: float
    deadline_s: float
    work_acc_s: float
    accelerators: int = 1
    power_w: float | None = None
    input_mb: float = 0.0
    output_mb: float = 0.0
    value: float = 1.0
    priority: Priority = Priority.STANDARD

    @property
    def kind(self) -> Literal["inference"]:
        return "inference"

    @property
    def duration_s(self) -> float:
        return self.work_acc_s / self.accelerators

    def draw_w(self, bus: BusParams) -> float:
        return (
            self.power_w
            if self.power_w is not None
            else self.accelerators * bus.accelerator_power_w
        )


@dataclass(frozen=True)
class TrainingJob:
    job_id: str
    submit_s: float
    gang_size: int
    accelerators_per_member: int
    work_acc_s: float  # the whole gang's, accelerator-seconds
    checkpoint_interval_s: float = 900.0
    checkpoint_cost_s: float = 60.0
    value_per_acc_h: float = 1.0
    priority: Priority = Priority.BATCH
    power_w_per_member: float | None = None
    deadline_s: float | None = None

    @property
    def kind(self) -> Literal["training"]:
        return "training"

    def draw_w(self, bus: BusParams) -> float:
        if self.power_w_per_member is not None:
            return self.power_w_per_member
        return self.accelerators_per_member * bus.accelerator_power_w


Job = InferenceJob | TrainingJob


@dataclass(frozen=True)
class Weights:
    """Objective weights, in value units."""

    lateness_per_s: float = 0.001
    late_grace_s: float = 1800.0
    battery_depth_per_kwh: float = 0.01
    preemption: float = 0.5
    thermal_check_slots: int = 5
    # Fraction of a job's value the objective forgoes when it starts at the end of the
    # horizon rather than now (linear in between): in a rolling horizon, work pushed late is
    # at risk of being displaced, so earlier is better at equal value. Reported values are
    # never discounted.
    start_discount: float = 0.1


@dataclass(frozen=True, eq=False)
class Problem:
    now_s: float
    satellites: tuple[Satellite, ...]
    jobs: tuple[Job, ...]
    states: Mapping[str, SatelliteState]
    slot_s: float = 60.0
    n_slots: int = 180
    training_progress: Mapping[str, TrainingProgress] = field(default_factory=dict)
    weights: Weights = field(default_factory=Weights)

    @property
    def horizon_end_s(self) -> float:
        return self.now_s + self.n_slots * self.slot_s

    def slot_start_s(self, k: int) -> float:
        return self.now_s + k * self.slot_s


@dataclass(frozen=True)
class PlanItem:
    satellite: str
    job_id: str
    kind: Literal["inference", "training"]
    start_s: float
    end_s: float
    accelerators: int
    power_w: float
    checkpoint_times_s: tuple[float, ...] = ()
    delivery_s: float | None = None
    station: str | None = None


class ReasonCode(StrEnum):
    """Why work does not fit (ledger.Misfit) or a job is not placed (Unplaced). One list for
    the planner, the scheduler's store and the contract (proto ReasonCode)."""

    BATTERY = "BATTERY"  # the battery would cross its floor (in an eclipse)
    THERMAL = "THERMAL"  # the node would pass its temperature limit
    ACCELERATORS = "ACCELERATORS"  # not enough free accelerators
    DOWNLINK_VOLUME = "DOWNLINK_VOLUME"  # the contacts cannot carry the output in time
    GANG = "GANG"  # not enough connected satellites for the gang
    NO_CONTACT = "NO_CONTACT"  # no contact for its input or output
    DEADLINE = "DEADLINE"  # cannot be done before its deadline
    HORIZON = "HORIZON"  # does not fit in the planning horizon (may in a later one)
    CAPACITY = "CAPACITY"  # fits, but other work won
    NO_CANDIDATE_SATELLITE = "NO_CANDIDATE_SATELLITE"  # no satellite is available
    DONE = "DONE"  # all work is done


@dataclass(frozen=True)
class Unplaced:
    """A job the plan does not place: why, as a ReasonCode (given as its value or the enum;
    an unknown code is a ValueError) and as a sentence for people."""

    job_id: str
    code: str
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", ReasonCode(self.code))


@dataclass(frozen=True)
class Plan:
    version: int
    created_s: float
    horizon_start_s: float
    horizon_end_s: float
    items: tuple[PlanItem, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()

    def placed_job_ids(self) -> set[str]:
        return {i.job_id for i in self.items}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Plan:
        items = tuple(
            PlanItem(**{**i, "checkpoint_times_s": tuple(i.get("checkpoint_times_s", ()))})
            for i in d.get("items", ())
        )
        unplaced = tuple(Unplaced(**u) for u in d.get("unplaced", ()))
        return cls(
            version=int(d["version"]),
            created_s=float(d["created_s"]),
            horizon_start_s=float(d["horizon_start_s"]),
            horizon_end_s=float(d["horizon_end_s"]),
            items=items,
            unplaced=unplaced,
        )


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    policy: str
    status: str
    objective: float
    best_bound: float = math.nan
    gap: float = math.nan
    solve_time_s: float = 0.0
    first_solution_s: float | None = None
    value: float = 0.0
    greedy_objective: float = math.nan
    partitions: int = 1  # windows of orbital planes in the first improvement round
    rounds: int = 0  # improvement rounds (each over every window worth solving)
    solves: int = 0  # window models solved
    improved: int = 0  # window answers taken (the plan scored higher with them)
    moved: int = 0  # jobs those answers moved from one window to another
    start: str = ""  # the first plan the improvement began from: edf, density, previous, dual
    focused: int = 0  # answers taken in focused rounds (lns.py: windows around jobs left out)
    start_objective: float = math.nan  # the start's objective and value (what the window
    start_value: float = math.nan  # solves began from; NaN for the greedy policy)


@dataclass(frozen=True)
class Violation:
    kind: str
    satellite: str | None
    job_id: str | None
    time_s: float | None
    detail: str
