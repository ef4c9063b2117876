"""RDAP collector: the registry's record of the target's registered domain (expiry, statuses, registrar).

One GET of `{base}domain/{name}` (RFC 9082) with `Accept: application/rdap+json`. The base URL is the
`base_url` setting, else the registry's from the packaged map (`data/rdap_bootstrap.json`: .fr and
the overseas TLDs AFNIC runs, .com, .net, .org; .eu has no RDAP service), else the `bootstrap_url`
redirector (RFC 7484; https://rdap.org/ by default). At most `MAX_REDIRECTS` redirects are followed,
only to https URLs; the body is read up to 256 KiB and parsed defensively.

RDAP is a query to the registry, not a probe of the target: it needs no scope. It still goes
through the engine's HTTP session, so names resolve through `--resolver`, `--ca-bundle` is trusted
and every read honours the per-operation timeout and the target's deadline. A registry whose
certificate fails verification is not believed: outcome "unreachable".

Outcomes (rdap_facts.py): "ok"; "not_found" (404 from the registry); "unsupported" (no RDAP service
for the TLD: null in the map, or a 404 from the bootstrap redirector itself, which means it knows no
server for that TLD); "unreachable" (connection, timeout, TLS, 5xx, a redirect refused); "invalid"
(not an RDAP domain object); "skipped" (IP and network targets).

Limit: the registered domain is the last two labels of the name, or three under the second-level
suffixes of `SECOND_LEVEL_SUFFIXES` (gouv.fr, asso.fr…). A name under another multi-label public
suffix (e.g. a private registry's "*.eu.org") is asked at the wrong level; the Public Suffix List
would fix it at the cost of a dependency and its updates.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import httpx

from ..bounds import clip
from ..datafiles import DataFileError, load_data
from ..models import ErrorKind
from ..plugin import Collector, CollectorContext, CollectorError
from ..scope import ProbeLevel
from ..targets import Target, TargetKind
from .http_session import HttpSession
from .rdap_facts import RdapFacts

BOOTSTRAP_FILE = "rdap_bootstrap.json"
#: RFC 9083 answers for one domain are a few KiB; a registry answering more is not one we trust
MAX_BODY = 256 * 1024
MAX_REDIRECTS = 2
MAX_STATUSES = 50
MAX_ITEMS = 200
_TEXT = 300
_ACCEPT = (("accept", "application/rdap+json, application/json;q=0.9"),)

#: second-level suffixes under which names are registered one level down: AFNIC's sector domains
#: and the UK's (for twinned towns' associations). Not the Public Suffix List: see the module doc.
SECOND_LEVEL_SUFFIXES = frozenset(
    {
        "gouv.fr",
        "asso.fr",
        "com.fr",
        "nom.fr",
        "presse.fr",
        "tm.fr",
        "avocat.fr",
        "cci.fr",
        "chambagri.fr",
        "greta.fr",
        "medecin.fr",
        "notaires.fr",
        "pharmacien.fr",
        "port.fr",
        "veterinaire.fr",
        "co.uk",
        "org.uk",
        "gov.uk",
        "ac.uk",
    }
)

#: special-use TLDs nobody can register (RFC 2606, RFC 6761, RFC 6762, RFC 7686, ICANN's "internal"):
#: never asked about unless `base_url` is set, so that a lab scan of "mairie.test" sends nothing to a
#: bootstrap service
RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "onion", "internal", "arpa"})

_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"  # date
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?"  # time, seconds and fraction optional
    r"\s*([Zz]|[+-]\d{2}:?\d{2})?$"  # zone (none: UTC)
)


class RdapAnswerError(ValueError):
    """The answer is not an RDAP domain object for the name asked."""


def registered_domain(host: str) -> str:
    """The name a registry holds for `host`: "mairie-x.fr" for "www.mairie-x.fr" (see the module doc)."""
    labels = host.lower().rstrip(".").split(".")
    keep = 3 if ".".join(labels[-2:]) in SECOND_LEVEL_SUFFIXES else 2
    return ".".join(labels[-keep:])


def base_url_for(
    domain: str, services: Mapping[str, str | None] | None, bootstrap_url: str
) -> tuple[str | None, bool]:
    """(RDAP base URL or None when the TLD has no RDAP service, whether it is the bootstrap redirector)."""
    tld = domain.rsplit(".", 1)[-1]
    if services is not None and tld in services:
        return services[tld], False
    return bootstrap_url, True


def _services(data: Any) -> dict[str, str | None]:
    """The TLD → base URL map of the packaged data file (raises DataFileError when malformed)."""
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict) or not all(
        isinstance(k, str) and (v is None or (isinstance(v, str) and v.startswith("https://")))
        for k, v in services.items()
    ):
        raise DataFileError(f"{BOOTSTRAP_FILE}: 'services' must map TLDs to https:// URLs or null")
    return {k.lower(): v for k, v in services.items()}


def parse_date(value: Any) -> str | None:
    """An RFC 3339 date as ISO 8601 UTC ("2026-12-13T10:00:00+00:00"); None when it is not one.

    Hand-parsed: datetime.fromisoformat accepts neither "Z" nor 1–9 fraction digits on Python 3.10.
    """
    if not isinstance(value, str):
        return None
    match = _DATE.match(value.strip()[:64])
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    offset = datetime.timedelta(0)
    if zone and zone not in "Zz":
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        offset = -offset if zone[0] == "-" else offset
    try:
        moment = datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=datetime.timezone(offset),
        )
    except ValueError:  # month 13, a 25-hour offset…
        return None
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds")


def _vcard_fn(entity: Mapping[str, Any]) -> str | None:
    """The "fn" of an entity's jCard (RFC 7095): ["vcard", [[name, params, type, value], …]]."""
    card = entity.get("vcardArray")
    if not isinstance(card, list) or len(card) < 2 or not isinstance(card[1], list):
        return None
    for prop in card[1][:MAX_ITEMS]:
        if isinstance(prop, list) and len(prop) >= 4 and prop[0] == "fn" and isinstance(prop[3], str):
            return prop[3]
    return None


