"""Command-line interface (click): parses options, calls the scan and the reporters, sets exit codes."""

from __future__ import annotations

import dataclasses
import importlib
import io
import ipaddress
import json
import logging
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click

from . import __version__
from .checklist import load_checklist
from .config import ConfigError, Settings, load_config
from .i18n import SEVERITY_LABELS, label
from .metadata import CheckMeta
from .models import Severity, TargetResult
from .net.resolver import ResolverConfigError, parse_nameserver
from .registry import Registry, load_registry
from .reporting.json_report import SCHEMA_VERSION, dumps
from .runner import FactsArchive, SelectionError
from .scan import ScanRun, run_scan
from .scope import Scope, ScopeError
from .serialization import FactsDecodeError
from .targets import Target, TargetError, dedupe, parse_target, parse_targets_file

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
LANG = click.Choice(["fr", "en"])
SEVERITY = click.Choice([s.value for s in Severity])


class InputError(click.ClickException):
    """Bad input from the user: one line on stderr, exit code 2, never a traceback."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"cyberscan: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise InputError(message)


class _LazyGroup(click.Group):
    """The top-level group; command groups listed in `lazy` are imported only when used.

    The fleet stack (history, overview, alerts) costs about 60 ms to import, which `cyberscan scan`
    should not pay.
    """

    lazy: ClassVar[dict[str, str]] = {"fleet": "cyberscan.fleet.commands:fleet"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module, _, attr = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CYBERSCAN"},
)
@click.version_option(__version__, prog_name="cyberscan")
def cli() -> None:
    """Audit the public Internet exposure of a commune against an ANSSI-inspired checklist."""


def _registry(no_plugins: bool, quiet: bool) -> Registry:
    registry = load_registry(load_plugins=not no_plugins)
    if not quiet:
        for warning in registry.warnings:
            click.echo(f"cyberscan: warning: {warning}", err=True)
    return registry


def _read_targets(values: Sequence[str], input_file: Path | None) -> list[Target]:
    targets: list[Target] = []
    try:
        for value in values:
            targets.append(parse_target(value))
        if input_file is not None:
            try:
                lines = input_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"cannot read targets file {input_file}: {exc}")
            targets.extend(parse_targets_file(lines, str(input_file)))
    except TargetError as exc:
        fail(str(exc))
    return dedupe(targets)


def _parse_host_overrides(values: Sequence[str]) -> dict[str, str]:
    hosts: dict[str, str] = {}
    for value in values:
        name, sep, address = value.partition("=")
        try:
            ipaddress.ip_address(address.strip())
        except ValueError:
            fail(f"--resolve expects NAME=IP, got {value!r}")
        if not sep or not name.strip():
            fail(f"--resolve expects NAME=IP, got {value!r}")
        hosts[name.strip().lower()] = address.strip()
    return hosts


def _settings(registry: Registry, config: Path | None, **cli: Any) -> Settings:
    try:
        settings = load_config(config, registry) if config else Settings()
    except ConfigError as exc:
        fail(str(exc))
    changes: dict[str, Any] = {k: v for k, v in cli.items() if v is not None and k not in ("scope", "hosts")}
    changes["scope"] = settings.scope + tuple(cli.get("scope") or ())
    try:
        Scope.parse(changes["scope"])
    except ScopeError as exc:
        fail(str(exc))
    changes["hosts"] = {**settings.hosts, **_parse_host_overrides(cli.get("hosts") or ())}
    resolver = changes.get("resolver", settings.resolver)
    if resolver:
        try:
            parse_nameserver(resolver)
        except ResolverConfigError as exc:
            fail(str(exc))
    return dataclasses.replace(settings, **changes)


def _with_trust_anchor(settings: Settings, path: Path) -> Settings:
    """Check the anchor file now (a typo must not become an error finding per target), then pass it on."""
    from .collectors.dnssec import parse_trust_anchor

    try:
        parse_trust_anchor(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--trust-anchor {path}: {exc.strerror or exc}")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"--trust-anchor {path}: {exc}")
    dns_settings = {**settings.collectors.get("dns", {}), "trust_anchor": str(path.resolve())}
    return dataclasses.replace(settings, collectors={**settings.collectors, "dns": dns_settings})


def _check_output(path: str | None) -> None:
    """Fail before scanning, not after, when the report could not be written."""
    if path in (None, "-"):
        return
    target = Path(path).expanduser()
    if target.is_dir():
        fail(f"output is a directory, not a file: {path}")
    if not target.resolve().parent.is_dir():
        fail(f"output directory does not exist: {target.resolve().parent}")


def _write(path: str | None, text: str, what: str) -> bool:
    """Write `text`; False when it could not be (it is then printed, so nothing collected is lost)."""
    if path in (None, "-"):
        click.echo(text, nl=False)
        return True
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        # Keep what was collected: print it rather than lose a long scan to a full disk.
        click.echo(
            f"cyberscan: error: cannot write {what} to {path}: {exc.strerror}; printing it instead", err=True
        )
        click.echo(text, nl=False)
        return False
    return True


def _progress(enabled: bool, total: int) -> tuple[Callable[[TargetResult], None] | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import Progress

    progress = Progress(console=Console(stderr=True), transient=True)
    task = progress.add_task("scan", total=total)
    progress.start()

    def advance(result: TargetResult) -> None:
        progress.update(task, advance=1, description=result.target)

    return advance, progress.stop


@cli.command()
@click.argument("targets", nargs=-1)
@click.option(
    "-i", "--input", "input_file", type=click.Path(path_type=Path), help="File of targets, one per line."
)
@click.option("-c", "--config", type=click.Path(path_type=Path), help="TOML configuration file.")
@click.option(
    "--only", multiple=True, metavar="GLOB", help="Run only checks whose ID matches (e.g. 'WEB-*')."
)
@click.option("--skip", multiple=True, metavar="GLOB", help="Skip checks whose ID matches.")
@click.option(
    "--scope", multiple=True, metavar="CIDR", help="Addresses active probes may touch (repeatable)."
)
@click.option("--resolver", metavar="IP[:PORT]", help="DNS server used for every name resolution.")
@click.option("--resolve", "hosts", multiple=True, metavar="NAME=IP", help="Pin a name to an address.")
@click.option(
    "--ca-bundle", type=click.Path(path_type=Path, dir_okay=False), help="Extra trust anchors (PEM)."
)
@click.option(
    "--trust-anchor",
    type=click.Path(path_type=Path, dir_okay=False),
    help="DNSSEC trust anchor (DS or DNSKEY records, zone-file syntax) instead of the IANA root key.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html", "csv", "sarif"]),
    default="text",
    show_default=True,
)
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE ('-' for stdout).")
@click.option("--lang", type=LANG, help="Report language (default fr).")
@click.option("--fail-on", type=SEVERITY, help="Exit 1 when a check fails at or above this severity.")
@click.option("--strict", is_flag=True, help="Also exit 1 when a check ends in error.")
@click.option(
    "--save-facts", type=click.Path(path_type=Path, dir_okay=False), help="Save collected facts (JSON)."
)
@click.option(
    "--facts",
    "facts_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Re-evaluate saved facts offline.",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), help="Seconds per network operation.")
@click.option("--deadline", type=click.FloatRange(min=1), help="Seconds per target, all collectors included.")
@click.option("--jobs", type=click.IntRange(min=1, max=64), help="Targets scanned in parallel.")
@click.option("--no-plugins", is_flag=True, help="Do not load third-party plugins.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def scan(
    targets: tuple[str, ...],
    input_file: Path | None,
    config: Path | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    scope: tuple[str, ...],
    resolver: str | None,
    hosts: tuple[str, ...],
    ca_bundle: Path | None,
    trust_anchor: Path | None,
    fmt: str,
    output: str | None,
    lang: str | None,
    fail_on: str | None,
    strict: bool,
    save_facts: Path | None,
    facts_file: Path | None,
    timeout: float | None,
    deadline: float | None,
    jobs: int | None,
    no_plugins: bool,
    quiet: bool,
) -> None:
    """Scan TARGETS: domains (mairie-exemple.fr), URLs (https://…/famille), IPs or CIDR networks."""
    registry = _registry(no_plugins, quiet)
    if ca_bundle is not None and not ca_bundle.is_file():
        fail(f"--ca-bundle file not found: {ca_bundle}")
    settings = _settings(
        registry,
        config,
        scope=scope,
        hosts=hosts,
        resolver=resolver,
        ca_bundle=ca_bundle.resolve() if ca_bundle else None,
        lang=lang,
        fail_on=Severity(fail_on) if fail_on else None,
        timeout=timeout,
        deadline=deadline,
        jobs=jobs,
    )
    if trust_anchor is not None:
        settings = _with_trust_anchor(settings, trust_anchor)
    replay = _load_facts(facts_file, registry) if facts_file else None
    target_list = _read_targets(targets, input_file)
    if not target_list and replay is not None:
        try:
            target_list = [parse_target(name) for name in replay.targets]
        except TargetError as exc:
            fail(f"{facts_file}: {exc}")
    if not target_list:
        fail("no target given (e.g. `cyberscan scan mairie-exemple.fr`, or -i targets.txt)")
    _check_output(output)
    if save_facts is not None:
        _check_output(str(save_facts))
    show_progress = not quiet and fmt == "text" and sys.stderr.isatty()
    advance, stop = _progress(show_progress, len(target_list))
    try:
        run = run_scan(registry, settings, target_list, only, skip, replay=replay, progress=advance)
    except SelectionError as exc:
        fail(str(exc))
    finally:
        stop()
    written = True
    if save_facts is not None:
        written = _write(
            str(save_facts),
            json.dumps(run.archive.to_json(__version__), ensure_ascii=False, indent=1),
            "facts",
        )
    written = _emit(run, fmt, output, quiet, registry) and written
    # A report that could not be written is an error for cron even though it was printed instead.
    sys.exit(_exit_code(run, settings, strict) if written else EXIT_USAGE)


def _load_facts(path: Path, registry: Registry) -> FactsArchive:
    kinds = registry.facts_types()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return FactsArchive.from_json(data, kinds)
    except OSError as exc:
        fail(f"cannot read facts file {path}: {exc.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path}: not a JSON facts file ({exc})")
    except RecursionError:
        fail(f"{path}: nested too deeply to be a cyberscan facts file")
    except (FactsDecodeError, TypeError, ValueError, AttributeError) as exc:
        fail(f"{path}: {exc}")


def _metas(registry: Registry, report: dict[str, Any]) -> dict[str, CheckMeta]:
    """Metadata of the checks a report mentions (metadata is parsed per family, on first use)."""
    ids = {f.get("check_id") for t in report.get("targets", []) for f in t.get("findings", [])}
    return {check_id: reg.meta for check_id, reg in registry.checks.items() if check_id in ids}


def _formatted(report: dict[str, Any], fmt: str, lang: str, metas: Mapping[str, CheckMeta]) -> str:
    """The report as `fmt` text in `lang`: every format is rendered from the canonical JSON."""
    if fmt == "json" and lang == report.get("lang"):
        return dumps(report)  # already in its language: nothing to re-localise
    from .reporting.html_report import localise_report  # jinja2 itself only for HTML

    if fmt == "html":
        from .reporting.html_report import render_html

        return render_html(report, lang, metas)
    localised = localise_report(report, lang, metas)
    if fmt == "csv":
        from .reporting.csv_report import render_csv

        return render_csv(localised)
    if fmt == "sarif":
        from .reporting.sarif_report import render_sarif

        return render_sarif(localised, metas)
    return dumps(localised)


def _emit(run: ScanRun, fmt: str, output: str | None, quiet: bool, registry: Registry) -> bool:
    """Write the report; False when it had to be printed instead of written."""
    to_file = output not in (None, "-")
    written = True
    if fmt in ("json", "html", "csv", "sarif"):
        # The report is already in its language: only SARIF's rules need the metadata.
        metas = _metas(registry, run.report) if fmt == "sarif" else {}
        text = _formatted(run.report, fmt, run.report["lang"], metas)
        written = _write(output, text, f"{fmt.upper()} report")
    elif to_file:
        buffer = io.StringIO()
        _print_summary(run.report, buffer)
        written = _write(output, buffer.getvalue(), "summary")
    # The terminal summary goes to stdout only when stdout does not carry the report itself.
    if not quiet and ((fmt == "text") != to_file):
        _print_summary(run.report)
    return written


def _print_summary(report: Mapping[str, Any], file: io.StringIO | None = None) -> None:
    """The terminal summary, to stdout or `file`; rich is imported only when a summary is printed."""
    from rich.console import Console

    from .reporting.terminal import print_summary

    if file is None:
        print_summary(report, Console(highlight=False, soft_wrap=True))
    else:
        print_summary(report, Console(file=file, width=120, color_system=None))


def _exit_code(run: ScanRun, settings: Settings, strict: bool) -> int:
    if settings.fail_on is not None and run.worst_failures(settings.fail_on):
        return EXIT_FINDINGS
    if strict and any(f.status.value == "error" for f in run.findings()):
        return EXIT_FINDINGS
    return EXIT_OK


#: a saved report larger than this is refused before parsing (the demo's is under 1 MB)
MAX_REPORT_BYTES = 200_000_000


def _schema_problem(report: dict[str, Any]) -> str | None:
    """The first way `report` breaks the shipped JSON Schema, on one line; None when it conforms."""
    try:
        # Typed as Any on purpose: jsonschema ships no annotations and its stubs are not a dependency.
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:  # without the validator, the renderers' own tolerance is the only guard
        return None
    from .reporting.json_report import load_schema

    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(report))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "top level"
    return " ".join(f"{where}: {error.message}"[:300].split())


