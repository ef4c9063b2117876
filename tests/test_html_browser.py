"""The HTML report in a real headless Chromium: nothing leaves, nothing runs, page 1 fits an A4 page.

Chromium is driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: NUL-separated JSON
on file descriptors 3 and 4), with the standard library only. The protocol gives what `--dump-dom`
cannot: every request the page attempts (even those CSP blocks), console messages and exceptions, CSP
violation reports, print-media emulation and a screenshot. Every request the browser makes goes to a
loopback proxy that counts connections and answers none, so nothing can leave this machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cyberscan.metadata import load_module_metadata
from cyberscan.reporting.html_report import render_html

DATA = Path(__file__).parent / "data"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _chromium() -> str | None:
    # Debian's /usr/bin/chromium is a shell wrapper that enables remote extensions and Google API
    # keys (more background traffic); the binary it runs is the browser itself.
    for candidate in ("/usr/lib/chromium/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate) if "/" not in candidate else candidate
        if found and os.access(found, os.X_OK):
            return found
    return None


CHROMIUM = _chromium()
# Skipped on a developer's machine without chromium; in CI (which installs it) a missing browser fails.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (Debian package `chromium`; scripts/setup.sh installs it)",
)

#: Chromium's own services (component updater, account listing) call these even in a fresh headless
#: profile and cannot all be switched off. They reach the loopback proxy like everything else and are
#: counted apart: they are the browser's, not the page's.
BROWSER_BACKGROUND = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com", "googleusercontent.com")
#: A4 printable area at 96 dpi with the report's @page margins (13 mm sides, 14 + 15 mm top/bottom)
PAGE_W = round((210 - 2 * 13) / 25.4 * 96)
PAGE_H = round((297 - 14 - 15) / 25.4 * 96)
TIMEOUT = 20.0


class CountingProxy:
    """A loopback HTTP proxy that records the host of every connection and forwards nothing."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hosts: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    head = ""
                parts = head.split(" ", 2)
                target = parts[1] if len(parts) > 1 else "?"
                host = target.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
                self.hosts.append(host or "?")

    def leaks(self) -> list[str]:
        """Connections not made by Chromium's own background services."""
        return [h for h in self.hosts if not any(h == d or h.endswith("." + d) for d in BROWSER_BACKGROUND)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, binary: str, proxy_port: int, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds() -> None:  # the protocol pipe is fds 3 (commands in) and 4 (replies out)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",  # tests run as root in CI, where the sandbox refuses to start
            "--disable-gpu",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            # Every request, loopback included, goes to the counting proxy and stops there.
            f"--proxy-server=http://127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=<-loopback>",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-client-side-phishing-detection",
            "--disable-domain-reliability",
            "--disable-breakpad",
            "--no-pings",
            "--metrics-recording-only",
            "--disable-features=NetworkTimeServiceQuerying,Translate,OptimizationHints,MediaRouter",
            "--password-store=basic",
            "--use-mock-keychain",
            "about:blank",
        ]
        env = {"HOME": str(profile), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        self.proc = subprocess.Popen(
            args,
            preexec_fn=child_fds,
            pass_fds=(3, 4),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no answer from chromium")
            ready, _, _ = select.select([self._from_chrome], [], [], remaining)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed the DevTools pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        if "method" in message:
            self.events.append(message)
        return message

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self._to_chrome, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def wait_event(self, method: str, session: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = len(self.events)
        for event in self.events[:seen]:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        while True:
            message = self._read_message(deadline)
            if message.get("method") == method and message.get("sessionId") == session:
                return message

    def drain(self, seconds: float) -> None:
        """Keep reading events for a while (late requests, timers a payload might have set)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self._read_message(deadline)
        except TimeoutError:
            pass

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, EOFError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the session chromium was started in, only
            self.proc.wait(timeout=5)
        os.close(self._to_chrome)
        os.close(self._from_chrome)


class Page:
    """One tab: its session, and what it asked for and said."""

    def __init__(self, browser: DevTools, url: str) -> None:
        self.browser = browser
        target = browser.call("Target.createTarget", {"url": "about:blank"})
        self.target_id = target["targetId"]
        attached = browser.call("Target.attachToTarget", {"targetId": self.target_id, "flatten": True})
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session=self.session)
        browser.call("Page.navigate", {"url": url}, session=self.session)
        browser.wait_event("Page.loadEventFired", self.session)
        browser.drain(0.8)

    def events(self, *methods: str) -> list[dict[str, Any]]:
        return [
            e["params"]
            for e in self.browser.events
            if e.get("sessionId") == self.session and e["method"] in methods
        ]

    def requested_urls(self) -> list[str]:
        return [e["request"]["url"] for e in self.events("Network.requestWillBeSent")]

    def console_errors(self) -> list[str]:
        errors = [
            json.dumps(e["args"])[:300]
            for e in self.events("Runtime.consoleAPICalled")
            if e.get("type") in ("error", "assert")
        ]
        errors += [json.dumps(e)[:300] for e in self.events("Runtime.exceptionThrown")]
        errors += [
            e["entry"]["text"][:300] for e in self.events("Log.entryAdded") if e["entry"]["level"] == "error"
        ]
        return errors

    def evaluate(self, expression: str) -> Any:
        result = self.browser.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=self.session
        )
        return result["result"].get("value")

    def close(self) -> None:
        self.browser.call("Target.closeTarget", {"targetId": self.target_id})


@pytest.fixture(scope="module")
def proxy() -> Iterator[CountingProxy]:
    server = CountingProxy()
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(proxy: CountingProxy) -> Iterator[DevTools]:
    if CHROMIUM is None:
        pytest.fail("CI must run the browser tests, but chromium is not installed (scripts/setup.sh)")
    with tempfile.TemporaryDirectory(prefix="cyberscan-chromium-") as profile:
        chrome = DevTools(CHROMIUM, proxy.port, Path(profile))
        try:
            chrome.call("Browser.getVersion")
            yield chrome
        finally:
            chrome.close()


def _metas() -> dict[str, Any]:
    metas: dict[str, Any] = {}
    for family in ("web", "tls", "services"):
        metas.update(load_module_metadata("cyberscan.checks", family))
    return metas


def _write_report(tmp_path: Path, name: str, lang: str, text: str | None = None) -> tuple[Path, str]:
    report = json.loads(text if text is not None else (DATA / name).read_text(encoding="utf-8"))
    html = render_html(report, lang, _metas())
    path = tmp_path / f"{Path(name).stem}.{lang}.html"
    path.write_text(html, encoding="utf-8")
    return path, html


def _artifact(name: str, data: bytes) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    # The folder ignores itself: artefacts are looked at, never committed.
    (ARTIFACTS / ".gitignore").write_text("*\n", encoding="utf-8")
    (ARTIFACTS / name).write_bytes(data)


def _only_own_requests(page: Page, path: Path) -> None:
    urls = page.requested_urls()
    assert path.as_uri() in urls
    assert all(u == path.as_uri() or u.startswith("data:image/") for u in urls), urls


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_report_loads_offline_without_console_errors(
    browser: DevTools, proxy: CountingProxy, tmp_path: Path, lang: str
) -> None:
    path, _ = _write_report(tmp_path, "report_sample.json", lang)
    page = Page(browser, path.as_uri())
    try:
        _only_own_requests(page, path)
        assert page.console_errors() == []
        assert page.evaluate("document.documentElement.lang") == lang
        assert page.evaluate("document.scripts.length") == 0
        csp = page.evaluate("document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content")
        assert "default-src 'none'" in csp and "img-src data:" in csp
        # The logo (a data: URI) is the only image, and it did load.
        assert page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth > 0)") == [True]
        assert page.evaluate("document.querySelector('#mayor h1').textContent").endswith(
            "Saint-Exemple-sur-Loire"
        )
        assert page.evaluate("document.querySelectorAll('ol.doors > li').length") == 3
    finally:
        page.close()
    assert proxy.leaks() == []


def test_hostile_findings_execute_nothing_and_request_nothing(
    browser: DevTools, proxy: CountingProxy, tmp_path: Path
) -> None:
    text = (DATA / "report_hostile.json").read_text(encoding="utf-8").replace("PROXYPORT", str(proxy.port))
    path, _ = _write_report(tmp_path, "report_hostile.json", "fr", text)
    page = Page(browser, path.as_uri())
    try:
        # The commune's name carries a <script> that would set the title: it is shown, not run.
        title = page.evaluate("document.title")
        assert title.startswith("Rapport d'exposition Internet — Commune <script>document.title='PWNED'")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.scripts.length") == 0
        handlers = page.evaluate(
            "[...document.querySelectorAll('*')]"
            ".filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length"
        )
        assert handlers == 0
        dangerous = (
            "iframe, object, embed, base, link, meta[http-equiv=refresh], svg script, a[href^='javascript:']"
        )
        assert page.evaluate(f"document.querySelectorAll({json.dumps(dangerous)}).length") == 0
        links = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
        assert all(h.startswith(("https://", "#")) for h in links), links
        # The payloads are on the page as text, which is how a reader must see them.
        body = page.evaluate("document.body.innerText")
        assert "<script>document.title='PWNED'" in body and 'onerror="document.title' in body
        _only_own_requests(page, path)
        assert page.console_errors() == []
    finally:
        page.close()
    assert proxy.leaks() == []


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_page_one_fits_a4_and_is_screenshot(
    browser: DevTools, proxy: CountingProxy, tmp_path: Path, lang: str
) -> None:
    path, _ = _write_report(tmp_path, "report_sample.json", lang)
    page = Page(browser, path.as_uri())
    try:
        session = page.session
        browser.call("Emulation.setEmulatedMedia", {"media": "print"}, session=session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": PAGE_W, "height": PAGE_H, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        # Print layout: each later section starts a page; evidence prints although <details> does not.
        assert page.evaluate("getComputedStyle(document.querySelector('#areas')).breakBefore") == "page"
        assert page.evaluate("getComputedStyle(document.querySelector('details')).display") == "none"
        assert page.evaluate("getComputedStyle(document.querySelector('.print-only')).display") == "block"
        pdf = browser.call(
            "Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True}, session=session
        )
        document = base64.b64decode(pdf["data"])
        assert document.startswith(b"%PDF")
        _artifact(f"report_{lang}.pdf", document)
        # What follows page 1 starts on a new printed page; a screen capture does not paginate, so
        # the later sections are hidden for the picture (after their print layout was checked).
        page.evaluate("document.querySelectorAll('main > section:not(#mayor)').forEach(s => s.hidden = true)")
        shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)
        png = base64.b64decode(shot["data"])
        assert png.startswith(b"\x89PNG")
        _artifact(f"report_page1_{lang}.png", png)
        height = page.evaluate("document.querySelector('#mayor').getBoundingClientRect().bottom")
        assert height <= PAGE_H, f"page 1 is {height:.0f} px high, an A4 page holds {PAGE_H}"
        assert page.console_errors() == []
    finally:
        page.close()
    assert proxy.leaks() == []
