"""A real subset of SOQL: tokenizer, parser, checks against describe, evaluation.

Supported: `SELECT f, Rel.f, COUNT() FROM Obj [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]`. Conditions: `= != <> < <= > >=`, `[NOT] IN
(...)`, `LIKE`, `AND`, `OR`, `NOT`, parentheses (mixing AND and OR without parentheses is an
error, as in Salesforce); literals: strings with SOQL escapes, numbers, `true`/`false`,
`null`, dates, date-times and the relative date literals `TODAY YESTERDAY TOMORROW
LAST_N_DAYS:n NEXT_N_DAYS:n N_DAYS_AGO:n`. String comparison ignores case, as in Salesforce.

Errors carry Salesforce's codes and message shapes: `MALFORMED_QUERY` (syntax),
`INVALID_FIELD`, `INVALID_TYPE`, `INVALID_QUERY_FILTER_OPERATOR`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.errors import RequestFailed, SFError
from sandbox.salesforce.schema import Field, Schema, SObject
from sandbox.salesforce.values import parse_date, parse_datetime

_WILD_PERCENT = "\ue000"  # an escaped \% inside a string literal
_WILD_UNDERSCORE = "\ue001"  # an escaped \_
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b",
            "f": "\f", "%": _WILD_PERCENT, "_": _WILD_UNDERSCORE}
_RELATIVE_DATES = {"TODAY": 0, "YESTERDAY": -1, "TOMORROW": 1}
_RELATIVE_N = ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO")
_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE", "GROUP", "HAVING",
    "WITH", "FOR", "USING", "INCLUDES", "EXCLUDES", "TYPEOF",
}
_DATETIME_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2})"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT])")
_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d+)?")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
MAX_OFFSET = 2000


class QueryError(RequestFailed):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(400, [SFError(code, message)])


def _positioned(query: str, pos: int, message: str) -> str:
    """Salesforce's layout: the line, a caret under the column, `ERROR at Row:r:Column:c`."""
    row = query.count("\n", 0, pos) + 1
    line_start = query.rfind("\n", 0, pos) + 1
    line_end = query.find("\n", pos)
    line = query[line_start : line_end if line_end >= 0 else len(query)]
    column = pos - line_start
    return f"\n{line}\n{' ' * column}^\nERROR at Row:{row}:Column:{column + 1}\n{message}"


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT KEYWORD STRING NUMBER DATE DATETIME RELDATE OP ( ) , EOF
    value: Any
    pos: int
    text: str


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            value, end = _read_string(query, i)
            tokens.append(Token("STRING", value, i, query[i:end]))
            i = end
            continue
        if ch in "(),":
            tokens.append(Token(ch, ch, i, ch))
            i += 1
            continue
        op = next((o for o in _OPERATORS if query.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token("OP", "!=" if op == "<>" else op, i, op))
            i += len(op)
            continue
        for kind, regex in (("DATETIME", _DATETIME_RE), ("DATE", _DATE_RE),
                            ("NUMBER", _NUMBER_RE)):
            found = regex.match(query, i)
            if found:
                tokens.append(Token(kind, found.group(), i, found.group()))
                i = found.end()
                break
        else:
            found = _IDENT_RE.match(query, i)
            if not found:
                raise QueryError("MALFORMED_QUERY",
                                 _positioned(query, i, f"unexpected token: {ch}"))
            word = found.group()
            end = found.end()
            upper = word.upper()
            if upper in _RELATIVE_N:
                number = re.compile(r":(\d+)").match(query, end)
                if not number:
                    raise QueryError("MALFORMED_QUERY", _positioned(
                        query, end, f"unexpected token: {query[end:end + 1] or '<EOF>'}"))
                tokens.append(Token("RELDATE", (upper, int(number.group(1))), i,
                                    query[i:number.end()]))
                i = number.end()
                continue
            if upper in _RELATIVE_DATES:
                tokens.append(Token("RELDATE", (upper, 0), i, word))
            elif upper in _KEYWORDS or upper == "COUNT":
                tokens.append(Token("KEYWORD", upper, i, word))
            else:
                tokens.append(Token("IDENT", word, i, word))
            i = end
    tokens.append(Token("EOF", None, n, "<EOF>"))
    return tokens


def _read_string(query: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(query):
        ch = query[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            nxt = query[i + 1 : i + 2]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", query[i + 2 : i + 6]):
                out.append(chr(int(query[i + 2 : i + 6], 16)))
                i += 6
                continue
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            raise QueryError("MALFORMED_QUERY", _positioned(
                query, i, "Invalid string literal '" + query[start + 1 : i + 2]
                + "'. Illegal escape sequence '\\" + nxt + "'"))
        out.append(ch)
        i += 1
    raise QueryError("MALFORMED_QUERY", _positioned(
        query, start, f"line 1:{start} mismatched character '<EOF>' expecting '''"))


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Path:
    text: str  # as written, e.g. "Owner.Name"
    pos: int


@dataclass(frozen=True)
class Literal:
    kind: str  # STRING NUMBER DATE DATETIME RELDATE BOOL NULL
    value: Any
    pos: int
    text: str


@dataclass(frozen=True)
class Compare:
    path: Path
    op: str  # = != < <= > >= IN NOT IN LIKE
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR NOT
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class OrderItem:
    path: Path
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    text: str
    select: list[Path]
    count: bool
    sobject: str
    sobject_pos: int
    where: Any | None = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def unexpected(self, token: Token | None = None) -> QueryError:
        token = token or self.tok
        return QueryError("MALFORMED_QUERY",
                          _positioned(self.query, token.pos, f"unexpected token: {token.text}"))

    def keyword(self, *words: str) -> bool:
        return self.tok.kind == "KEYWORD" and self.tok.value in words

    def expect_keyword(self, word: str) -> Token:
        if not self.keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect(self, kind: str) -> Token:
        if self.tok.kind != kind:
            raise self.unexpected()
        return self.advance()

    # query := SELECT list FROM obj [WHERE] [ORDER BY] [LIMIT] [OFFSET]
    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        select: list[Path] = []
        count = False
        while True:
            if self.keyword("COUNT"):
                self.advance()
                self.expect("(")
                if self.tok.kind == "IDENT":
                    raise QueryError("MALFORMED_QUERY", _positioned(
                        self.query, self.tok.pos,
                        "sandbox: only COUNT() is supported, not COUNT(field)"))
                self.expect(")")
                count = True
            elif self.tok.kind == "(":
                raise QueryError("MALFORMED_QUERY", _positioned(
                    self.query, self.tok.pos,
                    "sandbox: parent-to-child subqueries are not supported"))
            elif self.keyword("TYPEOF"):
                raise QueryError("MALFORMED_QUERY", _positioned(
                    self.query, self.tok.pos, "sandbox: TYPEOF is not supported"))
            else:
                token = self.expect("IDENT")
                select.append(Path(token.value, token.pos))
            if self.tok.kind != ",":
                break
            self.advance()
        if count and select:
            raise QueryError("MALFORMED_QUERY", _positioned(
                self.query, select[0].pos,
                "COUNT() must be the only element in the SELECT list."))
        self.expect_keyword("FROM")
        obj = self.expect("IDENT")
        query = Query(self.query, select, count, obj.value, obj.pos)
        if self.keyword("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order = self.order_list()
        if self.keyword("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.keyword("OFFSET"):
            self.advance()
            token = self.tok
            query.offset = self.integer()
            if query.offset > MAX_OFFSET:
                raise QueryError("NUMBER_OUTSIDE_VALID_RANGE", _positioned(
                    self.query, token.pos,
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}"))
        if self.tok.kind != "EOF":
            raise self.unexpected()
        return query

    def integer(self) -> int:
        token = self.expect("NUMBER")
        if not re.fullmatch(r"\d+", token.value):
            raise self.unexpected(token)
        return int(token.value)

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            token = self.expect("IDENT")
            descending = False
            if self.keyword("ASC", "DESC"):
                descending = self.advance().value == "DESC"
            nulls_first = True  # "By default, null values are sorted first" (SOQL docs)
            if self.keyword("NULLS"):
                self.advance()
                if not self.keyword("FIRST", "LAST"):
                    raise self.unexpected()
                nulls_first = self.advance().value == "FIRST"
            items.append(OrderItem(Path(token.value, token.pos), descending, nulls_first))
            if self.tok.kind != ",":
                return items
            self.advance()

    # condition := term ((AND term)* | (OR term)*)
    def condition(self) -> Any:
        first = self.term()
        if not self.keyword("AND", "OR"):
            return first
        op = self.tok.value
        parts = [first]
        while self.keyword("AND", "OR"):
            if self.tok.value != op:
                raise self.unexpected()
            self.advance()
            parts.append(self.term())
        return BoolOp(op, tuple(parts))

    def term(self) -> Any:
        if self.keyword("NOT"):
            self.advance()
            return BoolOp("NOT", (self.term(),))
        if self.tok.kind == "(":
            self.advance()
            inner = self.condition()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        token = self.expect("IDENT")
        path = Path(token.value, token.pos)
        if self.tok.kind == "OP":
            op = self.advance().value
            return Compare(path, op, (self.literal(),))
        if self.keyword("LIKE"):
            self.advance()
            return Compare(path, "LIKE", (self.literal(),))
        negate = False
        if self.keyword("NOT"):
            self.advance()
            negate = True
        if self.keyword("IN"):
            self.advance()
            self.expect("(")
            if self.keyword("SELECT"):
                raise QueryError("MALFORMED_QUERY", _positioned(
                    self.query, self.tok.pos, "sandbox: semi-join subqueries are not supported"))
            values = [self.literal()]
            while self.tok.kind == ",":
                self.advance()
                values.append(self.literal())
            self.expect(")")
            return Compare(path, "NOT IN" if negate else "IN", tuple(values))
        if self.keyword("INCLUDES", "EXCLUDES"):
            raise QueryError("MALFORMED_QUERY", _positioned(
                self.query, self.tok.pos, "sandbox: INCLUDES/EXCLUDES are not supported"))
        raise self.unexpected()

    def literal(self) -> Literal:
        token = self.tok
        if token.kind in ("STRING", "NUMBER", "DATE", "DATETIME", "RELDATE"):
            self.advance()
            return Literal(token.kind, token.value, token.pos, token.text)
        if self.keyword("TRUE", "FALSE"):
            self.advance()
            return Literal("BOOL", token.value == "TRUE", token.pos, token.text)
        if self.keyword("NULL"):
            self.advance()
            return Literal("NULL", None, token.pos, token.text)
        raise self.unexpected()


def parse(query: str) -> Query:
    return _Parser(query).parse()


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Resolved:
    """A field path bound to the schema: a direct field, or relationship + field name."""

    path: Path
    field: Field | None  # direct field (None for a relationship path)
    relationship: Field | None = None  # the reference field walked
    targets: tuple[SObject, ...] = ()
    target_field: str = ""  # canonical name on the target (or "Type")

    @property
    def output_key(self) -> str:
        return self.field.name if self.field else self.target_field

    def target_field_for(self, sobject: SObject) -> Field | None:
        return sobject.fields.get(self.target_field)

    def kind_field(self) -> Field | None:
        """A field describing this path's type (the first target's for a relationship)."""
        if self.field is not None:
            return self.field
        for target in self.targets:
            found = target.fields.get(self.target_field)
            if found is not None:
                return found
        return None


def _invalid_field(query: Query, path: Path, obj: SObject) -> QueryError:
    name = path.text.split(".")[0] if "." not in path.text else path.text
    return QueryError("INVALID_FIELD", _positioned(
        query.text, path.pos,
        f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names."))


def resolve(schema: Schema, query: Query, obj: SObject, path: Path) -> Resolved:
    parts = path.text.split(".")
    if len(parts) > 1 and parts[0].lower() == obj.name.lower():
        parts = parts[1:]
    if len(parts) == 1:
        found = obj.field(parts[0])
        if found is None:
            raise _invalid_field(query, path, obj)
        return Resolved(path, found)
    if len(parts) > 2:
        raise QueryError("MALFORMED_QUERY", _positioned(
            query.text, path.pos, "sandbox: only one level of relationship is supported"))
    relationship = obj.relationship(parts[0])
    if relationship is None:
        raise QueryError("INVALID_FIELD", _positioned(
            query.text, path.pos,
            f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting "
            "to use a custom relationship, be sure to append the '__r' after the custom "
            "relationship name. Please reference your WSDL or the describe call for the "
            "appropriate names."))
    targets = tuple(t for t in (schema.get(name) for name in relationship.reference_to) if t)
    if parts[1].lower() == "type" and len(relationship.reference_to) > 1:
        return Resolved(path, None, relationship, targets, "Type")
    for target in targets:
        found = target.field(parts[1])
        if found is not None:
            return Resolved(path, None, relationship, targets, found.name)
    raise QueryError("INVALID_FIELD", _positioned(
        query.text, path.pos + len(parts[0]) + 1,
        f"No such column '{parts[1]}' on entity '{targets[0].name if targets else parts[0]}'. "
        "If you are attempting to use a custom field, be sure to append the '__c' after the "
        "custom field name. Please reference your WSDL or the describe call for the "
        "appropriate names."))


# --------------------------------------------------------------------------- evaluation

Record = dict[str, Any]
Lookup = Callable[[str], tuple[SObject, Record] | None]


@functools.lru_cache(maxsize=65536)
def _moment(text: str) -> dt.datetime | None:
    return parse_datetime(text)


def _filter_type_error(query: Query, resolved: Resolved, literal: Literal, kind: str,
                       quoted: bool) -> QueryError:
    quoting = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    name = resolved.path.text
    return QueryError("INVALID_QUERY_FILTER_OPERATOR", _positioned(
        query.text, literal.pos,
        f"value of filter criterion for field '{name}' must be of type {kind} and {quoting}"))


class Evaluator:
    """Compiles a parsed query against the schema and runs it over records."""

    def __init__(self, schema: Schema, query: Query, lookup: Lookup, now: dt.datetime) -> None:
        self.schema = schema
        self.query = query
        self.lookup = lookup
        self.now = now
        obj = schema.get(query.sobject)
        if obj is None:
            raise QueryError("INVALID_TYPE", _positioned(
                query.text, query.sobject_pos,
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use "
                "a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names."))
        self.sobject = obj
        self.select = [resolve(schema, query, obj, p) for p in query.select]
        seen: set[str] = set()
        for item in self.select:
            key = item.path.text.lower()
            if key in seen:
                raise QueryError("MALFORMED_QUERY", _positioned(
                    query.text, item.path.pos, f"duplicate field selected: {item.path.text}"))
            seen.add(key)
        self.predicate = self._compile(query.where) if query.where is not None else None
        self.order = [(resolve(schema, query, obj, o.path), o) for o in query.order]

    # ---------------------------------------------------------------- values

    def value(self, resolved: Resolved, record: Record) -> Any:
        if resolved.field is not None:
            return record.get(resolved.field.name)
        ref = record.get(resolved.relationship.name) if resolved.relationship else None
        if not ref:
            return None
        found = self.lookup(ref)
        if found is None:
            return None
        target, parent = found
        if resolved.target_field == "Type":
            return target.name
        return parent.get(resolved.target_field)

    def parent(self, resolved: Resolved, record: Record) -> tuple[SObject, Record] | None:
        ref = record.get(resolved.relationship.name) if resolved.relationship else None
        return self.lookup(ref) if ref else None

    # ---------------------------------------------------------------- WHERE

    def _compile(self, node: Any) -> Callable[[Record], bool]:
        if isinstance(node, BoolOp):
            parts = [self._compile(p) for p in node.parts]
            if node.op == "AND":
                return lambda r: all(p(r) for p in parts)
            if node.op == "OR":
                return lambda r: any(p(r) for p in parts)
            inner = parts[0]
            return lambda r: not inner(r)
        assert isinstance(node, Compare)
        resolved = resolve(self.schema, self.query, self.sobject, node.path)
        field_ = resolved.kind_field()
        kind = "string" if resolved.target_field == "Type" or field_ is None else field_.type
        getter = functools.partial(self.value, resolved)
        if node.op == "LIKE":
            literal = node.values[0]
            if literal.kind != "STRING":
                raise _filter_type_error(self.query, resolved, literal, "string", True)
            if field_ is not None and not (field_.is_text or field_.is_id):
                raise QueryError("INVALID_QUERY_FILTER_OPERATOR", _positioned(
                    self.query.text, node.path.pos,
                    f"invalid operator on {kind} field: LIKE"))
            pattern = _like_regex(literal.value)
            return lambda r: (v := getter(r)) is not None and bool(pattern.match(str(v)))
        keys = [self._literal_key(resolved, kind, lit, node.op) for lit in node.values]
        convert = self._record_key(kind)
        if node.op in ("IN", "NOT IN"):
            wanted = {k for k in keys if not isinstance(k, _Range)}
            ranges = [k for k in keys if isinstance(k, _Range)]
            negate = node.op == "NOT IN"

            def member(record: Record) -> bool:
                key = convert(getter(record))
                hit = key in wanted or any(rng.contains(key) for rng in ranges if key is not None)
                return hit != negate

            return member
        key = keys[0]
        return _comparator(node.op, key, getter, convert)

    def _record_key(self, kind: str) -> Callable[[Any], Any]:
        if kind in ("double", "currency", "percent", "int"):
            return lambda v: None if v is None else float(v)
        if kind == "datetime":
            return lambda v: None if v is None else _moment(v)
        if kind in ("boolean", "date", "id", "reference"):
            return lambda v: v
        return lambda v: None if v is None else str(v).casefold()

    def _literal_key(self, resolved: Resolved, kind: str, literal: Literal, op: str) -> Any:
        if literal.kind == "NULL":
            return None
        if kind in ("double", "currency", "percent", "int"):
            if literal.kind != "NUMBER":
                raise _filter_type_error(self.query, resolved, literal, "double"
                                         if kind != "int" else "int", False)
            return float(literal.value)
        if kind == "boolean":
            if literal.kind != "BOOL":
                raise _filter_type_error(self.query, resolved, literal, "boolean", False)
            return literal.value
        if kind == "date":
            if literal.kind == "RELDATE":
                return self._relative(literal, dates=True)
            if literal.kind != "DATE":
                raise _filter_type_error(self.query, resolved, literal, "date", False)
            if parse_date(literal.value) is None:
                raise QueryError("MALFORMED_QUERY", _positioned(
                    self.query.text, literal.pos, f"line 1:{literal.pos} no viable alternative "
                    f"at character '{literal.text}'"))
            return literal.value
        if kind == "datetime":
            if literal.kind == "RELDATE":
                return self._relative(literal, dates=False)
            if literal.kind != "DATETIME":
                raise _filter_type_error(self.query, resolved, literal, "dateTime", False)
            moment = parse_datetime(literal.value)
            if moment is None:
                raise _filter_type_error(self.query, resolved, literal, "dateTime", False)
            return moment
        if literal.kind != "STRING":
            raise _filter_type_error(self.query, resolved, literal, "string", True)
        text = literal.value.replace(_WILD_PERCENT, "%").replace(_WILD_UNDERSCORE, "_")
        if kind in ("id", "reference"):
            canonical = ids.normalize(text)
            if canonical is None:
                if op in ("=", "!=", "IN", "NOT IN") and text == "":
                    return ""
                raise QueryError("INVALID_QUERY_FILTER_OPERATOR", _positioned(
                    self.query.text, literal.pos, f"invalid ID field: {text}"))
            return canonical
        return text.casefold()

    def _relative(self, literal: Literal, dates: bool) -> _Range:
        name, n = literal.value
        today = self.now.date()
        if name in _RELATIVE_DATES:
            start = end = today + dt.timedelta(days=_RELATIVE_DATES[name])
        elif name == "LAST_N_DAYS":
            start, end = today - dt.timedelta(days=n), today
        elif name == "NEXT_N_DAYS":
            start, end = today, today + dt.timedelta(days=n)
        else:  # N_DAYS_AGO
            start = end = today - dt.timedelta(days=n)
        if dates:
            return _Range(start.isoformat(), end.isoformat(), inclusive_end=True)
        lo = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
        hi = dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        return _Range(lo, hi, inclusive_end=False)

    # ---------------------------------------------------------------- running

    def matches(self, record: Record) -> bool:
        return self.predicate is None or self.predicate(record)

    def sort(self, records: list[Record]) -> list[Record]:
        out = list(records)
        for resolved, item in reversed(self.order):
            field_ = resolved.kind_field()
            kind = "string" if field_ is None else field_.type
            convert = self._record_key(kind)
            null_flag = 1 if item.nulls_first == item.descending else 0

            def key(record: Record, resolved: Resolved = resolved,
                    convert: Callable[[Any], Any] = convert, null_flag: int = null_flag) -> Any:
                value = convert(self.value(resolved, record))
                if value is None:
                    return (null_flag, 0)
                return (1 - null_flag, value)

            out.sort(key=key, reverse=item.descending)
        return out

    def project(self, record: Record, version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(self.sobject.name, record["Id"], version)}
        for resolved in self.select:
            if resolved.field is not None:
                out[resolved.field.name] = record.get(resolved.field.name)
                continue
            assert resolved.relationship is not None
            key = resolved.relationship.relationship_name or resolved.relationship.name
            found = self.parent(resolved, record)
            if found is None:
                out.setdefault(key, None)
                continue
            target, parent = found
            nested = out.get(key)
            if nested is None:
                nested = {"attributes": _attributes(target.name, parent["Id"], version)}
                out[key] = nested
            if resolved.target_field == "Type":
                nested["Type"] = target.name
            else:
                nested[resolved.target_field] = parent.get(resolved.target_field)
        return out


def _attributes(obj: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}


@dataclass(frozen=True)
class _Range:
    lo: Any
    hi: Any
    inclusive_end: bool

    def contains(self, value: Any) -> bool:
        if value is None:
            return False
        return self.lo <= value and (value <= self.hi if self.inclusive_end else value < self.hi)

    def before(self, value: Any) -> bool:  # value < range
        return value < self.lo

    def after(self, value: Any) -> bool:  # value > range
        return value > self.hi if self.inclusive_end else value >= self.hi


def _comparator(op: str, key: Any, getter: Callable[[Record], Any],
                convert: Callable[[Any], Any]) -> Callable[[Record], bool]:
    if isinstance(key, _Range):
        rng = key

        def ranged(record: Record) -> bool:
            value = convert(getter(record))
            if op == "!=":
                return not rng.contains(value)
            if value is None:
                return False
            return {
                "=": rng.contains(value),
                "<": rng.before(value),
                "<=": not rng.after(value),
                ">": rng.after(value),
                ">=": not rng.before(value),
            }[op]

        return ranged
    if op == "=":
        return lambda r: convert(getter(r)) == key
    if op == "!=":
        return lambda r: convert(getter(r)) != key
    if key is None:
        return lambda r: False

    def ordered(record: Record) -> bool:
        value = convert(getter(record))
        if value is None:
            return False
        if op == "<":
            return value < key
        if op == "<=":
            return value <= key
        if op == ">":
            return value > key
        return value >= key

    return ordered


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        elif ch == _WILD_PERCENT:
            out.append("%")
        elif ch == _WILD_UNDERSCORE:
            out.append("_")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.IGNORECASE | re.DOTALL)
