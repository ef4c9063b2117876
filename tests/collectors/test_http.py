"""HttpCollector against real local servers (loopback only): chains, TLS fallback, probes, scope, deadline."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest
import trustme

import cyberscan.collectors.http as http_collector
from cyberscan.collectors.http import HttpCollector, follow_chain
from cyberscan.collectors.http_facts import HttpFacts, HttpProbe, HttpResponse, WebHost
from cyberscan.demo.sites import demo_sites
from cyberscan.demo.webserver import LocalWebServer, Route, Site, free_port
from cyberscan.net.guard import NetworkGuard
from cyberscan.plugin import CollectorContext
from cyberscan.scope import ProbeLevel
from cyberscan.targets import parse_target

# The engine's permissive TLS context enables TLS 1.0 on purpose (weak sites must still be read);
# Python flags that setting as deprecated, and pytest turns warnings into errors.

HTML = ("Content-Type", "text/html; charset=utf-8")
TEXT = ("Content-Type", "text/plain; charset=utf-8")


def redirect(location: str, status: int = 301) -> Route:
    return Route(status, (("Location", location), TEXT), b"moved\n")


GOOD_HOME = b'<html><script src="/app.js?ver=1.2"></script><form action="/envoi"></form></html>'

GOOD = Site(
    hosts=("good.test", "www.good.test"),
    routes={
        "/": Route(
            200,
            (HTML, ("Set-Cookie", "a=1; Secure"), ("Set-Cookie", "b=2; Secure; HttpOnly"), ("X-Test", "oui")),
            GOOD_HOME,
        ),
        "/big": Route(200, (HTML,), b"<p>" + b"x" * 200_000),
        "/loop-a": redirect("/loop-b", 302),
        "/loop-b": redirect("https://good.test:{https_port}/loop-a", 307),
        "/away": redirect("https://elsewhere.test/landing"),
        "/to-www": redirect("https://www.good.test:{https_port}/"),
        # (a Location httpx cannot parse at all, e.g. "http://[::1", fails in the session as "protocol")
        "/bad": redirect("http://good.test:99999/"),
        "/no-location": Route(302, (TEXT,), b""),
        **{f"/hop{n}": redirect(f"/hop{n + 1}") for n in range(1, 9)},
        "/slow": Route(200, (TEXT,), b"late", delay=3.0),
        "/secret": Route(200, (TEXT,), b"SECRET=1"),
        "/moved-probe": redirect("/elsewhere"),
    },
    http_routes={},
    http_default=redirect("{https_origin}{path}"),
)
MOVED = Site(hosts=("moved.test",), routes={"/": redirect("https://www.moved.test:{https_port}/")})
MOVED_WWW = Site(hosts=("www.moved.test",), routes={"/": Route(200, (HTML,), b"<p>ici</p>")})
UNTRUSTED = Site(
    hosts=("untrusted.test",),
    routes={"/": Route(200, (TEXT, ("X-Test", "oui")), b"ok")},
    certificate="untrusted",
)

ACTIVE_SECRET = HttpProbe("secret", "/secret")
ACTIVE_ERROR = HttpProbe("error_page", "/nope-{random}")
PASSIVE_CORS = HttpProbe(
    "cors", "/", ProbeLevel.PASSIVE, headers=(("origin", "https://probe.cyberscan.invalid"),)
)

Collect = Callable[..., HttpFacts]


@pytest.fixture(scope="module")
def server(test_ca: trustme.CA) -> Iterator[LocalWebServer]:
    with LocalWebServer([GOOD, MOVED, MOVED_WWW, UNTRUSTED], ca=test_ca) as srv:
        yield srv


@pytest.fixture
def collect(server: LocalWebServer, make_guard: Callable[..., NetworkGuard]) -> Collect:
    """Run the collector on `target` against the module's server; keyword arguments tune the context."""

    def run(
        target: str,
        *,
        probes: Sequence[HttpProbe] = (),
        scope: Sequence[str] = ("127.0.0.1/32",),
        settings: Mapping[str, Any] | None = None,
        timeout: float = 3.0,
        budget: float = 15.0,
        guard: NetworkGuard | None = None,
    ) -> HttpFacts:
        merged = {
            **HttpCollector.defaults,
            "max_rps": 0.0,
            "http_port": server.http_port,
            "https_port": server.https_port,
            **(settings or {}),
        }
        ctx = CollectorContext(
            settings=merged,
            timeout=timeout,
            deadline=time.monotonic() + budget,
            guard=guard or make_guard(server.hosts_map(), scope),
            user_agent="cyberscan-tests",
            ca_bundle=server.ca_pem_path,
            requests=tuple(probes),
        )
        return HttpCollector().collect(parse_target(target), ctx)

    return run


