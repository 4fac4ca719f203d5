"""CRM search: validation, filter semantics and an index-aware executor.

Semantics reproduced (CRM search guide, "Filter search results"):
- filterGroups are ORed, the filters inside a group ANDed; `query` (free text) is ANDed.
- String comparisons are case-insensitive (EQ on email matches any case). IN / NOT_IN compare
  the lower-cased stored value with the values as sent: the guide asks for lower-case values,
  and an upper-case value never matches.
- NEQ, NOT_IN and NOT_CONTAINS_TOKEN match records where the property has no value.
- date/datetime properties compare as epoch ms; values may be ms (number or string) or ISO.
- Paging: `after` is an offset; offset + limit past 10,000 answers 400 (the guide: "attempting
  to page beyond 10,000 will result in a 400 error").
- Limits: 5 groups, 10 filters a group, 25 in all (changelog, August 2024), limit <= 200, one
  sort; a request body over 3,000 characters answers 400 (api-facts "What changed by December
  2026": "CRM search request bodies are limited to 3,000 characters"; the 2026-09 contacts spec
  bounds `query` at "up to 3000 characters"). Counted in characters of the body as sent
  (UTF-8 decoded); the error wording is DECIDED.
- DECIDED: with no sort, results come in ascending `hs_object_id` (creation) order.

Execution: a query whose filters are all ranges on `hs_object_id` and the modified-time
property (the incremental-sync shape) is answered from the sorted indexes with counting at C
speed and an early-stopping walk for the page. Anything else picks the narrowest index range as
candidates and evaluates every filter on each.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sandbox.hubspot.constants import (
    SEARCH_DEFAULT_LIMIT,
    SEARCH_MAX_FILTERS_PER_GROUP,
    SEARCH_MAX_FILTERS_TOTAL,
    SEARCH_MAX_GROUPS,
    SEARCH_MAX_LIMIT,
    SEARCH_MAX_RESULTS,
)
from sandbox.hubspot.crm_store import ObjectStore, Record
from sandbox.hubspot.util import property_string, to_ms, to_number

OPERATORS = (
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
)
_RANGE_OPS = ("EQ", "LT", "LTE", "GT", "GTE", "BETWEEN")
_TOKEN_SPLIT = re.compile(r"[^0-9a-z]+")
_NEG_INF = -(1 << 62)
_POS_INF = 1 << 62
# Materialise candidates from the other index instead of walking the sort index when the other
# range is this much narrower.
_MATERIALISE_RATIO = 50
_MATERIALISE_MAX = 200_000
_SCAN_MAX = 20_000  # ids in range counted by a scan; beyond, from the sorted window ids


class SearchError(ValueError):
    """The request is invalid; `code` goes into the VALIDATION_ERROR detail."""

    def __init__(self, message: str, code: str = "INVALID_INPUT") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Filter:
    prop: str
    op: str
    test: Callable[[Record], bool]
    kind: str | None = None  # "id" | "mod" when the filter is an index range
    lo: int = _NEG_INF
    hi: int = _POS_INF
    idset: set[int] | None = None  # exact ids (email EQ/IN, hs_object_id IN)


@dataclass
class _Group:
    filters: list[_Filter]
    id_lo: int = _NEG_INF
    id_hi: int = _POS_INF
    mod_lo: int = _NEG_INF
    mod_hi: int = _POS_INF
    idset: set[int] | None = None
    residual: list[_Filter] = field(default_factory=list)


@dataclass
class SearchRequest:
    groups: list[_Group]
    query: str | None
    sort_prop: str | None
    descending: bool
    properties: list[str] | None
    limit: int
    offset: int


@dataclass
class SearchResult:
    total: int
    records: list[Record]
    next_offset: int | None


# ---------------------------------------------------------------------------- parsing

SEARCH_MAX_BODY_CHARS = 3000


def check_body_size(raw: bytes) -> None:
    """400 for a search body over 3,000 characters, before anything else is looked at."""
    try:
        chars = len(raw.decode("utf-8"))
    except UnicodeDecodeError:
        chars = len(raw)
    if chars > SEARCH_MAX_BODY_CHARS:
        raise SearchError(
            f"The search request body is {chars} characters; the maximum is "
            f"{SEARCH_MAX_BODY_CHARS}. Request fewer properties or filters.",
            "REQUEST_TOO_LARGE",
        )


def parse_request(store: ObjectStore, body: Any) -> SearchRequest:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise SearchError("The request body must be a JSON object.")
    limit = _int_field(body, "limit", SEARCH_DEFAULT_LIMIT)
    if limit < 1 or limit > SEARCH_MAX_LIMIT:
        raise SearchError(
            f"limit must be between 1 and {SEARCH_MAX_LIMIT} (got {limit})", "INVALID_LIMIT"
        )
    after = body.get("after")
    if after in (None, ""):
        offset = 0
    else:
        text = str(after)
        if not text.isdigit():
            raise SearchError(f"after must be a numeric offset (got {after!r})", "INVALID_AFTER")
        offset = int(text)
    if offset + limit > SEARCH_MAX_RESULTS:
        raise SearchError(
            f"The search API returns at most {SEARCH_MAX_RESULTS} results per query; "
            f"after={offset} with limit={limit} pages beyond them. Narrow the query with "
            "filters (for example hs_object_id GT the last id seen) and start again.",
            "RESULT_WINDOW_TOO_LARGE",
        )
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise SearchError("filterGroups must be a list")
    if len(raw_groups) > SEARCH_MAX_GROUPS:
        raise SearchError(
            f"Too many filter groups: {len(raw_groups)}. The maximum is {SEARCH_MAX_GROUPS}.",
            "TOO_MANY_FILTER_GROUPS",
        )
    total_filters = 0
    groups: list[_Group] = []
    for raw_group in raw_groups:
        raw_filters = (raw_group or {}).get("filters") if isinstance(raw_group, dict) else None
        if not isinstance(raw_filters, list):
            raise SearchError("each filter group needs a list of filters")
        if len(raw_filters) > SEARCH_MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a filter group: {len(raw_filters)}. The maximum is "
                f"{SEARCH_MAX_FILTERS_PER_GROUP}.",
                "TOO_MANY_FILTERS_IN_GROUP",
            )
        total_filters += len(raw_filters)
        groups.append(_plan_group([_compile_filter(store, f) for f in raw_filters]))
    if total_filters > SEARCH_MAX_FILTERS_TOTAL:
        raise SearchError(
            f"Too many filters: {total_filters}. The maximum across all filter groups is "
            f"{SEARCH_MAX_FILTERS_TOTAL}.",
            "TOO_MANY_FILTERS",
        )
    sort_prop, descending = _parse_sorts(body.get("sorts"))
    properties = body.get("properties")
    if properties is not None and not isinstance(properties, list):
        raise SearchError("properties must be a list of property names")
    query = body.get("query")
    return SearchRequest(
        groups=[g for g in groups if g.filters],
        query=str(query) if query not in (None, "") else None,
        sort_prop=sort_prop,
        descending=descending,
        properties=[str(p) for p in properties] if properties else None,
        limit=limit,
        offset=offset,
    )


def _int_field(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise SearchError(f"{name} must be an integer (got {value!r})") from exc


def _parse_sorts(raw: Any) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    if not isinstance(raw, list):
        raise SearchError("sorts must be a list")
    if len(raw) > 1:
        raise SearchError("Only one sort is supported.", "TOO_MANY_SORTS")
    item = raw[0]
    if isinstance(item, str):
        return (item[1:], True) if item.startswith("-") else (item, False)
    if not isinstance(item, dict) or not item.get("propertyName"):
        raise SearchError("a sort needs a propertyName")
    direction = str(item.get("direction") or "ASCENDING").upper()
    if direction not in ("ASCENDING", "DESCENDING"):
        raise SearchError(f"Unknown sort direction {direction!r}")
    return str(item["propertyName"]), direction == "DESCENDING"


def _compile_filter(store: ObjectStore, raw: Any) -> _Filter:
    if not isinstance(raw, dict):
        raise SearchError("a filter must be an object")
    prop = raw.get("propertyName")
    if not prop:
        raise SearchError("a filter needs a propertyName", "MISSING_PROPERTY_NAME")
    prop = str(prop)
    op = str(raw.get("operator") or "").upper()
    if op not in OPERATORS:
        raise SearchError(
            f"Unknown operator {raw.get('operator')!r}; expected one of {', '.join(OPERATORS)}",
            "INVALID_OPERATOR",
        )
    kind, getter, convert = _accessor(store, prop)

    def one(name: str = "value") -> Any:
        if name not in raw or raw[name] is None:
            raise SearchError(f"operator {op} on {prop} needs a {name}", "MISSING_VALUE")
        converted = convert(raw[name])
        if converted is None:
            raise SearchError(f"{raw[name]!r} is not a valid value for {prop}", "INVALID_VALUE")
        return converted

    def many() -> list[Any]:
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise SearchError(
                f"operator {op} on {prop} needs a non-empty values list", "MISSING_VALUES"
            )
        return values

    flt = _Filter(prop, op, _always)
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        want = op == "HAS_PROPERTY"
        flt.test = lambda r: (getter(r) is not None) is want
        return flt
    if op in ("IN", "NOT_IN"):
        if kind is None:  # strings: compare the lower-cased stored value with values as sent
            wanted_text = {str(v) for v in many()}
            if op == "IN":
                flt.test = lambda r: (v := getter(r)) is not None and v in wanted_text
                if prop == "email" and store.object_type == "contacts":
                    flt.idset = {i for v in wanted_text if (i := store.emails.get(v)) is not None}
            else:
                flt.test = lambda r: (v := getter(r)) is None or v not in wanted_text
            return flt
        wanted = {c for v in many() if (c := convert(v)) is not None}
        if op == "IN":
            flt.test = lambda r: getter(r) in wanted
            if kind == "id":
                flt.idset = {int(v) for v in wanted if float(v).is_integer()}
        else:
            flt.test = lambda r: getter(r) not in wanted
        return flt
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        matcher = _token_matcher(str(one() if kind is None else raw.get("value")))
        if op == "CONTAINS_TOKEN":
            flt.test = lambda r: (v := getter(r)) is not None and matcher(str(v))
        else:
            flt.test = lambda r: (v := getter(r)) is None or not matcher(str(v))
        return flt
    if op == "NEQ":
        target = one()
        flt.test = lambda r: getter(r) != target
        return flt
    if op == "BETWEEN":
        low, high = one(), one("highValue")
        flt.test = lambda r: (v := getter(r)) is not None and low <= v <= high
        _set_range(flt, kind, low, high)
        return flt
    target = one()
    if op == "EQ":
        flt.test = lambda r: getter(r) == target
        _set_range(flt, kind, target, target)
        if prop == "email" and store.object_type == "contacts":
            found = store.emails.get(target)
            flt.idset = {found} if found is not None else set()
    elif op == "GT":
        flt.test = lambda r: (v := getter(r)) is not None and v > target
        _set_range(flt, kind, target, None, lo_open=True)
    elif op == "GTE":
        flt.test = lambda r: (v := getter(r)) is not None and v >= target
        _set_range(flt, kind, target, None)
    elif op == "LT":
        flt.test = lambda r: (v := getter(r)) is not None and v < target
        _set_range(flt, kind, None, target, hi_open=True)
    else:  # LTE
        flt.test = lambda r: (v := getter(r)) is not None and v <= target
        _set_range(flt, kind, None, target)
    return flt


def _always(_record: Record) -> bool:
    return True


def _accessor(
    store: ObjectStore, prop: str
) -> tuple[str | None, Callable[[Record], Any], Callable[[Any], Any]]:
    """(index kind or None, value getter, converter of filter values) for a property.

    The kind is "id" or "mod" for indexed numeric properties, "num"/"ms" for other numeric
    ones and None for strings (getter lower-cases; converter lower-cases).
    """
    if prop == "hs_object_id":
        return "id", lambda r: r.id, to_number
    if prop == store.modified_property or (prop in store.modified_aliases and store.alias_indexed):
        return "mod", lambda r: r.mod_ms, to_ms
    ptype = store.properties.type_of(prop)
    if ptype in ("date", "datetime"):
        return "ms", lambda r: to_ms(r.props.get(prop)), to_ms
    if ptype == "number":
        return "num", lambda r: to_number(r.props.get(prop)), to_number

    def getter(r: Record) -> str | None:
        value = r.props.get(prop)
        return value.lower() if value else None

    return None, getter, lambda v: (property_string(v) or "").lower()


def _set_range(
    flt: _Filter,
    kind: str | None,
    low: Any,
    high: Any,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    if kind not in ("id", "mod"):
        return
    flt.kind = kind
    if low is not None:
        flt.lo = math.floor(low) + 1 if lo_open else math.ceil(low)
    if high is not None:
        flt.hi = math.ceil(high) - 1 if hi_open else math.floor(high)


def _token_matcher(value: str) -> Callable[[str], bool]:
    """CONTAINS_TOKEN: the value is a word of the property (`*` wildcards allowed)."""
    needle = value.strip().lower()
    if "*" in needle:
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in needle.split("*")) + "$")

        def wild(text: str) -> bool:
            lowered = text.lower()
            return bool(pattern.match(lowered)) or any(
                pattern.match(t) for t in _TOKEN_SPLIT.split(lowered) if t
            )

        return wild
    needle_tokens = [t for t in _TOKEN_SPLIT.split(needle) if t]

    def token(text: str) -> bool:
        lowered = text.lower()
        if lowered == needle:
            return True
        tokens = set(_TOKEN_SPLIT.split(lowered))
        return bool(needle_tokens) and all(t in tokens for t in needle_tokens)

    return token


def _plan_group(filters: list[_Filter]) -> _Group:
    group = _Group(filters)
    for flt in filters:
        if flt.idset is not None:
            group.idset = flt.idset if group.idset is None else group.idset & flt.idset
            if flt.op == "IN" and flt.prop != "hs_object_id":
                group.residual.append(flt)  # the id set narrows; the filter still decides
            continue
        if flt.kind == "id":
            group.id_lo, group.id_hi = max(group.id_lo, flt.lo), min(group.id_hi, flt.hi)
        elif flt.kind == "mod":
            group.mod_lo, group.mod_hi = max(group.mod_lo, flt.lo), min(group.mod_hi, flt.hi)
        else:
            group.residual.append(flt)
    return group


# ---------------------------------------------------------------------------- executing


def execute(store: ObjectStore, request: SearchRequest, now_ms: int) -> SearchResult:
    _prune_lag(store, now_ms)
    groups = request.groups
    fast = (
        len(groups) <= 1
        and request.query is None
        and not store.lagged
        and (not groups or (not groups[0].residual and groups[0].idset is None))
        and request.sort_prop in (None, "hs_object_id", store.modified_property)
    )
    if fast:
        group = groups[0] if groups else _Group([])
        return _execute_ranges(store, group, request)
    return _execute_generic(store, request, now_ms)


def _prune_lag(store: ObjectStore, now_ms: int) -> None:
    if store.lagged:
        for object_id in [i for i, t in store.lagged.items() if t <= now_ms]:
            del store.lagged[object_id]


def _execute_ranges(store: ObjectStore, group: _Group, request: SearchRequest) -> SearchResult:
    ids, id_mod, mod_ms, mod_ids = store.ids, store.id_mod, store.mod_ms, store.mod_ids
    id_lo, id_hi, mod_lo, mod_hi = group.id_lo, group.id_hi, group.mod_lo, group.mod_hi
    a_i, b_i = bisect.bisect_left(ids, id_lo), bisect.bisect_right(ids, id_hi)
    a_m, b_m = bisect.bisect_left(mod_ms, mod_lo), bisect.bisect_right(mod_ms, mod_hi)
    n_i, n_m = max(0, b_i - a_i), max(0, b_m - a_m)
    # a range that holds every record constrains nothing (the "since the beginning" sync)
    id_bounded = (id_lo != _NEG_INF or id_hi != _POS_INF) and n_i < len(ids)
    mod_bounded = (mod_lo != _NEG_INF or mod_hi != _POS_INF) and n_m < len(mod_ms)

    if not mod_bounded:
        total = n_i
    elif not id_bounded:
        total = n_m
    else:
        key = (id_lo, id_hi, mod_lo, mod_hi)
        cached = store.total_cache.get(key)
        if cached is not None:
            total = cached
        else:
            if n_i <= min(n_m, _SCAN_MAX):
                total = _count_within(id_mod[a_i:b_i], mod_lo, mod_hi)
            else:
                in_window = store.window_ids.get((mod_lo, mod_hi))
                if in_window is None:
                    if len(store.window_ids) >= 8:
                        store.window_ids.clear()
                    in_window = store.window_ids[mod_lo, mod_hi] = sorted(mod_ids[a_m:b_m])
                total = bisect.bisect_right(in_window, id_hi) - bisect.bisect_left(
                    in_window, id_lo
                )
            if len(store.total_cache) >= 64:
                store.total_cache.clear()
            store.total_cache[key] = total

    wanted = request.offset + request.limit
    by_mod = request.sort_prop == store.modified_property
    ordered_ids: list[int]
    if total == 0 or request.offset >= total:
        ordered_ids = []
    elif by_mod and (not id_bounded or n_i * _MATERIALISE_RATIO >= n_m or n_i > _MATERIALISE_MAX):
        ordered_ids = _walk(
            mod_ids,
            a_m,
            b_m,
            request.descending,
            wanted,
            None if not id_bounded else (id_lo, id_hi),
            None,
        )
    elif not by_mod and (
        not mod_bounded or n_m * _MATERIALISE_RATIO >= n_i or n_m > _MATERIALISE_MAX
    ):
        ordered_ids = _walk(
            ids,
            a_i,
            b_i,
            request.descending,
            wanted,
            None,
            None if not mod_bounded else (id_mod, mod_lo, mod_hi),
        )
    elif by_mod:  # few ids in range: take them and order by modified time
        pairs = [(id_mod[p], ids[p]) for p in range(a_i, b_i) if mod_lo <= id_mod[p] <= mod_hi]
        pairs.sort(reverse=request.descending)
        ordered_ids = [i for _, i in pairs[:wanted]]
    else:  # few modified times in range: take them and order by id
        matched = sorted(i for i in mod_ids[a_m:b_m] if id_lo <= i <= id_hi)
        if request.descending:
            matched.reverse()
        ordered_ids = matched[:wanted]
    page_ids = ordered_ids[request.offset : wanted]
    live = store.live
    records = [live[i] for i in page_ids]
    next_offset = wanted if wanted < total else None
    return SearchResult(total, records, next_offset)


def _count_within(values: list[int], lo: int, hi: int) -> int:
    """How many of `values` lie in [lo, hi], counted at C speed."""
    below = sum(map(lo.__gt__, values)) if lo != _NEG_INF else 0
    above = sum(map(hi.__lt__, values)) if hi != _POS_INF else 0
    return len(values) - below - above


def _walk(
    sequence: list[int],
    start: int,
    stop: int,
    descending: bool,
    wanted: int,
    id_range: tuple[int, int] | None,
    mod_check: tuple[list[int], int, int] | None,
) -> list[int]:
    """Ids from `sequence[start:stop]` in order (or reversed) passing the other range."""
    positions: Iterable[int] = range(stop - 1, start - 1, -1) if descending else range(start, stop)
    out: list[int] = []
    if id_range is not None:
        lo, hi = id_range
        for p in positions:
            object_id = sequence[p]
            if lo <= object_id <= hi:
                out.append(object_id)
                if len(out) >= wanted:
                    break
    elif mod_check is not None:
        id_mod, lo, hi = mod_check
        for p in positions:
            if lo <= id_mod[p] <= hi:
                out.append(sequence[p])
                if len(out) >= wanted:
                    break
    else:
        if descending:
            first = max(start, stop - wanted)
            out = sequence[first:stop][::-1]
        else:
            out = sequence[start : min(stop, start + wanted)]
    return out


def _execute_generic(store: ObjectStore, request: SearchRequest, now_ms: int) -> SearchResult:
    lagged = store.lagged
    text_test = _query_matcher(store, request.query) if request.query else None
    matched: set[int] = set()
    groups = request.groups or [_Group([])]
    for group in groups:
        tests = [f.test for f in group.filters]
        if text_test is not None:
            tests.append(text_test)
        for record in _candidates(store, group):
            if record.id in matched:
                continue
            if lagged and lagged.get(record.id, 0) > now_ms:
                continue
            if all(test(record) for test in tests):
                matched.add(record.id)
    live = store.live
    records = [live[i] for i in sorted(matched)]
    records = _sort_records(store, records, request.sort_prop, request.descending)
    total = len(records)
    wanted = request.offset + request.limit
    return SearchResult(total, records[request.offset : wanted], wanted if wanted < total else None)


def _candidates(store: ObjectStore, group: _Group) -> Iterable[Record]:
    live = store.live
    if group.idset is not None:
        return [live[i] for i in sorted(group.idset) if i in live]
    a_i, b_i = (
        bisect.bisect_left(store.ids, group.id_lo),
        bisect.bisect_right(store.ids, group.id_hi),
    )
    a_m = bisect.bisect_left(store.mod_ms, group.mod_lo)
    b_m = bisect.bisect_right(store.mod_ms, group.mod_hi)
    if b_m - a_m < b_i - a_i:
        return (live[i] for i in store.mod_ids[a_m:b_m])
    return (live[i] for i in store.ids[a_i:b_i])


def _sort_records(
    store: ObjectStore, records: list[Record], prop: str | None, descending: bool
) -> list[Record]:
    if prop is None or prop == "hs_object_id":
        return records[::-1] if descending else records
    _kind, getter, _convert = _accessor(store, prop)
    if descending:  # ties in descending id order, as the index walk gives them
        records = records[::-1]
    present = [(getter(r), r) for r in records]
    missing = [r for v, r in present if v is None]
    keyed = [(v, r) for v, r in present if v is not None]
    keyed.sort(key=lambda pair: pair[0], reverse=descending)  # stable: ties keep input order
    return [r for _, r in keyed] + missing


_QUERY_PROPERTIES = {
    "contacts": ("firstname", "lastname", "email", "phone", "company", "hs_additional_emails"),
    "companies": ("name", "domain", "website", "phone"),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
}


def _query_matcher(store: ObjectStore, query: str) -> Callable[[Record], bool]:
    """`query`: every word is a prefix of a word of one of the default searchable properties."""
    words = [w for w in _TOKEN_SPLIT.split(query.lower()) if w]
    names = _QUERY_PROPERTIES.get(store.object_type, ())

    def test(record: Record) -> bool:
        tokens: list[str] = []
        for name in names:
            value = record.props.get(name)
            if value:
                tokens.extend(t for t in _TOKEN_SPLIT.split(value.lower()) if t)
        if record.id and str(record.id) in words:
            return True
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return test
