"""WEB checks (checklist §1.5): HTTPS, security headers, cookies, exposed files, back-offices, CMS versions.

Every check judges `HttpFacts` only. A web host is one of the target's names (apex, www, a URL's host
or an IP); each check yields one finding per host, except that two hosts landing on the same final
URL with the same verdict produce a single finding. Header checks judge the final HTTPS response of
the homepage chain and fall back to the final HTTP response when HTTPS does not answer at all (a
site served only in clear text still has headers worth judging; WEB-HTTPS-AVAILABLE fails it).
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

from cyberscan.bounds import join_bounded
from cyberscan.collectors.http_facts import HttpFacts, HttpProbe, HttpResponse, RedirectChain, WebHost
from cyberscan.models import ErrorKind, Finding, Severity, Status
from cyberscan.plugin import Check, FactBag
from cyberscan.scope import ProbeLevel
from cyberscan.targets import TargetKind, is_ip_literal
from cyberscan.timestamps import parse_instant

_MAX_ITEMS = 20
_MAX_EXCERPT = 200

_ERROR_KINDS = {
    "timeout": ErrorKind.TIMEOUT,
    "dns": ErrorKind.DNS_FAILURE,
    "tls": ErrorKind.TLS_HANDSHAKE,
    "deadline": ErrorKind.DEADLINE,
    "protocol": ErrorKind.PROTOCOL,
}


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def _error_kind(resp: HttpResponse | None) -> ErrorKind:
    if resp is None or resp.error_kind is None:
        return ErrorKind.UNREACHABLE
    return _ERROR_KINDS.get(resp.error_kind, ErrorKind.UNREACHABLE)


def _answered(chain: RedirectChain | None) -> bool:
    return chain is not None and any(hop.ok for hop in chain.hops)


def _last_answer(chain: RedirectChain | None) -> HttpResponse | None:
    if chain is None:
        return None
    return next((hop for hop in reversed(chain.hops) if hop.ok), None)


def _is_redirect(resp: HttpResponse) -> bool:
    return resp.status is not None and 300 <= resp.status < 400 and resp.status != 304


def _location(resp: HttpResponse) -> str | None:
    raw = resp.header("location")
    if not raw or not raw.strip():
        return None
    try:
        return urljoin(resp.url, raw.strip())
    except ValueError:
        return None


def _locations(chain: RedirectChain) -> list[str]:
    """Every redirect target met along a chain, including the one that was not followed."""
    found = [loc for hop in chain.hops if _is_redirect(hop) and (loc := _location(hop)) is not None]
    if chain.next_location:
        base = chain.final.url if chain.final is not None else chain.start_url
        found.append(urljoin(base, chain.next_location))
    return found


def _hostname(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _looks_html(body: str) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head or "<head" in head


def _excerpt(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _clip(value: str | None) -> str | None:
    """A header value from the target, cut for evidence."""
    return _excerpt(value, _MAX_EXCERPT) if value else None


def _around(body: str, match: re.Match[str]) -> str:
    return _excerpt(body[max(0, match.start() - 40) : match.end() + 80], _MAX_EXCERPT)


def _start_url(host: WebHost) -> str:
    for chain in (host.https, host.http):
        if chain is not None:
            return chain.start_url
    return f"https://{host.host}/"


def _page_url(host: WebHost) -> str:
    """The URL that stands for a host: its final page, else where fetching started."""
    resp = _last_answer(host.https) or _last_answer(host.http)
    return resp.url if resp is not None else _start_url(host)


def _probe_base(host: WebHost) -> str:
    origin = host.probe_origin or _origin_of(_page_url(host))
    return origin.rstrip("/") + "/"


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.match(r"\d+(?:\.\d+)*", text.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def _p_int(params: Mapping[str, Any], name: str) -> int:
    return int(params[name])


def _p_str(params: Mapping[str, Any], name: str) -> str:
    return str(params[name])


def _p_strs(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name, [])
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _p_table(params: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = params.get(name, {})
    return value if isinstance(value, Mapping) else {}


# --------------------------------------------------------------------------------------------------
# Common base


class _WebCheck(Check):
    """Iterates over the target's web hosts, turning dead hosts into `error` findings."""

    requires = (HttpFacts,)
    _hosts: tuple[WebHost, ...] = ()
    _collected_at: str = ""

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        hosts = facts.get(HttpFacts).hosts
        self._collected_at = facts.get(HttpFacts).collected_at
        if not hosts:
            yield self.finding(Status.NOT_APPLICABLE, self.target.name, "no_host", target=self.target.name)
            return
        self._hosts = hosts
        seen: set[tuple[str, str, str]] = set()
        for host in hosts:
            failure = self._host_failure(host)
            for found in [failure] if failure is not None else self.judge(host):
                key = (found.resource, found.status.value, found.message_id)
                if key not in seen:
                    seen.add(key)
                    yield found

    @abstractmethod
    def judge(self, host: WebHost) -> Iterable[Finding]:
        """Findings for one host that resolved and answered over HTTP or HTTPS."""

    def _host_failure(self, host: WebHost) -> Finding | None:
        resource = _start_url(host)
        if host.resolve_error is not None:
            # An apex or www name without an address is common (the site lives on the other one):
            # a fact about the commune, not a scanner failure. A URL the user named is another matter.
            if host.resolve_error_kind in ("nxdomain", "no_address") and host.role in ("apex", "www"):
                return self.finding(Status.NOT_APPLICABLE, resource, "no_address", host=host.host)
            timed_out = host.resolve_error_kind == "timeout"
            kind = ErrorKind.TIMEOUT if timed_out else ErrorKind.DNS_FAILURE
            return self.error(resource, kind, f"{host.host} does not resolve: {host.resolve_error}")
        if _answered(host.https) or _answered(host.http):
            return None
        firsts = [c.first for c in (host.https, host.http) if c is not None and c.first is not None]
        if host.role == "ip" and firsts and all(r.error_kind in ("unreachable", "timeout") for r in firsts):
            # An address typed by the user (IP, network) with no web server: a fact, not a failure.
            return self.finding(Status.NOT_APPLICABLE, resource, "no_service", endpoint=host.host)
        reasons = [f"{r.url}: {r.error or r.error_kind or 'no answer'}" for r in firsts]
        detail = f"{host.host} answered neither HTTPS nor HTTP ({'; '.join(reasons) or 'nothing fetched'})"
        return self.error(resource, _error_kind(firsts[0] if firsts else None), detail)

    def _page(self, host: WebHost) -> HttpResponse | Finding:
        """The homepage response whose headers are judged, or a not_applicable when it only redirects."""
        resp = _last_answer(host.https) or _last_answer(host.http)
        assert resp is not None, "judge() runs only for hosts that answered"
        if _is_redirect(resp):
            location = _location(resp) or "-"
            return self.finding(
                Status.NOT_APPLICABLE,
                resp.url,
                "redirect_only",
                evidence={"status": resp.status, "location": location},
                url=resp.url,
                location=location,
            )
        return resp

    def _probes(
        self, host: WebHost, keys: Sequence[str], level: ProbeLevel
    ) -> tuple[dict[str, HttpResponse], list[HttpResponse]] | Finding:
        """Answered probes by key and the unanswered ones, or the finding that ends the judgement."""
        resource = _probe_base(host)
        if level is ProbeLevel.ACTIVE and not host.active_allowed:
            return self.out_of_scope(resource, host.host)
        missing = [key for key in keys if key not in host.probes]
        if missing:
            return self.error(resource, ErrorKind.BUG, f"probe not collected: {join_bounded(missing, 3)}")
        answered: dict[str, HttpResponse] = {}
        unanswered: list[HttpResponse] = []
        for key in keys:
            resp = host.probes[key]
            if resp.ok:
                answered[key] = resp
            elif resp.error_kind == "out_of_scope":
                return self.out_of_scope(resource, host.host)
            else:
                unanswered.append(resp)
        return answered, unanswered

    def _single_probe(self, host: WebHost, key: str, level: ProbeLevel) -> HttpResponse | Finding:
        """The answer to one probe, or the finding that ends the judgement (scope, missing, no answer)."""
        outcome = self._probes(host, [key], level)
        if isinstance(outcome, Finding):
            return outcome
        answered, unanswered = outcome
        return self._probe_error(host, unanswered, 1) if unanswered else answered[key]

    def _probe_error(self, host: WebHost, unanswered: Sequence[HttpResponse], total: int) -> Finding:
        first = unanswered[0]
        detail = f"{len(unanswered)} of {total} probes got no answer, e.g. {first.url}: {first.error or '?'}"
        return self.error(_probe_base(host), _error_kind(first), detail)


