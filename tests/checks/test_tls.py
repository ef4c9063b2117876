"""TLS checks: table-driven cases over facts built by tests/tls_factories.py (pure, no network, no mocks)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import check_table
import pytest
from check_table import Case, CheckTable

# Helpers of tests/ are imported as top-level modules (as tests/conftest.py arranges); make that
# work when this file is collected without it.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import tls_factories as tf  # noqa: E402
from cyberscan.checks import tls  # noqa: E402

from cyberscan.collectors.tls_facts import (  # noqa: E402
    ACTIVE_COMMANDS,
    PASSIVE_COMMANDS,
    PROTOCOL_COMMANDS,
    TlsEndpoint,
    TlsFacts,
    TrustResult,
)
from cyberscan.models import ErrorKind, Finding, Severity, Status  # noqa: E402
from cyberscan.plugin import Check, FactBag  # noqa: E402
from cyberscan.targets import parse_target  # noqa: E402

TABLE = CheckTable(
    "tls", tf.TARGET, lambda facts: tf.tls_facts(facts) if isinstance(facts, TlsEndpoint) else facts
)
META, TARGET, CASES = TABLE.meta, TABLE.target, TABLE.by_check
cases, case, run, verify = TABLE.cases, TABLE.case, TABLE.run, TABLE.verify
WWW_443 = f"{tf.WWW}:443 (https)"
MX_25 = f"{tf.MX}:25 (smtp)"
CERTIFICATE_CHECKS = [c for c in tls.CHECKS if c.commands == ("certificate_info",)]
ACTIVE_CHECKS = [c for c in tls.CHECKS if c not in CERTIFICATE_CHECKS]
_MOZILLA_EXHAUSTED = (
    "validation failed: candidates exhausted: all candidates exhausted with no interior errors"
)


# --------------------------------------------------------------------------------------------------
# Harness


def one(check: type[Check], ep: TlsEndpoint, **facts: Any) -> Finding:
    (finding,) = run(check, tf.tls_facts(ep, **facts))
    return finding


def contains(text: str) -> Callable[[Any], bool]:
    return lambda value: text in str(value)


def lacks(text: str) -> Callable[[Any], bool]:
    return lambda value: text not in str(value)


def versions(**accepted: Any) -> TlsEndpoint:
    """The default endpoint with these protocol versions' accepted suites changed."""
    return tf.endpoint(protocols=tf.protocols(**accepted))


def leaf(**changes: Any) -> TlsEndpoint:
    """The default endpoint whose leaf certificate has these fields changed."""
    return tf.endpoint(chain=(tf.certificate(**changes), tf.intermediate()))


def mx_leaf(**changes: Any) -> TlsEndpoint:
    return tf.mx_endpoint(
        chain=(tf.certificate(subject=f"CN={tf.MX}", sans=(tf.MX,), **changes), tf.intermediate())
    )


# --------------------------------------------------------------------------------------------------
# Contract and cross-cutting behaviour


def test_every_check_has_metadata_and_every_table_a_check() -> None:
    assert sorted(c.id for c in tls.CHECKS) == sorted(META)
    assert len({c.id for c in tls.CHECKS}) == len(tls.CHECKS) == 17


def test_titles_state_the_desired_state() -> None:
    for meta in META.values():
        assert not meta.title.fr.lower().startswith("vérifier")
        assert not meta.title.en.lower().startswith(("ensure", "check"))


def test_every_check_names_known_sslyze_commands() -> None:
    known = set(ACTIVE_COMMANDS) | set(PASSIVE_COMMANDS)
    for check in tls.CHECKS:
        assert check.commands, check.id
        assert set(check.commands) <= known, check.id
    assert {c.id for c in CERTIFICATE_CHECKS} == {
        "TLS-CERT-KEYSIZE",
        "TLS-CERT-SIGALG",
        "TLS-CERT-VALIDITY",
        "TLS-CERT-NAME",
        "TLS-CERT-CHAIN",
        "TLS-CERT-LIFETIME",
        "TLS-CERT-CT",
        "TLS-CERT-REVOCATION",
    }


def test_references_cite_only_rfc_urls() -> None:
    for meta in META.values():
        for ref in meta.references:
            assert ref.url is None or ref.url.startswith("https://www.rfc-editor.org/rfc/rfc"), ref


@pytest.mark.parametrize(
    "ep",
    [
        pytest.param(tf.endpoint(), id="https-ecdsa"),
        pytest.param(tf.rsa_endpoint(), id="https-rsa3072"),
        pytest.param(tf.mx_endpoint(), id="smtp"),
        pytest.param(tf.endpoint(tf.MX, 993, "imaps"), id="imaps"),
    ],
)
@pytest.mark.parametrize("check", tls.CHECKS, ids=lambda c: c.id)
def test_well_configured_endpoint_passes(check: type[Check], ep: TlsEndpoint) -> None:
    found = run(check, tf.tls_facts(ep))
    assert [(x.status in (Status.PASS, Status.INFO), x.message_id) for x in found] == [
        (True, found[0].message_id)
    ]


@pytest.mark.parametrize("check", tls.CHECKS, ids=lambda c: c.id)
def test_no_endpoint_is_not_applicable(check: type[Check]) -> None:
    found = run(check, TlsFacts(endpoints=(), collected_at=tf.COLLECTED_AT))
    assert [(x.status, x.message_id, x.resource, x.params["target"]) for x in found] == [
        (Status.NOT_APPLICABLE, "no_endpoint", tf.TARGET, tf.TARGET)
    ]


@pytest.mark.parametrize(
    ("error_kind", "kind"),
    [
        ("timeout", ErrorKind.TIMEOUT),
        ("unreachable", ErrorKind.UNREACHABLE),
        ("dns", ErrorKind.DNS_FAILURE),
        ("not_tls", ErrorKind.PROTOCOL),
        ("deadline", ErrorKind.DEADLINE),
        ("tls_handshake", ErrorKind.TLS_HANDSHAKE),
        ("something_new", ErrorKind.UNREACHABLE),
    ],
)
@pytest.mark.parametrize("check", tls.CHECKS, ids=lambda c: c.id)
def test_endpoint_that_could_not_be_scanned_is_an_error(
    check: type[Check], error_kind: str, kind: ErrorKind
) -> None:
    dead = tf.dead_endpoint(error_kind, "it went wrong", host=tf.MX, port=993, service="imaps")
    found = run(check, tf.tls_facts(dead, tf.endpoint()))
    assert [(x.resource, x.status) for x in found][1] == (WWW_443, found[1].status)
    assert found[1].status in (Status.PASS, Status.INFO)
    error = found[0]
    assert (error.resource, error.status, error.message_id) == (f"{tf.MX}:993 (imaps)", Status.ERROR, "error")
    assert error.error is not None and error.error.kind is kind
    assert error.error.source == check.id
    assert "it went wrong" in error.params["detail"]


