"""Canonical JSON validates against the shipped schema; HTML and terminal output escape hostile text."""

import io
from datetime import date, datetime, timezone

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


# --- grade, owners, waivers, commune and branding in the canonical JSON -----------------------------

MX = "mairie-a-fr.mail.protection.outlook.com"


def graded_results() -> list[TargetResult]:
    def f(
        check_id: str, resource: str, status: Status, severity: Severity, target: str = "mairie-a.fr"
    ) -> Finding:
        return Finding(check_id, target, resource, status, severity, "ok" if status is Status.PASS else "bad")

    return [
        TargetResult(
            "mairie-a.fr",
            "domain",
            (),
            (
                f("WEB-HSTS", "https://extranet.mairie-a.fr/", Status.FAIL, Severity.MEDIUM),
                f("WEB-HSTS", "https://www.mairie-a.fr/", Status.PASS, Severity.MEDIUM),
                f("TLS-CERT-VALIDITY", f"{MX}:25 (smtp)", Status.FAIL, Severity.HIGH),
                f("TLS-CERT-VALIDITY", "www.mairie-a.fr:443 (https)", Status.PASS, Severity.HIGH),
                f("MAIL-SPF-PRESENT", "mairie-a.fr TXT", Status.WARN, Severity.HIGH),
            ),
        ),
        TargetResult(
            "203.0.113.0/28",
            "network",
            (),
            (
                f(
                    "SVC-RDP-EXPOSED",
                    "203.0.113.5:3389/tcp",
                    Status.FAIL,
                    Severity.CRITICAL,
                    "203.0.113.0/28",
                ),
                f("SVC-SSH", "203.0.113.6:22/tcp", Status.INFO, Severity.MEDIUM, "203.0.113.0/28"),
            ),
        ),
    ]


def graded_metas() -> dict:
    return {
        "WEB-HSTS": meta("WEB-HSTS", effort="quick", asset="web"),
        "TLS-CERT-VALIDITY": meta("TLS-CERT-VALIDITY", effort="ticket", asset="web"),
        "MAIL-SPF-PRESENT": meta("MAIL-SPF-PRESENT", effort="quick", asset="dns"),
        "SVC-RDP-EXPOSED": meta("SVC-RDP-EXPOSED", effort="ticket", asset="network"),
        "SVC-SSH": meta("SVC-SSH", effort="ticket", asset="network"),
    }


def graded_report(today: datetime = T0) -> dict:
    from dns_factories import snapshot

    from cyberscan.collectors.mail_facts import MailFacts
    from cyberscan.reporting.settings import ReportSettings
    from cyberscan.waivers import Waiver

    waivers = [
        Waiver(
            "WEB-*", "https://extranet.mairie-a.fr*", "Extranet remplacé", "DSI syndicat", date(2027, 3, 31)
        ),
        Waiver("SVC-RDP-EXPOSED", "*", "Ancien accès", "Maire", date(2026, 1, 31)),
        Waiver("TLS-*", "nowhere", "Jamais utilisé", "DSI", date(2027, 1, 1)),
    ]
    facts = {
        "mairie-a.fr": [
            MailFacts(domain="mairie-a.fr", mx_hosts=(MX,)),
            snapshot("mairie-a.fr", {("mairie-a.fr", "NS"): ["dns200.anycast.me.", "ns200.anycast.me."]}),
        ]
    }
    return build_report(
        graded_results(),
        graded_metas(),
        lang="fr",
        started_at=today,
        finished_at=today,
        settings={},
        report_settings=ReportSettings(
            commune="Mairie-A",
            insee="75056",
            organisation="Syndicat",
            logo_data_uri="data:image/png;base64,iVBO",
        ),
        owners={"network": "Syndicat informatique"},
        waivers=waivers,
        facts=facts,
    )