def _load_report(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            fail(f"{path}: larger than {MAX_REPORT_BYTES // 1_000_000} MB, not a cyberscan report")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"cannot read report {path}: {exc.strerror or exc}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path}: not a JSON report ({exc})")
    except RecursionError:
        fail(f"{path}: nested too deeply to be a cyberscan report")
    if not isinstance(data, dict):
        fail(f"{path}: not a cyberscan report (a JSON object is expected)")
    if data.get("schema_version") != SCHEMA_VERSION:
        found = str(data.get("schema_version"))[:40]
        fail(f"{path}: unsupported report schema_version {found!r} (this cyberscan reads {SCHEMA_VERSION})")
    problem = _schema_problem(data)
    if problem:
        fail(f"{path}: not a valid cyberscan report: {problem}")
    return data


@cli.command()
@click.argument("report_file", metavar="REPORT.json", type=click.Path(path_type=Path))
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["html", "csv", "sarif", "json", "pdf"]),
    default="html",
    show_default=True,
)
@click.option("--lang", type=LANG, help="Report language (default: the saved report's).")
@click.option(
    "-o", "--output", metavar="FILE", help="Write to FILE ('-' for stdout, the default; pdf needs FILE)."
)
@click.option(
    "--no-plugins", is_flag=True, help="Do not load third-party plugins (their findings keep the saved text)."
)
def render(report_file: Path, fmt: str, lang: str | None, output: str | None, no_plugins: bool) -> None:
    """Re-render a saved JSON report (from `scan -f json`) in another format or language, without scanning."""
    report = _load_report(report_file)
    _check_output(output)
    if fmt == "pdf" and output in (None, "-"):
        fail("--format pdf writes a binary file: give -o FILE")
    metas = _metas(_registry(no_plugins, quiet=True), report)
    lang = lang or str(report["lang"])
    if fmt != "pdf":
        sys.exit(
            EXIT_OK
            if _write(output, _formatted(report, fmt, lang, metas), f"{fmt.upper()} report")
            else EXIT_USAGE
        )
    from .reporting.html_report import PdfUnavailable, html_to_pdf, render_html

    try:
        pdf = html_to_pdf(render_html(report, lang, metas))
    except PdfUnavailable as exc:
        fail(str(exc))
    try:
        Path(str(output)).write_bytes(pdf)
    except OSError as exc:
        fail(f"cannot write PDF report to {output}: {exc.strerror or exc}")


