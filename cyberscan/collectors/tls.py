"""TLS collector: every TLS endpoint of a target (HTTPS, MX STARTTLS, mail ports) in one sslyze run.

The I/O is `TlsCollector._run_scanner` (sslyze's probes, scheduled by `tls_jobs`) and
`TlsCollector._mx_hosts` (one DNS query); the rest are pure functions from sslyze result objects to
the JSON-safe facts of `tls_facts`, so that they can be tested on hand-built results.

Time budget. No scan job starts after the target's deadline (`tls_jobs`), and every socket
operation gets `network_timeout` (capped by the engine's per-operation timeout and by what is left
of the deadline); each handshake makes `connect_attempts` TCP attempts. Worst cases, per endpoint
(endpoints run in parallel, `MAX_PARALLEL_ENDPOINTS` at a time):

- closed port: immediate; filtered port: one `network_timeout`;
- a service that accepts the connection and then says nothing: sslyze's connectivity test tries
  TLS 1.3, then 1.2 to SSL 2.0 with two cipher lists each: 11 × `network_timeout` (measured);
- a TLS server answering every handshake just before the timeout (a tarpit): the handshakes
  already started when the deadline comes, `max_connections_per_server` at a time, each up to
  `network_timeout`.

The runner abandons a collector at the target's deadline; the jobs already running then end on
their own timeouts, and no new one starts.

Not collected: `ticket_lifetime_hint` stays None. sslyze's resumption test keeps the sessions it
gets to itself (its result only says whether resumption worked), so the hint would cost one more
handshake of our own per endpoint.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID
from nassl.ephemeral_key_info import DhEphemeralKeyInfo, EcDhEphemeralKeyInfo, EphemeralKeyInfo

# sslyze's package __init__ re-exports these implicitly, which mypy --strict does not accept: import
# them from the modules that define them.
from sslyze.connection_helpers.opportunistic_tls_helpers import ProtocolWithOpportunisticTlsEnum
from sslyze.errors import ConnectionToServerFailed
from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
from sslyze.scanner.models import ScanCommandsExtraArguments
from sslyze.scanner.scan_command_attempt import ScanCommandErrorReasonEnum
from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

from ..bounds import clip
from ..net.guard import NetworkGuard, OutOfScopeError
from ..net.resolver import ResolutionError, mx_names
from ..plugin import Collector, CollectorContext
from ..scope import ProbeLevel
from ..targets import Target, TargetKind
from .tls_facts import (
    ACTIVE_COMMANDS,
    PASSIVE_COMMANDS,
    PROTOCOL_COMMANDS,
    PROTOCOLS,
    CertificateSummary,
    CipherSuiteInfo,
    CommandError,
    ProtocolSupport,
    TlsEndpoint,
    TlsFacts,
    TrustResult,
)
from .tls_jobs import DeadlineReached, EndpointRequest, EndpointScan, scan_endpoints

#: Endpoints scanned at once. apex and www usually are one server: with sslyze's default of 10,
#: a domain target would open 2 × 5 connections to it; 4 keeps a target with MX hosts quick.
MAX_PARALLEL_ENDPOINTS = 4
MAX_CHAIN = 10
MAX_SANS = 100
MAX_URLS = 10
MAX_NAME = 300
#: trust stores reported: the public one browsers share, and --ca-bundle
TRUST_STORES = ("Mozilla", "Supplied CA file")

#: service and STARTTLS protocol of the optional mail ports; any other port is "tls" (implicit TLS)
MAIL_PORT_SERVICES: Mapping[int, tuple[str, str | None]] = {
    465: ("smtps", None),  # RFC 8314 implicit TLS submission
    587: ("submission", "smtp"),  # RFC 6409, STARTTLS
    993: ("imaps", None),
    995: ("pop3s", None),
}
_STARTTLS = {
    "smtp": ProtocolWithOpportunisticTlsEnum.SMTP,
    "imap": ProtocolWithOpportunisticTlsEnum.IMAP,
    "pop3": ProtocolWithOpportunisticTlsEnum.POP3,
}
_VERSION_OF_COMMAND = {command: version for version, command in PROTOCOL_COMMANDS.items()}


# --- settings and endpoint planning (pure) -------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    https_port: int
    mail: bool
    smtp_port: int
    mail_ports: tuple[int, ...]
    max_connections_per_server: int
    network_timeout: float
    connect_attempts: int
    version_preflight: bool

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> _Settings:
        merged = {**TlsCollector.defaults, **settings}
        return cls(
            https_port=int(merged["https_port"]),
            mail=bool(merged["mail"]),
            smtp_port=int(merged["smtp_port"]),
            mail_ports=tuple(int(p) for p in merged["mail_ports"]),
            max_connections_per_server=max(1, int(merged["max_connections_per_server"])),
            network_timeout=max(0.1, float(merged["network_timeout"])),
            connect_attempts=max(1, int(merged["connect_attempts"])),
            version_preflight=bool(merged["version_preflight"]),
        )


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint to scan, decided before any connection."""

    host: str
    port: int
    service: str
    starttls: str | None = None
    #: speculative probe (mail ports): dropped from the facts when nothing listens there
    optional: bool = False


