"""Alerts after a fleet run: one e-mail digest per commune (and one for the syndicat), and a webhook."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from .._compat import tomllib
from ..bounds import MAX_RESOURCE, clip
from ..i18n import SEVERITY_LABELS, STATUS_LABELS, label
from ..reporting.grading import DELAYS, LEVELS

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

    from .changes import CommuneChanges, FindingChange

log = logging.getLogger(__name__)

LANGS = ("fr", "en")
SEVERITIES = ("critical", "high", "medium", "low", "info")
#: the only place SMTP credentials and the webhook secret come from (never a file, never the inventory)
ENV_SMTP_USER = "CYBERSCAN_SMTP_USER"
ENV_SMTP_PASSWORD = "CYBERSCAN_SMTP_PASSWORD"
ENV_WEBHOOK_SECRET = "CYBERSCAN_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Cyberscan-Signature"
WEBHOOK_SCHEMA = "cyberscan-alerts/1"
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 600.0
#: findings listed per commune in its own digest, and per commune in the syndicat's digest
MAX_LINES = 50
MAX_FLEET_LINES = 10
# Bounds on what reaches a mail or the webhook, whatever the database holds.
_NAME, _TITLE, _ID, _ADDRESS, _URL = 120, 200, 64, 254, 500
#: consecutive failed connections after which the remaining mails are not attempted (cron stays bounded)
MAX_CONNECT_FAILURES = 2

_KEYS = (
    "smtp_host",
    "smtp_port",
    "starttls",
    "sender",
    "syndicat_contacts",
    "threshold",
    "lang",
    "webhook_url",
    "report_base_url",
    "ca_bundle",
    "timeout",
)
# An addr-spec without display name, comments or white space: enough for the contacts of an inventory,
# and strict enough that nothing but an address reaches a To: header or an RCPT TO command.
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_SECTIONS = ("regressed", "new")
SENT, SKIPPED, FAILED = "sent", "skipped", "failed"


class AlertSettingsError(ValueError):
    """A bad value in the `[alerts]` table; `key` names it so the inventory loader can point at its line."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"'alerts.{key}' {message}")


@dataclass(frozen=True)
class AlertSettings:
    """Where and how to send alerts (the `[alerts]` table of the inventory); never holds a credential."""

    smtp_host: str | None = None
    smtp_port: int = 587
    starttls: bool = True
    sender: str | None = None
    syndicat_contacts: tuple[str, ...] = ()
    threshold: str = "high"
    lang: str = "fr"
    webhook_url: str | None = None
    report_base_url: str | None = None
    #: extra trust anchors (PEM) for a private relay or webhook, on top of Mozilla's store
    ca_bundle: Path | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Digest:
    """One mail: who gets it, its subject, and its plain-text and HTML bodies."""

    key: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str

    def to_message(self, sender: str) -> EmailMessage:
        """The MIME message: text/plain with a text/html alternative."""
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=_domain(sender) or None)
        # RFC 3834: an automatic message, so vacation responders and mailing lists leave it alone;
        # the second header is Exchange's own spelling of the same wish.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg.set_content(self.text)
        msg.add_alternative(self.html, subtype="html")
        return msg


