"""End-to-end fixtures: both sandboxes in-process, seeded, and a config pointing at them.

Each sandbox runs on a pinned clock (`tests.clock`): its data is generated up to
`DATA_UNTIL` (a little before `TEST_NOW`), its servers stamp records and count limits by it,
and every connector run of a test is handed the same clock: `run_once(...,
clock=sandbox.clock)`, and commands through click's runner take it from
`cli._command_clock`, which `pinned_test_clock` replaces for the test. All sandboxes of one
test share that test's clock and hold data generated up to the same `DATA_UNTIL`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import cli
from core.clock import Clock
from core.config import Settings, load_settings
from sandbox.serve import Sandbox, SandboxOptions, start_sandbox
from tests.clock import DATA_UNTIL, pinned_clock

SEED_CONTACTS = 120

_test_clock: list[Clock] = []  # the running test's clock (set by `pinned_test_clock`)


def current_clock() -> Clock:
    """The running test's clock: what its sandboxes, runs and commands read as now."""
    return _test_clock[-1]


@pytest.fixture(autouse=True)
def pinned_test_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = pinned_clock()
    _test_clock.append(clock)
    monkeypatch.setattr(cli, "_command_clock", lambda: clock)
    yield clock
    _test_clock.pop()


def started(tmp_path: Path, *, contacts: int = SEED_CONTACTS, faults: str | None = None,
            tier: str = "unlimited", clock: Clock | None = None) -> Sandbox:
    """Both sandboxes on `clock` (default: the running test's), seeded up to `DATA_UNTIL`."""
    sandbox = start_sandbox(
        SandboxOptions(
            workdir=tmp_path / "sandbox", tier=tier, faults=faults, clock=clock or current_clock()
        )
    )
    if contacts:
        sandbox.seed_demo(contacts, 42, DATA_UNTIL)
    return sandbox


def settings_for(sandbox: Sandbox, tmp_path: Path) -> Settings:
    config = sandbox.write_config(tmp_path / "connector.toml", tmp_path / "state" / "connector.db")
    return load_settings(config)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = started(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def settings(sandbox: Sandbox, tmp_path: Path) -> Settings:
    return settings_for(sandbox, tmp_path)
