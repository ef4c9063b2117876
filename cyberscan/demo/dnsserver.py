"""An in-process authoritative DNS server on 127.0.0.x for the tests and `cyberscan demo`.

dnslib's `DNSServer` provides the socket loop (threaded UDP and TCP servers); the answers are built
with dnspython. dnslib's own records cannot carry DNSSEC signatures and its zone resolver knows
neither NXDOMAIN from NODATA nor denial-of-existence records, while dnspython already holds zones
(zone-file text or `dns.zone.Zone`), signs them (`dns.dnssec.sign_zone`) and renders messages with
truncation. So a small dnslib handler hands the raw query to `DnsResponder.respond`, which returns
dnspython wire messages.

What it serves, per zone: AA answers, NXDOMAIN vs NODATA with the SOA in the authority section,
CNAMEs chased inside the served zones, referrals below delegations, DS answered from the parent side
of a cut (RFC 4035 §3.1.4.1), and with the DO bit the RRSIGs and the NSEC or NSEC3 records that deny
a name or type (no wildcard synthesis). AXFR over TCP per zone (allowed or REFUSED). Faults for
tests: a "dead" server (never answers), a "servfail" server, names that are never answered or always
fail, zones that fail as on a validating resolver (SERVFAIL unless the query sets CD), a
non-authoritative (lame) copy, and an open resolver that answers any other name with RA.
"""

from __future__ import annotations

import bisect
import contextlib
import socket
import struct
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.node
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone
from dnslib.server import DNSHandler, DNSLogger, DNSServer

LOOPBACK = "127.0.0.1"
Mode = Literal["normal", "dead", "servfail"]

#: what the open-resolver mode answers for any name outside the served zones (RFC 5737 / RFC 3849)
OPEN_RESOLVER_A = "192.0.2.1"
OPEN_RESOLVER_AAAA = "2001:db8::1"
#: resource records per AXFR message (a transfer spans several messages, as real servers send it)
AXFR_CHUNK = 20
#: CNAME hops chased inside the served zones
MAX_CHASE = 8
#: queries read on one TCP connection, and how long a silent client may hold it
MAX_TCP_QUERIES = 16
TCP_IDLE_TIMEOUT = 5.0
#: how long a "dead" server holds a TCP connection open without answering (until stopped)
DEAD_HOLD = 60.0


@dataclass(frozen=True)
class ServedZone:
    """One zone the server is authoritative for, and whether it hands it out by AXFR."""

    zone: dns.zone.Zone
    axfr: bool = False

    @classmethod
    def from_text(cls, text: str, origin: str, axfr: bool = False) -> ServedZone:
        """A zone from zone-file text (raises dns.exception.DNSException on a bad zone)."""
        return cls(dns.zone.from_text(text, origin=origin, relativize=False), axfr)


