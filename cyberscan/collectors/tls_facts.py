"""Facts gathered by the TLS collector (sslyze), distilled into JSON-safe values per endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..plugin import Facts

#: Protocol names used throughout the TLS facts, oldest first.
PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")

#: sslyze scan command behind each protocol's enumeration (keys of `TlsEndpoint.unavailable`).
PROTOCOL_COMMANDS = {
    "SSLv2": "ssl_2_0_cipher_suites",
    "SSLv3": "ssl_3_0_cipher_suites",
    "TLSv1.0": "tls_1_0_cipher_suites",
    "TLSv1.1": "tls_1_1_cipher_suites",
    "TLSv1.2": "tls_1_2_cipher_suites",
    "TLSv1.3": "tls_1_3_cipher_suites",
}
#: The one command run on endpoints outside the declared scope: retrieving the certificate is what
#: any client's handshake does (passive). Enumeration and vulnerability probes are active.
PASSIVE_COMMANDS = ("certificate_info",)
ACTIVE_COMMANDS = (
    *PROTOCOL_COMMANDS.values(),
    "elliptic_curves",
    "tls_compression",
    "session_renegotiation",
    "session_resumption",
    "tls_1_3_early_data",
    "tls_extended_master_secret",
    "tls_fallback_scsv",
    "heartbleed",
    "openssl_ccs_injection",
    "robot",
)


@dataclass(frozen=True)
class CipherSuiteInfo:
    """One cipher suite the server accepted, classified once so checks need no cipher tables."""

    #: IANA/RFC name, e.g. "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
    name: str
    #: OpenSSL name, e.g. "ECDHE-RSA-AES128-GCM-SHA256"
    openssl_name: str
    #: symmetric key bits (0 for NULL ciphers)
    key_bits: int
    #: key exchange: "ECDHE", "DHE", "RSA", "ECDH", "DH", "PSK", "SRP", "ANON", "TLS13" (always ephemeral)
    kex: str
    #: True when the key exchange gives forward secrecy (ECDHE, DHE, TLS 1.3)
    forward_secret: bool
    #: True for AEAD ciphers (GCM, CCM, ChaCha20-Poly1305, and every TLS 1.3 suite)
    aead: bool
    #: bulk cipher family: "AES", "CHACHA20", "3DES", "DES", "RC4", "RC2", "IDEA", "SEED", "CAMELLIA",
    #: "ARIA", "NULL"…
    cipher: str
    #: MAC or PRF hash: "SHA384", "SHA256", "SHA1", "MD5", "AEAD"
    mac: str
    anonymous: bool = False
    export: bool = False
    #: ephemeral key negotiated with this suite, e.g. "x25519", "secp256r1", "DH"
    ephemeral_type: str | None = None
    ephemeral_bits: int | None = None


@dataclass(frozen=True)
class ProtocolSupport:
    """What one protocol version accepted (an empty `accepted` means the version is refused)."""

    version: str
    accepted: tuple[CipherSuiteInfo, ...] = ()

    @property
    def supported(self) -> bool:
        return bool(self.accepted)


@dataclass(frozen=True)
class CertificateSummary:
    """One certificate of a chain, with every field a check needs (computed by us, not by path validation)."""

    subject: str
    issuer: str
    #: DNS names and IP addresses of the subjectAltName extension
    sans: tuple[str, ...] = ()
    #: ISO 8601 UTC, e.g. "2026-01-31T23:59:59+00:00"
    not_before: str = ""
    not_after: str = ""
    #: "RSA", "EC", "Ed25519", "Ed448", "DSA"
    key_type: str = ""
    key_bits: int = 0
    #: named curve for EC keys, e.g. "secp256r1"
    curve: str | None = None
    #: hash of the signature: "sha256", "sha384", "sha512", "sha1", "md5", or None (Ed25519…)
    signature_hash: str | None = None
    signature_algorithm: str = ""
    self_signed: bool = False
    is_ca: bool = False
    #: Signed Certificate Timestamps embedded in the certificate
    sct_count: int = 0
    crl_urls: tuple[str, ...] = ()
    ocsp_urls: tuple[str, ...] = ()
    sha256: str = ""


@dataclass(frozen=True)
class TrustResult:
    """Path validation of the received chain against one trust store."""

    #: "Mozilla" or "Supplied CA file" (--ca-bundle)
    store: str
    trusted: bool
    #: sslyze reports only the first problem of a path (an expiry hides a name mismatch)
    error: str | None = None


@dataclass(frozen=True)
class CommandError:
    """An sslyze scan command that failed on this endpoint: only the checks needing it become `error`."""

    #: "timeout", "unreachable", "protocol", "bug", "not_tls"…
    kind: str
    detail: str


@dataclass(frozen=True)
class TlsEndpoint:
    """One TLS endpoint of the target and everything sslyze learned about it."""

    #: name used for SNI and the host name check (an IP for IP targets)
    host: str
    port: int
    #: "https", "smtp" (25, STARTTLS), "submission" (587, STARTTLS), "smtps" (465), "imaps" (993),
    #: "pop3s" (995), "tls" (another port, implicit TLS)
    service: str
    #: STARTTLS protocol spoken before the handshake ("smtp", "imap", "pop3"), None for implicit TLS
    starttls: str | None = None
    #: address connected to (pinned through the engine resolver)
    address: str | None = None
    #: True when the address is in the declared scope: full enumeration and vulnerability probes ran.
    #: False: only the certificate was retrieved (passive), everything else is absent.
    active_allowed: bool = False
    #: the endpoint could not be scanned at all (closed, filtered, not TLS, name not resolved)
    error_kind: str | None = None
    error: str | None = None
    #: every protocol version tested, oldest first; absent when the enumeration did not run
    protocols: tuple[ProtocolSupport, ...] = ()
    #: versions refused outright (e.g. "TLSv1.0" -> "TLS alert: protocol version") by a handshake
    #: offering every suite: their suites were not tried one by one, and accept none
    refused_versions: Mapping[str, str] = field(default_factory=dict)
    #: ECDHE groups accepted (sslyze names, e.g. "X25519", "secp256r1"); None when not tested
    groups: tuple[str, ...] | None = None
    #: DHE modulus sizes seen across accepted DHE suites
    dhe_bits: tuple[int, ...] = ()
    #: chain as received, leaf first
    chain: tuple[CertificateSummary, ...] = ()
    #: the leaf's SANs match `host` (computed by us: CN ignored, wildcards one label deep)
    hostname_matches: bool | None = None
    trust: tuple[TrustResult, ...] = ()
    ocsp_stapled: bool | None = None
    compression: bool | None = None
    secure_renegotiation: bool | None = None
    client_renegotiation: bool | None = None
    early_data: bool | None = None
    session_tickets: bool | None = None
    #: session ticket lifetime hint in seconds, when measured
    ticket_lifetime_hint: int | None = None
    extended_master_secret: bool | None = None
    heartbleed: bool | None = None
    ccs_injection: bool | None = None
    #: "not_vulnerable", "weak_oracle", "strong_oracle", "unknown"
    robot: str | None = None
    fallback_scsv: bool | None = None
    #: scan command name (sslyze's ScanCommand value, e.g. "tls_1_2_cipher_suites") -> why it failed
    unavailable: Mapping[str, CommandError] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"

    def protocol(self, version: str) -> ProtocolSupport | None:
        return next((p for p in self.protocols if p.version == version), None)


@dataclass(frozen=True)
class TlsFacts(Facts):
    """TLS facts for every endpoint of a target."""

    kind: ClassVar[str] = "tls"
    endpoints: tuple[TlsEndpoint, ...] = ()
    #: when the facts were collected (ISO 8601 UTC): checks judge dates against this, never the clock,
    #: so a replay with --facts gives the verdicts of the day of the scan
    collected_at: str = ""
    #: e.g. "sslyze 6.3.1"
    tool: str = ""
