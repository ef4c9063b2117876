"""`cyberscan demo` end to end: real web, SMTP, DNS and RDAP servers on 127.0.0.1/127.0.0.2, one scan per
commune, and the verdicts each invented commune is built to give.

The demo runs once for the module (about ten seconds). It runs in a module fixture, before the suite's
per-test network rule starts counting, so the fixture checks that rule's record itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import pytest
from conftest import _network_violations

from cyberscan.demo.run import COMMUNES, DemoOutput, run_demo
from cyberscan.demo.sites import MODELE, PASSOIRE, PASSOIRE_MX
from cyberscan.registry import load_registry
from cyberscan.reporting.json_report import load_schema

Report = Mapping[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoOutput, list[str]]]:
    before = len(_network_violations)
    output = run_demo(load_registry(load_plugins=False), tmp_path_factory.mktemp("demo"), "en")
    yield output, _network_violations[before:]


@pytest.fixture(scope="module")
def reports(demo: tuple[DemoOutput, list[str]]) -> dict[str, Report]:
    output, _ = demo
    return {c.commune.domain: json.loads(c.json_path.read_text(encoding="utf-8")) for c in output.communes}


def _main_target(report: Report) -> Mapping[str, Any]:
    return dict(report["targets"][0])


def _statuses(report: Report, check_id: str) -> set[str]:
    """Statuses of `check_id` on the commune's domain target (the report's first target)."""
    found = {f["status"] for f in _main_target(report)["findings"] if f["check_id"] == check_id}
    assert found, f"no {check_id} finding"
    return found


def test_nothing_left_the_machine(demo: tuple[DemoOutput, list[str]], reports: dict[str, Report]) -> None:
    _, violations = demo
    assert violations == []
    for report in reports.values():
        assert report["settings"]["resolver"].startswith("127.0.0.1:")
        assert set(report["settings"]["scope"]) == {"127.0.0.1/32", "127.0.0.2/32"}


def test_one_scan_and_one_set_of_files_per_commune(demo: tuple[DemoOutput, list[str]]) -> None:
    output, _ = demo
    assert [c.commune for c in output.communes] == list(COMMUNES)
    schema = load_schema()
    for item in output.communes:
        report = json.loads(item.json_path.read_text(encoding="utf-8"))
        jsonschema.validate(report, schema)
        assert item.json_path.name == f"rapport-{item.commune.slug}.json"
        assert report["commune"]["name"] == item.commune.name
        assert report["targets"][0]["target"] == item.commune.domain
        assert report["grade"]["letter"] in ("A", "B", "C", "D", "E")
        html = item.html_path.read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>") and "<script" not in html
        facts = json.loads(item.facts_path.read_text(encoding="utf-8"))
        assert facts["format"] == "cyberscan-facts" and item.commune.domain in facts["targets"]
    modele, passoire = (json.loads(c.json_path.read_text(encoding="utf-8")) for c in output.communes)
    assert [t["target"] for t in modele["targets"]] == [MODELE]  # the weak commune's hosts are not in it
    assert modele["grade"]["letter"] < passoire["grade"]["letter"]


@pytest.mark.parametrize(
    ("check_id", "expected"),
    [
        ("DNS-DNSSEC", {"pass"}),
        ("DNS-DNSSEC-ALGO", {"pass"}),
        ("DNS-AXFR-OPEN", {"pass"}),  # one finding per name server, both refuse
        ("DNS-NS-LAME", {"pass"}),
        ("DNS-OPEN-RESOLVER", {"pass"}),
        ("DNS-CAA", {"pass"}),
        ("DNS-DANGLING", {"pass"}),
        ("DNS-DOMAIN-EXPIRY", {"pass"}),
        ("DNS-REGISTRAR-LOCK", {"pass"}),
        ("MAIL-SPF-POLICY", {"pass"}),
        ("MAIL-DMARC-POLICY", {"pass"}),
        ("MAIL-DKIM", {"pass"}),
        ("MAIL-STARTTLS", {"pass"}),
        ("MAIL-MTA-STS-TLSRPT", {"pass", "info"}),  # MTA-STS enforce; TLS-RPT published (info)
        ("MAIL-DANE", {"pass"}),  # the TLSA record is computed from the SMTP server's certificate
    ],
)
def test_model_commune(reports: dict[str, Report], check_id: str, expected: set[str]) -> None:
    assert _statuses(reports[MODELE], check_id) == expected


@pytest.mark.parametrize(
    ("check_id", "expected"),
    [
        ("DNS-DNSSEC", {"warn"}),
        ("DNS-AXFR-OPEN", {"fail"}),
        ("DNS-DANGLING", {"fail"}),
        ("DNS-CAA", {"warn"}),
        ("DNS-DOMAIN-EXPIRY", {"fail"}),
        ("DNS-REGISTRAR-LOCK", {"warn"}),
        ("MAIL-SPF-POLICY", {"fail"}),
        ("MAIL-SPF-LOOKUPS", {"fail"}),
        ("MAIL-DMARC-POLICY", {"fail"}),
        ("MAIL-DKIM", {"warn"}),
        ("MAIL-STARTTLS", {"fail"}),
    ],
)
def test_weak_commune(reports: dict[str, Report], check_id: str, expected: set[str]) -> None:
    assert _statuses(reports[PASSOIRE], check_id) == expected


def test_what_the_weak_commune_fails_on(reports: dict[str, Report]) -> None:
    findings = _main_target(reports[PASSOIRE])["findings"]
    dangling = next(f for f in findings if f["check_id"] == "DNS-DANGLING")
    assert dangling["resource"] == f"demarches.{PASSOIRE}"
    assert dangling["evidence"]["service"] == "Azure App Service"
    axfr = sorted(f["resource"] for f in findings if f["check_id"] == "DNS-AXFR-OPEN")
    assert axfr == [f"ns1.{PASSOIRE} (127.0.0.1)", f"ns2.{PASSOIRE} (127.0.0.2)"]
    expiry = next(f for f in findings if f["check_id"] == "DNS-DOMAIN-EXPIRY")
    assert 18 <= int(expiry["params"]["days"]) <= 20


def test_no_error_at_all(reports: dict[str, Report]) -> None:
    """Nothing in the demo may end in `error`: not the set-up (timeouts, DNS, RDAP, missing facts), and
    not the weak commune's MX without STARTTLS, whose TLS checks are `not_applicable` (no TLS to judge)
    while MAIL-STARTTLS fails it."""
    for domain, report in reports.items():
        for target in report["targets"]:
            failed_runs = [run for run in target["collector_runs"] if run["status"] != "ok"]
            assert failed_runs == [], (domain, target["target"])
            errors = [
                (f["check_id"], f["resource"], f["error"])
                for f in target["findings"]
                if f["status"] == "error"
            ]
            assert errors == [], (domain, target["target"])


def test_the_mx_without_starttls_has_no_tls_to_judge(reports: dict[str, Report]) -> None:
    tls_judged = [
        f
        for f in _main_target(reports[PASSOIRE])["findings"]
        if f["resource"].startswith(f"{PASSOIRE_MX}:")
        and (f["check_id"].startswith("TLS-") or f["check_id"] == "MAIL-MX-TLS")
    ]
    assert len(tls_judged) == 18  # the 17 TLS-* checks and MAIL-MX-TLS
    assert {(f["status"], f["message_id"]) for f in tls_judged} == {("not_applicable", "starttls_refused")}
