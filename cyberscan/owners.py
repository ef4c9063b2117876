"""Who acts on a finding: the commune, or the provider running the asset (configured or detected)."""

from __future__ import annotations

import fnmatch
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from ._compat import tomllib
from .bounds import clip
from .collectors.dns_facts import DnsSnapshot
from .collectors.http_facts import HttpFacts, HttpResponse
from .collectors.mail_facts import MailFacts
from .collectors.rdap_facts import RdapFacts
from .metadata import ASSETS, COMMUNE, MAX_OWNER_NAME
from .plugin import Facts

SOURCES = ("config", "detected", "default")
_PATTERN_KEYS = ("mx", "ns", "web", "web_headers", "registrar")
_HOST_MAX = 253


@dataclass(frozen=True)
class Owner:
    """Who must act on an asset, and how we know: `[owners]` config, detection, or the default."""

    asset: str | None
    name: str
    source: str

    @property
    def provider_managed(self) -> bool:
        return self.name != COMMUNE

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "name": self.name, "source": self.source}


@dataclass(frozen=True)
class Provider:
    """One provider of the pattern table (`data/providers.toml`)."""

    name: str
    mx: tuple[str, ...] = ()
    ns: tuple[str, ...] = ()
    web: tuple[str, ...] = ()
    #: (header name, value glob), both lower case
    web_headers: tuple[tuple[str, str], ...] = ()
    registrar: tuple[str, ...] = ()


