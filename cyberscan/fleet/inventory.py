"""The fleet inventory: a syndicat and its communes in strict TOML (one-line errors), and CSV import."""

from __future__ import annotations

import csv
import dataclasses
import fnmatch
import hashlib
import io
import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._compat import tomllib
from ..config import ConfigError, Settings, load_config, locate, logo_data_uri
from ..metadata import ASSETS, COMMUNE, MAX_OWNER_NAME
from ..registry import Registry
from ..targets import TargetError, parse_target
from ..waivers import Waiver, WaiverError, parse_waiver
from .alerts import AlertSettings, AlertSettingsError, parse_alerts

_INSEE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
# Deliberately simple: one address, no display name, no spaces or control characters; enough to refuse
# a typo or an injected header, not a full RFC 5322 parser (the SMTP server decides the rest).
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_SELECTOR = re.compile(r"^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$")
_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")
MAX_TEXT = 200
MAX_COMMUNES = 5000
MAX_LIST = 256

_TOP = ("syndicat", "communes", "alerts")
_SYNDICAT_KEYS = ("name", "contact", "branding", "config")
_BRANDING_KEYS = ("organisation", "logo")
_COMMUNE_KEYS = (
    "name",
    "insee",
    "epci",
    "population",
    "domains",
    "ranges",
    "owners",
    "contacts",
    "dkim_selectors",
    "waivers",
    "exclusions",
    "publish",
)


class InventoryError(ValueError):
    """Invalid inventory or CSV; the message is one line, prefixed with `file:line:` when known."""


@dataclass(frozen=True)
class Syndicat:
    """Who runs the fleet: name, contact, branding, and the cyberscan configuration shared by all."""

    name: str
    contact: str | None = None
    organisation: str | None = None
    logo: str | None = None
    config: Path | None = None


@dataclass(frozen=True)
class Commune:
    """One member commune: what to scan (domains, ranges = its active-probe scope) and who to tell."""

    name: str
    insee: str
    epci: str | None = None
    population: int | None = None
    domains: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    owners: Mapping[str, str] = field(default_factory=dict)
    contacts: tuple[str, ...] = ()
    dkim_selectors: tuple[str, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    exclusions: tuple[str, ...] = ()
    publish: bool = False

    @property
    def slug(self) -> str:
        """`<insee>-<ascii name>`: the commune's output folder."""
        ascii_name = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode("ascii")
        words = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60]
        return f"{self.insee}-{words or 'commune'}"

    @property
    def targets(self) -> tuple[str, ...]:
        return self.domains + self.ranges


@dataclass(frozen=True)
class Inventory:
    """A validated inventory file."""

    path: Path
    syndicat: Syndicat
    communes: tuple[Commune, ...]
    #: SHA-256 of the file's bytes: a run resumes only over the very same inventory
    fingerprint: str
    #: the `[alerts]` table (mail digests, webhook); None when absent: nothing is sent
    alerts: AlertSettings | None = None

    def settings_for(self, base: Settings, commune: Commune, registry: Registry) -> Settings:
        """The scan settings of one commune: the shared configuration plus its own scope and data."""
        report = dataclasses.replace(
            base.report,
            commune=commune.name,
            insee=commune.insee,
            organisation=self.syndicat.organisation or base.report.organisation,
            logo_data_uri=self._logo(registry) or base.report.logo_data_uri,
        )
        collectors = dict(base.collectors)
        if commune.dkim_selectors:
            dns = dict(collectors.get("dns", {}))
            dns["dkim_selectors"] = [*dns.get("dkim_selectors", []), *commune.dkim_selectors]
            collectors["dns"] = dns
        return dataclasses.replace(
            base,
            scope=tuple(dict.fromkeys((*base.scope, *commune.ranges))),
            report=report,
            owners={**base.owners, **commune.owners},
            waivers=(*base.waivers, *commune.waivers),
            collectors=collectors,
        )

    def _logo(self, registry: Registry) -> str | None:
        if not self.syndicat.logo:
            return None
        # The configuration's rules (size, type from bytes, script-free SVG) hold for the inventory's logo.
        try:
            return logo_data_uri((self.path.parent / self.syndicat.logo).resolve())
        except ValueError as exc:
            raise InventoryError(f"{self.path}: 'syndicat.branding.logo' {exc}") from None

    def base_settings(self, registry: Registry) -> Settings:
        """The shared cyberscan configuration named by `[syndicat] config`, or the defaults."""
        if self.syndicat.config is None:
            return Settings()
        try:
            settings = load_config(self.syndicat.config, registry)
        except ConfigError as exc:
            raise InventoryError(str(exc)) from None
        self._logo(registry)  # a bad logo is an input error now, not once per commune later
        return settings


