"""DNSSEC validation: trust anchors, key sizes, and chains walked against real signed zones on 127.0.0.1.

The zones are signed by `dns_zones.build_world()` with keys generated for this run; the validator
talks to a `LocalDnsServer` through the DNS collector's own `Querier` (a real dnspython resolver).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import dns.dnssec
import dns.rdata
import dns.resolver
import pytest
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns_zones import DAY, NSEC3_ITERATIONS, World, build_world, ds_text, key_pair, make_zone

from cyberscan.collectors.dns import Querier
from cyberscan.collectors.dns_facts import DnssecFacts
from cyberscan.collectors.dnssec import (
    IANA_ROOT,
    TrustAnchor,
    key_bits,
    parse_trust_anchor,
    root_anchor,
    validate_zone,
)
from cyberscan.demo.dnsserver import LocalDnsServer

#: IANA's root KSK-2017 (public data, published in root-anchors.xml and the root zone): it must hash to
#: the built-in DS record with key tag 20326.
ROOT_KSK_2017 = (
    "257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN"
    "7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/"
    "EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfd"
    "RUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="
)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[LocalDnsServer]:
    with LocalDnsServer(world.served()) as started:
        yield started


def _querier(port: int, timeout: float = 1.0) -> Querier:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    return Querier(resolver, lambda: timeout)


def _validate(
    server: LocalDnsServer, anchor: TrustAnchor, zone: str, now: float | None = None, timeout: float = 1.0
) -> DnssecFacts:
    querier = _querier(server.port, timeout)
    return validate_zone(zone, zone, anchor, querier.fetch, time.time() if now is None else now)


# --- anchors and keys (pure) ------------------------------------------------------------------------


def test_builtin_root_anchor_is_the_iana_ksk() -> None:
    anchor = root_anchor()
    assert anchor.zone == dns.name.root and anchor.source == IANA_ROOT
    assert sorted(ds.key_tag for ds in anchor.ds) == [20326, 38696]
    assert {(ds.algorithm, ds.digest_type) for ds in anchor.ds} == {(8, 2)}
    ksk = dns.rdata.from_text("IN", "DNSKEY", ROOT_KSK_2017)
    assert isinstance(ksk, DNSKEY)
    assert dns.dnssec.key_id(ksk) == 20326
    assert dns.dnssec.make_ds(".", ksk, "SHA256") in anchor.ds
    assert key_bits(8, ksk.key) == 2048


def test_parse_trust_anchor_ds_and_dnskey(world: World) -> None:
    ds_anchor = parse_trust_anchor(world.anchor, "file anchor.txt")
    assert ds_anchor.zone.to_text() == "test." and len(ds_anchor.ds) == 1 and ds_anchor.dnskeys == ()
    assert ds_anchor.source == "file anchor.txt"
    ksk = world.keys["test"].ksk.dnskey
    key_anchor = parse_trust_anchor(f"test. IN DNSKEY {ksk.to_text()}\n; a comment\n")
    assert key_anchor.dnskeys == (ksk,) and key_anchor.ds == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no DS or DNSKEY"),
        ("this is not a record", "zone-file syntax"),
        ("test. IN A 192.0.2.1\n", "only DS or DNSKEY"),
        ("a.test. IN DS 1 13 2 " + "00" * 32 + "\nb.test. IN DS 2 13 2 " + "00" * 32 + "\n", "several zones"),
        ("test. IN DNSKEY 0 3 13 " + "A" * 88 + "\n", "not a zone key"),
        ("; " + "x" * 70000, "64 KiB"),
    ],
)
def test_parse_trust_anchor_rejects_with_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_trust_anchor(text)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("bits", [1024, 2048])
def test_rsa_key_bits_from_the_dnskey_wire_format(bits: int) -> None:
    key = key_pair(8, ksk=True, rsa_bits=bits).dnskey
    assert key_bits(8, key.key) == bits


@pytest.mark.parametrize(
    ("algorithm", "key", "bits"),
    [
        (13, b"\x01" * 64, 256),
        (14, b"\x01" * 96, 384),
        (15, b"\x01" * 32, 256),
        (16, b"\x01" * 57, 456),
        # RFC 3110: a zero first octet announces a two-octet exponent length (here 3, exponent 65537)
        (8, b"\x00\x00\x03\x01\x00\x01" + b"\xff" * 128, 1024),
        (5, b"\x03\x01\x00\x01" + b"\x80" + b"\x00" * 63, 512),
        (3, b"\x08" + b"\x00" * 20, 1024),
        (8, b"", None),
        (253, b"\x01" * 10, None),
    ],
)
def test_key_bits_table(algorithm: int, key: bytes, bits: int | None) -> None:
    assert key_bits(algorithm, key) == bits


# --- chains against the local server ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "status", "reason"),
    [
        ("mairie-modele.test", "secure", "chain of trust validated"),
        ("mairie-rsa.test", "secure", "chain of trust validated"),
        ("mairie-nsec3.test", "secure", "chain of trust validated"),
        ("quartier.services.mairie-modele.test", "secure", "chain of trust validated"),
        ("mairie-passoire.test", "insecure", "no DS record for mairie-passoire.test in its parent zone test"),
        ("quartier.hebergeur.test", "insecure", "hebergeur.test is delegated from test without DS"),
        ("bogus-expire.test", "bogus", "RRSIG over DNSKEY bogus-expire.test expired on"),
        ("bogus-ds.test", "bogus", "the DS of bogus-ds.test (key tag"),
        ("bogus-sig.test", "bogus", "bad signature over SOA bogus-sig.test"),
        ("bogus-dnskey.test", "bogus", "bad signature over DNSKEY bogus-dnskey.test"),
    ],
)
def test_chain_verdicts(world: World, server: LocalDnsServer, zone: str, status: str, reason: str) -> None:
    facts = _validate(server, parse_trust_anchor(world.anchor, "file anchor"), zone)
    assert (facts.status, facts.zone) == (status, zone)
    assert reason in facts.reason
    assert facts.anchor == "file anchor" and facts.anchor_zone == "test"
    assert facts.chain[0] == "test"


def test_chain_steps_over_names_that_are_no_zone_cut(world: World, server: LocalDnsServer) -> None:
    facts = _validate(server, parse_trust_anchor(world.anchor), "quartier.services.mairie-modele.test")
    assert facts.chain == ("test", "mairie-modele.test", "quartier.services.mairie-modele.test")


def test_secure_zone_facts(world: World, server: LocalDnsServer) -> None:
    facts = _validate(server, parse_trust_anchor(world.anchor), "mairie-modele.test")
    assert facts.chain == ("test", "mairie-modele.test")
    keys = world.keys["mairie-modele.test"]
    assert facts.ds == (ds_text("mairie-modele.test", keys.ksk.dnskey),)
    assert [(k.key_tag, k.algorithm, k.flags, k.key_bits, k.is_ksk) for k in facts.keys] == [
        (dns.dnssec.key_id(keys.ksk.dnskey), 13, 257, 256, True),
        (dns.dnssec.key_id(keys.zsk.dnskey), 13, 256, 256, False),
    ]
    assert (facts.denial, facts.nsec3_iterations) == ("nsec", None)
    covered = {(w.name, w.covered) for w in facts.signatures}
    assert {
        ("mairie-modele.test", "DNSKEY"),
        ("mairie-modele.test", "SOA"),
        ("mairie-modele.test", "MX"),
    } <= covered
    # only the zone's own signatures: the DS's RRSIG is the parent's
    assert all(w.name == "mairie-modele.test" for w in facts.signatures)
    first = facts.signatures[0]
    assert first.algorithm == 13 and first.inception < first.expiration and first.expiration.endswith("Z")


def test_rsa_zone_key_sizes(world: World, server: LocalDnsServer) -> None:
    facts = _validate(server, parse_trust_anchor(world.anchor), "mairie-rsa.test")
    assert {(k.algorithm, k.key_bits) for k in facts.keys} == {(8, 2048)}


def test_nsec3_zone_denial_and_iterations(world: World, server: LocalDnsServer) -> None:
    facts = _validate(server, parse_trust_anchor(world.anchor), "mairie-nsec3.test")
    assert (facts.denial, facts.nsec3_iterations) == ("nsec3", NSEC3_ITERATIONS)


def test_signatures_are_judged_at_the_collection_time(world: World, server: LocalDnsServer) -> None:
    later = world.built_at + 60 * DAY  # the test zones are signed for 30 days
    facts = _validate(server, parse_trust_anchor(world.anchor), "mairie-modele.test", now=later)
    assert facts.status == "bogus" and "expired" in facts.reason
    earlier = world.built_at - 2 * DAY  # before the inception (one day ago)
    facts = _validate(server, parse_trust_anchor(world.anchor), "mairie-modele.test", now=earlier)
    assert facts.status == "bogus" and "not valid before" in facts.reason


def test_dnskey_anchor_and_anchor_at_the_zone_itself(world: World, server: LocalDnsServer) -> None:
    ksk = world.keys["test"].ksk.dnskey
    by_key = _validate(server, parse_trust_anchor(f"test. IN DNSKEY {ksk.to_text()}"), "mairie-modele.test")
    assert by_key.status == "secure"
    own = world.keys["mairie-modele.test"].ksk.dnskey
    direct = parse_trust_anchor(f"mairie-modele.test. IN DS {ds_text('mairie-modele.test', own)}")
    facts = _validate(server, direct, "mairie-modele.test")
    assert (facts.status, facts.chain, facts.ds) == (
        "secure",
        ("mairie-modele.test",),
        (ds_text("mairie-modele.test", own),),
    )


def test_wrong_anchor_key_is_bogus(world: World, server: LocalDnsServer) -> None:
    stranger = key_pair(13, ksk=True).dnskey
    facts = _validate(
        server, parse_trust_anchor(f"test. IN DNSKEY {stranger.to_text()}"), "mairie-modele.test"
    )
    assert facts.status == "bogus" and "trust anchor's key" in facts.reason


def test_anchor_for_another_tree_is_indeterminate(world: World, server: LocalDnsServer) -> None:
    other = parse_trust_anchor(f"autre.example. IN DS {ds_text('autre.example', key_pair(13, True).dnskey)}")
    facts = _validate(server, other, "mairie-modele.test")
    assert facts.status == "indeterminate" and "does not cover mairie-modele.test" in facts.reason


def test_iana_root_against_a_server_without_the_root_is_indeterminate(server: LocalDnsServer) -> None:
    facts = _validate(server, root_anchor(), "mairie-modele.test")
    assert facts.status == "indeterminate" and facts.reason.startswith("DNSKEY .: REFUSED")
    assert facts.anchor == IANA_ROOT and facts.anchor_zone == "" and facts.chain == ("",)


def test_resolver_stripping_signatures_is_indeterminate_not_bogus(world: World) -> None:
    # the anchor zone's keys, served without any RRSIG: what a resolver that drops DNSSEC records returns
    stripped = make_zone("test", "@ NS ns1\nns1 A 127.0.0.1\n")
    keys = world.keys["test"]
    with stripped.writer() as txn:
        for pair in keys.pairs():
            txn.add(stripped.origin, 300, pair[1])
    with LocalDnsServer([stripped]) as server:
        facts = _validate(server, parse_trust_anchor(world.anchor), "test")
    assert facts.status == "indeterminate" and "without RRSIG" in facts.reason


def test_dead_server_is_indeterminate_not_insecure(world: World) -> None:
    with LocalDnsServer(world.served(), mode="dead") as dead:
        started = time.monotonic()
        facts = _validate(dead, parse_trust_anchor(world.anchor), "mairie-modele.test", timeout=0.2)
    assert facts.status == "indeterminate" and "TIMEOUT" in facts.reason
    assert time.monotonic() - started < 3
