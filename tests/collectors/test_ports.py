"""Ports collector: pure parsing on recorded nmap XML, and real nmap against emulated services.

The live tests run the emulations of `cyberscan.demo.services` inside two network namespaces this
module creates (10.231.7.0/30 in scope, 10.231.7.4/30 out of it) and removes afterwards; they skip
without root, `ip` or nmap. No packet leaves the machine.
"""

from __future__ import annotations

import os
import shutil
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import nmap
import pytest

from cyberscan.collectors import ports
from cyberscan.collectors.ports import (
    PortsCollector,
    parse_nmap_xml,
    parse_ports,
    parse_rdp_confirm,
    port_spec,
    rdp_request,
    rdp_verdict,
    top_ports,
)
from cyberscan.collectors.ports_facts import PortFacts, ServiceInfo
from cyberscan.demo.services import NetnsHost, ServiceSet, netns_unavailable, rdp_confirm
from cyberscan.models import ErrorKind
from cyberscan.net.guard import NetworkGuard
from cyberscan.net.resolver import Resolver
from cyberscan.plugin import CollectorContext, CollectorError
from cyberscan.scope import Scope
from cyberscan.targets import parse_target

DATA = Path(__file__).resolve().parent.parent / "data"
IN_SCOPE, OUT_OF_SCOPE = "10.231.7.2", "10.231.7.6"
SCOPE = ("10.231.7.0/30",)
TEST_PORTS = "21-23,80,445,3389,5000,5900,6379,8006"
HOSTS = {"mairie-test.fr": IN_SCOPE, "www.mairie-test.fr": OUT_OF_SCOPE}


def _guard(static: dict[str, str], scope: tuple[str, ...] = SCOPE) -> NetworkGuard:
    # a closed loopback port as name server: a name missing from `static` fails fast, never leaks
    return NetworkGuard(Resolver(("127.0.0.1", 9), timeout=0.3, static_hosts=static), Scope.parse(scope))


def _ctx(guard: NetworkGuard, budget: float = 120.0, **settings: object) -> CollectorContext:
    merged = {"top_ports": 0, "tcp_ports": TEST_PORTS, **settings}
    return CollectorContext(merged, 10.0, time.monotonic() + budget, guard, "cyberscan-test")


def _by_port(facts: PortFacts, address: str) -> dict[int, ServiceInfo]:
    host = next(h for h in facts.hosts if h.address == address)
    return {s.port: s for s in host.services}


# --- pure -------------------------------------------------------------------------------------------


def test_parse_recorded_xml() -> None:
    hosts = parse_nmap_xml((DATA / "nmap_services.xml").read_text())
    assert [h.address for h in hosts] == [IN_SCOPE]
    services = {s.port: s for s in hosts[0].services}
    assert 80 not in services  # closed ports are not services
    assert (
        services[21].service == "ftp" and services[21].product == "vsftpd" and services[21].version == "2.3.4"
    )
    assert services[21].method == "probed" and services[21].confidence == 10
    assert services[22].probes["ssh_kex"].endswith("diffie-hellman-group1-sha1")
    assert "ssh-dss" in services[22].probes["ssh_hostkey_algorithms"]
    assert "hmac-md5" in services[22].probes["ssh_macs"] and "3des-cbc" in services[22].probes["ssh_ciphers"]
    assert services[445].service == "microsoft-ds"
    assert services[3389].service == "ms-wbt-server"
    assert services[5000].probes["http_title"].startswith("Synology DiskStation")
    assert services[5900].probes == {"vnc_protocol": "3.8", "vnc_security_types": "None"}
    assert services[6379].service == "redis" and services[6379].version == "6.0.16"
    assert services[23].service == "telnet"
    version, args = ports.nmap_run_info((DATA / "nmap_services.xml").read_text())
    assert version == "7.93" and " -n " in args


def test_parse_rejects_non_xml() -> None:
    with pytest.raises(ValueError):
        parse_nmap_xml("Starting Nmap")


def test_timed_out_host_is_an_error_inside_the_facts() -> None:
    xml = (
        '<nmaprun version="7.93" args="nmap"><host timedout="true"><status state="up"/>'
        '<address addr="10.231.7.2" addrtype="ipv4"/></host></nmaprun>'
    )
    (host,) = parse_nmap_xml(xml)
    assert host.error_kind == "timeout" and host.services == ()


