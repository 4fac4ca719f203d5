"""The Dockerfile, .dockerignore and the image's health check, without Docker."""

from __future__ import annotations

import http.server
import importlib.util
import json
import re
import socket
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import ServeSettings

ROOT = Path(__file__).resolve().parents[2]
UID = 10001


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions((ROOT / "Dockerfile").read_text()):
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def final(name: str) -> list[str]:
    return [args for word, args in stages()[-1] if word == name]


def test_given_the_dockerfile_it_is_multi_stage_on_python_311_slim() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim\n" in text
    froms = [args for stage in stages() for word, args in stage if word == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    build_runs = " ".join(args for word, args in stages()[0] if word == "RUN")
    assert "pip install ." in build_runs
    assert "[dev]" not in build_runs
    final_runs = " ".join(final("RUN"))
    assert "pip install" not in final_runs
    assert "apt-get" not in final_runs  # no compilers or curl in the image that runs


def test_given_the_final_stage_it_runs_as_a_fixed_numeric_non_root_user() -> None:
    assert final("USER") == [f"{UID}:{UID}"]
    assert f"--uid {UID}" in " ".join(final("RUN"))
    assert f"uid {UID}" in (ROOT / "deploy" / "docker-entrypoint.sh").read_text()


def test_given_the_final_stage_it_starts_serve_through_the_entrypoint() -> None:
    assert [json.loads(a) for a in final("ENTRYPOINT")] == [["/usr/local/bin/docker-entrypoint.sh"]]
    assert [json.loads(a) for a in final("CMD")] == [["serve"]]
    assert final("STOPSIGNAL") == ["SIGTERM"]
    assert "deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh" in final("COPY")


def test_given_the_exposed_port_it_is_serves_default_and_the_health_checks() -> None:
    health = _healthcheck_module()
    assert final("EXPOSE") == [str(ServeSettings().port)]
    assert ServeSettings().port == health.DEFAULT_PORT


def test_given_the_healthcheck_it_runs_the_images_python_not_curl() -> None:
    (check,) = final("HEALTHCHECK")
    assert "curl" not in check and "wget" not in check
    command = json.loads(check.partition("CMD ")[2])
    assert command == ["python", "/usr/local/bin/connector-healthcheck"]
    assert "deploy/healthcheck.py /usr/local/bin/connector-healthcheck" in final("COPY")


def test_given_the_entrypoint_in_git_it_is_executable() -> None:
    # COPY keeps the mode; without the x bit the container could not start.
    staged = subprocess.run(
        ["git", "ls-files", "-s", "deploy/docker-entrypoint.sh"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert staged.startswith("100755 ")


def _dockerignore_allows() -> set[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out, then each needed path back in
    return {line[1:].rstrip("/") for line in lines if line.startswith("!")}


def test_given_the_dockerignore_every_package_the_build_installs_is_in_the_context() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in project["tool"]["setuptools"]["py-modules"]}
    needed = packages | modules | {"pyproject.toml", project["project"]["readme"]}
    assert needed <= _dockerignore_allows()


def test_given_the_dockerignore_every_copied_file_is_in_the_context() -> None:
    allowed = _dockerignore_allows()
    sources = [args.split()[0] for args in final("COPY") if not args.startswith("--from")]
    assert sources
    for source in sources:
        assert source in allowed, source
        assert (ROOT / source).exists(), source


def test_given_the_dockerignore_local_config_and_state_stay_out() -> None:
    text = (ROOT / ".dockerignore").read_text()
    assert "**/connector.toml" in text
    assert "**/*.db" in text
    assert not {".venv", "tests", ".git", "state"} & _dockerignore_allows()


def _healthcheck_module():
    spec = importlib.util.spec_from_file_location(
        "deploy_healthcheck", ROOT / "deploy" / "healthcheck.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def healthz() -> Iterator[tuple[str, dict]]:
    answer = {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = answer["status"] if self.path == "/healthz" else 404
            body = b'{"loop": "running"}'
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", answer
    finally:
        server.shutdown()
        server.server_close()


def test_given_healthz_answers_200_the_check_passes(healthz) -> None:
    url, _ = healthz
    assert _healthcheck_module().check(url)[0] == 0


def test_given_healthz_answers_503_the_check_fails(healthz) -> None:
    url, answer = healthz
    answer["status"] = 503
    code, line = _healthcheck_module().check(url)
    assert code == 1
    assert "503" in line


def test_given_nothing_listens_the_check_fails() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _healthcheck_module().check(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 1


def test_given_a_proxy_in_the_environment_the_check_ignores_it(healthz, monkeypatch) -> None:
    url, _ = healthz
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9/")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    assert _healthcheck_module().check(url)[0] == 0


def test_given_the_port_variable_the_check_calls_that_port() -> None:
    module = _healthcheck_module()
    assert module.healthz_url({}) == "http://127.0.0.1:8080/healthz"
    assert module.healthz_url({"CONNECTOR_SERVE__PORT": "9090"}) == "http://127.0.0.1:9090/healthz"
