"""Render the HTML report from the canonical JSON with jinja2 (autoescaped, self-contained)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from ..i18n import SEVERITY_LABELS, STATUS_LABELS, label


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cyberscan.report_templates", "."),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


_STATUS_RISK = {"fail": 0, "error": 1, "warn": 2, "not_tested": 3, "info": 4, "not_applicable": 5, "pass": 6}
_SEVERITY_RISK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def by_risk(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings for a human reader: failures first, then by severity; the JSON keeps ID order for diffs."""
    return sorted(
        findings,
        key=lambda f: (_STATUS_RISK.get(f["status"], 9), _SEVERITY_RISK.get(f["severity"], 9), f["check_id"]),
    )


def render_html(report: Mapping[str, Any], lang: str | None = None) -> str:
    """The report as one HTML page: inline CSS, no script, no external request."""
    lang = lang or report["lang"]
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        by_risk=by_risk,
        lang=lang,
        status_label=lambda s: label(STATUS_LABELS, s, lang),
        severity_label=lambda s: label(SEVERITY_LABELS, s, lang),
    )
