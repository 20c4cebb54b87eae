"""The project CA and the certificates it issues (`orbitctl certs init|issue`).

Built with the `cryptography` package: ECDSA P-256 keys, SHA-256 signatures. Layout of a
certificate directory:

    ca.pem, ca-key.pem                   the project CA (keep ca-key.pem offline in production)
    scheduler.pem, scheduler-key.pem     the scheduler (DNS/IP SANs: localhost, 127.0.0.1, ::1,
                                         and each --host)
    satellite-ID.pem, satellite-ID-key.pem   URI SAN spiffe://orbital/satellite/ID
    user-NAME.pem, user-NAME-key.pem     URI SAN spiffe://orbital/user/NAME, role in OU

Private keys are written with mode 0600 and never overwritten.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scheduler.security.identity import (
    Principal,
    Role,
    principal_from_names,
    satellite_uri,
    user_uri,
)

CA_DAYS = 3650
LEAF_DAYS = 825  # the CA/Browser Forum's old ceiling for leaf certificates
ORGANIZATION = "orbital"
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


class CertError(Exception):
    """A certificate directory or file that cannot be used; the message says why."""


@dataclass(frozen=True)
class Issued:
    cert_path: Path
    key_path: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool) -> None:
    if path.exists():
        raise CertError(f"{path} exists; remove it first to replace it")
    mode = 0o600 if private else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / "ca.pem", directory / "ca-key.pem"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise CertError(
            f"{exc.filename}: no such file (create a CA with `orbitctl certs init --dir "
            f"{directory}`)"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise CertError(f"{directory}: cannot load the CA: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{key_path}: expected an EC private key")
    return cert, key


def _sign(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    days: int,
    sans: list[x509.GeneralName],
    usage: list[x509.ObjectIdentifier],
) -> x509.Certificate:
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:  # the CA itself
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        ).add_extension(
            _key_usage(ca=True),
            critical=True,
        )
    else:
        builder = (
            builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                _key_usage(ca=False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _issue_leaf(
    directory: Path,
    stem: str,
    subject: x509.Name,
    sans: list[x509.GeneralName],
    usage: list[x509.ObjectIdentifier],
) -> Issued:
    ca, ca_key = load_ca(directory)
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    for path in (cert_path, key_path):
        if path.exists():
            raise CertError(f"{path} exists; remove it first to replace it")
    key = _key()
    cert = _sign(subject, key, ca, ca_key, LEAF_DAYS, sans, usage)
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, _pem(cert), private=False)
    return Issued(cert_path, key_path)


def init_ca(directory: Path, hosts: tuple[str, ...] = ()) -> list[Path]:
    """Create the CA and the scheduler's certificate in directory; returns the files."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "ca.pem").exists() or (directory / "ca-key.pem").exists():
        raise CertError(f"{directory} already holds a CA (ca.pem); use another --dir")
    ca_key = _key()
    ca = _sign(_name("orbital project CA", "ca"), ca_key, None, ca_key, CA_DAYS, [], [])
    _write(directory / "ca-key.pem", _key_pem(ca_key), private=True)
    _write(directory / "ca.pem", _pem(ca), private=False)
    names = list(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))
    issued = _issue_leaf(
        directory,
        "scheduler",
        _name("orbit-scheduler", "scheduler"),
        [_general_name(h) for h in names],
        [ExtendedKeyUsageOID.SERVER_AUTH],
    )
    return [directory / "ca.pem", directory / "ca-key.pem", issued.cert_path, issued.key_path]


def issue_satellite(directory: Path, satellite_id: str) -> Issued:
    uri = satellite_uri(satellite_id)
    return _issue_leaf(
        directory,
        f"satellite-{satellite_id}",
        _name(satellite_id, "satellite"),
        [x509.UniformResourceIdentifier(uri)],
        [ExtendedKeyUsageOID.CLIENT_AUTH],
    )


def issue_user(directory: Path, name: str, role: Role) -> Issued:
    uri = user_uri(name)
    return _issue_leaf(
        directory,
        f"user-{name}",
        _name(name, role.label),
        [x509.UniformResourceIdentifier(uri)],
        [ExtendedKeyUsageOID.CLIENT_AUTH],
    )


def principal_of_certificate(cert: x509.Certificate) -> Principal:
    """The principal a (verified) certificate names; ValueError if it names none."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = [str(u) for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        uris = []
    units = [
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ]
    return principal_from_names(uris, units)


def principal_of_pem(pem: bytes) -> Principal:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ValueError(f"unreadable certificate: {exc}") from None
    return principal_of_certificate(cert)


def _key_usage(ca: bool) -> x509.KeyUsage:
    """Signatures for every certificate; certificate and CRL signing for the CA only."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
