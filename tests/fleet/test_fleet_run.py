"""`cyberscan fleet run` against real loopback web servers: dedupe, per-IP limit, history, lock, resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from click.testing import CliRunner, Result
from conftest import closed_udp_port  # type: ignore[import-not-found]

from cyberscan.demo.webserver import free_port
from cyberscan.fleet.commands import fleet
from cyberscan.fleet.history import History
from cyberscan.fleet.inventory import load_inventory
from cyberscan.fleet.runner import fleet_lock, run_changes
from cyberscan.registry import load_registry

from .fleet_helpers import SwitchableServer, site, write_config, write_inventory

SHARED = "cc-vallee.test"
NAMES = ["alpha.test", "beta.test", "gamma.test", "delta.test", SHARED]


@pytest.fixture
def server(test_ca: trustme.CA) -> Iterator[SwitchableServer]:
    sites = [
        site("alpha.test"),
        site("beta.test", hsts=False),
        site("gamma.test"),
        site("delta.test", hsts=False),
        site(SHARED),
    ]
    with SwitchableServer(sites, ca=test_ca) as running:
        yield running


def run(inventory: Path, db: Path, out: Path, *extra: str) -> Result:
    args = ["run", str(inventory), "--db", str(db), "--out", str(out), "--only", "WEB-HSTS", *extra]
    return CliRunner().invoke(fleet, args, catch_exceptions=False)


def test_two_runs_dedupe_limit_changes_and_reports(tmp_path: Path, server: SwitchableServer) -> None:
    write_config(tmp_path, server, closed_udp_port(), NAMES)
    communes = [
        ("Alpha", "45001", ["alpha.test", SHARED]),
        ("Bêta", "45002", ["beta.test", SHARED]),
        ("Gamma", "45003", ["gamma.test", SHARED]),
    ]
    inventory = write_inventory(tmp_path, communes)
    db, out = tmp_path / "h.sqlite", tmp_path / "out"
    first = run(inventory, db, out, "--jobs", "3", "--per-ip-rate", "20", "--per-ip-burst", "2")
    assert first.exit_code == 0, first.output + first.stderr
    assert first.stdout.count("\n") == 1 and "run 1 complete" in first.stdout  # quiet: one summary line
    # Dedupe: the shared site was fetched once for the three communes, exactly like one commune's own site.
    assert server.count(SHARED) == server.count("alpha.test") > 0
    assert server.count(f"www.{SHARED}") == server.count("www.alpha.test") > 0
    assert "cache 2 hit(s)/4 miss(es)" in first.stdout
    # Per-IP limit: 20 connections/s with bursts of 2 → beyond the burst, ≥ 50 ms between requests
    # (a redirect followed on a kept-alive connection adds one request without a new connection).
    times = sorted(t for _, t in server.times)
    assert len(times) >= 12
    assert times[-1] - times[0] >= (len(times) / 2 - 2) * 0.05 * 0.9

    # Second run: Alpha loses HSTS (regressed), Bêta gains it (fixed), Gamma adds a domain without (new).
    server.switch(site("alpha.test", hsts=False))
    server.switch(site("beta.test", hsts=True))
    communes[2] = ("Gamma", "45003", ["gamma.test", SHARED, "delta.test"])
    write_inventory(tmp_path, communes)
    alerts = '\n[alerts]\nsmtp_host = "relais.test"\nsender = "audit@syndicat.test"\nthreshold = "medium"\n'
    inventory.write_text(inventory.read_text(encoding="utf-8") + alerts, encoding="utf-8")
    second = run(inventory, db, out, "--fail-on", "medium", "--per-ip-rate", "0", "--dry-run")
    assert second.exit_code == 1, second.output + second.stderr  # new medium failures since run 1
    # The complete run's alerts, printed instead of sent: Alpha (regressed) and Gamma (new) are told,
    # Bêta (only fixed) is not; nothing was sent (no relay exists at relais.test).
    assert "mairie@alpha.test" in second.stdout and "mairie@delta.test" not in second.stdout
    assert "mairie@gamma.test" in second.stdout and "mairie@beta.test" not in second.stdout
    registry = load_registry(load_plugins=False)
    with History(db) as history:
        changes = run_changes(history, 2, load_inventory(inventory, registry).communes)
        assert history.integrity() == "ok"
    kinds = {
        insee: {(c.kind, c.resource.split("/")[2].split(":")[0]) for c in ch.changes}
        for insee, ch in changes.items()
    }
    assert kinds["45001"] == {("regressed", "alpha.test"), ("regressed", "www.alpha.test")}
    assert kinds["45002"] == {("fixed", "beta.test"), ("fixed", "www.beta.test")}
    assert kinds["45003"] == {("new", "delta.test"), ("new", "www.delta.test")}
    assert changes["45001"].grade != changes["45001"].previous_grade
    assert [c.check_id for c in changes["45001"].alerts()] == ["WEB-HSTS", "WEB-HSTS"]

    page = (out / "45001-alpha" / "rapport.html").read_text(encoding="utf-8")
    assert 'id="fleet-changes"' in page and "<svg" in page and "<polyline" in page
    assert "Ce qui a changé depuis le" in page and "dégradé" in page and "<script" not in page
    assert json.loads((out / "45001-alpha" / "rapport.json").read_text())["commune"]["insee"] == "45001"
    overview = (out / "synthese.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in overview and "<script" not in overview and "http://" not in overview
    assert "WEB-HSTS" in overview and "Alpha" in overview

    # `fleet report` re-renders everything from the database alone, in another language.
    again = tmp_path / "again"
    rendered = CliRunner().invoke(
        fleet, ["report", str(inventory), "--db", str(db), "--out", str(again), "--lang", "en"]
    )
    assert rendered.exit_code == 0, rendered.output
    assert "What changed since" in (again / "45002-beta" / "rapport.html").read_text(encoding="utf-8")
    assert "Fleet overview" in (again / "synthese.html").read_text(encoding="utf-8")
    history_out = CliRunner().invoke(
        fleet, ["history", str(inventory), "--db", str(db), "--commune", "45001"]
    )
    assert history_out.exit_code == 0 and history_out.stdout.count("\n") == 2


def test_second_run_refused_by_the_lock(tmp_path: Path, server: SwitchableServer) -> None:
    write_config(tmp_path, server, closed_udp_port(), NAMES)
    inventory = write_inventory(tmp_path, [("Alpha", "45001", ["alpha.test"])])
    db = tmp_path / "h.sqlite"
    with fleet_lock(db):
        started = time.monotonic()
        result = run(inventory, db, tmp_path / "out")
        assert time.monotonic() - started < 5
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "another fleet run is in progress" in result.stderr
    assert server.requests == []


def _done(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM commune_runs WHERE status = 'done'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_kill_9_then_resume_loses_nothing_and_redoes_nothing(
    tmp_path: Path, server: SwitchableServer
) -> None:
    write_config(tmp_path, server, closed_udp_port(), NAMES)
    server.switch(site("gamma.test", delay=3.0))  # the third commune's server stalls past every timeout
    inventory = write_inventory(
        tmp_path,
        [
            ("Alpha", "45001", ["alpha.test"]),
            ("Bêta", "45002", ["beta.test"]),
            ("Gamma", "45003", ["gamma.test"]),
        ],
    )
    db, out = tmp_path / "h.sqlite", tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "cyberscan.fleet.commands",
        "run",
        str(inventory),
        "--db",
        str(db),
        "--out",
        str(out),
        "--only",
        "WEB-HSTS",
        "--jobs",
        "1",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while _done(db) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        assert _done(db) == 2, "the first two communes never completed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes
    assert process.returncode == -signal.SIGKILL
    before = {h: server.count(h) for h in ("alpha.test", "beta.test")}
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finished = conn.execute("SELECT insee, finished_at FROM commune_runs ORDER BY insee").fetchall()
    assert [r[0] for r in finished] == ["45001", "45002"]

    server.overrides.clear()
    resumed = run(inventory, db, out, "--jobs", "1")
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    assert "run 1 complete (resumed): 1 scanned, 2 already done, 0 failed of 3" in resumed.stdout
    assert {h: server.count(h) for h in before} == before  # completed communes were not scanned again
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute(
            "SELECT insee, finished_at FROM commune_runs WHERE run_id = 1 ORDER BY insee"
        ).fetchall()
        assert rows[:2] == finished and [r[0] for r in rows] == ["45001", "45002", "45003"]
        assert conn.execute("SELECT status FROM runs").fetchall() == [("complete",)]
    assert (out / "45001-alpha" / "rapport.html").is_file() and (
        out / "45003-gamma" / "rapport.html"
    ).is_file()


def test_alerts_a_relay_outage_did_not_deliver_are_owed_to_the_next_invocation(
    tmp_path: Path, server: SwitchableServer
) -> None:
    write_config(tmp_path, server, closed_udp_port(), NAMES)
    inventory = write_inventory(tmp_path, [("Alpha", "45001", ["alpha.test"])])
    relay_port = free_port()  # nothing listens there: the relay is down
    alerts = f'\n[alerts]\nsmtp_host = "127.0.0.1"\nsmtp_port = {relay_port}\nsender = "a@syndicat.test"\n'
    inventory.write_text(inventory.read_text(encoding="utf-8") + alerts, encoding="utf-8")
    db, out = tmp_path / "h.sqlite", tmp_path / "out"
    baseline = run(inventory, db, out, "--per-ip-rate", "0")
    assert baseline.exit_code == 0, baseline.output + baseline.stderr  # a first audit alerts nobody

    server.switch(site("alpha.test", hsts=False))  # Alpha regresses: an alert is owed
    second = run(inventory, db, out, "--per-ip-rate", "0")
    assert second.exit_code == 3, second.output + second.stderr  # scanned fine, the alert is not out
    assert "alert mail" in second.stderr and "NOT delivered" in second.stdout
    with History(db) as history:
        assert history.owed_alerts(str(inventory.resolve())) == [2]

    # The next invocation (a dry run of run 3) first delivers what run 2 still owes, then its own.
    third = run(inventory, db, out, "--per-ip-rate", "0", "--dry-run")
    assert "To: mairie@alpha.test" in third.stdout and "HSTS" in third.stdout, third.stdout
    with History(db) as history:
        assert history.owed_alerts(str(inventory.resolve())) == [2, 3]  # a dry run leaves them owed
