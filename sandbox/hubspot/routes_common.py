"""Request parsing shared by the route modules."""

from __future__ import annotations

from typing import Any

from sandbox.httpbase import Request
from sandbox.hubspot.errors import validation_error
from sandbox.hubspot.util import iso_ms


def bool_arg(req: Request, name: str, default: bool = False) -> bool:
    """`archived=true|True|false|False` (the SDK sends Python's spelling)."""
    value = req.arg(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0", ""):
        return False
    raise validation_error(req, f"{name} must be true or false (got {value!r})")


def int_arg(req: Request, name: str, default: int, maximum: int | None = None) -> int:
    value = req.arg(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise validation_error(req, f"{name} must be an integer (got {value!r})") from exc
    if number < 1 or (maximum is not None and number > maximum):
        bound = f" and {maximum}" if maximum is not None else ""
        raise validation_error(
            req, f"{name} must be between 1{bound} (got {number})", code="INVALID_LIMIT"
        )
    return number


def json_object(req: Request) -> dict[str, Any]:
    body = req.json()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise validation_error(req, "The request body must be a JSON object.")
    return body


def inputs_of(req: Request, body: dict[str, Any], maximum: int) -> list[Any]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation_error(req, "inputs must be a list", code="MISSING_INPUTS")
    if len(inputs) > maximum:
        raise validation_error(
            req,
            f"Too many inputs: {len(inputs)}. The maximum is {maximum}.",
            code="TOO_MANY_INPUTS",
            context={"maxInputs": [str(maximum)]},
        )
    return inputs


def api_version(req: Request) -> str | None:
    """The date version of a `/api-name/YYYY-MM/...` path (`2026-09`), None for v1-v4 paths."""
    for part in req.path.split("/")[1:4]:
        year, dash, month = part.partition("-")
        if dash and len(year) == 4 and year.isdigit() and len(month) == 2 and month.isdigit():
            return part
    return None


def batch_status(req: Request, errors: list[Any], ok: int = 200, dated_ok: int = 200) -> int:
    """A batch answer's status: v3/v4 paths answer 207 when some inputs failed (their specs
    list 207); the 2026-09 specs list only 200 (201 for object batch create) for batch
    operations, with the failures in `errors[]`, so dated paths answer that."""
    if api_version(req) is not None:
        return dated_ok
    return 207 if errors else ok


def base_url(req: Request) -> str:
    host = req.header("host") or "127.0.0.1"
    return f"http://{host}"


def batch_body(results: list[Any], errors: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
    stamp = iso_ms(now_ms)
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": stamp,
        "completedAt": stamp,
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return body
