"""DNS collector: one snapshot of a domain's DNS (records, name servers, DNSSEC), each query asked once.

What is sent, per domain target (the host of a URL target counts as one):

1. through the engine resolver (`--resolver`, or the system's), with the DO bit, each (name, type)
   at most once and in this order: SOA (climbing to the zone apex), NS, A, AAAA, MX, TXT, CAA (climbing
   to the parents, RFC 8659), DNSKEY and DS; the DMARC names (stopping at the first record), the
   `_mta-sts` and `_smtp._tls` TXT; the SPF tree (`mailauth.walk_spf`, which records each lookup); for
   each MX host its CNAME, A, AAAA and `_25._tcp` TLSA; each NS host's A and AAAA; what DNSSEC
   validation needs (`dnssec.validate_zone`); the DKIM selectors; and for each host name worth
   checking for dangling records (www, a short list of common labels, MX, NS and SPF include targets)
   a raw CNAME query, chained, then the final target's A. The stub resolver does not chase a CNAME
   whose target the server left out, so chains are followed by hand.
2. passive, straight to every address of every NS host (port `ns_port`), what any resolver does:
   SOA and NS queries with RD=0, and one AXFR attempt over TCP, stopped after `MAX_AXFR_RECORDS`.
3. active, only to addresses inside the declared scope (the guard decides): one recursive query for
   `recursion_probe_name`, a name outside the zone, to see whether the server recurses for anyone.
   IP and network targets get only this probe, on their in-scope addresses.

Failures are data: every answer keeps its outcome (NOERROR, NXDOMAIN, NODATA, SERVFAIL, REFUSED,
TIMEOUT, ERROR). The collector fails as a whole only when the resolver answers nothing at all. When
the target's deadline nears, the remaining queries are not sent and recorded as TIMEOUT with the
detail `SKIPPED`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import ipaddress
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.xfr
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.NS import NS
from dns.rdtypes.ANY.SOA import SOA

from ..bounds import clip
from ..models import ErrorKind
from ..net.guard import OutOfScopeError
from ..net.resolver import ResolutionError
from ..plugin import Collector, CollectorContext, CollectorError
from ..scope import ProbeLevel
from ..targets import Target, TargetKind, is_ip_literal, normalise_hostname
from .dns_facts import (
    AxfrAttempt,
    DnsAnswer,
    DnssecFacts,
    DnsSnapshot,
    NameServer,
    NameServerAddress,
    Outcome,
    RecursionProbe,
)
from .dnssec import MAX_ANCHOR_TEXT, Fetched, TrustAnchor, parse_trust_anchor, root_anchor, validate_zone
from .mailauth import dmarc_names, walk_spf

#: DKIM selectors always tried, before the configured ones: Microsoft 365 (selector1, selector2),
#: Google Workspace (google), Gandi Mail (gm1 to gm3, CNAMEs to gmN.gandimail.net), and the defaults of
#: common signing software and bulk senders. OVHcloud's selectors embed the customer account
#: ("ovhex123456-selector1", "ovhmo3617313-selector1"): they cannot be guessed, add them in
#: `dkim_selectors`.
DEFAULT_DKIM_SELECTORS = (
    "selector1",
    "selector2",
    "google",
    "gm1",
    "gm2",
    "gm3",
    "default",
    "dkim",
    "mail",
    "smtp",
    "mx",
    "email",
    "k1",
    "k2",
    "k3",
    "s1",
    "s2",
    "key1",
    "key2",
    "mailjet",
    "protonmail",
    "fm1",
)
#: labels looked up under the domain for dangling records (typical names of a commune's services)
DEFAULT_COMMON_LABELS = [
    "mail",
    "webmail",
    "autodiscover",
    "extranet",
    "intranet",
    "portail",
    "demarches",
    "services",
    "vpn",
    "remote",
    "ftp",
    "blog",
    "smtp",
    "owa",
]
#: a name outside any commune's zone that exists: an open resolver answers it with records
DEFAULT_RECURSION_PROBE_NAME = "example.com"

MAX_RECORDS = 50
MAX_RECORD_TEXT = 300
#: SPF and DKIM records are routinely longer than 300 characters (a 2048-bit DKIM key alone is
#: ~400): clipping them would turn a valid record into a syntax error for the MAIL checks.
MAX_TXT_TEXT = 2048
MAX_NS_HOSTS = 20
MAX_MX_HOSTS = 10
MAX_ADDRESSES_PER_HOST = 4
MAX_SELECTORS = 50
MAX_COMMON_LABELS = 50
MAX_CNAME_CHAIN = 8
MAX_AXFR_RECORDS = 5000
MAX_AXFR_SAMPLE = 10
MAX_AUTHORITY_RRSETS = 20
#: direct name-server probes running at once
PROBE_CONCURRENCY = 16
#: seconds kept before the deadline to assemble the facts; below MIN_QUERY_TIME a query is not sent.
#: A query that times out can overrun its lifetime by 0.1 s: dnspython's resolver sleeps its initial
#: backoff before it notices the lifetime is spent.
DEADLINE_RESERVE = 0.3
MIN_QUERY_TIME = 0.05
EDNS_PAYLOAD = 1232
SKIPPED = "skipped: the target's scan deadline was near"

_SELECTOR = re.compile(r"^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DNS_LABEL = re.compile(r"^[a-z0-9_-]{1,63}$")


def _clean(text: str, limit: int) -> str:
    return clip("".join(ch if ch.isprintable() else "\ufffd" for ch in text), limit)


def _name_text(name: dns.name.Name) -> str:
    """A name as the facts keep it: lower case, no trailing dot, "" for the root."""
    return "" if name == dns.name.root else _clean(name.to_text(omit_final_dot=True).lower(), 255)


def dns_name(text: str) -> str | None:
    """`text` as a DNS name the facts can hold (lower case, no trailing dot), or None.

    Laxer than a host name: SPF include targets and other service names carry underscores
    ("_spf.example.net"), which `targets.normalise_hostname` rightly refuses for hosts.
    """
    name = text.strip().lower().rstrip(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def _key(name: str, rdtype: str) -> tuple[str, str]:
    return name.lower().rstrip("."), rdtype.upper()


def record_texts(rrset: dns.rrset.RRset) -> tuple[str, ...]:
    """Records as bounded presentation text; TXT as the joined character-strings, without quotes."""
    texts: list[str] = []
    for rdata in list(rrset)[:MAX_RECORDS]:
        if rrset.rdtype == dns.rdatatype.TXT:
            joined = b"".join(rdata.strings).decode("utf-8", "replace")
            texts.append(_clean(joined, MAX_TXT_TEXT))
        else:
            texts.append(_clean(rdata.to_text(), MAX_RECORD_TEXT))
    return tuple(sorted(texts))


def _failure_outcome(exc: dns.resolver.NoNameservers) -> tuple[Outcome, str, bool]:
    """SERVFAIL, REFUSED or ERROR from dnspython's per-server error list; True when nothing answered."""
    errors = exc.kwargs.get("errors") or []
    answered = [e[3] for e in errors if isinstance(e[3], str)]
    for rcode in ("SERVFAIL", "REFUSED"):
        if rcode in answered:
            return Outcome(rcode), rcode, False
    if answered:
        return Outcome.ERROR, f"rcode {answered[0]}", False
    reasons = [e[3] for e in errors]
    network = bool(reasons) and all(isinstance(r, OSError | EOFError) for r in reasons)
    detail = f"{type(reasons[0]).__name__}: {reasons[0]}" if reasons else "no name server to ask"
    return Outcome.ERROR, detail, network or not reasons


