"""Write-back of score, grade, segment, stage and MQL status/date onto HubSpot contacts, so
HubSpot workflows and lists can branch nurture emails on them.

`plan_hubspot_writes` is pure: from the same `LeadInput`s the Salesforce planner used (so
HubSpot gets exactly the values Salesforce gets) and what was last written to each contact,
it lists the property values that changed, per HubSpot contact (a lead may group several
contacts sharing an email: each gets the lead's values). A value that is not an option of its
enumeration property withholds that lead's HubSpot write and is reported, as the Salesforce
planner does.

`HubSpotWriteBack.run` is the step the pipeline calls after the Salesforce writes: it sends
the plan through a `ContactWriter` (100 contacts per call), records what HubSpot confirmed in
the state store (`written`, sobject `HubSpot.contact`, field `<contact id>.<property>`), puts
refused contacts in the dead-letter list (stage `hubspot_writeback`) and returns the leads
whose writes failed for a passing reason, which the next run retries.

Feedback loop: a write-back bumps the contacts' `lastmodifieddate`, so the next incremental
run reads them again (one search page per 200 written contacts). Scoring them again yields the
same values, which equal what was written: nothing is sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.models import Contact
from core.writeback import ContactUpdate, UpdateResult
from sync.hubspot_fields import (
    WRITTEN_SOBJECT,
    HubSpotMapping,
    allowed_values,
    hubspot_values,
    load_hubspot_mapping,
    property_specs,
)
from sync.plan import LeadInput
from sync.ports import RunSummary

STAGE = "hubspot_writeback"
INVALID_OPTION = "CONNECTOR_INVALID_OPTION"


class ContactWriter(Protocol):
    """The HubSpot side (connectors.hubspot.writeback.HubSpotContactWriter satisfies it)."""

    calls: int

    def update(self, updates: Sequence[ContactUpdate]) -> list[UpdateResult]: ...


@dataclass(frozen=True, slots=True)
class HubSpotRejection:
    lead_key: str
    property: str
    message: str


@dataclass
class HubSpotPlan:
    updates: list[ContactUpdate] = field(default_factory=list)
    unchanged: int = 0  # contacts whose values are all as last written
    rejected: list[HubSpotRejection] = field(default_factory=list)


def written_key(contact_id: str, prop: str) -> str:
    """The key of a written HubSpot value in `LeadInput.written` / `StateStore.written`."""
    return f"{WRITTEN_SOBJECT}.{contact_id}.{prop}"


def plan_hubspot_writes(
    leads: Sequence[tuple[LeadInput, Sequence[str]]],
    mapping: HubSpotMapping,
    allowed: Mapping[str, frozenset[str]],
) -> HubSpotPlan:
    """`leads`: each lead with the ids of its HubSpot contacts. `allowed`: the option values
    of each enumeration property. Only values that differ from what was last written to the
    contact are planned; "" (clear) is sent only where something was written before."""
    plan = HubSpotPlan()
    for lead, contact_ids in leads:
        values = hubspot_values(lead, mapping)
        bad = [
            (name, value)
            for name, value in values.items()
            if value and name in allowed and value not in allowed[name]
        ]
        if bad:
            name, value = bad[0]
            plan.rejected.append(
                HubSpotRejection(
                    lead.lead_key,
                    name,
                    f"{value!r} is not an option of the HubSpot enumeration {name} (options: "
                    f"{', '.join(sorted(allowed[name]))}); add it with `connector setup "
                    "hubspot` or map it with value_map in hubspot.toml",
                )
            )
            continue
        for contact_id in dict.fromkeys(contact_ids):
            changes = {}
            for name, value in values.items():
                before = lead.written.get(written_key(contact_id, name))
                if before is None and value == "":
                    continue  # nothing there to clear
                if before != value:
                    changes[name] = value
            if changes:
                plan.updates.append(ContactUpdate(lead.lead_key, contact_id, changes))
            else:
                plan.unchanged += 1
    return plan


def describe_plan(plan: HubSpotPlan, batch_size: int) -> dict[str, Any]:
    """What a dry run reports: contacts, calls, per-property counts and a sample."""
    per_property: Counter[str] = Counter()
    for update in plan.updates:
        per_property.update(update.properties.keys())
    return {
        "contacts": len(plan.updates),
        "calls": -(-len(plan.updates) // batch_size),
        "properties": dict(sorted(per_property.items())),
        "rejected": len(plan.rejected),
        "sample": [
            {"lead": u.lead_key, "contact": u.contact_id, "properties": dict(u.properties)}
            for u in plan.updates[:5]
        ],
    }


def merge_described(total: dict[str, Any], batch: dict[str, Any]) -> dict[str, Any]:
    if not total:
        return batch
    return {
        "contacts": total["contacts"] + batch["contacts"],
        "calls": total["calls"] + batch["calls"],
        "properties": dict(
            sorted((Counter(total["properties"]) + Counter(batch["properties"])).items())
        ),
        "rejected": total["rejected"] + batch["rejected"],
        "sample": (total["sample"] + batch["sample"])[:5],
    }


class WriteBackStore(Protocol):
    def record_written(self, lead_key: str, sobject: str, values: Mapping[str, Any]) -> None: ...
    def add_dead_letter(
        self,
        *,
        lead_key: str | None,
        stage: str,
        code: str | None,
        message: str,
        fields: Sequence[str] = (),
    ) -> None: ...


@dataclass
class HubSpotWriteBack:
    """The write-back step of one run (see the module docstring)."""

    store: WriteBackStore
    writer: ContactWriter
    mapping: HubSpotMapping
    allowed: Mapping[str, frozenset[str]]
    batch_size: int = 100

    @classmethod
    def build(
        cls, store: WriteBackStore, writer: ContactWriter, folder: Path, rules: Any
    ) -> HubSpotWriteBack:
        """The step for the mappings in `folder` (hubspot.toml, stages from `rules`)."""
        mapping = load_hubspot_mapping(folder)
        return cls(store, writer, mapping, allowed_values(property_specs(mapping, rules)))

    def run(
        self,
        inputs: Sequence[LeadInput],
        members: Sequence[tuple[str, Sequence[Contact]]],
        summary: RunSummary,
        *,
        dry_run: bool,
    ) -> set[str]:
        """Plan and (unless `dry_run`) write one batch of leads: `inputs` as the Salesforce
        planner had them, `members` each lead's HubSpot contacts. Counts go to `summary`
        (`hubspot_*` fields, `write_failures`); returns the leads to retry next run."""
        contact_ids = {key: [c.hubspot_id for c in contacts] for key, contacts in members}
        leads = [
            (lead, contact_ids.get(lead.lead_key) or [lead.contact.hubspot_id]) for lead in inputs
        ]
        plan = plan_hubspot_writes(leads, self.mapping, self.allowed)
        summary.hubspot_unchanged += plan.unchanged
        summary.planned_hubspot = merge_described(
            summary.planned_hubspot, describe_plan(plan, self.batch_size)
        )
        if dry_run:
            return set()
        for rejected in plan.rejected:
            summary.write_failures += 1
            self.store.add_dead_letter(
                lead_key=rejected.lead_key,
                stage=f"plan {STAGE}",
                code=INVALID_OPTION,
                message=rejected.message,
                fields=(rejected.property,),
            )
        if not plan.updates:
            return set()
        calls_before = self.writer.calls
        results = self.writer.update(plan.updates)
        summary.hubspot_write_calls += self.writer.calls - calls_before
        retry: set[str] = set()
        confirmed: dict[str, dict[str, str]] = {}
        for update, result in zip(plan.updates, results, strict=True):
            if result.success:
                summary.hubspot_written += 1
                values = confirmed.setdefault(update.lead_key, {})
                values.update({f"{update.contact_id}.{k}": v for k, v in update.properties.items()})
                continue
            summary.write_failures += 1
            if result.retriable:
                retry.add(update.lead_key)
                continue
            error = result.error
            self.store.add_dead_letter(
                lead_key=update.lead_key,
                stage=STAGE,
                code=error.code if error else None,
                message=(
                    f"HubSpot contact {update.contact_id}: "
                    + (error.message if error else "update refused without an error")
                ),
                fields=tuple(update.properties),
            )
        for lead_key, values in confirmed.items():
            self.store.record_written(lead_key, WRITTEN_SOBJECT, values)
        return retry


__all__ = [
    "ContactUpdate",
    "ContactWriter",
    "HubSpotPlan",
    "HubSpotRejection",
    "HubSpotWriteBack",
    "UpdateResult",
    "describe_plan",
    "plan_hubspot_writes",
    "written_key",
]
