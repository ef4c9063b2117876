"""DNS checks: table-driven cases over facts built by tests/dns_factories.py (pure, no network, no mocks)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from check_table import Case, CheckTable

# Helpers of tests/ are imported as top-level modules (as tests/conftest.py arranges); make that
# work when this file is collected without it.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import dns_factories as df  # noqa: E402
import tls_factories as tf  # noqa: E402
from cyberscan.checks import dns  # noqa: E402

from cyberscan.collectors.dns_facts import (  # noqa: E402
    DnsAnswer,
    DnsSnapshot,
    NameServer,
    Outcome,
    RecursionProbe,
)
from cyberscan.collectors.rdap_facts import RdapFacts  # noqa: E402
from cyberscan.collectors.tls_facts import TlsFacts  # noqa: E402
from cyberscan.models import ErrorKind, Finding, Severity, Status  # noqa: E402
from cyberscan.plugin import Check, FactBag, Facts  # noqa: E402
from cyberscan.targets import parse_target  # noqa: E402

D, WWW, MX, NS1, NS2 = df.DOMAIN, df.WWW, df.MX, df.NS1, df.NS2
NX, TIMEOUT, SERVFAIL = Outcome.NXDOMAIN, Outcome.TIMEOUT, Outcome.SERVFAIL
#: what the DNS collector records for a probe it had no time left for
SKIPPED = "skipped: the target's scan deadline was near"


class DnsTable(CheckTable):
    """The shared table harness, with rows whose facts may be a tuple (DNS snapshot + TLS facts)."""

    def run(self, check: type[Check], facts: Any, params: dict[str, Any] | None = None) -> list[Finding]:
        return run_on(D, check, facts, params)


TABLE = DnsTable("dns", D, lambda facts: facts)
META, CASES = TABLE.meta, TABLE.by_check
cases, case, verify = TABLE.cases, TABLE.case, TABLE.verify
SNAPSHOT_CHECKS = [c for c in dns.CHECKS if DnsSnapshot in c.requires and c is not dns.DomainTld]


# --------------------------------------------------------------------------------------------------
# Harness


def run_on(
    target: str, check: type[Check], facts: Any, params: dict[str, Any] | None = None
) -> list[Finding]:
    """Evaluate `check` for `target` on one facts object or a tuple of them."""
    meta = META[check.id]
    bag = FactBag(facts if isinstance(facts, tuple) else [facts])
    return list(check(meta, {**meta.params, **(params or {})}, parse_target(target)).evaluate(bag))


def one(check: type[Check], facts: Any, target: str = D) -> Finding:
    (finding,) = run_on(target, check, facts)
    return finding


def contains(text: str) -> Callable[[Any], bool]:
    return lambda value: text in str(value)


@dataclasses.dataclass(frozen=True)
class TargetCase:
    """A row judged for another target than the table's (an IP, a network, a URL, another TLD)."""

    target: str
    facts: Facts
    status: Status
    message: str
    expect: dict[str, Any]


def target_case(case_id: str, target: str, facts: Facts, status: Status, message: str, **expect: Any) -> Any:
    return pytest.param(TargetCase(target, facts, status, message, expect), id=case_id)


def verify_on(check: type[Check], row: TargetCase) -> Finding:
    """verify() for a TargetCase: the same assertions, for the row's own target."""
    (finding,) = run_on(row.target, check, row.facts)
    assert (finding.status, finding.message_id) == (row.status, row.message), finding
    for key, wanted in row.expect.items():
        special = {
            "severity": finding.severity,
            "resource": finding.resource,
            "error_kind": finding.error.kind if finding.error else None,
        }
        actual = special[key] if key in special else finding.params.get(key, finding.evidence.get(key))
        assert wanted(actual) if callable(wanted) else actual == wanted, f"{key}={actual!r}"
    return finding


def single_ns(*addresses: Any, host: str = NS1, **kw: Any) -> DnsSnapshot:
    """The healthy snapshot delegated to one NS host with these addresses (for per-address checks)."""
    return df.healthy(nameservers=(df.nameserver(host, *addresses, **kw),))


def with_ns2(*addresses: Any, resolution: Outcome = Outcome.NOERROR) -> DnsSnapshot:
    """The healthy snapshot whose second NS host is replaced."""
    ns1 = df.nameservers()[0]
    return df.healthy(nameservers=(ns1, df.nameserver(NS2, *addresses, resolution=resolution)))


def tls_cert(issuer: str, *sans: str, host: str = WWW) -> TlsFacts:
    """TLS facts with one HTTPS endpoint under the domain serving a leaf from `issuer`."""
    leaf = tf.certificate(issuer=issuer, sans=sans or (WWW, D))
    return tf.tls_facts(tf.endpoint(host, chain=(leaf, tf.intermediate())))


LE = "CN=R11,O=Let's Encrypt,C=US"
SECTIGO = "CN=Sectigo RSA Domain Validation Secure Server CA,O=Sectigo Limited,L=Salford,C=GB"
ZEROSSL = "CN=ZeroSSL RSA Domain Secure Site CA,O=ZeroSSL,C=AT"
UNKNOWN_CA = tf.CA_NAME


def caa(*records: str, name: str = D) -> DnsSnapshot:
    return df.put(df.healthy(), df.answer(name, "CAA", *records))


def cname(host: str, target: str, *, sources: tuple[str, ...] = ("common",), **final: Outcome) -> DnsSnapshot:
    """The healthy snapshot with `host` CNAME `target`, whose A/AAAA answers have the `final` outcomes."""
    snap = df.with_hosts(df.healthy(), **{host: sources})
    answers = [df.answer(host, "CNAME", f"{target}.")]
    answers += [df.answer(target, rdtype, outcome=o) for rdtype, o in final.items()]
    return df.put(snap, *answers)


# --------------------------------------------------------------------------------------------------
# Contract and shared rules


def test_every_check_has_metadata_and_every_table_a_check() -> None:
    assert sorted(c.id for c in dns.CHECKS) == sorted(META)
    assert len({c.id for c in dns.CHECKS}) == len(dns.CHECKS) == 11


def test_metadata_declares_effort_asset_and_rfc_or_https_references() -> None:
    for meta in META.values():
        assert meta.effort in ("quick", "ticket", "project"), meta.id
        assert meta.asset == ("domain" if meta.id in _DOMAIN_ASSET else "dns"), meta.id
        assert not meta.title.fr.lower().startswith("vérifier")
        for ref in meta.references:
            assert ref.url is None or ref.url.startswith("https://"), ref
    assert META["DNS-CAA"].effort == "quick"


_DOMAIN_ASSET = {"DNS-DOMAIN-EXPIRY", "DNS-REGISTRAR-LOCK", "DNS-DOMAIN-TLD"}


