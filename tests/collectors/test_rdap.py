"""RdapCollector: pure distillers (table-driven) and queries to a local RDAP stand-in (loopback only).

The stand-in is the project's LocalWebServer on 127.0.0.1 serving RDAP JSON; `base_url` or
`bootstrap_url` point at it and `--ca-bundle` is its test CA. Names resolve through a loopback-only
resolver: a query for a real registry's name would fail here instead of leaving the machine.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import StartWebServer, loopback_resolver

from cyberscan.collectors.rdap import (
    MAX_BODY,
    RdapAnswerError,
    RdapCollector,
    base_url_for,
    parse_date,
    parse_domain_object,
    registered_domain,
)
from cyberscan.collectors.rdap_facts import RdapFacts
from cyberscan.datafiles import load_data
from cyberscan.demo.webserver import Route, Site, free_port
from cyberscan.models import ErrorKind
from cyberscan.net.guard import NetworkGuard
from cyberscan.plugin import CollectorContext, CollectorError
from cyberscan.scope import Scope
from cyberscan.targets import parse_target

RDAP_JSON = (("Content-Type", "application/rdap+json"),)
NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
EXPIRY = NOW + datetime.timedelta(days=20)


def domain_object(name: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9083 domain object as AFNIC shapes it: expiring in 20 days, transfer-locked."""
    return {
        "objectClassName": "domain",
        "handle": "DOM000000123-FRNIC",
        "ldhName": name,
        "status": ["active", "client transfer prohibited", "Client Delete Prohibited"],
        "events": [
            {"eventAction": "registration", "eventDate": "2005-03-01T10:00:00Z"},
            {"eventAction": "expiration", "eventDate": EXPIRY.isoformat().replace("+00:00", "Z")},
            {"eventAction": "last changed", "eventDate": "2026-01-15T08:30:00.123456Z"},
        ],
        "entities": [
            {
                "objectClassName": "entity",
                "roles": ["registrant"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Commune de X"]]],
            },
            {
                "objectClassName": "entity",
                "roles": ["registrar"],
                "handle": "9999",
                "vcardArray": [
                    "vcard",
                    [["version", {}, "text", "4.0"], ["fn", {}, "text", "Registrar Exemple SAS"]],
                ],
            },
        ],
        **extra,
    }


# --- pure -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "registered"),
    [
        ("mairie-x.fr", "mairie-x.fr"),
        ("www.mairie-x.fr", "mairie-x.fr"),
        ("portail.famille.ville-x.fr", "ville-x.fr"),
        ("www.ville.asso.fr", "ville.asso.fr"),
        ("interieur.gouv.fr", "interieur.gouv.fr"),
        ("a.b.interieur.gouv.fr", "interieur.gouv.fr"),
        ("twin.org.uk", "twin.org.uk"),
        ("gouv.fr", "gouv.fr"),
        ("MAIRIE-X.FR.", "mairie-x.fr"),
    ],
)
def test_registered_domain(host: str, registered: str) -> None:
    assert registered_domain(host) == registered


def test_packaged_map() -> None:
    data, _ = load_data("rdap_bootstrap.json")
    services = data["services"]
    boot = "https://boot.example/"
    for tld in ("fr", "re", "pm", "tf", "wf", "yt"):
        assert base_url_for(f"mairie.{tld}", services, boot) == ("https://rdap.nic.fr/", False)
    assert base_url_for("ville.com", services, boot) == ("https://rdap.verisign.com/com/v1/", False)
    assert base_url_for("ville.eu", services, boot) == (None, False)
    assert base_url_for("ville.bzh", services, boot) == (boot, True)
    assert base_url_for("ville.bzh", None, boot) == (boot, True)
    assert data["as_of"] and all(v is None or v.startswith("https://") for v in services.values())


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("2026-12-13T10:00:00Z", "2026-12-13T10:00:00+00:00"),
        ("2026-12-13T10:00:00.123456789Z", "2026-12-13T10:00:00+00:00"),
        ("2026-12-13T12:00:00+02:00", "2026-12-13T10:00:00+00:00"),
        ("2026-12-13T05:00:00-0500", "2026-12-13T10:00:00+00:00"),
        ("2026-12-13", "2026-12-13T00:00:00+00:00"),
        ("2026-12-13 10:00", "2026-12-13T10:00:00+00:00"),
        ("2026-13-01T00:00:00Z", None),
        ("13/12/2026", None),
        ("", None),
        (20261213, None),
        (None, None),
    ],
)
def test_parse_date(raw: Any, iso: str | None) -> None:
    assert parse_date(raw) == iso