# --------------------------------------------------------------------------------------------------
# HTTPS


class HttpsAvailable(_WebCheck):
    """PASS: HTTPS answers with a verified certificate. FAIL: HTTP only, TLS broken or unverified,
    or HTTPS sending back to HTTP. N/A: no web host."""

    id = "WEB-HTTPS-AVAILABLE"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        https = host.https
        first = https.first if https is not None else None
        url = https.start_url if https is not None else f"https://{host.host}/"
        if first is None or not first.ok:
            kind = first.error_kind if first is not None else None
            reason = (first.error if first is not None else None) or kind or "HTTPS not fetched"
            if kind == "deadline":
                yield self.error(url, ErrorKind.DEADLINE, f"HTTPS not tried before the deadline: {reason}")
                return
            failure = {"error_kind": kind, "error": reason}
            message = "tls_broken" if kind == "tls" else "http_only"
            yield self.finding(Status.FAIL, url, message, evidence=failure, url=url, error=reason)
            return
        tls = first.tls
        if tls is None:
            yield self.error(url, ErrorKind.BUG, "the HTTPS answer carries no TLS outcome")
            return
        evidence: dict[str, Any] = {
            "tls_version": tls.version,
            "permissive": tls.permissive,
            "tls_error": tls.error,
        }
        if not tls.verified:
            reason = tls.error or "certificate not verified"
            yield self.finding(Status.FAIL, url, "untrusted", evidence=evidence, url=url, error=reason)
            return
        assert https is not None
        downgrade = next((loc for loc in _locations(https) if _scheme(loc) == "http"), None)
        if downgrade is not None:
            evidence["location"] = downgrade
            yield self.finding(Status.FAIL, url, "downgrade", evidence=evidence, url=url, location=downgrade)
            return
        yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, version=tls.version or "?")


class HttpsRedirect(_WebCheck):
    """PASS: http:// answers 301/308 to https:// on the same host. WARN: 302/303/307, or HTTPS reached
    through another host first. FAIL: content over HTTP or a chain staying on HTTP. N/A: no HTTP service."""

    id = "WEB-HTTPS-REDIRECT"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        http = host.http
        first = http.first if http is not None else None
        if http is None or first is None or not first.ok:
            url = http.start_url if http is not None else f"http://{host.host}/"
            reason = (first.error or first.error_kind) if first is not None else None
            yield self.finding(
                Status.NOT_APPLICABLE, url, "no_http", evidence={"error": reason or "not fetched"}, url=url
            )
            return
        url = first.url
        if not _is_redirect(first):
            yield self.finding(
                Status.FAIL,
                url,
                "http_content",
                evidence={"status": first.status},
                url=url,
                status=first.status,
            )
            return
        target = _location(first)
        evidence: dict[str, Any] = {
            "status": first.status,
            "location": target,
            "chain": [h.url for h in http.hops][:_MAX_ITEMS],
        }
        if target is not None and _scheme(target) == "https":
            if _hostname(target) != _hostname(url):
                yield self.finding(
                    Status.WARN, url, "other_host", evidence=evidence, url=url, location=target
                )
            elif first.status in (301, 308):
                yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, status=first.status)
            else:
                yield self.finding(
                    Status.WARN, url, "temporary", evidence=evidence, url=url, status=first.status
                )
            return
        secure = next((loc for loc in _locations(http) if _scheme(loc) == "https"), None)
        if secure is None:
            yield self.finding(
                Status.FAIL, url, "stays_http", evidence=evidence, url=url, location=target or "-"
            )
        else:
            yield self.finding(Status.WARN, url, "via_http", evidence=evidence, url=url, location=secure)


def _directives(value: str) -> dict[str, str | None]:
    """`name=value; flag` directives (HSTS style); the first occurrence of a name wins."""
    found: dict[str, str | None] = {}
    for part in value.split(";"):
        name, sep, raw = part.strip().partition("=")
        name = name.strip().lower()
        if name:
            found.setdefault(name, raw.strip().strip('"') if sep else None)
    return found


class Hsts(_WebCheck):
    """PASS: HSTS max-age >= 1 year (+ includeSubDomains on the apex). WARN: 180 days to 1 year, or no
    includeSubDomains on the apex. FAIL: absent, invalid, < 180 days, 0. N/A: no HTTPS, IP host."""

    id = "WEB-HSTS"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        name = host.host.lower()
        own = [h for h in host.https.hops if h.ok and _hostname(h.url) == name] if host.https else []
        if not own:
            url = host.https.start_url if host.https else f"https://{host.host}/"
            yield self.finding(Status.NOT_APPLICABLE, url, "no_https", url=url)
            return
        if is_ip_literal(name):
            # RFC 6797 §8.1: a browser ignores HSTS received from an IP-literal host.
            yield self.finding(Status.NOT_APPLICABLE, own[0].url, "ip_host", url=own[0].url)
            return
        # Browsers record the policy from every response of the host: the last one sent wins.
        resp = next((h for h in reversed(own) if h.header("strict-transport-security")), own[-1])
        url = resp.url
        header = resp.header("strict-transport-security")
        if header is None:
            yield self.finding(Status.FAIL, url, "missing", url=url)
            return
        if resp.tls is not None and not resp.tls.verified:
            # RFC 6797 §8.1: the header is ignored when the connection had certificate errors.
            ignored = {"header": _clip(header), "tls_error": _clip(resp.tls.error)}
            yield self.finding(Status.FAIL, url, "ignored_tls", evidence=ignored, url=url)
            return
        directives = _directives(header)
        raw_age = directives.get("max-age")
        if raw_age is None or not raw_age.isdecimal():
            yield self.finding(Status.FAIL, url, "invalid", evidence={"header": _clip(header)}, url=url)
            return
        max_age = int(raw_age)
        include = "includesubdomains" in directives
        preload = "preload" in directives
        evidence = {
            "header": _clip(header),
            "max_age": max_age,
            "include_subdomains": include,
            "preload": preload,
        }
        days = max_age // 86400
        values: dict[str, Any] = {"url": url, "max_age": max_age, "days": days}
        if max_age == 0:
            yield self.finding(Status.FAIL, url, "disabled", evidence=evidence, url=url)
        elif max_age < _p_int(self.params, "min_max_age"):
            yield self.finding(Status.FAIL, url, "too_short", evidence=evidence, **values)
        elif max_age < _p_int(self.params, "recommended_max_age"):
            yield self.finding(Status.WARN, url, "under_year", evidence=evidence, **values)
        elif host.role == "apex" and self.params.get("apex_include_subdomains", True) and not include:
            yield self.finding(Status.WARN, url, "no_subdomains", evidence=evidence, **values)
        else:
            message = "pass_preload" if preload else "pass"
            yield self.finding(Status.PASS, url, message, evidence=evidence, **values)


# --------------------------------------------------------------------------------------------------
# Security headers

_NONCE_OR_HASH = ("'nonce-", "'sha256-", "'sha384-", "'sha512-")


def _csp_policies(values: Iterable[str]) -> list[dict[str, list[str]]]:
    """Parse CSP header values; a comma separates policies, all of which the browser enforces."""
    policies = []
    for value in values:
        for text in value.split(","):
            policy: dict[str, list[str]] = {}
            for part in text.split(";"):
                tokens = part.split()
                if tokens:
                    # CSP: a repeated directive is ignored, the first one counts.
                    policy.setdefault(tokens[0].lower(), tokens[1:])
            if policy:
                policies.append(policy)
    return policies


def _csp_problems(policy: Mapping[str, list[str]], unsafe_sources: Sequence[str]) -> list[str]:
    problems: list[str] = []
    script = policy.get("script-src", policy.get("default-src"))
    if script is None:
        problems.append("script-src")
    else:
        sources = [s.lower() for s in script]
        keyed = any(s.startswith(_NONCE_OR_HASH) for s in sources)
        # With a nonce or hash, CSP2+ browsers ignore 'unsafe-inline'; with 'strict-dynamic' too,
        # CSP3 browsers also ignore host and scheme sources.
        strict_dynamic = keyed and "'strict-dynamic'" in sources
        if "'unsafe-inline'" in sources and not keyed:
            problems.append("'unsafe-inline'")
        if "'unsafe-eval'" in sources:
            problems.append("'unsafe-eval'")
        if not strict_dynamic:
            broad = [s for s in sources if s in unsafe_sources or s.startswith("http://")]
            problems.extend(f"script-src {s}" for s in dict.fromkeys(broad))
    objects = policy.get("object-src", policy.get("default-src"))
    if objects is None or [s.lower() for s in objects] != ["'none'"]:
        problems.append("object-src")
    if "base-uri" not in policy:
        problems.append("base-uri")
    return problems


