"""The runner: only needed collectors run, every failure becomes an error finding, the deadline holds."""

import time
from pathlib import Path

import pytest
from engine_fakes import (
    AtLeast,
    CountCollector,
    CountFacts,
    NeedsSlow,
    Raises,
    Silent,
    SlowCollector,
    SlowFacts,
    fake_registry,
)

from cyberscan.config import CheckSettings, Settings
from cyberscan.models import ErrorKind, Severity, Status
from cyberscan.runner import FactsArchive, Scanner, SelectionError, select_checks
from cyberscan.targets import parse_target


def run(targets: list[str], settings: Settings | None = None, only: tuple[str, ...] = (), checks=()):
    registry = fake_registry(*checks)
    settings = settings or Settings(deadline=1.0)
    scanner = Scanner(registry, settings, select_checks(registry, settings, only))
    return scanner, scanner.scan([parse_target(t) for t in targets])


def by_check(result):
    return {f.check_id: f for f in result.findings}


def test_only_needed_collectors_start() -> None:
    CountCollector.calls.clear()
    SlowCollector.started = 0
    _, results = run(["mairie-a.fr"], only=("TST-COUNT-*",))
    assert CountCollector.calls == ["mairie-a.fr"] and SlowCollector.started == 0
    assert [r.name for r in results[0].collector_runs] == ["count"]
    assert by_check(results[0])["TST-COUNT-MIN"].status is Status.PASS


def test_failures_become_error_findings_and_the_rest_completes() -> None:
    _, results = run(
        ["timeout.mairie-a.fr", "crash.mairie-b.fr", "mairie-c.fr"], checks=(AtLeast, Raises, Silent)
    )
    timed_out, crashed, fine = (by_check(r) for r in results)
    assert timed_out["TST-COUNT-MIN"].status is Status.ERROR
    assert timed_out["TST-COUNT-MIN"].error.kind is ErrorKind.TIMEOUT
    assert timed_out["TST-COUNT-MIN"].error.source == "count"
    assert crashed["TST-COUNT-MIN"].error.kind is ErrorKind.BUG
    assert "ValueError: boom" in crashed["TST-COUNT-MIN"].error.detail
    assert fine["TST-COUNT-MIN"].status is Status.PASS
    assert fine["TST-RAISES"].status is Status.ERROR and fine["TST-RAISES"].error.source == "TST-RAISES"
    assert "check bug" in fine["TST-RAISES"].params["detail"]
    assert fine["TST-SILENT"].status is Status.ERROR and "no finding" in fine["TST-SILENT"].error.detail


def test_deadline_abandons_a_stuck_collector() -> None:
    started = time.monotonic()
    _, results = run(["mairie-a.fr"], Settings(deadline=1.0), checks=(AtLeast, NeedsSlow))
    assert time.monotonic() - started < 2.5  # the slow collector sleeps 3 s
    findings = by_check(results[0])
    assert findings["TST-SLOW"].error.kind is ErrorKind.DEADLINE
    assert findings["TST-COUNT-MIN"].status is Status.PASS


def test_settings_shape_params_severity_and_selection() -> None:
    settings = Settings(
        collectors={"count": {"value": 1}},
        checks={"TST-COUNT-MIN": CheckSettings(severity=Severity.LOW, params={"minimum": 1})},
    )
    _, results = run(["mairie-a.fr"], settings, only=("tst-count-*",), checks=(AtLeast,))
    finding = by_check(results[0])["TST-COUNT-MIN"]
    assert (finding.status, finding.severity, finding.params["value"]) == (Status.PASS, Severity.LOW, 1)
    with pytest.raises(SelectionError, match="no check matches"):
        run(["mairie-a.fr"], only=("WEB-*",))
    disabled = Settings(checks={"TST-COUNT-MIN": CheckSettings(enabled=False)})
    with pytest.raises(SelectionError, match="no check selected"):
        run(["mairie-a.fr"], disabled, checks=(AtLeast,))


def test_facts_replay_reproduces_results_offline() -> None:
    scanner, live = run(["mairie-a.fr", "timeout.mairie-b.fr"], checks=(AtLeast,))
    saved = scanner.archive.to_json("test")
    archive = FactsArchive.from_json(saved, {"count": CountFacts})
    CountCollector.calls.clear()
    registry = fake_registry(AtLeast)
    replayer = Scanner(registry, Settings(), select_checks(registry, Settings()))
    replayed = replayer.scan(
        [parse_target("mairie-a.fr"), parse_target("timeout.mairie-b.fr"), parse_target("new.fr")],
        replay=archive,
    )
    assert CountCollector.calls == []  # no collector ran
    assert replayed[0].findings == live[0].findings
    assert replayed[1].findings[0].error.kind is ErrorKind.TIMEOUT  # saved failures replay too
    assert replayed[2].findings[0].error.kind is ErrorKind.NO_FACTS


def test_an_abandoned_collector_does_not_keep_the_process_alive(tmp_path) -> None:
    # A collector stuck past the deadline must not hold the interpreter at exit (cron would hang).
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            from typing import ClassVar
            from engine_fakes import NeedsSlow, SlowCollector, fake_registry
            from cyberscan.config import Settings
            from cyberscan.runner import Scanner, select_checks
            from cyberscan.targets import parse_target

            SlowCollector.collect = lambda self, target, ctx: time.sleep(30)
            registry = fake_registry(NeedsSlow)
            settings = Settings(deadline=1.0)
            scanner = Scanner(registry, settings, select_checks(registry, settings))
            [result] = scanner.scan([parse_target("a.fr")])
            print(result.findings[0].error.kind.value)
            """
        )
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=25,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert done.stdout.strip() == "deadline", done.stderr
    assert time.monotonic() - started < 10


def test_a_collector_that_cannot_start_only_affects_its_own_checks() -> None:
    # E.g. a broken sslyze install: importing the collector fails.
    registry = fake_registry(AtLeast, NeedsSlow)
    registry.collectors[SlowFacts] = "cyberscan.collectors.nonexistent:Nothing"
    settings = Settings(deadline=2.0)
    [result] = Scanner(registry, settings, select_checks(registry, settings)).scan([parse_target("a.fr")])
    findings = by_check(result)
    assert findings["TST-COUNT-MIN"].status is Status.PASS
    assert findings["TST-SLOW"].status is Status.ERROR
    assert "ModuleNotFoundError" in findings["TST-SLOW"].error.detail
    assert [(r.name, r.status.value) for r in result.collector_runs] == [("count", "ok"), ("slow", "error")]
