"""The stages after MQL: sales outcomes from Salesforce, the funnel rules that read them, and
the run step that pulls them.

- `Funnel` is `mappings/funnel.toml`: which Lead statuses mean SQL or lost, which opportunity
  stages count, what counts as a good or bad outcome in back-tests, and the names of the
  connector's fields read back. `load_funnel` checks it with `file:line` messages.
- `outcome_stage` / `stage_after_mql` / `outcome_label` are pure: no I/O, no clock.
- `OutcomeSync` is the run step: pull changed records (`connectors.salesforce.outcomes`),
  store them, mark the leads whose outcome changed for re-planning, move the cursors
  (`salesforce:<Object>`) once an object is read to the end; and, while a batch is planned,
  advance each lead's scored stage with its stored outcome.

Stage order: the scored stages (cold ... hot, MQL) < SQL < opportunity < won | lost. An
outcome always wins over the scored stage: sales' verdict is what the funnel reports.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.salesforce.outcomes import (
    OUTCOME_OBJECTS,
    TOUCH_OBJECT,
    OutcomeFields,
    OutcomeReader,
    TaskTouch,
)
from core.clock import Clock, system_clock
from core.errors import FatalAPIError, RecordError
from core.handoff import Touch
from core.outcomes import LeadOutcome, SalesforceRecord
from core.tomlfile import load_model
from sync.lead_refs import email_ref
from sync.plan import ScoredLead
from sync.state import StateStore

log = logging.getLogger("connector.outcomes")

FUNNEL_FILE = "funnel.toml"
CURSOR_PREFIX = "salesforce:"
MAX_LOGGED_PROBLEMS = 200
# How long a describe that found the rejection-reason field is trusted: a present field is
# read without describing Lead again until then (a field found missing is checked every
# pull, so one created by `connector setup salesforce` is read on the next run).
FIELD_CHECK_TTL = timedelta(hours=24)
SETUP_HINT = "create it with `connector setup salesforce` (docs/scoring-feedback.md)"
OutcomeStage = Literal["sql", "opportunity", "won", "lost"]
# The shipped reason values (labels 予算なし, 時期尚早, 競合, 対象外 in the sandbox org)
REJECTION_REASONS = ("No budget", "Not now", "Competitor", "Not a fit")
_SF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


# ------------------------------------------------------------------------------ config
class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _strings(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v for v in cleaned):
        raise ValueError("values must not be empty")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("a value is listed twice")
    return cleaned


class SqlRules(_Section):
    lead_statuses: list[str] = Field(default_factory=lambda: ["Working - Contacted"])
    converted: bool = True  # a converted Lead is SQL (at least)

    _clean = field_validator("lead_statuses")(classmethod(lambda cls, v: _strings(v)))


class LostRules(_Section):
    lead_statuses: list[str] = Field(default_factory=lambda: ["Closed - Not Converted"])

    _clean = field_validator("lead_statuses")(classmethod(lambda cls, v: _strings(v)))


class OpportunityRules(_Section):
    ignore_stages: list[str] = Field(default_factory=list)

    _clean = field_validator("ignore_stages")(classmethod(lambda cls, v: _strings(v)))


class BacktestRules(_Section):
    positive: list[OutcomeStage] = Field(default_factory=lambda: ["opportunity", "won"])
    negative: list[OutcomeStage] = Field(default_factory=lambda: ["lost"])

    @model_validator(mode="after")
    def _disjoint(self) -> BacktestRules:
        both = sorted(set(self.positive) & set(self.negative))
        if both:
            raise ValueError(f"{', '.join(both)} cannot be both positive and negative")
        if not self.positive:
            raise ValueError("positive needs at least one stage")
        return self


class SalesforceFields(_Section):
    mql_status_field: str = "MQL_Status__c"
    mql_date_field: str = "MQL_Date__c"
    stage_field: str = "Lead_Stage__c"
    mql_value: str = "MQL"

    @field_validator("mql_status_field", "mql_date_field", "stage_field")
    @classmethod
    def _api_name(cls, value: str) -> str:
        if not _SF_FIELD.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field API name")
        return value


class RejectionRules(_Section):
    """Why sales rejected an MQL (`connector score rejections`, docs/scoring-feedback.md)."""

    # Lead Status values that mean "rejected"; empty: those of [lost].
    lead_statuses: list[str] = Field(default_factory=list)
    # The Lead field holding the reason (a picklist); read in the outcome pull's Lead query.
    # None (the default without funnel.toml): not read, so an org without it loses nothing.
    reason_field: str | None = None
    # The reason picklist's values (API values, not labels): what `connector setup
    # salesforce` lists for the field and `--check` expects active.
    reason_values: list[str] = Field(default_factory=lambda: list(REJECTION_REASONS))

    _clean = field_validator("lead_statuses", "reason_values")(
        classmethod(lambda cls, v: _strings(v))
    )

    @field_validator("reason_field")
    @classmethod
    def _api_name(cls, value: str | None) -> str | None:
        if value is not None and not _SF_FIELD.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field API name")
        return value


class Funnel(_Section):
    sql: SqlRules = Field(default_factory=SqlRules)
    lost: LostRules = Field(default_factory=LostRules)
    opportunity: OpportunityRules = Field(default_factory=OpportunityRules)
    backtest: BacktestRules = Field(default_factory=BacktestRules)
    salesforce: SalesforceFields = Field(default_factory=SalesforceFields)
    rejection: RejectionRules = Field(default_factory=RejectionRules)

    @model_validator(mode="after")
    def _statuses_disjoint(self) -> Funnel:
        both = sorted(set(self.sql.lead_statuses) & set(self.lost.lead_statuses))
        if both:
            raise ValueError(
                f"Lead status {', '.join(repr(b) for b in both)} is in both "
                "sql.lead_statuses and lost.lead_statuses"
            )
        return self

    def outcome_fields(self) -> OutcomeFields:
        sf = self.salesforce
        return OutcomeFields(
            sf.mql_status_field, sf.mql_date_field, sf.stage_field,
            rejection_reason=self.rejection.reason_field,
        )

    def rejected_statuses(self) -> list[str]:
        return self.rejection.lead_statuses or self.lost.lead_statuses


def load_funnel(directory: Path) -> Funnel:
    """`directory/funnel.toml`, or the defaults when the file is absent. Every problem is
    reported as `file:line: key: what is expected` in one ConfigError."""
    path = directory / FUNNEL_FILE
    if not path.exists():
        return Funnel()
    return load_model(path, Funnel)


# ------------------------------------------------------------------------------ pure rules
def outcome_stage(outcome: LeadOutcome | None, funnel: Funnel) -> OutcomeStage | None:
    """The furthest stage after MQL that `outcome` shows; None when it shows none.

    - won / lost / opportunity: the lead has an opportunity (not of an ignored stage): won
      or lost once closed (Salesforce's IsWon / IsClosed), else opportunity;
    - sql: the lead was converted (with `sql.converted`), or one of the person's Leads has a
      status in `sql.lead_statuses`;
    - lost: every one of the person's open Leads has a status in `lost.lead_statuses`
      (sales disqualified it; an old disqualified duplicate beside a live Lead is not).
    """
    if outcome is None:
        return None
    if outcome.opportunity_id and outcome.opportunity_stage not in funnel.opportunity.ignore_stages:
        if outcome.opportunity_is_won:
            return "won"
        return "lost" if outcome.opportunity_is_closed else "opportunity"
    if outcome.is_converted and funnel.sql.converted:
        return "sql"
    statuses = outcome.lead_statuses or ((outcome.status,) if outcome.status else ())
    if any(s in funnel.sql.lead_statuses for s in statuses):
        return "sql"
    if (
        statuses
        and not outcome.is_converted
        and all(s in funnel.lost.lead_statuses for s in statuses)
    ):
        return "lost"
    return None


def stage_after_mql(scored_stage: str, outcome: LeadOutcome | None, funnel: Funnel) -> str:
    """The stage to write and explain: the outcome's stage when there is one, else the
    stage scoring gave."""
    return outcome_stage(outcome, funnel) or scored_stage


def outcome_label(outcome: LeadOutcome | None, funnel: Funnel) -> bool | None:
    """For back-tests: True for a positive outcome, False for a known negative one, None
    when the outcome is not known (yet)."""
    stage = outcome_stage(outcome, funnel)
    if stage in funnel.backtest.positive:
        return True
    if stage in funnel.backtest.negative:
        return False
    return None


def is_rejected(outcome: LeadOutcome, funnel: Funnel) -> bool:
    """Sales rejected the lead: not converted, no opportunity, and every one of its Lead
    statuses (else its status) is one of `funnel.toml [rejection] lead_statuses` (default:
    `[lost]`'s). What `connector score rejections` and the report's table count."""
    statuses = set(funnel.rejected_statuses())
    own = outcome.lead_statuses or ((outcome.status,) if outcome.status else ())
    return (
        not outcome.is_converted
        and outcome.opportunity_id is None
        and bool(own)
        and all(s in statuses for s in own)
    )


def lead_verdict(outcome: LeadOutcome | None, funnel: Funnel) -> str | None:
    """Sales' verdict on a lead, as the rejection table counts it: "rejected"
    (`is_rejected`, first), "accepted" (a positive `[backtest]` outcome, `outcome_label`
    True), else None. Stored per lead in `kpi_facts.verdict`."""
    if outcome is None:
        return None
    if is_rejected(outcome, funnel):
        return "rejected"
    if outcome_label(outcome, funnel) is True:
        return "accepted"
    return None


def outcome_labels(outcomes: Mapping[str, LeadOutcome], funnel: Funnel) -> dict[str, bool]:
    """Lead key -> outcome label, for `scoring.simulate.simulate(outcomes=...)`: leads
    without a known outcome are left out."""
    out: dict[str, bool] = {}
    for key, outcome in outcomes.items():
        label = outcome_label(outcome, funnel)
        if label is not None:
            out[key] = label
    return out


def stored_outcome_labels(store: StateStore, funnel: Funnel) -> dict[str, bool] | None:
    """Outcome labels of every stored lead for `score simulate`; None when no outcome has
    been pulled yet (precision/recall are then not reported, rather than reported as 0)."""
    if not store.outcomes.outcome_counts()["sf_records"]:
        return None
    return outcome_labels(store.outcomes.outcomes_for(store.all_lead_emails()), funnel)


def describe_outcome(outcome: LeadOutcome | None) -> dict[str, Any] | None:
    """A JSON-ready view of an outcome (for `score explain`)."""
    if outcome is None:
        return None
    return {
        "object": outcome.sobject,
        "id": outcome.record_id,
        "status": outcome.status,
        "lead_statuses": list(outcome.lead_statuses),
        "converted": outcome.is_converted,
        "converted_at": outcome.converted_at.isoformat() if outcome.converted_at else None,
        "opportunity": None
        if outcome.opportunity_id is None
        else {
            "id": outcome.opportunity_id,
            "stage": outcome.opportunity_stage,
            "closed": outcome.opportunity_is_closed,
            "won": outcome.opportunity_is_won,
            "amount": None
            if outcome.opportunity_amount is None
            else str(outcome.opportunity_amount),
            "close_date": outcome.opportunity_close_date.isoformat()
            if outcome.opportunity_close_date
            else None,
        },
        "opportunities": outcome.opportunities,
        "salesforce_mql_status": outcome.mql_status,
    }


# ------------------------------------------------------------------------------ run step
@dataclass
class PullReport:
    read: Counter[str] = field(default_factory=Counter)  # records read per object
    stored: int = 0  # Leads/Contacts kept (those of known leads) + opportunities + roles
    changed: int = 0  # stored records whose outcome is new or changed
    leads_marked: int = 0  # leads marked for re-planning
    touches: int = 0  # sales' touches of known leads (Tasks, calls, Lead status changes)
    calls: int = 0  # Salesforce API calls the pull made
    problems: list[str] = field(default_factory=list)
    # Optional fields the org lacks, left out of the queries (Lead.Rejection_Reason__c)
    missing_fields: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        missing = {"missing_fields": list(self.missing_fields)} if self.missing_fields else {}
        return missing | {
            "read": dict(self.read),
            "stored": self.stored,
            "changed": self.changed,
            "leads_marked": self.leads_marked,
            "touches": self.touches,
            "calls": self.calls,
            "problems": len(self.problems),
        }


@dataclass
class OutcomeSync:
    """Pulls outcomes into the store and advances scored stages with them."""

    store: StateStore
    reader: OutcomeReader
    funnel: Funnel
    call_count: Callable[[], int] = lambda: 0
    # When the last pull started, by the clock `written.written_at` uses (the store's: the
    # run's injected clock); `follow_writes` applies what was written after it.
    clock: Clock = system_clock
    pulled_at: datetime | None = None
    # The status the connector creates Leads with (`sync.fieldmap`): a Lead first seen with
    # another status, or one whose status changed since the last pull, was touched by sales.
    initial_lead_status: str = "Open - Not Contacted"
    _relink: bool = field(default=True, init=False, repr=False)

    def pull(
        self, now: datetime, *, since: datetime, overlap: timedelta, advance: bool = True
    ) -> PullReport:
        """Read what changed per object since its cursor (minus `overlap`; `since` when
        there is no cursor yet), store it, mark the leads whose outcome changed. Leads and
        Contacts first, so the opportunities and roles that follow find their records.

        An object read to the end moves its cursor to `now` (the run's start, before the
        query was sent), as the HubSpot streams do: SOQL date-time literals have whole
        seconds, and a cursor at the newest `SystemModstamp` would re-read that second's
        records every run. `overlap` must cover the skew between this clock and
        Salesforce's (default 5 minutes)."""
        report = PullReport()
        self.pulled_at = self.clock()
        self._relink = advance  # a dry run changes no link
        calls_before = self.call_count()
        for sobject in ("Lead", "Contact", "OpportunityContactRole", "Opportunity", TOUCH_OBJECT):
            assert sobject in (*OUTCOME_OBJECTS, TOUCH_OBJECT)
            stream = CURSOR_PREFIX + sobject
            cursor = self.store.cursor(stream)
            start = cursor - overlap if cursor is not None else since
            if sobject == "Lead":
                self.reader.read_reason = self._reason_field_present(report)
            try:
                try:
                    for page in self.reader.changed(sobject, start):
                        report.read[sobject] += len(page)
                        self._store_page(sobject, page, report)
                except (RecordError, FatalAPIError) as exc:
                    if not self._reason_field_gone(sobject, exc, report):
                        raise
                    for page in self.reader.changed(sobject, start):  # without the field
                        report.read[sobject] += len(page)
                        self._store_page(sobject, page, report)
            except (RecordError, FatalAPIError) as exc:
                # A query Salesforce refuses (400: a field this org does not have, an object
                # this user may not read) costs this object's outcomes, not the run. Budget,
                # session and transport failures still stop the run.
                if isinstance(exc, FatalAPIError) and exc.status != 400:
                    raise
                report.problems.append(f"salesforce {sobject}: {exc}")
                log.warning("could not read outcomes", extra={"object": sobject, "error": str(exc)})
                continue
            if advance and (cursor is None or now > cursor):
                self.store.set_cursors({stream: now})
        if advance:
            self.store.touches.refresh()  # hand-offs and their first touches (the SLA)
        report.calls = self.call_count() - calls_before
        problems = self.reader.problems
        for problem in problems[:MAX_LOGGED_PROBLEMS]:
            log.warning(
                "record skipped",
                extra={
                    "source": problem.source,
                    "record": problem.record_id,
                    "reason": problem.reason,
                },
            )
        report.problems.extend(f"{p.source} {p.record_id or '-'}: {p.reason}" for p in problems)
        problems.clear()
        return report

    def _reason_field_present(self, report: PullReport, *, fresh: bool = False) -> bool:
        """Whether the org's Lead has the rejection-reason field: a describe of Lead (one
        call), trusted for `FIELD_CHECK_TTL` when it found the field. A missing field is
        left out of the query, with one warning naming it and the fix; the Lead outcomes
        are read all the same."""
        name = self.reader.fields.rejection_reason
        if name is None:
            return False
        rejections = self.store.rejections
        known = None if fresh else rejections.field_check("Lead", name)
        if known is not None and known[0] and self.clock() - known[1] < FIELD_CHECK_TTL:
            return True
        try:
            present = name.lower() in self.reader.lead_field_names()
        except (RecordError, FatalAPIError) as exc:
            if isinstance(exc, FatalAPIError) and exc.status != 400:
                raise  # budget, session, transport: stop as a query would
            log.warning(
                "could not describe Lead; its rejection reason is not read this run",
                extra={"field": f"Lead.{name}", "error": str(exc)},
            )
            return False
        rejections.save_field_check("Lead", name, present)
        if not present:
            report.missing_fields.append(f"Lead.{name}")
            log.warning(
                f"Salesforce has no field Lead.{name} (funnel.toml [rejection] reason_field): "
                f"rejection reasons are not read; {SETUP_HINT}",
                extra={"field": f"Lead.{name}"},
            )
        return present

    def _reason_field_gone(
        self, sobject: str, exc: RecordError | FatalAPIError, report: PullReport
    ) -> bool:
        """The Lead query was refused for a field Salesforce does not have while it read a
        reason field trusted from an earlier describe (deleted since): describe again, and
        True when the field is indeed gone, so the query is sent again without it."""
        if sobject != "Lead" or not self.reader.read_reason or exc.error_code != "INVALID_FIELD":
            return False
        name = self.reader.fields.rejection_reason
        assert name is not None
        self.store.rejections.forget_field_check("Lead", name)
        self.reader.read_reason = self._reason_field_present(report, fresh=True)
        return not self.reader.read_reason

    def _store_page(self, sobject: str, page: list[Any], report: PullReport) -> None:
        store = self.store
        if sobject in ("Lead", "Contact"):
            ids = [r.record_id for r in page]
            ids += [r.converted_contact_id for r in page if r.converted_contact_id]
            linked = store.outcomes.linked_record_ids(ids)
            known = store.outcomes.known_lead_keys(r.email for r in page if r.email)
            keep = [
                r
                for r in page
                if r.record_id in linked
                or (r.email is not None and r.email in known)
                or (r.converted_contact_id is not None and r.converted_contact_id in linked)
            ]
            changed = store.outcomes.changed_salesforce_records(keep)
            # A record seen for the first time re-plans its lead only when it says something
            # about the funnel: the Leads the connector itself creates would otherwise
            # re-plan their leads on the next run.
            new = changed - store.outcomes.pulled_record_ids(changed)
            changed -= {r.record_id for r in keep if r.record_id in new and not self._telling(r)}
            # Marks first, then the records: a crash in between re-reads the page (the
            # cursor has not moved) and finds the same change again.
            self._mark(keep, changed, report)
            if self._relink:
                report.touches += self._status_touches(keep)
                self._forget_converted(keep, changed)
            store.outcomes.save_salesforce_records(keep)
            if self._relink and self.reader.read_reason:  # a dry run stores nothing new
                store.rejections.save_reasons(keep)
            owners, self.reader.owners = self.reader.owners, {}
            if self._relink:
                store.touches.save_owners({r.record_id: owners[r.record_id]
                                           for r in keep if r.record_id in owners})
            report.stored += len(keep)
            report.changed += len(changed)
        elif sobject == "Opportunity":
            changed = store.outcomes.changed_opportunities(page)
            self._mark_records(store.outcomes.record_ids_for_opportunities(changed), report)
            store.outcomes.save_opportunities(page)
            report.stored += len(page)
            report.changed += len(changed)
        elif sobject == TOUCH_OBJECT:
            if self._relink:  # a dry run stores nothing
                report.touches += self._task_touches(page)
        else:
            contacts = store.outcomes.changed_role_contacts(page)
            self._mark_records(contacts, report)
            store.outcomes.save_contact_roles(page)
            report.stored += len(page)
            report.changed += len(contacts)

    def _task_touches(self, tasks: list[TaskTouch]) -> int:
        keys = self.store.touches.lead_keys_by_record(t.who_id for t in tasks)
        return self.store.touches.save_touches(
            Touch(t.task_id, key, "call" if t.kind == "call" else "task", t.who_id, t.touched_at)
            for t in tasks
            for key in sorted(keys.get(t.who_id, ()))
        )

    def _status_touches(self, records: list[SalesforceRecord]) -> int:
        """Leads whose status moved (from the last pulled one, or from the initial status
        when never pulled) were touched; at `SystemModstamp`, the latest the change can be."""
        leads = [r for r in records if r.sobject == "Lead" and r.status and r.modstamp]
        before = self.store.touches.lead_statuses(r.record_id for r in leads)
        moved = [
            r for r in leads
            if r.status != before.get(r.record_id, self.initial_lead_status)
        ]
        keys = self.store.touches.lead_keys_by_record(r.record_id for r in moved)
        known = self.store.outcomes.known_lead_keys(r.email for r in moved if r.email)
        for r in moved:
            if r.email in known:
                keys.setdefault(r.record_id, set()).add(r.email)
        return self.store.touches.save_touches(
            Touch(f"status:{r.record_id}:{r.modstamp.isoformat()}", key, "status",
                  r.record_id, r.modstamp)
            for r in moved
            if r.modstamp is not None
            for key in sorted(keys.get(r.record_id, ()))
        )

    def _forget_converted(self, records: list[SalesforceRecord], changed: set[str]) -> None:
        """A linked Lead that was converted refuses writes (CANNOT_UPDATE_CONVERTED_LEAD):
        forget the link, so planning matches the lead again (its Contact) in this run."""
        converted = [r.record_id for r in records if r.is_converted and r.record_id in changed]
        for key in sorted(self.store.outcomes.lead_keys_linked_to(converted)):
            log.info("linked Lead was converted; matching again", extra={"lead": key})
            self.store.forget_link(key)

    def _telling(self, record: SalesforceRecord) -> bool:
        funnel = self.funnel
        statuses = {*funnel.sql.lead_statuses, *funnel.lost.lead_statuses}
        return record.is_converted or record.status in statuses

    def _mark(self, records: list[Any], changed: set[str], report: PullReport) -> None:
        keys = {r.email for r in records if r.record_id in changed and r.email}
        outcomes = self.store.outcomes
        keys = outcomes.known_lead_keys(keys) | outcomes.lead_keys_for_records(changed)
        self._mark_keys(keys, report)

    def _mark_records(self, record_ids: Iterable[str], report: PullReport) -> None:
        ids = set(record_ids)
        if ids:
            self._mark_keys(self.store.outcomes.lead_keys_for_records(ids), report)

    def _mark_keys(self, keys: set[str], report: PullReport) -> None:
        if keys:
            self.store.mark_dirty(email_ref(key) for key in sorted(keys))
            report.leads_marked += len(keys)

    def follow_writes(self, since: datetime) -> int:
        """After the run's writes: the stored records show what the connector wrote since
        `since` (the wall-clock time the pull started; Salesforce confirmed those writes), so
        the agreement check is current without another query. Returns records touched."""
        sf = self.funnel.salesforce
        return self.store.outcomes.outcomes_follow_writes(
            since,
            {
                sf.mql_status_field: "mql_status",
                sf.stage_field: "stage",
                sf.mql_date_field: "mql_date",
            },
        )

    # ------------------------------------------------------------------ while planning
    def outcomes_for(self, lead_keys: Iterable[str]) -> dict[str, LeadOutcome]:
        return self.store.outcomes.outcomes_for(lead_keys)

    def advance(self, score: ScoredLead, outcome: LeadOutcome | None) -> ScoredLead:
        """`score` with its stage advanced by `outcome` (the same object when unchanged)."""
        stage = stage_after_mql(score.stage, outcome, self.funnel)
        return score if stage == score.stage else replace(score, stage=stage)