class Csp(_WebCheck):
    """PASS: an enforced CSP restricting scripts, objects and base-uri. WARN: weak, report-only or
    <meta>-only policy (low), or no CSP at all (medium). N/A: the homepage only redirects elsewhere."""

    id = "WEB-CSP"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        resp = self._page(host)
        if isinstance(resp, Finding):
            yield resp
            return
        url = resp.url
        unsafe = [s.lower() for s in _p_strs(self.params, "unsafe_script_sources")]
        values = resp.header_values("content-security-policy")
        policies = _csp_policies(values)
        if policies:
            problems = min((_csp_problems(p, unsafe) for p in policies), key=len)
            evidence = {"policy": _excerpt(", ".join(values), _MAX_EXCERPT), "problems": problems}
            if not problems:
                yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url)
                return
            severity = Severity.MEDIUM if "script-src" in problems else Severity.LOW
            yield self.finding(
                Status.WARN,
                url,
                "weak",
                evidence=evidence,
                severity=severity,
                url=url,
                problems=join_bounded(problems, 8),
            )
            return
        report_only = resp.header_values("content-security-policy-report-only")
        meta = host.page.meta_csp if host.page is not None else None
        if report_only:
            evidence = {"policy": _excerpt(", ".join(report_only), _MAX_EXCERPT)}
            yield self.finding(
                Status.WARN, url, "report_only", evidence=evidence, severity=Severity.LOW, url=url
            )
        elif meta:
            evidence = {"policy": _excerpt(meta, _MAX_EXCERPT)}
            yield self.finding(
                Status.WARN, url, "meta_only", evidence=evidence, severity=Severity.LOW, url=url
            )
        else:
            yield self.finding(Status.WARN, url, "missing", url=url)


_BROAD_ANCESTORS = {"*", "http:", "https:", "http://*", "https://*"}


class Frame(_WebCheck):
    """PASS: CSP frame-ancestors or X-Frame-Options DENY/SAMEORIGIN. WARN: neither on a page with a form
    (or unknown page), obsolete ALLOW-FROM. INFO: neither on a page without forms. N/A: redirect only."""

    id = "WEB-FRAME"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        resp = self._page(host)
        if isinstance(resp, Finding):
            yield resp
            return
        url = resp.url
        ancestors = next(
            (
                p["frame-ancestors"]
                for p in _csp_policies(resp.header_values("content-security-policy"))
                if "frame-ancestors" in p
            ),
            None,
        )
        xfo_raw = ", ".join(resp.header_values("x-frame-options"))
        xfo = {t.strip().upper() for t in xfo_raw.split(",") if t.strip()}
        evidence = {
            "frame_ancestors": _clip(" ".join(ancestors)) if ancestors is not None else None,
            "x_frame_options": _clip(xfo_raw),
        }
        if ancestors is not None:
            # frame-ancestors supersedes X-Frame-Options in every browser that knows it.
            protected = not any(s.lower() in _BROAD_ANCESTORS for s in ancestors)
            via = "CSP frame-ancestors"
        else:
            # Conflicting X-Frame-Options values make browsers ignore the header.
            protected = len(xfo) == 1 and next(iter(xfo)) in ("DENY", "SAMEORIGIN")
            via = "X-Frame-Options"
        if protected:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, via=via)
        elif ancestors is None and any(t.startswith("ALLOW-FROM") for t in xfo):
            yield self.finding(Status.WARN, url, "allow_from", evidence=evidence, url=url)
        elif host.page is not None and not (host.page.has_form or host.page.has_password_field):
            yield self.finding(Status.INFO, url, "missing_no_form", evidence=evidence, url=url)
        else:
            yield self.finding(Status.WARN, url, "missing", evidence=evidence, url=url)


_REFERRER_TOKENS = {
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
}


class Referrer(_WebCheck):
    """PASS: a strict Referrer-Policy. WARN: absent or `origin`-style. FAIL: unsafe-url or
    no-referrer-when-downgrade. N/A: the homepage only redirects elsewhere."""

    id = "WEB-REFERRER"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        resp = self._page(host)
        if isinstance(resp, Finding):
            yield resp
            return
        url = resp.url
        raw = ", ".join(resp.header_values("referrer-policy"))
        tokens = [t.strip().lower() for t in raw.split(",") if t.strip()]
        # Browsers apply the last token they recognise, so that new values can degrade gracefully.
        policy = next((t for t in reversed(tokens) if t in _REFERRER_TOKENS), None)
        evidence = {"header": _clip(raw)}
        if policy is None:
            yield self.finding(Status.WARN, url, "missing", evidence=evidence, url=url)
        elif policy in _p_strs(self.params, "good_policies"):
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, policy=policy)
        elif policy in _p_strs(self.params, "bad_policies"):
            yield self.finding(Status.FAIL, url, "leaky", evidence=evidence, url=url, policy=policy)
        else:
            yield self.finding(Status.WARN, url, "weak", evidence=evidence, url=url, policy=policy)


class Nosniff(_WebCheck):
    """PASS: `X-Content-Type-Options: nosniff` and a Content-Type. WARN: either missing.
    N/A: the homepage only redirects elsewhere."""

    id = "WEB-NOSNIFF"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        resp = self._page(host)
        if isinstance(resp, Finding):
            yield resp
            return
        url = resp.url
        xcto = resp.header("x-content-type-options")
        ctype = resp.header("content-type")
        missing = []
        if xcto is None or xcto.split(",")[0].strip().lower() != "nosniff":
            missing.append("X-Content-Type-Options: nosniff")
        if ctype is None or not ctype.strip():
            missing.append("Content-Type")
        evidence = {"x_content_type_options": _clip(xcto), "content_type": _clip(ctype)}
        if missing:
            yield self.finding(
                Status.WARN, url, "missing", evidence=evidence, url=url, headers=join_bounded(missing)
            )
        else:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url)


# --------------------------------------------------------------------------------------------------
# Cookies


@dataclass(frozen=True)
class _Cookie:
    name: str
    value: str
    attrs: Mapping[str, str | None]
    host: str

    @property
    def deleted(self) -> bool:
        # Servers delete a cookie by re-sending it empty or already expired: nothing to protect.
        max_age = (self.attrs.get("max-age") or "").strip()
        expires = self.attrs.get("expires") or ""
        return (
            self.value in ("", "deleted")
            or (max_age.lstrip("-").isdecimal() and int(max_age) <= 0)
            or re.search(r"\b19\d\d\b", expires) is not None
        )


def _parse_set_cookie(raw: str, host: str) -> _Cookie | None:
    first, *rest = raw.split(";")
    name, sep, value = first.partition("=")
    if not sep or not name.strip():
        return None  # RFC 6265 §5.2: a cookie without '=' in its first part is ignored
    attrs: dict[str, str | None] = {}
    for part in rest:
        key, has_value, attr_value = part.partition("=")
        if key.strip():
            # RFC 6265 §5.3: when an attribute repeats, the last one wins.
            attrs[key.strip().lower()] = attr_value.strip() if has_value else None
    return _Cookie(name.strip(), value.strip().strip('"'), attrs, host)


