"""The link controller of the netns testbed: follows the contact forecast in the
scheduler's simulation time and sets each satellite's link to match.

- Outside its ground contacts (or its ISL group's, with the scheduler's --isl-relay) a
  satellite's veth port on the bridge is down; inside them it is up, and the satellite's
  egress is shaped by a tc token bucket (tbf) to the downlink rate of the best station in
  view. The link opens LEAD_WALL_S before AOS and closes GRACE_WALL_S after LOS, so the
  scheduler's own LinkDown (it ends streams out of contact) crosses before the cut.
- First a commissioning period with every link up: each agent connects once and learns
  its next contact (the scheduler answers LinkDown), after which it sleeps until then.
- Every event goes to links.jsonl (one JSON object a line): link up/down with its window and
  rate, and `disagree` whenever the network and the scheduler's view differ: an agent
  connected while its link is down, or the scheduler's current contact not the network's.

    python -m scheduler.testbed.linkctl STATE.json [--commissioning S]
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scheduler.errors import UserError
from scheduler.forecast import find_contacts
from scheduler.forecast.isl import isl_groups
from scheduler.forecast.timeconv import SimClock
from scheduler.scenario import load_scenario
from scheduler.testbed.netns import NetnsTestbed

log = logging.getLogger("linkctl")
LEAD_WALL_S = 0.3
GRACE_WALL_S = 0.75
TICK_WALL_S = 0.05
CHECK_EVERY_WALL_S = 1.0
HORIZON_S = 24 * 3600.0

Window = tuple[float, float, float]  # start_s, end_s, rate_mbps


def link_windows(tb: NetnsTestbed, start_s: float, end_s: float) -> dict[str, list[Window]]:
    """Per satellite: merged contact windows with the best downlink rate in each (own, or
    the ISL group's with relay), as the scheduler's World computes them."""
    scenario = load_scenario(None)
    full = scenario.constellation
    sub = full.subset([full.index(n) for n in tb.satellites])
    own: dict[str, list[Window]] = {n: [] for n in tb.satellites}
    for c in find_contacts(sub, scenario.stations, start_s - 1.0, end_s):
        own[sub.names[c.sat]].append((c.aos_s, c.los_s, scenario.stations[c.station].downlink_mbps))
    groups = isl_groups(full, sub.names) if tb.isl_relay else {}
    out = {}
    for name in tb.satellites:
        members = groups.get(name, (name,)) if tb.isl_relay else (name,)
        out[name] = merge([w for m in members if m in own for w in own[m]])
    return out


def merge(windows: list[Window]) -> list[Window]:
    union: list[Window] = []
    for a, b, rate in sorted(windows):
        if union and a <= union[-1][1]:
            pa, pb, prate = union[-1]
            union[-1] = (pa, max(pb, b), max(prate, rate))
        else:
            union.append((a, b, rate))
    return union


def window_at(
    windows: list[Window], t_s: float, before_s: float = 0.0, after_s: float = 0.0
) -> Window | None:
    for w in windows:
        if w[0] - before_s <= t_s < w[1] + after_s:
            return w
    return None


class Controller:
    def __init__(self, tb: NetnsTestbed, events: Path) -> None:
        self.tb = tb
        self.events = events.open("a")
        self.client = tb.client(timeout_s=5.0)
        resp = self.client.satellites()
        c = resp.clock
        self.clock = SimClock(c.sim_epoch_s, c.wall_epoch_s, c.speed)
        now = self.clock.now_s()
        self.windows = link_windows(tb, now, now + HORIZON_S)
        self.covered_to_s = now + HORIZON_S
        self.link_up = {n: True for n in tb.satellites}  # as _network left them
        self.rate = {n: 0.0 for n in tb.satellites}
        self.down_since: dict[str, float] = {}
        self.index = {n: i for i, n in enumerate(tb.satellites)}
        self.lost: set[str] = set()

    def emit(self, **event: Any) -> None:
        event = {"wall": round(time.time(), 3), "sim": round(self.clock.now_s(), 1), **event}
        self.events.write(json.dumps(event) + "\n")
        self.events.flush()

    def set_link(self, sat: str, up: bool, window: Window | None) -> None:
        i = self.index[sat]
        subprocess.run(
            ["ip", "-n", self.tb.bridge_ns, "link", "set", self.tb.bridge_port(i),
             "up" if up else "down"], check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        if up and window is not None and window[2] != self.rate[sat]:
            rate = window[2]
            burst_b = max(32_000, int(rate * 1e6 / 8 / 100))  # 10 ms at the rate
            subprocess.run(
                ["ip", "netns", "exec", self.tb.agent_ns(i), "tc", "qdisc", "replace", "dev",
                 "eth0", "root", "tbf", "rate", f"{rate:g}mbit", "burst", str(burst_b),
                 "latency", "50ms"], check=True, capture_output=True, timeout=10,
            )  # fmt: skip
            self.rate[sat] = rate
        self.link_up[sat] = up
        if not up:
            self.down_since[sat] = time.time()
        self.emit(
            sat=sat, event="up" if up else "down",
            window=[window[0], window[1]] if window else None, rate_mbps=self.rate[sat],
        )  # fmt: skip

    def step(self) -> None:
        now = self.clock.now_s()
        if now + 3600 > self.covered_to_s:
            self.windows = link_windows(self.tb, now, now + HORIZON_S)
            self.covered_to_s = now + HORIZON_S
        speed = self.clock.speed
        for sat, windows in self.windows.items():
            w = window_at(windows, now, LEAD_WALL_S * speed, GRACE_WALL_S * speed)
            if (w is not None) != self.link_up[sat] or (w is not None and w[2] != self.rate[sat]):
                self.set_link(sat, w is not None, w)

    def check(self) -> None:
        """Compare with the scheduler's view; log a `disagree` event where they differ
        (away from a window's edges, where the two clocks may differ by a tick)."""
        try:
            resp = self.client.satellites()
        except UserError as exc:
            self.emit(event="scheduler-unreachable", error=str(exc))
            return
        now, margin_s = resp.now_s, 2.0 * self.clock.speed
        for s in resp.satellites:
            sat = s.satellite_id
            if sat not in self.windows:
                continue
            down_for_s = time.time() - self.down_since.get(sat, time.time())
            if s.connected and not self.link_up[sat] and down_for_s > 2 * CHECK_EVERY_WALL_S:
                self.emit(sat=sat, event="disagree", what="a stream while the link is down")
            net_in = window_at(self.windows[sat], now) is not None
            near_edge = window_at(self.windows[sat], now, margin_s, margin_s) is not None and (
                window_at(self.windows[sat], now - margin_s) is None
                or window_at(self.windows[sat], now + margin_s) is None
            )
            nc = s.next_contact
            sched_in = nc.start_s <= now < nc.end_s
            if sched_in != net_in and not near_edge:
                self.emit(
                    sat=sat, event="disagree", what=f"scheduler in contact {sched_in}, "
                    f"network {net_in}",
                )  # fmt: skip
            if s.lost and sat not in self.lost:
                self.lost.add(sat)
                self.emit(sat=sat, event="lost")
            elif not s.lost and sat in self.lost:
                self.lost.discard(sat)
                self.emit(sat=sat, event="returned")

    def commissioned(self) -> bool:
        """Every agent has reached the scheduler once: welcomed, or told its next contact."""
        for sat in self.tb.satellites:
            log = self.tb.workdir / f"agent-{sat}.log"
            text = log.read_text(errors="replace") if log.exists() else ""
            if "connected to" not in text and "out of contact; next contact" not in text:
                return False
        return True

    def run(self, commissioning_s: float) -> None:
        """Links stay up for at least commissioning_s and until every agent has reached the
        scheduler once (at most a minute), then follow the forecast."""
        self.emit(event="commissioning", seconds=commissioning_s)
        started = time.time()
        while time.time() - started < 60 and (
            time.time() - started < commissioning_s or not self.commissioned()
        ):
            time.sleep(0.1)
        self.emit(event="following", speed=self.clock.speed, all_reached=self.commissioned())
        last_check = 0.0
        while True:
            self.step()
            if time.time() - last_check >= CHECK_EVERY_WALL_S:
                last_check = time.time()
                self.check()
            time.sleep(TICK_WALL_S)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="linkctl")
    p.add_argument("state")
    p.add_argument("--commissioning", type=float, default=3.0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s linkctl %(message)s")
    tb = NetnsTestbed(**json.loads(Path(args.state).read_text()))
    ctl = Controller(tb, Path(args.state).parent / "links.jsonl")
    try:
        ctl.run(args.commissioning)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