def statuses(host: WebHost, scheme: str) -> list[int | None]:
    chain = host.https if scheme == "https" else host.http
    assert chain is not None
    return [hop.status for hop in chain.hops]


def roundtrip(facts: HttpFacts) -> HttpFacts:
    return HttpFacts.from_json(json.loads(json.dumps(facts.to_json())))


def test_domain_http_redirects_to_https_and_headers_are_kept(
    collect: Collect, server: LocalWebServer
) -> None:
    facts = collect("good.test")
    assert [(h.host, h.role) for h in facts.hosts] == [("good.test", "apex"), ("www.good.test", "www")]
    apex = facts.hosts[0]
    assert apex.address == "127.0.0.1" and apex.resolve_error is None
    assert statuses(apex, "http") == [301, 200]
    assert apex.http is not None and apex.http.first is not None and apex.http.stopped is None
    assert apex.http.first.header("location") == f"https://good.test:{server.https_port}/"
    assert statuses(apex, "https") == [200]
    final = apex.https.final if apex.https else None
    assert final is not None and final.tls is not None
    assert final.tls.verified and not final.tls.permissive and final.tls.version
    assert final.header_values("set-cookie") == ["a=1; Secure", "b=2; Secure; HttpOnly"]
    assert final.header("X-TEST") == "oui"
    assert apex.page is not None and apex.page.url == final.url and apex.page.has_form
    assert apex.page.versioned_assets == (f"https://good.test:{server.https_port}/app.js?ver=1.2",)
    assert roundtrip(facts) == facts


def test_redirect_to_own_subdomain_is_followed_and_probes_are_shared(
    collect: Collect, server: LocalWebServer
) -> None:
    facts = collect("moved.test", probes=[ACTIVE_SECRET])
    apex, www = facts.hosts
    assert statuses(apex, "https") == [301, 200]
    origin = f"https://www.moved.test:{server.https_port}"
    assert apex.probe_origin == www.probe_origin == origin
    assert apex.probes["secret"] == www.probes["secret"]
    # Both hosts end on www: its probe was sent once, not once per host.
    assert server.paths("www.moved.test").count("/secret") == 1
    assert roundtrip(facts) == facts


@pytest.mark.parametrize(
    ("path", "stopped", "hops", "next_location"),
    [
        ("/away", "external", 1, "https://elsewhere.test/landing"),
        # A URL target owns only its own host: www of the same domain is not followed.
        ("/to-www", "external", 1, "https://www.good.test:{port}/"),
        ("/loop-a", "loop", 2, "https://good.test:{port}/loop-a"),
        ("/hop1", "max_redirects", 3, "https://good.test:{port}/hop4"),
        ("/bad", "bad_location", 1, "http://good.test:99999/"),
        ("/no-location", "bad_location", 1, None),
    ],
)
def test_redirects_stop_where_they_must(
    collect: Collect,
    server: LocalWebServer,
    path: str,
    stopped: str,
    hops: int,
    next_location: str | None,
) -> None:
    before = len(server.requests)
    facts = collect(f"https://good.test:{server.https_port}{path}", settings={"max_redirects": 2})
    chain = facts.hosts[0].https
    assert chain is not None
    assert chain.stopped == stopped
    assert len(chain.hops) == hops
    expected = next_location.format(port=server.https_port) if next_location else None
    assert chain.next_location == expected
    # Nothing was fetched beyond the recorded hops of the two chains.
    recorded = {hop.url for c in (facts.hosts[0].https, facts.hosts[0].http) if c for hop in c.hops}
    for request in server.requests[before:]:
        port = server.https_port if request.scheme == "https" else server.http_port
        assert f"{request.scheme}://{request.host}:{port}{request.path}" in recorded


def test_body_is_bounded(collect: Collect, server: LocalWebServer) -> None:
    facts = collect(f"https://good.test:{server.https_port}/big", settings={"max_body_bytes": 1000})
    final = facts.hosts[0].https.final if facts.hosts[0].https else None
    assert final is not None and final.status == 200
    assert final.body_truncated and len(final.body) == 1000
    page = facts.hosts[0].page
    assert page is not None and page.truncated


