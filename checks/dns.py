"""DNS and domain checks (checklist §1.2): DNSSEC, name servers, zone transfers, open resolvers, CAA,
dangling records, and the registration of the domain (RDAP).

Every check is a pure function of the recorded facts: `DnsSnapshot` (one snapshot per domain, taken by
the DNS collector), `RdapFacts` (the registry's view of the registered domain) and, for DNS-CAA only,
`TlsFacts` when a TLS scan ran too (read if present, never required: a DNS-only scan never runs sslyze).

Rules shared by every check (`_DnsCheck`), in this order:
- an IP or network target has no domain: `not_applicable` ("not_domain"), except DNS-OPEN-RESOLVER,
  which probes addresses;
- a domain the resolver says does not exist (NXDOMAIN and nothing else for that name) is
  `not_applicable` ("no_domain"): DNS-DOMAIN-EXPIRY (RDAP) is the check that says it is not registered;
- a query whose answer the verdict needs and that failed (TIMEOUT, SERVFAIL, REFUSED…) is an `error`
  (TIMEOUT or DNS_FAILURE) naming the query, never a pass: "no record" (NXDOMAIN, NODATA) and "could not
  tell" are kept apart throughout;
- dates (RRSIG windows, domain expiry) are judged against the facts' `collected_at`, never the clock,
  so a replay of saved facts gives the verdicts of the day of the scan.

Resources: the zone ("mairie-exemple.fr") for zone-wide verdicts, "HOST (ADDRESS)" for one address of a
name server, the host name for a dangling record, the registered domain for RDAP checks.
"""

from __future__ import annotations

import ipaddress
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from cyberscan.bounds import join_bounded
from cyberscan.collectors.dns_facts import (
    DnsAnswer,
    DnssecFacts,
    DnsSnapshot,
    NameServer,
    NameServerAddress,
    Outcome,
    RecursionProbe,
)
from cyberscan.collectors.mailauth import walk_spf
from cyberscan.collectors.rdap_facts import RdapFacts
from cyberscan.collectors.tls_facts import TlsFacts
from cyberscan.models import ErrorKind, Finding, Severity, Status
from cyberscan.plugin import Check, FactBag
from cyberscan.targets import TargetKind
from cyberscan.timestamps import parse_instant, utc_day

if TYPE_CHECKING:
    import dns.rdata

