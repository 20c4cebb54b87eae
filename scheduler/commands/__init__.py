"""orbitctl command groups; each module exposes register(subparsers)."""

from types import ModuleType

from scheduler.commands import (
    certs,
    cluster,
    demo,
    elements,
    forecast,
    inquiries,
    jobs,
    simulate,
    testbed,
)

# Add a command group here: a module with `register(subparsers)` whose parsers set `func`.
COMMAND_MODULES: tuple[ModuleType, ...] = (
    forecast,
    demo,
    cluster,
    jobs,
    inquiries,
    elements,
    simulate,
    certs,
    testbed,
)
