"""Discover check families: the built-in ones in `cyberscan.checks`, then entry-point plugins."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import os
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType

from .checklist import load_checklist
from .collectors.dns_facts import DnsSnapshot
from .collectors.http_facts import HttpFacts
from .collectors.mail_facts import MailFacts
from .collectors.ports_facts import PortFacts
from .collectors.rdap_facts import RdapFacts
from .collectors.tls_facts import TlsFacts
from .metadata import CheckMeta, MetadataError, load_module_metadata
from .plugin import Check, Collector, Facts

log = logging.getLogger(__name__)

BUILTIN_PACKAGE = "cyberscan.checks"
#: Bump to "cyberscan.plugins.v2" only if the plugin contract ever breaks.
ENTRY_POINT_GROUP = "cyberscan.plugins"
#: Built-in collectors by the facts they provide, imported only when a scan needs them: sslyze and
#: httpx cost a quarter of a second to import, which `--help` or a WEB-only scan should not pay.
#: A built-in collector's `name` is its facts' `kind`.
BUILTIN_COLLECTORS: dict[type[Facts], str] = {
    HttpFacts: "cyberscan.collectors.http:HttpCollector",
    TlsFacts: "cyberscan.collectors.tls:TlsCollector",
    PortFacts: "cyberscan.collectors.ports:PortsCollector",
    DnsSnapshot: "cyberscan.collectors.dns:DnsCollector",
    MailFacts: "cyberscan.collectors.mail:MailCollector",
    RdapFacts: "cyberscan.collectors.rdap:RdapCollector",
}


class PluginError(Exception):
    """A family module breaks the contract (no CHECKS, no metadata, class without table…)."""


class RegisteredCheck:
    """A check class joined with its metadata and where it came from.

    A built-in family's TOML is parsed on first use of one of its checks' metadata, not at
    start-up: parsing every family costs more than a one-family scan's own overhead
    (`--only 'TLS-*'`, `checks explain`). The contract test suite validates every built-in family.
    """

    __slots__ = ("_load", "_meta", "cls", "source")

    def __init__(self, cls: type[Check], meta: CheckMeta | Callable[[], CheckMeta], source: str) -> None:
        self.cls = cls
        self.source = source
        self._meta = meta if isinstance(meta, CheckMeta) else None
        self._load = None if isinstance(meta, CheckMeta) else meta

    @property
    def meta(self) -> CheckMeta:
        if self._meta is None:
            assert self._load is not None
            self._meta = self._load()
        return self._meta

    @property
    def id(self) -> str:
        return self.cls.id


@dataclass
class Registry:
    """Every known check (by ID, sorted) and the collector that provides each kind of facts."""

    checks: dict[str, RegisteredCheck] = field(default_factory=dict)
    #: a collector class, or "module:Class" for a built-in imported on first use
    collectors: dict[type[Facts], type[Collector] | str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def collector_for(self, facts: type[Facts]) -> type[Collector] | None:
        """The collector providing `facts`, imported now if it was not yet."""
        entry = self.collectors.get(facts)
        if isinstance(entry, str):
            module, _, name = entry.partition(":")
            entry = getattr(importlib.import_module(module), name)
            assert isinstance(entry, type) and issubclass(entry, Collector)
            self.collectors[facts] = entry
        return entry

    def collector_named(self, name: str) -> type[Collector] | None:
        """The collector called `name` (for `[collectors.NAME]` in the configuration)."""
        for facts, entry in self.collectors.items():
            if (entry.name if isinstance(entry, type) else facts.kind) == name:
                return self.collector_for(facts)
        return None

    def collector_names(self) -> list[str]:
        return sorted(e.name if isinstance(e, type) else f.kind for f, e in self.collectors.items())

    def facts_types(self) -> dict[str, type[Facts]]:
        """Every known facts type by kind (to decode saved facts without importing collectors)."""
        return {facts.kind: facts for facts in self.collectors}


def plugins_disabled() -> bool:
    """`CYBERSCAN_NO_PLUGINS=1` turns entry-point loading off (the test suite sets it)."""
    return os.environ.get("CYBERSCAN_NO_PLUGINS", "") not in ("", "0")


@functools.cache
def family_metadata(package: str, module_name: str) -> dict[str, CheckMeta]:
    """A family's metadata, parsed once per process (raises PluginError)."""
    try:
        return load_module_metadata(package, module_name)
    except MetadataError as exc:
        raise PluginError(str(exc)) from None


