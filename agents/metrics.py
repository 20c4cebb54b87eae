"""Prometheus metrics of one agent, in a registry of its own: the satellite's own view.

Same conventions as the scheduler (`orbital_` prefix, base units, `_total` counters); every
series carries the bounded `satellite` label so a Prometheus scraping many agents can tell
them apart.
"""

from __future__ import annotations

import platform
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Info, disable_created_metrics

WH_TO_J = 3600.0

# `_created` samples are noise for these short-lived processes.
disable_created_metrics()


class AgentMetrics:
    def __init__(self, satellite: str) -> None:
        r = self.registry = CollectorRegistry()
        try:
            version = metadata.version("orbital-scheduler")
        except metadata.PackageNotFoundError:
            version = "unknown"
        Info("orbital_agent_build", "Build of the agent", registry=r).info(
            {
                "version": version,
                "python": platform.python_version(),
                "role": "agent",
                "satellite": satellite,
            }
        )
        lab = ["satellite"]

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, lab, registry=r)

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Counter:
            return Counter(name, doc, [*lab, *extra], registry=r)

        self.soc_ratio = gauge("orbital_agent_battery_soc_ratio", "Battery state of charge")
        self.battery_joules = gauge("orbital_agent_battery_energy_joules", "Battery energy")
        self.temperature = gauge("orbital_agent_temperature_celsius", "Node temperature")
        self.power_generated = gauge("orbital_agent_power_generated_watts", "Array output")
        self.power_drawn = gauge("orbital_agent_power_drawn_watts", "Electrical load")
        self.sunlit = gauge("orbital_agent_sunlit_ratio", "Fraction of the solar disc visible")
        self.in_contact = gauge("orbital_agent_in_contact", "1 during a ground contact")
        self.connected = gauge("orbital_agent_connected", "1 while the scheduler stream is open")
        self.paused = gauge(
            "orbital_agent_paused",
            "1 while the agent holds its work: its lease lapsed (no word from the scheduler)",
        )
        self.accelerators_busy = gauge("orbital_agent_accelerators_busy", "Accelerators in use")
        self.plan_version = gauge("orbital_agent_plan_version", "Version of the plan applied")
        self.plan_delivery = gauge(
            "orbital_agent_plan_delivery_seconds",
            "Wall seconds from the scheduler's solve returning to this agent decoding the plan "
            "(the last plan sent after a solve; the scheduler's and agent's clocks synced)",
        )
        self.buffered_reports = gauge(
            "orbital_agent_buffered_reports", "Job reports waiting for a link"
        )
        self.self_protecting = gauge(
            "orbital_agent_self_protecting",
            "1 while the agent overrides its plan to protect itself",
        )
        self.self_protection_total = counter(
            "orbital_agent_self_protection_events_total",
            "Times the agent started protecting itself",
        )
        self.job_reports_total = counter(
            "orbital_agent_job_reports_total", "Job reports produced, by kind", ("kind",)
        )
        self.reconnects_total = counter(
            "orbital_agent_reconnects_total", "Stream (re)connection attempts"
        )
        self.elements_updates = counter(
            "orbital_agent_element_updates_total", "New orbital elements applied"
        )
        self.dropped_reports_total = counter(
            "orbital_agent_dropped_reports_total", "Reports dropped because the buffer was full"
        )
        self.satellite = satellite
        self._protecting = False
        # The labelled series state() sets every tick, looked up once (a fleet has thousands).
        self._state = tuple(
            g.labels(satellite)
            for g in (
                self.soc_ratio,
                self.battery_joules,
                self.temperature,
                self.power_generated,
                self.power_drawn,
                self.sunlit,
                self.in_contact,
                self.accelerators_busy,
                self.self_protecting,
            )
        )

    def state(
        self,
        *,
        soc_wh: float,
        capacity_wh: float,
        temperature_c: float,
        generated_w: float,
        drawn_w: float,
        sunlit: float,
        in_contact: bool,
        busy: int,
        protection: str,
    ) -> None:
        soc, energy, temp, gen, drawn, sun, contact, acc, prot = self._state
        soc.set(soc_wh / capacity_wh if capacity_wh else 0.0)
        energy.set(soc_wh * WH_TO_J)
        temp.set(temperature_c)
        gen.set(generated_w)
        drawn.set(drawn_w)
        sun.set(sunlit)
        contact.set(1.0 if in_contact else 0.0)
        acc.set(busy)
        protecting = bool(protection)
        prot.set(1.0 if protecting else 0.0)
        if protecting and not self._protecting:
            self.self_protection_total.labels(self.satellite).inc()
        self._protecting = protecting
