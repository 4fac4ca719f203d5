"""The agreement check: the MQLs the connector decided against the MQLs Salesforce shows.

Teams see MQL counts that disagree between systems (412 in the marketing tool, 280 in
Salesforce). This names every lead behind the difference and the likely reason.

    report = check_agreement(decisions, salesforce, written)   # pure
    report = agreement_from_store(store, funnel)                # reads the state store

`check_agreement` is pure (plain mappings in, an `AgreementReport` out). Salesforce's side is
the MQL status field (`MQL_Status__c` by default, `mappings/funnel.toml [salesforce]`) of
each lead's Salesforce record as the last outcome pull read it (`sync.outcomes`): run
`connector sync` first so it is current.

Reasons (`Disagreement.reason`):
- `record_missing`: the connector says MQL but no Salesforce record of the lead was read:
  none was matched or created (e.g. `create_leads_for`), or it was deleted or merged;
- `never_written`: the record exists but the connector never wrote the MQL status to it
  (a dead letter, a dry run, a field left out of `fields.toml`);
- `not_written_yet`: the connector's decision changed after its last write; the next sync
  writes it (or it is waiting in the dead-letter list);
- `changed_in_salesforce`: the connector wrote the value it still decides, and Salesforce
  now shows another: a user, a flow or another tool overwrote it;
- `set_in_salesforce`: Salesforce shows MQL on a record the connector never wrote an MQL
  status to: set by hand or by another system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from core.outcomes import LeadOutcome

if TYPE_CHECKING:
    from sync.outcomes import Funnel
    from sync.state import StateStore

Reason = Literal[
    "record_missing", "never_written", "not_written_yet", "changed_in_salesforce",
    "set_in_salesforce",
]  # fmt: skip

REASONS: dict[str, str] = {
    "record_missing": "no Salesforce record of this lead was read (not matched or created, "
    "or deleted/merged)",
    "never_written": "the connector never wrote its MQL status to this record",
    "not_written_yet": "the connector's decision changed after its last write; the next sync "
    "writes it",
    "changed_in_salesforce": "the connector wrote this value and Salesforce now shows another "
    "(overwritten by a user, a flow or another tool)",
    "set_in_salesforce": "Salesforce shows MQL but the connector never wrote an MQL status "
    "here (set by hand or by another system)",
}


@dataclass(frozen=True, slots=True)
class Disagreement:
    lead_key: str  # the lead's normalised email
    email: str | None  # the email on the Salesforce record (None without one)
    sobject: str | None  # "Lead" | "Contact"; None when no record was read
    record_id: str | None
    connector_mql: bool  # what the connector decided
    salesforce_status: str | None  # the MQL status field as Salesforce shows it
    written_status: str | None  # what the connector last wrote there (None: never)
    reason: Reason

    @property
    def explanation(self) -> str:
        return REASONS[self.reason]


@dataclass(frozen=True, slots=True)
class AgreementReport:
    connector_mqls: int  # leads the connector says are MQL
    salesforce_mqls: int  # leads whose Salesforce record shows MQL
    both: int  # MQL on both sides
    connector_only: int
    salesforce_only: int
    differences: tuple[Disagreement, ...]  # by lead key

    @property
    def agree(self) -> bool:
        return not self.differences

    def by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.differences:
            out[d.reason] = out.get(d.reason, 0) + 1
        return dict(sorted(out.items()))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: counts, counts per reason, and every differing record."""
        return {
            "connector_mqls": self.connector_mqls,
            "salesforce_mqls": self.salesforce_mqls,
            "both": self.both,
            "connector_only": self.connector_only,
            "salesforce_only": self.salesforce_only,
            "agree": self.agree,
            "by_reason": self.by_reason(),
            "differences": [asdict(d) | {"explanation": d.explanation} for d in self.differences],
        }


