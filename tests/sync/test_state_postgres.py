"""The state store on PostgreSQL behaves as on SQLite: the same tests run on both backends.

PostgreSQL comes from `CONNECTOR_TEST_POSTGRES_URL` (`.ci/run` starts a real server with
`scripts/ci-postgres.sh`; `make postgres` does the same on a developer's Debian machine). Without
it the PostgreSQL cases are skipped, except under CI=true, where they fail: a broken install
must not pass as a green run. Every test works in a fresh schema of its own.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from pydantic import SecretStr

from core.config import StateSettings, load_settings
from core.errors import ConfigError, LockHeldError
from core.models import Activity, Company, Contact
from core.plan import TaskWrite
from scoring import MqlState
from sync.db import (
    PostgresTarget,
    SqliteTarget,
    StateTarget,
    display_url,
    redact,
    state_target,
)
from sync.lock import advisory_lock, state_lock
from sync.state import MIGRATIONS, Link, StateStore

PG_ENV = "CONNECTOR_TEST_POSTGRES_URL"
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def pg_server() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{PG_ENV} is not set under CI: .ci/run must start PostgreSQL "
                "(scripts/ci-postgres.sh) so the PostgreSQL state store is tested"
            )
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server (start one with `make postgres`)")
    return url


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema (dropped afterwards)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    yield with_schema(pg_server, schema)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> StateTarget:
    if request.param == "sqlite":
        return SqliteTarget(tmp_path / "state.db")
    return PostgresTarget(SecretStr(request.getfixturevalue("pg_url")))


@pytest.fixture
def store(target: StateTarget) -> Iterator[StateStore]:
    opened = StateStore(target)
    yield opened
    opened.close()


def versions(store: StateStore) -> list[int]:
    return [r[0] for r in store._db.execute("SELECT version FROM schema_version ORDER BY 1")]


# ------------------------------------------------------------------------------ migrations
def test_given_fresh_database_every_migration_is_applied_once_in_order(
    target: StateTarget,
) -> None:
    first = StateStore(target)
    assert versions(first) == list(range(1, len(MIGRATIONS) + 1))
    first.close()
    again = StateStore(target)
    assert versions(again) == list(range(1, len(MIGRATIONS) + 1))
    assert again.counts()["contacts"] == 0
    again.close()


def test_given_workers_open_a_fresh_database_at_once_migrations_still_run_once(
    target: StateTarget,
) -> None:
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            StateStore(target).close()
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=open_one) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert errors == []
    with_store = StateStore(target)
    assert versions(with_store) == list(range(1, len(MIGRATIONS) + 1))
    with_store.close()


# ------------------------------------------------------------------------------ behaviour
def test_cursors_round_trip_with_timezone(target: StateTarget, store: StateStore) -> None:
    store.set_cursors({"contacts": T0, "companies": T1})
    store.set_cursors({"contacts": T1})
    reopened = StateStore(target)
    assert reopened.cursor("contacts") == T1
    assert reopened.cursor("missing") is None
    assert reopened.cursors() == {"companies": T1, "contacts": T1}
    reopened.close()


def test_given_reread_activities_duplicates_are_ignored_and_counted_out(
    store: StateStore,
) -> None:
    a = Activity("email:1", "email_open", T0, email="a@example.com")
    b = Activity("email:2", "email_click", T0, email="a@example.com", attributes={"url": "u"})
    assert store.add_activities([a, b]) == 2
    assert store.add_activities([a, b]) == 0
    c = Activity("form:1", "whitepaper_download", T1, contact_id="7")
    assert store.store_page(activities=[a, c], dirty=["c:7"]) == 1
    got = store.activities_for([], "a@example.com")
    assert sorted(x.source_id for x in got) == ["email:1", "email:2"]
    assert {x.source_id: dict(x.attributes) for x in got}["email:2"] == {"url": "u"}
    assert store.counts()["activities"] == 3


def test_activities_are_found_by_contact_id_or_email(store: StateStore) -> None:
    store.add_activities(
        [
            Activity("pv:1", "page_view", T0, contact_id="101"),
            Activity("form:1", "whitepaper_download", T0, email="x@example.com"),
            Activity("pv:2", "page_view", T0, contact_id="999"),
        ]
    )
    got = store.activities_for(["101"], "x@example.com")
    assert sorted(a.source_id for a in got) == ["form:1", "pv:1"]
    assert [a.source_id for a in store.activities_for(["999"], None)] == ["pv:2"]
    assert store.activities_for([], None) == ()


def test_contacts_and_companies_upsert_and_group_by_email(store: StateStore) -> None:
    store.upsert_contacts(
        [Contact("2", "a@example.com"), Contact("1", "a@example.com"), Contact("3", None)]
    )
    store.upsert_contacts([Contact("3", "b@example.com", {"jobtitle": "CTO"}, "c1", T0)])
    store.upsert_companies([Company("c1", {"name": "Acme 株式会社"}, T1)])
    grouped = store.contacts_by_email(["a@example.com", "b@example.com"])
    assert [c.hubspot_id for c in grouped["a@example.com"]] == ["1", "2"]
    assert grouped["b@example.com"][0].properties == {"jobtitle": "CTO"}
    assert store.contact("3") == Contact("3", "b@example.com", {"jobtitle": "CTO"}, "c1", T0)
    assert store.company("c1") == Company("c1", {"name": "Acme 株式会社"}, T1)
    assert store.company_ids_known(["c1", "c2"]) == {"c1"}
    assert set(store.contact_ids(["1", "9"])) == {"1"}
    assert store.all_lead_emails() == ["a@example.com", "b@example.com"]


def _failing_tasks(task: TaskWrite) -> Iterator[TaskWrite]:
    yield task
    raise RuntimeError("crash between the MQL state and its Task intent")


def test_decisions_are_recorded_atomically_and_tasks_stay_pending_until_done(
    store: StateStore,
) -> None:
    task = TaskWrite("a@example.com", "mql:1:1", {"Subject": "s"}, "00Q000000000001AAA")
    state = MqlState(1, True, T0, "default")
    with pytest.raises(RuntimeError, match="crash"):
        store.record_decisions({"a@example.com": state}, _failing_tasks(task))
    assert store.mql_states(["a@example.com"]) == {}  # rolled back together
    assert store.pending_tasks() == []
    store.record_decisions({"a@example.com": state}, [task])
    assert store.pending_tasks() == [task]
    assert store.mql_states(["a@example.com"])["a@example.com"] == state
    store.record_decisions({}, [task])  # recording the same intent again changes nothing
    assert len(store.pending_tasks()) == 1
    store.mark_task_done("mql:1:1", "00T000000000001AAA")
    assert store.pending_tasks() == []
    assert store.task_status(["mql:1:1", "mql:9:9"]) == {"mql:1:1": "done"}


def test_deferred_marks_are_durable_skipped_by_this_run_and_released_for_the_next(
    store: StateStore,
) -> None:
    store.mark_dirty(["e:a@x.io", "e:b@x.io", "c:7"])
    # a@x.io was processed but its write failed for a passing reason: deferred, atomically
    store.clear_dirty(["e:a@x.io", "c:7"], defer=["a@x.io"])
    assert store.dirty_refs(10) == ["e:b@x.io"]  # this run does not retry it in a loop
    assert store.dirty_count() == 2  # but it is waiting
    store.clear_dirty(["e:b@x.io"], defer=["b@x.io"])
    store.mark_dirty(["e:b@x.io"])  # marked again meanwhile by a new page: one mark after
    assert store.release_deferred() == 2
    assert store.dirty_refs(10) == ["e:a@x.io", "e:b@x.io"]
    assert store.release_deferred() == 0


def test_dirty_marks_page_in_byte_order_and_mark_all_counts_only_new_ones(
    store: StateStore,
) -> None:
    refs = ["e:b@x.io", "c:10", "c:9", "e:B@x.io", "e:a.b@x.io", "e:ab@x.io", "e:é@x.io", "c:1"]
    store.mark_dirty(refs)
    store.mark_dirty(refs[:3])  # marking again is harmless
    pages: list[str] = []
    after = ""
    while page := store.dirty_refs(3, after):
        pages += page
        after = page[-1]
    assert pages == sorted(refs, key=lambda r: r.encode())  # SQLite's BINARY order, on both
    assert store.dirty_count() == len(refs)
    store.clear_dirty(refs)
    store.upsert_contacts(
        [Contact("1", "a@x.io"), Contact("2", "a@x.io"), Contact("3", "z@x.io", archived=True)]
    )
    assert store.mark_all_dirty() == 1
    assert store.mark_all_dirty() == 0
    assert store.dirty_refs(10) == ["e:a@x.io"]


def test_links_and_written_values_are_kept_and_forgotten_together(store: StateStore) -> None:
    store.save_links([Link("a@x.io", "Lead", "00Q1", None), Link("b@x.io", "Contact", "003", "5")])
    store.save_links([Link("a@x.io", "Contact", "0032", "005X")])
    store.record_written("a@x.io", "Contact", {"Lead_Score__c": 55, "Segment__c": "100% fit?"})
    store.record_written("a@x.io", "Contact", {"Lead_Score__c": 60})
    assert store.links(["a@x.io", "c@x.io"]) == {
        "a@x.io": Link("a@x.io", "Contact", "0032", "005X")
    }
    assert store.written(["a@x.io"]) == {
        "a@x.io": {"Contact.Lead_Score__c": 60, "Contact.Segment__c": "100% fit?"}
    }
    store.forget_link("a@x.io")
    assert store.links(["a@x.io"]) == {} and store.written(["a@x.io"]) == {}
    assert set(store.links(["b@x.io"])) == {"b@x.io"}


def test_dead_letters_and_runs_keep_their_order_and_ids(store: StateStore) -> None:
    first, second = store.start_run("sync"), store.start_run("backfill")
    assert second == first + 1
    store.finish_run(first, "ok", {"leads_scored": 3, "at": T0})
    store.add_dead_letter(
        lead_key="a", stage="write", code="X", message="50% off? no", fields=["F"]
    )
    store.add_dead_letter(lead_key="b", stage="match", code=None, message="m")
    store.resolve_dead_letters("a")
    open_ones = store.dead_letters()
    assert [(d["lead_key"], d["resolved"]) for d in open_ones] == [("b", 0)]
    all_ones = store.dead_letters(include_resolved=True)
    assert [d["message"] for d in all_ones] == ["50% off? no", "m"]
    assert json.loads(all_ones[0]["fields"]) == ["F"]
    runs = store.runs(10)
    assert [(r["id"], r["kind"], r["outcome"]) for r in runs] == [
        (second, "backfill", None),
        (first, "sync", "ok"),
    ]
    assert runs[1]["summary"] == {"leads_scored": 3, "at": str(T0)}
    assert store.counts()["open_dead_letters"] == 1


def _snapshot(store: StateStore) -> dict[str, Any]:
    """Everything the store's readers return, with the clock-dependent fields left out."""

    def clockless(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if not k.endswith("_at")} for r in rows]

    emails = ["a@x.io", "b@x.io"]
    return {
        "cursors": store.cursors(),
        "counts": store.counts(),
        "by_email": store.contacts_by_email(emails),
        "activities": sorted(store.activities_for(["1", "2"], "a@x.io"), key=repr),
        "dirty": store.dirty_refs(100),
        "links": store.links(emails),
        "written": store.written(emails),
        "mql": store.mql_states(emails),
        "pending": store.pending_tasks(),
        "dead": clockless(store.dead_letters(include_resolved=True)),
        "runs": clockless(store.runs()),
    }


