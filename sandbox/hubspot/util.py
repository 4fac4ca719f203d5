"""Small pure helpers: HubSpot's time formats, opaque cursors, deterministic ids."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as HubSpot writes them: `2024-05-01T12:00:00.123Z`."""
    when = _EPOCH + dt.timedelta(milliseconds=ms)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def to_ms(value: Any) -> int | None:
    """Epoch milliseconds from what HubSpot accepts for date/datetime values.

    Accepts epoch-ms integers or digit strings, ISO 8601 datetimes (`Z` or an offset, with or
    without fractions) and plain dates (`2024-05-01`, midnight UTC). None when unparseable.
    """
    if type(value) is str and len(value) == 24 and value[23] == "Z" and value[10] == "T":
        fast = _fast_iso(value)
        if fast is not None:
            return fast
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    text = str(value).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_DAY_MS: dict[str, int] = {}


def _fast_iso(text: str) -> int | None:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` (HubSpot's own format) without a datetime object."""
    day = _DAY_MS.get(text[:10])
    try:
        if day is None:
            day = (dt.date.fromisoformat(text[:10]) - _EPOCH.date()).days * 86_400_000
            if len(_DAY_MS) < 100_000:
                _DAY_MS[text[:10]] = day
        return (
            day
            + int(text[11:13]) * 3_600_000
            + int(text[14:16]) * 60_000
            + int(text[17:19]) * 1000
            + int(text[20:23])
        )
    except ValueError:
        return None


def to_number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def property_string(value: Any) -> str | None:
    """A property value the way HubSpot stores and returns it: a string, or None."""
    if type(value) is str:
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def encode_cursor(position: int, salt: str) -> str:
    """An opaque paging token for `position` (clients must only hand it back)."""
    raw = f"{salt}:{position}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None, salt: str) -> int | None:
    """The position inside a token from `encode_cursor`; None when absent; ValueError if bad."""
    if token is None or token == "":
        return None
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode()).decode()
        prefix, position = raw.rsplit(":", 1)
        if prefix != salt:
            raise ValueError("cursor from another endpoint")
        value = int(position)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid paging cursor {token!r}") from exc
    if value < 0:
        raise ValueError(f"invalid paging cursor {token!r}")
    return value


def correlation_id(seed: int, number: int) -> str:
    """A uuid4-shaped correlation id, deterministic in (seed, request number)."""
    digest = hashlib.blake2b(f"corr:{seed}:{number}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))
