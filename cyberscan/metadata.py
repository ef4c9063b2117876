"""Load and validate check metadata: the fr/en prose, severity, references and parameters of each check."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._compat import tomllib
from .models import Severity

LANGS = ("fr", "en")
ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_TITLE_MAX = 120


class MetadataError(ValueError):
    """A metadata file breaks the contract (missing language, bad severity, unknown field…)."""


@dataclass(frozen=True)
class Localized:
    """One text in French and English."""

    fr: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.fr


@dataclass(frozen=True)
class Reference:
    """A document a check relies on (ANSSI guide and recommendation, RFC…)."""

    label: str
    url: str | None = None


@dataclass(frozen=True)
class CheckMeta:
    """Everything about a check that is data rather than code."""

    id: str
    severity: Severity
    title: Localized
    rationale: Localized
    remediation: Localized
    references: tuple[Reference, ...]
    messages: Mapping[str, Localized]
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    opt_in: bool = False
    #: how much fixing costs (report's effort class): see EFFORTS
    effort: str | None = None
    #: the asset the check judges, which decides who acts (the commune or the asset's provider): ASSETS
    asset: str | None = None

    @property
    def family(self) -> str:
        return self.id.split("-", 1)[0]


#: "quick": a setting in a panel or one DNS record, under an hour, free; "ticket": a request to the
#: hoster or provider; "project": planned work, a purchase or a contract change.
EFFORTS = ("quick", "ticket", "project")
#: what the check is about, mapped to an owner by the configuration or by detection (MX, NS, hosting):
#: the web host, the mail platform, the DNS host, the registrar, or the commune's own network.
ASSETS = ("web", "mail", "dns", "domain", "network")
#: the owner name that means "the commune itself" (no provider factor in the grade)
COMMUNE = "commune"
#: longest owner name accepted in `[owners]` and inventories
MAX_OWNER_NAME = 100

_ALLOWED_KEYS = {
    "effort",
    "asset",
    "severity",
    "title",
    "rationale",
    "remediation",
    "references",
    "messages",
    "params",
    "tags",
    "opt_in",
}


def _localized(check_id: str, what: str, raw: Any) -> Localized:
    if not isinstance(raw, dict) or set(raw) != set(LANGS):
        raise MetadataError(f"{check_id}: {what} needs exactly 'fr' and 'en' texts")
    for lang in LANGS:
        text = raw[lang]
        if not isinstance(text, str) or not text.strip():
            raise MetadataError(f"{check_id}: {what}.{lang} must be a non-empty string")
        for _, name, spec, _ in string.Formatter().parse(text):
            if name is not None and (name == "" or name.isdigit()):
                raise MetadataError(f"{check_id}: {what}.{lang} has a positional placeholder")
            if name is not None and spec:
                raise MetadataError(f"{check_id}: {what}.{lang} uses a format spec; pass formatted params")
    return Localized(fr=raw["fr"], en=raw["en"])


def placeholders(text: str) -> set[str]:
    """Names of the `{placeholders}` in a message template."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def parse_check_meta(check_id: str, raw: Mapping[str, Any]) -> CheckMeta:
    """Validate one check's table and build its CheckMeta (raises MetadataError)."""
    if not ID_PATTERN.match(check_id):
        raise MetadataError(f"{check_id!r} is not a valid check ID (e.g. WEB-HSTS)")
    unknown = set(raw) - _ALLOWED_KEYS
    if unknown:
        raise MetadataError(f"{check_id}: unknown metadata keys {sorted(unknown)}")
    try:
        severity = Severity(raw.get("severity"))
    except ValueError:
        raise MetadataError(f"{check_id}: severity must be one of {[s.value for s in Severity]}") from None
    title = _localized(check_id, "title", raw.get("title"))
    for lang in LANGS:
        title_text = title.get(lang)
        if len(title_text) > _TITLE_MAX:
            raise MetadataError(f"{check_id}: title.{lang} is longer than {_TITLE_MAX} characters")
        if placeholders(title_text):
            raise MetadataError(f"{check_id}: title.{lang} must not contain placeholders")
    messages_raw = raw.get("messages")
    if not isinstance(messages_raw, dict) or not messages_raw:
        raise MetadataError(f"{check_id}: at least one message is required")
    reserved = {"error", "out_of_scope", "no_address", "no_service", "starttls_refused"} & set(messages_raw)
    if reserved:
        raise MetadataError(f"{check_id}: message IDs {sorted(reserved)} are reserved for the engine")
    messages = {mid: _localized(check_id, f"messages.{mid}", text) for mid, text in messages_raw.items()}
    for mid, localized in messages.items():
        if placeholders(localized.fr) != placeholders(localized.en):
            raise MetadataError(f"{check_id}: messages.{mid} has different placeholders in fr and en")
    references = []
    for ref in raw.get("references", []):
        if not isinstance(ref, dict) or not isinstance(ref.get("label"), str) or set(ref) - {"label", "url"}:
            raise MetadataError(f"{check_id}: each reference is {{ label = '…', url = 'https://…' }}")
        url = ref.get("url")
        if url is not None and not (isinstance(url, str) and url.startswith("https://")):
            raise MetadataError(f"{check_id}: reference URLs must be https")
        references.append(Reference(ref["label"], url))
    if not references:
        raise MetadataError(f"{check_id}: at least one reference is required")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise MetadataError(f"{check_id}: params must be a table")
    if {"enabled", "severity"} & set(params):
        raise MetadataError(f"{check_id}: 'enabled' and 'severity' are reserved, not params")
    tags = raw.get("tags", [])
    opt_in = raw.get("opt_in", False)
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise MetadataError(f"{check_id}: tags must be a list of strings")
    if not isinstance(opt_in, bool):
        raise MetadataError(f"{check_id}: opt_in must be true or false")
    effort = raw.get("effort")
    if effort is not None and effort not in EFFORTS:
        raise MetadataError(f"{check_id}: effort must be one of {list(EFFORTS)}")
    asset = raw.get("asset")
    if asset is not None and asset not in ASSETS:
        raise MetadataError(f"{check_id}: asset must be one of {list(ASSETS)}")
    return CheckMeta(
        id=check_id,
        severity=severity,
        title=title,
        rationale=_localized(check_id, "rationale", raw.get("rationale")),
        remediation=_localized(check_id, "remediation", raw.get("remediation")),
        references=tuple(references),
        messages=messages,
        params=params,
        tags=tuple(tags),
        opt_in=opt_in,
        effort=effort,
        asset=asset,
    )


def load_module_metadata(package: str, module_name: str) -> dict[str, CheckMeta]:
    """Read `<module_name>.toml` that sits beside a check module inside `package`."""
    from importlib import resources  # ~10 ms to import: only when a family's metadata is read

    resource = resources.files(package).joinpath(f"{module_name}.toml")
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetadataError(f"{package}.{module_name}: no {module_name}.toml beside the module") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"{package}/{module_name}.toml: {exc}") from None
    return {check_id: parse_check_meta(check_id, raw) for check_id, raw in data.items()}
