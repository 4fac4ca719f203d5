"""Email normalisation and validation: the one place that decides what an email address is.

Both sides use it: HubSpot contacts and activity emails, and Salesforce emails when matching.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

MAX_EMAIL_LENGTH = 254
MAX_LOCAL_LENGTH = 64

_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


@dataclass(frozen=True, slots=True)
class EmailCheck:
    """The normalised address, or None with the reason it was refused."""

    email: str | None
    reason: str | None = None


def canonical_email(raw: object) -> str | None:
    """The form two addresses are compared in, on both sides (HubSpot and Salesforce).

    NFKC (full-width letters typed on Japanese keyboards, `ｔａｒｏ＠ｅｘ．ｊｐ`, become
    ASCII), whitespace, one pair of angle brackets and a `mailto:` prefix stripped, lower-cased.
    No validation: quotes, backslashes and non-ASCII stay, so such an address still matches
    its twin. None when nothing is left.
    """
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :].strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    return text.lower() or None


def parse_email(raw: object) -> EmailCheck:
    """The canonical address (see `canonical_email`) if it is usable, else the reason not.

    Usable: one `@`, a dot-atom local part of at most 64 characters, a domain of LDH labels
    with an alphabetic (or punycode) top-level label, 254 characters in all, ASCII only
    (Salesforce and most MTAs refuse the rest).
    """
    if raw is None:
        return EmailCheck(None, "no email")
    if not isinstance(raw, str):
        return EmailCheck(None, f"email is not text ({type(raw).__name__})")
    return _parse_text(raw)


# A backfill checks the same few addresses millions of times (one per email event); the
# answer is a pure function of the text and EmailCheck is immutable, so it is remembered.
@lru_cache(maxsize=1 << 16)
def _parse_text(raw: str) -> EmailCheck:
    text = canonical_email(raw)
    if not text:
        return EmailCheck(None, "empty email")
    if len(text) > MAX_EMAIL_LENGTH:
        return EmailCheck(None, f"email longer than {MAX_EMAIL_LENGTH} characters")
    if not text.isascii():
        return EmailCheck(None, "email has non-ASCII characters")
    if text.count("@") != 1:
        return EmailCheck(None, "email must contain exactly one @")
    local, domain = text.split("@")
    if not local or len(local) > MAX_LOCAL_LENGTH or not _LOCAL.match(local):
        return EmailCheck(None, "email has an invalid local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return EmailCheck(None, "email has an invalid domain")
    if not _TLD.match(labels[-1]):
        return EmailCheck(None, "email has an invalid top-level domain")
    return EmailCheck(text)


def normalise_email(raw: object) -> str | None:
    """The normalised address, or None when it is missing or not valid."""
    return parse_email(raw).email
