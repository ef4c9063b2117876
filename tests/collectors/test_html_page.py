"""The homepage parser: pure, table-driven, and robust to whatever a server sends."""

from __future__ import annotations

import time

import pytest

from cyberscan.collectors.html_page import MAX_ELEMENTS, parse_page
from cyberscan.collectors.http_facts import PageElement

PAGE = "https://www.mairie.test/accueil/index.html"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            '<script src="/js/app.js"></script><link rel="stylesheet" href="css/site.css">',
            [
                PageElement("script", "https://www.mairie.test/js/app.js"),
                PageElement("stylesheet", "https://www.mairie.test/accueil/css/site.css"),
            ],
            id="relative-urls",
        ),
        pytest.param(
            '<base href="https://cdn.mairie.test/v2/"><img src="logo.png">'
            '<script src="//x.test/a.js"></script>',
            [
                PageElement("img", "https://cdn.mairie.test/v2/logo.png"),
                PageElement("script", "https://x.test/a.js"),
            ],
            id="base-href",
        ),
        pytest.param(
            '<img src="a.png"><base href="/static/"><base href="/ignored/">',
            [PageElement("img", "https://www.mairie.test/static/a.png")],
            id="late-base-applies-first-base-wins",
        ),
        pytest.param(
            '<iframe src="http://video.test/e"></iframe><video src="v.mp4"></video><audio src="a.ogg">'
            '<source src="s.webm"><embed src="e.swf"><object data="o.swf"></object><frame src="f.html">',
            [
                PageElement("iframe", "http://video.test/e"),
                PageElement("media", "https://www.mairie.test/accueil/v.mp4"),
                PageElement("media", "https://www.mairie.test/accueil/a.ogg"),
                PageElement("media", "https://www.mairie.test/accueil/s.webm"),
                PageElement("object", "https://www.mairie.test/accueil/e.swf"),
                PageElement("object", "https://www.mairie.test/accueil/o.swf"),
                PageElement("iframe", "https://www.mairie.test/accueil/f.html"),
            ],
            id="frames-media-objects",
        ),
        pytest.param(
            '<script src="https://cdn.test/lib.js" integrity=" sha384-abc "></script>'
            '<link rel="Preload StyleSheet" href="https://cdn.test/s.css" integrity="sha256-x">',
            [
                PageElement("script", "https://cdn.test/lib.js", "sha384-abc"),
                PageElement("stylesheet", "https://cdn.test/s.css", "sha256-x"),
            ],
            id="integrity-and-rel-tokens",
        ),
        pytest.param(
            '<form action="http://mairie.test/envoi.php"><form><form action="">',
            [
                PageElement("form", "http://mairie.test/envoi.php"),
                PageElement("form", PAGE),
            ],
            id="form-actions-empty-means-page",
        ),
        pytest.param(
            '<script src="data:text/javascript,1"></script><img src="javascript:alert(1)">'
            '<img src="http://[broken"><img src="  \n/ok.png\t "><link rel="icon" href="/f.ico">'
            '<script>var s = "<img src=inside-script.png>";</script><img src="">',
            [PageElement("img", "https://www.mairie.test/ok.png")],
            id="ignored-and-cleaned",
        ),
        pytest.param(
            '<script src="/a.js"><script src="/a.js"></script>',
            [PageElement("script", "https://www.mairie.test/a.js")],
            id="duplicates-once",
        ),
    ],
)
def test_elements(html: str, expected: list[PageElement]) -> None:
    assert list(parse_page(PAGE, html).elements) == expected


def test_generator_versions_meta_csp_and_forms() -> None:
    html = """
    <meta name="Generator" content="WordPress 4.9.8"><meta name="generator" content="WordPress 4.9.8">
    <meta name="generator" content="WPML ver:4.2">
    <meta http-equiv="content-security-policy" content="default-src 'self'">
    <meta http-equiv="Content-Security-Policy" content="script-src *">
    <link rel="stylesheet" href="/style.css?ver=4.9.8"><script src="/j.js?v=1.12.4&x=1"></script>
    <script src="/k.js?version=2"></script><script src="/plain.js?x=1"></script><img src="/i.png?ver=1">
    <script src="/empty.js?ver="></script>
    <form method="post"><input TYPE="Password" name="pwd"></form>
    """
    page = parse_page("https://mairie.test/", html)
    assert page.generators == ("WordPress 4.9.8", "WPML ver:4.2")
    assert page.meta_csp == "default-src 'self'"
    assert page.versioned_assets == (
        "https://mairie.test/style.css?ver=4.9.8",
        "https://mairie.test/j.js?v=1.12.4&x=1",
        "https://mairie.test/k.js?version=2",
    )
    assert page.has_form and page.has_password_field
    assert not page.truncated


def test_plain_page_has_nothing() -> None:
    page = parse_page("http://mairie.test/", "<html><body><p>Bonjour</p></body></html>")
    assert page.elements == () and page.generators == () and page.meta_csp is None
    assert not page.has_form and not page.has_password_field


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<",
        "<<<<>>>>",
        "<script src=",
        "<![if !IE]><!--[if lt IE 9]><script src='x.js'></script><![endif]-->",
        "<!DOCTYPE",
        "<![CDATA[ unterminated",
        '<a href="x" <img src="y.png"',
        "<meta name=generator>",
        "<base href><script src=/a.js></script>",
        "&#xFFFFFFFF; &#0; &bogus; <img src='&#x0;'>",
        "\x00\x01\x02<img src=\x00>",
        "<!-- unterminated comment <script src=/hidden.js></script>",
        "</" * 1000,
    ],
)
def test_broken_html_never_raises(html: str) -> None:
    page = parse_page(PAGE, html)
    assert page.url == PAGE


def test_truncated_flag_is_passed_through() -> None:
    assert parse_page(PAGE, "<p>début", truncated=True).truncated


def test_huge_input_is_bounded() -> None:
    html = "".join(f'<img src="/i{n}.png"><meta name="generator" content="g{n}">' for n in range(5000))
    html += "<x " * 50_000 + "<!--" + "-" * 500_000
    started = time.monotonic()
    page = parse_page(PAGE, html)
    assert time.monotonic() - started < 5
    assert len(page.elements) == MAX_ELEMENTS
    assert len(page.generators) <= 10
    assert page.truncated


def test_long_urls_are_cut() -> None:
    page = parse_page(PAGE, f'<script src="/{"a" * 10_000}.js"></script>')
    assert len(page.elements[0].url) <= 2048