def test_full_report_validates_and_carries_grade_owners_and_waivers() -> None:
    data = graded_report()
    jsonschema.validate(data, load_schema())
    assert data["schema_version"] == "1.1"
    assert data["commune"] == {"name": "Mairie-A", "insee": "75056"}
    assert data["branding"] == {"organisation": "Syndicat", "logo_data_uri": "data:image/png;base64,iVBO"}
    findings = {(f["check_id"], f["resource"]): f for t in data["targets"] for f in t["findings"]}
    extranet = findings[("WEB-HSTS", "https://extranet.mairie-a.fr/")]
    assert extranet["status"] == "fail"  # a waived finding keeps its status and stays listed
    assert extranet["waiver"] == {
        "reason": "Extranet remplacé",
        "owner": "DSI syndicat",
        "expires": "2027-03-31",
        "expired": False,
    }
    assert extranet["area"] == "WEB" and extranet["effort"] == "quick"
    assert extranet["owner"] == {"asset": "web", "name": "commune", "source": "default"}
    # The TLS endpoint on the MX belongs to the detected mail provider; DNS to the detected DNS host.
    assert findings[("TLS-CERT-VALIDITY", f"{MX}:25 (smtp)")]["owner"] == {
        "asset": "mail",
        "name": "Microsoft 365",
        "source": "detected",
    }
    assert findings[("MAIL-SPF-PRESENT", "mairie-a.fr TXT")]["owner"]["name"] == "OVHcloud"
    rdp = findings[("SVC-RDP-EXPOSED", "203.0.113.5:3389/tcp")]
    assert rdp["owner"] == {"asset": "network", "name": "Syndicat informatique", "source": "config"}
    assert rdp["waiver"] == {
        "reason": "Ancien accès",
        "owner": "Maire",
        "expires": "2026-01-31",
        "expired": True,
    }
    assert data["waivers"]["expired"] == [
        {
            "check": "SVC-RDP-EXPOSED",
            "resource": "*",
            "reason": "Ancien accès",
            "owner": "Maire",
            "expires": "2026-01-31",
        }
    ]
    assert [w["check"] for w in data["waivers"]["unused"]] == ["TLS-*"]
    grade = data["grade"]
    # The expired waiver no longer applies: the critical RDP fail caps the run at E.
    assert grade["letter"] == "E" and grade["level"] == 1 and grade["colour"] == "#e53935"
    assert grade["cap"] == {"reason": "critical_fail", "check_ids": ["SVC-RDP-EXPOSED"]}
    areas = {a["area"]: a for a in grade["areas"]}
    assert areas["WEB"]["score"] == 100.0 and areas["WEB"]["counted"] == 1  # the waived fail left the score
    # TLS: a provider-run high fail (3) against a commune high pass (6); MAIL: a provider-run (DNS) warn
    assert areas["TLS"]["score"] == round(100 * 6 / 9, 1)
    assert areas["MAIL"]["score"] == 50.0
    assert areas["SVC"]["score"] == 0.0 and areas["SVC"]["counted"] == 1 and areas["DNS"]["score"] is None
    assert [(d["check_id"], d["delay"], d["effort"]) for d in grade["open_doors"]] == [
        ("SVC-RDP-EXPOSED", "48h", "ticket"),
        ("TLS-CERT-VALIDITY", "1 month", "ticket"),
    ]
    assert grade["weights"]["area"] == {"SVC": 30, "MAIL": 25, "WEB": 20, "TLS": 15, "DNS": 10}
    assert dumps(graded_report()) == dumps(graded_report())


def test_waivers_are_judged_on_the_scan_start_date() -> None:
    before = graded_report(datetime(2026, 1, 31, 23, 0, tzinfo=timezone.utc))
    rdp = next(f for f in before["targets"][1]["findings"] if f["check_id"] == "SVC-RDP-EXPOSED")
    assert rdp["waiver"]["expired"] is False and before["waivers"]["expired"] == []
    # Without the RDP fail only the (provider-run) high TLS fail caps: at C, which is where 70.8 lands.
    assert before["grade"]["score"] == 70.8 and before["grade"]["letter"] == "C"
    assert before["grade"]["cap"] == {"reason": "high_fails_1", "check_ids": ["TLS-CERT-VALIDITY"]}
    assert [d["check_id"] for d in before["grade"]["open_doors"]] == ["TLS-CERT-VALIDITY"]


def test_report_without_report_settings_has_null_commune_and_default_owners() -> None:
    data = report()
    jsonschema.validate(data, load_schema())
    assert data["commune"] == {"name": None, "insee": None}
    assert data["branding"] == {"organisation": None, "logo_data_uri": None}
    assert data["waivers"] == {"expired": [], "unused": []}
    finding = data["targets"][0]["findings"][0]
    assert finding["owner"] == {"asset": None, "name": "commune", "source": "default"}
    assert finding["effort"] is None and finding["waiver"] is None and finding["area"] == "TST"


def test_scan_passes_config_waivers_owners_and_report_settings(tmp_path) -> None:
    from engine_fakes import AtLeast, fake_registry

    from cyberscan.config import load_config
    from cyberscan.scan import run_scan
    from cyberscan.targets import parse_target

    (tmp_path / "c.toml").write_text(
        '[report]\ncommune = "Mairie-B"\n[owners]\nnetwork = "Syndicat"\n'
        '[checks."TST-COUNT-MIN"]\nminimum = 5\n'
        '[[waivers]]\ncheck = "TST-COUNT-MIN"\nreason = "r"\nowner = "o"\nexpires = 2999-01-01\n',
        encoding="utf-8",
    )
    registry = fake_registry(AtLeast)
    run = run_scan(registry, load_config(tmp_path / "c.toml", registry), [parse_target("mairie-b.test")])
    jsonschema.validate(run.report, load_schema())
    assert run.report["commune"]["name"] == "Mairie-B"
    (finding,) = run.report["targets"][0]["findings"]
    assert finding["status"] == "fail" and finding["waiver"]["expired"] is False
    assert run.report["grade"]["letter"] is None  # the only verdict is waived: nothing left to score
