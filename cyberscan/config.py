"""Strict TOML configuration: an unknown key or a wrong type is a one-line error naming file and line."""

from __future__ import annotations

import base64
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from ._compat import tomllib
from .metadata import ASSETS, COMMUNE, MAX_OWNER_NAME
from .models import Severity
from .registry import Registry
from .reporting.grading import AREAS, Weights
from .reporting.settings import ReportSettings
from .scope import Scope, ScopeError
from .waivers import Waiver, WaiverError, parse_waiver

DEFAULT_USER_AGENT = (
    f"cyberscan/{__version__} (audit d'exposition Internet; +https://example.invalid/cyberscan)"
)
LANGS = ("fr", "en")
MAX_JOBS = 64


class ConfigError(ValueError):
    """Invalid configuration; the message is one line, prefixed with `file:line:` when known."""


@dataclass(frozen=True)
class CheckSettings:
    """Per-check overrides from `[checks."ID"]`."""

    enabled: bool | None = None
    severity: Severity | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Everything a scan needs to know, built once and passed down (never a module global)."""

    timeout: float = 10.0
    deadline: float = 300.0
    jobs: int = 4
    lang: str = "fr"
    scope: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    resolver: str | None = None
    hosts: Mapping[str, str] = field(default_factory=dict)
    user_agent: str = DEFAULT_USER_AGENT
    fail_on: Severity | None = None
    collectors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    checks: Mapping[str, CheckSettings] = field(default_factory=dict)
    report: ReportSettings = field(default_factory=ReportSettings)
    #: asset ("web", "mail", "dns", "domain", "network") -> who runs it; "commune" = the commune itself
    owners: Mapping[str, str] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    source: str | None = None


_SCAN_KEYS: dict[str, type | tuple[type, ...]] = {
    "timeout": (int, float),
    "deadline": (int, float),
    "jobs": int,
    "lang": str,
    "scope": list,
    "ca_bundle": str,
    "resolver": str,
    "user_agent": str,
    "fail_on": str,
}
_TOP_LEVEL = {"scan", "hosts", "collectors", "checks", "report", "owners", "waivers"}
_REPORT_KEYS = ("commune", "insee", "organisation", "logo", "weights")
_WEIGHT_KEYS = ("severity", "area", "provider_factor")
_REPORT_TEXT_MAX = 200
# A commune's INSEE code: 5 digits, or Corsica's 2A/2B followed by 3 digits.
_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
MAX_LOGO_BYTES = 200 * 1024
MAX_WEIGHT = 1000.0
# An SVG logo is refused if it could carry active content. The renderer also embeds it only through
# <img>, where browsers run no script and fetch nothing: this check is the second lock, not the only one.
_SVG_ACTIVE = re.compile(r"<script|\son[a-z]+\s*=|javascript:|<foreignobject|<!entity", re.IGNORECASE)
_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def _type_ok(value: Any, default: Any) -> bool:
    """Does `value` have the type of a parameter whose default is `default`?"""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, list):
        if not isinstance(value, list):
            return False
        return not default or all(_type_ok(v, default[0]) for v in value)
    return isinstance(value, type(default))


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, list):
        return f"a list of {_type_name(default[0]) if default else 'values'}"
    return {int: "an integer", float: "a number", str: "a string", dict: "a table"}.get(
        type(default), type(default).__name__
    )


def _key_path(fragment: str) -> tuple[str, ...] | None:
    """Key path of a TOML header or `key = …` line, parsed by tomllib itself (None if not one)."""
    try:
        data: Any = tomllib.loads(fragment)
    except tomllib.TOMLDecodeError:
        return None
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        key = next(iter(data))
        path.append(key)
        data = data[key]
    return tuple(path)


def locate(text: str, path: tuple[str, ...]) -> int | None:
    """Line number (1-based) where `path` is defined in TOML `text`; tomllib keeps no positions."""
    table: tuple[str, ...] = ()
    best: int | None = None
    inline: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            header = _key_path(stripped.split("#", 1)[0].strip())
            if header is not None:
                table = header
                if table == path:
                    return number
                if best is None and path[: len(table)] == table:
                    best = number
            continue
        if "=" in stripped:
            key = _key_path(stripped.split("=", 1)[0] + "= 0")
            if key is not None:
                full = table + key
                if full[: len(path)] == path:
                    return number
                if inline is None and path[: len(full)] == full:
                    inline = number  # `key = { … }`: the path is inside this inline table
    return inline or best


class _Loader:
    def __init__(self, path: Path, text: str, registry: Registry) -> None:
        self.path = path
        self.text = text
        self.registry = registry

    def fail(self, where: tuple[str, ...], message: str) -> ConfigError:
        line = locate(self.text, where) if where else None
        prefix = f"{self.path}:{line}" if line else f"{self.path}"
        return ConfigError(f"{prefix}: {message}")

    def table(self, data: Any, where: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, f"'{'.'.join(where)}' must be a table")
        return data

    def load(self) -> Settings:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            # tomllib puts the position at the end of its message: move it to the usual file:line: prefix.
            found = _TOML_POSITION.match(str(exc))
            if found:
                where = f"{self.path}:{found['line']}"
                raise ConfigError(f"{where}: {found['message']} (column {found['column']})") from None
            raise ConfigError(f"{self.path}: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{self.path}: nested too deeply to be a cyberscan configuration") from None
        for key in data:
            if key not in _TOP_LEVEL:
                raise self.fail(
                    (key,), f"unknown section or key '{key}' (expected one of {sorted(_TOP_LEVEL)})"
                )
        values: dict[str, Any] = {"source": str(self.path)}
        values.update(self.scan(self.table(data.get("scan", {}), ("scan",))))
        values["hosts"] = self.hosts(self.table(data.get("hosts", {}), ("hosts",)))
        values["collectors"] = self.collectors(self.table(data.get("collectors", {}), ("collectors",)))
        values["checks"] = self.checks(self.table(data.get("checks", {}), ("checks",)))
        values["report"] = self.report(self.table(data.get("report", {}), ("report",)))
        values["owners"] = self.owners(self.table(data.get("owners", {}), ("owners",)))
        values["waivers"] = self.waivers(data.get("waivers", []))
        return Settings(**values)

    def scan(self, raw: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in raw.items():
            where = ("scan", key)
            expected = _SCAN_KEYS.get(key)
            if expected is None:
                raise self.fail(where, f"unknown key 'scan.{key}' (expected one of {sorted(_SCAN_KEYS)})")
            if not isinstance(value, expected) or isinstance(value, bool):
                raise self.fail(where, f"'scan.{key}' has the wrong type ({type(value).__name__})")
            number = value if isinstance(value, int | float) else None
            if key in ("timeout", "deadline", "jobs") and not (
                number is not None and math.isfinite(number) and number > 0
            ):
                raise self.fail(where, f"'scan.{key}' must be a positive, finite number")
            if key == "jobs" and number is not None and number > MAX_JOBS:
                raise self.fail(where, f"'scan.jobs' must be at most {MAX_JOBS}")
            if key == "lang" and value not in LANGS:
                raise self.fail(where, f"'scan.lang' must be one of {list(LANGS)}")
            if key == "fail_on":
                try:
                    value = Severity(value)
                except ValueError:
                    raise self.fail(
                        where, f"'scan.fail_on' must be one of {[s.value for s in Severity]}"
                    ) from None
            if key == "scope":
                if not all(isinstance(v, str) for v in value):
                    raise self.fail(where, "'scan.scope' must be a list of CIDR strings")
                try:
                    Scope.parse(value)
                except ScopeError as exc:
                    raise self.fail(where, str(exc)) from None
                value = tuple(value)
            if key == "ca_bundle":
                value = (self.path.parent / value).resolve()
                if not value.is_file():
                    raise self.fail(where, f"'scan.ca_bundle' file not found: {value}")
            if key in ("timeout", "deadline"):
                value = float(value)
            out[key] = value
        return out

    def hosts(self, raw: dict[str, Any]) -> dict[str, str]:
        for name, address in raw.items():
            try:
                ipaddress.ip_address(address if isinstance(address, str) else "")
            except ValueError:
                raise self.fail(("hosts", name), f"'hosts.\"{name}\"' must be an IP address string") from None
        return {name.lower(): address for name, address in raw.items()}

    def collectors(self, raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, section in raw.items():
            where = ("collectors", name)
            collector = self.registry.collector_named(name)
            if collector is None:
                known = self.registry.collector_names()
                raise self.fail(where, f"unknown collector '{name}' (known: {known})")
            section = self.table(section, where)
            defaults = collector.defaults
            for key, value in section.items():
                if key not in defaults:
                    raise self.fail(
                        where + (key,), f"unknown key '{key}' for collector '{name}' ({sorted(defaults)})"
                    )
                if not _type_ok(value, defaults[key]):
                    raise self.fail(
                        where + (key,), f"'collectors.{name}.{key}' must be {_type_name(defaults[key])}"
                    )
            out[name] = dict(section)
        return out

    def checks(self, raw: dict[str, Any]) -> dict[str, CheckSettings]:
        out: dict[str, CheckSettings] = {}
        for check_id, section in raw.items():
            where = ("checks", check_id)
            reg = self.registry.checks.get(check_id)
            if reg is None:
                raise self.fail(where, f"unknown check '{check_id}' (see `cyberscan checks list`)")
            section = self.table(section, where)
            enabled = section.get("enabled")
            if enabled is not None and not isinstance(enabled, bool):
                raise self.fail(where + ("enabled",), f"'{check_id}.enabled' must be true or false")
            severity = None
            if "severity" in section:
                try:
                    severity = Severity(section["severity"])
                except ValueError:
                    raise self.fail(
                        where + ("severity",),
                        f"'{check_id}.severity' must be one of {[s.value for s in Severity]}",
                    ) from None
            params: dict[str, Any] = {}
            for key, value in section.items():
                if key in ("enabled", "severity"):
                    continue
                if key not in reg.meta.params:
                    raise self.fail(
                        where + (key,),
                        f"unknown parameter '{key}' for {check_id} (known: {sorted(reg.meta.params)})",
                    )
                if not _type_ok(value, reg.meta.params[key]):
                    raise self.fail(
                        where + (key,), f"'{check_id}.{key}' must be {_type_name(reg.meta.params[key])}"
                    )
                params[key] = value
            out[check_id] = CheckSettings(enabled, severity, params)
        return out

    def report(self, raw: dict[str, Any]) -> ReportSettings:
        for key in raw:
            if key not in _REPORT_KEYS:
                raise self.fail(
                    ("report", key), f"unknown key 'report.{key}' (expected one of {sorted(_REPORT_KEYS)})"
                )
        texts: dict[str, str | None] = {}
        for key in ("commune", "insee", "organisation", "logo"):
            value = raw.get(key)
            if value is not None and not (
                isinstance(value, str)
                and value.strip()
                and value.isprintable()
                and len(value) <= _REPORT_TEXT_MAX
            ):
                raise self.fail(
                    ("report", key),
                    f"'report.{key}' must be one printable line of 1 to {_REPORT_TEXT_MAX} characters",
                )
            texts[key] = value.strip() if isinstance(value, str) else None
        if texts["insee"] is not None and not _INSEE.match(texts["insee"]):
            raise self.fail(
                ("report", "insee"),
                '\'report.insee\' must be a commune INSEE code (5 characters, e.g. "75056" or "2A004")',
            )
        logo = self.logo(texts["logo"]) if texts["logo"] else None
        weights = self.weights(self.table(raw.get("weights", {}), ("report", "weights")))
        return ReportSettings(texts["commune"], texts["insee"], texts["organisation"], logo, weights)

    def logo(self, name: str) -> str:
        try:
            return logo_data_uri((self.path.parent / name).resolve())
        except ValueError as exc:
            raise self.fail(("report", "logo"), f"'report.logo' {exc}") from None

    def weight(self, where: tuple[str, ...], value: Any, maximum: float = MAX_WEIGHT) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            raise self.fail(where, f"'{'.'.join(where)}' must be a number")
        if not 0 <= value <= maximum:
            raise self.fail(where, f"'{'.'.join(where)}' must be between 0 and {maximum:g}")
        return float(value)

    def weights(self, raw: dict[str, Any]) -> Weights:
        base = Weights()
        for key in raw:
            if key not in _WEIGHT_KEYS:
                raise self.fail(
                    ("report", "weights", key),
                    f"unknown key 'report.weights.{key}' (expected one of {list(_WEIGHT_KEYS)})",
                )
        severity = dict(base.severity)
        for key, value in self.table(raw.get("severity", {}), ("report", "weights", "severity")).items():
            where = ("report", "weights", "severity", key)
            if key not in severity:
                raise self.fail(where, f"unknown severity '{key}' (expected one of {list(severity)})")
            severity[key] = self.weight(where, value)
        areas = dict(base.area)
        known = sorted(set(AREAS) | {reg.meta.family for reg in self.registry.checks.values()})
        for key, value in self.table(raw.get("area", {}), ("report", "weights", "area")).items():
            where = ("report", "weights", "area", key)
            if key not in known:
                raise self.fail(where, f"unknown area '{key}' (expected one of {known})")
            areas[key] = self.weight(where, value)
        # All zeros would leave nothing to grade: a run would never get a letter, silently.
        for what, table in (("severity", severity), ("area", areas)):
            if not any(w > 0 for w in table.values()):
                raise self.fail(("report", "weights", what), f"at least one {what} weight must be positive")
        factor = base.provider_factor
        if "provider_factor" in raw:
            factor = self.weight(("report", "weights", "provider_factor"), raw["provider_factor"], 1.0)
        return Weights(severity, areas, factor)

    def owners(self, raw: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for asset, name in raw.items():
            where = ("owners", asset)
            if asset not in ASSETS:
                raise self.fail(where, f"unknown asset 'owners.{asset}' (expected one of {list(ASSETS)})")
            if not (
                isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= MAX_OWNER_NAME
            ):
                raise self.fail(
                    where, f"'owners.{asset}' must be a name of 1 to {MAX_OWNER_NAME} printable characters"
                )
            # "commune" (any case) says the commune runs this asset itself: no provider factor.
            out[asset] = COMMUNE if name.strip().lower() == COMMUNE else name.strip()
        return out

    def waivers(self, raw: Any) -> tuple[Waiver, ...]:
        if not isinstance(raw, list):
            raise self.fail(("waivers",), "'waivers' must be an array of tables: [[waivers]]")
        out = []
        for index, entry in enumerate(raw):
            try:
                out.append(parse_waiver(entry, self.registry.checks))
            except WaiverError as exc:
                line = _locate_array_item(self.text, "waivers", index, exc.key)
                prefix = f"{self.path}:{line}" if line else f"{self.path}"
                raise ConfigError(f"{prefix}: waiver #{index + 1}: {exc}") from None
        return tuple(out)


def _locate_array_item(text: str, name: str, index: int, key: str | None) -> int | None:
    """Line of `key` in the index-th `[[name]]` table (its header line if the key is not written there)."""
    seen = -1
    header: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].strip()
        if stripped.startswith("["):
            if header is not None:
                break  # the next table starts: the key is not in this one
            if stripped.startswith("[[") and _key_path(stripped) == (name,):
                seen += 1
                if seen == index:
                    header = number
            continue
        key_here = "=" in stripped and _key_path(stripped.split("=", 1)[0] + "= 0") == (key,)
        if header is not None and key is not None and key_here:
            return number
    return header if header is not None else locate(text, (name,))


def logo_data_uri(path: Path) -> str:
    """A logo file as a data URI for the report; ValueError (a message to prefix with the key) if refused.

    At most MAX_LOGO_BYTES; PNG, JPEG or SVG, the type read from the bytes, not the file name (a
    renamed file must not change what is embedded); an SVG with scripts, event handlers or entities is
    refused, even though the report embeds it with <img>, which would not run them.
    """
    try:
        if path.stat().st_size > MAX_LOGO_BYTES:
            raise ValueError(f"is larger than {MAX_LOGO_BYTES // 1024} KB: {path}")
        content = path.read_bytes()[: MAX_LOGO_BYTES + 1]
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror or exc}: {path}") from None
    if len(content) > MAX_LOGO_BYTES:  # grew between stat() and read
        raise ValueError(f"is larger than {MAX_LOGO_BYTES // 1024} KB: {path}")
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif content.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    else:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if "<svg" not in text.lower():
            raise ValueError(f"must be a PNG, JPEG or SVG image: {path}")
        if _SVG_ACTIVE.search(text):
            raise ValueError(f"SVG contains scripts, event handlers or entities, refused: {path}")
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def load_config(path: Path, registry: Registry) -> Settings:
    """Read and validate a configuration file (raises ConfigError with file and line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: configuration is not UTF-8 text") from None
    return _Loader(path, text, registry).load()
