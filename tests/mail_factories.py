"""Builders of the facts the MAIL checks judge: a well-configured commune by default, changed per test.

The default commune (`DOMAIN`) has two MX hosts of its own (`MX1` with an IPv4 and an IPv6 address,
`MX2`), an SPF record ending in -all with one include, DMARC p=reject with reports, MTA-STS in enforce
mode and TLS-RPT, a 2048-bit DKIM key at `selector1`, a DNSSEC-secure zone, and no TLSA record. Its MX
hosts offer STARTTLS (TLS 1.3) and present a real certificate chain (`LEAF`, `CA`, generated with
cryptography, hashed as DANE compares them), advertise no authentication before TLS, and greet without
naming their software. `tls()` gives the TLS endpoints of those MX hosts (port 25 and IMAPS).

`dns()` takes a zone dict ({(name, rdtype): records}; [] is NODATA) merged over `ZONE`, with `nx` names
answering NXDOMAIN and `failed` pairs a failed outcome; `drop=` removes answers (never asked). Checks see
everything through `bundle()`, which fills the facts a test did not give with the defaults.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import functools
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import tls_factories as tf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from dns_factories import snapshot

from cyberscan.collectors.dns_facts import DnssecFacts, DnsSnapshot, Outcome
from cyberscan.collectors.mail_facts import (
    MailboxProbe,
    MailFacts,
    MtaStsPolicy,
    PresentedCertificate,
    SmtpProbe,
)
from cyberscan.collectors.tls_facts import TlsEndpoint, TlsFacts
from cyberscan.plugin import Facts

DOMAIN = "mairie-exemple.fr"
MX1 = f"mx1.{DOMAIN}"
MX2 = f"mx2.{DOMAIN}"
MX1_V4, MX1_V6, MX2_V4 = "192.0.2.25", "2001:db8::25", "198.51.100.25"
SPF_INCLUDE = "_spf.messagerie-exemple.net"
SPF = f"v=spf1 mx include:{SPF_INCLUDE} -all"
DMARC = f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}"
STS_TXT = "v=STSv1; id=20261101"
TLSRPT = f"v=TLSRPTv1; rua=mailto:tlsrpt@{DOMAIN}"
SELECTORS = ("selector1", "selector2", "google", "default")
COLLECTED_AT = "2026-11-01T12:00:00+00:00"
POLICY_URL = f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt"


# --------------------------------------------------------------------------------------------------
# Keys and certificates (real ones: DKIM sizes and DANE hashes are computed, never written by hand)


def rsa_dkim(bits: int = 2048, pkcs1: bool = False) -> str:
    """A DKIM key record with an RSA key of `bits` bits (below 1024, a public modulus built by hand,
    which cryptography refuses to generate; only its size matters)."""
    return _rsa_dkim(bits, pkcs1)


@functools.cache
def _rsa_dkim(bits: int, pkcs1: bool) -> str:
    if bits < 1024:
        modulus = (1 << (bits - 1)) | 0xC0FFEE | 1
        public = rsa.RSAPublicNumbers(65537, modulus).public_key()
    else:
        public = rsa.generate_private_key(65537, bits).public_key()
    layout = serialization.PublicFormat.PKCS1 if pkcs1 else serialization.PublicFormat.SubjectPublicKeyInfo
    der = public.public_bytes(serialization.Encoding.DER, layout)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@functools.lru_cache(maxsize=1)
def ed25519_dkim() -> str:
    raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


@dataclasses.dataclass(frozen=True)
class Material:
    """A certificate as DER, its SubjectPublicKeyInfo as DER, and what the facts keep of it."""

    der: bytes
    spki: bytes
    presented: PresentedCertificate

    def tlsa(self, usage: int, selector: int, mtype: int) -> str:
        """The TLSA record (presentation format) that matches this certificate."""
        data = self.der if selector == 0 else self.spki
        digest = {0: data.hex(), 1: hashlib.sha256(data).hexdigest(), 2: hashlib.sha512(data).hexdigest()}
        return f"{usage} {selector} {mtype} {digest[mtype]}"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _material(cert: x509.Certificate, position: int) -> Material:
    der = cert.public_bytes(serialization.Encoding.DER)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    presented = PresentedCertificate(
        position=position,
        subject=cert.subject.rfc4514_string(),
        cert_sha256=hashlib.sha256(der).hexdigest(),
        cert_sha512=hashlib.sha512(der).hexdigest(),
        spki_sha256=hashlib.sha256(spki).hexdigest(),
        spki_sha512=hashlib.sha512(spki).hexdigest(),
    )
    return Material(der, spki, presented)


def chain(host: str = MX1, seed: int = 0) -> tuple[Material, Material]:
    """(leaf, CA) for `host`: an ECDSA P-256 CA signing an ECDSA P-256 leaf. `seed` gives another pair;
    the same arguments always give the same certificates (within a test session)."""
    return _chain(host, seed)  # one cache key however the arguments are spelt


@functools.cache
def _chain(host: str, seed: int) -> tuple[Material, Material]:
    start = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Exemple Mail CA {seed}")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1000 + seed)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(2000 + seed)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _material(leaf, 0), _material(ca, 1)


def presented(host: str = MX1, seed: int = 0) -> tuple[PresentedCertificate, ...]:
    leaf, ca = chain(host, seed)
    return (leaf.presented, ca.presented)


# --------------------------------------------------------------------------------------------------
# DNS

ZONE: dict[tuple[str, str], list[str]] = {
    (DOMAIN, "TXT"): [SPF, "google-site-verification=abc123"],
    (DOMAIN, "MX"): [f"10 {MX1}.", f"20 {MX2}."],
    (SPF_INCLUDE, "TXT"): ["v=spf1 ip4:203.0.113.0/24 -all"],
    (MX1, "CNAME"): [],
    (MX1, "A"): [MX1_V4],
    (MX1, "AAAA"): [MX1_V6],
    (MX2, "CNAME"): [],
    (MX2, "A"): [MX2_V4],
    (MX2, "AAAA"): [],
    (f"_dmarc.{DOMAIN}", "TXT"): [DMARC],
    (f"_mta-sts.{DOMAIN}", "TXT"): [STS_TXT],
    (f"_smtp._tls.{DOMAIN}", "TXT"): [TLSRPT],
    (f"_25._tcp.{MX1}", "TLSA"): [],
    (f"_25._tcp.{MX2}", "TLSA"): [],
    **{(f"{s}._domainkey.{DOMAIN}", "TXT"): [] for s in SELECTORS},
    (f"selector1._domainkey.{DOMAIN}", "TXT"): [rsa_dkim(2048)],
}


def secure(status: str = "secure", zone: str = DOMAIN) -> DnssecFacts:
    return DnssecFacts(status=status, reason=f"test: {status}", zone=zone)


def dns(
    zone: Mapping[tuple[str, str], Iterable[str]] | None = None,
    *,
    nx: Iterable[tuple[str, str]] = (),
    failed: Mapping[tuple[str, str], Outcome] | None = None,
    drop: Iterable[tuple[str, str]] = (),
    domain: str = DOMAIN,
    **overrides: Any,
) -> DnsSnapshot:
    """The default zone with `zone` entries replacing or adding answers, `nx` pairs NXDOMAIN, `failed`
    pairs a failed outcome, and `drop` pairs absent (never asked)."""
    merged = {**ZONE, **(zone or {})}
    gone = set(drop) | set(nx) | set(failed or {})
    kept = {k: list(v) for k, v in merged.items() if k not in gone}
    values: dict[str, Any] = {"dkim_selectors": SELECTORS, "dnssec": secure(), **overrides}
    return snapshot(domain, kept, nxdomain=list(nx), outcomes=dict(failed or {}), **values)


#: the MX hosts' own answers, absent from a domain without MX
MX_HOST_ANSWERS = [(h, t) for h in (MX1, MX2) for t in ("CNAME", "A", "AAAA", "TLSA")] + [
    (f"_25._tcp.{h}", "TLSA") for h in (MX1, MX2)
]


def parked(zone: Mapping[tuple[str, str], Iterable[str]] | None = None, **options: Any) -> DnsSnapshot:
    """A domain that neither sends nor receives mail and says so: null MX, SPF -all, DMARC p=reject."""
    base: dict[tuple[str, str], Iterable[str]] = {
        (DOMAIN, "TXT"): ["v=spf1 -all"],
        (DOMAIN, "MX"): ["0 ."],
        (f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=reject"],
        **(zone or {}),
    }
    drop = [*MX_HOST_ANSWERS, *options.pop("drop", ())]
    return dns(base, drop=drop, **options)


# --------------------------------------------------------------------------------------------------
# Mail probes

EHLO = ("PIPELINING", "SIZE 52428800", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME")


def smtp(host: str = MX1, address: str = MX1_V4, **changes: Any) -> SmtpProbe:
    """A port-25 dialogue: greeting, EHLO with STARTTLS, a TLS 1.3 handshake presenting `presented()`."""
    base = SmtpProbe(
        host=host,
        address=address,
        port=25,
        connected=True,
        banner=f"220 {host} ESMTP",
        ehlo=EHLO,
        starttls_offered=True,
        starttls_ok=True,
        tls_version="TLSv1.3",
        chain=presented(host),
    )
    return dataclasses.replace(base, **changes)


def no_tls(host: str = MX1, address: str = MX1_V4, **changes: Any) -> SmtpProbe:
    """A port-25 dialogue without STARTTLS among the EHLO keywords."""
    values: dict[str, Any] = {
        "ehlo": tuple(k for k in EHLO if k != "STARTTLS"),
        "starttls_offered": False,
        "starttls_ok": None,
        "tls_version": None,
        "chain": (),
        **changes,
    }
    return smtp(host, address, **values)


def dead(host: str = MX1, address: str = MX1_V4, kind: str = "timeout", **changes: Any) -> SmtpProbe:
    """A port-25 probe that got no dialogue."""
    return SmtpProbe(host, address, 25, error_kind=kind, error=f"{kind} on port 25", **changes)


def mailbox(port: int = 143, **changes: Any) -> MailboxProbe:
    """A clear-text mailbox port of MX1: IMAP 143 by default (LOGINDISABLED until STARTTLS)."""
    protocol = {143: "imap", 110: "pop3", 587: "submission"}.get(port, "imap")
    base = MailboxProbe(
        host=MX1,
        address=MX1_V4,
        port=port,
        protocol=protocol,
        connected=True,
        banner="* OK IMAP4rev1 ready" if protocol == "imap" else "+OK ready",
        capabilities=("IMAP4REV1", "STARTTLS", "LOGINDISABLED") if protocol == "imap" else ("STARTTLS",),
        starttls_offered=True,
        cleartext_auth=False,
    )
    return dataclasses.replace(base, **changes)


def closed(port: int, kind: str = "refused") -> MailboxProbe:
    """A mailbox port that did not accept the connection (refused, or filtered: timeout)."""
    return mailbox(
        port,
        connected=False,
        banner=None,
        capabilities=(),
        starttls_offered=False,
        error_kind=kind,
        error=f"connection {kind}",
    )


def policy_body(mode: str = "enforce", *patterns: str) -> str:
    lines = ["version: STSv1", f"mode: {mode}"]
    lines += [f"mx: {p}" for p in (patterns or (f"*.{DOMAIN}",))]
    return "\r\n".join([*lines, "max_age: 604800", ""])


def policy(body: str | None = None, **changes: Any) -> MtaStsPolicy:
    """The MTA-STS policy fetched over valid HTTPS: enforce, `*.mairie-exemple.fr`."""
    base = MtaStsPolicy(
        url=POLICY_URL,
        fetched=True,
        status=200,
        content_type="text/plain",
        body=policy_body() if body is None else body,
    )
    return dataclasses.replace(base, **changes)


def mail(**changes: Any) -> MailFacts:
    """Both MX hosts probed on port 25 (MX1 on two addresses), MTA-STS fetched, no mailbox port probed."""
    base = MailFacts(
        domain=DOMAIN,
        mx_hosts=(MX1, MX2),
        smtp=(smtp(), smtp(MX1, MX1_V6), smtp(MX2, MX2_V4)),
        mta_sts=policy(),
        collected_at=COLLECTED_AT,
    )
    return dataclasses.replace(base, **changes)


# --------------------------------------------------------------------------------------------------
# TLS endpoints of the mail hosts


def mx_endpoint(host: str = MX1, **changes: Any) -> TlsEndpoint:
    """Port 25 of an MX host (STARTTLS), well configured, its leaf naming `host`."""
    leaf = tf.certificate(subject=f"CN={host}", sans=(host,))
    values: dict[str, Any] = {"chain": (leaf, tf.intermediate()), **changes}
    return dataclasses.replace(tf.mx_endpoint(**values), host=host)


def imaps_endpoint(host: str = MX1, **changes: Any) -> TlsEndpoint:
    leaf = tf.certificate(subject=f"CN={host}", sans=(host,))
    values: dict[str, Any] = {"chain": (leaf, tf.intermediate()), "address": MX1_V4, **changes}
    return tf.endpoint(host, 993, "imaps", **values)


def tls(*endpoints: TlsEndpoint) -> TlsFacts:
    """TlsFacts of the MX hosts (default: MX1 port 25 and IMAPS) plus the web host, as collected."""
    chosen = endpoints or (mx_endpoint(), imaps_endpoint())
    return tf.tls_facts(tf.endpoint(), *chosen)


# --------------------------------------------------------------------------------------------------
# Bundles of facts


@dataclasses.dataclass(frozen=True)
class Bundle:
    """The facts one check evaluation sees (a FactBag's content)."""

    items: tuple[Facts, ...]


def bundle(*given: Facts | Bundle) -> Bundle:
    """The given facts, completed with the defaults `dns()`, `mail()` and `tls()` for missing kinds."""
    if len(given) == 1 and isinstance(given[0], Bundle):
        return given[0]
    chosen: dict[type, Facts] = {DnsSnapshot: dns(), MailFacts: mail(), TlsFacts: tls()}
    for facts in given:
        assert not isinstance(facts, Bundle)
        chosen[type(facts)] = facts
    return Bundle(tuple(chosen.values()))


def only(*given: Facts) -> Bundle:
    """Exactly these facts, nothing filled in (a collector that was not run)."""
    return Bundle(tuple(given))


# --------------------------------------------------------------------------------------------------
# One MX host, one address (most check rows: one finding)


def one_dns(zone: Mapping[tuple[str, str], Iterable[str]] | None = None, **options: Any) -> DnsSnapshot:
    """The default zone with MX1 as the only MX host."""
    base: dict[tuple[str, str], Iterable[str]] = {
        (DOMAIN, "MX"): [f"10 {MX1}."],
        (MX1, "AAAA"): [],
        **(zone or {}),
    }
    drop = [(MX2, t) for t in ("CNAME", "A", "AAAA")] + [(f"_25._tcp.{MX2}", "TLSA")]
    return dns(base, drop=[*drop, *options.pop("drop", ())], **options)


def one_mail(*probes: SmtpProbe, **changes: Any) -> MailFacts:
    """MailFacts of MX1 alone: `probes` (default: one healthy probe of its IPv4 address)."""
    values: dict[str, Any] = {"mx_hosts": (MX1,), "smtp": probes or (smtp(),), **changes}
    return mail(**values)


def one(
    *probes: SmtpProbe, dns_zone: Mapping[tuple[str, str], Iterable[str]] | None = None, **changes: Any
) -> Bundle:
    """One MX host with one address: its DNS (plus `dns_zone`), its probes, and `changes` to MailFacts."""
    return bundle(one_dns(dns_zone), one_mail(*probes, **changes))
