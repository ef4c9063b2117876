"""Accepted risks (`[[waivers]]`): a waived finding stays listed but leaves the score until it expires."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .models import Finding, Status

REQUIRED = ("check", "reason", "owner", "expires")
OPTIONAL = ("resource",)
MAX_TEXT = 300
_GLOB_CHARS = set("*?[")


class WaiverError(ValueError):
    """A `[[waivers]]` entry is invalid; `key` names the offending key (None: the entry itself)."""

    def __init__(self, key: str | None, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Waiver:
    """One accepted risk: which check (ID or glob) on which resources (fnmatch), why, who, until when."""

    check: str
    resource: str
    reason: str
    owner: str
    #: last day the waiver applies (inclusive)
    expires: date

    def matches(self, finding: Finding) -> bool:
        # Case-sensitive on purpose: a resource pattern is compared exactly as the report prints it.
        return fnmatch.fnmatchcase(finding.check_id, self.check) and fnmatch.fnmatchcase(
            finding.resource, self.resource
        )

    def expired(self, today: date) -> bool:
        return today > self.expires

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "resource": self.resource,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
        }


@dataclass(frozen=True)
class WaiverMark:
    """What a finding's `waiver` key says: the waiver that matched it, and whether it had expired."""

    waiver: Waiver
    expired: bool

    def to_json(self) -> dict[str, Any]:
        w = self.waiver
        return {
            "reason": w.reason,
            "owner": w.owner,
            "expires": w.expires.isoformat(),
            "expired": self.expired,
        }


@dataclass(frozen=True)
class WaiverOutcome:
    """Waivers applied to a run: one mark (or None) per finding, in order; expired and unused waivers."""

    marks: tuple[WaiverMark | None, ...]
    expired: tuple[Waiver, ...]
    unused: tuple[Waiver, ...]

    def to_json(self) -> dict[str, Any]:
        return {"expired": [w.to_json() for w in self.expired], "unused": [w.to_json() for w in self.unused]}


def apply_waivers(findings: Sequence[Finding], waivers: Sequence[Waiver], today: date) -> WaiverOutcome:
    """Mark the fail/warn findings that waivers match, as of `today` (the scan's start, never the clock).

    A live waiver takes the finding out of the score; when only expired waivers match, the finding
    keeps counting and is flagged `expired`. The first matching waiver in configuration order wins.
    Expired waivers are all listed; live ones that matched no fail/warn finding are listed as unused.
    """
    used: set[int] = set()
    marks: list[WaiverMark | None] = []
    for finding in findings:
        if finding.status not in (Status.FAIL, Status.WARN):
            marks.append(None)
            continue
        matching = [i for i, w in enumerate(waivers) if w.matches(finding)]
        used.update(matching)
        live = [i for i in matching if not waivers[i].expired(today)]
        if live:
            marks.append(WaiverMark(waivers[live[0]], expired=False))
        elif matching:
            marks.append(WaiverMark(waivers[matching[0]], expired=True))
        else:
            marks.append(None)
    expired = tuple(w for w in waivers if w.expired(today))
    unused = tuple(w for i, w in enumerate(waivers) if i not in used and not w.expired(today))
    return WaiverOutcome(tuple(marks), expired, unused)


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise WaiverError(key, f"'{key}' must be a non-empty string")
    if len(value) > MAX_TEXT or not value.isprintable():
        raise WaiverError(key, f"'{key}' must be one printable line of at most {MAX_TEXT} characters")
    return value.strip()


def parse_waiver(raw: Any, check_ids: Iterable[str]) -> Waiver:
    """Validate one `[[waivers]]` table against the known check IDs (raises WaiverError)."""
    if not isinstance(raw, dict):
        raise WaiverError(None, "each waiver is a table: [[waivers]] with check, reason, owner, expires")
    for key in raw:
        if key not in REQUIRED + OPTIONAL:
            raise WaiverError(key, f"unknown waiver key '{key}' (expected {sorted(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in raw:
            raise WaiverError(None, f"waiver without '{key}' (required: {', '.join(REQUIRED)})")
    check = _text(raw, "check").upper()
    known = sorted(check_ids)
    if _GLOB_CHARS & set(check):
        if not any(fnmatch.fnmatchcase(cid, check) for cid in known):
            raise WaiverError("check", f"waiver pattern '{check}' matches no check")
    elif check not in known:
        raise WaiverError("check", f"unknown check '{check}' in waiver (see `cyberscan checks list`)")
    expires = raw["expires"]
    # tomllib gives a datetime for "2027-03-31T00:00:00", and datetime is a date subclass: refuse it.
    if isinstance(expires, datetime) or not isinstance(expires, date):
        raise WaiverError(
            "expires", "'expires' must be a TOML date without quotes, e.g. expires = 2027-03-31"
        )
    resource = _text(raw, "resource") if "resource" in raw else "*"
    return Waiver(check, resource, _text(raw, "reason"), _text(raw, "owner"), expires)
