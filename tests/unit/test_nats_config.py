"""The generated NATS server configuration: every node may act for exactly its own courts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jiaodong.bus.subjects import coordinator_consumer, node_consumer
from jiaodong.domain.registry import Registry
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import init_pki
from jiaodong.security.nats_config import (
    Permissions,
    client_auth,
    coordinator_permissions,
    inbox_prefix,
    nats_user,
    node_consumers,
    node_permissions,
    permissions,
    render_server_config,
    write_server_config,
)

REGISTRY = load_registry(None)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    init_pki(root, REGISTRY)
    return root


def parse_users(text: str) -> dict[str, Permissions]:
    """The users of a rendered configuration (it writes one quoted value per line)."""
    users: dict[str, Permissions] = {}
    blocks = re.split(r"^\s*user: ", text, flags=re.M)[1:]
    for block in blocks:
        name = json.loads(block.splitlines()[0])
        pub = re.search(r"publish: \{ allow: \[(.*?)\]", block, flags=re.S)
        sub = re.search(r"subscribe: \{ allow: \[(.*?)\]", block, flags=re.S)
        assert pub and sub, block
        users[name] = Permissions(
            tuple(json.loads(v) for v in pub.group(1).split()),
            tuple(json.loads(v) for v in sub.group(1).split()),
            "allow_responses: true" in block,
        )
    return users


def courts_of(registry: Registry, node: str) -> set[str]:
    return {c.court_id for c in registry.courts_of_node(node)}


def test_every_node_publishes_for_exactly_its_courts(pki: Path, tmp_path: Path) -> None:
    text = render_server_config(REGISTRY, pki, store_dir=tmp_path / "js", port=4333)
    users = parse_users(text)
    assert set(users) == {nats_user("coordinator")} | {nats_user(n) for n in REGISTRY.nodes()}
    all_courts = set(REGISTRY.courts)
    for node in REGISTRY.nodes():
        perms = users[nats_user(node)]
        own = courts_of(REGISTRY, node)
        court_subjects = [s for s in perms.publish if s.startswith("jd.")]
        assert sorted(court_subjects) == sorted(
            [f"jd.v1.coord.{c}.*" for c in own] + [f"jd.v1.digest.{c}.digest" for c in own]
        )
        assert {s.split(".")[3] for s in court_subjects} <= all_courts
        assert sorted(s for s in perms.publish if not s.startswith("jd.")) == sorted(
            [
                f"$JS.API.CONSUMER.INFO.JD_COURT.{node}",
                f"$JS.API.CONSUMER.MSG.NEXT.JD_COURT.{node}",
                f"$JS.ACK.JD_COURT.{node}.>",
                # The coordinator's backlog (to pace reconciliation): information only.
                "$JS.API.CONSUMER.INFO.JD_COORD.coordinator",
                "$JS.API.CONSUMER.INFO.JD_DIGEST.coordinator-digest",
            ]
        )
        # Its own inbox, and its own city's operator questions (answered once each).
        city = REGISTRY.courts_of_node(node)[0].city
        assert perms.subscribe == (f"_INBOX_{node}.>", f"jd.v1.ops.{city}.parked")
        assert perms.allow_responses
        # Nothing of anyone else, no wildcard over courts, streams or the JetStream API.
        others = [n for n in REGISTRY.nodes() if n != node]
        for subject in perms.publish + perms.subscribe:
            assert not any(other in subject for other in others), subject
            assert "jd.v1.court" not in subject and "jd.v1.coord.*" not in subject
            assert not subject.endswith(("$JS.API.>", "JD_COURT.*", "JD_COURT.>"))
            for verb in ("CREATE", "DELETE", "PURGE", "UPDATE", "LIST", "NAMES", "MSG.GET"):
                assert f".{verb}." not in subject, subject


def test_coordinator_provisions_but_never_deletes() -> None:
    perms = coordinator_permissions()
    assert "jd.v1.court.*.*" in perms.publish
    assert "jd.v1.ops.*.parked" in perms.publish  # asks the nodes; answers come to its inbox
    assert not perms.allow_responses
    assert not [s for s in perms.publish if s.startswith("jd.v1.coord")]
    for verb in ("DELETE", "PURGE", "UPDATE", "MSG.GET", "LIST"):
        assert not [s for s in perms.publish if f".{verb}." in s or s.endswith(f".{verb}")]
    assert "$JS.API.STREAM.CREATE.JD_COURT" in perms.publish
    assert "$JS.API.CONSUMER.DURABLE.CREATE.JD_COURT.*" in perms.publish
    assert "$JS.API.CONSUMER.MSG.NEXT.JD_COORD.coordinator" in perms.publish
    assert "$JS.API.CONSUMER.MSG.NEXT.JD_DIGEST.coordinator-digest" in perms.publish
    assert "$JS.API.STREAM.CREATE.JD_DIGEST" in perms.publish
    assert not [s for s in perms.publish if s.startswith("jd.v1.digest")]
    assert "$JS.API.CONSUMER.MSG.NEXT.JD_COURT.*" not in perms.publish
    assert perms.subscribe == ("_INBOX_coordinator.>",)


def test_node_permissions_follow_the_consumer_it_binds_to() -> None:
    spec = node_consumer("node-qingdao", ["370202", "370200"])
    perms = node_permissions("node-qingdao", ["370202", "370200", "370202"], city="qingdao")
    assert perms.publish[:2] == ("jd.v1.coord.370200.*", "jd.v1.coord.370202.*")
    assert f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}" in perms.publish
    with pytest.raises(ValueError):
        node_permissions("node-empty", [], city="")


def test_node_consumers_cover_every_node_with_its_courts() -> None:
    specs = {s.durable: s for s in node_consumers(REGISTRY)}
    assert set(specs) == set(REGISTRY.nodes())
    for node, spec in specs.items():
        assert spec == node_consumer(node, sorted(courts_of(REGISTRY, node)))
    assert set(permissions(REGISTRY)) == {"coordinator", *REGISTRY.nodes()}
    assert coordinator_consumer().durable == "coordinator"


def test_rendered_config_has_tls_mapping_and_the_store(pki: Path, tmp_path: Path) -> None:
    text = render_server_config(
        REGISTRY, pki, store_dir=tmp_path / "js", host="0.0.0.0", port=4333, sync_always=False
    )
    assert 'listen: "0.0.0.0:4333"' in text
    assert "max_payload: 8MB" in text
    assert f"store_dir: {json.dumps((tmp_path / 'js').resolve().as_posix())}" in text
    assert "sync_interval" not in text
    assert "verify_and_map: true" in text
    for name in ("ca.pem", "nats-server.pem", "nats-server.key"):
        assert json.dumps((pki / name).resolve().as_posix()) in text
    assert "password" not in text
    durable = render_server_config(REGISTRY, pki, store_dir=tmp_path / "js")
    assert "sync_interval: always" in durable

    path = write_server_config(tmp_path / "conf" / "nats.conf", text)
    assert path.read_text() == text
    assert path.stat().st_mode & 0o777 == 0o600


def test_render_needs_the_server_certificate(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="certs init"):
        render_server_config(REGISTRY, tmp_path / "empty", store_dir=tmp_path / "js")


def test_client_auth(pki: Path) -> None:
    auth = client_auth(pki, "node-yantai")
    assert auth.tls.cert == pki / "node-yantai.pem" and auth.tls.key == pki / "node-yantai.key"
    assert auth.tls.ca == pki / "ca.pem"
    assert auth.user == "urn:jiaodong:node:node-yantai"
    assert auth.inbox_prefix == inbox_prefix("node-yantai") == "_INBOX_node-yantai"
    assert client_auth(pki, "coordinator").user == "urn:jiaodong:coordinator:region"
    auth.ssl_context()  # loads the CA, the certificate and the key
    with pytest.raises(FileNotFoundError):
        client_auth(pki, "node-atlantis")