@pytest.mark.parametrize("check", tls.CHECKS, ids=lambda c: c.id)
def test_a_mail_server_refusing_starttls_has_no_tls_to_judge(check: type[Check]) -> None:
    # sslyze's ServerRejectedOpportunisticTlsNegotiation: the service answered, but offers no TLS.
    refused = tf.dead_endpoint(
        "not_tls", "Server does not support STARTTLS with SMTP", host=tf.MX, port=25, service="smtp"
    )
    refused = dataclasses.replace(refused, starttls="smtp")
    implicit = tf.dead_endpoint("not_tls", "not TLS", host=tf.MX, port=993, service="imaps")
    found = run(check, tf.tls_facts(refused, implicit))
    assert [(x.status, x.message_id) for x in found] == [
        (Status.NOT_APPLICABLE, "starttls_refused"),
        (Status.ERROR, "error"),  # a port that should speak TLS at once and does not: still an error
    ]
    assert found[0].params["endpoint"] == f"{tf.MX}:25 (smtp)"


def test_dns_failure_without_address_is_an_error_too() -> None:
    # Unlike WEB's apex rule, a TLS endpoint exists only because a name was meant to serve TLS.
    dead = tf.dead_endpoint("dns", "NXDOMAIN", address=None, active_allowed=False)
    for check in tls.CHECKS:
        (finding,) = run(check, tf.tls_facts(dead))
        assert finding.error is not None and finding.error.kind is ErrorKind.DNS_FAILURE


@pytest.mark.parametrize("check", tls.CHECKS, ids=lambda c: c.id)
def test_outside_scope_only_certificate_checks_judge(check: type[Check]) -> None:
    (finding,) = run(check, tf.tls_facts(tf.passive_endpoint()))
    if check in CERTIFICATE_CHECKS:
        assert finding.status is Status.PASS, finding.message_id
    else:
        assert (finding.status, finding.message_id, finding.params["host"]) == (
            Status.NOT_TESTED,
            "out_of_scope",
            tf.WWW,
        )


def test_endpoint_marked_out_of_scope_by_the_collector_is_not_tested() -> None:
    ep = tf.dead_endpoint("out_of_scope", "outside the declared scope", active_allowed=False)
    for check in tls.CHECKS:
        (finding,) = run(check, tf.tls_facts(ep))
        assert (finding.status, finding.message_id) == (Status.NOT_TESTED, "out_of_scope")


@pytest.mark.parametrize("command", [*PASSIVE_COMMANDS, *ACTIVE_COMMANDS])
def test_a_failed_command_makes_only_its_checks_error(command: str) -> None:
    ep = tf.with_unavailable(tf.endpoint(), tf.failed(command, kind="timeout", detail="no answer in 5 s"))
    for check in tls.CHECKS:
        (finding,) = run(check, tf.tls_facts(ep))
        if command in check.commands:
            assert finding.status is Status.ERROR, check.id
            assert finding.error is not None and finding.error.kind is ErrorKind.TIMEOUT
            assert finding.params["detail"] == f"{command} failed: no answer in 5 s"
        else:
            assert finding.status in (Status.PASS, Status.INFO), (check.id, finding.message_id)


def test_failed_heartbleed_makes_vuln_known_error_but_protocols_still_judged() -> None:
    ep = tf.with_unavailable(
        versions(tls10=["TLS_RSA_WITH_AES_128_CBC_SHA"]), tf.failed("heartbleed", kind="unreachable")
    )
    vuln = one(tls.VulnKnown, ep)
    assert vuln.status is Status.ERROR and vuln.error is not None
    assert vuln.error.kind is ErrorKind.UNREACHABLE
    assert vuln.params["detail"].startswith("heartbleed failed:")
    legacy = one(tls.ProtoLegacy, ep)
    assert (legacy.status, legacy.message_id) == (Status.FAIL, "offered")


def test_command_error_kinds_are_mapped() -> None:
    ep = tf.with_unavailable(tf.endpoint(), tf.failed("robot", kind="not_tls", detail="STARTTLS refused"))
    finding = one(tls.VulnKnown, ep)
    assert finding.error is not None and finding.error.kind is ErrorKind.PROTOCOL


def test_several_failed_commands_are_all_named() -> None:
    failures = tf.failed("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", detail="reset")
    finding = one(tls.ProtoSsl, tf.with_unavailable(tf.endpoint(), failures))
    assert (
        finding.params["detail"] == "ssl_2_0_cipher_suites failed: reset; ssl_3_0_cipher_suites failed: reset"
    )


@pytest.mark.parametrize(
    ("check", "ep", "undecided"),
    [
        pytest.param(
            tls.VulnKnown,
            tf.with_unavailable(tf.endpoint(heartbleed=True, robot=None), tf.failed("robot")),
            ["robot"],
            id="heartbleed-found-robot-failed",
        ),
        pytest.param(
            tls.ProtoSsl,
            tf.with_unavailable(
                tf.endpoint(protocols=tf.protocols(omit=["SSLv2"], ssl3=["TLS_RSA_WITH_AES_128_CBC_SHA"])),
                tf.failed("ssl_2_0_cipher_suites"),
            ),
            ["ssl_2_0_cipher_suites"],
            id="sslv3-found-sslv2-failed",
        ),
        pytest.param(
            tls.CipherWeak,
            tf.with_unavailable(
                tf.endpoint(protocols=tf.protocols(omit=["TLSv1.0"], tls12=["TLS_RSA_WITH_RC4_128_SHA"])),
                tf.failed("tls_1_0_cipher_suites"),
            ),
            ["tls_1_0_cipher_suites"],
            id="rc4-found-tls10-failed",
        ),
        pytest.param(
            tls.ExtHardening,
            tf.with_unavailable(
                tf.endpoint(compression=True, early_data=None), tf.failed("tls_1_3_early_data")
            ),
            ["tls_1_3_early_data"],
            id="compression-found-early-data-failed",
        ),
        pytest.param(
            tls.KexGroups,
            tf.with_unavailable(tf.endpoint(groups=None, dhe_bits=(1024,)), tf.failed("elliptic_curves")),
            ["elliptic_curves"],
            id="logjam-found-curves-failed",
        ),
    ],
)
def test_a_proven_fail_stands_when_another_command_failed(
    check: type[Check], ep: TlsEndpoint, undecided: list[str]
) -> None:
    finding = one(check, ep)
    assert finding.status is Status.FAIL
    assert finding.evidence["undecided_commands"] == undecided


def test_a_fail_that_absence_would_fake_does_not_stand() -> None:
    # TLS 1.2 and 1.3 enumerations both failed: "neither offered" must not become a fail.
    ep = tf.endpoint(
        protocols=tf.protocols(omit=["TLSv1.2", "TLSv1.3"]),
        unavailable=tf.failed("tls_1_2_cipher_suites", "tls_1_3_cipher_suites"),
    )
    for check in (tls.ProtoModern, tls.CipherNoFs, tls.CipherNonAead):
        assert one(check, ep).status is Status.ERROR


