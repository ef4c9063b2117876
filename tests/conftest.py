"""Shared fixtures: a throwaway CA, local web servers and a loopback-only resolver/guard."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence

import pytest
import trustme

from cyberscan.demo.webserver import LocalWebServer, Site
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.scope import Scope

LOOPBACK_SCOPE = ("127.0.0.0/8",)

# A developer's installed third-party plugins must never change test results (llm's rule); the
# registry tests that exercise entry points turn loading back on explicitly.
os.environ["CYBERSCAN_NO_PLUGINS"] = "1"
# Nor may a developer's updated data files (`cyberscan data update`): tests see the packaged ones.
os.environ["CYBERSCAN_DATA_DIR"] = tempfile.mkdtemp(prefix="cyberscan-test-data-")

#: The network rule, enforced: tests may only reach loopback and the namespaces the live tests create.
ALLOWED_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "10.231.0.0/16", "::ffff:127.0.0.0/104")
)
_network_violations: list[str] = []


def _allowed(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths, netlink: not the Internet
    try:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
    except ValueError:
        return False  # a host name: the code under test should have resolved it through the guard
    return any(ip in net for net in ALLOWED_NETWORKS)


def _guarded(method_name: str) -> Callable[..., object]:
    original = getattr(socket.socket, method_name)

    def guarded(self: socket.socket, *args: object) -> object:
        address = args[-1] if method_name == "sendto" else args[0]
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address):
            _network_violations.append(f"{method_name} to {address!r}")
            raise OSError(errno.ENETUNREACH, f"test network rule: {address!r} is not loopback")
        return original(self, *args)

    return guarded


# Patched on the class, so every thread (collectors run in daemon threads) and every library that
# uses Python sockets (httpx, dnspython, sslyze, smtplib, asyncio) is covered. nmap, a subprocess, is
# only ever pointed at loopback or namespace addresses by the tests themselves.
for _method in ("connect", "connect_ex", "sendto"):
    setattr(socket.socket, _method, _guarded(_method))


@pytest.fixture(autouse=True)
def _network_rule() -> Iterator[None]:
    """Fail any test whose code tried to reach a non-loopback address (even if it handled the error)."""
    start = len(_network_violations)
    yield
    tried = _network_violations[start:]
    assert not tried, f"test tried to leave the machine: {tried[:5]}"


StartWebServer = Callable[[Sequence[Site]], LocalWebServer]
MakeGuard = Callable[..., NetworkGuard]


def closed_udp_port() -> int:
    """A loopback UDP port nobody listens on: a DNS server there never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def loopback_resolver(static_hosts: Mapping[str, str], timeout: float = 0.5) -> Resolver:
    """A resolver that answers only from `static_hosts`.

    Its name server is a closed loopback port, so a name missing from the map fails (timeout)
    instead of leaking a query to the machine's real resolver.
    """
    return Resolver(nameserver=("127.0.0.1", closed_udp_port()), timeout=timeout, static_hosts=static_hosts)


@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    """One throwaway certificate authority for the whole test session."""
    return trustme.CA()


@pytest.fixture
def start_web_server(test_ca: trustme.CA) -> Iterator[StartWebServer]:
    """Factory: start a LocalWebServer for `sites` (signed by `test_ca`), stopped after the test."""
    started: list[LocalWebServer] = []

    def start(sites: Sequence[Site]) -> LocalWebServer:
        server = LocalWebServer(sites, ca=test_ca)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def make_guard() -> MakeGuard:
    """Factory: a NetworkGuard over a loopback-only resolver; the scope defaults to 127.0.0.0/8."""

    def make(
        static_hosts: Mapping[str, str], scope: Sequence[str] = LOOPBACK_SCOPE, dns_timeout: float = 0.5
    ) -> NetworkGuard:
        return NetworkGuard(loopback_resolver(static_hosts, dns_timeout), Scope.parse(scope))

    return make
