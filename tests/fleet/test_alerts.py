"""Fleet alerts: digests delivered to a real STARTTLS relay (aiosmtpd) and a webhook receiver on loopback."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import http.server
import io
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from smtp_server import Journal, Peer, ScriptedServer, SmtpServer, _Controller, free_port

from cyberscan.fleet.alerts import (
    SIGNATURE_HEADER,
    AlertOutcome,
    AlertSettings,
    AlertSettingsError,
    parse_alerts,
    send_alerts,
)
from cyberscan.fleet.changes import CommuneChanges, FindingChange

USER = "alertes@syndicat.test"
PASSWORD = "S3cr3t-Relay-Pa55word"
WEBHOOK_SECRET = "whsec-0123456789abcdef"
EVIDENCE = "EVIDENCE-MARKER-redis-PONG"
SENDER = "Syndicat numérique <alertes@syndicat.test>"


# --- inputs ---------------------------------------------------------------------------------------


def change(
    kind: str = "new",
    check_id: str = "SVC-RDP",
    severity: str = "critical",
    resource: str = "192.0.2.10:3389",
    *,
    status: str = "fail",
    previous_status: str | None = None,
    title: str = "Bureau à distance (RDP) exposé",
) -> FindingChange:
    return FindingChange(
        kind=kind,
        check_id=check_id,
        target="mairie-a.test",
        resource=resource,
        severity=severity,
        status=status,
        previous_status=previous_status,
        first_seen="2026-01-05",
        title=title,
        message=f"Le service répond : {EVIDENCE}",
    )


def commune(
    name: str,
    insee: str,
    *changes: FindingChange,
    contacts: tuple[str, ...] = (),
    grade: str | None = "C",
    previous_grade: str | None = "C",
) -> CommuneChanges:
    return CommuneChanges(
        commune=name,
        insee=insee,
        contacts=contacts,
        grade=grade,
        previous_grade=previous_grade,
        score=61.0,
        previous_score=64.0,
        changes=tuple(changes),
    )


def fleet() -> list[CommuneChanges]:
    """Two communes with something to say, one without."""
    return [
        commune(
            "Saint-Alerte",
            "01001",
            change(),
            change("regressed", "MAIL-DMARC", "high", "mairie-a.test", previous_status="pass", title="DMARC"),
            change("new", "WEB-HSTS", "medium", "https://mairie-a.test/", title="HSTS absent"),
            contacts=("maire@mairie-a.test", "dgs@mairie-a.test"),
            grade="E",
            previous_grade="C",
        ),
        commune(
            "Villebasse",
            "01002",
            change("new", "TLS-CERT-VALIDITY", "high", "www.villebasse.test:443", title="Certificat expiré"),
            contacts=("mairie@villebasse.test",),
        ),
        commune(
            "Calmeville",
            "01003",
            change("new", "WEB-CSP", "medium", "https://calmeville.test/", title="CSP absente"),
            change("still_open", "SVC-RDP", "critical", title="RDP"),
            change("fixed", "MAIL-SPF", "high", status="pass", previous_status="fail", title="SPF"),
            contacts=("mairie@calmeville.test",),
        ),
    ]


# --- a relay with STARTTLS and AUTH, and a webhook receiver ---------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


@dataclass
class Inbox:
    """aiosmtpd handler: keeps every accepted message, refuses the recipients in `refuse`."""

    refuse: set[str] = field(default_factory=set)
    messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed))
        return "250 2.0.0 Ok: queued"

    def by_rcpt(self, address: str) -> Received:
        found = [m for m in self.messages if address in m.rcpt_tos]
        assert len(found) == 1, [m.rcpt_tos for m in self.messages]
        return found[0]


def _authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok)


class Relay:
    """A real SMTP relay on 127.0.0.1: STARTTLS (certificate from `ca`), AUTH required after TLS only."""

    def __init__(self, ca: trustme.CA, inbox: Inbox) -> None:
        self.journal = Journal()
        self.inbox = inbox
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "relay.syndicat.test").configure_cert(tls)
        # smtp_server's controller journals every command, so the order STARTTLS → AUTH → MAIL is visible.
        self._controller = _Controller(
            self.journal,
            handler=inbox,
            hostname="127.0.0.1",
            port=0,
            server_hostname="relay.syndicat.test",
            tls_context=tls,
            require_starttls=True,
            auth_require_tls=True,
            auth_required=True,
            authenticator=_authenticator,
            ready_timeout=5.0,
        )
        self._controller.loop.set_exception_handler(lambda loop, context: None)
        self._controller.start()
        self.port = self._controller.port

    def commands(self) -> list[str]:
        return self.journal.commands()

    def stop(self) -> None:
        self._controller.stop()


@dataclass
class Hook:
    port: int
    requests: list[tuple[dict[str, str], bytes]]


@pytest.fixture
def webhook() -> Iterator[Hook]:
    """An http.server on 127.0.0.1 recording every POST (headers, body) and answering 204."""
    requests: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length", "0")), 1_000_000)
            requests.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Hook(int(server.server_address[1]), requests)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def relay(test_ca: trustme.CA, inbox: Inbox) -> Iterator[Relay]:
    server = Relay(test_ca, inbox)
    yield server
    server.stop()


@pytest.fixture
def ca_file(test_ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "relay-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERSCAN_SMTP_USER", USER)
    monkeypatch.setenv("CYBERSCAN_SMTP_PASSWORD", PASSWORD)
    monkeypatch.delenv("CYBERSCAN_WEBHOOK_SECRET", raising=False)


def settings(port: int, ca: Path, **overrides: Any) -> AlertSettings:
    raw: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "sender": SENDER,
        "syndicat_contacts": ["dsi@syndicat.test"],
        "ca_bundle": str(ca),
        "report_base_url": "https://rapports.syndicat.test/{insee}/",
        "timeout": 5,
    }
    raw.update(overrides)
    return parse_alerts(raw)


def secret_forms() -> list[str]:
    forms = [PASSWORD, WEBHOOK_SECRET]
    for raw in (f"\0{USER}\0{PASSWORD}", PASSWORD):
        forms.append(base64.b64encode(raw.encode()).decode())
    return forms


def assert_no_secret(*captured: str) -> None:
    for text in captured:
        for form in secret_forms():
            assert form not in text


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


# --- delivery -------------------------------------------------------------------------------------


def test_digests_reach_each_commune_and_the_syndicat_over_starttls(relay: Relay, ca_file: Path) -> None:
    outcome = send_alerts(fleet(), settings(relay.port, ca_file), dry_run=False, out=None)

    assert outcome.failures == ()
    assert sorted(d.key for d in outcome.sent) == ["commune:01001", "commune:01002", "syndicat"]
    assert [d.key for d in outcome.skipped] == ["commune:01003"]
    inbox = relay.inbox
    assert len(inbox.messages) == 3
    first = inbox.by_rcpt("maire@mairie-a.test")
    assert first.rcpt_tos == ("maire@mairie-a.test", "dgs@mairie-a.test")
    assert first.mail_from == "alertes@syndicat.test"
    assert (
        first.message["Subject"]
        == "[cyberscan] Saint-Alerte (01001) : 2 alertes de sécurité, note en baisse (C → E)"
    )
    assert first.message["Auto-Submitted"] == "auto-generated"
    assert (
        inbox.by_rcpt("mairie@villebasse.test")
        .message["Subject"]
        .startswith("[cyberscan] Villebasse (01002)")
    )
    syndicat = inbox.by_rcpt("dsi@syndicat.test")
    assert syndicat.message["Subject"] == "[cyberscan] Parc des communes : 2 communes à surveiller"

    # STARTTLS came before AUTH, and AUTH before the first MAIL, on every connection.
    commands = relay.commands()
    assert commands.count("STARTTLS") == 1 and commands.count("AUTH") == 1  # one session for three mails
    assert commands.index("STARTTLS") < commands.index("AUTH") < commands.index("MAIL")


def test_a_digest_names_title_resource_severity_and_delay_and_no_evidence(
    relay: Relay, ca_file: Path
) -> None:
    send_alerts(fleet(), settings(relay.port, ca_file), dry_run=False, out=None)

    text, html = parts(relay.inbox.by_rcpt("maire@mairie-a.test").message)
    assert text.startswith("Bonjour,")  # French by default
    assert "Note globale : C → E." in text
    assert "[critique] Bureau à distance (RDP) exposé — 192.0.2.10:3389 — délai : 48 h" in text
    assert "[élevée] DMARC — mairie-a.test — délai : 1 mois (était : conforme)" in text
    assert text.index("Régressions") < text.index("Nouveaux constats")
    # Below the threshold: the medium finding is not listed.
    assert "HSTS" not in text and "HSTS" not in html
    assert "Rapport détaillé : https://rapports.syndicat.test/01001/" in text
    assert '<a href="https://rapports.syndicat.test/01001/">' in html
    assert "Bureau à distance (RDP) exposé" in html and "<code>192.0.2.10:3389</code>" in html
    for body in (text, html):
        assert EVIDENCE not in body

    fleet_text, _ = parts(relay.inbox.by_rcpt("dsi@syndicat.test").message)
    # The most urgent commune first, each with its own report link.
    assert fleet_text.index("Saint-Alerte (01001)") < fleet_text.index("Villebasse (01002)")
    assert "https://rapports.syndicat.test/01002/" in fleet_text
    assert "Calmeville" not in fleet_text


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://rapports.syndicat.test/", "https://rapports.syndicat.test/01001-saint-alerte/rapport.html"),
        (None, "01001-saint-alerte/rapport.html"),
    ],
)
def test_report_pointer_from_the_report_paths(base: str | None, expected: str, ca_file: Path) -> None:
    paths = {"01001": "01001-saint-alerte/rapport.html"}
    chosen = settings(free_port(), ca_file, report_base_url=base, webhook_url="https://hooks.syndicat.test/x")

    outcome = send_alerts(fleet(), chosen, dry_run=True, out=None, report_paths=paths)

    commune_a, commune_b, syndicat = outcome.digests
    assert f"Rapport détaillé : {expected}" in commune_a.text
    assert f"Rapport détaillé : {expected}" in syndicat.text
    if base is not None:
        assert f'<a href="{expected}">' in commune_a.html
        # Villebasse has no report path: its mail, and the syndicat's, point at the base.
        assert "Rapport détaillé : https://rapports.syndicat.test/\n" in commune_b.text
        assert "Rapports détaillés : https://rapports.syndicat.test/" in syndicat.text
    else:
        assert f"<code>{expected}</code>" in commune_a.html  # a file path, not a link
        assert "Rapport détaillé" not in commune_b.text
    assert outcome.webhook is not None
    assert outcome.webhook["communes"][0]["report"] == expected


def test_a_commune_without_contacts_is_still_in_the_syndicat_digest(ca_file: Path) -> None:
    orphan = commune("Sans-Contact", "01009", change(), contacts=("not-an-address",))

    outcome = send_alerts([orphan], settings(free_port(), ca_file), dry_run=True, out=None)

    assert ("commune:01009", "no valid contact address for this commune") in [
        (d.key, d.detail) for d in outcome.skipped
    ]
    [syndicat] = outcome.digests
    assert syndicat.recipients == ("dsi@syndicat.test",)
    assert "Sans-Contact (01009) — 1 alerte de sécurité\n(aucun contact configuré" in syndicat.text


def test_english_digest(relay: Relay, ca_file: Path) -> None:
    changes = [fleet()[1]]
    send_alerts(
        changes, settings(relay.port, ca_file, lang="en", syndicat_contacts=[]), dry_run=False, out=None
    )

    [received] = relay.inbox.messages
    assert received.message["Subject"] == "[cyberscan] Villebasse (01002): 1 security alert"
    text, _ = parts(received.message)
    assert text.startswith("Hello,")
    assert "[high] Certificat expiré — www.villebasse.test:443 — target delay: 1 month" in text


def test_a_grade_drop_alone_is_worth_a_mail(relay: Relay, ca_file: Path) -> None:
    dropped = commune("Déclin", "01004", contacts=("mairie@declin.test",), grade="D", previous_grade="B")
    better = commune("Mieux", "01005", contacts=("mairie@mieux.test",), grade="B", previous_grade="D")

    outcome = send_alerts(
        [dropped, better], settings(relay.port, ca_file, syndicat_contacts=[]), dry_run=False, out=None
    )

    assert [d.key for d in outcome.sent] == ["commune:01004"]
    [received] = relay.inbox.messages
    assert received.message["Subject"] == "[cyberscan] Déclin (01004) : note en baisse (B → D)"


def test_nothing_above_the_threshold_sends_nothing(relay: Relay, ca_file: Path, webhook: Hook) -> None:
    quiet = [
        fleet()[2],
        commune("Pareil", "01006", contacts=("m@pareil.test",), grade="B", previous_grade="B"),
    ]
    hook_url = f"http://127.0.0.1:{webhook.port}/hook"

    outcome = send_alerts(quiet, settings(relay.port, ca_file, webhook_url=hook_url), dry_run=False, out=None)

    assert outcome.sent == () and outcome.failures == () and outcome.webhook is None
    assert {d.key for d in outcome.skipped} == {"commune:01003", "commune:01006"}
    assert relay.commands() == [] and relay.inbox.messages == []  # not even a connection
    assert webhook.requests == []


def test_a_lower_threshold_lets_medium_findings_through(relay: Relay, ca_file: Path) -> None:
    outcome = send_alerts(
        [fleet()[2]],
        settings(relay.port, ca_file, threshold="medium", syndicat_contacts=[]),
        dry_run=False,
        out=None,
    )

    assert [d.key for d in outcome.sent] == ["commune:01003"]
    text, _ = parts(relay.inbox.messages[0].message)
    assert "[moyenne] CSP absente — https://calmeville.test/ — délai : prochaine maintenance" in text


# --- hostile strings ------------------------------------------------------------------------------


def test_hostile_strings_are_neutralised(relay: Relay, ca_file: Path) -> None:
    hostile = commune(
        "Evil <b>bold</b>\r\nBcc: victim@evil.test",
        "01007\r\nX-Injected: 1",
        change(
            resource="https://mairie.test/\r\nBcc: victim@evil.test\r\n\r\nInjected body",
            title="<script>alert(1)</script><img src=x onerror=alert(2)>",
        ),
        contacts=(
            "mairie@hostile.test",
            "mairie@hostile.test\r\nBcc: victim@evil.test",
            "Name <x@evil.test>",
        ),
    )

    outcome = send_alerts(
        [hostile], settings(relay.port, ca_file, syndicat_contacts=[]), dry_run=False, out=None
    )

    assert outcome.failures == ()
    [received] = relay.inbox.messages
    assert received.rcpt_tos == ("mairie@hostile.test",)  # the forged and display-name contacts are dropped
    message = received.message
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    text, html = parts(message)
    assert not any(line.startswith(("Bcc:", "Injected body")) for line in text.splitlines())
    assert "https://mairie.test/ Bcc: victim@evil.test Injected body" in text
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "Evil &lt;b&gt;bold&lt;/b&gt; Bcc: victim@evil.test" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_long_strings_are_bounded(relay: Relay, ca_file: Path) -> None:
    noisy = commune(
        "X" * 5000,
        "01008",
        *(change(resource=f"https://m.test/{n}/" + "r" * 5000, title="T" * 5000) for n in range(80)),
        contacts=("mairie@noisy.test",),
    )

    send_alerts([noisy], settings(relay.port, ca_file, syndicat_contacts=[]), dry_run=False, out=None)

    text, html = parts(relay.inbox.messages[0].message)
    assert len(relay.inbox.messages[0].message["Subject"]) <= 200
    assert max(len(line) for line in text.splitlines()) < 700
    assert text.count("  - [critique]") == 50
    assert "… et 30 autre(s) constat(s) : voir le rapport." in text
    assert len(html) < 100_000


# --- credentials ----------------------------------------------------------------------------------


def echoing_relay(refuse: str) -> Callable[[Peer], None]:
    """A hostile relay without STARTTLS: its error reply to `refuse` (AUTH or MAIL) echoes the credentials."""

    def script(peer: Peer) -> None:
        peer.send("220 relay.echo.test ESMTP\r\n")
        auth = ""
        while (line := peer.line()) is not None:
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                peer.send("250-relay.echo.test\r\n250 AUTH PLAIN LOGIN\r\n")
            elif verb == refuse:
                peer.send(f"535 5.7.8 rejected: {arg} {auth} {PASSWORD}\r\n")
            elif verb == "AUTH":
                auth = arg
                peer.send("235 2.7.0 Authentication successful\r\n")
            elif verb == "RSET":
                peer.send("250 2.0.0 Ok\r\n")
            elif verb == "QUIT":
                peer.send("221 Bye\r\n")
                return
            else:
                peer.send("503 5.5.1 Error\r\n")

    return script


@pytest.mark.parametrize("refuse", ["AUTH", "MAIL"])
def test_the_password_never_leaks(
    refuse: str,
    ca_file: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CYBERSCAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    caplog.set_level(logging.DEBUG)
    server = ScriptedServer(echoing_relay(refuse))
    try:
        # starttls = false towards a loopback relay: the only case credentials go without TLS.
        outcome = send_alerts(
            fleet(),
            settings(
                server.port, ca_file, starttls=False, webhook_url=f"http://127.0.0.1:{free_port()}/hook"
            ),
            dry_run=False,
            out=None,
        )
    finally:
        server.stop()

    assert "AUTH" in server.commands()  # the client really sent the credentials, and the relay echoed them
    assert len(outcome.failures) == 4 and outcome.sent == ()
    if refuse == "AUTH":
        assert outcome.failures[0].detail == "SMTP authentication refused (535)"
    else:
        # The relay's reply is shown (it explains the failure), with every form of the secret removed.
        assert outcome.failures[0].detail.startswith("SMTP server answered 535 5.7.8 rejected:")
        assert outcome.failures[0].detail.endswith("*** ***")
    captured = capsys.readouterr()
    assert_no_secret(repr(outcome), caplog.text, captured.out, captured.err)

    dry = io.StringIO()
    send_alerts(fleet(), settings(server.port, ca_file), dry_run=True, out=dry)
    assert_no_secret(dry.getvalue())


def test_credentials_never_cross_without_tls_to_a_remote_relay(
    ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ScriptedServer(echoing_relay("AUTH"))
    # Test relays live on loopback (the network rule); play a relay elsewhere on the LAN.
    monkeypatch.setattr("cyberscan.fleet.alerts._is_loopback", lambda host: False)
    try:
        plain = settings(server.port, ca_file, starttls=False, syndicat_contacts=[])
        outcome = send_alerts([fleet()[1]], plain, dry_run=False, out=None)
    finally:
        server.stop()
    assert "EHLO" in server.commands()
    assert "AUTH" not in server.commands() and "MAIL" not in server.commands()
    assert [f.detail for f in outcome.failures] == [
        "refusing to send SMTP credentials without TLS (starttls = false)"
    ]


def test_starttls_is_required_by_default(ca_file: Path) -> None:
    plain = SmtpServer(hostname="relay.plain.test", cert=None)
    try:
        outcome = send_alerts(
            [fleet()[1]], settings(plain.port, ca_file, syndicat_contacts=[]), dry_run=False, out=None
        )
    finally:
        plain.stop()
    assert "AUTH" not in plain.commands() and "MAIL" not in plain.commands()
    assert [f.detail for f in outcome.failures] == [
        "the SMTP server does not offer STARTTLS (starttls = true): nothing sent"
    ]


def test_an_untrusted_relay_certificate_stops_before_auth(relay: Relay, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))

    outcome = send_alerts(
        [fleet()[1]], settings(relay.port, other, syndicat_contacts=[]), dry_run=False, out=None
    )

    assert "AUTH" not in relay.commands() and relay.inbox.messages == []
    [failure] = outcome.failures
    assert failure.detail.startswith("TLS certificate of the server not trusted")


def test_one_credential_without_the_other_is_a_failure(
    relay: Relay, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CYBERSCAN_SMTP_PASSWORD")
    outcome = send_alerts([fleet()[1]], settings(relay.port, ca_file), dry_run=False, out=None)
    assert relay.commands() == []
    assert {f.detail for f in outcome.failures} == {
        "set both CYBERSCAN_SMTP_USER and CYBERSCAN_SMTP_PASSWORD, or neither"
    }


# --- failures -------------------------------------------------------------------------------------


def test_a_refused_recipient_does_not_stop_the_others(relay: Relay, ca_file: Path) -> None:
    relay.inbox.refuse.add("maire@mairie-a.test")
    relay.inbox.refuse.add("dgs@mairie-a.test")

    outcome = send_alerts(fleet(), settings(relay.port, ca_file), dry_run=False, out=None)

    assert [(f.key, f.detail) for f in outcome.failures] == [
        ("commune:01001", "every recipient was refused (SMTP 550)")
    ]
    assert sorted(d.key for d in outcome.sent) == ["commune:01002", "syndicat"]
    assert len(relay.inbox.messages) == 2


def test_a_partly_refused_digest_reaches_the_accepted_recipients(relay: Relay, ca_file: Path) -> None:
    relay.inbox.refuse.add("dgs@mairie-a.test")

    outcome = send_alerts(
        [fleet()[0]], settings(relay.port, ca_file, syndicat_contacts=[]), dry_run=False, out=None
    )

    assert [(d.key, d.recipients) for d in outcome.sent] == [("commune:01001", ("maire@mairie-a.test",))]
    assert [(f.recipients, f.detail) for f in outcome.failures] == [
        (("dgs@mairie-a.test",), "recipients refused (SMTP 550)")
    ]


def test_smtp_server_down_is_recorded_and_the_webhook_still_posted(
    ca_file: Path, webhook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    down = free_port()
    hook_url = f"http://127.0.0.1:{webhook.port}/hook"

    outcome = send_alerts(fleet(), settings(down, ca_file, webhook_url=hook_url), dry_run=False, out=None)

    assert [(f.key, f.detail) for f in outcome.failures] == [
        ("commune:01001", "connection refused"),
        ("commune:01002", "connection refused"),
        ("syndicat", "not attempted: the previous connections to the SMTP server failed"),
    ]
    assert [d.key for d in outcome.sent] == ["webhook"]
    assert len(webhook.requests) == 1
    assert "not sent: connection refused" in caplog.text


def test_webhook_failure_is_recorded(relay: Relay, ca_file: Path) -> None:
    hook_url = f"http://127.0.0.1:{free_port()}/hook"
    outcome = send_alerts(
        fleet(), settings(relay.port, ca_file, webhook_url=hook_url), dry_run=False, out=None
    )
    assert len(outcome.sent) == 3
    [failure] = outcome.failures
    assert failure.channel == "webhook" and failure.detail.startswith("ConnectError")


# --- webhook --------------------------------------------------------------------------------------


def test_webhook_receives_the_signed_compact_document(
    relay: Relay, ca_file: Path, webhook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYBERSCAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    hook_url = f"http://127.0.0.1:{webhook.port}/hook"

    outcome = send_alerts(
        fleet(),
        settings(relay.port, ca_file, webhook_url=hook_url),
        dry_run=False,
        out=None,
        run="2026-02-01-1",
    )

    assert "webhook" in [d.key for d in outcome.sent]
    [(headers, body)] = webhook.requests
    expected = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == f"sha256={expected}"
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert document["run"]["id"] == "2026-02-01-1"
    assert [c["insee"] for c in document["communes"]] == ["01001", "01002"]
    first = document["communes"][0]
    assert (first["name"], first["grade"], first["previous_grade"]) == ("Saint-Alerte", "E", "C")
    assert [(a["kind"], a["check_id"], a["severity"], a["delay"]) for a in first["alerts"]] == [
        ("regressed", "MAIL-DMARC", "high", "1 month"),
        ("new", "SVC-RDP", "critical", "48h"),
    ]
    assert EVIDENCE not in body.decode()


def test_webhook_without_secret_has_no_signature(relay: Relay, ca_file: Path, webhook: Hook) -> None:
    hook_url = f"http://127.0.0.1:{webhook.port}/hook"
    send_alerts(fleet(), settings(relay.port, ca_file, webhook_url=hook_url), dry_run=False, out=None)
    [(headers, _)] = webhook.requests
    assert SIGNATURE_HEADER.lower() not in headers


# --- dry run --------------------------------------------------------------------------------------


def test_dry_run_prints_everything_and_sends_nothing(
    relay: Relay, ca_file: Path, webhook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYBERSCAN_WEBHOOK_SECRET", WEBHOOK_SECRET)
    out = io.StringIO()
    hook_url = f"http://127.0.0.1:{webhook.port}/hook"

    outcome = send_alerts(fleet(), settings(relay.port, ca_file, webhook_url=hook_url), dry_run=True, out=out)

    assert relay.commands() == [] and relay.inbox.messages == [] and webhook.requests == []
    assert outcome.sent == () and outcome.failures == ()
    assert len(outcome.digests) == 3 and outcome.webhook is not None
    printed = out.getvalue()
    assert "To: maire@mairie-a.test, dgs@mairie-a.test" in printed
    assert "Subject: [cyberscan] Parc des communes : 2 communes à surveiller" in printed
    assert "délai : 48 h" in printed
    assert f"--- webhook POST {hook_url} ---" in printed
    assert_no_secret(printed, repr(outcome))


def test_dry_run_with_nothing_to_say(ca_file: Path) -> None:
    out = io.StringIO()
    outcome = send_alerts([fleet()[2]], settings(free_port(), ca_file), dry_run=True, out=out)
    assert outcome == AlertOutcome(skipped=outcome.skipped)
    assert out.getvalue() == "alerts: nothing at or above 'high', nothing would be sent\n"


# --- configuration --------------------------------------------------------------------------------


def test_parse_defaults() -> None:
    parsed = parse_alerts({})
    assert parsed == AlertSettings()
    assert (parsed.starttls, parsed.threshold, parsed.lang, parsed.smtp_port) == (True, "high", "fr", 587)


def test_parse_full_table(ca_file: Path) -> None:
    parsed = parse_alerts(
        {
            "smtp_host": "smtp.syndicat.fr",
            "smtp_port": 25,
            "starttls": True,
            "sender": SENDER,
            "syndicat_contacts": ["dsi@syndicat.fr"],
            "threshold": "critical",
            "lang": "en",
            "webhook_url": "https://hooks.syndicat.fr/cyberscan",
            "report_base_url": "https://rapports.syndicat.fr/{insee}/",
            "ca_bundle": str(ca_file),
            "timeout": 12,
        }
    )
    assert parsed.smtp_host == "smtp.syndicat.fr" and parsed.ca_bundle == ca_file and parsed.timeout == 12.0


@pytest.mark.parametrize(
    ("raw", "key", "fragment"),
    [
        ({"smtp_password": "x"}, "smtp_password", "is not a known key"),
        ({"smtp_port": "25"}, "smtp_port", "between 1 and 65535"),
        ({"smtp_port": 0}, "smtp_port", "between 1 and 65535"),
        ({"smtp_port": True}, "smtp_port", "between 1 and 65535"),
        ({"starttls": "yes"}, "starttls", "true or false"),
        ({"smtp_host": "smtp.syndicat.fr"}, "sender", "required when 'alerts.smtp_host' is set"),
        ({"smtp_host": "smtp.example\r\nfr", "sender": SENDER}, "smtp_host", "control characters"),
        ({"smtp_host": "smtp example", "sender": SENDER}, "smtp_host", "host name or an IP address"),
        ({"sender": "not an address"}, "sender", "must be an e-mail address"),
        ({"syndicat_contacts": "dsi@syndicat.fr"}, "syndicat_contacts", "list of e-mail addresses"),
        ({"syndicat_contacts": ["dsi@syndicat.fr", "oops"]}, "syndicat_contacts", "invalid address"),
        ({"threshold": "urgent"}, "threshold", "must be one of"),
        ({"lang": "de"}, "lang", "must be one of"),
        ({"webhook_url": "http://hooks.example.org/x"}, "webhook_url", "must use https"),
        ({"webhook_url": "ftp://hooks.example.org/x"}, "webhook_url", "https:// URL"),
        ({"webhook_url": "https://user:pw@hooks.example.org/x"}, "webhook_url", "must not carry credentials"),
        ({"report_base_url": ""}, "report_base_url", "non-empty string"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle", "file not found"),
        ({"timeout": 0}, "timeout", "number of seconds"),
        ({"timeout": 10_000}, "timeout", "number of seconds"),
    ],
)
def test_parse_rejects_naming_the_key(raw: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(AlertSettingsError) as caught:
        parse_alerts(raw)
    assert caught.value.key == key
    assert str(caught.value).startswith(f"'alerts.{key}' ")
    assert fragment in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/h"])
def test_http_webhook_is_allowed_on_loopback(url: str) -> None:
    assert parse_alerts({"webhook_url": url}).webhook_url == url
