"""Grade a run as checklist §2.2 says: area scores, a weighted global score, a capped letter A–E."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import Finding, Severity, Status
from ..owners import Owner

#: the five scored areas of the checklist, in the order of their default weight
AREAS = ("SVC", "MAIL", "WEB", "TLS", "DNS")
DEFAULT_SEVERITY_WEIGHTS: Mapping[str, float] = {
    "critical": 10.0,
    "high": 6.0,
    "medium": 3.0,
    "low": 1.0,
    "info": 0.0,
}
# Where commune incidents come from (§2.2.4): ransomware entry, mailbox compromise, defacement/DDoS.
DEFAULT_AREA_WEIGHTS: Mapping[str, float] = {"SVC": 30.0, "MAIL": 25.0, "WEB": 20.0, "TLS": 15.0, "DNS": 10.0}
#: a provider-managed finding counts half in the commune's grade (§0.5): it is still listed in full
DEFAULT_PROVIDER_FACTOR = 0.5

_RESULT = {Status.PASS: 1.0, Status.WARN: 0.5, Status.FAIL: 0.0}
_THRESHOLDS = (("A", 90.0), ("B", 75.0), ("C", 60.0), ("D", 40.0))
# A = 5 … E = 1, so that a commune also using ANSSI's SILENE (which rates exposed services on a 1–5
# scale) sees a comparable level. The direction of SILENE's scale (is 5 the best?) is unverified.
LEVELS: Mapping[str, int] = {"A": 5, "B": 4, "C": 3, "D": 2, "E": 1}
# Green, light green, yellow, orange, red: each gives at least 4.5:1 contrast with black text (WCAG
# AA), and the letter is always printed on it, so the grade never rests on colour alone.
COLOURS: Mapping[str, str] = {"A": "#43a047", "B": "#9ccc65", "C": "#fdd835", "D": "#fb8c00", "E": "#e53935"}
#: no letter (nothing could be scored): neutral grey, 7.8:1 with black text
NO_GRADE_COLOUR = "#9e9e9e"
#: how soon an open door should be closed (§2.3)
DELAYS: Mapping[str, str] = {"critical": "48h", "high": "1 month", "medium": "next_window"}
TOP_PULLED_DOWN = 3
OPEN_DOORS = 3


@dataclass(frozen=True)
class Weights:
    """Severity and area weights, and the provider factor (defaults from §2.2, `[report.weights]`)."""

    severity: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SEVERITY_WEIGHTS))
    area: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_AREA_WEIGHTS))
    provider_factor: float = DEFAULT_PROVIDER_FACTOR

    def area_weight(self, area: str) -> float:
        """A plugin's own area weighs nothing in the global score unless the configuration says so."""
        return self.area.get(area, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": {s.value: _number(self.severity.get(s.value, 0.0)) for s in Severity},
            "area": {a: _number(w) for a, w in _ordered_areas(self.area)},
            "provider_factor": _number(self.provider_factor),
        }


@dataclass(frozen=True)
class Graded:
    """A finding as the grade sees it: its area, who acts on it, and whether a waiver takes it out."""

    finding: Finding
    area: str
    owner: Owner
    effort: str | None = None
    waived: bool = False

    @property
    def result(self) -> float | None:
        """1 pass, 0.5 warn, 0 fail; None for what is never scored (info, n/a, not_tested, error, waived)."""
        return None if self.waived else _RESULT.get(self.finding.status)

    def weight(self, weights: Weights) -> float:
        base = weights.severity.get(self.finding.severity.value, 0.0)
        return base * weights.provider_factor if self.owner.provider_managed else base

    def loss(self, weights: Weights) -> float:
        """Weighted loss: how much this finding takes away from its area's Σ(weight × result)."""
        result = self.result
        return 0.0 if result is None else self.weight(weights) * (1.0 - result)

    def ref(self) -> dict[str, Any]:
        f = self.finding
        return {"check_id": f.check_id, "target": f.target, "resource": f.resource}


@dataclass(frozen=True)
class AreaGrade:
    """One area's score and what pulled it down."""

    area: str
    score: float | None
    weight: float
    counted: int
    failed: int
    #: (finding, score points it costs the area), largest first
    pulled_down_by: tuple[tuple[Graded, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "area": self.area,
            "score": self.score,
            "weight": _number(self.weight),
            "counted": self.counted,
            "failed": self.failed,
            "pulled_down_by": [
                {
                    **g.ref(),
                    "status": g.finding.status.value,
                    "severity": g.finding.severity.value,
                    "loss": loss,
                }
                for g, loss in self.pulled_down_by
            ],
        }


@dataclass(frozen=True)
class Cap:
    """Why the letter is held down whatever the score: a critical fail, or high fails."""

    reason: str
    check_ids: tuple[str, ...]
    #: the best letter the cap allows
    letter: str

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "check_ids": list(self.check_ids)}


@dataclass(frozen=True)
class Grade:
    """The grade of a whole run (one commune): global score, letter, areas, the three open doors."""

    score: float | None
    letter: str | None
    cap: Cap | None
    areas: tuple[AreaGrade, ...]
    weights: Weights
    open_doors: tuple[Graded, ...]

    @property
    def level(self) -> int | None:
        return LEVELS[self.letter] if self.letter else None

    @property
    def colour(self) -> str:
        return COLOURS[self.letter] if self.letter else NO_GRADE_COLOUR

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "letter": self.letter,
            "level": self.level,
            "colour": self.colour,
            "cap": self.cap.to_json() if self.cap else None,
            "areas": [a.to_json() for a in self.areas],
            "weights": self.weights.to_json(),
            "open_doors": [
                {
                    **g.ref(),
                    "severity": g.finding.severity.value,
                    "delay": DELAYS[g.finding.severity.value],
                    "owner": g.owner.to_json(),
                    "effort": g.effort,
                }
                for g in self.open_doors
            ],
        }


