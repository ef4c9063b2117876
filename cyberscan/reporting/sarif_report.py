"""SARIF 2.1.0 log of a report: one rule per check, one result per finding, resources as logical locations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..bounds import clip
from ..metadata import CheckMeta

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
#: GitHub code scanning reads this 0–10 property to rank security results.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
#: SARIF's `kind` for our statuses (§3.27.9). Only "fail" results carry a level other than "none".
_KIND = {
    "pass": "pass",
    "fail": "fail",
    "warn": "fail",
    "info": "informational",
    "not_applicable": "notApplicable",
    "not_tested": "open",
    "error": "open",
}
_TEXT = 2000


def level(status: str, severity: str) -> str:
    """SARIF level: error/warning/note for failures by severity, warnings one step softer, else none."""
    if status == "fail":
        return {"critical": "error", "high": "error", "medium": "warning"}.get(severity, "note")
    if status == "warn":
        return "warning" if severity in ("critical", "high") else "note"
    return "none"


def _utc(value: Any) -> str | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any, limit: int = _TEXT) -> str:
    return clip(str(value), limit) if value is not None else ""


def _rule(check_id: str, sample: Mapping[str, Any], meta: CheckMeta | None, lang: str) -> dict[str, Any]:
    severity = meta.severity.value if meta else str(sample.get("severity"))
    references = (
        [{"label": r.label, "url": r.url} for r in meta.references]
        if meta
        else _dicts(sample.get("references"))
    )
    rule: dict[str, Any] = {
        "id": check_id,
        "shortDescription": {"text": _text(meta.title.get(lang) if meta else sample.get("title"), 300)},
        "help": {
            "text": _text(meta.remediation.get(lang) if meta else sample.get("remediation"), 4000) or "-"
        },
        "defaultConfiguration": {"level": level("fail", severity)},
        "properties": {
            "area": check_id.split("-", 1)[0],
            "severity": severity,
            "security-severity": _SECURITY_SEVERITY.get(severity, "0.0"),
            "tags": ["security", check_id.split("-", 1)[0].lower(), *(meta.tags if meta else ())],
            "references": [
                {"label": _text(r.get("label"), 300), "url": r.get("url")} for r in references[:20]
            ],
        },
    }
    if meta:
        rule["fullDescription"] = {"text": _text(meta.rationale.get(lang), 4000)}
        if meta.effort:
            rule["properties"]["effort"] = meta.effort
    url = next((r.get("url") for r in references if str(r.get("url") or "").startswith("https://")), None)
    if url:
        rule["helpUri"] = url
    return rule


def _fingerprint(finding: Mapping[str, Any]) -> str:
    key = "\x1f".join(str(finding.get(k, "")) for k in ("check_id", "target", "resource"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _result(finding: Mapping[str, Any], rule_index: int) -> dict[str, Any]:
    status, severity = str(finding.get("status")), str(finding.get("severity"))
    resource, target = _text(finding.get("resource"), 500), _text(finding.get("target"), 300)
    result: dict[str, Any] = {
        "ruleId": str(finding.get("check_id")),
        "ruleIndex": rule_index,
        "kind": _KIND.get(status, "review"),
        "level": level(status, severity),
        "message": {"text": _text(finding.get("message")) or str(finding.get("check_id"))},
        "locations": [
            {
                "logicalLocations": [
                    {"name": resource, "fullyQualifiedName": f"{target} {resource}", "kind": "resource"}
                ]
            }
        ],
        "partialFingerprints": {"cyberscanFinding/v1": _fingerprint(finding)},
        "properties": {
            "status": status,
            "severity": severity,
            "target": target,
            "area": finding.get("area") or str(finding.get("check_id", "")).split("-", 1)[0],
        },
    }
    for key in ("owner", "effort"):
        if finding.get(key) is not None:
            result["properties"][key] = finding[key]
    if finding.get("evidence"):
        result["properties"]["evidence"] = finding["evidence"]
    waiver = finding.get("waiver")
    if isinstance(waiver, dict):
        result["properties"]["waiver"] = waiver
        if not waiver.get("expired"):
            # An accepted risk is a suppression; an expired waiver no longer suppresses anything.
            result["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": _text(waiver.get("reason"), 500),
                    "properties": {"owner": waiver.get("owner"), "expires": waiver.get("expires")},
                }
            ]
    return result


def render_sarif(report: Mapping[str, Any], metas: Mapping[str, CheckMeta]) -> str:
    """The report as a SARIF 2.1.0 log (JSON text), deterministic for a given report."""
    lang = "en" if report.get("lang") == "en" else "fr"
    findings = [f for t in _dicts(report.get("targets")) for f in _dicts(t.get("findings"))]
    samples: dict[str, Mapping[str, Any]] = {}
    for finding in findings:
        samples.setdefault(str(finding.get("check_id")), finding)
    rule_ids = sorted(samples)
    index = {check_id: i for i, check_id in enumerate(rule_ids)}
    tool = report.get("tool")
    tool = tool if isinstance(tool, dict) else {}
    invocation: dict[str, Any] = {"executionSuccessful": True}
    for key, field in (("startTimeUtc", "started_at"), ("endTimeUtc", "finished_at")):
        if (moment := _utc(report.get(field))) is not None:
            invocation[key] = moment
    # Scanner errors are the tool's own failures: also listed as notifications, with their reason.
    notifications = [
        {
            "level": "error",
            "message": {"text": _text((f.get("error") or {}).get("detail") or f.get("message"), 500)},
            "descriptor": {"id": str(f.get("check_id"))},
        }
        for f in findings
        if f.get("status") == "error"
    ]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "cyberscan",
                "version": str(tool.get("version", "")),
                "semanticVersion": str(tool.get("version", "")),
                "language": lang,
                "rules": [_rule(c, samples[c], metas.get(c), lang) for c in rule_ids],
            }
        },
        "invocations": [invocation],
        "language": lang,
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[str(f.get("check_id"))]) for f in findings],
        "properties": {
            key: report[key]
            for key in ("checklist", "commune", "grade", "mode")
            if report.get(key) is not None
        },
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, ensure_ascii=False, indent=2) + "\n"
