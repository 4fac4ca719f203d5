"""In-memory CRM records with the indexes that keep paging and search cheap at 1M records.

Per object type (`ObjectStore`):
- `live` / `archived`: id -> `Record` (properties as a dict of strings; `hs_object_id` is not
  stored, it is the id).
- `ids` (sorted) with `id_mod` aligned to it: the record's last-modified time. List paging is
  a bisect; counting a modified-time range among an id range runs at C speed over a slice.
- `mod_ms` / `mod_ids`: the same pairs sorted by (modified time, id), for the incremental
  query `lastmodifieddate >= x` sorted by modified time.
- `emails`: lower-cased email -> id (contacts), additional emails of merged contacts too.
- `aliases`: merged-away id -> the id of the record the merge created (`deletions.py`).
- `erased_emails`: addresses GDPR-deleted (HubSpot's blocklist), `erased_ids` the ids.
Archive (`archive` / `unarchive`) moves a record between `live` and `archived` and in or out
of the sorted indexes; `drop` forgets a record for good (90 days after its archive, or at once
for a GDPR delete).
Writes move one entry in each sorted list (a memmove, about a millisecond at 1M records).
Seeding appends and sorts once at the end.

Contact analytics (`apply_visit_analytics`): page views move a contact's
`hs_analytics_num_visits` (sessions), `hs_analytics_num_page_views`,
`hs_analytics_last_visit_timestamp` (start of the last session, DECIDED) and
`hs_analytics_last_url` (the last page view's `hs_url`), which HubSpot keeps on every tier
("HubSpot's default contact properties"). A session ends after 30 minutes without a page view
("Analyzing sessions, visitors, and page views", HubSpot knowledge base). The contact's
last-modified time moves to the last page view's time when that is later (DECIDED: HubSpot
updates the properties as it processes the visit).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sandbox.hubspot.constants import (
    ASSOCIATION_TYPES,
    CREATED_PROPERTY,
    DEFAULT_ASSOCIATION,
    MODIFIED_ALIASES,
    MODIFIED_PROPERTY,
    RESTORE_DAYS,
)
from sandbox.hubspot.properties import PropertyRegistry
from sandbox.hubspot.util import iso_ms, property_string, to_ms


class Record:
    __slots__ = ("archived", "archived_ms", "created_ms", "id", "mod_ms", "props", "updated_ms")

    def __init__(
        self,
        id: int,
        props: dict[str, str],
        created_ms: int,
        updated_ms: int,
        mod_ms: int,
        archived: bool = False,
        archived_ms: int | None = None,
    ) -> None:
        self.id = id
        self.props = props
        self.created_ms = created_ms
        self.updated_ms = updated_ms
        self.mod_ms = mod_ms
        self.archived = archived
        self.archived_ms = archived_ms


class ObjectStore:
    """All records of one CRM object type."""

    def __init__(self, object_type: str) -> None:
        self.object_type = object_type
        self.properties = PropertyRegistry(object_type)
        self.modified_property = MODIFIED_PROPERTY[object_type]
        self.modified_aliases = MODIFIED_ALIASES[object_type]
        self.created_property = CREATED_PROPERTY[object_type]
        self.clear()

    def clear(self) -> None:
        self.live: dict[int, Record] = {}
        self.archived: dict[int, Record] = {}
        self.ids: list[int] = []
        self.id_mod: list[int] = []
        self.mod_ms: list[int] = []
        self.mod_ids: list[int] = []
        self.archived_ids: list[int] = []
        self.emails: dict[str, int] = {}
        # merged-away id -> id of the record the merge created (chains are collapsed)
        self.aliases: dict[int, int] = {}
        # GDPR-deleted ids and addresses (lower-cased): the portal's blocklist
        self.erased_ids: set[int] = set()
        self.erased_emails: set[str] = set()
        # archived id -> its associations, put back by a restore
        self.archived_edges: dict[int, list[Edge]] = {}
        # the highest id ever held: ids of merged or erased records are never given again
        self.high_water = 0
        # False once a seeded record's alias (hs_lastmodifieddate) differs from its primary
        # modified property: searches on the alias then evaluate values instead of the index.
        self.alias_indexed = True
        # id -> epoch ms before which search does not see the record (search-index lag).
        self.lagged: dict[int, int] = {}
        self._bulk = False
        self._names: dict[str, str] = {}
        # Bumped by every change to the indexes; caches keyed on it (search totals) expire.
        self.version = 0
        self.total_cache: dict[tuple[int, ...], int] = {}
        # (mod_lo, mod_hi) -> sorted ids modified in that window: keyset paging asks for the
        # total of "id > last AND modified in window" once per page, with a new `last` each
        # time; counting from this list is a bisection instead of a scan per page.
        self.window_ids: dict[tuple[int, int], list[int]] = {}

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self.live)

    def get(self, object_id: int, archived: bool = False) -> Record | None:
        return (self.archived if archived else self.live).get(object_id)

    def id_by_email(self, email: str) -> int | None:
        return self.emails.get(email.strip().lower())

    def resolve(self, object_id: int) -> Record | None:
        """The live record `object_id` names: itself, or the record a merge made of it."""
        record = self.live.get(object_id)
        if record is None:
            survivor = self.aliases.get(object_id)
            if survivor is not None:
                record = self.live.get(survivor)
        return record

    def page_after(self, start_id: int, limit: int, archived: bool = False) -> list[Record]:
        """Up to `limit` records with id >= start_id, ascending."""
        ids = self.archived_ids if archived else self.ids
        source = self.archived if archived else self.live
        pos = bisect.bisect_left(ids, start_id)
        return [source[i] for i in ids[pos : pos + limit]]

    def next_id_after(self, object_id: int, archived: bool = False) -> int | None:
        ids = self.archived_ids if archived else self.ids
        pos = bisect.bisect_right(ids, object_id)
        return ids[pos] if pos < len(ids) else None

    def iter_live(self) -> Iterator[Record]:
        live = self.live
        for object_id in self.ids:
            yield live[object_id]

    def next_new_id(self) -> int:
        top = max(
            self.ids[-1] if self.ids else 0,
            self.archived_ids[-1] if self.archived_ids else 0,
            self.high_water,
        )
        return top + 1

    # ------------------------------------------------------------------ values

    def value(self, record: Record, name: str) -> str | None:
        if name == "hs_object_id":
            return str(record.id)
        return record.props.get(name)

    def render_properties(self, record: Record, names: tuple[str, ...] | list[str]) -> dict:
        out: dict[str, str | None] = {}
        props = record.props
        for name in names:
            if name == "hs_object_id":
                out[name] = str(record.id)
            else:
                out[name] = props.get(name)
        return out

    def render(
        self, record: Record, names: tuple[str, ...] | list[str], with_archived_at: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(record.id),
            "properties": self.render_properties(record, names),
            "createdAt": iso_ms(record.created_ms),
            "updatedAt": iso_ms(record.updated_ms),
            "archived": record.archived,
        }
        if record.archived and record.archived_ms is not None:
            body["archivedAt"] = iso_ms(record.archived_ms)
        return body

    # ------------------------------------------------------------------ seeding

    def intern(self, name: str) -> str:
        found = self._names.get(name)
        if found is None:
            self._names[name] = name
            found = name
            self.properties.ensure(name)
        return found

    def record_from_seed(self, raw: dict[str, Any], now_ms: int) -> Record:
        """A record from the API read shape; ValueError when it cannot be one."""
        try:
            object_id = int(raw["id"]) if raw.get("id") is not None else self.next_new_id()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.object_type}: id {raw.get('id')!r} is not numeric") from exc
        source = raw.get("properties") or {}
        props: dict[str, str] = {}
        names = self._names
        for name, value in source.items():
            if name == "hs_object_id":
                continue
            text = value if type(value) is str else property_string(value)
            if text is not None:
                props[names.get(name) or self.intern(name)] = text
        intern = self.intern
        created = to_ms(raw.get("createdAt")) or to_ms(props.get(self.created_property))
        created = created if created is not None else now_ms
        mod = to_ms(props.get(self.modified_property))
        updated = to_ms(raw.get("updatedAt"))
        if updated is None:
            updated = mod if mod is not None else created
        if mod is None:
            mod = updated
        primary = props.get(self.modified_property)
        for alias in self.modified_aliases:
            alias_value = props.get(alias)
            if alias_value is not None and alias_value != primary and to_ms(alias_value) != mod:
                self.alias_indexed = False
        # HubSpot always has these; a seed that leaves them out gets them from the timestamps.
        if self.created_property not in props:
            props[intern(self.created_property)] = iso_ms(created)
        if self.modified_property not in props:
            props[intern(self.modified_property)] = iso_ms(mod)
        archived = bool(raw.get("archived", False))
        archived_ms = to_ms(raw.get("archivedAt")) if archived else None
        return Record(object_id, props, created, updated, mod, archived, archived_ms)

    def begin_bulk(self) -> None:
        self._bulk = True

    def add_seeded(self, record: Record) -> None:
        if record.id in self.live or record.id in self.archived:
            raise ValueError(f"{self.object_type}: duplicate id {record.id}")
        if record.archived:
            self.archived[record.id] = record
            return
        email = record.props.get("email") if self.object_type == "contacts" else None
        if email:
            key = email.strip().lower()
            if key in self.emails:
                raise ValueError(f"contacts: duplicate email {email!r}")
            self.emails[key] = record.id
        self.live[record.id] = record

    def end_bulk(self) -> None:
        """Rebuild every sorted index from the dicts (one sort each)."""
        self._bulk = False
        self._changed()
        live = self.live
        ids = sorted(live)
        id_mod = [live[i].mod_ms for i in ids]
        order = sorted(range(len(ids)), key=id_mod.__getitem__)  # stable: ties keep id order
        self.ids = ids
        self.id_mod = id_mod
        self.mod_ms = [id_mod[k] for k in order]
        self.mod_ids = [ids[k] for k in order]
        self.archived_ids = sorted(self.archived)

    # ------------------------------------------------------------------ writing

    def _changed(self) -> None:
        self.version += 1
        self.total_cache.clear()
        self.window_ids.clear()

    def insert(self, record: Record) -> None:
        self._changed()
        self.add_seeded(record)
        if record.archived:
            bisect.insort(self.archived_ids, record.id)
            return
        pos = bisect.bisect_left(self.ids, record.id)
        self.ids.insert(pos, record.id)
        self.id_mod.insert(pos, record.mod_ms)
        self._mod_insert(record.mod_ms, record.id)

    def touch(self, record: Record, now_ms: int) -> None:
        """Mark a live record modified at `now_ms` (updatedAt and last-modified properties)."""
        stamp = iso_ms(now_ms)
        record.props[self.modified_property] = stamp
        for alias in self.modified_aliases:
            record.props[alias] = stamp
        record.updated_ms = now_ms
        if record.mod_ms != now_ms:
            self._changed()
            self._mod_remove(record.mod_ms, record.id)
            record.mod_ms = now_ms
            self._mod_insert(now_ms, record.id)
            pos = bisect.bisect_left(self.ids, record.id)
            self.id_mod[pos] = now_ms

    def emails_of(self, record: Record) -> list[str]:
        """The record's addresses, lower-cased: `email`, then `hs_additional_emails` (";")."""
        out = []
        for raw in [
            record.props.get("email") or "",
            *(record.props.get("hs_additional_emails") or "").split(";"),
        ]:
            key = raw.strip().lower()
            if key and key not in out:
                out.append(key)
        return out

    def _remove_from_indexes(self, record: Record) -> None:
        self._changed()
        self.high_water = max(self.high_water, record.id)
        pos = bisect.bisect_left(self.ids, record.id)
        if pos < len(self.ids) and self.ids[pos] == record.id:
            del self.ids[pos]
            del self.id_mod[pos]
        self._mod_remove(record.mod_ms, record.id)
        self.lagged.pop(record.id, None)
        for key in self.emails_of(record):
            if self.emails.get(key) == record.id:
                del self.emails[key]

    def remove_live(self, record: Record) -> None:
        """Take a live record out of `live` and every index (merge, GDPR delete)."""
        self._remove_from_indexes(record)
        del self.live[record.id]

    def archive(self, record: Record, now_ms: int) -> None:
        """Move a live record to the archive (HubSpot's recycle bin), archived at `now_ms`."""
        self.remove_live(record)
        record.archived = True
        record.archived_ms = now_ms
        self.archived[record.id] = record
        bisect.insort(self.archived_ids, record.id)

    def unarchive(self, record: Record, now_ms: int) -> None:
        """Back from the archive: live again, modified at `now_ms` (restore)."""
        self._changed()
        del self.archived[record.id]
        pos = bisect.bisect_left(self.archived_ids, record.id)
        if pos < len(self.archived_ids) and self.archived_ids[pos] == record.id:
            del self.archived_ids[pos]
        record.archived = False
        record.archived_ms = None
        self.live[record.id] = record
        for key in self.emails_of(record):
            self.emails.setdefault(key, record.id)
        pos = bisect.bisect_left(self.ids, record.id)
        self.ids.insert(pos, record.id)
        self.id_mod.insert(pos, record.mod_ms)
        self._mod_insert(record.mod_ms, record.id)
        self.touch(record, now_ms)

    def drop(self, object_id: int) -> Record | None:
        """Forget a record, live or archived, and every alias to it; returns it."""
        record = self.live.get(object_id)
        if record is not None:
            self.remove_live(record)
        else:
            record = self.archived.pop(object_id, None)
            if record is not None:
                self._changed()
                self.high_water = max(self.high_water, object_id)
                pos = bisect.bisect_left(self.archived_ids, object_id)
                if pos < len(self.archived_ids) and self.archived_ids[pos] == object_id:
                    del self.archived_ids[pos]
        for old in [k for k, v in self.aliases.items() if v == object_id]:
            del self.aliases[old]
        self.aliases.pop(object_id, None)
        self.archived_edges.pop(object_id, None)
        return record

    def sweep(self, now_ms: int) -> int:
        """Forget records archived `RESTORE_DAYS` or more ago (gone for good); returns how
        many."""
        expired = self.expired_archived(now_ms - RESTORE_DAYS * 86_400_000)
        for object_id in expired:
            self.drop(object_id)
        return len(expired)

    def expired_archived(self, cutoff_ms: int) -> list[int]:
        """Ids archived at or before `cutoff_ms`."""
        return [
            i
            for i, r in self.archived.items()
            if r.archived_ms is not None and r.archived_ms <= cutoff_ms
        ]

    def set_email(self, record: Record, new_email: str | None) -> None:
        old = record.props.get("email")
        if old:
            self.emails.pop(old.strip().lower(), None)
        if new_email:
            self.emails[new_email.strip().lower()] = record.id

    def _mod_insert(self, ms: int, object_id: int) -> None:
        lo = bisect.bisect_left(self.mod_ms, ms)
        hi = bisect.bisect_right(self.mod_ms, ms, lo)
        pos = bisect.bisect_left(self.mod_ids, object_id, lo, hi)
        self.mod_ms.insert(pos, ms)
        self.mod_ids.insert(pos, object_id)

    def _mod_remove(self, ms: int, object_id: int) -> None:
        lo = bisect.bisect_left(self.mod_ms, ms)
        hi = bisect.bisect_right(self.mod_ms, ms, lo)
        pos = bisect.bisect_left(self.mod_ids, object_id, lo, hi)
        if pos < hi and self.mod_ids[pos] == object_id:
            del self.mod_ms[pos]
            del self.mod_ids[pos]


