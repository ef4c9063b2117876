"""Convert facts dataclasses to JSON-safe values and back, driven by their type hints.

Written by hand because the dependency set is fixed and the need is small: facts are frozen
dataclasses made of str/int/float/bool/None, enums, tuples, lists, dicts with str keys and nested
dataclasses. pydantic (pulled in by sslyze) would do it, but would tie plugin authors to its
version range.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections import abc
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union, get_args, get_origin

T = TypeVar("T")


class FactsDecodeError(ValueError):
    """Saved facts do not match the shape the code expects."""


def to_jsonable(value: Any) -> Any:
    """Turn a facts value into plain JSON types (dicts keep field order)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"not JSON-safe in facts: {type(value).__name__}")


def from_jsonable(cls: type[T], data: Any) -> T:
    """Rebuild a dataclass instance of `cls` from `to_jsonable` output (raises FactsDecodeError)."""
    try:
        return typing.cast(T, _decode(cls, data, cls.__name__))
    except FactsDecodeError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise FactsDecodeError(f"{cls.__name__}: {exc}") from None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, data: Any, where: str) -> Any:
    if tp is Any:
        return data
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if data is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _decode(arg, data, where)
            except (FactsDecodeError, TypeError, ValueError, KeyError):
                continue
        raise FactsDecodeError(f"{where}: {data!r} matches none of {tp}")
    if origin in (list, tuple, abc.Sequence) or tp in (list, tuple):
        if not isinstance(data, list):
            raise FactsDecodeError(f"{where}: expected a list")
        args = get_args(tp)
        item = args[0] if args else Any
        items = [_decode(item, v, f"{where}[]") for v in data]
        return tuple(items) if (origin or tp) is tuple else items
    if origin in (dict, abc.Mapping) or tp is dict:
        if not isinstance(data, dict):
            raise FactsDecodeError(f"{where}: expected an object")
        args = get_args(tp)
        value_type = args[1] if args else Any
        return {str(k): _decode(value_type, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise FactsDecodeError(f"{where}: expected an object for {tp.__name__}")
        hints = _hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _decode(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FactsDecodeError(f"{where}: missing field {f.name!r}")
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if tp in (str, int, bool) and type(data) is tp:
        return data
    if tp is type(None) and data is None:
        return None
    raise FactsDecodeError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {type(data).__name__}")