def _declared_checks(module: ModuleType) -> list[type[Check]]:
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, list | tuple) or not all(
        isinstance(c, type) and issubclass(c, Check) for c in checks
    ):
        raise PluginError(f"{module.__name__}: CHECKS must be a list of Check subclasses")
    return list(checks)


def _builtin_meta(module_name: str, check_id: str) -> CheckMeta:
    try:
        return family_metadata(BUILTIN_PACKAGE, module_name)[check_id]
    except KeyError:
        raise PluginError(f"{BUILTIN_PACKAGE}.{module_name}: no metadata for {check_id}") from None


def family_checks(module: ModuleType) -> tuple[list[RegisteredCheck], list[type[Collector]]]:
    """Read a family module's CHECKS (and optional COLLECTORS) and join them with its TOML metadata.

    Validated eagerly (every class has a table, every table a class): a third-party plugin that
    breaks the contract is skipped at load. Built-ins use `builtin_family_checks`.
    """
    checks = _declared_checks(module)
    package, _, short = module.__name__.rpartition(".")
    if not package:
        raise PluginError(f"{module.__name__}: a plugin module must live inside a package")
    metas = family_metadata(package, short)
    without_meta = sorted(c.id for c in checks if c.id not in metas)
    without_class = sorted(set(metas) - {c.id for c in checks})
    if without_meta or without_class:
        raise PluginError(
            f"{module.__name__}: classes without metadata {without_meta}, "
            f"metadata without class {without_class}"
        )
    collectors = list(getattr(module, "COLLECTORS", []))
    source = "builtin" if package == BUILTIN_PACKAGE else module.__name__
    return [RegisteredCheck(c, metas[c.id], source) for c in checks], collectors


def builtin_family_checks(module: ModuleType) -> tuple[list[RegisteredCheck], list[type[Collector]]]:
    """A built-in family's checks, their metadata read on first use (see RegisteredCheck)."""
    short = module.__name__.rpartition(".")[2]
    checks = [
        RegisteredCheck(c, functools.partial(_builtin_meta, short, c.id), "builtin")
        for c in _declared_checks(module)
    ]
    return checks, list(getattr(module, "COLLECTORS", []))


def _builtin_modules() -> Iterator[ModuleType]:
    package = importlib.import_module(BUILTIN_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")


def load_registry(load_plugins: bool = True) -> Registry:
    """Build the registry.

    Built-in families must be valid (a broken one is a bug and raises). A broken third-party plugin
    is skipped with a warning; on an ID clash the built-in wins, and two plugins claiming one ID are
    both named in the warning (the first loaded keeps it).
    """
    registry = Registry()
    catalogue = load_checklist().check_ids
    registry.collectors.update(BUILTIN_COLLECTORS)
    for module in _builtin_modules():
        checks, collectors = builtin_family_checks(module)
        for reg in checks:
            if reg.id not in catalogue:
                raise PluginError(f"built-in check {reg.id} is not in the checklist catalogue")
            registry.checks[reg.id] = reg
        for collector in collectors:
            registry.collectors.setdefault(collector.provides, collector)
    if load_plugins and not plugins_disabled():
        _load_entry_points(registry)
    registry.checks = dict(sorted(registry.checks.items()))
    return registry


def _load_entry_points(registry: Registry) -> None:
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.name
        try:
            module = ep.load()
            if not isinstance(module, ModuleType):
                raise PluginError(f"entry point {ep.name} must name a module, not {type(module).__name__}")
            checks, collectors = family_checks(module)
        except Exception as exc:  # a broken plugin must never break the scan (httpie's rule)
            message = f"plugin {ep.name!r} ({dist}) skipped: {type(exc).__name__}: {exc}"
            log.warning(message)
            registry.warnings.append(message)
            continue
        for reg in checks:
            existing = registry.checks.get(reg.id)
            if existing is not None:
                winner = "the built-in" if existing.source == "builtin" else existing.source
                message = f"plugin {dist}: check {reg.id} already provided by {winner}; ignored"
                log.warning(message)
                registry.warnings.append(message)
                continue
            registry.checks[reg.id] = RegisteredCheck(reg.cls, reg.meta, dist)
        for collector in collectors:
            registry.collectors.setdefault(collector.provides, collector)