def test_port_specs() -> None:
    assert port_spec(parse_ports("23,21-22,25, 80")) == "21-23,25,80"
    assert 6379 in parse_ports(ports.DEFAULT_TCP_PORTS) and 3389 in parse_ports(ports.DEFAULT_TCP_PORTS)
    with pytest.raises(ValueError):
        parse_ports("0-5")
    services = "http\t80/tcp\t0.48\nssh\t22/tcp\t0.18\nsnmp\t161/udp\t0.43\ntelnet\t23/tcp\t0.22\n"
    assert top_ports(services, 2) == [80, 23]


def test_arguments_are_the_safe_ones() -> None:
    settings = ports._Settings.from_mapping({})
    args = ports.nmap_arguments(settings, "21", "", privileged=False, host_timeout=60)
    assert args.startswith("-n -Pn -sT -sV --version-intensity 5 -T3 --max-rate 50")
    assert "-sU" not in args and args.endswith("-p T:21")
    assert not any(s in args for s in ("brute", "ftp-anon", "vuln", "intrusive"))


def test_opt_in_is_off_by_default_and_validated() -> None:
    assert PortsCollector.defaults["opt_in"] == []
    assert ports._Settings.from_mapping({}).opt_in == frozenset()
    settings = ports._Settings.from_mapping(
        {"opt_in": ["ftp_anonymous", "SSH_auth_methods", "snmp_community", "ftp_anon"], "udp": False}
    )
    # snmp_community needs UDP: named but not applicable, so not run (and not claimed as run)
    assert settings.opt_in == {"ftp_anonymous", "ssh_auth_methods"}
    assert settings.opt_in_unknown == ("ftp_anon",)
    no_greetings = ports._Settings.from_mapping({"opt_in": ["ftp_anonymous"], "greetings": False})
    assert no_greetings.opt_in == frozenset()


def test_opt_in_scripts_only_when_named() -> None:
    default = ports.nmap_arguments(ports._Settings.from_mapping({}), "21", "161", True, 60)
    assert "ssh-auth-methods" not in default and "snmp" not in default
    settings = ports._Settings.from_mapping({"opt_in": ["ssh_auth_methods", "snmp_community"], "udp": True})
    args = ports.nmap_arguments(settings, "22", "161", True, 60)
    assert f"--script {','.join(ports.SAFE_SCRIPTS)},snmp-sysdescr,ssh-auth-methods " in args
    assert "--script-args snmpcommunity=public" in args
    only_opt_in = ports._Settings.from_mapping({"opt_in": ["ssh_auth_methods"], "scripts": False})
    assert "--script ssh-auth-methods -p" in ports.nmap_arguments(only_opt_in, "22", "", True, 60)


# Shaped as nmap 7.93 writes them: ssh-auth-methods returns an output table whose only key is a list
# (one <table> of <elem>s); snmp-sysdescr returns a plain string (sysDescr, newline, uptime line).
_SSH_AUTH_XML = (
    '<script id="ssh-auth-methods" output="&#xa;  Supported authentication methods: &#xa;    publickey&#xa;'
    '    password"><table key="Supported authentication methods">&#xa;<elem>publickey</elem>&#xa;'
    "<elem>password</elem>&#xa;</table>&#xa;</script>"
)
_SSH_AUTH_FAILED_XML = '<script id="ssh-auth-methods" output="Failed to connect to ssh server"/>'
_SNMP_XML = (
    '<script id="snmp-sysdescr" output="Linux nas 5.10.55 #42661 SMP Fri Mar 3 2023 x86_64&#xa;'
    '  System uptime: 28 days, 17:18:59 (248153900 timeticks)"/>'
)


def test_opt_in_script_outputs_are_parsed() -> None:
    assert ports.script_probes(ET.fromstring(_SSH_AUTH_XML)) == {"ssh_auth_methods": "publickey,password"}
    assert ports.script_probes(ET.fromstring(_SSH_AUTH_FAILED_XML)) == {
        "ssh_auth_methods_error": "Failed to connect to ssh server"
    }
    assert ports.script_probes(ET.fromstring(_SNMP_XML)) == {
        "snmp_sysdescr": "Linux nas 5.10.55 #42661 SMP Fri Mar 3 2023 x86_64",
        "snmp_uptime": "28 days, 17:18:59 (248153900 timeticks)",
    }
    long = _SNMP_XML.replace("Linux nas", "x" * 400)
    assert len(ports.script_probes(ET.fromstring(long))["snmp_sysdescr"]) <= ports.MAX_TEXT


