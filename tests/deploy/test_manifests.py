"""deploy/kubernetes/: the manifests parse, agree with each other, with the image and with
the connector's settings; the probes, the security context and the secrets line up."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import ServeSettings, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
SECRETS_DIR = "/run/secrets"


def documents(name: str) -> list[dict[str, Any]]:
    with (K8S / name).open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def one(name: str, kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in documents(name) if doc["kind"] == kind]
    return found


def deployment() -> dict[str, Any]:
    return one("deployment-serve.yaml", "Deployment")


def cronjob() -> dict[str, Any]:
    return one("cronjob-sync.yaml", "CronJob")


def pod_specs() -> dict[str, dict[str, Any]]:
    return {
        "serve": deployment()["spec"]["template"]["spec"],
        "sync": cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    }


def container(pod: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod["containers"]
    return only


def connector_toml() -> str:
    return one("configmap.yaml", "ConfigMap")["data"]["connector.toml"]


def example_secret() -> dict[str, Any]:
    return one("secret.example.yaml", "Secret")


def image_uid() -> int:
    (user,) = re.findall(r"^USER (\d+):\d+$", (ROOT / "Dockerfile").read_text(), re.M)
    return int(user)


def test_given_every_manifest_it_parses_as_kubernetes_objects() -> None:
    names = sorted(p.name for p in K8S.glob("*.yaml"))
    assert names == ["configmap.yaml", "cronjob-sync.yaml", "deployment-serve.yaml",
                     "kustomization.yaml", "secret.example.yaml"]
    for name in names:
        for doc in documents(name):
            assert doc["apiVersion"] and doc["kind"], name


def test_given_serve_it_is_one_replica_replaced_not_rolled() -> None:
    spec = deployment()["spec"]
    assert spec["replicas"] == 1  # the run lock admits one loop
    assert spec["strategy"] == {"type": "Recreate"}
    assert container(pod_specs()["serve"])["args"][-1] == "serve"


def test_given_the_probes_they_call_healthz_on_the_container_port() -> None:
    serve = container(pod_specs()["serve"])
    ports = {port["name"]: port["containerPort"] for port in serve["ports"]}
    assert ports == {"http": ServeSettings().port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = serve[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        assert ports.get(get["port"], get["port"]) == ServeSettings().port, probe
    # Liveness gives up later than readiness: an outage takes the pod out of the Service
    # before it restarts it.
    live, ready = serve["livenessProbe"], serve["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > (
        ready["periodSeconds"] * ready["failureThreshold"]
    )


def test_given_the_configmap_its_serve_port_is_the_container_port() -> None:
    settings = tomllib.loads(connector_toml())
    assert settings["serve"]["port"] == ServeSettings().port
    assert settings["serve"]["host"] == "0.0.0.0"


def test_given_the_service_and_annotations_they_reach_the_container_port() -> None:
    service = one("deployment-serve.yaml", "Service")
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    assert service["spec"]["selector"] == deployment()["spec"]["selector"]["matchLabels"]
    template = deployment()["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/scrape"] == "true"
    assert template["annotations"]["prometheus.io/port"] == str(ServeSettings().port)
    assert template["annotations"]["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("workload", ["serve", "sync"])
def test_given_each_pod_it_runs_non_root_read_only_without_privileges(workload: str) -> None:
    pod = pod_specs()[workload]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid()
    assert pod["automountServiceAccountToken"] is False
    security = container(pod)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container(pod)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert volumes[mounts["/config"]]["configMap"]["name"] == one(
        "configmap.yaml", "ConfigMap")["metadata"]["name"]
    assert volumes[mounts[SECRETS_DIR]]["secret"]["secretName"] == example_secret()[
        "metadata"]["name"]
    env = {e["name"]: e.get("value") for e in container(pod)["env"]}
    assert env["CONNECTOR_CONFIG"] == "/config/connector.toml"
    assert "memory" in container(pod)["resources"]["limits"]


def test_given_the_cronjob_it_never_overlaps_and_does_not_retry_blindly() -> None:
    spec = cronjob()["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"] == "*/10 * * * *"
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert container(pod_specs()["sync"])["args"][-1] == "sync"
    text = (K8S / "cronjob-sync.yaml").read_text()
    assert "4 ANOTHER RUN HOLDS THE LOCK" in text


def test_given_the_config_every_secret_file_it_names_is_a_key_of_the_secret() -> None:
    named = set(re.findall(rf'"{SECRETS_DIR}/([^"]+)"', connector_toml()))
    assert named  # the config takes its secrets from files
    assert named == set(example_secret()["stringData"])


def test_given_the_example_secret_it_holds_placeholders_only() -> None:
    for key, value in example_secret()["stringData"].items():
        assert "REPLACE" in value, key


def test_given_the_configmap_it_holds_no_secret_and_points_state_at_postgresql() -> None:
    settings = tomllib.loads(connector_toml())
    for section in settings.values():
        for key in ("access_token", "client_secret", "password", "consumer_secret",
                    "session_id"):
            assert key not in section
    url = settings["state"]["url"]
    assert url.startswith("postgresql://")
    assert ":" not in url.split("://", 1)[1].split("@", 1)[0]  # no password in the URL


def test_given_the_configmap_the_connector_accepts_it(tmp_path: Path, monkeypatch) -> None:
    """The ConfigMap's connector.toml is valid for the connector itself (no unknown key,
    every secret file readable), with /run/secrets and the image's mappings moved here."""
    for name in [n for n in os.environ if n.startswith("CONNECTOR_")]:
        if not name.startswith("CONNECTOR_TEST_"):
            monkeypatch.delenv(name)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for key, value in example_secret()["stringData"].items():
        (secrets / key).write_text(value)
    text = connector_toml().replace(f"{SECRETS_DIR}/", f"{secrets}/").replace(
        "/opt/connector/mappings", str(ROOT / "mappings"))
    config = tmp_path / "connector.toml"
    config.write_text(text)
    settings = load_settings(config)
    assert settings.state.url is not None
    assert settings.hubspot_token().get_secret_value() == "REPLACE-WITH-THE-HUBSPOT-SERVICE-KEY"


def test_given_every_workload_the_image_is_the_same() -> None:
    images = {container(pod)["image"] for pod in pod_specs().values()}
    assert len(images) == 1
    name, _, tag = images.pop().rpartition(":")
    (entry,) = yaml.safe_load((K8S / "kustomization.yaml").read_text())["images"]
    assert entry["name"] == name
    assert entry["newTag"] == tag
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert tag == version


def test_given_the_kustomization_it_applies_serve_or_cron_never_both_nor_the_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    for resource in resources:
        assert (K8S / resource).exists(), resource
    assert "secret.example.yaml" not in resources
    assert ("deployment-serve.yaml" in resources) != ("cronjob-sync.yaml" in resources)
