"""The fleet run: every commune scanned once, politely (per-IP limit, shared cache), locked and resumable."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Settings
from ..models import ErrorKind, Severity
from ..net.guard import NetworkGuard, OutOfScopeError
from ..net.resolver import ResolutionError, Resolver, parse_nameserver
from ..plugin import Collector, CollectorContext, CollectorError, Facts
from ..probememo import ProbeMemo
from ..registry import Registry
from ..reporting.json_report import build_report
from ..runner import Scanner, SelectedCheck, SelectionError, select_checks
from ..scan import report_settings
from ..scope import ProbeLevel, Scope
from ..targets import Target, dedupe, parse_target
from .changes import CommuneChanges, compare
from .history import History
from .inventory import Commune, Inventory, InventoryError

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


class FleetLocked(Exception):
    """Another fleet run holds the lock beside this database."""


# ------------------------------------------------------------------------------------ politeness


class PerAddressLimiter:
    """A token bucket per IP address (GCRA form), shared by every commune and collector of a run.

    `rate` connections per second per address with bursts of `burst`; rate 0 disables it. A caller
    reserves its slot under the lock and sleeps outside it, so waiting never blocks other addresses.
    """

    def __init__(self, rate: float, burst: int = 1) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.burst = max(1, burst)
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()
        #: (address, monotonic time granted), most recent last: the politeness record of the run
        self.grants: deque[tuple[str, float]] = deque(maxlen=100_000)
        self.waited = 0.0

    def acquire(self, address: str) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(address, now), now)
            allowed_at = tat - (self.burst - 1) * self.interval
            self._tat[address] = tat + self.interval
            wait = max(0.0, allowed_at - now)
            self.waited += wait
        if wait > 0:
            time.sleep(wait)
        with self._lock:
            self.grants.append((address, time.monotonic()))


class _RecordingScope(Scope):
    """A scope that remembers every decision it made (address → allowed), to know when facts can be shared."""

    def __init__(self, networks: tuple[Any, ...], decisions: dict[str, bool]) -> None:
        super().__init__(networks)
        object.__setattr__(self, "_decisions", decisions)
        object.__setattr__(self, "_lock", threading.Lock())

    def allows(self, address: str) -> bool:
        allowed = super().allows(address)
        with self._lock:  # type: ignore[attr-defined]
            self._decisions[address] = allowed  # type: ignore[attr-defined]
        return allowed


@dataclass
class _Entry:
    done: threading.Event = field(default_factory=threading.Event)
    facts: Facts | None = None
    error: BaseException | None = None
    decisions: dict[str, bool] = field(default_factory=dict)
    refused_hosts: tuple[str, ...] = ()


class CollectorCache:
    """Run-wide memo of collector work: the same collector on the same target with the same settings
    runs once per fleet run, and its facts are reused by every commune listing that target.

    Facts depend on the scope (active probes); they are reused for another commune only when its scope
    takes the very same decision for every address the first collection asked about.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[Any, ...], list[_Entry]] = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(name: str, target: Target, ctx: CollectorContext) -> tuple[Any, ...]:
        settings = json.dumps(dict(ctx.settings), sort_keys=True, default=str)
        return (name, target, settings, ctx.requests, ctx.timeout, str(ctx.ca_bundle), ctx.user_agent)

    def collect(
        self,
        name: str,
        run: Callable[[Target, CollectorContext], Facts],
        target: Target,
        ctx: CollectorContext,
    ) -> Facts:
        key = self.key(name, target, ctx)
        while True:
            pending: _Entry | None = None
            with self._lock:
                for entry in self._entries.get(key, []):
                    if not entry.done.is_set():
                        pending = entry
                    elif self._matches(entry, ctx.guard.scope):
                        self.hits += 1
                        return self._replay(entry, ctx)
                if pending is None:
                    mine = _Entry()
                    self._entries.setdefault(key, []).append(mine)
                    self.misses += 1
            if pending is None:
                break
            # Another commune is collecting the same thing right now: wait for it rather than probe twice.
            if not pending.done.wait(timeout=ctx.remaining()):
                raise CollectorError(ErrorKind.DEADLINE, "no shared result within the target deadline")
        private = NetworkGuard(
            ctx.guard.resolver, _RecordingScope(ctx.guard.scope.networks, mine.decisions), ctx.guard.limiter
        )
        try:
            mine.facts = run(target, dataclasses.replace(ctx, guard=private))
        except BaseException as exc:  # cached too: the same work would fail the same way
            mine.error = exc
        mine.refused_hosts = tuple(dict.fromkeys(n.host for n in private.refusals()))
        mine.done.set()
        return self._replay(mine, ctx)

    @staticmethod
    def _matches(entry: _Entry, scope: Scope) -> bool:
        return all(scope.allows(address) == allowed for address, allowed in list(entry.decisions.items()))

    @staticmethod
    def _replay(entry: _Entry, ctx: CollectorContext) -> Facts:
        # The refusals ("not probed: outside the scope") belong in each commune's report: asking this
        # commune's guard again records them; names are cached and the guard refuses before any packet.
        for host in entry.refused_hosts:
            with contextlib.suppress(OutOfScopeError, ResolutionError):
                ctx.guard.pin(host, ProbeLevel.ACTIVE)
        if entry.error is not None:
            raise entry.error
        assert entry.facts is not None
        return entry.facts


