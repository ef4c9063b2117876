"""HTTP collector: redirect chains, headers and parsed homepage of every web host, plus checks' probes."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

import httpx

from ..net.guard import NetworkGuard
from ..net.resolver import ResolutionError
from ..plugin import Collector, CollectorContext
from ..scope import ProbeLevel
from ..targets import Target, TargetKind, WebOrigin
from .html_page import parse_page
from .http_facts import HttpFacts, HttpProbe, HttpResponse, PageSummary, RedirectChain, WebHost
from .http_session import HttpSession

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: body kept for a redirect answer: it is never parsed, only shown as evidence
REDIRECT_BODY_CHARS = 2048
#: checklist §3.3: at most 2 concurrent HTTP connections
MAX_THREADS = 2
DEFAULT_PORTS = {"http": 80, "https": 443}

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _Settings:
    max_rps: float
    max_body_bytes: int
    max_redirects: int
    http_port: int
    https_port: int

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> _Settings:
        merged = {**HttpCollector.defaults, **settings}
        return cls(
            max_rps=float(merged["max_rps"]),
            max_body_bytes=max(0, int(merged["max_body_bytes"])),
            max_redirects=max(0, int(merged["max_redirects"])),
            http_port=int(merged["http_port"]),
            https_port=int(merged["https_port"]),
        )


class _TargetHosts:
    """Decides which redirect destinations belong to the target and may be followed."""

    def __init__(self, target: Target) -> None:
        host = (target.host or "").lower()
        self._domain = host[4:] if target.kind is TargetKind.DOMAIN and host.startswith("www.") else host
        self._kind = target.kind

    def owns(self, host: str, origin_host: str) -> bool:
        """True when a redirect to `host`, met while fetching `origin_host`, stays on the target."""
        host = host.lower().rstrip(".")
        if self._kind is TargetKind.DOMAIN:
            return host == self._domain or host.endswith("." + self._domain)
        return host == origin_host.lower()


def _url(scheme: str, host: str, port: int, path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    netloc = shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return f"{scheme}://{netloc}{path if path.startswith('/') else '/' + path}"


def _origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    return _url(parsed.scheme, _host_of(url), port, "/").rstrip("/")


def _host_of(url: str) -> str:
    # raw_host is the IDNA (punycode) form, the form target names are normalised to.
    return httpx.URL(url).raw_host.decode("ascii", "replace").lower()


def _role(target: Target, origin: WebOrigin) -> str:
    if target.kind is TargetKind.DOMAIN:
        return "www" if origin.host.startswith("www.") else "apex"
    return "url" if target.kind is TargetKind.URL else "ip"


def _canonical(url: str) -> str:
    try:
        return str(httpx.URL(url))
    except (httpx.InvalidURL, ValueError, TypeError):
        return url


def _next_hop(current: str, location: str | None) -> tuple[str | None, str | None]:
    """(absolute URL, stop reason) for a redirect's Location, resolved against the current URL."""
    if location is None or not location.strip():
        return None, "bad_location"
    try:
        parsed = httpx.URL(current).join(location.strip())
        port = parsed.port
    except (httpx.InvalidURL, ValueError, TypeError):
        return None, "bad_location"
    if parsed.scheme in DEFAULT_PORTS and (not parsed.raw_host or not 0 < (port or 1) < 65536):
        return None, "bad_location"
    return str(parsed), None


def _trim_redirect(response: HttpResponse) -> HttpResponse:
    if len(response.body) <= REDIRECT_BODY_CHARS:
        return response
    return dataclasses.replace(response, body=response.body[:REDIRECT_BODY_CHARS], body_truncated=True)