@dataclass
class _Result:
    answer: DnsAnswer
    fetched: Fetched
    #: nothing answered at all (timeout, unreachable): the resolver itself may be dead
    network_failure: bool = False


class Querier:
    """Asks the resolver each (name, type) once, DO bit set, and keeps every answer in order.

    Works on a copy of the engine's dnspython resolver: the collector changes its timeouts per query
    and its EDNS flags, which other collectors sharing the engine resolver must not see.
    """

    def __init__(self, resolver: dns.resolver.Resolver, budget: Callable[[], float | None]) -> None:
        self._resolver = copy.copy(resolver)
        # SERVFAIL is data (the domain's servers are down, or lame): never retried.
        self._resolver.retry_servfail = False
        self._resolver.use_edns(0, dns.flags.DO, EDNS_PAYLOAD)
        # CD (checking disabled, RFC 4035 §3.2.2): a validating resolver would answer SERVFAIL for
        # every name of a bogus zone, hiding both the records and why the chain breaks; with CD it
        # hands over the data and signatures, and `dnssec.validate_zone` judges them itself.
        self._resolver.flags = dns.flags.RD | dns.flags.CD
        self._budget = budget
        self._results: dict[tuple[str, str], _Result] = {}

    def answer(self, name: str, rdtype: str) -> DnsAnswer:
        """The recorded answer for (name, rdtype), asking the resolver the first time."""
        return self._get(name, rdtype).answer

    def fetch(self, name: str, rdtype: str) -> Fetched:
        """The same query with what DNSSEC validation needs (RRset objects, RRSIGs, authority)."""
        return self._get(name, rdtype).fetched

    def network_failure(self, name: str, rdtype: str) -> bool:
        result = self._results.get(_key(name, rdtype))
        return result is not None and result.network_failure

    def answers(self) -> tuple[DnsAnswer, ...]:
        return tuple(r.answer for r in self._results.values())

    def _get(self, name: str, rdtype: str) -> _Result:
        key = _key(name, rdtype)
        if key not in self._results:
            self._results[key] = self._ask(*key)
        return self._results[key]

    def _ask(self, name: str, rdtype: str) -> _Result:
        try:
            qname = dns.name.from_text(name or ".")
        except (dns.exception.DNSException, UnicodeError) as exc:
            return self._failed(name, rdtype, Outcome.ERROR, f"invalid name: {exc}")
        timeout = self._budget()
        if timeout is None:
            return self._failed(name, rdtype, Outcome.TIMEOUT, SKIPPED)
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        try:
            answer = self._resolver.resolve(qname, rdtype, search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            responses = exc.kwargs.get("responses") or {}
            return self._distil(name, rdtype, Outcome.NXDOMAIN, responses.get(qname), None)
        except dns.exception.Timeout:
            return self._failed(name, rdtype, Outcome.TIMEOUT, f"no answer within {timeout:.1f} s", True)
        except dns.resolver.NoNameservers as exc:
            outcome, detail, network = _failure_outcome(exc)
            return self._failed(name, rdtype, outcome, detail, network)
        except dns.resolver.YXDOMAIN:
            return self._failed(name, rdtype, Outcome.ERROR, "YXDOMAIN: the name is too long after DNAME")
        except dns.exception.DNSException as exc:
            return self._failed(name, rdtype, Outcome.ERROR, f"{type(exc).__name__}: {exc}")
        outcome = Outcome.NOERROR if answer.rrset is not None else Outcome.NODATA
        return self._distil(name, rdtype, outcome, answer.response, answer.rrset)

    @staticmethod
    def _failed(name: str, rdtype: str, outcome: Outcome, detail: str, network: bool = False) -> _Result:
        text = _clean(detail, MAX_RECORD_TEXT)
        return _Result(DnsAnswer(name, rdtype, outcome, detail=text), Fetched(outcome, detail=text), network)

    @staticmethod
    def _distil(
        name: str,
        rdtype: str,
        outcome: Outcome,
        response: dns.message.Message | None,
        rrset: dns.rrset.RRset | None,
    ) -> _Result:
        chain: tuple[str, ...] = ()
        authenticated = False
        rrsigs = None
        authority: tuple[dns.rrset.RRset, ...] = ()
        if response is not None:
            authenticated = bool(response.flags & dns.flags.AD)
            authority = tuple(response.authority[:MAX_AUTHORITY_RRSETS])
            try:
                if isinstance(response, dns.message.QueryMessage):
                    cnames = response.resolve_chaining().cnames
                    chain = tuple(_name_text(cast(CNAME, c[0]).target) for c in cnames if len(c))
            except dns.exception.DNSException:  # a chain too long, an answer with NXDOMAIN…
                chain = ()
            if rrset is not None:
                try:
                    rrsigs = response.find_rrset(
                        response.answer, rrset.name, rrset.rdclass, dns.rdatatype.RRSIG, rrset.rdtype
                    )
                except KeyError:
                    rrsigs = None
        answer = DnsAnswer(
            name=name,
            rdtype=rdtype,
            outcome=outcome,
            ttl=rrset.ttl if rrset is not None else None,
            records=record_texts(rrset) if rrset is not None else (),
            cname_chain=chain,
            authenticated=authenticated,
        )
        return _Result(answer, Fetched(outcome, rrset, rrsigs, authority))


# --- direct queries to name servers ----------------------------------------------------------------


def _direct(
    qname: str, rdtype: str, address: str, port: int, timeout: float, recursion: bool = False
) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype)
    if not recursion:
        query.flags &= ~dns.flags.RD
    return dns.query.udp(query, address, timeout=timeout, port=port, raise_on_truncation=False)


