"""Facts gathered by the DNS collector: one snapshot of a domain's records, name servers and DNSSEC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from ..plugin import Facts


class Outcome(str, Enum):
    """How one (name, type) query ended. "No record" (NXDOMAIN, NODATA) is never "could not tell"."""

    NOERROR = "NOERROR"  # records returned
    NXDOMAIN = "NXDOMAIN"  # the name does not exist
    NODATA = "NODATA"  # the name exists, no record of that type
    SERVFAIL = "SERVFAIL"  # the resolver failed (a bogus DNSSEC chain gives this on a validating one)
    REFUSED = "REFUSED"
    TIMEOUT = "TIMEOUT"
    ERROR = "ERROR"  # anything else (malformed answer, network error)

    @property
    def absent(self) -> bool:
        """The answer proves there is no such record."""
        return self in (Outcome.NXDOMAIN, Outcome.NODATA)

    @property
    def failed(self) -> bool:
        """The scanner could not tell whether the record exists."""
        return self in (Outcome.SERVFAIL, Outcome.REFUSED, Outcome.TIMEOUT, Outcome.ERROR)


@dataclass(frozen=True)
class DnsAnswer:
    """One query of the snapshot and its outcome, records kept as presentation text."""

    #: the queried name, lower case, without the trailing dot
    name: str
    #: "A", "AAAA", "MX", "TXT", "CNAME", "NS", "SOA", "CAA", "TLSA", "DNSKEY", "DS", …
    rdtype: str
    outcome: Outcome
    ttl: int | None = None
    #: records of the queried type at the queried name, as dnspython's to_text(); TXT records are
    #: given as their joined character-strings without quotes ("v=spf1 -all"), bounded
    records: tuple[str, ...] = ()
    #: CNAMEs the resolver followed to reach the answer, in order (targets, without trailing dot)
    cname_chain: tuple[str, ...] = ()
    #: the resolver set AD (it validated the answer); informative only, the collector validates itself
    authenticated: bool = False
    #: reason for a failed outcome, bounded
    detail: str | None = None


@dataclass(frozen=True)
class DnssecKey:
    """One DNSKEY of the zone."""

    key_tag: int
    algorithm: int
    flags: int
    #: modulus size for RSA, curve size for ECDSA/EdDSA; None when unknown
    key_bits: int | None = None

    @property
    def is_ksk(self) -> bool:
        return bool(self.flags & 0x0001)


@dataclass(frozen=True)
class SignatureWindow:
    """One RRSIG seen while validating: what it covers and when it is valid (ISO 8601 UTC)."""

    name: str
    covered: str
    algorithm: int
    key_tag: int
    inception: str
    expiration: str


@dataclass(frozen=True)
class DnssecFacts:
    """The DNSSEC verdict of the domain's zone, validated by the collector from a trust anchor."""

    #: "secure" (chain validates), "insecure" (provably or apparently unsigned: no DS at the parent),
    #: "bogus" (signed but the chain breaks: expired RRSIG, DS/DNSKEY mismatch, bad signature),
    #: "indeterminate" (the scanner could not fetch what it needed: timeouts, SERVFAIL)
    status: str
    #: one bounded sentence: why this status ("RRSIG SOA expired 2026-10-01T00:00:00Z")
    reason: str
    #: the zone whose apex holds the domain's records, without trailing dot ("" for the root)
    zone: str
    #: "IANA root" or "file NAME" (a `--trust-anchor`), and the zone the anchor is for
    anchor: str = "IANA root"
    anchor_zone: str = ""
    #: zones walked from the anchor down to `zone`
    chain: tuple[str, ...] = ()
    #: DS records of `zone` at its parent, presentation text
    ds: tuple[str, ...] = ()
    keys: tuple[DnssecKey, ...] = ()
    signatures: tuple[SignatureWindow, ...] = ()
    #: "nsec", "nsec3" or None (not observed)
    denial: str | None = None
    nsec3_iterations: int | None = None


