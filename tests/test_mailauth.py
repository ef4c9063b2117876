"""Shared mail-authentication parsing (cyberscan.collectors.mailauth): SPF walk, DMARC discovery, DKIM
keys, MTA-STS, TLS-RPT and DANE matching, over recorded answers (no network)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import mail_factories as mf
import pytest
from dns_factories import snapshot

from cyberscan.collectors.dns_facts import Outcome
from cyberscan.collectors.mailauth import (
    NOT_QUERIED,
    SPF_WALK_CAP,
    Lookup,
    RecordSyntaxError,
    TlsaRecord,
    dane_match,
    discover_dmarc,
    dmarc_names,
    is_dmarc_record,
    mx_host,
    mx_pattern_matches,
    parse_dkim_key,
    parse_dmarc,
    parse_mta_sts_policy,
    parse_spf,
    parse_sts_txt,
    parse_tlsa,
    parse_tlsrpt,
    spf_denies_all,
    tlsa_matches,
    walk_spf,
)

D = "mairie.fr"


def lookup(
    zone: Mapping[tuple[str, str], Iterable[str]],
    nx: Iterable[tuple[str, str]] = (),
    failed: Mapping[tuple[str, str], Outcome] | None = None,
) -> Lookup:
    """The recorded answers of a zone, as checks see them (a pair not listed was never asked)."""
    return snapshot(D, zone, nxdomain=nx, outcomes=failed).answer


# --------------------------------------------------------------------------------------------------
# SPF syntax


def test_parse_spf_terms_and_modifiers() -> None:
    terms = parse_spf("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/24 mx:mx.x.fr ~all exp=why.x.fr")
    assert [(t.qualifier, t.name, t.value) for t in terms] == [
        ("+", "ip4", "192.0.2.0/24"),
        ("+", "ip6", "2001:db8::/32"),
        ("+", "a", "/24"),
        ("+", "mx", "mx.x.fr"),
        ("~", "all", ""),
        ("", "exp", "why.x.fr"),
    ]


@pytest.mark.parametrize(
    "record",
    [
        "v=spf2 -all",
        "v=spf1 include -all",
        "v=spf1 foo:bar -all",
        "v=spf1 -all:x",
        "v=spf1 redirect=a.fr redirect=b.fr",
        "v=spf1 ip4:300.1.1.1 -all",  # fixed: an invalid network is a permerror
        "v=spf1 ip6:2001:zz::/32 -all",
        "v=spf1 ip4:192.0.2.0/33 -all",
    ],
)
def test_parse_spf_permerrors(record: str) -> None:
    with pytest.raises(RecordSyntaxError):
        parse_spf(record)


@pytest.mark.parametrize(
    ("record", "denies"),
    [
        ("v=spf1 -all", True),
        ("v=spf1 -all exp=explain.mairie.fr", True),
        ("v=spf1 ~all", False),
        ("v=spf1 mx -all", False),
        ("v=spf1 redirect=x.fr", False),
        ("v=spf1 -all -all -all junk", False),
    ],
)
def test_spf_denies_all(record: str, denies: bool) -> None:
    assert spf_denies_all(record) is denies


# --------------------------------------------------------------------------------------------------
# SPF walk


def test_walk_counts_the_tree_and_takes_the_top_all() -> None:
    walk = walk_spf(
        D,
        lookup(
            {
                (D, "TXT"): ["v=spf1 mx a include:_spf.p.net -all", "other text"],
                (D, "MX"): ["10 mx.mairie.fr."],
                ("mx.mairie.fr", "A"): ["192.0.2.25"],
                ("mx.mairie.fr", "AAAA"): [],
                (D, "A"): ["192.0.2.80"],
                (D, "AAAA"): [],
                ("_spf.p.net", "TXT"): ["v=spf1 ip4:203.0.113.0/24 ?all"],
            }
        ),
    )
    assert (walk.record, walk.lookups, walk.void_lookups, walk.all_qualifier) == (
        "v=spf1 mx a include:_spf.p.net -all",
        3,
        0,
        "-",
    )
    assert walk.visited == ["_spf.p.net"] and walk.permerror is None and walk.temperror is None


def test_no_spf_record_is_proven_by_an_answer() -> None:
    walk = walk_spf(D, lookup({(D, "TXT"): ["google-site-verification=x"]}))
    assert (walk.record, walk.temperror) == (None, None)
    walk = walk_spf(D, lookup({}, nx=[(D, "TXT")]))
    assert (walk.record, walk.temperror) == (None, None)


@pytest.mark.parametrize(
    ("failed", "outcome"),
    [
        ({(D, "TXT"): Outcome.TIMEOUT}, "TIMEOUT"),
        ({(D, "TXT"): Outcome.SERVFAIL}, "SERVFAIL"),
        ({}, NOT_QUERIED),
    ],
)
def test_top_lookup_failure_is_a_temperror_not_an_absence(
    failed: dict[tuple[str, str], Outcome], outcome: str
) -> None:
    # Bug fixed: a timed-out (or unrecorded) apex TXT query used to read as "no SPF record".
    walk = walk_spf(D, lookup({}, failed=failed))
    assert walk.record is None
    assert walk.temperror is not None and walk.temperror.startswith(f"TXT {D}")
    assert walk.temperror_outcome == outcome


def test_the_same_include_from_two_branches_is_not_a_loop() -> None:
    # Bug fixed: two includes that both include a third used to be reported as a loop (permerror).
    walk = walk_spf(
        D,
        lookup(
            {
                (D, "TXT"): ["v=spf1 include:a.net include:b.net -all"],
                ("a.net", "TXT"): ["v=spf1 include:common.net -all"],
                ("b.net", "TXT"): ["v=spf1 include:common.net -all"],
                ("common.net", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"],
            }
        ),
    )
    assert walk.permerror is None
    assert walk.lookups == 4  # each evaluation costs its lookups
    assert walk.visited == ["a.net", "common.net", "b.net"]


def test_a_real_include_loop_is_a_permerror() -> None:
    walk = walk_spf(
        D,
        lookup({(D, "TXT"): ["v=spf1 include:a.net -all"], ("a.net", "TXT"): [f"v=spf1 include:{D} -all"]}),
    )
    assert walk.permerror is not None and "loop" in walk.permerror


def test_terms_after_all_are_not_evaluated() -> None:
    # Bug fixed (RFC 7208 §5.1): mechanisms after "all" were counted as lookups.
    walk = walk_spf(D, lookup({(D, "TXT"): ["v=spf1 ip4:192.0.2.1 -all include:never.net a mx"]}))
    assert (walk.lookups, walk.all_qualifier, walk.permerror, walk.temperror) == (0, "-", None, None)


def test_an_include_not_recorded_is_a_temperror_not_a_permerror() -> None:
    # Bug fixed: an include the snapshot never asked about was reported "has no SPF record".
    walk = walk_spf(D, lookup({(D, "TXT"): ["v=spf1 include:missing.net -all"]}))
    assert walk.permerror is None
    assert walk.temperror == "TXT missing.net: not queried" and walk.temperror_outcome == NOT_QUERIED


def test_an_include_timeout_is_a_temperror() -> None:
    walk = walk_spf(
        D,
        lookup(
            {(D, "TXT"): ["v=spf1 include:slow.net -all"]},
            failed={("slow.net", "TXT"): Outcome.TIMEOUT},
        ),
    )
    assert walk.temperror == "TXT slow.net: TIMEOUT" and walk.temperror_outcome == "TIMEOUT"


def test_an_include_without_spf_is_a_void_permerror() -> None:
    walk = walk_spf(D, lookup({(D, "TXT"): ["v=spf1 include:gone.net -all"]}, nx=[("gone.net", "TXT")]))
    assert walk.void_lookups == 1
    assert walk.permerror == "include:gone.net has no SPF record"


def test_void_lookups_of_a_and_mx_terms() -> None:
    walk = walk_spf(
        D,
        lookup(
            {(D, "TXT"): ["v=spf1 a:old1.mairie.fr a:old2.mairie.fr mx:old3.mairie.fr -all"]},
            nx=[
                ("old1.mairie.fr", "A"),
                ("old1.mairie.fr", "AAAA"),
                ("old2.mairie.fr", "A"),
                ("old2.mairie.fr", "AAAA"),
                ("old3.mairie.fr", "MX"),
            ],
        ),
    )
    assert (walk.lookups, walk.void_lookups, walk.over_limit) == (3, 3, True)


def test_an_answered_a_settles_the_term_even_if_aaaa_failed() -> None:
    walk = walk_spf(
        D,
        lookup(
            {(D, "TXT"): ["v=spf1 a:web.mairie.fr -all"], ("web.mairie.fr", "A"): ["192.0.2.80"]},
            failed={("web.mairie.fr", "AAAA"): Outcome.TIMEOUT},
        ),
    )
    assert (walk.void_lookups, walk.temperror) == (0, None)


def test_a_failed_a_term_without_any_answer_is_a_temperror() -> None:
    walk = walk_spf(
        D,
        lookup(
            {(D, "TXT"): ["v=spf1 a:web.mairie.fr -all"], ("web.mairie.fr", "AAAA"): []},
            failed={("web.mairie.fr", "A"): Outcome.SERVFAIL},
        ),
    )
    assert walk.temperror == "A web.mairie.fr: SERVFAIL" and walk.void_lookups == 0


def test_mx_hosts_without_address_count_as_void() -> None:
    walk = walk_spf(
        D,
        lookup(
            {(D, "TXT"): ["v=spf1 mx -all"], (D, "MX"): ["10 a.mairie.fr.", "20 b.mairie.fr."]},
            nx=[("a.mairie.fr", "A"), ("a.mairie.fr", "AAAA"), ("b.mairie.fr", "A"), ("b.mairie.fr", "AAAA")],
        ),
    )
    assert (walk.lookups, walk.void_lookups) == (1, 2)


def test_more_than_ten_mx_hosts_is_a_permerror() -> None:
    zone: dict[tuple[str, str], list[str]] = {
        (D, "TXT"): ["v=spf1 mx -all"],
        (D, "MX"): [f"{i} mx{i}.mairie.fr." for i in range(11)],
    }
    walk = walk_spf(D, lookup(zone))
    assert walk.permerror == f"mx:{D} has 11 MX hosts (more than 10)"


def test_redirect_gives_the_terminal_all_and_is_ignored_beside_all() -> None:
    zone = {
        (D, "TXT"): ["v=spf1 redirect=_spf.mairie.fr"],
        ("_spf.mairie.fr", "TXT"): ["v=spf1 ip4:192.0.2.0/24 redirect=_spf2.mairie.fr"],
        ("_spf2.mairie.fr", "TXT"): ["v=spf1 ~all"],
    }
    walk = walk_spf(D, lookup(zone))
    assert (walk.all_qualifier, walk.redirect, walk.lookups) == ("~", "_spf.mairie.fr", 2)
    walk = walk_spf(D, lookup({(D, "TXT"): ["v=spf1 -all redirect=_spf.mairie.fr"]}))
    assert (walk.all_qualifier, walk.redirect, walk.lookups) == ("-", None, 0)


def test_include_all_does_not_change_the_terminal_policy() -> None:
    walk = walk_spf(
        D, lookup({(D, "TXT"): ["v=spf1 include:p.net"], ("p.net", "TXT"): ["v=spf1 ip4:192.0.2.1 -all"]})
    )
    assert walk.all_qualifier is None


def test_ptr_and_macros() -> None:
    walk = walk_spf(
        D, lookup({(D, "TXT"): ["v=spf1 ptr exists:%{i}.spf.mairie.fr a:%{d} -all"], (D, "A"): ["192.0.2.1"]})
    )
    assert (walk.lookups, walk.uses_ptr, walk.temperror) == (3, True, None)


def test_the_walk_stops_at_its_cap() -> None:
    zone: dict[tuple[str, str], list[str]] = {(D, "TXT"): ["v=spf1 include:i0.net -all"]}
    for i in range(40):
        zone[(f"i{i}.net", "TXT")] = [f"v=spf1 include:i{i + 1}.net -all"]
    walk = walk_spf(D, lookup(zone))
    assert walk.lookups <= SPF_WALK_CAP
    assert walk.over_limit


# --------------------------------------------------------------------------------------------------
# DMARC


def test_parse_dmarc() -> None:
    policy = parse_dmarc(
        "v=DMARC1; p=Reject; sp=quarantine; np=reject; pct=50; rua=mailto:a@x.fr, mailto:b@y.fr"
    )
    assert (policy.p, policy.sp, policy.np, policy.pct, policy.rua) == (
        "reject",
        "quarantine",
        "reject",
        50,
        ("mailto:a@x.fr", "mailto:b@y.fr"),
    )
    assert parse_dmarc("v=DMARC1;p=none").pct == 100


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1",
        "v=DMARC1; p=block",
        "v=DMARC1; p=none; sp=maybe",
        "v=DMARC1; p=none; pct=150",
        "p=none; v=DMARC1",
        "v=DMARC1; p=none; junk",
    ],
)
def test_parse_dmarc_rejects(record: str) -> None:
    with pytest.raises(RecordSyntaxError):
        parse_dmarc(record)


def test_is_dmarc_record() -> None:
    assert (
        is_dmarc_record("v=DMARC1; p=none")
        and is_dmarc_record("V = dmarc1 ;p=none")
        and is_dmarc_record("v=DMARC1")
    )
    assert not is_dmarc_record("v=DMARC10; p=none") and not is_dmarc_record("v=spf1 -all")


def test_dmarc_names_walk_up_the_tree() -> None:
    assert dmarc_names("a.b.mairie.fr") == ["_dmarc.a.b.mairie.fr", "_dmarc.b.mairie.fr", "_dmarc.mairie.fr"]
    assert dmarc_names("Mairie.FR.") == ["_dmarc.mairie.fr"]
    long = ".".join(f"l{i}" for i in range(9)) + ".fr"  # 10 labels: jump to the 7 rightmost
    assert dmarc_names(long)[1] == "_dmarc." + ".".join(long.split(".")[-7:])


def test_discover_dmarc_inherits_the_subdomain_policy() -> None:
    sub = "services.mairie.fr"
    found = discover_dmarc(
        sub,
        lookup({(f"_dmarc.{sub}", "TXT"): [], (f"_dmarc.{D}", "TXT"): ["v=DMARC1; p=reject; sp=quarantine"]}),
    )
    assert (found.found_at, found.inherited, found.source_domain, found.disposition) == (
        f"_dmarc.{D}",
        True,
        D,
        "quarantine",
    )
    assert found.looked_at == (f"_dmarc.{sub}", f"_dmarc.{D}")
    own = discover_dmarc(D, lookup({(f"_dmarc.{D}", "TXT"): ["v=DMARC1; p=reject; sp=none"]}))
    assert (own.inherited, own.disposition) == (False, "reject")


def test_discover_dmarc_outcomes() -> None:
    several = discover_dmarc(D, lookup({(f"_dmarc.{D}", "TXT"): ["v=DMARC1; p=none", "v=DMARC1; p=reject"]}))
    assert several.invalid == "2 DMARC records" and several.policy is None
    bad = discover_dmarc(D, lookup({(f"_dmarc.{D}", "TXT"): ["v=DMARC1; p=maybe"]}))
    assert bad.invalid is not None and bad.found_at == f"_dmarc.{D}"
    missing = discover_dmarc(D, lookup({}, nx=[(f"_dmarc.{D}", "TXT")]))
    assert (missing.found_at, missing.failure, missing.invalid) == (None, None, None)
    timeout = discover_dmarc(
        "a.mairie.fr",
        lookup({("_dmarc.a.mairie.fr", "TXT"): []}, failed={(f"_dmarc.{D}", "TXT"): Outcome.TIMEOUT}),
    )
    assert timeout.failure == f"TXT _dmarc.{D}: TIMEOUT" and timeout.failed_outcome is Outcome.TIMEOUT
    unasked = discover_dmarc(D, lookup({}))
    assert unasked.failure == f"TXT _dmarc.{D}: not queried" and unasked.failed_outcome is None
    other_txt = discover_dmarc(D, lookup({(f"_dmarc.{D}", "TXT"): ["something else"]}))
    assert other_txt.found_at is None and other_txt.failure is None


# --------------------------------------------------------------------------------------------------
# DKIM


@pytest.mark.parametrize(
    ("record", "key_type", "bits"),
    [
        (mf.rsa_dkim(2048), "rsa", 2048),
        (mf.rsa_dkim(1024, pkcs1=True), "rsa", 1024),  # RFC 6376's own layout (RSAPublicKey)
        (mf.rsa_dkim(768), "rsa", 768),
        (mf.ed25519_dkim(), "ed25519", 256),
        (mf.rsa_dkim(2048).replace("v=DKIM1; k=rsa; ", ""), "rsa", 2048),  # v= and k= are optional
    ],
)
def test_parse_dkim_key_sizes(record: str, key_type: str, bits: int) -> None:
    key = parse_dkim_key(record)
    assert (key.key_type, key.bits, key.revoked, key.error) == (key_type, bits, False, None)


def test_parse_dkim_key_problems() -> None:
    assert parse_dkim_key("v=DKIM1; p=").revoked
    assert parse_dkim_key("v=DKIM1; p=!!!").error == "p= is not valid base64"
    assert parse_dkim_key("v=DKIM1; k=ed25519; p=AAAA").error == "an Ed25519 key has 32 bytes"
    assert parse_dkim_key("v=DKIM1; p=AAAA").error == "p= is not a DER public key"
    # Fixed: an unknown key type used to be decoded as RSA.
    assert parse_dkim_key("v=DKIM1; k=dsa; p=AAAA").error == "unknown key type k=dsa"
    with pytest.raises(RecordSyntaxError):
        parse_dkim_key("v=DKIM2; p=AAAA")
    with pytest.raises(RecordSyntaxError):
        parse_dkim_key("v=DKIM1; k=rsa")


# --------------------------------------------------------------------------------------------------
# MTA-STS and TLS-RPT


def test_parse_mta_sts_policy() -> None:
    parsed = parse_mta_sts_policy(
        "version: STSv1\r\nmode: enforce\r\nmx: *.Mairie.fr.\r\nmx: mx.p.net\r\nmax_age: 86400\r\n"
    )
    assert (parsed.mode, parsed.mx, parsed.max_age) == ("enforce", ("*.mairie.fr", "mx.p.net"), 86400)
    assert parse_mta_sts_policy("version: STSv1\nmode: none\nmax_age: 86400").mx == ()


@pytest.mark.parametrize(
    "body",
    [
        "version: STSv2\nmode: enforce\nmx: a.fr\nmax_age: 1",
        "version: STSv1\nmode: strict\nmx: a.fr\nmax_age: 1",
        "version: STSv1\nmode: enforce\nmx: a.fr",
        "version: STSv1\nmode: enforce\nmx: a.fr\nmax_age: soon",
        "version: STSv1\nmode: enforce\nmax_age: 86400",  # fixed: an applied policy without any mx
        "<html>not a policy</html>",
    ],
)
def test_parse_mta_sts_policy_rejects(body: str) -> None:
    with pytest.raises(RecordSyntaxError):
        parse_mta_sts_policy(body)


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mx.mairie.fr", "MX.mairie.fr.", True),
        ("*.mairie.fr", "mx1.mairie.fr", True),
        ("*.mairie.fr", "a.b.mairie.fr", False),
        ("*.mairie.fr", "mairie.fr", False),
        ("mx.mairie.fr", "mx2.mairie.fr", False),
    ],
)
def test_mx_pattern_matches(pattern: str, host: str, matches: bool) -> None:
    assert mx_pattern_matches(pattern, host) is matches


def test_sts_and_tlsrpt_records() -> None:
    assert parse_sts_txt("v=STSv1; id=20261101T1") == "20261101T1"
    assert parse_tlsrpt("v=TLSRPTv1; rua=mailto:a@x.fr,https://r.x.fr/") == (
        "mailto:a@x.fr",
        "https://r.x.fr/",
    )
    for bad in ("v=STSv1;", "v=STSv1; id=bad-id!", "v=STSv2; id=1"):
        with pytest.raises(RecordSyntaxError):
            parse_sts_txt(bad)
    for bad in ("v=TLSRPTv1;", "v=TLSRPTv1; rua=ftp://x", "v=TLSRPTv2; rua=mailto:a@x.fr"):
        with pytest.raises(RecordSyntaxError):
            parse_tlsrpt(bad)


# --------------------------------------------------------------------------------------------------
# MX records


@pytest.mark.parametrize(
    ("record", "host"),
    [("10 MX.Mairie.fr.", "mx.mairie.fr"), ("0 .", ""), ("ten mx.mairie.fr.", ""), ("", "")],
)
def test_mx_host(record: str, host: str) -> None:
    assert mx_host(record) == host


# --------------------------------------------------------------------------------------------------
# DANE, with real certificates and hashes


@pytest.mark.parametrize(("selector", "mtype"), [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)])
def test_tlsa_matches_every_selector_and_matching_type(selector: int, mtype: int) -> None:
    leaf, ca = mf.chain()
    record = parse_tlsa(leaf.tlsa(3, selector, mtype))
    assert tlsa_matches(record, leaf.presented)
    assert not tlsa_matches(record, ca.presented)
    other_leaf, _ = mf.chain(seed=1)
    assert not tlsa_matches(record, other_leaf.presented)


def test_dane_match_usages() -> None:
    leaf, ca = mf.chain()
    presented = (leaf.presented, ca.presented)
    ee = parse_tlsa(leaf.tlsa(3, 1, 1))
    ta = parse_tlsa(ca.tlsa(2, 1, 1))
    assert dane_match([ee], presented) == ee
    assert dane_match([ta], presented) == ta
    # DANE-EE matches the leaf only: the CA's hash under usage 3 does not match.
    assert dane_match([parse_tlsa(ca.tlsa(3, 1, 1))], presented) is None
    # PKIX usages 0/1 are unusable for SMTP (RFC 7672 §3.1.3), even when their hash matches.
    pkix = parse_tlsa(leaf.tlsa(1, 1, 1))
    assert not pkix.usable and dane_match([pkix], presented) is None
    assert dane_match([pkix, ee], presented) == ee


def test_parse_tlsa() -> None:
    record = parse_tlsa("3 1 1 ABCDEF01")
    assert record == TlsaRecord(3, 1, 1, "abcdef01") and record.usable and record.text() == "3 1 1 abcdef01"
    assert not parse_tlsa("3 2 1 abcd").usable and not parse_tlsa("3 1 9 abcd").usable
    for bad in ("3 1 1 zz", "three 1 1 ab", "3 1"):
        with pytest.raises(RecordSyntaxError):
            parse_tlsa(bad)


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    length = bytes([size]) if size < 128 else bytes([0x80 | 1, size]) if size < 256 else b""
    assert length, "test helper: bodies under 256 bytes only"
    return bytes([tag]) + length + body


@pytest.mark.parametrize(
    ("parse", "record"),
    [
        # Unicode digits that str.isdigit() accepts and int() refuses: a syntax error, never a crash.
        (parse_dmarc, "v=DMARC1; p=reject; pct=²"),
        (parse_mta_sts_policy, "version: STSv1\nmode: enforce\nmx: mx.mairie.fr\nmax_age: ³"),
    ],
    ids=["dmarc-pct-superscript", "mta-sts-max-age-superscript"],
)
def test_unicode_digits_are_a_syntax_error_not_a_crash(parse: Any, record: str) -> None:
    with pytest.raises(RecordSyntaxError):
        parse(record)


def test_a_dkim_key_on_a_curve_cryptography_lacks_is_reported_not_raised() -> None:
    # An EC SubjectPublicKeyInfo on brainpoolP160r1, which cryptography refuses with UnsupportedAlgorithm.
    algorithm = _der(0x30, bytes.fromhex("06072a8648ce3d0201") + bytes.fromhex("06092b2403030208010101"))
    spki = _der(0x30, algorithm + _der(0x03, b"\x00\x04" + b"\x01" * 40))
    key = parse_dkim_key("v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode())
    assert (key.bits, key.revoked, key.error) == (None, False, "p= is not a DER public key")
