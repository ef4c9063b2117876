"""`cyberscan demo`: scan two invented communes served on loopback, one scan and one report per commune.

Everything the scans look at runs on this machine: the web sites (plus the model commune's MTA-STS
policy host and the registry's RDAP service), one SMTP server per commune, the communes' two name
servers (127.0.0.1 and 127.0.0.2, one port) holding signed zones under `test.`, the weak commune's
server room (127.0.0.2) and legacy extranet portal. The scans resolve every name through the demo's
name server and probe nothing but 127.0.0.1 and 127.0.0.2.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from .. import __version__
from ..config import Settings
from ..registry import Registry
from ..reporting.html_report import render_html
from ..reporting.json_report import dumps
from ..reporting.settings import ReportSettings
from ..scan import ScanRun, run_scan
from ..targets import parse_target
from .dnsserver import LocalDnsServer
from .dnszones import RDAP_HOST, demo_zones
from .services import ServiceSet
from .sites import MODELE, MODELE_MX, PASSOIRE, PASSOIRE_MX, demo_sites, mta_sts_site, rdap_site
from .tlsserver import LocalTlsServer, TlsServerUnavailable
from .webserver import LOOPBACK, LocalWebServer

#: the weak commune's server room, exposed to the Internet: emulated greetings on a loopback address
#: of its own (ports above 1024, so the demo needs no privilege); it also hosts both communes'
#: secondary name server
SERVER_ADDRESS = "127.0.0.2"
SERVER_SERVICES = {"rdp": 3389, "redis": 6379, "vnc": 5900, "synology": 5000, "telnet": 2323}
#: the weak commune's remote-access portal, on a TLS stack of another age (TLS 1.0, CBC, static RSA)
EXTRANET = f"extranet.{PASSOIRE}"
TRUST_ANCHOR_FILE = "demo-trust-anchor.txt"


@dataclass(frozen=True)
class Commune:
    """One demo commune: its name for the report, its domain and the file names of its outputs."""

    name: str
    domain: str

    @property
    def slug(self) -> str:
        return self.domain.removesuffix(".test")


COMMUNES = (Commune("Modèle-sur-Loire", MODELE), Commune("Passoire-les-Bains", PASSOIRE))


@dataclass(frozen=True)
class CommuneOutput:
    """One commune's scan and the files written from it."""

    commune: Commune
    run: ScanRun
    json_path: Path
    html_path: Path
    facts_path: Path


@dataclass(frozen=True)
class DemoOutput:
    """Every commune's scan and files, in `COMMUNES` order."""

    communes: tuple[CommuneOutput, ...]


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


@contextlib.contextmanager
def _name_servers(modele_mx_pem: bytes) -> Iterator[tuple[LocalDnsServer, str]]:
    """The primary name server (127.0.0.1, also the scans' resolver) and the trust anchor's text, with a
    secondary on 127.0.0.2 (same port); without that address the communes get one name server."""
    zones = demo_zones(modele_mx_pem, [LOOPBACK, SERVER_ADDRESS])
    primary = LocalDnsServer(zones.primary)
    secondary: LocalDnsServer | None = None
    try:
        try:
            secondary = LocalDnsServer(zones.secondary, address=SERVER_ADDRESS, port=primary.port)
        except OSError as exc:
            print(f"cyberscan demo: secondary name server skipped: {exc}", file=sys.stderr)
            primary.stop()
            zones = demo_zones(modele_mx_pem, [LOOPBACK])
            primary = LocalDnsServer(zones.primary)
        yield primary, zones.anchor
    finally:
        primary.stop()
        if secondary is not None:
            secondary.stop()