@pytest.mark.parametrize(
    ("check", "ep", "command"),
    [
        pytest.param(tls.VulnKnown, tf.without(tf.endpoint(), "heartbleed"), "heartbleed", id="heartbleed"),
        pytest.param(tls.KexGroups, tf.without(tf.endpoint(), "groups"), "elliptic_curves", id="curves"),
        pytest.param(
            tls.ProtoSsl,
            tf.endpoint(protocols=tf.protocols(omit=["SSLv3"])),
            "ssl_3_0_cipher_suites",
            id="sslv3",
        ),
        pytest.param(tls.CertKeysize, tf.endpoint(chain=()), "certificate_info", id="no-chain"),
        pytest.param(
            tls.ExtHardening,
            tf.without(tf.endpoint(), "secure_renegotiation"),
            "session_renegotiation",
            id="reneg",
        ),
    ],
)
def test_a_result_neither_recorded_nor_failed_is_a_bug(
    check: type[Check], ep: TlsEndpoint, command: str
) -> None:
    finding = one(check, ep)
    assert finding.status is Status.ERROR and finding.error is not None
    assert finding.error.kind is ErrorKind.BUG
    assert finding.params["detail"] == f"{command} left no result"


def test_resources_name_host_port_and_service() -> None:
    facts = tf.tls_facts(
        tf.endpoint(),
        tf.mx_endpoint(),
        tf.endpoint("2001:db8::10", 443, "https", address="2001:db8::10"),
    )
    found = run(tls.ProtoSsl, facts)
    assert [x.resource for x in found] == [WWW_443, MX_25, "[2001:db8::10]:443 (https)"]
    assert all(x.params["endpoint"] == x.resource for x in found)


def test_one_name_scanned_at_two_addresses_gives_two_resources() -> None:
    facts = tf.tls_facts(tf.mx_endpoint(), tf.mx_endpoint(address="2001:db8::25"))
    found = run(tls.ProtoLegacy, facts)
    assert [x.resource for x in found] == [
        f"{tf.MX}:25 (smtp, {tf.MX_ADDRESS})",
        f"{tf.MX}:25 (smtp, 2001:db8::25)",
    ]


def test_checks_are_deterministic() -> None:
    facts = tf.tls_facts(
        tf.endpoint(), tf.mx_endpoint(), tf.passive_endpoint(host="extranet.mairie-exemple.fr")
    )
    for check in tls.CHECKS:
        assert run(check, facts) == run(check, facts)


