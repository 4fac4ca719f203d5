"""Salesforce record ids: 15-character case-sensitive ids, their 18-character form, key prefixes.

An id is a 3-character key prefix naming the object (`00Q` Lead, `003` Contact, ...), then
12 base-62 characters. The 18-character form appends a 3-character checksum that encodes
which of the first 15 characters are upper-case, so the id survives case-insensitive
systems. The API always answers with 18 characters and accepts both forms.
"""

from __future__ import annotations

import re
import string

_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM_CHARS = string.ascii_uppercase + "012345"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def checksum(id15: str) -> str:
    """The 3-character suffix that turns a 15-character id into its 18-character form."""
    out = []
    for chunk in range(3):
        flags = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << position
        out.append(_CHECKSUM_CHARS[flags])
    return "".join(out)


def looks_like_id(value: object) -> bool:
    """15 or 18 alphanumeric characters: what Salesforce would even try to read as an id."""
    return isinstance(value, str) and bool(_ID_SHAPE.match(value))


def normalize(value: str) -> str | None:
    """The canonical 18-character id, or None when `value` is not a well-formed id.

    An 18-character id must carry the checksum of its first 15 characters (compared without
    regard to case, as the suffix itself is case-insensitive).
    """
    if not looks_like_id(value):
        return None
    id15 = value[:15]
    expected = checksum(id15)
    if len(value) == 18 and value[15:].upper() != expected:
        return None
    return id15 + expected


def key_prefix(value: str) -> str:
    return value[:3]


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    if number:
        raise OverflowError("id counter exhausted")
    return "".join(reversed(digits))


def make_id(prefix: str, counter: int, pod: str = "8d") -> str:
    """A deterministic 18-character id: prefix + pod + zero padding + base-62 counter."""
    id15 = f"{prefix}{pod}0000{_base62(counter, 6)}"
    return id15 + checksum(id15)