class _Zone:
    """A served zone, indexed for answering: names, delegations and the denial chain."""

    def __init__(self, served: ServedZone) -> None:
        # Re-read with absolute names: rdata of a relativized zone holds names relative to its own
        # origin, which cannot be rendered in one message next to another zone's records.
        source = served.zone
        text = source.to_text(relativize=False, want_origin=False)
        assert source.origin is not None
        self.zone = dns.zone.from_text(text, origin=source.origin, relativize=False)
        self.origin: dns.name.Name = source.origin
        self.axfr = served.axfr
        self.names = set(self.zone.nodes)
        # names that exist, counting empty non-terminals (RFC 8020: no NXDOMAIN above a real name)
        self.existing: set[dns.name.Name] = set()
        for name in self.names:
            while name.is_subdomain(self.origin) and name not in self.existing:
                self.existing.add(name)
                if name == self.origin:
                    break
                name = name.parent()
        self.cuts = {n for n in self.names if n != self.origin and self._get(n, dns.rdatatype.NS)}
        self.nsec = sorted(n for n in self.names if self._get(n, dns.rdatatype.NSEC))
        param = self._get(self.origin, dns.rdatatype.NSEC3PARAM)
        self.nsec3param: Any = param[0] if param else None
        hashed = [
            (n.labels[0].decode("ascii").upper(), n) for n in self.names if self._get(n, dns.rdatatype.NSEC3)
        ]
        self.nsec3 = sorted(hashed)

    def _get(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rdataset.Rdataset | None:
        return self.zone.get_rdataset(name, rdtype)

    def rdataset(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        covers: dns.rdatatype.RdataType | None = None,
    ) -> dns.rdataset.Rdataset | None:
        node = self.zone.get_node(name)
        if node is None:
            return None
        if covers is None:
            return node.get_rdataset(dns.rdataclass.IN, rdtype)
        return node.get_rdataset(dns.rdataclass.IN, rdtype, covers)

    def cut_above(self, qname: dns.name.Name) -> dns.name.Name | None:
        """The highest delegation point at or above `qname` inside this zone."""
        found = None
        name = qname
        while name != self.origin and name.is_subdomain(self.origin):
            if name in self.cuts:
                found = name
            name = name.parent()
        return found

    def covering_nsec(self, qname: dns.name.Name) -> dns.name.Name | None:
        """Owner of the NSEC whose span holds `qname` (canonical order, wrapping at the apex)."""
        if not self.nsec:
            return None
        index = bisect.bisect_right(self.nsec, qname) - 1
        return self.nsec[index]  # index -1 wraps to the last NSEC, whose next name is the apex

    def nsec3_owner(self, name: dns.name.Name, match: bool) -> dns.name.Name | None:
        """The NSEC3 matching `name` (match=True) or covering its hash."""
        if self.nsec3param is None or not self.nsec3:
            return None
        param = self.nsec3param
        digest = str(dns.dnssec.nsec3_hash(name, param.salt, param.iterations, param.algorithm)).upper()
        hashes = [h for h, _ in self.nsec3]
        index = bisect.bisect_left(hashes, digest)
        if index < len(hashes) and hashes[index] == digest:
            return self.nsec3[index][1] if match else None
        if match:
            return None
        return self.nsec3[index - 1][1]  # -1 wraps to the last hash, which covers the end of the ring

    def closest_encloser(self, qname: dns.name.Name) -> dns.name.Name:
        name = qname
        while name not in self.existing and name != self.origin:
            name = name.parent()
        return name


class DnsResponder:
    """Turns one wire query into the wire answers of an authoritative server (no sockets here)."""

    def __init__(
        self,
        zones: Iterable[ServedZone | dns.zone.Zone] = (),
        *,
        mode: Mode = "normal",
        authoritative: bool = True,
        recursion_available: bool = False,
        open_resolver: bool = False,
        silent_names: Collection[str] = (),
        servfail_names: Collection[str] = (),
        servfail_unless_cd: Collection[str] = (),
    ) -> None:
        self.zones = [_Zone(z if isinstance(z, ServedZone) else ServedZone(z)) for z in zones]
        self.mode = mode
        self.authoritative = authoritative
        self.recursion_available = recursion_available or open_resolver
        self.open_resolver = open_resolver
        self.silent = {dns.name.from_text(n) for n in silent_names}
        self.servfail = {dns.name.from_text(n) for n in servfail_names}
        self.servfail_unless_cd = [dns.name.from_text(n) for n in servfail_unless_cd]
        self.stopping = threading.Event()

    # --- entry point ------------------------------------------------------------------------------

    def respond(self, wire: bytes, tcp: bool) -> list[bytes]:
        """The messages to send back for `wire`; an empty list means: stay silent."""
        if self.mode == "dead":
            return []
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return []  # garbage is dropped, as most servers do
        if query.flags & dns.flags.QR:
            return []
        response = dns.message.make_response(query, recursion_available=self.recursion_available)
        do = query.edns >= 0 and bool(query.ednsflags & dns.flags.DO)
        if do:
            response.want_dnssec(True)  # RFC 3225: the DO bit is echoed
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
        elif len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
        else:
            question = query.question[0]
            qname, qtype = question.name, dns.rdatatype.RdataType.make(question.rdtype)
            if qname in self.silent:
                return []
            if self.mode == "servfail" or qname in self.servfail or self._fails_validation(query, qname):
                response.set_rcode(dns.rcode.SERVFAIL)
            elif qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
                return self._transfer(query, response, qname, tcp)
            else:
                self._resolve(query, response, qname, qtype, do)
        return [self._render(query, response, tcp)]

    def _fails_validation(self, query: dns.message.Message, qname: dns.name.Name) -> bool:
        # What a validating resolver does with a bogus zone: SERVFAIL, unless the client set CD.
        if query.flags & dns.flags.CD:
            return False
        return any(qname.is_subdomain(zone) for zone in self.servfail_unless_cd)

    @staticmethod
    def _render(query: dns.message.Message, response: dns.message.Message, tcp: bool) -> bytes:
        if tcp:
            return response.to_wire(max_size=65535)
        limit = max(512, query.payload) if query.edns >= 0 else 512
        return response.to_wire(max_size=limit, prefer_truncation=True)

    # --- answering --------------------------------------------------------------------------------

    def _zone_for(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType) -> _Zone | None:
        holding = sorted(
            (z for z in self.zones if qname.is_subdomain(z.origin)), key=lambda z: -len(z.origin)
        )
        if not holding:
            return None
        if qtype == dns.rdatatype.DS and holding[0].origin == qname and len(holding) > 1:
            return holding[1]  # the DS of a zone lives in its parent
        return holding[0]

    def _resolve(
        self,
        query: dns.message.Message,
        response: dns.message.Message,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        do: bool,
    ) -> None:
        zone = self._zone_for(qname, qtype)
        if zone is None:
            if self.open_resolver and query.flags & dns.flags.RD:
                self._recurse(response, qname, qtype)
            else:
                response.set_rcode(dns.rcode.REFUSED)
            return
        if self.authoritative:
            response.flags |= dns.flags.AA
        self._answer(zone, response, qname, qtype, do, depth=0)

    def _answer(
        self,
        zone: _Zone,
        response: dns.message.Message,
        qname: dns.name.Name,
        qtype: dns.rdatatype.RdataType,
        do: bool,
        depth: int,
    ) -> None:
        cut = zone.cut_above(qname)
        if cut is not None and not (cut == qname and qtype == dns.rdatatype.DS):
            self._referral(zone, response, cut, do)
            return
        node = zone.zone.get_node(qname)
        if node is not None:
            found = zone.rdataset(qname, qtype)
            if found is not None:
                self._put(response.answer, zone, qname, found, do)
                return
            cname = zone.rdataset(qname, dns.rdatatype.CNAME)
            if cname is not None and qtype != dns.rdatatype.CNAME:
                self._put(response.answer, zone, qname, cname, do)
                target = cname[0].target
                next_zone = self._zone_for(target, qtype)
                if next_zone is not None and depth < MAX_CHASE:
                    self._answer(next_zone, response, target, qtype, do, depth + 1)
                return
            self._nodata(zone, response, qname, do)
            return
        if qname in zone.existing:  # an empty non-terminal
            self._nodata(zone, response, qname, do)
            return
        response.set_rcode(dns.rcode.NXDOMAIN)
        self._soa(zone, response, do)
        if do:
            self._deny_name(zone, response, qname)

    def _nodata(self, zone: _Zone, response: dns.message.Message, qname: dns.name.Name, do: bool) -> None:
        self._soa(zone, response, do)
        if not do:
            return
        owner = zone.nsec3_owner(qname, match=True) if zone.nsec3 else None
        if owner is None and zone.nsec:
            owner = qname if qname in zone.nsec else zone.covering_nsec(qname)
        if owner is not None:
            self._put_denial(zone, response, owner)

    def _deny_name(self, zone: _Zone, response: dns.message.Message, qname: dns.name.Name) -> None:
        encloser = zone.closest_encloser(qname)
        wildcard = dns.name.Name((b"*", *encloser.labels))
        owners: list[dns.name.Name | None] = []
        if zone.nsec3:
            # RFC 5155 §7.2.2: closest encloser match, next closer name and wildcard covered
            next_closer = dns.name.Name(qname.labels[-(len(encloser.labels) + 1) :])
            owners = [
                zone.nsec3_owner(encloser, match=True),
                zone.nsec3_owner(next_closer, match=False),
                zone.nsec3_owner(wildcard, match=False),
            ]
        elif zone.nsec:
            owners = [zone.covering_nsec(qname), zone.covering_nsec(wildcard)]
        for owner in owners:
            if owner is not None:
                self._put_denial(zone, response, owner)

    def _put_denial(self, zone: _Zone, response: dns.message.Message, owner: dns.name.Name) -> None:
        for rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3):
            found = zone.rdataset(owner, rdtype)
            if found is not None:
                self._put(response.authority, zone, owner, found, True)

    def _soa(self, zone: _Zone, response: dns.message.Message, do: bool) -> None:
        soa = zone.rdataset(zone.origin, dns.rdatatype.SOA)
        if soa is not None:
            self._put(response.authority, zone, zone.origin, soa, do)

    def _referral(self, zone: _Zone, response: dns.message.Message, cut: dns.name.Name, do: bool) -> None:
        response.flags &= ~dns.flags.AA
        ns = zone.rdataset(cut, dns.rdatatype.NS)
        assert ns is not None
        self._put(response.authority, zone, cut, ns, False)
        if do:
            ds = zone.rdataset(cut, dns.rdatatype.DS)
            if ds is not None:
                self._put(response.authority, zone, cut, ds, True)
            else:
                self._nodata_proof(zone, response, cut)
        for record in ns:
            for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                glue = (
                    zone.rdataset(record.target, rdtype) if record.target.is_subdomain(zone.origin) else None
                )
                if glue is not None:
                    self._put(response.additional, zone, record.target, glue, False)

    def _nodata_proof(self, zone: _Zone, response: dns.message.Message, name: dns.name.Name) -> None:
        owner = zone.nsec3_owner(name, match=True) if zone.nsec3 else (name if name in zone.nsec else None)
        if owner is not None:
            self._put_denial(zone, response, owner)

    @staticmethod
    def _put(
        section: list[dns.rrset.RRset],
        zone: _Zone,
        name: dns.name.Name,
        rdataset: dns.rdataset.Rdataset,
        with_signatures: bool,
    ) -> None:
        sets = [rdataset]
        if with_signatures:
            sigs = zone.rdataset(name, dns.rdatatype.RRSIG, covers=rdataset.rdtype)
            if sigs is not None:
                sets.append(sigs)
        for rds in sets:
            if any(r.name == name and r.rdtype == rds.rdtype and r.covers == rds.covers for r in section):
                continue
            section.append(dns.rrset.from_rdata_list(name, rds.ttl, list(rds)))

    def _recurse(
        self, response: dns.message.Message, qname: dns.name.Name, qtype: dns.rdatatype.RdataType
    ) -> None:
        # An open resolver's answer, without asking anyone: enough for a scanner to see recursion.
        if qtype == dns.rdatatype.A:
            response.answer.append(dns.rrset.from_text(qname, 60, "IN", "A", OPEN_RESOLVER_A))
        elif qtype == dns.rdatatype.AAAA:
            response.answer.append(dns.rrset.from_text(qname, 60, "IN", "AAAA", OPEN_RESOLVER_AAAA))

    # --- zone transfer ----------------------------------------------------------------------------

    def _transfer(
        self, query: dns.message.Message, response: dns.message.Message, qname: dns.name.Name, tcp: bool
    ) -> list[bytes]:
        zone = next((z for z in self.zones if z.origin == qname), None)
        if not tcp or zone is None or not zone.axfr:
            response.set_rcode(dns.rcode.REFUSED)
            return [self._render(query, response, tcp)]
        soa = zone.rdataset(zone.origin, dns.rdatatype.SOA)
        assert soa is not None
        first = dns.rrset.from_rdata_list(zone.origin, soa.ttl, list(soa))
        body = [
            dns.rrset.from_rdata_list(name, rds.ttl, list(rds))
            for name, rds in sorted(zone.zone.iterate_rdatasets(), key=lambda item: item[0])
            if not (name == zone.origin and rds.rdtype == dns.rdatatype.SOA)
        ]
        records = [first, *body, first]
        messages: list[bytes] = []
        for start in range(0, len(records), AXFR_CHUNK):
            part = dns.message.make_response(query)
            part.flags |= dns.flags.AA
            part.answer = records[start : start + AXFR_CHUNK]
            messages.append(part.to_wire(max_size=65535))
        return messages


