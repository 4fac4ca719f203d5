"""The one table that turns a Salesforce answer (HTTP status, errorCode) into an outcome.

Every failed REST call goes through `classify` and `to_error`; nothing else in the package
decides whether a failure is transient, fatal, a budget stop or a single record's problem.
Lookup order: exact (status, code), then (any status, code), then (status, any code), then the
status class (5xx retry, anything else fatal).

One code carries two conditions, told apart only by its message (REST API Developer Guide,
"Status Codes and Error Responses"; Salesforce Help 000389067; the message as returned,
e.g. docs.cloud-elements.com "ConcurrentPerOrgLongTxn Limit exceeded, REQUEST_LIMIT_EXCEEDED
... 403"): 403 `REQUEST_LIMIT_EXCEEDED` is
- `TotalRequests Limit exceeded.`: the org's rolling 24-hour allocation is spent: stop the run
  and resume after it recovers (BUDGET);
- `ConcurrentPerOrgLongTxn Limit exceeded` / `ConcurrentRequests (Concurrent API Requests)
  Limit exceeded`: too many long-running (20 s+) requests at once in the org, usually other
  integrations: transient, retried with the policy's backoff (RETRY).
An unknown message keeps the conservative reading (BUDGET): stopping costs one rerun, while
hammering a spent allocation costs the whole org its API.

403 `API_DISABLED_FOR_ORG` ("API is not enabled for this Organization or Partner") is the
answer of an org without API access (Professional Edition without the API add-on, Essentials,
Group) or a user without the "API Enabled" permission: fatal, with a message saying what to
buy or enable.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from core.errors import (
    BudgetExhaustedError,
    ConnectorError,
    FatalAPIError,
    RecordError,
    RetriableAPIError,
)


class Outcome(Enum):
    RETRY = "retry"  # transient: the retry policy tries again
    REAUTH = "reauth"  # session expired: log in again once, then replay
    BUDGET = "budget"  # the org's API allocation is spent: stop, resume later
    URI_TOO_LONG = "uri_too_long"  # a request line over 16 KB: a bug in the caller's chunking
    RECORD = "record"  # this record's problem: dead-letter it, go on
    FATAL = "fatal"  # stop the run


ANY = None

ERROR_TABLE: Mapping[tuple[int | None, str | None], Outcome] = {
    (401, "INVALID_SESSION_ID"): Outcome.REAUTH,
    (403, "REQUEST_LIMIT_EXCEEDED"): Outcome.BUDGET,
    (ANY, "UNABLE_TO_LOCK_ROW"): Outcome.RETRY,
    (ANY, "REQUEST_RUNNING_TOO_LONG"): Outcome.RETRY,
    (ANY, "SERVER_UNAVAILABLE"): Outcome.RETRY,
    (414, ANY): Outcome.URI_TOO_LONG,
    (429, ANY): Outcome.RETRY,
    (408, ANY): Outcome.RETRY,
    (300, ANY): Outcome.RECORD,  # an external id matched several records
    # Single-record rejections (Collections report these per record with a 200; a
    # whole-request answer carrying one of them concerns the records in that request only).
    (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION"): Outcome.RECORD,
    (400, "DUPLICATES_DETECTED"): Outcome.RECORD,
    (400, "DUPLICATE_VALUE"): Outcome.RECORD,
    (400, "DUPLICATE_EXTERNAL_ID"): Outcome.RECORD,
    (400, "STRING_TOO_LONG"): Outcome.RECORD,
    (400, "REQUIRED_FIELD_MISSING"): Outcome.RECORD,
    (400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"): Outcome.RECORD,
    (400, "INVALID_EMAIL_ADDRESS"): Outcome.RECORD,
    (400, "MALFORMED_ID"): Outcome.RECORD,
    (400, "ENTITY_IS_DELETED"): Outcome.RECORD,
    (400, "INVALID_CROSS_REFERENCE_KEY"): Outcome.RECORD,
}

# Codes whose outcome depends on the message: (code, message prefix, lower case) -> outcome.
MESSAGE_TABLE: Mapping[str, tuple[tuple[str, Outcome], ...]] = {
    "REQUEST_LIMIT_EXCEEDED": (
        ("totalrequests limit exceeded", Outcome.BUDGET),
        ("concurrentperorglongtxn limit exceeded", Outcome.RETRY),
        ("concurrentrequests", Outcome.RETRY),
    ),
}

# What the operator should do, for fatal answers with one clear fix.
EXPLANATIONS: Mapping[str, str] = {
    "API_DISABLED_FOR_ORG": (
        "this Salesforce org has no API access. Professional Edition needs the API add-on "
        "(buy 'API Access' from your Salesforce account executive; Essentials and Group "
        "Edition have no API at all); on Enterprise Edition and above, give the integration "
        "user the 'API Enabled' permission (profile or permission set)"
    ),
}

_STATUS_CLASS: Mapping[int, Outcome] = {5: Outcome.RETRY}


def classify(status: int, error_code: str | None, message: str = "") -> Outcome:
    for prefix, outcome in MESSAGE_TABLE.get(error_code or "", ()):
        if message.strip().lower().startswith(prefix):
            return outcome
    for key in ((status, error_code), (ANY, error_code), (status, ANY)):
        if key in ERROR_TABLE:
            return ERROR_TABLE[key]
    return _STATUS_CLASS.get(status // 100, Outcome.FATAL)


class SessionExpiredError(FatalAPIError):
    """401 INVALID_SESSION_ID: the client logs in again once and replays the call.

    Fatal by type: the retry policy never retries it, and when it escapes the client (a second
    401 right after a fresh login) the run stops.
    """


def to_error(
    status: int, error_code: str | None, message: str, *, url: str | None = None
) -> ConnectorError:
    """The exception for a failed call; `message` must already be free of secrets."""
    outcome = classify(status, error_code, message)
    code = f" {error_code}" if error_code else ""
    text = f"Salesforce {status}{code}: {message}".rstrip(": ")
    kw = {"status": status, "url": url, "error_code": error_code}
    if outcome is Outcome.REAUTH:
        return SessionExpiredError(text, **kw)
    if outcome is Outcome.RETRY:
        if error_code == "REQUEST_LIMIT_EXCEEDED":
            text += " (too many long-running requests in the org at once; retrying with backoff)"
        return RetriableAPIError(text, **kw)
    if outcome is Outcome.BUDGET:
        return BudgetExhaustedError(
            f"{text} (the org's daily API allocation is spent; resume after it resets)", **kw
        )
    if outcome is Outcome.URI_TOO_LONG:
        return FatalAPIError(
            f"Salesforce {status}: URI too long (a query was not chunked small enough)", **kw
        )
    if outcome is Outcome.RECORD:
        return RecordError(text, **kw)
    if error_code in EXPLANATIONS:
        return FatalAPIError(f"{text}: {EXPLANATIONS[error_code]}", **kw)
    return FatalAPIError(text, **kw)
