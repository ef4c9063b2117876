"""DnsCollector end to end against real DNS servers on 127.0.0.x, as `--resolver 127.0.0.1:PORT` sees them.

The primary server (127.0.0.1) serves every zone of `dns_zones.build_world()` and is the resolver;
a secondary on 127.0.0.2 (same port) serves mairie-modele.test only, so it is a lame server for
mairie-passoire.test; nothing listens on 127.0.0.3. Timeouts are short: a silent server costs
a fraction of a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest
from dns_zones import SPF_CHAIN, World, build_world, make_zone

from cyberscan.collectors import dns as dns_collector
from cyberscan.collectors import mailauth
from cyberscan.collectors.dns import (
    DEFAULT_DKIM_SELECTORS,
    MAX_RECORDS,
    MAX_TXT_TEXT,
    SKIPPED,
    DnsCollector,
    _Settings,
    probe_name_server,
    probe_recursion,
    record_texts,
    transfer_attempt,
)
from cyberscan.collectors.dns_facts import DnsSnapshot, NameServer, Outcome
from cyberscan.demo.dnsserver import OPEN_RESOLVER_A, LocalDnsServer, ServedZone
from cyberscan.models import ErrorKind
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.plugin import CollectorContext, CollectorError
from cyberscan.scope import Scope
from cyberscan.targets import parse_target

TIMEOUT = 0.5


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def primary(world: World) -> Iterator[LocalDnsServer]:
    with LocalDnsServer(world.served()) as server:
        yield server


@pytest.fixture(scope="module")
def secondary(world: World, primary: LocalDnsServer) -> Iterator[LocalDnsServer]:
    with LocalDnsServer(world.served(world.secondary), address="127.0.0.2", port=primary.port) as server:
        yield server


@pytest.fixture(scope="module")
def anchor_file(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("anchor") / "test-anchor.txt"
    path.write_text(world.anchor, encoding="utf-8")
    return path


def _context(
    resolver_port: int,
    scope: Sequence[str] = ("127.0.0.1/32",),
    budget: float = 30.0,
    timeout: float = TIMEOUT,
    **settings: Any,
) -> CollectorContext:
    guard = NetworkGuard(Resolver(("127.0.0.1", resolver_port), timeout=timeout), Scope.parse(scope))
    merged: Mapping[str, Any] = {**DnsCollector.defaults, "ns_port": resolver_port, **settings}
    return CollectorContext(merged, timeout, time.monotonic() + budget, guard, "cyberscan-test")


def _collect(target: str, ctx: CollectorContext) -> DnsSnapshot:
    return DnsCollector().collect(parse_target(target), ctx)


def _server(snapshot: DnsSnapshot, host: str) -> NameServer:
    return next(ns for ns in snapshot.nameservers if ns.host == host)


@pytest.fixture(scope="module")
def modele(primary: LocalDnsServer, secondary: LocalDnsServer, anchor_file: Path) -> DnsSnapshot:
    ctx = _context(
        primary.port, trust_anchor=str(anchor_file), dkim_selectors=["Personnalise", "bad selector!"]
    )
    return _collect("mairie-modele.test", ctx)


@pytest.fixture(scope="module")
def passoire(primary: LocalDnsServer, secondary: LocalDnsServer, anchor_file: Path) -> DnsSnapshot:
    ctx = _context(primary.port, scope=("127.0.0.0/8",), trust_anchor=str(anchor_file))
    return _collect("mairie-passoire.test", ctx)


# --- a well-configured commune ------------------------------------------------------------------------


def test_apex_records(modele: DnsSnapshot, primary: LocalDnsServer) -> None:
    assert (modele.domain, modele.zone) == ("mairie-modele.test", "mairie-modele.test")
    assert modele.resolver == f"127.0.0.1:{primary.port}" and modele.collected_at.endswith("+00:00")
    assert modele.records("mairie-modele.test", "MX") == ("10 mx1.mairie-modele.test.",)
    assert modele.txt_starting("mairie-modele.test", "v=spf1") == ("v=spf1 mx -all",)
    assert modele.records("mairie-modele.test", "CAA") == (
        '0 iodef "mailto:securite@mairie-modele.test"',
        '0 issue "letsencrypt.org"',
    )
    assert modele.records("mairie-modele.test", "NS") == (
        "ns1.mairie-modele.test.",
        "ns2.mairie-modele.test.",
    )
    soa = modele.answer("mairie-modele.test", "SOA")
    assert soa is not None and soa.outcome is Outcome.NOERROR and soa.ttl == 300
    assert not soa.authenticated  # the local server does not validate: AD stays unset
    assert modele.answer("mairie-modele.test", "AAAA").outcome is Outcome.NODATA  # type: ignore[union-attr]


def test_snapshots_round_trip_through_json(modele: DnsSnapshot, passoire: DnsSnapshot) -> None:
    for snapshot in (modele, passoire):
        assert DnsSnapshot.from_json(json.loads(json.dumps(snapshot.to_json()))) == snapshot


def test_each_query_is_recorded_once(modele: DnsSnapshot) -> None:
    keys = [(q.name, q.rdtype) for q in modele.queries]
    assert len(keys) == len(set(keys))
    assert ("mairie-modele.test", "DNSKEY") in keys and ("mairie-modele.test", "DS") in keys
    # DS of the zone, asked by the plan and by the validator, went out once
    assert keys.count(("mairie-modele.test", "DS")) == 1


def test_mail_records(modele: DnsSnapshot, world: World) -> None:
    dmarc = modele.txt_starting("_dmarc.mairie-modele.test", "v=DMARC1")
    assert dmarc == ("v=DMARC1; p=reject; rua=mailto:dmarc@mairie-modele.test",)
    assert modele.records("_mta-sts.mairie-modele.test", "TXT") == ("v=STSv1; id=20261101",)
    assert modele.txt_starting("_smtp._tls.mairie-modele.test", "v=TLSRPTv1")
    # the DKIM key (about 400 characters in two strings) is kept whole: the MAIL checks decode it
    (dkim,) = modele.records("selector1._domainkey.mairie-modele.test", "TXT")
    assert dkim == world.dkim_2048 and mailauth.parse_dkim_key(dkim).bits == 2048
    assert modele.answer("google._domainkey.mairie-modele.test", "TXT").outcome is Outcome.NXDOMAIN  # type: ignore[union-attr]
    assert modele.dkim_selectors[: len(DEFAULT_DKIM_SELECTORS)] == DEFAULT_DKIM_SELECTORS
    assert modele.dkim_selectors[-1] == "personnalise" and "bad selector!" not in modele.dkim_selectors
    for selector in modele.dkim_selectors:
        assert modele.answer(f"{selector}._domainkey.mairie-modele.test", "TXT") is not None
    assert modele.records("_25._tcp.mx1.mairie-modele.test", "TLSA") == ("3 1 1 " + "ab" * 32,)
    assert modele.answer("mx1.mairie-modele.test", "CNAME").outcome is Outcome.NODATA  # type: ignore[union-attr]


def test_hostnames_and_cname_chase(modele: DnsSnapshot) -> None:
    assert modele.hostnames["www.mairie-modele.test"] == ("www",)
    assert modele.hostnames["mx1.mairie-modele.test"] == ("mx",)
    assert modele.hostnames["ns1.mairie-modele.test"] == ("ns",)
    assert modele.hostnames["webmail.mairie-modele.test"] == ("common",)
    assert modele.records("www.mairie-modele.test", "CNAME") == ("mairie-modele.test.",)
    assert modele.records("mairie-modele.test", "A") == ("127.0.0.1",)
    # a name that does not exist: one CNAME query says so, no A query follows
    assert modele.answer("webmail.mairie-modele.test", "CNAME").outcome is Outcome.NXDOMAIN  # type: ignore[union-attr]
    assert modele.answer("webmail.mairie-modele.test", "A") is None


def test_secure_dnssec(modele: DnsSnapshot) -> None:
    assert modele.dnssec is not None
    assert (modele.dnssec.status, modele.dnssec.anchor, modele.dnssec.denial) == (
        "secure",
        "file test-anchor.txt",
        "nsec",
    )
    assert [k.algorithm for k in modele.dnssec.keys] == [13, 13]


def test_name_servers_of_a_good_zone(modele: DnsSnapshot) -> None:
    ns1, ns2 = _server(modele, "ns1.mairie-modele.test"), _server(modele, "ns2.mairie-modele.test")
    (first,) = ns1.addresses
    assert (ns1.resolution, first.address, first.answered, first.authoritative) == (
        Outcome.NOERROR,
        "127.0.0.1",
        True,
        True,
    )
    assert first.soa_serial == 2026110101
    assert first.ns_set == ("ns1.mairie-modele.test", "ns2.mairie-modele.test")
    assert first.axfr is not None and first.axfr.outcome == "refused" and first.axfr.records == 0
    (second,) = ns2.addresses
    assert (second.address, second.authoritative, second.soa_serial) == ("127.0.0.2", True, 2026110101)
    assert second.axfr is not None and second.axfr.outcome == "refused"


def test_recursion_probe_only_inside_the_scope(modele: DnsSnapshot) -> None:
    (first,) = _server(modele, "ns1.mairie-modele.test").addresses
    (second,) = _server(modele, "ns2.mairie-modele.test").addresses
    assert first.recursion is not None and first.recursion.outcome == "refused"
    assert second.recursion is None  # 127.0.0.2 is outside the scope 127.0.0.1/32
    assert modele.not_probed == ("ns2.mairie-modele.test 127.0.0.2",)


def test_url_target_finds_its_zone_by_climbing(primary: LocalDnsServer, anchor_file: Path) -> None:
    ctx = _context(primary.port, trust_anchor=str(anchor_file), common_labels=[], dkim_selectors=[])
    snapshot = _collect("https://www.mairie-modele.test/demarches", ctx)
    assert (snapshot.domain, snapshot.zone) == ("www.mairie-modele.test", "mairie-modele.test")
    soa = snapshot.answer("www.mairie-modele.test", "SOA")
    assert soa is not None and soa.cname_chain == ("mairie-modele.test",)
    assert snapshot.records("www.mairie-modele.test", "A") == ("127.0.0.1",)
    assert snapshot.answer("www.mairie-modele.test", "A").cname_chain == ("mairie-modele.test",)  # type: ignore[union-attr]
    assert snapshot.dnssec is not None and snapshot.dnssec.status == "secure"
    assert [ns.host for ns in snapshot.nameservers] == ["ns1.mairie-modele.test", "ns2.mairie-modele.test"]


# --- a commune full of holes --------------------------------------------------------------------------


def test_open_zone_transfer(passoire: DnsSnapshot, world: World) -> None:
    (first,) = _server(passoire, "ns1.mairie-passoire.test").addresses
    assert first.axfr is not None and first.axfr.outcome == "transferred"
    zone = world.zones["mairie-passoire.test"]
    records_in_zone = sum(len(rds) for _, rds in zone.iterate_rdatasets())
    assert first.axfr.records == records_in_zone + 1  # the SOA opens and closes the transfer
    assert 0 < len(first.axfr.sample) <= 10 and "mairie-passoire.test SOA" in first.axfr.sample


def test_lame_name_servers(passoire: DnsSnapshot) -> None:
    (refusing,) = _server(passoire, "ns2.mairie-passoire.test").addresses
    assert (refusing.answered, refusing.authoritative, refusing.detail) == (True, False, "REFUSED")
    assert refusing.soa_serial is None and refusing.ns_set == ()
    (silent,) = _server(passoire, "ns3.mairie-passoire.test").addresses
    assert (silent.address, silent.answered, silent.axfr) == ("127.0.0.3", False, None)
    assert silent.detail
    # everything is in scope here: every address got the recursion probe
    outcomes = {
        a.address: a.recursion.outcome for ns in passoire.nameservers for a in ns.addresses if a.recursion
    }
    assert outcomes == {"127.0.0.1": "refused", "127.0.0.2": "refused", "127.0.0.3": "no_answer"}
    assert passoire.not_probed == ()


def test_spf_tree_is_recorded_for_the_checks(passoire: DnsSnapshot) -> None:
    # the checks rerun the walker on the snapshot alone: every lookup it needs must be there
    walk = mailauth.walk_spf("mairie-passoire.test", passoire.answer)
    assert walk.all_qualifier == "+" and walk.lookups == SPF_CHAIN and walk.over_limit
    assert walk.temperror is None and walk.permerror is None
    assert passoire.hostnames["_spf.hebergeur.test"] == ("spf",)  # underscores are kept
    assert passoire.hostnames[f"spf{SPF_CHAIN}.hebergeur.test"] == ("spf",)


def test_weak_mail_records(passoire: DnsSnapshot, world: World) -> None:
    assert passoire.txt_starting("_dmarc.mairie-passoire.test", "v=DMARC1") == ("v=DMARC1; p=none",)
    (dkim,) = passoire.records("mail._domainkey.mairie-passoire.test", "TXT")
    assert dkim == world.dkim_1024 and mailauth.parse_dkim_key(dkim).bits == 1024
    assert passoire.records("mairie-passoire.test", "TXT") == (
        "google-site-verification=abc",
        "v=spf1 include:_spf.hebergeur.test +all",
    )
    # no CAA anywhere: the climb went up to the TLD
    assert passoire.answer("mairie-passoire.test", "CAA").outcome is Outcome.NODATA  # type: ignore[union-attr]
    assert passoire.answer("test", "CAA").outcome is Outcome.NODATA  # type: ignore[union-attr]


def test_dangling_cname(passoire: DnsSnapshot) -> None:
    assert passoire.hostnames["extranet.mairie-passoire.test"] == ("common",)
    assert passoire.records("extranet.mairie-passoire.test", "CNAME") == ("ancien-portail.hebergeur.test.",)
    target = passoire.answer("ancien-portail.hebergeur.test", "A")
    assert target is not None and target.outcome is Outcome.NXDOMAIN


def test_unsigned_zone_is_insecure(passoire: DnsSnapshot) -> None:
    assert passoire.dnssec is not None and passoire.dnssec.status == "insecure"
    assert passoire.dnssec.keys == () and passoire.dnssec.denial is None


# --- outcomes, failures and the deadline -------------------------------------------------------------


def test_outcomes_are_kept_apart(world: World, anchor_file: Path) -> None:
    with LocalDnsServer(
        world.served(),
        silent_names=["_mta-sts.mairie-passoire.test"],
        servfail_names=["_smtp._tls.mairie-passoire.test"],
    ) as server:
        snapshot = _collect("mairie-passoire.test", _context(server.port, trust_anchor=str(anchor_file)))

    def outcome(name: str, rdtype: str) -> Outcome:
        found = snapshot.answer(name, rdtype)
        assert found is not None, (name, rdtype)
        return found.outcome

    assert outcome("mairie-passoire.test", "MX") is Outcome.NOERROR
    assert outcome("mairie-passoire.test", "AAAA") is Outcome.NODATA
    assert outcome("webmail.mairie-passoire.test", "CNAME") is Outcome.NXDOMAIN
    assert outcome("_mta-sts.mairie-passoire.test", "TXT") is Outcome.TIMEOUT
    assert outcome("_smtp._tls.mairie-passoire.test", "TXT") is Outcome.SERVFAIL
    # a name no served zone holds: the local server refuses it (a recursive resolver would recurse)
    assert outcome("autodiscover.messagerie.example", "A") is Outcome.REFUSED
    timeout = snapshot.answer("_mta-sts.mairie-passoire.test", "TXT")
    assert timeout is not None and timeout.detail is not None and "no answer within" in timeout.detail


def test_dead_resolver_is_a_collector_error_quickly(world: World) -> None:
    with LocalDnsServer(world.served(), mode="dead") as dead:
        started = time.monotonic()
        with pytest.raises(CollectorError) as raised:
            _collect("mairie-modele.test", _context(dead.port, timeout=0.3))
    assert raised.value.kind is ErrorKind.TIMEOUT and "answered no query" in raised.value.detail
    assert time.monotonic() - started < 2.0


def test_servfail_resolver_gives_facts_not_an_error(world: World, anchor_file: Path) -> None:
    with LocalDnsServer(world.served(), mode="servfail") as failing:
        snapshot = _collect("mairie-modele.test", _context(failing.port, trust_anchor=str(anchor_file)))
    assert snapshot.queries and {q.outcome for q in snapshot.queries} == {Outcome.SERVFAIL}
    assert snapshot.zone == "" and snapshot.dnssec is not None and snapshot.dnssec.status == "indeterminate"


def test_deadline_skips_queries_instead_of_hanging(world: World) -> None:
    silent = [f"{s}._domainkey.mairie-modele.test" for s in DEFAULT_DKIM_SELECTORS]
    with LocalDnsServer(world.served(), silent_names=silent) as server:
        started = time.monotonic()
        snapshot = _collect("mairie-modele.test", _context(server.port, budget=1.5, timeout=0.4))
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    skipped = [q for q in snapshot.queries if q.detail == SKIPPED]
    assert skipped and all(q.outcome is Outcome.TIMEOUT for q in skipped)
    assert snapshot.answer("mairie-modele.test", "MX").outcome is Outcome.NOERROR  # type: ignore[union-attr]


def test_bogus_zone_behind_a_validating_resolver(world: World, anchor_file: Path) -> None:
    # a validating resolver hides a bogus zone behind SERVFAIL; the collector asks with CD set,
    # gets the records and signatures, and says why the chain breaks
    with LocalDnsServer(world.served(), servfail_unless_cd=["bogus-expire.test"]) as validating:
        ctx = _context(validating.port, trust_anchor=str(anchor_file), common_labels=[], dkim_selectors=[])
        snapshot = _collect("bogus-expire.test", ctx)
    assert snapshot.records("bogus-expire.test", "MX") == ("10 ns1.bogus-expire.test.",)
    assert snapshot.dnssec is not None and snapshot.dnssec.status == "bogus"
    assert "expired" in snapshot.dnssec.reason


def test_unreadable_trust_anchor_is_indeterminate(primary: LocalDnsServer, tmp_path: Path) -> None:
    ctx = _context(
        primary.port, trust_anchor=str(tmp_path / "missing.txt"), common_labels=[], dkim_selectors=[]
    )
    snapshot = _collect("mairie-rsa.test", ctx)
    assert snapshot.dnssec is not None and snapshot.dnssec.status == "indeterminate"
    assert "could not be used" in snapshot.dnssec.reason and snapshot.dnssec.anchor == "file missing.txt"


# --- IP and network targets: the recursion probe only ------------------------------------------------


@pytest.fixture(scope="module")
def open_resolver(primary: LocalDnsServer) -> Iterator[LocalDnsServer]:
    with LocalDnsServer(address="127.0.0.4", port=primary.port, open_resolver=True) as server:
        yield server


def test_ip_targets_get_only_the_recursion_probe(
    primary: LocalDnsServer, open_resolver: LocalDnsServer
) -> None:
    ctx = _context(primary.port, scope=("127.0.0.4/31",), recursion_probe_name="ailleurs.example")
    snapshot = _collect("127.0.0.4/31", ctx)
    assert (snapshot.domain, snapshot.queries, snapshot.nameservers) == ("", (), ())
    verdicts = {p.address: p for p in snapshot.recursion}
    assert verdicts["127.0.0.4"].outcome == "answered" and OPEN_RESOLVER_A in (
        verdicts["127.0.0.4"].detail or ""
    )
    assert verdicts["127.0.0.5"].outcome == "no_answer"
    authoritative_only = _collect("127.0.0.1", _context(primary.port, scope=("127.0.0.1/32",)))
    assert [(p.address, p.outcome) for p in authoritative_only.recursion] == [("127.0.0.1", "refused")]


def test_url_on_an_address_outside_the_scope_is_not_probed(
    primary: LocalDnsServer, open_resolver: LocalDnsServer
) -> None:
    ctx = _context(primary.port, scope=("127.0.0.1/32",))
    snapshot = _collect("http://127.0.0.4:8080/", ctx)
    assert snapshot.recursion == () and snapshot.not_probed == ("127.0.0.4 127.0.0.4",)
    assert [(n.host, n.address) for n in ctx.guard.refusals()] == [("127.0.0.4", "127.0.0.4")]


# --- the parts, directly ---------------------------------------------------------------------------


def test_transfer_stops_after_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = "\n".join(f"h{i} A 192.0.2.{i % 250 + 1}" for i in range(200))
    big = make_zone("grosse-zone.test", f"@ NS ns1\nns1 A 127.0.0.1\n{hosts}\n")
    monkeypatch.setattr(dns_collector, "MAX_AXFR_RECORDS", 30)
    with LocalDnsServer([ServedZone(big, axfr=True)]) as server:
        attempt = transfer_attempt("127.0.0.1", "grosse-zone.test", server.port, 1.0)
    # messages carry 20 records each: the transfer stops with the message that crosses the cap
    assert attempt.outcome == "transferred" and 30 <= attempt.records < 60
    assert attempt.detail == "stopped at the cap of 30 records" and len(attempt.sample) == 10


def test_transfer_refused_closed_and_silent(world: World, primary: LocalDnsServer) -> None:
    assert transfer_attempt("127.0.0.1", "mairie-modele.test", primary.port, 1.0).outcome == "refused"
    closed = transfer_attempt("127.0.0.3", "mairie-modele.test", primary.port, 1.0)
    assert (closed.outcome, closed.detail) == ("refused", "connection refused")
    with LocalDnsServer(world.served(), mode="dead") as dead:
        silent = transfer_attempt("127.0.0.1", "mairie-modele.test", dead.port, 0.3)
    assert silent.outcome == "error" and "no answer" in (silent.detail or "")


def test_server_answering_without_aa(world: World) -> None:
    with LocalDnsServer(world.served(["mairie-modele.test"]), authoritative=False) as cache:
        seen = probe_name_server("127.0.0.1", "mairie-modele.test", cache.port, 1.0, axfr=False)
    assert (seen.answered, seen.authoritative, seen.detail) == (True, False, "answer without the AA flag")
    assert seen.soa_serial == 2026110101 and seen.axfr is None


def test_recursion_fan_out_waits_once(primary: LocalDnsServer, open_resolver: LocalDnsServer) -> None:
    silent = [f"127.0.0.{i}" for i in range(10, 30)]
    started = time.monotonic()
    found = probe_recursion(["127.0.0.4", *silent], primary.port, "ailleurs.example", 0.4)
    assert time.monotonic() - started < 1.0  # one timeout for twenty silent addresses
    assert found["127.0.0.4"].outcome == "answered"
    assert {found[a].outcome for a in silent} == {"no_answer"}


def test_record_texts_are_bounded_and_printable() -> None:
    many = dns.rrset.from_text_list("x.test.", 60, "IN", "TXT", [f'"r{i:03d}"' for i in range(80)])
    assert len(record_texts(many)) == MAX_RECORDS
    long_txt = dns.rrset.from_text("x.test.", 60, "IN", "TXT", " ".join(['"' + "a" * 250 + '"'] * 12))
    (text,) = record_texts(long_txt)
    assert len(text) == MAX_TXT_TEXT and text.endswith("…")
    hostile = dns.rrset.from_text("x.test.", 60, "IN", "TXT", '"v=spf1\\010-all\\027"')
    assert record_texts(hostile) == ("v=spf1\ufffd-all\ufffd",)
    soa = dns.rrset.from_text("x.test.", 60, "IN", "SOA", "ns." + "a" * 60 + ".test. h.test. 1 2 3 4 5")
    assert record_texts(soa)[0].startswith("ns.")


def test_settings_validation() -> None:
    settings = _Settings.from_mapping(
        {
            "dkim_selectors": ["s1", "Extra", "x y", 3, "a.b"],
            "common_labels": ["VPN", "-bad", "vpn"],
            "ns_port": 0,
        }
    )
    assert settings.selectors[: len(DEFAULT_DKIM_SELECTORS)] == DEFAULT_DKIM_SELECTORS
    assert settings.selectors[len(DEFAULT_DKIM_SELECTORS) :] == ("extra", "3", "a.b")
    assert settings.common_labels == ("vpn",) and settings.ns_port == 53
    assert _Settings.from_mapping({}).trust_anchor == ""
    assert _Settings.from_mapping({"recursion_probe_name": "Sonde.Example."}).recursion_probe_name == (
        "sonde.example"
    )
    assert (
        _Settings.from_mapping({"recursion_probe_name": "pas un nom"}).recursion_probe_name
        == (DnsCollector.defaults["recursion_probe_name"])
    )


def test_the_engine_resolver_is_left_as_it_was(primary: LocalDnsServer) -> None:
    ctx = _context(primary.port, common_labels=[], dkim_selectors=[])
    engine = ctx.guard.resolver.dns
    before = (engine.timeout, engine.lifetime, engine.edns, engine.ednsflags, engine.retry_servfail)
    snapshot = _collect("mairie-rsa.test", ctx)
    assert snapshot.records("mairie-rsa.test", "A") == ("127.0.0.1",)
    assert (engine.timeout, engine.lifetime, engine.edns, engine.ednsflags, engine.retry_servfail) == before


# --- the local server itself ---------------------------------------------------------------------------


def _ask(server: LocalDnsServer, name: str, rdtype: str, **options: Any) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **options)
    return dns.query.udp(query, server.address, port=server.port, timeout=1.0)


def test_server_flags_and_negative_answers() -> None:
    zone = dns.zone.from_text(  # a relativized zone, as dns.zone.from_text makes by default
        "$TTL 60\n@ SOA ns1 h 7 1 1 1 1\n@ NS ns1\nns1 A 127.0.0.1\na.b A 192.0.2.1\n", origin="exemple.test"
    )
    with LocalDnsServer([zone]) as server:
        found = _ask(server, "a.b.exemple.test", "A")
        assert found.flags & dns.flags.AA and not found.flags & dns.flags.RA
        assert [r.to_text() for r in found.answer] == ["a.b.exemple.test. 60 IN A 192.0.2.1"]
        nodata = _ask(server, "b.exemple.test", "A")  # an empty non-terminal: NODATA, not NXDOMAIN
        missing = _ask(server, "c.exemple.test", "A")
        elsewhere = _ask(server, "autre.example", "A")
    assert (nodata.rcode(), nodata.answer) == (dns.rcode.NOERROR, [])
    assert missing.rcode() == dns.rcode.NXDOMAIN
    for negative in (nodata, missing):
        assert [r.rdtype for r in negative.authority] == [dns.rdatatype.SOA]
    assert elsewhere.rcode() == dns.rcode.REFUSED and not elsewhere.flags & dns.flags.AA


def test_server_truncates_udp_and_answers_over_tcp() -> None:
    hosts = "\n".join(f"gros A 192.0.2.{i}" for i in range(1, 60))
    with LocalDnsServer([make_zone("gros.test", f"@ NS ns1\nns1 A 127.0.0.1\n{hosts}\n")]) as server:
        udp = _ask(server, "gros.gros.test", "A")
        tcp = dns.query.tcp(
            dns.message.make_query("gros.gros.test", "A"), "127.0.0.1", port=server.port, timeout=1
        )
    assert udp.flags & dns.flags.TC
    assert len(tcp.answer[0]) == 59 and not tcp.flags & dns.flags.TC


def test_server_refers_below_a_cut_and_answers_ds_from_the_parent(world: World) -> None:
    with LocalDnsServer(world.served(["test"])) as parent:
        referral = _ask(parent, "www.mairie-modele.test", "A", want_dnssec=True)
        ds = _ask(parent, "mairie-modele.test", "DS", want_dnssec=True)
    assert referral.rcode() == dns.rcode.NOERROR and not referral.flags & dns.flags.AA
    assert referral.answer == []
    assert {(r.rdtype, str(r.name)) for r in referral.authority} >= {
        (dns.rdatatype.NS, "mairie-modele.test."),
        (dns.rdatatype.DS, "mairie-modele.test."),
    }
    assert {str(r.name) for r in referral.additional} == {
        "ns1.mairie-modele.test.",
        "ns2.mairie-modele.test.",
    }
    assert ds.flags & dns.flags.AA
    assert [r.rdtype for r in ds.answer] == [dns.rdatatype.DS, dns.rdatatype.RRSIG]


def test_server_open_resolver_needs_rd_and_unknown_opcodes_are_refused() -> None:
    with LocalDnsServer(open_resolver=True) as server:
        recursive = _ask(server, "partout.example", "A")
        no_rd = dns.message.make_query("partout.example", "A")
        no_rd.flags &= ~dns.flags.RD
        iterative = dns.query.udp(no_rd, "127.0.0.1", port=server.port, timeout=1.0)
        notify = dns.message.make_query("partout.example", "SOA")
        notify.set_opcode(dns.opcode.NOTIFY)
        not_implemented = dns.query.udp(notify, "127.0.0.1", port=server.port, timeout=1.0)
    assert recursive.flags & dns.flags.RA and recursive.answer[0][0].to_text() == OPEN_RESOLVER_A
    assert iterative.rcode() == dns.rcode.REFUSED
    assert not_implemented.rcode() == dns.rcode.NOTIMP


def test_name_server_probes_go_through_the_guard_and_its_rate_limit(
    primary: LocalDnsServer, secondary: LocalDnsServer, anchor_file: Path
) -> None:
    """Fleet mode paces every address through the guard: direct SOA/NS/AXFR queries included."""

    class Recording:
        def __init__(self) -> None:
            self.addresses: list[str] = []

        def acquire(self, address: str) -> None:
            self.addresses.append(address)

    limiter = Recording()
    ctx = _context(primary.port, trust_anchor=str(anchor_file))
    ctx.guard.limiter = limiter
    snapshot = _collect("mairie-modele.test", ctx)
    probed = {a.address for ns in snapshot.nameservers for a in ns.addresses if a.answered}
    assert probed == {"127.0.0.1", "127.0.0.2"}
    assert probed <= set(limiter.addresses)