class CachingRegistry(Registry):
    """The registry, with every collector going through the run's CollectorCache."""

    def __init__(self, base: Registry, cache: CollectorCache) -> None:
        super().__init__(base.checks, base.collectors, base.warnings)
        self.cache = cache
        self._wrapped: dict[type[Collector], type[Collector]] = {}

    def collector_for(self, facts: type[Facts]) -> type[Collector] | None:
        cls = super().collector_for(facts)
        if cls is None:
            return None
        if cls not in self._wrapped:
            self._wrapped[cls] = _cached_class(cls, self.cache)
        return self._wrapped[cls]


def _cached_class(cls: type[Collector], cache: CollectorCache) -> type[Collector]:
    def collect(self: Collector, target: Target, ctx: CollectorContext) -> Facts:
        return cache.collect(cls.name, lambda t, c: cls.collect(self, t, c), target, ctx)

    wrapped: type[Collector] = type(cls.__name__, (cls,), {"collect": collect, "__module__": cls.__module__})
    return wrapped


# ------------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class FleetOptions:
    """What `cyberscan fleet run` was asked."""

    jobs: int = 2
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    new: bool = False
    fail_on: Severity = Severity.HIGH
    #: connections per second per IP address, all communes together (0: unlimited)
    per_ip_rate: float = 5.0
    per_ip_burst: int = 5
    lang: str | None = None
    save_facts: bool = True


@dataclass(frozen=True)
class CommunePlan:
    """One commune ready to scan: its settings, its checks, its targets."""

    commune: Commune
    settings: Settings
    selected: tuple[SelectedCheck, ...]
    targets: tuple[Target, ...]


@dataclass
class FleetResult:
    """What a fleet run did, for the summary line and the exit code."""

    run_id: int
    resumed: bool
    total: int
    scanned: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    changes: dict[str, CommuneChanges] = field(default_factory=dict)
    #: endpoint probes reused across communes (shared MX, web or TLS servers) / actually sent
    probe_hits: int = 0
    probe_misses: int = 0
    interrupted: bool = False
    cache_hits: int = 0
    cache_misses: int = 0
    limiter_wait: float = 0.0
    new_at_threshold: int = 0

    @property
    def complete(self) -> bool:
        return (
            not self.interrupted and not self.errors and len(self.scanned) + len(self.skipped) == self.total
        )

    @property
    def exit_code(self) -> int:
        if not self.complete:
            return EXIT_INCOMPLETE
        return EXIT_FINDINGS if self.new_at_threshold else EXIT_OK


def plan_communes(
    inventory: Inventory, registry: Registry, base: Settings, options: FleetOptions
) -> list[CommunePlan]:
    """Settings, checks and targets of every commune, all checked before anything is scanned."""
    plans = []
    for commune in inventory.communes:
        settings = inventory.settings_for(base, commune, registry)
        try:
            selected = select_checks(registry, settings, options.only, (*options.skip, *commune.exclusions))
        except SelectionError as exc:
            raise InventoryError(f"{inventory.path}: commune {commune.insee}: {exc}") from None
        targets = dedupe([parse_target(t) for t in commune.targets])
        plans.append(CommunePlan(commune, settings, tuple(selected), tuple(targets)))
    return plans


@contextlib.contextmanager
def fleet_lock(db_path: Path) -> Iterator[Path]:
    """An exclusive `flock` on `<db>.lock`, held for the whole run; FleetLocked at once if taken."""
    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FleetLocked(f"another fleet run is in progress (lock held on {lock_path})") from None
        # The kernel drops the lock when the process dies, even by kill -9: no stale lock to clean up.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock_path
    finally:
        os.close(fd)


class _Shared:
    """What every commune of one run shares: resolver cache, per-IP limiter, collector cache."""

    def __init__(self, registry: Registry, base: Settings, options: FleetOptions) -> None:
        nameserver = parse_nameserver(base.resolver) if base.resolver else None
        # One resolver for the run: a name shared by communes (an MX platform, a hoster's web server,
        # their name servers) is resolved once. Every commune has the same [hosts] and --resolver.
        self.resolver = Resolver(nameserver, timeout=min(base.timeout, 5.0), static_hosts=base.hosts)
        self.limiter = PerAddressLimiter(options.per_ip_rate, options.per_ip_burst)
        #: endpoint probes shared across communes: one EHLO/STARTTLS and one TLS scan per shared server
        self.probes = ProbeMemo()
        self.cache = CollectorCache()
        self.registry = CachingRegistry(registry, self.cache)