def follow_chain(
    get: Callable[[str], HttpResponse],
    start_url: str,
    owns: Callable[[str], bool],
    max_redirects: int,
) -> RedirectChain:
    """Fetch `start_url` and follow redirects that stay on the target, never more than `max_redirects`.

    `get` does the I/O (one GET, no redirect following); `owns(host)` says whether a host belongs to
    the target. A Location elsewhere is recorded but never fetched.
    """
    hops: list[HttpResponse] = []
    visited = {_canonical(start_url)}
    url = start_url
    while True:
        response = get(url)
        if response.status not in REDIRECT_STATUSES:
            hops.append(response)
            return RedirectChain(start_url=start_url, hops=tuple(hops))
        hops.append(_trim_redirect(response))
        location = response.header("location")
        shown = location[:REDIRECT_BODY_CHARS] if location else None
        next_url, stop = _next_hop(url, location)
        if next_url is None:
            return RedirectChain(start_url, tuple(hops), stopped=stop, next_location=shown)
        if httpx.URL(next_url).scheme not in DEFAULT_PORTS or not owns(_host_of(next_url)):
            return RedirectChain(start_url, tuple(hops), stopped="external", next_location=next_url)
        if next_url in visited:
            return RedirectChain(start_url, tuple(hops), stopped="loop", next_location=next_url)
        if len(hops) > max_redirects:
            return RedirectChain(start_url, tuple(hops), stopped="max_redirects", next_location=next_url)
        visited.add(next_url)
        url = next_url


def page_of(https: RedirectChain | None, http: RedirectChain | None) -> PageSummary | None:
    """Parse the final 2xx answer of the HTTPS chain, else of the HTTP chain."""
    for chain in (https, http):
        final = chain.final if chain is not None else None
        if final is not None and final.status is not None and 200 <= final.status < 300:
            return parse_page(final.url, final.body, final.body_truncated)
    return None


def probe_origin_of(https: RedirectChain | None, http: RedirectChain | None) -> str | None:
    """Origin of the last hop that answered, HTTPS chain first; None when nothing answered."""
    for chain in (https, http):
        answered = [hop for hop in (chain.hops if chain is not None else ()) if hop.ok]
        if answered:
            return _origin_of(answered[-1].url)
    return None