def _registrar(data: Mapping[str, Any]) -> str | None:
    entities = data.get("entities")
    for entity in entities[:MAX_ITEMS] if isinstance(entities, list) else ():
        if not isinstance(entity, dict):
            continue
        roles = entity.get("roles")
        if isinstance(roles, list) and "registrar" in [str(r).lower() for r in roles[:20]]:
            name = _vcard_fn(entity) or entity.get("handle")
            if isinstance(name, str) and name.strip():
                return clip(" ".join(name.split()), _TEXT)
    return None


@dataclass(frozen=True)
class DomainRecord:
    """What the checks need from an RDAP domain object."""

    registration: str | None
    expiration: str | None
    last_changed: str | None
    statuses: tuple[str, ...]
    registrar: str | None


def parse_domain_object(data: Any, domain: str) -> DomainRecord:
    """Distil an RFC 9083 domain object (raises RdapAnswerError when it is not one for `domain`)."""
    if not isinstance(data, dict):
        raise RdapAnswerError("the answer is not a JSON object")
    kind = data.get("objectClassName")
    if kind is None and "errorCode" in data:
        raise RdapAnswerError(f"an RDAP error object (errorCode {clip(str(data['errorCode']), 20)})")
    if kind is not None and str(kind).lower() != "domain":
        raise RdapAnswerError(f"objectClassName is {clip(str(kind), 40)!r}, not 'domain'")
    name = data.get("ldhName")
    if kind is None and not isinstance(name, str):
        raise RdapAnswerError("neither objectClassName nor ldhName: not an RDAP domain object")
    if isinstance(name, str) and name.lower().rstrip(".") != domain:
        raise RdapAnswerError(f"the answer is about {clip(name, 80)!r}, not {domain}")
    events: dict[str, str | None] = {}
    raw_events = data.get("events")
    for event in raw_events[:MAX_ITEMS] if isinstance(raw_events, list) else ():
        if isinstance(event, dict) and isinstance(event.get("eventAction"), str):
            events.setdefault(event["eventAction"].lower(), parse_date(event.get("eventDate")))
    raw_status = data.get("status")
    statuses = [
        clip(" ".join(s.lower().split()), 100)
        for s in (raw_status[:MAX_ITEMS] if isinstance(raw_status, list) else ())
        if isinstance(s, str) and s.strip()
    ]
    return DomainRecord(
        registration=events.get("registration"),
        expiration=events.get("expiration"),
        last_changed=events.get("last changed"),
        statuses=tuple(dict.fromkeys(statuses))[:MAX_STATUSES],
        registrar=_registrar(data),
    )