def web_endpoints(target: Target, https_port: int) -> list[EndpointSpec]:
    """The HTTPS endpoint of each web origin (an http:// URL target still gets its host's HTTPS port)."""
    return [EndpointSpec(o.host, o.https_port or https_port, "https") for o in target.web_origins()]


def mail_endpoints(
    mx_hosts: Sequence[str], smtp_port: int, mail_ports: Iterable[int], in_scope: Callable[[str], bool]
) -> list[EndpointSpec]:
    """SMTP STARTTLS on every MX (passive: any sending mail server does it); mail ports only in scope."""
    specs: list[EndpointSpec] = []
    for host in mx_hosts:
        specs.append(EndpointSpec(host, smtp_port, "smtp", "smtp"))
        if in_scope(host):
            for port in mail_ports:
                service, starttls = MAIL_PORT_SERVICES.get(port, ("tls", None))
                specs.append(EndpointSpec(host, port, service, starttls, optional=True))
    return specs


def dedupe_endpoints(specs: Iterable[EndpointSpec]) -> list[EndpointSpec]:
    """One spec per host:port, the first one winning (a web origin before a mail port)."""
    seen: dict[tuple[str, int], EndpointSpec] = {}
    for spec in specs:
        seen.setdefault((spec.host.lower(), spec.port), spec)
    return list(seen.values())


# --- cipher suites ------------------------------------------------------------------------------

_TLS13_SUITES = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_CCM_SHA256",
        "TLS_AES_128_CCM_8_SHA256",
    }
)
#: first token of the cipher part of an RFC name -> bulk cipher family
_CIPHER_FAMILIES = {
    "AES": "AES",
    "3DES": "3DES",
    "DES40": "DES",
    "RC4": "RC4",
    "RC2": "RC2",
    "IDEA": "IDEA",
    "SEED": "SEED",
    "CAMELLIA": "CAMELLIA",
    "ARIA": "ARIA",
    "CHACHA20": "CHACHA20",
    "NULL": "NULL",
}
_MACS = {"SHA": "SHA1", "SHA256": "SHA256", "SHA384": "SHA384", "MD5": "MD5"}


def _kex_of(kex_part: str) -> tuple[str, bool]:
    """(key exchange, anonymous) from the part of an RFC name before "_WITH_", e.g. "ECDHE_RSA"."""
    tokens = kex_part.split("_")
    if "anon" in tokens:
        return "ANON", True
    head = tokens[0]
    if head in ("ECDHE", "DHE", "ECDH", "DH", "SRP", "PSK"):
        return head, False
    if head == "EDH":  # old spelling of DHE
        return "DHE", False
    if head == "RSA":
        return ("PSK" if "PSK" in tokens else "RSA"), False
    return head, False


def _cipher_of(cipher_part: str) -> str:
    tokens = cipher_part.split("_")
    if tokens[0] == "DES":  # SSLv2 spells triple DES "DES_192_EDE3_CBC"; "DES_CBC", "DES_64_CBC": single
        return "3DES" if "EDE3" in tokens else "DES"
    return _CIPHER_FAMILIES.get(tokens[0], tokens[0])


