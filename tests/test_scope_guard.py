"""The scope boundary: active probes only reach declared addresses; resolution goes through one resolver."""

import socket

import pytest

from cyberscan.models import ErrorKind
from cyberscan.net.guard import NetworkGuard, OutOfScopeError
from cyberscan.net.resolver import ResolutionError, Resolver, ResolverConfigError, parse_nameserver
from cyberscan.scope import ProbeLevel, Scope, ScopeError


def test_scope_membership() -> None:
    scope = Scope.parse(["192.0.2.0/28", "2001:db8::/64"])
    assert scope.allows("192.0.2.14")
    assert not scope.allows("192.0.2.16")
    assert scope.allows("2001:db8::5")
    assert not scope.allows("not-an-ip")
    assert not Scope().allows("127.0.0.1")
    with pytest.raises(ScopeError):
        Scope.parse(["192.0.2.0/33"])


def test_active_probe_refused_outside_scope_and_recorded() -> None:
    resolver = Resolver(static_hosts={"www.mairie.test": "127.0.0.1"})
    guard = NetworkGuard(resolver, Scope())
    # A domain alone never authorises active probing of what it resolves to...
    with pytest.raises(OutOfScopeError):
        guard.pin("www.mairie.test", ProbeLevel.ACTIVE)
    # ...but a browser-like passive request by name is allowed.
    assert guard.pin("www.mairie.test", ProbeLevel.PASSIVE) == "127.0.0.1"
    assert [(n.host, n.address) for n in guard.refusals()] == [("www.mairie.test", "127.0.0.1")]
    inside = NetworkGuard(resolver, Scope.parse(["127.0.0.1/32"]))
    assert inside.pin("www.mairie.test", ProbeLevel.ACTIVE) == "127.0.0.1"
    assert inside.refusals() == ()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("192.0.2.53", ("192.0.2.53", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("[::1]:53", ("::1", 53))],
)
def test_parse_nameserver(spec: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(spec) == expected


@pytest.mark.parametrize("spec", ["dns.example", "127.0.0.1:0", "127.0.0.1:abc", "[::1]x"])
def test_parse_nameserver_rejects(spec: str) -> None:
    with pytest.raises(ResolverConfigError):
        parse_nameserver(spec)


def test_unanswering_resolver_times_out_as_data() -> None:
    # A UDP socket that never answers: the configured resolver really is the one asked.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        resolver = Resolver(("127.0.0.1", silent.getsockname()[1]), timeout=0.3)
        with pytest.raises(ResolutionError) as info:
            resolver.addresses("mairie-exemple.fr")
        assert info.value.kind is ErrorKind.TIMEOUT
        silent.settimeout(0.5)
        assert silent.recvfrom(512)[0]  # the query did arrive at our server
        assert resolver.addresses("192.0.2.1") == ["192.0.2.1"]  # literals never hit DNS
    finally:
        silent.close()


class _Zone:
    """A tiny authoritative zone for dnslib: one name with an address, one without, the rest NXDOMAIN."""

    def resolve(self, request, handler):
        from dnslib import QTYPE, RCODE, RR, A

        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        if name == "www.mairie.test":
            if request.q.qtype == QTYPE.A:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.80"), ttl=60))
        elif name != "mairie.test":
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


@pytest.fixture
def dns_server():
    from dnslib.server import DNSServer

    server = DNSServer(_Zone(), port=0, address="127.0.0.1")
    server.start_thread()
    try:
        yield server.server.server_address[1]
    finally:
        server.stop()
        server.server.server_close()  # dnslib's stop() shuts down but leaves the socket open


@pytest.mark.parametrize(
    ("name", "reason"),
    [("mairie.test", "no_address"), ("absent.mairie.test", "nxdomain")],
)
def test_resolver_tells_no_address_from_nxdomain(dns_server: int, name: str, reason: str) -> None:
    resolver = Resolver(("127.0.0.1", dns_server), timeout=2.0)
    assert resolver.addresses("www.mairie.test") == ["192.0.2.80"]
    with pytest.raises(ResolutionError) as info:
        resolver.addresses(name)
    assert info.value.reason == reason
    assert info.value.kind is ErrorKind.DNS_FAILURE
