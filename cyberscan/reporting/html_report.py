"""Render the HTML report (and optionally PDF) from the canonical JSON: jinja2, autoescaped, no script."""

from __future__ import annotations

import copy
import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .._compat import tomllib
from ..bounds import clip
from ..i18n import (
    NOT_PROBED_REASONS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    label,
    message_template,
    render_message,
)
from ..metadata import CheckMeta, placeholders

if TYPE_CHECKING:
    from jinja2 import Environment

LANGS = ("fr", "en")
#: areas in the checklist's weight order, used when the report carries no grade to order them
DEFAULT_AREAS = ("SVC", "MAIL", "WEB", "TLS", "DNS")
STATUS_RANK = {"fail": 0, "error": 1, "warn": 2, "not_tested": 3, "info": 4, "not_applicable": 5, "pass": 6}
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
#: statuses shown as full cards in the annex; the others go to one compact table per area
ATTENTION = ("fail", "error", "warn", "not_tested", "info")
#: CSP of the report: no script, no request of any kind; images only as data: URIs (the logo)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

# Bounds on what reaches the page, whatever the JSON holds (a report may come from anywhere).
_LINE, _TEXT, _LONG, _EVIDENCE = 300, 1500, 4000, 4000
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_LOGO = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+={0,2}$")
_LOGO_MAX = 400_000  # characters of data URI: a 200 KB image in base64, with room
_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_AREA_CODE = re.compile(r"^[A-Z][A-Z0-9]{0,15}$")
_NEUTRAL = "#6e7781"
#: bar colours by score band, each at least 3:1 against white (WCAG non-text contrast)
_BANDS = ((90.0, "#1a7f37"), (75.0, "#4d7c0f"), (60.0, "#9a6700"), (40.0, "#bc4c00"), (0.0, "#cf222e"))
#: the chart's bar track width and row height, in SVG units (see _areas.html.j2)
_CHART_BAR_W, _CHART_ROW_H = 300, 28


