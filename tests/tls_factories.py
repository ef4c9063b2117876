"""Builders of TLS facts for check tests: a well-configured endpoint by default, overridden per test.

The default endpoint (`endpoint()`) is what a careful commune would run: TLS 1.2 and 1.3 only, ECDHE with
AEAD suites, x25519/secp256r1/secp384r1, an ECDSA P-256 leaf for its names from a public-looking CA,
with two embedded SCTs, CRL and OCSP URLs and a stapled OCSP response, sent with its intermediate (not
the root) and trusted by the "Mozilla" store, no risky option and no known flaw. `rsa_leaf()` gives an
RSA-3072 leaf with RSA suites instead. `mx_endpoint()` is the same on port 25 (STARTTLS), and
`passive_endpoint()` an endpoint outside the scope, of which only the certificate was retrieved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyberscan.collectors.tls_facts import (
    CertificateSummary,
    CipherSuiteInfo,
    CommandError,
    ProtocolSupport,
    TlsEndpoint,
    TlsFacts,
    TrustResult,
)

TARGET = "mairie-exemple.fr"
APEX = "mairie-exemple.fr"
WWW = "www.mairie-exemple.fr"
MX = "mx.mairie-exemple.fr"
ADDRESS = "192.0.2.10"
MX_ADDRESS = "192.0.2.25"
#: the instant the facts were "collected" (checks have no clock: they read this)
COLLECTED_AT = "2025-06-02T08:00:00+00:00"
TOOL = "sslyze 6.3.1"

CA_NAME = "CN=Exemple TLS CA R1,O=Exemple Trust Services,C=FR"
ROOT_NAME = "CN=Exemple Root CA X1,O=Exemple Trust Services,C=FR"


def _suite(
    name: str,
    openssl_name: str,
    kex: str,
    cipher: str,
    key_bits: int,
    mac: str,
    *,
    aead: bool = False,
    anonymous: bool = False,
    export: bool = False,
    ephemeral: tuple[str, int] | None = None,
) -> CipherSuiteInfo:
    return CipherSuiteInfo(
        name=name,
        openssl_name=openssl_name,
        key_bits=key_bits,
        kex=kex,
        forward_secret=kex in ("ECDHE", "DHE", "TLS13"),
        aead=aead,
        cipher=cipher,
        mac=mac,
        anonymous=anonymous,
        export=export,
        ephemeral_type=ephemeral[0] if ephemeral else None,
        ephemeral_bits=ephemeral[1] if ephemeral else None,
    )


_X25519 = ("X25519", 253)
_DH2048 = ("DH", 2048)

#: every suite the tests use, by IANA name
SUITES: dict[str, CipherSuiteInfo] = {
    s.name: s
    for s in (
        # TLS 1.3
        _suite(
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
            "TLS13",
            "AES",
            128,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_256_GCM_SHA384",
            "TLS13",
            "AES",
            256,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS13",
            "CHACHA20",
            256,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        # TLS 1.2, good
        _suite(
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE",
            "AES",
            128,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE",
            "AES",
            256,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE",
            "CHACHA20",
            256,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE",
            "AES",
            128,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE",
            "AES",
            256,
            "AEAD",
            aead=True,
            ephemeral=_X25519,
        ),
        _suite(
            "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
            "DHE-RSA-AES128-GCM-SHA256",
            "DHE",
            "AES",
            128,
            "AEAD",
            aead=True,
            ephemeral=_DH2048,
        ),
        # TLS 1.2, CBC or without forward secrecy
        _suite(
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "ECDHE-RSA-AES128-SHA",
            "ECDHE",
            "AES",
            128,
            "SHA1",
            ephemeral=_X25519,
        ),
        _suite("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256", "RSA", "AES", 128, "AEAD", aead=True),
        _suite("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA", "RSA", "AES", 128, "SHA1"),
        _suite("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA", "RSA", "AES", 256, "SHA1"),
        _suite(
            "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256",
            "ECDH-RSA-AES128-GCM-SHA256",
            "ECDH",
            "AES",
            128,
            "AEAD",
            aead=True,
        ),
        # Weak
        _suite("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA", "RSA", "3DES", 168, "SHA1"),
        _suite("TLS_RSA_WITH_DES_CBC_SHA", "DES-CBC-SHA", "RSA", "DES", 56, "SHA1"),
        _suite("TLS_RSA_WITH_IDEA_CBC_SHA", "IDEA-CBC-SHA", "RSA", "IDEA", 128, "SHA1"),
        _suite("TLS_RSA_WITH_RC4_128_MD5", "RC4-MD5", "RSA", "RC4", 128, "MD5"),
        _suite("TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA", "RSA", "RC4", 128, "SHA1"),
        _suite("TLS_RSA_WITH_NULL_SHA256", "NULL-SHA256", "RSA", "NULL", 0, "SHA256"),
        _suite(
            "TLS_DH_anon_WITH_AES_128_CBC_SHA", "ADH-AES128-SHA", "ANON", "AES", 128, "SHA1", anonymous=True
        ),
        _suite("TLS_RSA_EXPORT_WITH_RC4_40_MD5", "EXP-RC4-MD5", "RSA", "RC4", 40, "MD5", export=True),
        _suite("TLS_RSA_WITH_SEED_CBC_SHA", "SEED-SHA", "RSA", "SEED", 128, "SHA1"),
    )
}

TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
TLS12_ECDSA_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
)
TLS12_RSA_SUITES = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
GOOD_GROUPS = ("X25519", "prime256v1", "secp384r1")

_VERSION_KEYS = {
    "ssl2": "SSLv2",
    "ssl3": "SSLv3",
    "tls10": "TLSv1.0",
    "tls11": "TLSv1.1",
    "tls12": "TLSv1.2",
    "tls13": "TLSv1.3",
}


def suites(*names: str) -> tuple[CipherSuiteInfo, ...]:
    """The suites of `SUITES` with these IANA names."""
    return tuple(SUITES[name] for name in names)


def dhe_suite(bits: int, name: str = "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256") -> CipherSuiteInfo:
    """A DHE suite whose handshake used a `bits`-bit group."""
    return dataclasses.replace(SUITES[name], ephemeral_type="DH", ephemeral_bits=bits)


def protocols(
    *, omit: Iterable[str] = (), **accepted: Sequence[str | CipherSuiteInfo]
) -> tuple[ProtocolSupport, ...]:
    """Every version enumerated, oldest first: TLS 1.2 (ECDSA AEAD suites) and 1.3 by default, the others
    refused. Keywords ssl2, ssl3, tls10, tls11, tls12, tls13 give a version's accepted suites (names or
    CipherSuiteInfo); `omit` leaves versions out, as when their enumeration did not run."""
    chosen: dict[str, Sequence[str | CipherSuiteInfo]] = {"tls12": TLS12_ECDSA_SUITES, "tls13": TLS13_SUITES}
    chosen.update(accepted)
    unknown = set(chosen) - set(_VERSION_KEYS)
    if unknown:
        raise TypeError(f"unknown protocol keywords {sorted(unknown)}")
    result = []
    for key, version in _VERSION_KEYS.items():
        if version in omit or key in omit:
            continue
        items = chosen.get(key, ())
        result.append(ProtocolSupport(version, tuple(SUITES[s] if isinstance(s, str) else s for s in items)))
    return tuple(result)


def certificate(**overrides: Any) -> CertificateSummary:
    """The default leaf: ECDSA P-256 for the apex and www, 90 days, SHA-256, SCTs, CRL and OCSP."""
    base = CertificateSummary(
        subject=f"CN={WWW}",
        issuer=CA_NAME,
        sans=(WWW, APEX),
        not_before="2025-05-01T00:00:00+00:00",
        not_after="2025-07-30T00:00:00+00:00",
        key_type="EC",
        key_bits=256,
        curve="secp256r1",
        signature_hash="sha384",
        signature_algorithm="ecdsa-with-SHA384",
        sct_count=2,
        crl_urls=("http://crl.exemple-trust.example/r1.crl",),
        ocsp_urls=("http://ocsp.exemple-trust.example",),
        sha256="a1" * 32,
    )
    return dataclasses.replace(base, **overrides)


def rsa_certificate(bits: int = 3072, **overrides: Any) -> CertificateSummary:
    """A leaf with an RSA key of `bits` bits (3072 by default)."""
    values: dict[str, Any] = {
        "key_type": "RSA",
        "key_bits": bits,
        "curve": None,
        "signature_hash": "sha256",
        "signature_algorithm": "sha256WithRSAEncryption",
        **overrides,
    }
    return certificate(**values)


def intermediate(**overrides: Any) -> CertificateSummary:
    """The issuing CA's certificate, valid until 2027, signed by the root."""
    base = CertificateSummary(
        subject=CA_NAME,
        issuer=ROOT_NAME,
        not_before="2024-03-13T00:00:00+00:00",
        not_after="2027-03-12T23:59:59+00:00",
        key_type="EC",
        key_bits=384,
        curve="secp384r1",
        signature_hash="sha256",
        signature_algorithm="sha256WithRSAEncryption",
        is_ca=True,
        crl_urls=("http://crl.exemple-trust.example/root.crl",),
        sha256="b2" * 32,
    )
    return dataclasses.replace(base, **overrides)