def classify_suite(
    name: str,
    openssl_name: str = "",
    key_bits: int = 0,
    ephemeral_type: str | None = None,
    ephemeral_bits: int | None = None,
) -> CipherSuiteInfo:
    """Classify a cipher suite from its IANA/RFC name (TLS 1.3, TLS 1.0-1.2 and SSLv2 "SSL_CK_" names)."""
    if name in _TLS13_SUITES:
        # "TLS_<cipher>_<hash>": the key exchange is negotiated apart, and always ephemeral.
        cipher_part, mac_token = name.removeprefix("TLS_").rsplit("_", 1)
        kex, anonymous = "TLS13", False
    elif name.startswith("SSL_CK_"):
        # SSLv2: "SSL_CK_<cipher>_WITH_<mac>", always RSA key transport.
        cipher_part, _, mac_token = name[len("SSL_CK_") :].partition("_WITH_")
        kex, anonymous = "RSA", False
    else:
        kex_part, _, cipher_part = name.removeprefix("TLS_").removeprefix("SSL_").partition("_WITH_")
        kex, anonymous = _kex_of(kex_part)
        mac_token = cipher_part.rsplit("_", 1)[-1]
    aead = kex == "TLS13" or any(t in cipher_part.split("_") for t in ("GCM", "CCM", "POLY1305"))
    # An AEAD cipher authenticates the records itself: no MAC, whatever PRF hash the name ends with.
    mac = "AEAD" if aead else _MACS.get(mac_token, mac_token)
    return CipherSuiteInfo(
        name=clip(name, MAX_NAME),
        openssl_name=clip(openssl_name, MAX_NAME),
        key_bits=key_bits,
        kex=kex,
        forward_secret=kex in ("ECDHE", "DHE", "TLS13"),
        aead=aead,
        cipher=_cipher_of(cipher_part),
        mac=mac,
        anonymous=anonymous,
        export="EXPORT" in name,
        ephemeral_type=ephemeral_type,
        ephemeral_bits=ephemeral_bits,
    )


def ephemeral_of(key: EphemeralKeyInfo | None) -> tuple[str | None, int | None]:
    """("X25519"/"secp256r1"/… or "DH", bits) of the ephemeral key sslyze saw with a suite."""
    if isinstance(key, EcDhEphemeralKeyInfo):
        return key.curve_name, key.size
    if isinstance(key, DhEphemeralKeyInfo):
        return "DH", key.size
    if key is not None:
        return key.type_name, key.size
    return None, None


# --- certificates -------------------------------------------------------------------------------


def _one_line(text: object, limit: int = MAX_NAME) -> str:
    return clip(" ".join(str(text).split()), limit)


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> Any:
    """The value of an extension, or None when absent or unparseable (a malformed extension is data)."""
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    except Exception:  # ValueError, DuplicateExtension…: cryptography parses extensions lazily
        return None


