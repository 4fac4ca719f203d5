"""The dead-letter list: records Salesforce rejected (validation rules, picklists, duplicate
rules, ...), with its error code, message and fields. `retry` marks the leads for the next
run (after the cause was fixed in Salesforce or in the mappings); `drop` gives up on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.identity import canonical_email
from sync.state import StateStore


def list_dead_letters(store: StateStore) -> list[dict[str, Any]]:
    return store.dead_letters()


def _chosen(store: StateStore, leads: Sequence[str], everything: bool) -> list[str]:
    open_keys = sorted({d["lead_key"] for d in store.dead_letters() if d["lead_key"]})
    if everything:
        return open_keys
    wanted = {canonical_email(lead) for lead in leads}
    return [key for key in open_keys if key in wanted]


def retry_dead_letters(store: StateStore, leads: Sequence[str], *, everything: bool) -> list[str]:
    """Mark the leads for the next run and close their dead letters. Returns the leads."""
    keys = _chosen(store, leads, everything)
    store.mark_dirty(f"e:{key}" for key in keys)
    for key in keys:
        store.resolve_dead_letters(key)
    return keys


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
