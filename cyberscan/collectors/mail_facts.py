"""Facts gathered by the mail collector: SMTP/IMAP/POP3 dialogues with the mail hosts, MTA-STS policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..plugin import Facts


@dataclass(frozen=True)
class PresentedCertificate:
    """One certificate of the chain a server presented after STARTTLS, as the hashes DANE compares."""

    #: 0 = leaf, 1 = first intermediate…
    position: int
    subject: str
    #: hex digests of the whole DER certificate (TLSA selector 0) and of its SubjectPublicKeyInfo
    #: (selector 1), for matching types 1 (SHA-256) and 2 (SHA-512); type 0 (exact) is compared by
    #: hashing the TLSA data the same way
    cert_sha256: str
    cert_sha512: str
    spki_sha256: str
    spki_sha512: str


@dataclass(frozen=True)
class SmtpProbe:
    """EHLO, STARTTLS (and QUIT, never DATA) on one MX address, port 25."""

    host: str
    address: str
    port: int = 25
    #: a TCP connection and a 220 greeting were obtained (a 554 greeting is kept in `banner`, with
    #: error_kind "protocol")
    connected: bool = False
    #: the 220 greeting line(s), bounded and printable
    banner: str | None = None
    #: EHLO keywords before STARTTLS, upper case ("STARTTLS", "AUTH PLAIN LOGIN", "SIZE 52428800", …)
    ehlo: tuple[str, ...] = ()
    starttls_offered: bool = False
    #: None: not attempted (not offered, or no connection); True/False: the TLS handshake completed
    starttls_ok: bool | None = None
    #: why the STARTTLS command or handshake failed, bounded
    starttls_error: str | None = None
    tls_version: str | None = None
    #: the chain presented after STARTTLS, leaf first (empty when no handshake)
    chain: tuple[PresentedCertificate, ...] = ()
    #: open-relay probe (opt-in, in scope only): None = not run, "refused", "accepted" (RCPT 250 for
    #: an external sender to an external recipient), "error"
    relay: str | None = None
    #: the server's reply to the relay RCPT, bounded
    relay_reply: str | None = None
    #: "timeout", "refused", "unreachable", "protocol", "tls", "dns", "deadline" when the dialogue
    #: failed, with the detail
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MailboxProbe:
    """Greeting and capabilities of a cleartext mail port (IMAP 143, POP3 110, submission 587)."""

    host: str
    address: str
    port: int
    #: "imap", "pop3" or "submission"
    protocol: str
    #: the TCP connection was accepted
    connected: bool = False
    banner: str | None = None
    #: capabilities before any STARTTLS, upper case
    capabilities: tuple[str, ...] = ()
    starttls_offered: bool = False
    #: a password can be sent before TLS: IMAP without LOGINDISABLED, POP3 USER/SASL PLAIN offered,
    #: submission AUTH advertised before STARTTLS
    cleartext_auth: bool = False
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MtaStsPolicy:
    """The MTA-STS policy file fetched over HTTPS (certificate verified), RFC 8461 §3.3."""

    url: str
    #: the HTTPS GET returned a response (any status)
    fetched: bool = False
    status: int | None = None
    content_type: str | None = None
    #: the body, bounded to 64 KiB (RFC 8461 lets a sender stop there)
    body: str | None = None
    #: certificate or handshake failure: a sender must then ignore the policy
    tls_error: str | None = None
    #: "timeout", "unreachable", "dns", "tls", "deadline"… with the detail, when nothing was fetched
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MailFacts(Facts):
    """What the domain's mail hosts said, probed once per address."""

    kind: ClassVar[str] = "mail"
    #: the target's domain ("" for IP targets: nothing is probed)
    domain: str = ""
    #: MX host names by preference, as the collector resolved them (null MX and bad names removed)
    mx_hosts: tuple[str, ...] = ()
    #: one probe per MX address; a failed MX lookup is one probe with `host` = the domain, no address
    smtp: tuple[SmtpProbe, ...] = ()
    mailbox: tuple[MailboxProbe, ...] = ()
    #: None when the domain publishes no `_mta-sts` TXT record (the policy is then not fetched)
    mta_sts: MtaStsPolicy | None = None
    #: opt-in probes the configuration enabled ("open_relay"); a check whose opt-in is not listed here
    #: is `not_tested`; enabled but absent from a probe (out of scope) is that probe's `out_of_scope`
    opt_in: tuple[str, ...] = ()
    #: active probes skipped because the address is outside the scope ("host address")
    not_probed: tuple[str, ...] = ()
    #: when the facts were collected (ISO 8601 UTC)
    collected_at: str = ""
