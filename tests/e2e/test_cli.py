"""The `connector` command as an operator runs it: real processes, exit codes, messages."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from core.clock import NOW_VARIABLE
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN
from sync.lock import run_lock
from tests.e2e.conftest import current_clock

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = [sys.executable, "-c", "import cli; cli.main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned_env() -> dict[str, str]:
    """The environment of a `connector` process: this test's clock, read at the start."""
    return {**os.environ, "PYTHONPATH": str(ROOT), NOW_VARIABLE: current_clock()().isoformat()}


def connector(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = pinned_env()
    return subprocess.run(
        [*CONNECTOR, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_given_sandbox_served_in_one_process_sync_works_from_another(tmp_path: Path) -> None:
    config = tmp_path / "cfg.toml"
    hubspot_port, salesforce_port = free_port(), free_port()
    server = subprocess.Popen(
        [*CONNECTOR, "sandbox", "serve", "--hubspot-port", str(hubspot_port),
         "--salesforce-port", str(salesforce_port), "--contacts", "80",
         "--write-config", str(config)],
        cwd=tmp_path, env=pinned_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ready = server.stdout.readline()  # one line once both servers listen
        assert "sandbox ready" in ready and str(hubspot_port) in ready, server.stderr.read()
        result = connector("--config", str(config), "sync", "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["leads_scored"] > 0 and summary["write_failures"] == 0
        assert summary["hubspot_calls"] > 0 and summary["salesforce_calls"] > 0
        status = connector("--config", str(config), "status", "--json", cwd=tmp_path)
        assert json.loads(status.stdout)["runs"][0]["outcome"] == "ok"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0


def test_version_and_help() -> None:
    runner = CliRunner()
    assert runner.invoke(cli.main, ["--version"]).output.startswith("connector, version")
    help_text = runner.invoke(cli.main, ["--help"]).output
    for command in ("sync", "backfill", "status", "mappings", "sandbox", "demo"):
        assert command in help_text
    assert "Exit codes" in help_text


def test_given_bad_config_exit_code_is_2_with_one_line_per_problem_and_no_traceback(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[hubspot]\ntier = "gold"\n[salesforce]\nauth = "session"\n')
    result = connector("--config", str(bad), "sync", cwd=tmp_path)
    assert result.returncode == 2
    assert "hubspot.tier" in result.stderr and f"{bad}:2" in result.stderr
    assert "salesforce: auth = 'session' needs instance_url, session_id" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_missing_config_file_exit_code_is_2(tmp_path: Path) -> None:
    result = connector("--config", str(tmp_path / "nope.toml"), "status", cwd=tmp_path)
    assert result.returncode == 2 and "file not found" in result.stderr


def test_given_unreachable_hosts_run_stops_with_code_5_and_a_clear_message(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.toml"
    port = free_port()  # nothing listens there
    config.write_text(
        f'[hubspot]\naccess_token = "pat-x"\nbase_url = "http://127.0.0.1:{port}"\n'
        f'[salesforce]\nauth = "session"\ninstance_url = "https://127.0.0.1:{port}"\n'
        f'session_id = "00Dx!y"\n[sync]\nmappings_dir = "{ROOT / "mappings"}"\n'
    )
    env_timeout = {"CONNECTOR_HUBSPOT__TIMEOUT_SECONDS": "2"}
    os.environ.update(env_timeout)
    try:
        result = connector("--config", str(config), "-q", "sync", cwd=tmp_path, timeout=300)
    finally:
        for key in env_timeout:
            os.environ.pop(key)
    assert result.returncode == 5, result.stderr
    assert "rerun later" in result.stderr and "Traceback" not in result.stderr


def test_given_shipped_mappings_validate_passes(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.main, ["mappings", "validate", "--dir", str(ROOT / "mappings")])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_given_mapping_mistakes_validate_lists_each_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", folder)
    fields = folder / "fields.toml"
    fields.write_text(fields.read_text().replace('source = "fit"', 'source = "fitt"', 1))
    forms = folder / "forms.toml"
    forms.write_text(forms.read_text() + '\n[[form]]\nmatch_name = "(unclosed"\nkind = "x"\n')
    result = CliRunner().invoke(cli.main, ["mappings", "validate", "--dir", str(folder), "--json"])
    assert result.exit_code == 2
    problems = json.loads(result.output)["problems"]
    fit_line = fields.read_text().splitlines().index('source = "fitt"') + 1
    assert any(f"fields.toml:{fit_line}" in p and "fitt" in p for p in problems), problems
    assert any("forms.toml:" in p for p in problems), problems


def test_given_another_run_holds_the_lock_sync_exits_4_at_once(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[salesforce]\nauth = "session"\ninstance_url = "https://x"\nsession_id = "s"\n'
        '[state]\npath = "state/connector.db"\n'
    )
    with run_lock(tmp_path / "state" / "connector.lock"):
        started = time.monotonic()
        result = connector("--config", str(config), "sync", cwd=tmp_path)
    assert result.returncode == 4 and "another run holds the lock" in result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("secret_source", ["file", "env"])
def test_secrets_never_reach_output_logs_or_state(tmp_path: Path, secret_source: str) -> None:
    from tests.e2e.conftest import started

    sandbox = started(tmp_path, contacts=40)
    try:
        config = sandbox.write_config(tmp_path / "cfg.toml", tmp_path / "state" / "c.db")
        env = pinned_env()
        if secret_source == "env":
            text = config.read_text().replace(f'access_token = "{DEFAULT_HUBSPOT_TOKEN}"\n', "")
            config.write_text(text)
            env["CONNECTOR_HUBSPOT__ACCESS_TOKEN"] = DEFAULT_HUBSPOT_TOKEN
        result = subprocess.run(
            [*CONNECTOR, "--config", str(config), "-vv", "sync", "--json"], cwd=tmp_path,
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr
        key_text = sandbox.signing_key.key_path.read_text()
        key_body = key_text.splitlines()[1]
        state_bytes = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir())
        for secret in (DEFAULT_HUBSPOT_TOKEN, key_body):
            assert secret not in result.stdout and secret not in result.stderr
            assert secret.encode() not in state_bytes
    finally:
        sandbox.stop()


def test_given_the_state_database_fails_mid_run_sync_exits_5_with_a_clear_message(
    sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sync.state import StateStore

    config = sandbox.write_config(tmp_path / "connector.toml", tmp_path / "state" / "c.db")
    calls = {"pages": 0}
    real_store_page = StateStore.store_page

    def store_page(self: StateStore, **kw: object) -> int:
        calls["pages"] += 1
        if calls["pages"] == 3:  # as a PostgreSQL server restart looks to the driver
            raise sqlite3.OperationalError("server closed the connection unexpectedly")
        return real_store_page(self, **kw)  # type: ignore[arg-type]

    def finish_run(self: StateStore, *args: object) -> None:
        raise sqlite3.OperationalError("the connection is closed")  # still gone

    monkeypatch.setattr(StateStore, "store_page", store_page)
    monkeypatch.setattr(StateStore, "finish_run", finish_run)
    result = CliRunner().invoke(cli.main, ["--config", str(config), "-q", "sync"])
    assert result.exit_code == 5, result.output
    assert "state database" in result.output and "server closed the connection" in result.output
    assert "rerunning" in result.output and "Traceback" not in result.output
