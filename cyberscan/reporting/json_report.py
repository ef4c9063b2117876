"""Build the canonical JSON report: the one output every other format is rendered from."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from .. import __version__
from ..checklist import load_checklist
from ..i18n import render_message
from ..metadata import CheckMeta
from ..models import Finding, Status, TargetResult

SCHEMA_VERSION = "1.0"
STATUS_ORDER = [s.value for s in Status]


def _finding_json(finding: Finding, meta: CheckMeta | None, lang: str) -> dict[str, Any]:
    return {
        "check_id": finding.check_id,
        "target": finding.target,
        "resource": finding.resource,
        "status": finding.status.value,
        "severity": finding.severity.value,
        "title": meta.title.get(lang) if meta else finding.check_id,
        "message": render_message(meta, finding.message_id, finding.params, lang),
        "message_id": finding.message_id,
        "params": dict(finding.params),
        "evidence": dict(finding.evidence),
        "remediation": meta.remediation.get(lang) if meta else "",
        "references": [{"label": r.label, "url": r.url} for r in meta.references] if meta else [],
        "error": finding.error.to_json() if finding.error else None,
    }


def status_counts(findings: Sequence[Finding]) -> dict[str, int]:
    """Findings per status, every status present (zeros included) in vocabulary order."""
    counts = Counter(f.status.value for f in findings)
    return {status: counts.get(status, 0) for status in STATUS_ORDER}


def build_report(
    results: Sequence[TargetResult],
    metas: Mapping[str, CheckMeta],
    *,
    lang: str,
    started_at: datetime,
    finished_at: datetime,
    settings: Mapping[str, Any],
    mode: str = "live",
) -> dict[str, Any]:
    """Assemble the JSON report (see `report.schema.json`)."""
    checklist = load_checklist()
    all_findings = [f for r in results for f in r.findings]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "cyberscan", "version": __version__},
        "checklist": {"id": checklist.id, "version": checklist.version},
        "lang": lang,
        "mode": mode,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "settings": dict(settings),
        "summary": {"targets": len(results), "findings": status_counts(all_findings)},
        "targets": [
            {
                "target": r.target,
                "kind": r.kind,
                "collector_runs": [
                    {
                        "name": run.name,
                        "status": run.status.value,
                        "duration_s": run.duration_s,
                        "error": run.error.to_json() if run.error else None,
                    }
                    for run in r.collector_runs
                ],
                "not_probed": [
                    {"host": n.host, "address": n.address, "reason": n.reason} for n in r.not_probed
                ],
                "summary": status_counts(r.findings),
                "findings": [
                    _finding_json(f, metas.get(f.check_id), lang)
                    for f in sorted(r.findings, key=Finding.sort_key)
                ],
            }
            for r in results
        ],
    }


def dumps(report: Mapping[str, Any]) -> str:
    """Serialise deterministically: fixed key order as built, UTF-8 text kept readable."""
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package."""
    text = resources.files("cyberscan").joinpath("data/report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
