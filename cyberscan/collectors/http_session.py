"""Bounded, paced HTTP GETs for the HTTP collector, sent through the guarded transport."""

from __future__ import annotations

import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import certifi
import httpx

from ..net.guard import NetworkGuard, OutOfScopeError
from ..net.http import GuardedBackend, GuardedTransport
from ..net.resolver import ResolutionError
from ..scope import ProbeLevel
from .http_facts import HttpResponse, TlsOutcome

_MAX_HEADERS = 100
_MAX_HEADER_VALUE = 4096
#: a redirect's body is never needed beyond a glance
_MAX_REDIRECT_BODY = 2048


def verified_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """Mozilla's store (certifi) plus the user's extra anchors; normal host name checking."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle is not None:
        ctx.load_verify_locations(cafile=str(ca_bundle))
    return ctx


def permissive_context() -> ssl.SSLContext:
    """A context that still talks to TLS 1.0-only, static-RSA or 1024-bit-key servers.

    OpenSSL 3's defaults refuse those handshakes outright, so without it a weak site's headers would be
    invisible. It is used only after a verified attempt failed, and the facts record that it was.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        # MINIMUM_SUPPORTED, not TLSv1: the same floor without Python's deprecation warning (and so
        # without a catch_warnings, which is not thread-safe and collectors run in threads).
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):  # pragma: no cover - depends on the OpenSSL build
        pass
    return ctx


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, OutOfScopeError):
        return "out_of_scope"
    if isinstance(exc, ResolutionError):
        return "timeout" if exc.kind.value == "timeout" else "dns"
    if isinstance(exc, httpx.TimeoutException | socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ssl.SSLError) or "SSL" in type(exc).__name__ or _is_tls_error(exc):
        return "tls"
    if isinstance(exc, httpx.ConnectError):
        return "unreachable"
    return "protocol"


def _is_tls_error(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _tls_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or cause.reason or cause)
        if isinstance(cause, ssl.SSLError):
            return str(cause.reason or cause)
        cause = cause.__cause__ or cause.__context__
    return str(exc)


def _decode_body(raw: bytes, content_type: str | None) -> str:
    charset = "utf-8"
    if content_type and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