@pytest.mark.parametrize("in_scope", [True, False])
def test_active_probes_only_in_scope(collect: Collect, server: LocalWebServer, in_scope: bool) -> None:
    before = len(server.requests)
    facts = collect(
        "good.test",
        probes=[ACTIVE_SECRET, ACTIVE_ERROR, PASSIVE_CORS],
        scope=["127.0.0.1/32"] if in_scope else [],
    )
    sent = [r.path for r in server.requests[before:]]
    for host in facts.hosts:
        assert host.active_allowed is in_scope
        assert host.probe_origin == f"https://{host.host}:{server.https_port}"
        assert host.probes["cors"].status == 200
        if in_scope:
            assert set(host.probes) == {"secret", "error_page", "cors"}
            assert host.probes["secret"].body == "SECRET=1"
            assert host.probes["error_page"].status == 404
            assert re.fullmatch(r"https://.*/nope-[0-9a-f]{16}", host.probes["error_page"].url)
        else:
            assert set(host.probes) == {"cors"}
    if in_scope:
        randoms = [p for p in sent if p.startswith("/nope-")]
        assert len(randoms) == 2 and len(set(randoms)) == 2  # one token per host...
        origins = {h.probe_origin for h in facts.hosts}
        assert {f"/nope-{http_collector._token(o)}" for o in origins if o} == set(
            randoms
        )  # ...stable per origin
    else:
        # Not even attempted: the server saw no active path at all.
        assert "/secret" not in sent and not any(p.startswith("/nope-") for p in sent)
    assert roundtrip(facts) == facts


def test_probe_headers_are_sent_and_redirects_not_followed(collect: Collect, server: LocalWebServer) -> None:
    before = len(server.requests)
    probe = HttpProbe("moved", "/moved-probe")
    facts = collect(f"https://good.test:{server.https_port}/", probes=[probe, PASSIVE_CORS])
    answer = facts.hosts[0].probes["moved"]
    assert answer.status == 301 and answer.header("location") == "/elsewhere"
    assert "/elsewhere" not in server.paths()
    origins = [dict((k.lower(), v) for k, v in r.headers).get("origin") for r in server.requests[before:]]
    assert origins.count("https://probe.cyberscan.invalid") == 1


def test_dead_ports_are_recorded_and_not_probed(collect: Collect) -> None:
    facts = collect(
        "good.test",
        probes=[ACTIVE_SECRET, PASSIVE_CORS],
        settings={"http_port": free_port(), "https_port": free_port()},
    )
    for host in facts.hosts:
        for chain in (host.http, host.https):
            assert chain is not None and len(chain.hops) == 1
            assert chain.hops[0].error_kind == "unreachable" and chain.hops[0].status is None
        assert host.probes == {} and host.probe_origin is None and host.page is None
    assert roundtrip(facts) == facts


def test_unresolvable_name_fetches_nothing(
    collect: Collect, server: LocalWebServer, make_guard: Callable[..., NetworkGuard]
) -> None:
    before = len(server.requests)
    guard = make_guard(server.hosts_map(), dns_timeout=0.2)
    facts = collect("https://absent.test/", probes=[ACTIVE_SECRET], guard=guard)
    (host,) = facts.hosts
    assert host.role == "url" and host.resolve_error
    assert host.address is None and host.http is None and host.https is None and host.probes == {}
    assert len(server.requests) == before
    assert roundtrip(facts) == facts


def test_untrusted_certificate_is_recorded_and_headers_still_fetched(
    collect: Collect, server: LocalWebServer
) -> None:
    facts = collect(f"https://untrusted.test:{server.https_port}/")
    final = facts.hosts[0].https.final if facts.hosts[0].https else None
    assert final is not None and final.status == 200 and final.header("x-test") == "oui"
    assert final.tls is not None
    assert not final.tls.verified and final.tls.permissive and final.tls.error


def test_ip_target(collect: Collect) -> None:
    facts = collect("127.0.0.1", probes=[ACTIVE_SECRET])
    (host,) = facts.hosts
    assert host.role == "ip" and host.address == "127.0.0.1" and host.active_allowed
    # No site is named 127.0.0.1: a 404, over a certificate valid for the address (no SNI).
    final = host.https.final if host.https else None
    assert final is not None and final.status == 404 and final.tls is not None and final.tls.verified
    assert host.probes["secret"].status == 404