def san_entries(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) of the subjectAltName extension."""
    san = _extension(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san is None:
        return [], []
    dns_names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    return dns_names, ips


def _key_facts(cert: x509.Certificate) -> tuple[str, int, str | None]:
    try:
        key = cert.public_key()
    except (ValueError, TypeError):
        return "unknown", 0, None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None
    return type(key).__name__, 0, None


def _signature(cert: x509.Certificate) -> tuple[str | None, str]:
    oid = cert.signature_algorithm_oid
    # `_name` is cryptography's own label ("sha256WithRSAEncryption"); unknown OIDs fall back to dots.
    algorithm = str(getattr(oid, "_name", "") or oid.dotted_string)
    try:
        hash_algorithm = cert.signature_hash_algorithm
    except Exception:  # UnsupportedAlgorithm for exotic hashes: the name is still reported
        return None, algorithm
    return (hash_algorithm.name.lower() if hash_algorithm is not None else None), algorithm


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # InvalidSignature, unsupported key or hash: not provably self-signed
        return False
    return True


def _urls(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    crl: list[str] = []
    for point in _extension(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS) or ():
        crl += [n.value for n in point.full_name or () if isinstance(n, x509.UniformResourceIdentifier)]
    ocsp = [
        d.access_location.value
        for d in _extension(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS) or ()
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
    return tuple(clip(u, MAX_NAME) for u in crl[:MAX_URLS]), tuple(clip(u, MAX_NAME) for u in ocsp[:MAX_URLS])


def summarise_certificate(cert: x509.Certificate) -> CertificateSummary:
    """Every field a check needs, computed from the certificate itself (not from path validation)."""
    dns_names, ips = san_entries(cert)
    key_type, key_bits, curve = _key_facts(cert)
    signature_hash, signature_algorithm = _signature(cert)
    constraints = _extension(cert, ExtensionOID.BASIC_CONSTRAINTS)
    scts = _extension(cert, ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS)
    crl_urls, ocsp_urls = _urls(cert)
    return CertificateSummary(
        subject=_one_line(cert.subject.rfc4514_string()),
        issuer=_one_line(cert.issuer.rfc4514_string()),
        sans=tuple(clip(n, MAX_NAME) for n in [*dns_names, *ips][:MAX_SANS]),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(),
        key_type=key_type,
        key_bits=key_bits,
        curve=curve,
        signature_hash=signature_hash,
        signature_algorithm=clip(signature_algorithm, MAX_NAME),
        self_signed=_self_signed(cert),
        is_ca=bool(constraints is not None and constraints.ca),
        sct_count=len(scts) if scts is not None else 0,
        crl_urls=crl_urls,
        ocsp_urls=ocsp_urls,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _safe_summary(cert: x509.Certificate) -> CertificateSummary:
    # cryptography parses names and extensions lazily: a certificate malformed in a way sslyze
    # tolerated must become a fact, not a collector crash.
    try:
        return summarise_certificate(cert)
    except Exception as exc:
        return CertificateSummary(
            subject="(unparseable certificate)",
            issuer="",
            signature_algorithm=_one_line(f"{type(exc).__name__}: {exc}"),
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
        )


def hostname_matches(host: str, dns_names: Iterable[str], ip_addresses: Iterable[str] = ()) -> bool:
    """RFC 6125 as browsers apply it: SANs only (CN ignored), `*` only as a whole left-most label.

    A wildcard covers exactly one label, never over a single-label suffix (`*.fr`); an IP host matches
    only an IP SAN, never a DNS SAN spelling the same address.
    """
    name = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        address = None
    if address is not None:
        return any(_same_ip(address, text) for text in ip_addresses)
    return any(_dns_match(name, pattern.lower().rstrip(".")) for pattern in dns_names)


def _same_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == address
    except ValueError:
        return False


def _dns_match(name: str, pattern: str) -> bool:
    if pattern == name:
        return True
    if not pattern.startswith("*.") or "*" in pattern[2:]:
        return False
    suffix = pattern[2:]
    if "." not in suffix:  # "*.fr": browsers refuse a wildcard over a whole top-level domain
        return False
    label, dot, rest = name.partition(".")
    return bool(label) and bool(dot) and rest == suffix


# --- sslyze results -> facts (pure) --------------------------------------------------------------


def _exception_name(exc: BaseException | None) -> str:
    return type(exc).__name__ if exc is not None else ""


def _exception_message(exc: BaseException | None) -> str:
    """The exception's own message on one line (never the traceback)."""
    if exc is None:
        return ""
    # sslyze's connection errors carry the bare message; their str() is 'host:port -> "message".'
    message = getattr(exc, "error_message", None)
    if not isinstance(message, str):
        message = str(exc) or type(exc).__name__
    return _one_line(message.strip())


@dataclass(frozen=True)
class ConnectivityFailure:
    """Why sslyze could not scan an endpoint at all."""

    kind: str
    detail: str
    #: nothing accepted the TCP connection (refused, or dropped until the timeout)
    nothing_listens: bool = False


#: sslyze connectivity exception -> (error_kind, nothing listens on the port)
_CONNECTIVITY_KINDS: Mapping[str, tuple[str, bool]] = {
    "ServerRejectedConnection": ("unreachable", True),
    "ConnectionToServerTimedOut": ("timeout", True),
    "TlsHandshakeTimedOut": ("timeout", False),
    # STARTTLS not offered or refused: the service speaks, but not TLS.
    "ServerRejectedOpportunisticTlsNegotiation": ("not_tls", False),
    # Every version from TLS 1.3 to SSL 2.0 failed: a plain-text service, or ciphers nobody supports.
    "ServerTlsConfigurationNotSupported": ("not_tls", False),
    "ServerRejectedTlsHandshake": ("protocol", False),
    "DeadlineReached": ("deadline", False),
}


def connectivity_failure(exc: BaseException | None) -> ConnectivityFailure:
    """Classify the error of sslyze's connectivity test (only its type and message are read)."""
    name = _exception_name(exc)
    message = _exception_message(exc) or "no connectivity"
    # Anything but sslyze's connection errors (and the deadline) is a bug in the scan itself.
    expected = isinstance(exc, ConnectionToServerFailed | DeadlineReached)
    kind, nothing_listens = _CONNECTIVITY_KINDS.get(name, ("protocol", False)) if expected else ("bug", False)
    if name == "ConnectionToServerFailed":
        # A socket error other than refusal/timeout (no route, reset…), or, when sslyze says
        # "Unexpected connection error", an OpenSSL error on bytes that were not TLS.
        kind = "protocol" if message.startswith("Unexpected connection error") else "unreachable"
    return ConnectivityFailure(kind, _one_line(f"{message} ({name or 'unknown error'})"), nothing_listens)