def letter_for(score: float) -> str:
    """The letter of a 0–100 score before caps: A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 40, else E."""
    for letter, minimum in _THRESHOLDS:
        if score >= minimum:
            return letter
    return "E"


def distinct(items: Sequence[Graded]) -> list[Graded]:
    """One item per (check, resource): the worst-scored when several targets reach the same resource.

    A commune's domain and a URL under it both see the zone, the registration and the MX: the same
    verdict on the same resource must weigh once in the grade, not once per target that saw it.
    """
    kept: dict[tuple[str, str], Graded] = {}
    for item in items:
        key = (item.finding.check_id, item.finding.resource)
        current = kept.get(key)
        if current is None or _worse(item, current):
            kept[key] = item
    return list(kept.values())


def _worse(item: Graded, than: Graded) -> bool:
    mine, theirs = item.result, than.result
    if mine is None:
        return False
    return theirs is None or mine < theirs


def grade(items: Sequence[Graded], weights: Weights | None = None) -> Grade:
    """Grade every finding of a run together (the run is one commune, whatever its targets)."""
    weights = weights or Weights()
    items = distinct(items)
    by_area: dict[str, list[Graded]] = {}
    for item in items:
        by_area.setdefault(item.area, []).append(item)
    areas = tuple(_area_grade(a, by_area.get(a, []), weights) for a in _area_order(by_area, weights))
    scored = [(a.score, weights.area_weight(a.area)) for a in areas if a.score is not None]
    total = sum(w for _, w in scored if w > 0)
    score = _round(sum(s * w for s, w in scored if w > 0) / total) if total > 0 else None
    letter = cap = None
    if score is not None:
        letter = letter_for(score)
        cap = _cap(items)
        # The cap is reported when it holds the letter where it is, or lower: a looser cap says nothing.
        if cap is not None and LEVELS[cap.letter] <= LEVELS[letter]:
            letter = cap.letter
        else:
            cap = None
    return Grade(score, letter, cap, areas, weights, _open_doors(items, weights))


def _area_grade(area: str, items: Sequence[Graded], weights: Weights) -> AreaGrade:
    counted = [g for g in items if g.result is not None and g.weight(weights) > 0]
    total = sum(g.weight(weights) for g in counted)
    if total <= 0:
        return AreaGrade(area, None, weights.area_weight(area), 0, 0)
    earned = sum(g.weight(weights) * (g.result or 0.0) for g in counted)
    losers = sorted(
        (g for g in counted if g.loss(weights) > 0),
        key=lambda g: (-g.loss(weights), *_urgency(g, weights)),
    )
    # Losses in score points of the area: they add up to 100 − score, which is what a reader compares.
    pulled = tuple((g, _round(100.0 * g.loss(weights) / total, 2)) for g in losers[:TOP_PULLED_DOWN])
    failed = sum(1 for g in counted if g.finding.status is Status.FAIL)
    return AreaGrade(
        area, _round(100.0 * earned / total), weights.area_weight(area), len(counted), failed, pulled
    )


def _cap(items: Sequence[Graded]) -> Cap | None:
    # Caps look at every failed finding, provider-managed or not: a critical hole is one whoever runs it.
    fails = [g.finding for g in items if g.finding.status is Status.FAIL and not g.waived]
    critical = sorted({f.check_id for f in fails if f.severity is Severity.CRITICAL})
    if critical:
        return Cap("critical_fail", tuple(critical), "E")
    high = [f for f in fails if f.severity is Severity.HIGH]
    ids = tuple(sorted({f.check_id for f in high}))
    if len(high) >= 3:
        return Cap("high_fails_3", ids, "D")
    if high:
        return Cap("high_fails_1", ids, "C")
    return None


def _open_doors(items: Sequence[Graded], weights: Weights) -> tuple[Graded, ...]:
    fails = [
        g
        for g in items
        if g.finding.status is Status.FAIL and not g.waived and g.finding.severity.value in DELAYS
    ]
    # One door per check: three different problems tell a mayor more than one problem on three hosts.
    # A check open on several resources weighs their summed loss; its most urgent instance stands for it.
    by_check: dict[str, list[Graded]] = {}
    for g in sorted(fails, key=lambda g: _urgency(g, weights)):
        by_check.setdefault(g.finding.check_id, []).append(g)
    ranked = sorted(
        by_check.values(),
        key=lambda group: (
            -group[0].finding.severity.rank,
            -sum(g.loss(weights) for g in group),
            group[0].finding.check_id,
        ),
    )
    return tuple(group[0] for group in ranked[:OPEN_DOORS])


def _urgency(g: Graded, weights: Weights) -> tuple[int, float, str, str, str]:
    f = g.finding
    return (-f.severity.rank, -g.loss(weights), f.check_id, f.target, f.resource)


def _area_order(by_area: Mapping[str, Any], weights: Weights) -> list[str]:
    """The five areas always (score None when nothing was scored), then plugin areas by name."""
    extra = sorted((set(by_area) | set(weights.area)) - set(AREAS))
    return [*AREAS, *extra]


def _ordered_areas(area: Mapping[str, float]) -> list[tuple[str, float]]:
    return [(a, area[a]) for a in AREAS if a in area] + sorted(
        (a, w) for a, w in area.items() if a not in AREAS
    )


def _round(value: float, digits: int = 1) -> float:
    return round(value, digits)


def _number(value: float) -> float | int:
    """30.0 → 30 in the JSON: weights are read by people."""
    return int(value) if math.isfinite(value) and value == int(value) else value
