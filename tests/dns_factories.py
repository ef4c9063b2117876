"""Builders of recorded DNS snapshots for pure check tests: a zone as a dict, the rest defaulted.

`snapshot()` and `answer()` build any snapshot from scratch (the MAIL tests use them too). `healthy()` is
what a careful commune publishes, for the DNS-* checks: two name servers on distinct networks (one with
the commune, one at a DNS host), both answering with authority, the same serial and NS set, refusing
zone transfers and recursion; a DNSSEC-signed zone (ECDSA P-256, NSEC3) with signatures valid for weeks;
an MX, an SPF include, a CAA naming Let's Encrypt with an iodef address; `www` and a few common labels
examined for dangling records. `rdap()` is the matching registration: a year left, every lock set.
Tests change one thing with `put()` (replace or add answers), `drop()` or `dataclasses.replace()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cyberscan.collectors.dns_facts import (
    AxfrAttempt,
    DnsAnswer,
    DnssecFacts,
    DnssecKey,
    DnsSnapshot,
    NameServer,
    NameServerAddress,
    Outcome,
    RecursionProbe,
    SignatureWindow,
)
from cyberscan.collectors.rdap_facts import RdapFacts

COLLECTED_AT = "2026-11-01T12:00:00+00:00"

#: a zone: {(name, rdtype): records}; an empty list records NODATA; a key missing is not asked,
#: unless the name is listed in `nxdomain`, or the pair in `outcomes`
Zone = Mapping[tuple[str, str], Iterable[str]]

DOMAIN = "mairie-exemple.fr"
WWW = f"www.{DOMAIN}"
MX = f"mx1.{DOMAIN}"
NS1 = f"ns1.{DOMAIN}"
NS2 = "ns2.hebergeur-dns.net"
NS1_V4, NS1_V6 = "192.0.2.53", "2001:db8:1::53"
NS2_V4, NS2_V6 = "198.51.100.53", "2001:db8:2::53"
SPF_INCLUDE = "_spf.messagerie-exemple.net"
SERIAL = 2026110101
KSK_TAG, ZSK_TAG = 31589, 12345


def answer(
    name: str, rdtype: str, *records: str, outcome: Outcome | None = None, ttl: int = 3600
) -> DnsAnswer:
    """One recorded query; NOERROR with records, NODATA without, unless `outcome` says otherwise."""
    status = outcome or (Outcome.NOERROR if records else Outcome.NODATA)
    return DnsAnswer(name, rdtype, status, ttl if status is Outcome.NOERROR else None, tuple(records))


def snapshot(
    domain: str = "mairie.fr",
    zone: Zone | None = None,
    nxdomain: Iterable[tuple[str, str]] = (),
    outcomes: Mapping[tuple[str, str], Outcome] | None = None,
    **overrides: Any,
) -> DnsSnapshot:
    """A snapshot whose queries are `zone` (NOERROR/NODATA), `nxdomain` pairs and failed `outcomes`."""
    queries = [answer(name, rdtype, *records) for (name, rdtype), records in (zone or {}).items()]
    queries += [answer(name, rdtype, outcome=Outcome.NXDOMAIN) for name, rdtype in nxdomain]
    queries += [answer(name, rdtype, outcome=o) for (name, rdtype), o in (outcomes or {}).items()]
    base = DnsSnapshot(
        domain=domain,
        zone=domain,
        queries=tuple(queries),
        resolver="127.0.0.1:53",
        collected_at=COLLECTED_AT,
    )
    return replace(base, **overrides)


# --------------------------------------------------------------------------------------------------
# Time, relative to the collection instant (checks never read the clock)


def at(days: float, base: str = COLLECTED_AT) -> str:
    """The ISO 8601 instant `days` after `base` (negative: before)."""
    return (datetime.fromisoformat(base) + timedelta(days=days)).isoformat()


# --------------------------------------------------------------------------------------------------
# Name servers


def ns_address(
    address: str,
    *,
    answered: bool = True,
    authoritative: bool = True,
    serial: int | None = SERIAL,
    ns_set: tuple[str, ...] = (NS1, NS2),
    axfr: str | None = "refused",
    records: int = 0,
    sample: tuple[str, ...] = (),
    recursion: str | None = "refused",
    detail: str | None = None,
) -> NameServerAddress:
    """One address of a name server; `axfr` and `recursion` are outcomes (None: not attempted/probed)."""
    if not answered:
        authoritative, serial, ns_set = False, None, ()
    return NameServerAddress(
        address=address,
        answered=answered,
        authoritative=authoritative,
        soa_serial=serial,
        ns_set=ns_set,
        axfr=None
        if axfr is None
        else AxfrAttempt(axfr, records, sample, detail if axfr == "error" else None),
        recursion=None
        if recursion is None
        else RecursionProbe(address, recursion, detail if recursion == "error" else None),
        detail=detail,
    )


def nameserver(
    host: str, *addresses: NameServerAddress | str, resolution: Outcome = Outcome.NOERROR
) -> NameServer:
    """An NS host; addresses given as text get the healthy defaults of `ns_address()`."""
    built = tuple(a if isinstance(a, NameServerAddress) else ns_address(a) for a in addresses)
    return NameServer(host, resolution, built)


def nameservers(**changes: Any) -> tuple[NameServer, ...]:
    """The two healthy name servers, every address built with `ns_address(address, **changes)`."""
    return (
        nameserver(NS1, ns_address(NS1_V4, **changes), ns_address(NS1_V6, **changes)),
        nameserver(NS2, ns_address(NS2_V4, **changes), ns_address(NS2_V6, **changes)),
    )


# --------------------------------------------------------------------------------------------------
# DNSSEC


def key(tag: int = KSK_TAG, algorithm: int = 13, flags: int = 257, bits: int | None = 256) -> DnssecKey:
    return DnssecKey(key_tag=tag, algorithm=algorithm, flags=flags, key_bits=bits)


def signature(
    covered: str = "SOA", days: float = 20, name: str = DOMAIN, algorithm: int = 13
) -> SignatureWindow:
    """An RRSIG over (name, covered), valid from 10 days before collection until `days` after it."""
    return SignatureWindow(name, covered, algorithm, ZSK_TAG, at(-10), at(days))


def dnssec(status: str = "secure", **changes: Any) -> DnssecFacts:
    """The zone's DNSSEC facts: signed with ECDSA P-256 (KSK + ZSK), NSEC3, validated from a test anchor."""
    reasons = {
        "secure": "the chain of trust validates",
        "insecure": f"no DS record for {DOMAIN} at fr",
        "bogus": f"RRSIG SOA {DOMAIN} expired {at(-1)}",
        "indeterminate": f"DNSKEY {DOMAIN}: timed out",
    }
    signed = status != "insecure"
    base = DnssecFacts(
        status=status,
        reason=reasons.get(status, status),
        zone=DOMAIN,
        anchor="file test-anchor.ds",
        anchor_zone="fr",
        chain=("fr", DOMAIN),
        ds=(f"{KSK_TAG} 13 2 " + "ab" * 32,) if signed else (),
        keys=(key(), key(ZSK_TAG, flags=256)) if signed else (),
        signatures=(signature("SOA"), signature("DNSKEY"), signature("DS", days=2, name=DOMAIN))
        if signed
        else (),
        denial="nsec3" if signed else None,
        nsec3_iterations=0 if signed else None,
    )
    return replace(base, **changes)


