"""Salesforce error shapes.

REST answers a failed request with a JSON array `[{"message","errorCode","fields"?}]`;
sObject Collections report each record's failure as `{"statusCode","message","fields"}`
inside a 200 answer; Bulk API 2.0 writes `CODE:message:fields --` into `sf__Error`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.httpbase import HTTPError, Response


@dataclass(frozen=True)
class SFError:
    code: str
    message: str
    fields: tuple[str, ...] | None = None  # None: the answer carries no "fields" key
    # More members of the error object (DUPLICATES_DETECTED's `duplicateResult`).
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def rest(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, "message": self.message, "errorCode": self.code}
        if self.fields is not None:
            out["fields"] = list(self.fields)
        return out

    def collection(self) -> dict[str, Any]:
        return {**self.extra, "statusCode": self.code, "message": self.message,
                "fields": list(self.fields or ())}

    def bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields or ())} --"


def dml_error(code: str, message: str, *fields: str) -> SFError:
    """A record-level error; these always carry a (possibly empty) field list."""
    return SFError(code, message, tuple(fields))


class RecordFailed(Exception):
    """One record was refused; the request as a whole may go on (collections, bulk)."""

    def __init__(self, errors: list[SFError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


class RequestFailed(HTTPError):
    """The whole request is refused with `status` and a REST error array."""

    def __init__(self, status: int, errors: list[SFError]) -> None:
        super().__init__(Response.json(status, [e.rest() for e in errors]))
        self.status = status
        self.errors = errors


def fail(status: int, code: str, message: str, fields: list[str] | None = None) -> RequestFailed:
    return RequestFailed(
        status, [SFError(code, message, tuple(fields) if fields is not None else None)]
    )


def not_found() -> RequestFailed:
    return fail(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> Response:
    return Response.json(
        401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    )


ROLLED_BACK = dml_error(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using "
    "AllOrNone header",
)

URI_TOO_LONG_HTML = (
    "<html>\r\n<head><title>414 Request-URI Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>414 Request-URI Too Large</h1></center>\r\n<hr><center>server</center>\r\n"
    "</body>\r\n</html>\r\n"
)