class CookieFlags(_WebCheck):
    """PASS: every cookie set over HTTPS has Secure and SameSite, session ones HttpOnly and host-only.
    FAIL: a session cookie without Secure or HttpOnly. WARN: SameSite None/absent, Secure missing on
    other cookies, session cookie shared with subdomains. N/A: no HTTPS, no cookie."""

    id = "WEB-COOKIE-FLAGS"

    def _site_domain(self) -> str | None:
        if self.target.kind is TargetKind.DOMAIN and self.target.host:
            return self.target.host.removeprefix("www.")
        return None

    def _cookies(self, host: WebHost) -> list[_Cookie]:
        responses = [h for h in host.https.hops if h.ok] if host.https else []
        # Login pages fetched by the admin probes show the cookies of the citizen/back-office area.
        responses += [r for r in host.probes.values() if r.ok and _scheme(r.url) == "https"]
        cookies: dict[str, _Cookie] = {}
        for resp in responses:
            for raw in resp.header_values("set-cookie"):
                cookie = _parse_set_cookie(raw, _hostname(resp.url))
                if cookie is not None and not cookie.deleted:
                    cookies.setdefault(cookie.name, cookie)
        return list(cookies.values())

    def _shared(self, cookie: _Cookie) -> str | None:
        domain = (cookie.attrs.get("domain") or "").strip().lstrip(".").lower()
        if not domain:
            return None
        if domain != cookie.host or domain == self._site_domain():
            return f"Domain={domain}"
        return None

    def judge(self, host: WebHost) -> Iterator[Finding]:
        final = _last_answer(host.https)
        if final is None:
            url = host.https.start_url if host.https else f"https://{host.host}/"
            yield self.finding(Status.NOT_APPLICABLE, url, "no_https", url=url)
            return
        url = final.url
        cookies = self._cookies(host)
        if not cookies:
            yield self.finding(Status.NOT_APPLICABLE, url, "no_cookie", url=url)
            return
        pattern = re.compile(_p_str(self.params, "session_cookie_pattern"), re.IGNORECASE)
        failures: list[str] = []
        warnings: list[str] = []
        details = []
        for cookie in cookies:
            session = pattern.fullmatch(cookie.name) is not None
            samesite = (cookie.attrs.get("samesite") or "").lower()
            missing = [flag for flag in ("secure", "httponly") if flag not in cookie.attrs]
            hard = [f for f in missing if session]
            soft = [f for f in missing if not session and f == "secure"]
            if samesite not in ("lax", "strict"):
                soft.append("SameSite" if not samesite else f"SameSite={samesite}")
            shared = self._shared(cookie) if session else None
            if shared:
                soft.append(shared)
            label = {"secure": "Secure", "httponly": "HttpOnly"}
            if hard:
                failures.append(f"{cookie.name} ({', '.join(label[f] for f in hard)})")
            if soft:
                warnings.append(f"{cookie.name} ({', '.join(label.get(f, f) for f in soft)})")
            details.append(
                {
                    "name": cookie.name,
                    "session": session,
                    "secure": "secure" in cookie.attrs,
                    "httponly": "httponly" in cookie.attrs,
                    "samesite": samesite or None,
                    "domain": _clip(cookie.attrs.get("domain")),
                    "host_prefix": cookie.name.startswith("__Host-"),
                }
            )
        evidence = {"cookies": details[:_MAX_ITEMS], "count": len(cookies)}
        if failures:
            yield self.finding(
                Status.FAIL, url, "session_flags", evidence=evidence, url=url, cookies=join_bounded(failures)
            )
        elif warnings:
            yield self.finding(
                Status.WARN,
                url,
                "weak_attributes",
                evidence=evidence,
                url=url,
                cookies=join_bounded(warnings),
            )
        else:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, count=len(cookies))


# --------------------------------------------------------------------------------------------------
# Page content: mixed content, third-party integrity


class _PageCheck(_WebCheck):
    """A check that reads the parsed homepage (`host.page`)."""

    def _no_page(self, host: WebHost) -> Finding:
        resp = self._page(host)
        if isinstance(resp, Finding):
            return resp
        html = "html" in (resp.header("content-type") or "").lower()
        if resp.status is not None and 200 <= resp.status < 300 and html:
            return self.error(
                resp.url, ErrorKind.PROTOCOL, f"the HTML homepage of {host.host} was not parsed"
            )
        return self.finding(
            Status.NOT_APPLICABLE, resp.url, "no_page", evidence={"status": resp.status}, url=resp.url
        )


class MixedContent(_PageCheck):
    """PASS: the HTTPS homepage loads nothing over http://. FAIL: active content (script, stylesheet,
    iframe, object) or a form posting over http:// (high). WARN: passive content (img, media).
    N/A: no HTTPS page."""

    id = "WEB-MIXED-CONTENT"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        page = host.page
        if page is None:
            yield self._no_page(host)
            return
        url = page.url
        if _scheme(url) != "https":
            yield self.finding(Status.NOT_APPLICABLE, url, "not_https", url=url)
            return
        active_tags = _p_strs(self.params, "active_tags")
        passive_tags = _p_strs(self.params, "passive_tags")
        clear = [e for e in page.elements if _scheme(e.url) == "http"]
        forms = [e.url for e in clear if e.tag == "form"]
        active = [e.url for e in clear if e.tag in active_tags]
        passive = [e.url for e in clear if e.tag in passive_tags]
        evidence = {
            "forms": forms[:_MAX_ITEMS],
            "active": active[:_MAX_ITEMS],
            "passive": passive[:_MAX_ITEMS],
            "page_truncated": page.truncated,
        }
        if forms:
            yield self.finding(
                Status.FAIL, url, "form", evidence=evidence, severity=Severity.HIGH, url=url, count=len(forms)
            )
        elif active:
            yield self.finding(Status.FAIL, url, "active", evidence=evidence, url=url, count=len(active))
        elif passive:
            yield self.finding(Status.WARN, url, "passive", evidence=evidence, url=url, count=len(passive))
        else:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url)


_SRI_PREFIXES = ("sha256-", "sha384-", "sha512-")


class ThirdPartySri(_PageCheck):
    """PASS: every third-party script and stylesheet carries integrity=, or there is none. WARN: some
    do not. Always lists third-party script origins. N/A: no parsed homepage.

    "Third party" approximates the registrable domain: a URL is first-party when its host is the page's
    host, or is (a subdomain of) the target's domain without "www." (for a URL target: its last two
    labels) or of a `first_party_domains` entry. A public-suffix list would be exact.
    """

    id = "WEB-THIRDPARTY-SRI"

    def _first_party(self, host: WebHost) -> list[str]:
        domains = [host.host.lower()]
        name = self.target.host
        if name and not is_ip_literal(name):
            if self.target.kind is TargetKind.URL:
                domains.append(".".join(name.split(".")[-2:]))
            else:
                domains.append(name.removeprefix("www."))
        domains += [d.lower().lstrip(".") for d in _p_strs(self.params, "first_party_domains")]
        return domains

    def judge(self, host: WebHost) -> Iterator[Finding]:
        page = host.page
        if page is None:
            yield self._no_page(host)
            return
        url = page.url
        own = self._first_party(host)
        tags = _p_strs(self.params, "tags")
        third = []
        for element in page.elements:
            name = _hostname(element.url)
            if element.tag in tags and name and not any(name == d or name.endswith("." + d) for d in own):
                third.append(element)
        unprotected = [
            e.url
            for e in third
            if not (e.integrity and e.integrity.strip().lower().startswith(_SRI_PREFIXES))
        ]
        origins = sorted({_origin_of(e.url) for e in third if e.tag == "script"})
        evidence = {
            "script_origins": origins[:_MAX_ITEMS],
            "without_integrity": unprotected[:_MAX_ITEMS],
            "page_truncated": page.truncated,
        }
        if unprotected:
            yield self.finding(
                Status.WARN,
                url,
                "missing",
                evidence=evidence,
                url=url,
                count=len(unprotected),
                origins=join_bounded(_origin_of(u) for u in unprotected),
            )
        elif third:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, count=len(third))
        else:
            yield self.finding(Status.PASS, url, "none", evidence=evidence, url=url)


# --------------------------------------------------------------------------------------------------
# Disclosure

_VERSION_IN_BANNER = re.compile(r"(?:^|[\s/(v-])\d+(?:\.\d+)+|[/ ]\d+(?=$|[\s;(),])")


def _title_case(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


class InfoDisclosure(_WebCheck):
    """PASS: no product banner. INFO: product names only. WARN: version numbers in Server,
    X-Powered-By, X-AspNet(Mvc)-Version, X-Generator, generator meta or ?ver= assets."""

    id = "WEB-INFO-DISCLOSURE"

    def judge(self, host: WebHost) -> Iterator[Finding]:
        url = _page_url(host)
        responses = [h for c in (host.https, host.http) if c is not None for h in c.hops if h.ok]
        banners: list[tuple[str, str]] = []
        for header in _p_strs(self.params, "headers"):
            for resp in responses:
                banners += [(_title_case(header), v) for v in resp.header_values(header) if v.strip()]
        if host.page is not None:
            banners += [("generator", g) for g in host.page.generators if g.strip()]
        banners = list(dict.fromkeys(banners))
        versioned = [(s, v) for s, v in banners if _VERSION_IN_BANNER.search(v)]
        assets = [a for a in (host.page.versioned_assets if host.page else ()) if _asset_version(a)]
        if assets:
            versioned.append(("?ver=", assets[0]))
        evidence = {
            "banners": [f"{s}: {_excerpt(v, 100)}" for s, v in banners][:_MAX_ITEMS],
            "versioned_assets": [_excerpt(a, 150) for a in assets][:5],
        }
        if versioned:
            sources = join_bounded(s for s, _ in versioned)
            yield self.finding(Status.WARN, url, "versions", evidence=evidence, url=url, sources=sources)
        elif banners:
            sources = join_bounded(s for s, _ in banners)
            yield self.finding(Status.INFO, url, "products", evidence=evidence, url=url, sources=sources)
        else:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url)


