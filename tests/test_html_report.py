"""The HTML report: golden pages in fr and en, every section, escaping and bounds, translations, contrast.

Golden files: tests/data/report_sample.{fr,en}.html, rendered from tests/data/report_sample.json with
the frozen check metadata of tests/data/report_sample_meta.json (so that editing a check's wording does
not break them). After an intended template or text change, regenerate and review the diff:

    CYBERSCAN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_html_report.py
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import string
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from cyberscan.checklist import load_checklist
from cyberscan.metadata import CheckMeta, parse_check_meta
from cyberscan.reporting import html_report
from cyberscan.reporting.html_report import contrast_ratio, ink_for, render_html, report_text

DATA = Path(__file__).parent / "data"
CSS = Path(html_report.__file__).parents[2] / "report_templates" / "report.css"
SECTIONS = ("mayor", "areas", "annex", "scope")


def sample() -> dict[str, Any]:
    report: dict[str, Any] = json.loads((DATA / "report_sample.json").read_text(encoding="utf-8"))
    return report


def hostile() -> dict[str, Any]:
    report: dict[str, Any] = json.loads((DATA / "report_hostile.json").read_text(encoding="utf-8"))
    return report


def golden_metas() -> dict[str, CheckMeta]:
    raw = json.loads((DATA / "report_sample_meta.json").read_text(encoding="utf-8"))
    return {check_id: parse_check_meta(check_id, table) for check_id, table in raw.items()}


def normalise(html: str) -> str:
    """Golden comparison ignores indentation and blank lines, nothing else."""
    return "\n".join(stripped for raw in html.splitlines() if (stripped := raw.strip()))


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


# --- golden reports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_golden_report(lang: str) -> None:
    html = render_html(sample(), lang, golden_metas())
    golden = DATA / f"report_sample.{lang}.html"
    if os.environ.get("CYBERSCAN_UPDATE_GOLDEN"):
        golden.write_text(html, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    if normalise(html) != normalise(expected):
        new, old = normalise(html).splitlines(), normalise(expected).splitlines()
        first = next(
            (i for i, (a, b) in enumerate(zip(new, old, strict=False)) if a != b), min(len(new), len(old))
        )
        pytest.fail(
            f"{golden.name} differs at line {first + 1}:\n  got:      {new[first : first + 1]}\n"
            f"  expected: {old[first : first + 1]}\n"
            "(CYBERSCAN_UPDATE_GOLDEN=1 regenerates it; review the diff)"
        )


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_report_has_every_section_and_no_template_leftovers(lang: str) -> None:
    html = render_html(sample(), lang, golden_metas())
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{lang}">' in html
    for section in SECTIONS:
        assert f'<section id="{section}"' in html
    assert "{{" not in html and "{%" not in html and "{#" not in html
    assert "<script" not in html.lower()
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; '
        "style-src &#39;unsafe-inline&#39;; img-src data:" in html
    )
    # Nothing is fetched: the only resource is the logo, inline as a data: URI.
    tags = parse(html).tags
    assert [a["src"] for t, a in tags if t == "img"] == [sample()["branding"]["logo_data_uri"]]
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed", "base", "form")]
    assert all(str(a.get("href")).startswith(("https://", "#")) for t, a in tags if t == "a")


def test_french_page_one_says_what_the_mayor_needs() -> None:
    html = render_html(sample(), "fr", golden_metas())
    mayor = html[html.index('<section id="mayor"') : html.index('<section id="areas"')]
    text = " ".join(" ".join(parse(mayor).text).split())
    for expected in (
        "Saint-Exemple-sur-Loire",
        "20 novembre 2026",
        "Note E",
        "Exposition critique",
        "La note est ramenée à E parce qu'au moins une faille critique a été constatée (SVC-RDP-EXPOSED)",
        "Le bureau à distance (RDP)",
        "Qui doit agir : la commune",
        "Qui doit agir : Microsoft 365",
        "Délai visé : sous 48 heures",
        "Délai visé : sous un mois",
        "Ce qu'un scan extérieur ne peut pas voir",
        "sauvegardes hors ligne",
        "double authentification",
        "https://monaide.cyber.gouv.fr",
        "https://monservicesecurise.cyber.gouv.fr",
        "https://www.cybermalveillance.gouv.fr",
        "Syndicat mixte numérique de l'Exemple",
        "1 contrôle(s) n'ont pas pu être menés (erreur du scanner)",
    ):
        assert expected in text, expected
    assert mayor.count('<li class="door') == 3
    # The letter is written out; its colour is decoration, with readable ink on it.
    assert 'style="background:#d1242f;color:#ffffff"' in mayor


def test_english_report_is_relocalised_from_check_metadata() -> None:
    metas = golden_metas()
    html = render_html(sample(), "en", metas)
    text = " ".join(" ".join(parse(html).text).split())
    assert metas["WEB-CSP"].title.en in text
    assert "No DMARC record is published at _dmarc.saint-exemple.fr." in text
    assert "The scanner could not decide: timeout: no SMTP banner within 10 s" in text
    assert "Who must act: the municipality" in text and "Target delay: within 48 hours" in text
    assert "November 20, 2026" in text
    assert "Aucun enregistrement DMARC" not in text


def test_unknown_checks_keep_the_saved_text() -> None:
    metas = {k: v for k, v in golden_metas().items() if not k.startswith("MAIL-")}
    html = render_html(sample(), "en", metas)
    assert "Aucun enregistrement DMARC n&#39;est publié à _dmarc.saint-exemple.fr." in html
    assert metas["WEB-CSP"].title.en in html.replace("&#39;", "'")


def test_real_registry_relocalises_built_in_checks() -> None:
    from cyberscan.registry import load_registry

    meta = load_registry(load_plugins=False).checks["WEB-CSP"].meta
    html = render_html(sample(), "en")
    assert meta.title.en.replace("'", "&#39;") in html


def test_annex_lists_every_finding_with_waivers_marked() -> None:
    report = sample()
    html = render_html(report, "fr", golden_metas())
    annex = html[html.index('<section id="annex"') : html.index('<section id="scope"')]
    findings = [f for t in report["targets"] for f in t["findings"]]
    assert annex.count('<article class="finding') + annex.count("<tr id=") == len(findings)
    text = " ".join(" ".join(parse(annex).text).split())
    assert "risque accepté" in text
    assert "Extranet remplacé par le portail famille en mars 2027" in text and "31 mars 2027" in text
    assert "dérogation expirée" in text and "La dérogation a expiré le 30 juin 2026" in text
    assert "Raison de l'erreur : timeout — no SMTP banner within 10 s" in text
    # Evidence is in <details> for the screen and repeated in a print-only block.
    assert annex.count("<details>") >= annex.count('class="print-only"') > 0
    # A non-https reference is shown, not linked.
    assert "http://intranet.saint-exemple.fr/caa" in text
    assert 'href="http://intranet' not in annex
    # Areas in the grade's order, findings by risk inside an area.
    order = [m for m in re.findall(r'<h3 id="annex-([A-Z]+)"', annex)]
    assert order == ["SVC", "MAIL", "WEB", "TLS", "DNS"]
    svc = annex[annex.index('id="annex-SVC"') : annex.index('id="annex-MAIL"')]
    assert svc.index("SVC-RDP-EXPOSED") < svc.index("SVC-TELNET") < svc.index("SVC-PORT-SURFACE")


def test_scope_section_states_what_was_and_was_not_probed() -> None:
    html = render_html(sample(), "fr", golden_metas())
    scope = html[html.index('<section id="scope"') :]
    text = " ".join(" ".join(parse(scope).text).split())
    for expected in (
        "203.0.113.0/28",
        "www.saint-exemple.fr",
        "198.51.100.20",
        "cyberscan-communes 2026.11",
        "cyberscan 0.1.0",
        "2 min 38 s",
        "critique 10, élevée 6, moyenne 3, faible 1",
        "Services exposés 30, Messagerie 25",
        "0,5",
        "Dérogations sans effet",
        "Accès du prestataire de télégestion",
    ):
        assert expected in text, expected


def test_nothing_failed_is_said_honestly() -> None:
    report = sample()
    for target in report["targets"]:
        for finding in target["findings"]:
            finding.update(status="pass", waiver=None, error=None)
    report["grade"].update(letter="A", score=100.0, level=5, colour="#1a7f37", cap=None, open_doors=[])
    for lang, sentence, never in (
        ("fr", "Cela ne veut pas dire que la commune est à l'abri", "vous êtes en sécurité"),
        ("en", "This does not mean the municipality is safe", "you are safe"),
    ):
        html = render_html(report, lang, golden_metas()).replace("&#39;", "'")
        assert sentence in html and never not in html.lower()
        assert '<ol class="doors">' not in html


def test_report_without_grading_data_still_renders() -> None:
    report = sample()
    for key in ("grade", "commune", "branding", "waivers"):
        del report[key]
    for target in report["targets"]:
        for finding in target["findings"]:
            for key in ("owner", "effort", "area", "waiver"):
                del finding[key]
    html = render_html(report, "fr", golden_metas())
    assert "Non notée" in html and "<h1>Rapport d&#39;exposition Internet — saint-exemple.fr</h1>" in html
    assert 'id="annex-SVC"' in html and "<img" not in html


def test_a_missing_text_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    tree = copy.deepcopy(report_text())
    del tree["fr"]["unseen"]["heading"]
    monkeypatch.setattr(html_report, "report_text", lambda: tree)
    with pytest.raises(UndefinedError):
        render_html(sample(), "fr", golden_metas())


# --- hostile content ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_hostile_strings_are_escaped_and_bounded(lang: str) -> None:
    html = render_html(hostile(), lang, golden_metas())
    assert "<script" not in html.lower()
    assert "<img src=x" not in html and "<svg onload" not in html and "<iframe" not in html
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;" in html
    assert len(html) < 400_000
    assert "A" * 5000 not in html  # the 100 000-character value was cut
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]", html)
    # {placeholders} in target text are shown, never formatted.
    assert "{0.__class__} {reason}" in html
    tags = parse(html).tags
    allowed = set(
        re.findall(
            r"\w+",
            "html head meta title style body a nav ol ul li main section header img div h1 h2 h3 h4 h5 p "
            "span strong code aside figure svg text rect desc table caption thead tbody tr th td article "
            "dl dt dd details summary pre br footer",
        )
    )
    assert {t for t, _ in tags} <= allowed
    for tag, attrs in tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "a":
            assert str(attrs["href"]).startswith(("https://", "#")), attrs
        if tag == "img":
            assert str(attrs["src"]).startswith("data:image/svg+xml;base64,")
        if "style" in attrs:
            assert re.fullmatch(r"background:#[0-9a-f]{6};color:#(000000|ffffff)", str(attrs["style"]))
    # The grade colour tried to smuggle CSS: the neutral colour replaced it.
    assert "leak.cyberscan.invalid/colour" not in html
    assert 'style="background:#6e7781' in html
    # Unsafe references are text: javascript:, data: and plain http are never links.
    hrefs = [str(a.get("href")) for t, a in tags if t == "a"]
    assert not [h for h in hrefs if "pwned" in h or h.startswith(("javascript:", "data:", "http:"))]
    assert "https://www.rfc-editor.org/rfc/rfc854" in hrefs


def test_invalid_logo_and_unknown_status_are_neutralised() -> None:
    report = hostile()
    report["branding"]["logo_data_uri"] = "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="
    html = render_html(report, "fr", golden_metas())
    assert "<img" not in html
    assert 'class="badge s-unknown"' in html and "pwn&lt;script&gt;" in html


# --- translations, wording, accessibility ----------------------------------------------------------------


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_report_text_is_complete_in_french_and_english() -> None:
    text = report_text()
    assert set(text) == {"fr", "en"}
    fr, en = _flatten(text["fr"]), _flatten(text["en"])
    assert sorted(set(fr) ^ set(en)) == [], "keys present in one language only"
    for key in fr:
        a, b = fr[key], en[key]
        assert type(a) is type(b), key
        values = [(a, b)] if isinstance(a, str) else list(zip(a, b, strict=True))
        assert values, key
        for one, other in values:
            assert isinstance(one, str) and one.strip() and isinstance(other, str) and other.strip(), key
            names = [{n for _, n, _, _ in string.Formatter().parse(t) if n is not None} for t in (one, other)]
            assert names[0] == names[1], f"{key}: placeholders differ between fr and en"
    # Jinja reads txt.a.b as an attribute first: a key named like a dict method would be shadowed.
    assert not [k for k in fr if set(k.split(".")) & set(dir(dict))]


def test_mayor_sentences_cover_the_catalogue_areas_and_name_real_checks() -> None:
    catalogue = load_checklist().check_ids
    for lang in ("fr", "en"):
        tree = report_text()[lang]
        assert set(tree["mayor"]["check"]) <= catalogue
        assert {"SVC", "MAIL", "WEB", "TLS", "DNS", "other"} <= set(tree["mayor"]["area"])
        assert {"SVC", "MAIL", "WEB", "TLS", "DNS"} <= set(tree["area_names"])
        assert set(tree["grade"]["meaning"]) == {"A", "B", "C", "D", "E", "none"}
        assert {"48h", "1 month", "next_window", "unknown"} == set(tree["delays"])


def test_structure_is_accessible() -> None:
    html = render_html(sample(), "fr", golden_metas())
    tags = parse(html).tags
    assert all(a.get("scope") in ("col", "row") for t, a in tags if t == "th")
    levels = [int(t[1]) for t, _ in tags if re.fullmatch(r"h[1-6]", t)]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), "a heading level is skipped"
    assert all(a.get("alt") for t, a in tags if t == "img")
    assert [a.get("role") for t, a in tags if t == "svg"] == ["img"]


def _css_rules() -> list[tuple[str, str]]:
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"([^{}]+)\{([^{}]*)\}", css)


def test_text_colours_have_at_least_4_5_contrast() -> None:
    checked = 0
    for selector, body in _css_rules():
        colour = re.search(r"(?<![-\w])color:(#[0-9a-fA-F]{6})\b", body)
        background = re.search(r"background:(#[0-9a-fA-F]{6})\b", body)
        if colour:
            back = background.group(1) if background else "#ffffff"
            ratio = contrast_ratio(colour.group(1), back)
            assert ratio >= 4.5, f"{selector.strip()}: {colour.group(1)} on {back} is {ratio:.2f}:1"
            checked += 1
    assert checked >= 15


def test_grade_ink_is_readable_on_any_colour() -> None:
    for r in range(0, 256, 17):
        for g in range(0, 256, 17):
            for b in range(0, 256, 17):
                colour = f"#{r:02x}{g:02x}{b:02x}"
                assert contrast_ratio(colour, ink_for(colour)) >= 4.5, colour


def test_area_bars_stand_out_from_the_page() -> None:
    for _, colour in html_report._BANDS:
        assert contrast_ratio(colour, "#ffffff") >= 3.0, colour  # WCAG 1.4.11, non-text contrast


def test_print_stylesheet_paginates() -> None:
    css = CSS.read_text(encoding="utf-8")
    assert "@page{size:A4" in css
    printing = css[css.index("@media print") :]
    for rule in (".page{break-before:page}", "thead{display:table-header-group}", "details{display:none}"):
        assert rule in printing
    assert ".print-only{display:block}" in printing and "tr," in printing and "break-inside:avoid" in printing


def test_odd_values_from_a_foreign_report_do_not_crash() -> None:
    report = sample()
    report["grade"].update(
        score=float("nan"), level=True, weights={"severity": "x", "area": [], "provider_factor": 1}
    )
    report["grade"]["areas"][0].update(score=float("inf"), weight=float("-inf"), counted="3", failed=None)
    report["grade"]["areas"][1]["pulled_down_by"] = [{"loss": float("nan")}, "not a dict", 3]
    report["grade"]["open_doors"] = [{"delay": ["48h"], "owner": "x", "effort": 5}, None]
    report["targets"][0]["collector_runs"][0]["duration_s"] = float("inf")
    report["targets"][1]["findings"][0].update(references="nope", evidence=[1, 2], owner=[], waiver="yes")
    report["started_at"], report["finished_at"] = "hier", "2026-13-45"
    report["settings"] = {"timeout_s": True, "checks": "all"}
    html = render_html(json.loads(json.dumps(report)), "fr", golden_metas())
    assert "Non notée" not in html  # the letter is still valid: only the numbers are dropped
    assert "Score :" not in html and "poids non indiqués dans ce rapport" in html
    assert "hier" in html and "2026-13-45" in html
