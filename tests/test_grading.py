"""Grading (checklist §2.2) on constructed findings: scores, exclusions, provider factor, caps, open doors."""

from __future__ import annotations

import pytest

from cyberscan.metadata import COMMUNE
from cyberscan.models import ErrorInfo, ErrorKind, Finding, Severity, Status
from cyberscan.owners import Owner
from cyberscan.reporting.grading import (
    AREAS,
    COLOURS,
    DEFAULT_AREA_WEIGHTS,
    DEFAULT_SEVERITY_WEIGHTS,
    NO_GRADE_COLOUR,
    Graded,
    Weights,
    grade,
    letter_for,
)

P, W, F = Status.PASS, Status.WARN, Status.FAIL
CRIT, HIGH, MED, LOW = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW
COMMUNE_OWNER = Owner("web", COMMUNE, "default")
PROVIDER = Owner("mail", "Microsoft 365", "detected")


def item(
    check_id: str,
    status: Status,
    severity: Severity = HIGH,
    *,
    resource: str = "r",
    target: str = "mairie.fr",
    provider: bool = False,
    waived: bool = False,
    effort: str | None = "quick",
) -> Graded:
    error = ErrorInfo(ErrorKind.TIMEOUT, "t", "x") if status is Status.ERROR else None
    finding = Finding(check_id, target, resource, status, severity, "m", error=error)
    owner = PROVIDER if provider else COMMUNE_OWNER
    return Graded(finding, check_id.split("-")[0], owner, effort, waived)


def area(result: object, code: str) -> object:
    return next(a for a in result.areas if a.area == code)  # type: ignore[attr-defined]


def passes(prefix: str, n: int, severity: Severity = CRIT) -> list[Graded]:
    return [item(f"{prefix}-P{i}", P, severity) for i in range(n)]


@pytest.mark.parametrize("status", [Status.INFO, Status.NOT_APPLICABLE, Status.NOT_TESTED, Status.ERROR])
def test_unscored_statuses_never_count_and_never_pass(status: Status) -> None:
    alone = grade([item("WEB-X", status, CRIT)])
    assert area(alone, "WEB").score is None and area(alone, "WEB").counted == 0
    assert alone.score is None and alone.letter is None
    # Beside a fail, they neither dilute it nor lift it: the area stays at 0.
    mixed = grade([item("WEB-X", status, CRIT), item("WEB-Y", F, LOW)])
    assert area(mixed, "WEB").score == 0.0 and area(mixed, "WEB").counted == 1


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([item("TLS-A", P, MED)], 100.0),
        ([item("TLS-A", W, MED)], 50.0),
        ([item("TLS-A", F, MED)], 0.0),
        # critical pass 10, high fail 6 -> 10 / 16
        ([item("TLS-A", P, CRIT), item("TLS-B", F, HIGH)], 62.5),
        # medium warn 1.5 + low pass 1 over 3 + 1
        ([item("TLS-A", W, MED), item("TLS-B", P, LOW)], 62.5),
        # info severity weighs nothing: only the low fail counts
        ([item("TLS-A", P, Severity.INFO), item("TLS-B", F, LOW)], 0.0),
    ],
)
def test_area_score_is_the_weighted_mean_of_results(items: list[Graded], expected: float) -> None:
    assert area(grade(items), "TLS").score == expected


def test_provider_managed_findings_weigh_half() -> None:
    commune = grade([item("MAIL-A", F, HIGH), item("MAIL-B", P, HIGH)])
    provider = grade([item("MAIL-A", F, HIGH, provider=True), item("MAIL-B", P, HIGH)])
    assert area(commune, "MAIL").score == 50.0
    assert area(provider, "MAIL").score == round(100 * 6 / 9, 1)
    custom = grade(
        [item("MAIL-A", F, HIGH, provider=True), item("MAIL-B", P, HIGH)], Weights(provider_factor=0)
    )
    assert area(custom, "MAIL").score == 100.0 and area(custom, "MAIL").counted == 1


def test_waived_findings_leave_the_score_the_cap_and_the_doors() -> None:
    result = grade([item("SVC-RDP", F, CRIT, waived=True), item("SVC-SSH", P, MED)])
    assert area(result, "SVC").score == 100.0 and area(result, "SVC").failed == 0
    assert result.letter == "A" and result.cap is None and result.open_doors == ()


