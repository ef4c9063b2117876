"""WEB checks: table-driven cases over facts built by tests/factories.py (pure, no network, no mocks)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from check_table import Case, CheckTable

# Helpers of tests/ are imported as top-level modules (as tests/conftest.py arranges); make that
# work when this file is collected without it.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import factories as f  # noqa: E402
from cyberscan.checks import web  # noqa: E402

from cyberscan.collectors.http_facts import HttpFacts, PageElement, WebHost  # noqa: E402
from cyberscan.models import ErrorKind, Severity, Status  # noqa: E402
from cyberscan.plugin import Check, FactBag  # noqa: E402
from cyberscan.targets import parse_target  # noqa: E402

TABLE = CheckTable(
    "web", f.TARGET, lambda facts: f.http_facts(facts) if isinstance(facts, WebHost) else facts
)
META, TARGET, CASES = TABLE.meta, TABLE.target, TABLE.by_check
cases, case, run, verify = TABLE.cases, TABLE.case, TABLE.run, TABLE.verify
APEX_URL = f"https://{f.APEX}/"
HTTP_URL = f"http://{f.APEX}/"
WWW_URL = f"https://{f.WWW}/"
EXTERNAL = "https://portail.prestataire.example/mairie"


# --------------------------------------------------------------------------------------------------
# Harness


def contains(text: str) -> Callable[[Any], bool]:
    return lambda value: text in str(value)


def lacks(text: str) -> Callable[[Any], bool]:
    return lambda value: text not in str(value)


# --------------------------------------------------------------------------------------------------
# Builders of the less usual hosts


def site(**header_changes: Any) -> WebHost:
    """The default host with its page headers changed (`x_frame_options=None` removes one)."""
    return f.web_host(headers=f.headers(**header_changes))


def http_only(headers: Any = None, **overrides: Any) -> WebHost:
    """HTTPS refused, the page served over plain HTTP."""
    final = f.response(
        HTTP_URL, 200, f.headers(strict_transport_security=None) if headers is None else headers
    )
    values: dict[str, Any] = {
        "https": f.chain(f.no_answer(APEX_URL)),
        "http": f.chain(final),
        "page": f.page(HTTP_URL),
        "probe_origin": f"http://{f.APEX}",
        **overrides,
    }
    return f.web_host(**values)


def external_redirect() -> WebHost:
    """Both schemes end on a redirect to a provider's host, outside the target."""
    hop = f.redirect(APEX_URL, EXTERNAL, 302)
    return f.web_host(
        https=f.chain(hop, stopped="external", next_location=EXTERNAL),
        http=f.chain(f.redirect(HTTP_URL, APEX_URL), hop, stopped="external", next_location=EXTERNAL),
        page=None,
    )


def https_first(*hops: Any, **overrides: Any) -> WebHost:
    return f.web_host(https=f.chain(*hops), **overrides)


def http_chain(*hops: Any, **chain_args: Any) -> WebHost:
    return f.web_host(http=f.chain(*hops, **chain_args))


def with_page(**page_changes: Any) -> WebHost:
    return f.web_host(page=f.page(APEX_URL, **page_changes))


def with_elements(*elements: PageElement) -> WebHost:
    return with_page(elements=elements)


def probe(key: str, status: int | None = 200, body: str = "", headers: Any = None, **host: Any) -> WebHost:
    """The default host where one probe answers differently."""
    url = f.probe_url(key)
    answer = (
        f.no_answer(url, "timeout", "timed out") if status is None else f.response(url, status, headers, body)
    )
    return f.with_probe(f.web_host(**host), key, answer)


def probes(answers: dict[str, tuple[int, str]], **host: Any) -> WebHost:
    result = f.web_host(**host)
    for key, (status, body) in answers.items():
        result = f.with_probe(
            result, key, f.response(f.probe_url(key), status, {"content-type": "text/plain"}, body)
        )
    return result


def soft_404_everywhere(prefix: str) -> WebHost:
    """Every probe of a family answers 200 with the homepage (a catch-all CMS route)."""
    html = {"content-type": "text/html"}
    result = f.web_host()
    for key in f.all_probe_keys(prefix):
        result = f.with_probe(result, key, f.response(f.probe_url(key), 200, html, f.HOMEPAGE))
    return result


def out_of_scope() -> WebHost:
    return f.web_host(active_allowed=False)


def without_probe(key: str) -> WebHost:
    return f.with_probe(f.web_host(), key, None)


# --------------------------------------------------------------------------------------------------
# Contract and cross-cutting behaviour


def test_every_check_has_metadata_and_every_table_a_check() -> None:
    assert sorted(c.id for c in web.CHECKS) == sorted(META)
    assert len({c.id for c in web.CHECKS}) == len(web.CHECKS)


def test_titles_state_the_desired_state() -> None:
    for meta in META.values():
        assert not meta.title.fr.lower().startswith("vérifier")
        assert not meta.title.en.lower().startswith(("ensure", "check"))


def test_probes_are_few_bounded_and_prefixed() -> None:
    requested = f.probe_requests()
    assert len(f.all_probe_keys("sensitive:")) <= 30
    for key, request in requested.items():
        assert key.split(":", 1)[0] in {
            "error",
            "security.txt",
            "sensitive",
            "dirlist",
            "admin",
            "cms",
            "cors",
        }
        assert request.max_bytes <= 65536
    passive = {k for k, r in requested.items() if r.level.value == "passive"}
    assert passive == {"security.txt:/.well-known/security.txt", "security.txt:/security.txt", "cors:/"}
    assert dict(requested["cors:/"].headers)["origin"] == "https://probe.cyberscan.invalid"


@pytest.mark.parametrize("layout", ["apex", "apex+www"])
@pytest.mark.parametrize("check", web.CHECKS, ids=lambda c: c.id)
def test_well_configured_site_has_no_warning(check: type[Check], layout: str) -> None:
    facts = (
        f.http_facts() if layout == "apex" else f.http_facts(f.redirecting_apex(), f.web_host(f.WWW, "www"))
    )
    found = run(check, facts)
    assert found
    bad = [
        (x.resource, x.status, x.message_id)
        for x in found
        if x.status in (Status.WARN, Status.FAIL, Status.ERROR)
    ]
    assert bad == []


@pytest.mark.parametrize("check", web.CHECKS, ids=lambda c: c.id)
def test_no_web_host_is_not_applicable(check: type[Check]) -> None:
    found = run(check, HttpFacts(hosts=()))
    assert [(x.status, x.message_id, x.resource) for x in found] == [
        (Status.NOT_APPLICABLE, "no_host", f.TARGET)
    ]


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        pytest.param(
            f.web_host(
                role="url", resolve_error="NXDOMAIN", resolve_error_kind="nxdomain", http=None, https=None
            ),
            ErrorKind.DNS_FAILURE,
            id="url-nxdomain",
        ),
        pytest.param(
            f.web_host(resolve_error="SERVFAIL", resolve_error_kind="failure", http=None, https=None),
            ErrorKind.DNS_FAILURE,
            id="servfail",
        ),
        pytest.param(
            f.web_host(resolve_error="DNS timeout", resolve_error_kind="timeout", http=None, https=None),
            ErrorKind.TIMEOUT,
            id="dns-timeout",
        ),
        pytest.param(
            f.web_host(
                https=f.chain(f.no_answer(APEX_URL, "timeout", "timed out")),
                http=f.chain(f.no_answer(HTTP_URL, "timeout", "timed out")),
            ),
            ErrorKind.TIMEOUT,
            id="both-time-out",
        ),
        pytest.param(
            f.web_host(https=f.chain(f.no_answer(APEX_URL)), http=f.chain(f.no_answer(HTTP_URL))),
            ErrorKind.UNREACHABLE,
            id="both-refused",
        ),
    ],
)
@pytest.mark.parametrize("check", web.CHECKS, ids=lambda c: c.id)
def test_dead_host_is_an_error_never_a_gap(check: type[Check], host: WebHost, kind: ErrorKind) -> None:
    found = run(check, f.http_facts(host, f.web_host(f.WWW, "www")))
    dead = [x for x in found if f.WWW not in x.resource]
    assert [(x.status, x.error.kind if x.error else None) for x in dead] == [(Status.ERROR, kind)]
    assert any(f.WWW in x.resource and x.status is not Status.ERROR for x in found)


