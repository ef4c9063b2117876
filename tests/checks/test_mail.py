"""MAIL checks: table-driven cases over recorded facts (tests/mail_factories.py); pure, no network."""

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

import mail_factories as mf  # noqa: E402
import tls_factories as tf  # noqa: E402
from cyberscan.checks import mail  # noqa: E402

from cyberscan.collectors.dns_facts import DnsAnswer, DnsSnapshot, Outcome  # noqa: E402
from cyberscan.collectors.mail_facts import MailFacts  # noqa: E402
from cyberscan.metadata import load_module_metadata  # noqa: E402
from cyberscan.models import ErrorKind, Finding, Severity, Status  # noqa: E402
from cyberscan.plugin import Check, FactBag  # noqa: E402
from cyberscan.targets import parse_target  # noqa: E402

D = mf.DOMAIN
MX1, MX2 = mf.MX1, mf.MX2
TXT = f"{D} TXT"
DMARC_NAME = f"_dmarc.{D}"
DMARC_TXT = f"{DMARC_NAME} TXT"
MX_RES = f"{D} MX"
SMTP1 = f"{MX1}:25 ({mf.MX1_V4})"
TLSA1 = f"_25._tcp.{MX1} TLSA"


class MailTable(CheckTable):
    """The shared table harness, with several kinds of facts per row (a `mf.Bundle`) and, for checks
    giving several findings, the one a row is about (`keep`)."""

    def run(self, check: type[Check], facts: Any, params: dict[str, Any] | None = None) -> list[Finding]:
        meta = self.meta[check.id]
        instance = check(meta, {**meta.params, **(params or {})}, self.target)
        return list(instance.evaluate(FactBag(mf.bundle(facts).items)))

    def verify_kept(self, check: type[Check], row: Case, keep: Callable[[Finding], bool]) -> Finding:
        found = [f for f in self.run(check, row.facts, row.params) if keep(f)]
        assert len(found) == 1, [(x.status, x.message_id, x.resource) for x in found]
        return _check_row(found[0], row)


def _check_row(finding: Finding, row: Case) -> Finding:
    assert (finding.status, finding.message_id) == (row.status, row.message), finding.params
    for key, wanted in row.expect.items():
        if key == "severity":
            actual: Any = finding.severity
        elif key == "resource":
            actual = finding.resource
        elif key == "error_kind":
            actual = finding.error.kind if finding.error else None
        elif key in finding.params:
            actual = finding.params[key]
        else:
            actual = finding.evidence.get(key, "<missing>")
        if callable(wanted):
            assert wanted(actual), f"{key}={actual!r}"
        else:
            assert actual == wanted, f"{key}={actual!r}"
    return finding


TABLE = MailTable("mail", D, mf.bundle)
META, CASES = TABLE.meta, TABLE.by_check
cases, case = TABLE.cases, TABLE.case


def verify(check: type[Check], row: Case) -> Finding:
    found = TABLE.run(check, row.facts, row.params)
    assert len(found) == 1, [(x.status, x.message_id, x.resource) for x in found]
    return _check_row(found[0], row)


def contains(text: str) -> Callable[[Any], bool]:
    return lambda value: text in str(value)


def spf(record: str, extra: dict[tuple[str, str], list[str]] | None = None) -> DnsSnapshot:
    return mf.dns({(D, "TXT"): [record], **(extra or {})})


def dmarc(*records: str, **options: Any) -> DnsSnapshot:
    return mf.dns({(DMARC_NAME, "TXT"): list(records)}, **options)


TIMEOUT_TXT = mf.dns(failed={(D, "TXT"): Outcome.TIMEOUT})
SERVFAIL_TXT = mf.dns(failed={(D, "TXT"): Outcome.SERVFAIL})
UNASKED_TXT = mf.dns(drop=[(D, "TXT")])
NO_MX = {(D, "MX"): []}


# --------------------------------------------------------------------------------------------------
# Contract and cross-cutting behaviour


def test_every_check_has_metadata_and_every_table_a_check() -> None:
    assert sorted(c.id for c in mail.CHECKS) == sorted(META)
    assert len(mail.CHECKS) == 15


def test_metadata_declares_effort_and_asset() -> None:
    for meta in META.values():
        assert meta.effort in ("quick", "ticket", "project"), meta.id
        assert meta.asset in ("mail", "dns"), meta.id
    assert (META["MAIL-DMARC-POLICY"].effort, META["MAIL-DMARC-POLICY"].asset) == ("quick", "dns")
    assert (META["MAIL-STARTTLS"].effort, META["MAIL-STARTTLS"].asset) == ("ticket", "mail")


def test_references_cite_anssi_numbers_only_where_verified() -> None:
    allowed = {"R42", "R44", "R46+", "R48+", "R51"}
    for meta in META.values():
        for ref in meta.references:
            assert ref.url is None or ref.url.startswith("https://www.rfc-editor.org/rfc/rfc"), ref
            if "PA-066" in ref.label:
                numbers = {
                    w.strip(",()") for w in ref.label.split() if w.startswith("R") and w[1:2].isdigit()
                }
                assert numbers <= allowed, ref


@pytest.mark.parametrize("target", ["192.0.2.10", "192.0.2.0/28"])
@pytest.mark.parametrize("check", mail.CHECKS, ids=lambda c: c.id)
def test_address_targets_are_not_applicable(check: type[Check], target: str) -> None:
    meta = META[check.id]
    found = list(check(meta, meta.params, parse_target(target)).evaluate(FactBag(mf.bundle().items)))
    assert [(f.status, f.message_id, f.resource, f.params["target"]) for f in found] == [
        (Status.NOT_APPLICABLE, "not_a_domain", target, target)
    ]


@pytest.mark.parametrize("check", mail.CHECKS, ids=lambda c: c.id)
def test_facts_without_a_domain_are_not_applicable(check: type[Check]) -> None:
    facts = mf.bundle(mf.dns(domain=""), mf.mail(domain=""))
    (finding,) = TABLE.run(check, facts)
    assert (finding.status, finding.message_id) == (Status.NOT_APPLICABLE, "not_a_domain")


@pytest.mark.parametrize("check", mail.CHECKS, ids=lambda c: c.id)
def test_the_healthy_commune_has_no_problem(check: type[Check]) -> None:
    found = TABLE.run(check, mf.bundle())
    assert found
    assert all(
        f.status in (Status.PASS, Status.INFO, Status.NOT_APPLICABLE, Status.NOT_TESTED) for f in found
    )
    assert all(f.error is None for f in found)


@pytest.mark.parametrize("check", mail.CHECKS, ids=lambda c: c.id)
def test_checks_are_deterministic(check: type[Check]) -> None:
    facts = mf.bundle(mf.dns(), mf.mail(opt_in=("open_relay",), mailbox=(mf.mailbox(143), mf.closed(110))))
    assert TABLE.run(check, facts) == TABLE.run(check, facts)


def test_requires_name_the_facts_each_check_reads() -> None:
    requires = {c.id: {f.kind for f in c.requires} for c in mail.CHECKS}
    assert requires["MAIL-SPF-PRESENT"] == {"dns"}
    assert requires["MAIL-MX-TLS"] == {"tls", "dns"}
    assert requires["MAIL-STARTTLS"] == {"dns", "mail"}
    assert requires["MAIL-OPEN-RELAY"] == {"dns", "mail"}


def test_evidence_from_the_target_is_bounded() -> None:
    banner = "220 " + "x" * 5000 + " Exim 4.96"
    (finding,) = TABLE.run(mail.Banner, mf.one(mf.smtp(banner=banner)))
    assert len(finding.evidence["banner"]) <= 512
    assert finding.status is Status.PASS  # the version sits beyond what is examined


# --------------------------------------------------------------------------------------------------
# MAIL-SPF-PRESENT

