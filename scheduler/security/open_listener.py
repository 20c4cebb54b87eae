"""The open listener: `orbit-scheduler --open-listen HOST:PORT`, beside mutual TLS.

grpc-python's server credentials either require a client certificate (a client without one
fails at the TLS handshake and sees only UNAVAILABLE) or never ask for one. So clients
without a certificate get a second address, served with server-only TLS (the scheduler's
certificate and key, no client certificate requested): health checks answer there (load
balancers, kubelet-style probes, `grpc_health_probe -tls`), and every other call gets
UNAUTHENTICATED saying to call the main address with a client certificate.

It is a grpc.aio server of its own in the same process and event loop, sharing the health
servicer, not a second port of the main server: none of the scheduler's services is
registered on it (a catch-all handler refuses every method but health, behind the same
authorization gate that refuses them first), and its messages are capped at
MAX_OPEN_MESSAGE_BYTES, so a peer that cannot authenticate cannot make the scheduler decode
a large message or reach any servicer code.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from scheduler.security.interceptor import TrustInterceptor, mutual_tls_authenticator
from scheduler.security.tls import ServerTls, TlsConfigError

# Health checks are a few bytes; anything larger is refused before it is decoded.
MAX_OPEN_MESSAGE_BYTES = 16 * 1024
# Calls on the open listener at once (health watches included); more get RESOURCE_EXHAUSTED.
# Bounds what unauthenticated peers can hold (each Watch is a stream kept open).
MAX_OPEN_CONCURRENT_RPCS = 256
# A refused streaming call is answered after the caller's first message, or this long.
FIRST_MESSAGE_WAIT_S = 2.0


def no_certificate_hint(main_address: str) -> str:
    return (
        "a client certificate issued by the project CA is required; this address (the "
        "scheduler's --open-listen) answers health checks only: call "
        f"{main_address} with --tls-ca/--tls-cert/--tls-key (or ORBIT_TLS_CA/CERT/KEY)"
    )


class _Refuse(grpc.GenericRpcHandler):
    """Every method not registered (everything but health): UNAUTHENTICATED. The gate in
    front refuses them already; this is what is left if it did not."""

    def __init__(self, hint: str) -> None:
        self.hint = hint

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        hint = self.hint

        async def refuse(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.read(), FIRST_MESSAGE_WAIT_S)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, hint)

        return grpc.stream_stream_rpc_method_handler(refuse)


def check_open_listen(address: str, tls: ServerTls | None) -> None:
    """--open-listen makes sense only beside mutual TLS (it serves the same certificate)."""
    if not address:
        return
    if tls is None or not tls.mutual:
        raise TlsConfigError(
            "--open-listen needs mutual TLS on --listen: give --tls-cert, --tls-key and "
            "--tls-client-ca (the open address serves the same certificate without asking "
            "clients for theirs)"
        )


def open_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """Server-only TLS with the scheduler's certificate: no client certificate requested."""
    cert, key = tls.read_cert_and_key()
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=None)


def build_open_server(
    tls: ServerTls, health_servicer: Any, main_address: str, address: str
) -> tuple[grpc.aio.Server, int]:
    """The open listener's server, bound to address (HOST:PORT); (server, bound port).
    Raises TlsConfigError when it cannot be bound."""
    hint = no_certificate_hint(main_address)
    server = grpc.aio.server(
        handlers=[_Refuse(hint)],
        interceptors=[TrustInterceptor(mutual_tls_authenticator, no_certificate_hint=hint)],
        maximum_concurrent_rpcs=MAX_OPEN_CONCURRENT_RPCS,
        options=[
            ("grpc.max_receive_message_length", MAX_OPEN_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_OPEN_MESSAGE_BYTES),
            # Never share a port (grpc sets SO_REUSEPORT by default: the main address given
            # twice would split its connections between the two servers).
            ("grpc.so_reuseport", 0),
            # Connections that never finish their handshake or sit idle are closed: nobody
            # can hold many of them open for free.
            ("grpc.server_handshake_timeout_ms", 10_000),
            ("grpc.max_connection_idle_ms", 60_000),
        ],
    )
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = server.add_secure_port(address, open_credentials(tls))
    except RuntimeError as exc:
        raise TlsConfigError(f"--open-listen: cannot bind {address}: {exc}") from None
    if port == 0:
        raise TlsConfigError(f"--open-listen: cannot bind {address}")
    return server, port
