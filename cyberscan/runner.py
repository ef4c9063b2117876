"""Run a scan: per target, start only the needed collectors, then judge their facts with the checks."""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field, replace
from typing import Any

from .bounds import MAX_PARAM_TEXT, bound_params, clip
from .config import Settings
from .datafiles import DataFileError, DataUnavailable, load_data
from .metadata import CheckMeta
from .models import CollectorRun, ErrorInfo, ErrorKind, Finding, NotProbed, RunStatus, Status, TargetResult
from .net.guard import AddressLimiter, NetworkGuard
from .net.resolver import Resolver, parse_nameserver
from .plugin import CollectorContext, CollectorError, FactBag, Facts
from .probememo import ProbeMemo
from .registry import RegisteredCheck, Registry
from .scope import Scope
from .serialization import FactsDecodeError
from .targets import Target, TargetKind

log = logging.getLogger(__name__)


def _in_daemon_thread(name: str, fn: Callable[..., Facts], *args: Any) -> Future[Facts]:
    # Not a ThreadPoolExecutor: its workers are joined at interpreter exit, so one hung collector
    # would keep a cron job alive after its report was written.
    future: Future[Facts] = Future()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the runner's error boundary through the future
            future.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


class SelectionError(ValueError):
    """`--only`/`--skip` select nothing, or name an unknown check."""


@dataclass(frozen=True)
class SelectedCheck:
    """A check chosen for this run, with its effective metadata and parameters."""

    reg: RegisteredCheck
    meta: CheckMeta
    params: Mapping[str, Any]
    severity_forced: bool

    @property
    def id(self) -> str:
        return self.reg.id


def _matches(check_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(check_id, p.upper()) for p in patterns)


def select_checks(
    registry: Registry, settings: Settings, only: Sequence[str] = (), skip: Sequence[str] = ()
) -> list[SelectedCheck]:
    """Apply `--only`/`--skip` globs and config `enabled`; opt-in checks need an explicit enable.

    An opt-in check runs only when config says `enabled = true` or `--only` names its exact ID.
    """
    for pattern in (*only, *skip):
        if not any(_matches(cid, [pattern]) for cid in registry.checks):
            raise SelectionError(f"no check matches {pattern!r} (see `cyberscan checks list`)")
    selected: list[SelectedCheck] = []
    for check_id, reg in registry.checks.items():
        conf = settings.checks.get(check_id)
        if only and not _matches(check_id, only):
            continue
        if skip and _matches(check_id, skip):
            continue
        if conf is not None and conf.enabled is False:
            continue
        named = check_id in {p.upper() for p in only}
        if reg.meta.opt_in and not (named or (conf is not None and conf.enabled)):
            continue
        meta = reg.meta
        forced = conf is not None and conf.severity is not None
        if conf is not None and conf.severity is not None:
            meta = replace(meta, severity=conf.severity)
        params = {**reg.meta.params, **(conf.params if conf else {})}
        for param, name in reg.cls.data_files.items():
            if conf is None or param not in conf.params:
                try:
                    params[param] = load_data(name)[0]
                except DataFileError as exc:
                    # Only this check suffers: it gets the reason instead of the data, and says so.
                    params[param] = DataUnavailable(str(exc))
        selected.append(SelectedCheck(reg, meta, params, forced))
    if not selected:
        raise SelectionError("no check selected: check --only, --skip and `enabled` in the configuration")
    return selected


@dataclass
class TargetFacts:
    """The facts gathered for one target, and the collectors that failed: what --save-facts keeps."""

    kind: str
    facts: dict[str, Facts] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)


class FactsArchive:
    """Facts of many targets, serialisable to JSON for offline re-evaluation (`--facts`)."""

    FORMAT = "cyberscan-facts"
    VERSION = 1

    def __init__(self, targets: dict[str, TargetFacts] | None = None) -> None:
        self.targets: dict[str, TargetFacts] = targets or {}

    def to_json(self, tool_version: str) -> dict[str, Any]:
        return {
            "format": self.FORMAT,
            "version": self.VERSION,
            "tool_version": tool_version,
            "targets": {
                name: {
                    "kind": tf.kind,
                    "facts": {k: tf.facts[k].to_json() for k in sorted(tf.facts)},
                    "errors": {k: tf.errors[k].to_json() for k in sorted(tf.errors)},
                }
                for name, tf in sorted(self.targets.items())
            },
        }

    @classmethod
    def from_json(cls, data: Any, kinds: Mapping[str, type[Facts]]) -> FactsArchive:
        """Rebuild an archive (raises FactsDecodeError on a file of the wrong shape)."""
        if not isinstance(data, dict) or data.get("format") != cls.FORMAT:
            raise FactsDecodeError('not a cyberscan facts file (missing "format": "cyberscan-facts")')
        if data.get("version") != cls.VERSION:
            raise FactsDecodeError(f"unsupported facts file version {data.get('version')!r}")
        targets: dict[str, TargetFacts] = {}
        for name, raw in dict(data.get("targets", {})).items():
            tf = TargetFacts(kind=str(raw.get("kind", "")))
            for kind, facts_json in dict(raw.get("facts", {})).items():
                if kind in kinds:
                    tf.facts[kind] = kinds[kind].from_json(facts_json)
            for kind, err in dict(raw.get("errors", {})).items():
                tf.errors[kind] = ErrorInfo.from_json(err)
            targets[str(name)] = tf
        return cls(targets)


