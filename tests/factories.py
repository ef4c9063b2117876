"""Builders of facts for check tests: safe, well-configured defaults that each test overrides.

The default web site (`web_host()`) is what a careful commune would run: HTTPS with a verified
certificate, a permanent redirect from http://, HSTS for a year with includeSubDomains, a strict CSP,
anti-framing, Referrer-Policy, nosniff, a hardened session cookie, a valid security.txt and nothing
exposed (every other probe answers a plain 404). Probe answers are derived from the probes the WEB
checks actually request, so they stay in sync with the checks' default parameters.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cyberscan.checks.web import CHECKS as WEB_CHECKS

from cyberscan.collectors.http_facts import (
    HttpFacts,
    HttpProbe,
    HttpResponse,
    PageElement,
    PageSummary,
    RedirectChain,
    TlsOutcome,
    WebHost,
)
from cyberscan.metadata import load_module_metadata

TARGET = "mairie-exemple.fr"
APEX = "mairie-exemple.fr"
WWW = "www.mairie-exemple.fr"
ADDRESS = "192.0.2.10"
#: the instant every default response is "sent" at (checks have no clock: they read Date headers)
DATE = "Mon, 02 Jun 2025 08:00:00 GMT"

HeaderInput = Mapping[str, "str | Sequence[str] | None"] | Sequence[tuple[str, str]] | None

VERIFIED = TlsOutcome(verified=True, version="TLSv1.3")
_AUTO: Any = object()

GOOD_HEADERS: dict[str, str | list[str]] = {
    "date": DATE,
    "content-type": "text/html; charset=UTF-8",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
    ),
    "x-frame-options": "SAMEORIGIN",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-content-type-options": "nosniff",
    "set-cookie": ["PHPSESSID=4f2a9c; Path=/; Secure; HttpOnly; SameSite=Lax"],
}

HOMEPAGE = "<!DOCTYPE html><html><head><title>Mairie</title></head><body><form></form></body></html>"
NOT_FOUND = "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not Found</body></html>"


def security_txt(
    expires: str = "2026-01-01T00:00:00Z",
    contact: str | None = "mailto:securite@mairie-exemple.fr",
    languages: str | None = "fr, en",
) -> str:
    """The body of a security.txt (RFC 9116) with the given fields (None leaves one out)."""
    lines = ["# security.txt de la mairie"]
    if contact is not None:
        lines.append(f"Contact: {contact}")
    if expires:
        lines.append(f"Expires: {expires}")
    if languages is not None:
        lines.append(f"Preferred-Languages: {languages}")
    return "\n".join(lines) + "\n"


def _header_pairs(headers: HeaderInput) -> tuple[tuple[str, str], ...]:
    if headers is None:
        return ()
    if isinstance(headers, Mapping):
        pairs: list[tuple[str, str]] = []
        for name, value in headers.items():
            if value is None:
                continue
            values = [value] if isinstance(value, str) else list(value)
            pairs += [(name.lower(), v) for v in values]
        return tuple(pairs)
    return tuple((name.lower(), value) for name, value in headers)


def headers(**changes: str | Sequence[str] | None) -> dict[str, str | Sequence[str] | None]:
    """The well-configured page headers with changes; `x_frame_options=None` removes a header."""
    merged: dict[str, str | Sequence[str] | None] = dict(GOOD_HEADERS)
    for name, value in changes.items():
        merged[name.replace("_", "-").lower()] = value
    return merged


def response(
    url: str,
    status: int | None = 200,
    headers: HeaderInput = None,
    body: str = "",
    *,
    tls: TlsOutcome | None = _AUTO,
    error_kind: str | None = None,
    error: str | None = None,
    body_truncated: bool = False,
) -> HttpResponse:
    """An HTTP answer; `tls` defaults to a verified TLS 1.3 outcome for https:// URLs."""
    if tls is _AUTO:
        tls = VERIFIED if url.startswith("https://") and status is not None else None
    return HttpResponse(
        url=url,
        status=status,
        headers=_header_pairs(headers),
        body=body,
        body_truncated=body_truncated,
        error_kind=error_kind,
        error=error,
        tls=tls,
    )


def no_answer(url: str, error_kind: str = "unreachable", error: str = "connection refused") -> HttpResponse:
    """A request that got no HTTP answer."""
    return response(url, None, error_kind=error_kind, error=error, tls=None)


def redirect(
    url: str, location: str, status: int = 301, extra: Mapping[str, str] | None = None
) -> HttpResponse:
    """A redirect answer (with a Date header, as real servers send) and `extra` headers."""
    return response(url, status, {"location": location, "date": DATE, **(extra or {})})


def chain(*hops: HttpResponse, stopped: str | None = None, next_location: str | None = None) -> RedirectChain:
    """A redirect chain starting at the first hop's URL."""
    return RedirectChain(start_url=hops[0].url, hops=hops, stopped=stopped, next_location=next_location)


