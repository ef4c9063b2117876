"""MailCollector against real local servers: aiosmtpd, scripted SMTP/IMAP/POP3 peers, an HTTPS policy host.

Names resolve through the engine resolver: A records from its static hosts, MX and TXT from a tiny
dnslib zone started by each test on 127.0.0.1 (so the MX lookup is the real `mx_hosts` query, not
a stub). Every server binds 127.0.0.x; nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme
from conftest import StartWebServer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from smtp_server import (
    HOSTILE_BANNER,
    ScriptedServer,
    SmtpServer,
    broken_tls_smtp,
    dribbling,
    endless_smtp,
    free_port,
    hostile_banner_smtp,
    imap_greeter,
    pop3_greeter,
    relay_dropping_on_rset,
    running,
    segmented_smtp,
    silent,
    submission_offering,
)

from cyberscan.collectors.mail import MailCollector
from cyberscan.collectors.mail_facts import MailFacts, SmtpProbe
from cyberscan.collectors.mailproto import MAX_BANNER, MAX_KEYWORDS, RelayPlan, mailbox_probe, smtp_probe
from cyberscan.demo.webserver import Route, Site
from cyberscan.models import ErrorKind
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.plugin import CollectorContext, CollectorError
from cyberscan.probememo import ProbeMemo
from cyberscan.scope import Scope
from cyberscan.targets import parse_target

DOMAIN = "commune.test"
MX1, MX2, MX3 = (f"mx{n}.{DOMAIN}" for n in (1, 2, 3))
LOOPBACK = "127.0.0.1"
#: every port off: each test turns on what it exercises
QUIET = {"smtp_port": 0, "imap_port": 0, "pop3_port": 0, "submission_port": 0, "mail_hosts": []}
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx1.commune.test\r\nmax_age: 86400\r\n"


# --- a tiny DNS zone (MX and TXT; A records come from the resolver's static hosts) ----------------


class _Zone:
    def __init__(
        self, mx: Mapping[str, Sequence[tuple[int, str]]], txt: Mapping[str, Sequence[str]], slow: set[str]
    ) -> None:
        self.mx, self.txt, self.slow = mx, txt, slow
        self.known = {DOMAIN, *mx, *txt}

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import MX, QTYPE, RCODE, RR, TXT

        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name in self.slow:
            time.sleep(1.5)  # past the resolver's lifetime: a timeout, not an answer
            return reply
        if request.q.qtype == QTYPE.MX and name in self.mx:
            for preference, exchange in self.mx[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX(exchange, preference), ttl=60))
        elif request.q.qtype == QTYPE.TXT and name in self.txt:
            for text in self.txt[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(text), ttl=60))
        elif name not in self.known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


StartZone = Callable[..., int]


class _QuietDnsLogger:
    """dnslib logs every request and reply to stdout by default."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args: None


_QUIET_DNS = _QuietDnsLogger()


@pytest.fixture
def dns_zone() -> Iterator[StartZone]:
    """Factory: serve MX/TXT records on 127.0.0.1 (UDP), returning the port."""
    from dnslib.server import DNSServer

    started: list[tuple[Any, threading.Thread]] = []

    def start(
        mx: Mapping[str, Sequence[tuple[int, str]]] | None = None,
        txt: Mapping[str, Sequence[str]] | None = None,
        slow: set[str] | None = None,
    ) -> int:
        server = DNSServer(
            _Zone(mx or {}, txt or {}, slow or set()), port=0, address=LOOPBACK, logger=_QUIET_DNS
        )
        # not start_thread(): its serve_forever polls for shutdown every 0.5 s, each test would wait
        thread = threading.Thread(
            target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        thread.start()
        started.append((server, thread))
        return int(server.server.server_address[1])

    yield start
    for server, thread in started:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)


def _guard(dns_port: int, hosts: Mapping[str, str], scope: Sequence[str] = ("127.0.0.0/8",)) -> NetworkGuard:
    return NetworkGuard(Resolver((LOOPBACK, dns_port), timeout=0.5, static_hosts=hosts), Scope.parse(scope))


def _ctx(
    guard: NetworkGuard,
    settings: Mapping[str, Any] | None = None,
    *,
    timeout: float = 2.0,
    deadline: float = 20.0,
    ca_bundle: Path | None = None,
) -> CollectorContext:
    return CollectorContext(
        settings={**MailCollector.defaults, **QUIET, **(settings or {})},
        timeout=timeout,
        deadline=time.monotonic() + deadline,
        guard=guard,
        user_agent="cyberscan-test",
        ca_bundle=ca_bundle,
    )


