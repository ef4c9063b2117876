"""Facts gathered by the HTTP collector: redirect chains, headers, a parsed homepage, probe answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from ..plugin import Facts
from ..scope import ProbeLevel


@dataclass(frozen=True)
class TlsOutcome:
    """How the HTTPS connection went, as seen by the HTTP client (TLS itself is judged by sslyze)."""

    #: chain and host name verified against the Mozilla store (+ --ca-bundle)
    verified: bool
    #: why verification or the handshake failed, e.g. "certificate has expired"
    error: str | None = None
    #: a permissive client context (no verification, SECLEVEL=0, TLS 1.0+) was needed to fetch at all
    permissive: bool = False
    #: negotiated protocol, e.g. "TLSv1.3"
    version: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    """One GET and its answer; `status` is None when no HTTP answer came back (see `error`)."""

    url: str
    status: int | None = None
    #: (lower-cased name, value) in arrival order; repeated headers (set-cookie) stay separate
    headers: tuple[tuple[str, str], ...] = ()
    #: decoded text prefix of the body, at most the probe's byte budget
    body: str = ""
    body_truncated: bool = False
    #: kind of failure: timeout, unreachable, tls, dns, protocol, out_of_scope, deadline
    error_kind: str | None = None
    error: str | None = None
    tls: TlsOutcome | None = None

    def header(self, name: str) -> str | None:
        """First value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in order."""
        wanted = name.lower()
        return [v for k, v in self.headers if k == wanted]

    @property
    def ok(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class RedirectChain:
    """The responses met from a start URL, following redirects within the target's own hosts."""

    start_url: str
    hops: tuple[HttpResponse, ...] = ()
    #: why following stopped early: "external" (redirect off the target, not followed),
    #: "max_redirects", "loop", "bad_location"; None when the last hop is not a redirect or failed
    stopped: str | None = None
    #: the Location that was not followed (bounded raw text), whenever `stopped` is set
    next_location: str | None = None

    @property
    def first(self) -> HttpResponse | None:
        return self.hops[0] if self.hops else None

    @property
    def final(self) -> HttpResponse | None:
        return self.hops[-1] if self.hops else None


@dataclass(frozen=True)
class PageElement:
    """A resource reference found in a page: `tag` is script, stylesheet, iframe, img, media, form, object."""

    tag: str
    url: str
    integrity: str | None = None


@dataclass(frozen=True)
class PageSummary:
    """What the checks need from the final HTTPS (else HTTP) homepage, parsed once by the collector."""

    url: str
    #: absolute URLs (resolved against the page) of subresources and form actions
    elements: tuple[PageElement, ...] = ()
    #: <meta name="generator" content="…"> values
    generators: tuple[str, ...] = ()
    #: asset URLs carrying a version query (?ver=, ?v=), e.g. WordPress core and plugin assets
    versioned_assets: tuple[str, ...] = ()
    #: <meta http-equiv="Content-Security-Policy"> content, if any
    meta_csp: str | None = None
    has_password_field: bool = False
    has_form: bool = False
    #: the body was longer than the collector's budget: elements after the cut are not listed
    truncated: bool = False


@dataclass(frozen=True)
class HttpProbe:
    """An extra GET a check asks the collector for (sensitive file, admin path, error page, CORS…).

    Checks declare probes through `Check.collector_requests`; the collector runs the union of the
    selected checks' probes once per web host and stores the answers under `key`.
    """

    key: str
    #: path on the host; "{random}" becomes a token unique to the origin, stable across scans
    path: str
    level: ProbeLevel = ProbeLevel.ACTIVE
    #: how many body bytes to read at most: enough to confirm, never a download
    max_bytes: int = 2048
    #: extra request headers, e.g. (("origin", "https://probe.cyberscan.invalid"),)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WebHost:
    """Everything fetched from one web host (apex, www, a URL's host or an IP)."""

    host: str
    #: "apex", "www", "url" or "ip"
    role: str
    #: address every request to this host went to (pinned once through the engine resolver)
    address: str | None = None
    #: the name did not resolve (NXDOMAIN, timeout…): nothing else was fetched
    resolve_error: str | None = None
    #: why: "nxdomain", "no_address" (exists, no A/AAAA), "timeout" or "failure"
    resolve_error_kind: str | None = None
    #: True when the address is inside the declared scope, so ACTIVE probes were allowed
    active_allowed: bool = False
    http: RedirectChain | None = None
    https: RedirectChain | None = None
    page: PageSummary | None = None
    #: probe key -> answer; a probe refused by the scope or not requested is absent
    probes: Mapping[str, HttpResponse] = field(default_factory=dict)
    #: origin the probes were sent to, e.g. "https://www.mairie-exemple.fr"
    probe_origin: str | None = None

    @property
    def label(self) -> str:
        return self.host


@dataclass(frozen=True)
class HttpFacts(Facts):
    """HTTP facts for every web host of a target."""

    kind: ClassVar[str] = "http"
    hosts: tuple[WebHost, ...] = ()
    #: when the facts were collected (ISO 8601 UTC): dates are judged against this, not the clock
    collected_at: str = ""
