"""Fixtures for the Salesforce adapter tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connectors.salesforce.sf_testkit import Sleeps, write_rsa_pair


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="session")
def rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_rsa_pair(tmp_path_factory.mktemp("jwt"))


@pytest.fixture(scope="session")
def other_rsa_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_rsa_pair(tmp_path_factory.mktemp("jwt-other"), "other")