def _collect(ctx: CollectorContext, target: str = DOMAIN) -> MailFacts:
    facts = MailCollector().collect(parse_target(target), ctx)
    assert MailFacts.from_json(facts.to_json()) == facts  # what --save-facts writes reads back the same
    return facts


def _hashes(cert: trustme.LeafCert) -> list[tuple[str, str, str, str]]:
    """(cert SHA-256, cert SHA-512, SPKI SHA-256, SPKI SHA-512) of each certificate of the chain."""
    out = []
    for blob in cert.cert_chain_pems:
        parsed = x509.load_pem_x509_certificate(blob.bytes())
        der = parsed.public_bytes(Encoding.DER)
        spki = parsed.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        out.append(
            (
                hashlib.sha256(der).hexdigest(),
                hashlib.sha512(der).hexdigest(),
                hashlib.sha256(spki).hexdigest(),
                hashlib.sha512(spki).hexdigest(),
            )
        )
    return out


@pytest.fixture(scope="module")
def mx_cert(test_ca: trustme.CA) -> trustme.LeafCert:
    """A leaf for MX1 under an intermediate CA: the server presents a chain of two."""
    return test_ca.create_child_ca().issue_cert(MX1)


# --- port 25 --------------------------------------------------------------------------------------


def test_starttls_chain_is_recorded_as_dane_hashes(dns_zone: StartZone, mx_cert: trustme.LeafCert) -> None:
    server = SmtpServer(hostname=MX1, cert=mx_cert)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        facts = _collect(_ctx(guard, {"smtp_port": server.port}))
    assert (facts.domain, facts.mx_hosts) == (DOMAIN, (MX1,))
    [probe] = facts.smtp
    assert (probe.host, probe.address, probe.port, probe.connected) == (MX1, LOOPBACK, server.port, True)
    assert probe.banner is not None and MX1 in probe.banner
    assert {"STARTTLS", "8BITMIME", "SMTPUTF8"} <= set(probe.ehlo) and "AUTH LOGIN PLAIN" not in probe.ehlo
    assert (probe.starttls_offered, probe.starttls_ok, probe.starttls_error) == (True, True, None)
    assert probe.tls_version == "TLSv1.3" and (probe.error_kind, probe.relay) == (None, None)
    assert [c.position for c in probe.chain] == [0, 1]
    assert [(c.cert_sha256, c.cert_sha512, c.spki_sha256, c.spki_sha512) for c in probe.chain] == _hashes(
        mx_cert
    )
    assert "trustme" in probe.chain[1].subject
    # RFC 3207: EHLO again after the handshake; then QUIT. Never MAIL, RCPT or DATA.
    assert server.commands() == ["EHLO", "STARTTLS", "EHLO", "QUIT"]
    assert server.journal.args("EHLO") == ["cyberscan.invalid", "cyberscan.invalid"]


def test_no_starttls_offered(dns_zone: StartZone) -> None:
    server = SmtpServer(hostname=MX1)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"smtp_port": server.port, "helo_name": "scanner.example.org"})).smtp
    assert (probe.connected, probe.starttls_offered, probe.starttls_ok, probe.chain) == (
        True,
        False,
        None,
        (),
    )
    assert probe.error_kind is None and "STARTTLS" not in probe.ehlo
    assert server.commands() == ["EHLO", "QUIT"]
    assert server.journal.args("EHLO") == ["scanner.example.org"]


def test_multiline_ehlo_in_several_segments(dns_zone: StartZone) -> None:
    server = ScriptedServer(segmented_smtp)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"smtp_port": server.port})).smtp
    assert probe.error_kind is None
    assert probe.banner == "mx.segmented.test ESMTP welcome"
    assert probe.ehlo == ("PIPELINING", "SIZE 10240000", "8BITMIME", "SMTPUTF8")


def test_endless_reply_is_cut_short(dns_zone: StartZone) -> None:
    server = ScriptedServer(endless_smtp)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        started = time.monotonic()
        [probe] = _collect(_ctx(guard, {"smtp_port": server.port})).smtp
    assert time.monotonic() - started < 2.0
    assert (probe.connected, probe.error_kind, probe.ehlo) == (True, "protocol", ())
    assert probe.error is not None and "lines" in probe.error


