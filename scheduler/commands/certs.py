"""orbitctl certs init | issue: the project CA and the certificates of every principal.

orbitctl certs init --dir DIR [--host NAME]...
orbitctl certs issue --dir DIR --satellite ID
orbitctl certs issue --dir DIR --user NAME --role viewer|submitter|operator
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scheduler.errors import UserError
from scheduler.security.certs import CertError, init_ca, issue_satellite, issue_user
from scheduler.security.identity import Role


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("certs", help="create the project CA and issue certificates")
    sub = p.add_subparsers(dest="certs_command", required=True, parser_class=type(p))

    init = sub.add_parser("init", help="a new CA and the scheduler's certificate in --dir")
    init.add_argument("--dir", required=True, help="directory for the CA and certificates")
    init.add_argument(
        "--host",
        action="append",
        default=[],
        help="another DNS name or IP address of the scheduler (repeatable); localhost, "
        "127.0.0.1 and ::1 are always included",
    )
    init.set_defaults(func=run_init)

    issue = sub.add_parser("issue", help="a certificate for a satellite or a user")
    issue.add_argument("--dir", required=True, help="directory holding ca.pem and ca-key.pem")
    who = issue.add_mutually_exclusive_group(required=True)
    who.add_argument("--satellite", metavar="ID", help="satellite id (its agent's identity)")
    who.add_argument("--user", metavar="NAME", help="user name")
    issue.add_argument(
        "--role",
        choices=[r.label for r in Role],
        help="the user's role (required with --user)",
    )
    issue.set_defaults(func=run_issue)


def run_init(args: argparse.Namespace) -> int:
    try:
        files = init_ca(Path(args.dir), tuple(args.host))
    except (CertError, ValueError) as exc:
        raise UserError(str(exc)) from None
    for path in files:
        print(path)
    return 0


def run_issue(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    try:
        if args.satellite is not None:
            if args.role is not None:
                raise UserError("--role applies to --user only (a satellite has no role)")
            issued = issue_satellite(directory, args.satellite)
        else:
            if args.role is None:
                raise UserError("--user needs --role viewer|submitter|operator")
            issued = issue_user(directory, args.user, Role.parse(args.role))
    except (CertError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(issued.cert_path)
    print(issued.key_path)
    return 0
