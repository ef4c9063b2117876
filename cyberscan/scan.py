"""One scan from start to report: select checks, run the scanner, build the canonical JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .config import Settings
from .models import Finding, Severity, Status, TargetResult
from .registry import Registry
from .reporting.json_report import build_report
from .runner import FactsArchive, ProgressCallback, Scanner, select_checks
from .targets import Target


@dataclass
class ScanRun:
    """The outcome of a scan: results, the canonical report and the facts that can be saved."""

    results: list[TargetResult]
    report: dict[str, Any]
    archive: FactsArchive

    def findings(self) -> list[Finding]:
        return [f for r in self.results for f in r.findings]

    def worst_failures(self, threshold: Severity) -> list[Finding]:
        """Failed findings at or above `threshold` (what `--fail-on` counts)."""
        return [f for f in self.findings() if f.status is Status.FAIL and f.severity.rank >= threshold.rank]


def report_settings(settings: Settings, check_ids: Sequence[str]) -> dict[str, Any]:
    """The settings recorded in the report: what shaped the results, nothing secret."""
    return {
        "timeout_s": settings.timeout,
        "deadline_s": settings.deadline,
        "scope": list(settings.scope),
        "resolver": settings.resolver or "system",
        "checks": list(check_ids),
    }


def run_scan(
    registry: Registry,
    settings: Settings,
    targets: Sequence[Target],
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    replay: FactsArchive | None = None,
    progress: ProgressCallback | None = None,
) -> ScanRun:
    """Scan `targets` (or re-evaluate `replay` facts offline) and build the report."""
    selected = select_checks(registry, settings, only, skip)
    scanner = Scanner(registry, settings, selected)
    started = datetime.now(timezone.utc)
    results = scanner.scan(targets, replay=replay, progress=progress)
    finished = datetime.now(timezone.utc)
    metas = {s.id: s.meta for s in selected}
    report = build_report(
        results,
        metas,
        lang=settings.lang,
        started_at=started,
        finished_at=finished,
        settings=report_settings(settings, [s.id for s in selected]),
        mode="replay" if replay is not None else "live",
        report_settings=settings.report,
        owners=settings.owners,
        waivers=settings.waivers,
        # Providers (who acts) are recognised from the facts already collected: no extra query.
        facts={name: list(tf.facts.values()) for name, tf in scanner.archive.targets.items()},
    )
    return ScanRun(results, report, scanner.archive)