def test_anssi_numbers_are_cited_only_where_the_checklist_verified_them() -> None:
    # R-numbers verified (✔²) in the checklist: BP-038 R1/R2/R6, PA-066 R50+, PA-105 R14.
    allowed = {"BP-038": {"R1", "R2", "R6"}, "PA-066": {"R50+"}, "PA-105": {"R14"}}
    for meta in META.values():
        for ref in meta.references:
            for doc, numbers in allowed.items():
                if doc in ref.label:
                    cited = {w.strip(",()") for w in ref.label.split() if w.strip(",()").startswith("R")}
                    cited = {c for c in cited if c[1:2].isdigit()}
                    assert cited <= numbers, (meta.id, ref.label)


@pytest.mark.parametrize("check", dns.CHECKS, ids=lambda c: c.id)
def test_healthy_commune_passes(check: type[Check]) -> None:
    facts = (df.healthy(), df.rdap(), tls_cert(LE))
    found = run_on(D, check, facts)
    assert found and all(f.status is Status.PASS for f in found), [(f.status, f.message_id) for f in found]


@pytest.mark.parametrize("check", [c for c in dns.CHECKS if c is not dns.OpenResolver], ids=lambda c: c.id)
@pytest.mark.parametrize("target", ["192.0.2.10", "192.0.2.0/28"])
def test_address_targets_are_not_applicable(check: type[Check], target: str) -> None:
    facts = (DnsSnapshot(collected_at=df.COLLECTED_AT), RdapFacts(outcome="skipped"))
    (finding,) = run_on(target, check, facts)
    assert (finding.status, finding.message_id, finding.params["target"]) == (
        Status.NOT_APPLICABLE,
        "not_domain",
        target,
    )


@pytest.mark.parametrize("check", SNAPSHOT_CHECKS, ids=lambda c: c.id)
def test_nonexistent_domain_is_not_applicable(check: type[Check]) -> None:
    snap = df.snapshot(D, nxdomain=[(D, "SOA"), (D, "NS"), (D, "CAA")])
    (finding,) = run_on(D, check, snap)
    assert (finding.status, finding.message_id, finding.params["domain"]) == (
        Status.NOT_APPLICABLE,
        "no_domain",
        D,
    )
    assert finding.evidence["outcome"] == "NXDOMAIN"


@pytest.mark.parametrize("check", SNAPSHOT_CHECKS, ids=lambda c: c.id)
def test_nxdomain_beside_a_positive_answer_is_not_taken_as_nonexistence(check: type[Check]) -> None:
    snap = df.put(df.healthy(), df.answer(D, "TXT", outcome=NX))
    assert all(f.message_id != "no_domain" for f in run_on(D, check, snap))


@pytest.mark.parametrize("check", SNAPSHOT_CHECKS, ids=lambda c: c.id)
def test_snapshot_without_domain_is_an_error(check: type[Check]) -> None:
    (finding,) = run_on(D, check, DnsSnapshot(collected_at=df.COLLECTED_AT))
    assert finding.status is Status.ERROR and finding.error is not None
    assert finding.error.kind is ErrorKind.NO_FACTS


@pytest.mark.parametrize(
    "check", [dns.NsRedundancy, dns.NsLame, dns.AxfrOpen, dns.OpenResolver], ids=lambda c: c.id
)
@pytest.mark.parametrize(
    ("outcome", "kind"),
    [(TIMEOUT, ErrorKind.TIMEOUT), (SERVFAIL, ErrorKind.DNS_FAILURE), (None, ErrorKind.NO_FACTS)],
)
def test_no_name_server_recorded_is_an_error_naming_the_failed_query(
    check: type[Check], outcome: Outcome | None, kind: ErrorKind
) -> None:
    snap = df.healthy(nameservers=())
    if outcome is not None:
        snap = df.put(snap, df.answer(D, "NS", outcome=outcome))
    (finding,) = run_on(D, check, snap)
    assert finding.status is Status.ERROR and finding.error is not None
    assert finding.error.kind is kind
    assert (f"{D} NS: {outcome.value}" if outcome else "no name server") in finding.params["detail"]


def test_checks_are_deterministic() -> None:
    facts = (with_ns2(df.ns_address(df.NS2_V4, serial=1)), df.rdap(statuses=()), tls_cert(SECTIGO))
    for check in dns.CHECKS:
        assert run_on(D, check, facts) == run_on(D, check, facts)


def test_hostile_records_are_bounded_and_never_crash_a_check() -> None:
    garbage = ["\x00\x01 issue", "0 issue " + '"' + "x" * 5000 + '"', "not a record at all", "9" * 400]
    snap = df.put(
        df.healthy(),
        df.answer(D, "CAA", *garbage),
        df.answer(D, "MX", *garbage),
        df.answer(D, "NS", *garbage),
        df.answer(D, "TXT", "v=spf1 include:" + "a" * 3000 + " -all"),
    )
    snap = df.with_hosts(snap, **{"\u202eevil." + D: ("common",)})
    for check in dns.CHECKS:
        for finding in run_on(D, check, (snap, df.rdap(registrar="R" * 10_000))):
            assert len(str(finding.evidence)) < 40_000, check.id
            for value in finding.params.values():
                assert len(str(value)) <= 200, (check.id, value)


# --------------------------------------------------------------------------------------------------
# DNS-DNSSEC

