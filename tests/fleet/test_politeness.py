"""The per-IP limiter at the guard: connections from several communes' guards are paced at the server."""

from __future__ import annotations

import socket
import threading
import time

from cyberscan.fleet.runner import PerAddressLimiter
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.scope import ProbeLevel, Scope


def test_guards_sharing_a_limiter_pace_connections_per_address() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]
    accepted: list[float] = []

    def accept(count: int) -> None:
        for _ in range(count):
            conn, _ = listener.accept()
            accepted.append(time.monotonic())
            conn.close()

    limiter = PerAddressLimiter(rate=20.0, burst=2)
    resolver = Resolver(static_hosts={"shared-host.test": "127.0.0.1", "other.test": "127.0.0.2"})
    # Three "communes", each with its own guard (and scope), all sharing the run's limiter.
    guards = [NetworkGuard(resolver, Scope.parse([f"10.{i}.0.0/16"]), limiter) for i in range(3)]
    server = threading.Thread(target=accept, args=(12,))
    server.start()

    def client(guard: NetworkGuard) -> None:
        for _ in range(4):
            address = guard.pin("shared-host.test", ProbeLevel.PASSIVE)
            socket.create_connection((address, port), timeout=5).close()

    started = time.monotonic()
    clients = [threading.Thread(target=client, args=(g,)) for g in guards]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(timeout=10)
    server.join(timeout=10)
    listener.close()
    assert len(accepted) == 12
    # 12 connections at 20/s with a burst of 2: at least (12 - 2) × 50 ms, whoever asks.
    assert accepted[-1] - started >= 10 * 0.05 * 0.95
    gaps = [b - a for a, b in zip(sorted(accepted)[2:], sorted(accepted)[3:], strict=False)]
    assert min(gaps) >= 0.03  # scheduling jitter allowed, never a burst beyond the bucket
    # Another address has its own bucket: no wait behind the shared host.
    before = time.monotonic()
    assert guards[0].pin("other.test", ProbeLevel.PASSIVE) == "127.0.0.2"
    assert time.monotonic() - before < 0.03
    assert sum(1 for a, _ in limiter.grants if a == "127.0.0.1") == 12
