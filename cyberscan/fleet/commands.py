"""`cyberscan fleet …`: run, import, report and history for a syndicat's inventory of communes."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from ..models import Severity
from ..registry import Registry, load_registry
from .alerts import send_alerts
from .history import History, HistoryError
from .inventory import Inventory, InventoryError, import_csv, load_inventory
from .overview import overview_html, render_all, write_commune_report
from .runner import (
    EXIT_INCOMPLETE,
    EXIT_INPUT,
    FleetLocked,
    FleetOptions,
    FleetResult,
    fleet_lock,
    run_changes,
    run_fleet,
)

SEVERITY = click.Choice([s.value for s in Severity])
LANG = click.Choice(["fr", "en"])


class _InputError(click.ClickException):
    """Bad input: one line on stderr, exit 2, never a traceback."""

    exit_code = EXIT_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"cyberscan fleet: error: {self.format_message()}", err=True)


class _Incomplete(_InputError):
    """The run could not even start (lock held): exit 3, for monitoring."""

    exit_code = EXIT_INCOMPLETE


def _fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    raise (_Incomplete if code == EXIT_INCOMPLETE else _InputError)(message)


def _registry() -> Registry:
    return load_registry(load_plugins=True)


def _inventory(path: Path, registry: Registry) -> Inventory:
    try:
        return load_inventory(path, registry)
    except InventoryError as exc:
        _fail(str(exc))


def _default_db(inventory: Path) -> Path:
    return inventory.with_suffix(".sqlite")


@click.group("fleet")
def fleet() -> None:
    """Audit every commune of a syndicat's inventory (cron-friendly, with history and changes)."""


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    # systemd and cron stop jobs with SIGTERM: treat it like Ctrl-C, so the run is marked incomplete
    # and resumable rather than cut in the middle of a database write.
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (tests calling in-process): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress(enabled: bool) -> tuple[Callable[[str, int, int], None] | None, Callable[[], None]]:
    if not enabled:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("fleet", total=None)
    progress.start()

    def advance(name: str, done: int, total: int) -> None:
        progress.update(task, completed=done, total=total, description=name[:40])

    return advance, progress.stop


def summary_line(result: FleetResult) -> str:
    """The one line cron mails: what was done, what failed, what got worse."""
    state = "complete" if result.complete else ("interrupted" if result.interrupted else "incomplete")
    alerts = sum(len(c.alerts()) for c in result.changes.values())
    return (
        f"cyberscan fleet: run {result.run_id} {state}{' (resumed)' if result.resumed else ''}: "
        f"{len(result.scanned)} scanned, {len(result.skipped)} already done, {len(result.errors)} failed "
        f"of {result.total}; {result.new_at_threshold} new failure(s) at threshold, {alerts} alert(s); "
        f"cache {result.cache_hits} hit(s)/{result.cache_misses} miss(es), "
        f"shared endpoint probes {result.probe_hits} reused/{result.probe_misses} sent, "
        f"per-IP wait {result.limiter_wait:.1f} s"
    )


