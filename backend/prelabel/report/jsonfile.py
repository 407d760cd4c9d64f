"""metrics.json: the report's typed records (document.ReportMetrics and its parts) as JSON, and back. The one place a
figure has a string key: each record's fields, in their order, are its keys.

Two field markers shape the document: `OMIT_NONE` (the key is left out while the value is None: a region
project's figures) and `INLINE` (a record's fields stand among its parent's: the comparison's paired test).
A record with a `code` field that is not an argument (the policies) is told apart from the others of a union by
that code. Integers stay integers and floats floats, so a file read back and written again is the same text.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

OMIT_NONE: Mapping[str, bool] = {"omit_none": True}
INLINE: Mapping[str, bool] = {"inline": True}

# What json.dumps takes and json.loads gives.
Json = dict[str, "Json"] | list["Json"] | str | int | float | bool | None

R = TypeVar("R")


def dumps(record: object) -> str:
    """The document as metrics.json holds it (UTF-8 text, labels unescaped, one space per level)."""
    return json.dumps(to_json(record), ensure_ascii=False, indent=1)


def loads(cls: type[R], text: str) -> R:
    return from_json(cls, json.loads(text))


def to_json(value: object) -> Json:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields_json(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not a part of metrics.json: {value!r}")


def _fields_json(record: object) -> dict[str, Json]:
    found: dict[str, Json] = {}
    for field in dataclasses.fields(record):  # type: ignore[arg-type]  # a dataclass instance (to_json checked)
        value = getattr(record, field.name)
        if field.metadata.get("omit_none") and value is None:
            continue
        if field.metadata.get("inline"):
            found.update(_fields_json(value))
        else:
            found[field.name] = to_json(value)
    return found


# ---- reading back: the JSON boundary, where values are Any until their record's type hints check them -------

def from_json(cls: type[R], data: Any) -> R:
    found: R = _read(cls, data, cls.__name__)
    return found


def _read(kind: Any, data: Any, where: str) -> Any:  # kind: a type hint, data: parsed JSON (both untyped here)
    origin = typing.get_origin(kind)
    if kind is Any:
        return data
    if origin in (Union, types.UnionType):
        return _read_union(typing.get_args(kind), data, where)
    if origin is Literal:
        if data not in typing.get_args(kind):
            raise ValueError(f"{where}: {data!r} is none of {typing.get_args(kind)}")
        return data
    if dataclasses.is_dataclass(kind):
        return _read_record(kind, data, where)
    if origin is tuple:
        return _read_tuple(typing.get_args(kind), data, where)
    if origin in (dict, Mapping):
        key_kind, value_kind = typing.get_args(kind)
        _check(data, dict, where)
        return {(int(key) if key_kind is int else key): _read(value_kind, value, f"{where}.{key}")
                for key, value in data.items()}
    if kind is float:
        _check(data, int | float, where)
        return data  # an integer kept as such: written back, it reads the same
    if kind in (int, str, bool):
        _check(data, kind, where)
        return data
    raise TypeError(f"{where}: no JSON reading for {kind!r}")


def _read_union(kinds: tuple[Any, ...], data: Any, where: str) -> Any:
    if data is None and type(None) in kinds:
        return None
    rest = [kind for kind in kinds if kind is not type(None)]
    records = [kind for kind in rest if dataclasses.is_dataclass(kind)]
    if len(records) > 1:  # records told apart by their code
        _check(data, dict, where)
        chosen = [kind for kind in records if _code(kind) == data.get("code")]
        if len(chosen) != 1:
            raise ValueError(f"{where}: no single record of code {data.get('code')!r}")
        return _read_record(chosen[0], data, where)
    if len(rest) != 1:
        raise TypeError(f"{where}: no JSON reading for a union of {rest!r}")
    return _read(rest[0], data, where)


def _code(kind: Any) -> object:
    codes = [field.default for field in dataclasses.fields(kind) if field.name == "code"]
    return codes[0] if codes else None


def _read_record(kind: Any, data: Any, where: str, whole: bool = True) -> Any:
    """whole: the data holds this record only (False: an INLINE record's fields among its parent's)."""
    _check(data, dict, where)
    hints = typing.get_type_hints(kind)
    given: dict[str, Any] = {}
    used: set[str] = set()
    for field in dataclasses.fields(kind):
        if field.metadata.get("inline"):
            inner = _read_record(hints[field.name], data, f"{where}.{field.name}", whole=False)
            used.update(f.name for f in dataclasses.fields(inner))
            given[field.name] = inner
            continue
        used.add(field.name)
        if field.name not in data:
            if field.metadata.get("omit_none"):
                given[field.name] = None
                continue
            raise ValueError(f"{where}: no {field.name!r}")
        value = _read(hints[field.name], data[field.name], f"{where}.{field.name}")
        if field.init:
            given[field.name] = value
        elif value != field.default:
            raise ValueError(f"{where}.{field.name}: {value!r}, not {field.default!r}")
    if whole and set(data) - used:
        raise ValueError(f"{where}: unknown keys {sorted(set(data) - used)}")
    return kind(**given)


def _read_tuple(kinds: tuple[Any, ...], data: Any, where: str) -> tuple[Any, ...]:
    _check(data, list, where)
    if len(kinds) == 2 and kinds[1] is Ellipsis:
        return tuple(_read(kinds[0], item, f"{where}[{index}]") for index, item in enumerate(data))
    if len(kinds) != len(data):
        raise ValueError(f"{where}: {len(data)} items, not {len(kinds)}")
    return tuple(_read(kind, item, f"{where}[{index}]") for index, (kind, item) in enumerate(zip(kinds, data,
                                                                                                   strict=True)))


def _check(data: Any, kind: Any, where: str) -> None:
    if not isinstance(data, kind) or (kind in (int, int | float) and isinstance(data, bool)):
        raise ValueError(f"{where}: {data!r} is not {getattr(kind, '__name__', kind)}")