@cli.group()
def checks() -> None:
    """List and explain the checks."""


@checks.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=LANG, default="fr", show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Also list catalogue checks not implemented yet.")
@click.option("--no-plugins", is_flag=True, help="Do not load third-party plugins.")
def list_checks(fmt: str, lang: str, show_all: bool, no_plugins: bool) -> None:
    """List the available checks."""
    registry = _registry(no_plugins, quiet=fmt == "json")
    rows = [
        {
            "id": reg.id,
            "family": reg.meta.family,
            "severity": reg.meta.severity.value,
            "title": reg.meta.title.get(lang),
            "source": reg.source,
            "opt_in": reg.meta.opt_in,
            "implemented": True,
            "params": dict(reg.meta.params),
        }
        for reg in registry.checks.values()
    ]
    if show_all:
        planned = sorted(load_checklist().check_ids - set(registry.checks))
        rows += [
            {"id": cid, "family": cid.split("-")[0], "implemented": False, "source": "catalogue"}
            for cid in planned
        ]
        rows.sort(key=lambda r: str(r["id"]))
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        if not row["implemented"]:
            click.echo(f"{row['id']:<24} {'—':<9} {'(planned)' if lang == 'en' else '(prévu)'}")
            continue
        sev = label(SEVERITY_LABELS, str(row["severity"]), lang)
        extra = " [opt-in]" if row["opt_in"] else ""
        source = "" if row["source"] == "builtin" else f" ({row['source']})"
        click.echo(f"{row['id']:<24} {sev:<9} {row['title']}{extra}{source}")