def test_rdp_negotiation_parsing() -> None:
    assert parse_rdp_confirm(rdp_confirm(0x03)) == ("rsp", 2)
    assert parse_rdp_confirm(rdp_confirm(0x01)) == ("failure", 5)
    assert rdp_verdict(("rsp", 2), ("failure", 5))["rdp_negotiation"] == "NLA required"
    assert rdp_verdict(("rsp", 2), ("rsp", 1))["rdp_negotiation"] == "NLA supported, not required"
    assert rdp_verdict(("rsp", 1), None)["rdp_negotiation"] == "TLS without NLA"
    assert rdp_verdict(("invalid", None), None)["rdp_negotiation"] == "no X.224 answer"
    assert rdp_request(1)[-8:] == b"\x01\x00\x08\x00\x01\x00\x00\x00"


def test_nmap_missing_is_tool_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    original = nmap.PortScanner

    def without_nmap() -> object:
        return original(nmap_search_path=("/nonexistent/nmap",))

    monkeypatch.setattr(ports.nmap, "PortScanner", without_nmap)
    with pytest.raises(CollectorError) as caught:
        PortsCollector().collect(parse_target("127.0.0.1"), _ctx(_guard({}, ("127.0.0.0/8",))))
    assert caught.value.kind is ErrorKind.TOOL_MISSING
    assert "apt-get install nmap" in caught.value.detail


def test_out_of_scope_addresses_are_planned_away() -> None:
    guard = _guard(HOSTS)
    plan = ports.plan_addresses(parse_target("mairie-test.fr"), guard)
    assert plan.addresses == {IN_SCOPE: ["mairie-test.fr"]}
    assert plan.not_probed == [f"www.mairie-test.fr {OUT_OF_SCOPE}"]
    assert [r.address for r in guard.refusals()] == [OUT_OF_SCOPE]


# --- live: real nmap against emulations in namespaces ------------------------------------------------

_SKIP = netns_unavailable() or (
    None if shutil.which("nmap") else "nmap is not installed (apt-get install nmap)"
)
live = pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PortFacts, NetworkGuard, Path, int]]:
    """One collector run on a domain whose apex is in scope and whose www is not (reused by the tests)."""
    tag = os.getpid() % 10000
    record = tmp_path_factory.mktemp("ports") / "out_of_scope.log"
    record.touch()
    with (
        NetnsHost(f"cs{tag}a", "10.231.7.1/30", f"{IN_SCOPE}/30") as inside,
        NetnsHost(f"cs{tag}b", "10.231.7.5/30", f"{OUT_OF_SCOPE}/30") as outside,
    ):
        services = {"ftp": 21, "ssh": 22, "telnet": 23, "smb": 445, "rdp": 3389, "synology": 5000}
        services |= {"vnc": 5900, "redis": 6379, "proxmox": 8006}
        inside.serve(services)
        outside.serve(services, record=str(record))
        before = outside.rx_packets()
        guard = _guard(HOSTS)
        facts = PortsCollector().collect(parse_target("mairie-test.fr"), _ctx(guard))
        yield facts, guard, record, outside.rx_packets() - before


@live
def test_services_identified(scanned: tuple[PortFacts, NetworkGuard, Path, int]) -> None:
    facts = scanned[0]
    found = _by_port(facts, IN_SCOPE)
    assert {p: s.service for p, s in found.items()} == {
        21: "ftp",
        22: "ssh",
        23: "telnet",
        445: "microsoft-ds",
        3389: "ms-wbt-server",
        5000: "http",
        5900: "vnc",
        6379: "redis",
        8006: "http",
    }
    assert found[22].product == "OpenSSH" and found[22].version == "5.3"
    assert found[3389].product == "Microsoft Terminal Services"
    assert found[5000].probes["http_title"] == "Synology DiskStation - MAIRIE-NAS"
    assert found[8006].probes["http_title"] == "Proxmox Virtual Environment"
    assert found[5900].probes["vnc_security_types"] == "None"
    host = next(h for h in facts.hosts if h.address == IN_SCOPE)
    assert host.names == ("mairie-test.fr",) and host.state == "up"
    assert facts.nmap_version and facts.scan_type in ("syn", "connect")
    assert facts.collected_at.endswith("+00:00")
    assert all(len(v) <= 300 for s in found.values() for v in s.probes.values())