def command_error(reason: ScanCommandErrorReasonEnum | None, exc: BaseException | None) -> CommandError:
    """One failed scan command as a short, typed error (the exception is reduced to one line)."""
    name = _exception_name(exc)
    message = _exception_message(exc)
    if isinstance(exc, DeadlineReached):
        return CommandError("deadline", message)
    if reason is ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED:
        return CommandError("protocol", "the server asks for a client certificate")
    if reason is ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE:
        kind = "timeout" if "TimedOut" in name or "timeout" in message.lower() else "unreachable"
    else:
        kind = "bug"  # BUG_IN_SSLYZE, WRONG_USAGE, or no reason at all
    detail = f"{message} ({name})" if name else (message or str(reason.value if reason else "failed"))
    return CommandError(kind, _one_line(detail))


#: sslyze's RobotScanResultEnum values (its module is private: compared by value)
ROBOT_VERDICTS: Mapping[str, str] = {
    "VULNERABLE_WEAK_ORACLE": "weak_oracle",
    "VULNERABLE_STRONG_ORACLE": "strong_oracle",
    "NOT_VULNERABLE_NO_ORACLE": "not_vulnerable",
    "NOT_VULNERABLE_RSA_NOT_SUPPORTED": "not_vulnerable",
    "UNKNOWN_INCONSISTENT_RESULTS": "unknown",
}


def robot_verdict(result: Any) -> str:
    """sslyze's RobotScanResultEnum as "not_vulnerable", "weak_oracle", "strong_oracle" or "unknown"."""
    return ROBOT_VERDICTS.get(str(getattr(result, "value", result)), "unknown")


def session_tickets(result: Any) -> bool | None:
    """TLS 1.2 ticket resumption from sslyze's TlsResumptionSupportEnum (private module: by value).

    None for a TLS 1.3-only server: sslyze tests TLS 1.2 tickets only.
    """
    value = str(getattr(result, "value", result))
    if value == "SERVER_IS_TLS_1_3_ONLY":
        return None
    return value in ("FULLY_SUPPORTED", "PARTIALLY_SUPPORTED")


def protocol_support(version: str, result: Any) -> ProtocolSupport:
    """A CipherSuitesScanResult distilled: accepted suites, classified."""
    suites = []
    for accepted in result.accepted_cipher_suites:
        suite = accepted.cipher_suite
        kind, bits = ephemeral_of(accepted.ephemeral_key)
        suites.append(classify_suite(suite.name, suite.openssl_name, suite.key_size, kind, bits))
    return ProtocolSupport(version, tuple(suites))


def certificate_fields(host: str, result: Any) -> dict[str, Any]:
    """TlsEndpoint fields from a CertificateInfoScanResult: the first deployment (the one sent with SNI)."""
    deployments = result.certificate_deployments
    if not deployments:
        return {}
    deployment = deployments[0]
    received = list(deployment.received_certificate_chain)
    leaf_dns, leaf_ips = san_entries(received[0]) if received else ([], [])
    return {
        "chain": tuple(_safe_summary(c) for c in received[:MAX_CHAIN]),
        "hostname_matches": hostname_matches(host, leaf_dns, leaf_ips) if received else None,
        "trust": tuple(
            TrustResult(
                store=p.trust_store.name,
                trusted=p.verified_certificate_chain is not None,
                error=_one_line(p.validation_error) if p.validation_error else None,
            )
            for p in deployment.path_validation_results
            if p.trust_store.name in TRUST_STORES
        ),
        "ocsp_stapled": deployment.ocsp_response is not None,
    }


#: scan command -> TlsEndpoint fields from its result (protocols and certificates are handled apart)
_SIMPLE_FIELDS: Mapping[str, Callable[[Any], dict[str, Any]]] = {
    "elliptic_curves": lambda r: {
        "groups": tuple(c.name for c in r.supported_curves or ()) if r.supports_ecdh_key_exchange else ()
    },
    "tls_compression": lambda r: {"compression": bool(r.supports_compression)},
    "session_renegotiation": lambda r: {
        "secure_renegotiation": bool(r.supports_secure_renegotiation),
        "client_renegotiation": bool(r.is_vulnerable_to_client_renegotiation_dos),
    },
    "session_resumption": lambda r: {"session_tickets": session_tickets(r.tls_ticket_resumption_result)},
    "tls_1_3_early_data": lambda r: {"early_data": bool(r.supports_early_data)},
    "tls_extended_master_secret": lambda r: {"extended_master_secret": bool(r.supports_ems_extension)},
    "tls_fallback_scsv": lambda r: {"fallback_scsv": bool(r.supports_fallback_scsv)},
    "heartbleed": lambda r: {"heartbleed": bool(r.is_vulnerable_to_heartbleed)},
    "openssl_ccs_injection": lambda r: {"ccs_injection": bool(r.is_vulnerable_to_ccs_injection)},
    "robot": lambda r: {"robot": robot_verdict(r.robot_result)},
}


