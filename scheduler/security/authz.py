"""Authorization: one pure function of (principal, method, resource), tested cell by cell.

Roles are ordered viewer < submitter < operator:
  viewer     GetJob, ListJobs, WatchJobs, ExplainJob, ListSatellites, GetForecast, GetPlan,
             WhatIf (it changes nothing)
  submitter  viewer + SubmitJob, SubmitJobs, CancelJob of the jobs it submitted
  operator   everything: cancelling any job, Cordon, Drain, Replan, UpdateElements
A satellite certificate may only open the agent stream, and only for its own satellite.
Health checking is open to every caller (no certificate needed); reflection to every
authenticated principal. Without TLS every caller is the anonymous operator, which may
also speak for any satellite (local use, as before authentication existed).
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from scheduler.security.identity import Kind, Principal, Role

JOBS = "/orbitalsched.v1.JobService/"
CLUSTER = "/orbitalsched.v1.ClusterService/"
AGENT_CONNECT = "/orbitalsched.v1.AgentService/Connect"
HEALTH = "/grpc.health.v1.Health/"
REFLECTION = ("/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.ServerReflection/")
CANCEL_JOB = JOBS + "CancelJob"

# The role each user-facing method needs.
REQUIRED_ROLE: dict[str, Role] = {
    JOBS + "GetJob": Role.VIEWER,
    JOBS + "ListJobs": Role.VIEWER,
    JOBS + "WatchJobs": Role.VIEWER,
    CLUSTER + "ListSatellites": Role.VIEWER,
    CLUSTER + "GetForecast": Role.VIEWER,
    CLUSTER + "GetPlan": Role.VIEWER,
    JOBS + "ExplainJob": Role.VIEWER,
    CLUSTER + "WhatIf": Role.VIEWER,
    JOBS + "SubmitJob": Role.SUBMITTER,
    JOBS + "SubmitJobs": Role.SUBMITTER,
    CANCEL_JOB: Role.SUBMITTER,  # a submitter only its own jobs (see authorize)
    CLUSTER + "Cordon": Role.OPERATOR,
    CLUSTER + "Drain": Role.OPERATOR,
    CLUSTER + "Replan": Role.OPERATOR,
    CLUSTER + "UpdateElements": Role.OPERATOR,
}


@dataclass(frozen=True)
class Resource:
    """What a call touches, as far as authorization cares (None: not known yet)."""

    # The principal id (user:NAME, ...) that submitted the job a call acts on.
    job_submitter: str | None = None
    # The satellite an agent stream claims to speak for (Hello.satellite_id).
    satellite_id: str | None = None


NO_RESOURCE = Resource()


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: grpc.StatusCode = grpc.StatusCode.OK
    reason: str = ""


ALLOW = Decision(True)


def _deny(reason: str) -> Decision:
    return Decision(False, grpc.StatusCode.PERMISSION_DENIED, reason)


def short_method(method: str) -> str:
    return method.rpartition("/")[2] or method


def authorize(
    principal: Principal | None, method: str, resource: Resource = NO_RESOURCE
) -> Decision:
    """May principal (None: no valid certificate) call method on resource?"""
    if method.startswith(HEALTH):
        return ALLOW
    if principal is None:
        return Decision(
            False,
            grpc.StatusCode.UNAUTHENTICATED,
            "a client certificate issued by the project CA is required",
        )
    if method.startswith(REFLECTION):
        return ALLOW
    if principal.kind in (Kind.ANONYMOUS, Kind.SCHEDULER):  # no TLS; or internal calls
        return ALLOW
    if method == AGENT_CONNECT:
        if principal.kind is not Kind.SATELLITE:
            return _deny(
                f"{principal.id} is not a satellite: only satellite certificates "
                "may open the agent stream"
            )
        if resource.satellite_id is not None and resource.satellite_id != principal.name:
            return _deny(
                f"the certificate is for satellite {principal.name!r}, not "
                f"{resource.satellite_id[:64]!r}"
            )
        return ALLOW
    if principal.kind is not Kind.USER or principal.role is None:
        return _deny(f"{principal.id} may not call {short_method(method)}")
    needed = REQUIRED_ROLE.get(method, Role.OPERATOR)
    if principal.role < needed:
        return _deny(
            f"{principal.id} has role {principal.role.label}; {short_method(method)} needs "
            f"{needed.label}"
        )
    if (
        method == CANCEL_JOB
        and principal.role is Role.SUBMITTER
        and resource.job_submitter is not None
        and resource.job_submitter != principal.id
    ):
        return _deny(f"{principal.id} may cancel only jobs it submitted")
    return ALLOW