class _Handler(DNSHandler):  # type: ignore[misc]
    """dnslib's handler with the protocol work delegated to `DnsResponder` (several TCP messages)."""

    def handle(self) -> None:
        responder: DnsResponder = self.server.resolver
        if self.server.socket_type == socket.SOCK_STREAM:
            self._handle_tcp(responder, self.request)
            return
        data, sock = self.request
        for reply in responder.respond(data, tcp=False)[:1]:
            with contextlib.suppress(OSError):
                sock.sendto(reply, self.client_address)

    @staticmethod
    def _handle_tcp(responder: DnsResponder, conn: socket.socket) -> None:
        conn.settimeout(TCP_IDLE_TIMEOUT)
        try:
            for _ in range(MAX_TCP_QUERIES):
                header = _read_exactly(conn, 2)
                if header is None:
                    return
                data = _read_exactly(conn, struct.unpack("!H", header)[0])
                if data is None:
                    return
                replies = responder.respond(data, tcp=True)
                if not replies:
                    if responder.mode == "dead":
                        responder.stopping.wait(DEAD_HOLD)  # a black hole: the client must time out
                    return
                for reply in replies:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _read_exactly(conn: socket.socket, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class LocalDnsServer:
    """A DNS server on `address` (UDP and TCP, same port), started at construction.

    `port=0` picks a free port, reported by `.port`; give another server on 127.0.0.2 the same port
    to stand for a second name server of a zone (collectors query every NS address on one port).
    Use as a context manager, or call `stop()`.
    """

    def __init__(
        self,
        zones: Sequence[ServedZone | dns.zone.Zone] = (),
        *,
        address: str = LOOPBACK,
        port: int = 0,
        mode: Mode = "normal",
        authoritative: bool = True,
        recursion_available: bool = False,
        open_resolver: bool = False,
        silent_names: Collection[str] = (),
        servfail_names: Collection[str] = (),
        servfail_unless_cd: Collection[str] = (),
    ) -> None:
        self.responder = DnsResponder(
            zones,
            mode=mode,
            authoritative=authoritative,
            recursion_available=recursion_available,
            open_resolver=open_resolver,
            silent_names=silent_names,
            servfail_names=servfail_names,
            servfail_unless_cd=servfail_unless_cd,
        )
        self.address = address
        self._servers = self._bind(address, port)
        self._threads = [
            threading.Thread(target=s.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self._servers
        ]
        for thread in self._threads:
            thread.start()
        self._stopped = False

    def _bind(self, address: str, port: int) -> list[DNSServer]:
        logger = DNSLogger("-request,-reply,-truncated,-error", prefix=False)
        for _ in range(20 if port == 0 else 1):
            udp = DNSServer(self.responder, address=address, port=port, logger=logger, handler=_Handler)
            chosen = int(udp.server.server_address[1])
            try:
                tcp = DNSServer(
                    self.responder, address=address, port=chosen, tcp=True, logger=logger, handler=_Handler
                )
            except OSError:
                udp.server.server_close()
                if port != 0:
                    raise
                continue  # the TCP side of that port is taken: pick another port
            return [udp, tcp]
        raise OSError(f"no free port on {address} for both UDP and TCP")

    @property
    def port(self) -> int:
        return int(self._servers[0].server.server_address[1])

    @property
    def nameserver(self) -> str:
        """`IP:PORT`, the value `--resolver` takes."""
        return f"{self.address}:{self.port}"

    def stop(self) -> None:
        """Stop both listeners and release their sockets (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.responder.stopping.set()
        for server in self._servers:
            server.server.shutdown()
            server.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> LocalDnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