def command_fields(host: str, command: str, result: Any) -> dict[str, Any]:
    """TlsEndpoint fields from one completed command (protocol commands excluded)."""
    if command == "certificate_info":
        return certificate_fields(host, result)
    return _SIMPLE_FIELDS[command](result)


def _dhe_bits(protocols: Iterable[ProtocolSupport]) -> tuple[int, ...]:
    # Every finite-field ephemeral key counts, anonymous DH included: a 1024-bit group is Logjam
    # material whoever authenticates.
    return tuple(
        sorted(
            {
                s.ephemeral_bits
                for p in protocols
                for s in p.accepted
                if s.ephemeral_type == "DH" and s.ephemeral_bits is not None
            }
        )
    )


def endpoint_from_result(
    spec: EndpointSpec, address: str, active_allowed: bool, scan: EndpointScan, commands: Sequence[str]
) -> TlsEndpoint:
    """Distil one endpoint's sslyze results into a TlsEndpoint (no library object survives)."""
    base = TlsEndpoint(spec.host, spec.port, spec.service, spec.starttls, address, active_allowed)
    if scan.connectivity_error is not None:
        failure = connectivity_failure(scan.connectivity_error)
        return dataclasses.replace(base, error_kind=failure.kind, error=failure.detail)
    fields: dict[str, Any] = {}
    protocols: list[ProtocolSupport] = []
    unavailable: dict[str, CommandError] = {}
    refused: dict[str, str] = {}
    for command in commands:
        attempt = scan.attempts.get(command)
        if command in scan.refused_versions and command in _VERSION_OF_COMMAND:
            # The pre-flight handshake offering every suite was refused for the version itself.
            protocols.append(ProtocolSupport(_VERSION_OF_COMMAND[command]))
            refused[_VERSION_OF_COMMAND[command]] = _one_line(scan.refused_versions[command])
        elif attempt is not None and attempt.result is not None:
            try:
                if command in _VERSION_OF_COMMAND:
                    protocols.append(protocol_support(_VERSION_OF_COMMAND[command], attempt.result))
                else:
                    fields.update(command_fields(spec.host, command, attempt.result))
            except Exception as exc:  # a result we cannot read costs this command, not the endpoint
                unavailable[command] = CommandError(
                    "bug", _one_line(f"distilling failed: {type(exc).__name__}: {exc}")
                )
        elif attempt is not None and attempt.error is not None:
            unavailable[command] = command_error(attempt.error_reason, attempt.error)
        else:
            unavailable[command] = CommandError("bug", "sslyze did not run this command")
    protocols.sort(key=lambda p: PROTOCOLS.index(p.version))
    return dataclasses.replace(
        base,
        protocols=tuple(protocols),
        refused_versions=refused,
        dhe_bits=_dhe_bits(protocols),
        unavailable=unavailable,
        **fields,
    )


def error_endpoint(spec: EndpointSpec, kind: str, detail: str, address: str | None = None) -> TlsEndpoint:
    return TlsEndpoint(
        spec.host, spec.port, spec.service, spec.starttls, address, error_kind=kind, error=_one_line(detail)
    )


# --- the collector (I/O) -------------------------------------------------------------------------


@dataclass
class _Planned:
    spec: EndpointSpec
    address: str
    active_allowed: bool
    commands: tuple[str, ...]
    request: EndpointRequest
    outcome: TlsEndpoint | None = None
    nothing_listens: bool = False


def _memo_key(item: _Planned, settings: _Settings, ctx: CollectorContext) -> tuple[Any, ...]:
    spec = item.spec
    return (
        "tls",
        spec.host,
        spec.port,
        spec.service,
        spec.starttls,
        item.address,
        item.active_allowed,
        item.commands,
        str(ctx.ca_bundle),
        settings.max_connections_per_server,
        settings.network_timeout,
        settings.version_preflight,
    )


