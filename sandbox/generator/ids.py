"""Identifiers and time formats: HubSpot ids, UUIDs from a seeded RNG, Salesforce 18-char ids.

Every function is pure: same input, same output, on any machine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sandbox.salesforce.ids import checksum

SECOND = 1_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# HubSpot object id bases: digits strings, one range per object type to ease debugging.
CONTACT_ID_BASE = 1_000_001
COMPANY_ID_BASE = 2_000_000_001
MEETING_ID_BASE = 30_000_000_001
MARKETING_EVENT_ID_BASE = 40_000_000_001
PARTICIPATION_ID_BASE = 50_000_000_001

_EPOCH = datetime(1970, 1, 1)  # naive on purpose: formatting adds "Z" itself


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive datetimes are refused)."""
    if moment.tzinfo is None:
        raise ValueError("`now` must be timezone-aware (e.g. datetime.now(UTC))")
    delta = moment.astimezone(UTC).replace(tzinfo=None) - _EPOCH
    return delta // timedelta(milliseconds=1)


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return (_EPOCH + timedelta(days=day)).date().isoformat() + "T"


def iso(ms: int) -> str:
    """HubSpot style: 2026-03-04T05:06:07.123Z (exact integer arithmetic, no float rounding)."""
    day, rest = divmod(ms, 86_400_000)
    seconds, milli = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{milli:03d}Z"


def sf_datetime(ms: int) -> str:
    """Salesforce REST style: 2026-03-04T05:06:07.000+0000."""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "+0000"


def sf_date(ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=ms)).date().isoformat()


def uuid_from_bits(bits: int) -> str:
    """A version-4-shaped UUID string from 128 random bits (from a seeded RNG)."""
    bits = (bits & ~(0xF << 76)) | (0x4 << 76)  # version 4
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# --- Salesforce ids -----------------------------------------------------------------------

USER_PREFIX, ACCOUNT_PREFIX, CONTACT_PREFIX, LEAD_PREFIX, OPPORTUNITY_PREFIX = (
    "005",
    "001",
    "003",
    "00Q",
    "006",
)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_POD = "5g"
_RECORD_OFFSET = 62**5 * 7  # ids look like 0035g00000AbCdE rather than 0035g000000000A


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_BASE62[r])
    if n:
        raise ValueError("record number does not fit a Salesforce id")
    return "".join(reversed(out))


def sf_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce id: key prefix, pod, reserved 0, base62 number, checksum."""
    id15 = prefix + _POD + "0" + _base62(_RECORD_OFFSET + number * 37, 9)
    return id15 + checksum(id15)
