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


def render_html(report: Mapping[str, Any], lang: str | None = None) -> str:
    """The report as one HTML page: inline CSS, no script, no external request."""
    lang = lang or report["lang"]
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        lang=lang,
        status_label=lambda s: label(STATUS_LABELS, s, lang),
        severity_label=lambda s: label(SEVERITY_LABELS, s, lang),
    )