@cache
def report_text() -> dict[str, Any]:
    """The report's own prose, {"fr": {...}, "en": {...}} (see report_text.toml)."""
    raw = resources.files("cyberscan.reporting").joinpath("report_text.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = tomllib.loads(raw)
    return data


def texts(lang: str) -> dict[str, Any]:
    """The prose tree for one language (French for anything unknown)."""
    tree: dict[str, Any] = report_text()["en" if lang == "en" else "fr"]
    return tree


def registry_metas(load_plugins: bool = True) -> dict[str, CheckMeta]:
    """Metadata of every check this installation knows (to re-localise a saved report)."""
    from ..registry import load_registry

    return {check_id: reg.meta for check_id, reg in load_registry(load_plugins).checks.items()}


def localise_report(report: Mapping[str, Any], lang: str, metas: Mapping[str, CheckMeta]) -> dict[str, Any]:
    """A copy of `report` with its prose in `lang`.

    Titles, remediation and messages are rebuilt from each finding's message_id and params through
    the check metadata; a check (or message) unknown to this installation keeps the JSON's text.
    """
    out = copy.deepcopy(dict(report))
    if out.get("lang") == lang:
        return out
    out["lang"] = lang
    for target in _dicts(out.get("targets")):
        for finding in _dicts(target.get("findings")):
            meta = metas.get(str(finding.get("check_id")))
            if meta is not None:
                finding["title"] = meta.title.get(lang)
                finding["remediation"] = meta.remediation.get(lang)
            message_id, params = finding.get("message_id"), finding.get("params")
            template = message_template(meta, message_id) if isinstance(message_id, str) else None
            # A report from another version may lack a parameter the template now uses: a sentence
            # with a raw {placeholder} in it would be worse than the saved one in the other language.
            if (
                template is not None
                and isinstance(params, dict)
                and placeholders(template.get(lang)) <= set(params)
            ):
                finding["message"] = render_message(meta, str(message_id), params, lang)
    return out


# --- small helpers ------------------------------------------------------------------------------------


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _num(value: Any) -> float | None:
    """A finite number, or None (JSON from elsewhere may hold NaN, Infinity, booleans or text)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None


def line(value: Any, limit: int = _LINE) -> str:
    """One line of target-controlled text: printable, bounded, newlines folded."""
    if value is None:
        return ""
    return " ".join(clip(str(value), limit).split())


def para(value: Any, limit: int = _TEXT) -> str:
    """A paragraph of text: printable and bounded, newlines kept."""
    return "" if value is None else clip(str(value), limit)


def number(value: float, tree: Mapping[str, Any]) -> str:
    """A short decimal in the report's language (0,5 in French)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text.replace(".", str(tree["decimal_separator"]))


def _fill(template: str, **values: Any) -> str:
    return template.format_map(values)


def _relative_luminance(colour: str) -> float:
    channels = []
    for i in (1, 3, 5):
        c = int(colour[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio between two #rrggbb colours."""
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def ink_for(background: str) -> str:
    """Black or white, whichever reads better on `background` (always ≥ 4.5:1 for #rrggbb)."""
    return (
        "#000000"
        if contrast_ratio(background, "#000000") >= contrast_ratio(background, "#ffffff")
        else "#ffffff"
    )


def _band_colour(score: float) -> str:
    return next(colour for floor, colour in _BANDS if score >= floor)


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _format_date(moment: date, tree: Mapping[str, Any]) -> str:
    return _fill(
        tree["date_format"], day=moment.day, month=tree["months"][moment.month - 1], year=moment.year
    )


def _format_day(value: Any, tree: Mapping[str, Any]) -> str:
    """An ISO date (a waiver's expiry) written out; anything else shown as it is, bounded."""
    try:
        return _format_date(date.fromisoformat(str(value)), tree)
    except ValueError:
        return line(value, 40)


def _format_time(value: Any, tree: Mapping[str, Any]) -> str:
    moment = _parse_time(value)
    if moment is None:
        return line(value, 40)
    offset = moment.strftime("%z")
    offset = "" if offset in ("", "+0000") else f"{offset[:3]}:{offset[3:]}"
    return _fill(
        tree["time_format"],
        date=_format_date(moment, tree),
        hour=f"{moment.hour:02d}",
        minute=f"{moment.minute:02d}",
        offset=offset,
    )


def _format_duration(seconds: float, tree: Mapping[str, Any]) -> str:
    if seconds < 60:
        return _fill(tree["scope"]["seconds"], value=number(round(seconds, 1), tree))
    minutes, rest = divmod(round(seconds), 60)
    return _fill(tree["scope"]["minutes"], minutes=minutes, seconds=rest)


# --- the view the templates display --------------------------------------------------------------------


@dataclass(frozen=True)
class RefView:
    """A reference: a link only when its URL is https."""

    label: str
    url: str | None
    raw_url: str


@dataclass(frozen=True)
class WaiverView:
    """An accepted risk on a finding (or a waiver that expired)."""

    reason: str
    owner: str
    expires: str
    expired: bool


@dataclass(frozen=True)
class FindingView:
    """One finding, every field bounded and made printable."""

    anchor: str
    check_id: str
    area: str
    target: str
    resource: str
    status: str
    status_label: str
    severity: str
    severity_label: str
    title: str
    message: str
    remediation: str
    references: tuple[RefView, ...]
    evidence: str
    owner: str
    owner_source: str
    effort: str
    waiver: WaiverView | None
    error: str | None

    @property
    def waived(self) -> bool:
        return self.waiver is not None and not self.waiver.expired


@dataclass(frozen=True)
class DoorView:
    """One of the most urgent open doors, in plain words for the mayor."""

    number: int
    headline: str
    check_id: str
    message: str
    severity: str
    severity_label: str
    owner: str
    owner_source: str
    delay: str
    effort: str


@dataclass(frozen=True)
class GradeView:
    """The letter, its colour and what it means."""

    letter: str | None
    letter_text: str
    score: str | None
    level: str | None
    colour: str
    ink: str
    meaning: str
    cap: str | None


@dataclass(frozen=True)
class PulledView:
    """A finding that pulled an area's score down."""

    check_id: str
    resource: str
    loss: str


@dataclass(frozen=True)
class AreaView:
    """An area's score, with its chart bar."""

    code: str
    label: str
    score: str
    scored: bool
    weight: str
    counted: int
    failed: int
    pulled: tuple[PulledView, ...]
    bar: int
    bar_colour: str
    y: int


@dataclass(frozen=True)
class AnnexArea:
    """The annex section of one area."""

    code: str
    label: str
    attention: tuple[FindingView, ...]
    others: tuple[FindingView, ...]


@dataclass(frozen=True)
class TargetView:
    """A scanned target for the scope section."""

    target: str
    kind: str
    collectors: tuple[str, ...]
    counts: str


@dataclass(frozen=True)
class Row:
    """A generic table row of already-bounded cells."""

    cells: tuple[str, ...]


@dataclass(frozen=True)
class ReportView:
    """Everything the templates show, computed from the JSON report."""

    lang: str
    commune: str
    date: str
    tool_version: str
    organisation: str | None
    logo: str | None
    grade: GradeView
    doors: tuple[DoorView, ...]
    failed_count: int
    alerts: tuple[str, ...]
    areas: tuple[AreaView, ...]
    chart_height: int
    status_counts: tuple[Row, ...]
    not_tested_note: str | None
    annex: tuple[AnnexArea, ...]
    targets: tuple[TargetView, ...]
    not_probed: tuple[Row, ...]
    scope: tuple[str, ...]
    run: tuple[Row, ...]
    options: tuple[Row, ...]
    method: str
    waivers_expired: tuple[Row, ...]
    waivers_unused: tuple[Row, ...]


def _owner(finding: Mapping[str, Any], tree: Mapping[str, Any]) -> tuple[str, str]:
    owner = _get(finding, "owner")
    source = str(_get(owner, "source") or "default")
    if source not in ("config", "detected", "default"):
        source = "default"
    name = line(_get(owner, "name"), 120)
    # "commune" is how the report model names the commune itself, whatever the source.
    if source == "default" or name.casefold() in ("", "commune"):
        name = tree["owners"]["default"]
    return name, tree["owners"][f"source_{source}"]


def _effort(value: Any, tree: Mapping[str, Any], short: bool = False) -> str:
    table = tree["efforts_short" if short else "efforts"]
    return str(table.get(value, table["unknown"])) if isinstance(value, str) else str(table["unknown"])


def _waiver(value: Any, tree: Mapping[str, Any]) -> WaiverView | None:
    if not isinstance(value, dict):
        return None
    return WaiverView(
        reason=line(value.get("reason"), 500),
        owner=line(value.get("owner"), 120),
        expires=_format_day(value.get("expires"), tree),
        expired=value.get("expired") is True,
    )


def _references(value: Any) -> tuple[RefView, ...]:
    refs = []
    for ref in _dicts(value)[:20]:
        raw = line(ref.get("url"), 500)
        url = raw if _HTTPS_URL.match(raw) else None
        refs.append(RefView(label=line(ref.get("label"), 300), url=url, raw_url=raw))
    return tuple(refs)


def _evidence(value: Any) -> str:
    if not value:
        return ""
    try:
        text = json.dumps(value, ensure_ascii=False, indent=1)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return clip(text, _EVIDENCE)


def _area_code(finding: Mapping[str, Any]) -> str:
    code = finding.get("area")
    if not isinstance(code, str) or not _AREA_CODE.match(code):
        code = str(finding.get("check_id", "")).split("-", 1)[0]
    return code if _AREA_CODE.match(code) else "OTHER"


def _finding_view(index: int, finding: Mapping[str, Any], tree: Mapping[str, Any], lang: str) -> FindingView:
    status = str(finding.get("status"))
    severity = str(finding.get("severity"))
    owner, owner_source = _owner(finding, tree)
    error = _get(finding, "error")
    error_text = None
    if isinstance(error, dict):
        error_text = _fill(
            tree["annex"]["error"], kind=line(error.get("kind"), 40), detail=line(error.get("detail"), 500)
        )
    return FindingView(
        anchor=f"f{index}",
        check_id=line(finding.get("check_id"), 60),
        area=_area_code(finding),
        target=line(finding.get("target")),
        resource=line(finding.get("resource")),
        status=status if status in STATUS_RANK else "unknown",
        status_label=label(STATUS_LABELS, line(status, 40), lang),
        severity=severity if severity in SEVERITY_RANK else "unknown",
        severity_label=label(SEVERITY_LABELS, line(severity, 40), lang),
        title=line(finding.get("title")),
        message=para(finding.get("message")),
        remediation=para(finding.get("remediation"), _LONG),
        references=_references(finding.get("references")),
        evidence=_evidence(finding.get("evidence")),
        owner=owner,
        owner_source=owner_source,
        effort=_effort(finding.get("effort"), tree),
        waiver=_waiver(finding.get("waiver"), tree),
        error=error_text,
    )


def _risk_key(view: FindingView) -> tuple[int, bool, int, str, str]:
    # Accepted risks go after the live ones of the same status: they stay visible, not on top.
    return (
        STATUS_RANK.get(view.status, 9),
        view.waived,
        SEVERITY_RANK.get(view.severity, 9),
        view.check_id,
        view.resource,
    )


def _grade_view(grade: Any, tree: Mapping[str, Any]) -> GradeView:
    gtree = tree["grade"]
    letter = _get(grade, "letter")
    letter = letter if isinstance(letter, str) and letter in ("A", "B", "C", "D", "E") else None
    colour = str(_get(grade, "colour") or "")
    if letter is None or not _COLOUR.match(colour):
        colour = _NEUTRAL
    score = _num(_get(grade, "score"))
    score_text = _fill(gtree["score"], score=round(score)) if score is not None and letter else None
    level = _get(grade, "level")
    level_text = _fill(gtree["level"], level=level) if isinstance(level, int) and letter else None
    cap = _get(grade, "cap")
    cap_text = None
    if isinstance(cap, dict) and letter:
        ids = cap.get("check_ids")
        checks = ", ".join(line(c, 60) for c in ids[:10]) if isinstance(ids, list) else ""
        key = f"cap_{cap.get('reason')}"
        cap_text = _fill(gtree[key] if key in gtree else gtree["cap_other"], checks=checks)
    return GradeView(
        letter=letter,
        letter_text=_fill(gtree["letter_label"], letter=letter) if letter else gtree["not_graded"],
        score=score_text,
        level=level_text,
        colour=colour,
        ink=ink_for(colour),
        meaning=gtree["meaning"][letter or "none"],
        cap=cap_text,
    )


def _door_views(
    grade: Any, findings: Sequence[FindingView], tree: Mapping[str, Any], lang: str
) -> tuple[DoorView, ...]:
    by_key = {(f.check_id, f.target, f.resource): f for f in findings if f.status == "fail"}
    doors = []
    for number_, door in enumerate(_dicts(_get(grade, "open_doors"))[:3], start=1):
        check_id = line(door.get("check_id"), 60)
        match = by_key.get((check_id, line(door.get("target")), line(door.get("resource"))))
        area = match.area if match else check_id.split("-", 1)[0]
        mayor = tree["mayor"]
        headline = mayor["check"].get(check_id) or mayor["area"].get(area) or mayor["area"]["other"]
        severity = str(door.get("severity"))
        owner, owner_source = _owner(door, tree)
        delay = door.get("delay")
        doors.append(
            DoorView(
                number=number_,
                headline=headline,
                check_id=check_id,
                message=line(match.message, 240) if match else line(door.get("resource")),
                severity=severity if severity in SEVERITY_RANK else "unknown",
                severity_label=label(SEVERITY_LABELS, line(severity, 40), lang),
                owner=owner,
                owner_source=owner_source,
                delay=tree["delays"].get(delay, tree["delays"]["unknown"])
                if isinstance(delay, str)
                else tree["delays"]["unknown"],
                effort=_effort(door.get("effort"), tree, short=True),
            )
        )
    return tuple(doors)


def _area_views(grade: Any, codes: Sequence[str], tree: Mapping[str, Any]) -> tuple[AreaView, ...]:
    by_code = {str(a.get("area")): a for a in _dicts(_get(grade, "areas"))}
    views = []
    for row, code in enumerate(codes):
        area = by_code.get(code, {})
        score, weight = _num(area.get("score")), _num(area.get("weight"))
        scored = score is not None
        value = max(0.0, min(100.0, score)) if score is not None else 0.0
        pulled = tuple(
            PulledView(
                check_id=line(p.get("check_id"), 60),
                resource=line(p.get("resource")),
                loss=number(loss, tree) if (loss := _num(p.get("loss"))) is not None else "",
            )
            for p in _dicts(area.get("pulled_down_by"))[:3]
        )
        views.append(
            AreaView(
                code=code,
                label=str(tree["area_names"].get(code, code)),
                score=str(round(value)) if scored else tree["areas"]["not_scored"],
                scored=scored,
                weight=number(weight, tree) if weight is not None else "–",
                counted=_int(area.get("counted")),
                failed=_int(area.get("failed")),
                pulled=pulled,
                bar=round(_CHART_BAR_W * value / 100) if scored else 0,
                bar_colour=_band_colour(value) if scored else _NEUTRAL,
                y=row * _CHART_ROW_H,
            )
        )
    return tuple(views)


def _area_order(grade: Any, findings: Iterable[FindingView]) -> list[str]:
    codes = [str(a.get("area")) for a in _dicts(_get(grade, "areas")) if _AREA_CODE.match(str(a.get("area")))]
    if not codes:
        codes = list(DEFAULT_AREAS)
    extra = sorted({f.area for f in findings} - set(codes))
    return codes + extra


def _method(grade: Any, tree: Mapping[str, Any], areas: Sequence[AreaView]) -> str:
    weights = _get(grade, "weights")
    severity, area_w = _get(weights, "severity"), _get(weights, "area")
    factor = _get(weights, "provider_factor")
    if not isinstance(severity, dict) or not isinstance(area_w, dict) or _num(factor) is None:
        unknown = tree["scope"]["weights_unknown"]
        values = dict.fromkeys(("critical", "high", "medium", "low", "provider_factor", "areas"), unknown)
        return _fill(tree["scope"]["method"], **values)
    labels = {a.code: a.label for a in areas}

    def num(value: Any) -> str:
        return number(n, tree) if (n := _num(value)) is not None else "–"

    return _fill(
        tree["scope"]["method"],
        critical=num(severity.get("critical")),
        high=num(severity.get("high")),
        medium=num(severity.get("medium")),
        low=num(severity.get("low")),
        provider_factor=num(factor),
        areas=", ".join(f"{labels.get(str(k), line(k, 20))} {num(v)}" for k, v in area_w.items()),
    )


def _waiver_rows(value: Any, tree: Mapping[str, Any]) -> tuple[Row, ...]:
    return tuple(
        Row(
            (
                line(w.get("check"), 60),
                line(w.get("resource")),
                line(w.get("reason"), 500),
                line(w.get("owner"), 120),
                _format_day(w.get("expires"), tree),
            )
        )
        for w in _dicts(value)[:200]
    )


def _alerts(report: Mapping[str, Any], views: Sequence[FindingView], tree: Mapping[str, Any]) -> list[str]:
    alerts = []
    errors = sum(1 for v in views if v.status == "error")
    if errors:
        alerts.append(_fill(tree["alerts"]["errors"], count=errors))
    expired = sum(1 for v in views if v.waiver is not None and v.waiver.expired)
    expired = max(expired, len(_dicts(_get(report.get("waivers"), "expired"))))
    if expired:
        alerts.append(_fill(tree["alerts"]["expired_waivers"], count=expired))
    waived = sum(1 for v in views if v.waived)
    if waived:
        alerts.append(_fill(tree["alerts"]["waived"], count=waived))
    return alerts


def _scope_views(
    report: Mapping[str, Any], tree: Mapping[str, Any], lang: str
) -> tuple[tuple[TargetView, ...], tuple[Row, ...]]:
    targets, not_probed = [], []
    for target in _dicts(report.get("targets")):
        name = line(target.get("target"))
        kind = str(target.get("kind"))
        runs = []
        for run in _dicts(target.get("collector_runs")):
            status = str(run.get("status"))
            duration = _num(run.get("duration_s"))
            text = (
                line(run.get("name"), 40)
                + tree["colon"]
                + tree["collector_status"].get(status, line(status, 20))
            )
            if duration is not None:
                text += f" ({_format_duration(duration, tree)})"
            runs.append(text)
        summary = _dict(target.get("summary"))
        counts = ", ".join(
            f"{label(STATUS_LABELS, s, lang)} {n}" for s, n in summary.items() if isinstance(n, int) and n
        )
        targets.append(TargetView(name, tree["kinds"].get(kind, line(kind, 20)), tuple(runs), line(counts)))
        for item in _dicts(target.get("not_probed"))[:500]:
            not_probed.append(
                Row(
                    (
                        name,
                        line(item.get("host")),
                        line(item.get("address"), 60),
                        line(label(NOT_PROBED_REASONS, str(item.get("reason", "")), lang), 500),
                    )
                )
            )
    return tuple(targets), tuple(not_probed)


def _run_rows(report: Mapping[str, Any], tree: Mapping[str, Any]) -> tuple[Row, ...]:
    stree = tree["scope"]
    checklist, tool = _dict(report.get("checklist")), _dict(report.get("tool"))
    rows = [
        (stree["checklist"], f"{line(checklist.get('id'), 80)} {line(checklist.get('version'), 40)}"),
        (stree["tool"], f"{line(tool.get('name'), 40)} {line(tool.get('version'), 40)}"),
        (stree["started"], _format_time(report.get("started_at"), tree)),
        (stree["finished"], _format_time(report.get("finished_at"), tree)),
    ]
    start, end = _parse_time(report.get("started_at")), _parse_time(report.get("finished_at"))
    if start and end and (start.tzinfo is None) == (end.tzinfo is None):
        rows.append((stree["duration"], _format_duration(max(0.0, (end - start).total_seconds()), tree)))
    mode = str(report.get("mode"))
    rows.append((stree["mode"], stree.get(f"mode_{mode}", line(mode, 20))))
    return tuple(Row(r) for r in rows)


def _option_rows(settings: Any, tree: Mapping[str, Any]) -> tuple[Row, ...]:
    stree = tree["scope"]
    settings = settings if isinstance(settings, dict) else {}
    rows = []
    for key, title in (("timeout_s", stree["timeout"]), ("deadline_s", stree["deadline"])):
        if (value := _num(settings.get(key))) is not None:
            rows.append((title, _fill(stree["seconds"], value=number(value, tree))))
    resolver = settings.get("resolver")
    rows.append((stree["resolver"], line(resolver, 80) if resolver else stree["resolver_system"]))
    checks = settings.get("checks")
    if isinstance(checks, list):
        rows.append(
            (stree["checks"], f"{len(checks)}{tree['colon']}{line(', '.join(map(str, checks)), 2000)}")
        )
    return tuple(Row(r) for r in rows)


def build_view(report: Mapping[str, Any], lang: str) -> ReportView:
    """Compute what the page shows (bounded, printable, localised) from a report already in `lang`."""
    tree = texts(lang)
    findings = [f for t in _dicts(report.get("targets")) for f in _dicts(t.get("findings"))]
    views = [_finding_view(i, f, tree, lang) for i, f in enumerate(findings)]
    grade = report.get("grade")
    areas = _area_views(grade, _area_order(grade, views), tree)
    annex = []
    for area in areas:
        mine = sorted((v for v in views if v.area == area.code), key=_risk_key)
        annex.append(
            AnnexArea(
                code=area.code,
                label=area.label,
                attention=tuple(v for v in mine if v.status in ATTENTION or v.status == "unknown"),
                others=tuple(v for v in mine if v.status not in ATTENTION and v.status != "unknown"),
            )
        )
    commune = _get(report.get("commune"), "name")
    first_target = next((line(t.get("target")) for t in _dicts(report.get("targets"))), "")
    finished = _parse_time(report.get("finished_at")) or _parse_time(report.get("started_at"))
    branding = report.get("branding")
    logo = _get(branding, "logo_data_uri")
    logo = logo if isinstance(logo, str) and len(logo) <= _LOGO_MAX and _LOGO.match(logo) else None
    organisation = line(_get(branding, "organisation"), 120) or None
    summary = _get(report.get("summary"), "findings")
    summary = summary if isinstance(summary, dict) else {}
    scope = _get(report.get("settings"), "scope")
    targets, not_probed = _scope_views(report, tree, lang)
    not_tested = sum(1 for v in views if v.status == "not_tested")
    return ReportView(
        lang=lang,
        commune=line(commune, 120) or first_target or tree["commune_unknown"],
        date=_format_date(finished, tree) if finished else line(report.get("finished_at"), 40),
        tool_version=line(_get(report.get("tool"), "version"), 40),
        organisation=organisation,
        logo=logo,
        grade=_grade_view(grade, tree),
        doors=_door_views(grade, views, tree, lang),
        failed_count=sum(1 for v in views if v.status == "fail" and not v.waived),
        alerts=tuple(_alerts(report, views, tree)),
        areas=areas,
        chart_height=max(1, len(areas)) * _CHART_ROW_H,
        status_counts=tuple(
            Row((label(STATUS_LABELS, s, lang), str(n), s))
            for s, n in summary.items()
            if s in STATUS_RANK and isinstance(n, int)
        ),
        not_tested_note=_fill(tree["alerts"]["not_tested"], count=not_tested) if not_tested else None,
        annex=tuple(annex),
        targets=targets,
        not_probed=not_probed,
        scope=tuple(line(s, 60) for s in scope[:100]) if isinstance(scope, list) else (),
        run=_run_rows(report, tree),
        options=_option_rows(report.get("settings"), tree),
        method=_method(grade, tree, areas),
        waivers_expired=_waiver_rows(_get(report.get("waivers"), "expired"), tree),
        waivers_unused=_waiver_rows(_get(report.get("waivers"), "unused"), tree),
    )


@cache
def _environment() -> Environment:
    # jinja2 is imported only when a page is rendered: `cyberscan scan -f json` never pays for it.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("cyberscan.report_templates", "."),
        # The stylesheet is ours and static; escaping it would break its quotes. Everything else,
        # including anything not named .html/.j2, is escaped.
        autoescape=select_autoescape(
            enabled_extensions=("html", "j2"), disabled_extensions=("css",), default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fill"] = _fill
    return env


def render_html(
    report: Mapping[str, Any], lang: str | None = None, metas: Mapping[str, CheckMeta] | None = None
) -> str:
    """The report as one self-contained HTML page: inline CSS and SVG, no script, no external request.

    `lang` defaults to the report's; another language re-localises findings from `metas` (by default
    the metadata of the checks this installation knows).
    """
    lang = lang if lang in LANGS else str(report.get("lang") if report.get("lang") in LANGS else "fr")
    if report.get("lang") != lang:
        report = localise_report(report, lang, registry_metas() if metas is None else metas)
    view = build_view(report, lang)
    return _environment().get_template("report.html.j2").render(v=view, txt=texts(lang), csp=CSP)


class PdfUnavailable(RuntimeError):
    """WeasyPrint (the optional `cyberscan[pdf]` extra) or its system libraries are missing."""


def html_to_pdf(html: str) -> bytes:
    """Print the HTML report to PDF with WeasyPrint (≥ 70), refusing every URL but data: ones."""
    try:
        weasyprint = importlib.import_module("weasyprint")
    except (ImportError, OSError) as exc:  # OSError: WeasyPrint found but Pango is not installed
        raise PdfUnavailable(
            "PDF output needs WeasyPrint: pip install 'cyberscan[pdf]' "
            f"(and Debian's libpango-1.0-0 libpangoft2-1.0-0) — {type(exc).__name__}: {exc}"
        ) from None

    # The report is self-contained: any URL but data: (the logo) could only come from hostile content.
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=("data",), timeout=1, allow_redirects=False)
    document = weasyprint.HTML(string=html, url_fetcher=fetcher)
    pdf: bytes = document.write_pdf()
    return pdf
