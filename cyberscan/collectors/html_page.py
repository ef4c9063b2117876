"""Pure homepage parser: HTML text → PageSummary (subresources, generator, meta CSP, forms). No I/O."""

from __future__ import annotations

# The standard library's html.parser is used on purpose: it is tolerant of broken markup, never
# fetches anything, and needs no extra dependency (the dependency set is fixed, and lxml or
# BeautifulSoup would add a C extension or a package for what is a single pass over start tags).
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

from .http_facts import PageElement, PageSummary

MAX_ELEMENTS = 200
MAX_GENERATORS = 10
MAX_VERSIONED_ASSETS = 50
MAX_URL_CHARS = 2048
MAX_TEXT_CHARS = 4096
#: a hostile page must not cost unbounded CPU; the collector's body budget is far below this anyway
MAX_INPUT_CHARS = 1_000_000
#: longest unterminated construct at the end of the input that is still handed to close()
MAX_TAIL_CHARS = 4096

_VERSION_KEYS = frozenset({"ver", "v", "version"})
_MEDIA_TAGS = frozenset({"audio", "video", "source"})
# Schemes that load nothing over the network: no mixed content, no third party.
_LOCAL_SCHEMES = ("data:", "javascript:", "about:", "blob:", "mailto:", "tel:")


class _PageParser(HTMLParser):
    """Collects raw (unresolved) references; resolution waits for the end because <base> may come late."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.raw_elements: list[tuple[str, str, str | None]] = []
        self.base_href: str | None = None
        self.generators: list[str] = []
        self.meta_csp: str | None = None
        self.has_form = False
        self.has_password_field = False
        self.dropped = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values: dict[str, str] = {}
        for name, value in attrs:
            values.setdefault(name, value or "")  # the first of repeated attributes wins, as in browsers
        if tag == "base":
            # Only the first <base href> counts (HTML standard).
            if self.base_href is None and values.get("href"):
                self.base_href = values["href"]
        elif tag == "meta":
            self._meta(values)
        elif tag == "input":
            if values.get("type", "").strip().lower() == "password":
                self.has_password_field = True
        elif tag == "form":
            self.has_form = True
            # A form without action posts to the page itself ("" resolves to the page URL).
            self._add("form", values.get("action", ""), None)
        else:
            reference = _reference(tag, values)
            if reference is not None:
                self._add(reference[0], reference[1], values.get("integrity"))

    def _meta(self, values: dict[str, str]) -> None:
        name = values.get("name", "").strip().lower()
        equiv = values.get("http-equiv", "").strip().lower()
        content = values.get("content", "")[:MAX_TEXT_CHARS].strip()
        if name == "generator" and content and len(self.generators) < MAX_GENERATORS:
            if content not in self.generators:
                self.generators.append(content)
        elif equiv == "content-security-policy" and self.meta_csp is None and content:
            self.meta_csp = content

    def _add(self, tag: str, url: str, integrity: str | None) -> None:
        if len(self.raw_elements) >= MAX_ELEMENTS:
            self.dropped = True
            return
        self.raw_elements.append((tag, url, integrity.strip()[:MAX_TEXT_CHARS] if integrity else None))


def _reference(tag: str, values: dict[str, str]) -> tuple[str, str] | None:
    """(kind, raw URL) of a tag that loads something, as named in PageElement.tag."""
    if tag == "script" and values.get("src"):
        return "script", values["src"]
    if tag == "link" and "stylesheet" in values.get("rel", "").lower().split() and values.get("href"):
        return "stylesheet", values["href"]
    if tag in ("iframe", "frame") and values.get("src"):
        return "iframe", values["src"]
    if tag == "img" and values.get("src"):
        return "img", values["src"]
    if tag in _MEDIA_TAGS and values.get("src"):
        return "media", values["src"]
    if tag == "embed" and values.get("src"):
        return "object", values["src"]
    if tag == "object" and values.get("data"):
        return "object", values["data"]
    return None


def _absolute(base: str, raw: str) -> str | None:
    """`raw` resolved against `base`, or None when it loads nothing over the network or is unparsable."""
    # Browsers drop tabs and newlines inside URLs and strip surrounding whitespace.
    text = raw.replace("\t", "").replace("\n", "").replace("\r", "").strip()
    if text.lower().startswith(_LOCAL_SCHEMES):
        return None
    try:
        url = urljoin(base, text)
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # e.g. "http://[broken" (bad IPv6 literal)
        return None
    if scheme not in ("http", "https"):
        return None
    return url[:MAX_URL_CHARS]


def _is_versioned(url: str) -> bool:
    try:
        query = urlsplit(url).query
    except ValueError:
        return False
    return any(key.lower() in _VERSION_KEYS and value for key, value in parse_qsl(query))


def _base_url(page_url: str, base_href: str | None) -> str:
    if base_href is None:
        return page_url
    return _absolute(page_url, base_href) or page_url


def parse_page(url: str, body: str, truncated: bool = False) -> PageSummary:
    """Summarise the page `body` fetched from `url`; never raises, whatever the markup.

    Args:
        url: the page's own URL, against which relative references are resolved (unless <base href>).
        body: the decoded body text (possibly a prefix of the page).
        truncated: the body was cut at the collector's byte budget.
    """
    parser = _PageParser()
    if len(body) > MAX_INPUT_CHARS:
        body, truncated = body[:MAX_INPUT_CHARS], True
    try:
        parser.feed(body)
        # feed() stops at an unterminated construct ("<x <x <x…" with no ">"); close() then walks
        # that tail one character at a time, rescanning it each time: quadratic before Python
        # 3.12.11/3.13.4 (CVE-2025-6069). A long tail is garbage anyway: drop it instead.
        if len(parser.rawdata) > MAX_TAIL_CHARS:
            truncated = True
        else:
            parser.close()
    except Exception:  # html.parser has had assertion errors on odd declarations: keep what was read
        truncated = True
    base = _base_url(url, parser.base_href)
    elements: list[PageElement] = []
    seen: set[PageElement] = set()
    for tag, raw, integrity in parser.raw_elements:
        # Form actions resolve against the document URL when empty, like browsers do.
        absolute = url if (tag == "form" and not raw.strip()) else _absolute(base, raw)
        if absolute is None:
            continue
        element = PageElement(tag=tag, url=absolute, integrity=integrity or None)
        if element not in seen:
            seen.add(element)
            elements.append(element)
    versioned = _versioned_assets(elements)
    return PageSummary(
        url=url,
        elements=tuple(elements),
        generators=tuple(parser.generators),
        versioned_assets=versioned,
        meta_csp=parser.meta_csp,
        has_password_field=parser.has_password_field,
        has_form=parser.has_form,
        truncated=truncated or parser.dropped,
    )


def _versioned_assets(elements: list[PageElement]) -> tuple[str, ...]:
    found: list[str] = []
    for element in elements:
        if (
            element.tag in ("script", "stylesheet")
            and _is_versioned(element.url)
            and element.url not in found
        ):
            found.append(element.url)
            if len(found) >= MAX_VERSIONED_ASSETS:
                break
    return tuple(found)
