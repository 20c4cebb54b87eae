"""The server's gate: authenticate every call, authorize it by method, and turn undecodable
requests into INVALID_ARGUMENT.

grpc.aio interceptors see only the method name, not the peer's certificate, so the gate
wraps each method's handler: the wrapper reads the verified client certificate from the
call's auth context, asks `authorize`, aborts with UNAUTHENTICATED or PERMISSION_DENIED, and
otherwise runs the servicer with the principal in `current_principal()`. Resource checks
(whose job, which satellite) are the servicers' (they call `authorize` again with the
resource). The request deserializer is wrapped too: bytes that do not parse (including
invalid UTF-8 in a string field) become INVALID_ARGUMENT with one rate-limited log line,
instead of grpc's UNKNOWN with a traceback per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc

from scheduler.security.authz import authorize
from scheduler.security.certs import principal_of_pem
from scheduler.security.identity import ANONYMOUS, SCHEDULER, Principal

log = logging.getLogger("orbit-scheduler.trust")

# Outside any RPC (the replanner, housekeeping) the actor is the scheduler itself; tasks an
# RPC creates inherit its caller.
_current: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "orbital_principal", default=SCHEDULER
)


def current_principal() -> Principal:
    """The authenticated caller of the RPC being served (the anonymous operator without TLS),
    or the scheduler itself outside an RPC."""
    return _current.get()


def act_as(principal: Principal) -> None:
    """From here on in this task (and the tasks it creates), changes are recorded as made by
    principal: an agent stream without TLS speaks for the satellite its Hello names."""
    _current.set(principal)


class RateLimitedLog:
    """At most one line per interval per key; says how many were suppressed meanwhile."""

    def __init__(self, logger: logging.Logger, interval_s: float = 5.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -1e18) < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        if len(self._last) > 1000:  # bounded memory whatever the keys
            self._last.clear()
            self._suppressed.clear()
        suppressed = self._suppressed.pop(key, 0)
        self._last[key] = now
        suffix = f" (and {suppressed} more since the last such line)" if suppressed else ""
        self.logger.warning(msg + suffix, *args)


rate_log = RateLimitedLog(log)


# Per-message size limits below the server-wide one: an agent stream carries small messages
# (hello, telemetry, reports), 64 KiB each at most.
MAX_MESSAGE_BYTES_BY_METHOD = {"/orbitalsched.v1.AgentService/Connect": 64 * 1024}


class Undecodable:
    """What the wrapped deserializer returns for bytes that are not a valid message (or a
    message bigger than its method allows)."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _safe_deserializer(
    deserialize: Callable[[bytes], Any] | None, max_bytes: int | None = None
) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def wrapped(data: bytes) -> Any:
        if max_bytes is not None and len(data) > max_bytes:
            return Undecodable(f"a message of {len(data)} bytes; at most {max_bytes} here")
        try:
            return deserialize(data)
        except Exception as exc:
            return Undecodable(str(exc)[:120] or type(exc).__name__)

    return wrapped


@functools.lru_cache(maxsize=4096)
def _principal_of_pem(pem: bytes) -> Principal | str:
    try:
        return principal_of_pem(pem)
    except ValueError as exc:
        return str(exc)


def principal_from_auth_context(auth: Mapping[str, Iterable[bytes]]) -> Principal | str | None:
    """The principal of a verified peer certificate; None without one; an error string for a
    certificate that names no orbital identity."""
    pems = list(auth.get("x509_pem_cert") or [])
    if not pems:
        return None
    return _principal_of_pem(bytes(pems[0]))


Authenticator = Callable[[grpc.aio.ServicerContext[Any, Any]], "Principal | str | None"]


def mutual_tls_authenticator(context: grpc.aio.ServicerContext[Any, Any]) -> Principal | str | None:
    return principal_from_auth_context(context.auth_context())


def anonymous_authenticator(context: grpc.aio.ServicerContext[Any, Any]) -> Principal | str | None:
    return ANONYMOUS


class TrustInterceptor(grpc.aio.ServerInterceptor):
    """no_certificate_hint: the refusal of a caller that sent no certificate (the open
    listener says where to call with one)."""

    def __init__(self, authenticate: Authenticator, no_certificate_hint: str = "") -> None:
        self.authenticate = authenticate
        self.no_certificate_hint = no_certificate_hint

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _wrap_handler(
            handler, handler_call_details.method, self.authenticate, self.no_certificate_hint
        )


