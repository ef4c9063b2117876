"""The scope boundary: every connection a collector opens asks this guard for its address first."""

from __future__ import annotations

import threading
from typing import Protocol

from ..models import NotProbed
from ..scope import ProbeLevel, Scope
from .resolver import Resolver


class OutOfScopeError(Exception):
    """An active probe was asked for an address outside the declared scope; nothing was sent."""

    def __init__(self, host: str, addresses: list[str]) -> None:
        super().__init__(f"{host} ({', '.join(addresses)}) is outside the declared scope")
        self.host = host
        self.addresses = addresses


class AddressLimiter(Protocol):
    """Paces connections per address across scans (fleet mode: one limiter for every commune)."""

    def acquire(self, address: str) -> None:
        """Block until one more connection to `address` is allowed (always returns, in bounded time)."""


class NetworkGuard:
    """Resolves names through the engine resolver and enforces the declared scope for active probes.

    A domain never authorises probing the addresses it resolves to: only the declared scope does.
    Passive operations (what a browser does by name) may go to any address of a name.
    """

    def __init__(self, resolver: Resolver, scope: Scope, limiter: AddressLimiter | None = None) -> None:
        self.resolver = resolver
        self.scope = scope
        self.limiter = limiter
        self._refused: dict[tuple[str, str], NotProbed] = {}
        self._lock = threading.Lock()

    def may_probe(self, host: str) -> bool:
        """True when at least one address of `host` is inside the scope (may raise ResolutionError)."""
        return any(self.scope.allows(a) for a in self.resolver.addresses(host))

    def pin(self, host: str, level: ProbeLevel) -> str:
        """The one address to connect to for `host` at `level` (raises OutOfScopeError, ResolutionError).

        IPv4 is preferred when a name has both, so that every request to one host hits the same server.
        """
        addresses = self.resolver.addresses(host)
        if level is ProbeLevel.ACTIVE:
            allowed = [a for a in addresses if self.scope.allows(a)]
            if not allowed:
                self._record_refusal(host, addresses)
                raise OutOfScopeError(host, addresses)
            addresses = allowed
        chosen = sorted(addresses, key=lambda a: ":" in a)[0]
        if self.limiter is not None:
            # Every collector asks here before each connection: the one place a run-wide per-address
            # rate limit sees all traffic, whichever commune or collector it comes from.
            self.limiter.acquire(chosen)
        return chosen

    def _record_refusal(self, host: str, addresses: list[str]) -> None:
        with self._lock:
            for address in addresses:
                self._refused.setdefault(
                    (host, address),
                    NotProbed(host, address, "out_of_scope"),
                )

    def refusals(self) -> tuple[NotProbed, ...]:
        with self._lock:
            return tuple(self._refused[k] for k in sorted(self._refused))