def _asset_version(url: str) -> str | None:
    """The dotted version carried by an asset's ?ver=/?v= query; cache-busting hashes are not versions."""
    try:
        query = parse_qsl(urlsplit(url).query)
    except ValueError:
        return None
    for key, value in query:
        if key.lower() in ("ver", "v", "version") and re.fullmatch(r"\d+(?:\.\d+)+", value.strip()):
            return value.strip()
    return None


_DEBUG_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "Symfony",
        re.compile(r"Symfony\\Component\\|sf-toolbar|id=\"sfwdt|Symfony Profiler|class=\"exception-summary"),
    ),
    ("Laravel", re.compile(r"Whoops(?:, looks like|\\Run)|Illuminate\\|facade/ignition|spatie/ignition")),
    ("Django", re.compile(r"You're seeing this error because you have|Using the URLconf defined in")),
    ("Python", re.compile(r"Traceback \(most recent call last\)|Werkzeug Debugger")),
    (
        "ASP.NET",
        re.compile(
            r"Server Error in '[^']{0,100}' Application.{0,4000}?"
            r"(?:Stack Trace:|Exception Details:|Source Error:|Version Information:)",
            re.DOTALL,
        ),
    ),
    (
        "PHP",
        # PHP 5 style "… in /path/file.php on line 12", PHP 7+ uncaught throwables
        # "… in /path/file.php:12" followed by "Stack trace:" and "#0 …" frames.
        re.compile(
            r"(?:Fatal error|Parse error|Warning|Notice|Deprecated|Uncaught [\w\\]+)(?:</b>)?:\s.{0,300}?"
            r" in (?:<b>)?(?:/|[A-Za-z]:\\)[^<\n]{1,200}?(?:</b>)? on line (?:<b>)?\d+"
            r"|(?:Fatal error|Uncaught)[^\n]{0,300}? in (?:/|[A-Za-z]:\\)[^\s<]{1,200}\.php:\d+"
            r"|^Stack trace:\s*(?:<br />)?\s*#0 ",
            re.MULTILINE,
        ),
    ),
    (
        "Java",
        re.compile(r"\bat (?:[A-Za-z_$][\w$]*\.){2,}[\w$<>]+\([\w$]+\.java:\d+\)|Exception in thread \""),
    ),
    ("Node.js", re.compile(r"\bat [\w$.<>]+ \((?:/|[A-Za-z]:\\)[^)\n]{1,200}\.js:\d+:\d+\)")),
    ("Ruby on Rails", re.compile(r"Rails\.root:|Action Controller: Exception caught")),
)

_ERROR_PREFIX = "error:"


class ErrorDisclosure(_WebCheck):
    """PASS: a random missing path gets a plain error page. FAIL: stack trace or debug page (Symfony,
    Laravel, Django, ASP.NET, PHP, Java…). NOT_TESTED: host outside the scope (active probe)."""

    id = "WEB-ERROR-DISCLOSURE"

    @classmethod
    def collector_requests(cls, params: Mapping[str, Any]) -> list[HttpProbe]:
        path = _p_str(params, "probe_path")
        return [HttpProbe(_ERROR_PREFIX + path, path, ProbeLevel.ACTIVE, _p_int(params, "max_bytes"))]

    def judge(self, host: WebHost) -> Iterator[Finding]:
        resp = self._single_probe(host, _ERROR_PREFIX + _p_str(self.params, "probe_path"), ProbeLevel.ACTIVE)
        if isinstance(resp, Finding):
            yield resp
            return
        for product, pattern in _DEBUG_SIGNATURES:
            match = pattern.search(resp.body)
            if match is not None:
                evidence = {"status": resp.status, "signature": product, "excerpt": _around(resp.body, match)}
                yield self.finding(
                    Status.FAIL, resp.url, "debug_page", evidence=evidence, url=resp.url, product=product
                )
                return
        yield self.finding(Status.PASS, resp.url, "pass", evidence={"status": resp.status}, url=resp.url)


# --------------------------------------------------------------------------------------------------
# security.txt

_SECTXT_WELL_KNOWN = "security.txt:/.well-known/security.txt"
_SECTXT_LEGACY = "security.txt:/security.txt"
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


def _security_txt_fields(body: str) -> dict[str, list[str]] | None:
    """RFC 9116 fields of a body, or None when it is not a security.txt (HTML soft 404, empty…)."""
    if _looks_html(body):
        return None
    fields: dict[str, list[str]] = {}
    for line in body.splitlines():
        text = line.strip()
        if not text or text.startswith(("#", "-----")):
            continue
        name, sep, value = text.partition(":")
        if sep and _FIELD_NAME.match(name.strip()):
            fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields if ("contact" in fields or "expires" in fields) else None


def _http_date(resp: HttpResponse) -> datetime | None:
    raw = resp.header("date")
    if not raw:
        return None
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class SecurityTxt(_WebCheck):
    """PASS: /.well-known/security.txt over HTTPS with Contact and an Expires within a year. WARN:
    expired, missing/too far Expires, no Contact, legacy path only, plain HTTP. FAIL (low): absent.
    INFO: valid but Expires not checkable (no Date header)."""

    id = "WEB-SECURITY-TXT"

    @classmethod
    def collector_requests(cls, params: Mapping[str, Any]) -> list[HttpProbe]:
        return [
            HttpProbe(key, key.split(":", 1)[1], ProbeLevel.PASSIVE, 8192)
            for key in (_SECTXT_WELL_KNOWN, _SECTXT_LEGACY)
        ]

    def _follow(self, resp: HttpResponse) -> HttpResponse:
        """Follow one redirect to a security.txt path of one of the target's hosts (apex -> www), as
        researchers' tools do; the answer is the probe the collector already made there."""
        location = _location(resp) if _is_redirect(resp) else None
        if location is None:
            return resp
        other = next((h for h in self._hosts if h.host.lower() == _hostname(location)), None)
        key = f"security.txt:{urlsplit(location).path}"
        if other is None or key not in (_SECTXT_WELL_KNOWN, _SECTXT_LEGACY) or key not in other.probes:
            return resp
        return other.probes[key]

    def judge(self, host: WebHost) -> Iterator[Finding]:
        keys = [_SECTXT_WELL_KNOWN, _SECTXT_LEGACY]
        outcome = self._probes(host, keys, ProbeLevel.PASSIVE)
        if isinstance(outcome, Finding):
            yield outcome
            return
        answered, unanswered = outcome
        found: dict[str, tuple[HttpResponse, dict[str, list[str]]]] = {}
        for key, resp in answered.items():
            final = self._follow(resp)
            fields = _security_txt_fields(final.body) if final.status == 200 else None
            if fields is not None:
                found[key] = (final, fields)
        if _SECTXT_WELL_KNOWN in found:
            yield self._judge_file(*found[_SECTXT_WELL_KNOWN])
        elif _SECTXT_LEGACY in found:
            resp = found[_SECTXT_LEGACY][0]
            yield self.finding(Status.WARN, resp.url, "legacy_only", url=resp.url)
        elif len(unanswered) == len(keys):
            yield self._probe_error(host, unanswered, len(keys))
        else:
            url = _probe_base(host) + ".well-known/security.txt"
            statuses = {k.split(":", 1)[1]: r.status for k, r in answered.items()}
            yield self.finding(Status.FAIL, url, "missing", evidence={"statuses": statuses}, url=url)

    def _judge_file(self, resp: HttpResponse, fields: Mapping[str, list[str]]) -> Finding:
        url = resp.url
        languages = ",".join(fields.get("preferred-languages", [])).lower()
        expires_raw = next(iter(fields.get("expires", [])), None)
        evidence = {
            "contact": fields.get("contact", [])[:5],
            "expires": expires_raw,
            "preferred_languages": languages or None,
            "french": "fr" in [lang.strip() for lang in languages.split(",")],
            "signed": "-----BEGIN PGP SIGNED MESSAGE-----" in resp.body,
            "content_type": resp.header("content-type"),
        }
        if _scheme(url) != "https":
            return self.finding(Status.WARN, url, "not_https", evidence=evidence, url=url)
        if not fields.get("contact"):
            return self.finding(Status.WARN, url, "no_contact", evidence=evidence, url=url)
        if expires_raw is None:
            return self.finding(Status.WARN, url, "no_expires", evidence=evidence, url=url)
        expires = parse_instant(expires_raw)
        if expires is None:
            return self.finding(
                Status.WARN, url, "bad_expires", evidence=evidence, url=url, expires=expires_raw
            )
        # Checks have no clock: the server's own Date header is the reference instant.
        # The time of collection when the facts carry it (replays judge as of the scan), else the
        # server's own Date header (facts saved by older versions).
        now = parse_instant(self._collected_at) if self._collected_at else _http_date(resp)
        if now is None:
            return self.finding(
                Status.INFO, url, "expiry_unchecked", evidence=evidence, url=url, expires=expires_raw
            )
        if expires <= now:
            return self.finding(Status.WARN, url, "expired", evidence=evidence, url=url, expires=expires_raw)
        if expires > now + timedelta(days=_p_int(self.params, "max_expiry_days")):
            return self.finding(
                Status.WARN, url, "expires_far", evidence=evidence, url=url, expires=expires_raw
            )
        return self.finding(Status.PASS, url, "pass", evidence=evidence, url=url, expires=expires_raw)