def _map_limited(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`fn` over `items`, MAX_THREADS at a time, in daemon threads.

    Not a ThreadPoolExecutor: its workers are joined at interpreter exit, so a server dribbling its
    answer would keep the process alive after the runner abandoned this collector at the deadline.
    """
    if len(items) <= 1:
        return [fn(item) for item in items]
    results: list[R | None] = [None] * len(items)
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            results[index] = fn(items[index])
        except BaseException as exc:  # re-raised in the caller's thread below
            failures.append(exc)

    for start in range(0, len(items), MAX_THREADS):
        threads = [
            threading.Thread(target=work, args=(i,), name="cyberscan-http", daemon=True)
            for i in range(start, min(start + MAX_THREADS, len(items)))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    return cast(list[R], results)  # every slot was filled: a failure would have been raised


class HttpCollector(Collector):
    """Fetches each web host's http:// and https:// redirect chains, its homepage, and checks' probes."""

    name = "http"
    provides = HttpFacts
    defaults: ClassVar[Mapping[str, Any]] = {
        "max_rps": 5.0,
        "max_body_bytes": 262144,
        "max_redirects": 5,
        "http_port": 80,
        "https_port": 443,
    }

    def collect(self, target: Target, ctx: CollectorContext) -> HttpFacts:
        settings = _Settings.from_mapping(ctx.settings)
        collected_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        origins = target.web_origins()
        probes = tuple(p for p in ctx.requests if isinstance(p, HttpProbe))
        owner = _TargetHosts(target)
        # One session for the whole target: its pacing then bounds the rate towards apex and www
        # together, which usually are the same server.
        session = HttpSession(ctx.guard, ctx.op_timeout, ctx.user_agent, ctx.ca_bundle, settings.max_rps)
        with session:
            fetched = _map_limited(
                lambda origin: self._fetch_host(session, ctx.guard, target, origin, owner, settings), origins
            )
            answers = self._run_probes(session, ctx, [h.probe_origin for h in fetched], probes)
        return HttpFacts(hosts=tuple(_with_probes(h, answers) for h in fetched), collected_at=collected_at)

    def _fetch_host(
        self,
        session: HttpSession,
        guard: NetworkGuard,
        target: Target,
        origin: WebOrigin,
        owner: _TargetHosts,
        settings: _Settings,
    ) -> WebHost:
        """Resolve one web host and fetch its two homepage chains (I/O only; parsing is delegated)."""
        role = _role(target, origin)
        try:
            guard.resolver.addresses(origin.host)
            address = guard.pin(origin.host, ProbeLevel.PASSIVE)
        except ResolutionError as exc:
            return WebHost(origin.host, role, resolve_error=exc.detail, resolve_error_kind=exc.reason)

        def get(url: str) -> HttpResponse:
            return session.get(url, ProbeLevel.PASSIVE, settings.max_body_bytes)

        def owns(host: str) -> bool:
            return owner.owns(host, origin.host)

        def chain(scheme: str, port: int) -> RedirectChain:
            return follow_chain(
                get, _url(scheme, origin.host, port, origin.path), owns, settings.max_redirects
            )

        https = chain("https", origin.https_port or settings.https_port)
        http = chain("http", origin.http_port or settings.http_port)
        probe_origin = probe_origin_of(https, http)
        return WebHost(
            host=origin.host,
            role=role,
            address=address,
            active_allowed=_may_probe(guard, _host_of(probe_origin) if probe_origin else origin.host),
            http=http,
            https=https,
            page=page_of(https, http),
            probe_origin=probe_origin,
        )

    def _run_probes(
        self,
        session: HttpSession,
        ctx: CollectorContext,
        origins: Iterable[str | None],
        probes: tuple[HttpProbe, ...],
    ) -> dict[str, dict[str, HttpResponse]]:
        """Probe answers per origin; hosts redirecting to the same origin share one set of requests."""
        unique = list(dict.fromkeys(o for o in origins if o is not None))
        if not probes:
            return {o: {} for o in unique}
        results = _map_limited(lambda o: self._probe_origin(session, ctx, o, probes), unique)
        return dict(zip(unique, results, strict=True))

    def _probe_origin(
        self, session: HttpSession, ctx: CollectorContext, origin: str, probes: tuple[HttpProbe, ...]
    ) -> dict[str, HttpResponse]:
        active_allowed = _may_probe(ctx.guard, _host_of(origin))
        answers: dict[str, HttpResponse] = {}
        deadline_hit = False
        for probe in probes:
            if probe.level is ProbeLevel.ACTIVE and not active_allowed:
                continue  # the guard would refuse it: do not even try
            path = probe.path.replace("{random}", _token(origin))
            if not path.startswith("/"):
                path = "/" + path
            if deadline_hit or ctx.remaining() <= 0:
                # Recorded, not left absent: the checks must say "deadline", not "not collected".
                deadline_hit = True
                answers[probe.key] = HttpResponse(
                    url=origin + path,
                    error_kind="deadline",
                    error="target deadline reached before this probe",
                )
                continue
            response = session.get(origin + path, probe.level, probe.max_bytes, probe.headers)
            deadline_hit = response.error_kind == "deadline"
            answers[probe.key] = response
        return answers


def _token(origin: str) -> str:
    # Unguessable from any generic wordlist, yet stable for one origin so that two scans diff cleanly.
    return hashlib.sha256(f"cyberscan:{origin}".encode()).hexdigest()[:16]


def _with_probes(host: WebHost, answers: Mapping[str, dict[str, HttpResponse]]) -> WebHost:
    if host.probe_origin is None:
        return host
    return dataclasses.replace(host, probes=dict(answers.get(host.probe_origin, {})))


def _may_probe(guard: NetworkGuard, host: str) -> bool:
    try:
        return guard.may_probe(host)
    except ResolutionError:
        return False
