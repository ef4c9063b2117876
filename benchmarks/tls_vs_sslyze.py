"""Benchmark: a full TLS scan of one local endpoint, cyberscan vs sslyze's own CLI (loopback only).

Issue requirement: "a full TLS scan of one local endpoint takes no longer than sslyze's own CLI on
the same endpoint (measure both in one run)". The script starts one local `modern` server
(`openssl s_server`, 127.0.0.1), then alternates `--runs` runs of

  (a) `python -m sslyze` with the same scan commands as the collector, and
  (b) cyberscan on the same endpoint: by default its CLI (`cyberscan scan … --only 'TLS-*'`), or with
      `--direct` the collector alone in a `python -c` helper (works before the collector is
      registered and the TLS checks exist),

each as a fresh subprocess timed from spawn to exit (interpreter start and imports included on
both sides), and prints min/median/max wall seconds and the median ratio ours/sslyze.

Same work, checked: before timing, one run of each writes its results (sslyze `--json_out`,
cyberscan `--save-facts`) and the script compares the cipher suites each accepted per protocol
version; it stops if they differ. cyberscan's version pre-flight (one handshake per version before
its suites are tried one by one, see cyberscan/collectors/tls_jobs.py) makes fewer connections
for the same answer; `--exhaustive` turns it off, to time the scheduling alone.

Expect a ~1 s step in both tools' times: `openssl s_server -www` serves one connection at a time and
sleeps one second when a read would block (strace shows the sleep; it goes away without sslyze's
session_renegotiation command), and the connections queued behind it wait. Medians absorb it.

Every connection goes to 127.0.0.1: sslyze gets the address in its target string, cyberscan gets
`--resolve` and a resolver on a closed loopback port, so no DNS query can leave the machine.

    .venv/bin/python benchmarks/tls_vs_sslyze.py [--runs 5] [--direct]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cyberscan.collectors.tls_facts import ACTIVE_COMMANDS, PASSIVE_COMMANDS, PROTOCOL_COMMANDS
from cyberscan.demo.tlsserver import LOOPBACK, LocalTlsServer, TlsProfile, free_port

HOST = "modern.test"

#: `--server gnutls`: the same modern endpoint served by gnutls-serv, which multiplexes connections
#: instead of serving them one at a time like `openssl s_server -www` (whose one-second sleeps then
#: decide the timings more than either tool does).
GNUTLS_MODERN = TlsProfile(
    "modern_gnutls",
    "gnutls-serv: TLS 1.2 + 1.3, ECDHE with AEAD only, P-256 certificate",
    engine="gnutls",
    options=(
        "--priority",
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM"
        ":+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA",
    ),
    binds_all_interfaces=True,
)

#: sslyze CLI flag of each scan command the collector runs on an in-scope endpoint
SSLYZE_FLAGS = {
    "certificate_info": "--certinfo",
    "ssl_2_0_cipher_suites": "--sslv2",
    "ssl_3_0_cipher_suites": "--sslv3",
    "tls_1_0_cipher_suites": "--tlsv1",
    "tls_1_1_cipher_suites": "--tlsv1_1",
    "tls_1_2_cipher_suites": "--tlsv1_2",
    "tls_1_3_cipher_suites": "--tlsv1_3",
    "elliptic_curves": "--elliptic_curves",
    "tls_compression": "--compression",
    "session_renegotiation": "--reneg",
    "session_resumption": "--resum",
    "tls_1_3_early_data": "--early_data",
    "tls_extended_master_secret": "--ems",
    "tls_fallback_scsv": "--fallback",
    "heartbleed": "--heartbleed",
    "openssl_ccs_injection": "--openssl_ccs",
    "robot": "--robot",
}

#: the collector alone, in a fresh interpreter like the CLI runs (argv: url, CA file, DNS port)
DIRECT_HELPER = r"""
import sys, time
from pathlib import Path
from cyberscan.collectors.tls import TlsCollector
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.plugin import CollectorContext
from cyberscan.scope import Scope
from cyberscan.targets import parse_target

url, ca, dns_port, host = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
resolver = Resolver(("127.0.0.1", dns_port), timeout=1.0, static_hosts={host: "127.0.0.1"})
ctx = CollectorContext(
    settings={**TlsCollector.defaults, "version_preflight": sys.argv[5] == "1"},
    timeout=10.0,
    deadline=time.monotonic() + 300,
    guard=NetworkGuard(resolver, Scope.parse(["127.0.0.1/32"])),
    user_agent="cyberscan-benchmark",
    ca_bundle=Path(ca),
)
[endpoint] = TlsCollector().collect(parse_target(url), ctx).endpoints
if endpoint.error_kind or endpoint.unavailable or not endpoint.active_allowed:
    sys.exit(f"incomplete scan: {endpoint.error_kind} {endpoint.error} {dict(endpoint.unavailable)}")
