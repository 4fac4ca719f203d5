"""What the pipeline intends to write to Salesforce, and what came of it.

The planner (pure) produces `RecordWrite`s and `TaskWrite`s; the Salesforce writer turns them
into as few API calls as it can and answers one `WriteResult` per intent, in order.
Every write is idempotent by construction:
- an existing record is updated by Id (same fields twice = same state);
- a new Lead is *upserted* on the external id `HubSpot_Contact_Id__c`, so a retried create
  finds the Lead the first attempt made;
- a Task is upserted on `Connector_Key__c`, a key derived from the lead and MQL episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

SObject = Literal["Lead", "Contact"]
RETRIABLE_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW", "REQUEST_RUNNING_TOO_LONG"})


@dataclass(frozen=True, slots=True)
class RecordWrite:
    lead_key: str  # normalised email: the lead this write belongs to
    sobject: SObject
    record_id: str | None  # None: create a Lead, upserted on `external_id`
    fields: Mapping[str, Any]
    external_id: str | None = None  # HubSpot contact id, for Lead creation

    @property
    def is_create(self) -> bool:
        return self.record_id is None


@dataclass(frozen=True, slots=True)
class TaskWrite:
    lead_key: str
    connector_key: str  # idempotency key, upserted into Task.Connector_Key__c
    fields: Mapping[str, Any]  # Subject, Description, ActivityDate, Status, Priority, OwnerId
    who_id: str | None = None  # None: the Id of the Lead created for `lead_key` in this run


@dataclass(frozen=True, slots=True)
class WriteError:
    code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WriteResult:
    lead_key: str
    success: bool
    record_id: str | None = None
    created: bool = False
    errors: tuple[WriteError, ...] = field(default_factory=tuple)

    @property
    def retriable(self) -> bool:
        return any(e.code in RETRIABLE_RECORD_ERRORS for e in self.errors)
