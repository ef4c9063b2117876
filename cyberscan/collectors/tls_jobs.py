"""Runs sslyze's scan commands on TLS endpoints: sslyze's probes and verdicts, our own scheduling.

sslyze splits every scan command into jobs of at most one connection each
(`scan_jobs_for_scan_command`) and turns the finished jobs into the command's result
(`result_for_completed_scan_jobs`); its connectivity test (`check_connectivity_to_server`) comes
first. This module uses exactly those three pieces and replaces only sslyze's `Scanner`, which
schedules them, for four reasons measured on sslyze 6.3:

- its producer thread looks for finished jobs every 0.2 s (`sleep(0.2)` in
  `scanner/_mass_scanner.py`), so every scan ends up to 0.2 s after its last handshake;
- it starts no endpoint's scan before the connectivity test of every endpoint is over, so one
  silent MX host (11 handshakes waiting for the timeout) holds back the web server's scan;
- it cannot be stopped: past the target's deadline its threads go on connecting to the target;
- it cannot skip the cipher-suite enumeration of a version the server refuses outright (below).

What stays as in sslyze: `max_connections_per_server` connections at most to one endpoint (one
worker thread per connection), the same jobs, the same results, and sslyze's mapping of a failed
command to its error reason. Worker threads are daemons, so an abandoned scan never keeps the
process alive.

Version pre-flight. sslyze tries every cipher suite of every protocol version one connection at a
time: 121 suites each for SSL 3.0, TLS 1.0 and TLS 1.1, 158 for TLS 1.2. A server that does not
speak a version refuses all of them. Before enumerating SSL 3.0 to TLS 1.2, one handshake offers
the version with every suite (`ALL:COMPLEMENTOFALL`); when the server's answer refuses the
*version* - a protocol_version alert, or a reply that is not in that version ("wrong version
number", which is also what bytes that are not TLS at all give) - sslyze would count every suite
of that version as rejected for the same reason, so the enumeration is skipped. Any other outcome
(accepted, a handshake_failure alert, a reset, a timeout) leaves the full enumeration to run: a
handshake failure can also mean "none of the suites I prefer" on a badly written server, and a
silent or reset connection can be a middlebox choking on a long ClientHello (F5, sslyze's own
comment in `server_connectivity.py`). The tests check, on real servers, that the accepted suites are
the same with and without the pre-flight. What it would misread: a server answering a mere cipher
mismatch with a protocol_version alert (none known; TLS 1.2's pre-flight uses sslyze's modern
OpenSSL, which lacks RC4 and EXPORT suites, so such a server accepting only those in TLS 1.2 would
be reported without TLS 1.2).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from nassl.ssl_client import ClientCertificateRequested
from sslyze.errors import (
    ConnectionToServerFailed,
    ConnectionToServerTimedOut,
    ServerRejectedTlsHandshake,
    TlsHandshakeTimedOut,
)
from sslyze.plugins.plugin_base import ScanCommandWrongUsageError, ScanJob, ScanJobResult
from sslyze.plugins.scan_commands import ScanCommand, ScanCommandsRepository
from sslyze.scanner.models import ScanCommandsExtraArguments
from sslyze.scanner.scan_command_attempt import ScanCommandErrorReasonEnum
from sslyze.server_connectivity import (
    ServerConnectivityInfo,
    TlsVersionEnum,
    check_connectivity_to_server,
)
from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

#: enumeration command -> the version its pre-flight offers. SSL 2.0 (7 suites, its own hello
#: format) and TLS 1.3 (5 suites) cost less to enumerate than to argue about.
PREFLIGHT_VERSIONS: Mapping[str, TlsVersionEnum] = {
    "ssl_3_0_cipher_suites": TlsVersionEnum.SSL_3_0,
    "tls_1_0_cipher_suites": TlsVersionEnum.TLS_1_0,
    "tls_1_1_cipher_suites": TlsVersionEnum.TLS_1_1,
    "tls_1_2_cipher_suites": TlsVersionEnum.TLS_1_2,
}
#: sslyze's wording (its `_HANDSHAKE_REJECTED_TLS_ERRORS`) of the answers that refuse a version
#: itself, whatever suites were offered
VERSION_REFUSALS = (
    "TLS alert: protocol version",
    "TLS error: wrong version number",
    "TLS error: wrong SSL version",
)


class DeadlineReached(Exception):
    """The target's deadline passed before this command's jobs could all run."""


@dataclass(frozen=True)
class EndpointRequest:
    """One endpoint to scan and the sslyze commands to run on it."""

    location: ServerNetworkLocation
    network: ServerNetworkConfiguration
    commands: tuple[str, ...]
    extra_arguments: ScanCommandsExtraArguments = field(default_factory=ScanCommandsExtraArguments)


@dataclass(frozen=True)
class CommandAttempt:
    """One command's outcome: its sslyze result, or why there is none."""

    result: Any = None
    #: sslyze's reason for a failed command (None with `error` set: stopped by the deadline)
    error_reason: ScanCommandErrorReasonEnum | None = None
    error: BaseException | None = None


