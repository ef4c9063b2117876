"""Waivers: matching by ID or glob and resource pattern, expiry as of the scan's start, unused ones listed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from cyberscan.models import Finding, Severity, Status
from cyberscan.waivers import Waiver, WaiverError, apply_waivers, parse_waiver

SCAN_DAY = date(2026, 11, 23)
IDS = ["WEB-HSTS", "WEB-CSP", "SVC-RDP-EXPOSED", "TLS-PROTO-LEGACY"]


def finding(check_id: str, resource: str, status: Status = Status.FAIL) -> Finding:
    return Finding(check_id, "mairie-x.fr", resource, status, Severity.MEDIUM, "m")


def waiver(check: str = "WEB-HSTS", resource: str = "*", expires: date = date(2027, 3, 31)) -> Waiver:
    return Waiver(check, resource, "Extranet remplacé en mars 2027", "DSI syndicat", expires)


EXTRANET = finding("WEB-HSTS", "https://extranet.mairie-x.fr/login")
WWW = finding("WEB-HSTS", "https://www.mairie-x.fr/")
CSP = finding("WEB-CSP", "https://extranet.mairie-x.fr/")


def test_resource_pattern_and_exact_id() -> None:
    w = waiver(resource="https://extranet.mairie-x.fr*")
    outcome = apply_waivers([EXTRANET, WWW, CSP], [w], SCAN_DAY)
    assert [m.to_json() if m else None for m in outcome.marks] == [
        {"reason": w.reason, "owner": "DSI syndicat", "expires": "2027-03-31", "expired": False},
        None,
        None,
    ]
    assert outcome.expired == () and outcome.unused == ()


def test_check_glob_and_default_resource() -> None:
    outcome = apply_waivers(
        [EXTRANET, WWW, CSP, finding("TLS-PROTO-LEGACY", "x")], [waiver("WEB-*")], SCAN_DAY
    )
    assert [m is not None for m in outcome.marks] == [True, True, True, False]


@pytest.mark.parametrize(
    ("status", "waived"),
    [
        (Status.FAIL, True),
        (Status.WARN, True),
        (Status.PASS, False),
        (Status.INFO, False),
        (Status.ERROR, False),
        (Status.NOT_TESTED, False),
        (Status.NOT_APPLICABLE, False),
    ],
)
def test_only_fail_and_warn_are_waived(status: Status, waived: bool) -> None:
    outcome = apply_waivers([finding("WEB-HSTS", "x", status)], [waiver()], SCAN_DAY)
    assert (outcome.marks[0] is not None) is waived
    # A waiver that met only passing findings covered nothing: it is unused.
    assert (outcome.unused == ()) is waived


@pytest.mark.parametrize(
    ("today", "expired"),
    [
        (date(2027, 3, 30), False),
        (date(2027, 3, 31), False),
        (date(2027, 4, 1), True),
        (date(2030, 1, 1), True),
    ],
)
def test_expiry_is_judged_on_the_day_passed_in(today: date, expired: bool) -> None:
    w = waiver(expires=date(2027, 3, 31))
    outcome = apply_waivers([WWW], [w], today)
    mark = outcome.marks[0]
    assert mark is not None and mark.expired is expired
    assert outcome.expired == ((w,) if expired else ())
    assert outcome.unused == ()


def test_expired_waivers_are_all_listed_even_when_they_match_nothing() -> None:
    old = waiver("SVC-RDP-EXPOSED", expires=date(2025, 1, 1))
    outcome = apply_waivers([WWW], [old], SCAN_DAY)
    assert outcome.marks == (None,) and outcome.expired == (old,) and outcome.unused == ()
    assert outcome.to_json() == {"expired": [old.to_json()], "unused": []}
    assert old.to_json() == {
        "check": "SVC-RDP-EXPOSED",
        "resource": "*",
        "reason": "Extranet remplacé en mars 2027",
        "owner": "DSI syndicat",
        "expires": "2025-01-01",
    }


def test_unused_waivers_are_listed_in_configuration_order() -> None:
    a, b, c = waiver("WEB-CSP", "https://nowhere/*"), waiver("WEB-HSTS"), waiver("SVC-RDP-EXPOSED")
    outcome = apply_waivers([WWW], [a, b, c], SCAN_DAY)
    assert outcome.unused == (a, c)


def test_a_live_waiver_wins_over_an_expired_one_then_configuration_order() -> None:
    expired = waiver(expires=date(2026, 1, 1))
    first = Waiver("WEB-*", "*", "first", "A", date(2027, 1, 1))
    second = Waiver("WEB-HSTS", "*", "second", "B", date(2028, 1, 1))
    outcome = apply_waivers([WWW], [expired, first, second], SCAN_DAY)
    mark = outcome.marks[0]
    assert mark is not None and mark.waiver is first and not mark.expired
    assert outcome.unused == () and outcome.expired == (expired,)


def test_the_resource_pattern_is_case_sensitive_and_anchored() -> None:
    outcome = apply_waivers(
        [WWW], [waiver(resource="HTTPS://WWW.MAIRIE-X.FR/"), waiver(resource="www*")], SCAN_DAY
    )
    assert outcome.marks == (None,)


def raw(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "check": "web-hsts",
        "resource": "https://extranet.mairie-x.fr*",
        "reason": "Extranet remplacé en mars 2027",
        "owner": "DSI syndicat",
        "expires": date(2027, 3, 31),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_parse_a_valid_waiver() -> None:
    parsed = parse_waiver(raw(), IDS)
    assert parsed == Waiver(
        "WEB-HSTS",
        "https://extranet.mairie-x.fr*",
        "Extranet remplacé en mars 2027",
        "DSI syndicat",
        date(2027, 3, 31),
    )
    assert parse_waiver(raw(resource=None, check="SVC-*"), IDS).resource == "*"


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"team": "x"}, "team", "unknown waiver key 'team'"),
        ({"expires": None}, None, "without 'expires'"),
        ({"reason": None}, None, "without 'reason'"),
        ({"check": "WEB-HTST"}, "check", "unknown check 'WEB-HTST'"),
        ({"check": "DNS-*"}, "check", "matches no check"),
        ({"expires": "2027-03-31"}, "expires", "TOML date"),
        ({"expires": datetime(2027, 3, 31, 12, 0)}, "expires", "TOML date"),
        ({"reason": "  "}, "reason", "non-empty"),
        ({"owner": "a\nb"}, "owner", "printable"),
        ({"resource": 3}, "resource", "non-empty string"),
    ],
)
def test_bad_waivers_are_refused(changes: dict[str, Any], key: str | None, words: str) -> None:
    with pytest.raises(WaiverError) as info:
        parse_waiver(raw(**changes), IDS)
    assert info.value.key == key and words in str(info.value)
