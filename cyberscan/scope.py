"""The declared scope: the only IP addresses that active probes may touch."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ScopeError(ValueError):
    """A scope entry is not a valid address or CIDR network."""


class ProbeLevel(str, Enum):
    """How intrusive a network operation is.

    PASSIVE is what any browser or mail server does by name (one homepage GET, a TLS handshake, a
    public DNS query): allowed towards any address a target's own name resolves to. ACTIVE is
    everything else (path probing, port scans, service greetings): only inside the declared scope.
    """

    PASSIVE = "passive"
    ACTIVE = "active"


@dataclass(frozen=True)
class Scope:
    """A set of networks declared by the user (`--scope`, config, or IP targets typed explicitly)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Scope:
        """Build a scope from CIDR or address strings (raises ScopeError)."""
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ScopeError(f"invalid scope entry {entry!r}: expected an IP address or CIDR") from None
        return cls(tuple(networks))

    def extended(self, entries: Iterable[str]) -> Scope:
        """A copy of this scope that also covers `entries`."""
        return Scope(self.networks + Scope.parse(entries).networks)

    def allows(self, address: str) -> bool:
        """True when `address` lies inside a declared network."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)

    def describe(self) -> list[str]:
        return [str(n) for n in self.networks]