# --------------------------------------------------------------------------------------------------
# The healthy commune

HEALTHY_ZONE: dict[tuple[str, str], list[str]] = {
    (DOMAIN, "SOA"): [f"{NS1}. hostmaster.{DOMAIN}. {SERIAL} 3600 900 1209600 300"],
    (DOMAIN, "NS"): [f"{NS1}.", f"{NS2}."],
    (DOMAIN, "A"): ["192.0.2.80"],
    (DOMAIN, "AAAA"): [],
    (DOMAIN, "MX"): [f"10 {MX}."],
    (DOMAIN, "TXT"): [f"v=spf1 mx include:{SPF_INCLUDE} -all"],
    (DOMAIN, "CAA"): ['0 issue "letsencrypt.org"', f'0 iodef "mailto:dsi@{DOMAIN}"'],
    (WWW, "CNAME"): [],
    (WWW, "A"): ["192.0.2.80"],
    (MX, "CNAME"): [],
    (MX, "A"): ["192.0.2.25"],
    (MX, "AAAA"): [],
    (SPF_INCLUDE, "TXT"): ["v=spf1 ip4:203.0.113.0/24 -all"],
    (NS1, "A"): [NS1_V4],
    (NS1, "AAAA"): [NS1_V6],
    (NS2, "A"): [NS2_V4],
    (NS2, "AAAA"): [NS2_V6],
}
#: common labels that do not exist (the usual case): examined, not dangling
ABSENT_LABELS = (f"extranet.{DOMAIN}", f"vpn.{DOMAIN}")

