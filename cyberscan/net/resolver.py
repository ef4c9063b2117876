"""The engine's single name resolver (dnspython), settable with `--resolver IP[:PORT]`."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import dns.exception

from ..models import ErrorKind
from ..targets import normalise_hostname

if TYPE_CHECKING:
    import dns.name
    from dns.resolver import Resolver as DnsResolver

#: MX hosts kept per domain: a hostile zone could list thousands, each costing probes.
MAX_MX_HOSTS = 10


class ResolverConfigError(ValueError):
    """The `--resolver` value is not an IP address with an optional port."""


class ResolutionError(Exception):
    """A name could not be turned into addresses.

    `reason` keeps apart what must not be confused: "nxdomain" (the name does not exist),
    "no_address" (it exists but has no A/AAAA record: a fact about the target, not a failure),
    "timeout" and "failure" (SERVFAIL, refused, no usable resolver: the scanner could not tell).
    """

    def __init__(self, kind: ErrorKind, detail: str, reason: str = "failure") -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.reason = reason


def parse_nameserver(spec: str) -> tuple[str, int]:
    """Parse `IP`, `IP:PORT`, `[IPv6]:PORT` (raises ResolverConfigError)."""
    text = spec.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ResolverConfigError(f"invalid resolver {spec!r}")
            port_text = rest[1:]
            port = int(port_text) if port_text.isdigit() else -1
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text) if port_text.isdigit() else -1
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ResolverConfigError(f"resolver must be an IP address[:port], got {spec!r}") from None
    if not 0 < port < 65536:
        raise ResolverConfigError(f"invalid resolver port in {spec!r}")
    return host, port


class Resolver:
    """Resolves host names to addresses, once per name per scan, through one configured server.

    dnspython is used instead of the system's getaddrinfo so that `--resolver` really decides every
    answer (getaddrinfo would silently consult /etc/hosts, nscd or a VPN's split DNS).
    """

    def __init__(
        self,
        nameserver: tuple[str, int] | None = None,
        timeout: float = 5.0,
        static_hosts: Mapping[str, str] | None = None,
    ) -> None:
        self._static = {k.lower().rstrip("."): v for k, v in (static_hosts or {}).items()}
        self._cache: dict[str, list[str] | ResolutionError] = {}
        self._mx_cache: dict[str, list[str] | dns.exception.DNSException] = {}
        self._lock = threading.Lock()
        self._config_error: str | None = None
        self._nameserver = nameserver
        self._timeout = timeout
        self._resolver: DnsResolver | None = None
        self.description = f"{nameserver[0]}:{nameserver[1]}" if nameserver else "system"

    @property
    def dns(self) -> DnsResolver:
        """The underlying dnspython resolver, for collectors that need raw queries.

        Built on first use: dnspython's resolver costs ~45 ms to import, which a scan of IP targets
        or of names pinned with `--resolve` never needs to pay.
        """
        with self._lock:
            if self._resolver is None:
                self._resolver = self._build()
            return self._resolver

    def _build(self) -> DnsResolver:
        from dns.resolver import NoResolverConfiguration, Resolver

        try:
            resolver = Resolver(configure=self._nameserver is None)
        except NoResolverConfiguration as exc:
            resolver = Resolver(configure=False)
            self._config_error = f"no system resolver configured ({exc}); use --resolver"
        if self._nameserver is not None:
            resolver.nameservers = [self._nameserver[0]]
            resolver.port = self._nameserver[1]
        resolver.lifetime = self._timeout
        resolver.timeout = self._timeout
        return resolver

    def mx_hosts(self, domain: str, lifetime: float) -> list[str]:
        """MX host names of `domain` by preference, asked once per scan for every collector needing them.

        Raises dnspython's exceptions (NXDOMAIN, NoAnswer, Timeout, DNSException), each collector
        mapping them to its own facts; the outcome is cached so the TLS, ports and mail collectors
        of one target send one MX query between them.
        """
        name = domain.lower().rstrip(".")
        with self._lock:
            cached = self._mx_cache.get(name)
        if cached is None:
            try:
                answer = self.dns.resolve(name, "MX", search=False, lifetime=lifetime)
                cached = mx_names((r.preference, r.exchange) for r in answer)
            except dns.exception.DNSException as exc:
                cached = exc
            with self._lock:
                self._mx_cache[name] = cached
        if isinstance(cached, dns.exception.DNSException):
            raise cached
        return list(cached)

    def addresses(self, host: str) -> list[str]:
        """IPv4 then IPv6 addresses of `host` (an IP literal is returned as is)."""
        name = host.lower().rstrip(".")
        try:
            return [str(ipaddress.ip_address(name))]
        except ValueError:
            pass
        if name in self._static:
            return [self._static[name]]
        if name == "localhost":  # RFC 6761: never sent to a DNS server
            return ["127.0.0.1"]
        with self._lock:
            cached = self._cache.get(name)
        if cached is None:
            cached = self._lookup(name)
            with self._lock:
                self._cache[name] = cached
        if isinstance(cached, ResolutionError):
            raise cached
        return list(cached)

    def _lookup(self, name: str) -> list[str] | ResolutionError:
        import dns.rdatatype
        import dns.resolver

        resolver = self.dns
        if self._config_error:
            return ResolutionError(ErrorKind.DNS_FAILURE, self._config_error)
        found: list[str] = []
        failures: list[ResolutionError] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = resolver.resolve(name, rdtype, search=False)
                found.extend(sorted(r.to_text() for r in answer))
            except dns.resolver.NXDOMAIN:
                return ResolutionError(
                    ErrorKind.DNS_FAILURE, f"{name}: NXDOMAIN (the name does not exist)", "nxdomain"
                )
            except dns.resolver.NoAnswer:
                continue
            except dns.exception.Timeout:
                failures.append(ResolutionError(ErrorKind.TIMEOUT, f"{name}: DNS timeout", "timeout"))
            except dns.resolver.NoNameservers as exc:
                failures.append(ResolutionError(ErrorKind.DNS_FAILURE, f"{name}: {exc.msg}"))
            except dns.exception.DNSException as exc:
                failures.append(ResolutionError(ErrorKind.DNS_FAILURE, f"{name}: {exc}"))
        if found:
            return found
        if failures:
            return failures[0]
        return ResolutionError(ErrorKind.DNS_FAILURE, f"{name}: no A or AAAA record", "no_address")


def mx_names(records: Iterable[tuple[int, dns.name.Name]]) -> list[str]:
    """MX host names by preference, normalised; a null MX (RFC 7505, ".") and bad names are skipped."""
    import dns.name

    names: list[str] = []
    for _, exchange in sorted(records, key=lambda r: (r[0], r[1].to_text())):
        if exchange == dns.name.root:
            continue
        try:
            name = normalise_hostname(exchange.to_text(omit_final_dot=True))
        except ValueError:
            continue
        if name not in names:
            names.append(name)
    return names[:MAX_MX_HOSTS]