SPF_PRESENT = cases(
    mail.SpfPresent,
    case("one-valid", mf.dns(), Status.PASS, "pass", resource=TXT, record=mf.SPF, severity=Severity.HIGH),
    case(
        "none",
        spf("google-site-verification=x"),
        Status.FAIL,
        "missing",
        spf=[],
        txt=["google-site-verification=x"],
    ),
    case("nodata", mf.dns({(D, "TXT"): []}), Status.FAIL, "missing", outcome="NODATA"),
    case("nxdomain", mf.dns(nx=[(D, "TXT")]), Status.FAIL, "missing", outcome="NXDOMAIN"),
    case(
        "two",
        mf.dns({(D, "TXT"): ["v=spf1 -all", "v=spf1 mx -all"]}),
        Status.FAIL,
        "several",
        count=2,
        spf=["v=spf1 -all", "v=spf1 mx -all"],
    ),
    case(
        "syntax", spf("v=spf1 include -all"), Status.FAIL, "syntax", reason=contains("include needs a value")
    ),
    case("timeout", TIMEOUT_TXT, Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
    case("servfail", SERVFAIL_TXT, Status.ERROR, "error", error_kind=ErrorKind.DNS_FAILURE),
    case("not-asked", UNASKED_TXT, Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS),
    case(
        "skipped-at-the-deadline",
        mf.bundle(
            mf.dns(
                drop=[(D, "TXT")],
                queries=(
                    *mf.dns(drop=[(D, "TXT")]).queries,
                    DnsAnswer(
                        D, "TXT", Outcome.TIMEOUT, detail="skipped: the target's scan deadline was near"
                    ),
                ),
            )
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DEADLINE,
    ),
)


@pytest.mark.parametrize("row", SPF_PRESENT)
def test_spf_present(row: Case) -> None:
    verify(mail.SpfPresent, row)


# --------------------------------------------------------------------------------------------------
# MAIL-SPF-POLICY

SPF_POLICY = cases(
    mail.SpfPolicy,
    case("hard-fail", mf.dns(), Status.PASS, "pass", all="-", severity=Severity.MEDIUM),
    case(
        "softfail-with-reject",
        spf("v=spf1 mx ~all"),
        Status.PASS,
        "softfail_dmarc",
        policy="reject",
    ),
    case(
        "softfail-with-quarantine",
        mf.dns({(D, "TXT"): ["v=spf1 mx ~all"], (DMARC_NAME, "TXT"): ["v=DMARC1; p=quarantine"]}),
        Status.PASS,
        "softfail_dmarc",
        policy="quarantine",
    ),
    case(
        "softfail-with-none",
        mf.dns({(D, "TXT"): ["v=spf1 mx ~all"], (DMARC_NAME, "TXT"): ["v=DMARC1; p=none"]}),
        Status.WARN,
        "softfail",
        dmarc="none",
    ),
    case(
        "softfail-without-dmarc",
        mf.dns({(D, "TXT"): ["v=spf1 mx ~all"]}, nx=[(DMARC_NAME, "TXT")]),
        Status.WARN,
        "softfail",
        dmarc="absent",
    ),
    case(
        "softfail-with-broken-dmarc",
        mf.dns({(D, "TXT"): ["v=spf1 mx ~all"], (DMARC_NAME, "TXT"): ["v=DMARC1; p=maybe"]}),
        Status.WARN,
        "softfail",
        dmarc="invalid",
    ),
    case(
        "softfail-dmarc-timeout",
        mf.dns({(D, "TXT"): ["v=spf1 mx ~all"]}, failed={(DMARC_NAME, "TXT"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case("neutral", spf("v=spf1 mx ?all"), Status.FAIL, "neutral_all", severity=Severity.MEDIUM),
    case("no-all", spf("v=spf1 mx"), Status.FAIL, "no_all", all=None),
    case("plus-all", spf("v=spf1 +all"), Status.FAIL, "plus_all", severity=Severity.HIGH),
    case(
        "redirect-to-hard-fail",
        spf(
            "v=spf1 redirect=_spf.mairie-exemple.fr",
            {("_spf.mairie-exemple.fr", "TXT"): ["v=spf1 mx -all"]},
        ),
        Status.PASS,
        "pass",
        redirect="_spf.mairie-exemple.fr",
    ),
    case(
        "redirect-target-timeout",
        mf.dns(
            {(D, "TXT"): ["v=spf1 redirect=_spf.mairie-exemple.fr"]},
            failed={("_spf.mairie-exemple.fr", "TXT"): Outcome.TIMEOUT},
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains("_spf.mairie-exemple.fr"),
    ),
    case("no-spf", spf("other"), Status.NOT_APPLICABLE, "no_spf"),
    case(
        "two-records",
        mf.dns({(D, "TXT"): ["v=spf1 -all", "v=spf1 ~all"]}),
        Status.NOT_APPLICABLE,
        "invalid",
        reason="2 SPF records",
    ),
    case("txt-timeout", TIMEOUT_TXT, Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
)


@pytest.mark.parametrize("row", SPF_POLICY)
def test_spf_policy(row: Case) -> None:
    verify(mail.SpfPolicy, row)


# --------------------------------------------------------------------------------------------------
# MAIL-SPF-LOOKUPS


def includes(count: int, *, extra: str = "", fail_last: bool = False) -> DnsSnapshot:
    """An SPF record with `count` includes, each a plain ip4 record."""
    names = [f"i{n}.messagerie.net" for n in range(count)]
    zone: dict[tuple[str, str], list[str]] = {
        (D, "TXT"): [" ".join(["v=spf1", *(f"include:{n}" for n in names), extra, "-all"]).replace("  ", " ")]
    }
    zone.update({(n, "TXT"): ["v=spf1 ip4:203.0.113.7 -all"] for n in names})
    failed = {(names[-1], "TXT"): Outcome.TIMEOUT} if fail_last else {}
    return mf.dns(zone, failed=failed)


VOIDS = {(f"old{n}.{D}", t): [] for n in range(3) for t in ("A", "AAAA")}

SPF_LOOKUPS = cases(
    mail.SpfLookups,
    case("two", mf.dns(), Status.PASS, "pass", count="2", lookups=2, visited=[mf.SPF_INCLUDE]),
    case("eight", includes(8), Status.PASS, "pass", count="8"),
    case("nine", includes(9), Status.WARN, "near_limit", count="9", severity=Severity.MEDIUM),
    case("ten", includes(10), Status.WARN, "near_limit", count="10"),
    case("eleven", includes(11), Status.FAIL, "over", count="11"),
    case("ptr", includes(1, extra="ptr"), Status.WARN, "ptr", count="2", uses_ptr=True),
    case(
        "three-voids",
        spf(f"v=spf1 a:old0.{D} a:old1.{D} a:old2.{D} -all", VOIDS),
        Status.FAIL,
        "void",
        voids=3,
    ),
    case(
        "two-voids-allowed",
        spf(f"v=spf1 a:old0.{D} a:old1.{D} -all", VOIDS),
        Status.PASS,
        "pass",
        void_lookups=2,
    ),
    case(
        "include-without-spf",
        mf.dns({(D, "TXT"): ["v=spf1 include:gone.net -all"]}, nx=[("gone.net", "TXT")]),
        Status.FAIL,
        "permerror",
        reason="include:gone.net has no SPF record",
    ),
    case(
        "include-syntax",
        spf("v=spf1 include:bad.net -all", {("bad.net", "TXT"): ["v=spf1 foo -all"]}),
        Status.FAIL,
        "permerror",
        reason=contains("unknown mechanism"),
    ),
    case(
        "include-timeout",
        includes(3, fail_last=True),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains("3 lookups counted so far"),
    ),
    case(
        "include-not-recorded",
        mf.dns({(D, "TXT"): ["v=spf1 include:unasked.net -all"]}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case("over-proven-despite-timeout", includes(12, fail_last=True), Status.FAIL, "over", count="12+"),
    case("no-spf", spf("other"), Status.NOT_APPLICABLE, "no_spf"),
    case("syntax", spf("v=spf1 ip4:999.1.1.1 -all"), Status.NOT_APPLICABLE, "invalid"),
    case("txt-unasked", UNASKED_TXT, Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS),
    case("threshold-param", mf.dns(), Status.WARN, "near_limit", params={"pass_max_lookups": 1}, count="2"),
)


@pytest.mark.parametrize("row", SPF_LOOKUPS)
def test_spf_lookups(row: Case) -> None:
    verify(mail.SpfLookups, row)


# --------------------------------------------------------------------------------------------------
# MAIL-DMARC-PRESENT

SUB = f"services.{D}"

DMARC_PRESENT = cases(
    mail.DmarcPresent,
    case("own", mf.dns(), Status.PASS, "pass", resource=DMARC_TXT, record=mf.DMARC, found_at=DMARC_NAME),
    case(
        "inherited",
        mf.dns({(f"_dmarc.{SUB}", "TXT"): []}, domain=SUB),
        Status.PASS,
        "inherited",
        resource=f"_dmarc.{SUB} TXT",
        source=D,
        looked_at=[f"_dmarc.{SUB}", DMARC_NAME],
    ),
    case("missing", mf.dns(nx=[(DMARC_NAME, "TXT")]), Status.FAIL, "missing", severity=Severity.HIGH),
    case("other-txt-only", dmarc("some verification token"), Status.FAIL, "missing"),
    case("unparsable", dmarc("v=DMARC1; p=block"), Status.FAIL, "invalid", reason=contains("p=")),
    case(
        "two",
        dmarc("v=DMARC1; p=none", "v=DMARC1; p=reject"),
        Status.FAIL,
        "invalid",
        reason="2 DMARC records",
    ),
    case(
        "timeout",
        mf.dns(failed={(DMARC_NAME, "TXT"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "parent-servfail",
        mf.dns({(f"_dmarc.{SUB}", "TXT"): []}, failed={(DMARC_NAME, "TXT"): Outcome.SERVFAIL}, domain=SUB),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
    ),
    case(
        "not-asked", mf.dns(drop=[(DMARC_NAME, "TXT")]), Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS
    ),
)


@pytest.mark.parametrize("row", DMARC_PRESENT)
def test_dmarc_present(row: Case) -> None:
    verify(mail.DmarcPresent, row)


# --------------------------------------------------------------------------------------------------
# MAIL-DMARC-POLICY

PARKED_NONE = mf.parked({(DMARC_NAME, "TXT"): ["v=DMARC1; p=none; rua=mailto:d@x.fr"]})

DMARC_POLICY = cases(
    mail.DmarcPolicy,
    case("reject", mf.dns(), Status.PASS, "pass", policy="reject", source=D, issues=[]),
    case("reject-np", dmarc(f"{mf.DMARC}; np=reject"), Status.PASS, "pass_np", np="reject"),
    case(
        "none-with-mx",
        dmarc("v=DMARC1; p=none; rua=mailto:d@x.fr"),
        Status.FAIL,
        "none_sending",
        severity=Severity.MEDIUM,
        sending="MX",
    ),
    case(
        "none-spf-sender-no-mx",
        mf.dns({**NO_MX, (DMARC_NAME, "TXT"): ["v=DMARC1; p=none"]}),
        Status.FAIL,
        "none_sending",
        sending="SPF",
    ),
    case("none-parked", PARKED_NONE, Status.WARN, "none_parked", sending="no MX, no SPF sender"),
    case(
        "none-sending-unknown",
        mf.dns(
            {(D, "TXT"): ["v=spf1 -all"], (DMARC_NAME, "TXT"): ["v=DMARC1; p=none"]},
            failed={(D, "MX"): Outcome.TIMEOUT},
        ),
        Status.ERROR,
        "error",
        detail=contains("MX mairie-exemple.fr: TIMEOUT"),
    ),
    case(
        "quarantine",
        dmarc(f"v=DMARC1; p=quarantine; rua=mailto:d@{D}"),
        Status.WARN,
        "quarantine",
        issues=["p=quarantine"],
    ),
    case(
        "partial",
        dmarc(f"v=DMARC1; p=reject; pct=50; rua=mailto:d@{D}"),
        Status.WARN,
        "partial",
        pct=50,
        policy="reject",
    ),
    case(
        "weak-sp",
        dmarc(f"v=DMARC1; p=reject; sp=none; rua=mailto:d@{D}"),
        Status.WARN,
        "weak_sp",
        sp="none",
    ),
    case("sp-as-strong", dmarc(f"{mf.DMARC}; sp=reject"), Status.PASS, "pass", sp="reject", issues=[]),
    case("no-rua", dmarc("v=DMARC1; p=reject"), Status.WARN, "no_rua", issues=["no rua"]),
    case(
        "several-issues-first-named",
        dmarc("v=DMARC1; p=quarantine; pct=20; sp=none"),
        Status.WARN,
        "partial",
        issues=["pct=20", "p=quarantine", "sp=none", "no rua"],
    ),
    case(
        "inherited-sp",
        mf.dns(
            {
                (f"_dmarc.{SUB}", "TXT"): [],
                (DMARC_NAME, "TXT"): [f"v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@{D}"],
            },
            domain=SUB,
        ),
        Status.WARN,
        "quarantine",
        source=D,
        applies="quarantine",
    ),
    case("no-dmarc", mf.dns(nx=[(DMARC_NAME, "TXT")]), Status.NOT_APPLICABLE, "no_dmarc"),
    case("invalid", dmarc("v=DMARC1; pct=10"), Status.NOT_APPLICABLE, "invalid"),
    case(
        "timeout",
        mf.dns(failed={(DMARC_NAME, "TXT"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
)


@pytest.mark.parametrize("row", DMARC_POLICY)
def test_dmarc_policy(row: Case) -> None:
    verify(mail.DmarcPolicy, row)


# --------------------------------------------------------------------------------------------------
# MAIL-PARKED-DOMAIN

PARKED = cases(
    mail.ParkedDomain,
    case("null-mx", mf.parked(), Status.PASS, "pass", resource=D, null_mx=True, missing=[]),
    case("no-mx-at-all", mf.parked({(D, "MX"): []}), Status.PASS, "pass_no_null_mx", null_mx=False),
    case(
        "nothing-published",
        mf.parked({(D, "TXT"): []}, nx=[(DMARC_NAME, "TXT")]),
        Status.WARN,
        "unprotected",
        missing="v=spf1 -all, DMARC p=reject",
        severity=Severity.MEDIUM,
    ),
    case(
        "softfail-only",
        mf.parked({(D, "TXT"): ["v=spf1 ~all"]}),
        Status.WARN,
        "unprotected",
        missing="v=spf1 -all",
    ),
    case("dmarc-none", PARKED_NONE, Status.WARN, "unprotected", missing="DMARC p=reject"),
    case("mx", mf.dns(), Status.NOT_APPLICABLE, "sending", sending="MX"),
    case(
        "spf-designates-senders",
        mf.parked({(D, "TXT"): [f"v=spf1 include:{mf.SPF_INCLUDE} -all"]}),
        Status.NOT_APPLICABLE,
        "sending",
        sending="SPF",
    ),
    case(
        "plus-all-designates-everyone",
        mf.parked({(D, "TXT"): ["v=spf1 +all"]}),
        Status.NOT_APPLICABLE,
        "sending",
        sending="SPF",
    ),
    case("no-such-domain", mf.parked(nx=[(D, "MX")]), Status.NOT_APPLICABLE, "nxdomain"),
    case(
        "mx-timeout",
        mf.parked(failed={(D, "MX"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "txt-servfail",
        mf.parked(failed={(D, "TXT"): Outcome.SERVFAIL}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
    ),
    case(
        "dmarc-timeout",
        mf.parked(failed={(DMARC_NAME, "TXT"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
)


@pytest.mark.parametrize("row", PARKED)
def test_parked_domain(row: Case) -> None:
    verify(mail.ParkedDomain, row)


# --------------------------------------------------------------------------------------------------
# MAIL-DKIM

SEL1 = f"selector1._domainkey.{D}"


def dkim(*records: str, **options: Any) -> DnsSnapshot:
    return mf.dns({(SEL1, "TXT"): list(records)}, **options)


DKIM = cases(
    mail.Dkim,
    case(
        "rsa-2048",
        mf.dns(),
        Status.PASS,
        "pass",
        resource=f"{SEL1} TXT",
        key="RSA 2048 bits",
        selector="selector1",
        selectors_tried=list(mf.SELECTORS),
    ),
    case("ed25519", dkim(mf.ed25519_dkim()), Status.PASS, "pass", key="Ed25519"),
    case("rsa-4096-pkcs1", dkim(mf.rsa_dkim(3072, pkcs1=True)), Status.PASS, "pass", key="RSA 3072 bits"),
    case(
        "rsa-1024",
        dkim(mf.rsa_dkim(1024)),
        Status.WARN,
        "short",
        key="RSA 1024 bits",
        severity=Severity.MEDIUM,
    ),
    case("rsa-768", dkim(mf.rsa_dkim(768)), Status.FAIL, "weak", key="RSA 768 bits"),
    case("revoked", dkim("v=DKIM1; k=rsa; p="), Status.INFO, "revoked", selector="selector1"),
    case(
        "garbage-key", dkim("v=DKIM1; p=!!notbase64"), Status.WARN, "invalid", reason="p= is not valid base64"
    ),
    case("broken-record", dkim("v=DKIM1; k=rsa"), Status.WARN, "invalid", reason="no p= tag"),
    case(
        "none-found",
        dkim(),
        Status.NOT_TESTED,
        "not_found",
        resource=f"{D} DKIM",
        count=4,
        selectors_tried=list(mf.SELECTORS),
    ),
    case("unrelated-txt-ignored", dkim("v=spf1 -all"), Status.NOT_TESTED, "not_found"),
    case(
        "some-failed-none-found",
        mf.dns({(SEL1, "TXT"): []}, failed={(f"google._domainkey.{D}", "TXT"): Outcome.TIMEOUT}),
        Status.NOT_TESTED,
        "not_found",
        failed=["google: TIMEOUT"],
    ),
    case(
        "all-failed",
        mf.dns(failed={(f"{s}._domainkey.{D}", "TXT"): Outcome.SERVFAIL for s in mf.SELECTORS}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
    ),
    case("none-tried", mf.dns(dkim_selectors=()), Status.NOT_TESTED, "none_tried"),
    case("stricter-params", dkim(mf.rsa_dkim(1024)), Status.FAIL, "weak", params={"fail_below_bits": 2048}),
)


@pytest.mark.parametrize("row", DKIM)
def test_dkim(row: Case) -> None:
    verify(mail.Dkim, row)


def test_dkim_gives_one_finding_per_selector_found() -> None:
    snap = mf.dns({(f"google._domainkey.{D}", "TXT"): [mf.rsa_dkim(1024)]})
    found = TABLE.run(mail.Dkim, snap)
    assert [(f.resource, f.status) for f in found] == [
        (f"{SEL1} TXT", Status.PASS),
        (f"google._domainkey.{D} TXT", Status.WARN),
    ]


# --------------------------------------------------------------------------------------------------
# MAIL-MX-HYGIENE

O365 = "mairie-exemple-fr.mail.protection.outlook.com"

MX_HYGIENE = cases(
    mail.MxHygiene,
    case(
        "two-self-hosted",
        mf.dns(),
        Status.PASS,
        "pass",
        resource=MX_RES,
        count=2,
        hosts=f"{MX1}, {MX2}",
        providers="-",
    ),
    case(
        "single-provider",
        mf.dns(
            {(D, "MX"): [f"0 {O365}."], (O365, "CNAME"): [], (O365, "A"): ["52.101.68.1"], (O365, "AAAA"): []}
        ),
        Status.PASS,
        "pass",
        providers="Microsoft 365",
    ),
    case(
        "single-third-party",
        mf.dns(
            {
                (D, "MX"): ["10 mx.hebergeur-local.net."],
                ("mx.hebergeur-local.net", "A"): ["203.0.113.25"],
                ("mx.hebergeur-local.net", "AAAA"): [],
            }
        ),
        Status.PASS,
        "pass",
        count=1,
    ),
    case("single-self-hosted", mf.one_dns(), Status.WARN, "single", host=MX1, severity=Severity.MEDIUM),
    case(
        "nxdomain-host",
        mf.dns(nx=[(MX2, "A"), (MX2, "AAAA")]),
        Status.FAIL,
        "nxdomain",
        hosts=MX2,
    ),
    case(
        "no-host-resolves",
        mf.dns({(MX1, "A"): [], (MX1, "AAAA"): [], (MX2, "A"): []}),
        Status.FAIL,
        "unresolvable",
        hosts=f"{MX1}, {MX2}",
    ),
    case("one-host-without-address", mf.dns({(MX2, "A"): []}), Status.WARN, "address_missing", hosts=MX2),
    case(
        "ip-literal",
        mf.dns({(D, "MX"): [f"10 {MX1}.", "20 192.0.2.99."]}),
        Status.WARN,
        "ip_literal",
        hosts="192.0.2.99",
    ),
    case(
        "cname",
        mf.dns({(MX2, "CNAME"): [f"{O365}."]}),
        Status.WARN,
        "cname",
        hosts=MX2,
    ),
    case(
        "host-lookup-timeout",
        mf.dns(failed={(MX2, "A"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
        detail=contains(f"{MX2}: A TIMEOUT"),
    ),
    case(
        "nxdomain-beats-a-timeout",
        mf.dns(nx=[(MX2, "A"), (MX2, "AAAA")], failed={(MX1, "A"): Outcome.TIMEOUT}),
        Status.FAIL,
        "nxdomain",
    ),
    case("no-mx", mf.dns(NO_MX), Status.NOT_APPLICABLE, "no_mx"),
    case("null-mx", mf.parked(), Status.NOT_APPLICABLE, "null_mx"),
    case(
        "mx-timeout",
        mf.dns(failed={(D, "MX"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
)


@pytest.mark.parametrize("row", MX_HYGIENE)
def test_mx_hygiene(row: Case) -> None:
    verify(mail.MxHygiene, row)


def test_mx_hygiene_evidence_names_the_provider_behind_a_cname() -> None:
    (finding,) = TABLE.run(mail.MxHygiene, mf.dns({(MX2, "CNAME"): [f"{O365}."]}))
    hosts = {h["host"]: h for h in finding.evidence["hosts"]}
    assert hosts[MX2]["provider"] == "Microsoft 365" and hosts[MX2]["cname"] == [O365]


def test_mx_hygiene_judges_the_hosts_the_collectors_probed() -> None:
    # More than MAX_MX_HOSTS hosts: the ones beyond the cap were never queried, and are not judged.
    records = [f"{n} mx{n:02d}.{D}." for n in range(12)]
    zone = {(D, "MX"): records}
    zone.update({(f"mx{n:02d}.{D}", "A"): ["192.0.2.1"] for n in range(10)})
    zone.update({(f"mx{n:02d}.{D}", "AAAA"): [] for n in range(10)})
    (finding,) = TABLE.run(mail.MxHygiene, mf.dns(zone))
    assert (finding.status, finding.params["count"]) == (Status.PASS, 10)


# --------------------------------------------------------------------------------------------------
# MAIL-STARTTLS

STARTTLS = cases(
    mail.StartTls,
    case("offered-and-ok", mf.one(), Status.PASS, "pass", resource=SMTP1, version="TLSv1.3"),
    case(
        "not-offered",
        mf.one(mf.no_tls()),
        Status.FAIL,
        "not_offered",
        severity=Severity.HIGH,
        starttls_offered=False,
    ),
    case(
        "handshake-broken",
        mf.one(
            mf.smtp(
                starttls_ok=False,
                chain=(),
                tls_version=None,
                error_kind="tls",
                error="unexpected eof",
                starttls_error="unexpected eof",
            )
        ),
        Status.FAIL,
        "handshake_failed",
        reason="unexpected eof",
    ),
    case(
        "starttls-refused-by-reply",
        mf.one(
            mf.smtp(
                starttls_ok=False,
                chain=(),
                tls_version=None,
                starttls_error="STARTTLS refused: 454 TLS not available",
            )
        ),
        Status.FAIL,
        "handshake_failed",
        reason=contains("454"),
    ),
    case(
        "handshake-timeout",
        mf.one(
            mf.smtp(starttls_ok=False, chain=(), tls_version=None, error_kind="timeout", error="timed out")
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case("no-connection", mf.one(mf.dead()), Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
    case("refused", mf.one(mf.dead(kind="refused")), Status.ERROR, "error", error_kind=ErrorKind.UNREACHABLE),
    case(
        "ehlo-refused",
        mf.one(
            mf.smtp(
                ehlo=(),
                starttls_offered=False,
                starttls_ok=None,
                chain=(),
                error_kind="protocol",
                error="EHLO refused: 502",
            )
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
    case(
        "ehlo-answered-then-timeout",
        mf.one(mf.no_tls(error_kind="timeout", error="QUIT timed out")),
        Status.FAIL,
        "not_offered",
    ),
    case(
        "offered-not-attempted",
        mf.one(mf.smtp(starttls_ok=None, chain=(), tls_version=None)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.BUG,
    ),
    case(
        "host-without-address",
        mf.bundle(
            mf.one_dns({(MX1, "A"): [], (MX1, "AAAA"): []}),
            mf.one_mail(mf.SmtpProbe(MX1, "", 25, error_kind="dns", error="no address")),
        ),
        Status.NOT_APPLICABLE,
        "no_address",
        resource=f"{MX1}:25",
    ),
    case(
        "host-resolution-failed",
        mf.bundle(
            mf.one_dns(failed={(MX1, "A"): Outcome.TIMEOUT}),
            mf.one_mail(mf.SmtpProbe(MX1, "", 25, error_kind="timeout", error="A timed out")),
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "no-probe-recorded",
        mf.bundle(mf.one_dns(), mf.one_mail(mf.smtp(MX2))),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case(
        "collector-mx-lookup-failed",
        mf.bundle(
            mf.one_dns(),
            mf.one_mail(
                mf.SmtpProbe(D, "", 25, error_kind="timeout", error="MX lookup timed out"), mx_hosts=()
            ),
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains("MX lookup timed out"),
    ),
    case(
        "no-mx",
        mf.bundle(mf.dns(NO_MX), mf.mail(mx_hosts=(), smtp=())),
        Status.NOT_APPLICABLE,
        "no_mx",
        resource=MX_RES,
    ),
    case("null-mx", mf.bundle(mf.parked(), mf.mail(mx_hosts=(), smtp=())), Status.NOT_APPLICABLE, "no_mx"),
    case(
        "mx-servfail",
        mf.dns(failed={(D, "MX"): Outcome.SERVFAIL}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DNS_FAILURE,
    ),
)


@pytest.mark.parametrize("row", STARTTLS)
def test_starttls(row: Case) -> None:
    verify(mail.StartTls, row)


def test_starttls_judges_every_address_of_every_mx() -> None:
    facts = mf.bundle(mf.dns(), mf.mail(smtp=(mf.smtp(), mf.no_tls(MX1, mf.MX1_V6), mf.smtp(MX2, mf.MX2_V4))))
    found = TABLE.run(mail.StartTls, facts)
    assert [(f.resource, f.status) for f in found] == [
        (SMTP1, Status.PASS),
        (f"{MX1}:25 ({mf.MX1_V6})", Status.FAIL),
        (f"{MX2}:25 ({mf.MX2_V4})", Status.PASS),
    ]


# --------------------------------------------------------------------------------------------------
# MAIL-MX-TLS

MX_25 = f"{MX1}:25 (smtp)"
IMAPS = f"{MX1}:993 (imaps)"
MISMATCH = mf.mx_endpoint(
    chain=(tf.certificate(subject="CN=other.example", sans=("other.example",)), tf.intermediate()),
    hostname_matches=False,
)
SELF_SIGNED = mf.mx_endpoint(chain=(tf.self_signed(MX1),), trust=tf.untrusted())
LEAF, CA = mf.chain()


def mx_tls(
    endpoint: Any, *, mta_sts: str | None = "enforce", tlsa: list[str] | None = None, mail_facts: bool = True
) -> mf.Bundle:
    zone: dict[tuple[str, str], list[str]] = {}
    if mta_sts is None:
        zone[(f"_mta-sts.{D}", "TXT")] = []
    if tlsa is not None:
        zone[(f"_25._tcp.{MX1}", "TLSA")] = tlsa
    snap = mf.one_dns(zone)
    tls = mf.tls(endpoint)
    if not mail_facts:
        return mf.only(snap, tls)
    policy = mf.policy(mf.policy_body(mta_sts or "enforce"))
    return mf.bundle(snap, tls, mf.one_mail(mta_sts=policy if mta_sts else None))


MX_TLS = cases(
    mail.MxTls,
    case("port-25", mx_tls(mf.mx_endpoint()), Status.PASS, "pass", resource=MX_25, count=17, rules={}),
    case("imaps", mx_tls(mf.imaps_endpoint()), Status.PASS, "pass", resource=IMAPS),
    case(
        "imaps-expired",
        mx_tls(
            mf.imaps_endpoint(
                chain=(
                    tf.certificate(subject=f"CN={MX1}", sans=(MX1,), not_after="2025-05-30T00:00:00+00:00"),
                    tf.intermediate(),
                )
            )
        ),
        Status.FAIL,
        "fail",
        rules="TLS-CERT-VALIDITY",
        severity=Severity.HIGH,
    ),
    case(
        "imaps-name-mismatch-full-severity",
        mx_tls(dataclasses.replace(MISMATCH, port=993, service="imaps", starttls=None)),
        Status.FAIL,
        "fail",
        rules="TLS-CERT-NAME",
        escalated=[],
    ),
    case(
        "25-mismatch-mta-sts-enforce",
        mx_tls(MISMATCH),
        Status.FAIL,
        "fail_strict",
        rules="TLS-CERT-NAME",
        why="MTA-STS enforce",
        escalated=["TLS-CERT-NAME"],
        severity=Severity.HIGH,
    ),
    case(
        "25-mismatch-mta-sts-testing",
        mx_tls(MISMATCH, mta_sts="testing"),
        Status.WARN,
        "warn",
        rules="TLS-CERT-NAME",
        severity=Severity.MEDIUM,
        mta_sts="testing",
    ),
    case("25-mismatch-no-mta-sts", mx_tls(MISMATCH, mta_sts=None), Status.WARN, "warn", mta_sts=None),
    case(
        "25-mismatch-policy-not-collected",
        mx_tls(MISMATCH, mail_facts=False),
        Status.FAIL,
        "fail_strict",
        why="MTA-STS published",
    ),
    case(
        "25-mismatch-dane-ta",
        mx_tls(MISMATCH, mta_sts=None, tlsa=[CA.tlsa(2, 1, 1)]),
        Status.FAIL,
        "fail_strict",
        why="DANE-TA",
        dane_usages=[2],
    ),
    case(
        "25-mismatch-dane-ee-only",
        mx_tls(MISMATCH, mta_sts=None, tlsa=[LEAF.tlsa(3, 1, 1)]),
        Status.WARN,
        "warn",
        dane_usages=[3],
    ),
    case(
        "25-self-signed-mta-sts-enforce",
        mx_tls(SELF_SIGNED),
        Status.FAIL,
        "fail_strict",
        rules=contains("TLS-CERT-CHAIN"),
        escalated=lambda v: "TLS-CERT-CHAIN" in v,
    ),
    case(
        "25-self-signed-dane-ta-chain-not-escalated",
        mx_tls(
            dataclasses.replace(
                SELF_SIGNED, chain=(tf.self_signed(MX1, not_after="2026-01-01T00:00:00+00:00"),)
            ),
            mta_sts=None,
            tlsa=[CA.tlsa(2, 1, 1)],
        ),
        Status.WARN,
        "warn",
        rules=contains("TLS-CERT-CHAIN"),
        escalated=[],
    ),
    case(
        "25-tls10-stays-a-warning",
        mx_tls(mf.mx_endpoint(protocols=tf.protocols(tls10=["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"]))),
        Status.WARN,
        "warn",
        rules=contains("TLS-PROTO-LEGACY"),
    ),
    case(
        "outside-scope",
        mx_tls(
            dataclasses.replace(
                tf.passive_endpoint(),
                host=MX1,
                port=25,
                service="smtp",
                starttls="smtp",
                chain=(tf.certificate(subject=f"CN={MX1}", sans=(MX1,)), tf.intermediate()),
            )
        ),
        Status.PASS,
        "pass_partial",
        count=8,
        untested=9,
    ),
    case(
        "starttls-refused-no-tls-to-judge",
        mx_tls(
            dataclasses.replace(
                tf.dead_endpoint("not_tls", "no STARTTLS", host=MX1, port=25, service="smtp"),
                starttls="smtp",
            )
        ),
        Status.NOT_APPLICABLE,
        "starttls_refused",
        endpoint=MX_25,
    ),
    case(
        "dead-endpoint",
        mx_tls(tf.dead_endpoint("timeout", "no answer", host=MX1, port=25, service="smtp")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains("no answer"),
    ),
    case(
        "marked-out-of-scope",
        mx_tls(
            tf.dead_endpoint(
                "out_of_scope", "outside", host=MX1, port=993, service="imaps", active_allowed=False
            )
        ),
        Status.NOT_TESTED,
        "out_of_scope",
    ),
    case(
        "a-command-failed",
        mx_tls(tf.with_unavailable(mf.mx_endpoint(), tf.failed("heartbleed"))),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        detail=contains("TLS-VULN-KNOWN"),
    ),
    case(
        "a-fail-stands-beside-a-failed-command",
        mx_tls(
            tf.with_unavailable(
                mf.imaps_endpoint(protocols=tf.protocols(ssl3=["TLS_RSA_WITH_AES_128_CBC_SHA"])),
                tf.failed("heartbleed"),
            )
        ),
        Status.FAIL,
        "fail",
        rules=contains("TLS-PROTO-SSL"),
    ),
    case(
        "no-mail-endpoint-but-mx",
        mf.bundle(mf.one_dns(), mf.tls(tf.endpoint())),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case("no-mx", mf.bundle(mf.dns(NO_MX), tf.tls_facts(tf.endpoint())), Status.NOT_APPLICABLE, "no_mx"),
)


@pytest.mark.parametrize("row", MX_TLS)
def test_mx_tls(row: Case) -> None:
    verify(mail.MxTls, row)


def test_mx_tls_evidence_names_each_rule_not_passed() -> None:
    (finding,) = TABLE.run(mail.MxTls, mx_tls(MISMATCH))
    rule = finding.evidence["rules"]["TLS-CERT-NAME"]
    assert (rule["status"], rule["severity"], rule["message_id"]) == ("fail", "high", "mismatch_smtp")
    assert rule["params"]["host"] == MX1 and "endpoint" not in rule["params"]


def test_mx_tls_uses_the_tls_family_rules() -> None:
    # The severity of an escalated rule is the TLS check's own (metadata), not MAIL-MX-TLS's.
    tls_meta = load_module_metadata("cyberscan.checks", "tls")
    (finding,) = TABLE.run(mail.MxTls, mx_tls(MISMATCH))
    assert finding.severity is tls_meta["TLS-CERT-NAME"].severity
    assert len(finding.evidence["rules"]) == 1


def test_mx_tls_one_finding_per_mail_endpoint() -> None:
    facts = mf.bundle(mf.dns(), mf.tls(mf.mx_endpoint(), mf.mx_endpoint(MX2), mf.imaps_endpoint()))
    assert [f.resource for f in TABLE.run(mail.MxTls, facts)] == [MX_25, f"{MX2}:25 (smtp)", IMAPS]


# --------------------------------------------------------------------------------------------------
# MAIL-MTA-STS-TLSRPT

POLICY = mf.POLICY_URL
STS_NAME = f"_mta-sts.{D}"


def sts(policy: Any = "default", txt: list[str] | None = None, **options: Any) -> mf.Bundle:
    zone = {(STS_NAME, "TXT"): txt} if txt is not None else {}
    chosen = mf.policy() if policy == "default" else policy
    return mf.bundle(mf.dns(zone, **options), mf.mail(mta_sts=chosen))


def is_sts(finding: Finding) -> bool:
    return not finding.resource.startswith("_smtp._tls.")


def is_tlsrpt(finding: Finding) -> bool:
    return finding.resource.startswith("_smtp._tls.")


MTA_STS = cases(
    mail.MtaStsTlsrpt,
    case(
        "enforce",
        sts(),
        Status.PASS,
        "pass",
        resource=POLICY,
        url=POLICY,
        mode="enforce",
        severity=Severity.LOW,
    ),
    case("testing", sts(mf.policy(mf.policy_body("testing"))), Status.WARN, "mode_testing"),
    case("none", sts(mf.policy(mf.policy_body("none", "*.other.fr"))), Status.WARN, "mode_none"),
    case("absent", sts(None, txt=[]), Status.WARN, "absent", resource=f"{STS_NAME} TXT"),
    case("txt-without-id", sts(txt=["v=STSv1;"]), Status.FAIL, "invalid_txt", reason=contains("id=")),
    case(
        "two-txt",
        sts(txt=[mf.STS_TXT, "v=STSv1; id=2"]),
        Status.FAIL,
        "invalid_txt",
        reason="2 v=STSv1 records",
    ),
    case(
        "certificate-invalid",
        sts(mf.policy(tls_error="certificate verify failed: hostname mismatch")),
        Status.FAIL,
        "tls_error",
        reason=contains("hostname mismatch"),
    ),
    case(
        "not-found",
        sts(mf.policy(status=404, body="<h1>Not found</h1>")),
        Status.FAIL,
        "http_status",
        status="404",
    ),
    case("invalid-policy", sts(mf.policy("version: STSv1\nmode: enforce\n")), Status.FAIL, "invalid_policy"),
    case(
        "mx-not-covered",
        sts(mf.policy(mf.policy_body("enforce", f"{MX1}", "*.other.fr"))),
        Status.FAIL,
        "mx_mismatch",
        hosts=MX2,
        patterns=f"{MX1}, *.other.fr",
    ),
    case(
        "mx-not-covered-testing",
        sts(mf.policy(mf.policy_body("testing", "*.other.fr"))),
        Status.FAIL,
        "mx_mismatch",
    ),
    case(
        "fetch-timeout",
        sts(mf.MtaStsPolicy(POLICY, error_kind="timeout", error="timed out")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "fetch-out-of-scope",
        sts(mf.MtaStsPolicy(POLICY, error_kind="out_of_scope")),
        Status.NOT_TESTED,
        "out_of_scope",
    ),
    case("policy-missing", sts(None), Status.ERROR, "error", error_kind=ErrorKind.NO_FACTS),
    case(
        "txt-timeout",
        sts(failed={(STS_NAME, "TXT"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
        resource=f"{STS_NAME} TXT",
    ),
)


@pytest.mark.parametrize("row", MTA_STS)
def test_mta_sts(row: Case) -> None:
    TABLE.verify_kept(mail.MtaStsTlsrpt, row, is_sts)


TLSRPT_NAME = f"_smtp._tls.{D}"

TLSRPT = cases(
    mail.MtaStsTlsrpt,
    case(
        "present",
        mf.dns(),
        Status.INFO,
        "tlsrpt_present",
        resource=f"{TLSRPT_NAME} TXT",
        rua=f"mailto:tlsrpt@{D}",
    ),
    case("absent", mf.dns({(TLSRPT_NAME, "TXT"): []}), Status.INFO, "tlsrpt_absent"),
    case(
        "no-rua",
        mf.dns({(TLSRPT_NAME, "TXT"): ["v=TLSRPTv1;"]}),
        Status.WARN,
        "tlsrpt_invalid",
        severity=Severity.LOW,
        reason=contains("rua"),
    ),
    case(
        "two",
        mf.dns({(TLSRPT_NAME, "TXT"): [mf.TLSRPT, mf.TLSRPT + ",mailto:x@y.fr"]}),
        Status.WARN,
        "tlsrpt_invalid",
    ),
    case(
        "timeout",
        mf.dns(failed={(TLSRPT_NAME, "TXT"): Outcome.TIMEOUT}),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
)


@pytest.mark.parametrize("row", TLSRPT)
def test_tlsrpt(row: Case) -> None:
    TABLE.verify_kept(mail.MtaStsTlsrpt, row, is_tlsrpt)


def test_mta_sts_without_mx_is_one_not_applicable() -> None:
    found = TABLE.run(mail.MtaStsTlsrpt, mf.bundle(mf.dns(NO_MX), mf.mail(mx_hosts=(), smtp=())))
    assert [(f.status, f.message_id) for f in found] == [(Status.NOT_APPLICABLE, "no_mx")]


# --------------------------------------------------------------------------------------------------
# MAIL-DANE

OTHER_LEAF, _ = mf.chain(seed=1)


def dane(*tlsa: str, probes: tuple[Any, ...] = (), status: str = "secure", **options: Any) -> mf.Bundle:
    snap = mf.one_dns({(f"_25._tcp.{MX1}", "TLSA"): list(tlsa)}, dnssec=mf.secure(status), **options)
    return mf.bundle(snap, mf.one_mail(*probes))


DANE = cases(
    mail.Dane,
    case("absent", dane(), Status.INFO, "absent", resource=TLSA1, host=MX1),
    case("ee-spki-sha256", dane(LEAF.tlsa(3, 1, 1)), Status.PASS, "pass", dnssec="secure"),
    case("ee-cert-sha512", dane(LEAF.tlsa(3, 0, 2)), Status.PASS, "pass"),
    case("ee-full-spki", dane(LEAF.tlsa(3, 1, 0)), Status.PASS, "pass"),
    case("ta-cert-sha256", dane(CA.tlsa(2, 0, 1)), Status.PASS, "pass"),
    case(
        "one-of-two-records-matches",
        dane(OTHER_LEAF.tlsa(3, 1, 1), LEAF.tlsa(3, 1, 1)),
        Status.PASS,
        "pass",
        addresses=lambda rows: rows[0]["matched"] == LEAF.tlsa(3, 1, 1),
    ),
    case(
        "mismatch",
        dane(OTHER_LEAF.tlsa(3, 1, 1)),
        Status.FAIL,
        "mismatch",
        severity=Severity.HIGH,
        addresses=mf.MX1_V4,
    ),
    case(
        "ca-hash-under-dane-ee",
        dane(CA.tlsa(3, 1, 1)),
        Status.FAIL,
        "mismatch",
    ),
    case(
        "mismatch-on-one-address",
        dane(LEAF.tlsa(3, 1, 1), probes=(mf.smtp(), mf.smtp(MX1, mf.MX1_V6, chain=mf.presented(seed=1)))),
        Status.FAIL,
        "mismatch",
        addresses=mf.MX1_V6,
    ),
    case(
        "no-starttls",
        dane(LEAF.tlsa(3, 1, 1), probes=(mf.no_tls(),)),
        Status.FAIL,
        "no_tls",
        severity=Severity.HIGH,
    ),
    case(
        "handshake-broken",
        dane(
            LEAF.tlsa(3, 1, 1),
            probes=(mf.smtp(starttls_ok=False, chain=(), error_kind="tls", error="alert"),),
        ),
        Status.FAIL,
        "no_tls",
    ),
    case("pkix-only", dane(LEAF.tlsa(1, 1, 1)), Status.WARN, "unusable", severity=Severity.MEDIUM),
    case(
        "insecure-zone",
        dane(LEAF.tlsa(3, 1, 1), status="insecure"),
        Status.WARN,
        "not_secure",
        dnssec="insecure",
    ),
    case("bogus-zone", dane(LEAF.tlsa(3, 1, 1), status="bogus"), Status.WARN, "not_secure", dnssec="bogus"),
    case(
        "indeterminate-zone",
        dane(LEAF.tlsa(3, 1, 1), status="indeterminate"),
        Status.NOT_TESTED,
        "dnssec_unknown",
        dnssec="indeterminate",
    ),
    case(
        "mismatch-fails-even-unsigned",
        dane(OTHER_LEAF.tlsa(3, 1, 1), status="insecure"),
        Status.FAIL,
        "mismatch",
        dnssec="insecure",
    ),
    case(
        "tlsa-timeout",
        mf.bundle(mf.one_dns(failed={(f"_25._tcp.{MX1}", "TLSA"): Outcome.TIMEOUT}), mf.one_mail()),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "probe-timeout",
        dane(LEAF.tlsa(3, 1, 1), probes=(mf.dead(),)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case("no-mx", mf.bundle(mf.dns(NO_MX), mf.mail(mx_hosts=(), smtp=())), Status.NOT_APPLICABLE, "no_mx"),
    case(
        "tls-without-chain",
        dane(LEAF.tlsa(3, 1, 1), probes=(mf.smtp(chain=()),)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
)


@pytest.mark.parametrize("row", DANE)
def test_dane(row: Case) -> None:
    verify(mail.Dane, row)


def test_dane_on_a_provider_zone_uses_the_answers_ad_flag() -> None:
    host = "mx.provider-exemple.net"
    leaf, _ = mf.chain(host)
    base = mf.dns(
        {
            (D, "MX"): [f"10 {host}."],
            (host, "A"): ["203.0.113.25"],
            (f"_25._tcp.{host}", "TLSA"): [leaf.tlsa(3, 1, 1)],
        }
    )
    facts = mf.mail(mx_hosts=(host,), smtp=(mf.smtp(host, "203.0.113.25"),))
    (unknown,) = TABLE.run(mail.Dane, mf.bundle(base, facts))
    assert (unknown.status, unknown.message_id, unknown.params["dnssec"]) == (
        Status.NOT_TESTED,
        "dnssec_unknown",
        "unknown",
    )
    signed = dataclasses.replace(
        base,
        queries=tuple(
            dataclasses.replace(q, authenticated=True) if q.rdtype == "TLSA" else q for q in base.queries
        ),
    )
    (secure,) = TABLE.run(mail.Dane, mf.bundle(signed, facts))
    assert (secure.status, secure.message_id) == (Status.PASS, "pass")


def test_dane_gives_one_finding_per_mx_host() -> None:
    found = TABLE.run(mail.Dane, mf.bundle())
    assert [f.resource for f in found] == [TLSA1, f"_25._tcp.{MX2} TLSA"]


# --------------------------------------------------------------------------------------------------
# MAIL-OPEN-RELAY

RELAY_ON = ("open_relay",)

OPEN_RELAY = cases(
    mail.OpenRelay,
    case("not-run", mf.one(), Status.NOT_TESTED, "not_run", resource=MX_RES, severity=Severity.CRITICAL),
    case(
        "refused",
        mf.one(mf.smtp(relay="refused", relay_reply="554 5.7.1 Relay access denied"), opt_in=RELAY_ON),
        Status.PASS,
        "refused",
        resource=SMTP1,
        reply=contains("Relay access denied"),
    ),
    case(
        "accepted",
        mf.one(mf.smtp(relay="accepted", relay_reply="250 2.1.5 Ok"), opt_in=RELAY_ON),
        Status.FAIL,
        "accepted",
        severity=Severity.CRITICAL,
        relay="accepted",
    ),
    case(
        "relay-error",
        mf.one(mf.smtp(relay="error", relay_reply="EHLO: 421 too busy"), opt_in=RELAY_ON),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
    case(
        "out-of-scope-address",
        mf.one(mf.smtp(), opt_in=RELAY_ON, not_probed=(f"{MX1} {mf.MX1_V4}",)),
        Status.NOT_TESTED,
        "out_of_scope",
        host=MX1,
    ),
    case(
        "no-connection",
        mf.one(mf.dead(), opt_in=RELAY_ON),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
    case(
        "probe-missing",
        mf.one(mf.smtp(), opt_in=RELAY_ON),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.NO_FACTS,
    ),
    case(
        "no-mx",
        mf.bundle(mf.dns(NO_MX), mf.mail(mx_hosts=(), smtp=(), opt_in=RELAY_ON)),
        Status.NOT_APPLICABLE,
        "no_mx",
    ),
)


@pytest.mark.parametrize("row", OPEN_RELAY)
def test_open_relay(row: Case) -> None:
    verify(mail.OpenRelay, row)


# --------------------------------------------------------------------------------------------------
# MAIL-CLEARTEXT-AUTH


def with_auth(*keywords: str, starttls: bool = True) -> mf.Bundle:
    ehlo = ("PIPELINING", *keywords, *(("STARTTLS",) if starttls else ()))
    probe = mf.smtp(ehlo=ehlo) if starttls else mf.no_tls(ehlo=ehlo)
    return mf.one(probe)


def boxes(*probes: Any, **changes: Any) -> mf.Bundle:
    return mf.one(mailbox=probes, **changes)


def on_port(port: int) -> Callable[[Finding], bool]:
    return lambda f: f":{port} " in f.resource


CLEARTEXT_SMTP = cases(
    mail.CleartextAuth,
    case("no-auth", mf.one(), Status.PASS, "smtp_pass", resource=SMTP1, auth="-"),
    case(
        "plain-before-starttls",
        with_auth("AUTH PLAIN LOGIN"),
        Status.FAIL,
        "smtp_before_tls",
        auth="PLAIN, LOGIN",
        severity=Severity.HIGH,
    ),
    case("old-auth-form", with_auth("AUTH=LOGIN"), Status.FAIL, "smtp_before_tls", auth="LOGIN"),
    case("login-without-tls", with_auth("AUTH LOGIN", starttls=False), Status.FAIL, "smtp_no_tls"),
    case(
        "ntlm-only",
        with_auth("AUTH NTLM GSSAPI"),
        Status.WARN,
        "smtp_auth_exposed",
        auth="NTLM, GSSAPI",
        severity=Severity.MEDIUM,
    ),
    case("no-connection", mf.one(mf.dead()), Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
    case(
        "ehlo-refused",
        mf.one(
            mf.smtp(
                ehlo=(), starttls_offered=False, starttls_ok=None, error_kind="protocol", error="EHLO refused"
            )
        ),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
    case("no-mx", mf.bundle(mf.dns(NO_MX), mf.mail(mx_hosts=(), smtp=())), Status.NOT_APPLICABLE, "no_mx"),
)


@pytest.mark.parametrize("row", CLEARTEXT_SMTP)
def test_cleartext_auth_smtp(row: Case) -> None:
    TABLE.verify_kept(mail.CleartextAuth, row, lambda f: ":25 " in f.resource or f.resource == MX_RES)


CLEARTEXT_MAILBOX = cases(
    mail.CleartextAuth,
    case(
        "imap-login-before-tls",
        boxes(mf.mailbox(143, capabilities=("IMAP4REV1", "STARTTLS"), cleartext_auth=True)),
        Status.FAIL,
        "cleartext",
        protocol="IMAP",
        resource=f"{MX1}:143 (imap, {mf.MX1_V4})",
    ),
    case(
        "pop3-without-tls",
        boxes(mf.mailbox(110, starttls_offered=False, capabilities=("USER",), cleartext_auth=True)),
        Status.FAIL,
        "cleartext_no_tls",
        protocol="POP3",
    ),
    case("imap-logindisabled", boxes(mf.mailbox(143)), Status.WARN, "legacy_port", severity=Severity.MEDIUM),
    case("submission-auth-after-tls", boxes(mf.mailbox(587)), Status.PASS, "pass", protocol="SUBMISSION"),
    case(
        "proven-before-a-late-error",
        boxes(mf.mailbox(143, cleartext_auth=True, error_kind="timeout", error="LOGOUT timed out")),
        Status.FAIL,
        "cleartext",
    ),
    case(
        "dialogue-broke",
        boxes(mf.mailbox(143, capabilities=(), error_kind="protocol", error="garbage")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
)


@pytest.mark.parametrize("row", CLEARTEXT_MAILBOX)
def test_cleartext_auth_mailbox(row: Case) -> None:
    TABLE.verify_kept(mail.CleartextAuth, row, lambda f: ":25 " not in f.resource)


CLEARTEXT_SUMMARY = cases(
    mail.CleartextAuth,
    case(
        "all-closed",
        boxes(mf.closed(143), mf.closed(110, "timeout"), mf.closed(587)),
        Status.PASS,
        "closed",
        resource=f"{D} (143, 110, 587)",
        closed=lambda v: len(v) == 3,
    ),
    case(
        "outside-scope",
        boxes(not_probed=(f"{MX1} {mf.MX1_V4}",)),
        Status.NOT_TESTED,
        "not_probed",
        addresses=mf.MX1_V4,
    ),
)


@pytest.mark.parametrize("row", CLEARTEXT_SUMMARY)
def test_cleartext_auth_summary(row: Case) -> None:
    TABLE.verify_kept(mail.CleartextAuth, row, lambda f: f.resource.startswith(f"{D} ("))


def test_cleartext_auth_closed_ports_are_evidence_only_when_another_is_open() -> None:
    found = TABLE.run(mail.CleartextAuth, boxes(mf.mailbox(587), mf.closed(143)))
    assert [f.message_id for f in found] == ["smtp_pass", "pass"]


# --------------------------------------------------------------------------------------------------
# MAIL-BANNER


def banner(text: str) -> mf.Bundle:
    return mf.one(mf.smtp(banner=text))


BANNER = cases(
    mail.Banner,
    case("neutral", mf.one(), Status.PASS, "pass", resource=SMTP1, banner=f"220 {MX1} ESMTP"),
    case(
        "exim-version",
        banner(f"220 {MX1} ESMTP Exim 4.96 Mon, 02 Nov 2026 10:00:00 +0100"),
        Status.WARN,
        "version",
        product="Exim",
        version="4.96",
        severity=Severity.LOW,
    ),
    case(
        "exchange-2003",
        banner(f"220 {MX1} Microsoft ESMTP MAIL Service, Version: 6.0.3790.4675 ready at  Mon, 2 Nov 2026"),
        Status.WARN,
        "version",
        product="Microsoft Exchange",
        version="6.0.3790.4675",
    ),
    case(
        "exchange-2016",
        banner(f"220 {MX1} Microsoft ESMTP MAIL Service ready at Mon, 2 Nov 2026 10:00:00 +0100"),
        Status.INFO,
        "product",
        product="Microsoft Exchange",
    ),
    case(
        "postfix-os",
        banner(f"220 {MX1} ESMTP Postfix (Debian/GNU)"),
        Status.INFO,
        "product",
        product="Postfix",
    ),
    case(
        "sendmail",
        banner(f"220 {MX1} ESMTP Sendmail 8.15.2/8.15.2; Mon"),
        Status.WARN,
        "version",
        version="8.15.2",
    ),
    case("no-greeting", mf.one(mf.dead()), Status.NOT_TESTED, "no_banner", resource=MX_RES),
    case(
        "custom-products",
        banner(f"220 {MX1} ESMTP MonLogiciel 3.1"),
        Status.WARN,
        "version",
        params={"products": [{"name": "MonLogiciel", "pattern": r"MonLogiciel (?P<version>\d+\.\d+)"}]},
        product="MonLogiciel",
    ),
    case(
        "bad-pattern",
        mf.one(),
        Status.ERROR,
        "error",
        params={"products": [{"name": "X", "pattern": "("}]},
        error_kind=ErrorKind.BUG,
    ),
    case("no-mx", mf.bundle(mf.dns(NO_MX), mf.mail(mx_hosts=(), smtp=())), Status.NOT_APPLICABLE, "no_mx"),
)


@pytest.mark.parametrize("row", BANNER)
def test_banner(row: Case) -> None:
    verify(mail.Banner, row)


@pytest.mark.parametrize(
    ("text", "product", "version"),
    [
        ("* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.", "Dovecot", None),
        ("* OK mail.mairie-exemple.fr Cyrus IMAP v2.4.17-Debian-2.4.17 server ready", "Cyrus IMAP", "2.4.17"),
        ("* OK mail.mairie-exemple.fr Zimbra IMAP4rev1 server ready", "Zimbra", None),
        ("+OK The Microsoft Exchange POP3 service is ready.", "Microsoft Exchange", None),
        ("* OK [CAPABILITY IMAP4rev1] Courier-IMAP ready. Copyright 1998-2018", "Courier", None),
    ],
)
def test_banner_mailbox_greetings(text: str, product: str, version: str | None) -> None:
    found = TABLE.run(mail.Banner, boxes(mf.mailbox(143, banner=text)))
    (finding,) = [f for f in found if ":143 " in f.resource]
    assert finding.evidence["product"] == product
    assert finding.evidence.get("version") == version
    assert finding.status is (Status.WARN if version else Status.INFO)


# --------------------------------------------------------------------------------------------------
# Coverage of the metadata by the tables above

_ENGINE_MESSAGES = {"error", "out_of_scope", "no_address", "starttls_refused"}
#: messages exercised by the cross-cutting tests rather than by table rows
_COVERED_ELSEWHERE = {"not_a_domain"}
_COVERED_BY_TEST = {("MAIL-MTA-STS-TLSRPT", "no_mx")}


def test_every_declared_message_is_exercised() -> None:
    for check in mail.CHECKS:
        declared = set(META[check.id].messages)
        exercised = {p.values[0].message for p in CASES.get(check.id, [])} | _COVERED_ELSEWHERE
        exercised |= {m for c, m in _COVERED_BY_TEST if c == check.id}
        assert declared - exercised == set(), check.id
        assert exercised - declared - _ENGINE_MESSAGES == set(), check.id


def test_mail_facts_default_is_consistent_with_the_zone() -> None:
    # The factories' defaults must describe one coherent commune, or the tables above prove little.
    snap, facts = mf.dns(), mf.mail()
    assert isinstance(facts, MailFacts)
    assert set(facts.mx_hosts) == {MX1, MX2}
    assert snap.records(D, "MX") == (f"10 {MX1}.", f"20 {MX2}.")