def test_global_renormalises_over_areas_that_have_a_score() -> None:
    result = grade([item("WEB-A", P, MED), item("DNS-A", F, MED)])
    # WEB 100 (weight 20) and DNS 0 (weight 10); SVC, MAIL and TLS have nothing to score.
    assert [a.area for a in result.areas] == list(AREAS)
    assert [a.score for a in result.areas] == [None, None, 100.0, None, 0.0]
    assert result.score == round(100 * 20 / 30, 1) and result.letter == "C"
    every = grade([item(f"{a}-A", P if a != "SVC" else F, MED) for a in AREAS])
    assert every.score == 70.0  # everything but SVC (30 of 100) is perfect


def test_empty_run_has_no_letter() -> None:
    result = grade([])
    assert (result.score, result.letter, result.level, result.cap) == (None, None, None, None)
    assert result.colour == NO_GRADE_COLOUR
    assert all(a.score is None and a.counted == 0 for a in result.areas)
    data = result.to_json()
    assert data["letter"] is None and data["open_doors"] == [] and len(data["areas"]) == 5


@pytest.mark.parametrize(
    ("score", "letter"),
    [(100, "A"), (90, "A"), (89.9, "B"), (75, "B"), (74.9, "C"), (60, "C"), (40, "D"), (39.9, "E"), (0, "E")],
)
def test_letter_thresholds(score: float, letter: str) -> None:
    assert letter_for(score) == letter


@pytest.mark.parametrize(
    ("fails", "letter", "reason"),
    [
        ([item("SVC-RDP", F, CRIT)], "E", "critical_fail"),
        (
            [item("WEB-A", F, HIGH), item("WEB-A", F, HIGH, resource="s"), item("TLS-B", F, HIGH)],
            "D",
            "high_fails_3",
        ),
        ([item("WEB-A", F, HIGH), item("TLS-B", F, HIGH)], "C", "high_fails_1"),
        ([item("WEB-A", F, HIGH)], "C", "high_fails_1"),
        # Provider-managed fails cap too: the hole is open whoever runs the service.
        ([item("MAIL-A", F, CRIT, provider=True)], "E", "critical_fail"),
        # A critical fail outranks high fails.
        ([item("WEB-A", F, HIGH)] * 3 + [item("DNS-Z", F, CRIT)], "E", "critical_fail"),
    ],
)
def test_caps_hold_a_high_score_down(fails: list[Graded], letter: str, reason: str) -> None:
    result = grade([p for a in AREAS for p in passes(a, 60)] + fails)
    assert result.score is not None and result.score >= 90, "the score alone would give an A"
    assert result.letter == letter and result.level == {"E": 1, "D": 2, "C": 3}[letter]
    assert result.cap is not None and result.cap.reason == reason
    assert result.cap.check_ids == tuple(
        sorted(
            {
                g.finding.check_id
                for g in fails
                if g.finding.severity is (CRIT if reason == "critical_fail" else HIGH)
            }
        )
    )
    assert result.colour == COLOURS[letter]


def test_a_cap_looser_than_the_score_is_not_reported() -> None:
    # One high fail caps at C, but the score already gives E.
    result = grade([item("WEB-A", F, HIGH), item("WEB-B", P, LOW)])
    assert result.score == round(100 / 7, 1) and result.letter == "E" and result.cap is None
    # Same letter as the cap: the cap is reported, it is what holds the grade there.
    held = grade([item("SVC-RDP", F, CRIT), item("SVC-B", P, LOW)])
    assert held.letter == "E" and held.cap is not None and held.cap.reason == "critical_fail"


def test_weights_override() -> None:
    findings = [item("WEB-A", F, HIGH), item("WEB-B", P, MED), item("DNS-A", P, LOW)]
    default = grade(findings)
    assert area(default, "WEB").score == round(100 * 3 / 9, 1)
    no_high = Weights(severity={**DEFAULT_SEVERITY_WEIGHTS, "high": 0.0})
    assert area(grade(findings, no_high), "WEB").score == 100.0
    only_dns = Weights(area={**DEFAULT_AREA_WEIGHTS, "WEB": 0.0})
    result = grade(findings, only_dns)
    assert result.score == 100.0 and area(result, "WEB").weight == 0.0
    assert grade(findings, only_dns).to_json()["weights"]["area"]["WEB"] == 0


def test_plugin_areas_are_listed_but_weigh_nothing_unless_configured() -> None:
    findings = [item("EXT-A", F, HIGH), item("WEB-B", P, MED)]
    result = grade(findings)
    assert [a.area for a in result.areas] == [*AREAS, "EXT"]
    assert area(result, "EXT").score == 0.0 and result.score == 100.0
    weighted = grade(findings, Weights(area={**DEFAULT_AREA_WEIGHTS, "EXT": 20.0}))
    assert weighted.score == 50.0


