"""Benchmark: the ports collector on a /28 of namespace test hosts vs plain nmap with the same arguments.

Issue requirement: a /28 scan finishes within nmap's own time for the same arguments plus a small
overhead. One network namespace holds the 14 host addresses of 10.231.8.0/28 (on its loopback,
routed through a veth pair); emulated services listen on all of them. Runs alternate:

(a) ``nmap -oX - <the collector's exact arguments> <the 14 addresses>``;
(b) the collector: ``--direct`` runs it in-process (python -c helper); otherwise
    ``python -m cyberscan scan 10.231.8.0/28 --only 'SVC-*' --scope 10.231.8.0/28 -f json -o /dev/null``
    (needs the collector registered and SVC checks present).

Prints min/median/max of each and the ratio of medians. Root and `ip` required; the namespace, its
routes and the listener process are removed on exit (try/finally + atexit). No traffic leaves the host.

    sudo .venv/bin/python benchmarks/ports_vs_nmap.py --runs 3 --direct
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import statistics
import subprocess
import sys
import time

from cyberscan.collectors import ports
from cyberscan.demo.services import NetnsHost, netns_unavailable

NETWORK = "10.231.8.0/28"
SERVICES = {"ftp": 21, "ssh": 22, "smb": 445, "rdp": 3389, "redis": 6379, "synology": 5000}

_DIRECT = """
import sys, time, json
from cyberscan.collectors.ports import PortsCollector
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.plugin import CollectorContext
from cyberscan.scope import Scope
from cyberscan.targets import parse_target
net = sys.argv[1]
guard = NetworkGuard(Resolver(("127.0.0.1", 9), timeout=0.3), Scope.parse([net]))
ctx = CollectorContext({}, 10.0, time.monotonic() + 900, guard, "cyberscan-bench")
facts = PortsCollector().collect(parse_target(net), ctx)
print(sum(len(h.services) for h in facts.hosts), file=sys.stderr)
"""


def _timed(command: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return time.monotonic() - start


def _summary(name: str, values: list[float]) -> str:
    median = statistics.median(values)
    return f"{name:10s} min {min(values):6.2f} s  median {median:6.2f} s  max {max(values):6.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--direct", action="store_true", help="run the collector in-process, not the CLI")
    args = parser.parse_args()
    reason = netns_unavailable()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    addresses = [str(a) for a in ipaddress.ip_network(NETWORK).hosts()]
    settings = ports._Settings.from_mapping({})
    scanner_path = ports.scanner_path(ports.PortsCollector._scanner())
    tcp = ports.port_spec(
        sorted(
            set(ports.parse_ports(settings.tcp_ports))
            | set(ports.top_ports(ports._nmap_services_text(scanner_path), settings.top_ports))
        )
    )
    nmap_args = ports.nmap_arguments(settings, tcp, "", os.geteuid() == 0, settings.host_timeout)
    nmap_command = [scanner_path, "-oX", "-", *shlex.split(nmap_args), *addresses]
    if args.direct:
        collector_command = [sys.executable, "-c", _DIRECT, NETWORK]
    else:
        collector_command = [sys.executable, "-m", "cyberscan", "scan", NETWORK, "--only", "SVC-*"]
        collector_command += ["--scope", NETWORK, "-f", "json", "-o", "/dev/null"]
    host = NetnsHost(f"csb{os.getpid() % 10000}", "10.231.9.1/30", "10.231.9.2/30", extra=addresses)
    try:
        host.serve(SERVICES)
        times: dict[str, list[float]] = {"nmap": [], "collector": []}
        for run in range(max(1, args.runs)):
            times["nmap"].append(_timed(nmap_command))
            times["collector"].append(_timed(collector_command))
            print(f"run {run + 1}: nmap {times['nmap'][-1]:.2f} s, collector {times['collector'][-1]:.2f} s")
    finally:
        host.close()
    print(f"nmap arguments: {nmap_args} <{len(addresses)} addresses>")
    for name, values in times.items():
        print(_summary(name, values))
    ratio = statistics.median(times["collector"]) / statistics.median(times["nmap"])
    print(f"median ratio collector/nmap: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
