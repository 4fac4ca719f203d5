"""Build and start the image, when a Docker daemon answers (`docker info`); skipped
otherwise. The entrypoint and the manifests are tested without Docker beside this file."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if not _docker_answers():
        pytest.skip("no Docker daemon here (docker info failed or docker is not installed)")
    tag = f"connector-test:{uuid.uuid4().hex[:12]}"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


def _run(image: str, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["docker", "run", "--rm", "--read-only", "--tmpfs", "/tmp"]
    command += ["--user", user] if user else []
    return subprocess.run([*command, image, *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_given_the_built_image_its_config_is_the_one_documented(image: str) -> None:
    inspect = subprocess.run(["docker", "image", "inspect", image], capture_output=True,
                             text=True, check=True)
    config = json.loads(inspect.stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/docker-entrypoint.sh"]
    assert config["Cmd"] == ["serve"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][-1] == "/usr/local/bin/connector-healthcheck"


def test_given_the_image_the_connector_starts(image: str) -> None:
    result = _run(image, "--version")
    assert result.returncode == 0, result.stderr
    assert "connector" in result.stdout


def test_given_the_image_without_config_sync_exits_2(image: str) -> None:
    result = _run(image, "sync")
    assert result.returncode == 2
    assert "CONNECTOR_STATE__URL" in result.stderr


def test_given_the_image_run_as_root_it_exits_2(image: str) -> None:
    result = _run(image, "serve", user="0")
    assert result.returncode == 2
    assert "root" in result.stderr


def test_given_the_image_the_shipped_mappings_validate(image: str) -> None:
    result = _run(image, "mappings", "validate", "--dir", "/opt/connector/mappings")
    assert result.returncode == 0, result.stdout + result.stderr