def probe_name_server(
    address: str, zone: str, port: int, timeout: float, axfr: bool = True
) -> NameServerAddress:
    """What one NS address says about `zone`: SOA (AA, serial), NS set, and an AXFR attempt."""
    try:
        response = _direct(zone, "SOA", address, port, timeout)
    except dns.exception.Timeout:
        return NameServerAddress(address, answered=False, detail=f"no answer within {timeout:.1f} s")
    except (OSError, dns.exception.DNSException) as exc:
        return NameServerAddress(address, answered=False, detail=_clean(f"{type(exc).__name__}: {exc}", 200))
    origin = dns.name.from_text(zone or ".")
    rcode = response.rcode()
    soa = next((r for r in response.answer if r.rdtype == dns.rdatatype.SOA and r.name == origin), None)
    serial = cast(SOA, soa[0]).serial if soa is not None and len(soa) else None
    authoritative = bool(response.flags & dns.flags.AA) and rcode == dns.rcode.NOERROR and soa is not None
    detail = None
    if rcode != dns.rcode.NOERROR:
        detail = dns.rcode.to_text(rcode)
    elif soa is None:
        detail = "no SOA record in the answer"
    elif not authoritative:
        detail = "answer without the AA flag"
    ns_set: tuple[str, ...] = ()
    try:
        ns_response = _direct(zone, "NS", address, port, timeout)
        ns_rrset = next(
            (r for r in ns_response.answer if r.rdtype == dns.rdatatype.NS and r.name == origin), None
        )
        if ns_rrset is not None:
            ns_set = tuple(sorted({_name_text(cast(NS, r).target) for r in ns_rrset}))[:MAX_NS_HOSTS]
    except (OSError, dns.exception.DNSException):
        ns_set = ()
    attempt = transfer_attempt(address, zone, port, timeout) if axfr else None
    return NameServerAddress(
        address,
        answered=True,
        authoritative=authoritative,
        soa_serial=serial,
        ns_set=ns_set,
        axfr=attempt,
        detail=detail,
    )


