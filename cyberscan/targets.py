"""Parse what the user asks to scan into normalised targets: a domain, a URL, an IP or a network."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import idna

MAX_NETWORK_ADDRESSES = 256
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class TargetError(ValueError):
    """The text is not a target cyberscan understands."""


class TargetKind(str, Enum):
    """The four shapes a target can take."""

    DOMAIN = "domain"
    URL = "url"
    IP = "ip"
    NETWORK = "network"


@dataclass(frozen=True)
class WebOrigin:
    """One web host to fetch, with the ports and path to use."""

    host: str
    path: str = "/"
    https_port: int | None = None
    http_port: int | None = None


@dataclass(frozen=True)
class Target:
    """A normalised scan target; `name` is its canonical text, used as its identity in reports."""

    name: str
    kind: TargetKind
    host: str | None = None
    scheme: str | None = None
    port: int | None = None
    path: str = "/"

    def addresses(self) -> list[str]:
        """Literal addresses of an IP or network target (empty for names)."""
        if self.kind is TargetKind.IP:
            return [self.name]
        if self.kind is TargetKind.NETWORK:
            net = ipaddress.ip_network(self.name)
            hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
            return [str(a) for a in hosts]
        return []

    def web_origins(self) -> list[WebOrigin]:
        """The web hosts this target stands for: apex and www for a domain, the URL's host for a URL."""
        if self.kind is TargetKind.DOMAIN:
            assert self.host is not None
            other = self.host[4:] if self.host.startswith("www.") else f"www.{self.host}"
            hosts = [self.host, other] if "." in other else [self.host]
            return [WebOrigin(h) for h in hosts]
        if self.kind is TargetKind.URL:
            assert self.host is not None
            if self.scheme == "https":
                return [WebOrigin(self.host, self.path, https_port=self.port)]
            return [WebOrigin(self.host, self.path, http_port=self.port)]
        return [WebOrigin(a) for a in self.addresses()]


def normalise_hostname(text: str) -> str:
    """Lower-case, IDNA-encode and validate a DNS host name (raises TargetError)."""
    name = text.strip().rstrip(".").lower()
    try:
        name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise TargetError(f"invalid host name {text!r}: {exc}") from None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise TargetError(f"invalid host name {text!r}")
    return name


def parse_target(text: str) -> Target:
    """Turn one line of user input into a Target.

    Args:
        text: ``mairie-exemple.fr``, ``https://portail.mairie-exemple.fr/famille``, ``192.0.2.10`` or
            ``192.0.2.0/28``.

    Returns:
        The normalised target.

    Raises:
        TargetError: when the text is none of these.
    """
    raw = text.strip()
    if not raw:
        raise TargetError("empty target")
    if "://" in raw:
        return _parse_url(raw)
    if "/" in raw:
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise TargetError(
                f"{raw!r} is neither a domain, a URL, an IP address nor a CIDR network"
            ) from None
        if net.num_addresses > MAX_NETWORK_ADDRESSES:
            raise TargetError(
                f"network {raw} has {net.num_addresses} addresses; split it into /24 (IPv4) or smaller"
            )
        return Target(str(net), TargetKind.NETWORK)
    try:
        return Target(str(ipaddress.ip_address(raw)), TargetKind.IP)
    except ValueError:
        pass
    host = normalise_hostname(raw)
    if "." not in host:
        raise TargetError(f"{raw!r} is not a fully qualified domain name")
    return Target(host, TargetKind.DOMAIN, host=host)


def _parse_url(raw: str) -> Target:
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"invalid URL {raw!r}: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise TargetError(f"unsupported URL scheme in {raw!r} (http or https only)")
    if not parts.hostname:
        raise TargetError(f"URL without a host: {raw!r}")
    try:
        host = str(ipaddress.ip_address(parts.hostname))
    except ValueError:
        host = normalise_hostname(parts.hostname)
    scheme = parts.scheme.lower()
    default = 443 if scheme == "https" else 80
    path = parts.path or "/"
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port in (None, default) else f"{shown_host}:{port}"
    name = f"{scheme}://{netloc}{path}"
    return Target(name, TargetKind.URL, host=host, scheme=scheme, port=port, path=path)


def parse_targets_file(lines: list[str], source: str) -> list[Target]:
    """Parse a targets file: one target per line, `#` starts a comment (raises TargetError with line)."""
    targets: list[Target] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            targets.append(parse_target(text))
        except TargetError as exc:
            raise TargetError(f"{source}:{number}: {exc}") from None
    return targets


def dedupe(targets: list[Target]) -> list[Target]:
    """Drop repeated targets, keeping the first occurrence's order."""
    seen: dict[str, Target] = {}
    for target in targets:
        seen.setdefault(target.name, target)
    return list(seen.values())


def is_ip_literal(text: str) -> bool:
    """Whether `text` is an IPv4 or IPv6 address (brackets of a URL host allowed), not a name."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
