"""The HTTP session: the guarded transport refuses out-of-scope active requests before connecting."""

from __future__ import annotations

from collections.abc import Callable

from cyberscan.collectors.http_session import HttpSession
from cyberscan.demo.webserver import LocalWebServer, Route, Site
from cyberscan.net.guard import NetworkGuard
from cyberscan.scope import ProbeLevel

SITE = Site(hosts=["www.mairie.test"], routes={"/": Route(200, (("Content-Type", "text/html"),), b"accueil")})


def test_transport_refuses_active_requests_outside_scope(
    start_web_server: Callable[..., LocalWebServer], make_guard: Callable[..., NetworkGuard]
) -> None:
    server = start_web_server([SITE])
    guard = make_guard(server.hosts_map(), scope=())
    url = f"https://www.mairie.test:{server.https_port}"
    with HttpSession(guard, lambda: 2.0, "cyberscan-test", server.ca_pem_path, max_rps=0) as session:
        refused = session.get(f"{url}/.env", ProbeLevel.ACTIVE, 1024)
        home = session.get(f"{url}/", ProbeLevel.PASSIVE, 1024)
    assert (refused.status, refused.error_kind) == (None, "out_of_scope")
    assert (home.status, home.body, home.tls and home.tls.verified) == (200, "accueil", True)
    assert server.paths() == ["/"]  # the refused request never reached the server
    assert [(n.host, n.address) for n in guard.refusals()] == [("www.mairie.test", "127.0.0.1")]


def test_bad_url_and_unparsable_redirect_are_data(
    start_web_server: Callable[..., LocalWebServer], make_guard: Callable[..., NetworkGuard]
) -> None:
    bad_redirect = Site(hosts=["www.mairie.test"], routes={"/": Route(302, (("Location", "http://[::1"),))})
    server = start_web_server([bad_redirect])
    guard = make_guard(server.hosts_map())
    with HttpSession(guard, lambda: 2.0, "t", server.ca_pem_path, max_rps=0) as session:
        answer = session.get(f"https://www.mairie.test:{server.https_port}/", ProbeLevel.PASSIVE, 1024)
        broken = session.get("https://[::1/", ProbeLevel.PASSIVE, 1024)
    assert (answer.status, answer.header("location")) == (302, "http://[::1")
    assert broken.error_kind == "protocol"


def test_headers_of_a_tls10_only_site_are_still_collected() -> None:
    # Python's default client refuses TLS 1.0 outright; the permissive retry must still read the
    # headers, and the facts must say that it was needed (the TLS itself is judged by sslyze).
    import pytest

    from cyberscan.demo.tlsserver import LocalTlsServer, TlsProfile, TlsServerUnavailable
    from cyberscan.net.resolver import Resolver
    from cyberscan.scope import Scope

    tls10 = TlsProfile(
        "tls10", "TLS 1.0 only", key="rsa", options=("-tls1", "-cipher", "ALL:@SECLEVEL=0"), lax=True
    )
    try:
        server = LocalTlsServer(tls10, hosts=["ancien.test"])
    except TlsServerUnavailable as exc:
        pytest.skip(str(exc))
    with server:
        guard = NetworkGuard(Resolver(static_hosts=server.hosts_map()), Scope())
        with HttpSession(guard, lambda: 3.0, "t", server.ca_pem_path, max_rps=0) as session:
            answer = session.get(f"https://ancien.test:{server.port}/", ProbeLevel.PASSIVE, 512)
    assert answer.status == 200
    assert answer.tls is not None and (answer.tls.permissive, answer.tls.version) == (True, "TLSv1")
    assert answer.tls.verified is False and answer.tls.error  # why the normal client failed