@pytest.mark.parametrize("reason", ["nxdomain", "no_address"])
@pytest.mark.parametrize("check", web.CHECKS, ids=lambda c: c.id)
def test_apex_without_address_is_not_applicable(check: type[Check], reason: str) -> None:
    # Many communes serve their site on www only: a fact about the target, not a scanner error.
    apex = f.web_host(resolve_error=f"{f.APEX}: {reason}", resolve_error_kind=reason, http=None, https=None)
    found = run(check, f.http_facts(apex, f.web_host(f.WWW, "www")))
    [on_apex] = [x for x in found if f.WWW not in x.resource]
    assert (on_apex.status, on_apex.message_id, on_apex.params["host"]) == (
        Status.NOT_APPLICABLE,
        "no_address",
        f.APEX,
    )


ACTIVE_CHECKS = [web.ErrorDisclosure, web.SensitiveFiles, web.DirListing, web.AdminPaths, web.CmsOutdated]


@pytest.mark.parametrize("check", ACTIVE_CHECKS, ids=lambda c: c.id)
def test_active_probes_outside_scope_are_not_tested(check: type[Check]) -> None:
    (finding,) = run(check, f.http_facts(out_of_scope()))
    assert (finding.status, finding.message_id) == (Status.NOT_TESTED, "out_of_scope")
    assert finding.params["host"] == f.APEX


@pytest.mark.parametrize("check", [*ACTIVE_CHECKS, web.SecurityTxt, web.Cors], ids=lambda c: c.id)
def test_a_probe_that_was_not_collected_is_an_error(check: type[Check]) -> None:
    keys = [p.key for p in check.collector_requests(META[check.id].params)]
    (finding,) = run(check, f.http_facts(without_probe(keys[0])))
    assert finding.status is Status.ERROR and finding.error is not None
    assert finding.error.kind is ErrorKind.BUG


@pytest.mark.parametrize("check", [web.SecurityTxt, web.Cors], ids=lambda c: c.id)
def test_passive_probes_run_outside_scope(check: type[Check]) -> None:
    (finding,) = run(check, f.http_facts(out_of_scope()))
    assert finding.status is Status.PASS


def test_hosts_landing_on_the_same_page_give_one_finding() -> None:
    facts = f.http_facts(f.redirecting_apex(), f.web_host(f.WWW, "www"))
    found = run(web.Csp, facts)
    assert [(x.resource, x.status) for x in found] == [(WWW_URL, Status.PASS)]


def test_checks_are_deterministic() -> None:
    facts = f.http_facts(f.redirecting_apex(), site(server="Apache/2.4.57"))
    for check in web.CHECKS:
        assert run(check, facts) == run(check, facts)


# --------------------------------------------------------------------------------------------------
# WEB-HTTPS-AVAILABLE

