"""Bound what a target sends back before it reaches a report: length, item count and depth."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MAX_TEXT = 512
MAX_PARAM_TEXT = 200
#: a finding's resource is often a URL the target chose (a redirect's Location)
MAX_RESOURCE = 300
MAX_ITEMS = 50
MAX_DEPTH = 4
_ELLIPSIS = "…"


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Cut `text` to `limit` characters, marking the cut, and drop control characters."""
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + _ELLIPSIS


def _bound(value: Any, depth: int, text_limit: int) -> Any:
    if isinstance(value, str):
        return clip(value, text_limit)
    if isinstance(value, bytes):
        return clip(value.decode("utf-8", "replace"), text_limit)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= MAX_DEPTH:
        return clip(repr(value), text_limit)
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {clip(str(k), 100): _bound(v, depth + 1, text_limit) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            out["_truncated"] = len(items) - MAX_ITEMS
        return out
    if isinstance(value, list | tuple | set | frozenset):
        seq = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
        bounded = [_bound(v, depth + 1, text_limit) for v in seq[:MAX_ITEMS]]
        if len(seq) > MAX_ITEMS:
            bounded.append(f"{_ELLIPSIS} +{len(seq) - MAX_ITEMS}")
        return bounded
    return clip(str(value), text_limit)


def bound_evidence(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """Make evidence small and JSON-safe."""
    result = _bound(evidence, 0, MAX_TEXT)
    assert isinstance(result, dict)
    return result


def bound_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Make message parameters short: they are inlined into sentences."""
    return {k: _bound(v, MAX_DEPTH - 1, MAX_PARAM_TEXT) for k, v in params.items()}


def join_bounded(items: Iterable[str], limit: int = 6) -> str:
    """Distinct items joined for a message, at most `limit` shown then "(+N)": a hostile target's
    hundred names must not make a one-line message a page long."""
    unique = list(dict.fromkeys(items))
    shown = ", ".join(unique[:limit])
    return shown + (f" (+{len(unique) - limit})" if len(unique) > limit else "")