@checks.command("explain")
@click.argument("check_id")
@click.option("--lang", type=LANG, default="fr", show_default=True)
@click.option("--no-plugins", is_flag=True, help="Do not load third-party plugins.")
def explain(check_id: str, lang: str, no_plugins: bool) -> None:
    """Explain a check: why it matters, how to fix, references, parameters."""
    registry = _registry(no_plugins, quiet=False)
    reg = registry.checks.get(check_id.upper())
    if reg is None:
        fail(f"unknown check {check_id!r} (see `cyberscan checks list`)")
    meta = reg.meta
    fr = lang == "fr"
    click.echo(f"{meta.id} — {meta.title.get(lang)}")
    click.echo(f"{'Gravité' if fr else 'Severity'}: {label(SEVERITY_LABELS, meta.severity.value, lang)}")
    click.echo(f"\n{'Pourquoi' if fr else 'Why'}:\n  {meta.rationale.get(lang)}")
    click.echo(f"\n{'Que faire' if fr else 'What to do'}:\n  {meta.remediation.get(lang)}")
    click.echo(f"\n{'Références' if fr else 'References'}:")
    for ref in meta.references:
        click.echo(f"  - {ref.label}" + (f" <{ref.url}>" if ref.url else ""))
    if meta.params:
        click.echo(f'\n{"Paramètres" if fr else "Parameters"} ([checks."{meta.id}"]):')
        for key, value in meta.params.items():
            click.echo(f"  {key} = {json.dumps(value, ensure_ascii=False)}")