@live
def test_greeting_probes(scanned: tuple[PortFacts, NetworkGuard, Path, int]) -> None:
    found = _by_port(scanned[0], IN_SCOPE)
    assert found[21].probes["ftp_auth_tls"] == "no" and "EPSV" in found[21].probes["ftp_feat"]
    assert found[21].banner == "220 (vsFTPd 2.3.4)"
    assert found[6379].probes["redis_ping"] == "+PONG"
    assert found[22].probes["ssh_banner"] == "SSH-2.0-OpenSSH_5.3"
    assert found[3389].probes == {"rdp_protocol": "HYBRID", "rdp_negotiation": "NLA required"}


@live
def test_out_of_scope_address_never_probed(scanned: tuple[PortFacts, NetworkGuard, Path, int]) -> None:
    facts, guard, record, rx_packets = scanned
    assert record.read_text() == ""  # the listener there saw no connection at all
    assert rx_packets == 0  # and its link received no packet during the scan
    assert facts.not_probed == (f"www.mairie-test.fr {OUT_OF_SCOPE}",)
    assert OUT_OF_SCOPE not in facts.nmap_args and IN_SCOPE in facts.nmap_args
    assert OUT_OF_SCOPE not in {h.address for h in facts.hosts}
    assert any(r.address == OUT_OF_SCOPE for r in guard.refusals())


# --- live: the opt-in anonymous FTP login, on loopback emulations -------------------------------------


@pytest.fixture(scope="module")
def ftp_runs() -> Iterator[
    tuple[dict[int, ServiceInfo], dict[int, ServiceInfo], list[str], list[str], ServiceSet]
]:
    """Two collector runs on 127.0.0.1 (plain FTP + anonymous FTP): without, then with the opt-in."""
    with ServiceSet.start("127.0.0.1", {"ftp": 0, "ftp_anon": 0}) as emulations:
        guard = _guard({}, ("127.0.0.0/8",))
        spec = f"{emulations.ports['ftp']},{emulations.ports['ftp_anon']}"
        target = parse_target("127.0.0.1")
        without = PortsCollector().collect(target, _ctx(guard, tcp_ports=spec, scripts=False))
        commands_without = [c for _, _, c in emulations.commands]
        opted = _ctx(guard, tcp_ports=spec, scripts=False, opt_in=["ftp_anonymous"])
        with_opt_in = PortsCollector().collect(target, opted)
        commands_with = [c for _, _, c in emulations.commands][len(commands_without) :]
        yield (
            _by_port(without, "127.0.0.1"),
            _by_port(with_opt_in, "127.0.0.1"),
            commands_without,
            commands_with,
            emulations,
        )


_nmap = pytest.mark.skipif(
    shutil.which("nmap") is None, reason="nmap is not installed (apt-get install nmap)"
)


@_nmap
def test_anonymous_ftp_login_only_when_opted_in(
    ftp_runs: tuple[dict[int, ServiceInfo], dict[int, ServiceInfo], list[str], list[str], ServiceSet],
) -> None:
    without, with_opt_in, commands_without, commands_with, emulations = ftp_runs
    plain, anon = emulations.ports["ftp"], emulations.ports["ftp_anon"]
    # without the opt-in: the greeting ran (FEAT) but no login was ever attempted, and nothing is claimed
    assert "FEAT" in " ".join(commands_without)
    assert not any(c.endswith((" USER", " PASS")) for c in commands_without), commands_without
    assert "ftp_anonymous" not in without[plain].probes and "opt_in" not in without[anon].probes
    # with it: both outcomes, and never a listing, a transfer or a directory change
    assert with_opt_in[anon].probes["ftp_anonymous"] == "allowed"
    assert with_opt_in[plain].probes["ftp_anonymous"] == "refused"
    assert with_opt_in[plain].probes["opt_in"] == "ftp_anonymous"
    assert {"ftp USER", "ftp PASS", "ftp_anon USER", "ftp_anon PASS"} <= set(commands_with)
    verbs = {c.split(" ")[1] for c in commands_with}
    assert verbs <= {"FEAT", "USER", "PASS", "QUIT"}, verbs


def test_opt_in_probe_keys_match_the_checks() -> None:
    import inspect

    from cyberscan.checks.services import ProbeKey

    source = inspect.getsource(ports)
    for key in (ProbeKey.FTP_ANONYMOUS, ProbeKey.SNMP_SYSDESCR, ProbeKey.SSH_AUTH_METHODS, ProbeKey.OPT_IN):
        assert f'"{key}"' in source, key
    assert f'"{ProbeKey.OPT_IN_UNKNOWN}"' in source
    assert set(ports.OPT_IN_PROBES) == {"ftp_anonymous", "snmp_community", "ssh_auth_methods"}
