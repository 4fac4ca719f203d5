"""The sandbox's records: one table per object, unique/external-id indexes, savepoints.

Records are plain dicts keyed by canonical field names, with 18-character ids. A delete keeps
the record with `IsDeleted = true` (the recycle bin), so `queryAll` still finds it.
Savepoints journal every change so an all-or-none request can be undone.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.schema import Field, Schema, SObject


class RecordStore:
    def __init__(self, schema: Schema, lock: threading.RLock | None = None) -> None:
        self.schema = schema
        self.lock = lock or threading.RLock()  # the server's lock: reads from tests are safe
        self._tables: dict[str, dict[str, dict[str, Any]]] = {}
        self._counters: dict[str, int] = {}
        self._indexes: dict[tuple[str, str], dict[str, set[str]]] = {}
        self._indexed: dict[str, list[Field]] = {}
        self._journal: list[tuple[str, str, dict[str, Any] | None]] | None = None
        self._depth = 0
        self.clear()

    def clear(self) -> None:
        self._tables = {name: {} for name in self.schema.objects}
        self._counters = dict.fromkeys(self.schema.objects, 0)
        self._indexed = {
            name: [f for f in obj.fields.values() if f.unique or f.external_id]
            for name, obj in self.schema.objects.items()
        }
        self._indexes = {
            (name, f.name): defaultdict(set)
            for name, fields in self._indexed.items()
            for f in fields
        }
        self._journal = None
        self._depth = 0

    # ------------------------------------------------------------------ reading

    def records(self, obj: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of the records of `obj`, in creation order (for tests and the demo)."""
        sobject = self._sobject(obj)
        with self.lock:
            return [
                dict(r)
                for r in self._tables[sobject.name].values()
                if include_deleted or not r.get("IsDeleted")
            ]

    def table(self, obj: str) -> dict[str, dict[str, Any]]:
        """The live table (id -> record); callers must not mutate the records."""
        return self._tables[self._sobject(obj).name]

    def find(self, id18: str) -> tuple[SObject, dict[str, Any]] | None:
        """The object and record with this canonical id, deleted or not."""
        sobject = self.schema.by_prefix(ids.key_prefix(id18))
        if sobject is None:
            return None
        record = self._tables[sobject.name].get(id18)
        return (sobject, record) if record is not None else None

    def get(self, obj: str, id18: str) -> dict[str, Any] | None:
        return self._tables[self._sobject(obj).name].get(id18)

    def lookup(self, obj: str, field: Field, value: Any) -> list[str]:
        """Ids of live records whose indexed `field` equals `value` (by the field's case rule)."""
        index = self._indexes.get((self._sobject(obj).name, field.name))
        if index is None:
            table = self._tables[self._sobject(obj).name]
            key = _index_key(field, value)
            return [
                i for i, r in table.items()
                if not r.get("IsDeleted") and _index_key(field, r.get(field.name)) == key
            ]
        return sorted(index.get(_index_key(field, value), ()))

    def count(self, obj: str) -> int:
        return sum(1 for r in self._tables[self._sobject(obj).name].values()
                   if not r.get("IsDeleted"))

    # ------------------------------------------------------------------ writing

    def new_id(self, obj: str) -> str:
        name = self._sobject(obj).name
        while True:
            self._counters[name] += 1
            candidate = ids.make_id(self.schema.objects[name].key_prefix, self._counters[name])
            if candidate not in self._tables[name]:
                return candidate

    def put(self, obj: str, record: dict[str, Any]) -> None:
        """Insert or replace `record` (which carries its canonical `Id`)."""
        name = self._sobject(obj).name
        record_id = record["Id"]
        previous = self._tables[name].get(record_id)
        if self._journal is not None:
            self._journal.append((name, record_id, dict(previous) if previous else None))
        if previous is not None:
            self._unindex(name, previous)
        self._tables[name][record_id] = record
        self._index(name, record)

    def savepoint(self) -> int:
        if self._journal is None:
            self._journal = []
        self._depth += 1
        return len(self._journal)

    def rollback(self, mark: int) -> None:
        assert self._journal is not None
        while len(self._journal) > mark:
            name, record_id, previous = self._journal.pop()
            current = self._tables[name].pop(record_id, None)
            if current is not None:
                self._unindex(name, current)
            if previous is not None:
                self._tables[name][record_id] = previous
                self._index(name, previous)
        self.release(mark)

    def release(self, mark: int) -> None:
        self._depth -= 1
        if self._depth <= 0:
            self._journal = None
            self._depth = 0

    # ------------------------------------------------------------------ helpers

    def _sobject(self, obj: str) -> SObject:
        sobject = self.schema.get(obj)
        if sobject is None:
            raise KeyError(f"unknown sObject {obj!r}")
        return sobject

    def _index(self, name: str, record: dict[str, Any]) -> None:
        if record.get("IsDeleted"):
            return
        for field in self._indexed[name]:
            value = record.get(field.name)
            if value not in (None, ""):
                self._indexes[(name, field.name)][_index_key(field, value)].add(record["Id"])

    def _unindex(self, name: str, record: dict[str, Any]) -> None:
        for field in self._indexed[name]:
            value = record.get(field.name)
            if value in (None, ""):
                continue
            bucket = self._indexes[(name, field.name)].get(_index_key(field, value))
            if bucket is not None:
                bucket.discard(record["Id"])
                if not bucket:
                    del self._indexes[(name, field.name)][_index_key(field, value)]


def _index_key(field: Field, value: Any) -> str:
    text = "" if value is None else str(value)
    return text if field.case_sensitive or field.is_id else text.lower()