def test_parse_domain_object() -> None:
    record = parse_domain_object(domain_object("mairie-x.fr"), "mairie-x.fr")
    assert record.registration == "2005-03-01T10:00:00+00:00"
    assert record.expiration == EXPIRY.isoformat()
    assert record.last_changed == "2026-01-15T08:30:00+00:00"
    assert record.statuses == ("active", "client transfer prohibited", "client delete prohibited")
    assert record.registrar == "Registrar Exemple SAS"


@pytest.mark.parametrize(
    ("change", "registrar", "statuses"),
    [
        ({"entities": [{"roles": ["registrar"], "handle": "1234"}]}, "1234", 3),
        ({"entities": "nope", "status": "active"}, None, ()),
        (
            {"entities": [None, 3, {"roles": "registrar"}], "status": [1, None, "  Pending  Delete "]},
            None,
            ("pending delete",),
        ),
        (
            {"events": [{"eventAction": 5}, "x", {"eventAction": "expiration", "eventDate": "soon"}]},
            "Registrar Exemple SAS",
            3,
        ),
    ],
    ids=["registrar-handle", "wrong-types", "junk-items", "junk-events"],
)
def test_parse_domain_object_is_defensive(
    change: dict[str, Any], registrar: str | None, statuses: int | tuple[str, ...]
) -> None:
    record = parse_domain_object(domain_object("mairie-x.fr", **change), "mairie-x.fr")
    assert record.registrar == registrar
    assert (len(record.statuses) if isinstance(statuses, int) else record.statuses) == statuses
    if "events" in change:
        assert (record.registration, record.expiration, record.last_changed) == (None, None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "not a JSON object"),
        ({"objectClassName": "entity", "handle": "X"}, "not 'domain'"),
        ({"errorCode": 404, "title": "Not Found"}, "errorCode 404"),
        ({"handle": "X"}, "not an RDAP domain object"),
        (domain_object("autre.fr"), "about 'autre.fr'"),
    ],
)
def test_not_a_domain_object(data: Any, message: str) -> None:
    with pytest.raises(RdapAnswerError, match=message):
        parse_domain_object(data, "mairie-x.fr")


def test_domain_object_without_class_name_but_with_its_name() -> None:
    data = domain_object("MAIRIE-X.FR")
    del data["objectClassName"]
    assert parse_domain_object(data, "mairie-x.fr").expiration == EXPIRY.isoformat()


# --- against a local stand-in ------------------------------------------------------------------------


def _site(hosts: list[str], routes: Mapping[str, Route], certificate: str = "valid") -> Site:
    return Site(hosts=hosts, routes=routes, certificate=certificate)  # type: ignore[arg-type]


REGISTRY_ROUTES = {
    "/domain/mairie-x.fr": Route(200, RDAP_JSON, json.dumps(domain_object("mairie-x.fr")).encode()),
    "/domain/mairie-x.bzh": Route(200, RDAP_JSON, json.dumps(domain_object("mairie-x.bzh")).encode()),
    "/domain/garbage.fr": Route(200, RDAP_JSON, b'{"objectClassName": "domain", "ldhName": '),
    "/domain/nested.fr": Route(200, RDAP_JSON, b"[" * 200_000),
    "/domain/huge.fr": Route(200, RDAP_JSON, b'{"pad": "' + b"x" * (MAX_BODY + 10) + b'"}'),
    "/domain/entity.fr": Route(200, RDAP_JSON, b'{"objectClassName": "entity"}'),
    "/domain/busy.fr": Route(503, RDAP_JSON, b'{"errorCode": 503}'),
    "/domain/slow.fr": Route(200, RDAP_JSON, b"{}", delay=2.0),
}
BOOTSTRAP_ROUTES = {
    # an RFC 7484 redirector: redirects for TLDs it knows, answers 404 itself for the others
    "/domain/mairie-x.bzh": Route(302, (("Location", "https://rdap.test:{https_port}/domain/mairie-x.bzh"),)),
    "/domain/clear.bzh": Route(302, (("Location", "http://rdap.test/domain/clear.bzh"),)),
    "/domain/loop.bzh": Route(302, (("Location", "/domain/loop.bzh"),)),
    "/domain/gone.bzh": Route(302, (("Location", "https://rdap.test:{https_port}/domain/gone.bzh"),)),
}