@fleet.command("run")
@click.argument("inventory_path", metavar="INVENTORY", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--jobs", type=click.IntRange(1, 64), default=2, show_default=True, help="Communes scanned at once."
)
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="History database (default: INVENTORY.sqlite).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("cyberscan-flotte"),
    show_default=True,
)
@click.option(
    "--fail-on", type=SEVERITY, default="high", show_default=True, help="Exit 1 on new failures at or above."
)
@click.option(
    "--resume/--new", default=True, show_default=True, help="Continue an unfinished run, or start afresh."
)
@click.option("--only", multiple=True, metavar="GLOB", help="Run only these checks, for every commune.")
@click.option("--skip", multiple=True, metavar="GLOB", help="Skip these checks, for every commune.")
@click.option(
    "--per-ip-rate",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Connections per second per IP address, all communes together (0: no limit).",
)
@click.option("--per-ip-burst", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--lang", type=LANG, help="Report language (default: the configuration's, else fr).")
@click.option(
    "--dry-run", is_flag=True, help="Print the alert mails and webhook the run would send; send nothing."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar even on a terminal.")
def run_command(
    inventory_path: Path,
    jobs: int,
    db: Path | None,
    out_dir: Path,
    fail_on: str,
    resume: bool,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    per_ip_rate: float,
    per_ip_burst: int,
    lang: str | None,
    dry_run: bool,
    quiet: bool,
) -> None:
    """Scan every commune of INVENTORY. Exit 0 ok, 1 new findings ≥ --fail-on, 2 input error, 3 incomplete."""
    registry = _registry()
    inventory = _inventory(inventory_path, registry)
    db_path = db or _default_db(inventory_path)
    options = FleetOptions(
        jobs=jobs,
        only=only,
        skip=skip,
        new=not resume,
        fail_on=Severity(fail_on),
        per_ip_rate=per_ip_rate,
        per_ip_burst=per_ip_burst,
        lang=lang,
    )
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create {out_dir}: {exc.strerror or exc}")
    advance, stop = _progress(not quiet and sys.stderr.isatty())

    def write(history: History, run_id: int, commune: Any) -> None:
        try:
            write_commune_report(history, run_id, commune, out_dir, lang)
        except OSError as exc:  # the result is safe in the database: `fleet report` can write it later
            click.echo(f"cyberscan fleet: error: cannot write the report of {commune.insee}: {exc}", err=True)

    try:
        with _terminate_as_interrupt():
            result = run_fleet(inventory, registry, db_path, options, write, advance)
    except FleetLocked as exc:
        _fail(str(exc), EXIT_INCOMPLETE)
    except (InventoryError, HistoryError) as exc:
        _fail(str(exc))
    finally:
        stop()
    for insee, error in sorted(result.errors.items()):
        click.echo(f"cyberscan fleet: error: commune {insee}: {error}", err=True)
    try:
        with History(db_path) as history:
            base = inventory.base_settings(registry)
            (out_dir / "synthese.html").write_text(
                overview_html(
                    inventory, history, result.run_id, lang or base.lang, base.report.logo_data_uri
                ),
                encoding="utf-8",
            )
    except (OSError, HistoryError, InventoryError) as exc:
        click.echo(f"cyberscan fleet: error: cannot write the overview: {exc}", err=True)
    delivered = _deliver_alerts(inventory, db_path, dry_run)
    click.echo(summary_line(result) + ("" if delivered else "; alerts NOT delivered (retried next run)"))
    # Undelivered alerts make the run incomplete for monitoring (exit 3), like a commune that failed.
    sys.exit(result.exit_code if delivered else EXIT_INCOMPLETE)


def _deliver_alerts(inventory: Inventory, db_path: Path, dry_run: bool) -> bool:
    """Send every alert the history says is owed (this run's, and any an earlier invocation failed to
    deliver), under the fleet lock; False when some could not be delivered (retried next time).

    Alerts are owed from the moment a run completes (recorded with its completion), so a crash, a
    reboot or a relay outage between the scan and the mail delays them to the next invocation instead
    of losing them. A dry run prints them and leaves them owed.
    """
    if inventory.alerts is None:
        return True
    delivered = True
    try:
        with fleet_lock(db_path), History(db_path) as history:
            for run_id in history.owed_alerts(str(inventory.path)):
                outcome = send_alerts(
                    list(run_changes(history, run_id, inventory.communes).values()),
                    inventory.alerts,
                    dry_run=dry_run,
                    out=sys.stdout if dry_run else None,
                    run=str(run_id),
                    report_paths={c.insee: f"{c.slug}/rapport.html" for c in inventory.communes},
                )
                for failure in outcome.failures:
                    line = f"cyberscan fleet: error: alert {failure.channel} {failure.key}: {failure.detail}"
                    click.echo(line, err=True)
                if not dry_run:
                    history.set_alerts(run_id, "failed" if outcome.failures else "sent")
                delivered = delivered and not outcome.failures
    except FleetLocked:
        return True  # another run holds the lock: it delivers what is owed when it ends
    except HistoryError as exc:
        click.echo(f"cyberscan fleet: error: alerts not sent: {exc}", err=True)
        return False
    return delivered


@fleet.command("import")
@click.argument("csv_path", metavar="COMMUNES.csv", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Inventory TOML to write.",
)
@click.option("--syndicat", default="Syndicat", show_default=True, help="The syndicat's name for [syndicat].")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def import_command(csv_path: Path, output: Path, syndicat: str, force: bool) -> None:
    """Convert a spreadsheet export (name;insee;epci;population;domains;ranges;contacts) to an inventory."""
    if output.exists() and not force:
        _fail(f"{output} exists (use --force to overwrite)")
    try:
        text, count = import_csv(csv_path, _registry(), syndicat)
    except InventoryError as exc:
        _fail(str(exc))
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"{count} commune(s) written to {output}")


@fleet.command("report")
@click.argument("inventory_path", metavar="INVENTORY", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="History database (default: INVENTORY.sqlite).",
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--run", "run_id", type=int, help="Run to render (default: the latest with results).")
@click.option("--lang", type=LANG, help="Report language (default: each report's).")
def report_command(
    inventory_path: Path, db: Path | None, out_dir: Path, run_id: int | None, lang: str | None
) -> None:
    """Re-render every commune's report and the overview from the database, without scanning."""
    registry = _registry()
    inventory = _inventory(inventory_path, registry)
    db_path = db or _default_db(inventory_path)
    if not db_path.is_file():
        _fail(f"no history database at {db_path}")
    try:
        base = inventory.base_settings(registry)
        with History(db_path) as history:
            run = run_id if run_id is not None else history.latest_run()
            if run is None:
                _fail(f"{db_path}: no completed commune in the history yet")
            written = render_all(
                inventory, history, run, out_dir, lang or base.lang, base.report.logo_data_uri
            )
    except (HistoryError, InventoryError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write to {out_dir}: {exc.strerror or exc}")
    click.echo(f"run {run}: {len(written) - 1} commune report(s) and {out_dir / 'synthese.html'} written")


@fleet.command("history")
@click.argument("inventory_path", metavar="INVENTORY", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    help="History database (default: INVENTORY.sqlite).",
)
@click.option(
    "--commune", "insee", metavar="INSEE", help="Show one commune's score trend instead of the runs."
)
def history_command(inventory_path: Path, db: Path | None, insee: str | None) -> None:
    """List the runs recorded, or one commune's grades over time."""
    db_path = db or _default_db(inventory_path)
    if not db_path.is_file():
        _fail(f"no history database at {db_path}")
    try:
        with History(db_path) as history:
            if insee:
                for point in history.scores(insee.upper(), limit=1000):
                    score = "—" if point.score is None else f"{point.score:.1f}"
                    click.echo(f"run {point.run_id:>4}  {point.date}  {point.letter or '—'}  {score}")
                return
            for run in history.runs():
                click.echo(
                    f"run {run.id:>4}  {run.started_at}  {run.status:<10}  "
                    f"{run.done} done, {run.errors} failed"
                )
    except HistoryError as exc:
        _fail(str(exc))


if __name__ == "__main__":  # `python -m cyberscan.fleet.commands run …` (tests run it in a subprocess)
    import warnings

    from cryptography.utils import CryptographyDeprecationWarning

    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    fleet(prog_name="cyberscan fleet")
