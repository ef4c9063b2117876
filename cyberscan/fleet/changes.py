"""What changed for one commune between two runs: new, fixed, regressed, still open and waived findings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..bounds import clip
from ..models import Severity

#: statuses that are a problem to fix (scored below a pass)
OPEN = frozenset({"fail", "warn"})
#: how bad a status is, for "now worse than before"; unknown outcomes (error, not_tested) rank nowhere
_BADNESS = {"pass": 0, "info": 0, "not_applicable": 0, "warn": 1, "fail": 2}
#: the status given to a finding that disappeared from the current report
ABSENT = "absent"
KINDS = ("new", "regressed", "fixed", "still_open", "waived")
_TEXT = 500

Identity = tuple[str, str, str]


@dataclass(frozen=True)
class FindingChange:
    """One finding compared with the previous run. `first_seen` is an ISO date (age = run date − it)."""

    kind: str  # "new" | "fixed" | "regressed" | "still_open" | "waived"
    check_id: str
    target: str
    resource: str
    severity: str
    status: str
    previous_status: str | None
    first_seen: str | None
    title: str
    message: str


@dataclass(frozen=True)
class CommuneChanges:
    """Everything that changed for one commune since its previous run (the alerts' input)."""

    commune: str
    insee: str
    contacts: tuple[str, ...]
    grade: str | None
    previous_grade: str | None
    score: float | None
    previous_score: float | None
    changes: tuple[FindingChange, ...]

    def alerts(self, threshold: str = "high") -> tuple[FindingChange, ...]:
        """Every regression, and the new findings at or above `threshold` (what deserves a mail)."""
        minimum = Severity(threshold).rank
        return tuple(
            c
            for c in self.changes
            if c.kind == "regressed" or (c.kind == "new" and _rank(c.severity) >= minimum)
        )

    def of_kind(self, kind: str) -> tuple[FindingChange, ...]:
        return tuple(c for c in self.changes if c.kind == kind)


def _rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return -1


def _text(value: Any) -> str:
    return clip(str(value), _TEXT) if value is not None else ""


def findings_of(report: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The findings of a canonical report, whatever target they belong to (malformed entries skipped)."""
    for target in report.get("targets") or ():
        if isinstance(target, Mapping):
            for finding in target.get("findings") or ():
                if isinstance(finding, Mapping):
                    yield finding


def identity(finding: Mapping[str, Any]) -> Identity:
    """A finding's identity across runs."""
    return (
        str(finding.get("check_id", "")),
        str(finding.get("target", "")),
        str(finding.get("resource", "")),
    )


def is_waived(finding: Mapping[str, Any]) -> bool:
    waiver = finding.get("waiver")
    return isinstance(waiver, Mapping) and not waiver.get("expired", False)


def _grade(report: Mapping[str, Any] | None) -> tuple[str | None, float | None]:
    grade = report.get("grade") if report is not None else None
    if not isinstance(grade, Mapping):
        return None, None
    letter, score = grade.get("letter"), grade.get("score")
    return (str(letter) if letter else None), (float(score) if isinstance(score, int | float) else None)


def run_date(report: Mapping[str, Any] | None) -> str | None:
    """The ISO date a report's run started on."""
    started = report.get("started_at") if report is not None else None
    return str(started)[:10] if isinstance(started, str) and len(started) >= 10 else None


def _kind(status: str, previous: str | None, waived: bool) -> str | None:
    if status in OPEN and waived:
        return "waived"
    if status in OPEN:
        if previous is None or previous not in _BADNESS:
            # Never seen, or not decided last time (error, not_tested): nothing to compare with.
            return "new"
        return "regressed" if _BADNESS[status] > _BADNESS[previous] else "still_open"
    if previous in OPEN and status in _BADNESS:
        return "fixed"
    return None  # passing both times, or now undecided (error): neither fixed nor open


def compare(
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    *,
    contacts: tuple[str, ...] = (),
    first_seen: Mapping[Identity, str] | None = None,
) -> CommuneChanges:
    """Compare two canonical JSON reports of one commune (`previous` None: its first run).

    Args:
        contacts: the commune's contacts from the inventory, carried for the alerts.
        first_seen: per finding identity, the date it was first seen open (from the history); without
            it, an open finding carried over is dated from the previous run at the latest.
    """
    before = {identity(f): f for f in findings_of(previous)} if previous is not None else {}
    today, previous_day = run_date(current), run_date(previous)
    seen = first_seen or {}
    changes: list[FindingChange] = []
    met: set[Identity] = set()
    for finding in findings_of(current):
        key = identity(finding)
        met.add(key)
        status = str(finding.get("status", ""))
        old = before.get(key)
        old_status = str(old.get("status")) if old is not None else None
        kind = _kind(status, old_status, is_waived(finding))
        if kind is None:
            continue
        if kind in ("new", "regressed"):
            since = seen.get(key) or today
        elif kind == "fixed":
            since = seen.get(key) or previous_day
        else:
            since = seen.get(key) or previous_day or today
        changes.append(_change(kind, finding, status, old_status, since))
    for key, old in before.items():
        old_status = str(old.get("status", ""))
        if key not in met and old_status in OPEN and not is_waived(old):
            changes.append(_change("fixed", old, ABSENT, old_status, seen.get(key) or previous_day))
    changes.sort(key=lambda c: (KINDS.index(c.kind), -_rank(c.severity), c.check_id, c.target, c.resource))
    commune = current.get("commune") if isinstance(current.get("commune"), Mapping) else {}
    assert isinstance(commune, Mapping)
    grade, score = _grade(current)
    previous_grade, previous_score = _grade(previous)
    return CommuneChanges(
        commune=_text(commune.get("name")),
        insee=_text(commune.get("insee")),
        contacts=tuple(contacts),
        grade=grade,
        previous_grade=previous_grade,
        score=score,
        previous_score=previous_score,
        changes=tuple(changes),
    )


def _change(
    kind: str, finding: Mapping[str, Any], status: str, previous: str | None, since: str | None
) -> FindingChange:
    check_id, target, resource = identity(finding)
    return FindingChange(
        kind=kind,
        check_id=check_id,
        target=target,
        resource=resource,
        severity=str(finding.get("severity", "")),
        status=status,
        previous_status=previous,
        first_seen=since,
        title=_text(finding.get("title")),
        message=_text(finding.get("message")),
    )
