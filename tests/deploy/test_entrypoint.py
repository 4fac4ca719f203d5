"""deploy/docker-entrypoint.sh, run without Docker: a stub `connector` on PATH records its
argv, environment and pid; a stub `id` says which uid the script runs as."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "docker-entrypoint.sh"

STUB_CONNECTOR = """#!/bin/sh
python3 - "$$" "$@" <<'PY' > "$STUB_OUT"
import json, os, sys
print(json.dumps({"pid": int(sys.argv[1]), "argv": sys.argv[2:], "env": dict(os.environ)}))
PY
exit 0
"""


@dataclass
class Run:
    code: int
    stderr: str
    pid: int
    record: dict | None


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def box(tmp_path: Path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "connector", STUB_CONNECTOR)
    config_dir = tmp_path / "config"
    config_dir.mkdir()

    def run(*args: str, uid: int = 10001, env: dict[str, str] | None = None) -> Run:
        _executable(bin_dir / "id", f'#!/bin/sh\n[ "$1" = "-u" ] && echo {uid} || echo uid={uid}\n')
        out = tmp_path / "record.json"
        out.unlink(missing_ok=True)
        environ = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "STUB_OUT": str(out),
            "CONNECTOR_CONFIG_DEFAULT": str(config_dir / "connector.toml"),
            **(env or {}),
        }
        proc = subprocess.Popen(
            [str(ENTRYPOINT), *args], env=environ, cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        _, stderr = proc.communicate(timeout=30)
        record = json.loads(out.read_text()) if out.exists() else None
        return Run(proc.returncode, stderr, proc.pid, record)

    run.config_file = config_dir / "connector.toml"  # type: ignore[attr-defined]
    return run


ENV_ONLY = {
    "CONNECTOR_HUBSPOT__ACCESS_TOKEN_FILE": "/run/secrets/hubspot_access_token",
    "CONNECTOR_SALESFORCE__AUTH": "jwt",
    "CONNECTOR_STATE__URL": "postgresql://connector@db:5432/connector",
}


def test_given_the_script_it_is_executable_posix_sh_with_set_eu() -> None:
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -eu\n" in text
    assert os.access(ENTRYPOINT, os.X_OK)
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_given_a_mounted_config_args_pass_through_by_exec(box) -> None:
    box.config_file.write_text("[salesforce]\n")
    run = box("-q", "sync", "--limit", "5")
    assert run.code == 0, run.stderr
    assert run.record["argv"] == ["-q", "sync", "--limit", "5"]
    # exec: the connector runs in the entrypoint's own process, so signals reach it.
    assert run.record["pid"] == run.pid
    assert run.record["env"]["CONNECTOR_CONFIG"] == str(box.config_file)


def test_given_serve_the_host_defaults_to_all_interfaces(box) -> None:
    box.config_file.write_text("[salesforce]\n")
    run = box("serve")
    assert run.code == 0, run.stderr
    assert run.record["argv"] == ["serve"]
    assert run.record["env"]["CONNECTOR_SERVE__HOST"] == "0.0.0.0"


def test_given_serve_with_a_host_set_it_is_kept(box) -> None:
    box.config_file.write_text("[salesforce]\n")
    run = box("serve", env={"CONNECTOR_SERVE__HOST": "::"})
    assert run.record["env"]["CONNECTOR_SERVE__HOST"] == "::"


@pytest.mark.parametrize("args", [
    ("sync",), ("-q", "sync"), ("backfill", "--since", "2026-01-01"), ("rescore",),
])
def test_given_a_cronjob_command_it_passes_through_without_a_host(box, args) -> None:
    box.config_file.write_text("[salesforce]\n")
    run = box(*args)
    assert run.code == 0, run.stderr
    assert run.record["argv"] == list(args)
    assert "CONNECTOR_SERVE__HOST" not in run.record["env"]


def test_given_no_config_and_no_variables_it_refuses_naming_what_is_missing(box) -> None:
    run = box("sync")
    assert run.code == 2
    assert run.record is None
    for name in ("CONNECTOR_HUBSPOT__ACCESS_TOKEN_FILE", "CONNECTOR_SALESFORCE__AUTH",
                 "CONNECTOR_STATE__URL", "connector.toml"):
        assert name in run.stderr


def test_given_only_the_state_variable_missing_it_names_only_that(box) -> None:
    env = {k: v for k, v in ENV_ONLY.items() if k != "CONNECTOR_STATE__URL"}
    run = box("serve", env=env)
    assert run.code == 2
    assert "CONNECTOR_STATE__URL" in run.stderr
    assert "HUBSPOT" not in run.stderr
    assert "CONNECTOR_SALESFORCE__AUTH" not in run.stderr


def test_given_the_settings_as_variables_without_a_file_it_starts(box) -> None:
    run = box("sync", env=ENV_ONLY)
    assert run.code == 0, run.stderr
    assert "CONNECTOR_CONFIG" not in run.record["env"]


def test_given_connector_config_naming_a_missing_file_it_refuses(box, tmp_path) -> None:
    missing = tmp_path / "nowhere.toml"
    run = box("sync", env={**ENV_ONLY, "CONNECTOR_CONFIG": str(missing)})
    assert run.code == 2
    assert f"CONNECTOR_CONFIG={missing}" in run.stderr
    assert run.record is None


def test_given_an_explicit_config_option_it_is_left_to_the_connector(box) -> None:
    run = box("--config", "/elsewhere/c.toml", "sync")
    assert run.code == 0, run.stderr
    assert run.record["argv"] == ["--config", "/elsewhere/c.toml", "sync"]
    assert "CONNECTOR_CONFIG" not in run.record["env"]


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("sandbox", "serve"),
                                  ("mappings", "validate")])
def test_given_a_command_that_needs_no_accounts_it_runs_without_config(box, args) -> None:
    run = box(*args)
    assert run.code == 0, run.stderr
    assert run.record["argv"] == list(args)


def test_given_root_it_refuses(box) -> None:
    box.config_file.write_text("[salesforce]\n")
    run = box("serve", uid=0)
    assert run.code == 2
    assert "root" in run.stderr
    assert run.record is None


def test_given_the_connectors_exit_code_it_is_the_containers(box, tmp_path) -> None:
    box.config_file.write_text("[salesforce]\n")
    _executable(tmp_path / "bin" / "connector", "#!/bin/sh\nexit 4\n")
    assert box("sync").code == 4
