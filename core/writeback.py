"""The HubSpot write-back contract: what the planner asks for and what came of it.

The planner (`sync.hubspot_writeback`, pure) produces `ContactUpdate`s; the HubSpot writer
(`connectors.hubspot.writeback`) answers one `UpdateResult` per update, in order. Updates are
idempotent: the same properties twice give the same contact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.plan import WriteError


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    lead_key: str
    contact_id: str  # HubSpot contact id
    properties: Mapping[str, str]  # property name -> value as HubSpot stores it ("" clears)


@dataclass(frozen=True, slots=True)
class UpdateResult:
    contact_id: str
    success: bool
    retriable: bool = False  # failed for a passing reason: send again next run
    error: WriteError | None = None


__all__ = ["ContactUpdate", "UpdateResult"]
