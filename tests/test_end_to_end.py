"""`cyberscan scan` end to end against real loopback web servers (HTTP and HTTPS with a test CA)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from cyberscan.cli import cli
from cyberscan.demo.sites import MODELE, PASSOIRE, demo_sites
from cyberscan.demo.webserver import LocalWebServer, Route, Site, free_port
from cyberscan.registry import load_registry
from cyberscan.reporting.json_report import load_schema

WEB_CHECKS = sorted(cid for cid in load_registry(load_plugins=False).checks if cid.startswith("WEB-"))
Scan = Callable[..., tuple[Result, dict[str, Any]]]


@pytest.fixture
def demo_server(start_web_server: Callable[..., LocalWebServer]) -> LocalWebServer:
    return start_web_server(demo_sites(datetime.date.today()))


@pytest.fixture
def scan(tmp_path: Path) -> Callable[[LocalWebServer], Scan]:
    """Run `cyberscan scan -f json` in-process against `server`, returning the result and the report."""

    def bind(server: LocalWebServer) -> Scan:
        config = tmp_path / "cyberscan.toml"
        config.write_text(
            "[collectors.http]\nmax_rps = 0.0\n"
            f"http_port = {server.http_port}\nhttps_port = {server.https_port}\n",
            encoding="utf-8",
        )

        def run(*args: str, scope: bool = True) -> tuple[Result, dict[str, Any]]:
            options = [
                "scan",
                "-c",
                str(config),
                "--ca-bundle",
                str(server.ca_pem_path),
                "-f",
                "json",
                "-o",
                "-",
            ]
            options += [f"--resolve={name}=127.0.0.1" for name in server.hosts_map()]
            options += ["--scope", "127.0.0.1/32"] if scope else []
            options += [] if "--only" in args else ["--only", "WEB-*"]  # the TLS family has its own tests
            result = CliRunner().invoke(cli, [*options, "--timeout", "2", "--deadline", "30", *args])
            report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
            return result, report

        return run

    return bind


def verdicts(report: dict[str, Any], target: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in report["targets"]:
        if entry["target"] == target:
            for finding in entry["findings"]:
                found.setdefault(finding["check_id"], set()).add(finding["status"])
    return found


def test_url_target_gets_every_web_verdict_in_schema_valid_json(
    demo_server: LocalWebServer, scan: Any
) -> None:
    url = f"https://www.{MODELE}:{demo_server.https_port}/"
    result, report = scan(demo_server)(url)
    assert result.exit_code == 0, result.output
    jsonschema.validate(report, load_schema())
    found = verdicts(report, url.replace(f":{demo_server.https_port}", f":{demo_server.https_port}"))
    assert sorted(found) == WEB_CHECKS
    assert all(statuses <= {"pass", "info", "not_applicable"} for statuses in found.values()), found


def test_weak_commune_fails_where_the_checklist_says(demo_server: LocalWebServer, scan: Any) -> None:
    result, report = scan(demo_server)(PASSOIRE, "--fail-on", "high")
    assert result.exit_code == 1  # high and critical failures
    jsonschema.validate(report, load_schema())
    found = verdicts(report, PASSOIRE)
    for check_id in (
        "WEB-HTTPS-AVAILABLE",
        "WEB-HTTPS-REDIRECT",
        "WEB-HSTS",
        "WEB-COOKIE-FLAGS",
        "WEB-MIXED-CONTENT",
        "WEB-ERROR-DISCLOSURE",
        "WEB-SENSITIVE-FILES",
        "WEB-DIR-LISTING",
        "WEB-ADMIN-PATHS",
        "WEB-CORS",
    ):
        assert "fail" in found[check_id], (check_id, found[check_id])
    for check_id in ("WEB-CSP", "WEB-REFERRER", "WEB-NOSNIFF", "WEB-INFO-DISCLOSURE", "WEB-THIRDPARTY-SRI"):
        assert "warn" in found[check_id], (check_id, found[check_id])
    sensitive = [
        f for t in report["targets"] for f in t["findings"] if f["check_id"] == "WEB-SENSITIVE-FILES"
    ]
    assert any(f["severity"] == "critical" and "/.env" in json.dumps(f["evidence"]) for f in sensitive)
    # Evidence confirms by a few bytes; the fake secret's value never lands in the report.
    assert "DB_PASSWORD" not in json.dumps(report) or "motdepasse" not in json.dumps(report)


def test_without_scope_active_probes_are_not_sent(demo_server: LocalWebServer, scan: Any) -> None:
    result, report = scan(demo_server)(PASSOIRE, scope=False)
    assert result.exit_code == 0
    found = verdicts(report, PASSOIRE)
    assert found["WEB-SENSITIVE-FILES"] == {"not_tested"}
    assert found["WEB-HSTS"] == {"fail"}  # passive checks still judged
    assert not [p for p in demo_server.paths() if p.startswith(("/.env", "/.git", "/phpinfo"))]
    not_probed = report["targets"][0]["not_probed"]
    assert not_probed == [] or {n["address"] for n in not_probed} == {"127.0.0.1"}


def test_dead_host_and_timeout_become_errors_while_the_rest_completes(
    start_web_server: Callable[..., LocalWebServer], scan: Any
) -> None:
    slow = Site(
        hosts=["lente.test"], routes={"/": Route(200, (("Content-Type", "text/html"),), b"ok", delay=5)}
    )
    server = start_web_server([*demo_sites(datetime.date.today()), slow])
    dead = f"https://mort.test:{free_port()}/"  # 127.0.0.2: loopback, but nothing listens there
    slow_url = f"https://lente.test:{server.https_port}/"
    good = f"https://{MODELE}:{server.https_port}/"
    result, report = scan(server)(
        dead,
        slow_url,
        good,
        "--resolve=mort.test=127.0.0.2",
        "--timeout",
        "1",
        "--only",
        "WEB-HSTS",
        "--only",
        "WEB-CSP",
    )
    assert result.exit_code == 0, result.output
    by_target = {t["target"]: t["findings"] for t in report["targets"]}
    dead_errors = [f["error"]["kind"] for f in by_target[dead]]
    assert dead_errors and set(dead_errors) == {"unreachable"}
    assert {f["status"] for f in by_target[slow_url]} == {"error"}
    assert {f["error"]["kind"] for f in by_target[slow_url]} == {"timeout"}
    assert {f["status"] for f in by_target[good]} == {"pass"}


def test_a_check_that_raises_is_an_error_not_a_gap(
    demo_server: LocalWebServer, scan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hsts = load_registry(load_plugins=False).checks["WEB-HSTS"].cls

    def explode(self: Any, facts: Any) -> Any:
        raise RuntimeError("bug in a check")

    monkeypatch.setattr(hsts, "evaluate", explode)
    _, report = scan(demo_server)(MODELE)
    findings = report["targets"][0]["findings"]
    [hsts_finding] = [f for f in findings if f["check_id"] == "WEB-HSTS"]
    assert hsts_finding["status"] == "error" and hsts_finding["error"]["kind"] == "bug"
    assert "bug in a check" in hsts_finding["message"]
    assert {f["check_id"] for f in findings} == set(WEB_CHECKS)


def test_saved_facts_replay_offline_to_the_same_findings(
    start_web_server: Callable[..., LocalWebServer], scan: Any, tmp_path: Path
) -> None:
    server = start_web_server(demo_sites(datetime.date.today()))
    facts = tmp_path / "facts.json"
    live_result, live = scan(server)(PASSOIRE, "--save-facts", str(facts))
    assert live_result.exit_code == 0
    server.stop()  # nothing to talk to any more: the replay must not need the network
    replayed = CliRunner().invoke(
        cli, ["scan", "--facts", str(facts), "--only", "WEB-*", "-f", "json", "-o", "-"]
    )
    assert replayed.exit_code == 0, replayed.output
    offline = json.loads(replayed.stdout)
    assert offline["mode"] == "replay"
    assert offline["targets"][0]["findings"] == live["targets"][0]["findings"]


def test_two_scans_of_the_same_site_produce_the_same_report(demo_server: LocalWebServer, scan: Any) -> None:
    def without_clock(report: dict[str, Any]) -> dict[str, Any]:
        cleaned = {k: v for k, v in report.items() if k not in ("started_at", "finished_at")}
        for target in cleaned["targets"]:
            for run in target["collector_runs"]:
                run.pop("duration_s")
        return cleaned

    first = scan(demo_server)(PASSOIRE, MODELE)[1]
    second = scan(demo_server)(PASSOIRE, MODELE)[1]
    assert without_clock(first) == without_clock(second)


def test_a_dribbling_server_cannot_keep_the_process_alive(tmp_path: Path) -> None:
    # Headers arrive one byte per second, forever: each read is within the timeout, the whole never
    # ends. The runner abandons the collector at the deadline; the process must then exit too.
    import socket
    import subprocess
    import sys
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def dribble(conn: socket.socket) -> None:
        with conn:
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: ")
            while not stop.wait(1.0):
                try:
                    conn.sendall(b"a")
                except OSError:
                    return

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=dribble, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    port = listener.getsockname()[1]
    config = tmp_path / "c.toml"
    config.write_text(f"[collectors.http]\nhttp_port = {port}\nhttps_port = {port}\nmax_rps = 0.0\n")
    started = time.monotonic()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "cyberscan",
                "scan",
                "mairie.test",
                "-c",
                str(config),
                "-q",
                "--resolve",
                "mairie.test=127.0.0.1",
                "--resolve",
                "www.mairie.test=127.0.0.1",
                "--only",
                "WEB-HSTS",
                "--timeout",
                "2",
                "--deadline",
                "3",
                "-f",
                "json",
                "-o",
                str(tmp_path / "r.json"),
            ],
            capture_output=True,
            text=True,
            timeout=40,
        )
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["targets"][0]["findings"][0]["error"]["kind"] == "deadline"
    assert elapsed < 15, f"the process lived {elapsed:.1f} s after a 3 s deadline"
