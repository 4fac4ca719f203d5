"""Reliability of the bulk backfill: kill -9 at random Salesforce calls of a backfill large
enough for Bulk API identity and spooled Bulk API writes, until a run finishes; Salesforce must
end exactly as after an uninterrupted backfill: no Lead or Task twice, nothing lost."""

from __future__ import annotations

import random
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.test_kill_and_rerun import (
    ENV,
    KILLER,
    RUN,
    ServedSandbox,
    final_state,
)

pytestmark = pytest.mark.slow

# 400 contacts are a "large" backfill under a threshold of 200: identity by Bulk API query
# jobs, writes spooled and flushed as Bulk API ingest jobs.
BULK_ENV = {**ENV, "CONNECTOR_SYNC__BULK_THRESHOLD": "200"}
SINCE = (datetime.now(UTC) - timedelta(days=400)).date().isoformat()


def backfill(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RUN, "--config", str(config), "-q", "backfill", "--since", SINCE],  # clock pinned
        cwd=cwd, env=BULK_ENV, capture_output=True, text=True, timeout=600,
    )


def test_given_kill_9_at_random_salesforce_calls_of_a_bulk_backfill_the_end_state_is_clean(
    tmp_path: Path,
) -> None:
    contacts = 400
    (tmp_path / "clean").mkdir()
    (tmp_path / "killed").mkdir()
    clean = ServedSandbox(tmp_path / "clean", contacts)
    try:
        result = backfill(clean.config, tmp_path / "clean")
        assert result.returncode == 0, result.stderr
        expected = final_state(clean)
    finally:
        clean.stop()
    assert expected["tasks"] and expected["leads"]

    box = ServedSandbox(tmp_path / "killed", contacts)
    rng = random.Random(11)
    killed: list[int] = []
    try:
        env = {**BULK_ENV, "KILL_COUNT_PORT": str(box.ports[1])}
        # Eight runs, each killed at a random one of its first 12 Salesforce calls (a run
        # that gets that far makes more: the token, the outcome pull, the Bulk API query jobs,
        # then the flush of the spooled writes), unless it finishes before; then the
        # operator's rerun below finishes the backfill.
        for kill_at in (rng.randint(1, 12) for _ in range(8)):
            when = rng.choice(["before", "after"])
            process = subprocess.run(
                [*KILLER, str(kill_at), when, "--config", str(box.config), "-q", "backfill",
                 "--since", SINCE],
                cwd=tmp_path / "killed", env=env, capture_output=True, text=True, timeout=600,
            )
            if process.returncode == -signal.SIGKILL:
                killed.append(kill_at)
                continue
            assert process.returncode in (0, 3), process.stderr
            break
        result = backfill(box.config, tmp_path / "killed")  # as an operator reruns it
        assert result.returncode == 0, result.stderr
        got = final_state(box)
    finally:
        box.stop()
    assert len(killed) >= 3 and len(set(killed)) >= 2, killed
    # a run's first 7 Salesforce calls are the token and the two query jobs: later kill points
    # fall in the flush of the spooled writes
    assert any(k <= 7 for k in killed) and any(k >= 8 for k in killed), killed
    assert max(got["tasks"].values()) == 1, "a Task was created twice"
    assert max(got["leads"].values()) == 1, "a Lead was created twice"
    assert got == expected