def scan_commune(plan: CommunePlan, shared: _Shared) -> tuple[dict[str, Any], dict[str, Any]]:
    """Scan one commune (the body of `run_scan`, with the run's shared resolver, limiter and cache)."""
    scanner = Scanner(
        shared.registry, plan.settings, plan.selected, limiter=shared.limiter, memo=shared.probes
    )
    scanner.resolver = shared.resolver
    started = datetime.now(timezone.utc)
    results = scanner.scan(plan.targets)
    finished = datetime.now(timezone.utc)
    report = build_report(
        results,
        {s.id: s.meta for s in plan.selected},
        lang=plan.settings.lang,
        started_at=started,
        finished_at=finished,
        settings=report_settings(plan.settings, [s.id for s in plan.selected]),
        report_settings=plan.settings.report,
        owners=plan.settings.owners,
        waivers=plan.settings.waivers,
        facts={name: list(tf.facts.values()) for name, tf in scanner.archive.targets.items()},
    )
    return report, scanner.archive.to_json(__version__)


Progress = Callable[[str, int, int], None]
ReportWriter = Callable[[History, int, Commune], None]


def run_fleet(
    inventory: Inventory,
    registry: Registry,
    db_path: Path,
    options: FleetOptions,
    write_commune: ReportWriter | None = None,
    progress: Progress | None = None,
) -> FleetResult:
    """Scan every commune not yet done in this run; record each in the history as soon as it completes.

    Raises FleetLocked, InventoryError (before any scan) and HistoryError.
    """
    base = inventory.base_settings(registry)
    if options.lang:
        base = dataclasses.replace(base, lang=options.lang)
    plans = plan_communes(inventory, registry, base, options)
    with fleet_lock(db_path), History(db_path) as history:
        run_id, resumed = history.open_run(str(inventory.path), inventory.fingerprint, options.new)
        done = history.done_communes(run_id)
        result = FleetResult(
            run_id, resumed, len(plans), skipped=[p.commune.insee for p in plans if p.commune.insee in done]
        )
        todo = [p for p in plans if p.commune.insee not in done]
        shared = _Shared(registry, base, options)
        count = len(result.skipped)
        pool = ThreadPoolExecutor(max_workers=max(1, options.jobs), thread_name_prefix="fleet")
        started: dict[str, str] = {}

        def submit(plan: CommunePlan) -> Future[tuple[dict[str, Any], dict[str, Any]]]:
            started[plan.commune.insee] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            return pool.submit(scan_commune, plan, shared)

        futures = {submit(p): p for p in todo}
        try:
            for fut in as_completed(futures):
                commune = futures[fut].commune
                try:
                    report, facts = fut.result()
                except Exception as exc:  # an engine bug on one commune: recorded, the others go on
                    log.debug("commune %s failed", commune.insee, exc_info=True)
                    message = f"{type(exc).__name__}: {exc}"
                    history.record_error(run_id, commune.insee, commune.name, started[commune.insee], message)
                    result.errors[commune.insee] = message
                else:
                    history.record_commune(
                        run_id,
                        commune.insee,
                        commune.name,
                        started[commune.insee],
                        report,
                        facts if options.save_facts else None,
                    )
                    result.scanned.append(commune.insee)
                    if write_commune is not None:
                        write_commune(history, run_id, commune)
                count += 1
                if progress is not None:
                    progress(commune.name, count, len(plans))
        except KeyboardInterrupt:
            result.interrupted = True
            pool.shutdown(wait=False, cancel_futures=True)
        else:
            pool.shutdown(wait=True)
        result.cache_hits, result.cache_misses = shared.cache.hits, shared.cache.misses
        result.probe_hits, result.probe_misses = shared.probes.hits, shared.probes.misses
        result.limiter_wait = shared.limiter.waited
        result.changes = run_changes(history, run_id, inventory.communes)
        result.new_at_threshold = sum(
            1
            for ch in result.changes.values()
            for c in ch.changes
            if c.kind in ("new", "regressed")
            and c.status == "fail"
            and _rank(c.severity) >= options.fail_on.rank
        )
        history.finish_run(run_id, result.complete, alerts_owed=inventory.alerts is not None)
        return result


def _rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return -1


def run_changes(history: History, run_id: int, communes: Sequence[Commune]) -> dict[str, CommuneChanges]:
    """Per commune completed in `run_id`, what changed since its previous completed run."""
    out: dict[str, CommuneChanges] = {}
    for commune in communes:
        current = history.report(run_id, commune.insee)
        if current is None:
            continue
        out[commune.insee] = commune_changes(history, run_id, commune, current)
    return out


def commune_changes(
    history: History, run_id: int, commune: Commune, current: Mapping[str, Any]
) -> CommuneChanges:
    previous_run = history.previous_run(commune.insee, run_id)
    previous = history.report(previous_run, commune.insee) if previous_run is not None else None
    return compare(
        previous, current, contacts=commune.contacts, first_seen=history.first_seen(commune.insee, run_id)
    )