HTTPS_AVAILABLE = cases(
    web.HttpsAvailable,
    case("verified", f.web_host(), Status.PASS, "pass", version="TLSv1.3", resource=APEX_URL),
    case("http-only", http_only(), Status.FAIL, "http_only", error="connection refused"),
    case(
        "handshake-fails",
        https_first(f.no_answer(APEX_URL, "tls", "handshake failure")),
        Status.FAIL,
        "tls_broken",
        error="handshake failure",
    ),
    case(
        "expired-certificate",
        https_first(
            f.response(
                APEX_URL,
                200,
                f.headers(),
                tls=f.TlsOutcome(False, "certificate has expired", permissive=True, version="TLSv1.0"),
            )
        ),
        Status.FAIL,
        "untrusted",
        error="certificate has expired",
        permissive=True,
        tls_version="TLSv1.0",
    ),
    case(
        "https-sends-back-to-http",
        https_first(f.redirect(APEX_URL, HTTP_URL)),
        Status.FAIL,
        "downgrade",
        location=HTTP_URL,
    ),
    case(
        "deadline",
        https_first(f.no_answer(APEX_URL, "deadline", "deadline passed")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.DEADLINE,
    ),
    case(
        "no-tls-outcome",
        https_first(f.response(APEX_URL, 200, f.headers(), tls=None)),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.BUG,
    ),
)


@pytest.mark.parametrize("row", HTTPS_AVAILABLE)
def test_https_available(row: Case) -> None:
    verify(web.HttpsAvailable, row)


# --------------------------------------------------------------------------------------------------
# WEB-HTTPS-REDIRECT

_PAGE = f.response(APEX_URL, 200, f.headers(), f.HOMEPAGE)
_WWW_PAGE = f.response(WWW_URL, 200, f.headers(), f.HOMEPAGE)

HTTPS_REDIRECT = cases(
    web.HttpsRedirect,
    case("301-same-host", f.web_host(), Status.PASS, "pass", status=301, resource=HTTP_URL),
    case(
        "308-same-host",
        http_chain(f.redirect(HTTP_URL, APEX_URL, 308), _PAGE),
        Status.PASS,
        "pass",
        status=308,
    ),
    case("302", http_chain(f.redirect(HTTP_URL, APEX_URL, 302), _PAGE), Status.WARN, "temporary", status=302),
    case("307", http_chain(f.redirect(HTTP_URL, APEX_URL, 307), _PAGE), Status.WARN, "temporary", status=307),
    case(
        "apex-straight-to-https-www",
        http_chain(f.redirect(HTTP_URL, WWW_URL), _WWW_PAGE),
        Status.WARN,
        "other_host",
        location=WWW_URL,
    ),
    case(
        "via-http-www",
        http_chain(
            f.redirect(HTTP_URL, f"http://{f.WWW}/"), f.redirect(f"http://{f.WWW}/", WWW_URL), _WWW_PAGE
        ),
        Status.WARN,
        "via_http",
        location=WWW_URL,
    ),
    case(
        "content-over-http",
        http_chain(f.response(HTTP_URL, 200, f.headers(), f.HOMEPAGE)),
        Status.FAIL,
        "http_content",
        status=200,
    ),
    case(
        "stays-on-http",
        http_chain(
            f.redirect(HTTP_URL, f"http://{f.WWW}/"),
            f.response(f"http://{f.WWW}/", 200, f.headers(), f.HOMEPAGE),
        ),
        Status.FAIL,
        "stays_http",
    ),
    case(
        "external-http",
        http_chain(
            f.redirect(HTTP_URL, "http://mairie.prestataire.example/"),
            stopped="external",
            next_location="http://mairie.prestataire.example/",
        ),
        Status.FAIL,
        "stays_http",
    ),
    case("no-location", http_chain(f.response(HTTP_URL, 302)), Status.FAIL, "stays_http", location="-"),
    case(
        "port-80-closed",
        f.web_host(http=f.chain(f.no_answer(HTTP_URL))),
        Status.NOT_APPLICABLE,
        "no_http",
        resource=HTTP_URL,
    ),
)


@pytest.mark.parametrize("row", HTTPS_REDIRECT)
def test_https_redirect(row: Case) -> None:
    verify(web.HttpsRedirect, row)


# --------------------------------------------------------------------------------------------------
# WEB-HSTS


def hsts(value: str | None, **host: Any) -> WebHost:
    return f.web_host(headers=f.headers(strict_transport_security=value), **host)


_UNVERIFIED = f.TlsOutcome(False, "self-signed certificate")

HSTS = cases(
    web.Hsts,
    case("one-year-subdomains", f.web_host(), Status.PASS, "pass", max_age=31536000, days=365),
    case("two-years", hsts("max-age=63072000; includeSubDomains"), Status.PASS, "pass", days=730),
    case(
        "preload",
        hsts("max-age=63072000; includeSubDomains; preload"),
        Status.PASS,
        "pass_preload",
        preload=True,
    ),
    case("quoted-and-cased", hsts('Max-Age="31536000"; INCLUDESUBDOMAINS'), Status.PASS, "pass"),
    case("200-days", hsts("max-age=17280000; includeSubDomains"), Status.WARN, "under_year", days=200),
    case("apex-without-subdomains", hsts("max-age=31536000"), Status.WARN, "no_subdomains"),
    case("www-without-subdomains", hsts("max-age=31536000", host=f.WWW, role="www"), Status.PASS, "pass"),
    case(
        "apex-rule-can-be-relaxed",
        hsts("max-age=31536000"),
        Status.PASS,
        "pass",
        params={"apex_include_subdomains": False},
    ),
    case("one-day", hsts("max-age=86400; includeSubDomains"), Status.FAIL, "too_short", days=1),
    case("zero", hsts("max-age=0"), Status.FAIL, "disabled"),
    case("garbage", hsts("max-age=one-year"), Status.FAIL, "invalid"),
    case("no-max-age", hsts("includeSubDomains"), Status.FAIL, "invalid"),
    # "²".isdigit() is true but int("²") raises: a hostile header must be judged, not crash the check
    case("superscript-digit", hsts("max-age=²"), Status.FAIL, "invalid"),
    case("absent", hsts(None), Status.FAIL, "missing"),
    case(
        "untrusted-certificate",
        https_first(f.response(APEX_URL, 200, f.headers(), tls=_UNVERIFIED)),
        Status.FAIL,
        "ignored_tls",
    ),
    case(
        "min-can-be-raised",
        hsts("max-age=31536000; includeSubDomains"),
        Status.FAIL,
        "too_short",
        params={"min_max_age": 63072000},
    ),
    case("no-https", http_only(), Status.NOT_APPLICABLE, "no_https"),
    case(
        "ip-host",
        f.web_host(
            "192.0.2.10",
            "ip",
            https=f.chain(f.response("https://192.0.2.10/", 200, f.headers())),
        ),
        Status.NOT_APPLICABLE,
        "ip_host",
    ),
    case(
        "apex-redirect-carries-hsts",
        f.redirecting_apex(),
        Status.PASS,
        "pass",
        resource=APEX_URL,
    ),
    case(
        "apex-redirect-without-hsts",
        https_first(f.redirect(APEX_URL, WWW_URL), _WWW_PAGE),
        Status.FAIL,
        "missing",
        resource=APEX_URL,
    ),
)


@pytest.mark.parametrize("row", HSTS)
def test_hsts(row: Case) -> None:
    verify(web.Hsts, row)


# --------------------------------------------------------------------------------------------------
# WEB-CSP

_STRICT = "script-src 'self'; object-src 'none'; base-uri 'self'"
_NONCE = "script-src 'nonce-r4nd' 'unsafe-inline'; object-src 'none'; base-uri 'none'"

CSP = cases(
    web.Csp,
    case("strict", f.web_host(), Status.PASS, "pass"),
    case(
        "unsafe-inline",
        site(
            content_security_policy="default-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'"
        ),
        Status.WARN,
        "weak",
        problems="'unsafe-inline'",
        severity=Severity.LOW,
    ),
    case(
        "unsafe-inline-neutralised-by-nonce",
        site(content_security_policy=_NONCE),
        Status.PASS,
        "pass",
    ),
    case(
        "strict-dynamic",
        site(
            content_security_policy=(
                "script-src 'nonce-r4nd' 'strict-dynamic' https: http: 'unsafe-inline'; "
                "object-src 'none'; base-uri 'none'"
            )
        ),
        Status.PASS,
        "pass",
    ),
    case(
        "unsafe-eval",
        site(content_security_policy="script-src 'self' 'unsafe-eval'; object-src 'none'; base-uri 'self'"),
        Status.WARN,
        "weak",
        problems="'unsafe-eval'",
    ),
    case(
        "wildcard-and-data",
        site(content_security_policy="script-src 'self' * data:; object-src 'none'; base-uri 'self'"),
        Status.WARN,
        "weak",
        problems="script-src *, script-src data:",
    ),
    case(
        "clear-text-host",
        site(content_security_policy="script-src http://cdn.example.net; object-src 'none'; base-uri 'self'"),
        Status.WARN,
        "weak",
        problems=contains("http://cdn.example.net"),
    ),
    case(
        "no-object-no-base",
        site(content_security_policy="script-src 'self'"),
        Status.WARN,
        "weak",
        problems="object-src, base-uri",
    ),
    case(
        "default-src-none-covers-objects",
        site(content_security_policy="default-src 'none'; script-src 'self'; base-uri 'self'"),
        Status.PASS,
        "pass",
    ),
    case(
        "no-script-policy",
        site(content_security_policy="frame-ancestors 'self'; upgrade-insecure-requests"),
        Status.WARN,
        "weak",
        severity=Severity.MEDIUM,
        problems=contains("script-src"),
    ),
    case(
        "best-of-two-policies",
        site(content_security_policy=["frame-ancestors 'self'", _STRICT]),
        Status.PASS,
        "pass",
    ),
    case(
        "report-only",
        site(content_security_policy=None, content_security_policy_report_only=_STRICT),
        Status.WARN,
        "report_only",
        severity=Severity.LOW,
    ),
    case(
        "meta-only",
        f.web_host(headers=f.headers(content_security_policy=None), page=f.page(APEX_URL, meta_csp=_STRICT)),
        Status.WARN,
        "meta_only",
    ),
    case("absent", site(content_security_policy=None), Status.WARN, "missing", severity=Severity.MEDIUM),
    case("http-only-site-judged-over-http", http_only(), Status.PASS, "pass", resource=HTTP_URL),
    case(
        "redirect-off-target",
        external_redirect(),
        Status.NOT_APPLICABLE,
        "redirect_only",
        location=EXTERNAL,
    ),
)


@pytest.mark.parametrize("row", CSP)
def test_csp(row: Case) -> None:
    verify(web.Csp, row)


# --------------------------------------------------------------------------------------------------
# WEB-FRAME

_NO_FRAME = {"content_security_policy": _STRICT, "x_frame_options": None}

FRAME = cases(
    web.Frame,
    case("frame-ancestors", f.web_host(), Status.PASS, "pass", via="CSP frame-ancestors"),
    case(
        "xfo-deny",
        site(content_security_policy=_STRICT, x_frame_options="DENY"),
        Status.PASS,
        "pass",
        via="X-Frame-Options",
    ),
    case(
        "broad-ancestors-beat-xfo",
        site(content_security_policy="frame-ancestors *", x_frame_options="DENY"),
        Status.WARN,
        "missing",
    ),
    case(
        "allow-from",
        site(content_security_policy=_STRICT, x_frame_options="ALLOW-FROM https://partenaire.example"),
        Status.WARN,
        "allow_from",
    ),
    case(
        "conflicting-xfo",
        site(content_security_policy=_STRICT, x_frame_options=["DENY", "SAMEORIGIN"]),
        Status.WARN,
        "missing",
    ),
    case("none-with-form", site(**_NO_FRAME), Status.WARN, "missing"),
    case(
        "none-unknown-page",
        f.web_host(headers=f.headers(**_NO_FRAME), page=None),
        Status.WARN,
        "missing",
    ),
    case(
        "none-without-form",
        f.web_host(headers=f.headers(**_NO_FRAME), page=f.page(APEX_URL, has_form=False)),
        Status.INFO,
        "missing_no_form",
    ),
    case("redirect-off-target", external_redirect(), Status.NOT_APPLICABLE, "redirect_only"),
)


@pytest.mark.parametrize("row", FRAME)
def test_frame(row: Case) -> None:
    verify(web.Frame, row)


# --------------------------------------------------------------------------------------------------
# WEB-REFERRER

REFERRER = cases(
    web.Referrer,
    case(
        "strict-origin-when-cross-origin",
        f.web_host(),
        Status.PASS,
        "pass",
        policy="strict-origin-when-cross-origin",
    ),
    case("no-referrer", site(referrer_policy="no-referrer"), Status.PASS, "pass"),
    case("same-origin", site(referrer_policy="Same-Origin"), Status.PASS, "pass", policy="same-origin"),
    case("unsafe-url", site(referrer_policy="unsafe-url"), Status.FAIL, "leaky", policy="unsafe-url"),
    case("downgrade", site(referrer_policy="no-referrer-when-downgrade"), Status.FAIL, "leaky"),
    case("origin", site(referrer_policy="origin"), Status.WARN, "weak", policy="origin"),
    case(
        "last-known-wins",
        site(referrer_policy="unsafe-url, strict-origin"),
        Status.PASS,
        "pass",
        policy="strict-origin",
    ),
    case("unknown-token-skipped", site(referrer_policy="strict-origin, made-up"), Status.PASS, "pass"),
    case("only-unknown", site(referrer_policy="made-up"), Status.WARN, "missing"),
    case("absent", site(referrer_policy=None), Status.WARN, "missing"),
    case("redirect-off-target", external_redirect(), Status.NOT_APPLICABLE, "redirect_only"),
)


@pytest.mark.parametrize("row", REFERRER)
def test_referrer(row: Case) -> None:
    verify(web.Referrer, row)


# --------------------------------------------------------------------------------------------------
# WEB-NOSNIFF

NOSNIFF = cases(
    web.Nosniff,
    case("both", f.web_host(), Status.PASS, "pass"),
    case(
        "no-nosniff",
        site(x_content_type_options=None),
        Status.WARN,
        "missing",
        headers="X-Content-Type-Options: nosniff",
    ),
    case("wrong-value", site(x_content_type_options="sniff"), Status.WARN, "missing"),
    case("no-content-type", site(content_type=None), Status.WARN, "missing", headers="Content-Type"),
    case(
        "neither",
        site(content_type=None, x_content_type_options=None),
        Status.WARN,
        "missing",
        headers="X-Content-Type-Options: nosniff, Content-Type",
    ),
    case("redirect-off-target", external_redirect(), Status.NOT_APPLICABLE, "redirect_only"),
)


@pytest.mark.parametrize("row", NOSNIFF)
def test_nosniff(row: Case) -> None:
    verify(web.Nosniff, row)


# --------------------------------------------------------------------------------------------------
# WEB-COOKIE-FLAGS

_WP_AUTH = "wordpress_logged_in_0123456789abcdef0123456789abcdef"


def cookies(*values: str, **host: Any) -> WebHost:
    return f.web_host(headers=f.headers(set_cookie=list(values)), **host)


COOKIES = cases(
    web.CookieFlags,
    case("hardened", f.web_host(), Status.PASS, "pass", count=1),
    case(
        "host-prefix-bonus",
        cookies("__Host-sid=1; Path=/; Secure; HttpOnly; SameSite=Strict"),
        Status.PASS,
        "pass",
        cookies=lambda c: c[0]["host_prefix"] is True,
    ),
    case(
        "session-without-secure",
        cookies("PHPSESSID=1; Path=/; HttpOnly; SameSite=Lax"),
        Status.FAIL,
        "session_flags",
        cookies="PHPSESSID (Secure)",
    ),
    case(
        "session-without-httponly",
        cookies("JSESSIONID=1; Path=/; Secure; SameSite=Lax"),
        Status.FAIL,
        "session_flags",
        cookies="JSESSIONID (HttpOnly)",
    ),
    case(
        "joomla-session-bare",
        cookies("3f2b6c1d0e9a8b7c6d5e4f3a2b1c0d9e=abc; path=/"),
        Status.FAIL,
        "session_flags",
        cookies="3f2b6c1d0e9a8b7c6d5e4f3a2b1c0d9e (Secure, HttpOnly)",
    ),
    case(
        "samesite-none",
        cookies("ASP.NET_SessionId=1; Secure; HttpOnly; SameSite=None"),
        Status.WARN,
        "weak_attributes",
        cookies="ASP.NET_SessionId (SameSite=none)",
    ),
    case(
        "samesite-absent",
        cookies("laravel_session=1; Secure; HttpOnly"),
        Status.WARN,
        "weak_attributes",
        cookies="laravel_session (SameSite)",
    ),
    case(
        "parent-domain",
        cookies(
            "PHPSESSID=1; Domain=mairie-exemple.fr; Secure; HttpOnly; SameSite=Lax", host=f.WWW, role="www"
        ),
        Status.WARN,
        "weak_attributes",
        cookies="PHPSESSID (Domain=mairie-exemple.fr)",
    ),
    case(
        "apex-domain-shared-with-subdomains",
        cookies("PHPSESSID=1; Domain=.mairie-exemple.fr; Secure; HttpOnly; SameSite=Lax"),
        Status.WARN,
        "weak_attributes",
    ),
    case(
        "www-own-domain-is-fine",
        cookies(
            "PHPSESSID=1; Domain=www.mairie-exemple.fr; Secure; HttpOnly; SameSite=Lax",
            host=f.WWW,
            role="www",
        ),
        Status.PASS,
        "pass",
    ),
    case(
        "preference-without-secure",
        cookies("lang=fr; Path=/; SameSite=Lax"),
        Status.WARN,
        "weak_attributes",
        cookies="lang (Secure)",
    ),
    case("preference-without-httponly", cookies("lang=fr; Secure; SameSite=Lax"), Status.PASS, "pass"),
    case(
        "deleted-cookie-ignored",
        cookies("PHPSESSID=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"),
        Status.NOT_APPLICABLE,
        "no_cookie",
    ),
    case("no-cookie", site(set_cookie=None), Status.NOT_APPLICABLE, "no_cookie"),
    case("no-https", http_only(), Status.NOT_APPLICABLE, "no_https"),
    case(
        "login-page-cookie",
        probe(
            "admin:/wp-login.php",
            200,
            "<form id='loginform'><input id=\"wp-submit\"></form>",
            {
                "set-cookie": [
                    f"{_WP_AUTH}=x; path=/; secure; samesite=lax",
                    "wordpress_test_cookie=WP; path=/",
                ]
            },
        ),
        Status.FAIL,
        "session_flags",
        cookies=f"{_WP_AUTH} (HttpOnly)",
    ),
    case(
        "custom-session-pattern",
        cookies("mairie_token=1; Secure; SameSite=Lax"),
        Status.FAIL,
        "session_flags",
        params={"session_cookie_pattern": "mairie_token"},
    ),
)


@pytest.mark.parametrize("row", COOKIES)
def test_cookie_flags(row: Case) -> None:
    verify(web.CookieFlags, row)


# --------------------------------------------------------------------------------------------------
# WEB-MIXED-CONTENT

_PDF_PAGE = f.response(APEX_URL, 200, {"content-type": "application/pdf"}, "%PDF-1.7")

MIXED = cases(
    web.MixedContent,
    case("all-https", f.web_host(), Status.PASS, "pass"),
    case(
        "clear-script",
        with_elements(
            PageElement("script", "http://cdn.example.net/a.js"), PageElement("img", "http://x.example/a.png")
        ),
        Status.FAIL,
        "active",
        count=1,
        passive=["http://x.example/a.png"],
    ),
    case(
        "clear-iframe", with_elements(PageElement("iframe", "http://carte.example/")), Status.FAIL, "active"
    ),
    case(
        "clear-form",
        with_elements(PageElement("form", "http://mairie-exemple.fr/contact")),
        Status.FAIL,
        "form",
        severity=Severity.HIGH,
    ),
    case(
        "clear-image",
        with_elements(PageElement("img", "http://x.example/a.png")),
        Status.WARN,
        "passive",
        count=1,
    ),
    case("page-over-http", http_only(), Status.NOT_APPLICABLE, "not_https"),
    case(
        "html-not-parsed",
        f.web_host(page=None),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.PROTOCOL,
    ),
    case("not-html", f.web_host(https=f.chain(_PDF_PAGE), page=None), Status.NOT_APPLICABLE, "no_page"),
    case("redirect-off-target", external_redirect(), Status.NOT_APPLICABLE, "redirect_only"),
)


@pytest.mark.parametrize("row", MIXED)
def test_mixed_content(row: Case) -> None:
    verify(web.MixedContent, row)


# --------------------------------------------------------------------------------------------------
# WEB-THIRDPARTY-SRI

SRI = cases(
    web.ThirdPartySri,
    case(
        "third-party-with-integrity",
        f.web_host(),
        Status.PASS,
        "pass",
        count=1,
        script_origins=["https://cdn.example.net"],
    ),
    case(
        "third-party-without-integrity",
        with_elements(
            PageElement("script", "https://cdn.example.net/lib.js"),
            PageElement("stylesheet", "https://fonts.example.com/css", integrity="md5-abc"),
        ),
        Status.WARN,
        "missing",
        count=2,
        origins="https://cdn.example.net, https://fonts.example.com",
    ),
    case(
        "own-subdomains-are-first-party",
        with_elements(
            PageElement("script", "https://static.mairie-exemple.fr/a.js"),
            PageElement("script", "https://www.mairie-exemple.fr/b.js"),
            PageElement("img", "https://images.example.net/c.png"),
        ),
        Status.PASS,
        "none",
    ),
    case(
        "declared-first-party",
        with_elements(PageElement("script", "https://cdn.agglo-exemple.fr/a.js")),
        Status.PASS,
        "none",
        params={"first_party_domains": ["agglo-exemple.fr"]},
    ),
    case("html-not-parsed", f.web_host(page=None), Status.ERROR, "error"),
    case("not-html", f.web_host(https=f.chain(_PDF_PAGE), page=None), Status.NOT_APPLICABLE, "no_page"),
    case("redirect-off-target", external_redirect(), Status.NOT_APPLICABLE, "redirect_only"),
)


@pytest.mark.parametrize("row", SRI)
def test_thirdparty_sri(row: Case) -> None:
    verify(web.ThirdPartySri, row)


# --------------------------------------------------------------------------------------------------
# WEB-INFO-DISCLOSURE

INFO = cases(
    web.InfoDisclosure,
    case("silent", f.web_host(), Status.PASS, "pass"),
    case("product-only", site(server="nginx"), Status.INFO, "products", sources="Server"),
    case("apache-version", site(server="Apache/2.4.57 (Debian)"), Status.WARN, "versions", sources="Server"),
    case("iis-version", site(server="Microsoft-IIS/10.0"), Status.WARN, "versions"),
    case("php-version", site(x_powered_by="PHP/8.1.2"), Status.WARN, "versions", sources="X-Powered-By"),
    case(
        "aspnet-version",
        site(x_aspnet_version="4.0.30319"),
        Status.WARN,
        "versions",
        sources="X-Aspnet-Version",
    ),
    case("drupal-major", site(x_generator="Drupal 10 (https://www.drupal.org)"), Status.WARN, "versions"),
    case(
        "generator-version",
        with_page(generators=("WordPress 6.4.2",)),
        Status.WARN,
        "versions",
        sources="generator",
    ),
    case(
        "generator-product",
        with_page(generators=("Joomla! - Open Source Content Management",)),
        Status.INFO,
        "products",
        sources="generator",
    ),
    case(
        "versioned-asset",
        with_page(versioned_assets=("https://mairie-exemple.fr/wp-includes/js/jquery.min.js?ver=3.7.1",)),
        Status.WARN,
        "versions",
        sources="?ver=",
    ),
    case(
        "cache-buster-is-not-a-version",
        with_page(versioned_assets=("https://mairie-exemple.fr/app.js?v=9f3a2c",)),
        Status.PASS,
        "pass",
    ),
    case(
        "product-and-version",
        site(server="nginx", x_powered_by="PHP/7.4.33"),
        Status.WARN,
        "versions",
        sources="X-Powered-By",
        banners=["Server: nginx", "X-Powered-By: PHP/7.4.33"],
    ),
)


@pytest.mark.parametrize("row", INFO)
def test_info_disclosure(row: Case) -> None:
    verify(web.InfoDisclosure, row)


# --------------------------------------------------------------------------------------------------
# WEB-ERROR-DISCLOSURE

_ERR = "error:/cyberscan-{random}"

ERRORS = cases(
    web.ErrorDisclosure,
    case("plain-404", f.web_host(), Status.PASS, "pass", resource=f.probe_url(_ERR)),
    case(
        "symfony",
        probe(_ERR, 404, '<div class="exception-summary"><h2>Symfony\\Component\\Routing\\Exception</h2>'),
        Status.FAIL,
        "debug_page",
        product="Symfony",
        excerpt=contains("Symfony"),
    ),
    case(
        "laravel",
        probe(_ERR, 500, "<h1>Whoops, looks like something went wrong.</h1>"),
        Status.FAIL,
        "debug_page",
        product="Laravel",
    ),
    case(
        "django",
        probe(_ERR, 404, "<p>Using the URLconf defined in <code>mairie.urls</code>, Django tried these</p>"),
        Status.FAIL,
        "debug_page",
        product="Django",
    ),
    case(
        "flask",
        probe(_ERR, 500, 'Traceback (most recent call last):\n  File "app.py"'),
        Status.FAIL,
        "debug_page",
        product="Python",
    ),
    case(
        "aspnet-details",
        probe(
            _ERR,
            404,
            "<h1>Server Error in '/' Application.</h1><h2>The resource cannot be found.</h2>"
            "<b>Version Information:</b> Microsoft .NET Framework Version:4.0.30319",
        ),
        Status.FAIL,
        "debug_page",
        product="ASP.NET",
    ),
    case(
        "aspnet-generic",
        probe(_ERR, 500, "<h1>Server Error in '/' Application.</h1><h2><i>Runtime Error</i></h2>"),
        Status.PASS,
        "pass",
    ),
    case(
        "php-warning",
        probe(
            _ERR,
            200,
            "<b>Warning</b>:  include(x.php): Failed to open stream"
            " in <b>/var/www/html/index.php</b> on line <b>12</b>",
        ),
        Status.FAIL,
        "debug_page",
        product="PHP",
    ),
    case(
        "php8-uncaught",
        probe(
            _ERR,
            500,
            "<br />\nFatal error: Uncaught Exception: Page introuvable in /var/www/html/index.php:12\n"
            "Stack trace:\n#0 /var/www/html/wp-includes/template-loader.php(74): include()\n",
        ),
        Status.FAIL,
        "debug_page",
        product="PHP",
        excerpt=contains("/var/www/html/index.php:12"),
    ),
    case(
        "bare-stack-trace",
        probe(_ERR, 500, "Stack trace:\n#0 {main}"),
        Status.FAIL,
        "debug_page",
        product="PHP",
    ),
    case(
        "java",
        probe(
            _ERR,
            500,
            "java.lang.NullPointerException\n"
            "\tat org.apache.catalina.core.StandardWrapperValve.invoke(StandardWrapperValve.java:199)",
        ),
        Status.FAIL,
        "debug_page",
        product="Java",
    ),
    case(
        "node",
        probe(
            _ERR,
            404,
            "Error: not found\n    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)",
        ),
        Status.FAIL,
        "debug_page",
        product="Node.js",
    ),
    case(
        "rails",
        probe(_ERR, 404, "<p><code>Rails.root: /srv/app</code></p>"),
        Status.FAIL,
        "debug_page",
        product="Ruby on Rails",
    ),
    case(
        "prose-is-not-a-trace",
        probe(_ERR, 404, "<p>Warning: this page was not found.</p>"),
        Status.PASS,
        "pass",
    ),
    case("timeout", probe(_ERR, None), Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
    case(
        "refused-by-scope",
        f.with_probe(f.web_host(), _ERR, f.no_answer(f.probe_url(_ERR), "out_of_scope", "outside scope")),
        Status.NOT_TESTED,
        "out_of_scope",
    ),
)


@pytest.mark.parametrize("row", ERRORS)
def test_error_disclosure(row: Case) -> None:
    verify(web.ErrorDisclosure, row)


# --------------------------------------------------------------------------------------------------
# WEB-SECURITY-TXT

_WK = "security.txt:/.well-known/security.txt"
_LEGACY = "security.txt:/security.txt"
_TEXT = {"content-type": "text/plain", "date": f.DATE}


def sectxt(body: str, *, key: str = _WK, headers: Any = None, **host: Any) -> WebHost:
    return probe(key, 200, body, _TEXT if headers is None else headers, **host)


_SIGNED = (
    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
    + f.security_txt()
    + "-----BEGIN PGP SIGNATURE-----\n"
)

SECURITY_TXT = cases(
    web.SecurityTxt,
    case(
        "valid", f.web_host(), Status.PASS, "pass", expires="2026-01-01T00:00:00Z", french=True, signed=False
    ),
    case("signed", sectxt(_SIGNED), Status.PASS, "pass", signed=True),
    case("expired", sectxt(f.security_txt(expires="2025-01-01T00:00:00Z")), Status.WARN, "expired"),
    case("too-far", sectxt(f.security_txt(expires="2027-01-01T00:00:00Z")), Status.WARN, "expires_far"),
    case("no-expires", sectxt(f.security_txt(expires="")), Status.WARN, "no_expires"),
    case("bad-expires", sectxt(f.security_txt(expires="l'an prochain")), Status.WARN, "bad_expires"),
    case("no-contact", sectxt(f.security_txt(contact=None)), Status.WARN, "no_contact"),
    case(
        "clear-text",
        f.with_probe(
            http_only(),
            _WK,
            f.response(f"http://{f.APEX}/.well-known/security.txt", 200, _TEXT, f.security_txt()),
        ),
        Status.WARN,
        "not_https",
    ),
    case(
        "legacy-only",
        f.with_probe(
            sectxt(f.security_txt(), key=_LEGACY),
            _WK,
            f.response(f.probe_url(_WK), 404, {"content-type": "text/html"}, f.NOT_FOUND),
        ),
        Status.WARN,
        "legacy_only",
    ),
    case(
        "absent",
        probe(_WK, 404, f.NOT_FOUND, {"content-type": "text/html"}),
        Status.FAIL,
        "missing",
        severity=Severity.LOW,
    ),
    case(
        "soft-404",
        sectxt(f.HOMEPAGE, headers={"content-type": "text/html", "date": f.DATE}),
        Status.FAIL,
        "missing",
    ),
    case(
        "no-date-header",
        sectxt(f.security_txt(), headers={"content-type": "text/plain"}),
        Status.INFO,
        "expiry_unchecked",
    ),
    case(
        "both-unanswered",
        f.with_probe(probe(_WK, None), _LEGACY, f.no_answer(f.probe_url(_LEGACY), "timeout", "timed out")),
        Status.ERROR,
        "error",
        error_kind=ErrorKind.TIMEOUT,
    ),
)


@pytest.mark.parametrize("row", SECURITY_TXT)
def test_security_txt(row: Case) -> None:
    verify(web.SecurityTxt, row)


def test_security_txt_follows_redirect_to_another_host_of_the_target() -> None:
    apex = f.with_probe(f.web_host(), _WK, f.redirect(f.probe_url(_WK), f.probe_url(_WK, f.WWW)))
    apex = f.with_probe(apex, _LEGACY, f.response(f.probe_url(_LEGACY), 404, None, f.NOT_FOUND))
    found = run(web.SecurityTxt, f.http_facts(apex, f.web_host(f.WWW, "www")))
    assert [(x.status, x.message_id, x.resource) for x in found] == [
        (Status.PASS, "pass", f.probe_url(_WK, f.WWW))
    ]


def test_security_txt_does_not_follow_redirects_off_target() -> None:
    apex = f.with_probe(
        f.web_host(), _WK, f.redirect(f.probe_url(_WK), "https://elsewhere.example/.well-known/security.txt")
    )
    (finding,) = run(web.SecurityTxt, f.http_facts(apex))
    assert (finding.status, finding.message_id) == (Status.FAIL, "missing")


# --------------------------------------------------------------------------------------------------
# WEB-SENSITIVE-FILES


def exposed_severity(value: Severity) -> Callable[[Any], bool]:
    return lambda finding_severity: finding_severity is value


SENSITIVE = cases(
    web.SensitiveFiles,
    case("nothing", f.web_host(), Status.PASS, "pass", count=28),
    case(
        "git-head",
        probes({"sensitive:/.git/HEAD": (200, "ref: refs/heads/main\n")}),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
        paths="/.git/HEAD",
    ),
    case(
        "git-config",
        probes({"sensitive:/.git/config": (200, "[core]\n\trepositoryformatversion = 0\n")}),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
    ),
    case(
        "dotenv-secret-never-copied",
        probes({"sensitive:/.env": (200, "APP_ENV=prod\nDB_PASSWORD=hunter2\n")}),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
        exposed=lambda items: items[0]["excerpt"] == "APP_ENV=" and "hunter2" not in str(items),
    ),
    case(
        "wp-config-backup",
        probes(
            {
                "sensitive:/wp-config.php.bak": (
                    200,
                    "<?php\ndefine( 'DB_NAME', 'mairie' );\ndefine( 'DB_PASSWORD', 'x' );",
                )
            }
        ),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
    ),
    case(
        "zip",
        probes({"sensitive:/backup.zip": (200, "PK\x03\x04\x14\x00\x00\x00")}),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
    ),
    case(
        "gzip",
        probes({"sensitive:/backup.tar.gz": (200, "\x1f\ufffd\x08\x00")}),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
    ),
    case(
        "sql-dump",
        probes(
            {"sensitive:/dump.sql": (200, "-- MySQL dump 10.13  Distrib 8.0.36\n--\n-- Host: localhost\n")}
        ),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
    ),
    case(
        "phpinfo",
        probes({"sensitive:/phpinfo.php": (200, "<html><head><title>PHP 8.2.7 - phpinfo()</title></head>")}),
        Status.FAIL,
        "exposed",
        severity=Severity.HIGH,
    ),
    case(
        "server-status",
        probes(
            {
                "sensitive:/server-status": (
                    200,
                    "<html><head><title>Apache Status</title></head><h1>Apache Server Status for www</h1>",
                )
            }
        ),
        Status.FAIL,
        "exposed",
        severity=Severity.HIGH,
    ),
    case(
        "worst-first",
        probes({"sensitive:/phpinfo.php": (200, "phpinfo()"), "sensitive:/.env": (200, "DB_HOST=db\n")}),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
        paths=contains("/.env"),
    ),
    case(
        "ds-store",
        probes({"sensitive:/.DS_Store": (200, "\x00\x00\x00\x01Bud1\x00\x00")}),
        Status.WARN,
        "artefacts",
        severity=Severity.LOW,
    ),
    case(
        "htpasswd",
        probes({"sensitive:/.htpasswd": (200, "admin:$apr1$x1y2$abcdefghijk\n")}),
        Status.WARN,
        "artefacts",
    ),
    case(
        "svn",
        probes({"sensitive:/.svn/entries": (200, "12\n")}),
        Status.WARN,
        "artefacts",
        severity=Severity.MEDIUM,
    ),
    case(
        "severity-is-a-param",
        probes({"sensitive:/.htpasswd": (200, "admin:$2y$10$abcdefghijklmnopqrstuv\n")}),
        Status.FAIL,
        "exposed",
        params={"kind_severity": {"htpasswd": "high"}},
        severity=Severity.HIGH,
    ),
    case("soft-404-html", soft_404_everywhere("sensitive:"), Status.PASS, "pass"),
    case(
        "html-mentioning-sql",
        probes(
            {"sensitive:/dump.sql": (200, "<!DOCTYPE html><html><body>\nCREATE TABLE tutorial</body></html>")}
        ),
        Status.PASS,
        "pass",
    ),
    case("403-is-not-exposure", probes({"sensitive:/.env": (403, "DB_HOST=db\n")}), Status.PASS, "pass"),
    case("one-timeout", probe("sensitive:/.env", None), Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
    case(
        "found-despite-timeout",
        f.with_probe(
            probes({"sensitive:/.git/HEAD": (200, "0123456789abcdef0123456789abcdef01234567\n")}),
            "sensitive:/.env",
            f.no_answer(f.probe_url("sensitive:/.env"), "timeout", "timed out"),
        ),
        Status.FAIL,
        "exposed",
        unanswered=1,
    ),
)


@pytest.mark.parametrize("row", SENSITIVE)
def test_sensitive_files(row: Case) -> None:
    verify(web.SensitiveFiles, row)


def test_user_paths_are_probed_and_confirmed_by_any_signature() -> None:
    params = {"paths": ["/old-site.txt"]}
    requested = web.SensitiveFiles.collector_requests({**META["WEB-SENSITIVE-FILES"].params, **params})
    assert [(p.key, p.path, p.level.value) for p in requested] == [
        ("sensitive:/old-site.txt", "/old-site.txt", "active")
    ]
    host = f.web_host(
        probes={
            "sensitive:/old-site.txt": f.response(
                APEX_URL + "old-site.txt", 200, None, "-- MySQL dump 10.13\n"
            )
        }
    )
    (finding,) = run(web.SensitiveFiles, f.http_facts(host), params)
    assert (finding.status, finding.evidence["exposed"][0]["kind"]) == (Status.FAIL, "sql")


# --------------------------------------------------------------------------------------------------
# WEB-DIR-LISTING


def listing(path: str, *names: str) -> str:
    links = "".join(f'<a href="{n}">{n}</a>\n' for n in names)
    head = f"<html><head><title>Index of {path}</title></head>"
    return f"{head}<body><h1>Index of {path}</h1>{links}</body></html>"


DIR_LISTING = cases(
    web.DirListing,
    case("no-listing", f.web_host(), Status.PASS, "pass"),
    case(
        "uploads-listed",
        probes(
            {"dirlist:/uploads/": (200, listing("/uploads", "2024/", "affiche-fete.jpg", "bulletin.pdf"))}
        ),
        Status.WARN,
        "listing",
        paths="/uploads/",
    ),
    case(
        "iis-listing",
        probes({"dirlist:/files/": (200, '<pre><A HREF="/">[To Parent Directory]</A><br>')}),
        Status.WARN,
        "listing",
    ),
    case(
        "listing-with-dump",
        probes(
            {
                "dirlist:/documents/": (
                    200,
                    listing("/documents", "inscrits-cantine.xlsx", "backup%202023.sql"),
                )
            }
        ),
        Status.FAIL,
        "sensitive",
        severity=Severity.HIGH,
        files="backup 2023.sql, inscrits-cantine.xlsx",
    ),
    case("soft-404-html", soft_404_everywhere("dirlist:"), Status.PASS, "pass"),
    case("one-timeout", probe("dirlist:/IMG/", None), Status.ERROR, "error"),
)


@pytest.mark.parametrize("row", DIR_LISTING)
def test_dir_listing(row: Case) -> None:
    verify(web.DirListing, row)


# --------------------------------------------------------------------------------------------------
# WEB-ADMIN-PATHS

_PMA = '<title>phpMyAdmin</title><form><input type="text" name="pma_username" id="input_username">'

ADMIN = cases(
    web.AdminPaths,
    case("nothing", f.web_host(), Status.PASS, "pass"),
    case(
        "wordpress-login",
        probes({"admin:/wp-login.php": (200, '<form name="loginform"><input type="submit" id="wp-submit">')}),
        Status.WARN,
        "cms_login",
        severity=Severity.LOW,
        products="WordPress",
        paths="/wp-login.php",
    ),
    case(
        "wp-admin-redirects-to-login",
        probe(
            "admin:/wp-admin/",
            302,
            headers={"location": "https://mairie-exemple.fr/wp-login.php?redirect_to=x"},
        ),
        Status.WARN,
        "cms_login",
    ),
    case(
        "redirect-home-is-nothing",
        probe("admin:/wp-admin/", 302, headers={"location": "https://mairie-exemple.fr/"}),
        Status.PASS,
        "pass",
    ),
    case(
        "spip-ecrire",
        probe("admin:/ecrire/", 302, headers={"location": "../spip.php?page=login&url=ecrire%2F"}),
        Status.WARN,
        "cms_login",
        products="SPIP",
    ),
    case(
        "joomla",
        probes(
            {
                "admin:/administrator/": (
                    200,
                    '<form action="index.php" id="form-login"><input name="option" value="com_login">',
                )
            }
        ),
        Status.WARN,
        "cms_login",
        products="Joomla",
    ),
    # WordPress answers a GET on xmlrpc.php with 405 and this sentence when XML-RPC is on.
    case(
        "xmlrpc-405",
        probes({"admin:/xmlrpc.php": (405, "XML-RPC server accepts POST requests only.")}),
        Status.WARN,
        "xmlrpc",
        products="WordPress XML-RPC",
    ),
    case(
        "xmlrpc-disabled-by-plugin",
        probes({"admin:/xmlrpc.php": (403, "XML-RPC services are disabled on this site.")}),
        Status.PASS,
        "pass",
    ),
    case(
        "xmlrpc-enabled",
        probes(
            {
                "admin:/xmlrpc.php": (200, "XML-RPC server accepts POST requests only."),
                "admin:/wp-login.php": (200, 'id="wp-submit"'),
            }
        ),
        Status.WARN,
        "xmlrpc",
        severity=Severity.MEDIUM,
        paths="/xmlrpc.php, /wp-login.php",
    ),
    case(
        "phpmyadmin",
        probes({"admin:/phpmyadmin/": (200, _PMA), "admin:/wp-login.php": (200, 'id="wp-submit"')}),
        Status.FAIL,
        "db_admin",
        severity=Severity.HIGH,
        products="phpMyAdmin, WordPress",
    ),
    case(
        "adminer",
        probes({"admin:/adminer.php": (200, '<input name="auth[username]">')}),
        Status.FAIL,
        "db_admin",
    ),
    case("phpmyadmin-behind-basic-auth", probes({"admin:/phpmyadmin/": (401, _PMA)}), Status.PASS, "pass"),
    case(
        "soft-404-naming-the-path",
        probes(
            {
                "admin:/phpmyadmin/": (
                    200,
                    "<h1>Page introuvable</h1><p>/phpmyadmin/ n'existe pas (phpMyAdmin ?)</p>",
                )
            }
        ),
        Status.PASS,
        "pass",
    ),
    case("soft-404-html", soft_404_everywhere("admin:"), Status.PASS, "pass"),
    case("one-timeout", probe("admin:/typo3/", None), Status.ERROR, "error"),
)


@pytest.mark.parametrize("row", ADMIN)
def test_admin_paths(row: Case) -> None:
    verify(web.AdminPaths, row)


# --------------------------------------------------------------------------------------------------
# WEB-CMS-OUTDATED


def cms(*generators: str, **page_changes: Any) -> WebHost:
    return with_page(generators=generators, **page_changes)


_WP_ASSET = "https://mairie-exemple.fr/wp-includes/js/wp-emoji-release.min.js?ver={}"
_WP_PLUGIN = "https://mairie-exemple.fr/wp-content/plugins/agenda/app.js?ver=6.9.0"
_JOOMLA_XML = '<?xml version="1.0"?>\n<extension type="file"><name>files_joomla</name>\n<version>{}</version>'

CMS = cases(
    web.CmsOutdated,
    case("no-cms", f.web_host(), Status.NOT_APPLICABLE, "no_cms"),
    case(
        "wordpress-current",
        cms("WordPress 6.8.3"),
        Status.PASS,
        "pass",
        cms="WordPress",
        version="6.8.3",
        as_of="2025-10-01",
    ),
    case("wordpress-newer-than-data", cms("WordPress 6.9.1"), Status.PASS, "pass"),
    case("wordpress-behind", cms("WordPress 6.4.2"), Status.WARN, "behind", latest="6.8.3", version="6.4.2"),
    case("wordpress-branch-point-release", cms("WordPress 6.8"), Status.WARN, "behind", latest="6.8.3"),
    case("wordpress-eol", cms("WordPress 4.6.1"), Status.FAIL, "eol", version="4.6.1"),
    case(
        "wordpress-core-asset",
        with_page(versioned_assets=(_WP_ASSET.format("6.8.3"), _WP_PLUGIN)),
        Status.PASS,
        "pass",
        version="6.8.3",
    ),
    case(
        "plugin-version-is-not-core",
        with_page(versioned_assets=(_WP_PLUGIN,)),
        Status.INFO,
        "version_hidden",
        cms="WordPress",
    ),
    case(
        "wordpress-readme",
        f.with_probe(
            with_elements(
                PageElement("stylesheet", "https://mairie-exemple.fr/wp-content/themes/t/style.css")
            ),
            "cms:/readme.html",
            f.response(
                f.probe_url("cms:/readme.html"),
                200,
                None,
                "<title>WordPress &#8250; ReadMe</title><br /> Version 6.2",
            ),
        ),
        Status.WARN,
        "behind",
        version="6.2",
    ),
    case(
        "drupal-7",
        cms("Drupal 7 (http://drupal.org)"),
        Status.FAIL,
        "eol",
        severity=Severity.HIGH,
        version="7",
    ),
    case(
        "drupal-10-major-only",
        cms("Drupal 10 (https://www.drupal.org)"),
        Status.INFO,
        "version_partial",
        version="10",
    ),
    case(
        "drupal-asset-no-reference",
        with_page(versioned_assets=("https://mairie-exemple.fr/core/misc/drupal.js?v=10.4.5",)),
        Status.INFO,
        "no_reference",
        version="10.4.5",
    ),
    case(
        "drupal-changelog",
        probes({"cms:/CHANGELOG.txt": (200, "Drupal 7.98, 2023-06-07\n-----------------------\n")}),
        Status.FAIL,
        "eol",
        version="7.98",
    ),
    case(
        "joomla-3-manifest",
        f.with_probe(
            cms("Joomla! - Open Source Content Management"),
            "cms:/administrator/manifests/files/joomla.xml",
            f.response(
                f.probe_url("cms:/administrator/manifests/files/joomla.xml"),
                200,
                None,
                _JOOMLA_XML.format("3.10.12"),
            ),
        ),
        Status.FAIL,
        "eol",
        cms="Joomla!",
        version="3.10.12",
    ),
    case(
        "joomla-hidden",
        cms("Joomla! - Open Source Content Management"),
        Status.INFO,
        "version_hidden",
        cms="Joomla!",
    ),
    case(
        "spip-header",
        site(composed_by="SPIP 4.2.8 @ www.spip.net + spip(4.2.8)"),
        Status.INFO,
        "no_reference",
        cms="SPIP",
    ),
    case("spip-3", cms("SPIP 3.2.19 [24473]"), Status.FAIL, "eol"),
    case("typo3-hidden", cms("TYPO3 CMS"), Status.INFO, "version_hidden", cms="TYPO3"),
    case("typo3-old", cms("TYPO3 4.5 CMS"), Status.FAIL, "eol", version="4.5"),
    case(
        "passive-version-needs-no-scope",
        f.web_host(page=f.page(APEX_URL, generators=("WordPress 6.4.2",)), active_allowed=False),
        Status.WARN,
        "behind",
    ),
    case(
        "hidden-version-outside-scope",
        f.web_host(page=f.page(APEX_URL, generators=("WordPress",)), active_allowed=False),
        Status.INFO,
        "version_hidden",
        probes=contains("outside the scope"),
    ),
    case(
        "reference-data-is-a-param",
        cms("WordPress 6.8.3"),
        Status.WARN,
        "behind",
        params={
            "as_of": "2026-06-01",
            "versions": {"wordpress": {"branch_depth": 2, "eol": [], "latest": ["6.9.4"]}},
        },
        latest="6.9.4",
        as_of="2026-06-01",
    ),
)


@pytest.mark.parametrize("row", CMS)
def test_cms_outdated(row: Case) -> None:
    verify(web.CmsOutdated, row)


def test_cms_probe_missing_only_matters_when_needed() -> None:
    host = f.with_probe(cms("WordPress 6.8.3"), "cms:/readme.html", None)
    (finding,) = run(web.CmsOutdated, f.http_facts(host))
    assert finding.status is Status.PASS


# --------------------------------------------------------------------------------------------------
# WEB-CORS

_ORIGIN = "https://probe.cyberscan.invalid"


def cors(**answer_headers: str) -> WebHost:
    names = {k.replace("_", "-"): v for k, v in answer_headers.items()}
    return probe("cors:/", 200, "", {"content-type": "text/html", **names})


CORS = cases(
    web.Cors,
    case("no-cors", f.web_host(), Status.PASS, "pass"),
    case(
        "reflected-with-credentials",
        cors(access_control_allow_origin=_ORIGIN, access_control_allow_credentials="true"),
        Status.FAIL,
        "reflected_credentials",
        allow_origin=_ORIGIN,
    ),
    case(
        "null-with-credentials",
        cors(access_control_allow_origin="null", access_control_allow_credentials="True"),
        Status.FAIL,
        "null_credentials",
    ),
    case(
        "reflected",
        cors(access_control_allow_origin=_ORIGIN),
        Status.WARN,
        "reflected",
        severity=Severity.LOW,
    ),
    case("wildcard", cors(access_control_allow_origin="*"), Status.INFO, "wildcard"),
    case(
        "fixed-partner",
        cors(
            access_control_allow_origin="https://partenaire.example", access_control_allow_credentials="true"
        ),
        Status.PASS,
        "pass",
    ),
    case("unanswered", probe("cors:/", None), Status.ERROR, "error", error_kind=ErrorKind.TIMEOUT),
)


@pytest.mark.parametrize("row", CORS)
def test_cors(row: Case) -> None:
    verify(web.Cors, row)


# --------------------------------------------------------------------------------------------------
# Coverage of the metadata by the tables above

_ENGINE_MESSAGES = {"error", "out_of_scope"}
_COVERED_ELSEWHERE = {"no_host"}  # test_no_web_host_is_not_applicable, for every check


def test_every_declared_message_is_exercised() -> None:
    for check in web.CHECKS:
        declared = set(META[check.id].messages)
        exercised = {p.values[0].message for p in CASES.get(check.id, [])} | _COVERED_ELSEWHERE
        assert declared - exercised == set(), check.id
        assert exercised - declared - _ENGINE_MESSAGES == set(), check.id


@pytest.mark.parametrize(
    ("collected_at", "status", "message_id"),
    [
        ("2025-06-01T12:00:00+00:00", Status.PASS, "pass"),  # Expires 2026-01-01: seven months ahead
        ("2026-02-01T12:00:00+00:00", Status.WARN, "expired"),  # the same file, judged a month after
    ],
)
def test_security_txt_expiry_is_judged_at_collection_time(
    collected_at: str, status: Status, message_id: str
) -> None:
    # No Date header at all: the facts' collection time decides, so a replay judges as of the scan.
    host = sectxt(f.security_txt(expires="2026-01-01T00:00:00Z"), headers={"content-type": "text/plain"})
    facts = dataclasses.replace(f.http_facts(host), collected_at=collected_at)
    (finding,) = run(web.SecurityTxt, facts)
    assert (finding.status, finding.message_id) == (status, message_id)


@pytest.mark.parametrize(
    ("error_kind", "status"), [("unreachable", Status.NOT_APPLICABLE), ("tls", Status.ERROR)]
)
@pytest.mark.parametrize("check", web.CHECKS, ids=lambda c: c.id)
def test_ip_without_web_server_is_not_applicable(check: type[Check], error_kind: str, status: Status) -> None:

    dead = f.web_host(
        "192.0.2.10",
        "ip",
        https=f.chain(f.no_answer("https://192.0.2.10/", error_kind, "refused")),
        http=f.chain(f.no_answer("http://192.0.2.10/", error_kind, "refused")),
    )
    meta = META[check.id]
    found = list(
        check(meta, {**meta.params}, parse_target("192.0.2.10")).evaluate(FactBag([f.http_facts(dead)]))
    )
    assert [x.status for x in found] == [status]