HEALTHY_HOSTNAMES: dict[str, tuple[str, ...]] = {
    WWW: ("www",),
    MX: ("mx",),
    NS1: ("ns",),
    NS2: ("ns",),
    SPF_INCLUDE: ("spf",),
    **{label: ("common",) for label in ABSENT_LABELS},
}


def healthy(**overrides: Any) -> DnsSnapshot:
    """A well-configured commune's snapshot (see the module docstring); `overrides` replace fields."""
    base = snapshot(
        DOMAIN,
        HEALTHY_ZONE,
        nxdomain=[(label, rdtype) for label in ABSENT_LABELS for rdtype in ("CNAME", "A")],
        nameservers=nameservers(),
        dnssec=dnssec(),
        hostnames=HEALTHY_HOSTNAMES,
    )
    return replace(base, **overrides)


def put(snap: DnsSnapshot, *answers: DnsAnswer) -> DnsSnapshot:
    """`snap` with these answers replacing the recorded ones for the same (name, rdtype), or added."""
    keys = {(a.name, a.rdtype) for a in answers}
    kept = tuple(q for q in snap.queries if (q.name, q.rdtype) not in keys)
    return replace(snap, queries=kept + answers)


def drop(snap: DnsSnapshot, *keys: tuple[str, str]) -> DnsSnapshot:
    """`snap` without the answers for these (name, rdtype) pairs (as if the collector never asked)."""
    return replace(snap, queries=tuple(q for q in snap.queries if (q.name, q.rdtype) not in set(keys)))


def with_hosts(snap: DnsSnapshot, **sources: tuple[str, ...]) -> DnsSnapshot:
    """`snap` examining more names for dangling records: with_hosts(s, **{"a.x.fr": ("common",)})."""
    return replace(snap, hostnames={**snap.hostnames, **sources})


# --------------------------------------------------------------------------------------------------
# RDAP

ALL_LOCKS = (
    "active",
    "client transfer prohibited",
    "client update prohibited",
    "client delete prohibited",
    "server transfer prohibited",
    "server update prohibited",
    "server delete prohibited",
)


def rdap(**changes: Any) -> RdapFacts:
    """The registry's view of the healthy domain: expires in 200 days, registrar and registry locks set."""
    base = RdapFacts(
        domain=DOMAIN,
        url=f"https://rdap.nic.fr/domain/{DOMAIN}",
        outcome="ok",
        registration=at(-3000),
        expiration=at(200),
        last_changed=at(-100),
        statuses=ALL_LOCKS,
        registrar="Registrar Exemple SAS",
        collected_at=COLLECTED_AT,
    )
    return replace(base, **changes)
