"""Shared fixtures: a throwaway CA, local web servers and a loopback-only resolver/guard."""

from __future__ import annotations

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