DNSSEC = cases(
    dns.Dnssec,
    case("secure", df.healthy(), Status.PASS, "pass", status="secure", chain=["fr", D]),
    case(
        "insecure",
        df.healthy(dnssec=df.dnssec("insecure")),
        Status.WARN,
        "unsigned",
        severity=Severity.MEDIUM,
    ),
    case(
        "bogus",
        df.healthy(dnssec=df.dnssec("bogus")),
        Status.FAIL,
        "bogus",
        severity=Severity.HIGH,
        reason=contains("RRSIG SOA"),
    ),
    case(
        "indeterminate-timeout",
        df.healthy(dnssec=df.dnssec("indeterminate")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains("timed out"),
    ),
    case(
        "indeterminate-servfail",
        df.healthy(dnssec=df.dnssec("indeterminate", reason="DS mairie-exemple.fr: SERVFAIL")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
    ),
    case("no-verdict", df.healthy(dnssec=None), Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS),
    case(
        "unknown-status",
        df.healthy(dnssec=df.dnssec("weird")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.BUG,
    ),
)


@pytest.mark.parametrize("row", DNSSEC)
def test_dnssec(row: Case) -> None:
    verify(dns.Dnssec, row)


# --------------------------------------------------------------------------------------------------
# DNS-DNSSEC-ALGO


def signed(*keys: Any, **changes: Any) -> DnsSnapshot:
    return df.healthy(dnssec=df.dnssec(keys=keys, **changes) if keys else df.dnssec(**changes))


DNSSEC_ALGO = cases(
    dns.DnssecAlgo,
    case(
        "ecdsa-nsec3",
        df.healthy(),
        Status.PASS,
        "pass",
        algorithms="ECDSAP256SHA256 (13)",
        denial="NSEC3",
        # the DS RRSIG expiring in 2 days is the parent's: not judged
        signatures_expiring=[],
    ),
    case(
        "rsa2048-nsec",
        signed(df.key(algorithm=8, bits=2048), df.key(2, algorithm=8, flags=256, bits=2048), denial="nsec"),
        Status.PASS,
        "pass",
        algorithms="RSASHA256 (8)",
        denial="NSEC",
    ),
    case(
        "rsasha1-nsec3",
        signed(df.key(algorithm=7, bits=2048)),
        Status.FAIL,
        "weak_algorithm",
        severity=Severity.MEDIUM,
        weak="RSASHA1NSEC3SHA1 (7)",
    ),
    case(
        "rsasha1-beside-rsasha256",
        signed(df.key(algorithm=5, bits=2048), df.key(2, algorithm=8, bits=2048)),
        Status.FAIL,
        "weak_algorithm",
        weak="RSASHA1 (5)",
        algorithms="RSASHA1 (5), RSASHA256 (8)",
    ),
    case(
        "rsa1024",
        signed(df.key(algorithm=8, bits=2048), df.key(2, algorithm=8, flags=256, bits=1024)),
        Status.WARN,
        "small_rsa",
        severity=Severity.LOW,
        keys="2 (1024 bits)",
    ),
    case(
        "rsa-size-unknown-is-not-small",
        signed(df.key(algorithm=8, bits=None)),
        Status.PASS,
        "pass",
    ),
    case(
        "rsasha512",
        signed(df.key(algorithm=10, bits=2048)),
        Status.WARN,
        "unusual_algorithm",
        severity=Severity.LOW,
        unusual="RSASHA512 (10)",
    ),
    case(
        "unknown-algorithm",
        signed(df.key(algorithm=99, bits=None)),
        Status.WARN,
        "unusual_algorithm",
        unusual="99 (99)",
    ),
    case(
        "rrsig-expiring",
        signed(signatures=(df.signature("SOA", days=2.5), df.signature("DNSKEY"))),
        Status.WARN,
        "signature_expiring",
        severity=Severity.LOW,
        rrsets=f"{D} SOA (2026-11-04)",
        days="3",
    ),
    case(
        "rrsig-expired",
        signed(signatures=(df.signature("MX", days=-1),)),
        Status.WARN,
        "signature_expired",
        rrsets=f"{D} MX (2026-10-31)",
    ),
    case(
        "bogus-zone-keys-still-judged",
        df.healthy(dnssec=df.dnssec("bogus", signatures=(df.signature("SOA", days=-2),))),
        Status.WARN,
        "signature_expired",
    ),
    case(
        "weak-algorithm-beats-expiring",
        signed(df.key(algorithm=7, bits=2048), signatures=(df.signature("SOA", days=1),)),
        Status.FAIL,
        "weak_algorithm",
        signatures_expiring=[f"{D} SOA (2026-11-02)"],
    ),
    case(
        "no-collection-date",
        dataclasses.replace(signed(signatures=(df.signature("SOA", days=-5),)), collected_at=""),
        Status.PASS,
        "pass",
        signature_windows=contains("not judged"),
    ),
    case("unsigned", df.healthy(dnssec=df.dnssec("insecure")), Status.NOT_APPLICABLE, "unsigned"),
    case(
        "keys-unreadable",
        df.healthy(dnssec=df.dnssec("indeterminate", keys=())),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "secure-without-keys",
        df.healthy(dnssec=df.dnssec("secure", keys=())),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case("no-verdict", df.healthy(dnssec=None), Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS),
)


@pytest.mark.parametrize("row", DNSSEC_ALGO)
def test_dnssec_algo(row: Case) -> None:
    verify(dns.DnssecAlgo, row)


# --------------------------------------------------------------------------------------------------
# DNS-NS-REDUNDANCY

NS_REDUNDANCY = cases(
    dns.NsRedundancy,
    case(
        "two-networks-dual-stack",
        df.healthy(),
        Status.PASS,
        "pass",
        count="2",
        ipv6="2",
        where=contains("192.0.2.0/24, 198.51.100.0/24"),
        asn=contains("unknown"),
    ),
    case(
        "ipv6-on-one-server-only",
        with_ns2(df.NS2_V4),
        Status.PASS,
        "pass",
        ipv6="1",
        ipv6_answering=[NS1],
    ),
    case(
        "ipv6-not-answering-is-not-counted",
        df.healthy(
            nameservers=df.nameservers()[:1]
            + (df.nameserver(NS2, df.NS2_V4, df.ns_address(df.NS2_V6, answered=False)),)
        ),
        Status.PASS,
        "pass",
        ipv6="1",
    ),
    case("single", single_ns(df.NS1_V4, df.NS1_V6), Status.FAIL, "single", hosts=NS1, count="1"),
    case(
        "one-address",
        with_ns2(df.NS1_V4),
        Status.FAIL,
        "one_address",
        where=df.NS1_V4,
    ),
    case(
        "same-ipv4-24",
        df.healthy(nameservers=(df.nameserver(NS1, "192.0.2.53"), df.nameserver(NS2, "192.0.2.54"))),
        Status.WARN,
        "same_network",
        where="192.0.2.0/24",
    ),
    case(
        "ipv6-in-one-48",
        with_ns2(df.NS2_V4, "2001:db8:1::54"),
        Status.WARN,
        "same_network",
        where="2001:db8:1::/48",
    ),
    case(
        "second-host-without-address",
        with_ns2(resolution=Outcome.NODATA),
        Status.FAIL,
        "single",
        hosts=NS1,
    ),
    case(
        "second-host-unresolved",
        with_ns2(resolution=TIMEOUT),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains(NS2),
    ),
    case(
        "third-host-unresolved-two-good",
        df.healthy(nameservers=(*df.nameservers(), df.nameserver("ns3.x.net", resolution=SERVFAIL))),
        Status.PASS,
        "pass",
        unresolved=["ns3.x.net: SERVFAIL"],
    ),
    case(
        "no-address-at-all",
        df.healthy(
            nameservers=(
                df.nameserver(NS1, resolution=Outcome.NODATA),
                df.nameserver(NS2, resolution=Outcome.NXDOMAIN),
            )
        ),
        Status.NOT_TESTED,
        "no_addresses",
        hosts=f"{NS1}, {NS2}",
    ),
)


@pytest.mark.parametrize("row", NS_REDUNDANCY)
def test_ns_redundancy(row: Case) -> None:
    verify(dns.NsRedundancy, row)


# --------------------------------------------------------------------------------------------------
# DNS-NS-LAME

_V6_SILENT = tuple(
    df.nameserver(
        ns.host,
        *(a if ":" not in a.address else df.ns_address(a.address, answered=False) for a in ns.addresses),
    )
    for ns in df.nameservers()
)

NS_LAME = cases(
    dns.NsLame,
    case("all-authoritative", df.healthy(), Status.PASS, "pass", count="4", serials=[df.SERIAL]),
    case(
        "ns-name-nxdomain",
        with_ns2(resolution=NX),
        Status.FAIL,
        "takeover",
        severity=Severity.HIGH,
        hosts=NS2,
        nxdomain_hosts=[NS2],
    ),
    case(
        "takeover-beats-lame",
        df.healthy(
            nameservers=(
                df.nameserver(NS1, df.ns_address(df.NS1_V4, authoritative=False)),
                df.nameserver(NS2, resolution=NX),
            )
        ),
        Status.FAIL,
        "takeover",
    ),
    case(
        "address-silent",
        with_ns2(df.ns_address(df.NS2_V4, answered=False, detail="timed out"), df.NS2_V6),
        Status.FAIL,
        "lame",
        severity=Severity.MEDIUM,
        servers=f"{NS2} ({df.NS2_V4})",
    ),
    case(
        "not-authoritative",
        with_ns2(df.ns_address(df.NS2_V4, authoritative=False), df.NS2_V6),
        Status.FAIL,
        "lame",
        not_authoritative=[f"{NS2} ({df.NS2_V4})"],
    ),
    case(
        "host-without-address",
        with_ns2(resolution=Outcome.NODATA),
        Status.FAIL,
        "lame",
        hosts_without_address=[NS2],
    ),
    case(
        "scanner-without-ipv6",
        df.healthy(nameservers=_V6_SILENT),
        Status.PASS,
        "pass",
        count="2",
        unreachable_from_scanner=[f"{NS1} ({df.NS1_V6})", f"{NS2} ({df.NS2_V6})"],
    ),
    case(
        "nothing-answers-the-scanner",
        df.healthy(nameservers=df.nameservers(answered=False)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.UNREACHABLE,
        detail=contains("no name server"),
    ),
    case(
        "address-skipped-for-the-deadline-is-not-lame",
        with_ns2(df.ns_address(df.NS2_V4, answered=False, detail=SKIPPED), df.NS2_V6),
        Status.PASS,
        "pass",
        count="3",
        unreachable_from_scanner=[f"{NS2} ({df.NS2_V4})"],
    ),
    case(
        "no-route-from-the-scanner-is-not-lame",
        with_ns2(
            df.NS2_V4,
            df.ns_address(df.NS2_V6, answered=False, detail="OSError: [Errno 101] Network is unreachable"),
        ),
        Status.PASS,
        "pass",
        not_answering=[],
    ),
    case(
        "everything-skipped-for-the-deadline",
        df.healthy(nameservers=df.nameservers(answered=False, detail=SKIPPED)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DEADLINE,
    ),
    case(
        "host-unresolved",
        df.healthy(nameservers=(df.nameservers()[0], df.nameserver(NS2, resolution=TIMEOUT))),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "serial-mismatch",
        with_ns2(df.ns_address(df.NS2_V4, serial=df.SERIAL - 1), df.NS2_V6),
        Status.WARN,
        "serial_mismatch",
        serials=f"{df.SERIAL - 1}, {df.SERIAL}",
    ),
    case(
        "child-ns-set-differs",
        with_ns2(df.ns_address(df.NS2_V4, ns_set=(NS1, NS2, "ns3.old-provider.net")), df.NS2_V6),
        Status.WARN,
        "ns_mismatch",
        resolver=f"{NS1} {NS2}",
        child=contains("ns3.old-provider.net"),
    ),
    case(
        "child-ns-set-with-trailing-dots-and-case-is-the-same",
        with_ns2(df.ns_address(df.NS2_V4, ns_set=(NS1.upper() + ".", NS2 + ".")), df.NS2_V6),
        Status.PASS,
        "pass",
    ),
    case(
        "both-mismatch",
        with_ns2(df.ns_address(df.NS2_V4, serial=1, ns_set=(NS2,)), df.NS2_V6),
        Status.WARN,
        "both_mismatch",
        serials=f"1, {df.SERIAL}",
        child=f"{NS2} ({df.NS2_V4}): {NS2}",
    ),
)


@pytest.mark.parametrize("row", NS_LAME)
def test_ns_lame(row: Case) -> None:
    verify(dns.NsLame, row)


# --------------------------------------------------------------------------------------------------
# DNS-AXFR-OPEN

_SAMPLE = tuple(f"host{i}.{D} A" for i in range(10))

AXFR = cases(
    dns.AxfrOpen,
    case(
        "refused",
        single_ns(df.NS1_V4),
        Status.PASS,
        "refused",
        resource=f"{NS1} ({df.NS1_V4})",
        outcome="refused",
    ),
    case(
        "transferred",
        single_ns(df.ns_address(df.NS1_V4, axfr="transferred", records=42, sample=_SAMPLE)),
        Status.FAIL,
        "open",
        severity=Severity.HIGH,
        count="42",
        records=42,
        sample=list(_SAMPLE),
        server=f"{NS1} ({df.NS1_V4})",
    ),
    case(
        "attempt-timed-out",
        single_ns(df.ns_address(df.NS1_V4, axfr="error", detail="no answer within 2.0 s")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "attempt-connection-reset",
        single_ns(df.ns_address(df.NS1_V4, axfr="error", detail="connection reset")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.UNREACHABLE,
    ),
    case(
        "server-silent-no-attempt",
        single_ns(df.ns_address(df.NS1_V4, answered=False, axfr=None)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.UNREACHABLE,
    ),
    case(
        "server-skipped-for-the-deadline",
        single_ns(df.ns_address(df.NS1_V4, answered=False, axfr=None, detail=SKIPPED)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DEADLINE,
    ),
    # The scope bounds the recursion probe, not AXFR (a DNS query the collector always tries): an
    # address listed as not probed but with no attempt recorded is a gap, not "out of scope".
    case(
        "not-attempted-although-listed-out-of-scope",
        dataclasses.replace(
            single_ns(df.ns_address(df.NS1_V4, axfr=None)), not_probed=(f"{NS1} {df.NS1_V4}",)
        ),
        Status.ERROR,
        "error",
    ),
    case(
        "not-attempted-unexplained",
        single_ns(df.ns_address(df.NS1_V4, axfr=None)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
)


_NO_ADDRESS = df.healthy(
    nameservers=(df.nameserver(NS1, resolution=NX), df.nameserver(NS2, resolution=Outcome.NODATA))
)
AXFR += cases(
    dns.AxfrOpen,
    case("no-address-at-all", _NO_ADDRESS, Status.NOT_APPLICABLE, "no_addresses", hosts=contains("NXDOMAIN")),
    case(
        "addresses-unresolved",
        df.healthy(nameservers=(df.nameserver(NS1, resolution=TIMEOUT),)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
)


@pytest.mark.parametrize("row", AXFR)
def test_axfr_open(row: Case) -> None:
    verify(dns.AxfrOpen, row)


def test_axfr_judges_every_authoritative_address() -> None:
    snap = with_ns2(df.ns_address(df.NS2_V4, axfr="transferred", records=7, sample=("a A",)), df.NS2_V6)
    found = {f.resource: (f.status, f.message_id) for f in run_on(D, dns.AxfrOpen, snap)}
    assert found == {
        f"{NS1} ({df.NS1_V4})": (Status.PASS, "refused"),
        f"{NS1} ({df.NS1_V6})": (Status.PASS, "refused"),
        f"{NS2} ({df.NS2_V4})": (Status.FAIL, "open"),
        f"{NS2} ({df.NS2_V6})": (Status.PASS, "refused"),
    }


def test_axfr_evidence_keeps_count_and_a_short_sample_only() -> None:
    sample = tuple(f"n{i}.{D} A" for i in range(40))
    snap = single_ns(df.ns_address(df.NS1_V4, axfr="transferred", records=5000, sample=sample))
    finding = one(dns.AxfrOpen, snap)
    assert finding.evidence["records"] == 5000
    assert len(finding.evidence["sample"]) == 10


# --------------------------------------------------------------------------------------------------
# DNS-OPEN-RESOLVER

OPEN_RESOLVER = cases(
    dns.OpenResolver,
    case("refused", single_ns(df.NS1_V4), Status.PASS, "refused", server=f"{NS1} ({df.NS1_V4})"),
    case(
        "answered",
        single_ns(df.ns_address(df.NS1_V4, recursion="answered")),
        Status.FAIL,
        "open",
        severity=Severity.MEDIUM,
        outcome="answered",
    ),
    case("dropped", single_ns(df.ns_address(df.NS1_V4, recursion="no_answer")), Status.PASS, "dropped"),
    case(
        "dead-server",
        single_ns(df.ns_address(df.NS1_V4, answered=False, axfr=None, recursion="no_answer")),
        Status.NOT_APPLICABLE,
        "no_dns_service",
        count="1",
        addresses=[f"{NS1} ({df.NS1_V4})"],
        resource=D,
    ),
    case(
        "probe-error",
        single_ns(df.ns_address(df.NS1_V4, recursion="error")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.UNREACHABLE,
    ),
    case(
        "probe-skipped-for-the-deadline",
        single_ns(df.ns_address(df.NS1_V4, recursion="error", detail=SKIPPED)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DEADLINE,
    ),
    case(
        "nothing-in-scope",
        dataclasses.replace(
            df.healthy(nameservers=df.nameservers(recursion=None)),
            not_probed=(
                f"{NS1} {df.NS1_V4}",
                f"{NS1} {df.NS1_V6}",
                f"{NS2} {df.NS2_V4}",
                f"{NS2} {df.NS2_V6}",
            ),
        ),
        Status.NOT_TESTED,
        "no_scope",
        count="4",
        not_probed=contains(df.NS2_V6),
    ),
    case(
        "nothing-in-scope-not-listed",
        df.healthy(nameservers=df.nameservers(recursion=None)),
        Status.NOT_TESTED,
        "no_scope",
        count="4",
    ),
)


OPEN_RESOLVER += cases(
    dns.OpenResolver,
    case("no-address-at-all", _NO_ADDRESS, Status.NOT_APPLICABLE, "no_addresses", zone=D),
)


@pytest.mark.parametrize("row", OPEN_RESOLVER)
def test_open_resolver(row: Case) -> None:
    verify(dns.OpenResolver, row)


OPEN_RESOLVER_ADDRESSES = [
    target_case(
        "ip-open",
        "192.0.2.10",
        DnsSnapshot(recursion=(RecursionProbe("192.0.2.10", "answered"),), collected_at=df.COLLECTED_AT),
        Status.FAIL,
        "open",
        resource="192.0.2.10",
    ),
    target_case(
        "ip-refused",
        "192.0.2.10",
        DnsSnapshot(recursion=(RecursionProbe("192.0.2.10", "refused"),)),
        Status.PASS,
        "refused",
    ),
    target_case(
        "ip-nothing-listens",
        "192.0.2.10",
        DnsSnapshot(recursion=(RecursionProbe("192.0.2.10", "no_answer"),)),
        Status.NOT_APPLICABLE,
        "no_dns_service",
        count="1",
    ),
    target_case(
        "ip-not-probed",
        "192.0.2.10",
        DnsSnapshot(not_probed=("192.0.2.10 192.0.2.10",)),
        Status.NOT_TESTED,
        "no_scope",
    ),
    target_case(
        "ip-no-probe-recorded",
        "192.0.2.10",
        DnsSnapshot(),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
]


@pytest.mark.parametrize("row", OPEN_RESOLVER_ADDRESSES)
def test_open_resolver_on_addresses(row: TargetCase) -> None:
    verify_on(dns.OpenResolver, row)


def test_open_resolver_on_a_network_groups_silent_addresses() -> None:
    probes = [RecursionProbe(f"192.0.2.{i}", "no_answer") for i in range(1, 15)]
    probes[4] = RecursionProbe("192.0.2.5", "answered")
    found = run_on("192.0.2.0/28", dns.OpenResolver, DnsSnapshot(recursion=tuple(probes)))
    assert [(f.resource, f.status, f.message_id) for f in found] == [
        ("192.0.2.5", Status.FAIL, "open"),
        ("192.0.2.0/28", Status.NOT_APPLICABLE, "no_dns_service"),
    ]
    assert found[1].params["count"] == "13"


def test_open_resolver_mixed_scope_judges_probed_and_names_the_others() -> None:
    ns1 = df.nameserver(NS1, df.ns_address(df.NS1_V4, recursion="answered"), df.ns_address(df.NS1_V6))
    ns2 = df.nameserver(
        NS2, df.ns_address(df.NS2_V4, recursion=None), df.ns_address(df.NS2_V6, recursion=None)
    )
    snap = dataclasses.replace(
        df.healthy(nameservers=(ns1, ns2)), not_probed=(f"{NS2} {df.NS2_V4}", f"{NS2} {df.NS2_V6}")
    )
    found = [(f.resource, f.status, f.message_id) for f in run_on(D, dns.OpenResolver, snap)]
    assert found == [
        (f"{NS1} ({df.NS1_V4})", Status.FAIL, "open"),
        (f"{NS1} ({df.NS1_V6})", Status.PASS, "refused"),
        (f"{NS2} ({df.NS2_V4})", Status.NOT_TESTED, "out_of_scope"),
        (f"{NS2} ({df.NS2_V6})", Status.NOT_TESTED, "out_of_scope"),
    ]


# --------------------------------------------------------------------------------------------------
# DNS-CAA

_PORTAL = f"portail.{D}"

CAA = cases(
    dns.Caa,
    case(
        "letsencrypt-in-use",
        (df.healthy(), tls_cert(LE)),
        Status.PASS,
        "pass",
        cas="Let's Encrypt",
        allowed="letsencrypt.org",
        iodef=f"mailto:dsi@{D}",
    ),
    case(
        "no-tls-scan",
        df.healthy(),
        Status.PASS,
        "present",
        allowed="letsencrypt.org",
        certificates=[],
    ),
    case(
        "unknown-ca",
        (df.healthy(), tls_cert(UNKNOWN_CA)),
        Status.PASS,
        "present",
        unknown_issuers=[UNKNOWN_CA],
    ),
    case(
        "sectigo-excluded",
        (df.healthy(), tls_cert(SECTIGO)),
        Status.FAIL,
        "excludes_ca",
        severity=Severity.LOW,
        cas=f"Sectigo ({WWW}:443)",
        allowed="letsencrypt.org",
    ),
    case(
        "zerossl-is-sectigo",
        (caa('0 issue "sectigo.com"'), tls_cert(ZEROSSL)),
        Status.PASS,
        "pass",
        cas="ZeroSSL",
        iodef="-",
    ),
    case(
        "comodoca-domain-for-sectigo",
        (caa('0 issue "comodoca.com; account=1234"'), tls_cert(SECTIGO)),
        Status.PASS,
        "pass",
        allowed="comodoca.com",
    ),
    case(
        "issue-semicolon-forbids-all",
        (caa('0 issue ";"'), tls_cert(LE)),
        Status.FAIL,
        "excludes_ca",
        allowed=";",
    ),
    case(
        "wildcard-uses-issuewild",
        (caa('0 issue "digicert.com"', '0 issuewild "letsencrypt.org"'), tls_cert(LE, f"*.{D}", D)),
        Status.PASS,
        "pass",
        cas="Let's Encrypt",
    ),
    case(
        "wildcard-forbidden-by-issuewild",
        (caa('0 issue "letsencrypt.org"', '0 issuewild ";"'), tls_cert(LE, f"*.{D}")),
        Status.FAIL,
        "excludes_ca",
    ),
    case(
        "only-issuewild-leaves-plain-names-free",
        (caa('0 issuewild "digicert.com"'), tls_cert(LE)),
        Status.PASS,
        "pass",
        cas="Let's Encrypt",
    ),
    case(
        "certificate-of-another-domain-ignored",
        (df.healthy(), tls_cert(SECTIGO, "mx.provider.net", host="mx.provider.net")),
        Status.PASS,
        "present",
        certificates=[],
    ),
    case(
        "none",
        df.put(df.healthy(), df.answer(D, "CAA"), df.answer("fr", "CAA")),
        Status.WARN,
        "none",
        severity=Severity.LOW,
        climbed=[D, "fr"],
    ),
    case(
        "none-but-tld-not-asked",
        df.put(df.healthy(), df.answer(D, "CAA")),
        Status.WARN,
        "none",
        not_queried=["fr"],
    ),
    case(
        "inherited-from-parent",
        df.put(
            df.healthy(domain=_PORTAL),
            df.answer(_PORTAL, "A", "192.0.2.81"),
            df.answer(_PORTAL, "CAA"),
        ),
        Status.PASS,
        "present",
        resource=_PORTAL,
        owner=D,
    ),
    case(
        "timeout",
        df.put(df.healthy(), df.answer(D, "CAA", outcome=TIMEOUT)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains(f"{D} CAA: TIMEOUT"),
    ),
    case(
        "servfail-while-climbing",
        df.put(df.healthy(), df.answer(D, "CAA"), df.answer("fr", "CAA", outcome=SERVFAIL)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
    ),
    case(
        "never-asked",
        df.drop(df.healthy(), (D, "CAA")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case(
        "iodef-only",
        caa(f'0 iodef "mailto:dsi@{D}"'),
        Status.WARN,
        "no_issue",
        iodef=[f"mailto:dsi@{D}"],
    ),
    case(
        "critical-unknown-property",
        (caa('0 issue "letsencrypt.org"', '128 tbs "x"'), tls_cert(LE)),
        Status.FAIL,
        "critical_unknown",
        tags="tbs",
    ),
    case(
        "non-critical-unknown-property-ignored",
        caa('0 issue "letsencrypt.org"', '0 tbs "x"'),
        Status.PASS,
        "present",
    ),
    case(
        "garbage-record-beside-a-good-one",
        (caa('0 issue "letsencrypt.org"', "garbage"), tls_cert(LE)),
        Status.PASS,
        "pass",
        unparsed=["garbage"],
    ),
)


@pytest.mark.parametrize("row", CAA)
def test_caa(row: Case) -> None:
    verify(dns.Caa, row)


def test_caa_never_requires_tls_facts() -> None:
    # A DNS-only scan must not run sslyze: TLS facts are read only when another check needed them.
    assert dns.Caa.requires == (DnsSnapshot,)
    assert all(TlsFacts not in c.requires for c in dns.CHECKS)


def test_caa_table_is_a_parameter() -> None:
    facts = (caa('0 issue "exemple-trust.example"'), tls_cert(UNKNOWN_CA))
    params = {"ca_domains": {"Exemple Trust": ["exemple-trust.example"]}}
    (finding,) = TABLE.run(dns.Caa, facts, params)
    assert (finding.status, finding.message_id, finding.params["cas"]) == (
        Status.PASS,
        "pass",
        "Exemple Trust",
    )


# --------------------------------------------------------------------------------------------------
# DNS-DANGLING

_SITE = f"site.{D}"

DANGLING = cases(
    dns.Dangling,
    case("healthy", df.healthy(), Status.PASS, "pass", count="7", resource=D),
    case(
        "azure-app-service-nxdomain",
        cname(_SITE, "mairie-site.azurewebsites.net", A=NX),
        Status.FAIL,
        "takeover",
        severity=Severity.HIGH,
        resource=_SITE,
        service="Azure App Service",
        target="mairie-site.azurewebsites.net",
    ),
    case(
        "chain-followed-by-the-resolver",
        df.put(
            df.with_hosts(df.healthy(), **{_SITE: ("common",)}),
            DnsAnswer(_SITE, "A", NX, cname_chain=("old.trafficmanager.net",)),
        ),
        Status.FAIL,
        "takeover",
        service="Azure Traffic Manager",
    ),
    case(
        "two-hops-to-cloudapp",
        df.put(
            cname(_SITE, "edge.cdn-exemple.net"),
            df.answer("edge.cdn-exemple.net", "CNAME", "app.cloudapp.net."),
            df.answer("app.cloudapp.net", "A", outcome=NX),
        ),
        Status.FAIL,
        "takeover",
        cname_chain=["edge.cdn-exemple.net", "app.cloudapp.net"],
    ),
    case(
        "unknown-provider",
        cname(_SITE, "mairie.hebergeur-inconnu.net", A=NX, AAAA=NX),
        Status.WARN,
        "nxdomain_target",
        severity=Severity.HIGH,
        target="mairie.hebergeur-inconnu.net",
    ),
    case(
        "resolver-nxdomain-for-the-alias",
        df.put(cname(_SITE, "gone.hebergeur-inconnu.net"), df.answer(_SITE, "A", outcome=NX)),
        Status.WARN,
        "nxdomain_target",
    ),
    case(
        "broken-internal-alias",
        cname(_SITE, f"ancien.{D}", A=NX),
        Status.WARN,
        "broken_internal",
        severity=Severity.LOW,
    ),
    case(
        "alias-resolves",
        df.put(cname(_SITE, "mairie.hebergeur.net"), df.answer("mairie.hebergeur.net", "A", "203.0.113.7")),
        Status.PASS,
        "pass",
        count="8",
    ),
    case(
        "alias-target-nodata-exists",
        cname(_SITE, "mairie.azurewebsites.net", A=Outcome.NODATA),
        Status.PASS,
        "pass",
    ),
    case(
        "mx-target-nxdomain",
        df.put(
            df.healthy(),
            df.answer(MX, "A", outcome=NX),
            df.answer(MX, "AAAA", outcome=NX),
            df.answer(MX, "CNAME", outcome=NX),
        ),
        Status.FAIL,
        "missing_target",
        roles="MX",
        resource=MX,
    ),
    case(
        "mx-cname-to-nowhere",
        df.put(cname(MX, "relay.hebergeur-inconnu.net", sources=("mx",), A=NX)),
        Status.FAIL,
        "missing_target",
        roles="MX",
        target="relay.hebergeur-inconnu.net",
    ),
    case(
        "spf-include-nxdomain-found-by-the-walker",
        df.put(
            df.healthy(hostnames={WWW: ("www",)}),
            df.answer(D, "TXT", "v=spf1 include:_spf.ancien-prestataire.fr -all"),
            df.answer("_spf.ancien-prestataire.fr", "TXT", outcome=NX),
        ),
        Status.FAIL,
        "missing_target",
        roles="SPF",
        resource="_spf.ancien-prestataire.fr",
    ),
    case(
        "ns-host-nxdomain-from-the-delegation",
        df.healthy(
            hostnames={WWW: ("www",)},
            nameservers=(df.nameservers()[0], NameServer("ns.ancien-hebergeur.net", NX)),
        ),
        Status.FAIL,
        "missing_target",
        roles="NS",
        resource="ns.ancien-hebergeur.net",
    ),
    case(
        "nothing-examined",
        df.snapshot(D, {(D, "SOA"): ["x"]}),
        Status.NOT_TESTED,
        "no_hostnames",
    ),
    case(
        "names-never-queried",
        df.snapshot(D, {(D, "SOA"): ["x"]}, hostnames={WWW: ("www",)}),
        Status.NOT_TESTED,
        "no_hostnames",
        not_queried=[WWW],
    ),
)


@pytest.mark.parametrize("row", DANGLING)
def test_dangling(row: Case) -> None:
    verify(dns.Dangling, row)


def test_dangling_reports_each_dangling_name_and_no_pass() -> None:
    snap = df.put(
        cname(_SITE, "a.azurewebsites.net", A=NX),
        df.answer(f"blog.{D}", "CNAME", "gone.blog-host.net."),
        df.answer("gone.blog-host.net", "A", outcome=NX),
    )
    snap = df.with_hosts(snap, **{f"blog.{D}": ("common",)})
    found = [(f.resource, f.status, f.message_id) for f in run_on(D, dns.Dangling, snap)]
    assert found == [
        (f"blog.{D}", Status.WARN, "nxdomain_target"),
        (_SITE, Status.FAIL, "takeover"),
    ]


@pytest.mark.parametrize(
    ("snap", "kind"),
    [
        pytest.param(
            cname(_SITE, "mairie.azurewebsites.net", A=TIMEOUT), ErrorKind.TIMEOUT, id="target-timeout"
        ),
        pytest.param(
            df.put(
                df.with_hosts(df.healthy(), **{_SITE: ("common",)}),
                df.answer(_SITE, "CNAME", outcome=SERVFAIL),
            ),
            ErrorKind.DNS_FAILURE,
            id="cname-query-servfail",
        ),
    ],
)
def test_dangling_error_on_one_name_does_not_hide_the_others(snap: DnsSnapshot, kind: ErrorKind) -> None:
    error, passed = run_on(D, dns.Dangling, snap)
    assert (error.resource, error.status, error.error and error.error.kind) == (_SITE, Status.ERROR, kind)
    # the names that could be judged are still reported (never a pass for the failed one)
    assert (passed.resource, passed.status, passed.params["count"]) == (D, Status.PASS, "7")
    assert _SITE not in passed.evidence["examined"]


def test_dangling_cname_loop_terminates() -> None:
    snap = df.put(
        df.with_hosts(df.healthy(), **{f"a.{D}": ("common",)}),
        df.answer(f"a.{D}", "CNAME", f"b.{D}."),
        df.answer(f"b.{D}", "CNAME", f"a.{D}."),
    )
    found = run_on(D, dns.Dangling, snap)
    assert found  # no hang, no crash; the loop's end was never queried for addresses
    assert all(f.status in (Status.PASS, Status.NOT_TESTED) for f in found)


def test_dangling_takeover_table_is_a_parameter() -> None:
    snap = cname(_SITE, "x.pages.exemple.net", A=NX)
    (finding,) = TABLE.run(dns.Dangling, snap, {"takeover_suffixes": {"pages.exemple.net": "Exemple Pages"}})
    assert (finding.status, finding.params["service"]) == (Status.FAIL, "Exemple Pages")


def test_dangling_suffix_itself_is_not_a_claimable_resource() -> None:
    snap = cname(_SITE, "azurewebsites.net", A=NX)
    assert one(dns.Dangling, snap).message_id == "nxdomain_target"


# --------------------------------------------------------------------------------------------------
# DNS-DOMAIN-EXPIRY

EXPIRY = cases(
    dns.DomainExpiry,
    case("200-days", df.rdap(), Status.PASS, "pass", days="200", date="2027-05-20", resource=D),
    case("91-days", df.rdap(expiration=df.at(91)), Status.PASS, "pass", days="91"),
    case("90-days", df.rdap(expiration=df.at(90)), Status.WARN, "soon", severity=Severity.MEDIUM, days="90"),
    case("30-days", df.rdap(expiration=df.at(30)), Status.WARN, "soon", days="30"),
    case(
        "just-under-30-days",
        df.rdap(expiration=df.at(29.9)),
        Status.FAIL,
        "expiring",
        severity=Severity.HIGH,
        days="29",
    ),
    case("expired", df.rdap(expiration=df.at(-1)), Status.FAIL, "expired", date="2026-10-31"),
    case(
        "zulu-date",
        df.rdap(expiration="2027-05-20T12:00:00Z"),
        Status.PASS,
        "pass",
        days="200",
    ),
    case(
        "pending-delete",
        df.rdap(statuses=("pending delete",), expiration=df.at(300)),
        Status.FAIL,
        "pending_delete",
        statuses="pending delete",
    ),
    case(
        "redemption-period",
        df.rdap(statuses=("redemption period", "client hold")),
        Status.FAIL,
        "pending_delete",
        statuses="redemption period",
    ),
    case(
        "not-registered",
        df.rdap(outcome="not_found", expiration=None, statuses=()),
        Status.FAIL,
        "not_registered",
        severity=Severity.HIGH,
    ),
    case(
        "rdap-unreachable",
        df.rdap(outcome="unreachable", detail="timed out after 5 s"),
        Status.NOT_TESTED,
        "unreachable",
        reason="timed out after 5 s",
    ),
    case(
        "tld-without-rdap",
        df.rdap(outcome="unsupported", detail="no RDAP service for .xyz"),
        Status.NOT_TESTED,
        "unsupported",
        reason="no RDAP service for .xyz",
    ),
    case(
        "invalid-answer",
        df.rdap(outcome="invalid", detail="not JSON"),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
    case(
        "skipped-for-a-domain",
        df.rdap(outcome="skipped"),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case("unknown-outcome", df.rdap(outcome="weird"), Status.ERROR, "error", error_kind=ErrorKind.BUG),
    case("no-expiry-published", df.rdap(expiration=None), Status.NOT_TESTED, "no_expiration"),
    case(
        "no-collection-date", df.rdap(collected_at=""), Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS
    ),
)


@pytest.mark.parametrize("row", EXPIRY)
def test_domain_expiry(row: Case) -> None:
    verify(dns.DomainExpiry, row)


@pytest.mark.parametrize(
    ("collected_at", "status"),
    [(df.COLLECTED_AT, Status.WARN), (df.at(-40), Status.PASS), (df.at(45), Status.FAIL)],
)
def test_expiry_is_judged_at_collection_time_never_the_clock(collected_at: str, status: Status) -> None:
    # Same registration, different collection instants: the verdict follows collected_at only.
    facts = df.rdap(expiration=df.at(60), collected_at=collected_at)
    assert one(dns.DomainExpiry, facts).status is status


def test_signature_windows_are_judged_at_collection_time_never_the_clock() -> None:
    snap = df.healthy(dnssec=df.dnssec(signatures=(df.signature("SOA", days=2),)))
    assert one(dns.DnssecAlgo, snap).message_id == "signature_expiring"
    earlier = dataclasses.replace(snap, collected_at=df.at(-10))
    assert one(dns.DnssecAlgo, earlier).message_id == "pass"
    later = dataclasses.replace(snap, collected_at=df.at(5))
    assert one(dns.DnssecAlgo, later).message_id == "signature_expired"


# --------------------------------------------------------------------------------------------------
# DNS-REGISTRAR-LOCK

_CLIENT = ("client transfer prohibited", "client update prohibited", "client delete prohibited")
_SERVER = ("server transfer prohibited", "server update prohibited", "server delete prohibited")

REGISTRAR_LOCK = cases(
    dns.RegistrarLock,
    case("all-locks", df.rdap(), Status.PASS, "pass", registrar="Registrar Exemple SAS"),
    case("registry-lock-supersedes-client", df.rdap(statuses=_SERVER), Status.PASS, "pass"),
    case(
        "camel-case-statuses",
        df.rdap(statuses=tuple(s.title().replace(" ", "") for s in _CLIENT + _SERVER)),
        Status.PASS,
        "pass",
    ),
    case(
        "client-locks-only",
        df.rdap(statuses=("active", *_CLIENT)),
        Status.WARN,
        "partial",
        severity=Severity.LOW,
        missing="serverTransferProhibited, serverUpdateProhibited, serverDeleteProhibited",
    ),
    case(
        "transfer-lock-only",
        df.rdap(statuses=("client transfer prohibited",)),
        Status.WARN,
        "partial",
        missing=contains("clientUpdateProhibited"),
    ),
    case(
        "no-lock",
        df.rdap(statuses=("active",)),
        Status.WARN,
        "no_transfer_lock",
        registrar="Registrar Exemple SAS",
    ),
    case(
        "no-status-no-registrar",
        df.rdap(statuses=(), registrar=None),
        Status.WARN,
        "no_transfer_lock",
        registrar="-",
    ),
    case(
        "not-registered",
        df.rdap(outcome="not_found", statuses=()),
        Status.NOT_APPLICABLE,
        "not_registered",
    ),
    case(
        "rdap-unreachable",
        df.rdap(outcome="unreachable", detail="connection refused"),
        Status.NOT_TESTED,
        "unreachable",
        reason="connection refused",
    ),
    case(
        "tld-without-rdap",
        df.rdap(outcome="unsupported", detail=None),
        Status.NOT_TESTED,
        "unsupported",
        reason="unsupported",
    ),
    case("invalid-answer", df.rdap(outcome="invalid"), Status.ERROR, "error", error_kind=ErrorKind.PROTOCOL),
)


@pytest.mark.parametrize("row", REGISTRAR_LOCK)
def test_registrar_lock(row: Case) -> None:
    verify(dns.RegistrarLock, row)


# --------------------------------------------------------------------------------------------------
# DNS-DOMAIN-TLD

_EMPTY = DnsSnapshot(collected_at=df.COLLECTED_AT)

DOMAIN_TLD = [
    target_case("fr", D, df.healthy(), Status.PASS, "pass", tld=".fr", lookalikes=contains("not observable")),
    target_case("gouv-fr", "www.prefecture.gouv.fr", _EMPTY, Status.PASS, "pass", tld=".fr"),
    target_case("eu", "ville-exemple.eu", _EMPTY, Status.PASS, "pass", tld=".eu"),
    target_case("reunion", "saint-exemple.re", _EMPTY, Status.PASS, "pass", tld=".re"),
    target_case(
        "url-host",
        "https://portail.mairie-exemple.fr/famille",
        _EMPTY,
        Status.PASS,
        "pass",
        resource="portail.mairie-exemple.fr",
    ),
    target_case(
        "generic-gtld",
        "ville-exemple.com",
        _EMPTY,
        Status.INFO,
        "other_tld",
        severity=Severity.INFO,
        tld=".com",
    ),
    target_case("foreign-cctld", "ville-exemple.de", _EMPTY, Status.INFO, "other_tld", tld=".de"),
    target_case(
        "wix",
        "mairie-exemple.wixsite.com",
        _EMPTY,
        Status.FAIL,
        "builder",
        severity=Severity.LOW,
        builder="wixsite.com",
    ),
    target_case(
        "e-monsite-under-fr-lookalike",
        "mairie-exemple.e-monsite.com",
        _EMPTY,
        Status.FAIL,
        "builder",
        builder="e-monsite.com",
    ),
    target_case("builder-itself-is-just-a-gtld", "wixsite.com", _EMPTY, Status.INFO, "other_tld"),
]


@pytest.mark.parametrize("row", DOMAIN_TLD)
def test_domain_tld(row: TargetCase) -> None:
    verify_on(dns.DomainTld, row)


# --------------------------------------------------------------------------------------------------
# Coverage of the metadata by the tables above

_ENGINE_MESSAGES = {"error", "out_of_scope"}
#: not_domain and no_domain: the shared-rule tests above, for every check that declares them
_COVERED_ELSEWHERE = {"not_domain", "no_domain"}
_TARGET_ROWS = {dns.OpenResolver.id: OPEN_RESOLVER_ADDRESSES, dns.DomainTld.id: DOMAIN_TLD}


def test_every_declared_message_is_exercised() -> None:
    for check in dns.CHECKS:
        declared = set(META[check.id].messages)
        rows = [p.values[0] for p in CASES.get(check.id, []) + _TARGET_ROWS.get(check.id, [])]
        exercised = {row.message for row in rows} | (_COVERED_ELSEWHERE & declared)
        assert declared - exercised == set(), check.id
        assert exercised - declared - _ENGINE_MESSAGES == set(), check.id


def test_shared_rule_messages_are_declared_where_they_can_occur() -> None:
    for check in dns.CHECKS:
        messages = set(META[check.id].messages)
        assert ("not_domain" in messages) is (check is not dns.OpenResolver), check.id
        assert ("no_domain" in messages) is (check in SNAPSHOT_CHECKS), check.id