def transfer_attempt(address: str, zone: str, port: int, timeout: float) -> AxfrAttempt:
    """One AXFR over TCP, stopped after MAX_AXFR_RECORDS: only a count and a few names are kept."""
    count = 0
    sample: list[str] = []
    capped = False
    try:
        for message in dns.query.xfr(
            address, zone or ".", port=port, timeout=timeout, lifetime=timeout, relativize=False
        ):
            for rrset in message.answer:
                count += len(rrset)
                entry = f"{_name_text(rrset.name)} {dns.rdatatype.to_text(rrset.rdtype)}"
                if entry not in sample and len(sample) < MAX_AXFR_SAMPLE:
                    sample.append(_clean(entry, 120))
            if count >= MAX_AXFR_RECORDS:
                capped = True
                break
    except dns.xfr.TransferError as exc:
        return AxfrAttempt("refused", detail=_clean(dns.rcode.to_text(exc.rcode), 60))
    except (ConnectionRefusedError, ConnectionResetError, EOFError) as exc:
        if count:
            return AxfrAttempt("transferred", count, tuple(sample), detail="connection closed mid-transfer")
        return AxfrAttempt(
            "refused",
            detail=f"connection {'refused' if isinstance(exc, ConnectionRefusedError) else 'closed'}",
        )
    except dns.exception.Timeout:
        if count:
            return AxfrAttempt("transferred", count, tuple(sample), detail="timed out mid-transfer")
        return AxfrAttempt("error", detail=f"no answer within {timeout:.1f} s")
    except (OSError, dns.exception.DNSException) as exc:
        if count:
            return AxfrAttempt(
                "transferred", count, tuple(sample), detail=_clean(f"{type(exc).__name__}", 100)
            )
        return AxfrAttempt("error", detail=_clean(f"{type(exc).__name__}: {exc}", 200))
    if count == 0:
        return AxfrAttempt("refused", detail="empty transfer")
    detail = f"stopped at the cap of {MAX_AXFR_RECORDS} records" if capped else None
    return AxfrAttempt("transferred", count, tuple(sample), detail=detail)


