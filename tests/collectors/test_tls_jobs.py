"""The sslyze job scheduler (`tls_jobs`) on real servers: version pre-flight, connection limit, deadline."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import pytest
import trustme
from conftest import loopback_resolver
from sslyze.connection_helpers.tls_connection import SslConnection
from sslyze.server_connectivity import (
    ClientAuthRequirementEnum,
    ServerConnectivityInfo,
    ServerTlsProbingResult,
    TlsVersionEnum,
)
from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

from cyberscan.collectors.tls import EndpointSpec, TlsCollector
from cyberscan.collectors.tls_facts import ACTIVE_COMMANDS, PASSIVE_COMMANDS, TlsEndpoint
from cyberscan.collectors.tls_jobs import EndpointRequest, _Lane, preflight_refusal, scan_endpoints
from cyberscan.demo.tlsserver import LOOPBACK, LocalTlsServer, TlsServerUnavailable
from cyberscan.net.guard import NetworkGuard
from cyberscan.plugin import CollectorContext
from cyberscan.scope import Scope

ALL_COMMANDS = (*PASSIVE_COMMANDS, *ACTIVE_COMMANDS)
ENUMERATION = (
    "ssl_2_0_cipher_suites",
    "ssl_3_0_cipher_suites",
    "tls_1_0_cipher_suites",
    "tls_1_1_cipher_suites",
    "tls_1_2_cipher_suites",
    "tls_1_3_cipher_suites",
)


@pytest.fixture(scope="module")
def servers(test_ca: trustme.CA) -> Iterator[dict[str, LocalTlsServer]]:
    started: dict[str, LocalTlsServer] = {}
    try:
        for profile in ("modern", "legacy", "3des"):
            # gnutls-serv missing: the tests needing it skip
            with contextlib.suppress(TlsServerUnavailable):
                started[profile] = LocalTlsServer(
                    profile, [f"{profile}.test"], test_ca, allow_all_interfaces=True
                )
        yield started
    finally:
        for server in started.values():
            server.stop()


def _server(servers: dict[str, LocalTlsServer], profile: str) -> LocalTlsServer:
    if profile not in servers:
        pytest.skip(f"no {profile} server on this machine")
    return servers[profile]


def _scan(
    host: str,
    port: int,
    hosts: dict[str, str],
    ca: Any,
    commands: Sequence[str],
    *,
    preflight: bool,
    deadline: float = 120.0,
) -> TlsEndpoint:
    ctx = CollectorContext(
        settings={**TlsCollector.defaults, "version_preflight": preflight},
        timeout=10.0,
        deadline=time.monotonic() + deadline,
        guard=NetworkGuard(loopback_resolver(hosts), Scope.parse(["127.0.0.0/8"])),
        user_agent="cyberscan-test",
        ca_bundle=ca,
    )
    [endpoint] = TlsCollector().scan_endpoints([EndpointSpec(host, port, "https")], ctx, commands)
    return endpoint


def _accepted(endpoint: TlsEndpoint) -> dict[str, list[str]]:
    return {p.version: sorted(s.name for s in p.accepted) for p in endpoint.protocols}


# --- the pre-flight gives the enumeration's answer with fewer connections -------------------------


@pytest.mark.parametrize(
    ("profile", "refused"),
    [
        # OpenSSL 3 answers TLS 1.0/1.1 with a protocol_version alert, but SSL 3.0 (compiled out)
        # with a handshake_failure: that one is enumerated suite by suite, as without the pre-flight.
        ("modern", {"TLSv1.0", "TLSv1.1"}),
        ("legacy", set()),
        # gnutls-serv answers the versions it does not speak in its own version ("wrong version
        # number"); it speaks TLS 1.0 and 1.2 but not 1.1.
        ("3des", {"SSLv3", "TLSv1.1"}),
    ],
)
def test_preflight_finds_what_the_full_enumeration_finds(
    servers: dict[str, LocalTlsServer], profile: str, refused: set[str]
) -> None:
    server = _server(servers, profile)
    args = (server.hosts[0], server.port, server.hosts_map(), server.ca_pem_path, ENUMERATION)
    exhaustive = _scan(*args, preflight=False)
    quick = _scan(*args, preflight=True)
    assert exhaustive.error_kind is None and quick.error_kind is None
    assert not exhaustive.unavailable and not quick.unavailable
    assert _accepted(quick) == _accepted(exhaustive)
    assert [p.version for p in quick.protocols] == [p.version for p in exhaustive.protocols]
    assert set(quick.refused_versions) == refused and exhaustive.refused_versions == {}
    assert all(reason.startswith("TLS ") for reason in quick.refused_versions.values())
    for version in refused:
        assert quick.protocol(version) is not None and not quick.protocol(version).supported  # type: ignore[union-attr]


class CountingProxy:
    """A loopback TCP relay in front of a server, counting the connections it relays."""

    def __init__(self, upstream_port: int) -> None:
        self.connections = 0
        self._lock = threading.Lock()
        proxy = self

        class Relay(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with proxy._lock:
                    proxy.connections += 1
                with socket.create_connection((LOOPBACK, upstream_port), timeout=10) as upstream:
                    self.request.settimeout(10)
                    pump = threading.Thread(target=_pump, args=(upstream, self.request), daemon=True)
                    pump.start()
                    _pump(self.request, upstream)
                    pump.join(10)

        self._server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Relay)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class OpenConnections:
    """sslyze's TLS connections open at once, counted on the client side (connect to close)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.peak = 0
        self._open: set[int] = set()
        self._lock = threading.Lock()
        real_connect, real_close = SslConnection.connect, SslConnection.close
        counter = self

        def connect(connection: SslConnection, *args: Any, **kwargs: Any) -> None:
            with counter._lock:
                counter._open.add(id(connection))
                counter.peak = max(counter.peak, len(counter._open))
            real_connect(connection, *args, **kwargs)

        def close(connection: SslConnection) -> None:
            try:
                real_close(connection)
            finally:
                with counter._lock:
                    counter._open.discard(id(connection))

        monkeypatch.setattr(SslConnection, "connect", connect)
        monkeypatch.setattr(SslConnection, "close", close)