def test_hostile_banner_is_bounded_and_printable(dns_zone: StartZone) -> None:
    server = ScriptedServer(hostile_banner_smtp)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"smtp_port": server.port})).smtp
    assert probe.banner is not None and len(probe.banner) <= MAX_BANNER < len(HOSTILE_BANNER)
    assert probe.banner.startswith("mx.hostile.test") and probe.banner.isprintable()
    assert all(k.isprintable() and len(k) <= 100 for k in probe.ehlo) and len(probe.ehlo) == 2


def test_broken_tls_handshake(dns_zone: StartZone) -> None:
    server = ScriptedServer(broken_tls_smtp)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"smtp_port": server.port})).smtp
    assert (probe.starttls_offered, probe.starttls_ok, probe.error_kind, probe.chain) == (
        True,
        False,
        "tls",
        (),
    )
    assert probe.starttls_error and probe.starttls_error == probe.error


def test_dead_mx_hosts_become_errors_and_the_live_one_answers(dns_zone: StartZone) -> None:
    port = free_port()
    hanging = ScriptedServer(silent, "127.0.0.3", port)  # accepts, never greets
    live = SmtpServer(LOOPBACK, port, hostname=MX3)
    with running(hanging, live):
        mx = {DOMAIN: [(10, MX1), (20, MX2), (30, MX3)]}
        hosts = {MX1: "127.0.0.3", MX2: "127.0.0.4", MX3: LOOPBACK}  # nothing listens on 127.0.0.4
        started = time.monotonic()
        facts = _collect(_ctx(_guard(dns_zone(mx=mx), hosts), {"smtp_port": port}, timeout=0.5))
        elapsed = time.monotonic() - started
    assert facts.mx_hosts == (MX1, MX2, MX3)
    summary = [(p.host, p.address, p.connected, p.error_kind) for p in facts.smtp]
    assert summary == [
        (MX1, "127.0.0.3", False, "timeout"),
        (MX2, "127.0.0.4", False, "refused"),
        (MX3, LOOPBACK, True, None),
    ]
    assert elapsed < 2.0, "the probes run in parallel, each within its own timeout"
    assert hanging.journal.connections == 1 and hanging.commands() == []


@pytest.mark.parametrize(
    ("script", "timeout", "deadline", "kind"),
    [(dribbling, 0.6, 20.0, "timeout"), (silent, 5.0, 0.8, "timeout")],
    ids=["tarpit-per-reply-budget", "silent-past-the-deadline"],
)
def test_slow_servers_cannot_hold_the_probe(
    dns_zone: StartZone, script: Any, timeout: float, deadline: float, kind: str
) -> None:
    server = ScriptedServer(script)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        ctx = _ctx(guard, {"smtp_port": server.port}, timeout=timeout, deadline=deadline)
        started = time.monotonic()
        [probe] = _collect(ctx).smtp
    assert time.monotonic() - started < min(timeout, deadline) + 0.5
    assert (probe.connected, probe.error_kind) == (False, kind)


@pytest.mark.parametrize(
    ("slow", "kind", "detail"), [(set(), "dns", "NXDOMAIN"), ({"ghost.commune.test"}, "timeout", "timeout")]
)
def test_unresolvable_mx_host(dns_zone: StartZone, slow: set[str], kind: str, detail: str) -> None:
    guard = _guard(dns_zone(mx={DOMAIN: [(10, "ghost.commune.test")]}, slow=slow), {})
    [probe] = _collect(_ctx(guard, {"smtp_port": 25, "imap_port": 143})).smtp
    assert (probe.host, probe.address, probe.connected, probe.error_kind) == (
        "ghost.commune.test",
        "",
        False,
        kind,
    )
    assert probe.error is not None and detail in probe.error


@pytest.mark.parametrize("mx", [{}, {DOMAIN: [(0, ".")]}], ids=["no-mx", "null-mx"])
def test_domain_without_mx_has_no_smtp_probe(dns_zone: StartZone, mx: Any) -> None:
    facts = _collect(_ctx(_guard(dns_zone(mx=mx), {}), {"smtp_port": 25}))
    assert (facts.domain, facts.mx_hosts, facts.smtp, facts.mailbox, facts.mta_sts) == (
        DOMAIN,
        (),
        (),
        (),
        None,
    )