def parse_providers(data: Any) -> tuple[Provider, ...]:
    """Validate the pattern table (raises ValueError naming the bad entry)."""
    entries = data.get("providers") if isinstance(data, dict) else None
    if not isinstance(entries, list) or set(data) != {"providers"}:
        raise ValueError("the provider table is a list of [[providers]] entries")
    providers: list[Provider] = []
    for number, raw in enumerate(entries, start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise ValueError(f"provider #{number} needs a name")
        unknown = set(raw) - {"name", *_PATTERN_KEYS}
        if unknown:
            raise ValueError(f"provider {raw['name']!r}: unknown keys {sorted(unknown)}")
        lists: dict[str, tuple[str, ...]] = {}
        for key in _PATTERN_KEYS:
            values = raw.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
                raise ValueError(f"provider {raw['name']!r}: {key} must be a list of patterns")
            lists[key] = tuple(v.lower() for v in values)
        headers = []
        for item in lists.pop("web_headers"):
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise ValueError(f"provider {raw['name']!r}: web_headers entries are 'header=value-glob'")
            headers.append((name.strip(), value.strip()))
        providers.append(Provider(raw["name"], web_headers=tuple(headers), **lists))
    return tuple(providers)


@cache
def load_providers() -> tuple[Provider, ...]:
    """The pattern table shipped in the package (read on first use, not at import)."""
    text = resources.files("cyberscan").joinpath("data/providers.toml").read_text(encoding="utf-8")
    return parse_providers(tomllib.loads(text))


@dataclass(frozen=True)
class Detection:
    """What one target's facts say about its providers, per asset, and its MX hosts."""

    providers: Mapping[str, str] = field(default_factory=dict)
    #: MX host names: a TLS endpoint on one of them is a mail asset, not a web one
    mx_hosts: tuple[str, ...] = ()


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _host(name: str) -> str:
    return clip(name.strip().lower().rstrip("."), _HOST_MAX)


def _mx_hosts(facts: Sequence[Facts]) -> tuple[str, ...]:
    for f in facts:
        if isinstance(f, MailFacts) and f.mx_hosts:
            return tuple(_host(h) for h in f.mx_hosts)
    for f in facts:
        if isinstance(f, DnsSnapshot) and f.domain:
            ranked = []
            for record in f.records(f.domain, "MX"):
                parts = record.split()
                if len(parts) == 2 and parts[0].isdigit() and parts[1] != ".":
                    ranked.append((int(parts[0]), _host(parts[1])))
            return tuple(host for _, host in sorted(ranked))
    return ()


def _ns_hosts(facts: Sequence[Facts]) -> list[str]:
    for f in facts:
        if isinstance(f, DnsSnapshot):
            hosts = [ns.host for ns in f.nameservers] or list(f.records(f.zone or f.domain, "NS"))
            return sorted({_host(h) for h in hosts})
    return []


def _web_evidence(facts: Sequence[Facts]) -> tuple[list[str], list[HttpResponse]]:
    """CNAME targets of the web host names, and the first answer of each web host."""
    http = next((f for f in facts if isinstance(f, HttpFacts)), None)
    dns = next((f for f in facts if isinstance(f, DnsSnapshot)), None)
    names = {_host(h.host) for h in http.hosts} if http else set()
    if not names and dns is not None and dns.domain:
        names = {dns.domain, f"www.{dns.domain}"}
    targets: set[str] = set()
    if dns is not None:
        for answer in dns.queries:
            if answer.name in names:
                targets.update(_host(t) for t in answer.cname_chain)
                if answer.rdtype == "CNAME":
                    targets.update(_host(t) for t in answer.records)
    responses = []
    for host in http.hosts if http else ():
        for chain in (host.https, host.http):
            if chain is not None and chain.first is not None and chain.first.ok:
                responses.append(chain.first)
                break
    return sorted(targets), responses


def _vote(providers: Sequence[Provider], hits: Iterable[Provider]) -> str | None:
    """The provider with the most hits; ties go to the table's order."""
    counts = Counter(p.name for p in hits)
    if not counts:
        return None
    order = {p.name: i for i, p in enumerate(providers)}
    return min(counts, key=lambda name: (-counts[name], order[name]))


def detect(facts: Iterable[Facts], providers: Sequence[Provider] | None = None) -> Detection:
    """Recognise the providers of one target's mail, DNS, web hosting and registrar from its facts.

    A pure function of facts already collected: it sends nothing. Unrecognised assets are left out
    (they stay with the commune unless the configuration names an owner).
    """
    table = load_providers() if providers is None else providers
    facts = list(facts)
    found: dict[str, str] = {}
    mx = _mx_hosts(facts)
    # The most preferred MX receives the mail: a backup MX elsewhere does not make the provider.
    if mx:
        mail = next((p.name for p in table if _matches(mx[0], p.mx)), None)
        if mail:
            found["mail"] = mail
    ns_hosts = _ns_hosts(facts)
    dns = _vote(table, (p for host in ns_hosts for p in table if _matches(host, p.ns)))
    if dns:
        found["dns"] = dns
    cnames, responses = _web_evidence(facts)
    hits = [p for target in cnames for p in table if _matches(target, p.web)]
    for response in responses:
        for p in table:
            if any(
                fnmatch.fnmatchcase(value.lower(), glob)
                for name, glob in p.web_headers
                for value in response.header_values(name)
            ):
                hits.append(p)
    web = _vote(table, hits)
    if web:
        found["web"] = web
    rdap = next((f for f in facts if isinstance(f, RdapFacts)), None)
    if rdap is not None and rdap.outcome == "ok" and rdap.registrar and rdap.registrar.strip():
        registrar = " ".join(rdap.registrar.split())
        known = next((p.name for p in table if _matches(registrar.lower(), p.registrar)), None)
        # An unknown registrar is still named, as the registry spells it (bounded, printable).
        found["domain"] = known or clip(registrar, MAX_OWNER_NAME)
    return Detection({a: found[a] for a in ASSETS if a in found}, mx)


def resource_host(resource: str) -> str:
    """The host a finding's resource names: "https://h/x", "h:443 (https)", "[::1]:25 (smtp)", "h TXT"."""
    text = resource.strip().lower()
    if "://" in text:
        try:
            return urlsplit(text).hostname or ""
        except ValueError:
            return ""
    token = text.split()[0] if text.split() else ""
    if token.startswith("["):
        return token[1:].split("]", 1)[0]
    return token.rsplit(":", 1)[0] if token.count(":") == 1 else token


class Owners:
    """Owner of each asset of one target: the configuration wins, then detection, then the commune."""

    def __init__(self, configured: Mapping[str, str], detection: Detection | None = None) -> None:
        self.configured = dict(configured)
        self.detection = detection or Detection()

    def asset_of(self, asset: str | None, resource: str) -> str | None:
        """The check's asset, except that a TLS endpoint on an MX host belongs to the mail platform."""
        if asset == "web" and self.detection.mx_hosts and resource_host(resource) in self.detection.mx_hosts:
            return "mail"
        return asset

    def owner(self, asset: str | None, resource: str = "") -> Owner:
        asset = self.asset_of(asset, resource)
        if asset is None:
            return Owner(None, COMMUNE, "default")
        if asset in self.configured:
            return Owner(asset, self.configured[asset], "config")
        if asset in self.detection.providers:
            return Owner(asset, self.detection.providers[asset], "detected")
        return Owner(asset, COMMUNE, "default")