# --------------------------------------------------------------------------------------------------
# Exposed files, listings and back-offices (active probes)

# Confirmed by content, never by status: many sites answer 200 with an HTML page for any path.
_SENSITIVE_SIGNATURES: dict[str, re.Pattern[str]] = {
    "git": re.compile(r"\Aref: refs/\S+|\A[0-9a-f]{40}\s*\Z|^\s*repositoryformatversion\s*=", re.MULTILINE),
    "svn": re.compile(r"\A\d{1,2}\s*\n(?:\s*dir\b|\s*\Z)|<wc-entries"),
    "env": re.compile(r"^(?:export\s+)?[A-Z][A-Z0-9_]{1,63}=", re.MULTILINE),
    "ds_store": re.compile(r"\A\x00{0,3}\x01?Bud1"),
    "config_backup": re.compile(r"DB_PASSWORD|DB_NAME|<connectionStrings|public \$password|\$databases\s*="),
    "archive": re.compile(r"\APK\x03\x04|\A\x1f[\x8b\ufffd]|\ARar!\x1a\x07|\A.{257}ustar", re.DOTALL),
    "sql": re.compile(
        r"^-- (?:MySQL|MariaDB) dump|^-- PostgreSQL database dump"
        r"|^\s*(?:CREATE TABLE|INSERT INTO|DROP TABLE)",
        re.MULTILINE | re.IGNORECASE,
    ),
    "phpinfo": re.compile(r"phpinfo\(\)|<h1 class=\"p\">PHP Version"),
    "server_status": re.compile(r"Apache Server (?:Status|Information) for"),
    "htpasswd": re.compile(
        r"^[^:\s<>]{1,64}:(?:\$apr1\$|\$2[aby]\$|\{SHA\}|\$[156]\$|[./0-9A-Za-z]{13}$)", re.MULTILINE
    ),
}
# Text formats that an HTML error page could mimic; binary magic numbers need no such guard.
_TEXT_KINDS = {"env", "config_backup", "sql", "htpasswd", "git", "svn"}
_SENSITIVE_PREFIX = "sensitive:"


def _sensitive_kind(path: str) -> str | None:
    lower = path.lower()
    name = lower.rstrip("/").rsplit("/", 1)[-1]
    if "/.git/" in lower:
        return "git"
    if "/.svn/" in lower:
        return "svn"
    if name == ".ds_store":
        return "ds_store"
    if name.startswith(".env"):
        return "env"
    if name.startswith(".htpasswd"):
        return "htpasswd"
    if name.startswith(("wp-config", "web.config", "configuration.php", "settings.php", "config.php")):
        return "config_backup"
    if name.endswith(".sql"):
        return "sql"
    if name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".gz", ".rar")):
        return "archive"
    if "phpinfo" in name or name == "info.php":
        return "phpinfo"
    if name in ("server-status", "server-info"):
        return "server_status"
    return None


def _sensitive_match(path: str, body: str) -> tuple[str, re.Match[str]] | None:
    kind = _sensitive_kind(path)
    kinds = [kind] if kind is not None else list(_SENSITIVE_SIGNATURES)
    for candidate in kinds:
        if candidate in _TEXT_KINDS and _looks_html(body):
            continue
        match = _SENSITIVE_SIGNATURES[candidate].search(body)
        if match is not None:
            return candidate, match
    return None


@dataclass(frozen=True)
class _Exposed:
    path: str
    status: int | None
    kind: str
    severity: Severity
    excerpt: str

    def to_evidence(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "kind": self.kind,
            "severity": self.severity.value,
            "excerpt": self.excerpt,
        }


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value))
    except ValueError:
        return Severity.MEDIUM


class _PathProbeCheck(_WebCheck):
    """A check probing each path of its `paths` param (ACTIVE), answers stored under `probe_prefix + path`."""

    probe_prefix: ClassVar[str]

    @classmethod
    def collector_requests(cls, params: Mapping[str, Any]) -> list[HttpProbe]:
        size = _p_int(params, "max_bytes")
        return [HttpProbe(cls.probe_prefix + p, p, ProbeLevel.ACTIVE, size) for p in _p_strs(params, "paths")]

    def _path_probes(self, host: WebHost) -> tuple[dict[str, HttpResponse], list[HttpResponse]] | Finding:
        keys = [self.probe_prefix + p for p in _p_strs(self.params, "paths")]
        return self._probes(host, keys, ProbeLevel.ACTIVE)


class SensitiveFiles(_PathProbeCheck):
    """PASS: none of the fixed paths serves a recognisable artefact. FAIL critical (.env, .git, SQL,
    archives, config backups) or high (phpinfo, server-status). WARN: other artefacts.
    NOT_TESTED: host outside the scope."""

    id = "WEB-SENSITIVE-FILES"
    probe_prefix = _SENSITIVE_PREFIX

    def judge(self, host: WebHost) -> Iterator[Finding]:
        outcome = self._path_probes(host)
        if isinstance(outcome, Finding):
            yield outcome
            return
        answered, unanswered = outcome
        severities = _p_table(self.params, "kind_severity")
        exposed: list[_Exposed] = []
        for key, resp in answered.items():
            if resp.status is None or not 200 <= resp.status < 300:
                continue
            path = key.removeprefix(_SENSITIVE_PREFIX)
            matched = _sensitive_match(path, resp.body)
            if matched is not None:
                kind, match = matched
                severity = _severity(severities.get(kind, "medium"))
                exposed.append(_Exposed(path, resp.status, kind, severity, _excerpt(match.group(0), 60)))
        url = _probe_base(host)
        if not exposed:
            if unanswered:
                yield self._probe_error(host, unanswered, len(_p_strs(self.params, "paths")))
            else:
                yield self.finding(
                    Status.PASS, url, "pass", url=url, count=len(_p_strs(self.params, "paths"))
                )
            return
        exposed.sort(key=lambda item: -item.severity.rank)
        worst = exposed[0].severity
        evidence = {"exposed": [e.to_evidence() for e in exposed[:_MAX_ITEMS]], "unanswered": len(unanswered)}
        paths = join_bounded(item.path for item in exposed)
        if worst in (Severity.CRITICAL, Severity.HIGH):
            yield self.finding(
                Status.FAIL, url, "exposed", evidence=evidence, severity=worst, url=url, paths=paths
            )
        else:
            yield self.finding(
                Status.WARN, url, "artefacts", evidence=evidence, severity=worst, url=url, paths=paths
            )


_LISTING = re.compile(
    r"<title>\s*(?:Index of /|Directory listing for /)|<h1>\s*Index of /|\[To Parent Directory\]",
    re.IGNORECASE,
)
_HREF = re.compile(r"""href\s*=\s*["']([^"'?#]+)["']""", re.IGNORECASE)
_DIRLIST_PREFIX = "dirlist:"