def test_preflight_saves_connections_and_the_limit_holds(
    servers: dict[str, LocalTlsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _server(servers, "modern")
    counts: dict[bool, tuple[int, int]] = {}
    for preflight in (False, True):
        proxy = CountingProxy(server.port)
        connections = OpenConnections(monkeypatch)
        try:
            endpoint = _scan(
                server.hosts[0],
                proxy.port,
                server.hosts_map(),
                server.ca_pem_path,
                ALL_COMMANDS,
                preflight=preflight,
            )
        finally:
            proxy.close()
        assert endpoint.error_kind is None and not endpoint.unavailable, endpoint.unavailable
        counts[preflight] = (proxy.connections, connections.peak)
    (full, full_peak), (quick, quick_peak) = counts[False], counts[True]
    # TLS 1.0 and 1.1: 2 × 121 suite handshakes saved; 4 pre-flight handshakes (SSL 3.0 to TLS 1.2) added.
    assert full - quick == 2 * 121 - 4, counts
    # sslyze's per-server limit (5 by default) holds, pre-flight included, and is used.
    assert full_peak == quick_peak == TlsCollector.defaults["max_connections_per_server"], counts


# --- the pre-flight reads only explicit refusals of a version -----------------------------------


def _answer_with(reply: bytes | None) -> socketserver.ThreadingTCPServer:
    """A server reading a ClientHello and answering `reply` (None: say nothing until closed)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(3)
            try:
                self.request.recv(4096)
                if reply is None:
                    self.request.recv(1)  # until the client gives up
                else:
                    self.request.sendall(reply)
                    time.sleep(0.05)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _alert(description: int) -> bytes:
    # TLS record: alert (21), version 3.1, length 2, level fatal (2), description
    return bytes([21, 3, 1, 0, 2, 2, description])


@pytest.mark.parametrize(
    ("reply", "refusal"),
    [
        (_alert(70), "TLS alert: protocol version"),  # protocol_version: the version itself
        (_alert(40), None),  # handshake_failure: maybe only the suites → enumerate
        (b"", None),  # closed without a word (a middlebox choking on a long ClientHello?)
        (None, None),  # silence until the timeout
        # Not an answer in the version asked (here not TLS at all): each suite's handshake would get
        # the same reply and sslyze would count every suite as rejected.
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "TLS error: wrong version number"),
    ],
)
@pytest.mark.parametrize("version", [TlsVersionEnum.TLS_1_0, TlsVersionEnum.TLS_1_2])
def test_preflight_refusal_classification(
    reply: bytes | None, refusal: str | None, version: TlsVersionEnum
) -> None:
    server = _answer_with(reply)
    try:
        info = ServerConnectivityInfo(
            ServerNetworkLocation("scripted.test", server.server_address[1], LOOPBACK),
            ServerNetworkConfiguration("scripted.test", network_timeout=0.5),  # type: ignore[arg-type]
            ServerTlsProbingResult(
                TlsVersionEnum.TLS_1_2, "DEFAULT", ClientAuthRequirementEnum.DISABLED, True
            ),
        )
        started = time.monotonic()
        assert preflight_refusal(info, version) == refusal
        assert time.monotonic() - started < 3
    finally:
        server.shutdown()
        server.server_close()


# --- the deadline --------------------------------------------------------------------------------


def test_no_job_starts_after_the_deadline(servers: dict[str, LocalTlsServer]) -> None:
    """Past the deadline the queued jobs are dropped, their commands say so, and the call returns."""
    server = _server(servers, "legacy")
    started = time.monotonic()
    endpoint = _scan(
        server.hosts[0],
        server.port,
        server.hosts_map(),
        server.ca_pem_path,
        ALL_COMMANDS,
        preflight=False,
        deadline=0.5,
    )
    elapsed = time.monotonic() - started
    assert endpoint.error_kind is None  # the connectivity test made it
    late = {command for command, error in endpoint.unavailable.items() if error.kind == "deadline"}
    assert late and late <= set(ALL_COMMANDS)
    assert all("deadline" in endpoint.unavailable[c].detail for c in late)
    assert elapsed < 3.0, elapsed  # a full legacy enumeration takes longer than that


def test_an_endpoint_past_the_deadline_is_not_contacted() -> None:
    request = EndpointRequest(
        ServerNetworkLocation("late.test", 9, LOOPBACK),
        ServerNetworkConfiguration("late.test"),
        ("certificate_info",),
    )
    [scan] = scan_endpoints(
        [request], workers_per_endpoint=5, parallel_endpoints=1, deadline=time.monotonic() - 1
    )
    assert type(scan.connectivity_error).__name__ == "DeadlineReached" and scan.attempts == {}


def test_a_failing_callback_surfaces_and_the_lane_still_drains() -> None:
    """A bug in our own bookkeeping is raised by wait() (the endpoint becomes a `bug` error), and
    the other jobs still run: nothing hangs on a worker that died."""
    lane = _Lane(workers=2, deadline=time.monotonic() + 30)
    ran: list[int] = []

    def broken(outcome: Any) -> None:
        raise RuntimeError("callback bug")

    lane.submit(lambda: ran.append(-1), broken)
    for index in range(6):
        lane.submit(partial(ran.append, index), lambda outcome: None)
    with pytest.raises(RuntimeError, match="callback bug"):
        lane.wait()
    assert sorted(ran) == [-1, 0, 1, 2, 3, 4, 5]