def probe_recursion(
    addresses: Sequence[str], port: int, name: str, timeout: float
) -> dict[str, RecursionProbe]:
    """One recursive query for `name` to every address at once, each verdict from its own answer.

    Hand-written over a socket per address family because dnspython's query functions wait for one
    server at a time: a /24 of silent addresses would cost 254 timeouts instead of one.
    """
    query = dns.message.make_query(name, "A")  # RD is set by default
    wire = query.to_wire()
    results: dict[str, RecursionProbe] = {}
    #: normalised address -> the caller's spelling of it, for the addresses still waited for
    pending: dict[str, str] = {}
    sockets: dict[int, socket.socket] = {}
    try:
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            try:
                if family not in sockets:
                    sockets[family] = socket.socket(family, socket.SOCK_DGRAM)
                # One small datagram per address, each to a different host: no pacing needed.
                sockets[family].sendto(wire, (address, port))
                pending[str(ipaddress.ip_address(address))] = address
            except (OSError, ValueError) as exc:
                results[address] = RecursionProbe(
                    address, "error", _clean(f"{type(exc).__name__}: {exc}", 200)
                )
        deadline = time.monotonic() + timeout
        while pending and sockets:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select(list(sockets.values()), [], [], left)
            for sock in ready:
                try:
                    data, source = sock.recvfrom(65535)
                except OSError:
                    continue  # an ICMP error for one of the addresses (Linux reports it on recv)
                sender = pending.pop(str(ipaddress.ip_address(source[0])), None)
                if sender is None:
                    continue
                try:
                    response = dns.message.from_wire(data)
                except dns.exception.DNSException:
                    response = None
                if response is None or not query.is_response(response):
                    pending[str(ipaddress.ip_address(source[0]))] = sender  # not an answer: keep waiting
                    continue
                results[sender] = _recursion_verdict(sender, response)
    finally:
        for sock in sockets.values():
            sock.close()
    for address in pending.values():
        results[address] = RecursionProbe(address, "no_answer", f"no answer within {timeout:.1f} s")
    return results


def _recursion_verdict(address: str, response: dns.message.Message) -> RecursionProbe:
    rcode = dns.rcode.to_text(response.rcode())
    ra = bool(response.flags & dns.flags.RA)
    if ra and response.rcode() == dns.rcode.NOERROR and response.answer:
        first = response.answer[0]
        return RecursionProbe(address, "answered", _clean(f"RA set, {first.to_text().splitlines()[0]}", 200))
    if not ra:
        return RecursionProbe(address, "refused", f"{rcode}, recursion not available (no RA flag)")
    return RecursionProbe(address, "refused", f"{rcode} with RA set but no answer")


# --- the collector -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    trust_anchor: str
    selectors: tuple[str, ...]
    ns_port: int
    common_labels: tuple[str, ...]
    recursion_probe_name: str

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> _Settings:
        merged = {**DnsCollector.defaults, **settings}
        # The configuration loader checks types only: names that are no DNS label are dropped here
        # rather than sent (a selector is a dotted name, RFC 6376 §3.1).
        selectors: list[str] = []
        for raw in [*DEFAULT_DKIM_SELECTORS, *(merged["dkim_selectors"] or ())]:
            selector = str(raw).strip().lower().rstrip(".")
            if _SELECTOR.match(selector) and selector not in selectors:
                selectors.append(selector)
        labels: list[str] = []
        for raw in merged["common_labels"] or ():
            label = str(raw).strip().lower()
            if _LABEL.match(label) and label not in labels:
                labels.append(label)
        port = int(merged["ns_port"])
        try:
            probe_name = normalise_hostname(str(merged["recursion_probe_name"]))
        except ValueError:
            probe_name = DEFAULT_RECURSION_PROBE_NAME
        return cls(
            trust_anchor=str(merged["trust_anchor"] or ""),
            selectors=tuple(selectors[:MAX_SELECTORS]),
            ns_port=port if 0 < port < 65536 else 53,
            common_labels=tuple(labels[:MAX_COMMON_LABELS]),
            recursion_probe_name=probe_name,
        )