def test_evidence_lists_are_bounded() -> None:
    many = [tf.dhe_suite(1024, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256")] + [
        dataclasses.replace(tf.SUITES["TLS_RSA_WITH_RC4_128_SHA"], name=f"TLS_FAKE_RC4_{i}")
        for i in range(40)
    ]
    finding = one(tls.CipherWeak, versions(tls12=many))
    assert finding.evidence["count"] == 40
    assert len(finding.evidence["weak"]) == 20
    assert "(+" in finding.params["suites"]


# --------------------------------------------------------------------------------------------------
# TLS-PROTO-SSL

PROTO_SSL = cases(
    tls.ProtoSsl,
    case("refused", tf.endpoint(), Status.PASS, "pass", resource=WWW_443, offered=[]),
    case(
        "refused-outright-shown-in-evidence",
        tf.endpoint(refused_versions={"SSLv3": "TLS error: wrong version number", "TLSv1.1": "x"}),
        Status.PASS,
        "pass",
        refused_outright={"SSLv3": "TLS error: wrong version number"},
    ),
    case(
        "sslv3",
        versions(ssl3=["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"]),
        Status.FAIL,
        "offered",
        versions="SSLv3",
        suites=["SSLv3 TLS_RSA_WITH_AES_128_CBC_SHA", "SSLv3 TLS_RSA_WITH_3DES_EDE_CBC_SHA"],
        severity=Severity.HIGH,
    ),
    case(
        "sslv2-and-v3",
        versions(ssl2=["TLS_RSA_WITH_RC4_128_MD5"], ssl3=["TLS_RSA_WITH_RC4_128_SHA"]),
        Status.FAIL,
        "offered",
        versions="SSLv2, SSLv3",
    ),
    case(
        "sslv3-on-port-25-still-fails",
        tf.mx_endpoint(protocols=tf.protocols(ssl3=["TLS_RSA_WITH_AES_128_CBC_SHA"])),
        Status.FAIL,
        "offered",
        resource=MX_25,
    ),
)


@pytest.mark.parametrize("row", PROTO_SSL)
def test_proto_ssl(row: Case) -> None:
    verify(tls.ProtoSsl, row)


# --------------------------------------------------------------------------------------------------
# TLS-PROTO-LEGACY

_ABSENT = check_table._MISSING  # evidence key not set

PROTO_LEGACY = cases(
    tls.ProtoLegacy,
    case("refused", tf.endpoint(), Status.PASS, "pass", refused_outright=lambda v: v is _ABSENT),
    case(
        "refused-outright-shown-in-evidence",
        tf.endpoint(refused_versions={"TLSv1.0": "TLS alert: protocol version", "SSLv3": "x"}),
        Status.PASS,
        "pass",
        refused_outright={"TLSv1.0": "TLS alert: protocol version"},
    ),
    case(
        "tls10-on-https",
        versions(tls10=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]),
        Status.FAIL,
        "offered",
        versions="TLSv1.0",
        offered=["TLSv1.0"],
        severity=Severity.MEDIUM,
    ),
    case(
        "tls10-and-11-on-imaps",
        tf.endpoint(
            tf.MX,
            993,
            "imaps",
            protocols=tf.protocols(
                tls10=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"], tls11=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]
            ),
        ),
        Status.FAIL,
        "offered",
        versions="TLSv1.0, TLSv1.1",
    ),
    case(
        "tls11-on-submission",
        tf.endpoint(
            tf.MX, 587, "submission", protocols=tf.protocols(tls11=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"])
        ),
        Status.FAIL,
        "offered",
    ),
    case(
        "tls10-on-port-25-warns",
        tf.mx_endpoint(protocols=tf.protocols(tls10=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"])),
        Status.WARN,
        "offered_smtp",
        versions="TLSv1.0",
        resource=MX_25,
    ),
)


@pytest.mark.parametrize("row", PROTO_LEGACY)
def test_proto_legacy(row: Case) -> None:
    verify(tls.ProtoLegacy, row)


# --------------------------------------------------------------------------------------------------
# TLS-PROTO-MODERN

PROTO_MODERN = cases(
    tls.ProtoModern,
    case("tls12-and-13", tf.endpoint(), Status.PASS, "pass", versions="TLSv1.2, TLSv1.3"),
    case("tls13-only", versions(tls12=()), Status.PASS, "pass", versions="TLSv1.3"),
    case(
        "tls12-only",
        versions(tls13=()),
        Status.WARN,
        "tls12_only",
        versions="TLSv1.2",
        severity=Severity.LOW,
    ),
    case(
        "tls10-only",
        versions(tls10=["TLS_RSA_WITH_AES_128_CBC_SHA"], tls12=(), tls13=()),
        Status.FAIL,
        "no_modern",
        versions="TLSv1.0",
        severity=Severity.HIGH,
    ),
    case("nothing-accepted", versions(tls12=(), tls13=()), Status.FAIL, "no_modern", versions="-"),
)


@pytest.mark.parametrize("row", PROTO_MODERN)
def test_proto_modern(row: Case) -> None:
    verify(tls.ProtoModern, row)


# --------------------------------------------------------------------------------------------------
# TLS-CIPHER-WEAK


def _weak(*names: str, version: str = "tls12") -> TlsEndpoint:
    return versions(**{version: [*tf.TLS12_ECDSA_SUITES, *names]})


CIPHER_WEAK = cases(
    tls.CipherWeak,
    case("strong-only", tf.endpoint(), Status.PASS, "pass", count=0),
    case("seed-is-not-weak", _weak("TLS_RSA_WITH_SEED_CBC_SHA"), Status.PASS, "pass"),
    case(
        "3des-sweet32",
        _weak("TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        Status.FAIL,
        "weak",
        count=1,
        suites="TLS_RSA_WITH_3DES_EDE_CBC_SHA (3DES)",
        severity=Severity.HIGH,
    ),
    case(
        "rc4-md5", _weak("TLS_RSA_WITH_RC4_128_MD5"), Status.FAIL, "weak", suites=contains("(RC4, MD5 MAC)")
    ),
    case("null", _weak("TLS_RSA_WITH_NULL_SHA256"), Status.FAIL, "weak", suites=contains("(NULL)")),
    case(
        "anonymous",
        _weak("TLS_DH_anon_WITH_AES_128_CBC_SHA"),
        Status.FAIL,
        "weak",
        suites=contains("(anonymous)"),
    ),
    case(
        "export",
        _weak("TLS_RSA_EXPORT_WITH_RC4_40_MD5"),
        Status.FAIL,
        "weak",
        suites=contains("(EXPORT, RC4, MD5 MAC, 40-bit key)"),
    ),
    case("des", _weak("TLS_RSA_WITH_DES_CBC_SHA"), Status.FAIL, "weak", suites=contains("(DES, 56-bit key)")),
    case("idea", _weak("TLS_RSA_WITH_IDEA_CBC_SHA"), Status.FAIL, "weak", suites=contains("(IDEA)")),
    case(
        "in-tls10-too",
        versions(tls10=["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]),
        Status.FAIL,
        "weak",
        weak=[{"version": "TLSv1.0", "suite": "TLS_RSA_WITH_3DES_EDE_CBC_SHA", "reasons": ["3DES"]}],
    ),
    case(
        "idea-allowed-by-params",
        _weak("TLS_RSA_WITH_IDEA_CBC_SHA"),
        Status.PASS,
        "pass",
        params={"weak_ciphers": ["RC4", "DES", "3DES", "RC2"]},
    ),
)


@pytest.mark.parametrize("row", CIPHER_WEAK)
def test_cipher_weak(row: Case) -> None:
    verify(tls.CipherWeak, row)


# --------------------------------------------------------------------------------------------------
# TLS-CIPHER-NOFS

CIPHER_NOFS = cases(
    tls.CipherNoFs,
    case("ecdhe-only", tf.endpoint(), Status.PASS, "pass", count=3),
    case(
        "dhe-counts-as-fs",
        versions(tls12=[*tf.TLS12_RSA_SUITES, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"]),
        Status.PASS,
        "pass",
        count=3,
    ),
    case("tls13-only", versions(tls12=()), Status.PASS, "tls13_only"),
    case(
        "rsa-kex-beside-ecdhe",
        versions(
            tls12=[*tf.TLS12_RSA_SUITES, "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA"]
        ),
        Status.WARN,
        "mixed",
        count=2,
        suites="TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_AES_256_CBC_SHA",
        server_preference="not_measured",
        severity=Severity.MEDIUM,
    ),
    case(
        "static-ecdh-beside-ecdhe",
        versions(tls12=[*tf.TLS12_RSA_SUITES, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"]),
        Status.WARN,
        "mixed",
        count=1,
    ),
    case(
        "only-rsa-kex",
        versions(tls12=["TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"]),
        Status.FAIL,
        "none",
        count=2,
    ),
    case(
        "rsa-kex-in-tls10-only-is-not-judged-here",
        versions(tls10=["TLS_RSA_WITH_AES_128_CBC_SHA"]),
        Status.PASS,
        "pass",
    ),
    case(
        "no-tls12-nor-13",
        versions(tls10=["TLS_RSA_WITH_AES_128_CBC_SHA"], tls12=(), tls13=()),
        Status.NOT_APPLICABLE,
        "no_modern",
    ),
)


@pytest.mark.parametrize("row", CIPHER_NOFS)
def test_cipher_nofs(row: Case) -> None:
    verify(tls.CipherNoFs, row)


# --------------------------------------------------------------------------------------------------
# TLS-CIPHER-NONAEAD

CIPHER_NONAEAD = cases(
    tls.CipherNonAead,
    case("aead-only", tf.endpoint(), Status.PASS, "pass", count=3),
    case("tls13-only", versions(tls12=()), Status.PASS, "tls13_only"),
    case(
        "cbc-beside-aead",
        versions(tls12=[*tf.TLS12_RSA_SUITES, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]),
        Status.WARN,
        "cbc_alongside",
        count=1,
        suites="TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        severity=Severity.LOW,
    ),
    case(
        "cbc-only",
        versions(tls12=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"], tls13=()),
        Status.FAIL,
        "no_aead",
        severity=Severity.MEDIUM,
    ),
    case(
        "tls10-only",
        versions(tls10=["TLS_RSA_WITH_AES_128_CBC_SHA"], tls12=(), tls13=()),
        Status.FAIL,
        "no_aead",
    ),
)


@pytest.mark.parametrize("row", CIPHER_NONAEAD)
def test_cipher_nonaead(row: Case) -> None:
    verify(tls.CipherNonAead, row)


# --------------------------------------------------------------------------------------------------
# TLS-KEX-GROUPS


def _groups(*names: str, dhe: tuple[int, ...] = (), **facts: Any) -> TlsEndpoint:
    return tf.endpoint(groups=names, dhe_bits=dhe, **facts)


KEX_GROUPS = cases(
    tls.KexGroups,
    case("x25519-p256-p384", tf.endpoint(), Status.PASS, "pass", groups="X25519, prime256v1, secp384r1"),
    case("dhe-3072", _groups("x25519", dhe=(3072,)), Status.PASS, "pass", groups="x25519, DHE 3072 bits"),
    case("brainpool-tls13-name", _groups("brainpoolP256r1tls13", "X448"), Status.PASS, "pass"),
    case("ffdhe4096-group", _groups("X25519", "ffdhe4096"), Status.PASS, "pass", dhe_bits=[4096]),
    case(
        "hybrid-pq-bonus",
        _groups("X25519MLKEM768", "X25519", "secp256r1"),
        Status.PASS,
        "pass_hybrid",
        hybrid="X25519MLKEM768",
        hybrid_pq=["X25519MLKEM768"],
    ),
    case(
        "dhe-2048",
        _groups("X25519", dhe=(2048,)),
        Status.WARN,
        "tolerated",
        items="DHE 2048 bits",
        severity=Severity.MEDIUM,
    ),
    case("ffdhe2048-group", _groups("X25519", "ffdhe2048"), Status.WARN, "tolerated", items="DHE 2048 bits"),
    case("unusual-curve", _groups("X25519", "secp256k1"), Status.WARN, "tolerated", items="secp256k1"),
    case("sect283k1-is-unusual", _groups("sect283k1"), Status.WARN, "tolerated", items="sect283k1"),
    case(
        "dhe-2048-after-2030-fails",
        tf.tls_facts(_groups("X25519", dhe=(2048,)), collected_at="2031-01-02T00:00:00+00:00"),
        Status.FAIL,
        "weak",
        items="DHE 2048 bits",
    ),
    case(
        "dhe-1536",
        _groups("X25519", dhe=(1536,)),
        Status.FAIL,
        "weak",
        items="DHE 1536 bits",
        severity=Severity.MEDIUM,
    ),
    case(
        "curve-under-256",
        _groups("X25519", "secp224r1", "prime192v1"),
        Status.FAIL,
        "weak",
        items="secp224r1 (224 bits), prime192v1 (192 bits)",
        small_curves=["secp224r1 (224 bits)", "prime192v1 (192 bits)"],
    ),
    case(
        "logjam-1024",
        _groups("X25519", dhe=(1024, 2048)),
        Status.FAIL,
        "logjam",
        bits="1024",
        items="DHE 1024 bits",
        severity=Severity.HIGH,
    ),
    case(
        "logjam-from-a-suite-handshake",
        tf.endpoint(dhe_bits=(), protocols=tf.protocols(tls12=[*tf.TLS12_ECDSA_SUITES, tf.dhe_suite(768)])),
        Status.FAIL,
        "logjam",
        bits="768",
    ),
    case(
        "rsa-kex-only",
        tf.endpoint(groups=(), protocols=tf.protocols(tls12=["TLS_RSA_WITH_AES_128_GCM_SHA256"], tls13=())),
        Status.NOT_APPLICABLE,
        "no_ephemeral",
    ),
)


@pytest.mark.parametrize("row", KEX_GROUPS)
def test_kex_groups(row: Case) -> None:
    verify(tls.KexGroups, row)


def test_kex_group_names_are_compared_case_insensitively_and_deduplicated() -> None:
    finding = one(tls.KexGroups, _groups("x25519", "PRIME256V1", "X25519"))
    assert (finding.status, finding.evidence["groups"]) == (Status.PASS, ["x25519", "PRIME256V1"])


# --------------------------------------------------------------------------------------------------
# TLS-CERT-KEYSIZE

CERT_KEYSIZE = cases(
    tls.CertKeysize,
    case("ecdsa-p256", tf.endpoint(), Status.PASS, "pass", key="ECDSA secp256r1 (256 bits)"),
    case("ecdsa-p384", leaf(curve="secp384r1", key_bits=384), Status.PASS, "pass"),
    case("ecdsa-prime256v1-alias", leaf(curve="prime256v1"), Status.PASS, "pass"),
    case("ed25519", leaf(key_type="Ed25519", key_bits=256, curve=None), Status.PASS, "pass", key="Ed25519"),
    case("rsa-3072", tf.rsa_endpoint(3072), Status.PASS, "pass", key="RSA 3072 bits"),
    case("rsa-4096", tf.rsa_endpoint(4096), Status.PASS, "pass"),
    case(
        "rsa-2048",
        tf.rsa_endpoint(2048),
        Status.WARN,
        "rsa_2048",
        bits=2048,
        recommended=3072,
        severity=Severity.LOW,
    ),
    case(
        "rsa-2048-after-2030",
        tf.tls_facts(tf.rsa_endpoint(2048), collected_at="2031-01-01T00:00:01Z"),
        Status.FAIL,
        "rsa_small",
        bits=2048,
        minimum=3072,
    ),
    case(
        "rsa-2048-without-collection-date",
        tf.tls_facts(tf.rsa_endpoint(2048), collected_at=""),
        Status.WARN,
        "rsa_2048",
    ),
    case(
        "rsa-1024",
        tf.rsa_endpoint(1024),
        Status.FAIL,
        "rsa_small",
        bits=1024,
        minimum=2048,
        severity=Severity.HIGH,
    ),
    case(
        "ecdsa-p224",
        leaf(curve="secp224r1", key_bits=224),
        Status.FAIL,
        "ec_small",
        key=contains("secp224r1"),
    ),
    case(
        "secp256k1-unusual",
        leaf(curve="secp256k1", key_bits=256),
        Status.WARN,
        "unusual",
        severity=Severity.MEDIUM,
    ),
    case("dsa", leaf(key_type="DSA", key_bits=2048, curve=None), Status.WARN, "unusual", key="DSA 2048 bits"),
    case(
        "smtp-rsa-1024-fails-too",
        tf.mx_endpoint(chain=(tf.rsa_certificate(1024, sans=(tf.MX,)), tf.intermediate())),
        Status.FAIL,
        "rsa_small",
    ),
)


@pytest.mark.parametrize("row", CERT_KEYSIZE)
def test_cert_keysize(row: Case) -> None:
    verify(tls.CertKeysize, row)


# --------------------------------------------------------------------------------------------------
# TLS-CERT-SIGALG

CERT_SIGALG = cases(
    tls.CertSigalg,
    case("sha384-and-sha256", tf.endpoint(), Status.PASS, "pass", hashes="sha384, sha256"),
    case(
        "sha1-root-sent-is-ignored",
        tf.endpoint(chain=(tf.certificate(), tf.intermediate(), tf.root())),
        Status.PASS,
        "pass",
    ),
    case(
        "ed25519-leaf",
        leaf(key_type="Ed25519", signature_hash=None, signature_algorithm="ed25519"),
        Status.PASS,
        "pass",
        hashes="EdDSA, sha256",
    ),
    case(
        "sha1-leaf",
        leaf(signature_hash="sha1"),
        Status.FAIL,
        "weak",
        certificates=f"{tf.WWW} (sha1)",
        severity=Severity.HIGH,
    ),
    case(
        "md5-intermediate",
        tf.endpoint(chain=(tf.certificate(), tf.intermediate(signature_hash="md5"))),
        Status.FAIL,
        "weak",
        certificates="Exemple TLS CA R1 (md5)",
    ),
    case(
        "self-signed-sha1-leaf",
        tf.endpoint(chain=(tf.self_signed(signature_hash="sha1"),)),
        Status.FAIL,
        "weak",
    ),
    case("sha224", leaf(signature_hash="sha224"), Status.WARN, "unusual", certificates=f"{tf.WWW} (sha224)"),
    case(
        "no-hash-and-not-eddsa",
        tf.endpoint(
            chain=(tf.certificate(), tf.intermediate(signature_hash=None, signature_algorithm="1.2.3.4"))
        ),
        Status.WARN,
        "unusual",
        certificates="Exemple TLS CA R1 (1.2.3.4)",
    ),
)


@pytest.mark.parametrize("row", CERT_SIGALG)
def test_cert_sigalg(row: Case) -> None:
    verify(tls.CertSigalg, row)


# --------------------------------------------------------------------------------------------------
# TLS-CERT-VALIDITY


def _expiring(not_after: str, **facts: Any) -> TlsFacts:
    return tf.tls_facts(leaf(not_after=not_after), **facts)


CERT_VALIDITY = cases(
    tls.CertValidity,
    case("57-days-left", tf.endpoint(), Status.PASS, "pass", days=57, date="2025-07-30", subject=tf.WWW),
    case("31-days-left", _expiring("2025-07-03T09:00:00+00:00"), Status.PASS, "pass", days=31),
    case(
        "30-days-left",
        _expiring("2025-07-02T09:00:00+00:00"),
        Status.WARN,
        "renew_soon",
        days=30,
        severity=Severity.MEDIUM,
    ),
    case("8-days-left", _expiring("2025-06-10T09:00:00+00:00"), Status.WARN, "renew_soon", days=8),
    case(
        "7-days-left",
        _expiring("2025-06-09T09:00:00+00:00"),
        Status.FAIL,
        "expiring",
        days=7,
        date="2025-06-09",
        severity=Severity.HIGH,
    ),
    case(
        "expired",
        _expiring("2025-06-01T00:00:00+00:00"),
        Status.FAIL,
        "expired",
        date="2025-06-01",
        subject=tf.WWW,
    ),
    case(
        "expired-intermediate",
        tf.endpoint(chain=(tf.certificate(), tf.intermediate(not_after="2025-05-30T00:00:00Z"))),
        Status.FAIL,
        "expired",
        subject="Exemple TLS CA R1",
    ),
    case(
        "expired-root-sent-is-ignored",
        tf.endpoint(chain=(tf.certificate(), tf.intermediate(), tf.root(not_after="2024-01-01T00:00:00Z"))),
        Status.PASS,
        "pass",
    ),
    case(
        "not-yet-valid",
        leaf(not_before="2025-06-05T00:00:00+00:00"),
        Status.FAIL,
        "not_yet_valid",
        date="2025-06-05",
    ),
    case(
        "judged-at-collection-not-today",
        tf.tls_facts(tf.endpoint(), collected_at="2025-07-31T00:00:00+00:00"),
        Status.FAIL,
        "expired",
    ),
    case(
        "no-collection-date",
        tf.tls_facts(tf.endpoint(), collected_at=""),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.BUG,
        detail=contains("collected_at"),
    ),
    case(
        "unreadable-date",
        leaf(not_after="someday"),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
)


@pytest.mark.parametrize("row", CERT_VALIDITY)
def test_cert_validity(row: Case) -> None:
    verify(tls.CertValidity, row)


@pytest.mark.parametrize("check", CERTIFICATE_CHECKS, ids=lambda c: c.id)
def test_unparseable_leaf_is_a_protocol_error(check: type[Check]) -> None:
    # What the collector records when cryptography cannot parse the certificate the server sent.
    broken = tf.certificate(
        subject="(unparseable certificate)",
        issuer="",
        sans=(),
        not_before="",
        not_after="",
        key_type="",
        key_bits=0,
        curve=None,
        signature_hash=None,
        signature_algorithm="ValueError: error parsing asn1 value",
    )
    finding = one(check, tf.endpoint(chain=(broken,), hostname_matches=False, trust=tf.untrusted()))
    assert finding.status is Status.ERROR and finding.error is not None
    assert finding.error.kind is ErrorKind.PROTOCOL
    assert "error parsing asn1 value" in finding.params["detail"]


def test_validity_on_passive_endpoint_is_judged() -> None:
    finding = one(
        tls.CertValidity, tf.passive_endpoint(chain=(tf.certificate(not_after="2025-06-01T00:00:00Z"),))
    )
    assert (finding.status, finding.message_id) == (Status.FAIL, "expired")


# --------------------------------------------------------------------------------------------------
# TLS-CERT-NAME

CERT_NAME = cases(
    tls.CertName,
    case("matches", tf.endpoint(), Status.PASS, "pass", host=tf.WWW),
    case(
        "mismatch",
        tf.endpoint(
            hostname_matches=False, chain=(tf.certificate(sans=("autre.example",)), tf.intermediate())
        ),
        Status.FAIL,
        "mismatch",
        host=tf.WWW,
        sans="autre.example",
        severity=Severity.HIGH,
    ),
    case(
        "mismatch-no-san",
        tf.endpoint(hostname_matches=False, chain=(tf.certificate(sans=()), tf.intermediate())),
        Status.FAIL,
        "mismatch",
        sans="-",
    ),
    case(
        "mismatch-on-submission-fails",
        tf.endpoint(tf.MX, 587, "submission", hostname_matches=False),
        Status.FAIL,
        "mismatch",
    ),
    case(
        "mismatch-on-port-25-warns",
        tf.mx_endpoint(hostname_matches=False, chain=(tf.certificate(sans=("mail.hebergeur.example",)),)),
        Status.WARN,
        "mismatch_smtp",
        sans="mail.hebergeur.example",
        severity=Severity.MEDIUM,
        resource=MX_25,
    ),
    case(
        "not-computed",
        tf.endpoint(hostname_matches=None),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.BUG,
    ),
)


@pytest.mark.parametrize("row", CERT_NAME)
def test_cert_name(row: Case) -> None:
    verify(tls.CertName, row)


# --------------------------------------------------------------------------------------------------
# TLS-CERT-CHAIN

_NAME_ERROR = (
    "validation failed: leaf certificate has no matching subjectAltName (encountered processing <Cert…>)"
)
_TIME_ERROR = "validation failed: cert is not valid at validation time (encountered processing <Cert…>)"
_PRIVATE_ROOT = tf.root(subject="CN=Mairie Exemple Root CA", issuer="CN=Mairie Exemple Root CA")
_PRIVATE_LEAF = tf.certificate(issuer="CN=Mairie Exemple Root CA", sct_count=0)


def _chain(*certs: Any, trust: Any = None, **facts: Any) -> TlsEndpoint:
    return tf.endpoint(chain=certs, trust=tf.untrusted() if trust is None else trust, **facts)


CERT_CHAIN = cases(
    tls.CertChain,
    case("public-trusted", tf.endpoint(), Status.PASS, "pass", issuer="Exemple TLS CA R1"),
    case(
        "trusted-by-ca-bundle",
        _chain(
            _PRIVATE_LEAF,
            trust=(TrustResult("Mozilla", False, _MOZILLA_EXHAUSTED), TrustResult("Supplied CA file", True)),
        ),
        Status.PASS,
        "pass_ca_bundle",
        issuer="Mairie Exemple Root CA",
        trust={"Mozilla": _MOZILLA_EXHAUSTED, "Supplied CA file": "trusted"},
    ),
    case(
        "other-stores-do-not-count",
        _chain(
            _PRIVATE_LEAF,
            trust=(TrustResult("Mozilla", False, _MOZILLA_EXHAUSTED), TrustResult("Apple", True)),
        ),
        Status.FAIL,
        "untrusted",
    ),
    case(
        "qualified-issuer-from-params",
        tf.endpoint(),
        Status.PASS,
        "pass_qualified",
        params={"qualified_issuers": ["exemple trust services"]},
        qualified="exemple trust services",
    ),
    case(
        "root-sent",
        tf.endpoint(chain=(tf.certificate(), tf.intermediate(), tf.root())),
        Status.WARN,
        "extra_root",
        root="Exemple Root CA X1",
        severity=Severity.LOW,
    ),
    case(
        "missing-intermediate",
        _chain(tf.certificate()),
        Status.WARN,
        "incomplete",
        issuer="Exemple TLS CA R1",
        severity=Severity.MEDIUM,
    ),
    case(
        "self-signed",
        _chain(tf.self_signed()),
        Status.FAIL,
        "self_signed",
        subject=tf.WWW,
        severity=Severity.HIGH,
    ),
    case(
        "self-signed-and-expired-still-self-signed",
        _chain(tf.self_signed(), trust=tf.untrusted(_TIME_ERROR)),
        Status.FAIL,
        "self_signed",
    ),
    case(
        "private-ca-root-sent",
        _chain(_PRIVATE_LEAF, _PRIVATE_ROOT),
        Status.FAIL,
        "private_ca",
        root="Mairie Exemple Root CA",
    ),
    case(
        "untrusted-without-scts",
        _chain(_PRIVATE_LEAF),
        Status.FAIL,
        "untrusted",
        issuer="Mairie Exemple Root CA",
        error="validation failed: candidates exhausted: all candidates exhausted with no interior errors",
    ),
    case(
        "validation-stopped-on-name",
        _chain(tf.certificate(), tf.intermediate(), trust=tf.untrusted(_NAME_ERROR), hostname_matches=False),
        Status.NOT_TESTED,
        "undecided",
        reason="validation failed: leaf certificate has no matching subjectAltName",
    ),
    case(
        "validation-stopped-on-expiry",
        _chain(tf.certificate(), tf.intermediate(), trust=tf.untrusted(_TIME_ERROR)),
        Status.NOT_TESTED,
        "undecided",
    ),
    case(
        "port-25-self-signed-warns",
        tf.mx_endpoint(chain=(tf.self_signed(tf.MX),), trust=tf.untrusted()),
        Status.WARN,
        "untrusted_smtp",
        issuer=tf.MX,
        severity=Severity.MEDIUM,
    ),
    case(
        "port-25-private-ca-warns",
        tf.mx_endpoint(chain=(_PRIVATE_LEAF, _PRIVATE_ROOT), trust=tf.untrusted()),
        Status.WARN,
        "untrusted_smtp",
    ),
    case(
        "imaps-self-signed-fails",
        tf.endpoint(tf.MX, 993, "imaps", chain=(tf.self_signed(tf.MX),), trust=tf.untrusted()),
        Status.FAIL,
        "self_signed",
    ),
    case(
        "no-validation-result",
        tf.endpoint(trust=()),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.BUG,
    ),
)


@pytest.mark.parametrize("row", CERT_CHAIN)
def test_cert_chain(row: Case) -> None:
    verify(tls.CertChain, row)


# --------------------------------------------------------------------------------------------------
# TLS-CERT-LIFETIME


def _span(not_before: str, not_after: str) -> TlsEndpoint:
    return leaf(not_before=not_before, not_after=not_after)


CERT_LIFETIME = cases(
    tls.CertLifetime,
    case("90-days", tf.endpoint(), Status.PASS, "pass", days=90),
    case("398-days", _span("2025-01-01T00:00:00Z", "2026-02-03T00:00:00Z"), Status.PASS, "pass", days=398),
    case(
        "399-days",
        _span("2025-01-01T00:00:00Z", "2026-02-04T00:00:00Z"),
        Status.WARN,
        "long",
        days=399,
        severity=Severity.LOW,
    ),
    case(
        "5-years",
        _span("2021-01-01T00:00:00Z", "2025-12-31T00:00:00Z"),
        Status.WARN,
        "very_long",
        days=1825,
        years=5,
        severity=Severity.MEDIUM,
    ),
    case(
        "10-years",
        tf.endpoint(chain=(tf.self_signed(),)),
        Status.FAIL,
        "decade",
        days=3653,
        years=10,
        severity=Severity.HIGH,
    ),
    case(
        "unreadable", _span("", "2026-01-01T00:00:00Z"), Status.ERROR, "error", error_kind=ErrorKind.PROTOCOL
    ),
)


@pytest.mark.parametrize("row", CERT_LIFETIME)
def test_cert_lifetime(row: Case) -> None:
    verify(tls.CertLifetime, row)


# --------------------------------------------------------------------------------------------------
# TLS-CERT-CT

CERT_CT = cases(
    tls.CertCt,
    case("embedded-scts", tf.endpoint(), Status.PASS, "pass", count=2, ct_log_search="not_tested"),
    case("no-sct", leaf(sct_count=0), Status.WARN, "none", ct_log_search="not_tested", severity=Severity.LOW),
    case(
        "private-ca-from-ca-bundle",
        _chain(
            _PRIVATE_LEAF,
            trust=(TrustResult("Mozilla", False, _MOZILLA_EXHAUSTED), TrustResult("Supplied CA file", True)),
        ),
        Status.NOT_APPLICABLE,
        "private_ca",
    ),
    case("self-signed", _chain(tf.self_signed()), Status.WARN, "none"),
)


@pytest.mark.parametrize("row", CERT_CT)
def test_cert_ct(row: Case) -> None:
    verify(tls.CertCt, row)


# --------------------------------------------------------------------------------------------------
# TLS-CERT-REVOCATION

CERT_REVOCATION = cases(
    tls.CertRevocation,
    case("crl-ocsp-stapled", tf.endpoint(), Status.PASS, "stapled", methods="CRL, OCSP"),
    case("ocsp-not-stapled", tf.endpoint(ocsp_stapled=False), Status.PASS, "no_stapling", ocsp_stapled=False),
    case(
        "crl-only",
        tf.endpoint(ocsp_stapled=False, chain=(tf.certificate(ocsp_urls=()),)),
        Status.PASS,
        "pass",
        methods="CRL",
    ),
    case("stapling-unknown", tf.endpoint(ocsp_stapled=None), Status.PASS, "pass", methods="CRL, OCSP"),
    case(
        "neither",
        tf.endpoint(ocsp_stapled=False, chain=(tf.self_signed(),)),
        Status.WARN,
        "none",
        severity=Severity.LOW,
    ),
)


@pytest.mark.parametrize("row", CERT_REVOCATION)
def test_cert_revocation(row: Case) -> None:
    verify(tls.CertRevocation, row)


# --------------------------------------------------------------------------------------------------
# TLS-EXT-HARDENING

EXT_HARDENING = cases(
    tls.ExtHardening,
    case(
        "hardened",
        tf.endpoint(),
        Status.PASS,
        "pass",
        fallback_scsv=True,
        extended_master_secret_tested=False,
    ),
    case("compression", tf.endpoint(compression=True), Status.FAIL, "compression", severity=Severity.MEDIUM),
    case(
        "no-secure-renegotiation",
        tf.endpoint(secure_renegotiation=False),
        Status.WARN,
        "weak_options",
        items="secure_renegotiation=no",
        severity=Severity.MEDIUM,
    ),
    case(
        "client-renegotiation",
        tf.endpoint(client_renegotiation=True),
        Status.WARN,
        "weak_options",
        items="client_renegotiation=yes",
        severity=Severity.MEDIUM,
    ),
    case(
        "early-data",
        tf.endpoint(early_data=True),
        Status.WARN,
        "weak_options",
        items="early_data=yes",
        severity=Severity.LOW,
    ),
    case(
        "ticket-lifetime",
        tf.endpoint(ticket_lifetime_hint=172800),
        Status.WARN,
        "weak_options",
        items="ticket_lifetime_hint=172800s",
    ),
    case("ticket-lifetime-24h", tf.endpoint(ticket_lifetime_hint=86400), Status.PASS, "pass"),
    case("ticket-lifetime-unmeasured", tf.endpoint(ticket_lifetime_hint=None), Status.PASS, "pass"),
    case(
        "no-ems",
        tf.endpoint(extended_master_secret=False, protocols=tf.protocols(tls13=())),
        Status.WARN,
        "weak_options",
        items="extended_master_secret=no",
        extended_master_secret_tested=True,
    ),
    case(
        "tls13-only-needs-no-ems-nor-renegotiation",
        tf.endpoint(
            protocols=tf.protocols(tls12=()),
            extended_master_secret=False,
            secure_renegotiation=False,
            client_renegotiation=False,
        ),
        Status.PASS,
        "pass",
    ),
    case(
        "several",
        tf.endpoint(client_renegotiation=True, early_data=True, extended_master_secret=False),
        Status.WARN,
        "weak_options",
        items="client_renegotiation=yes, early_data=yes, extended_master_secret=no",
        severity=Severity.MEDIUM,
    ),
    case(
        "ticket-limit-from-params",
        tf.endpoint(ticket_lifetime_hint=7200),
        Status.WARN,
        "weak_options",
        params={"max_ticket_lifetime": 3600},
    ),
)


@pytest.mark.parametrize("row", EXT_HARDENING)
def test_ext_hardening(row: Case) -> None:
    verify(tls.ExtHardening, row)


# --------------------------------------------------------------------------------------------------
# TLS-VULN-KNOWN

VULN_KNOWN = cases(
    tls.VulnKnown,
    case("none", tf.endpoint(), Status.PASS, "pass", not_probed=contains("Ticketbleed")),
    case(
        "heartbleed",
        tf.endpoint(heartbleed=True),
        Status.FAIL,
        "vulnerable",
        flaws="Heartbleed (CVE-2014-0160)",
        severity=Severity.CRITICAL,
    ),
    case(
        "ccs",
        tf.endpoint(ccs_injection=True),
        Status.FAIL,
        "vulnerable",
        flaws="OpenSSL CCS injection (CVE-2014-0224)",
    ),
    case(
        "robot-strong",
        tf.endpoint(robot="strong_oracle"),
        Status.FAIL,
        "vulnerable",
        flaws="ROBOT (strong oracle)",
    ),
    case(
        "robot-weak", tf.endpoint(robot="weak_oracle"), Status.FAIL, "vulnerable", flaws="ROBOT (weak oracle)"
    ),
    case(
        "robot-unknown",
        tf.endpoint(robot="unknown"),
        Status.NOT_TESTED,
        "undecided",
        probes="ROBOT (unknown)",
        undecided=["ROBOT (unknown)"],
    ),
    case(
        "found-beats-unknown",
        tf.endpoint(heartbleed=True, robot="unknown"),
        Status.FAIL,
        "vulnerable",
        undecided=["ROBOT (unknown)"],
    ),
)


@pytest.mark.parametrize("row", VULN_KNOWN)
def test_vuln_known(row: Case) -> None:
    verify(tls.VulnKnown, row)


# --------------------------------------------------------------------------------------------------
# Coverage of the metadata by the tables above

_ENGINE_MESSAGES = {"error", "out_of_scope"}
_COVERED_ELSEWHERE = {"no_endpoint"}  # test_no_endpoint_is_not_applicable, for every check


def test_every_declared_message_is_exercised() -> None:
    for check in tls.CHECKS:
        declared = set(META[check.id].messages)
        exercised = {p.values[0].message for p in CASES.get(check.id, [])} | _COVERED_ELSEWHERE
        assert declared - exercised == set(), check.id
        assert exercised - declared - _ENGINE_MESSAGES == set(), check.id


def test_protocol_commands_cover_every_version() -> None:
    assert set(PROTOCOL_COMMANDS) == {"SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"}


@pytest.mark.parametrize(
    ("target", "status"), [("192.0.2.10", Status.NOT_APPLICABLE), ("mairie-exemple.fr", Status.ERROR)]
)
@pytest.mark.parametrize("check", tls.CHECKS, ids=lambda c: c.id)
def test_closed_port_on_a_typed_address_is_not_applicable(
    check: type[Check], target: str, status: Status
) -> None:

    ep = tf.endpoint("192.0.2.10", error_kind="unreachable", error="connection refused")
    meta = META[check.id]
    (finding,) = check(meta, {**meta.params}, parse_target(target)).evaluate(FactBag([tf.tls_facts(ep)]))
    assert finding.status is status
    assert finding.message_id == ("no_service" if status is Status.NOT_APPLICABLE else "error")