SESSION_GAP_MS = 30 * 60 * 1000


def visit_analytics(page_views: Sequence[tuple[int, str | None]]) -> dict[str, str]:
    """The analytics properties for (occurred ms, url) page views, oldest first."""
    sessions = 0
    session_start = previous = None
    for occurred, _url in page_views:
        if previous is None or occurred - previous > SESSION_GAP_MS:
            sessions += 1
            session_start = occurred
        previous = occurred
    out = {
        "hs_analytics_num_visits": str(sessions),
        "hs_analytics_num_page_views": str(len(page_views)),
    }
    if session_start is not None:
        out["hs_analytics_last_visit_timestamp"] = iso_ms(session_start)
    last_url = page_views[-1][1] if page_views else None
    if last_url:
        out["hs_analytics_last_url"] = last_url
    return out


def apply_visit_analytics(contacts: ObjectStore, touched: Iterable[str], page_views: Any) -> int:
    """Recompute the analytics properties of the `touched` contacts from `page_views(id)`
    ((occurred ms, url) oldest first); returns how many contacts changed."""
    changed = 0
    for contact_id in touched:
        try:
            record = contacts.get(int(contact_id))
        except ValueError:
            continue
        if record is None:
            continue  # page views of a visitor HubSpot never made a contact of
        views = page_views(contact_id)
        values = visit_analytics(views)
        if all(record.props.get(k) == v for k, v in values.items()):
            continue
        for name, value in values.items():
            record.props[contacts.intern(name)] = value
        last_ms = views[-1][0] if views else record.mod_ms
        if last_ms > record.mod_ms:
            contacts.touch(record, last_ms)
        changed += 1
    return changed