def root(**overrides: Any) -> CertificateSummary:
    """The self-signed root (servers should not send it)."""
    base = CertificateSummary(
        subject=ROOT_NAME,
        issuer=ROOT_NAME,
        not_before="2015-06-04T11:04:38+00:00",
        not_after="2035-06-04T11:04:38+00:00",
        key_type="RSA",
        key_bits=4096,
        signature_hash="sha1",
        signature_algorithm="sha1WithRSAEncryption",
        self_signed=True,
        is_ca=True,
        sha256="c3" * 32,
    )
    return dataclasses.replace(base, **overrides)


def self_signed(host: str = WWW, **overrides: Any) -> CertificateSummary:
    """An appliance-style self-signed leaf: RSA 2048, ten years, no SCT, no revocation information."""
    values: dict[str, Any] = {
        "subject": f"CN={host}",
        "issuer": f"CN={host}",
        "sans": (host,),
        "not_before": "2020-01-01T00:00:00+00:00",
        "not_after": "2030-01-01T00:00:00+00:00",
        "self_signed": True,
        "sct_count": 0,
        "crl_urls": (),
        "ocsp_urls": (),
        **overrides,
    }
    return rsa_certificate(2048, **values)


def trusted(store: str = "Mozilla") -> tuple[TrustResult, ...]:
    return (TrustResult(store, True),)