_MAX_ITEMS = 20
_MAX_CNAME_HOPS = 10
_ADDRESS_TARGETS = (TargetKind.IP, TargetKind.NETWORK)


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def _host(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _strs(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name, [])
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


def _ints(params: Mapping[str, Any], name: str) -> set[int]:
    return {int(item) for item in params.get(name, []) if isinstance(item, int)}


def _rdata(rdtype: str, text: str) -> dns.rdata.Rdata | None:
    """Parse one record's presentation text with dnspython; None when it does not parse (the text comes
    from the target and may be garbage or cut short by the collector's bounds)."""
    # Imported here: dnspython's rdata machinery costs ~70 ms, paid only when a DNS check runs.
    import dns.exception
    import dns.rdata

    try:
        return dns.rdata.from_text("IN", rdtype, text)
    except (dns.exception.DNSException, ValueError, TypeError):
        return None


def _name_of(rdtype: str, text: str) -> str | None:
    """The host a MX, NS or CNAME record points to ("" for the root: a null MX); None if unparseable."""
    import dns.name
    from dns.rdtypes.ANY.CNAME import CNAME
    from dns.rdtypes.ANY.MX import MX
    from dns.rdtypes.ANY.NS import NS

    rd = _rdata(rdtype, text)
    if isinstance(rd, MX):
        name = rd.exchange
    elif isinstance(rd, NS | CNAME):
        name = rd.target
    else:
        return None
    return "" if name == dns.name.root else _host(name.to_text(omit_final_dot=True))


def _algorithm_name(number: int) -> str:
    import dns.dnssectypes

    return f"{dns.dnssectypes.Algorithm.to_text(number)} ({number})"


def _in_domain(name: str, domain: str) -> bool:
    return bool(domain) and (name == domain or name.endswith("." + domain))


def _outcome_kind(outcome: Outcome) -> ErrorKind:
    return ErrorKind.TIMEOUT if outcome is Outcome.TIMEOUT else ErrorKind.DNS_FAILURE


def _detail_kind(detail: str | None, default: ErrorKind) -> ErrorKind:
    """An error kind read from a collector's failure text ("timed out", "no answer within 2.0 s" -> TIMEOUT;
    "the target's scan deadline was near" -> DEADLINE)."""
    text = (detail or "").lower()
    if "deadline" in text:
        return ErrorKind.DEADLINE
    if any(word in text for word in ("timeout", "timed out", "no answer within")):
        return ErrorKind.TIMEOUT
    return default


def _scanner_side(detail: str | None) -> bool:
    """Whether a failed probe says more about the scanner than about the server: it was skipped for the
    deadline, or the scanner's own host has no route to that network (no IPv6, typically)."""
    text = (detail or "").lower()
    return "deadline" in text or "network is unreachable" in text


def _describe(answer: DnsAnswer) -> str:
    why = f" ({answer.detail})" if answer.detail and answer.detail != answer.outcome.value else ""
    return f"{answer.name} {answer.rdtype}: {answer.outcome.value}{why}"


def _address_family(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return None


def _network(address: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) holding `address`: servers sharing one share a routing fate."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def _label(host: str, address: str) -> str:
    return f"{host} ({address})"


# --------------------------------------------------------------------------------------------------
# Common base


class _DnsCheck(Check):
    """Applies the shared rules (IP targets, nonexistent domain) before judging the snapshot."""

    requires = (DnsSnapshot,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        if self.target.kind in _ADDRESS_TARGETS:
            yield self.finding(Status.NOT_APPLICABLE, self.target.name, "not_domain", target=self.target.name)
            return
        if not snap.domain:
            yield self.error(self.target.name, ErrorKind.NO_FACTS, "the DNS snapshot names no domain")
            return
        missing = self._nonexistent(snap)
        if missing is not None:
            yield self.finding(
                Status.NOT_APPLICABLE,
                snap.domain,
                "no_domain",
                evidence={"query": f"{missing.name} {missing.rdtype}", "outcome": missing.outcome.value},
                domain=snap.domain,
            )
            return
        yield from self.judge(snap, facts)

    @staticmethod
    def _nonexistent(snap: DnsSnapshot) -> DnsAnswer | None:
        """The NXDOMAIN answer proving the domain does not exist, unless another answer says it does."""
        answers = [q for q in snap.queries if q.name == snap.domain]
        if any(q.outcome in (Outcome.NOERROR, Outcome.NODATA) for q in answers):
            return None
        return next((q for q in answers if q.outcome is Outcome.NXDOMAIN), None)

    @abstractmethod
    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        """The findings for a domain that exists (or whose existence could not be disproved)."""

    def query_error(self, resource: str, answer: DnsAnswer) -> Finding:
        return self.error(resource, _outcome_kind(answer.outcome), _describe(answer))

    def zone(self, snap: DnsSnapshot) -> str:
        return snap.zone or snap.domain

    def no_servers(self, snap: DnsSnapshot) -> Finding:
        """The error when no name server of the zone was recorded: the failed query if there is one."""
        zone = self.zone(snap)
        for name, rdtype in ((zone, "NS"), (snap.domain, "SOA"), (zone, "SOA")):
            answer = snap.answer(name, rdtype)
            if answer is not None and answer.outcome.failed:
                return self.query_error(zone, answer)
        return self.error(zone, ErrorKind.NO_FACTS, f"no name server of {zone} was recorded")

    def no_addresses(self, snap: DnsSnapshot) -> Finding | None:
        """When no name server has an address: an error if resolving one failed, else not_applicable
        ("no_addresses": nothing to probe, DNS-NS-LAME says why). None when there is an address."""
        if not snap.nameservers:
            return self.no_servers(snap)
        if any(ns.addresses for ns in snap.nameservers):
            return None
        zone = self.zone(snap)
        failed = next((ns for ns in snap.nameservers if ns.resolution.failed), None)
        if failed is not None:
            detail = f"the addresses of {failed.host} could not be resolved ({failed.resolution.value})"
            return self.error(zone, _outcome_kind(failed.resolution), detail)
        hosts = join_bounded(f"{ns.host}: {ns.resolution.value}" for ns in snap.nameservers)
        return self.finding(Status.NOT_APPLICABLE, zone, "no_addresses", zone=zone, hosts=hosts)


# --------------------------------------------------------------------------------------------------
# DNSSEC


class Dnssec(_DnsCheck):
    """PASS: the zone is signed and its chain of trust validates from the anchor. WARN (medium): unsigned
    (no DS at the parent). FAIL (high): bogus (expired RRSIG, DS matching no DNSKEY, bad signature).
    ERROR: the validation could not be completed (timeouts, SERVFAIL)."""

    id = "DNS-DNSSEC"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        found = snap.dnssec
        if found is None:
            yield self.error(self.zone(snap), ErrorKind.NO_FACTS, "no DNSSEC verdict was recorded")
            return
        zone = found.zone or self.zone(snap)
        evidence = {
            "status": found.status,
            "reason": found.reason,
            "anchor": f"{found.anchor} ({found.anchor_zone or '.'})",
            "chain": list(found.chain),
            "ds": list(found.ds)[:_MAX_ITEMS],
            "keys": [f"{k.key_tag} {_algorithm_name(k.algorithm)} flags {k.flags}" for k in found.keys][
                :_MAX_ITEMS
            ],
        }
        if found.status == "secure":
            yield self.finding(Status.PASS, zone, "pass", evidence=evidence, zone=zone)
        elif found.status == "insecure":
            yield self.finding(
                Status.WARN, zone, "unsigned", evidence=evidence, severity=Severity.MEDIUM, zone=zone
            )
        elif found.status == "bogus":
            yield self.finding(
                Status.FAIL,
                zone,
                "bogus",
                evidence=evidence,
                severity=Severity.HIGH,
                zone=zone,
                reason=found.reason,
            )
        elif found.status == "indeterminate":
            kind = _detail_kind(found.reason, ErrorKind.DNS_FAILURE)
            yield self.error(zone, kind, f"DNSSEC validation of {zone} incomplete: {found.reason}")
        else:
            yield self.error(zone, ErrorKind.BUG, f"unknown DNSSEC status {found.status!r}")


class DnssecAlgo(_DnsCheck):
    """PASS: every DNSKEY uses algorithm 8, 13, 14, 15 or 16 (RSA keys of 2048 bits or more) and no RRSIG
    of the zone expires within 3 days. WARN (low): a small RSA key, an uncommon algorithm, or an RRSIG
    close to (or past) its expiry. FAIL (medium): RSA/SHA-1 or an algorithm RFC 8624 forbids. N/A: unsigned
    zone. The denial of existence (NSEC, zone walkable, or NSEC3) is reported in every message."""

    id = "DNS-DNSSEC-ALGO"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        found = snap.dnssec
        zone = (found.zone if found is not None else "") or self.zone(snap)
        if found is None:
            yield self.error(zone, ErrorKind.NO_FACTS, "no DNSSEC verdict was recorded")
            return
        if not found.keys:
            if found.status == "insecure":
                yield self.finding(Status.NOT_APPLICABLE, zone, "unsigned", zone=zone)
            elif found.status == "indeterminate":
                kind = _detail_kind(found.reason, ErrorKind.DNS_FAILURE)
                yield self.error(zone, kind, f"the DNSKEY set of {zone} could not be read: {found.reason}")
            else:
                yield self.error(
                    zone, ErrorKind.NO_FACTS, f"no DNSKEY of {zone} was recorded ({found.status})"
                )
            return
        yield self._keys(found, zone, snap.collected_at)

    def _keys(self, found: DnssecFacts, zone: str, collected_at: str) -> Finding:
        good = _ints(self.params, "good_algorithms")
        forbidden = _ints(self.params, "forbidden_algorithms")
        rsa = _ints(self.params, "rsa_algorithms")
        min_rsa = int(self.params["min_rsa_bits"])
        algorithms = sorted({k.algorithm for k in found.keys})
        weak = [a for a in algorithms if a in forbidden]
        unusual = [a for a in algorithms if a not in good and a not in forbidden]
        small = [
            f"{k.key_tag} ({k.key_bits} bits)"
            for k in found.keys
            if k.algorithm in rsa and k.key_bits is not None and k.key_bits < min_rsa
        ]
        expired, expiring, windows = self._windows(found, zone, collected_at)
        denial = (found.denial or "?").upper()
        evidence: dict[str, Any] = {
            "keys": [
                {"tag": k.key_tag, "algorithm": k.algorithm, "flags": k.flags, "bits": k.key_bits}
                for k in found.keys
            ][:_MAX_ITEMS],
            "denial": found.denial,
            "nsec3_iterations": found.nsec3_iterations,
            "signatures_expired": expired,
            "signatures_expiring": expiring,
            "signature_windows": windows,
        }
        names = join_bounded(_algorithm_name(a) for a in algorithms)
        common: dict[str, Any] = {"zone": zone, "denial": denial, "algorithms": names}
        if weak:
            shown = join_bounded(_algorithm_name(a) for a in weak)
            return self.finding(Status.FAIL, zone, "weak_algorithm", evidence=evidence, weak=shown, **common)
        low = Severity.LOW
        if small:
            return self.finding(
                Status.WARN,
                zone,
                "small_rsa",
                evidence=evidence,
                severity=low,
                keys=join_bounded(small),
                **common,
            )
        if unusual:
            shown = join_bounded(_algorithm_name(a) for a in unusual)
            return self.finding(
                Status.WARN,
                zone,
                "unusual_algorithm",
                evidence=evidence,
                severity=low,
                unusual=shown,
                **common,
            )
        if expired:
            return self.finding(
                Status.WARN,
                zone,
                "signature_expired",
                evidence=evidence,
                severity=low,
                rrsets=join_bounded(expired),
                **common,
            )
        if expiring:
            days = str(int(self.params["min_signature_days"]))
            return self.finding(
                Status.WARN,
                zone,
                "signature_expiring",
                evidence=evidence,
                severity=low,
                rrsets=join_bounded(expiring),
                days=days,
                **common,
            )
        return self.finding(Status.PASS, zone, "pass", evidence=evidence, **common)

    def _windows(self, found: DnssecFacts, zone: str, collected_at: str) -> tuple[list[str], list[str], str]:
        """RRSIGs of the zone's own RRsets that expired or expire soon, at the time of collection.

        Signatures over the zone's DS are the parent's (its registry signs them) and are not judged."""
        now = parse_instant(collected_at)
        if now is None:
            return [], [], "not judged: no collection date"
        soon = now + timedelta(days=int(self.params["min_signature_days"]))
        expired: list[str] = []
        expiring: list[str] = []
        for sig in found.signatures:
            if not _in_domain(_host(sig.name), zone) or sig.covered.upper() == "DS":
                continue
            end = parse_instant(sig.expiration)
            if end is None:
                continue
            label = f"{sig.name} {sig.covered} ({utc_day(end)})"
            if end <= now:
                expired.append(label)
            elif end < soon:
                expiring.append(label)
        return expired[:_MAX_ITEMS], expiring[:_MAX_ITEMS], f"judged at {now.isoformat()}"


# --------------------------------------------------------------------------------------------------
# Name servers


class NsRedundancy(_DnsCheck):
    """PASS: at least 2 name servers with addresses, no address family concentrated. WARN: the servers of
    a family all in one network (/24 in IPv4, /48 in IPv6). FAIL: a single usable name server, or several
    sharing one address. The autonomous systems (ASN) are not known to the scanner (said in the evidence);
    the servers reachable over IPv6 are counted in every message."""

    id = "DNS-NS-REDUNDANCY"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        zone = self.zone(snap)
        if not snap.nameservers:
            yield self.no_servers(snap)
            return
        servers = snap.nameservers
        unresolved = [ns for ns in servers if ns.resolution.failed]
        addressed = [ns.host for ns in servers if any(_network(a.address) for a in ns.addresses)]
        by_family: dict[int, dict[str, set[str]]] = {4: {}, 6: {}}  # family -> address -> hosts
        for ns in servers:
            for addr in ns.addresses:
                family = _address_family(addr.address)
                if family is not None:
                    by_family[family].setdefault(addr.address, set()).add(ns.host)
        networks = {f: sorted({n for a in by_family[f] if (n := _network(a))}) for f in (4, 6)}
        ipv6 = sorted(
            {
                ns.host
                for ns in servers
                for a in ns.addresses
                if _address_family(a.address) == 6 and a.answered
            }
        )
        evidence = {
            "servers": {ns.host: [a.address for a in ns.addresses] for ns in servers},
            "ipv4_networks": networks[4],
            "ipv6_networks": networks[6],
            "ipv6_answering": ipv6,
            "asn": "unknown: the scanner has no routing data, so servers sharing one AS are not detected",
            "unresolved": [f"{ns.host}: {ns.resolution.value}" for ns in unresolved],
        }
        params: dict[str, Any] = {"zone": zone, "count": str(len(servers)), "ipv6": str(len(ipv6))}
        if len(servers) < 2:
            yield self.finding(
                Status.FAIL, zone, "single", evidence=evidence, hosts=servers[0].host, **params
            )
            return
        if len(addressed) < 2:
            # Fewer than two servers are usable; the others have no address (DNS-NS-LAME says why) or
            # could not be resolved, and then they might be the redundant ones: no verdict.
            if unresolved:
                ns = unresolved[0]
                detail = f"the addresses of {ns.host} could not be resolved ({ns.resolution.value})"
                yield self.error(zone, _outcome_kind(ns.resolution), detail)
            elif addressed:
                yield self.finding(
                    Status.FAIL, zone, "single", evidence=evidence, hosts=addressed[0], **params
                )
            else:
                hosts = join_bounded(ns.host for ns in servers)
                yield self.finding(
                    Status.NOT_TESTED, zone, "no_addresses", evidence=evidence, hosts=hosts, **params
                )
            return
        # A family is concentrated when the servers that have addresses in it share one address (fail) or
        # one network (warn); a family only one server has is another path, not a shared fate.
        shared = [
            a for f in (4, 6) if len(by_family[f]) == 1 for a, hosts in by_family[f].items() if len(hosts) > 1
        ]
        crowded = [
            networks[f][0]
            for f in (4, 6)
            if len(networks[f]) == 1 and len({h for hs in by_family[f].values() for h in hs}) > 1
        ]
        hosts = join_bounded(addressed)
        if shared:
            yield self.finding(
                Status.FAIL,
                zone,
                "one_address",
                evidence=evidence,
                hosts=hosts,
                where=join_bounded(shared),
                **params,
            )
        elif crowded:
            yield self.finding(
                Status.WARN,
                zone,
                "same_network",
                evidence=evidence,
                hosts=hosts,
                where=join_bounded(crowded),
                **params,
            )
        else:
            where = join_bounded(networks[4] + networks[6])
            yield self.finding(
                Status.PASS, zone, "pass", evidence=evidence, hosts=hosts, where=where, **params
            )


class NsLame(_DnsCheck):
    """PASS: every address of every delegated name server answers the zone's SOA authoritatively (AA),
    with one serial and the same NS set as the resolver's. FAIL (high): an NS host whose name does not
    exist (NXDOMAIN: whoever registers it takes the delegation over). FAIL (medium): an address that does
    not answer or answers without authority, or an NS host without address. WARN: different serials or a
    child NS set different from the resolver's. ERROR: no server could be reached from the scanner."""

    id = "DNS-NS-LAME"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        zone = self.zone(snap)
        if not snap.nameservers:
            yield self.no_servers(snap)
            return
        resolver_ns = sorted({h for r in snap.records(zone, "NS") if (h := _name_of("NS", r))}) or sorted(
            {ns.host for ns in snap.nameservers}
        )
        pairs = [(ns, a) for ns in snap.nameservers for a in ns.addresses]
        # An address family no server answered in is taken as unreachable from the scanner (no IPv6
        # route is common), not as lame servers: judging it would blame the commune for our network.
        answering = {_address_family(a.address) for _, a in pairs if a.answered}
        takeover = [ns.host for ns in snap.nameservers if ns.resolution is Outcome.NXDOMAIN]
        no_address = [
            ns.host
            for ns in snap.nameservers
            if ns.resolution is Outcome.NODATA or (ns.resolution is Outcome.NOERROR and not ns.addresses)
        ]
        unresolved = [f"{ns.host}: {ns.resolution.value}" for ns in snap.nameservers if ns.resolution.failed]
        silent = [
            _label(ns.host, a.address)
            for ns, a in pairs
            if not a.answered and _address_family(a.address) in answering and not _scanner_side(a.detail)
        ]
        unreachable = [
            _label(ns.host, a.address)
            for ns, a in pairs
            if not a.answered and (_address_family(a.address) not in answering or _scanner_side(a.detail))
        ]
        not_aa = [_label(ns.host, a.address) for ns, a in pairs if a.answered and not a.authoritative]
        good = [(ns, a) for ns, a in pairs if a.answered and a.authoritative]
        serials = sorted({a.soa_serial for _, a in good if a.soa_serial is not None})
        child_sets = {
            _label(ns.host, a.address): sorted({_host(h) for h in a.ns_set})
            for ns, a in good
            if a.ns_set and sorted({_host(h) for h in a.ns_set}) != resolver_ns
        }
        evidence = {
            "servers": [self._server(ns, a) for ns, a in pairs][:_MAX_ITEMS],
            "resolver_ns": resolver_ns,
            "nxdomain_hosts": takeover,
            "hosts_without_address": no_address,
            "not_answering": silent,
            "not_authoritative": not_aa,
            "unreachable_from_scanner": unreachable,
            "unresolved": unresolved,
            "serials": serials,
            "child_ns_sets": child_sets,
        }
        if takeover:
            yield self.finding(
                Status.FAIL,
                zone,
                "takeover",
                evidence=evidence,
                severity=Severity.HIGH,
                zone=zone,
                hosts=join_bounded(takeover),
            )
            return
        lame = silent + not_aa + no_address
        if lame:
            yield self.finding(
                Status.FAIL, zone, "lame", evidence=evidence, zone=zone, servers=join_bounded(lame)
            )
            return
        if not good:
            detail = (
                f"no name server of {zone} answered the scanner ({join_bounded(unreachable + unresolved)})"
            )
            details = [a.detail for _, a in pairs if not a.answered]
            kind = (
                ErrorKind.DEADLINE
                if any(_detail_kind(d, ErrorKind.UNREACHABLE) is ErrorKind.DEADLINE for d in details)
                else ErrorKind.UNREACHABLE
            )
            yield self.error(zone, kind, detail)
            return
        if unresolved:
            ns = next(ns for ns in snap.nameservers if ns.resolution.failed)
            detail = f"the addresses of {ns.host} could not be resolved ({ns.resolution.value})"
            yield self.error(zone, _outcome_kind(ns.resolution), detail)
            return
        mismatch: dict[str, Any] = {"zone": zone, "serials": join_bounded(str(s) for s in serials)}
        child = join_bounded(f"{k}: {' '.join(v)}" for k, v in child_sets.items())
        resolver = " ".join(resolver_ns)
        if len(serials) > 1 and child_sets:
            yield self.finding(
                Status.WARN,
                zone,
                "both_mismatch",
                evidence=evidence,
                child=child,
                resolver=resolver,
                **mismatch,
            )
        elif len(serials) > 1:
            yield self.finding(Status.WARN, zone, "serial_mismatch", evidence=evidence, **mismatch)
        elif child_sets:
            yield self.finding(
                Status.WARN, zone, "ns_mismatch", evidence=evidence, zone=zone, child=child, resolver=resolver
            )
        else:
            yield self.finding(Status.PASS, zone, "pass", evidence=evidence, zone=zone, count=str(len(good)))

    @staticmethod
    def _server(ns: NameServer, a: NameServerAddress) -> dict[str, Any]:
        return {
            "host": ns.host,
            "address": a.address,
            "answered": a.answered,
            "aa": a.authoritative,
            "serial": a.soa_serial,
            "detail": a.detail,
        }


class AxfrOpen(_DnsCheck):
    """PASS: the authoritative address refuses a zone transfer (AXFR over TCP). FAIL: records came back
    (count and a sample of names as evidence, never the zone). One finding per server address; ERROR when
    the attempt failed or could not be made."""

    id = "DNS-AXFR-OPEN"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        zone = self.zone(snap)
        gap = self.no_addresses(snap)
        if gap is not None:
            yield gap
            return
        for ns in snap.nameservers:
            for addr in ns.addresses:
                yield self._address(zone, ns, addr, snap)

    def _address(self, zone: str, ns: NameServer, addr: NameServerAddress, snap: DnsSnapshot) -> Finding:
        resource = _label(ns.host, addr.address)
        attempt = addr.axfr
        if attempt is None:
            # AXFR is tried on every address that answered, whatever the scope (it is a DNS query, not
            # a port probe): a missing attempt means a silent server or the deadline, never the scope.
            if not addr.answered:
                detail = (
                    f"{resource} did not answer: no zone transfer attempted ({addr.detail or 'no answer'})"
                )
                return self.error(resource, _detail_kind(addr.detail, ErrorKind.UNREACHABLE), detail)
            return self.error(
                resource, ErrorKind.NO_FACTS, f"no zone transfer attempt recorded for {resource}"
            )
        evidence: dict[str, Any] = {"outcome": attempt.outcome, "detail": attempt.detail}
        if attempt.outcome == "transferred":
            evidence.update(records=attempt.records, sample=list(attempt.sample)[:10])
            return self.finding(
                Status.FAIL,
                resource,
                "open",
                evidence=evidence,
                zone=zone,
                server=resource,
                count=str(attempt.records),
            )
        if attempt.outcome == "refused":
            return self.finding(
                Status.PASS, resource, "refused", evidence=evidence, zone=zone, server=resource
            )
        kind = _detail_kind(attempt.detail, ErrorKind.UNREACHABLE)
        return self.error(
            resource, kind, f"zone transfer attempt on {resource} failed: {attempt.detail or attempt.outcome}"
        )


class OpenResolver(_DnsCheck):
    """PASS: the address refuses (or silently drops) a recursive query for a name outside its zones.
    FAIL: it answered it (open resolver). Judged on every authoritative address of the domain and every
    in-scope address of an IP or network target. NOT_TESTED: the address is outside the declared scope
    (the probe is active), or nothing at all was in scope. N/A: no DNS service on the target's addresses."""

    id = "DNS-OPEN-RESOLVER"

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        if self.target.kind in _ADDRESS_TARGETS:
            yield from self._probes(snap, [], self.target.name)
            return
        yield from super().evaluate(facts)

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        gap = self.no_addresses(snap)
        if gap is not None:
            yield gap
            return
        servers = [(ns.host, a) for ns in snap.nameservers for a in ns.addresses]
        yield from self._probes(snap, servers, self.zone(snap))

    def _probes(
        self, snap: DnsSnapshot, servers: Sequence[tuple[str, NameServerAddress]], where: str
    ) -> Iterator[Finding]:
        authoritative = {a.address for _, a in servers}
        others = [p for p in snap.recursion if p.address not in authoritative]
        probed = [a for _, a in servers if a.recursion is not None]
        if not probed and not others:
            if snap.not_probed or servers:
                not_probed = list(snap.not_probed) or [_label(h, a.address) for h, a in servers]
                yield self.finding(
                    Status.NOT_TESTED,
                    where,
                    "no_scope",
                    evidence={"not_probed": not_probed[:_MAX_ITEMS]},
                    count=str(len(not_probed)),
                )
            else:
                yield self.error(where, ErrorKind.NO_FACTS, "no recursion probe was recorded")
            return
        silent: list[str] = []
        for host, addr in servers:
            resource = _label(host, addr.address)
            if addr.recursion is None:
                yield self.out_of_scope(resource, host)
            elif addr.recursion.outcome == "no_answer" and not addr.answered:
                silent.append(resource)  # a dead server: it answered neither its zone nor recursion
            else:
                yield self._judge(resource, addr.recursion, authoritative=True)
        for probe in others:
            if probe.outcome == "no_answer":
                silent.append(probe.address)
            else:
                yield self._judge(probe.address, probe, authoritative=False)
        if silent:
            # Nothing answers on UDP/53 there: no DNS service to judge (DNS-NS-LAME reports a dead name
            # server). One finding for all, so a /24 does not give 250 identical lines.
            yield self.finding(
                Status.NOT_APPLICABLE,
                where,
                "no_dns_service",
                evidence={"addresses": silent[:_MAX_ITEMS]},
                count=str(len(silent)),
            )

    def _judge(self, resource: str, probe: RecursionProbe, authoritative: bool) -> Finding:
        evidence = {"address": probe.address, "outcome": probe.outcome, "detail": probe.detail}
        if probe.outcome == "answered":
            return self.finding(Status.FAIL, resource, "open", evidence=evidence, server=resource)
        if probe.outcome == "refused":
            return self.finding(Status.PASS, resource, "refused", evidence=evidence, server=resource)
        if probe.outcome == "no_answer" and authoritative:
            # The server answered its zone's SOA but dropped the recursive query: not a resolver.
            return self.finding(Status.PASS, resource, "dropped", evidence=evidence, server=resource)
        kind = _detail_kind(probe.detail, ErrorKind.UNREACHABLE)
        return self.error(
            resource, kind, f"recursion probe of {resource} failed: {probe.detail or probe.outcome}"
        )


# --------------------------------------------------------------------------------------------------
# CAA


@dataclass(frozen=True)
class _Caa:
    """The relevant CAA RRset of a domain, parsed (RFC 8659)."""

    owner: str
    issue: tuple[str, ...]
    issuewild: tuple[str, ...]
    iodef: tuple[str, ...]
    critical_unknown: tuple[str, ...]
    unparsed: tuple[str, ...]

    def allowed(self, wildcard: bool) -> tuple[str, ...] | None:
        """CA domains allowed for a certificate (None: no restriction). RFC 8659 §4.3: issuewild
        governs wildcard names when present, issue otherwise."""
        values = self.issuewild if wildcard and self.issuewild else self.issue
        return values or None


_KNOWN_CAA_TAGS = {"issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone"}


def _parse_caa(owner: str, records: Sequence[str]) -> _Caa:
    from dns.rdtypes.ANY.CAA import CAA

    props: dict[str, list[str]] = {"issue": [], "issuewild": [], "iodef": []}
    critical: list[str] = []
    unparsed: list[str] = []
    for text in records:
        rd = _rdata("CAA", text)
        if not isinstance(rd, CAA):
            unparsed.append(text)
            continue
        tag = rd.tag.decode("ascii", "replace").lower()
        value = rd.value.decode("utf-8", "replace").strip()
        if tag in ("issue", "issuewild"):
            # "ca.example; key=value": the CA's domain before the parameters; ";" alone forbids every CA.
            props[tag].append(_host(value.split(";", 1)[0]))
        elif tag == "iodef":
            props[tag].append(value)
        elif tag not in _KNOWN_CAA_TAGS and rd.flags & 0x80:
            # RFC 8659 §4.1: a CA must refuse to issue when it does not understand a critical property.
            critical.append(tag)
    return _Caa(
        owner,
        tuple(props["issue"]),
        tuple(props["issuewild"]),
        tuple(props["iodef"]),
        tuple(critical),
        tuple(unparsed),
    )


@dataclass(frozen=True)
class _CertInUse:
    endpoint: str
    issuer: str
    wildcard: bool


class Caa(_DnsCheck):
    """PASS: the relevant CAA RRset (the closest from the domain upwards) authorises the CA of the
    certificates in use (or their CA could not be told). WARN: no CAA at all, or CAA without `issue`.
    FAIL: CAA present but it excludes the CA that issued a certificate in use (the next renewal breaks),
    or it carries a critical property no CA understands. The CA is read from the TLS facts when a TLS scan
    ran too; issuers are mapped to their CAA domains by the `ca_domains` table."""

    id = "DNS-CAA"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        domain = snap.domain
        labels = domain.split(".")
        # RFC 8659 §3: climb from the name to its parents; the TLD is asked too, the root never.
        names = [".".join(labels[i:]) for i in range(len(labels))]
        not_queried: list[str] = []
        relevant: _Caa | None = None
        for name in names:
            answer = snap.answer(name, "CAA")
            if answer is None:
                not_queried.append(name)
                continue
            if answer.outcome.failed:
                yield self.query_error(domain, answer)
                return
            if answer.outcome is Outcome.NOERROR and answer.records:
                relevant = _parse_caa(name, answer.records)
                break
        if relevant is None:
            if len(not_queried) == len(names):
                yield self.error(domain, ErrorKind.NO_FACTS, f"no CAA query was recorded for {domain}")
                return
            seen = {"climbed": [n for n in names if n not in not_queried], "not_queried": not_queried}
            yield self.finding(Status.WARN, domain, "none", evidence=seen, domain=domain)
            return
        certs = self._certificates(facts, domain)
        evidence: dict[str, Any] = {
            "owner": relevant.owner,
            "issue": list(relevant.issue),
            "issuewild": list(relevant.issuewild),
            "iodef": list(relevant.iodef),
            "critical_unknown": list(relevant.critical_unknown),
            "unparsed": list(relevant.unparsed),
            "not_queried": not_queried,
            "certificates": [
                {"endpoint": c.endpoint, "issuer": c.issuer, "wildcard": c.wildcard} for c in certs
            ][:_MAX_ITEMS],
        }
        base: dict[str, Any] = {"domain": domain, "owner": relevant.owner}
        if relevant.critical_unknown:
            yield self.finding(
                Status.FAIL,
                domain,
                "critical_unknown",
                evidence=evidence,
                tags=join_bounded(relevant.critical_unknown),
                **base,
            )
            return
        if not relevant.issue and not relevant.issuewild:
            yield self.finding(Status.WARN, domain, "no_issue", evidence=evidence, **base)
            return
        allowed_text = join_bounded(v or ";" for v in (*relevant.issue, *relevant.issuewild))
        iodef = join_bounded(relevant.iodef) if relevant.iodef else "-"
        excluded: list[str] = []
        named: list[str] = []
        unknown: list[str] = []
        for cert in certs:
            allowed = relevant.allowed(cert.wildcard)
            ca, domains = self._ca(cert.issuer)
            if allowed is None:
                named.append(ca or cert.issuer)
            elif not domains:
                unknown.append(cert.issuer)
            elif set(domains) & set(allowed):
                named.append(ca)
            else:
                excluded.append(f"{ca} ({cert.endpoint})")
        evidence.update(excluded=excluded, unknown_issuers=unknown)
        if excluded:
            yield self.finding(
                Status.FAIL,
                domain,
                "excludes_ca",
                evidence=evidence,
                cas=join_bounded(excluded),
                allowed=allowed_text,
                **base,
            )
        elif named and not unknown:
            yield self.finding(
                Status.PASS,
                domain,
                "pass",
                evidence=evidence,
                cas=join_bounded(named),
                allowed=allowed_text,
                iodef=iodef,
                **base,
            )
        else:
            # No certificate seen, or an issuer missing from the table: CAA is there, whether it names
            # the CA in use cannot be told (never a fail).
            yield self.finding(
                Status.PASS, domain, "present", evidence=evidence, allowed=allowed_text, iodef=iodef, **base
            )

    @staticmethod
    def _certificates(facts: FactBag, domain: str) -> list[_CertInUse]:
        """Leaf certificates served under the domain, when a TLS scan ran in the same scan."""
        if TlsFacts not in facts:
            return []
        found: dict[tuple[str, bool], _CertInUse] = {}
        for ep in facts.get(TlsFacts).endpoints:
            if not ep.chain or not _in_domain(_host(ep.host), domain):
                continue
            leaf = ep.chain[0]
            wildcard = any(san.startswith("*.") for san in leaf.sans)
            found.setdefault((leaf.issuer, wildcard), _CertInUse(ep.label, leaf.issuer, wildcard))
        return list(found.values())

    def _ca(self, issuer: str) -> tuple[str, list[str]]:
        """The CA named in an issuer DN and its CAA domains, from the `ca_domains` table ("", [] if none)."""
        table = self.params.get("ca_domains", {})
        lowered = issuer.lower()
        names: list[str] = []
        domains: list[str] = []
        if isinstance(table, Mapping):
            for name, values in table.items():
                if str(name).lower() in lowered:
                    names.append(str(name))
                    items = (
                        [values]
                        if isinstance(values, str)
                        else list(values)
                        if isinstance(values, list)
                        else []
                    )
                    domains.extend(_host(str(v)) for v in items)
        return " / ".join(names), domains


# --------------------------------------------------------------------------------------------------
# Dangling records


@dataclass(frozen=True)
class _Dangling:
    host: str
    sources: tuple[str, ...]
    status: Status
    message: str
    target: str
    chain: tuple[str, ...]
    service: str = ""
    severity: Severity | None = None


def _name_state(snap: DnsSnapshot, name: str, rdtypes: Sequence[str]) -> tuple[str, DnsAnswer | None]:
    """ "exists", "nxdomain", "failed" (with the failed answer) or "unknown" (never asked) for a name."""
    answers = [a for t in rdtypes if (a := snap.answer(name, t)) is not None]
    if any(a.outcome in (Outcome.NOERROR, Outcome.NODATA) for a in answers):
        return "exists", None
    nx = next((a for a in answers if a.outcome is Outcome.NXDOMAIN), None)
    if nx is not None:
        return "nxdomain", nx
    failed = next((a for a in answers if a.outcome.failed), None)
    return ("failed", failed) if failed is not None else ("unknown", None)


def _cname_chain(snap: DnsSnapshot, host: str) -> tuple[str, ...]:
    """The CNAME chain from `host`: raw CNAME queries hop by hop (the stub resolver does not chase a CNAME
    whose target the server left out), or the chain the resolver followed, whichever is longer."""
    chain: list[str] = []
    seen = {host}
    current = host
    for _ in range(_MAX_CNAME_HOPS):
        answer = snap.answer(current, "CNAME")
        if answer is None or answer.outcome is not Outcome.NOERROR or not answer.records:
            break
        nxt = _name_of("CNAME", answer.records[0])
        if not nxt or nxt in seen:
            break
        chain.append(nxt)
        seen.add(nxt)
        current = nxt
    for rdtype in ("A", "AAAA"):
        answer = snap.answer(host, rdtype)
        if answer is not None and len(answer.cname_chain) > len(chain):
            chain = [_host(n) for n in answer.cname_chain][:_MAX_CNAME_HOPS]
    return tuple(chain)


_ROLES = ("mx", "ns", "spf")
_ADDRESS_TYPES = ("A", "AAAA", "CNAME")


class Dangling(_DnsCheck):
    """PASS: no examined name (common labels, www, MX, NS and SPF-include targets) points at a name that
    does not exist. FAIL: a CNAME chain ends in NXDOMAIN at a service where anyone can claim the name (the
    `takeover_suffixes` table: DNS-only fingerprints), or an MX, NS or SPF-include target is NXDOMAIN.
    WARN: a CNAME chain ends in NXDOMAIN at an unknown provider (or, low, inside the commune's own zone).
    One finding per dangling name; ERROR for a name whose target could not be resolved."""

    id = "DNS-DANGLING"

    def judge(self, snap: DnsSnapshot, facts: FactBag) -> Iterator[Finding]:
        examined: list[str] = []
        not_queried: list[str] = []
        dangling = 0
        for host, sources in self._candidates(snap).items():
            verdict = self._examine(snap, host, sources)
            if verdict is None:
                examined.append(host)
            elif isinstance(verdict, str):
                not_queried.append(host)
            elif isinstance(verdict, Finding):
                yield verdict  # an error: this name could not be judged, the others still are
            else:
                dangling += 1
                yield self._report(verdict)
        evidence = {"examined": examined[:_MAX_ITEMS], "count": len(examined), "not_queried": not_queried}
        if dangling:
            return
        if examined:
            yield self.finding(
                Status.PASS,
                snap.domain,
                "pass",
                evidence=evidence,
                domain=snap.domain,
                count=str(len(examined)),
            )
        else:
            yield self.finding(
                Status.NOT_TESTED, snap.domain, "no_hostnames", evidence=evidence, domain=snap.domain
            )

    def _candidates(self, snap: DnsSnapshot) -> dict[str, tuple[str, ...]]:
        """Every name to examine, with why (the collector's `hostnames` completed from the snapshot)."""
        found: dict[str, list[str]] = {}

        def add(name: str, source: str) -> None:
            if name:
                sources = found.setdefault(_host(name), [])
                if source not in sources:
                    sources.append(source)

        for name, sources in snap.hostnames.items():
            for source in sources:
                add(name, source)
        for record in snap.records(snap.domain, "MX"):
            add(_name_of("MX", record) or "", "mx")
        for ns in snap.nameservers:
            add(ns.host, "ns")
        for target in walk_spf(snap.domain, snap.answer).visited:
            add(target, "spf")
        return {name: tuple(sources) for name, sources in sorted(found.items())}

    def _examine(
        self, snap: DnsSnapshot, host: str, sources: tuple[str, ...]
    ) -> _Dangling | Finding | str | None:
        """None: nothing dangles; "unknown": never queried; a Finding: an error; else the dangling record."""
        role = next((s for s in sources if s in _ROLES), None)
        chain = _cname_chain(snap, host)
        if not chain:
            rdtypes = ("TXT", *_ADDRESS_TYPES) if "spf" in sources else _ADDRESS_TYPES
            state, answer = _name_state(snap, host, rdtypes)
            ns = next((n for n in snap.nameservers if n.host == host), None)
            if state == "unknown" and ns is not None:
                # The collector resolved the NS host's addresses itself: its outcome is the evidence.
                answer = DnsAnswer(host, "A", ns.resolution)
                state = {
                    Outcome.NXDOMAIN: "nxdomain",
                    Outcome.NOERROR: "exists",
                    Outcome.NODATA: "exists",
                }.get(ns.resolution, "failed")
            if state == "failed":
                assert answer is not None
                return self.query_error(host, answer)
            if state == "nxdomain" and role is not None:
                return _Dangling(host, sources, Status.FAIL, "missing_target", host, chain)
            return "unknown" if state == "unknown" else None
        final = chain[-1]
        state, answer = _name_state(snap, final, _ADDRESS_TYPES)
        if state in ("unknown", "failed"):
            # What the resolver said when it followed the chain itself, for the queried name.
            followed = [a for t in ("A", "AAAA") if (a := snap.answer(host, t)) is not None]
            if any(a.outcome in (Outcome.NOERROR, Outcome.NODATA) for a in followed):
                state = "exists"
            elif any(a.outcome is Outcome.NXDOMAIN for a in followed):
                state = "nxdomain"
        if state == "exists":
            return None
        if state == "unknown":
            return "unknown"
        if state == "failed":
            assert answer is not None
            return self.query_error(host, answer)
        service = self._service(chain)
        if service:
            return _Dangling(host, sources, Status.FAIL, "takeover", final, chain, service)
        if role is not None:
            return _Dangling(host, sources, Status.FAIL, "missing_target", final, chain)
        if _in_domain(final, snap.zone or snap.domain):
            # A broken alias inside the commune's own zone: nobody else can create the missing name.
            return _Dangling(
                host, sources, Status.WARN, "broken_internal", final, chain, severity=Severity.LOW
            )
        return _Dangling(host, sources, Status.WARN, "nxdomain_target", final, chain)

    def _service(self, chain: Sequence[str]) -> str:
        # Only DNS-level fingerprints are judged: an NXDOMAIN under these suffixes means the resource
        # name is free to claim. HTTP fingerprints (GitHub Pages' "There isn't a GitHub Pages site here",
        # S3 NoSuchBucket, Heroku "No such app"…) would need an HTTP request to the third party: not judged.
        table = self.params.get("takeover_suffixes", {})
        if not isinstance(table, Mapping):
            return ""
        for name in chain:
            for suffix, service in table.items():
                if _in_domain(name, _host(str(suffix))) and name != _host(str(suffix)):
                    return str(service)
        return ""

    def _report(self, d: _Dangling) -> Finding:
        evidence = {
            "host": d.host,
            "sources": list(d.sources),
            "cname_chain": list(d.chain),
            "nxdomain": d.target,
            "service": d.service or None,
        }
        roles = join_bounded(s.upper() for s in d.sources if s in _ROLES) or "-"
        return self.finding(
            d.status,
            d.host,
            d.message,
            evidence=evidence,
            severity=d.severity,
            host=d.host,
            target=d.target,
            service=d.service or "-",
            roles=roles,
        )


# --------------------------------------------------------------------------------------------------
# Registration (RDAP)


class _RdapCheck(Check):
    """The RDAP outcomes every registration check shares; `judge` sees only outcome "ok"."""

    requires = (RdapFacts,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        rdap = facts.get(RdapFacts)
        if self.target.kind in _ADDRESS_TARGETS:
            yield self.finding(Status.NOT_APPLICABLE, self.target.name, "not_domain", target=self.target.name)
            return
        domain = rdap.domain or self.target.name
        reason = rdap.detail or rdap.outcome
        evidence = {"url": rdap.url, "outcome": rdap.outcome, "detail": rdap.detail}
        if rdap.outcome == "ok":
            yield self.judge(rdap, domain)
        elif rdap.outcome == "not_found":
            yield self.not_registered(rdap, domain)
        elif rdap.outcome in ("unreachable", "unsupported"):
            yield self.finding(
                Status.NOT_TESTED, domain, rdap.outcome, evidence=evidence, domain=domain, reason=reason
            )
        elif rdap.outcome == "invalid":
            yield self.error(
                domain, ErrorKind.PROTOCOL, f"the RDAP answer for {domain} is not a domain object: {reason}"
            )
        elif rdap.outcome == "skipped":
            yield self.error(domain, ErrorKind.NO_FACTS, f"no RDAP query was made for {domain}")
        else:
            yield self.error(domain, ErrorKind.BUG, f"unknown RDAP outcome {rdap.outcome!r}")

    @abstractmethod
    def judge(self, rdap: RdapFacts, domain: str) -> Finding:
        """The finding for a domain the registry described."""

    @abstractmethod
    def not_registered(self, rdap: RdapFacts, domain: str) -> Finding:
        """The finding when the registry says the domain does not exist."""


def _statuses(rdap: RdapFacts) -> set[str]:
    """RDAP statuses without spaces or case: "client transfer prohibited" is clientTransferProhibited."""
    return {s.replace(" ", "").replace("_", "").lower() for s in rdap.statuses}


class DomainExpiry(_RdapCheck):
    """PASS: the registration expires in more than 90 days. WARN (medium): in 30 to 90 days. FAIL (high):
    in less than 30 days, already expired, in redemption or pending deletion, or not registered at all.
    Judged against the collection date, never the clock."""

    id = "DNS-DOMAIN-EXPIRY"

    def judge(self, rdap: RdapFacts, domain: str) -> Finding:
        evidence = {
            "expiration": rdap.expiration,
            "statuses": list(rdap.statuses)[:_MAX_ITEMS],
            "registrar": rdap.registrar,
            "collected_at": rdap.collected_at,
        }
        dropping = [
            s for s in rdap.statuses if s.replace(" ", "").lower() in ("redemptionperiod", "pendingdelete")
        ]
        if dropping:
            return self.finding(
                Status.FAIL,
                domain,
                "pending_delete",
                evidence=evidence,
                domain=domain,
                statuses=join_bounded(dropping),
            )
        now = parse_instant(rdap.collected_at)
        if now is None:
            return self.error(domain, ErrorKind.NO_FACTS, "the RDAP facts carry no collection date")
        end = parse_instant(rdap.expiration)
        if end is None:
            return self.finding(Status.NOT_TESTED, domain, "no_expiration", evidence=evidence, domain=domain)
        left = end - now
        days = left.days  # floor: 29 days and 23 hours left count as 29
        params: dict[str, Any] = {"domain": domain, "date": utc_day(end), "days": str(days)}
        if left.total_seconds() <= 0:
            return self.finding(Status.FAIL, domain, "expired", evidence=evidence, **params)
        if left < timedelta(days=int(self.params["fail_days"])):
            return self.finding(Status.FAIL, domain, "expiring", evidence=evidence, **params)
        if left <= timedelta(days=int(self.params["warn_days"])):
            return self.finding(
                Status.WARN, domain, "soon", evidence=evidence, severity=Severity.MEDIUM, **params
            )
        return self.finding(Status.PASS, domain, "pass", evidence=evidence, **params)

    def not_registered(self, rdap: RdapFacts, domain: str) -> Finding:
        evidence = {"url": rdap.url, "outcome": rdap.outcome, "detail": rdap.detail}
        return self.finding(Status.FAIL, domain, "not_registered", evidence=evidence, domain=domain)


_LOCKS = ("Transfer", "Update", "Delete")


class RegistrarLock(_RdapCheck):
    """PASS: the registrar locks (clientTransfer/Update/DeleteProhibited) and the registry lock
    (serverTransfer/Update/DeleteProhibited) are set. WARN: no transfer lock at all, or the other locks
    or the registry lock are missing. N/A: the domain is not registered (DNS-DOMAIN-EXPIRY fails it)."""

    id = "DNS-REGISTRAR-LOCK"

    def judge(self, rdap: RdapFacts, domain: str) -> Finding:
        statuses = _statuses(rdap)
        missing_client = [
            f"client{op}Prohibited" for op in _LOCKS if f"client{op}prohibited".lower() not in statuses
        ]
        missing_server = [
            f"server{op}Prohibited" for op in _LOCKS if f"server{op}prohibited".lower() not in statuses
        ]
        # A registry (server) lock on an operation supersedes the registrar (client) lock on it.
        missing_client = [s for s in missing_client if s.replace("client", "server", 1) in missing_server]
        transfer_locked = "clienttransferprohibited" in statuses or "servertransferprohibited" in statuses
        evidence = {
            "statuses": list(rdap.statuses)[:_MAX_ITEMS],
            "registrar": rdap.registrar,
            "missing": missing_client + missing_server,
        }
        if not transfer_locked:
            return self.finding(
                Status.WARN,
                domain,
                "no_transfer_lock",
                evidence=evidence,
                domain=domain,
                registrar=rdap.registrar or "-",
            )
        if missing_client or missing_server:
            return self.finding(
                Status.WARN,
                domain,
                "partial",
                evidence=evidence,
                domain=domain,
                missing=join_bounded(missing_client + missing_server),
                registrar=rdap.registrar or "-",
            )
        return self.finding(Status.PASS, domain, "pass", evidence=evidence, domain=domain)

    def not_registered(self, rdap: RdapFacts, domain: str) -> Finding:
        evidence = {"url": rdap.url, "outcome": rdap.outcome, "detail": rdap.detail}
        return self.finding(Status.NOT_APPLICABLE, domain, "not_registered", evidence=evidence, domain=domain)


# --------------------------------------------------------------------------------------------------
# Top-level domain


class DomainTld(Check):
    """PASS: the main public domain is under .fr, .eu or another French-jurisdiction ccTLD (`pass_tlds`).
    FAIL (low): the site lives on a free site builder's subdomain (`builders`): the commune does not own
    its name. INFO: a generic or foreign TLD. Lookalike domains registered defensively cannot be observed
    from outside (said in the evidence)."""

    id = "DNS-DOMAIN-TLD"
    # The verdict depends on the name alone; the DNS snapshot is required only to schedule the check with
    # the DNS family (and gives the name of a URL target's host).
    requires = (DnsSnapshot,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        if self.target.kind in _ADDRESS_TARGETS:
            yield self.finding(Status.NOT_APPLICABLE, self.target.name, "not_domain", target=self.target.name)
            return
        domain = _host(self.target.host or facts.get(DnsSnapshot).domain or self.target.name)
        evidence = {
            "domain": domain,
            "lookalikes": "not observable from outside: to be listed by the commune",
        }
        builder = next(
            (b for b in (_host(x) for x in _strs(self.params, "builders")) if domain.endswith("." + b)), None
        )
        if builder is not None:
            yield self.finding(
                Status.FAIL,
                domain,
                "builder",
                evidence=evidence,
                severity=Severity.LOW,
                domain=domain,
                builder=builder,
            )
            return
        tld = domain.rsplit(".", 1)[-1]
        if tld in {_host(t) for t in _strs(self.params, "pass_tlds")}:
            yield self.finding(Status.PASS, domain, "pass", evidence=evidence, domain=domain, tld="." + tld)
            return
        yield self.finding(
            Status.INFO,
            domain,
            "other_tld",
            evidence=evidence,
            severity=Severity.INFO,
            domain=domain,
            tld="." + tld,
        )


CHECKS: list[type[Check]] = [
    Dnssec,
    DnssecAlgo,
    NsRedundancy,
    NsLame,
    AxfrOpen,
    OpenResolver,
    Caa,
    Dangling,
    DomainExpiry,
    RegistrarLock,
    DomainTld,
]