def _ctx(
    web_hosts: Mapping[str, str], settings: Mapping[str, Any], ca_bundle: Path | None, timeout: float = 2.0
) -> CollectorContext:
    # RDAP needs no scope: an empty one proves it
    guard = NetworkGuard(loopback_resolver(web_hosts), Scope())
    return CollectorContext(
        settings={**RdapCollector.defaults, **settings},
        timeout=timeout,
        deadline=time.monotonic() + 20,
        guard=guard,
        user_agent="cyberscan-test",
        ca_bundle=ca_bundle,
    )


@pytest.fixture
def registry(start_web_server: StartWebServer) -> Any:
    return start_web_server([_site(["rdap.test"], REGISTRY_ROUTES), _site(["boot.test"], BOOTSTRAP_ROUTES)])


def _query(registry: Any, target: str, **settings: Any) -> RdapFacts:
    base = {"base_url": f"https://rdap.test:{registry.https_port}/", **settings}
    ctx = _ctx(registry.hosts_map(), base, registry.ca_pem_path, timeout=settings.pop("timeout", 2.0))
    facts = RdapCollector().collect(parse_target(target), ctx)
    assert RdapFacts.from_json(facts.to_json()) == facts
    return facts


def test_registered_domain_with_expiry_and_locks(registry: Any) -> None:
    facts = _query(registry, "https://www.mairie-x.fr/demarches")
    assert (facts.domain, facts.outcome, facts.detail) == ("mairie-x.fr", "ok", None)
    assert facts.url == f"https://rdap.test:{registry.https_port}/domain/mairie-x.fr"
    assert facts.expiration == EXPIRY.isoformat() and facts.registration == "2005-03-01T10:00:00+00:00"
    assert "client transfer prohibited" in facts.statuses and facts.registrar == "Registrar Exemple SAS"
    assert facts.collected_at
    [request] = registry.requests
    assert {k.lower(): v for k, v in request.headers}["accept"].startswith("application/rdap+json")


def test_plain_http_stand_in(registry: Any) -> None:
    facts = _query(registry, "mairie-x.fr", base_url=f"http://rdap.test:{registry.http_port}")
    assert facts.outcome == "ok" and facts.registrar == "Registrar Exemple SAS"


@pytest.mark.parametrize(
    ("target", "outcome", "detail"),
    [
        ("inconnue.fr", "not_found", "404"),
        ("garbage.fr", "invalid", ""),
        ("nested.fr", "invalid", ""),
        ("huge.fr", "invalid", "larger than"),
        ("entity.fr", "invalid", "not 'domain'"),
        ("busy.fr", "unreachable", "HTTP 503"),
    ],
)
def test_registry_answers(registry: Any, target: str, outcome: str, detail: str) -> None:
    facts = _query(registry, target)
    assert (facts.domain, facts.outcome) == (target, outcome)
    assert facts.detail is not None and detail in facts.detail
    assert (facts.expiration, facts.statuses, facts.registrar) == (None, (), None)