def test_deadline_is_respected(collect: Collect, server: LocalWebServer) -> None:
    started = time.monotonic()
    facts = collect(
        f"https://good.test:{server.https_port}/slow",
        probes=[ACTIVE_SECRET, PASSIVE_CORS],
        timeout=0.4,
        budget=1.2,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 2.0  # the server would take 3 s per request
    https = facts.hosts[0].https
    assert https is not None and https.hops[0].error_kind == "timeout"


def test_deadline_already_passed_returns_at_once(collect: Collect) -> None:
    started = time.monotonic()
    facts = collect("good.test", probes=[ACTIVE_SECRET], budget=-1.0)
    assert time.monotonic() - started < 1.0
    for host in facts.hosts:
        assert host.https is not None and host.https.hops[0].error_kind == "deadline"
        assert host.probes == {}


def test_follow_chain_without_network() -> None:
    answers = {
        "https://a.test/": HttpResponse("https://a.test/", 301, (("location", "ftp://a.test/file"),)),
        "https://b.test/x/y": HttpResponse(
            "https://b.test/x/y", 302, (("location", "../z"),), body="r" * 5000
        ),
        "https://b.test/z": HttpResponse("https://b.test/z", 200),
    }

    def get(url: str) -> HttpResponse:
        return answers[url]

    chain = follow_chain(get, "https://a.test/", lambda host: True, 5)
    assert chain.stopped == "external" and chain.next_location == "ftp://a.test/file"
    chain = follow_chain(get, "https://b.test/x/y", lambda host: host == "b.test", 5)
    assert [h.status for h in chain.hops] == [302, 200] and chain.stopped is None
    assert chain.hops[0].body_truncated and len(chain.hops[0].body) == 2048


def test_demo_sites_show_what_they_are_meant_to(
    test_ca: trustme.CA, make_guard: Callable[..., NetworkGuard]
) -> None:
    probes = [
        HttpProbe("env", "/.env"),
        HttpProbe("git", "/.git/HEAD"),
        HttpProbe("error", "/{random}"),
        HttpProbe("uploads", "/wp-content/uploads/"),
        HttpProbe("xmlrpc", "/xmlrpc.php"),
        HttpProbe("security_txt", "/.well-known/security.txt"),
        PASSIVE_CORS,
    ]
    with LocalWebServer(demo_sites(datetime.date.today()), ca=test_ca) as demo:
        ctx = CollectorContext(
            settings={"max_rps": 0.0, "http_port": demo.http_port, "https_port": demo.https_port},
            timeout=3.0,
            deadline=time.monotonic() + 15,
            guard=make_guard(demo.hosts_map()),
            user_agent="cyberscan-tests",
            ca_bundle=demo.ca_pem_path,
            requests=tuple(probes),
        )
        modele = HttpCollector().collect(parse_target("mairie-modele.test"), ctx).hosts[0]
        passoire = HttpCollector().collect(parse_target("mairie-passoire.test"), ctx).hosts[0]

    assert statuses(modele, "http") == [301, 200]
    home = modele.https.final if modele.https else None
    assert home is not None and home.tls is not None and home.tls.verified
    assert home.header("strict-transport-security") == "max-age=31536000; includeSubDomains"
    assert "frame-ancestors 'none'" in (home.header("content-security-policy") or "")
    assert all("Secure" in c and "HttpOnly" in c for c in home.header_values("set-cookie"))
    assert home.header("server") is None and home.header("x-powered-by") is None
    assert modele.page is not None and all(e.integrity for e in modele.page.elements if "tiers" in e.url)
    assert modele.probes["env"].status == 404 and modele.probes["security_txt"].body.startswith("Contact:")
    assert modele.probes["cors"].header("access-control-allow-origin") is None

    assert statuses(passoire, "http") == [200]  # served in clear, no redirect
    clear = passoire.http.final if passoire.http else None
    assert clear is not None and clear.header("server") == "Apache/2.2.15 (CentOS)"
    assert clear.header("strict-transport-security") is None
    tls = passoire.https.final.tls if passoire.https and passoire.https.final else None
    assert tls is not None and not tls.verified and tls.error == "certificate has expired"
    assert passoire.page is not None and passoire.page.generators == ("WordPress 4.9.8",)
    assert any(e.url.startswith("http://") and e.tag == "script" for e in passoire.page.elements)
    assert "DB_PASSWORD=" in passoire.probes["env"].body
    assert passoire.probes["git"].body.startswith("ref: refs/heads/master")
    assert "Fatal error" in passoire.probes["error"].body
    assert "sauvegarde.sql" in passoire.probes["uploads"].body
    assert passoire.probes["xmlrpc"].body == "XML-RPC server accepts POST requests only."
    cors = passoire.probes["cors"]
    assert cors.header("access-control-allow-origin") == "https://probe.cyberscan.invalid"
    assert cors.header("access-control-allow-credentials") == "true"
