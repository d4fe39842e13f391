"""A development certificate authority: `jiaodong certs init DIR`.

One folder holds the CA and, flat, one ``<name>.pem`` / ``<name>.key`` pair per holder:

    ca.pem ca.key                      the CA (keep ca.key offline in production)
    coordinator.pem                    the coordinator (server and client)
    node-qingdao.pem …                 each city node (server, and NATS client)
    nats-server.pem                    the NATS server
    officer-370202.pem clerk-370202.pem   each court's client systems, per role
    operator-qingdao.pem … operator-region.pem   command centres
    auditor-region.pem                 the auditor

Each certificate names its holder in a URI SAN (``urn:jiaodong:<role>:<scope>``, see
jiaodong.domain.identity); servers also carry DNS/IP SANs for the hosts they listen on.
Keys are ECDSA P-256, written with mode 0600. Production uses certificates from the courts' own
CA with the same URI SANs (docs/security.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jiaodong.domain.identity import REGION, BadIdentity, Identity, Role
from jiaodong.domain.registry import Registry

ORGANIZATION = "Jiaodong Courts"
DEFAULT_DAYS = 825
LOCAL_HOSTS = ("localhost", "127.0.0.1")
NATS_SERVER = "nats-server"


@dataclass(frozen=True)
class TlsFiles:
    """The three files one holder needs: the CA to trust, its certificate and its key."""

    ca: Path
    cert: Path
    key: Path

    def read(self) -> tuple[bytes, bytes, bytes]:
        return self.ca.read_bytes(), self.cert.read_bytes(), self.key.read_bytes()


def stem_for(identity: Identity) -> str:
    """The file name (without suffix) of an identity's certificate in a dev CA folder."""
    if identity.role is Role.NODE:
        return identity.scope
    if identity.role is Role.COORDINATOR:
        return "coordinator"
    return f"{identity.role.value}-{identity.scope}"


def files(root: Path, stem: str) -> TlsFiles:
    return TlsFiles(root / "ca.pem", root / f"{stem}.pem", root / f"{stem}.key")


def files_for(root: Path, identity: Identity) -> TlsFiles:
    found = files(root, stem_for(identity))
    if not found.cert.exists():
        raise FileNotFoundError(
            f"no certificate for {identity.label} in {root} (expected {found.cert.name}); "
            f"run `jiaodong certs init {root}`"
        )
    return found


def identities(registry: Registry) -> list[Identity]:
    """Everyone the development CA issues for: services, every court's roles, operators, auditor."""
    out = [Identity(Role.COORDINATOR, REGION)]
    out += [Identity(Role.NODE, node) for node in registry.nodes()]
    for court in sorted(registry.courts):
        out += [Identity(Role.OFFICER, court), Identity(Role.CLERK, court)]
    out += [Identity(Role.OPERATOR, city) for city in sorted(registry.cities)]
    out += [Identity(Role.OPERATOR, REGION), Identity(Role.AUDITOR, REGION)]
    return out


def _write(path: Path, data: bytes, *, secret: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def create_ca(root: Path, *, days: int = 3650, name: str = "Jiaodong Development CA") -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(root / "ca.key", _key_pem(key), secret=True)
    _write(root / "ca.pem", cert.public_bytes(serialization.Encoding.PEM), secret=False)


def _load_ca(root: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((root / "ca.pem").read_bytes())
    key = serialization.load_pem_private_key((root / "ca.key").read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{root / 'ca.key'} is not an EC key")
    return cert, key


def _san(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue(
    root: Path,
    stem: str,
    identity: Identity | None,
    *,
    hosts: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> TlsFiles:
    """Issue one certificate from the CA in ``root``: client and server use, the identity as a URI
    SAN, ``hosts`` as DNS/IP SANs. Validity may be set exactly (tests issue expired ones)."""
    ca_cert, ca_key = _load_ca(root)
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or _now() - dt.timedelta(minutes=5)
    end = not_after or start + dt.timedelta(days=days)
    sans: list[x509.GeneralName] = []
    if identity is not None:
        sans.append(x509.UniformResourceIdentifier(identity.uri))
    sans += _san(hosts)
    if not sans:
        raise ValueError("a certificate needs an identity or a host name")
    common_name = identity.label if identity is not None else stem
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    out = files(root, stem)
    _write(out.key, _key_pem(key), secret=True)
    _write(out.cert, cert.public_bytes(serialization.Encoding.PEM), secret=False)
    return out


def init_pki(
    root: Path,
    registry: Registry,
    *,
    hosts: Sequence[str] = (),
    days: int = DEFAULT_DAYS,
    force: bool = False,
) -> list[Path]:
    """Create the CA (unless one is there) and every missing certificate; returns what was
    written. ``force`` starts over with a new CA. Services get ``localhost``, ``127.0.0.1`` and
    ``hosts`` as server names."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    written: list[Path] = []
    if force or not (root / "ca.pem").exists():
        create_ca(root)
        written.append(root / "ca.pem")
        force = True
    server_hosts = [*LOCAL_HOSTS, *hosts]
    wanted: list[tuple[str, Identity | None, Sequence[str]]] = [(NATS_SERVER, None, server_hosts)]
    for person in identities(registry):
        is_service = person.role in (Role.NODE, Role.COORDINATOR)
        wanted.append((stem_for(person), person, server_hosts if is_service else ()))
    for stem, identity, names in wanted:
        if force or not (root / f"{stem}.pem").exists():
            written.append(issue(root, stem, identity, hosts=names, days=days).cert)
    return written


def identity_of(cert_pem: bytes) -> Identity:
    """The jiaodong identity a PEM certificate carries (raises BadIdentity)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise BadIdentity(f"not a PEM certificate: {exc}") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise BadIdentity("certificate has no subject alternative names") from None
    return Identity.from_uris(san.get_values_for_type(x509.UniformResourceIdentifier))


def describe(root: Path) -> list[tuple[str, str, str]]:
    """(file, identity, expires) for every certificate in a folder, for `jiaodong certs list`."""
    rows = []
    for path in sorted(root.glob("*.pem")):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        try:
            who = identity_of(path.read_bytes()).label
        except BadIdentity:
            who = "(CA)" if path.name == "ca.pem" else "(server only)"
        rows.append((path.name, who, cert.not_valid_after_utc.date().isoformat()))
    return rows


def issued_by(cert_pem: bytes, ca_pem: bytes) -> bool:
    """Whether the certificate (with the chain its file may carry after it) comes from one of
    the CAs in ``ca_pem``: a service's own certificate from another CA would only fail later,
    in every peer's handshake."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
        authorities = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        return False
    for cert in chain:
        for ca in authorities:
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
    return False