class DirListing(_PathProbeCheck):
    """PASS: no auto-index on / and upload folders. WARN: a directory listing. FAIL (high): a listing
    shows backups, dumps or spreadsheets (`sensitive_extensions`). NOT_TESTED: host outside the scope."""

    id = "WEB-DIR-LISTING"
    probe_prefix = _DIRLIST_PREFIX

    def judge(self, host: WebHost) -> Iterator[Finding]:
        outcome = self._path_probes(host)
        if isinstance(outcome, Finding):
            yield outcome
            return
        answered, unanswered = outcome
        extensions = tuple(e.lower() for e in _p_strs(self.params, "sensitive_extensions"))
        listings: list[tuple[str, list[str]]] = []
        for key, resp in answered.items():
            if resp.status == 200 and _LISTING.search(resp.body):
                names = [unquote(h).rstrip("/").rsplit("/", 1)[-1] for h in _HREF.findall(resp.body)]
                risky = sorted({n for n in names if n.lower().endswith(extensions)})
                listings.append((key.removeprefix(_DIRLIST_PREFIX), risky))
        url = _probe_base(host)
        if not listings:
            if unanswered:
                yield self._probe_error(host, unanswered, len(_p_strs(self.params, "paths")))
            else:
                yield self.finding(Status.PASS, url, "pass", url=url)
            return
        evidence = {
            "listings": [{"path": p, "sensitive": risky[:_MAX_ITEMS]} for p, risky in listings][:_MAX_ITEMS],
            "truncated_bodies": any(r.body_truncated for r in answered.values()),
        }
        paths = join_bounded(p for p, _ in listings)
        files = [f for _, risky in listings for f in risky]
        if files:
            yield self.finding(
                Status.FAIL,
                url,
                "sensitive",
                evidence=evidence,
                severity=Severity.HIGH,
                url=url,
                paths=paths,
                files=join_bounded(files, 5),
            )
        else:
            yield self.finding(Status.WARN, url, "listing", evidence=evidence, url=url, paths=paths)


@dataclass(frozen=True)
class _AdminProduct:
    name: str
    hints: tuple[str, ...]
    pattern: re.Pattern[str]
    #: "db_admin" (fail high), "xmlrpc" (warn medium) or "login" (warn low)
    category: str


_ADMIN_PRODUCTS = (
    _AdminProduct(
        "phpMyAdmin",
        ("phpmyadmin", "/pma"),
        re.compile(r"pma_username|input_username|pma_password|<title>phpMyAdmin", re.IGNORECASE),
        "db_admin",
    ),
    _AdminProduct(
        "Adminer",
        ("adminer",),
        re.compile(r"auth\[username\]|<title>[^<]*Adminer", re.IGNORECASE),
        "db_admin",
    ),
    _AdminProduct(
        "WordPress XML-RPC", ("xmlrpc",), re.compile(r"XML-RPC server accepts POST requests only"), "xmlrpc"
    ),
    _AdminProduct(
        "WordPress",
        ("wp-login", "wp-admin"),
        re.compile(r"wp-submit|id=\"user_login\"|wp-login\.php"),
        "login",
    ),
    _AdminProduct(
        "Joomla", ("administrator",), re.compile(r"com_login|mod-login-username|id=\"form-login\""), "login"
    ),
    _AdminProduct("Drupal", ("user/login",), re.compile(r"user-login-form|id=\"user-login\""), "login"),
    _AdminProduct("SPIP", ("ecrire",), re.compile(r"page=login|formulaire_login|var_login"), "login"),
    _AdminProduct(
        "TYPO3",
        ("typo3",),
        re.compile(r"typo3-login|t3js-login|TYPO3 CMS Login|/typo3/(?:login|index\.php)"),
        "login",
    ),
)
_ADMIN_PREFIX = "admin:"
_ADMIN_RANK = {"db_admin": 3, "xmlrpc": 2, "login": 1}


def _admin_match(path: str, resp: HttpResponse) -> _AdminProduct | None:
    # 401/403: the page exists but is closed to anonymous visitors. 405 is WordPress's answer to a GET
    # on a live xmlrpc.php, so it still counts when the body carries the signature.
    if resp.status is None or not (200 <= resp.status < 400 or resp.status == 405):
        return None
    # A redirect (wp-admin/ -> wp-login.php, ecrire/ -> spip.php?page=login) is judged on its target.
    text = (_location(resp) or "") if _is_redirect(resp) else resp.body
    lower = path.lower()
    hinted = [p for p in _ADMIN_PRODUCTS if any(h in lower for h in p.hints)]
    return next((p for p in hinted or _ADMIN_PRODUCTS if p.pattern.search(text)), None)


class AdminPaths(_PathProbeCheck):
    """PASS: no back-office found on the usual paths. WARN: CMS login reachable (low, MFA unknown) or
    XML-RPC enabled (medium). FAIL (high): phpMyAdmin/Adminer reachable. NOT_TESTED: out of scope."""

    id = "WEB-ADMIN-PATHS"
    probe_prefix = _ADMIN_PREFIX

    def judge(self, host: WebHost) -> Iterator[Finding]:
        outcome = self._path_probes(host)
        if isinstance(outcome, Finding):
            yield outcome
            return
        answered, unanswered = outcome
        found: list[tuple[str, _AdminProduct, int | None]] = []
        for key, resp in answered.items():
            path = key.removeprefix(_ADMIN_PREFIX)
            product = _admin_match(path, resp)
            if product is not None:
                found.append((path, product, resp.status))
        url = _probe_base(host)
        if not found:
            if unanswered:
                yield self._probe_error(host, unanswered, len(_p_strs(self.params, "paths")))
            else:
                yield self.finding(Status.PASS, url, "pass", url=url)
            return
        found.sort(key=lambda item: -_ADMIN_RANK[item[1].category])
        evidence = {
            "reachable": [{"path": p, "product": prod.name, "status": s} for p, prod, s in found][
                :_MAX_ITEMS
            ],
            "unanswered": len(unanswered),
        }
        values = {
            "url": url,
            "paths": join_bounded(p for p, _, _ in found),
            "products": join_bounded(prod.name for _, prod, _ in found),
        }
        category = found[0][1].category
        if category == "db_admin":
            yield self.finding(
                Status.FAIL, url, "db_admin", evidence=evidence, severity=Severity.HIGH, **values
            )
        elif category == "xmlrpc":
            yield self.finding(
                Status.WARN, url, "xmlrpc", evidence=evidence, severity=Severity.MEDIUM, **values
            )
        else:
            yield self.finding(
                Status.WARN, url, "cms_login", evidence=evidence, severity=Severity.LOW, **values
            )


# --------------------------------------------------------------------------------------------------
# CMS versions

_CMS_LABELS = {
    "wordpress": "WordPress",
    "joomla": "Joomla!",
    "drupal": "Drupal",
    "spip": "SPIP",
    "typo3": "TYPO3",
}
_GENERATORS = (
    ("wordpress", re.compile(r"\bWordPress\b(?:\s+(\d+(?:\.\d+)*))?", re.IGNORECASE)),
    ("joomla", re.compile(r"\bJoomla!?(?:\s+(\d+(?:\.\d+)*))?", re.IGNORECASE)),
    ("drupal", re.compile(r"\bDrupal\b(?:\s+(\d+(?:\.\d+)*))?", re.IGNORECASE)),
    ("spip", re.compile(r"\bSPIP\b(?:\s+(\d+(?:\.\d+)*))?", re.IGNORECASE)),
    ("typo3", re.compile(r"\bTYPO3\b(?:\s+(?:CMS\s+)?(\d+(?:\.\d+)*))?", re.IGNORECASE)),
)
_PATH_HINTS = (
    ("wordpress", ("/wp-content/", "/wp-includes/")),
    ("joomla", ("/media/jui/", "/media/system/js/", "/components/com_")),
    ("drupal", ("/sites/default/files/", "/core/misc/", "/misc/drupal.js")),
    ("spip", ("/spip.php", "/squelettes-dist/", "/local/cache-")),
    ("typo3", ("/typo3temp/", "/typo3conf/")),
)
# Core assets only: plugin and theme assets carry their own version, not the CMS's.
_CORE_ASSETS = (
    ("wordpress", ("/wp-includes/",)),
    ("drupal", ("/core/misc/", "/core/assets/", "/core/modules/", "/core/themes/")),
)
_CMS_PROBES = (
    (
        "wordpress",
        re.compile(r"<title>\s*WordPress", re.IGNORECASE),
        re.compile(r"\bVersion\s+(\d+\.\d+(?:\.\d+)?)"),
    ),
    (
        "joomla",
        re.compile(r"files_joomla", re.IGNORECASE),
        re.compile(r"<version>\s*(\d+(?:\.\d+)+)\s*</version>"),
    ),
    (
        "drupal",
        re.compile(r"^\s*Drupal \d", re.MULTILINE),
        re.compile(r"^\s*Drupal (\d+\.\d+(?:\.\d+)?)", re.MULTILINE),
    ),
)
_CMS_PREFIX = "cms:"