@dataclass
class EndpointScan:
    """Everything one endpoint's scan produced; `connectivity_error` set means nothing else ran."""

    connectivity_error: BaseException | None = None
    #: every command but those of `refused_versions`
    attempts: dict[str, CommandAttempt] = field(default_factory=dict)
    #: enumeration command -> the server's refusal of the whole version (its suites were not tried)
    refused_versions: dict[str, str] = field(default_factory=dict)


def preflight_refusal(info: ServerConnectivityInfo, version: TlsVersionEnum) -> str | None:
    """One handshake offering `version` with every suite: the refusal text when the server refuses
    the version itself, None when it accepts it or its answer does not say (see module docstring)."""
    connection = info.get_preconfigured_tls_connection(
        override_tls_version=version,
        # the OpenSSL build sslyze enumerates the version with (TLS 1.2: both; the modern one offers
        # every suite whose refusal could matter, and a version refusal does not depend on suites)
        should_use_legacy_openssl=version is not TlsVersionEnum.TLS_1_2,
    )
    connection.ssl_client.set_cipher_list("ALL:COMPLEMENTOFALL")
    try:
        connection.connect()
    except ServerRejectedTlsHandshake as exc:
        message = exc.error_message.strip()
        return message if message.startswith(VERSION_REFUSALS) else None
    except Exception:  # accepted with a twist (client certificate, weak DH…) or unclear: enumerate
        return None
    finally:
        connection.close()
    return None


class _Lane:
    """One endpoint's job queue, run by `workers` daemon threads: sslyze's per-server connection limit."""

    def __init__(self, workers: int, deadline: float) -> None:
        self._jobs: deque[tuple[Callable[[], Any], Callable[[ScanJobResult | None], None]]] = deque()
        self._pending = 0
        self._live = 0
        self._workers = workers
        self._deadline = deadline
        self._idle = threading.Condition()
        self._failure: Exception | None = None

    def submit(self, call: Callable[[], Any], on_done: Callable[[ScanJobResult | None], None]) -> None:
        """Queue `call`; `on_done` gets its result, or None when the deadline came first. `on_done`
        may submit more jobs: the lane is idle only once no job is queued, running or reporting."""
        with self._idle:
            self._jobs.append((call, on_done))
            self._pending += 1
            if self._live < self._workers:
                self._live += 1
                threading.Thread(target=self._work, daemon=True, name="cyberscan-tls-job").start()

    def wait(self) -> None:
        with self._idle:
            while self._pending:
                self._idle.wait()
            if self._failure is not None:
                raise self._failure

    def _work(self) -> None:
        while True:
            with self._idle:
                if not self._jobs:
                    # Leaving under the lock: a job queued after this is given a new worker.
                    self._live -= 1
                    return
                call, on_done = self._jobs.popleft()
            outcome: ScanJobResult | None = None
            if time.monotonic() < self._deadline:
                try:
                    outcome = ScanJobResult(_return_value=call(), _exception=None)
                except Exception as exc:  # sslyze's jobs report their failures by raising
                    outcome = ScanJobResult(_return_value=None, _exception=exc)
            failure: Exception | None = None
            try:
                on_done(outcome)
            except Exception as exc:  # a bug in a callback: `wait` raises it, the lane still drains
                failure = exc
            with self._idle:
                self._pending -= 1
                self._failure = self._failure or failure
                self._idle.notify_all()


def _failed(exc: Exception) -> CommandAttempt:
    """sslyze's own classification of an exception raised by a command (`_mass_scanner.py`)."""
    if isinstance(exc, ClientCertificateRequested):
        reason = ScanCommandErrorReasonEnum.CLIENT_CERTIFICATE_NEEDED
    elif isinstance(exc, (ConnectionToServerTimedOut, TlsHandshakeTimedOut, ServerRejectedTlsHandshake)):
        reason = ScanCommandErrorReasonEnum.CONNECTIVITY_ISSUE
    elif isinstance(exc, ScanCommandWrongUsageError):
        reason = ScanCommandErrorReasonEnum.WRONG_USAGE
    else:
        reason = ScanCommandErrorReasonEnum.BUG_IN_SSLYZE
    return CommandAttempt(error_reason=reason, error=exc)


