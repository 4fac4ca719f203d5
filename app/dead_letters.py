"""The dead-letter list: records Salesforce rejected (validation rules, picklists, duplicate
rules, ...), with its error code, message and fields. `retry` marks the leads for the next
run (after the cause was fixed in Salesforce or in the mappings); `drop` gives up on them.

Account dead letters (`account:<company:ID | domain:NAME>`, the `[accounts]` roll-up writes)
are retried by marking the account for the next account pass; the dead letters of archive
and erasure policy writes have no lead (they name ids only) and are retried by every run by
themselves (`sync.deletion_writes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.identity import canonical_email
from sync.state import StateStore

ACCOUNT_PREFIX = "account:"


def list_dead_letters(store: StateStore) -> list[dict[str, Any]]:
    return store.dead_letters()


def _chosen(store: StateStore, leads: Sequence[str], everything: bool) -> list[str]:
    open_keys = sorted({d["lead_key"] for d in store.dead_letters() if d["lead_key"]})
    if everything:
        return open_keys
    wanted = {canonical_email(lead) for lead in leads} | {
        lead.strip() for lead in leads if lead.strip().startswith(ACCOUNT_PREFIX)
    }
    return [key for key in open_keys if key in wanted]


def retry_dead_letters(store: StateStore, leads: Sequence[str], *, everything: bool) -> list[str]:
    """Mark the leads (and accounts) for the next run and close their dead letters. Returns
    the keys."""
    keys = _chosen(store, leads, everything)
    accounts = [k[len(ACCOUNT_PREFIX) :] for k in keys if k.startswith(ACCOUNT_PREFIX)]
    store.mark_dirty(f"e:{key}" for key in keys if not key.startswith(ACCOUNT_PREFIX))
    store.accounts.mark_accounts(accounts)
    for key in keys:
        store.resolve_dead_letters(key)
    return keys


def self_retried(store: StateStore) -> int:
    """Open dead letters without a lead (archive / erasure policy writes): every run retries
    them by itself."""
    return sum(1 for d in store.dead_letters() if not d["lead_key"])


def drop_dead_letters(store: StateStore, leads: Sequence[str], *, everything: bool) -> list[str]:
    """Close the dead letters without retrying. Returns the leads."""
    keys = _chosen(store, leads, everything)
    for key in keys:
        store.resolve_dead_letters(key)
    return keys


def format_dead_letters(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no open dead letters"
    lines = [f"{len(rows)} open dead letter(s):"]
    for row in rows:
        fields = row.get("fields") or "[]"
        lines.append(
            f"  #{row['id']} {row['created_at']} {row['lead_key'] or '-'} ({row['stage']}): "
            f"{row['code'] or '-'} {row['message']} fields={fields}"
        )
    return "\n".join(lines)
