"""The account-score formula of `[account] method = "formula"`: a small arithmetic language,
parsed here and never handed to `eval`.

Grammar (Python's expression syntax is used only to split the text into a tree; every node
outside this list is refused with the reason):

    expr   := number | name | expr (+ | - | * | /) expr | - expr | ( expr )
            | min(expr, expr, ...) | max(expr, expr, ...)
    name   := one of VARIABLES

A division by zero gives 0. At most `MAX_FORMULA_LENGTH` characters and `MAX_NODES` nodes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

MAX_FORMULA_LENGTH = 300
MAX_NODES = 60

# The values a formula can use, all computed per account by `scoring.accounts`.
VARIABLES: Mapping[str, str] = {
    "best": "the highest contact score",
    "second": "the second-highest contact score (0 when there is none)",
    "third": "the third-highest contact score (0 when there is none)",
    "sum": "the sum of the contact scores",
    "mean": "the mean contact score",
    "contacts": "the number of contacts of the account",
    "engaged": "the number of engaged contacts",
    "roles": "the number of distinct roles among the engaged contacts",
    "buying_group": "1 when the buying group is complete, else 0",
}

Formula = Callable[[Mapping[str, float]], float]

_BINARY: Mapping[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b if b else 0.0,
}
_FUNCTIONS: Mapping[str, Callable[..., float]] = {"min": min, "max": max}


def compile_formula(text: str) -> Formula:
    """`text` as a function of the variables; ValueError (saying why) when it is not in the
    grammar above."""
    if len(text) > MAX_FORMULA_LENGTH:
        raise ValueError(f"formula longer than {MAX_FORMULA_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"formula is not valid arithmetic ({exc.msg})") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ValueError(f"formula has more than {MAX_NODES} parts")
    return _node(tree.body)


def _node(node: ast.expr) -> Formula:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = float(node.value)
        return lambda _v: value
    if isinstance(node, ast.Name):
        name = node.id
        if name not in VARIABLES:
            raise ValueError(
                f"unknown name {name!r} in formula (known: {', '.join(VARIABLES)})"
            )
        return lambda v: float(v[name])
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _node(node.operand)
        if isinstance(node.op, ast.USub):
            return lambda v: -inner(v)
        return inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op, left, right = _BINARY[type(node.op)], _node(node.left), _node(node.right)
        return lambda v: op(left(v), right(v))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and len(node.args) >= 2
    ):
        fn = _FUNCTIONS[node.func.id]
        args = [_node(arg) for arg in node.args]
        return lambda v: float(fn(a(v) for a in args))
    if isinstance(node, ast.Call):
        raise ValueError("only min(a, b, ...) and max(a, b, ...) can be called in a formula")
    raise ValueError(
        f"{type(node).__name__} is not allowed in a formula: use numbers, the names "
        f"{', '.join(VARIABLES)}, + - * /, parentheses, min() and max()"
    )


__all__ = ["MAX_FORMULA_LENGTH", "VARIABLES", "Formula", "compile_formula"]
