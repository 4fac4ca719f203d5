"""The no-match memo: leads Salesforce had no record for are not matched again within
`no_match_recheck`, except those about to get a new Lead; a real state store, a fake sink."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.serve import PROJECT_MAPPINGS
from sync.fieldmap import load_field_map
from sync.pipeline import Pipeline
from sync.plan import SalesforceTarget
from sync.state import Link, StateStore

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class RecordingSink:
    """Matches only the emails in `org`; records which emails it was asked about."""

    def __init__(self, org: dict[str, SalesforceTarget]) -> None:
        self.org = org
        self.asked: list[list[str]] = []

    def resolve(
        self, emails: Sequence[str], linked: Mapping[str, SalesforceTarget]
    ) -> dict[str, SalesforceTarget]:
        self.asked.append([e for e in emails if e not in linked])
        found = {e: linked[e] for e in emails if e in linked}
        found.update({e: self.org[e] for e in emails if e in self.org and e not in linked})
        return found


def _pipeline(tmp_path: Path, sink: RecordingSink, recheck: timedelta | None) -> Pipeline:
    """A pipeline whose state already links linked@x.com."""
    pipeline = Pipeline(
        store=StateStore(tmp_path / "state.db"),
        source=None,  # type: ignore[arg-type]
        sink=sink,  # type: ignore[arg-type]
        scorer=None,  # type: ignore[arg-type]
        field_map=load_field_map(PROJECT_MAPPINGS),
        no_match_recheck=recheck,
    )
    pipeline.store.save_links([Link("linked@x.com", "Lead", "00Q000000000001AAA", None)])
    return pipeline


KEYS = ["linked@x.com", "matched@x.com", "none@x.com", "mql@x.com"]


def _org() -> dict[str, SalesforceTarget]:
    return {"matched@x.com": SalesforceTarget("Contact", "003000000000001AAA")}


def test_given_a_lead_without_record_it_is_not_matched_again_within_the_interval(
    tmp_path: Path,
) -> None:
    sink = RecordingSink(_org())
    pipeline = _pipeline(tmp_path, sink, timedelta(hours=24))

    first = pipeline._targets(KEYS, NOW, set())
    second = pipeline._targets(KEYS, NOW + timedelta(hours=23), set())

    assert sink.asked[0] == ["matched@x.com", "none@x.com", "mql@x.com"]
    assert sink.asked[1] == []  # matched is linked now; the others were checked 23 h ago
    assert first == second
    assert set(second) == {"linked@x.com", "matched@x.com"}


def test_given_the_interval_passed_a_lead_created_by_sales_meanwhile_is_found(
    tmp_path: Path,
) -> None:
    sink = RecordingSink(_org())
    pipeline = _pipeline(tmp_path, sink, timedelta(hours=24))
    pipeline._targets(KEYS, NOW, set())
    sink.org["none@x.com"] = SalesforceTarget("Lead", "00Q000000000009AAA")  # sales add it

    later = pipeline._targets(KEYS, NOW + timedelta(hours=25), set())

    assert sink.asked[1] == ["none@x.com", "mql@x.com"]
    assert later["none@x.com"].record_id == "00Q000000000009AAA"
    assert pipeline.store.spool.no_match_since(KEYS, NOW) == {"mql@x.com"}


def test_a_lead_about_to_get_a_new_lead_is_always_matched_first(tmp_path: Path) -> None:
    sink = RecordingSink(_org())
    pipeline = _pipeline(tmp_path, sink, timedelta(hours=24))
    pipeline._targets(KEYS, NOW, set())
    sink.org["mql@x.com"] = SalesforceTarget("Lead", "00Q00000000000AAAA")  # sales were quicker

    targets = pipeline._targets(KEYS, NOW + timedelta(minutes=10), {"mql@x.com"})

    assert sink.asked[1] == ["mql@x.com"]
    assert targets["mql@x.com"].record_id == "00Q00000000000AAAA"  # no duplicate Lead planned


def test_without_an_interval_every_unlinked_lead_is_matched_every_run(tmp_path: Path) -> None:
    sink = RecordingSink(_org())
    pipeline = _pipeline(tmp_path, sink, None)

    pipeline._targets(KEYS, NOW, set())
    pipeline._targets(KEYS, NOW + timedelta(minutes=1), set())

    assert sink.asked[1] == ["none@x.com", "mql@x.com"]