def test_mx_lookup_timeout_is_not_no_mx(dns_zone: StartZone) -> None:
    facts = _collect(_ctx(_guard(dns_zone(slow={DOMAIN}), {}), {"smtp_port": 25}, timeout=0.5))
    assert facts.mx_hosts == ()
    [probe] = facts.smtp
    assert (probe.host, probe.address, probe.error_kind) == (DOMAIN, "", "timeout")


@pytest.mark.parametrize("target", ["192.0.2.10", "192.0.2.0/30", "https://192.0.2.10/portail"])
def test_addresses_are_not_mail_domains(target: str) -> None:
    guard = NetworkGuard(Resolver(("127.0.0.1", free_port()), timeout=0.2), Scope.parse(["127.0.0.1/32"]))
    facts = _collect(_ctx(guard, {"smtp_port": 25, "imap_port": 143}), target)
    assert facts == MailFacts(collected_at=facts.collected_at) and facts.collected_at


def test_url_target_uses_its_host(dns_zone: StartZone) -> None:
    server = SmtpServer(hostname=MX1)
    with running(server):
        zone = dns_zone(mx={f"portail.{DOMAIN}": [(10, MX1)]})
        facts = _collect(
            _ctx(_guard(zone, {MX1: LOOPBACK}), {"smtp_port": server.port}), f"https://portail.{DOMAIN}/x"
        )
    assert facts.domain == f"portail.{DOMAIN}" and [p.host for p in facts.smtp] == [MX1]


# --- open relay (opt-in, in scope only) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("opt_in", "scope", "open_relay", "relay", "opt_in_enabled", "not_probed"),
    [
        (["open_relay"], ["127.0.0.1/32"], True, "accepted", ("open_relay",), ()),
        (["open_relay"], ["127.0.0.1/32"], False, "refused", ("open_relay",), ()),
        (["open_relay"], ["192.0.2.0/24"], True, None, ("open_relay",), (f"{MX1} 127.0.0.1",)),
        ([], ["127.0.0.1/32"], True, None, (), ()),
    ],
    ids=["accepting", "refusing", "opted-in-out-of-scope", "not-opted-in"],
)
def test_open_relay_only_when_opted_in_and_in_scope(
    dns_zone: StartZone,
    mx_cert: trustme.LeafCert,
    opt_in: list[str],
    scope: list[str],
    open_relay: bool,
    relay: str | None,
    opt_in_enabled: tuple[str, ...],
    not_probed: tuple[str, ...],
) -> None:
    server = SmtpServer(hostname=MX1, cert=mx_cert, relay=open_relay)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK}, scope)
        facts = _collect(_ctx(guard, {"smtp_port": server.port, "opt_in": opt_in}))
    [probe] = facts.smtp
    assert (probe.relay, facts.opt_in, facts.not_probed) == (relay, opt_in_enabled, not_probed)
    assert probe.starttls_ok is True, "port 25 is passive: probed in and out of scope"
    commands = server.commands()
    assert "DATA" not in commands
    if relay is None:
        assert probe.relay_reply is None and not {"MAIL", "RCPT", "RSET"} & set(commands)
    else:
        # over TLS, as an attacker could; RSET then QUIT
        assert commands == ["EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "RSET", "QUIT"]
        assert server.journal.args("MAIL") == ["FROM:<probe@relay-test.example.com>"]
        assert server.journal.args("RCPT") == ["TO:<probe@relay-test.example.net>"]
        assert probe.relay_reply is not None and probe.relay_reply.startswith("250" if open_relay else "554")


def test_relay_test_runs_in_clear_when_starttls_breaks(dns_zone: StartZone) -> None:
    port = free_port()
    broken = ScriptedServer(broken_tls_smtp, LOOPBACK, port)
    with running(broken):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK}, ["127.0.0.1/32"])
        [probe] = _collect(_ctx(guard, {"smtp_port": port, "opt_in": ["open_relay"]})).smtp
    assert (probe.starttls_ok, probe.error_kind) == (False, "tls")
    # the scripted server knows no MAIL: the second, clear-text session asked and was refused
    assert broken.journal.connections == 2 and broken.commands().count("MAIL") == 1
    assert probe.relay == "refused" and "DATA" not in broken.commands()


