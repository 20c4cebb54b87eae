"""Who is calling: principals, roles, and how they are written into certificates.

A certificate names its principal in one URI SAN, `spiffe://orbital/satellite/ID` or
`spiffe://orbital/user/NAME`, and a user's role in the subject's organizational unit
(OU=viewer|submitter|operator). One URI SAN only, so grpc also reports it as the peer's
SPIFFE id; the scheduler reads both from the verified client certificate.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

SPIFFE_TRUST_DOMAIN = "orbital"
SATELLITE_PREFIX = f"spiffe://{SPIFFE_TRUST_DOMAIN}/satellite/"
USER_PREFIX = f"spiffe://{SPIFFE_TRUST_DOMAIN}/user/"
# Satellite ids and user names that fit a URI path segment and a file name.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Role(enum.IntEnum):
    """User roles, ordered: each includes the rights of the ones below it."""

    VIEWER = 1
    SUBMITTER = 2
    OPERATOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown role {text[:32]!r} (expected viewer, submitter or operator)"
            ) from None


class Kind(enum.Enum):
    USER = "user"
    SATELLITE = "satellite"
    # No TLS (local use): every caller is this principal, an operator that may also speak for
    # any satellite, as before there was authentication.
    ANONYMOUS = "anonymous"
    # Changes the scheduler makes itself (planning, loss detection, clamping).
    SCHEDULER = "scheduler"


@dataclass(frozen=True)
class Principal:
    kind: Kind
    name: str = ""
    role: Role | None = None

    @property
    def id(self) -> str:
        """How the principal is recorded: user:NAME, satellite:ID, anonymous, scheduler."""
        if self.kind in (Kind.USER, Kind.SATELLITE):
            return f"{self.kind.value}:{self.name}"
        return self.kind.value

    def __str__(self) -> str:
        return self.id


ANONYMOUS = Principal(Kind.ANONYMOUS, role=Role.OPERATOR)
SCHEDULER = Principal(Kind.SCHEDULER, role=Role.OPERATOR)


def check_name(name: str, what: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"{what} {name[:32]!r}: use 1 to 128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def satellite_uri(satellite_id: str) -> str:
    return SATELLITE_PREFIX + check_name(satellite_id, "satellite id")


def user_uri(name: str) -> str:
    return USER_PREFIX + check_name(name, "user name")


def principal_from_names(uris: list[str], units: list[str]) -> Principal:
    """The principal a certificate's URI SANs and subject OUs name; ValueError if none or
    ambiguous (a certificate must name exactly one orbital identity)."""
    ours = [u for u in uris if u.startswith(f"spiffe://{SPIFFE_TRUST_DOMAIN}/")]
    if len(ours) != 1:
        raise ValueError(
            "the certificate names no orbital identity"
            if not ours
            else "the certificate names more than one orbital identity"
        )
    uri = ours[0]
    if uri.startswith(SATELLITE_PREFIX):
        name = uri.removeprefix(SATELLITE_PREFIX)
        check_name(name, "satellite id")
        return Principal(Kind.SATELLITE, name)
    if uri.startswith(USER_PREFIX):
        name = uri.removeprefix(USER_PREFIX)
        check_name(name, "user name")
        roles = {Role.parse(u) for u in units if u.strip().upper() in Role.__members__}
        if len(roles) != 1:
            raise ValueError(f"user certificate {name!r} must carry exactly one role OU")
        return Principal(Kind.USER, name, roles.pop())
    raise ValueError(f"unknown identity {uri[:64]!r}")