class _EndpointRun:
    """The scan of one endpoint once its connectivity test passed: jobs in, command results out."""

    def __init__(self, info: ServerConnectivityInfo, request: EndpointRequest, workers: int, deadline: float):
        self.info = info
        self.request = request
        self.lane = _Lane(workers, deadline)
        self.scan = EndpointScan()
        self._lock = threading.Lock()
        self._results: dict[str, list[ScanJobResult]] = {}
        self._expected: dict[str, int] = {}
        self._late: set[str] = set()

    def run(self, preflight: bool) -> EndpointScan:
        deferred = {c: v for c, v in PREFLIGHT_VERSIONS.items() if preflight and c in self.request.commands}
        # Pre-flight handshakes first (the lane is first in, first out): their answers decide
        # whether 121-158 more jobs are queued, so they should not wait behind the rest.
        for command, version in deferred.items():
            self.lane.submit(
                partial(preflight_refusal, self.info, version), partial(self._after_preflight, command)
            )
        for command in self.request.commands:
            if command not in deferred:
                self._queue_command(command)
        self.lane.wait()
        for command in self.request.commands:
            # A version refused outright has no attempt: its refusal is its result.
            if command not in self.scan.attempts and command not in self.scan.refused_versions:
                self.scan.attempts[command] = self._command_result(command)
        return self.scan

    def _after_preflight(self, command: str, outcome: ScanJobResult | None) -> None:
        try:
            refusal = outcome.get_result() if outcome is not None else None
        except Exception:  # the pre-flight itself failed: enumerate, as without it
            refusal = None
        if refusal:
            with self._lock:
                self.scan.refused_versions[command] = refusal
        else:
            self._queue_command(command)

    def _queue_command(self, command: str) -> None:
        implementation = ScanCommandsRepository.get_implementation_cls(ScanCommand(command))
        try:
            jobs: list[ScanJob] = implementation.scan_jobs_for_scan_command(
                server_info=self.info, extra_arguments=getattr(self.request.extra_arguments, command, None)
            )
        except Exception as exc:
            with self._lock:
                self.scan.attempts[command] = _failed(exc)
            return
        with self._lock:
            self._results[command] = []
            self._expected[command] = len(jobs)
        for job in jobs:
            self.lane.submit(
                partial(job.function_to_call, *job.function_arguments), partial(self._job_done, command)
            )

    def _job_done(self, command: str, outcome: ScanJobResult | None) -> None:
        with self._lock:
            if outcome is None:
                self._late.add(command)
            else:
                self._results[command].append(outcome)

    def _command_result(self, command: str) -> CommandAttempt:
        if command in self._late:
            return CommandAttempt(error=DeadlineReached("the scan's deadline came before this command ended"))
        implementation = ScanCommandsRepository.get_implementation_cls(ScanCommand(command))
        try:
            return CommandAttempt(
                result=implementation.result_for_completed_scan_jobs(
                    server_info=self.info, scan_job_results=self._results[command]
                )
            )
        except Exception as exc:
            return _failed(exc)


def scan_endpoint(request: EndpointRequest, workers: int, deadline: float, preflight: bool) -> EndpointScan:
    """Connectivity test, then every command of `request` (at most `workers` connections at once)."""
    if time.monotonic() >= deadline:
        return EndpointScan(
            connectivity_error=DeadlineReached("the scan's deadline came before this endpoint")
        )
    try:
        probing = check_connectivity_to_server(request.location, request.network)
    except ConnectionToServerFailed as exc:
        return EndpointScan(connectivity_error=exc)
    info = ServerConnectivityInfo(request.location, request.network, probing)
    return _EndpointRun(info, request, workers, deadline).run(preflight)


def scan_endpoints(
    requests: Sequence[EndpointRequest],
    *,
    workers_per_endpoint: int,
    parallel_endpoints: int,
    deadline: float,
    preflight: bool = True,
) -> list[EndpointScan]:
    """Scan every request, `parallel_endpoints` at a time, each as soon as its own connectivity test
    passes; results in request order. Returns once every endpoint ended (each job is bounded by the
    network timeout, and no job starts after `deadline`)."""
    scans: list[EndpointScan | None] = [None] * len(requests)
    slots = threading.Semaphore(max(1, parallel_endpoints))

    def one(index: int) -> None:
        with slots:
            try:
                scans[index] = scan_endpoint(requests[index], workers_per_endpoint, deadline, preflight)
            except Exception as exc:  # a bug here costs this endpoint, never the others
                scans[index] = EndpointScan(connectivity_error=exc)

    threads = [
        threading.Thread(target=one, args=(i,), daemon=True, name="cyberscan-tls-endpoint")
        for i in range(len(requests))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [
        scan if scan is not None else EndpointScan(connectivity_error=RuntimeError("no result"))
        for scan in scans
    ]


__all__ = [
    "PREFLIGHT_VERSIONS",
    "VERSION_REFUSALS",
    "CommandAttempt",
    "DeadlineReached",
    "EndpointRequest",
    "EndpointScan",
    "preflight_refusal",
    "scan_endpoint",
    "scan_endpoints",
]