# --- clear-text mailbox ports (active: in scope only) ----------------------------------------------


def test_mailbox_ports_in_scope(dns_zone: StartZone) -> None:
    imap = ScriptedServer(imap_greeter("IMAP4rev1 SASL-IR LITERAL+ STARTTLS LOGINDISABLED AUTH=GSSAPI"))
    pop3 = ScriptedServer(pop3_greeter(["TOP", "USER", "UIDL", "STLS", "SASL PLAIN"]))
    submission = SmtpServer(hostname=MX1, cert=None, auth_before_tls=True)
    with running(imap, pop3, submission):
        hosts = {MX1: LOOPBACK, f"mail.{DOMAIN}": LOOPBACK}  # one server under two names: probed once
        settings = {
            "imap_port": imap.port,
            "pop3_port": pop3.port,
            "submission_port": submission.port,
            "mail_hosts": ["mail", "imap"],  # imap.commune.test does not exist: skipped
        }
        facts = _collect(_ctx(_guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), hosts, ["127.0.0.1/32"]), settings))
    summary = {
        p.protocol: (p.host, p.port, p.connected, p.starttls_offered, p.cleartext_auth) for p in facts.mailbox
    }
    assert summary == {
        "imap": (MX1, imap.port, True, True, False),
        "pop3": (MX1, pop3.port, True, True, True),
        "submission": (MX1, submission.port, True, False, True),
    }
    assert len(facts.mailbox) == 3 and facts.not_probed == ()
    by = {p.protocol: p for p in facts.mailbox}
    assert "LOGINDISABLED" in by["imap"].capabilities and by["imap"].banner is not None
    assert by["pop3"].capabilities == ("TOP", "USER", "UIDL", "STLS", "SASL PLAIN")
    assert "AUTH LOGIN PLAIN" in by["submission"].capabilities
    # capabilities only: never a login, never a password
    assert imap.commands() == ["A1", "A2"] and [a for _, c, a in imap.journal.entries] == [
        "CAPABILITY",
        "LOGOUT",
    ]
    assert pop3.commands() == ["CAPA", "QUIT"]
    assert submission.commands() == ["EHLO", "QUIT"]


@pytest.mark.parametrize(
    ("script", "protocol", "starttls", "cleartext"),
    [
        (imap_greeter("IMAP4rev1 STARTTLS AUTH=PLAIN"), "imap", True, True),
        (imap_greeter("IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN"), "imap", True, True),
        (pop3_greeter(["STLS", "SASL GSSAPI"]), "pop3", True, False),
        (pop3_greeter(None), "pop3", False, True),
    ],
    ids=[
        "imap-login-allowed",
        "imap-auth-plain-despite-logindisabled",
        "pop3-stls-only",
        "pop3-without-capa",
    ],
)
def test_cleartext_auth_detection(
    dns_zone: StartZone, script: Any, protocol: str, starttls: bool, cleartext: bool
) -> None:
    server = ScriptedServer(script)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        facts = _collect(_ctx(guard, {f"{protocol}_port": server.port}))
    [probe] = facts.mailbox
    assert (probe.protocol, probe.error_kind, probe.starttls_offered, probe.cleartext_auth) == (
        protocol,
        None,
        starttls,
        cleartext,
    )


def test_submission_without_auth_before_starttls(dns_zone: StartZone, mx_cert: trustme.LeafCert) -> None:
    server = SmtpServer(hostname=MX1, cert=mx_cert, auth_before_tls=False)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"submission_port": server.port})).mailbox
    assert (probe.starttls_offered, probe.cleartext_auth) == (True, False)
    assert not any(c.startswith("AUTH") for c in probe.capabilities)


def test_mailbox_ports_out_of_scope_are_not_probed(dns_zone: StartZone) -> None:
    port = free_port("127.0.0.2")
    imap = ScriptedServer(imap_greeter("IMAP4rev1"), "127.0.0.2", port)
    smtp = SmtpServer("127.0.0.2", hostname=MX1)
    with running(imap, smtp):
        hosts = {MX1: "127.0.0.2", f"mail.{DOMAIN}": "127.0.0.2"}
        settings = {"smtp_port": smtp.port, "imap_port": port, "mail_hosts": ["mail"]}
        facts = _collect(_ctx(_guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), hosts, ["127.0.0.1/32"]), settings))
    assert facts.mailbox == ()
    assert facts.not_probed == (f"{MX1} 127.0.0.2", f"mail.{DOMAIN} 127.0.0.2")
    assert imap.journal.connections == 0
    [probe] = facts.smtp  # port 25 is passive: the out-of-scope MX still gets its SMTP dialogue
    assert probe.connected and probe.address == "127.0.0.2"