def _exercise(store: StateStore) -> None:
    store.store_page(
        contacts=[Contact("1", "a@x.io", {"n": "ü"}, "c1", T0), Contact("2", "b@x.io")],
        companies=[Company("c1", {"industry": "manufacturing"}, T0)],
        activities=[Activity("pv:1", "page_view", T0, contact_id="1")],
        dirty=["c:1", "c:2"],
    )
    store.set_cursors({"contacts": T1})
    store.mark_all_dirty()
    store.save_links([Link("a@x.io", "Lead", "00Q1", "005A")])
    store.record_written("a@x.io", "Lead", {"Lead_Score__c": 42, "MQL_Date__c": None})
    task = TaskWrite("a@x.io", "mql:a:1", {"Subject": "Call"}, "00Q1")
    store.record_decisions({"a@x.io": MqlState(1, True, T0, "default")}, [task])
    run = store.start_run("sync")
    store.add_dead_letter(lead_key="b@x.io", stage="write", code="E", message="?", fields=["F"])
    store.finish_run(run, "partial", {"write_failures": 1})


def test_the_same_calls_give_the_same_answers_on_both_backends(tmp_path: Path, pg_url: str) -> None:
    answers = []
    for where in (SqliteTarget(tmp_path / "s.db"), PostgresTarget(SecretStr(pg_url))):
        store = StateStore(where)
        _exercise(store)
        answers.append(_snapshot(store))
        store.close()
    assert answers[0] == answers[1]