"""


@dataclass(frozen=True)
class Contender:
    """One command line to time, and how to tell that it really scanned."""

    label: str
    command: list[str]
    report: Path | None = None

    def run(self) -> float:
        started = time.perf_counter()
        done = subprocess.run(self.command, capture_output=True, text=True, timeout=600)
        elapsed = time.perf_counter() - started
        problem = self._problem(done)
        if problem:
            raise SystemExit(
                f"{self.label} failed ({problem}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        return elapsed

    def _problem(self, done: subprocess.CompletedProcess[str]) -> str | None:
        if self.label.startswith("sslyze"):
            # sslyze exits 1 when the server fails its Mozilla-profile evaluation: still a full scan.
            completed = "SCANS COMPLETED" in done.stdout
            return None if completed and done.returncode in (0, 1) else f"exit {done.returncode}"
        if self.report is None:
            return None if done.returncode == 0 else f"exit {done.returncode}"
        # The CLI exits 1 when checks fail (a test CA is not a public one): judge by the report.
        try:
            runs = json.loads(self.report.read_text())["targets"][0]["collector_runs"]
        except (OSError, ValueError, KeyError, IndexError) as exc:
            return f"no usable JSON report ({exc})"
        tls = [r for r in runs if r["name"] == "tls"]
        if not tls or tls[0]["status"] != "ok":
            return f"the tls collector did not run cleanly: {tls or 'not registered / no TLS check selected'}"
        return None


def sslyze_command(port: int, ca: Path, default_scan: bool = False) -> list[str]:
    # `host:port{ip}`: sslyze connects to the address and sends the name as SNI, no DNS lookup.
    target = f"{HOST}:{port}{{{LOOPBACK}}}"
    if default_scan:
        # sslyze's own full scan, as a user would type it: its default commands (HTTP headers
        # included) and its Mozilla-profile evaluation.
        return [sys.executable, "-m", "sslyze", "--certinfo_ca_file", str(ca), target]
    commands = (*PASSIVE_COMMANDS, *ACTIVE_COMMANDS)
    missing = [c for c in commands if c not in SSLYZE_FLAGS]
    if missing:
        raise SystemExit(f"no sslyze CLI flag known for {missing}: update SSLYZE_FLAGS")
    flags = [SSLYZE_FLAGS[c] for c in commands]
    return [
        sys.executable,
        "-m",
        "sslyze",
        "--mozilla_config=disable",
        *flags,
        "--certinfo_ca_file",
        str(ca),
        target,
    ]


def cyberscan_command(
    port: int, ca: Path, report: Path, direct: bool, config: Path | None = None
) -> list[str]:
    url = f"https://{HOST}:{port}/"
    # A resolver on a closed loopback port: any lookup the pinned name does not cover fails at once.
    dns_port = free_port()
    if direct:
        preflight = "0" if config is not None else "1"
        return [sys.executable, "-c", DIRECT_HELPER, url, str(ca), str(dns_port), HOST, preflight]
    return [
        sys.executable, "-m", "cyberscan", "scan", url, "--only", "TLS-*",
        "--resolve", f"{HOST}={LOOPBACK}", "--resolver", f"{LOOPBACK}:{dns_port}",
        "--scope", f"{LOOPBACK}/32", "--ca-bundle", str(ca), "-f", "json", "-o", str(report), "-q",
        *(["--config", str(config)] if config is not None else []),
    ]  # fmt: skip


def accepted_by_sslyze(path: Path) -> dict[str, list[str]]:
    """Accepted suite names per protocol version from sslyze's --json_out file."""
    results = json.loads(path.read_text())["server_scan_results"][0]["scan_result"]
    accepted = {v: results[c]["result"]["accepted_cipher_suites"] for v, c in PROTOCOL_COMMANDS.items()}
    return {v: sorted(s["cipher_suite"]["name"] for s in suites) for v, suites in accepted.items()}


def accepted_by_cyberscan(path: Path) -> dict[str, list[str]]:
    """Accepted suite names per protocol version from cyberscan's --save-facts file."""
    [target] = json.loads(path.read_text())["targets"].values()
    [endpoint] = target["facts"]["tls"]["endpoints"]
    return {p["version"]: sorted(s["name"] for s in p["accepted"]) for p in endpoint["protocols"]}


