"""TlsCollector: pure distillers (table-driven) and real scans of local TLS servers (loopback only)."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dns.name
import pytest
import trustme
from conftest import MakeGuard, StartWebServer, loopback_resolver
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from sslyze.errors import (
    ConnectionToServerFailed,
    ConnectionToServerTimedOut,
    ServerRejectedConnection,
    ServerRejectedOpportunisticTlsNegotiation,
    ServerTlsConfigurationNotSupported,
)
from sslyze.plugins.openssl_cipher_suites.cipher_suites import CipherSuitesRepository
from sslyze.scanner.scan_command_attempt import ScanCommandErrorReasonEnum
from sslyze.server_connectivity import TlsVersionEnum
from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

from cyberscan.collectors.tls import (
    EndpointSpec,
    TlsCollector,
    classify_suite,
    command_error,
    connectivity_failure,
    dedupe_endpoints,
    endpoint_from_result,
    hostname_matches,
    mail_endpoints,
    mx_names,
    robot_verdict,
    session_tickets,
    summarise_certificate,
    web_endpoints,
)
from cyberscan.collectors.tls_facts import ACTIVE_COMMANDS, PROTOCOLS, TlsEndpoint, TlsFacts
from cyberscan.collectors.tls_jobs import CommandAttempt, DeadlineReached, EndpointScan
from cyberscan.demo.tlsserver import WRONG_NAME, LocalTlsServer, TlsServerUnavailable
from cyberscan.demo.webserver import Site
from cyberscan.models import ErrorKind
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.plugin import CollectorContext, CollectorError
from cyberscan.probememo import ProbeMemo
from cyberscan.scope import Scope
from cyberscan.targets import parse_target

LOOPBACK = "127.0.0.1"
IN_SCOPE = (f"{LOOPBACK}/32",)
CERT_ONLY = ("certificate_info",)
KEXES = {"ECDHE", "DHE", "RSA", "ECDH", "DH", "PSK", "SRP", "ANON", "TLS13"}
CIPHERS = {"AES", "CHACHA20", "3DES", "DES", "RC4", "RC2", "IDEA", "SEED", "CAMELLIA", "ARIA", "NULL"}
MACS = {"SHA384", "SHA256", "SHA1", "MD5", "AEAD"}


# --- pure: cipher suites ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kex", "fs", "aead", "cipher", "mac", "anonymous", "export"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE", True, True, "AES", "AEAD", False, False),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "ECDHE",
            True,
            True,
            "CHACHA20",
            "AEAD",
            False,
            False,
        ),
        ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE", True, False, "AES", "SHA256", False, False),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", "RSA", False, False, "AES", "SHA1", False, False),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", "RSA", False, True, "AES", "AEAD", False, False),
        ("TLS_RSA_WITH_AES_128_CCM_8", "RSA", False, True, "AES", "AEAD", False, False),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "RSA", False, False, "3DES", "SHA1", False, False),
        ("TLS_RSA_WITH_RC4_128_MD5", "RSA", False, False, "RC4", "MD5", False, False),
        ("TLS_RSA_WITH_NULL_SHA256", "RSA", False, False, "NULL", "SHA256", False, False),
        ("TLS_RSA_WITH_SEED_CBC_SHA", "RSA", False, False, "SEED", "SHA1", False, False),
        ("TLS_RSA_WITH_IDEA_CBC_SHA", "RSA", False, False, "IDEA", "SHA1", False, False),
        ("TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384", "ECDHE", True, True, "ARIA", "AEAD", False, False),
        ("TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", "DHE", True, False, "CAMELLIA", "SHA1", False, False),
        ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "ECDH", False, True, "AES", "AEAD", False, False),
        ("TLS_DH_RSA_WITH_AES_256_CBC_SHA256", "DH", False, False, "AES", "SHA256", False, False),
        ("TLS_DH_anon_WITH_AES_128_CBC_SHA", "ANON", False, False, "AES", "SHA1", True, False),
        ("TLS_ECDH_anon_WITH_AES_256_CBC_SHA", "ANON", False, False, "AES", "SHA1", True, False),
        ("TLS_RSA_EXPORT_WITH_RC4_40_MD5", "RSA", False, False, "RC4", "MD5", False, True),
        ("TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", "RSA", False, False, "RC2", "MD5", False, True),
        ("TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA", "DHE", True, False, "DES", "SHA1", False, True),
        ("TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA", "ANON", False, False, "DES", "SHA1", True, True),
        ("TLS_RSA_WITH_DES_CBC_SHA", "RSA", False, False, "DES", "SHA1", False, False),
        ("TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", "ECDHE", True, False, "AES", "SHA256", False, False),
        ("TLS_PSK_WITH_AES_128_GCM_SHA256", "PSK", False, True, "AES", "AEAD", False, False),
        ("TLS_RSA_PSK_WITH_AES_128_CBC_SHA", "PSK", False, False, "AES", "SHA1", False, False),
        ("TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA", "SRP", False, False, "AES", "SHA1", False, False),
        ("TLS_AES_128_GCM_SHA256", "TLS13", True, True, "AES", "AEAD", False, False),
        ("TLS_AES_256_GCM_SHA384", "TLS13", True, True, "AES", "AEAD", False, False),
        ("TLS_CHACHA20_POLY1305_SHA256", "TLS13", True, True, "CHACHA20", "AEAD", False, False),
        ("TLS_AES_128_CCM_8_SHA256", "TLS13", True, True, "AES", "AEAD", False, False),
        ("SSL_CK_RC4_128_WITH_MD5", "RSA", False, False, "RC4", "MD5", False, False),
        ("SSL_CK_RC4_128_EXPORT40_WITH_MD5", "RSA", False, False, "RC4", "MD5", False, True),
        ("SSL_CK_DES_192_EDE3_CBC_WITH_MD5", "RSA", False, False, "3DES", "MD5", False, False),
        ("SSL_CK_DES_64_CBC_WITH_MD5", "RSA", False, False, "DES", "MD5", False, False),
    ],
)
def test_classify_suite(
    name: str, kex: str, fs: bool, aead: bool, cipher: str, mac: str, anonymous: bool, export: bool
) -> None:
    info = classify_suite(name, "X", 128, "secp256r1", 256)
    assert (info.kex, info.forward_secret, info.aead, info.cipher, info.mac) == (kex, fs, aead, cipher, mac)
    assert (info.anonymous, info.export) == (anonymous, export)
    assert (info.name, info.openssl_name, info.key_bits) == (name, "X", 128)
    assert (info.ephemeral_type, info.ephemeral_bits) == ("secp256r1", 256)


def test_every_suite_sslyze_can_report_is_classified() -> None:
    for tls_version in TlsVersionEnum:
        for suite in CipherSuitesRepository.get_all_cipher_suites(tls_version):
            info = classify_suite(suite.name, suite.openssl_name, suite.key_size)
            assert info.kex in KEXES, suite.name
            assert info.cipher in CIPHERS, suite.name
            assert info.mac in MACS, suite.name
            assert info.anonymous == suite.is_anonymous, suite.name


# --- pure: names and certificates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "dns_names", "ips", "expected"),
    [
        ("portail.mairie.fr", ["portail.mairie.fr"], [], True),
        ("Portail.Mairie.FR.", ["portail.mairie.fr."], [], True),
        ("portail.mairie.fr", ["*.mairie.fr"], [], True),
        ("portail.mairie.fr", ["*.MAIRIE.fr"], [], True),
        ("mairie.fr", ["*.mairie.fr"], [], False),  # a wildcard never covers the bare domain
        ("a.b.mairie.fr", ["*.mairie.fr"], [], False),  # nor two labels
        ("mairie.fr", ["*.fr"], [], False),  # nor a whole TLD
        ("portail.mairie.fr", ["p*.mairie.fr"], [], False),  # partial wildcards: refused like browsers
        ("portail.mairie.fr", ["*.*.fr"], [], False),
        ("portail.mairie.fr", ["autre.mairie.fr"], [], False),
        ("portail.mairie.fr", [], [], False),
        ("192.0.2.10", ["192.0.2.10"], [], False),  # an IP host needs an IP SAN
        ("192.0.2.10", [], ["192.0.2.10"], True),
        ("2001:db8::1", [], ["2001:DB8:0:0::1"], True),
        ("192.0.2.10", ["*.mairie.fr"], ["192.0.2.11"], False),
    ],
)
def test_hostname_matches(host: str, dns_names: list[str], ips: list[str], expected: bool) -> None:
    assert hostname_matches(host, dns_names, ips) is expected


def _certificate(
    *,
    self_signed: bool = False,
    same_names: bool = False,
    ca: bool = False,
    ed: bool = False,
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    key: Any = ed25519.Ed25519PrivateKey.generate() if ed else ec.generate_private_key(ec.SECP384R1())
    issuer_key: Any = key if self_signed else ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portail.mairie.fr")])
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Autorité, test")])
    issuer = subject if self_signed or same_names else other
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2025, 4, 1, 23, 59, 59, tzinfo=datetime.timezone.utc))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, None if ed else hashes.SHA384())


def test_summarise_certificate_reads_the_certificate_itself() -> None:
    crl = x509.CRLDistributionPoints(
        [x509.DistributionPoint([x509.UniformResourceIdentifier("http://crl.test/ca.crl")], None, None, None)]
    )
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier("http://ocsp.test")
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier("http://ca.test/ca.der"),
            ),
        ]
    )
    san = x509.SubjectAlternativeName(
        [x509.DNSName("portail.mairie.fr"), x509.IPAddress(ipaddress.ip_address("192.0.2.10"))]
    )
    cert = _certificate(extensions=[(crl, False), (aia, False), (san, False)])
    summary = summarise_certificate(cert)
    assert summary.subject == "CN=portail.mairie.fr"
    assert summary.issuer == "CN=Autorité\\, test"
    assert summary.sans == ("portail.mairie.fr", "192.0.2.10")
    assert (summary.not_before, summary.not_after) == (
        "2025-01-01T00:00:00+00:00",
        "2025-04-01T23:59:59+00:00",
    )
    assert (summary.key_type, summary.key_bits, summary.curve) == ("EC", 384, "secp384r1")
    assert (summary.signature_hash, summary.signature_algorithm) == ("sha384", "ecdsa-with-SHA384")
    assert (summary.self_signed, summary.is_ca, summary.sct_count) == (False, False, 0)
    assert summary.crl_urls == ("http://crl.test/ca.crl",)
    assert summary.ocsp_urls == ("http://ocsp.test",)
    assert summary.sha256 == cert.fingerprint(hashes.SHA256()).hex()


def test_summarise_certificate_self_signed_ca_and_ed25519() -> None:
    root = summarise_certificate(_certificate(self_signed=True, ca=True))
    assert (root.self_signed, root.is_ca) == (True, True)
    ed = summarise_certificate(_certificate(self_signed=True, ed=True))
    assert (ed.key_type, ed.key_bits, ed.curve, ed.signature_hash) == ("Ed25519", 256, None, None)
    assert ed.self_signed is True
    # Same names, but signed by another key: not self-signed.
    forged = _certificate(same_names=True)
    assert summarise_certificate(forged).self_signed is False


# --- pure: sslyze outcomes -----------------------------------------------------------------------


def _error(exc_type: type[ConnectionToServerFailed], message: str) -> ConnectionToServerFailed:
    location = ServerNetworkLocation("mx.mairie.fr", 25, ip_address="192.0.2.25")
    config = ServerNetworkConfiguration(tls_server_name_indication="mx.mairie.fr")
    return exc_type(server_location=location, network_configuration=config, error_message=message)


@pytest.mark.parametrize(
    ("exc_type", "message", "kind", "nothing_listens"),
    [
        (ServerRejectedConnection, "Server rejected the connection", "unreachable", True),
        (ConnectionToServerTimedOut, "Connection to the server timed out", "timeout", True),
        (ConnectionToServerFailed, "Connection to the server failed", "unreachable", False),
        (ConnectionToServerFailed, "Unexpected connection error: \"('bad',)\"", "protocol", False),
        (
            ServerRejectedOpportunisticTlsNegotiation,
            "Server does not support STARTTLS with SMTP",
            "not_tls",
            False,
        ),
        (
            ServerTlsConfigurationNotSupported,
            "TLS probing failed: could not find a TLS version",
            "not_tls",
            False,
        ),
    ],
)
def test_connectivity_failure(
    exc_type: type[ConnectionToServerFailed], message: str, kind: str, nothing_listens: bool
) -> None:
    failure = connectivity_failure(_error(exc_type, message))
    assert (failure.kind, failure.nothing_listens) == (kind, nothing_listens)
    assert failure.detail.startswith(message[:20])
    assert exc_type.__name__ in failure.detail
    assert "\n" not in failure.detail and "Traceback" not in failure.detail


@pytest.mark.parametrize(
    ("reason", "exc", "kind"),
    [
        (ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE, ConnectionToServerTimedOut, "timeout"),
        (ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE, ServerRejectedConnection, "unreachable"),
        (ScanCommandErrorReasonEnum.BUG_IN_SSLYZE, ConnectionToServerFailed, "bug"),
        (ScanCommandErrorReasonEnum.WRONG_USAGE, ConnectionToServerFailed, "bug"),
        (ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED, ConnectionToServerFailed, "protocol"),
    ],
)
def test_command_error(
    reason: ScanCommandErrorReasonEnum, exc: type[ConnectionToServerFailed], kind: str
) -> None:
    error = command_error(reason, _error(exc, "something\nwent wrong"))
    assert error.kind == kind
    assert "\n" not in error.detail and len(error.detail) <= 300


@pytest.mark.parametrize(
    ("value", "verdict"),
    [
        ("VULNERABLE_WEAK_ORACLE", "weak_oracle"),
        ("VULNERABLE_STRONG_ORACLE", "strong_oracle"),
        ("NOT_VULNERABLE_NO_ORACLE", "not_vulnerable"),
        ("NOT_VULNERABLE_RSA_NOT_SUPPORTED", "not_vulnerable"),
        ("UNKNOWN_INCONSISTENT_RESULTS", "unknown"),
        ("SOMETHING_NEW", "unknown"),
    ],
)
def test_robot_verdict(value: str, verdict: str) -> None:
    assert robot_verdict(SimpleNamespace(value=value)) == verdict


@pytest.mark.parametrize(
    ("value", "tickets"),
    [
        ("FULLY_SUPPORTED", True),
        ("PARTIALLY_SUPPORTED", True),
        ("NOT_SUPPORTED", False),
        ("SERVER_IS_TLS_1_3_ONLY", None),
    ],
)
def test_session_tickets(value: str, tickets: bool | None) -> None:
    assert session_tickets(SimpleNamespace(value=value)) is tickets


def test_endpoint_from_result_keeps_failed_commands_apart() -> None:
    """Duck-typed sslyze results: one command failed, one was not run, the others filled their fields."""
    suites = SimpleNamespace(
        accepted_cipher_suites=[
            SimpleNamespace(
                cipher_suite=SimpleNamespace(
                    name="TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
                    openssl_name="DHE-RSA-AES128-GCM-SHA256",
                    key_size=128,
                ),
                ephemeral_key=None,
            )
        ]
    )
    scan = EndpointScan(
        attempts={
            "tls_1_2_cipher_suites": CommandAttempt(suites),
            "tls_1_0_cipher_suites": CommandAttempt(SimpleNamespace(accepted_cipher_suites=[])),
            "heartbleed": CommandAttempt(SimpleNamespace(is_vulnerable_to_heartbleed=False)),
            "robot": CommandAttempt(
                error_reason=ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE,
                error=_error(ConnectionToServerTimedOut, "Connection to the server timed out"),
            ),
            "session_renegotiation": CommandAttempt(error=DeadlineReached("the deadline came first")),
        },
        # pre-flight refusal: no attempt, the version is recorded as refused
        refused_versions={"ssl_3_0_cipher_suites": "TLS alert: protocol version"},
    )
    spec = EndpointSpec("portail.mairie.fr", 443, "https")
    commands = (
        "tls_1_2_cipher_suites",
        "tls_1_0_cipher_suites",
        "ssl_3_0_cipher_suites",
        "heartbleed",
        "robot",
        "session_renegotiation",
        "tls_compression",  # never ran (no attempt at all)
    )
    endpoint = endpoint_from_result(spec, "192.0.2.10", True, scan, commands)
    assert [p.version for p in endpoint.protocols] == ["SSLv3", "TLSv1.0", "TLSv1.2"]  # oldest first
    assert endpoint.protocol("SSLv3") is not None and not endpoint.protocol("SSLv3").supported  # type: ignore[union-attr]
    assert endpoint.refused_versions == {"SSLv3": "TLS alert: protocol version"}
    assert endpoint.unavailable["session_renegotiation"].kind == "deadline"
    assert endpoint.protocol("TLSv1.2") is not None
    assert endpoint.heartbleed is False
    assert endpoint.robot is None and endpoint.compression is None
    assert set(endpoint.unavailable) == {"robot", "session_renegotiation", "tls_compression"}
    assert endpoint.unavailable["robot"].kind == "timeout"
    assert endpoint.unavailable["tls_compression"].kind == "bug"


# --- pure: endpoint planning --------------------------------------------------------------------


def test_web_endpoints_per_target_kind() -> None:
    assert web_endpoints(parse_target("mairie.fr"), 443) == [
        EndpointSpec("mairie.fr", 443, "https"),
        EndpointSpec("www.mairie.fr", 443, "https"),
    ]
    assert web_endpoints(parse_target("https://portail.mairie.fr:8443/x"), 443) == [
        EndpointSpec("portail.mairie.fr", 8443, "https")
    ]
    # An http:// URL still has an HTTPS endpoint: its host's configured port.
    assert web_endpoints(parse_target("http://portail.mairie.fr:8080/"), 4443) == [
        EndpointSpec("portail.mairie.fr", 4443, "https")
    ]
    assert [s.host for s in web_endpoints(parse_target("192.0.2.0/30"), 443)] == ["192.0.2.1", "192.0.2.2"]


def test_mail_endpoints_probe_mail_ports_only_in_scope() -> None:
    specs = mail_endpoints(
        ["mx1.mairie.fr", "mx.hebergeur.fr"], 25, [465, 587, 993, 995, 4465], "mx1.mairie.fr".__eq__
    )
    assert [(s.host, s.port, s.service, s.starttls, s.optional) for s in specs] == [
        ("mx1.mairie.fr", 25, "smtp", "smtp", False),
        ("mx1.mairie.fr", 465, "smtps", None, True),
        ("mx1.mairie.fr", 587, "submission", "smtp", True),
        ("mx1.mairie.fr", 993, "imaps", None, True),
        ("mx1.mairie.fr", 995, "pop3s", None, True),
        ("mx1.mairie.fr", 4465, "tls", None, True),
        ("mx.hebergeur.fr", 25, "smtp", "smtp", False),
    ]


def test_dedupe_endpoints_keeps_the_first() -> None:
    specs = [
        EndpointSpec("mairie.fr", 443, "https"),
        EndpointSpec("MAIRIE.fr", 443, "tls", optional=True),
        EndpointSpec("mairie.fr", 25, "smtp", "smtp"),
    ]
    assert dedupe_endpoints(specs) == [specs[0], specs[2]]


def test_mx_names_sorted_normalised_null_mx_skipped() -> None:
    records = [
        (20, dns.name.from_text("MX2.Mairie.fr.")),
        (10, dns.name.from_text("mx1.mairie.fr.")),
        (10, dns.name.root),
        (30, dns.name.from_text("mx1.mairie.fr.")),
        (40, dns.name.from_text("bad_name.mairie.fr.")),
    ]
    assert mx_names(records) == ["mx1.mairie.fr", "mx2.mairie.fr"]


# --- real servers --------------------------------------------------------------------------------

StartTls = Callable[..., LocalTlsServer]


def _host(profile: str) -> str:
    return f"{profile.replace('_', '-')}.test"


@pytest.fixture(scope="module")
def tls_server(test_ca: trustme.CA) -> Iterator[StartTls]:
    """Factory: one LocalTlsServer per (profile, hosts) for the whole module, skipped when unavailable."""
    started: dict[tuple[str, tuple[str, ...]], LocalTlsServer] = {}

    def get(profile: str, hosts: Sequence[str] | None = None) -> LocalTlsServer:
        names = tuple(hosts or (_host(profile),))
        if (profile, names) not in started:
            try:
                # The 3des profile's gnutls-serv cannot bind loopback only; it lives for this module.
                started[profile, names] = LocalTlsServer(profile, names, test_ca, allow_all_interfaces=True)
            except TlsServerUnavailable as exc:
                pytest.skip(str(exc))
        return started[profile, names]

    yield get
    for server in started.values():
        server.stop()


def _context(
    guard: NetworkGuard,
    ca_bundle: Path | None,
    settings: Mapping[str, Any] | None = None,
    deadline: float = 60.0,
    timeout: float = 10.0,
) -> CollectorContext:
    return CollectorContext(
        settings={**TlsCollector.defaults, **(settings or {})},
        timeout=timeout,
        deadline=time.monotonic() + deadline,
        guard=guard,
        user_agent="cyberscan-test",
        ca_bundle=ca_bundle,
    )


def _guard(hosts: Mapping[str, str], scope: Sequence[str] = IN_SCOPE) -> NetworkGuard:
    return NetworkGuard(loopback_resolver(hosts), Scope.parse(scope))


def scan_one(
    server: LocalTlsServer,
    commands: Sequence[str] | None = None,
    *,
    scope: Sequence[str] = IN_SCOPE,
    service: str = "https",
    starttls: str | None = None,
) -> TlsEndpoint:
    host = server.hosts[0]
    ctx = _context(_guard(server.hosts_map(), scope), server.ca_pem_path)
    [endpoint] = TlsCollector().scan_endpoints(
        [EndpointSpec(host, server.port, service, starttls)], ctx, commands
    )
    return endpoint


def _trusted(endpoint: TlsEndpoint, store: str = "Supplied CA file") -> bool | None:
    return next((t.trusted for t in endpoint.trust if t.store == store), None)


@pytest.fixture(scope="module")
def modern_facts(tls_server: StartTls) -> TlsFacts:
    """One full collect() of the modern server, shared by the tests reading it."""
    server = tls_server("modern")
    ctx = _context(_guard(server.hosts_map()), server.ca_pem_path)
    return TlsCollector().collect(parse_target(f"https://{server.hosts[0]}:{server.port}/"), ctx)


def test_modern_full_scan(modern_facts: TlsFacts) -> None:
    [endpoint] = modern_facts.endpoints
    assert (endpoint.service, endpoint.address, endpoint.active_allowed, endpoint.error_kind) == (
        "https",
        LOOPBACK,
        True,
        None,
    )
    assert endpoint.unavailable == {}
    assert [p.version for p in endpoint.protocols] == list(PROTOCOLS)
    assert [p.version for p in endpoint.protocols if p.supported] == ["TLSv1.2", "TLSv1.3"]
    suites = [s for p in endpoint.protocols for s in p.accepted]
    assert suites and all(s.forward_secret and s.aead for s in suites)
    assert {s.kex for s in endpoint.protocol("TLSv1.3").accepted} == {"TLS13"}  # type: ignore[union-attr]
    assert {"X25519", "secp256r1"} <= set(endpoint.groups or ())
    assert endpoint.dhe_bits == ()
    leaf = endpoint.chain[0]
    assert (leaf.key_type, leaf.key_bits, leaf.curve, leaf.signature_hash) == (
        "EC",
        256,
        "secp256r1",
        "sha256",
    )
    assert leaf.sans == ("modern.test",) and not leaf.self_signed
    assert endpoint.hostname_matches is True
    assert [t.store for t in endpoint.trust] == ["Mozilla", "Supplied CA file"]
    assert _trusted(endpoint) is True and _trusted(endpoint, "Mozilla") is False
    assert endpoint.ocsp_stapled is False
    assert (endpoint.compression, endpoint.heartbleed, endpoint.ccs_injection, endpoint.early_data) == (
        False,
        False,
        False,
        False,
    )
    assert (endpoint.secure_renegotiation, endpoint.client_renegotiation) == (True, False)
    assert (endpoint.fallback_scsv, endpoint.extended_master_secret, endpoint.session_tickets) == (
        True,
        True,
        True,
    )
    assert endpoint.robot == "not_vulnerable"
    assert endpoint.ticket_lifetime_hint is None  # not measured (see the collector's docstring)


def test_modern_facts_metadata_and_json_round_trip(modern_facts: TlsFacts) -> None:
    assert modern_facts.tool.startswith("sslyze 6.")
    collected = datetime.datetime.fromisoformat(modern_facts.collected_at)
    assert collected.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - collected).total_seconds()) < 600
    assert TlsFacts.from_json(modern_facts.to_json()) == modern_facts


def test_legacy_protocols_and_weak_suites(tls_server: StartTls) -> None:
    # sslyze probes TLS 1.0/1.1 with nassl's bundled legacy OpenSSL: the system one could not.
    commands = (
        *CERT_ONLY,
        "tls_1_0_cipher_suites",
        "tls_1_1_cipher_suites",
        "tls_1_2_cipher_suites",
        "tls_1_3_cipher_suites",
    )
    endpoint = scan_one(tls_server("legacy"), commands)
    assert [p.version for p in endpoint.protocols if p.supported] == ["TLSv1.0", "TLSv1.1", "TLSv1.2"]
    suites = {s.name: s for p in endpoint.protocols for s in p.accepted}
    static_rsa = suites["TLS_RSA_WITH_AES_128_CBC_SHA"]
    assert (static_rsa.kex, static_rsa.forward_secret, static_rsa.aead, static_rsa.mac) == (
        "RSA",
        False,
        False,
        "SHA1",
    )
    assert suites["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"].aead is False
    assert suites["TLS_DH_anon_WITH_AES_128_CBC_SHA"].anonymous is True
    dhe = suites["TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]
    assert (dhe.kex, dhe.forward_secret, dhe.aead, dhe.ephemeral_type) == ("DHE", True, True, "DH")
    assert 1024 in endpoint.dhe_bits and 2048 in endpoint.dhe_bits  # OpenSSL's auto DH at SECLEVEL 0
    assert endpoint.chain[0].key_type == "RSA" and endpoint.groups is None  # elliptic_curves not run


def test_3des_rc4_and_client_renegotiation(tls_server: StartTls) -> None:
    commands = (*CERT_ONLY, "tls_1_0_cipher_suites", "tls_1_2_cipher_suites", "session_renegotiation")
    endpoint = scan_one(tls_server("3des"), commands)
    suites = {s.name: s for p in endpoint.protocols for s in p.accepted}
    assert suites["TLS_RSA_WITH_3DES_EDE_CBC_SHA"].cipher == "3DES"
    assert suites["TLS_RSA_WITH_3DES_EDE_CBC_SHA"].key_bits == 168
    assert suites["TLS_ECDHE_RSA_WITH_RC4_128_SHA"].cipher == "RC4"
    assert endpoint.client_renegotiation is True


@pytest.mark.parametrize(
    ("profile", "check"),
    [
        (
            "expired",
            lambda e: (
                datetime.datetime.fromisoformat(e.chain[0].not_after)
                < datetime.datetime.now(datetime.timezone.utc)
                and "not valid at validation time" in (e.trust[-1].error or "")
                and e.hostname_matches is True
            ),
        ),
        ("wrong_name", lambda e: e.hostname_matches is False and e.chain[0].sans == (WRONG_NAME,)),
        ("self_signed", lambda e: e.chain[0].self_signed is True and e.hostname_matches is True),
        (
            "weak_key",
            lambda e: (
                (e.chain[0].key_type, e.chain[0].key_bits, e.chain[0].signature_hash) == ("RSA", 1024, "sha1")
            ),
        ),
    ],
)
def test_certificate_problems(
    tls_server: StartTls, profile: str, check: Callable[[TlsEndpoint], bool]
) -> None:
    endpoint = scan_one(tls_server(profile), CERT_ONLY)
    assert endpoint.error_kind is None and endpoint.unavailable == {}
    assert check(endpoint), endpoint
    assert _trusted(endpoint) is False
    assert endpoint.protocols == () and endpoint.groups is None


def test_out_of_scope_gets_the_certificate_only(tls_server: StartTls) -> None:
    server = tls_server("modern")
    guard = _guard(server.hosts_map(), scope=())
    ctx = _context(guard, server.ca_pem_path)
    facts = TlsCollector().collect(parse_target(f"https://{server.hosts[0]}:{server.port}/"), ctx)
    [endpoint] = facts.endpoints
    assert endpoint.active_allowed is False and endpoint.address == LOOPBACK
    assert endpoint.protocols == () and endpoint.groups is None and endpoint.robot is None
    assert endpoint.chain and endpoint.hostname_matches is True and _trusted(endpoint) is True
    assert endpoint.unavailable == {}
    assert [r.host for r in guard.refusals()] == [server.hosts[0]]


def test_closed_port_is_unreachable_at_once() -> None:
    port = _closed_port()
    started = time.monotonic()
    ctx = _context(_guard({"closed.test": LOOPBACK}), None)
    [endpoint] = TlsCollector().scan_endpoints([EndpointSpec("closed.test", port, "https")], ctx)
    assert time.monotonic() - started < 3
    assert (endpoint.error_kind, endpoint.address) == ("unreachable", LOOPBACK)
    assert endpoint.chain == () and endpoint.protocols == ()


def test_unresolvable_name_is_an_endpoint_error(make_guard: MakeGuard) -> None:
    ctx = _context(make_guard({}, dns_timeout=0.2), None)
    [endpoint] = TlsCollector().scan_endpoints([EndpointSpec("absent.test", 443, "https")], ctx)
    assert (
        endpoint.error_kind == "timeout" and endpoint.address is None
    )  # the loopback resolver never answers


class _PlainHttp(socketserver.BaseRequestHandler):
    """Answers anything with an HTTP 400 and closes, as nginx does to a TLS ClientHello."""

    def handle(self) -> None:
        self.request.settimeout(5)
        self.request.recv(4096)
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture
def plain_http_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), _PlainHttp)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_plain_http_port_is_not_tls(plain_http_port: int, start_web_server: StartWebServer) -> None:
    web = start_web_server([Site(hosts=("plain.test",))])  # Python's http.server: no answer to binary
    ctx = _context(_guard({"plain.test": LOOPBACK}), None, {"network_timeout": 1.0})
    started = time.monotonic()
    specs = [
        EndpointSpec("plain.test", plain_http_port, "https"),
        EndpointSpec("plain.test", web.http_port, "https"),
    ]
    endpoints = TlsCollector().scan_endpoints(specs, ctx)
    # The silent one costs sslyze's 11 handshake attempts (TLS 1.3 … SSL 2.0) × network_timeout.
    assert time.monotonic() - started < 11 * 1.0 + 5
    assert [e.error_kind for e in endpoints] == ["not_tls", "not_tls"]
    assert all("ServerTlsConfigurationNotSupported" in (e.error or "") for e in endpoints)


def test_smtp_starttls_full_scan(tls_server: StartTls) -> None:
    endpoint = scan_one(tls_server("smtp_starttls"), service="smtp", starttls="smtp")
    assert (endpoint.service, endpoint.starttls, endpoint.error_kind) == ("smtp", "smtp", None)
    assert [p.version for p in endpoint.protocols if p.supported] == ["TLSv1.2", "TLSv1.3"]
    assert endpoint.hostname_matches is True and _trusted(endpoint) is True
    assert endpoint.unavailable == {}


def test_smtp_without_starttls_is_not_tls(tls_server: StartTls) -> None:
    endpoint = scan_one(tls_server("smtp_no_starttls"), CERT_ONLY, service="smtp", starttls="smtp")
    assert endpoint.error_kind == "not_tls"
    assert "STARTTLS" in (endpoint.error or "")


def test_deadline_passed_raises() -> None:
    ctx = _context(_guard({}), None, deadline=-1.0)
    with pytest.raises(CollectorError) as info:
        TlsCollector().collect(parse_target("https://late.test/"), ctx)
    assert info.value.kind is ErrorKind.DEADLINE


# --- a domain target: web origins and MX hosts (dnslib answers MX, static hosts answer A) ---------


class _MailZone:
    """MX for commune.test (one in-scope MX) and nullmx.test (RFC 7505); no MX for nomail.test."""

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import MX, QTYPE, RCODE, RR

        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if request.q.qtype == QTYPE.MX and name == "commune.test":
            reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX("mx.commune.test", 10), ttl=60))
        elif request.q.qtype == QTYPE.MX and name == "nullmx.test":
            reply.add_answer(RR(request.q.qname, QTYPE.MX, rdata=MX(".", 0), ttl=60))
        elif name not in ("commune.test", "nomail.test", "nullmx.test"):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture
def mail_dns_port() -> Iterator[int]:
    from dnslib.server import DNSServer

    server = DNSServer(_MailZone(), port=0, address=LOOPBACK)
    server.start_thread()
    try:
        yield int(server.server.server_address[1])
    finally:
        server.stop()
        server.server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _mail_guard(dns_port: int, domain: str, scope: Sequence[str]) -> NetworkGuard:
    hosts = dict.fromkeys((domain, f"www.{domain}", f"mx.{domain}"), LOOPBACK)
    return NetworkGuard(Resolver((LOOPBACK, dns_port), timeout=2.0, static_hosts=hosts), Scope.parse(scope))


def test_domain_target_scans_mx_starttls_and_in_scope_mail_ports(
    tls_server: StartTls, mail_dns_port: int
) -> None:
    smtp = tls_server("smtp_starttls", ["mx.commune.test"])
    imaps = tls_server("modern", ["mx.commune.test"])  # implicit TLS, as on 993
    web_closed, mail_closed = _closed_port(), _closed_port()
    settings = {"https_port": web_closed, "smtp_port": smtp.port, "mail_ports": [mail_closed, imaps.port]}
    ctx = _context(_mail_guard(mail_dns_port, "commune.test", IN_SCOPE), smtp.ca_pem_path, settings)
    facts = TlsCollector().collect(parse_target("commune.test"), ctx)
    summary = [(e.host, e.port, e.service, e.starttls, e.error_kind) for e in facts.endpoints]
    # The closed optional mail port is left out; the closed web port is reported.
    assert summary == [
        ("commune.test", web_closed, "https", None, "unreachable"),
        ("www.commune.test", web_closed, "https", None, "unreachable"),
        ("mx.commune.test", smtp.port, "smtp", "smtp", None),
        ("mx.commune.test", imaps.port, "tls", None, None),
    ]
    mx, implicit = facts.endpoints[2:]
    assert mx.active_allowed and mx.protocol("TLSv1.3") is not None and mx.hostname_matches is True
    assert implicit.active_allowed and implicit.robot == "not_vulnerable"
    assert TlsFacts.from_json(facts.to_json()) == facts


def test_domain_target_out_of_scope_mx_gets_port_25_only(tls_server: StartTls, mail_dns_port: int) -> None:
    smtp = tls_server("smtp_starttls", ["mx.commune.test"])
    settings = {"https_port": _closed_port(), "smtp_port": smtp.port, "mail_ports": [smtp.port + 1]}
    ctx = _context(_mail_guard(mail_dns_port, "commune.test", ()), smtp.ca_pem_path, settings)
    facts = TlsCollector().collect(parse_target("commune.test"), ctx)
    [mx] = [e for e in facts.endpoints if e.host == "mx.commune.test"]
    assert (mx.port, mx.active_allowed, mx.protocols) == (smtp.port, False, ())
    assert mx.chain and _trusted(mx) is True


@pytest.mark.parametrize("domain", ["nomail.test", "nullmx.test"])
def test_domain_without_mx_has_no_mail_endpoint(mail_dns_port: int, domain: str) -> None:
    ctx = _context(_mail_guard(mail_dns_port, domain, IN_SCOPE), None, {"https_port": _closed_port()})
    facts = TlsCollector().collect(parse_target(domain), ctx)
    assert [e.service for e in facts.endpoints] == ["https", "https"]


def test_mx_lookup_failure_is_recorded_not_raised(make_guard: MakeGuard) -> None:
    guard = make_guard({"commune.test": LOOPBACK, "www.commune.test": LOOPBACK}, dns_timeout=0.3)
    ctx = _context(guard, None, {"https_port": _closed_port(), "smtp_port": 2525}, timeout=0.3)
    facts = TlsCollector().collect(parse_target("commune.test"), ctx)
    failed = facts.endpoints[-1]
    assert (failed.host, failed.port, failed.service, failed.error_kind) == (
        "commune.test",
        2525,
        "smtp",
        "timeout",
    )
    assert "MX lookup" in (failed.error or "")


def test_active_commands_are_the_contract() -> None:
    # Guard against a contract edit the collector would not know how to distil.
    from cyberscan.collectors.tls import _SIMPLE_FIELDS, _VERSION_OF_COMMAND

    assert set(ACTIVE_COMMANDS) == set(_SIMPLE_FIELDS) | set(_VERSION_OF_COMMAND)


def test_fleet_memo_scans_a_shared_endpoint_once(
    tls_server: StartTls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two communes whose MX is the same platform: the second reuses the first's TLS measurement."""
    server = tls_server("modern")
    scanned: list[int] = []
    real = TlsCollector._run_scanner

    def counting(requests: list[Any], settings: Any, ctx: CollectorContext) -> Any:
        scanned.append(len(requests))
        return real(requests, settings, ctx)

    monkeypatch.setattr(TlsCollector, "_run_scanner", staticmethod(counting))
    memo = ProbeMemo()
    spec = [EndpointSpec(server.hosts[0], server.port, "https")]
    found = []
    for _ in range(2):  # each commune has its own guard and context, and shares the run's memo
        ctx = dataclasses.replace(_context(_guard(server.hosts_map()), server.ca_pem_path), memo=memo)
        found.append(TlsCollector().scan_endpoints(spec, ctx, ("certificate_info",)))
    assert scanned == [1, 0] and found[0] == found[1] and found[0][0].error_kind is None
    assert (memo.misses, memo.hits) == (1, 1)


def test_connectivity_failure_of_our_own_is_a_bug() -> None:
    failure = connectivity_failure(ValueError("unexpected"))
    assert (failure.kind, failure.nothing_listens) == ("bug", False)
    assert "unexpected" in failure.detail and "ValueError" in failure.detail