class DnsCollector(Collector):
    """Collects a DnsSnapshot per target: DNS records, name servers, DNSSEC, recursion probes."""

    name: ClassVar[str] = "dns"
    provides: ClassVar[type[DnsSnapshot]] = DnsSnapshot
    defaults: ClassVar[Mapping[str, Any]] = {
        #: a file of DS or DNSKEY records (zone-file syntax); empty: IANA's root keys
        "trust_anchor": "",
        #: DKIM selectors tried in addition to DEFAULT_DKIM_SELECTORS
        "dkim_selectors": [],
        #: port of the direct queries to name servers and of the recursion probes
        "ns_port": 53,
        "common_labels": list(DEFAULT_COMMON_LABELS),
        "recursion_probe_name": DEFAULT_RECURSION_PROBE_NAME,
    }

    def collect(self, target: Target, ctx: CollectorContext) -> DnsSnapshot:
        ctx.op_timeout()  # raises DEADLINE when nothing can be done any more
        settings = _Settings.from_mapping(ctx.settings)
        started = time.time()
        collected_at = datetime.datetime.fromtimestamp(started, datetime.timezone.utc).replace(microsecond=0)
        base = DnsSnapshot(resolver=ctx.guard.resolver.description, collected_at=collected_at.isoformat())
        host = target.host if target.kind in (TargetKind.DOMAIN, TargetKind.URL) else None
        if host is None or is_ip_literal(host):
            addresses = target.addresses() or ([host] if host else [])
            recursion, not_probed = _recursion_probes(ctx, settings, [(a, a) for a in addresses])
            return dataclasses.replace(base, recursion=tuple(recursion.values()), not_probed=not_probed)
        if not ctx.guard.resolver.dns.nameservers:
            raise CollectorError(
                ErrorKind.DNS_FAILURE, "no DNS resolver configured: use --resolver IP[:PORT]"
            )
        return _Run(ctx, settings, host.lower().rstrip("."), started, base).collect()


def _recursion_probes(
    ctx: CollectorContext, settings: _Settings, pairs: Iterable[tuple[str, str]]
) -> tuple[dict[str, RecursionProbe], tuple[str, ...]]:
    """Recursion probes of the in-scope addresses among (host, address) pairs; the rest is listed."""
    allowed: list[str] = []
    refused: list[str] = []
    for host, address in pairs:
        if address in allowed:
            continue
        try:
            ctx.guard.pin(address, ProbeLevel.ACTIVE)  # records the refusal for the report
            allowed.append(address)
        except (OutOfScopeError, ResolutionError):
            entry = f"{host} {address}"
            if entry not in refused:
                refused.append(entry)
    budget = _budget(ctx)
    if not allowed:
        return {}, tuple(refused)
    if budget is None:
        return {a: RecursionProbe(a, "error", SKIPPED) for a in allowed}, tuple(refused)
    found = probe_recursion(allowed, settings.ns_port, settings.recursion_probe_name, budget)
    return {a: found[a] for a in allowed if a in found}, tuple(refused)


def _budget(ctx: CollectorContext) -> float | None:
    """Timeout for the next query: the per-operation timeout, capped by the deadline; None: skip it."""
    left = ctx.remaining() - DEADLINE_RESERVE
    if left < MIN_QUERY_TIME:
        return None
    return min(ctx.timeout, left)


