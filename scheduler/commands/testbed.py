"""orbitctl testbed image | containers up|down | netns up|down: testbeds on this host."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("testbed", help="container image, container and netns testbeds")
    sub = p.add_subparsers(dest="testbed_command", required=True)

    img = sub.add_parser("image", help="build the orbital-scheduler image (what `make image` runs)")
    img.add_argument("--base", help="base image (default python:3.11-slim, else a local Debian)")
    img.set_defaults(func=image)

    c = sub.add_parser("containers", help="the cluster in containers on this host")
    csub = c.add_subparsers(dest="containers_command", required=True)
    up = csub.add_parser("up", help="scheduler, N agents and Prometheus in containers")
    up.add_argument("--agents", type=int, default=4, help="agent containers (default 4)")
    up.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    up.add_argument("--port", type=int, default=50051, help="scheduler gRPC port on 127.0.0.1")
    up.add_argument(
        "--prometheus-port", type=int, default=9090, help="Prometheus port on 127.0.0.1"
    )
    up.add_argument("--name", default="orbital-tb", help="prefix and label of every object")
    up.add_argument("--insecure", action="store_true", help="plaintext gRPC (default: mutual TLS)")
    up.set_defaults(func=containers_up)
    dn = csub.add_parser("down", help="remove the containers, network and volumes")
    dn.add_argument("--keep-data", action="store_true", help="keep the database volume")
    dn.add_argument("--name", default="orbital-tb")
    dn.set_defaults(func=containers_down)

    n = sub.add_parser("netns", help="the cluster in network namespaces following the contacts")
    nsub = n.add_subparsers(dest="netns_command", required=True)
    nup = nsub.add_parser("up", help="namespaces, links, scheduler, agents, link controller")
    nup.add_argument("--agents", type=int, default=6, help="agents (default 6)")
    nup.add_argument("--speed", type=float, default=180.0, help="simulated seconds per second")
    nup.add_argument(
        "--isl-relay", action="store_true", help="links follow the ISL group's contacts"
    )
    nup.add_argument("--port", type=int, default=50051, help="scheduler port on 127.0.0.1")
    nup.add_argument("--prefix", default="otb", help="prefix of the namespaces")
    nup.add_argument(
        "--delay-ms",
        type=float,
        default=0.0,
        help="added one-way delay between agents and scheduler (user-space proxy)",
    )
    nup.set_defaults(func=netns_up)
    ndn = nsub.add_parser("down", help="stop everything and delete the namespaces")
    ndn.add_argument("--prefix", default="otb")
    ndn.set_defaults(func=netns_down)


def image(args: argparse.Namespace) -> int:
    from scheduler.testbed.image import build_image

    build_image(base=args.base)
    return 0


def containers_up(args: argparse.Namespace) -> int:
    from scheduler.testbed import containers

    containers.up(
        agents=args.agents,
        speed=args.speed,
        port=args.port,
        prometheus_port=args.prometheus_port,
        name=args.name,
        insecure=args.insecure,
    )
    return 0


def containers_down(args: argparse.Namespace) -> int:
    from scheduler.testbed import containers

    containers.down(args.name, keep_data=args.keep_data)
    return 0


def netns_up(args: argparse.Namespace) -> int:
    from scheduler.testbed import netns

    netns.up(
        agents=args.agents,
        speed=args.speed,
        isl_relay=args.isl_relay,
        port=args.port,
        prefix=args.prefix,
        delay_ms=args.delay_ms,
    )
    return 0


def netns_down(args: argparse.Namespace) -> int:
    from scheduler.testbed import netns

    netns.down(args.prefix)
    return 0