def _outcome(item: _Planned, scan: EndpointScan) -> tuple[TlsEndpoint, bool]:
    endpoint = endpoint_from_result(item.spec, item.address, item.active_allowed, scan, item.commands)
    failed = scan.connectivity_error
    return endpoint, failed is not None and connectivity_failure(failed).nothing_listens


class TlsCollector(Collector):
    """Scans the target's HTTPS endpoints and its MX hosts' mail TLS with sslyze, all endpoints at once."""

    name = "tls"
    provides = TlsFacts
    defaults: ClassVar[Mapping[str, Any]] = {
        # HTTPS port of web origins without an explicit one (URL targets keep theirs)
        "https_port": 443,
        # scan the MX hosts of a domain target: STARTTLS on `smtp_port` for every MX (passive), and
        # `mail_ports` on MX hosts inside the declared scope (active)
        "mail": True,
        "smtp_port": 25,
        # 465 smtps, 587 submission (STARTTLS), 993 imaps, 995 pop3s; other ports: implicit TLS
        "mail_ports": [465, 587, 993, 995],
        # sslyze's concurrent connections to one endpoint
        "max_connections_per_server": 5,
        # seconds for each connect/read of a handshake (also capped by [scan] timeout and the deadline)
        "network_timeout": 5.0,
        # TCP connection attempts per handshake (sslyze's `network_max_retries` counts attempts)
        "connect_attempts": 1,
        # one handshake per version (SSL 3.0 to TLS 1.2) before trying its suites one by one: a
        # version the server refuses outright is not enumerated (see tls_jobs); false = sslyze's
        # exhaustive enumeration of every version
        "version_preflight": True,
    }

    def collect(self, target: Target, ctx: CollectorContext) -> TlsFacts:
        settings = _Settings.from_mapping(ctx.settings)
        ctx.op_timeout()  # raises CollectorError(DEADLINE) when nothing is left
        collected_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        specs = web_endpoints(target, settings.https_port)
        failed: list[TlsEndpoint] = []
        if target.kind is TargetKind.DOMAIN and settings.mail and target.host:
            mx_hosts, mx_error = self._mx_hosts(target.host, settings.smtp_port, ctx)
            if mx_error is not None:
                failed.append(mx_error)
            specs += mail_endpoints(
                mx_hosts, settings.smtp_port, settings.mail_ports, lambda h: _may_probe(ctx.guard, h)
            )
        endpoints = self.scan_endpoints(dedupe_endpoints(specs), ctx)
        return TlsFacts(
            endpoints=(*endpoints, *failed), collected_at=collected_at, tool=f"sslyze {version('sslyze')}"
        )

    @staticmethod
    def _mx_hosts(domain: str, smtp_port: int, ctx: CollectorContext) -> tuple[list[str], TlsEndpoint | None]:
        """MX hosts by preference; a failed MX lookup becomes an error endpoint (domain, SMTP port)."""
        import dns.resolver  # NXDOMAIN/NoAnswer: imported with the first MX lookup, not at start-up

        spec = EndpointSpec(domain, smtp_port, "smtp", "smtp")
        try:
            hosts = ctx.guard.resolver.mx_hosts(domain, ctx.op_timeout())
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return [], None  # no mail domain: no mail endpoint, nothing to report
        except dns.exception.Timeout:
            return [], error_endpoint(spec, "timeout", f"MX lookup for {domain} timed out")
        except dns.exception.DNSException as exc:
            return [], error_endpoint(spec, "dns", f"MX lookup for {domain} failed: {exc}")
        return hosts, None

    def scan_endpoints(
        self, specs: Sequence[EndpointSpec], ctx: CollectorContext, commands: Collection[str] | None = None
    ) -> list[TlsEndpoint]:
        """Resolve, scan and distil `specs` in one sslyze run; `commands` restricts the scan (tests)."""
        settings = _Settings.from_mapping(ctx.settings)
        timeout = min(settings.network_timeout, ctx.op_timeout())
        planned: list[_Planned | TlsEndpoint] = [
            self._plan(spec, ctx, settings, timeout, commands) for spec in specs
        ]
        requests = [p for p in planned if isinstance(p, _Planned)]
        # Fleet mode: an endpoint another commune's scan already measured in this run (a shared MX, a
        # hoster's web server) is not scanned again; the key holds everything the result depends on.
        memo = ctx.memo
        keys = {id(p): _memo_key(p, settings, ctx) for p in requests}
        if memo is not None:
            for job in requests:
                remembered = memo.get(keys[id(job)])
                if remembered is not None:
                    job.outcome, job.nothing_listens = remembered
            requests = [p for p in requests if p.outcome is None]
        # No warnings.catch_warnings() here: it swaps the process-wide filter list, so two scans in
        # parallel threads restore each other's filters mid-scan. sslyze's two warnings are filtered
        # once instead: CryptographyDeprecationWarning (its trust stores hold certificates with
        # negative serials) by the CLI's main(), and the ResourceWarning of the socket it leaves to the
        # garbage collector after a refused STARTTLS is ignored by Python's default filters (the test
        # suite's configuration names it).
        results = self._run_scanner([p.request for p in requests], settings, ctx)
        for job, scan in zip(requests, results, strict=True):
            job.outcome, job.nothing_listens = _outcome(job, scan)
            if memo is not None and job.outcome.error_kind not in ("timeout", "deadline", "bug"):
                memo.put(keys[id(job)], (job.outcome, job.nothing_listens))
        endpoints: list[TlsEndpoint] = []
        for item in planned:
            if not isinstance(item, _Planned):
                endpoints.append(item)
            elif item.outcome is not None and not (item.spec.optional and item.nothing_listens):
                # Optional mail ports whose TCP connection is refused or silently dropped are left
                # out: on a mail host that means the service does not exist, and listing it as an
                # error would bury the report. A port that accepts and then fails TLS is kept.
                endpoints.append(item.outcome)
        return endpoints

    def _plan(
        self,
        spec: EndpointSpec,
        ctx: CollectorContext,
        settings: _Settings,
        timeout: float,
        commands: Collection[str] | None,
    ) -> _Planned | TlsEndpoint:
        try:
            address, active_allowed = _pin(ctx.guard, spec.host)
        except ResolutionError as exc:
            return error_endpoint(spec, "timeout" if exc.reason == "timeout" else "dns", exc.detail)
        wanted = (*PASSIVE_COMMANDS, *(ACTIVE_COMMANDS if active_allowed else ()))
        chosen = tuple(c for c in wanted if commands is None or c in commands)
        extra = ScanCommandsExtraArguments()
        if ctx.ca_bundle is not None and "certificate_info" in chosen:
            extra = ScanCommandsExtraArguments(
                certificate_info=CertificateInfoExtraArgument(custom_ca_file=ctx.ca_bundle)
            )
        request = EndpointRequest(
            location=ServerNetworkLocation(hostname=spec.host, port=spec.port, ip_address=address),
            network=ServerNetworkConfiguration(
                tls_server_name_indication=spec.host,
                tls_opportunistic_encryption=_STARTTLS.get(spec.starttls or ""),
                # sslyze declares int seconds but only hands the value to socket timeouts: a float is fine.
                network_timeout=timeout,  # type: ignore[arg-type]
                network_max_retries=settings.connect_attempts,
            ),
            commands=chosen,
            extra_arguments=extra,
        )
        return _Planned(spec, address, active_allowed, chosen, request)

    @staticmethod
    def _run_scanner(
        requests: list[EndpointRequest], settings: _Settings, ctx: CollectorContext
    ) -> list[EndpointScan]:
        """The sslyze run: every request at once, results in request order."""
        if not requests:
            return []
        ctx.op_timeout()  # resolution may have eaten the rest of the deadline
        return scan_endpoints(
            requests,
            workers_per_endpoint=settings.max_connections_per_server,
            parallel_endpoints=min(len(requests), MAX_PARALLEL_ENDPOINTS),
            deadline=ctx.deadline,
            preflight=settings.version_preflight,
        )


def _pin(guard: NetworkGuard, host: str) -> tuple[str, bool]:
    """(address, active allowed): an in-scope address when there is one, so that active probes only
    ever reach the scope even when a name has addresses on both sides of it."""
    try:
        return guard.pin(host, ProbeLevel.ACTIVE), True
    except OutOfScopeError:
        return guard.pin(host, ProbeLevel.PASSIVE), False


def _may_probe(guard: NetworkGuard, host: str) -> bool:
    try:
        return guard.may_probe(host)
    except ResolutionError:
        return False


__all__ = [
    "MAIL_PORT_SERVICES",
    "ConnectivityFailure",
    "EndpointSpec",
    "TlsCollector",
    "certificate_fields",
    "classify_suite",
    "command_error",
    "connectivity_failure",
    "dedupe_endpoints",
    "endpoint_from_result",
    "hostname_matches",
    "mail_endpoints",
    "mx_names",
    "protocol_support",
    "robot_verdict",
    "summarise_certificate",
    "web_endpoints",
]