class _Run:
    """One domain's collection: the query plan, then the name servers and DNSSEC."""

    def __init__(
        self, ctx: CollectorContext, settings: _Settings, domain: str, started: float, base: DnsSnapshot
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.domain = domain
        self.started = started
        self.base = base
        self.q = Querier(ctx.guard.resolver.dns, lambda: _budget(ctx))
        self.hostnames: dict[str, list[str]] = {}

    def collect(self) -> DnsSnapshot:
        domain = self.domain
        self._check_resolver()
        zone = self._find_zone()
        apex = zone if zone is not None else domain
        self.q.answer(apex, "NS")
        for rdtype in ("A", "AAAA", "MX", "TXT"):
            self.q.answer(domain, rdtype)
        self._caa()
        if zone is not None:
            self.q.answer(zone, "DNSKEY")
            self.q.answer(zone, "DS")
        self._dmarc()
        self.q.answer(f"_mta-sts.{domain}", "TXT")
        self.q.answer(f"_smtp._tls.{domain}", "TXT")
        spf = walk_spf(domain, self.q.answer)
        mx_hosts = self._mx_hosts()
        ns_hosts = self._ns_hosts(apex)
        probes = _ServerProbes(self.ctx, self.settings, apex)
        for host in ns_hosts:
            probes.start(self._addresses(host))
        dnssec = self._dnssec(zone)
        for selector in self.settings.selectors:
            self.q.answer(f"{selector}._domainkey.{domain}", "TXT")
        www = domain if domain.startswith("www.") else f"www.{domain}"
        self._note(www, "www")
        for label in self.settings.common_labels:
            self._note(f"{label}.{apex}", "www" if label == "www" else "common")
        for host in mx_hosts:
            self._note(host, "mx")
        for host in ns_hosts:
            self._note(host, "ns")
        for include in spf.visited:
            self._note(include, "spf")
        for name in self.hostnames:
            self._chase(name)
        nameservers = probes.finish(ns_hosts, self.q)
        return dataclasses.replace(
            self.base,
            domain=domain,
            zone=zone or "",
            queries=self.q.answers(),
            nameservers=nameservers,
            dnssec=dnssec,
            hostnames={name: tuple(sources) for name, sources in self.hostnames.items()},
            dkim_selectors=self.settings.selectors,
            not_probed=probes.not_probed,
        )

    def _check_resolver(self) -> None:
        """CollectorError when the resolver answers nothing (not even for the root zone)."""
        first = self.q.answer(self.domain, "SOA")
        if not self.q.network_failure(self.domain, "SOA"):
            return
        self.q.answer("", "SOA")
        if self.q.network_failure("", "SOA"):
            kind = ErrorKind.TIMEOUT if first.outcome is Outcome.TIMEOUT else ErrorKind.UNREACHABLE
            detail = (
                f"the DNS resolver {self.ctx.guard.resolver.description} answered no query ({first.detail})"
            )
            raise CollectorError(kind, _clean(detail, 300))

    def _find_zone(self) -> str | None:
        """The apex holding the domain: the first name, climbing, whose SOA is its own."""
        name = self.domain
        while name:
            answer = self.q.answer(name, "SOA")
            if answer.outcome is Outcome.NOERROR and not answer.cname_chain:
                return name
            if answer.outcome.failed:
                return None
            name = name.partition(".")[2]
        return None

    def _caa(self) -> None:
        # RFC 8659 §3: the relevant CAA RRset is the first found climbing from the name to the TLD.
        name = self.domain
        while name:
            answer = self.q.answer(name, "CAA")
            if answer.records or answer.outcome.failed:
                return
            name = name.partition(".")[2]

    def _dmarc(self) -> None:
        for name in dmarc_names(self.domain):
            answer = self.q.answer(name, "TXT")
            if answer.outcome.failed or any(r.lower().startswith("v=dmarc1") for r in answer.records):
                return  # found, or a receiver would stop here with a temporary error

    def _mx_hosts(self) -> list[str]:
        fetched = self.q.fetch(self.domain, "MX")
        if fetched.rrset is None:
            return []
        hosts: list[str] = []
        for record in sorted(fetched.rrset, key=lambda r: (cast(MX, r).preference, cast(MX, r).exchange)):
            exchange = cast(MX, record).exchange
            if exchange == dns.name.root:
                continue  # null MX (RFC 7505)
            host = _hostname(exchange)
            if host and host not in hosts:
                hosts.append(host)
        hosts = hosts[:MAX_MX_HOSTS]
        for host in hosts:
            for rdtype in ("CNAME", "A", "AAAA"):
                self.q.answer(host, rdtype)
            self.q.answer(f"_25._tcp.{host}", "TLSA")
        return hosts

    def _ns_hosts(self, apex: str) -> list[str]:
        fetched = self.q.fetch(apex, "NS")
        if fetched.rrset is None:
            return []
        hosts = sorted({h for h in (_hostname(cast(NS, r).target) for r in fetched.rrset) if h})
        return hosts[:MAX_NS_HOSTS]

    def _addresses(self, host: str) -> tuple[str, list[str]]:
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            fetched = self.q.fetch(host, rdtype)
            if fetched.rrset is not None:
                found.extend(sorted(r.to_text() for r in fetched.rrset)[:MAX_ADDRESSES_PER_HOST])
        return host, found

    def _dnssec(self, zone: str | None) -> DnssecFacts:
        anchor, problem = self._anchor()
        if zone is None:
            reason = "the zone holding the domain could not be determined (SOA lookups failed)"
            return DnssecFacts(
                "indeterminate", reason, "", anchor=anchor.source, anchor_zone=_anchor_zone(anchor)
            )
        if problem is not None:
            return DnssecFacts(
                "indeterminate", problem, zone, anchor=anchor.source, anchor_zone=_anchor_zone(anchor)
            )
        return validate_zone(zone, self.domain, anchor, self.q.fetch, self.started)

    def _anchor(self) -> tuple[TrustAnchor, str | None]:
        path = self.settings.trust_anchor
        if not path:
            return root_anchor(), None
        source = f"file {Path(path).name}"
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(MAX_ANCHOR_TEXT + 1)
            return parse_trust_anchor(text, source), None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            anchor = dataclasses.replace(root_anchor(), source=source)
            return anchor, _clean(f"the trust anchor file could not be used: {exc}", 300)

    def _note(self, name: str, source: str) -> None:
        host = dns_name(name)
        if host is None:
            return
        sources = self.hostnames.setdefault(host, [])
        if source not in sources:
            sources.append(source)

    def _chase(self, name: str) -> None:
        """Raw CNAME queries along the chain, then the final target's A (dangling-record evidence)."""
        current, seen = name, {name}
        for _ in range(MAX_CNAME_CHAIN):
            fetched = self.q.fetch(current, "CNAME")
            if fetched.outcome is not Outcome.NOERROR or fetched.rrset is None:
                if current == name and fetched.outcome is not Outcome.NODATA:
                    return  # the name itself does not exist, or the lookup failed
                break
            target = _hostname(cast(CNAME, fetched.rrset[0]).target)
            if not target or target in seen:
                return  # a loop, or a target that is no host name
            seen.add(target)
            current = target
        self.q.answer(current, "A")


def _hostname(name: dns.name.Name) -> str | None:
    return dns_name(name.to_text(omit_final_dot=True))


def _anchor_zone(anchor: TrustAnchor) -> str:
    return "" if anchor.zone == dns.name.root else anchor.zone.to_text(omit_final_dot=True).lower()


class _ServerProbes:
    """Direct probes of every NS address, in daemon threads, joined before the deadline."""

    def __init__(self, ctx: CollectorContext, settings: _Settings, zone: str) -> None:
        self.ctx = ctx
        self.settings = settings
        self.zone = zone
        self.results: dict[str, NameServerAddress] = {}
        self.threads: dict[str, threading.Thread] = {}
        self.pairs: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.slots = threading.Semaphore(PROBE_CONCURRENCY)
        self.not_probed: tuple[str, ...] = ()

    def start(self, host_addresses: tuple[str, list[str]]) -> None:
        host, addresses = host_addresses
        for address in addresses:
            self.pairs.append((host, address))
            if address in self.threads:
                continue
            thread = threading.Thread(
                target=self._probe, args=(address,), name=f"dns-ns-{address}", daemon=True
            )
            self.threads[address] = thread
            thread.start()

    def _probe(self, address: str) -> None:
        with self.slots:
            budget = _budget(self.ctx)
            if budget is None:
                result = NameServerAddress(address, answered=False, detail=SKIPPED)
            else:
                # Passive (a DNS query any resolver sends), but through the guard all the same: the
                # fleet's per-address rate limit must see the SOA, NS and AXFR queries to a name
                # server that many communes share.
                self.ctx.guard.pin(address, ProbeLevel.PASSIVE)
                result = probe_name_server(address, self.zone, self.settings.ns_port, budget)
        with self.lock:
            self.results[address] = result

    def finish(self, hosts: Sequence[str], q: Querier) -> tuple[NameServer, ...]:
        for thread in self.threads.values():
            thread.join(timeout=max(0.0, self.ctx.remaining() - DEADLINE_RESERVE / 2))
        recursion, self.not_probed = _recursion_probes(self.ctx, self.settings, self.pairs)
        servers: list[NameServer] = []
        for host in hosts:
            a, aaaa = q.answer(host, "A"), q.answer(host, "AAAA")
            addresses = [addr for h, addr in self.pairs if h == host]
            entries = []
            for address in addresses:
                with self.lock:
                    entry = self.results.get(address) or NameServerAddress(
                        address, answered=False, detail="no result before the target's deadline"
                    )
                entries.append(dataclasses.replace(entry, recursion=recursion.get(address)))
            servers.append(NameServer(host, _resolution(a, aaaa), tuple(entries)))
        return tuple(servers)


def _resolution(a: DnsAnswer, aaaa: DnsAnswer) -> Outcome:
    """One outcome for a host's addresses: any record wins, then NXDOMAIN, NODATA, the first failure."""
    outcomes = (a.outcome, aaaa.outcome)
    if Outcome.NOERROR in outcomes:
        return Outcome.NOERROR
    if Outcome.NXDOMAIN in outcomes:
        return Outcome.NXDOMAIN
    if all(o is Outcome.NODATA for o in outcomes):
        return Outcome.NODATA
    return next(o for o in outcomes if o.failed) if any(o.failed for o in outcomes) else a.outcome
