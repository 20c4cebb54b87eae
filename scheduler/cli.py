"""orbitctl: the command line front door.

Each command group lives in its own module under scheduler/commands/ and exposes
`register(subparsers)`; this module only assembles them and turns user errors into a
one-line message with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from scheduler import __version__
from scheduler.commands import COMMAND_MODULES
from scheduler.errors import UserError
from scheduler.security.tls import add_client_tls_arguments


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, exit 2, as argparse does, but without the usage block.
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="orbitctl", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"orbitctl {__version__}")
    parser.add_argument(
        "--scheduler", default=None, help="HOST:PORT of a running scheduler (127.0.0.1:50051)"
    )
    add_client_tls_arguments(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        sys.stderr.write(f"orbitctl: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); not an error of ours.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