@dataclass(frozen=True)
class AxfrAttempt:
    """One zone-transfer attempt (TCP) on one authoritative address."""

    #: "refused" (REFUSED/NOTAUTH/closed/empty), "transferred" (records came back), "error" (timeout…)
    outcome: str
    records: int = 0
    #: a few transferred owner names with their types, bounded: the evidence, never the whole zone
    sample: tuple[str, ...] = ()
    detail: str | None = None


@dataclass(frozen=True)
class RecursionProbe:
    """A recursive query for a name outside the zone, sent to one in-scope address."""

    address: str
    #: "answered" (recursion available and an answer came), "refused" (REFUSED, no RA, referral),
    #: "no_answer" (timeout: nothing listens), "error"
    outcome: str
    detail: str | None = None


@dataclass(frozen=True)
class NameServerAddress:
    """What one address of an authoritative name server answered for the zone."""

    address: str
    #: it answered the SOA query at all
    answered: bool
    #: the AA flag was set on the SOA answer (a lame server answers without it, or refuses)
    authoritative: bool = False
    soa_serial: int | None = None
    #: the NS set this server returns for the zone (child side), host names without trailing dot
    ns_set: tuple[str, ...] = ()
    axfr: AxfrAttempt | None = None
    #: set only when the address is inside the declared scope (the probe is active)
    recursion: RecursionProbe | None = None
    detail: str | None = None


@dataclass(frozen=True)
class NameServer:
    """One NS host of the zone (from the parent/resolver view) and what each of its addresses said."""

    host: str
    #: outcome of resolving the host's addresses (NXDOMAIN here means a delegation to a dead name)
    resolution: Outcome
    addresses: tuple[NameServerAddress, ...] = ()


@dataclass(frozen=True)
class DnsSnapshot(Facts):
    """Every DNS fact about one domain, taken once; checks read it, nothing re-queries."""

    kind: ClassVar[str] = "dns"
    #: the target's domain, lower case; "" for IP and network targets (only `recursion` is set)
    domain: str = ""
    #: the zone apex holding `domain` (from the SOA), "" when unknown
    zone: str = ""
    #: every query the collector made, in order; at most one answer per (name, rdtype)
    queries: tuple[DnsAnswer, ...] = ()
    nameservers: tuple[NameServer, ...] = ()
    dnssec: DnssecFacts | None = None
    #: names examined for dangling records, each with why: {"www.x.fr": ("common",), "mx1.x.fr": ("mx",)}
    hostnames: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: DKIM selectors queried (built-in list plus the configured ones), in order
    dkim_selectors: tuple[str, ...] = ()
    #: recursion probes of in-scope addresses that are not authoritative servers (IP targets)
    recursion: tuple[RecursionProbe, ...] = ()
    #: in-scope-only probes skipped because the address is outside the scope ("host address")
    not_probed: tuple[str, ...] = ()
    #: "IP:PORT" of the resolver, "system"
    resolver: str = ""
    #: when the facts were collected (ISO 8601 UTC)
    collected_at: str = ""

    def answer(self, name: str, rdtype: str) -> DnsAnswer | None:
        """The recorded answer for (name, rdtype), None when the collector did not ask."""
        key = (name.lower().rstrip("."), rdtype.upper())
        for query in self.queries:
            if (query.name, query.rdtype) == key:
                return query
        return None

    def records(self, name: str, rdtype: str) -> tuple[str, ...]:
        """Records of (name, rdtype), empty when absent, failed or not asked."""
        found = self.answer(name, rdtype)
        return found.records if found is not None and found.outcome is Outcome.NOERROR else ()

    def txt_starting(self, name: str, prefix: str) -> tuple[str, ...]:
        """TXT records at `name` starting with `prefix` (case-insensitive), e.g. "v=spf1"."""
        wanted = prefix.lower()
        return tuple(
            r
            for r in self.records(name, "TXT")
            if r.lower().startswith(wanted) and (len(r) == len(wanted) or r[len(wanted)] in " ;")
        )
