"""`cyberscan demo`: scan two invented communes served on loopback and write their reports."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import trustme

from .. import __version__
from ..config import Settings
from ..registry import Registry
from ..reporting.html_report import render_html
from ..reporting.json_report import dumps
from ..scan import ScanRun, run_scan
from ..targets import parse_target
from .services import ServiceSet
from .sites import demo_sites
from .tlsserver import LocalTlsServer, TlsServerUnavailable
from .webserver import LOOPBACK, LocalWebServer, free_port

DEMO_TARGETS = ("mairie-modele.test", "mairie-passoire.test")
#: the weak commune's server room, exposed to the Internet: emulated greetings on a loopback address
#: of its own (ports above 1024, so the demo needs no privilege)
SERVER_ADDRESS = "127.0.0.2"
SERVER_SERVICES = {"rdp": 3389, "redis": 6379, "vnc": 5900, "synology": 5000, "telnet": 2323}
#: the weak commune's remote-access portal, on a TLS stack of another age (TLS 1.0, CBC, static RSA)
EXTRANET = "extranet.mairie-passoire.test"


@contextlib.contextmanager
def _server_room() -> Iterator[ServiceSet | None]:
    """The emulated exposed services, or None (the demo goes on) when the address cannot be bound."""
    try:
        services = ServiceSet.start(SERVER_ADDRESS, SERVER_SERVICES)
    except OSError as exc:
        print(f"cyberscan demo: exposed-services host skipped: {exc}", file=sys.stderr)
        yield None
        return
    with services:
        yield services


@contextlib.contextmanager
def _legacy_extranet(ca: trustme.CA) -> Iterator[LocalTlsServer | None]:
    """The legacy TLS server, or None (with the demo going on) when `openssl` is not installed."""
    try:
        server = LocalTlsServer("legacy", hosts=[EXTRANET], ca=ca)
    except TlsServerUnavailable as exc:
        print(f"cyberscan demo: legacy TLS server skipped: {exc}", file=sys.stderr)
        yield None
        return
    with server:
        yield server


@dataclass(frozen=True)
class DemoOutput:
    """Where the demo wrote its files, and the scan itself."""

    run: ScanRun
    json_path: Path
    html_path: Path
    facts_path: Path


def run_demo(registry: Registry, out_dir: Path, lang: str = "fr") -> DemoOutput:
    """Start the loopback web servers, scan both demo communes, write JSON, HTML and facts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # An ECDSA P-256 CA and leaves, as a well-run commune would get from its ACME CA today.
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    with (
        LocalWebServer(demo_sites(datetime.date.today()), ca=ca) as server,
        _legacy_extranet(ca) as extranet,
        _server_room() as server_room,
    ):
        settings = Settings(
            lang=lang,
            # Every demo name is pinned in `hosts`; any other lookup goes to a closed loopback port and
            # fails at once, so the demo can never send a DNS query off this machine.
            resolver=f"{LOOPBACK}:{free_port()}",
            # Only the loopback address the demo servers listen on is declared in scope.
            scope=(f"{LOOPBACK}/32", f"{SERVER_ADDRESS}/32"),
            hosts=server.hosts_map(),
            ca_bundle=server.ca_pem_path,
            timeout=5.0,
            deadline=120.0,
            collectors={
                "http": {"http_port": server.http_port, "https_port": server.https_port, "max_rps": 50.0},
                # The demo communes have no mail servers (no demo DNS server yet): web endpoints only.
                "tls": {"https_port": server.https_port, "mail": False},
                # Only the emulated ports: a demo must never report what else listens on this machine.
                "ports": {
                    "tcp_ports": ",".join(map(str, SERVER_SERVICES.values())),
                    "top_ports": 0,
                    "mail": False,
                },
            },
        )
        targets = [*DEMO_TARGETS]
        if server_room is not None:
            targets.append(SERVER_ADDRESS)
        if extranet is not None:
            settings = dataclasses.replace(settings, hosts={**settings.hosts, **extranet.hosts_map()})
            targets.append(f"https://{EXTRANET}:{extranet.port}/")
        run = run_scan(registry, settings, [parse_target(t) for t in targets])
    output = DemoOutput(run, out_dir / "rapport.json", out_dir / "rapport.html", out_dir / "facts.json")
    output.json_path.write_text(dumps(run.report), encoding="utf-8")
    output.html_path.write_text(render_html(run.report), encoding="utf-8")
    output.facts_path.write_text(
        json.dumps(run.archive.to_json(__version__), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return output