class HttpSession:
    """Sequential, rate-limited GETs to the hosts of one target, each body read only up to a budget."""

    def __init__(
        self,
        guard: NetworkGuard,
        timeout: Callable[[], float],
        user_agent: str,
        ca_bundle: Path | None = None,
        max_rps: float = 5.0,
    ) -> None:
        self._timeout = timeout
        self._headers = {"user-agent": user_agent, "accept-encoding": "identity", "accept": "*/*"}
        self._min_interval = 1.0 / max_rps if max_rps > 0 else 0.0
        self._last_request = 0.0
        self._lock = threading.Lock()
        verified = verified_context(ca_bundle)
        permissive = permissive_context()
        # Requests go straight to the transports: httpx.Client would parse every redirect's Location
        # even when not following it, and an unparsable Location would cost us the whole response.
        self._transports: dict[tuple[ProbeLevel, bool], GuardedTransport] = {}
        for level in ProbeLevel:
            backend = GuardedBackend(guard, level)
            for is_permissive, ctx in ((False, verified), (True, permissive)):
                self._transports[(level, is_permissive)] = GuardedTransport(backend, ctx)
        #: origins ("https://host:port") whose certificate failed verification, and why
        self._tls_failures: dict[str, str] = {}

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pace(self) -> None:
        # Politeness (checklist §3.3: ≤ 5 requests/s per host): one request at a time per session.
        with self._lock:
            wait = self._last_request + self._min_interval - time.monotonic()
            if wait > 0:
                time.sleep(min(wait, self._timeout()))
            self._last_request = time.monotonic()

    def get(
        self,
        url: str,
        level: ProbeLevel,
        max_bytes: int,
        headers: Iterable[tuple[str, str]] = (),
    ) -> HttpResponse:
        """GET `url`; never raises: network trouble and bad URLs are recorded in the response instead."""
        try:
            timeout = self._timeout()
            self._pace()
        except Exception as exc:  # the target's deadline passed
            return HttpResponse(url=url, error_kind="deadline", error=str(exc)[:300])
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            return HttpResponse(url=url[:2048], error_kind="protocol", error=f"invalid URL: {exc}"[:300])
        origin = f"{parsed.scheme}://{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
        is_https = parsed.scheme == "https"
        if not is_https:
            return self._fetch(url, level, max_bytes, headers, False, None, timeout)
        if origin in self._tls_failures:
            return self._fetch(url, level, max_bytes, headers, True, self._tls_failures[origin], timeout)
        response = self._fetch(url, level, max_bytes, headers, False, None, timeout)
        if response.error_kind != "tls":
            return response
        reason = response.error or "TLS handshake failed"
        self._tls_failures[origin] = reason
        return self._fetch(url, level, max_bytes, headers, True, reason, timeout)

    def _fetch(
        self,
        url: str,
        level: ProbeLevel,
        max_bytes: int,
        headers: Iterable[tuple[str, str]],
        permissive: bool,
        tls_error: str | None,
        timeout: float,
    ) -> HttpResponse:
        transport = self._transports[(level, permissive)]
        started = time.monotonic()
        try:
            request = httpx.Request(
                "GET",
                url,
                headers={**self._headers, **dict(headers)},
                extensions={"timeout": httpx.Timeout(timeout).as_dict()},
            )
            resp = transport.handle_request(request)
            try:
                # Read the TLS details before the body: a stream cut short may drop its SSL object.
                tls = self._tls_outcome(resp, permissive, tls_error) if url.startswith("https:") else None
                budget = min(max_bytes, _MAX_REDIRECT_BODY) if 300 <= resp.status_code < 400 else max_bytes
                raw, truncated = self._read_bounded(resp, budget, started + timeout)
                return HttpResponse(
                    url=url,
                    status=resp.status_code,
                    headers=tuple(
                        (k.decode("latin-1").lower(), v.decode("latin-1")[:_MAX_HEADER_VALUE])
                        for k, v in resp.headers.raw[:_MAX_HEADERS]
                    ),
                    body=_decode_body(raw, resp.headers.get("content-type")),
                    body_truncated=truncated,
                    tls=tls,
                )
            finally:
                resp.close()
        except Exception as exc:  # recorded as data: one dead host must not stop the others
            kind = _error_kind(exc)
            detail = _tls_reason(exc) if kind == "tls" else (str(exc) or type(exc).__name__)
            tls = TlsOutcome(verified=False, error=detail, permissive=permissive) if kind == "tls" else None
            return HttpResponse(url=url, error_kind=kind, error=detail[:300], tls=tls)

    @staticmethod
    def _read_bounded(resp: httpx.Response, max_bytes: int, wall_deadline: float) -> tuple[bytes, bool]:
        # Read raw bytes and decompress ourselves with a cap: a server may ignore
        # "accept-encoding: identity", and a compressed bomb must not inflate past the budget.
        encoding = resp.headers.get("content-encoding", "").lower().strip()
        decoder = None
        if encoding in ("gzip", "x-gzip"):
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            decoder = zlib.decompressobj()
        body = bytearray()
        truncated = False
        for chunk in resp.iter_raw():
            data = decoder.decompress(chunk, max_bytes - len(body) + 1) if decoder else chunk
            body.extend(data)
            if len(body) > max_bytes or time.monotonic() > wall_deadline:
                truncated = True
                break
        if encoding and decoder is None and encoding != "identity":
            return b"", True  # brotli/zstd despite our request: headers are still useful
        return bytes(body[:max_bytes]), truncated

    @staticmethod
    def _tls_outcome(resp: httpx.Response, permissive: bool, tls_error: str | None) -> TlsOutcome:
        version = None
        stream = resp.extensions.get("network_stream")
        if stream is not None:
            ssl_object = stream.get_extra_info("ssl_object")
            if ssl_object is not None:
                version = ssl_object.version()
        return TlsOutcome(verified=not permissive, error=tls_error, permissive=permissive, version=version)