def page(url: str = f"https://{APEX}/", **overrides: Any) -> PageSummary:
    """A parsed homepage: own script and stylesheet, a third-party script with SRI, a search form."""
    base = PageSummary(
        url=url,
        elements=(
            PageElement("script", f"{_origin(url)}/assets/app.js"),
            PageElement("stylesheet", f"{_origin(url)}/assets/site.css"),
            PageElement("img", f"{_origin(url)}/images/blason.png"),
            PageElement("script", "https://cdn.example.net/lib.js", integrity="sha384-abc"),
            PageElement("form", f"{_origin(url)}/recherche"),
        ),
        has_form=True,
    )
    return dataclasses.replace(base, **overrides)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@functools.cache
def web_meta() -> dict[str, Any]:
    """The WEB checks' metadata, keyed by check ID (read once; do not mutate)."""
    return load_module_metadata("cyberscan.checks", "web")


def probe_requests(params: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, HttpProbe]:
    """Every probe the WEB checks request with their default params (or `params[check_id]`)."""
    meta = web_meta()
    probes: dict[str, HttpProbe] = {}
    for cls in WEB_CHECKS:
        chosen = {**meta[cls.id].params, **((params or {}).get(cls.id, {}))}
        for probe in cls.collector_requests(chosen):
            probes[probe.key] = probe
    return probes


def default_probes(origin: str) -> dict[str, HttpResponse]:
    """Answers of a well-configured site: a valid security.txt, a plain homepage for CORS, else 404."""
    answers: dict[str, HttpResponse] = {}
    for key, probe in probe_requests().items():
        url = origin + probe.path.replace("{random}", "r4nd0m")
        if key == "security.txt:/.well-known/security.txt":
            answers[key] = response(url, 200, {"content-type": "text/plain", "date": DATE}, security_txt())
        elif key.startswith("cors:"):
            answers[key] = response(url, 200, {"content-type": "text/html", "date": DATE, "vary": "Origin"})
        else:
            answers[key] = response(url, 404, {"content-type": "text/html", "date": DATE}, NOT_FOUND)
    return answers


def web_host(
    host: str = APEX,
    role: str = "apex",
    *,
    headers: HeaderInput = None,
    body: str = HOMEPAGE,
    probes: Mapping[str, HttpResponse | None] | None = None,
    **overrides: Any,
) -> WebHost:
    """A well-configured host: http:// 301 -> https:// same host -> 200 page with good headers.

    `headers` replaces the final page's headers (start from `headers()` to tweak the defaults),
    `probes` changes probe answers by key (None removes one), other keywords replace WebHost fields.
    """
    https_url = f"https://{host}/"
    final = response(https_url, 200, GOOD_HEADERS if headers is None else headers, body)
    https = chain(final)
    http = chain(redirect(f"http://{host}/", https_url), final)
    answers: dict[str, HttpResponse] = default_probes(f"https://{host}")
    for key, value in (probes or {}).items():
        if value is None:
            answers.pop(key, None)
        else:
            answers[key] = value
    base = WebHost(
        host=host,
        role=role,
        address=ADDRESS,
        active_allowed=True,
        http=http,
        https=https,
        page=page(https_url),
        probes=answers,
        probe_origin=f"https://{host}",
    )
    return dataclasses.replace(base, **overrides)


def redirecting_apex(to: str = WWW, **overrides: Any) -> WebHost:
    """An apex that sends everything to https://www (http:// first to https:// on the apex)."""
    target = f"https://{to}/"
    final = response(target, 200, GOOD_HEADERS, HOMEPAGE)
    hsts = {"strict-transport-security": "max-age=31536000; includeSubDomains"}
    https = chain(redirect(f"https://{APEX}/", target, extra=hsts), final)
    http = chain(redirect(f"http://{APEX}/", f"https://{APEX}/"), *https.hops)
    base = web_host(APEX, "apex", http=http, https=https, page=page(target))
    return dataclasses.replace(base, **overrides)


def http_facts(*hosts: WebHost) -> HttpFacts:
    """HttpFacts for the given hosts (default: one well-configured apex)."""
    return HttpFacts(hosts=hosts if hosts else (web_host(),))


def with_probe(host: WebHost, key: str, answer: HttpResponse | None) -> WebHost:
    """A copy of `host` where probe `key` answers `answer` (None removes it)."""
    probes = dict(host.probes)
    if answer is None:
        probes.pop(key, None)
    else:
        probes[key] = answer
    return dataclasses.replace(host, probes=probes)


def probe_url(key: str, host: str = APEX) -> str:
    """The URL a probe of the default params is sent to on `host`."""
    return f"https://{host}" + probe_requests()[key].path.replace("{random}", "r4nd0m")


def all_probe_keys(prefix: str) -> Iterable[str]:
    """The default probe keys starting with `prefix` (e.g. "sensitive:")."""
    return [key for key in probe_requests() if key.startswith(prefix)]
