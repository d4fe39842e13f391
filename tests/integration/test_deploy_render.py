"""`jiaodong deploy render` through the CLI, and its output checked by the tools that will read
it: every NATS configuration by `nats-server -t` (with real certificate files), every YAML file
by PyYAML, every Kubernetes object against the Kubernetes schemas (kubernetes-validate, offline:
the schemas ship with it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from jiaodong.bus.embedded import nats_server_binary
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import init_pki

LAYOUT = Path(__file__).parents[2] / "deploy" / "layouts" / "jiaodong.toml"
KUBERNETES = "1.30.0"
RENDER = [sys.executable, "-m", "jiaodong.cli.main", "deploy", "render"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The region rendered from the real layout, its NATS TLS folder pointed at a development
    PKI (nats-server -t opens the certificate files), and that PKI folder."""
    root = tmp_path_factory.mktemp("render")
    pki = root / "pki"
    init_pki(pki, load_registry(None))
    layout = root / "layout.toml"
    layout.write_text(
        LAYOUT.read_text(encoding="utf-8").replace('"/etc/nats/tls"', f'"{pki}"'),
        encoding="utf-8",
    )
    out = root / "out"
    done = subprocess.run(
        [*RENDER, "--layout", str(layout), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "nats-server -t" in done.stdout
    return out, pki


def test_every_nats_config_passes_nats_server_t(rendered: tuple[Path, Path]) -> None:
    out, _ = rendered
    configs = sorted((out / "nats").glob("*.conf"))
    assert len(configs) == 5
    for conf in configs:
        assert oct(conf.stat().st_mode & 0o777) == "0o600"
        check = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, (conf.name, check.stdout + check.stderr)
        assert "is valid" in check.stdout + check.stderr


def test_the_kubernetes_nats_configs_pass_nats_server_t(
    rendered: tuple[Path, Path], tmp_path: Path
) -> None:
    out, _ = rendered
    docs = list(yaml.safe_load_all((out / "k8s" / "region.yaml").read_text(encoding="utf-8")))
    maps = [d for d in docs if d["kind"] == "ConfigMap" and "nats-server.conf" in d["data"]]
    assert len(maps) == 5
    for config_map in maps:
        conf = tmp_path / f"{config_map['metadata']['name']}.conf"
        conf.write_text(config_map["data"]["nats-server.conf"], encoding="utf-8")
        check = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(conf)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, (conf.name, check.stdout + check.stderr)


def test_every_yaml_parses_and_every_manifest_validates(rendered: tuple[Path, Path]) -> None:
    out, _ = rendered
    files = sorted(out.rglob("*.yaml"))
    assert {f.relative_to(out).as_posix() for f in files} == {
        "compose.yaml",
        "k8s/region.yaml",
        "k8s/kustomization.yaml",
    }
    for path in files:
        assert list(yaml.safe_load_all(path.read_text(encoding="utf-8"))), path
    docs = list(yaml.safe_load_all((out / "k8s" / "region.yaml").read_text(encoding="utf-8")))
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ConfigMap", "Service", "StatefulSet", "Deployment"} <= kinds
    assert "PodDisruptionBudget" in kinds
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_a_broken_manifest_is_caught_by_the_validator(rendered: tuple[Path, Path]) -> None:
    """The check above can fail: a Deployment with a probe port of the wrong type is refused."""
    out, _ = rendered
    docs = list(yaml.safe_load_all((out / "k8s" / "region.yaml").read_text(encoding="utf-8")))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"]["httpGet"]["port"] = {"name": "metrics"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_the_kustomization_generates_every_secret_from_files(rendered: tuple[Path, Path]) -> None:
    out, _ = rendered
    kust = yaml.safe_load((out / "k8s" / "kustomization.yaml").read_text(encoding="utf-8"))
    names = {g["name"] for g in kust["secretGenerator"]}
    docs = list(yaml.safe_load_all((out / "k8s" / "region.yaml").read_text(encoding="utf-8")))
    wanted = set()
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                wanted.add(volume["secret"]["secretName"])
        for container in spec.get("containers", []):
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    wanted.add(source["secretRef"]["name"])
    assert wanted and wanted <= names
    for generator in kust["secretGenerator"]:
        for entry in generator.get("files", []):
            assert "=" in entry and entry.split("=", 1)[1].startswith("tls/")


def test_compose_names_every_service(rendered: tuple[Path, Path]) -> None:
    out, _ = rendered
    data = yaml.safe_load((out / "compose.yaml").read_text(encoding="utf-8"))
    services = set(data["services"])
    assert {"postgres", "coordinator"} <= services
    assert {f"node-{c}" for c in ("qingdao", "yantai", "weifang", "weihai", "rizhao")} <= services
    assert {f"nats-{c}-1" for c in ("qingdao", "yantai", "weifang", "weihai", "rizhao")} <= services


def test_a_bad_layout_is_one_line_and_exit_2(tmp_path: Path) -> None:
    layout = tmp_path / "layout.toml"
    layout.write_text(
        LAYOUT.read_text(encoding="utf-8").replace("[cities.rizhao]", "[cities.linyi]"),
        encoding="utf-8",
    )
    done = subprocess.run(
        [*RENDER, "--layout", str(layout), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "JD_LANG": "en"},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "cities.linyi" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