@dataclass(frozen=True)
class Delivery:
    """What happened to one mail or the webhook post: `channel` "mail" or "webhook", `detail` why."""

    channel: str
    key: str
    recipients: tuple[str, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class AlertOutcome:
    """Result of `send_alerts`: what was sent, skipped (with the reason) and failed (with the reason)."""

    sent: tuple[Delivery, ...] = ()
    skipped: tuple[Delivery, ...] = ()
    failures: tuple[Delivery, ...] = ()
    #: the digests built (sent or, in a dry run, that would have been sent)
    digests: tuple[Digest, ...] = ()
    #: the webhook document, if there was one to post
    webhook: Mapping[str, Any] | None = None


# --- configuration --------------------------------------------------------------------------------


def parse_alerts(raw: Mapping[str, Any]) -> AlertSettings:
    """Validate the `[alerts]` table strictly; raise AlertSettingsError (a ValueError) naming the key."""
    for key in raw:
        if key not in _KEYS:
            raise AlertSettingsError(str(key), f"is not a known key (expected one of {sorted(_KEYS)})")
    smtp_host = _opt_str(raw, "smtp_host")
    if smtp_host is not None and not _HOST_RE.match(smtp_host):
        raise AlertSettingsError("smtp_host", "must be a host name or an IP address")
    port = raw.get("smtp_port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise AlertSettingsError("smtp_port", "must be an integer between 1 and 65535")
    starttls = raw.get("starttls", True)
    if not isinstance(starttls, bool):
        raise AlertSettingsError("starttls", "must be true or false")
    sender = _opt_str(raw, "sender")
    if sender is not None and not _ADDRESS_RE.match(parseaddr(sender)[1]):
        raise AlertSettingsError("sender", "must be an e-mail address ('Name <addr@example.fr>' allowed)")
    if smtp_host is not None and sender is None:
        raise AlertSettingsError("sender", "is required when 'alerts.smtp_host' is set")
    contacts = raw.get("syndicat_contacts", [])
    if not isinstance(contacts, list) or not all(isinstance(c, str) for c in contacts):
        raise AlertSettingsError("syndicat_contacts", "must be a list of e-mail addresses")
    for contact in contacts:
        if not _ADDRESS_RE.match(contact):
            raise AlertSettingsError("syndicat_contacts", f"has an invalid address: {_line(contact, 80)!r}")
    threshold = raw.get("threshold", "high")
    if threshold not in SEVERITIES:
        raise AlertSettingsError("threshold", f"must be one of {list(SEVERITIES)}")
    lang = raw.get("lang", "fr")
    if lang not in LANGS:
        raise AlertSettingsError("lang", f"must be one of {list(LANGS)}")
    webhook_url = _opt_str(raw, "webhook_url")
    if webhook_url is not None:
        _check_webhook_url(webhook_url)
    report_base_url = _opt_str(raw, "report_base_url")
    if report_base_url is not None and len(report_base_url) > _URL:
        raise AlertSettingsError("report_base_url", f"is longer than {_URL} characters")
    ca_bundle = _opt_str(raw, "ca_bundle")
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise AlertSettingsError("ca_bundle", f"file not found: {_line(ca_bundle, 200)}")
    timeout = raw.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT:
        raise AlertSettingsError("timeout", f"must be a number of seconds in ]0, {MAX_TIMEOUT:g}]")
    return AlertSettings(
        smtp_host=smtp_host,
        smtp_port=port,
        starttls=starttls,
        sender=sender,
        syndicat_contacts=tuple(contacts),
        threshold=threshold,
        lang=lang,
        webhook_url=webhook_url,
        report_base_url=report_base_url,
        ca_bundle=Path(ca_bundle) if ca_bundle is not None else None,
        timeout=float(timeout),
    )


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AlertSettingsError(key, "must be a non-empty string")
    if any(not ch.isprintable() for ch in value):
        raise AlertSettingsError(key, "must not contain control characters")
    return value.strip()


def _check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise AlertSettingsError("webhook_url", "must be an https:// URL")
    if parts.username is not None or parts.password is not None:
        # A secret in the inventory would end up in backups and logs: it comes from the environment.
        raise AlertSettingsError("webhook_url", f"must not carry credentials (use {ENV_WEBHOOK_SECRET})")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise AlertSettingsError("webhook_url", "must use https (http is allowed for a loopback host only)")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# --- building the digests -------------------------------------------------------------------------


@cache
def alert_texts() -> dict[str, Any]:
    """The prose of the mails, {"fr": {...}, "en": {...}} (see alert_texts.toml)."""
    raw = resources.files(__package__ or "cyberscan.fleet").joinpath("alert_texts.toml")
    data: dict[str, Any] = tomllib.loads(raw.read_text(encoding="utf-8"))
    return data


def _line(text: object, limit: int) -> str:
    """One bounded, printable line: CR, LF and tabs become spaces (they could forge lines or headers)."""
    flat = " ".join(str(text).replace("\r", " ").replace("\n", " ").replace("\t", " ").split())
    return clip(flat, limit)


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2]


def _grade_dropped(commune: CommuneChanges) -> bool:
    """True when the letter got worse (A is best): a commune that could not be graded did not drop."""
    before = LEVELS.get(commune.previous_grade or "")
    after = LEVELS.get(commune.grade or "")
    return before is not None and after is not None and after < before


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _sorted_alerts(alerts: Iterable[FindingChange]) -> list[FindingChange]:
    kind_rank = {kind: n for n, kind in enumerate(_SECTIONS)}
    return sorted(
        alerts,
        key=lambda c: (
            kind_rank.get(c.kind, len(_SECTIONS)),
            _severity_rank(c.severity),
            c.check_id,
            c.resource,
        ),
    )


def _recipients(addresses: Iterable[str]) -> tuple[str, ...]:
    """Valid, distinct addresses only: an inventory value with CR/LF or a display name never reaches RCPT."""
    seen: dict[str, None] = {}
    for address in addresses:
        candidate = str(address).strip()
        if _ADDRESS_RE.match(candidate) and len(candidate) <= _ADDRESS:
            seen.setdefault(candidate, None)
    return tuple(seen)


def _report_url(base: str | None, insee: str, path: str | None) -> str | None:
    """The commune's own report: `{insee}` in the base replaced, or the base joined with its report path."""
    if base is not None and "{insee}" in base:
        url = base.replace("{insee}", insee)
    elif path is not None:
        url = f"{base.rstrip('/')}/{path.lstrip('/')}" if base is not None else path
    else:
        return None
    return _line(url, _URL)


def _fallback_url(settings: AlertSettings) -> str | None:
    """The base shown when a commune has no report of its own to point at."""
    base = settings.report_base_url
    return _line(base, _URL) if base is not None and "{insee}" not in base else None


@dataclass(frozen=True)
class _Block:
    """One commune's part of a digest, prose already in the target language, bounded and one-line."""

    insee: str
    name: str
    summary: str
    grade_line: str | None
    sections: tuple[tuple[str, tuple[_ChangeLine, ...]], ...]
    more: int
    report_url: str | None
    has_contacts: bool


@dataclass(frozen=True)
class _ChangeLine:
    severity: str
    title: str
    resource: str
    delay: str
    was: str | None


@dataclass
class _Plan:
    digests: list[Digest] = field(default_factory=list)
    skipped: list[Delivery] = field(default_factory=list)
    #: the communes with something to say, for the syndicat's digest
    alerting: list[tuple[CommuneChanges, tuple[FindingChange, ...]]] = field(default_factory=list)


def _summary(alerts: Sequence[FindingChange], commune: CommuneChanges, t: Mapping[str, Any]) -> str:
    parts = []
    if alerts:
        parts.append(t["alerts_one"] if len(alerts) == 1 else t["alerts_many"].format(n=len(alerts)))
    if _grade_dropped(commune):
        parts.append(t["grade_drop"].format(previous=commune.previous_grade, grade=commune.grade))
    return ", ".join(parts)


def _block(
    commune: CommuneChanges,
    alerts: Sequence[FindingChange],
    settings: AlertSettings,
    limit: int,
    report_path: str | None,
) -> _Block:
    lang, t = settings.lang, alert_texts()[settings.lang]
    insee, name = _line(commune.insee, 16), _line(commune.commune, _NAME)
    grade_line = None
    if (
        commune.grade is not None
        and commune.previous_grade is not None
        and commune.grade != commune.previous_grade
    ):
        grade_line = t["grade_line"].format(
            previous=_line(commune.previous_grade, 2), grade=_line(commune.grade, 2)
        )
    elif commune.grade is not None:
        grade_line = t["grade_now"].format(grade=_line(commune.grade, 2))
    shown = _sorted_alerts(alerts)[:limit]
    sections: list[tuple[str, tuple[_ChangeLine, ...]]] = []
    for kind in (*_SECTIONS, None):
        lines = tuple(
            _ChangeLine(
                severity=label(SEVERITY_LABELS, c.severity, lang),
                title=_line(c.title, _TITLE),
                resource=_line(c.resource, MAX_RESOURCE),
                delay=t["delays"][DELAYS.get(c.severity, "unknown")],
                was=t["was"].format(previous_status=label(STATUS_LABELS, c.previous_status, lang))
                if c.kind == "regressed" and c.previous_status
                else None,
            )
            for c in shown
            if (c.kind == kind if kind is not None else c.kind not in _SECTIONS)
        )
        if lines:
            sections.append((t[f"section_{kind or 'other'}"], lines))
    return _Block(
        insee=insee,
        name=name,
        summary=_line(_summary(alerts, commune, t), 200),
        grade_line=grade_line,
        sections=tuple(sections),
        more=max(0, len(alerts) - limit),
        report_url=_report_url(settings.report_base_url, insee, report_path),
        has_contacts=bool(_recipients(commune.contacts)),
    )


def _plan(
    changes: Sequence[CommuneChanges], settings: AlertSettings, report_paths: Mapping[str, str]
) -> _Plan:
    plan = _Plan()
    t = alert_texts()[settings.lang]
    for commune in changes:
        alerts = tuple(commune.alerts(settings.threshold))
        key = f"commune:{_line(commune.insee, 16)}"
        if not alerts and not _grade_dropped(commune):
            plan.skipped.append(Delivery("mail", key, (), f"nothing at or above '{settings.threshold}'"))
            continue
        block = _block(commune, alerts, settings, MAX_LINES, report_paths.get(commune.insee))
        plan.alerting.append((commune, alerts))
        recipients = _recipients(commune.contacts)
        if not recipients:
            plan.skipped.append(Delivery("mail", key, (), "no valid contact address for this commune"))
            continue
        subject = t["subject_commune"].format(commune=block.name, insee=block.insee, summary=block.summary)
        intro = t["intro_commune"].format(commune=block.name, insee=block.insee)
        plan.digests.append(_digest(key, recipients, subject, intro, [block], settings, fleet=False))
    fleet_recipients = _recipients(settings.syndicat_contacts)
    if plan.alerting and fleet_recipients:
        n = len(plan.alerting)
        summary = t["communes_one"] if n == 1 else t["communes_many"].format(n=n)
        fleet_blocks = [
            _block(commune, alerts, settings, MAX_FLEET_LINES, report_paths.get(commune.insee))
            for commune, alerts in sorted(plan.alerting, key=lambda item: _urgency(*item))
        ]
        plan.digests.append(
            _digest(
                "syndicat",
                fleet_recipients,
                t["subject_fleet"].format(summary=summary),
                t["intro_fleet"],
                fleet_blocks,
                settings,
                fleet=True,
            )
        )
    return plan


def _urgency(commune: CommuneChanges, alerts: Sequence[FindingChange]) -> tuple[int, int, str]:
    """Most urgent first: the worst severity, then the number of alerts, then the INSEE code."""
    worst = min((_severity_rank(c.severity) for c in alerts), default=len(SEVERITIES))
    return (worst, -len(alerts), commune.insee)


def _digest(
    key: str,
    recipients: tuple[str, ...],
    subject: str,
    intro: str,
    blocks: Sequence[_Block],
    settings: AlertSettings,
    *,
    fleet: bool,
) -> Digest:
    subject = _line(subject, 200)
    return Digest(
        key=key,
        recipients=recipients,
        subject=subject,
        text=_render_text(intro, blocks, settings, fleet=fleet),
        html=_render_html(subject, intro, blocks, settings, fleet=fleet),
    )


def _render_text(intro: str, blocks: Sequence[_Block], settings: AlertSettings, *, fleet: bool) -> str:
    t = alert_texts()[settings.lang]
    out = [t["greeting"], "", intro, ""]
    for block in blocks:
        if fleet:
            out.append(
                t["commune_summary"].format(commune=block.name, insee=block.insee, summary=block.summary)
            )
            if not block.has_contacts:
                out.append(t["no_contact"])
        if block.grade_line:
            out += [block.grade_line, ""]
        for title, lines in block.sections:
            out.append(title)
            for line in lines:
                text = t["change"].format(
                    severity=line.severity, title=line.title, resource=line.resource, delay=line.delay
                )
                out.append(f"  - {text}" + (f" {line.was}" if line.was else ""))
            out.append("")
        if block.more:
            out += [t["more"].format(n=block.more), ""]
        url = block.report_url or (None if fleet else _fallback_url(settings))
        if url:
            out += [t["report"].format(url=url), ""]
    fallback = _fallback_url(settings)
    if fleet and fallback and not all(block.report_url for block in blocks):
        out += [t["report_fleet"].format(url=fallback), ""]
    out += [t["no_evidence"], "", "-- ", t["footer"], ""]
    return "\n".join(out)


# Inline styles only: mail clients drop <style> blocks and never run scripts. Prose arrives as Markup
# built with Markup.format, which escapes every inserted value; anything else is autoescaped.
_HTML = """<!DOCTYPE html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif; line-height: 1.45; color: #1f2328; max-width: 46em">
<p>{{ greeting }}</p>
<p>{{ intro }}</p>
{% for block in blocks %}
{% if block.heading %}<h2 style="font-size: 1.1em; margin-top: 1.5em">{{ block.heading }}</h2>{% endif %}
{% if block.no_contact %}<p style="color: #9a6700">{{ block.no_contact }}</p>{% endif %}
{% if block.grade_line %}<p><strong>{{ block.grade_line }}</strong></p>{% endif %}
{% for section in block.sections %}
<h3 style="font-size: 1em">{{ section.title }}</h3>
<ul>{% for line in section.lines %}<li>{{ line }}</li>{% endfor %}</ul>
{% endfor %}
{% if block.more %}<p>{{ block.more }}</p>{% endif %}
{% if block.report %}<p>{{ block.report }}</p>{% endif %}
{% endfor %}
{% if fleet_report %}<p>{{ fleet_report }}</p>{% endif %}
<p style="color: #57606a">{{ no_evidence }}</p>
<hr><p style="color: #57606a; font-size: smaller">{{ footer }}</p>
</body>
</html>
"""


@cache
def _html_template() -> jinja2.Template:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(_HTML)


def _link(url: str) -> Markup:
    from markupsafe import Markup

    if urlsplit(url).scheme in ("https", "http"):
        return Markup('<a href="{0}">{0}</a>').format(url)
    return Markup("<code>{0}</code>").format(url)


def _render_html(
    subject: str, intro: str, blocks: Sequence[_Block], settings: AlertSettings, *, fleet: bool
) -> str:
    from markupsafe import Markup

    t = alert_texts()[settings.lang]
    fallback = _fallback_url(settings)
    rendered = []
    for block in blocks:
        url = block.report_url or (None if fleet else fallback)
        sections = [
            {
                "title": title,
                "lines": [
                    Markup(t["change"]).format(
                        severity=line.severity,
                        title=line.title,
                        resource=Markup("<code>{0}</code>").format(line.resource),
                        delay=line.delay,
                    )
                    + (Markup(" {0}").format(line.was) if line.was else "")
                    for line in lines
                ],
            }
            for title, lines in block.sections
        ]
        rendered.append(
            {
                "heading": t["commune_summary"].format(
                    commune=block.name, insee=block.insee, summary=block.summary
                )
                if fleet
                else None,
                "no_contact": t["no_contact"] if fleet and not block.has_contacts else None,
                "grade_line": block.grade_line,
                "sections": sections,
                "more": t["more"].format(n=block.more) if block.more else None,
                "report": Markup(t["report"]).format(url=_link(url)) if url else None,
            }
        )
    fleet_report = None
    if fleet and fallback and not all(block.report_url for block in blocks):
        fleet_report = Markup(t["report_fleet"]).format(url=_link(fallback))
    html: str = _html_template().render(
        lang=settings.lang,
        title=subject,
        greeting=t["greeting"],
        intro=intro,
        blocks=rendered,
        fleet_report=fleet_report,
        no_evidence=t["no_evidence"],
        footer=t["footer"],
    )
    return html


def webhook_document(
    changes: Sequence[CommuneChanges],
    settings: AlertSettings,
    run: str | None = None,
    report_paths: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The compact JSON posted to the webhook, or None when no commune has anything to say."""
    communes = []
    for commune in changes:
        alerts = _sorted_alerts(commune.alerts(settings.threshold))
        if not alerts and not _grade_dropped(commune):
            continue
        communes.append(
            {
                "insee": _line(commune.insee, 16),
                "name": _line(commune.commune, _NAME),
                "grade": commune.grade,
                "previous_grade": commune.previous_grade,
                "report": _report_url(
                    settings.report_base_url,
                    _line(commune.insee, 16),
                    (report_paths or {}).get(commune.insee),
                )
                or _fallback_url(settings),
                "alerts": [
                    {
                        "kind": _line(c.kind, 16),
                        "check_id": _line(c.check_id, _ID),
                        "resource": _line(c.resource, MAX_RESOURCE),
                        "severity": _line(c.severity, 16),
                        "status": _line(c.status, 16),
                        "previous_status": _line(c.previous_status, 16) if c.previous_status else None,
                        "first_seen": _line(c.first_seen, 40) if c.first_seen else None,
                        "title": _line(c.title, _TITLE),
                        "delay": DELAYS.get(c.severity),
                    }
                    for c in alerts[:MAX_LINES]
                ],
            }
        )
    if not communes:
        return None
    return {
        "schema": WEBHOOK_SCHEMA,
        "run": {"id": _line(run, 100) if run else None, "generated_at": _now()},
        "threshold": settings.threshold,
        "communes": communes,
    }


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --- sending --------------------------------------------------------------------------------------


class _Secrets:
    """Credentials read from the environment; `redact` removes them (and their base64 forms) from text."""

    def __init__(self, user: str | None, password: str | None, webhook_secret: str | None) -> None:
        self.user = user
        self.password = password
        self.webhook_secret = webhook_secret
        forms: set[str] = set()
        for secret in (user, password, webhook_secret):
            if secret:
                forms.add(secret)
        if user and password:
            # AUTH PLAIN and AUTH LOGIN send these in base64: a server echoing them must not leak them.
            for raw in (f"\0{user}\0{password}", f"{user}\0{password}", user, password):
                forms.add(base64.b64encode(raw.encode()).decode())
        self._forms = sorted(forms, key=len, reverse=True)

    def __repr__(self) -> str:
        return "<secrets redacted>"

    def redact(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        return text


class _SendError(Exception):
    """A mail could not be sent; the message is already safe to show."""


class _SmtpSession:
    """One SMTP connection reused for every digest, reopened after a failure."""

    def __init__(self, settings: AlertSettings, secrets: _Secrets) -> None:
        self.settings = settings
        self.secrets = secrets
        self.conn: smtplib.SMTP | None = None
        self.connect_failures = 0

    def send(
        self, msg: EmailMessage, sender: str, recipients: tuple[str, ...]
    ) -> dict[str, tuple[int, bytes]]:
        if self.conn is None:
            try:
                self.conn = self._open()
            except Exception:
                self.connect_failures += 1
                raise
            self.connect_failures = 0
        try:
            return self.conn.send_message(msg, from_addr=sender, to_addrs=list(recipients))
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def _open(self) -> smtplib.SMTP:
        settings = self.settings
        assert settings.smtp_host is not None and settings.sender is not None
        # The relay is the operator's own infrastructure, not a scan target: it is reached with the
        # system resolver, not through the scope guard. The EHLO name is the sender's domain because
        # smtplib's default (socket.getfqdn) makes a reverse DNS query that can hang a cron run.
        # Given to the constructor (not to connect()): STARTTLS checks the certificate against this name.
        conn = smtplib.SMTP(
            settings.smtp_host,
            settings.smtp_port,
            local_hostname=_domain(settings.sender) or "localhost",
            timeout=settings.timeout,
        )
        try:
            conn.ehlo()
            tls = False
            if settings.starttls:
                if not conn.has_extn("starttls"):
                    raise _SendError(
                        "the SMTP server does not offer STARTTLS (starttls = true): nothing sent"
                    )
                conn.starttls(context=_tls_context(settings.ca_bundle))
                conn.ehlo()
                tls = True
            if self.secrets.user and self.secrets.password:
                if not tls and not _is_loopback(settings.smtp_host):
                    raise _SendError("refusing to send SMTP credentials without TLS (starttls = false)")
                conn.login(self.secrets.user, self.secrets.password)
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.conn.quit()
            _quietly_close(self.conn)
            self.conn = None


def _quietly_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        conn.close()


def _tls_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """A verifying context: Mozilla's roots (certifi) plus the optional private CA of the relay or webhook."""
    import certifi

    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        ctx.load_verify_locations(cafile=str(ca_bundle))
    return ctx


def _reason(exc: BaseException, secrets: _Secrets, timeout: float) -> str:
    """A one-line reason for a failure, bounded, with every credential form removed."""
    if isinstance(exc, _SendError):
        text = str(exc)
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        text = f"every recipient was refused (SMTP {', '.join(map(str, codes))})"
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        text = f"SMTP authentication refused ({exc.smtp_code})"
    elif isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        text = f"SMTP server answered {exc.smtp_code} {reply}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        text = f"TLS certificate of the server not trusted: {exc.verify_message}"
    elif isinstance(exc, ssl.SSLError):
        text = f"TLS failed: {exc.reason or exc}"
    elif isinstance(exc, TimeoutError):
        text = f"timed out after {timeout:g} s"
    elif isinstance(exc, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(exc, OSError):
        text = f"network error: {exc.strerror or exc}"
    elif isinstance(exc, smtplib.SMTPException):
        text = f"SMTP error: {exc}"
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    return _line(secrets.redact(text), 300)


def _send_mails(
    digests: Sequence[Digest], settings: AlertSettings, secrets: _Secrets
) -> Iterator[tuple[str, Delivery]]:
    """Yield ("sent" | "failed" | "skipped", Delivery) per digest; one failure never stops the others."""
    if settings.smtp_host is None or settings.sender is None:
        for digest in digests:
            yield SKIPPED, Delivery("mail", digest.key, digest.recipients, "no smtp_host configured")
        return
    if bool(secrets.user) != bool(secrets.password):
        for digest in digests:
            detail = f"set both {ENV_SMTP_USER} and {ENV_SMTP_PASSWORD}, or neither"
            yield FAILED, Delivery("mail", digest.key, digest.recipients, detail)
        return
    envelope_sender = parseaddr(settings.sender)[1]
    session = _SmtpSession(settings, secrets)
    try:
        for digest in digests:
            if session.connect_failures >= MAX_CONNECT_FAILURES:
                detail = "not attempted: the previous connections to the SMTP server failed"
                yield FAILED, Delivery("mail", digest.key, digest.recipients, detail)
                continue
            try:
                refused = session.send(digest.to_message(settings.sender), envelope_sender, digest.recipients)
            except Exception as exc:  # every failure is recorded, none stops the run
                reason = _reason(exc, secrets, settings.timeout)
                yield FAILED, Delivery("mail", digest.key, digest.recipients, reason)
                continue
            accepted = tuple(r for r in digest.recipients if r not in refused)
            yield SENT, Delivery("mail", digest.key, accepted, "sent")
            if refused:
                codes = ", ".join(str(code) for code in sorted({code for code, _ in refused.values()}))
                detail = f"recipients refused (SMTP {codes})"
                yield (
                    FAILED,
                    Delivery("mail", digest.key, tuple(r for r in digest.recipients if r in refused), detail),
                )
    finally:
        session.close()


def _post_webhook(
    document: Mapping[str, Any], settings: AlertSettings, secrets: _Secrets
) -> tuple[str, Delivery]:
    import httpx

    from .. import __version__

    assert settings.webhook_url is not None
    url = settings.webhook_url
    body = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"cyberscan/{__version__} (fleet alerts)"}
    if secrets.webhook_secret:
        digest = hmac.new(secrets.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    try:
        # trust_env=False: httpx would otherwise read ~/.netrc (credentials from a file) and proxy variables.
        with (
            httpx.Client(
                timeout=settings.timeout,
                verify=_tls_context(settings.ca_bundle),
                trust_env=False,
                follow_redirects=False,
            ) as client,
            client.stream("POST", url, content=body, headers=headers) as response,
        ):
            # The body is never read: whatever the receiver answers, only its status matters.
            status = response.status_code
    except Exception as exc:  # a failed post is recorded, never raised
        if isinstance(exc, httpx.TimeoutException):
            reason = f"timed out after {settings.timeout:g} s"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return FAILED, Delivery("webhook", "webhook", (), _line(secrets.redact(reason), 300))
    if 200 <= status < 300:
        return SENT, Delivery("webhook", "webhook", (), f"sent (HTTP {status})")
    # A redirect is not followed: the signed document goes to the configured URL or nowhere.
    return FAILED, Delivery("webhook", "webhook", (), f"the receiver answered HTTP {status}")


def send_alerts(
    changes: Sequence[CommuneChanges],
    settings: AlertSettings,
    *,
    dry_run: bool,
    out: TextIO | None,
    run: str | None = None,
    report_paths: Mapping[str, str] | None = None,
) -> AlertOutcome:
    """Send the digests and the webhook of one run (or, with `dry_run`, print them to `out` and send nothing).

    Credentials come from the environment only (CYBERSCAN_SMTP_USER, CYBERSCAN_SMTP_PASSWORD,
    CYBERSCAN_WEBHOOK_SECRET) and never appear in the outcome, the logs or `out`.

    Args:
        run: the run's identifier, carried in the webhook document.
        report_paths: per INSEE code, the commune's report path relative to the output directory
            (e.g. "01001-saint-alerte/rapport.html"): the mails point at `report_base_url` + it, or at
            the path itself when no base is configured.
    """
    plan = _plan(changes, settings, report_paths or {})
    document = webhook_document(changes, settings, run, report_paths) if settings.webhook_url else None
    if dry_run:
        if out is not None:
            _preview(plan.digests, document, settings, out)
        skipped = plan.skipped + [Delivery("mail", d.key, d.recipients, "dry run") for d in plan.digests]
        if document is not None:
            skipped.append(Delivery("webhook", "webhook", (), "dry run"))
        return AlertOutcome(skipped=tuple(skipped), digests=tuple(plan.digests), webhook=document)

    secrets = _Secrets(
        os.environ.get(ENV_SMTP_USER) or None,
        os.environ.get(ENV_SMTP_PASSWORD) or None,
        os.environ.get(ENV_WEBHOOK_SECRET) or None,
    )
    sent: list[Delivery] = []
    skipped = list(plan.skipped)
    failures: list[Delivery] = []
    deliveries = list(_send_mails(plan.digests, settings, secrets))
    if document is not None:
        deliveries.append(_post_webhook(document, settings, secrets))
    for result, delivery in deliveries:
        if result == FAILED:
            failures.append(delivery)
            log.warning("alert %s %s not sent: %s", delivery.channel, delivery.key, delivery.detail)
        elif result == SKIPPED:
            skipped.append(delivery)
        else:
            sent.append(delivery)
            log.info(
                "alert %s %s sent to %d recipient(s)",
                delivery.channel,
                delivery.key,
                len(delivery.recipients),
            )
    return AlertOutcome(
        sent=tuple(sent),
        skipped=tuple(skipped),
        failures=tuple(failures),
        digests=tuple(plan.digests),
        webhook=document,
    )


def _preview(
    digests: Sequence[Digest], document: Mapping[str, Any] | None, settings: AlertSettings, out: TextIO
) -> None:
    if not digests and document is None:
        out.write(f"alerts: nothing at or above '{settings.threshold}', nothing would be sent\n")
        return
    for n, digest in enumerate(digests, 1):
        out.write(f"--- mail {n}/{len(digests)} ({digest.key}) ---\n")
        out.write(f"From: {settings.sender or '(no sender configured)'}\n")
        out.write(f"To: {', '.join(digest.recipients)}\n")
        out.write(f"Subject: {digest.subject}\n\n")
        out.write(digest.text)
        out.write(f"(+ HTML alternative, {len(digest.html)} characters)\n\n")
    if document is not None:
        out.write(f"--- webhook POST {settings.webhook_url} ---\n")
        out.write(json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