def test_silent_mailbox_port_times_out(dns_zone: StartZone) -> None:
    server = ScriptedServer(silent)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"imap_port": server.port}, timeout=0.3)).mailbox
    assert (probe.connected, probe.banner, probe.error_kind) == (True, None, "timeout")


# --- MTA-STS -------------------------------------------------------------------------------------


def _policy_site(route: Route, certificate: str = "valid") -> Site:
    return Site(
        hosts=[f"mta-sts.{DOMAIN}"],
        routes={"/.well-known/mta-sts.txt": route},
        certificate=certificate,  # type: ignore[arg-type]
    )


POLICY_ROUTE = Route(200, (("Content-Type", "text/plain"),), POLICY.encode())


@pytest.mark.parametrize(
    ("route", "certificate", "status", "tls_error", "body"),
    [
        (POLICY_ROUTE, "valid", 200, False, POLICY),
        (POLICY_ROUTE, "untrusted", 200, True, POLICY),
        (Route(301, (("Location", "https://elsewhere.test/"),)), "valid", 301, False, ""),
    ],
    ids=["valid", "untrusted-certificate", "redirect-not-followed"],
)
def test_mta_sts_policy_fetch(
    dns_zone: StartZone,
    start_web_server: StartWebServer,
    route: Route,
    certificate: str,
    status: int,
    tls_error: bool,
    body: str,
) -> None:
    web = start_web_server([_policy_site(route, certificate)])
    zone = dns_zone(txt={f"_mta-sts.{DOMAIN}": ["v=STSv1; id=20261123"]})
    ctx = _ctx(_guard(zone, web.hosts_map()), {"mta_sts_port": web.https_port}, ca_bundle=web.ca_pem_path)
    policy = _collect(ctx).mta_sts
    assert policy is not None
    assert policy.url == f"https://mta-sts.{DOMAIN}:{web.https_port}/.well-known/mta-sts.txt"
    assert (policy.fetched, policy.status, policy.body, policy.error_kind) == (True, status, body, None)
    assert (policy.tls_error is not None) is tls_error
    if status == 200:
        assert policy.content_type == "text/plain"
    # one GET, no redirect followed (a failed verified handshake never reached the HTTP request)
    assert web.paths() == ["/.well-known/mta-sts.txt"]


@pytest.mark.parametrize(
    ("txt", "slow", "expected"),
    [
        ({}, set(), None),
        ({f"_mta-sts.{DOMAIN}": ["v=spf1 -all"]}, set(), None),
        ({}, {f"_mta-sts.{DOMAIN}"}, "timeout"),
    ],
    ids=["no-record", "not-stsv1", "lookup-timeout"],
)
def test_mta_sts_record_absent_or_unknown(
    dns_zone: StartZone, start_web_server: StartWebServer, txt: Any, slow: set[str], expected: str | None
) -> None:
    web = start_web_server([_policy_site(POLICY_ROUTE)])
    zone = dns_zone(txt=txt, slow=slow)
    ctx = _ctx(
        _guard(zone, web.hosts_map()),
        {"mta_sts_port": web.https_port},
        ca_bundle=web.ca_pem_path,
        timeout=0.5,
    )
    policy = _collect(ctx).mta_sts
    if expected is None:
        assert policy is None
    else:
        assert policy is not None and (policy.fetched, policy.error_kind) == (False, expected)
    assert web.paths() == [], "no policy fetched without a v=STSv1 record"


def test_mta_sts_host_down(dns_zone: StartZone) -> None:
    zone = dns_zone(txt={f"_mta-sts.{DOMAIN}": ["v=STSv1; id=1"]})
    ctx = _ctx(_guard(zone, {f"mta-sts.{DOMAIN}": LOOPBACK}), {"mta_sts_port": free_port()})
    policy = _collect(ctx).mta_sts
    assert policy is not None and (policy.fetched, policy.status, policy.error_kind) == (
        False,
        None,
        "unreachable",
    )


