"""The mark that says "this lead needs processing" (the state store's `dirty` table).

A lead is reached either through one of its HubSpot contacts (an activity, a contact or
company page names the contact id) or through its canonical e-mail (an activity that names only
an address, an outcome, a retry). The two kinds are stored as text in one column, `c:<contact
id>` and `e:<canonical email>`; this module is the only place that writes or reads that text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NewType

LeadRef = NewType("LeadRef", str)

CONTACT_PREFIX = "c:"
EMAIL_PREFIX = "e:"  # also written by SQL that marks leads in bulk (sync.state)


def contact_ref(hubspot_id: str) -> LeadRef:
    """The mark of the lead behind one HubSpot contact."""
    return LeadRef(CONTACT_PREFIX + hubspot_id)


def email_ref(canonical_email: str) -> LeadRef:
    """The mark of the lead with this canonical e-mail address."""
    return LeadRef(EMAIL_PREFIX + canonical_email)


def activity_ref(contact_id: str | None, email: str | None) -> LeadRef | None:
    """The mark of the lead an activity belongs to: by contact when it names one, else by
    address; None when it names neither."""
    if contact_id:
        return contact_ref(contact_id)
    if email:
        return email_ref(email)
    return None


@dataclass(frozen=True)
class SplitRefs:
    contact_ids: set[str]
    emails: set[str]


def split_refs(refs: Iterable[str]) -> SplitRefs:
    """Marks by kind: the contact ids and the e-mail addresses they name."""
    contact_ids: set[str] = set()
    emails: set[str] = set()
    for ref in refs:
        if ref.startswith(CONTACT_PREFIX):
            contact_ids.add(ref[len(CONTACT_PREFIX) :])
        elif ref.startswith(EMAIL_PREFIX):
            emails.add(ref[len(EMAIL_PREFIX) :])
    return SplitRefs(contact_ids, emails)
