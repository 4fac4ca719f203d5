"""HubSpot's error bodies: `{"status":"error","message","correlationId","category",...}`."""

from __future__ import annotations

from typing import Any

from sandbox.httpbase import HTTPError, Request, Response

# developers.hubspot.com error handling guide; community posts quote this text for a missing
# or unknown private-app token.
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
AUTH_EXPIRED_MESSAGE = (
    "The access token provided is invalid or has expired. Please check the token and try again."
)


def correlation_of(req: Request) -> str:
    """The request's correlation id, set by the sandbox's `before_call` (fallback: fresh)."""
    value = getattr(req, "hs_correlation_id", None)
    if value is None:
        import uuid

        value = str(uuid.uuid4())
        req.hs_correlation_id = value  # type: ignore[attr-defined]
    return value


def error_body(
    req: Request | None,
    category: str,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    context: dict[str, list[str]] | None = None,
    sub_category: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    import uuid

    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_of(req) if req is not None else str(uuid.uuid4()),
        "category": category,
    }
    if sub_category is not None:
        body["subCategory"] = sub_category
    if errors is not None:
        body["errors"] = errors
    if context is not None:
        body["context"] = context
    body.update(extra)
    return body


def batch_error(
    category: str,
    message: str,
    context: dict[str, list[str]],
    *,
    sub_category: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One entry of a batch answer's `errors[]`, shaped as the 2026-09 specs' StandardError:
    required `status`, `category`, `message`, `errors`, `context`, `links`, and `subCategory`
    (typed as an object there). HubSpot's own v3/v4 answers gave `subCategory` as a string
    (e.g. `crm.associations.NO_ASSOCIATIONS_FOUND`); the sandbox sends it as an object
    `{"code": <that string>}` (DECIDED: the spec leaves the object's members undefined), and
    `{}` when there is none."""
    return {
        "status": "error",
        "category": category,
        "subCategory": {"code": sub_category} if sub_category else {},
        "message": message,
        "errors": list(errors or []),
        "context": context,
        "links": {},
    }


def api_error(
    req: Request | None,
    status: int,
    category: str,
    message: str,
    **kwargs: Any,
) -> HTTPError:
    """An `HTTPError` to raise from a handler."""
    return HTTPError(Response.json(status, error_body(req, category, message, **kwargs)))


def validation_error(
    req: Request | None,
    message: str,
    *,
    code: str = "INVALID_INPUT",
    context: dict[str, list[str]] | None = None,
    field_errors: list[dict[str, Any]] | None = None,
) -> HTTPError:
    """400 VALIDATION_ERROR, with one `errors[]` detail unless given several."""
    errors = field_errors if field_errors is not None else [{"message": message, "code": code}]
    return api_error(req, 400, "VALIDATION_ERROR", message, errors=errors, context=context or {})


def not_found(req: Request | None, message: str = "resource not found") -> HTTPError:
    return api_error(req, 404, "OBJECT_NOT_FOUND", message)


def gateway_error(status: int, message: str) -> Response:
    """`App.error_response`: unknown routes, wrong methods, malformed JSON, long URIs."""
    if status == 400:
        return Response.json(
            400,
            error_body(None, "VALIDATION_ERROR", f"Invalid input JSON: {message}"),
        )
    if status == 414:
        return Response.text(
            414, "<html><body><h1>414 Request-URI Too Large</h1></body></html>", "text/html"
        )
    if status == 405:
        return Response.json(405, error_body(None, "VALIDATION_ERROR", message))
    return Response.json(status, error_body(None, "OBJECT_NOT_FOUND", message))
