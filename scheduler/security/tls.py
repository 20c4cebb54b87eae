"""TLS credentials for the scheduler, orbitctl and the agent, from PEM files.

Server: `--tls-cert --tls-key [--tls-client-ca]` (with a client CA, mutual TLS: every
client must present a certificate that CA issued). Clients: `--tls-ca --tls-cert --tls-key`,
each defaulting to ORBIT_TLS_CA / ORBIT_TLS_CERT / ORBIT_TLS_KEY.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import grpc

ENV_CA, ENV_CERT, ENV_KEY = "ORBIT_TLS_CA", "ORBIT_TLS_CERT", "ORBIT_TLS_KEY"


class TlsConfigError(ValueError):
    """TLS flags or files that cannot be used; the message names the flag and the file."""


def _read(path: str, flag: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"{flag} {path}: cannot read: {exc.strerror or exc}") from None
    if b"-----BEGIN" not in data:
        raise TlsConfigError(f"{flag} {path}: not a PEM file")
    return data


@dataclass(frozen=True)
class ClientTls:
    ca: str
    cert: str = ""
    key: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        ca = _read(self.ca, "--tls-ca")
        cert = _read(self.cert, "--tls-cert") if self.cert else None
        key = _read(self.key, "--tls-key") if self.key else None
        return grpc.ssl_channel_credentials(
            root_certificates=ca, private_key=key, certificate_chain=cert
        )


def add_client_tls_arguments(p: argparse.ArgumentParser, suppress: bool = False) -> None:
    """--tls-ca/--tls-cert/--tls-key; with suppress, unset flags leave the namespace alone
    (for subcommands that repeat the top-level flags)."""
    default = argparse.SUPPRESS if suppress else None
    p.add_argument(
        "--tls-ca",
        default=default,
        metavar="FILE",
        help=f"CA that issued the scheduler's certificate: use TLS (env {ENV_CA})",
    )
    p.add_argument(
        "--tls-cert",
        default=default,
        metavar="FILE",
        help=f"this client's certificate, for mutual TLS (env {ENV_CERT})",
    )
    p.add_argument(
        "--tls-key", default=default, metavar="FILE", help=f"its private key (env {ENV_KEY})"
    )


def client_tls(
    ca: str | None, cert: str | None, key: str | None, env: dict[str, str] | None = None
) -> ClientTls | None:
    """The client's TLS settings from flags, else the environment; None: plaintext."""
    env = dict(os.environ) if env is None else env
    ca = ca or env.get(ENV_CA) or ""
    cert = cert or env.get(ENV_CERT) or ""
    key = key or env.get(ENV_KEY) or ""
    if bool(cert) != bool(key):
        raise TlsConfigError("--tls-cert and --tls-key go together (or ORBIT_TLS_CERT/KEY)")
    if not ca:
        if cert:
            raise TlsConfigError("--tls-cert needs --tls-ca (the CA of the scheduler)")
        return None
    return ClientTls(ca, cert, key)


def client_tls_of(args: argparse.Namespace) -> ClientTls | None:
    return client_tls(
        getattr(args, "tls_ca", None),
        getattr(args, "tls_cert", None),
        getattr(args, "tls_key", None),
    )


@dataclass(frozen=True)
class ServerTls:
    cert: str
    key: str
    client_ca: str = ""

    @property
    def mutual(self) -> bool:
        return bool(self.client_ca)

    def read_cert_and_key(self) -> tuple[bytes, bytes]:
        return _read(self.cert, "--tls-cert"), _read(self.key, "--tls-key")

    def credentials(self) -> grpc.ServerCredentials:
        cert, key = self.read_cert_and_key()
        client_ca = _read(self.client_ca, "--tls-client-ca") if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )


def server_tls(cert: str | None, key: str | None, client_ca: str | None) -> ServerTls | None:
    if bool(cert) != bool(key):
        raise TlsConfigError("--tls-cert and --tls-key go together")
    if not cert:
        if client_ca:
            raise TlsConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    return ServerTls(str(cert), str(key), client_ca or "")


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen_security(host: str, tls: ServerTls | None, insecure: bool) -> None:
    """Secure by default: off loopback, only mutual TLS, unless --insecure says otherwise."""
    if insecure or is_loopback(host):
        return
    if tls is None:
        raise TlsConfigError(
            f"--listen {host}: refusing to serve a non-loopback address without TLS; give "
            "--tls-cert, --tls-key and --tls-client-ca (see `orbitctl certs`), or --insecure"
        )
    if not tls.mutual:
        raise TlsConfigError(
            f"--listen {host}: refusing to serve a non-loopback address without client "
            "authentication; add --tls-client-ca (or --insecure)"
        )


def add_server_tls_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-cert", metavar="FILE", help="the scheduler's certificate (PEM): TLS")
    p.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    p.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="require client certificates issued by this CA (mutual TLS, authorization on)",
    )
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow listening on a non-loopback address without mutual TLS",
    )
    p.add_argument(
        "--open-listen",
        metavar="HOST:PORT",
        default="",
        help="also serve this address with server-only TLS (same certificate, no client "
        "certificate asked): health checks answer there, every other call gets "
        "UNAUTHENTICATED naming --listen; needs mutual TLS",
    )


def server_tls_of(args: argparse.Namespace, host: str) -> ServerTls | None:
    """The server's TLS settings from its flags, checked against the listen address."""
    tls = server_tls(args.tls_cert, args.tls_key, args.tls_client_ca)
    check_listen_security(host, tls, args.insecure)
    if tls is not None:
        tls.credentials()  # fail now, with the file's name, rather than at bind time
    return tls


def bind_server(server: grpc.aio.Server, host: str, port: int, tls: ServerTls | None) -> int:
    """Bind the listening port (TLS or plaintext); 0 if it cannot be bound (in use, or an
    address this machine does not have: grpc raises RuntimeError for those)."""
    try:
        if tls is None:
            return server.add_insecure_port(f"{host}:{port}")
        return server.add_secure_port(f"{host}:{port}", tls.credentials())
    except RuntimeError:
        return 0