# ------------------------------------------------------------------------------ SQLite stays
def test_sqlite_state_is_owner_only_and_in_wal_mode(tmp_path: Path) -> None:
    store = StateStore(SqliteTarget(tmp_path / "new" / "state.db"))
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "new" / "state.db").stat().st_mode & 0o777 == 0o600
    store.close()


def test_given_corrupt_sqlite_file_the_message_is_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ConfigError, match=r"not a usable SQLite database.*move it aside"):
        StateStore(SqliteTarget(path))


# ------------------------------------------------------------------------------ settings
SALESFORCE = '[salesforce]\nauth = "session"\ninstance_url = "https://x"\nsession_id = "s"\n'


def test_given_url_in_env_postgresql_is_used_and_the_password_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(SALESFORCE + '[state]\npath = "state/connector.db"\n')
    monkeypatch.setenv("CONNECTOR_STATE__URL", "postgresql://app:s3cr%40t@db.internal:5433/state")
    settings = load_settings(config)
    target = state_target(settings)
    assert isinstance(target, PostgresTarget)
    assert target.display == "postgresql://app@db.internal:5433/state"
    for text in (repr(settings), settings.model_dump_json(), repr(target), target.display):
        assert "s3cr" not in text


def test_given_password_file_it_is_read_and_kept_apart_from_the_url(tmp_path: Path) -> None:
    (tmp_path / "pg.pass").write_text("from-file\n")
    config = tmp_path / "c.toml"
    config.write_text(
        SALESFORCE + '[state]\nurl = "postgresql://app@db/state"\npassword_file = "pg.pass"\n'
    )
    target = state_target(load_settings(config))
    assert isinstance(target, PostgresTarget)
    assert target.password is not None and target.password.get_secret_value() == "from-file"
    (tmp_path / "pg.pass").unlink()
    with pytest.raises(ConfigError, match=r"state\.password_file: cannot read"):
        state_target(load_settings(config))


