"""Writes as Salesforce does them: deserialise, validate against describe, save.

Two kinds of failure, as in Salesforce:
- deserialisation (`deserialize`): an unknown field or a value of the wrong JSON type fails
  the whole request (400 `INVALID_FIELD` / `JSON_PARSER_ERROR`), even inside a collection;
- DML (`Dml.create/update/upsert/delete`): everything else is the record's own failure,
  raised as `RecordFailed` with one or more errors (required fields, lengths, picklists,
  references, duplicates, validation rules, row locks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.errors import RecordFailed, SFError, dml_error, fail
from sandbox.salesforce.org import DuplicateRule, duplicate_result
from sandbox.salesforce.schema import Field, Schema, SObject
from sandbox.salesforce.store import RecordStore
from sandbox.salesforce.values import ValueMismatch, coerce_json, from_epoch, number_fits

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REJECT_FIELDS = ("Email", "Subject", "LastName")
_CLOSED_WON = "Closed Won"
_CLOSED_LOST = "Closed Lost"


def deserialize(sobject: SObject, body: Any, skip: tuple[str, ...] = ("attributes",)) -> dict:
    """Canonical field -> stored value; unknown fields and wrong types fail the request."""
    if not isinstance(body, dict):
        raise fail(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of "
                   f"{sobject.name} from {type(body).__name__} value")
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in skip:
            continue
        field = sobject.field(key)
        if field is None:
            raise fail(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type "
                       f"{sobject.name}")
        try:
            out[field.name] = coerce_json(field, value)
        except ValueMismatch as exc:
            raise fail(400, "JSON_PARSER_ERROR", str(exc)) from None
    return out


@dataclass(frozen=True)
class WriteOptions:
    """Per-write context: who writes, and what the fault plan breaks for this record."""

    user_id: str
    lock: bool = False
    reject: tuple[str, ...] = ()
    allow_save: bool = False  # Sforce-Duplicate-Rule-Header: allowSave=true


class MultipleMatches(Exception):
    def __init__(self, ids_: list[str]) -> None:
        super().__init__(f"{len(ids_)} records match")
        self.ids = ids_


class Dml:
    def __init__(self, schema: Schema, store: RecordStore, clock: Callable[[], float]) -> None:
        self.schema = schema
        self.store = store
        self.clock = clock
        self.duplicate_rule: DuplicateRule | None = None
        self.api_version = "59.0"  # of the request being answered (for record urls)
        self.saved_together: set[str] = set()  # ids created by the request being answered

    # ------------------------------------------------------------------ operations

    def create(self, sobject: SObject, values: dict[str, Any], opts: WriteOptions) -> str:
        errors = self._lock_error(opts, "")
        if errors:
            raise RecordFailed(errors)
        bad = [name for name in values if not sobject.fields[name].createable]
        if bad:
            raise RecordFailed([_not_writable(bad)])
        record = self.defaults(sobject, opts)
        record.update({k: v for k, v in values.items()})
        missing = [
            f.name for f in sobject.fields.values()
            if f.required_on_create and record.get(f.name) in (None, "")
        ]
        if missing:
            raise RecordFailed([_missing(missing)])
        self._check_values(sobject, values, record_id=None)
        self._check_rules(sobject, record, opts)
        self._check_duplicates(sobject, record, opts)
        new_id = self.store.new_id(sobject.name)
        record["Id"] = new_id
        self.check_unique(sobject, record)
        self.saved_together.add(new_id)
        now = from_epoch(self.clock())
        record.update(
            {"CreatedDate": now, "LastModifiedDate": now, "SystemModstamp": now,
             "CreatedById": opts.user_id, "LastModifiedById": opts.user_id}
        )
        self.derive(sobject, record)
        self.store.put(sobject.name, _ordered(sobject, record))
        return new_id

    def update(
        self, sobject: SObject, record_id: str, values: dict[str, Any], opts: WriteOptions
    ) -> None:
        current = self.store.get(sobject.name, record_id)
        if current is None:
            raise RecordFailed([dml_error("INVALID_CROSS_REFERENCE_KEY",
                                          "invalid cross reference id")])
        if current.get("IsDeleted"):
            raise RecordFailed([dml_error("ENTITY_IS_DELETED", "entity is deleted")])
        errors = self._lock_error(opts, record_id)
        if errors:
            raise RecordFailed(errors)
        if sobject.name == "Lead" and current.get("IsConverted"):
            raise RecordFailed([dml_error("CANNOT_UPDATE_CONVERTED_LEAD",
                                          "cannot reference converted lead")])
        bad = [name for name in values if not sobject.fields[name].updateable]
        if bad:
            raise RecordFailed([_not_writable(bad)])
        missing = [
            name for name, value in values.items()
            if value in (None, "") and not sobject.fields[name].nillable
        ]
        if missing:
            raise RecordFailed([_missing(missing)])
        self._check_values(sobject, values, record_id=record_id)
        record = dict(current)
        record.update(values)
        self._check_rules(sobject, record, opts)
        self.check_unique(sobject, record)
        record["LastModifiedDate"] = record["SystemModstamp"] = from_epoch(self.clock())
        record["LastModifiedById"] = opts.user_id
        self.derive(sobject, record)
        self.store.put(sobject.name, record)

    def upsert(
        self,
        sobject: SObject,
        ext_field: Field,
        ext_value: Any,
        values: dict[str, Any],
        opts: WriteOptions,
    ) -> tuple[str, bool]:
        """(id, created). Raises `MultipleMatches` when the external id is not unique."""
        if ext_field.name == "Id":
            record_id = ids.normalize(str(ext_value)) if ext_value else None
            if not record_id:
                return self.create(sobject, values, opts), True
            self.update(sobject, record_id, values, opts)
            return record_id, False
        matches = self.store.lookup(sobject.name, ext_field, ext_value)
        if len(matches) > 1:
            raise MultipleMatches(matches)
        values = dict(values)
        values.pop(ext_field.name, None)
        if matches:
            self.update(sobject, matches[0], values, opts)
            return matches[0], False
        values[ext_field.name] = ext_value
        return self.create(sobject, values, opts), True

    def delete(self, sobject: SObject, record_id: str, opts: WriteOptions) -> None:
        current = self.store.get(sobject.name, record_id)
        if current is None:
            raise RecordFailed([dml_error("INVALID_CROSS_REFERENCE_KEY",
                                          "invalid cross reference id")])
        if current.get("IsDeleted"):
            raise RecordFailed([dml_error("ENTITY_IS_DELETED", "entity is deleted")])
        errors = self._lock_error(opts, record_id)
        if errors:
            raise RecordFailed(errors)
        record = dict(current)
        record["IsDeleted"] = True
        record["LastModifiedDate"] = record["SystemModstamp"] = from_epoch(self.clock())
        record["LastModifiedById"] = opts.user_id
        self.store.put(sobject.name, record)

    # ------------------------------------------------------------------ checks

    @staticmethod
    def _lock_error(opts: WriteOptions, record_id: str) -> list[SFError]:
        if not opts.lock:
            return []
        return [dml_error(
            "UNABLE_TO_LOCK_ROW",
            f"unable to obtain exclusive access to this record or 1 records: {record_id}".rstrip(),
        )]

    def defaults(self, sobject: SObject, opts: WriteOptions) -> dict[str, Any]:
        record: dict[str, Any] = {}
        for f in sobject.fields.values():
            if f.type == "boolean":
                record[f.name] = bool(f.default_value)
            elif f.default_picklist_value is not None and f.defaulted_on_create:
                record[f.name] = f.default_picklist_value
            else:
                record[f.name] = None
        if "OwnerId" in sobject.fields:
            record["OwnerId"] = opts.user_id
        return record

    def _check_values(
        self, sobject: SObject, values: dict[str, Any], record_id: str | None
    ) -> None:
        errors: list[SFError] = []
        for name, value in values.items():
            if value is None:
                continue
            field = sobject.fields[name]
            if field.is_text:
                if (field.type == "picklist" and field.restricted_picklist
                        and value not in field.picklist_values):
                    errors.append(dml_error(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{field.label}: bad value for restricted picklist field: {value}",
                        name,
                    ))
                    continue
                if field.length and len(value) > field.length:
                    errors.append(dml_error(
                        "STRING_TOO_LONG",
                        f"{field.label}: data value too large: {_clip(value)} "
                        f"(max length={field.length})",
                        name,
                    ))
                elif field.type == "email" and value and not _EMAIL.match(value):
                    errors.append(dml_error(
                        "INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {value}",
                        name,
                    ))
            elif field.type in ("double", "currency", "percent", "int"):
                if not number_fits(field, value):
                    errors.append(dml_error(
                        "NUMBER_OUTSIDE_VALID_RANGE",
                        f"{field.label}: value outside of valid range on numeric field: {value}",
                        name,
                    ))
            elif field.type == "reference":
                error = self._check_reference(field, value)
                if error is not None:
                    errors.append(error)
        if errors:
            raise RecordFailed(errors)

    def _check_reference(self, field: Field, value: str) -> SFError | None:
        canonical = ids.normalize(value)
        if canonical is None:
            return dml_error("MALFORMED_ID",
                             f"{field.label}: id value of incorrect type: {value}", field.name)
        target = self.schema.by_prefix(ids.key_prefix(canonical))
        if target is None or target.name not in field.reference_to:
            return dml_error("FIELD_INTEGRITY_EXCEPTION",
                             f"{field.label}: id value of incorrect type: {value}", field.name)
        found = self.store.get(target.name, canonical)
        if found is None:
            return dml_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id",
                             field.name)
        if found.get("IsDeleted"):
            return dml_error("ENTITY_IS_DELETED", "entity is deleted", field.name)
        if target.name == "Lead" and found.get("IsConverted"):
            return dml_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead",
                             field.name)
        return None

    @staticmethod
    def _check_rules(sobject: SObject, record: dict[str, Any], opts: WriteOptions) -> None:
        """The sandbox's validation rule: the fault plan's `reject` substrings."""
        for needle in opts.reject:
            for name in REJECT_FIELDS:
                value = record.get(name) if name in sobject.fields else None
                if isinstance(value, str) and needle.lower() in value.lower():
                    raise RecordFailed([dml_error(
                        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                        f"Rejected by validation rule Sandbox_Reject: {name} contains "
                        f"'{needle}'",
                    )])

    def _check_duplicates(
        self, sobject: SObject, record: dict[str, Any], opts: WriteOptions
    ) -> None:
        """An active duplicate rule (`org.py`): on create, exact case-insensitive match on one
        field against live, unconverted records saved before this request."""
        rule = self.duplicate_rule
        if rule is None or rule.sobject != sobject.name or (
            rule.action == "alert" and opts.allow_save
        ):
            return
        value = record.get(rule.field)
        if value in (None, ""):
            return
        wanted = str(value).lower()
        matches = [
            r["Id"] for r in self.store.table(sobject.name).values()
            if str(r.get(rule.field) or "").lower() == wanted and not r.get("IsDeleted")
            and not r.get("IsConverted") and r["Id"] not in self.saved_together
        ]
        if matches:
            raise RecordFailed([SFError(
                "DUPLICATES_DETECTED", rule.message, (),
                {"duplicateResult": duplicate_result(rule, matches, self.api_version)},
            )])

    def check_unique(self, sobject: SObject, record: dict[str, Any]) -> None:
        for field in sobject.unique_fields():
            value = record.get(field.name)
            if value in (None, ""):
                continue
            others = [i for i in self.store.lookup(sobject.name, field, value)
                      if i != record["Id"]]
            if others:
                raise RecordFailed([dml_error(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {field.name} duplicates value on record with id: "
                    f"{others[0]}",
                )])

    @staticmethod
    def derive(sobject: SObject, record: dict[str, Any]) -> None:
        """Fields Salesforce computes: compound names, opportunity and task flags."""
        if "Name" in sobject.fields and not sobject.fields["Name"].createable:
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p)
        if sobject.name == "Opportunity":
            stage = record.get("StageName")
            record["IsClosed"] = stage in (_CLOSED_WON, _CLOSED_LOST)
            record["IsWon"] = stage == _CLOSED_WON
        if sobject.name == "Task":
            was_closed = bool(record.get("IsClosed"))
            record["IsClosed"] = record.get("Status") == "Completed"
            # CompletedDateTime (read-only): when the Task was saved closed, null while open.
            if not record["IsClosed"]:
                record["CompletedDateTime"] = None
            elif not was_closed or not record.get("CompletedDateTime"):
                record["CompletedDateTime"] = record.get("SystemModstamp")
            record["IsHighPriority"] = record.get("Priority") == "High"


def _not_writable(names: list[str]) -> SFError:
    return dml_error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(names)}. Please check the security "
        "settings of this field and verify that it is read/write for your profile or "
        "permission set.",
        *names,
    )


def _missing(names: list[str]) -> SFError:
    return dml_error("REQUIRED_FIELD_MISSING",
                     f"Required fields are missing: [{', '.join(names)}]", *names)


def _clip(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "(...)"


def _ordered(sobject: SObject, record: dict[str, Any]) -> dict[str, Any]:
    """The record with its fields in describe order (as the API prints them)."""
    return {name: record.get(name) for name in sobject.fields}