class RdapCollector(Collector):
    """Asks the registry (RDAP) for the registered domain's dates, statuses and registrar."""

    name = "rdap"
    provides = RdapFacts
    defaults: ClassVar[Mapping[str, Any]] = {
        # one RDAP base URL for every domain (ending with "/"); "" uses the packaged TLD map
        "base_url": "",
        # an RFC 7484 redirector for TLDs the packaged map does not list
        "bootstrap_url": "https://rdap.org/",
    }

    def collect(self, target: Target, ctx: CollectorContext) -> RdapFacts:
        ctx.op_timeout()  # raises CollectorError(DEADLINE) when nothing is left
        collected_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        host = _host_of(target)
        if not host:
            return RdapFacts(collected_at=collected_at)
        domain = registered_domain(host)
        tld = domain.rsplit(".", 1)[-1]
        settings = {**self.defaults, **ctx.settings}
        base_url = str(settings["base_url"])
        # A special-use name is never sent to a public bootstrap service; an RDAP server the user named
        # explicitly (a lab's or the demo's registry stand-in) is asked whatever the TLD.
        if "." not in domain or (tld in RESERVED_TLDS and not base_url):
            detail = f"{domain} is not under a registry's TLD (special-use name): nothing to ask"
            return RdapFacts(domain=domain, outcome="unsupported", detail=detail, collected_at=collected_at)
        base, via_bootstrap, note = _choose_base(domain, base_url, str(settings["bootstrap_url"]))
        if base is None:
            detail = f"the .{tld} registry publishes no RDAP service"
            return RdapFacts(domain=domain, outcome="unsupported", detail=detail, collected_at=collected_at)
        url = f"{base if base.endswith('/') else base + '/'}domain/{domain}"
        facts = _query(url, domain, via_bootstrap, ctx)
        return replace(facts, detail=facts.detail or note, collected_at=collected_at)


def _host_of(target: Target) -> str:
    if target.kind not in (TargetKind.DOMAIN, TargetKind.URL) or not target.host:
        return ""
    try:
        ipaddress.ip_address(target.host)
    except ValueError:
        return target.host
    return ""


def _choose_base(domain: str, base_url: str, bootstrap_url: str) -> tuple[str | None, bool, str | None]:
    """(base URL, via the bootstrap redirector, a note for the facts)."""
    for key, value in (("base_url", base_url), ("bootstrap_url", bootstrap_url)):
        if value and not value.startswith(("https://", "http://")):
            raise CollectorError(
                ErrorKind.PROTOCOL, f"[collectors.rdap] {key} must be an http(s) URL: {value[:60]!r}"
            )
    if base_url:
        return base_url, False, None
    note = None
    try:
        services: dict[str, str | None] | None = _services(load_data(BOOTSTRAP_FILE)[0])
    except DataFileError as exc:
        # Only the shortcut is lost: the redirector knows every TLD the map does.
        services, note = None, clip(f"{exc}; asked {bootstrap_url} instead", _TEXT)
    base, via_bootstrap = base_url_for(domain, services, bootstrap_url)
    return base, via_bootstrap, note


