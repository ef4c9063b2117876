"""compare(): the kind of every finding between two canonical reports, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from cyberscan.fleet.changes import compare


def report(
    day: str, *findings: tuple[str, str, str, str], letter: str = "B", score: float = 80.0
) -> dict[str, Any]:
    """A minimal canonical report: findings as (check_id, resource, status, severity)."""
    return {
        "started_at": f"{day}T02:00:00+00:00",
        "commune": {"name": "Alpha", "insee": "45001"},
        "grade": {"letter": letter, "score": score},
        "targets": [
            {
                "target": "alpha.test",
                "findings": [
                    {
                        "check_id": c,
                        "target": "alpha.test",
                        "resource": r,
                        "status": s,
                        "severity": v,
                        "title": f"title {c}",
                        "message": f"msg {c}",
                        "waiver": None,
                    }
                    for c, r, s, v in findings
                ],
            }
        ],
    }


@pytest.mark.parametrize(
    ("before", "after", "kind", "previous_status"),
    [
        (None, "fail", "new", None),
        (None, "warn", "new", None),
        ("pass", "fail", "regressed", "pass"),
        ("pass", "warn", "regressed", "pass"),
        ("warn", "fail", "regressed", "warn"),
        ("fail", "fail", "still_open", "fail"),
        ("fail", "warn", "still_open", "fail"),
        ("fail", "pass", "fixed", "fail"),
        ("warn", "pass", "fixed", "warn"),
        ("error", "fail", "new", "error"),
        ("pass", "pass", None, None),
        ("fail", "error", None, None),
        ("fail", None, "fixed", "fail"),
    ],
)
def test_kind_of_change(
    before: str | None, after: str | None, kind: str | None, previous_status: str | None
) -> None:
    old = report("2025-01-01", *([("WEB-HSTS", "https://alpha.test/", before, "medium")] if before else []))
    new = report("2025-02-01", *([("WEB-HSTS", "https://alpha.test/", after, "medium")] if after else []))
    changes = compare(old if before is not None or after is not None else None, new).changes
    if kind is None:
        assert changes == ()
        return
    (change,) = changes
    assert (change.kind, change.previous_status) == (kind, previous_status)
    assert change.status == (after or "absent")
    assert change.title == "title WEB-HSTS"


def test_first_run_waivers_ages_grades_and_alerts() -> None:
    old = report(
        "2025-01-01", ("A-1", "r", "fail", "high"), ("A-2", "r", "pass", "low"), letter="C", score=61.5
    )
    new = report(
        "2025-02-01",
        ("A-1", "r", "fail", "high"),
        ("A-2", "r", "fail", "low"),
        ("A-3", "r", "fail", "critical"),
        ("A-4", "r", "fail", "medium"),
        ("A-5", "r", "warn", "high"),
    )
    new["targets"][0]["findings"][4]["waiver"] = {
        "reason": "x",
        "owner": "y",
        "expires": "2030-01-01",
        "expired": False,
    }
    result = compare(
        old, new, contacts=("a@alpha.test",), first_seen={("A-1", "alpha.test", "r"): "2024-06-01"}
    )
    kinds = {c.check_id: (c.kind, c.first_seen) for c in result.changes}
    assert kinds == {
        "A-1": ("still_open", "2024-06-01"),
        "A-2": ("regressed", "2025-02-01"),
        "A-3": ("new", "2025-02-01"),
        "A-4": ("new", "2025-02-01"),
        "A-5": ("waived", "2025-01-01"),
    }
    assert (result.grade, result.previous_grade, result.score, result.previous_score) == (
        "B",
        "C",
        80.0,
        61.5,
    )
    assert result.contacts == ("a@alpha.test",) and result.insee == "45001"
    # Every regression, and new findings at or above the threshold.
    assert [c.check_id for c in result.alerts("high")] == ["A-3", "A-2"]
    assert [c.check_id for c in result.alerts("medium")] == ["A-3", "A-4", "A-2"]
    first = compare(None, new)
    assert {c.kind for c in first.changes} == {"new", "waived"} and first.previous_grade is None
