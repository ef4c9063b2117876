"""A small loopback web server doing virtual hosting (Host header) and per-site certificates (SNI).

Used by `cyberscan demo` and by the tests: sites are plain data, the server only ever listens on
127.0.0.1, and every request it receives is recorded so tests can assert what was (not) sent.
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import trustme

from .tlsserver import mint_certificate

CertificateKind = Literal["valid", "expired", "wrong_name", "untrusted"]

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Route:
    """A canned answer. Header values may use placeholders filled per request.

    `{host}` is the requested host name (without port), `{path}` the request path with its query,
    `{https_origin}` this server's HTTPS origin for that host (e.g. "https://site.test:8443"),
    `{https_port}` this server's HTTPS port, and `{origin}` the request's Origin header; a header
    using `{origin}` is omitted when the request has none.
    """

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    #: seconds to wait before answering (tests of timeouts and deadlines)
    delay: float = 0.0


NOT_FOUND = Route(404, (("Content-Type", "text/plain; charset=utf-8"),), b"Not Found\n")


@dataclass(frozen=True)
class Site:
    """One virtual host: its names, HTTPS routes, optional distinct HTTP routes, and its certificate."""

    hosts: Sequence[str]
    routes: Mapping[str, Route] = field(default_factory=dict)
    default: Route = NOT_FOUND
    #: routes of the plain-HTTP listener; None serves `routes` over HTTP too
    http_routes: Mapping[str, Route] | None = None
    #: answer for HTTP paths absent from `http_routes`; None uses `default`
    http_default: Route | None = None
    certificate: CertificateKind = "valid"

    def route(self, scheme: str, path: str) -> Route:
        """The route answering `path` (query excluded) on the `scheme` listener."""
        if scheme == "http" and self.http_routes is not None:
            return self.http_routes.get(path) or self.http_default or self.default
        return self.routes.get(path) or self.default


@dataclass(frozen=True)
class RecordedRequest:
    """A request the server received."""

    scheme: str
    host: str
    path: str
    headers: tuple[tuple[str, str], ...]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LocalWebServer, scheme: str, tls: ssl.SSLContext | None) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.owner = owner
        self.scheme = scheme
        if tls is not None:
            # The handshake is done later, in the request's own thread (see finish_request), so a
            # client that aborts it (certificate rejected) never blocks the accept loop.
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(): a reverse DNS lookup that may leave
        # the machine. Nothing here needs the name.
        socketserver.TCPServer.server_bind(self)
        self.server_name = LOOPBACK
        self.server_port = int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        if isinstance(request, ssl.SSLSocket):
            request.do_handshake()
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients rejecting a test certificate or closing after their byte budget are expected.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        owner = self.server.owner
        host = _host_name(self.headers.get("Host") or "")
        owner._record(RecordedRequest(self.server.scheme, host, self.path, tuple(self.headers.items())))
        site = owner.site_for(host)
        route = site.route(self.server.scheme, self.path.split("?", 1)[0]) if site else NOT_FOUND
        if route.delay:
            time.sleep(route.delay)
        values = {
            "{host}": host,
            "{path}": self.path,
            "{https_origin}": owner.https_origin(host),
            "{https_port}": str(owner.https_port),
            "{origin}": self.headers.get("Origin"),
        }
        # Not send_response(): it would add a "Server: BaseHTTP/… Python/…" banner to every site.
        self.send_response_only(route.status)
        self.send_header("Date", self.date_time_string())
        names = set()
        for name, value in route.headers:
            filled = _fill(value, values)
            if filled is not None:
                self.send_header(name, filled)
                names.add(name.lower())
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if send_body:
            self.wfile.write(route.body)


def _host_name(header: str) -> str:
    """The name in a Host header, without port or IPv6 brackets."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0]


def _fill(value: str, values: Mapping[str, str | None]) -> str | None:
    for placeholder, replacement in values.items():
        if placeholder in value:
            if replacement is None:
                return None
            value = value.replace(placeholder, replacement)
    return value


def _modern_context() -> ssl.SSLContext:
    """A current server configuration (ANSSI TLS guide, Mozilla "intermediate").

    ECDHE with AEAD only, no client-initiated renegotiation. Set on every context: the one an SNI
    callback switches to decides the cipher suites. Weak TLS is the job of the demo's legacy server.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    return ctx


class LocalWebServer:
    """Plain-HTTP and HTTPS listeners on 127.0.0.1 ephemeral ports serving `sites` by Host and SNI.

    Use as a context manager, or call `stop()`. Certificates come from `ca` (a fresh trustme CA when
    omitted); `ca_pem_path` is that CA's certificate, to pass as `--ca-bundle`.
    """

    def __init__(self, sites: Sequence[Site], ca: trustme.CA | None = None) -> None:
        self.ca = ca or trustme.CA()
        self._sites = {name.lower(): site for site in sites for name in site.hosts}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="cyberscan-demo-"))
        self._ca_pem = self._tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self._ca_pem))
        self._http = _Server(self, "http", None)
        self._https = _Server(self, "https", self._tls_context(sites))
        self._threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in (self._http, self._https)
        ]
        for thread in self._threads:
            thread.start()
        self._stopped = False

    def _tls_context(self, sites: Sequence[Site]) -> ssl.SSLContext:
        default = _modern_context()
        # Clients that send no SNI (IP targets) get a certificate for the loopback address.
        self._certificate(Site(hosts=["localhost", LOOPBACK]), default)
        by_name: dict[str, ssl.SSLContext] = {}
        for site in sites:
            ctx = _modern_context()
            self._certificate(site, ctx)
            by_name.update({name.lower(): ctx for name in site.hosts})

        def select(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
            chosen = by_name.get((name or "").lower())
            if chosen is not None:
                sock.context = chosen

        default.sni_callback = select
        return default

    def _certificate(self, site: Site, ctx: ssl.SSLContext) -> None:
        # mint_certificate, not trustme's issue_cert: trustme marks subjectAltName critical next to a
        # non-empty subject, which RFC 5280 forbids and sslyze's path validation rightly rejects.
        ca = trustme.CA() if site.certificate == "untrusted" else self.ca
        kind = "valid" if site.certificate == "untrusted" else site.certificate
        directory = Path(tempfile.mkdtemp(prefix="site-", dir=self._tmp))
        key, chain = mint_certificate(kind, "ec", ca, list(site.hosts) or [LOOPBACK], directory)
        ctx.load_cert_chain(str(chain), str(key))

    @property
    def http_port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def https_port(self) -> int:
        return int(self._https.server_address[1])

    @property
    def ca_pem_path(self) -> Path:
        return self._ca_pem

    def hosts_map(self) -> dict[str, str]:
        """Every served name → 127.0.0.1, for a static-hosts resolver."""
        return dict.fromkeys(self._sites, LOOPBACK)

    def site_for(self, host: str) -> Site | None:
        return self._sites.get(host)

    def https_origin(self, host: str) -> str:
        shown = f"[{host}]" if ":" in host else host
        return f"https://{shown}" + ("" if self.https_port == 443 else f":{self.https_port}")

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def paths(self, host: str | None = None) -> list[str]:
        """Paths requested so far (optionally only those for `host`)."""
        return [r.path for r in self.requests if host is None or r.host == host]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for server in (self._http, self._https):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> LocalWebServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A loopback TCP port with nothing listening on it (closed right after being chosen)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