# A refused client stream is answered after its first message (or this long): a client that
# writes first (an agent's Hello) then sees the refusal itself, not a failed write.
REFUSE_STREAM_AFTER_S = 2.0


async def _admit(
    method: str,
    authenticate: Authenticator,
    context: grpc.aio.ServicerContext[Any, Any],
    streaming: bool = False,
    no_certificate_hint: str = "",
) -> None:
    found = authenticate(context)
    principal = found if isinstance(found, Principal) else None
    decision = authorize(principal, method)
    if not decision.allowed:
        if streaming:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.read(), REFUSE_STREAM_AFTER_S)
        # A CA-signed certificate naming no orbital identity: say so rather than "no cert".
        reason = found if isinstance(found, str) else decision.reason
        if found is None and no_certificate_hint:
            reason = no_certificate_hint
        rate_log.warning(f"deny:{method}", "refused %s from %s: %s", method, context.peer(), reason)
        await context.abort(decision.code, reason)
    if principal is not None:
        _current.set(principal)


async def _reject_undecodable(
    method: str, request: Any, context: grpc.aio.ServicerContext[Any, Any]
) -> None:
    if isinstance(request, Undecodable):
        rate_log.warning(
            f"decode:{method}",
            "rejected an undecodable request to %s from %s: %s",
            method,
            context.peer(),
            request.error,
        )
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid message for {method.rpartition('/')[2]}: {request.error}",
        )


def _wrap_handler(
    handler: grpc.RpcMethodHandler, method: str, authenticate: Authenticator, hint: str = ""
) -> grpc.RpcMethodHandler:
    h: Any = handler
    deserializer = _safe_deserializer(
        h.request_deserializer, MAX_MESSAGE_BYTES_BY_METHOD.get(method)
    )

    async def checked_stream(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for request in requests:
            await _reject_undecodable(method, request, context)
            yield request

    if h.unary_unary is not None:
        inner = h.unary_unary

        async def unary_unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await _admit(method, authenticate, context, no_certificate_hint=hint)
            await _reject_undecodable(method, request, context)
            return await inner(request, context)

        return h._replace(unary_unary=unary_unary, request_deserializer=deserializer)
    if h.unary_stream is not None:
        inner = h.unary_stream
        if inspect.isasyncgenfunction(inner):

            async def unary_stream_gen(
                request: Any, context: grpc.aio.ServicerContext[Any, Any]
            ) -> AsyncIterator[Any]:
                await _admit(method, authenticate, context, no_certificate_hint=hint)
                await _reject_undecodable(method, request, context)
                async for item in inner(request, context):
                    yield item

            return h._replace(unary_stream=unary_stream_gen, request_deserializer=deserializer)

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await _admit(method, authenticate, context, no_certificate_hint=hint)
            await _reject_undecodable(method, request, context)
            return await inner(request, context)

        return h._replace(unary_stream=unary_stream, request_deserializer=deserializer)
    if h.stream_unary is not None:
        inner = h.stream_unary

        async def stream_unary(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await _admit(method, authenticate, context, True, hint)
            return await inner(checked_stream(requests, context), context)

        return h._replace(stream_unary=stream_unary, request_deserializer=deserializer)
    inner = h.stream_stream
    if inspect.isasyncgenfunction(inner):

        async def stream_stream_gen(
            requests: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await _admit(method, authenticate, context, True, hint)
            async for item in inner(checked_stream(requests, context), context):
                yield item

        return h._replace(stream_stream=stream_stream_gen, request_deserializer=deserializer)

    async def stream_stream(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await _admit(method, authenticate, context, True, hint)
        return await inner(checked_stream(requests, context), context)

    return h._replace(stream_stream=stream_stream, request_deserializer=deserializer)


def interceptor_for(mutual_tls: bool) -> TrustInterceptor:
    """With mutual TLS callers are who their certificates say; otherwise (plaintext, or TLS
    without client certificates) every caller is the anonymous operator."""
    return TrustInterceptor(mutual_tls_authenticator if mutual_tls else anonymous_authenticator)