@dataclass(frozen=True)
class _Detection:
    cms: str
    version: tuple[int, ...]
    source: str


def _generator_detections(source: str, text: str) -> list[_Detection]:
    found = []
    for cms, pattern in _GENERATORS:
        match = pattern.search(text)
        if match is not None:
            found.append(_Detection(cms, _version_tuple(match.group(1) or ""), source))
    return found


class CmsOutdated(_WebCheck):
    """PASS: CMS on the latest release of its branch (per the `versions` data as of `as_of`). WARN: behind
    it. FAIL (high): end-of-life branch. INFO: version hidden, partial or without reference data.
    N/A: no CMS detected. NOT_TESTED: nothing visible passively and probes out of scope."""

    id = "WEB-CMS-OUTDATED"

    @classmethod
    def collector_requests(cls, params: Mapping[str, Any]) -> list[HttpProbe]:
        size = _p_int(params, "max_bytes")
        return [
            HttpProbe(_CMS_PREFIX + p, p, ProbeLevel.ACTIVE, size) for p in _p_strs(params, "probe_paths")
        ]

    def _passive(self, host: WebHost) -> list[_Detection]:
        found: list[_Detection] = []
        page = host.page
        resp = _last_answer(host.https) or _last_answer(host.http)
        if resp is not None:
            for header in ("x-generator", "composed-by", "x-powered-by"):
                for value in resp.header_values(header):
                    found += _generator_detections(header, value)
        if page is None:
            return found
        for generator in page.generators:
            found += _generator_detections("generator", generator)
        for asset in page.versioned_assets:
            version = _asset_version(asset)
            for cms, markers in _CORE_ASSETS:
                if version and any(m in asset for m in markers):
                    found.append(_Detection(cms, _version_tuple(version), "asset"))
        urls = [e.url for e in page.elements] + list(page.versioned_assets)
        for cms, hints in _PATH_HINTS:
            if any(h in u for u in urls for h in hints):
                found.append(_Detection(cms, (), "path"))
        return found

    def _probed(self, answered: Mapping[str, HttpResponse]) -> list[_Detection]:
        found = []
        for key, resp in answered.items():
            if resp.status != 200:
                continue
            for cms, detect, version in _CMS_PROBES:
                if detect.search(resp.body):
                    match = version.search(resp.body)
                    found.append(_Detection(cms, _version_tuple(match.group(1)) if match else (), key))
        return found

    def judge(self, host: WebHost) -> Iterator[Finding]:
        url = _page_url(host)
        found = self._passive(host)
        probes_note = "not needed"
        if not any(d.version for d in found):
            if host.active_allowed:
                keys = [_CMS_PREFIX + p for p in _p_strs(self.params, "probe_paths")]
                outcome = self._probes(host, keys, ProbeLevel.ACTIVE)
                if isinstance(outcome, Finding):
                    yield outcome
                    return
                found += self._probed(outcome[0])
                probes_note = f"{len(outcome[0])} answered, {len(outcome[1])} unanswered"
            else:
                probes_note = "not sent: host outside the scope"
        if not found:
            if host.active_allowed:
                yield self.finding(
                    Status.NOT_APPLICABLE, url, "no_cms", evidence={"probes": probes_note}, url=url
                )
            else:
                yield self.out_of_scope(url, host.host)
            return
        best = max(found, key=lambda d: len(d.version))
        label = _CMS_LABELS[best.cms]
        as_of = _p_str(self.params, "as_of")
        evidence: dict[str, Any] = {
            "detections": [
                f"{_CMS_LABELS[d.cms]} {_version_text(d.version)} ({d.source})".strip() for d in found
            ][:_MAX_ITEMS],
            "probes": probes_note,
            "reference_data": as_of,
        }
        if not best.version:
            yield self.finding(Status.INFO, url, "version_hidden", evidence=evidence, url=url, cms=label)
            return
        data = _p_table(_p_table(self.params, "versions"), best.cms)
        verdict, reference = _cms_verdict(best.version, data)
        evidence["reference"] = _version_text(reference) if reference else None
        values: dict[str, Any] = {
            "url": url,
            "cms": label,
            "version": _version_text(best.version),
            "as_of": as_of,
        }
        if verdict == "eol":
            yield self.finding(Status.FAIL, url, "eol", evidence=evidence, **values)
        elif verdict == "behind":
            yield self.finding(
                Status.WARN, url, "behind", evidence=evidence, latest=_version_text(reference), **values
            )
        elif verdict == "current":
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, **values)
        elif verdict == "partial":
            yield self.finding(Status.INFO, url, "version_partial", evidence=evidence, **values)
        else:
            yield self.finding(Status.INFO, url, "no_reference", evidence=evidence, **values)


def _cms_verdict(version: tuple[int, ...], data: Mapping[str, Any]) -> tuple[str, tuple[int, ...]]:
    """eol / behind / current / partial / unknown, with the reference release it was compared with."""
    for prefix in (_version_tuple(str(p)) for p in data.get("eol", [])):
        if prefix and version[: len(prefix)] == prefix:
            return "eol", prefix
    depth = int(data.get("branch_depth", 2))
    if len(version) < depth:
        return "partial", ()
    latest = [v for v in (_version_tuple(str(x)) for x in data.get("latest", [])) if v]
    same_branch = [v for v in latest if v[:depth] == version[:depth]]
    if same_branch:
        newest = max(same_branch)
        return ("behind" if version < newest else "current"), newest
    if latest:
        # A branch absent from the data: older than the newest known release means unsupported
        # (WordPress officially maintains only its latest branch); newer means the data is stale.
        newest = max(latest)
        return ("behind" if version < newest else "current"), newest
    return "unknown", ()


# --------------------------------------------------------------------------------------------------
# CORS

_CORS_KEY = "cors:/"


class Cors(_WebCheck):
    """PASS: a foreign Origin gets no permissive CORS answer. FAIL: that origin (or `null`) reflected with
    credentials. WARN: origin reflected without credentials. INFO: `*` (fine for public pages)."""

    id = "WEB-CORS"

    @classmethod
    def collector_requests(cls, params: Mapping[str, Any]) -> list[HttpProbe]:
        origin = _p_str(params, "probe_origin")
        return [HttpProbe(_CORS_KEY, "/", ProbeLevel.PASSIVE, 1024, (("origin", origin),))]

    def judge(self, host: WebHost) -> Iterator[Finding]:
        resp = self._single_probe(host, _CORS_KEY, ProbeLevel.PASSIVE)
        if isinstance(resp, Finding):
            yield resp
            return
        url = resp.url
        allowed = (resp.header("access-control-allow-origin") or "").strip()
        credentials = (resp.header("access-control-allow-credentials") or "").strip().lower() == "true"
        origin = _p_str(self.params, "probe_origin").rstrip("/").lower()
        evidence = {"allow_origin": _clip(allowed), "allow_credentials": credentials, "status": resp.status}
        reflected = allowed.rstrip("/").lower() == origin
        if reflected and credentials:
            yield self.finding(Status.FAIL, url, "reflected_credentials", evidence=evidence, url=url)
        elif allowed == "null" and credentials:
            yield self.finding(Status.FAIL, url, "null_credentials", evidence=evidence, url=url)
        elif reflected:
            yield self.finding(
                Status.WARN, url, "reflected", evidence=evidence, severity=Severity.LOW, url=url
            )
        elif allowed == "*":
            yield self.finding(Status.INFO, url, "wildcard", evidence=evidence, url=url)
        else:
            yield self.finding(Status.PASS, url, "pass", evidence=evidence, url=url)


CHECKS: list[type[Check]] = [
    HttpsAvailable,
    HttpsRedirect,
    Hsts,
    Csp,
    Frame,
    Referrer,
    Nosniff,
    CookieFlags,
    MixedContent,
    InfoDisclosure,
    ErrorDisclosure,
    SecurityTxt,
    SensitiveFiles,
    DirListing,
    AdminPaths,
    CmsOutdated,
    ThirdPartySri,
    Cors,
]