@cli.command()
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("cyberscan-demo"),
    show_default=True,
    help="Where to write each commune's rapport-<commune>.json and .html, and facts-<commune>.json.",
)
@click.option("--lang", type=LANG, default="fr", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def demo(output_dir: Path, lang: str, quiet: bool) -> None:
    """Scan two invented communes served on loopback (one well configured, one not): one report each."""
    from .demo.run import run_demo

    try:
        result = run_demo(_registry(no_plugins=True, quiet=quiet), output_dir, lang)
    except OSError as exc:
        fail(f"demo failed: {exc}")
    if not quiet:
        fr = lang == "fr"
        for item in result.communes:
            letter = item.run.report["grade"]["letter"] or "-"
            heading = f"{item.commune.name} ({item.commune.domain}): {'note' if fr else 'grade'} {letter}"
            click.secho(heading, bold=True)
            _print_summary(item.run.report)
            click.echo("")
            click.echo(f"{'Rapport HTML' if fr else 'HTML report'}: {item.html_path}")
            click.echo(f"{'Rapport JSON' if fr else 'JSON report'}: {item.json_path}")
            click.echo(f"{'Faits collectés' if fr else 'Collected facts'}: {item.facts_path}")
            click.echo("")


@cli.group()
def data() -> None:
    """Reference data used by checks (e.g. the known-exploited vulnerabilities catalogue)."""


def _data_users(registry: Registry) -> dict[str, list[tuple[str, str]]]:
    users: dict[str, list[tuple[str, str]]] = {}
    for reg in registry.checks.values():
        for param, name in reg.cls.data_files.items():
            users.setdefault(name, []).append((reg.id, param))
    return users


@data.command("list")
def data_list() -> None:
    """Show each data file, the checks using it, and which copy is in use."""
    from .datafiles import DataFileError, load_data

    for name, users in sorted(_data_users(_registry(no_plugins=False, quiet=False)).items()):
        try:
            content, origin = load_data(name)
            as_of = content.get("as_of", "?") if isinstance(content, dict) else "?"
        except DataFileError as exc:
            origin, as_of = f"unreadable ({exc})", "?"
        checks_text = ", ".join(check_id for check_id, _ in users)
        click.echo(f"{name}: as of {as_of}, from {origin} (used by {checks_text})")


@data.command("update")
@click.argument("name")
@click.argument("source")
@click.option("--timeout", type=click.FloatRange(min=1), default=30.0, show_default=True)
def data_update(name: str, source: str, timeout: float) -> None:
    """Install a new copy of data file NAME from SOURCE (a local file or an https:// URL), once validated."""
    from .datafiles import DataFileError, install_data

    users = _data_users(_registry(no_plugins=False, quiet=False)).get(name)
    if not users:
        fail(f"no check uses a data file named {name!r} (see `cyberscan data list`)")
    raw = _fetch_source(source, timeout)
    try:
        content = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{source}: not JSON ({exc})")
    registry = _registry(no_plugins=False, quiet=True)
    for check_id, param in users:
        try:
            registry.checks[check_id].cls.validate_data(param, content)
        except ValueError as exc:
            fail(f"{source}: rejected by {check_id}: {exc}")
    try:
        path = install_data(name, content)
    except (OSError, DataFileError) as exc:
        fail(f"cannot install {name}: {exc}")
    click.echo(f"{name} installed in {path}")


def _fetch_source(source: str, timeout: float) -> str:
    if source.startswith("https://"):
        import httpx  # only this command downloads anything, and only when the user asks

        try:
            response = httpx.get(source, timeout=timeout, follow_redirects=False)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            fail(f"cannot download {source}: {exc}")
        if len(response.content) > 20_000_000:
            fail(f"{source}: larger than 20 MB, refused")
        return response.text
    if "://" in source:
        fail("SOURCE must be a local file or an https:// URL")
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {source}: {exc}")


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.ERROR, format="cyberscan: %(levelname)s: %(message)s")
    # sslyze's bundled trust stores trigger this on every scan with cryptography 46: noise for users.
    # Filtered once here, process-wide, rather than around each scan from collector threads.
    from cryptography.utils import CryptographyDeprecationWarning

    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    cli(prog_name="cyberscan")
