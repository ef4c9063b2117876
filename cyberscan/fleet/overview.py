"""Fleet reports: each commune's report with a "what changed" section and trend, and the fleet overview."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bounds import clip
from ..reporting.html_report import CSP, render_html
from ..reporting.json_report import dumps
from .changes import KINDS, OPEN, CommuneChanges, findings_of, is_waived
from .history import History, ScorePoint
from .inventory import Commune, Inventory

if TYPE_CHECKING:
    from jinja2 import Environment

MAX_ROWS = 200
_LINE = 200
#: population cohorts for the anonymous comparison (upper bounds, inhabitants)
COHORTS = ((500, "< 500"), (2000, "500 – 1 999"), (10000, "2 000 – 9 999"), (None, "≥ 10 000"))

TEXT: dict[str, dict[str, Any]] = {
    "fr": {
        "title": "Ce qui a changé depuis le {date}",
        "title_first": "Premier audit de la commune dans l'historique",
        "grade_line": "Note : {grade} (score {score}) ; "
        "audit précédent : {previous} (score {previous_score}).",
        "kinds": {
            "new": "nouveau",
            "regressed": "dégradé",
            "fixed": "corrigé",
            "still_open": "toujours ouvert",
            "waived": "risque accepté",
        },
        "count": "{label} : {n}",
        "kind": "Évolution",
        "check": "Contrôle",
        "resource": "Ressource",
        "severity": "Gravité",
        "status": "Statut",
        "since": "Constaté depuis",
        "nothing": "Aucun écart à signaler par rapport à l'audit précédent.",
        "more": "{n} autres lignes non affichées (voir rapport.json).",
        "trend": "Évolution du score",
        "trend_label": "Score global de la commune, audit par audit (sur 100)",
        "no_trend": "Pas encore d'historique de score.",
        "doc_title": "Synthèse de la flotte",
        "run_line": "Campagne n° {run} du {date} : {done} communes auditées sur {total}.",
        "ranking": "Communes par urgence",
        "ranking_help": "Classées par défauts critiques, puis élevés, puis score. "
        "Seules les communes qui l'ont accepté (publish = true) sont nommées.",
        "commune": "Commune",
        "grade": "Note",
        "score": "Score",
        "critical": "Critiques",
        "high": "Élevés",
        "other": "Autres",
        "trend_col": "Depuis l'audit précédent",
        "heatmap": "Communes × domaines",
        "heatmap_help": "Score de chaque domaine (sur 100) ; « — » : rien de mesuré.",
        "common": "Défauts les plus fréquents (à traiter de façon mutualisée)",
        "common_help": "Contrôles en échec ou en alerte dans le plus de communes.",
        "communes_affected": "Communes concernées",
        "owners": "Qui agit",
        "distribution": "Répartition des notes",
        "communes_count": "Communes",
        "cohorts": "Comparaison par taille de commune",
        "cohorts_help": "Statistiques anonymes par tranche de population.",
        "cohort": "Population",
        "median": "Score médian",
        "best": "Meilleur",
        "worst": "Moins bon",
        "members": "Communes nommées",
        "anonymous": "Commune n° {n}",
        "missing": "Sans résultat dans cette campagne : {n} commune(s).",
        "footer": "Généré par cyberscan {version}.",
        "unknown_pop": "population inconnue",
        "up": "en hausse ({delta})",
        "down": "en baisse ({delta})",
        "same": "stable",
        "first": "premier audit",
        "none": "—",
    },
    "en": {
        "title": "What changed since {date}",
        "title_first": "The commune's first audit in the history",
        "grade_line": "Grade: {grade} (score {score}); previous audit: {previous} (score {previous_score}).",
        "kinds": {
            "new": "new",
            "regressed": "regressed",
            "fixed": "fixed",
            "still_open": "still open",
            "waived": "accepted risk",
        },
        "count": "{label}: {n}",
        "kind": "Change",
        "check": "Check",
        "resource": "Resource",
        "severity": "Severity",
        "status": "Status",
        "since": "Seen since",
        "nothing": "Nothing to report compared with the previous audit.",
        "more": "{n} more rows not shown (see rapport.json).",
        "trend": "Score trend",
        "trend_label": "The commune's overall score, audit by audit (out of 100)",
        "no_trend": "No score history yet.",
        "doc_title": "Fleet overview",
        "run_line": "Run {run} of {date}: {done} of {total} communes audited.",
        "ranking": "Communes by urgency",
        "ranking_help": "Ranked by critical failures, then high, then score. "
        "Only communes that agreed (publish = true) are named.",
        "commune": "Commune",
        "grade": "Grade",
        "score": "Score",
        "critical": "Critical",
        "high": "High",
        "other": "Other",
        "trend_col": "Since the previous audit",
        "heatmap": "Communes × areas",
        "heatmap_help": 'Score of each area (out of 100); "—": nothing measured.',
        "common": "Most common findings (fix them centrally)",
        "common_help": "Checks failing or warning in the most communes.",
        "communes_affected": "Communes affected",
        "owners": "Who acts",
        "distribution": "Grade distribution",
        "communes_count": "Communes",
        "cohorts": "Comparison by commune size",
        "cohorts_help": "Anonymous statistics per population band.",
        "cohort": "Population",
        "median": "Median score",
        "best": "Best",
        "worst": "Worst",
        "members": "Named communes",
        "anonymous": "Commune no. {n}",
        "missing": "No result in this run: {n} commune(s).",
        "footer": "Generated by cyberscan {version}.",
        "unknown_pop": "population unknown",
        "up": "up ({delta})",
        "down": "down ({delta})",
        "same": "stable",
        "first": "first audit",
        "none": "—",
    },
}


@cache
def _environment() -> Environment:
    # Same safety settings as the commune report: autoescape everything, fail on any missing value.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("cyberscan.report_templates", "."),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _macro(name: str) -> Any:
    return getattr(_environment().get_template("fleet_overview.html.j2").module, name)


def _line(value: Any, limit: int = _LINE) -> str:
    return clip(" ".join(str(value).split()), limit) if value is not None else ""


def _score(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def _texts(lang: str) -> dict[str, Any]:
    return TEXT[lang if lang in TEXT else "fr"]


# ------------------------------------------------------------------------------ per-commune report


def trend_chart(series: Sequence[ScorePoint], lang: str) -> dict[str, Any]:
    """Coordinates of the score trend (SVG drawn by the template): numbers only, nothing from a target."""
    t = _texts(lang)
    width, height, top, bottom, left = 360, 120, 14, 104, 34
    scored = [p for p in series if p.score is not None]
    step = (width - left - 16) / max(1, len(scored) - 1)
    points = []
    for i, p in enumerate(scored):
        assert p.score is not None
        x = round(left + i * step, 1)
        y = round(bottom - (bottom - top) * max(0.0, min(100.0, p.score)) / 100, 1)
        points.append(
            {
                "x": x,
                "y": y,
                "score": _score(p.score, lang),
                "label": f"{p.date}: {_score(p.score, lang)} ({p.letter or '—'})",
            }
        )
    return {
        "width": width,
        "height": height,
        "top": top,
        "bottom": bottom,
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "label": t["trend_label"],
    }


def changes_view(
    changes: CommuneChanges, since: str | None, series: Sequence[ScorePoint], lang: str
) -> dict[str, Any]:
    t = _texts(lang)
    shown = [c for c in changes.changes if c.kind != "still_open"] + [
        c for c in changes.changes if c.kind == "still_open"
    ]
    rows = [
        {
            "kind": c.kind,
            "kind_label": t["kinds"][c.kind],
            "check_id": _line(c.check_id, 40),
            "title": _line(c.title),
            "resource": _line(c.resource),
            "severity": _line(c.severity, 20),
            "status": _line(
                c.status if c.previous_status is None else f"{c.previous_status} → {c.status}", 40
            ),
            "since": _line(c.first_seen or "—", 20),
        }
        for c in shown[:MAX_ROWS]
    ]
    counts = Counter(c.kind for c in changes.changes)
    return {
        "title": t["title"].format(date=since) if since else t["title_first"],
        "grade_line": t["grade_line"].format(
            grade=changes.grade or "—",
            score=_score(changes.score, lang),
            previous=changes.previous_grade or "—",
            previous_score=_score(changes.previous_score, lang),
        ),
        "counts": [t["count"].format(label=t["kinds"][k], n=counts.get(k, 0)) for k in KINDS],
        "rows": rows,
        "more": t["more"].format(n=len(shown) - MAX_ROWS) if len(shown) > MAX_ROWS else "",
        "chart": trend_chart(series, lang),
    }


def changes_section(
    changes: CommuneChanges, since: str | None, series: Sequence[ScorePoint], lang: str
) -> str:
    """The "what changed" section and trend chart, as an HTML fragment for the commune's report."""
    return str(_macro("changes_section")(changes_view(changes, since, series, lang), _texts(lang)))


