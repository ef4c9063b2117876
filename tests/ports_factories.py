"""Builders of port-scan facts for SVC check tests: one clean host by default, overridden per test.

The default host (`host()`) is what a careful commune exposes: HTTPS (443, nginx) and SMTP (25, Postfix),
both identified by nmap's probes. `svc()` builds any other service; `facts()` wraps hosts into
`PortFacts` with TCP and UDP scanned (pass `udp=False` for a TCP-only scan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cyberscan.collectors.ports_facts import HostPorts, PortFacts, ServiceInfo

TARGET = "192.0.2.0/28"
ADDRESS = "192.0.2.5"
OTHER = "192.0.2.6"
COLLECTED_AT = "2025-06-02T08:00:00+00:00"
TCP_PORTS = "T:1-65535"
UDP_PORTS = "U:17,19,69,111,123,137,138,161,389,500,623,1194,1434,1900,3671,3702,4500,10001,11211,47808"


def svc(
    port: int,
    service: str = "",
    proto: str = "tcp",
    *,
    product: str | None = None,
    version: str | None = None,
    extrainfo: str | None = None,
    state: str = "open",
    method: str = "probed",
    confidence: int = 10,
    banner: str | None = None,
    tunnel: str | None = None,
    probes: Mapping[str, str] | None = None,
) -> ServiceInfo:
    """A service nmap identified by probing (pass `method="table"` for a guess from the port)."""
    return ServiceInfo(
        port=port,
        proto=proto,
        state=state,
        service=service,
        product=product,
        version=version,
        extrainfo=extrainfo,
        tunnel=tunnel,
        method=method,
        confidence=confidence if method == "probed" else 3,
        banner=banner,
        probes=dict(probes or {}),
    )


def opted(*names: str, **probes: str) -> dict[str, str]:
    """Probes of a service scanned with the opt-in tests `names` enabled (what the collector marks)."""
    return {"opt_in": ",".join(names), **probes}


def https() -> ServiceInfo:
    return svc(443, "https", product="nginx", version="1.24.0", tunnel="ssl", probes={"http_title": "Mairie"})


def smtp() -> ServiceInfo:
    return svc(25, "smtp", product="Postfix smtpd", banner="220 mx.mairie-exemple.fr ESMTP Postfix")


def udp(port: int, service: str = "", **kw: Any) -> ServiceInfo:
    return svc(port, service, "udp", **kw)


def host(
    *services: ServiceInfo,
    address: str = ADDRESS,
    clean: bool = True,
    state: str = "up",
    names: Sequence[str] = (),
    error_kind: str | None = None,
    error: str | None = None,
) -> HostPorts:
    """A scanned address: the clean profile (443 + 25) plus `services` (only `services` if not clean)."""
    base = (https(), smtp()) if clean else ()
    return HostPorts(
        address=address,
        names=tuple(names),
        state=state,
        services=base + tuple(services),
        error_kind=error_kind,
        error=error,
    )


def facts(*hosts: HostPorts, udp: bool = True, not_probed: Sequence[str] = ()) -> PortFacts:
    """Port facts for `hosts` (the clean host when none given)."""
    return PortFacts(
        hosts=tuple(hosts) if hosts else (host(),),
        not_probed=tuple(not_probed),
        nmap_version="7.93",
        nmap_args="-sS -sV -Pn",
        scan_type="syn",
        tcp_ports=TCP_PORTS,
        udp_ports=UDP_PORTS if udp else "",
        collected_at=COLLECTED_AT,
    )


def empty(not_probed: Sequence[str] = ()) -> PortFacts:
    """No address scanned (nothing in scope, or nothing to scan)."""
    return PortFacts(hosts=(), not_probed=tuple(not_probed), tcp_ports=TCP_PORTS, udp_ports=UDP_PORTS)