def _settings(
    commune: Commune,
    lang: str,
    web: LocalWebServer,
    dns_server: LocalDnsServer,
    anchor: Path,
    smtp_port: int,
) -> Settings:
    """One commune's scan settings: every name through the demo's name server, its own SMTP port."""
    collectors: Mapping[str, Mapping[str, Any]] = {
        "http": {"http_port": web.http_port, "https_port": web.https_port, "max_rps": 50.0},
        # The MX's STARTTLS on the commune's SMTP port; no speculative mail ports (465, 993…): on this
        # machine they would be whatever else listens there, not the commune's.
        "tls": {"https_port": web.https_port, "smtp_port": smtp_port, "mail_ports": []},
        # Only the emulated ports: a demo must never report what else listens on this machine.
        "ports": {
            "tcp_ports": ",".join(map(str, SERVER_SERVICES.values())),
            "top_ports": 0,
            "mail": False,
        },
        "dns": {"trust_anchor": str(anchor), "ns_port": dns_server.port},
        # The mailbox ports (143, 110, 587) are privileged and would be this machine's: not probed.
        "mail": {
            "smtp_port": smtp_port,
            "imap_port": 0,
            "pop3_port": 0,
            "submission_port": 0,
            "mta_sts_port": web.https_port,
        },
        "rdap": {"base_url": f"https://{RDAP_HOST}:{web.https_port}/"},
    }
    return Settings(
        lang=lang,
        resolver=dns_server.nameserver,
        # Only the loopback addresses the demo's servers listen on are declared in scope.
        scope=(f"{LOOPBACK}/32", f"{SERVER_ADDRESS}/32"),
        ca_bundle=web.ca_pem_path,
        timeout=5.0,
        deadline=120.0,
        collectors=collectors,
        report=ReportSettings(commune=commune.name),
    )


def _write(commune: Commune, run: ScanRun, out_dir: Path) -> CommuneOutput:
    stem = f"rapport-{commune.slug}"
    output = CommuneOutput(
        commune,
        run,
        out_dir / f"{stem}.json",
        out_dir / f"{stem}.html",
        out_dir / f"facts-{commune.slug}.json",
    )
    output.json_path.write_text(dumps(run.report), encoding="utf-8")
    output.html_path.write_text(render_html(run.report), encoding="utf-8")
    output.facts_path.write_text(
        json.dumps(run.archive.to_json(__version__), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return output


def run_demo(registry: Registry, out_dir: Path, lang: str = "fr") -> DemoOutput:
    """Start the loopback servers, scan each demo commune (one scan each), write JSON, HTML and facts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # An ECDSA P-256 CA and leaves, as a well-run commune would get from its ACME CA today.
    ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
    now = datetime.datetime.now(datetime.timezone.utc)
    sites = [*demo_sites(now.date()), mta_sts_site(), rdap_site(RDAP_HOST, now)]
    with (
        LocalWebServer(sites, ca=ca) as web,
        LocalTlsServer("smtp_starttls", hosts=[MODELE_MX], ca=ca) as modele_mx,
        LocalTlsServer("smtp_no_starttls", hosts=[PASSOIRE_MX], ca=ca) as passoire_mx,
        _name_servers(modele_mx.certificate_pem) as (dns_server, anchor_text),
        _legacy_extranet(ca) as extranet,
        _server_room() as server_room,
        tempfile.TemporaryDirectory(prefix="cyberscan-demo-") as tmp,
    ):
        anchor = Path(tmp) / TRUST_ANCHOR_FILE
        anchor.write_text(anchor_text, encoding="utf-8")
        plans: list[tuple[Commune, Settings, Sequence[str]]] = [
            (COMMUNES[0], _settings(COMMUNES[0], lang, web, dns_server, anchor, modele_mx.port), [MODELE]),
        ]
        passoire_targets = [PASSOIRE]
        if server_room is not None:
            passoire_targets.append(SERVER_ADDRESS)
        if extranet is not None:
            passoire_targets.append(f"https://{EXTRANET}:{extranet.port}/")
        passoire = _settings(COMMUNES[1], lang, web, dns_server, anchor, passoire_mx.port)
        plans.append((COMMUNES[1], passoire, passoire_targets))
        # The communes are independent: scanned at the same time, each in its own run (one grade each).
        with ThreadPoolExecutor(max_workers=len(plans)) as pool:
            futures = [
                pool.submit(run_scan, registry, settings, [parse_target(t) for t in targets])
                for _, settings, targets in plans
            ]
            runs = [future.result() for future in futures]
    return DemoOutput(tuple(_write(c, run, out_dir) for (c, _, _), run in zip(plans, runs, strict=True)))
