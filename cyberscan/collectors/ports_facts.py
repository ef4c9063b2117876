"""Facts gathered by the ports collector (nmap service scan of in-scope addresses), JSON-safe."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..plugin import Facts


@dataclass(frozen=True)
class ServiceInfo:
    """One port nmap found open (or open|filtered for UDP), with what it identified there."""

    port: int
    #: "tcp" or "udp"
    proto: str
    #: nmap's state: "open", "open|filtered"
    state: str
    #: nmap service name, e.g. "ms-wbt-server", "microsoft-ds", "ftp", "ssh", "redis", "http"
    service: str = ""
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None
    #: "ssl" when nmap reached the service through TLS
    tunnel: str | None = None
    cpes: tuple[str, ...] = ()
    #: "probed" (nmap matched a response) or "table" (a guess from the port number only)
    method: str = "table"
    #: nmap's confidence 0-10
    confidence: int = 0
    #: the service's own greeting, bounded and printable (from nmap or our greeting probes)
    banner: str | None = None
    #: greeting-level facts by probe name, bounded strings: e.g. {"ftp_feat": "AUTH TLS\n…",
    #: "redis_ping": "-NOAUTH …", "rdp_negotiation": "NLA required", "http_title": "…",
    #: "ssh_kex": "curve25519-sha256,…"}
    probes: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.port}/{self.proto}"


@dataclass(frozen=True)
class HostPorts:
    """One scanned address and its open services."""

    address: str
    #: the target names that resolve to this address (empty for IP targets)
    names: tuple[str, ...] = ()
    #: "up", "down" (no answer at all), "unknown"
    state: str = "unknown"
    services: tuple[ServiceInfo, ...] = ()
    #: this address could not be scanned (nmap error for it, host timeout)
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PortFacts(Facts):
    """The service scan of every in-scope address of a target."""

    kind: ClassVar[str] = "ports"
    hosts: tuple[HostPorts, ...] = ()
    #: addresses of the target that the scope kept nmap away from ("name address")
    not_probed: tuple[str, ...] = ()
    #: e.g. "7.93"
    nmap_version: str = ""
    #: the exact arguments given to nmap (evidence)
    nmap_args: str = ""
    #: "connect" (-sT) or "syn" (-sS)
    scan_type: str = ""
    #: port specifications scanned, e.g. "T:21-23,25,…" and "U:161,123,…"
    tcp_ports: str = ""
    udp_ports: str = ""
    #: when the facts were collected (ISO 8601 UTC)
    collected_at: str = ""