# (from type, from id, to type, to id, association type ids)
Edge = tuple[str, int, str, int, tuple[int, ...]]


class AssociationStore:
    """Associations in both directions: (from type, to type) -> from id -> to id -> type ids."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._edges: dict[tuple[str, str], dict[int, dict[int, tuple[int, ...]]]] = {}
        self._shared: dict[tuple[int, ...], tuple[int, ...]] = {}

    def _add_one(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int
    ) -> bool:
        by_from = self._edges.setdefault((from_type, to_type), {})
        targets = by_from.get(from_id)
        if targets is None:
            targets = by_from[from_id] = {}
        current = targets.get(to_id, ())
        if type_id in current:
            return False
        merged = tuple(sorted((*current, type_id)))
        targets[to_id] = self._shared.setdefault(merged, merged)
        return True

    def add(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int) -> None:
        """Store `type_id` from->to, its inverse to->from, and the unlabeled type it implies."""
        known = ASSOCIATION_TYPES.get(type_id)
        self._add_one(from_type, from_id, to_type, to_id, type_id)
        if known is not None:
            self._add_one(to_type, to_id, from_type, from_id, known.inverse)
            if known.implies is not None:
                self.add(from_type, from_id, to_type, to_id, known.implies)
        else:
            default_back = DEFAULT_ASSOCIATION.get((to_type, from_type))
            if default_back is not None:
                self._add_one(to_type, to_id, from_type, from_id, default_back)

    def detach(self, object_type: str, object_id: int) -> list[Edge]:
        """Remove every association of one record, both directions; returns the edges from
        it (`attach` puts them back, the inverses included)."""
        taken: list[Edge] = []
        for (from_type, to_type), by_from in list(self._edges.items()):
            if from_type == object_type:
                targets = by_from.pop(object_id, None)
                for to_id, types in (targets or {}).items():
                    taken.append((from_type, object_id, to_type, to_id, types))
                    back = self._edges.get((to_type, from_type), {}).get(to_id)
                    if back is not None:
                        back.pop(object_id, None)
        return taken

    def attach(self, edges: Iterable[Edge], new_id: int | None = None) -> None:
        """Store `edges` again (from `new_id` instead of their own from-id when given)."""
        for from_type, from_id, to_type, to_id, types in edges:
            for type_id in types:
                self.add(
                    from_type, new_id if new_id is not None else from_id, to_type, to_id, type_id
                )

    def targets(self, from_type: str, to_type: str, from_id: int) -> dict[int, tuple[int, ...]]:
        return self._edges.get((from_type, to_type), {}).get(from_id, {})

    def count(self) -> int:
        return sum(len(t) for by_from in self._edges.values() for t in by_from.values())
