"""Swapping the live rule files (`score promote` / `score rollback`) through the journal in
`sync.rule_versions`: a crash between the two renames is finished by the next caller and
recorded once; staged files that were lost are rolled back to the kept ones. On SQLite and
PostgreSQL (the version event is a state-store row)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sync import rule_versions
from sync.db import StateTarget
from sync.rule_versions import (
    JOURNAL,
    STAGING,
    VERSIONS_FOLDER,
    Swap,
    begin_swap,
    fingerprint,
    finish_swap,
    kept_folder,
    pending_swap,
)
from sync.state import StateStore
from tests.sync.test_state_postgres import pg_server, pg_url, target  # noqa: F401

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Crash(BaseException):
    """The process dies (kill -9, power loss): nothing after it runs."""


@pytest.fixture
def db(target: StateTarget) -> Iterator[StateStore]:  # noqa: F811
    store = StateStore(target)
    yield store
    store.close()


def rule_set(folder: Path, points: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scoring.toml").write_text(f"# points {points}\n", encoding="utf-8")
    (folder / "segments.toml").write_text(f"# segments {points}\n", encoding="utf-8")
    return folder


def promotion(live: Path, candidate: Path) -> Swap:
    old, new = fingerprint(live), fingerprint(candidate)
    return Swap(id=f"promote:{new.version}", action="promote", version=new.version,
                previous=old.version, at=T0, by="mori", reason="better",
                manifest=tuple(new.manifest()), previous_manifest=tuple(old.manifest()))


def crash_on_rename(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    """`os.replace` in the swap dies on its `number`-th call (1-based)."""
    real = rule_versions.os.replace
    calls = []

    def replace(source: object, destination: object) -> None:
        calls.append(destination)
        if len(calls) == number:
            raise Crash
        real(source, destination)  # type: ignore[arg-type]

    monkeypatch.setattr(rule_versions.os, "replace", replace)


def test_given_a_crash_between_the_two_renames_the_next_caller_finishes_and_records_once(
    db: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, candidate = rule_set(tmp_path / "mappings", 1), rule_set(tmp_path / "cand", 2)
    old, swap = fingerprint(live).version, promotion(live, candidate)
    begin_swap(candidate, live, swap)
    crash_on_rename(monkeypatch, 2)  # the first rule file renamed, the second not
    with pytest.raises(Crash):
        finish_swap(live, db.scores)
    monkeypatch.undo()
    # Half-swapped: neither version, the journal still there, nothing recorded.
    assert fingerprint(live).version not in (old, swap.version)
    assert pending_swap(live) == swap and db.scores.events() == []

    done = finish_swap(live, db.scores)  # the next run or command

    assert done == (swap, True)
    assert fingerprint(live).version == swap.version
    assert fingerprint(kept_folder(live, old)).version == old
    assert not (live / VERSIONS_FOLDER / JOURNAL).exists()
    assert not (live / VERSIONS_FOLDER / STAGING).exists()
    events = db.scores.events()
    assert [(e["action"], e["version"], e["previous"], e["recorded_by"]) for e in events] == [
        ("promote", swap.version, old, "mori")
    ]
    assert finish_swap(live, db.scores) is None  # nothing left under way
    db.scores.record_swap(swap)  # recording the same swap again: still one event
    assert len(db.scores.events()) == 1


def test_given_a_crash_after_the_renames_before_the_record_the_event_is_recorded_next_time(
    db: StateStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, candidate = rule_set(tmp_path / "mappings", 1), rule_set(tmp_path / "cand", 2)
    swap = promotion(live, candidate)
    begin_swap(candidate, live, swap)

    def dies(_: Swap) -> None:
        raise Crash

    monkeypatch.setattr(db.scores, "record_swap", dies)
    with pytest.raises(Crash):
        finish_swap(live, db.scores)
    monkeypatch.undo()
    assert fingerprint(live).version == swap.version and pending_swap(live) is not None

    assert finish_swap(live, db.scores) == (swap, True)
    assert [e["version"] for e in db.scores.events()] == [swap.version]
    assert db.scores.version(swap.version)["recorded_by"] == "mori"


def test_given_a_staged_file_lost_the_kept_files_are_put_back_and_nothing_recorded(
    db: StateStore, tmp_path: Path
) -> None:
    live, candidate = rule_set(tmp_path / "mappings", 1), rule_set(tmp_path / "cand", 2)
    old, swap = fingerprint(live).version, promotion(live, candidate)
    begin_swap(candidate, live, swap)
    (live / VERSIONS_FOLDER / STAGING / "segments.toml").unlink()

    assert finish_swap(live, db.scores) == (swap, False)

    assert fingerprint(live).version == old
    assert db.scores.events() == [] and pending_swap(live) is None