def insert_section(html: str, section: str) -> str:
    """Put `section` at the end of the report's <main> (or before </body> if the page has none)."""
    for marker in ("</main>", "</body>"):
        at = html.rfind(marker)
        if at >= 0:
            return html[:at] + section + html[at:]
    return html + section


def write_commune_report(
    history: History, run_id: int, commune: Commune, out_dir: Path, lang: str | None = None
) -> Path | None:
    """Write OUT/<insee>-<slug>/rapport.json and rapport.html (with changes and trend) for one commune."""
    from .runner import commune_changes

    report = history.report(run_id, commune.insee)
    if report is None:
        return None
    lang = lang or str(report.get("lang", "fr"))
    changes = commune_changes(history, run_id, commune, report)
    previous = history.previous_run(commune.insee, run_id)
    previous_report = history.report(previous, commune.insee) if previous is not None else None
    since = str(previous_report.get("started_at", ""))[:10] if previous_report else None
    html = render_html(report, lang)
    html = insert_section(html, changes_section(changes, since, history.scores(commune.insee, run_id), lang))
    folder = out_dir / commune.slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rapport.json").write_text(dumps(report), encoding="utf-8")
    (folder / "rapport.html").write_text(html, encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------------- the overview


def _cohort(population: int | None, lang: str) -> str:
    if population is None:
        return str(_texts(lang)["unknown_pop"])
    for bound, label in COHORTS:
        if bound is None or population < bound:
            return label
    return COHORTS[-1][1]


def _heat_class(score: float | None) -> str:
    if score is None:
        return "hn"
    return f"h{min(4, int(score // 20))}"


def overview_view(inventory: Inventory, history: History, run_id: int, lang: str) -> dict[str, Any]:
    t = _texts(lang)
    labels: dict[str, str] = {}
    for number, commune in enumerate(inventory.communes, start=1):
        labels[commune.insee] = _line(commune.name) if commune.publish else t["anonymous"].format(n=number)
    entries: list[tuple[Commune, Mapping[str, Any]]] = []
    for commune in inventory.communes:
        stored = history.report(run_id, commune.insee)
        if stored is not None:
            entries.append((commune, stored))
    ranking = []
    common: dict[str, dict[str, Any]] = {}
    areas: list[str] = []
    for commune, report in entries:
        fails: Counter[str] = Counter()
        seen_checks: set[str] = set()
        for f in findings_of(report):
            status = str(f.get("status"))
            if status in OPEN and not is_waived(f):
                fails[str(f.get("severity")) if status == "fail" else "warn"] += 1
                check_id = _line(f.get("check_id"), 40)
                if check_id not in seen_checks:
                    seen_checks.add(check_id)
                    entry = common.setdefault(
                        check_id,
                        {
                            "check_id": check_id,
                            "title": _line(f.get("title")),
                            "severity": _line(f.get("severity"), 20),
                            "count": 0,
                            "owners": Counter(),
                        },
                    )
                    entry["count"] += 1
                    owner = f.get("owner")
                    if isinstance(owner, Mapping) and owner.get("name"):
                        entry["owners"][_line(owner.get("name"), 60)] += 1
        grade = report.get("grade") if isinstance(report.get("grade"), Mapping) else {}
        assert isinstance(grade, Mapping)
        score = grade.get("score") if isinstance(grade.get("score"), int | float) else None
        for area in grade.get("areas") or ():
            if isinstance(area, Mapping) and _line(area.get("area"), 20) not in areas:
                areas.append(_line(area.get("area"), 20))
        series = history.scores(commune.insee, run_id, limit=2)
        delta = t["first"]
        if len(series) == 2 and series[0].score is not None and score is not None:
            diff = float(score) - float(series[0].score)
            delta = (
                t["same"]
                if abs(diff) < 0.05
                else t["up" if diff > 0 else "down"].format(delta=_score(abs(diff), lang))
            )
        ranking.append(
            {
                "insee": commune.insee,
                "label": labels[commune.insee],
                "letter": _line(grade.get("letter") or "—", 2),
                "score_value": score,
                "score": _score(score, lang),
                "critical": fails.get("critical", 0),
                "high": fails.get("high", 0),
                "other": sum(fails.values()) - fails.get("critical", 0) - fails.get("high", 0),
                "delta": delta,
                "areas": {
                    _line(a.get("area"), 20): a.get("score")
                    for a in grade.get("areas") or ()
                    if isinstance(a, Mapping)
                },
                "population": commune.population,
                "publish": commune.publish,
            }
        )
    ranking.sort(
        key=lambda r: (
            -r["critical"],
            -r["high"],
            r["score_value"] if r["score_value"] is not None else 101,
            r["label"],
        )
    )
    for rank, row in enumerate(ranking, start=1):
        row["rank"] = rank
    heat = [
        {
            "label": r["label"],
            "cells": [
                {
                    "text": _score(
                        r["areas"].get(a) if isinstance(r["areas"].get(a), int | float) else None, lang
                    ),
                    "css": _heat_class(
                        r["areas"].get(a) if isinstance(r["areas"].get(a), int | float) else None
                    ),
                }
                for a in areas
            ],
        }
        for r in ranking
    ]
    letters = Counter(r["letter"] for r in ranking)
    most = max(letters.values(), default=1)
    distribution = [
        {"letter": letter, "count": letters.get(letter, 0), "width": int(200 * letters.get(letter, 0) / most)}
        for letter in ("A", "B", "C", "D", "E", "—")
    ]
    cohorts: dict[str, list[dict[str, Any]]] = {}
    for r in ranking:
        cohorts.setdefault(_cohort(r["population"], lang), []).append(r)
    order = [label for _, label in COHORTS] + [t["unknown_pop"]]
    cohort_rows = []
    for label in order:
        members = cohorts.get(label)
        if not members:
            continue
        scores = [float(m["score_value"]) for m in members if m["score_value"] is not None]
        cohort_rows.append(
            {
                "label": label,
                "count": len(members),
                "median": _score(statistics.median(scores), lang) if scores else "—",
                "best": _score(max(scores), lang) if scores else "—",
                "worst": _score(min(scores), lang) if scores else "—",
                "members": ", ".join(m["label"] for m in members if m["publish"]) or "—",
            }
        )
    common_rows = sorted(common.values(), key=lambda e: (-e["count"], e["check_id"]))[:30]
    for e in common_rows:
        e["owners"] = ", ".join(f"{name} ({n})" for name, n in e["owners"].most_common(3)) or "—"
    from .. import __version__

    syndicat = inventory.syndicat
    missing = len(inventory.communes) - len(entries)
    return {
        "lang": lang,
        "syndicat": _line(syndicat.name),
        "organisation": _line(syndicat.organisation or ""),
        "logo": None,
        "run_line": t["run_line"].format(
            run=run_id,
            date=history.run_started(run_id)[:10],
            done=len(entries),
            total=len(inventory.communes),
        ),
        "ranking": ranking,
        "missing": t["missing"].format(n=missing) if missing else "",
        "areas": areas,
        "heat": heat,
        "common": common_rows,
        "distribution": distribution,
        "cohorts": cohort_rows,
        "footer": t["footer"].format(version=__version__),
    }


def overview_html(
    inventory: Inventory, history: History, run_id: int, lang: str = "fr", logo: str | None = None
) -> str:
    """The fleet overview: one self-contained page (inline CSS, no script, no external request)."""
    view = overview_view(inventory, history, run_id, lang)
    # Only a data: URI that the configuration loader produced and checked can be the logo.
    view["logo"] = logo if logo and logo.startswith("data:image/") else None
    return str(_macro("overview")(view, _texts(lang), CSP))


def render_all(
    inventory: Inventory,
    history: History,
    run_id: int,
    out_dir: Path,
    lang: str | None = None,
    logo: str | None = None,
) -> list[Path]:
    """Every commune's report of `run_id` and OUT/synthese.html, from the database alone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for commune in inventory.communes:
        folder = write_commune_report(history, run_id, commune, out_dir, lang)
        if folder is not None:
            written.append(folder)
    path = out_dir / "synthese.html"
    path.write_text(overview_html(inventory, history, run_id, lang or "fr", logo), encoding="utf-8")
    written.append(path)
    return written