def test_hanging_registry_is_unreachable_within_the_timeout(registry: Any) -> None:
    started = time.monotonic()
    facts = _query(registry, "slow.fr", timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert facts.outcome == "unreachable" and facts.detail is not None and "timeout" in facts.detail


def test_closed_port_is_unreachable() -> None:
    ctx = _ctx({}, {"base_url": f"https://127.0.0.1:{free_port()}/"}, None)
    facts = RdapCollector().collect(parse_target("mairie-x.fr"), ctx)
    assert (facts.outcome, facts.domain) == ("unreachable", "mairie-x.fr")
    assert facts.detail is not None and facts.detail.startswith("unreachable")


def test_untrusted_registry_certificate_is_not_believed(start_web_server: StartWebServer) -> None:
    web = start_web_server([_site(["rdap.test"], REGISTRY_ROUTES, "untrusted")])
    ctx = _ctx(web.hosts_map(), {"base_url": f"https://rdap.test:{web.https_port}/"}, web.ca_pem_path)
    facts = RdapCollector().collect(parse_target("mairie-x.fr"), ctx)
    assert facts.outcome == "unreachable" and facts.detail is not None and facts.detail.startswith("TLS")
    assert facts.expiration is None


@pytest.mark.parametrize(
    ("target", "outcome", "detail"),
    [
        ("mairie-x.bzh", "ok", None),
        ("absent.bzh", "unsupported", "knows no RDAP server for .bzh"),
        ("gone.bzh", "not_found", "404"),
        ("clear.bzh", "unreachable", "non-https"),
        ("loop.bzh", "unreachable", "more than 2 redirects"),
    ],
)
def test_bootstrap_redirector(registry: Any, target: str, outcome: str, detail: str | None) -> None:
    facts = _query(registry, target, base_url="", bootstrap_url=f"https://boot.test:{registry.https_port}/")
    assert facts.outcome == outcome
    if detail is None:
        assert facts.detail is None
    else:
        assert facts.detail is not None and detail in facts.detail
    if outcome == "ok":
        assert facts.url == f"https://rdap.test:{registry.https_port}/domain/mairie-x.bzh"
        assert [r.host for r in registry.requests] == ["boot.test", "rdap.test"]


@pytest.mark.parametrize(
    ("target", "domain", "base_url"),
    [
        ("www.ville.eu", "ville.eu", ""),
        # no base_url: the bootstrap redirector would be asked, and a special-use name is never sent there
        ("mairie-passoire.test", "mairie-passoire.test", ""),
    ],
    ids=["tld-without-rdap", "special-use-tld"],
)
def test_unsupported_without_any_request(registry: Any, target: str, domain: str, base_url: str) -> None:
    boot = f"https://boot.test:{registry.https_port}/"
    facts = _query(registry, target, base_url=base_url, bootstrap_url=boot)
    assert (facts.domain, facts.outcome, facts.url) == (domain, "unsupported", None)
    assert facts.detail and registry.requests == []


def test_configured_base_url_is_asked_even_for_a_special_use_tld(start_web_server: StartWebServer) -> None:
    routes = {
        "/domain/mairie-x.test": Route(200, RDAP_JSON, json.dumps(domain_object("mairie-x.test")).encode())
    }
    registry = start_web_server([_site(["rdap.test"], routes), _site(["boot.test"], BOOTSTRAP_ROUTES)])
    boot = f"https://boot.test:{registry.https_port}/"
    facts = _query(registry, "www.mairie-x.test", bootstrap_url=boot)
    assert (facts.domain, facts.outcome, facts.expiration) == ("mairie-x.test", "ok", EXPIRY.isoformat())
    assert facts.url == f"https://rdap.test:{registry.https_port}/domain/mairie-x.test"
    assert [(r.host, r.path) for r in registry.requests] == [("rdap.test", "/domain/mairie-x.test")]


@pytest.mark.parametrize("target", ["192.0.2.1", "192.0.2.0/29", "https://192.0.2.1/"])
def test_addresses_are_skipped(target: str) -> None:
    facts = RdapCollector().collect(parse_target(target), _ctx({}, {}, None))
    assert (facts.domain, facts.outcome, facts.url) == ("", "skipped", None)


def test_past_deadline_and_bad_settings_raise() -> None:
    ctx = _ctx({}, {"base_url": "ftp://rdap.test/"}, None)
    with pytest.raises(CollectorError, match="base_url"):
        RdapCollector().collect(parse_target("mairie-x.fr"), ctx)
    late = CollectorContext(
        settings=dict(RdapCollector.defaults),
        timeout=1,
        deadline=time.monotonic() - 1,
        guard=ctx.guard,
        user_agent="t",
    )
    with pytest.raises(CollectorError) as info:
        RdapCollector().collect(parse_target("mairie-x.fr"), late)
    assert info.value.kind is ErrorKind.DEADLINE
