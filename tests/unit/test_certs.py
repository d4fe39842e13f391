"""The development CA (jiaodong.security.certs), on files in a temporary folder."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import NameOID

from jiaodong.domain.identity import BadIdentity, Identity, Role
from jiaodong.domain.registry import Registry
from jiaodong.files.registry import load_registry
from jiaodong.security import certs

SAMPLE = [
    Identity(Role.COORDINATOR, "region"),
    Identity(Role.NODE, "node-qingdao"),
    Identity(Role.NODE, "node-rizhao"),
    Identity(Role.OFFICER, "370202"),
    Identity(Role.CLERK, "370602"),
    Identity(Role.OPERATOR, "qingdao"),
    Identity(Role.OPERATOR, "region"),
    Identity(Role.AUDITOR, "region"),
]
SERVICES = (Role.NODE, Role.COORDINATOR)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(None)


@pytest.fixture(scope="module")
def pki(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One development CA for the read-only tests of this module."""
    root = tmp_path_factory.mktemp("pki") / "pki"
    certs.init_pki(root, registry)
    return root


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def host_names(cert: x509.Certificate) -> set[str]:
    names = sans(cert)
    dns = set(names.get_values_for_type(x509.DNSName))
    return dns | {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}


def self_signed(uris: list[str] | None) -> bytes:
    """A certificate from nowhere, with the given URI SANs (None: no SAN extension)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if uris is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]),
            critical=False,
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM)


# --- who gets a certificate -----------------------------------------------------------------------


def test_identities_cover_every_holder_once(registry: Registry) -> None:
    people = certs.identities(registry)
    assert len(people) == len(set(people))
    expected = {Identity(Role.COORDINATOR, "region"), Identity(Role.AUDITOR, "region")}
    expected |= {Identity(Role.OPERATOR, "region")}
    expected |= {Identity(Role.NODE, city.node) for city in registry.cities.values()}
    expected |= {Identity(Role.OPERATOR, city) for city in registry.cities}
    for court in registry.courts:
        expected |= {Identity(Role.OFFICER, court), Identity(Role.CLERK, court)}
    assert set(people) == expected
    assert set(SAMPLE) <= expected


def test_init_writes_the_ca_and_one_certificate_per_identity(pki: Path, registry: Registry) -> None:
    assert (pki / "ca.pem").is_file()
    assert (pki / "ca.key").is_file()
    found: list[Identity] = []
    unnamed: list[str] = []
    for path in sorted(pki.glob("*.pem")):
        try:
            found.append(certs.identity_of(path.read_bytes()))
        except BadIdentity:
            unnamed.append(path.name)
        assert path.with_suffix(".key").is_file(), f"{path.name} has no key"
    assert sorted(found, key=str) == sorted(certs.identities(registry), key=str)
    assert unnamed == ["ca.pem", "nats-server.pem"]


def test_keys_are_private(pki: Path) -> None:
    keys = sorted(pki.glob("*.key"))
    assert len(keys) == len(list(pki.glob("*.pem")))
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key.name
    assert stat.S_IMODE(pki.stat().st_mode) == 0o700
    assert not list(pki.glob("*.tmp"))


@pytest.mark.parametrize("identity", SAMPLE, ids=lambda i: i.label)
def test_each_certificate_names_its_holder_and_chains_to_the_ca(
    pki: Path, identity: Identity
) -> None:
    files = certs.files_for(pki, identity)
    assert certs.identity_of(files.cert.read_bytes()) == identity
    cert = load(files.cert)
    cert.verify_directly_issued_by(load(pki / "ca.pem"))
    # The key on disk belongs to the certificate.
    key = load_pem_private_key(files.key.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()
    now = dt.datetime.now(dt.UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc


@pytest.mark.parametrize("identity", [i for i in SAMPLE if i.role in SERVICES], ids=str)
def test_service_certificates_carry_local_server_names(pki: Path, identity: Identity) -> None:
    cert = load(certs.files_for(pki, identity).cert)
    assert {"localhost", "127.0.0.1"} <= host_names(cert)
    assert ipaddress.ip_address("127.0.0.1") in sans(cert).get_values_for_type(x509.IPAddress)
    assert "localhost" in sans(cert).get_values_for_type(x509.DNSName)


@pytest.mark.parametrize("identity", [i for i in SAMPLE if i.role not in SERVICES], ids=str)
def test_client_certificates_carry_no_server_names(pki: Path, identity: Identity) -> None:
    cert = load(certs.files_for(pki, identity).cert)
    assert host_names(cert) == set()
    assert sans(cert).get_values_for_type(x509.UniformResourceIdentifier) == [identity.uri]


def test_nats_server_certificate_names_hosts_only(pki: Path) -> None:
    cert = load(pki / "nats-server.pem")
    assert {"localhost", "127.0.0.1"} <= host_names(cert)
    assert sans(cert).get_values_for_type(x509.UniformResourceIdentifier) == []


def test_extra_hosts_go_to_services_only(registry: Registry, tmp_path: Path) -> None:
    certs.init_pki(tmp_path, registry, hosts=["jd.example.org", "10.0.0.7"])
    node = load(certs.files_for(tmp_path, Identity(Role.NODE, "node-yantai")).cert)
    assert host_names(node) == {"localhost", "127.0.0.1", "jd.example.org", "10.0.0.7"}
    officer = load(certs.files_for(tmp_path, Identity(Role.OFFICER, "370602")).cert)
    assert host_names(officer) == set()


# --- re-running init ------------------------------------------------------------------------------


def test_second_init_writes_nothing(registry: Registry, tmp_path: Path) -> None:
    first = certs.init_pki(tmp_path, registry)
    assert tmp_path / "ca.pem" in first
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert certs.init_pki(tmp_path, registry) == []
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_init_fills_in_a_missing_certificate_only(registry: Registry, tmp_path: Path) -> None:
    certs.init_pki(tmp_path, registry)
    ca = (tmp_path / "ca.pem").read_bytes()
    officer = Identity(Role.OFFICER, "370202")
    certs.files_for(tmp_path, officer).cert.unlink()
    written = certs.init_pki(tmp_path, registry)
    assert len(written) == 1
    assert certs.identity_of(written[0].read_bytes()) == officer
    assert (tmp_path / "ca.pem").read_bytes() == ca
    load(written[0]).verify_directly_issued_by(load(tmp_path / "ca.pem"))


def test_force_starts_over_with_a_new_ca(registry: Registry, tmp_path: Path) -> None:
    certs.init_pki(tmp_path, registry)
    node = Identity(Role.NODE, "node-qingdao")
    old_ca = load(tmp_path / "ca.pem")
    old_node = load(certs.files_for(tmp_path, node).cert)
    written = certs.init_pki(tmp_path, registry, force=True)
    new_ca = load(tmp_path / "ca.pem")
    assert new_ca.public_key() != old_ca.public_key()
    assert len(written) == len(list(tmp_path.glob("*.pem")))
    old_node.verify_directly_issued_by(old_ca)
    with pytest.raises(InvalidSignature):
        old_node.verify_directly_issued_by(new_ca)
    new_node = load(certs.files_for(tmp_path, node).cert)
    new_node.verify_directly_issued_by(new_ca)
    assert certs.identity_of(new_node.public_bytes(Encoding.PEM)) == node


def test_a_lost_ca_reissues_everything(registry: Registry, tmp_path: Path) -> None:
    certs.init_pki(tmp_path, registry)
    (tmp_path / "ca.pem").unlink()
    written = certs.init_pki(tmp_path, registry)
    assert len(written) == len(list(tmp_path.glob("*.pem")))
    ca = load(tmp_path / "ca.pem")
    for path in written[1:]:
        load(path).verify_directly_issued_by(ca)


# --- issue ----------------------------------------------------------------------------------------


def test_issue_an_expired_certificate(tmp_path: Path) -> None:
    certs.create_ca(tmp_path)
    now = dt.datetime.now(dt.UTC)
    officer = Identity(Role.OFFICER, "370202")
    files = certs.issue(
        tmp_path,
        "expired-officer",
        officer,
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    cert = load(files.cert)
    assert cert.not_valid_after_utc < now
    assert cert.not_valid_after_utc == (now - dt.timedelta(days=1)).replace(microsecond=0)
    assert certs.identity_of(files.cert.read_bytes()) == officer
    cert.verify_directly_issued_by(load(tmp_path / "ca.pem"))


def test_issue_with_days(tmp_path: Path) -> None:
    certs.create_ca(tmp_path)
    files = certs.issue(tmp_path, "short", Identity(Role.CLERK, "370602"), days=2)
    cert = load(files.cert)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=2)


def test_issue_for_hosts_only_and_for_nobody(tmp_path: Path) -> None:
    certs.create_ca(tmp_path)
    files = certs.issue(tmp_path, "broker", None, hosts=["localhost", "::1"])
    assert host_names(load(files.cert)) == {"localhost", "::1"}
    with pytest.raises(BadIdentity):
        certs.identity_of(files.cert.read_bytes())
    with pytest.raises(ValueError):
        certs.issue(tmp_path, "nobody", None)
    assert not (tmp_path / "nobody.pem").exists()


def test_files_for_a_missing_certificate_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="certs init"):
        certs.files_for(tmp_path, Identity(Role.OFFICER, "370202"))


# --- identity_of ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uris",
    [
        None,
        [],
        ["https://court.example/officer/370202"],
        ["urn:jiaodong:officer:370202", "urn:jiaodong:clerk:370202"],
        ["urn:jiaodong:officer:37020"],
        ["urn:jiaodong:auditor:qingdao"],
    ],
    ids=["no-san", "no-uri", "foreign-uri", "two-identities", "short-court", "city-auditor"],
)
def test_identity_of_refuses_certificates_naming_nobody_or_several(
    uris: list[str] | None,
) -> None:
    with pytest.raises(BadIdentity):
        certs.identity_of(self_signed(uris))


def test_identity_of_a_foreign_certificate_with_our_uri() -> None:
    # identity_of reads the name only; trusting the issuer is the TLS layer's job.
    pem = self_signed(["https://x.example", "urn:jiaodong:operator:weihai"])
    assert certs.identity_of(pem) == Identity(Role.OPERATOR, "weihai")


@pytest.mark.parametrize("data", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\n"])
def test_identity_of_garbage(data: bytes) -> None:
    with pytest.raises(BadIdentity):
        certs.identity_of(data)


def test_identity_of_the_ca(pki: Path) -> None:
    with pytest.raises(BadIdentity):
        certs.identity_of((pki / "ca.pem").read_bytes())


# --- describe -------------------------------------------------------------------------------------


def test_describe_lists_every_certificate(pki: Path, registry: Registry) -> None:
    rows = certs.describe(pki)
    assert [name for name, _, _ in rows] == sorted(p.name for p in pki.glob("*.pem"))
    by_file = {name: (who, expires) for name, who, expires in rows}
    assert by_file["ca.pem"][0] == "(CA)"
    assert by_file["nats-server.pem"][0] == "(server only)"
    assert by_file["officer-370202.pem"][0] == "officer:370202"
    assert by_file["coordinator.pem"][0] == "coordinator:region"
    labels = {who for who, _ in by_file.values()} - {"(CA)", "(server only)"}
    assert labels == {i.label for i in certs.identities(registry)}
    for name, (_, expires) in by_file.items():
        assert expires == load(pki / name).not_valid_after_utc.date().isoformat()
    assert by_file["ca.pem"][1] > by_file["officer-370202.pem"][1]


def test_describe_shows_an_expired_certificate(tmp_path: Path) -> None:
    certs.create_ca(tmp_path)
    now = dt.datetime.now(dt.UTC)
    certs.issue(
        tmp_path,
        "old",
        Identity(Role.AUDITOR, "region"),
        not_before=now - dt.timedelta(days=400),
        not_after=now - dt.timedelta(days=365),
    )
    rows = {name: (who, expires) for name, who, expires in certs.describe(tmp_path)}
    assert rows["old.pem"] == (
        "auditor:region",
        (now - dt.timedelta(days=365)).date().isoformat(),
    )
    assert set(rows) == {"ca.pem", "old.pem"}
