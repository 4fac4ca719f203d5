"""The Salesforce write path on the sandbox: field rules against current Salesforce values,
records that disappear (deleted, merged, converted), and what it costs in API calls."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.identity import match_emails
from connectors.salesforce.records import fetch_by_ids
from core.config import Settings, load_settings
from sandbox.hubspot import DEFAULT_HUBSPOT_TOKEN
from sandbox.salesforce import DEFAULT_SALESFORCE_SESSION
from sandbox.serve import PROJECT_MAPPINGS, Sandbox
from sync.ports import RunSummary
from sync.runner import open_store, run_once
from tests.clock import HISTORY_START
from tests.e2e.conftest import current_clock, started

SINCE = HISTORY_START
CONTACTS = 80

WATCHED = {
    # Segment: sales may re-segment a lead by hand; grade: only fill an empty field.
    'source = "segment"\ntarget = "Segment__c"\n': (
        'source = "segment"\ntarget = "Segment__c"\nrule = "unless_changed"\n'
    ),
    'source = "grade"\ntarget = "Lead_Grade__c"\n': (
        'source = "grade"\ntarget = "Lead_Grade__c"\nrule = "if_blank"\n'
    ),
}


# ---------------------------------------------------------------------- helpers


def mappings_dir(tmp_path: Path, edits: dict[str, str] | None = None) -> Path:
    """A copy of the shipped mappings with `edits` (old text -> new text) in fields.toml."""
    folder = tmp_path / "mappings"
    shutil.copytree(PROJECT_MAPPINGS, folder)
    fields = folder / "fields.toml"
    text = fields.read_text(encoding="utf-8")
    for old, new in (edits or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    fields.write_text(text, encoding="utf-8")
    return folder


def settings_with(sandbox: Sandbox, tmp_path: Path, mappings: Path = PROJECT_MAPPINGS) -> Settings:
    config = tmp_path / "connector.toml"
    config.write_text(
        sandbox.config_toml(tmp_path / "state" / "connector.db", mappings), encoding="utf-8"
    )
    return load_settings(config)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = started(tmp_path, contacts=CONTACTS)
    yield running
    running.stop()


class Rep:
    """A sales rep or admin working in Salesforce through the REST API."""

    def __init__(self, sandbox: Sandbox, settings: Settings) -> None:
        self.sandbox = sandbox
        self.client = SalesforceClient(settings)
        self.base = f"{sandbox.salesforce_url}/services/data/v{settings.salesforce.api_version}"

    def update(self, sobject: str, record_id: str, **fields: Any) -> None:
        (result,) = self.client.update(sobject, [{"Id": record_id, **fields}])
        assert result.success, result.errors

    def create(self, sobject: str, **fields: Any) -> str:
        (result,) = self.client.create(sobject, [fields])
        assert result.success and result.id, result.errors
        return result.id

    def delete(self, sobject: str, record_id: str) -> None:
        answer = requests.delete(
            f"{self.base}/sobjects/{sobject}/{record_id}",
            headers={"Authorization": f"Bearer {DEFAULT_SALESFORCE_SESSION}"},
            verify=str(self.sandbox.certificate.cert_path),
            timeout=10,
        )
        assert answer.status_code == 204, answer.text


def touch_contact(sandbox: Sandbox, hubspot_id: str, **properties: str) -> None:
    """Someone edits the contact in HubSpot (its lastmodifieddate moves)."""
    answer = requests.patch(
        f"{sandbox.hubspot_url}/crm/v3/objects/contacts/{hubspot_id}",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {DEFAULT_HUBSPOT_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def scored(sandbox: Sandbox, sobject: str) -> list[dict[str, Any]]:
    return [
        r for r in sandbox.salesforce.store.records(sobject) if r.get("Lead_Score__c") is not None
    ]


def record(sandbox: Sandbox, sobject: str, record_id: str) -> dict[str, Any]:
    found = sandbox.salesforce.store.get(sobject, record_id)
    assert found is not None
    return found


def sync_later(settings: Settings, seconds: float = 5) -> RunSummary:
    now = current_clock()() + timedelta(seconds=seconds)
    return run_once(settings, kind="sync", clock=lambda: now)


def query_calls(sandbox: Sandbox) -> int:
    stats = requests.get(
        sandbox.salesforce_url + "/_sandbox/stats",
        verify=str(sandbox.certificate.cert_path),
        timeout=10,
    ).json()
    return sum(c["count"] for c in stats["calls"] if c["method"] == "GET" and "query" in c["route"])


def _role(segment: str) -> str:
    return segment.split("/")[2]


def promotable(sandbox: Sandbox, count: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """Scored records whose lead is neither an executive nor a director yet, with a fit below
    grade A: making them a CEO moves their score, segment and grade. At least `count`."""
    out = []
    for sobject in ("Lead", "Contact"):
        for r in scored(sandbox, sobject):
            if _role(r["Segment__c"]) in ("staff", "manager") and r["Lead_Grade__c"][0] != "A":
                out.append((sobject, r))
    assert len(out) >= count, "the seed has too few candidates"
    return out


# ---------------------------------------------------------------------- field rules


def test_given_rep_edits_after_the_connector_wrote_next_run_keeps_edits_and_updates_always_fields(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_with(sandbox, tmp_path, mappings_dir(tmp_path, WATCHED))
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    (obj_e, edited), (obj_c, control), (obj_b, cleared) = promotable(sandbox, 3)[:3]
    rep = Rep(sandbox, settings)
    rep.update(obj_e, edited["Id"], Segment__c="key-account/strategic")
    rep.update(obj_b, cleared["Id"], Lead_Grade__c=None)
    for r in (edited, control, cleared):
        touch_contact(sandbox, r["HubSpot_Contact_Id__c"], jobtitle="CEO")

    summary = sync_later(settings)

    assert summary.write_failures == 0
    after_e = record(sandbox, obj_e, edited["Id"])
    after_c = record(sandbox, obj_c, control["Id"])
    after_b = record(sandbox, obj_b, cleared["Id"])
    # unless_changed: the rep's segment stays; the untouched record follows the new title.
    assert after_e["Segment__c"] == "key-account/strategic"
    assert _role(after_c["Segment__c"]) == "executive"
    # always: the score moves on every record (director-or-above title: +15).
    for before, after in ((edited, after_e), (control, after_c), (cleared, after_b)):
        assert after["Lead_Score__c"] == before["Lead_Score__c"] + 15
    # if_blank: written into the field the rep emptied, never over a value.
    assert after_c["Lead_Grade__c"] == control["Lead_Grade__c"]
    assert after_b["Lead_Grade__c"] and after_b["Lead_Grade__c"][0] < cleared["Lead_Grade__c"][0]


def test_given_if_blank_field_holds_a_value_before_the_first_run_it_is_never_written(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_with(sandbox, tmp_path, mappings_dir(tmp_path, WATCHED))
    rep = Rep(sandbox, settings)
    # The records the connector will match (the same matching, run by hand).
    report = match_emails(rep.client, sorted(sandbox.hubspot.store.contacts.emails))
    preset = sorted(report.matches.values(), key=lambda m: m.record_id)[:3]
    assert len(preset) == 3
    for match in preset:
        rep.update(match.sobject, match.record_id, Lead_Grade__c="ZZ")

    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)

    for match in preset:
        after = record(sandbox, match.sobject, match.record_id)
        assert after["Lead_Grade__c"] == "ZZ"
        assert after["Lead_Score__c"] is not None  # the rest was written
    others = [r for o in ("Lead", "Contact") for r in scored(sandbox, o)]
    assert all(r["Lead_Grade__c"] for r in others)


def test_formatted_and_truncated_values_are_what_salesforce_stores(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    folder = mappings_dir(tmp_path, {
        "# A new Lead (created only": (
            '[[field]]\nsource = "contact.createdate"\ntarget = "Birthdate"\n'
            'objects = ["Contact"]\nformat = "date"\n\n'
            '[[field]]\nsource = "contact.jobtitle"\ntarget = "Department"\n'
            'objects = ["Contact"]\nmax_length = 5\n\n'
            "# A new Lead (created only"
        ),
    })
    settings = settings_with(sandbox, tmp_path, folder)
    summary = run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    assert summary.write_failures == 0
    contacts = sandbox.hubspot.store.contacts
    checked = 0
    for r in scored(sandbox, "Contact"):
        source = contacts.get(int(r["HubSpot_Contact_Id__c"]))
        assert source is not None
        created = datetime.fromisoformat(source.props["createdate"].replace("Z", "+00:00"))
        assert r["Birthdate"] == created.astimezone(UTC).date().isoformat()
        assert r["Department"] == ((source.props.get("jobtitle") or "")[:5] or None)
        checked += 1
    assert checked
    mql = [r for o in ("Lead", "Contact") for r in scored(sandbox, o) if r["MQL_Date__c"]]
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
    assert mql and all(pattern.match(r["MQL_Date__c"]) for r in mql)


# ---------------------------------------------------------------------- records that go away


def merge_away(rep: Rep, sandbox: Sandbox, lead: dict[str, Any]) -> str:
    """An admin merges the Lead into a duplicate with the same email: the duplicate survives,
    the connector's Lead is deleted."""
    survivor = rep.create(
        "Lead", LastName="Survivor", Company="Merged KK", Email=lead["Email"].upper()
    )
    rep.delete("Lead", lead["Id"])
    return survivor