# --- settings and deadline ---------------------------------------------------------------------------


def test_past_deadline_raises() -> None:
    guard = NetworkGuard(Resolver(("127.0.0.1", free_port()), timeout=0.2), Scope())
    with pytest.raises(CollectorError) as info:
        MailCollector().collect(parse_target(DOMAIN), _ctx(guard, deadline=-1.0))
    assert info.value.kind is ErrorKind.DEADLINE


@pytest.mark.parametrize("key", ["helo_name", "relay_from_domain"])
def test_settings_that_would_inject_commands_are_refused(key: str) -> None:
    guard = NetworkGuard(Resolver(("127.0.0.1", free_port()), timeout=0.2), Scope())
    settings = {key: "evil.test\r\nRCPT TO:<x@y>", "opt_in": ["open_relay"]}
    with pytest.raises(CollectorError, match=key):
        MailCollector().collect(parse_target(DOMAIN), _ctx(guard, settings))


def test_keywords_are_capped(dns_zone: StartZone) -> None:
    def many_keywords(peer: Any) -> None:
        peer.send("220 mx ESMTP\r\n")
        while (line := peer.line()) is not None:
            if line.startswith("EHLO"):
                peer.send("250-mx\r\n" + "".join(f"250-X{n}\r\n" for n in range(80)) + "250 LAST\r\n")
            elif line == "QUIT":
                peer.send("221 bye\r\n")
                return

    server = ScriptedServer(many_keywords)
    with running(server):
        guard = _guard(dns_zone(mx={DOMAIN: [(10, MX1)]}), {MX1: LOOPBACK})
        [probe] = _collect(_ctx(guard, {"smtp_port": server.port})).smtp
    assert isinstance(probe, SmtpProbe) and len(probe.ehlo) == MAX_KEYWORDS and probe.error_kind is None


def test_an_accepted_relay_stays_accepted_when_the_server_hangs_up_on_rset() -> None:
    """The verdict is the RCPT reply; RSET is best effort and cannot turn it into an error."""
    server = ScriptedServer(relay_dropping_on_rset)
    try:
        plan = RelayPlan("probe@relay-test.example.com", "probe@relay-test.example.net")
        context = ssl.create_default_context()
        probe = smtp_probe(MX1, LOOPBACK, server.port, "cyberscan.invalid", lambda: 2.0, context, plan)
    finally:
        server.stop()
    assert (probe.relay, probe.relay_reply) == ("accepted", "250 2.1.0 Ok, relaying")
    assert "DATA" not in server.commands() and "RSET" in server.commands()


@pytest.mark.parametrize(
    ("auth", "cleartext"),
    [("AUTH GSSAPI NTLM", False), ("AUTH CRAM-MD5 LOGIN", True), ("AUTH=PLAIN", True)],
    ids=["no-password-mechanism", "login", "old-exchange-form"],
)
def test_submission_counts_only_password_mechanisms_as_cleartext_auth(auth: str, cleartext: bool) -> None:
    server = ScriptedServer(submission_offering(auth))
    try:
        probe = mailbox_probe(MX1, LOOPBACK, server.port, "submission", "cyberscan.invalid", lambda: 2.0)
    finally:
        server.stop()
    assert (probe.connected, probe.starttls_offered, probe.cleartext_auth) == (True, True, cleartext)


def test_fleet_memo_probes_a_shared_mx_once_for_every_commune(
    dns_zone: StartZone, mx_cert: trustme.LeafCert
) -> None:
    """Three communes whose mail goes to one platform: one EHLO/STARTTLS dialogue, three identical facts."""
    server = SmtpServer(hostname=MX1, cert=mx_cert)
    domains = ["mairie-a.test", "mairie-b.test", "mairie-c.test"]
    memo = ProbeMemo()
    with running(server):
        port = dns_zone(mx={d: [(10, MX1)] for d in domains})
        guard = _guard(port, {MX1: LOOPBACK})
        probes = [
            _collect(dataclasses.replace(_ctx(guard, {"smtp_port": server.port}), memo=memo), d).smtp
            for d in domains
        ]
    assert server.commands().count("EHLO") == 2  # one session: EHLO, STARTTLS, EHLO again
    assert probes[0] == probes[1] == probes[2] and probes[0][0].starttls_ok is True
    assert (memo.misses, memo.hits) == (1, 2)