def same_answers(sslyze: Contender, ours: list[str], tmp: Path) -> str:
    """Run each tool once with its results saved; stop unless both accepted the same suites."""
    sslyze_json, facts = tmp / "sslyze.json", tmp / "facts.json"
    Contender(sslyze.label, [*sslyze.command[:-1], f"--json_out={sslyze_json}", sslyze.command[-1]]).run()
    done = subprocess.run([*ours, "--save-facts", str(facts)], capture_output=True, text=True, timeout=600)
    if not facts.exists():
        raise SystemExit(f"cyberscan saved no facts (exit {done.returncode}):\n{done.stderr[-2000:]}")
    theirs, mine = accepted_by_sslyze(sslyze_json), accepted_by_cyberscan(facts)
    if theirs != mine:
        raise SystemExit(f"the two scans disagree:\n  sslyze    {theirs}\n  cyberscan {mine}")
    return ", ".join(f"{v} {len(n)}" for v, n in mine.items() if n) or "none"


def describe(label: str, times: Sequence[float]) -> str:
    return f"{label:<22} {min(times):8.2f} {statistics.median(times):8.2f} {max(times):8.2f}"


def ensure_bytecode() -> None:
    """Compile cyberscan's own sources (the package and the checks mapped into it) once."""
    import compileall

    import cyberscan.checks

    import cyberscan

    for package in (cyberscan, cyberscan.checks):
        for directory in package.__path__:
            compileall.compile_dir(directory, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each tool (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each tool first (default 1)")
    parser.add_argument(
        "--sslyze-default",
        action="store_true",
        help="compare with sslyze's own default full scan instead of sslyze pinned to our commands",
    )
    parser.add_argument(
        "--direct", action="store_true", help="time the collector in a python -c helper, not the CLI"
    )
    parser.add_argument(
        "--exhaustive",
        action="store_true",
        help="cyberscan without its version pre-flight: every suite of every version, as sslyze",
    )
    parser.add_argument(
        "--server",
        choices=["openssl", "gnutls", "legacy"],
        default="openssl",
        help="the endpoint: modern profile on openssl s_server (default) or gnutls-serv (concurrent"
        " connections), or s_server's legacy profile (TLS 1.0 to 1.2: the pre-flight skips nothing)",
    )
    args = parser.parse_args(argv)
    # Both sides import from compiled bytecode, as from any pip install: sslyze's .pyc files were
    # written when pip installed it, while an editable checkout run with PYTHONDONTWRITEBYTECODE=1
    # (set on some machines) would recompile cyberscan's sources on every start.
    ensure_bytecode()
    profile = {"gnutls": GNUTLS_MODERN, "legacy": "legacy"}.get(args.server, "modern")
    # gnutls-serv has no bind option: it listens on every interface, and only loopback connects to it.
    with (
        LocalTlsServer(profile, [HOST], allow_all_interfaces=True) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "report.json"
        config = None
        if args.exhaustive:
            config = Path(tmp) / "exhaustive.toml"
            config.write_text("[collectors.tls]\nversion_preflight = false\n")
        ours_label = "cyberscan (collector)" if args.direct else "cyberscan (CLI)"
        label = "sslyze CLI (default scan)" if args.sslyze_default else "sslyze CLI (same commands)"
        sslyze = Contender(label, sslyze_command(server.port, server.ca_pem_path, args.sslyze_default))
        ours = Contender(
            ours_label,
            cyberscan_command(server.port, server.ca_pem_path, report, args.direct, config),
            None if args.direct else report,
        )
        if not args.sslyze_default:
            cli = cyberscan_command(server.port, server.ca_pem_path, report, False, config)
            print(f"same accepted suites in both scans: {same_answers(sslyze, cli, Path(tmp))}", flush=True)
        for _ in range(args.warmup):
            sslyze.run()
            ours.run()
        times: dict[str, list[float]] = {sslyze.label: [], ours.label: []}
        for index in range(args.runs):
            # Alternate who goes first, so that neither always gets the warmer machine.
            for contender in (sslyze, ours) if index % 2 == 0 else (ours, sslyze):
                times[contender.label].append(contender.run())
                print(
                    f"  run {index + 1}: {contender.label:<22} {times[contender.label][-1]:.2f} s", flush=True
                )
    print(
        f"\none local endpoint ({HOST}:{server.port} -> {LOOPBACK}, {server.profile.description}),"
        f" {args.runs} runs each{', cyberscan without version pre-flight' if args.exhaustive else ''}"
    )
    print(f"{'wall seconds':<22} {'min':>8} {'median':>8} {'max':>8}")
    for label, values in times.items():
        print(describe(label, values))
    ratio = statistics.median(times[ours.label]) / statistics.median(times[sslyze.label])
    verdict = "OK" if ratio <= 1.0 else "SLOWER than sslyze"
    print(f"median ratio ours/sslyze: {ratio:.2f} ({verdict}; requirement: <= 1.00)")
    return 0 if ratio <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
