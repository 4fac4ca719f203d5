"""Leads as the state store holds them, assembled as the sync pipeline assembles them: for
`score explain`, `score simulate` and the report's input. Reads the store's public read
methods only."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from core.config import Settings
from core.models import Company, Contact
from scoring.simulate import LeadHistory
from sync.pipeline import primary_contact  # the pipeline's rule, not a copy of it
from sync.runner import open_store
from sync.state import StateStore


@contextmanager
def existing_store(settings: Settings) -> Iterator[StateStore]:
    """The state store, refusing to create an empty one where none exists yet."""
    with open_store(settings, create=False) as store:
        yield store


class Companies:
    """Companies by id, each read once per command."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.known: dict[str, Company | None] = {}

    def get(self, company_id: str | None) -> Company | None:
        if company_id is None:
            return None
        if company_id not in self.known:
            self.known[company_id] = self.store.company(company_id)
        return self.known[company_id]


def lead_history(
    store: StateStore, key: str, members: Sequence[Contact], companies: Companies
) -> LeadHistory:
    """One lead, built as the sync pipeline builds it: all contacts sharing the normalised
    email, the most recently updated one's properties, its company, everyone's activities."""
    primary = primary_contact(members)
    activities = store.activities_for([c.hubspot_id for c in members], key)
    return LeadHistory(key, primary, companies.get(primary.company_id), activities)


def read_leads(store: StateStore, only: Iterable[str] | None = None) -> Iterator[LeadHistory]:
    """Every stored lead (normalised email of a contact that is not archived), by email,
    with its contacts that are not archived (as the sync pipeline scores it); with `only`,
    just those of these lead keys."""
    companies = Companies(store)
    emails = store.all_lead_emails() if only is None else sorted(set(only))
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        by_email = store.contacts_by_email(chunk)
        for key in chunk:
            members = [m for m in by_email.get(key, ()) if not m.archived]
            if members:
                yield lead_history(store, key, members, companies)
