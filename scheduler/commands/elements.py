"""orbitctl elements update FILE: new orbital elements for satellites of a running scheduler.

The file is CelesTrak TLE text in 3-line format; each name line names a satellite of the
run. The scheduler validates all of it or changes nothing, stores the elements (they
survive a restart), forecasts again, replans and sends each agent its new elements.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from orbitalsched.v1 import cluster_pb2

from scheduler.cluster.client import connect
from scheduler.commands.jobs import add_scheduler_option, scheduler_of, tls_of
from scheduler.errors import UserError
from scheduler.forecast.timeconv import iso8601


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("elements", help="orbital elements of a running scheduler")
    sub = p.add_subparsers(dest="elements_command", required=True)
    up = sub.add_parser(
        "update",
        help="replace satellites' elements from a TLE file (3-line format, names of the run)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    add_scheduler_option(up)
    up.add_argument("file", metavar="FILE")
    up.add_argument("--json", action="store_true")
    up.set_defaults(func=run_update)


def run_update(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (TLE files are ASCII)") from None
    with connect(scheduler_of(args), tls_of(args)) as client:
        resp = client.call(
            client.cluster.UpdateElements, cluster_pb2.UpdateElementsRequest(tle_text=text)
        )
    for line in resp.warnings:
        sys.stderr.write(f"warning: {line}\n")
    if args.json:
        print(json.dumps(json_format.MessageToDict(resp, preserving_proto_field_name=True)))
        return 0
    for e in resp.updated:
        print(f"{e.satellite_id}: elements of {iso8601(e.epoch_s)}")
    print(f"{len(resp.updated)} satellite(s) updated; the scheduler replans with them")
    return 0
