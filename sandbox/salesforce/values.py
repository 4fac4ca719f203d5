"""Field values: how JSON and CSV input becomes a stored value, and dates and times.

Stored forms: text as `str`, ids as 18-character `str`, booleans as `bool`, `double`,
`currency` and `percent` as `float`, `int` as `int`, dates as `YYYY-MM-DD` and date-times as
Salesforce prints them, `YYYY-MM-DDTHH:MM:SS.sss+0000` (always UTC).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.schema import Field

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


class ValueMismatch(ValueError):
    """A value of the wrong type for its field (a deserialisation error in Salesforce)."""


def format_datetime(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def from_epoch(seconds: float) -> str:
    return format_datetime(dt.datetime.fromtimestamp(seconds, dt.UTC))


def parse_datetime(text: str) -> dt.datetime | None:
    """A timezone-aware datetime from ISO-8601 text (a bare date means midnight UTC)."""
    found = _DATETIME.match(text)
    if found is None:
        date = parse_date(text)
        if date is None:
            return None
        return dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        tz = dt.UTC
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = dt.timezone(sign * offset)
        micro = int((fraction or "0").ljust(6, "0")[:6])
        return dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro,
            tzinfo=tz,
        )
    except ValueError:
        return None


def parse_date(text: str) -> dt.date | None:
    found = _DATE.match(text)
    if found is None:
        return None
    try:
        return dt.date(*(int(g) for g in found.groups()))
    except ValueError:
        return None


def _type_name(field: Field) -> str:
    return {
        "double": "double", "currency": "double", "percent": "double", "int": "int",
        "boolean": "boolean", "date": "date", "datetime": "dateTime",
    }.get(field.type, "String")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def mismatch(field: Field, value: Any) -> ValueMismatch:
    return ValueMismatch(
        f"Cannot deserialize instance of {_type_name(field)} from {_json_kind(value)} value "
        f"{value} or request may be missing a required field"
    )


def coerce_json(field: Field, value: Any) -> Any:
    """A JSON value as stored for `field`; raises `ValueMismatch` for a wrong type."""
    if value is None:
        return None
    kind = field.type
    if isinstance(value, dict | list):
        raise mismatch(field, value)
    if field.is_text or field.is_id:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value) if isinstance(value, float) else str(value)
        return value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise mismatch(field, value)
    if kind in ("double", "currency", "percent", "int"):
        return _number(field, value, mismatch(field, value))
    if kind == "date":
        if isinstance(value, str):
            date = parse_date(value)
            if date is None:
                moment = parse_datetime(value)
                date = moment.date() if moment else None
            if date is not None:
                return date.isoformat()
        raise mismatch(field, value)
    if kind == "datetime":
        if isinstance(value, str):
            moment = parse_datetime(value)
            if moment is not None:
                return format_datetime(moment)
        raise mismatch(field, value)
    return value


def coerce_text(field: Field, text: str) -> Any:
    """A CSV cell (Bulk API) as stored for `field`; raises `ValueMismatch`."""
    kind = field.type
    if field.is_text or field.is_id:
        return text
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueMismatch(f"{field.label}: value not of required type: {text}")
    if kind in ("double", "currency", "percent", "int"):
        return _number(
            field, text.strip(), ValueMismatch(f"{field.label}: value not of required type: {text}")
        )
    try:
        return coerce_json(field, text.strip())
    except ValueMismatch as exc:
        raise ValueMismatch(f"{field.label}: value not of required type: {text}") from exc


def _number(field: Field, value: Any, error: ValueMismatch) -> float | int:
    if isinstance(value, bool):
        raise error
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise error from None
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise error
    if math.isnan(number) or math.isinf(number):
        raise error
    if field.type == "int":
        if number != int(number):
            raise error
        return int(number)
    if field.scale >= 0 and field.precision:
        number = round(number, field.scale)
    return number


def number_fits(field: Field, value: float | int) -> bool:
    """Whether the integer part fits `precision - scale` digits (or `digits` for int)."""
    allowed = field.digits if field.type == "int" else field.precision - field.scale
    if allowed <= 0:
        return True
    return abs(int(value)) < 10**allowed


def text_value(value: Any) -> str:
    """How a stored value prints in a CSV result or a message."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)


def normalize_id(value: str) -> str | None:
    return ids.normalize(value)