def untrusted(
    error: str = "validation failed: candidates exhausted: all candidates exhausted with no interior errors",
) -> tuple[TrustResult, ...]:
    return (TrustResult("Mozilla", False, error),)


def failed(*commands: str, kind: str = "timeout", detail: str = "timed out") -> dict[str, CommandError]:
    """`unavailable` for these sslyze commands."""
    return {command: CommandError(kind, detail) for command in commands}


def endpoint(host: str = WWW, port: int = 443, service: str = "https", **overrides: Any) -> TlsEndpoint:
    """A well-configured, in-scope endpoint; keywords replace TlsEndpoint fields."""
    base = TlsEndpoint(
        host=host,
        port=port,
        service=service,
        address=ADDRESS,
        active_allowed=True,
        protocols=protocols(),
        groups=GOOD_GROUPS,
        dhe_bits=(),
        chain=(certificate(), intermediate()),
        hostname_matches=True,
        trust=trusted(),
        ocsp_stapled=True,
        compression=False,
        secure_renegotiation=True,
        client_renegotiation=False,
        early_data=False,
        session_tickets=True,
        ticket_lifetime_hint=7200,
        extended_master_secret=True,
        heartbleed=False,
        ccs_injection=False,
        robot="not_vulnerable",
        fallback_scsv=True,
    )
    return dataclasses.replace(base, **overrides)


def rsa_endpoint(bits: int = 3072, **overrides: Any) -> TlsEndpoint:
    """The default endpoint with an RSA leaf and ECDHE-RSA suites."""
    values: dict[str, Any] = {
        "chain": (rsa_certificate(bits), intermediate()),
        "protocols": protocols(tls12=TLS12_RSA_SUITES),
        **overrides,
    }
    return endpoint(**values)


def mx_endpoint(**overrides: Any) -> TlsEndpoint:
    """The commune's MX on port 25 (STARTTLS), as well configured as `endpoint()`."""
    leaf = certificate(subject=f"CN={MX}", sans=(MX,))
    values: dict[str, Any] = {
        "starttls": "smtp",
        "address": MX_ADDRESS,
        "chain": (leaf, intermediate()),
        "ocsp_stapled": False,
        **overrides,
    }
    return endpoint(MX, 25, "smtp", **values)


def passive_endpoint(**overrides: Any) -> TlsEndpoint:
    """An endpoint outside the declared scope: only the certificate was retrieved."""
    values: dict[str, Any] = {
        "active_allowed": False,
        "address": "203.0.113.80",
        "protocols": (),
        "groups": None,
        "compression": None,
        "secure_renegotiation": None,
        "client_renegotiation": None,
        "early_data": None,
        "session_tickets": None,
        "ticket_lifetime_hint": None,
        "extended_master_secret": None,
        "heartbleed": None,
        "ccs_injection": None,
        "robot": None,
        "fallback_scsv": None,
        **overrides,
    }
    return endpoint(**values)


def dead_endpoint(
    error_kind: str = "timeout", error: str = "connection timed out", **overrides: Any
) -> TlsEndpoint:
    """An endpoint that could not be scanned at all."""
    return TlsEndpoint(
        host=overrides.pop("host", WWW),
        port=overrides.pop("port", 443),
        service=overrides.pop("service", "https"),
        address=overrides.pop("address", ADDRESS),
        active_allowed=overrides.pop("active_allowed", True),
        error_kind=error_kind,
        error=error,
        **overrides,
    )


def tls_facts(*endpoints: TlsEndpoint, collected_at: str = COLLECTED_AT) -> TlsFacts:
    """TlsFacts for the given endpoints (default: one well-configured HTTPS endpoint)."""
    return TlsFacts(endpoints=endpoints if endpoints else (endpoint(),), collected_at=collected_at, tool=TOOL)


def without(ep: TlsEndpoint, *fields: str) -> TlsEndpoint:
    """A copy of `ep` where these result fields are None (a result the collector did not record)."""
    return dataclasses.replace(ep, **dict.fromkeys(fields))


def with_unavailable(ep: TlsEndpoint, failures: Mapping[str, CommandError]) -> TlsEndpoint:
    """A copy of `ep` whose `unavailable` also lists `failures`."""
    return dataclasses.replace(ep, unavailable={**ep.unavailable, **failures})