def test_pulled_down_by_lists_the_three_largest_losses_in_score_points() -> None:
    findings = [
        item("TLS-LOW", F, LOW),
        item("TLS-MED", W, MED),
        item("TLS-HIGH", F, HIGH),
        item("TLS-CRIT", F, CRIT, provider=True),
        item("TLS-OK", P, CRIT),
    ]
    tls = area(grade(findings), "TLS")
    # weights 1 + 3 + 6 + 5 + 10 = 25; weighted losses 1, 1.5, 6, 5 (the provider's critical halved)
    assert [(g.finding.check_id, loss) for g, loss in tls.pulled_down_by] == [
        ("TLS-HIGH", 24.0),
        ("TLS-CRIT", 20.0),
        ("TLS-MED", 6.0),
    ]
    assert tls.score == 46.0 and tls.counted == 5 and tls.failed == 3
    two = area(grade([item("WEB-A", F, MED), item("WEB-B", W, LOW), item("WEB-C", P, HIGH)]), "WEB")
    assert two.score == round(100 - sum(loss for _, loss in two.pulled_down_by), 1)


def test_open_doors_are_the_most_urgent_distinct_failures() -> None:
    findings = [
        item("WEB-LOW", F, LOW),
        item("WEB-MED", F, MED),
        item("MAIL-HIGH-PROVIDER", F, HIGH, provider=True),
        item("WEB-HIGH", F, HIGH),
        item("SVC-RDP", F, CRIT, resource="203.0.113.5:3389/tcp"),
        item("SVC-RDP", F, CRIT, resource="203.0.113.6:3389/tcp"),
        item("SVC-WAIVED", F, CRIT, waived=True),
        item("SVC-WARN", W, CRIT),
    ]
    doors = grade(findings).open_doors
    assert [(g.finding.check_id, g.finding.resource) for g in doors] == [
        ("SVC-RDP", "203.0.113.5:3389/tcp"),
        ("WEB-HIGH", "r"),  # a commune-run high fail weighs more than a provider-run one
        ("MAIL-HIGH-PROVIDER", "r"),
    ]
    data = grade(findings).to_json()["open_doors"]
    assert [d["delay"] for d in data] == ["48h", "1 month", "1 month"]
    assert data[2]["owner"] == {"asset": "mail", "name": "Microsoft 365", "source": "detected"}
    assert data[0]["effort"] == "quick"
    # Same severity: a check open on several resources comes before one open on a single resource.
    spread = [
        item("SVC-A", F, CRIT),
        item("SVC-B", F, CRIT, resource="x"),
        item("SVC-B", F, CRIT, resource="y"),
    ]
    assert [(g.finding.check_id, g.finding.resource) for g in grade(spread).open_doors] == [
        ("SVC-B", "x"),
        ("SVC-A", "r"),
    ]
    medium = grade([item("WEB-MED", F, MED), item("WEB-LOW", F, LOW)]).to_json()["open_doors"]
    assert [(d["check_id"], d["delay"]) for d in medium] == [("WEB-MED", "next_window")]


def test_grade_json_is_deterministic_whatever_the_input_order() -> None:
    findings = [item("WEB-A", F, HIGH), item("TLS-B", W, MED), item("SVC-C", F, CRIT), item("DNS-D", P, LOW)]
    assert grade(findings).to_json() == grade(list(reversed(findings))).to_json()


def test_one_resource_seen_from_two_targets_weighs_once_at_its_worst() -> None:
    # The domain and a URL under it both judge the zone's registration: one verdict, not two.
    domain = item("DNS-DOMAIN-EXPIRY", F, resource="mairie.fr", target="mairie.fr")
    url = item("DNS-DOMAIN-EXPIRY", F, resource="mairie.fr", target="https://extranet.mairie.fr/")
    other = item("DNS-AXFR-OPEN", P, resource="ns1.mairie.fr", target="mairie.fr")
    once = area(grade([domain, url, other]), "DNS")
    assert (once.counted, once.failed) == (2, 1)  # type: ignore[attr-defined]
    # Seen as a pass from one target and a warn from another: the warn is what counts.
    mixed = grade([item("DNS-CAA", P, LOW, resource="z"), item("DNS-CAA", W, LOW, resource="z", target="u")])
    assert area(mixed, "DNS").score == 50.0  # type: ignore[attr-defined]
