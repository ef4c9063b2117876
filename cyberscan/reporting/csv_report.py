"""CSV of findings (one row per finding, stable columns), rendered from the canonical JSON report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from ..bounds import clip

#: Stable column names (English, machine-friendly); the cells hold the report's language.
COLUMNS = (
    "target",
    "area",
    "check_id",
    "status",
    "severity",
    "resource",
    "title",
    "message",
    "owner",
    "owner_source",
    "owner_asset",
    "effort",
    "waiver_reason",
    "waiver_owner",
    "waiver_expires",
    "waiver_expired",
    "remediation",
    "references",
    "error_kind",
    "error_detail",
    "evidence",
)
#: Spreadsheets run a cell starting with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Excel truncates longer cells; evidence and remediation are bounded well below.
_CELL_MAX = 4000


def safe_cell(value: Any) -> str:
    """One printable, bounded cell that no spreadsheet will evaluate."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    raw = str(value)
    text = clip(raw, _CELL_MAX)
    if "\n" in text:
        # Newlines are kept out of cells: many tools that read CSV line by line split rows on them.
        text = " ".join(text.split())
    # Checked before and after cleaning: folding "\n=1" must not produce a formula either.
    if raw.startswith(_FORMULA_START) or text.startswith(_FORMULA_START):
        text = "'" + text
    return text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _row(finding: Mapping[str, Any]) -> list[str]:
    owner, waiver, error = (
        _dict(finding.get("owner")),
        _dict(finding.get("waiver")),
        _dict(finding.get("error")),
    )
    refs = " | ".join(
        f"{r.get('label', '')} <{r['url']}>" if r.get("url") else str(r.get("label", ""))
        for r in _dicts(finding.get("references"))
    )
    evidence = finding.get("evidence")
    values: dict[str, Any] = {
        "target": finding.get("target"),
        "area": finding.get("area") or str(finding.get("check_id", "")).split("-", 1)[0],
        "check_id": finding.get("check_id"),
        "status": finding.get("status"),
        "severity": finding.get("severity"),
        "resource": finding.get("resource"),
        "title": finding.get("title"),
        "message": finding.get("message"),
        "owner": owner.get("name"),
        "owner_source": owner.get("source"),
        "owner_asset": owner.get("asset"),
        "effort": finding.get("effort"),
        "waiver_reason": waiver.get("reason"),
        "waiver_owner": waiver.get("owner"),
        "waiver_expires": waiver.get("expires"),
        "waiver_expired": waiver.get("expired") if waiver else None,
        "remediation": finding.get("remediation"),
        "references": refs,
        "error_kind": error.get("kind"),
        "error_detail": error.get("detail"),
        "evidence": json.dumps(evidence, ensure_ascii=False, sort_keys=True) if evidence else "",
    }
    return [safe_cell(values[column]) for column in COLUMNS]


def render_csv(report: Mapping[str, Any]) -> str:
    """Every finding of the report, in the report's order (targets, then check ID and resource)."""
    buffer = io.StringIO()
    # RFC 4180: comma, CRLF, quotes doubled; UTF-8 without BOM (`cyberscan render` writes the text).
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for target in _dicts(report.get("targets")):
        for finding in _dicts(target.get("findings")):
            writer.writerow(_row(finding))
    return buffer.getvalue()