class _Reader:
    """Validates the parsed TOML, turning every problem into one `file:line:` line."""

    def __init__(self, path: Path, text: str, registry: Registry) -> None:
        self.path = path
        self.text = text
        self.check_ids = sorted(registry.checks)

    def fail(self, where: tuple[str | int, ...], message: str) -> InventoryError:
        line = self.line(where)
        return InventoryError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")

    def line(self, where: tuple[str | int, ...]) -> int | None:
        if len(where) >= 2 and where[0] == "communes" and isinstance(where[1], int):
            return _commune_line(self.text, where[1], tuple(str(w) for w in where[2:]))
        return locate(self.text, tuple(str(w) for w in where)) if where else None

    def load(self) -> tuple[Syndicat, tuple[Commune, ...], AlertSettings | None]:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            found = _TOML_POSITION.match(str(exc))
            if found:
                raise InventoryError(
                    f"{self.path}:{found['line']}: {found['message']} (column {found['column']})"
                ) from None
            raise InventoryError(f"{self.path}: {exc}") from None
        except RecursionError:
            raise InventoryError(f"{self.path}: nested too deeply to be an inventory") from None
        for key in data:
            if key not in _TOP:
                raise self.fail((key,), f"unknown section or key '{key}' (expected one of {list(_TOP)})")
        syndicat = self.syndicat(data.get("syndicat", {}))
        raw = data.get("communes", [])
        if not isinstance(raw, list) or not raw:
            raise self.fail(("communes",), "at least one [[communes]] table is required")
        if len(raw) > MAX_COMMUNES:
            raise self.fail(("communes",), f"more than {MAX_COMMUNES} communes")
        communes: list[Commune] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(raw):
            commune = self.commune(index, entry)
            if commune.insee in seen:
                raise self.fail(
                    ("communes", index, "insee"),
                    f"duplicate INSEE code {commune.insee} (already commune #{seen[commune.insee] + 1})",
                )
            seen[commune.insee] = index
            communes.append(commune)
        return syndicat, tuple(communes), self.alerts(data.get("alerts"), syndicat)

    def alerts(self, raw: Any, syndicat: Syndicat) -> AlertSettings | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise self.fail(("alerts",), "'alerts' must be a table")
        try:
            settings = parse_alerts(raw)
        except AlertSettingsError as exc:
            raise self.fail(("alerts", exc.key), str(exc)) from None
        if not settings.syndicat_contacts and syndicat.contact:
            # the syndicat's own contact gets the fleet-wide digest unless others are named
            settings = dataclasses.replace(settings, syndicat_contacts=(syndicat.contact,))
        return settings

    def syndicat(self, raw: Any) -> Syndicat:
        if not isinstance(raw, dict):
            raise self.fail(("syndicat",), "'syndicat' must be a table")
        for key in raw:
            if key not in _SYNDICAT_KEYS:
                raise self.fail(
                    ("syndicat", key),
                    f"unknown key 'syndicat.{key}' (expected one of {list(_SYNDICAT_KEYS)})",
                )
        name = self.text_value(("syndicat", "name"), raw.get("name", "Syndicat"))
        contact = raw.get("contact")
        if contact is not None:
            contact = self.email(("syndicat", "contact"), contact)
        branding = raw.get("branding", {})
        if not isinstance(branding, dict):
            raise self.fail(("syndicat", "branding"), "'syndicat.branding' must be a table")
        for key in branding:
            if key not in _BRANDING_KEYS:
                raise self.fail(
                    ("syndicat", "branding", key),
                    f"unknown key 'syndicat.branding.{key}' (expected one of {list(_BRANDING_KEYS)})",
                )
        organisation = branding.get("organisation")
        if organisation is not None:
            organisation = self.text_value(("syndicat", "branding", "organisation"), organisation)
        logo = branding.get("logo")
        if logo is not None:
            logo = self.text_value(("syndicat", "branding", "logo"), logo)
        config = raw.get("config")
        config_path = None
        if config is not None:
            config_path = (self.path.parent / self.text_value(("syndicat", "config"), config)).resolve()
            if not config_path.is_file():
                raise self.fail(("syndicat", "config"), f"configuration file not found: {config_path}")
        return Syndicat(name, contact, organisation, logo, config_path)

    def text_value(self, where: tuple[str | int, ...], value: Any) -> str:
        if not (isinstance(value, str) and value.strip() and value.isprintable() and len(value) <= MAX_TEXT):
            label = where[-1]
            raise self.fail(where, f"'{label}' must be one printable line of 1 to {MAX_TEXT} characters")
        return value.strip()

    def email(self, where: tuple[str | int, ...], value: Any) -> str:
        if not isinstance(value, str) or len(value) > 254 or not _EMAIL.match(value.strip()):
            raise self.fail(where, f"invalid e-mail address {str(value)[:80]!r}")
        return value.strip()

    def strings(self, where: tuple[str | int, ...], value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"'{where[-1]}' must be a list of strings")
        if len(value) > MAX_LIST:
            raise self.fail(where, f"'{where[-1]}' has more than {MAX_LIST} entries")
        return [v.strip() for v in value]

    def commune(self, index: int, raw: Any) -> Commune:
        here: tuple[str | int, ...] = ("communes", index)
        if not isinstance(raw, dict):
            raise self.fail(here, "each commune is a table: [[communes]]")
        for key in raw:
            if key not in _COMMUNE_KEYS:
                raise self.fail((*here, key), f"unknown key '{key}' in commune #{index + 1}")
        for key in ("name", "insee"):
            if key not in raw:
                raise self.fail(here, f"commune #{index + 1} has no '{key}'")
        name = self.text_value((*here, "name"), raw["name"])
        insee = raw["insee"]
        if not isinstance(insee, str) or not _INSEE.match(insee.strip().upper()):
            raise self.fail(
                (*here, "insee"), f"invalid INSEE code {str(insee)[:20]!r} (5 digits, or 2A/2B and 3 digits)"
            )
        epci = self.text_value((*here, "epci"), raw["epci"]) if "epci" in raw else None
        population = raw.get("population")
        if population is not None and (
            not isinstance(population, int) or isinstance(population, bool) or not 0 <= population < 10**8
        ):
            raise self.fail((*here, "population"), "'population' must be a whole number of inhabitants")
        domains = []
        for value in self.strings((*here, "domains"), raw.get("domains", [])):
            try:
                target = parse_target(value)
            except TargetError as exc:
                raise self.fail((*here, "domains"), str(exc)) from None
            if target.kind.value not in ("domain", "url"):
                raise self.fail(
                    (*here, "domains"), f"{value!r} is not a domain name (put addresses in 'ranges')"
                )
            domains.append(target.name)
        ranges = []
        for value in self.strings((*here, "ranges"), raw.get("ranges", [])):
            try:
                network = ipaddress.ip_network(value, strict=False)
                ranges.append(
                    parse_target(str(network)).name if "/" in value else str(network.network_address)
                )
            except (ValueError, TargetError) as exc:
                raise self.fail((*here, "ranges"), f"invalid CIDR range {value!r}: {exc}") from None
        if not domains and not ranges:
            raise self.fail(here, f"commune {name!r} has neither 'domains' nor 'ranges': nothing to scan")
        contacts = tuple(
            self.email((*here, "contacts"), v)
            for v in self.strings((*here, "contacts"), raw.get("contacts", []))
        )
        selectors = self.strings((*here, "dkim_selectors"), raw.get("dkim_selectors", []))
        for selector in selectors:
            if not _SELECTOR.match(selector.lower()):
                raise self.fail((*here, "dkim_selectors"), f"invalid DKIM selector {selector[:70]!r}")
        exclusions = [e.upper() for e in self.strings((*here, "exclusions"), raw.get("exclusions", []))]
        for pattern in exclusions:
            if not any(fnmatch.fnmatchcase(cid, pattern) for cid in self.check_ids):
                raise self.fail((*here, "exclusions"), f"exclusion {pattern!r} matches no check")
        publish = raw.get("publish", False)
        if not isinstance(publish, bool):
            raise self.fail((*here, "publish"), "'publish' must be true or false")
        return Commune(
            name=name,
            insee=insee.strip().upper(),
            epci=epci,
            population=population,
            domains=tuple(dict.fromkeys(domains)),
            ranges=tuple(dict.fromkeys(ranges)),
            owners=self.owners((*here, "owners"), raw.get("owners", {})),
            contacts=contacts,
            dkim_selectors=tuple(s.lower() for s in selectors),
            waivers=self.waivers(index, raw.get("waivers", [])),
            exclusions=tuple(dict.fromkeys(exclusions)),
            publish=publish,
        )

    def owners(self, where: tuple[str | int, ...], raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            raise self.fail(where, "'owners' must be a table")
        out: dict[str, str] = {}
        for asset, name in raw.items():
            if asset not in ASSETS:
                raise self.fail(
                    (*where, asset), f"unknown asset 'owners.{asset}' (expected one of {list(ASSETS)})"
                )
            if not (
                isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= MAX_OWNER_NAME
            ):
                raise self.fail(
                    (*where, asset),
                    f"'owners.{asset}' must be a name of 1 to {MAX_OWNER_NAME} printable characters",
                )
            out[asset] = COMMUNE if name.strip().lower() == COMMUNE else name.strip()
        return out

    def waivers(self, index: int, raw: Any) -> tuple[Waiver, ...]:
        if not isinstance(raw, list):
            raise self.fail(("communes", index, "waivers"), "'waivers' must be an array of tables")
        out = []
        for number, entry in enumerate(raw):
            try:
                out.append(parse_waiver(entry, self.check_ids))
            except WaiverError as exc:
                where: tuple[str | int, ...] = ("communes", index, "waivers", str(number), exc.key or "")
                raise self.fail(where, f"waiver #{number + 1}: {exc}") from None
        return tuple(out)


def _commune_line(text: str, index: int, path: tuple[str, ...]) -> int | None:
    """Line of `path` inside the index-th [[communes]] table (its header when the key is not found).

    For waivers, `path` is ("waivers", "<n>", key): the n-th [[communes.waivers]] of that commune.
    """
    lines = text.splitlines()
    seen, start = -1, None
    for number, line in enumerate(lines, start=1):
        if line.split("#", 1)[0].strip().replace(" ", "") == "[[communes]]":
            seen += 1
            if seen == index:
                start = number
            elif start is not None:
                lines = lines[: number - 1]
                break
    if start is None:
        return locate(text, ("communes",))
    if not path:
        return start
    table = "communes"
    waiver_seen = -1
    want_waiver = int(path[1]) if path[0] == "waivers" and len(path) > 1 else None
    key = path[2] if want_waiver is not None and len(path) > 2 else path[-1]
    fallback = start
    for number in range(start + 1, len(lines) + 1):
        stripped = lines[number - 1].split("#", 1)[0].strip()
        if stripped.startswith("["):
            table = stripped.strip("[]").replace(" ", "")
            if table == "communes.waivers":
                waiver_seen += 1
                if waiver_seen == want_waiver:
                    fallback = number
            elif table == f"communes.{path[0]}":
                fallback = number
            continue
        name = stripped.split("=", 1)[0].strip().strip('"') if "=" in stripped else None
        if name is None:
            continue
        if want_waiver is not None:
            if table == "communes.waivers" and waiver_seen == want_waiver and name == key:
                return number
        elif (table == "communes" and name == path[0]) or (
            table == f"communes.{path[0]}" and len(path) > 1 and name == path[1]
        ):
            return number
    return fallback


def load_inventory(path: Path, registry: Registry) -> Inventory:
    """Read and validate an inventory (raises InventoryError with file and line)."""
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read inventory: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{path}: inventory is not UTF-8 text") from None
    syndicat, communes, alerts = _Reader(path, text, registry).load()
    return Inventory(path.resolve(), syndicat, communes, hashlib.sha256(content).hexdigest(), alerts)


# ---------------------------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("name", "insee", "epci", "population", "domains", "ranges", "contacts")
MAX_CSV_BYTES = 10_000_000


def _split_list(value: str) -> list[str]:
    return [v for v in re.split(r"[\s|]+", value.strip()) if v]


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a spreadsheet export (`;` or `,` separated, auto-detected) as [[communes]] tables.

    Lists (domains, ranges, contacts) are separated by spaces or `|`. Raises InventoryError.
    """
    try:
        if path.stat().st_size > MAX_CSV_BYTES:
            raise InventoryError(f"{path}: larger than {MAX_CSV_BYTES // 1_000_000} MB")
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets often write a BOM
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InventoryError(f"{path}: not UTF-8 text (export the sheet as CSV UTF-8)") from None
    first = text.split("\n", 1)[0]
    # The header decides: French spreadsheets write ';' because ',' is their decimal separator.
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise InventoryError(f"{path}:1: unknown column {unknown[0]!r} (expected {';'.join(CSV_COLUMNS)})")
    for required in ("name", "insee"):
        if required not in header:
            raise InventoryError(f"{path}:1: missing column {required!r}")
    reader.fieldnames = header
    rows: list[dict[str, Any]] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise InventoryError(f"{path}:{line}: more fields than columns")
        if not any((v or "").strip() for v in row.values()):
            continue
        entry: dict[str, Any] = {
            "name": (row.get("name") or "").strip(),
            "insee": (row.get("insee") or "").strip(),
        }
        if (row.get("epci") or "").strip():
            entry["epci"] = row["epci"].strip()
        population = (row.get("population") or "").strip().replace(" ", "").replace("\u202f", "")
        if population:
            if not population.isdigit():
                raise InventoryError(f"{path}:{line}: population {population[:20]!r} is not a whole number")
            entry["population"] = int(population)
        for column in ("domains", "ranges", "contacts"):
            values = _split_list(row.get(column) or "")
            if values:
                entry[column] = values
        entry["_line"] = line
        rows.append(entry)
    return rows


def _toml_value(value: Any) -> str:
    # A JSON string is a valid TOML basic string (same escapes); lists and ints likewise.
    return json.dumps(value, ensure_ascii=False)


def inventory_toml(rows: Sequence[Mapping[str, Any]], syndicat: str = "Syndicat") -> str:
    """An inventory file for `rows` ([[communes]] tables), with a [syndicat] header to complete."""
    out = [
        "# Inventaire généré par `cyberscan fleet import` : à compléter (owners, waivers, exclusions…).",
        "[syndicat]",
        f"name = {_toml_value(syndicat)}",
        "",
    ]
    for row in rows:
        out.append("[[communes]]")
        for key in CSV_COLUMNS:
            if key in row:
                out.append(f"{key} = {_toml_value(row[key])}")
        out.append("")
    return "\n".join(out)


def import_csv(path: Path, registry: Registry, syndicat: str = "Syndicat") -> tuple[str, int]:
    """Convert a CSV export into inventory TOML, validated like an inventory (errors name the CSV line)."""
    rows = read_csv(path)
    if not rows:
        raise InventoryError(f"{path}: no commune in the file")
    text = inventory_toml(rows, syndicat)
    try:
        _Reader(path, text, registry).load()
    except InventoryError as exc:
        # Map the error back from the generated TOML to the CSV row it came from.
        raise InventoryError(_csv_message(str(exc), path, text, rows)) from None
    return text, len(rows)


def _csv_message(message: str, path: Path, text: str, rows: Iterable[Mapping[str, Any]]) -> str:
    prefix = f"{path}:"
    rest = message[len(prefix) :] if message.startswith(prefix) else message
    number, _, detail = rest.partition(": ")
    if not number.isdigit():
        return message
    headers = [n for n, line in enumerate(text.splitlines(), start=1) if line == "[[communes]]"]
    index = sum(1 for h in headers if h <= int(number)) - 1
    lines = [r.get("_line") for r in rows]
    if 0 <= index < len(lines):
        return f"{path}:{lines[index]}: {detail}"
    return f"{path}: {detail}"
