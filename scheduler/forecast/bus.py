"""The satellite bus: the power and thermal constants of one compute satellite.

Defaults describe a ~4-accelerator compute node in LEO. They are chosen so that the
limits bind (DESIGN.md section 3): at full load the node cannot ride out a 35-minute eclipse
on battery, nor run flat out in full sun without reaching its temperature limit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

# A satellite starts (and is assumed to start, before its first telemetry) at 80% charge.
INITIAL_SOC_FRACTION = 0.8


@dataclass(frozen=True)
class BusParams:
    # --- compute ---
    # Four H100-class accelerators; an H100 SXM draws up to 700 W (NVIDIA H100 datasheet).
    accelerators: int = 4
    accelerator_power_w: float = 700.0
    # Avionics, attitude control, comms and the host CPU: a few hundred watts for a
    # 100-200 kg class bus (SMAD, Wertz & Larson, table 10-9 scaled).
    baseline_power_w: float = 300.0

    # --- power ---
    # Triple-junction GaAs cells are ~30% efficient at beginning of life (Spectrolab XTJ
    # Prime 30.7%); 1361 W/m^2 x 0.30 ~ 400 W/m^2 at normal incidence (DESIGN.md section 8).
    array_area_m2: float = 11.0
    array_efficiency: float = 0.30
    # Cosine, packing and degradation losses of a sun-tracking array.
    pointing_factor: float = 0.85
    # Li-ion at ~150 Wh/kg pack level: 2.2 kWh is a ~15 kg pack.
    battery_capacity_wh: float = 2200.0
    # Keep 20% state of charge as the floor: deep discharges cut Li-ion cycle life in LEO
    # (thousands of cycles a year), the usual depth-of-discharge limit is 20-40%.
    battery_floor_fraction: float = 0.20

    # --- thermal (one lumped node) ---
    # ~150 kg of aluminium-equivalent structure and electronics at c ~ 900 J/(kg K).
    heat_capacity_j_k: float = 135_000.0
    # Radiators reject ~450-633 W/m^2 net at 20-60 C (Starcloud white paper, DESIGN.md
    # section 8): 4.5 m^2 at emissivity 0.90 shed ~2.8 kW at 60 C.
    radiator_area_m2: float = 4.5
    radiator_emissivity: float = 0.90
    # Projected area of the body and radiators that faces the Sun, and its absorptivity
    # (white paint / OSR radiators have alpha ~0.2, Gilmore table 5.1 region).
    sun_facing_area_m2: float = 1.5
    solar_absorptivity: float = 0.25
    # Area that sees the Earth (IR and albedo).
    earth_facing_area_m2: float = 1.5
    # Operating limit of the accelerator cold plate: ~60 C keeps an H100 under its junction
    # limit with margin (DESIGN.md section 8: "a 700 W part at ~60 C").
    max_temperature_c: float = 60.0
    initial_temperature_c: float = 35.0

    @property
    def initial_soc_wh(self) -> float:
        """Charge of a satellite nothing is known about yet (a fresh agent, a simulation's
        start, the planner's default before the first telemetry)."""
        return self.battery_capacity_wh * INITIAL_SOC_FRACTION

    @property
    def full_load_w(self) -> float:
        """Electrical load with every accelerator busy."""
        return self.baseline_power_w + self.accelerators * self.accelerator_power_w

    @property
    def battery_floor_wh(self) -> float:
        return self.battery_capacity_wh * self.battery_floor_fraction

    @property
    def peak_generation_w(self) -> float:
        from scheduler.forecast.constants import SOLAR_CONSTANT_W_M2

        return (
            self.array_area_m2 * self.array_efficiency * SOLAR_CONSTANT_W_M2 * self.pointing_factor
        )

    @classmethod
    def from_mapping(cls, values: dict[str, Any], where: str = "bus") -> BusParams:
        """Build from a TOML table; unknown keys and non-positive numbers are errors."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        params = replace(cls(), **values)
        params.validate(where)
        return params

    def validate(self, where: str = "bus") -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("initial_temperature_c", "max_temperature_c"):
                if not isinstance(value, (int, float)):
                    raise ValueError(f"{where}.{f.name}: expected a number, got {value!r}")
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{where}.{f.name}: expected a positive number, got {value!r}")
        if self.accelerators != int(self.accelerators):
            raise ValueError(f"{where}.accelerators: expected a whole number")
        for name in (
            "array_efficiency",
            "pointing_factor",
            "battery_floor_fraction",
            "radiator_emissivity",
            "solar_absorptivity",
        ):
            if getattr(self, name) > 1:
                raise ValueError(f"{where}.{name}: must be at most 1")
        if self.initial_temperature_c >= self.max_temperature_c:
            raise ValueError(f"{where}: initial_temperature_c must be below max_temperature_c")
