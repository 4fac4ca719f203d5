"""End-to-end fixtures: both sandboxes in-process, seeded, and a config pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from sandbox.serve import Sandbox, SandboxOptions, start_sandbox

SEED_CONTACTS = 120


def started(tmp_path: Path, *, contacts: int = SEED_CONTACTS, faults: str | None = None,
            tier: str = "unlimited") -> Sandbox:
    sandbox = start_sandbox(SandboxOptions(workdir=tmp_path / "sandbox", tier=tier, faults=faults))
    if contacts:
        sandbox.seed_demo(contacts, 42, datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
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
