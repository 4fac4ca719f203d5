"""'Did you mean ...?' for unknown keys in the config and the mapping files.

Matching ignores case, so a section written `[SYNC]` is pointed at `sync`.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to `name` (case-insensitive), or None when none is close."""
    by_folded: dict[str, str] = {}
    for candidate in known:
        by_folded.setdefault(candidate.casefold(), candidate)
    folded = name.casefold()
    if folded in by_folded:
        return by_folded[folded]
    found = difflib.get_close_matches(folded, list(by_folded), n=1)
    return by_folded[found[0]] if found else None


def unknown_key(name: str, known: Iterable[str]) -> str:
    """`unknown key 'SYNC'; did you mean 'sync'?` (without the hint when nothing is close)."""
    known = list(known)
    text = f"unknown key {name!r}"
    match = closest(name, known)
    if match is not None:
        text += f"; did you mean {match!r}?"
    return text


def model_keys(root: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the model at `loc` under `root` accepts (best effort; [] when it cannot
    tell): the names an unknown key is compared with."""
    current: Any = root
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    model = _as_model(current, None)
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _step(tp: Any, part: str | int) -> Any:
    if isinstance(part, str) and part.startswith("<"):
        return _as_model(tp, part)
    tp = _unwrap(tp)
    origin = typing.get_origin(tp)
    if isinstance(part, int):
        return typing.get_args(tp)[0] if origin is list else None
    if origin is dict:
        return typing.get_args(tp)[1]
    model = _as_model(tp, None)
    if model is None:
        return None
    for name, field in model.model_fields.items():
        if part in (name, field.alias):
            return field.annotation
    return None


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _as_model(tp: Any, tag: str | None) -> type[BaseModel] | None:
    """The model `tp` stands for; in a tagged union, the member carrying `tag`."""
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and tag is not None:
        for member in typing.get_args(tp):
            metadata = getattr(member, "__metadata__", ())
            if any(getattr(m, "tag", None) == tag for m in metadata):
                return _as_model(typing.get_args(member)[0], None)
    return None


__all__ = ["closest", "model_keys", "unknown_key"]
