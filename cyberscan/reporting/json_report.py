"""Build the canonical JSON report: the one output every other format is rendered from."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from .. import __version__
from ..checklist import load_checklist
from ..i18n import render_message
from ..metadata import CheckMeta
from ..models import Finding, Status, TargetResult
from ..owners import Detection, Owners, detect
from ..plugin import Facts
from ..waivers import Waiver, WaiverMark, apply_waivers
from .grading import Graded, grade
from .settings import ReportSettings

log = logging.getLogger(__name__)

# 1.1: grade, commune, branding, waivers; per finding area, effort, owner and waiver.
SCHEMA_VERSION = "1.1"
STATUS_ORDER = [s.value for s in Status]


def _finding_json(
    finding: Finding, meta: CheckMeta | None, lang: str, graded: Graded, mark: WaiverMark | None
) -> dict[str, Any]:
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
        "area": graded.area,
        "effort": graded.effort,
        "owner": graded.owner.to_json(),
        "waiver": mark.to_json() if mark else None,
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
    report_settings: ReportSettings | None = None,
    owners: Mapping[str, str] | None = None,
    waivers: Sequence[Waiver] = (),
    facts: Mapping[str, Iterable[Facts]] | None = None,
) -> dict[str, Any]:
    """Assemble the JSON report (see `report.schema.json`), graded as one commune.

    Args:
        owners: `[owners]` from the configuration (asset -> name), which wins over detection.
        waivers: `[[waivers]]`, judged as of the date `started_at` falls on (UTC).
        facts: the facts collected per target name, from which providers are detected (no I/O).
    """
    report_settings = report_settings or ReportSettings()
    checklist = load_checklist()
    all_findings = [f for r in results for f in r.findings]
    ordered = [sorted(r.findings, key=Finding.sort_key) for r in results]
    outcome = apply_waivers([f for fs in ordered for f in fs], waivers, started_at.date())
    marks = iter(outcome.marks)
    graded: list[list[tuple[Graded, WaiverMark | None]]] = []
    for r, findings in zip(results, ordered, strict=True):
        resolver = Owners(owners or {}, _detection(r.target, (facts or {}).get(r.target, ())))
        items = []
        for f in findings:
            meta, mark = metas.get(f.check_id), next(marks)
            owner = resolver.owner(meta.asset if meta else None, f.resource)
            waived = mark is not None and not mark.expired
            item = Graded(f, f.check_id.split("-", 1)[0], owner, meta.effort if meta else None, waived)
            items.append((item, mark))
        graded.append(items)
    run_grade = grade([g for items in graded for g, _ in items], report_settings.weights)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "cyberscan", "version": __version__},
        "checklist": {"id": checklist.id, "version": checklist.version},
        "lang": lang,
        "mode": mode,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": finished_at.isoformat(timespec="seconds"),
        "settings": dict(settings),
        "commune": {"name": report_settings.commune, "insee": report_settings.insee},
        "branding": {
            "organisation": report_settings.organisation,
            "logo_data_uri": report_settings.logo_data_uri,
        },
        "summary": {"targets": len(results), "findings": status_counts(all_findings)},
        "grade": run_grade.to_json(),
        "waivers": outcome.to_json(),
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
                    _finding_json(g.finding, metas.get(g.finding.check_id), lang, g, mark)
                    for g, mark in items
                ],
            }
            for r, items in zip(results, graded, strict=True)
        ],
    }


def _detection(target: str, facts: Iterable[Facts]) -> Detection:
    try:
        return detect(facts)
    except Exception:  # a detection bug costs the "who acts" hint, never the report itself
        log.warning("provider detection failed on %s; owners default to the commune", target, exc_info=True)
        return Detection()


def dumps(report: Mapping[str, Any]) -> str:
    """Serialise deterministically: fixed key order as built, UTF-8 text kept readable."""
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


@cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package."""
    text = resources.files("cyberscan").joinpath("data/report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