def check_agreement(
    decisions: Mapping[str, bool],
    salesforce: Mapping[str, LeadOutcome],
    written: Mapping[str, str | None],
    *,
    mql_value: str = "MQL",
) -> AgreementReport:
    """Compare the connector's MQL decisions with what Salesforce shows.

    - `decisions`: lead key -> the connector says MQL (state `mql_state.qualified`);
    - `salesforce`: lead key -> its outcome as pulled (`LeadOutcome.mql_status` is what
      Salesforce shows on the lead's record); leads absent have no record read;
    - `written`: lead key -> the MQL status the connector last wrote to that record
      (absent or None: never written);
    - `mql_value`: the MQL status value that means MQL.
    """
    keys = set(decisions) | {k for k, o in salesforce.items() if o.mql_status == mql_value}
    both = connector_only = salesforce_only = 0
    differences: list[Disagreement] = []
    for key in sorted(keys):
        says = bool(decisions.get(key, False))
        outcome = salesforce.get(key)
        shows = outcome.mql_status if outcome is not None else None
        sf_mql = shows == mql_value
        if says and sf_mql:
            both += 1
            continue
        if not says and not sf_mql:
            continue
        last = written.get(key)
        if says:
            connector_only += 1
            if outcome is None:
                reason: Reason = "record_missing"
            elif last is None:
                reason = "never_written"
            elif last == mql_value:
                reason = "changed_in_salesforce"
            else:
                reason = "not_written_yet"
        else:
            salesforce_only += 1
            if last is None:
                reason = "set_in_salesforce"
            elif last == mql_value:
                reason = "not_written_yet"
            else:
                reason = "changed_in_salesforce"
        differences.append(
            Disagreement(
                lead_key=key,
                email=outcome.email if outcome else None,
                sobject=outcome.sobject if outcome else None,
                record_id=outcome.record_id if outcome else None,
                connector_mql=says,
                salesforce_status=shows,
                written_status=last,
                reason=reason,
            )
        )
    return AgreementReport(
        connector_mqls=both + connector_only,
        salesforce_mqls=both + salesforce_only,
        both=both,
        connector_only=connector_only,
        salesforce_only=salesforce_only,
        differences=tuple(differences),
    )


def agreement_from_store(store: StateStore, funnel: Funnel | None = None) -> AgreementReport:
    """`check_agreement` over everything the state store holds: every lead's stored MQL
    decision, its Salesforce record as last pulled (and updated with the writes Salesforce
    confirmed since, see `OutcomeSync.follow_writes`) and what the connector wrote there.

    Set-based: the leads on which both sides say MQL for certain are counted in SQL
    (`OutcomeStore.mql_agreement_rows`); only the others (the differing ones, and those
    whose record is chosen by preference among several) are read and checked in Python."""
    from sync.outcomes import Funnel

    funnel = funnel or Funnel()
    mql_value = funnel.salesforce.mql_value
    both, rest = store.outcomes.mql_agreement_rows(mql_value)
    keys = [key for key, _ in rest]
    states = store.mql_states(keys)
    decisions = {key: state.qualified for key, state in states.items()}
    outcomes = store.outcomes.outcomes_for(keys)
    found = check_agreement(
        decisions, outcomes, _written(store, keys, outcomes, funnel), mql_value=mql_value
    )
    return AgreementReport(
        connector_mqls=found.connector_mqls + both,
        salesforce_mqls=found.salesforce_mqls + both,
        both=found.both + both,
        connector_only=found.connector_only,
        salesforce_only=found.salesforce_only,
        differences=found.differences,
    )


def _written(
    store: StateStore, keys: list[str], outcomes: Mapping[str, LeadOutcome], funnel: Funnel
) -> dict[str, str | None]:
    """What the connector last wrote to the MQL status field of the record Salesforce's
    answer comes from, per lead key."""
    field = funnel.salesforce.mql_status_field
    links = store.links(keys)
    values = store.written(keys)
    written: dict[str, str | None] = {}
    for key in keys:
        outcome = outcomes.get(key)
        link = links.get(key)
        sobject = outcome.sobject if outcome else (link.sobject if link else None)
        if sobject is None:
            continue
        same_record = outcome is None or link is None or link.record_id == outcome.record_id
        value = values.get(key, {}).get(f"{sobject}.{field}") if same_record else None
        written[key] = None if value is None else str(value)
    return written
