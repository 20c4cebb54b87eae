"""Write the Prometheus file_sd targets of the orbit-agent processes running on this machine.

`orbitctl cluster up` gives every agent a free metrics port, so a static Prometheus config
cannot name them; this script reads the command lines of the running processes (Linux
/proc) and writes one target per agent, labelled with its satellite id. See
prometheus-local.yml.

    python deploy/prometheus/local_targets.py [--output /tmp/orbit-local-targets.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

DEFAULT_OUTPUT = Path("/tmp/orbit-local-targets.json")  # as in prometheus-local.yml
AGENT_MARKERS = ("agents.agent", "orbit-agent")


def flag(argv: Sequence[str], name: str) -> str | None:
    """The value of --name VALUE or --name=VALUE in argv, else None."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def command_lines(proc: Path = Path("/proc")) -> Iterable[list[str]]:
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:  # the process ended, or is not ours to read
            continue
        if raw:
            yield raw.rstrip(b"\0").decode(errors="replace").split("\0")


def agent_targets(cmdlines: Iterable[list[str]]) -> list[dict[str, object]]:
    targets = []
    for argv in cmdlines:
        if not any(m in arg for arg in argv[:3] for m in AGENT_MARKERS):
            continue
        port, satellite = flag(argv, "--metrics-port"), flag(argv, "--satellite")
        if port is None or satellite is None:
            continue
        host = flag(argv, "--metrics-host") or "127.0.0.1"
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        targets.append({"targets": [f"{host}:{port}"], "labels": {"satellite": satellite}})
    return sorted(targets, key=lambda t: str(t["labels"]))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    targets = agent_targets(command_lines())
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_text(json.dumps(targets, indent=2) + "\n")
    os.replace(tmp, args.output)  # atomic: Prometheus never reads a half-written file
    print(f"{len(targets)} agent targets -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
