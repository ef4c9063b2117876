"""Canonical JSON validates against the shipped schema; HTML and terminal output escape hostile text."""

import io
from datetime import datetime, timezone

import jsonschema
from engine_fakes import meta
from rich.console import Console

from cyberscan.models import ErrorInfo, ErrorKind, Finding, Severity, Status, TargetResult
from cyberscan.reporting.html_report import render_html
from cyberscan.reporting.json_report import build_report, dumps, load_schema
from cyberscan.reporting.terminal import print_summary

HOSTILE = '<script>alert("x")</script>[bold red]boom[/]'
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def sample_results() -> list[TargetResult]:
    findings = (
        Finding(
            "TST-B",
            "mairie-a.fr",
            "https://mairie-a.fr/",
            Status.FAIL,
            Severity.HIGH,
            "bad",
            {"value": HOSTILE},
            {"header": HOSTILE},
        ),
        Finding(
            "TST-A", "mairie-a.fr", "https://www.mairie-a.fr/", Status.PASS, Severity.HIGH, "ok", {"value": 1}
        ),
        Finding(
            "TST-A",
            "mairie-a.fr",
            "https://mairie-a.fr/",
            Status.ERROR,
            Severity.HIGH,
            "error",
            {"detail": "timeout"},
            error=ErrorInfo(ErrorKind.TIMEOUT, "timeout", "http"),
        ),
    )
    return [TargetResult("mairie-a.fr", "domain", (), findings)]


def report(lang: str = "fr") -> dict:
    metas = {"TST-A": meta("TST-A"), "TST-B": meta("TST-B")}
    return build_report(
        sample_results(), metas, lang=lang, started_at=T0, finished_at=T0, settings={"scope": []}
    )


def test_report_validates_against_schema() -> None:
    jsonschema.validate(report(), load_schema())
    jsonschema.validate(report("en"), load_schema())


def test_schema_rejects_an_error_finding_without_reason() -> None:
    broken = report()
    broken["targets"][0]["findings"][0]["error"] = None
    assert broken["targets"][0]["findings"][0]["status"] == "error"
    validator = jsonschema.Draft202012Validator(load_schema())
    assert list(validator.iter_errors(broken))


def test_findings_are_sorted_and_output_is_stable() -> None:
    data = report()
    order = [(f["check_id"], f["resource"]) for f in data["targets"][0]["findings"]]
    assert order == sorted(order)
    assert dumps(report()) == dumps(report())
    assert data["summary"]["findings"] == {
        "pass": 1,
        "warn": 0,
        "fail": 1,
        "info": 0,
        "not_applicable": 0,
        "not_tested": 0,
        "error": 1,
    }
    english = report("en")["targets"][0]["findings"]
    assert (
        english[2]["message"].startswith("Bad: ")
        and "Le scanner n'a pas pu conclure" in data["targets"][0]["findings"][0]["message"]
    )


def test_html_escapes_target_controlled_text() -> None:
    html = render_html(report())
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html or "\\u003cscript\\u003e" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # no external resource


def test_terminal_summary_does_not_interpret_markup() -> None:
    out = io.StringIO()
    print_summary(report(), Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert "[bold red]boom[/]" in text
    assert "non conforme" in text and "erreur du scanner" in text