def error_finding(selected: SelectedCheck, target: str, error: ErrorInfo) -> Finding:
    """The `error` finding standing for a check that could not run."""
    # Error details can carry text from a target or a facts file: bounded and cleaned like any param.
    detail = clip(error.detail, MAX_PARAM_TEXT)
    return Finding(
        check_id=selected.id,
        target=target,
        resource=target,
        status=Status.ERROR,
        severity=selected.meta.severity,
        message_id="error",
        params=bound_params({"detail": detail}),
        error=replace(error, detail=detail),
    )


ProgressCallback = Callable[[TargetResult], None]


class Scanner:
    """Runs the selected checks over targets; one failing target, collector or check never stops the rest."""

    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        selected: Sequence[SelectedCheck],
        limiter: AddressLimiter | None = None,
        memo: ProbeMemo | None = None,
    ) -> None:
        self.registry = registry
        self.limiter = limiter
        self.memo = memo
        self.settings = settings
        self.selected = list(selected)
        nameserver = parse_nameserver(settings.resolver) if settings.resolver else None
        self.resolver = Resolver(nameserver, timeout=min(settings.timeout, 5.0), static_hosts=settings.hosts)
        self.scope = Scope.parse(settings.scope)
        self.archive = FactsArchive()

    def needed_facts(self) -> list[type[Facts]]:
        """Facts types the selected checks require, in a stable order."""
        kinds: dict[str, type[Facts]] = {}
        for sel in self.selected:
            for facts_type in sel.reg.cls.requires:
                kinds.setdefault(facts_type.kind, facts_type)
        return [kinds[k] for k in sorted(kinds)]

    def scan(
        self,
        targets: Sequence[Target],
        replay: FactsArchive | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[TargetResult]:
        """Scan every target (in parallel, `settings.jobs` at a time) and return results in input order."""
        results: dict[str, TargetResult] = {}
        with ThreadPoolExecutor(max_workers=max(1, self.settings.jobs)) as pool:
            futures = {pool.submit(self._scan_one, t, replay): t for t in targets}
            for fut in as_completed(futures):
                target = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # a bug in the engine itself: still one result per target
                    log.debug("engine failure on %s", target.name, exc_info=True)
                    info = ErrorInfo(ErrorKind.BUG, f"{type(exc).__name__}: {exc}", "engine")
                    result = TargetResult(
                        target.name,
                        target.kind.value,
                        (),
                        tuple(error_finding(s, target.name, info) for s in self.selected),
                    )
                results[target.name] = result
                if progress is not None:
                    progress(result)
        return [results[t.name] for t in targets]

    def _scan_one(self, target: Target, replay: FactsArchive | None) -> TargetResult:
        if replay is not None:
            facts, failures, runs, not_probed = self._replay(target, replay)
        else:
            facts, failures, runs, not_probed = self._collect(target)
        findings = self._evaluate(target, facts, failures)
        return TargetResult(target.name, target.kind.value, tuple(runs), tuple(findings), not_probed)

    def _replay(
        self, target: Target, archive: FactsArchive
    ) -> tuple[dict[str, Facts], dict[str, ErrorInfo], list[CollectorRun], tuple[NotProbed, ...]]:
        saved = archive.targets.get(target.name)
        facts: dict[str, Facts] = {}
        failures: dict[str, ErrorInfo] = {}
        runs: list[CollectorRun] = []
        for facts_type in self.needed_facts():
            kind = facts_type.kind
            if saved is not None and kind in saved.facts:
                facts[kind] = saved.facts[kind]
                runs.append(CollectorRun(kind, RunStatus.REPLAYED, 0.0))
            else:
                error = (saved.errors.get(kind) if saved else None) or ErrorInfo(
                    ErrorKind.NO_FACTS, f"no saved '{kind}' facts for {target.name} in the facts file", kind
                )
                failures[kind] = error
                runs.append(CollectorRun(kind, RunStatus.ERROR, 0.0, error))
        self._remember(target, facts, failures)
        return facts, failures, runs, ()

    def _collect(
        self, target: Target
    ) -> tuple[dict[str, Facts], dict[str, ErrorInfo], list[CollectorRun], tuple[NotProbed, ...]]:
        deadline = time.monotonic() + self.settings.deadline
        target_scope = self.scope.extended(
            [target.name] if target.kind in (TargetKind.IP, TargetKind.NETWORK) else []
        )
        guard = NetworkGuard(self.resolver, target_scope, self.limiter)
        facts: dict[str, Facts] = {}
        failures: dict[str, ErrorInfo] = {}
        runs: list[CollectorRun] = []
        pending: dict[Future[Facts], tuple[str, float]] = {}
        for facts_type in self.needed_facts():
            kind = facts_type.kind
            try:
                fut = self._start_collector(facts_type, target, guard, deadline)
            except Exception as exc:  # a collector that cannot even start (broken install, plugin bug)
                log.debug("collector %s could not start", kind, exc_info=True)
                failures[kind] = ErrorInfo(ErrorKind.BUG, f"{type(exc).__name__}: {exc}", kind)
                runs.append(CollectorRun(kind, RunStatus.ERROR, 0.0, failures[kind]))
                continue
            if fut is None:
                failures[kind] = ErrorInfo(
                    ErrorKind.TOOL_MISSING, f"no collector provides '{kind}' facts", kind
                )
                runs.append(CollectorRun(kind, RunStatus.ERROR, 0.0, failures[kind]))
                continue
            pending[fut] = (kind, time.monotonic())
        # A collector stuck past the deadline is abandoned, not awaited: its own network timeouts end
        # its thread later, and being a daemon thread it cannot hold the process once the report is out.
        _, not_done = wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        for fut in pending:
            kind, started = pending[fut]
            info: ErrorInfo | None
            if fut in not_done:
                detail = f"no result within the {self.settings.deadline:g} s target deadline"
                info = ErrorInfo(ErrorKind.DEADLINE, detail, kind)
            else:
                info = self._outcome(fut, kind, facts)
            duration = round(time.monotonic() - started, 3)
            if info is None:
                runs.append(CollectorRun(kind, RunStatus.OK, duration))
            else:
                failures[kind] = info
                runs.append(CollectorRun(kind, RunStatus.ERROR, duration, info))
        self._remember(target, facts, failures)
        runs.sort(key=lambda r: r.name)
        return facts, failures, runs, guard.refusals()

    def _start_collector(
        self, facts_type: type[Facts], target: Target, guard: NetworkGuard, deadline: float
    ) -> Future[Facts] | None:
        collector_cls = self.registry.collector_for(facts_type)  # may import it now, and fail
        if collector_cls is None:
            return None
        ctx = CollectorContext(
            settings={**collector_cls.defaults, **self.settings.collectors.get(collector_cls.name, {})},
            timeout=self.settings.timeout,
            deadline=deadline,
            guard=guard,
            user_agent=self.settings.user_agent,
            ca_bundle=self.settings.ca_bundle,
            requests=self._requests_for(facts_type),
            memo=self.memo,
        )
        name = f"collect-{facts_type.kind}-{target.name}"
        return _in_daemon_thread(name, collector_cls().collect, target, ctx)

    @staticmethod
    def _outcome(fut: Future[Facts], kind: str, facts: dict[str, Facts]) -> ErrorInfo | None:
        try:
            facts[kind] = fut.result()
            return None
        except CollectorError as exc:
            return ErrorInfo(exc.kind, exc.detail, kind)
        except Exception as exc:  # a collector bug must not end the scan
            log.debug("collector %s crashed", kind, exc_info=True)
            return ErrorInfo(ErrorKind.BUG, f"{type(exc).__name__}: {exc}", kind)

    def _requests_for(self, facts_type: type[Facts]) -> tuple[Any, ...]:
        requests: dict[Any, None] = {}
        for sel in self.selected:
            if facts_type in sel.reg.cls.requires:
                for request in sel.reg.cls.collector_requests(sel.params):
                    requests.setdefault(request, None)
        return tuple(requests)

    def _remember(self, target: Target, facts: dict[str, Facts], failures: dict[str, ErrorInfo]) -> None:
        self.archive.targets[target.name] = TargetFacts(target.kind.value, dict(facts), dict(failures))

    def _evaluate(
        self, target: Target, facts: dict[str, Facts], failures: dict[str, ErrorInfo]
    ) -> list[Finding]:
        bag = FactBag(facts.values())
        findings: list[Finding] = []
        for sel in self.selected:
            missing = [failures[t.kind] for t in sel.reg.cls.requires if t.kind in failures]
            if missing:
                findings.append(error_finding(sel, target.name, missing[0]))
                continue
            findings.extend(self._run_check(sel, target, bag))
        return sorted(findings, key=Finding.sort_key)

    @staticmethod
    def _run_check(sel: SelectedCheck, target: Target, bag: FactBag) -> list[Finding]:
        try:
            check = sel.reg.cls(sel.meta, sel.params, target, sel.severity_forced)
            produced = list(check.evaluate(bag))
        except Exception as exc:  # a check bug becomes an error finding, never a silent gap
            log.debug("check %s crashed on %s", sel.id, target.name, exc_info=True)
            return [
                error_finding(
                    sel, target.name, ErrorInfo(ErrorKind.BUG, f"{type(exc).__name__}: {exc}", sel.id)
                )
            ]
        if not produced:
            info = ErrorInfo(ErrorKind.BUG, "the check produced no finding", sel.id)
            return [error_finding(sel, target.name, info)]
        return produced