def test_given_url_of_another_database_the_error_names_the_key_but_not_the_value(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(SALESFORCE + '[state]\nurl = "mysql://app:hunter2@db/state"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "state.url: expected a postgresql://" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_password_is_redacted_from_driver_messages_in_every_spelling() -> None:
    url = SecretStr("postgresql://app:p%40ss@h/db?sslmode=require&password=q2")
    text = 'invalid percent-encoded token: "p%40ss" / p@ss / q2 / other'
    assert (
        redact(text, url, SecretStr("zz"))
        == 'invalid percent-encoded token: "***" / *** / *** / other'
    )
    assert display_url(url.get_secret_value()) == "postgresql://app@h/db?sslmode=require"


# ------------------------------------------------------------------------------ PostgreSQL only
def test_given_wrong_password_the_error_is_a_config_error_without_it(pg_server: str) -> None:
    parts = urlsplit(pg_server)
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    host = parts.netloc.rsplit("@", 1)[1]
    wrong = urlunsplit(parts._replace(netloc=f"{user}:Wr0ngPassw0rd@{host}"))
    with pytest.raises(ConfigError) as caught:
        StateStore(PostgresTarget(SecretStr(wrong)))
    assert "is not usable" in str(caught.value)
    assert "Wr0ngPassw0rd" not in str(caught.value)


def test_given_no_state_yet_status_reads_empty_and_creates_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    import psycopg

    from sync.runner import open_store, read_status

    config = tmp_path / "c.toml"
    config.write_text(SALESFORCE + f'[state]\nurl = "{pg_url}"\n')
    settings = load_settings(config)
    status = read_status(settings)
    assert status["cursors"] == {} and status["runs"] == [] and status["backend"] == "postgresql"
    assert ":" not in urlsplit(status["state_path"]).netloc.split("@")[0]  # no password
    with pytest.raises(ConfigError, match="no state at"), open_store(settings, create=False):
        pass
    with psycopg.connect(pg_url) as conn:
        assert (
            conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchone()[0]
            == 0
        )


def test_writers_queue_as_on_sqlite_and_a_timed_out_writer_stays_usable(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    monkeypatch.setattr(
        "sync.db._PG_SESSION", "SET lock_timeout = '300ms'; SET synchronous_commit = off"
    )
    first, second = (
        StateStore(PostgresTarget(SecretStr(pg_url))),
        StateStore(PostgresTarget(SecretStr(pg_url))),
    )
    with first.transaction() as db:
        db.execute("INSERT INTO dirty VALUES (?, ?)", ("c:1", "now"))
        with pytest.raises(psycopg.errors.LockNotAvailable):
            second.mark_dirty(["c:2"])  # waits for the writer lock, like BEGIN IMMEDIATE
    second.mark_dirty(["c:2"])  # rolled back cleanly: the connection is usable again
    assert second.dirty_refs(10) == ["c:1", "c:2"]
    first.close()
    second.close()


def test_two_schemas_of_one_database_do_not_block_each_other(pg_server: str) -> None:
    import psycopg

    schemas = [f"t_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    with psycopg.connect(pg_server, autocommit=True) as admin:
        for s in schemas:
            admin.execute(f'CREATE SCHEMA "{s}"')
    try:
        one, two = (PostgresTarget(SecretStr(with_schema(pg_server, s))) for s in schemas)
        with advisory_lock(one), advisory_lock(two):  # both at once: no conflict
            pass
        with advisory_lock(one), pytest.raises(LockHeldError), advisory_lock(one):
            pass
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            for s in schemas:
                admin.execute(f'DROP SCHEMA "{s}" CASCADE')


def _hold_advisory_lock(url: str, ready: Any) -> None:
    with state_lock(PostgresTarget(SecretStr(url))):
        ready.set()
        time.sleep(60)


def test_given_lock_held_on_postgresql_sync_exits_4_and_a_killed_holder_frees_it(
    tmp_path: Path, pg_url: str
) -> None:
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_advisory_lock, args=(pg_url, ready))
    holder.start()
    try:
        assert ready.wait(20)
        held = rf"another run holds the lock .*pid {holder.pid} on "
        second = advisory_lock(PostgresTarget(SecretStr(pg_url)))
        with pytest.raises(LockHeldError, match=held), second:
            pass
        config = tmp_path / "c.toml"
        config.write_text(SALESFORCE + f'[state]\nurl = "{pg_url}"\n')
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", "import cli; cli.main()", "--config", str(config), "sync"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 4, result.stderr
        assert "another run holds the lock" in result.stderr
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.join()
    # Killed (-9): the server ended its session, and with it the lock.
    with advisory_lock(PostgresTarget(SecretStr(pg_url)), wait_seconds=10, poll=0.1):
        pass


def test_sync_on_postgresql_equals_sync_on_sqlite_and_a_rerun_writes_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    from sync.runner import open_store, run_once
    from tests.clock import pinned_clock
    from tests.e2e.conftest import settings_for, started
    from tests.e2e.test_sync_end_to_end import SINCE, salesforce_state, write_calls

    results = {}
    for backend in ("sqlite", "postgresql"):
        folder = tmp_path / backend
        sandbox = started(folder, clock=pinned_clock())
        try:
            settings = settings_for(sandbox, folder)
            if backend == "postgresql":
                settings.state = StateSettings(url=SecretStr(pg_url))
            summary = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
            with open_store(settings) as store:
                counts, streams = store.counts(), sorted(store.cursors())
            results[backend] = (salesforce_state(sandbox), counts, streams, summary.mqls)
            if backend == "postgresql":
                calls = write_calls(sandbox)
                again = run_once(settings, kind="sync", clock=sandbox.clock)
                assert write_calls(sandbox) == calls
                assert again.records_updated == again.leads_created == 0
                assert again.tasks_created == 0
                assert not (folder / "state").exists()  # nothing went to SQLite
        finally:
            sandbox.stop()
    assert results["postgresql"] == results["sqlite"]
    assert results["postgresql"][0]["tasks"]