def test_given_linked_lead_merged_away_update_fails_and_next_run_writes_to_the_survivor(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_with(sandbox, tmp_path)  # shipped mappings: every rule is `always`
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    lead = promotable_leads(sandbox)[0]
    rep = Rep(sandbox, settings)
    survivor = merge_away(rep, sandbox, lead)
    touch_contact(sandbox, lead["HubSpot_Contact_Id__c"], jobtitle="CEO")

    first = sync_later(settings)
    assert first.write_failures == 1  # Salesforce: ENTITY_IS_DELETED
    with open_store(settings) as store:
        assert lead["Email"].lower() not in store.links([lead["Email"].lower()])
        (letter,) = [d for d in store.dead_letters() if d["lead_key"] == lead["Email"].lower()]
        assert letter["code"] == "ENTITY_IS_DELETED"

    second = sync_later(settings, seconds=10)  # nothing changed in HubSpot since

    assert second.write_failures == 0 and second.records_updated == 1
    after = record(sandbox, "Lead", survivor)
    assert after["Lead_Score__c"] == lead["Lead_Score__c"] + 15
    assert after["HubSpot_Contact_Id__c"] == lead["HubSpot_Contact_Id__c"]
    with open_store(settings) as store:
        assert store.links([lead["Email"].lower()])[lead["Email"].lower()].record_id == survivor


def test_given_watched_fields_a_merged_away_lead_is_noticed_and_rematched_in_the_same_run(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_with(sandbox, tmp_path, mappings_dir(tmp_path, WATCHED))
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    lead = promotable_leads(sandbox)[0]
    rep = Rep(sandbox, settings)
    survivor = merge_away(rep, sandbox, lead)
    rep.update("Lead", survivor, Segment__c="set-by-sales")
    touch_contact(sandbox, lead["HubSpot_Contact_Id__c"], jobtitle="CEO")

    summary = sync_later(settings)

    assert summary.write_failures == 0 and summary.records_updated == 1
    after = record(sandbox, "Lead", survivor)
    assert after["Lead_Score__c"] == lead["Lead_Score__c"] + 15
    assert after["Lead_Grade__c"]  # if_blank: the survivor's grade was empty
    # unless_changed on a record the connector never wrote: the connector's value goes in
    # (state's written values belonged to the deleted Lead, and are not compared).
    assert _role(after["Segment__c"]) == "executive"
    with open_store(settings) as store:
        assert store.links([lead["Email"].lower()])[lead["Email"].lower()].record_id == survivor


def test_given_watched_fields_a_converted_lead_is_followed_to_its_contact(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_with(sandbox, tmp_path, mappings_dir(tmp_path, WATCHED))
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    lead = promotable_leads(sandbox)[0]
    # Sales converts the Lead. No REST resource converts, so the sandbox's store plays the
    # conversion: a new Contact, and the Lead marked converted into it.
    sandbox.salesforce.seed(
        {"Contact": [{"LastName": "Converted-From-Lead", "Email": lead["Email"]}]}
    )
    (contact,) = [
        r for r in sandbox.salesforce.store.records("Contact")
        if r["LastName"] == "Converted-From-Lead"
    ]
    with sandbox.salesforce.store.lock:
        sandbox.salesforce.store.put(
            "Lead", {**lead, "IsConverted": True, "ConvertedContactId": contact["Id"]}
        )
    touch_contact(sandbox, lead["HubSpot_Contact_Id__c"], jobtitle="CEO")

    summary = sync_later(settings)

    assert summary.write_failures == 0
    after = record(sandbox, "Contact", contact["Id"])
    assert after["Lead_Score__c"] == lead["Lead_Score__c"] + 15
    with open_store(settings) as store:
        link = store.links([lead["Email"].lower()])[lead["Email"].lower()]
    assert (link.sobject, link.record_id) == ("Contact", contact["Id"])


def promotable_leads(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Promotable Leads whose email no other Lead or Contact shares."""
    emails: dict[str, int] = {}
    for obj in ("Lead", "Contact"):
        for r in sandbox.salesforce.store.records(obj):
            if r.get("Email"):
                emails[r["Email"].lower()] = emails.get(r["Email"].lower(), 0) + 1
    leads = [
        r for sobject, r in promotable(sandbox)
        if sobject == "Lead" and emails[r["Email"].lower()] == 1
    ]
    assert leads
    return leads


# ---------------------------------------------------------------------- what it costs


@pytest.mark.parametrize(("watched", "reads"), [(False, 0), (True, 2)])
def test_linked_records_are_read_only_with_watched_rules_and_in_one_query_per_object(
    sandbox: Sandbox, tmp_path: Path, watched: bool, reads: int
) -> None:
    mappings = mappings_dir(tmp_path, WATCHED if watched else None)
    settings = settings_with(sandbox, tmp_path, mappings)
    run_once(settings, kind="backfill", since=SINCE, clock=sandbox.clock)
    leads = [r for sobject, r in promotable(sandbox) if sobject == "Lead"][:3]
    contacts = scored(sandbox, "Contact")
    assert leads and contacts
    for r in (*leads, *contacts):
        touch_contact(sandbox, r["HubSpot_Contact_Id__c"], jobtitle="CEO")
    before = query_calls(sandbox)

    summary = sync_later(settings)

    # Every changed lead is linked: no email matching, only the read of watched fields
    # (one query for the Leads, one for the Contacts) when the field map needs it, besides
    # the sales-outcome pull (one query per object: Lead, Contact, contact role, Opportunity,
    # and Task for the hand-off SLA's first touches).
    assert query_calls(sandbox) - before == reads + 5
    assert summary.leads_scored == len(leads) + len(contacts)
    assert summary.records_updated >= len(leads) and summary.write_failures == 0


class FakeQueries:
    def __init__(self) -> None:
        self.soql: list[str] = []

    def query_url_length(self, soql: str) -> int:
        from urllib.parse import urlencode

        return len("https://example.my.salesforce.com/services/data/v59.0/query/?") + len(
            urlencode({"q": soql})
        )

    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        self.soql.append(soql)
        inside = soql[soql.index("IN (") + 4 : -1]
        for quoted in inside.split(","):
            yield {"Id": quoted.strip("'"), "OwnerId": "005000000000001AAA"}


def test_fetch_by_ids_reads_500_ids_a_query_under_the_uri_limit() -> None:
    client = FakeQueries()
    ids = [f"00Q5g{n:010d}AAA" for n in range(1200)]
    found = fetch_by_ids(client, "Lead", ids, ["OwnerId", "Segment__c"])
    assert len(client.soql) == 3
    assert [s.count("'") // 2 for s in client.soql] == [500, 500, 200]
    assert all(client.query_url_length(s) < 16_384 for s in client.soql)
    assert found[ids[0]]["OwnerId"] and found[ids[0][:15]] is found[ids[0]]
    assert client.soql[0].startswith("SELECT Id, OwnerId, Segment__c FROM Lead WHERE Id IN (")


# ---------------------------------------------------------------------- setup and online checks


@pytest.fixture
def connector() -> Any:
    """The `connector` command."""
    import cli

    return cli.main


def invoke(main: Any, config: Path, *args: str) -> Any:
    from click.testing import CliRunner

    return CliRunner().invoke(main, ["--config", str(config), *args], catch_exceptions=False)


BROKEN = {
    # a field that does not exist
    'source = "segment"\ntarget = "Segment__c"\n': 'source = "segment"\ntarget = "Segmnet__c"\n',
    # a restricted picklist value Salesforce does not have
    'source = "stage"\ntarget = "Lead_Stage__c"\n': (
        'source = "stage"\ntarget = "Lead_Stage__c"\nvalue_map = { "Hot" = "Very Hot" }\n'
    ),
    # longer than the field
    'source = "mql_reason"\ntarget = "MQL_Reason__c"\nmax_length = 255\n': (
        'source = "mql_reason"\ntarget = "MQL_Reason__c"\nmax_length = 300\n'
    ),
    # a field nobody may write, a HubSpot property with a typo, one the connector never reads
    "# A new Lead (created only": (
        '[[field]]\nsource = "score"\ntarget = "IsConverted"\nobjects = ["Lead"]\n\n'
        '[[field]]\nsource = "contact.jobtitel"\ntarget = "Title"\nmax_length = 128\n\n'
        '[[field]]\nsource = "contact.city"\ntarget = "City"\nobjects = ["Lead"]\n'
        "max_length = 40\n\n"
        "# A new Lead (created only"
    ),
}


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def test_mappings_validate_online_reports_every_problem_with_its_fields_toml_line(
    sandbox: Sandbox, tmp_path: Path, connector: Any
) -> None:
    folder = mappings_dir(tmp_path, BROKEN)
    settings_with(sandbox, tmp_path, folder)
    fields = folder / "fields.toml"

    result = invoke(connector, tmp_path / "connector.toml", "mappings", "validate", "--online")

    assert result.exit_code == 2, result.output
    out = result.output

    def reported(anchor: str, *words: str) -> bool:
        where = f"{fields}:{line_of(fields, anchor)}:"
        return any(where in line and all(w in line for w in words) for line in out.splitlines())

    assert reported('target = "Segmnet__c"', "Lead.Segmnet__c", "no such field")
    assert reported('target = "Segmnet__c"', "Contact.Segmnet__c", "no such field")
    assert reported('"Hot" = "Very Hot"', "'Very Hot'", "restricted picklist")
    assert reported("max_length = 300", "max_length = 300", "holds 255")
    assert reported('target = "IsConverted"', "not updateable")
    assert reported('source = "contact.jobtitel"', "no contact property 'jobtitel'", "jobtitle")
    assert reported('source = "contact.city"', "does not read", "hubspot.contact_properties")
    assert "HubSpot" in out and "(warning)" in out  # LeadSource 'HubSpot': an open picklist

    as_json = invoke(
        connector, tmp_path / "connector.toml", "mappings", "validate", "--online", "--json"
    )
    payload = json.loads(as_json.output)
    # two objects each for the first three, two problems for IsConverted (also a boolean)
    assert payload["ok"] is False and len(payload["problems"]) == 10
    # one property list, and one probe per HubSpot activity stream
    assert payload["api_calls"] == {"hubspot": 6, "salesforce": 3}
    assert payload["streams"]["email_events"] == "available"


def test_mappings_validate_online_passes_the_shipped_mappings_and_offline_still_works(
    sandbox: Sandbox, tmp_path: Path, connector: Any
) -> None:
    settings_with(sandbox, tmp_path)
    config = tmp_path / "connector.toml"
    online = invoke(connector, config, "mappings", "validate", "--online")
    assert online.exit_code == 0, online.output
    assert "match the Salesforce and HubSpot schemas" in online.output
    offline = invoke(connector, config, "mappings", "validate", "--json")
    assert offline.exit_code == 0 and '"online": false' in offline.output
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "fields.toml").write_text('[[field]]\nsource = "scroe"\ntarget = "A__c"\n')
    bad = invoke(connector, config, "mappings", "validate", "--dir", str(broken), "--online")
    assert bad.exit_code == 2 and "unknown source 'scroe'" in bad.output


def test_setup_salesforce_lists_the_custom_fields_and_check_finds_the_org_complete(
    sandbox: Sandbox, tmp_path: Path, connector: Any
) -> None:
    settings_with(sandbox, tmp_path)
    config = tmp_path / "connector.toml"
    listed = invoke(connector, config, "setup", "salesforce")
    assert listed.exit_code == 0, listed.output
    for expected in (
        "Lead_Score__c          Number(18, 0)",
        "Lead_Stage__c          Picklist: Cold, Interest, Comparison, Hot, MQL",
        "MQL_Status__c          Picklist: Not MQL, MQL, Disqualified",
        "MQL_Date__c            Date/Time",
        "Lead_Grade__c          Text(2)",
        "HubSpot_Contact_Id__c  Text(64), External ID, Unique",
        "Connector_Key__c       Text(80), External ID, Unique (case-sensitive)",
    ):
        assert expected in listed.output
    checked = invoke(connector, config, "setup", "salesforce", "--check")
    assert checked.exit_code == 0, checked.output
    assert "the org has every field the connector needs" in checked.output


def test_setup_salesforce_check_names_missing_and_wrong_fields(
    sandbox: Sandbox, tmp_path: Path, connector: Any
) -> None:
    folder = mappings_dir(tmp_path, {
        'source = "segment"\ntarget = "Segment__c"\n': (
            'source = "segment"\ntarget = "Segmnet__c"\n'
        ),
        'source = "stage"\ntarget = "Lead_Stage__c"\n': (
            'source = "stage"\ntarget = "Lead_Stage__c"\nvalue_map = { "Hot" = "Very Hot" }\n'
        ),
        'target = "MQL_Date__c"\nformat = "datetime"\n': (
            'target = "MQL_Date__c"\nformat = "date"\n'
        ),
        'source = "mql_reason"\ntarget = "MQL_Reason__c"\nmax_length = 255\n': (
            'source = "mql_reason"\ntarget = "MQL_Reason__c"\nmax_length = 300\n'
        ),
    })
    settings_with(sandbox, tmp_path, folder)
    result = invoke(connector, tmp_path / "connector.toml", "setup", "salesforce", "--check",
                    "--json")
    assert result.exit_code == 2, result.output
    payload = json.loads(result.output)
    status = {(c["sobject"], c["name"]): c for c in payload["check"]}
    assert status[("Lead", "Segmnet__c")]["status"] == "missing"
    assert "Very Hot" in status[("Contact", "Lead_Stage__c")]["problems"][0]
    assert "should be Date" in status[("Lead", "MQL_Date__c")]["problems"][0]
    assert "should hold 300" in status[("Lead", "MQL_Reason__c")]["problems"][0]
    assert status[("Task", "Connector_Key__c")]["status"] == "ok"
    assert payload["ok"] is False