def _query(url: str, domain: str, via_bootstrap: bool, ctx: CollectorContext) -> RdapFacts:
    """GET the domain object, following at most MAX_REDIRECTS redirects to https URLs."""
    redirects = 0
    with HttpSession(ctx.guard, ctx.op_timeout, ctx.user_agent, ctx.ca_bundle) as session:
        while True:
            response = session.get(url, ProbeLevel.PASSIVE, MAX_BODY, _ACCEPT)
            shown = clip(url, _TEXT)
            if response.tls is not None and (response.tls.permissive or not response.tls.verified):
                # The session retried without verification to see a web page; a registry's answer
                # over an unverified connection could be anyone's.
                detail = clip(f"TLS: {response.tls.error or 'certificate not verified'}", _TEXT)
                return RdapFacts(domain=domain, url=shown, outcome="unreachable", detail=detail)
            if response.status is None:
                detail = clip(f"{response.error_kind}: {response.error}", _TEXT)
                return RdapFacts(domain=domain, url=shown, outcome="unreachable", detail=detail)
            if response.status in (301, 302, 303, 307, 308):
                try:
                    target = _redirect_target(url, response.header("location"))
                except _RedirectRefused as exc:
                    return RdapFacts(domain=domain, url=shown, outcome="unreachable", detail=str(exc))
                if redirects >= MAX_REDIRECTS:
                    detail = f"more than {MAX_REDIRECTS} redirects"
                    return RdapFacts(domain=domain, url=shown, outcome="unreachable", detail=detail)
                redirects, url = redirects + 1, target
                continue
            return _answer(
                response.status,
                response.body,
                response.body_truncated,
                domain,
                shown,
                via_bootstrap and not redirects,
            )


class _RedirectRefused(Exception):
    """A redirect this collector will not follow (the message says why)."""


def _redirect_target(url: str, location: str | None) -> str:
    """The absolute https URL a redirect points to (raises _RedirectRefused)."""
    if not location:
        raise _RedirectRefused("a redirect without Location")
    try:
        joined = str(httpx.URL(url).join(location.strip()))
    except (httpx.InvalidURL, ValueError) as exc:
        raise _RedirectRefused(clip(f"an invalid redirect Location: {exc}", _TEXT)) from None
    if not joined.startswith("https://"):
        raise _RedirectRefused(clip(f"a redirect to a non-https URL refused: {joined}", _TEXT))
    return joined


def _answer(
    status: int, body: str, truncated: bool, domain: str, url: str, from_bootstrap: bool
) -> RdapFacts:
    """Facts from the final answer's status and body."""
    if status == 404:
        if from_bootstrap:
            # The redirector answered itself instead of redirecting: it knows no server for the TLD.
            tld = domain.rsplit(".", 1)[-1]
            detail = f"the bootstrap service knows no RDAP server for .{tld}"
            return RdapFacts(domain=domain, url=url, outcome="unsupported", detail=detail)
        return RdapFacts(domain=domain, url=url, outcome="not_found", detail="the registry answered 404")
    if status != 200:
        return RdapFacts(
            domain=domain, url=url, outcome="unreachable", detail=f"the registry answered HTTP {status}"
        )
    if truncated:
        return RdapFacts(
            domain=domain, url=url, outcome="invalid", detail=f"an answer larger than {MAX_BODY} bytes"
        )
    try:
        record = parse_domain_object(json.loads(body), domain)
    except RecursionError:  # "[[[[…" nested past the JSON decoder's stack
        return RdapFacts(domain=domain, url=url, outcome="invalid", detail="JSON nested too deeply")
    except (ValueError, TypeError) as exc:  # JSONDecodeError and RdapAnswerError are ValueErrors
        return RdapFacts(domain=domain, url=url, outcome="invalid", detail=clip(str(exc), _TEXT))
    return RdapFacts(
        domain=domain,
        url=url,
        outcome="ok",
        registration=record.registration,
        expiration=record.expiration,
        last_changed=record.last_changed,
        statuses=record.statuses,
        registrar=record.registrar,
    )
