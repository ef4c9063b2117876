"""The HTTP side of the scope boundary: an httpx transport whose every TCP connection asks the guard."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from ..scope import ProbeLevel
from .guard import NetworkGuard


class GuardedBackend(httpcore.SyncBackend):
    """httpcore network backend that asks the guard which address a host name may be reached at.

    httpx would otherwise resolve names with getaddrinfo, bypassing both `--resolver` and the scope.
    SNI and certificate checks still use the host name, as httpcore passes it to start_tls.
    """

    def __init__(self, guard: NetworkGuard, level: ProbeLevel) -> None:
        self._guard = guard
        self._level = level

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = self._guard.pin(host, self._level)
        return super().connect_tcp(address, port, timeout, local_address, socket_options)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connection pool uses the GuardedBackend."""

    def __init__(self, backend: GuardedBackend, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False, retries=0)
        # httpx has no public hook for the network backend: rebuild its pool (httpx 0.28, pinned <0.29)
        # so that no connection, redirects included, can bypass the guard.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=2,
            max_keepalive_connections=2,
            network_backend=backend,
        )
