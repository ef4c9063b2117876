"""SVC checks: table-driven cases over facts built by tests/ports_factories.py (pure, no network)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from check_table import Case, CheckTable

# Helpers of tests/ are imported as top-level modules (as tests/conftest.py arranges); make that
# work when this file is collected without it.
_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import ports_factories as pf  # noqa: E402
from cyberscan.checks import services  # noqa: E402

from cyberscan.collectors.ports_facts import HostPorts  # noqa: E402
from cyberscan.models import ErrorKind, Severity, Status  # noqa: E402
from cyberscan.plugin import Check, FactBag  # noqa: E402

TABLE = CheckTable(
    "services", pf.TARGET, lambda facts: pf.facts(facts) if isinstance(facts, HostPorts) else facts
)
META, TARGET, CASES = TABLE.meta, TABLE.target, TABLE.by_check
cases, case, run, verify = TABLE.cases, TABLE.case, TABLE.run, TABLE.verify
A = pf.ADDRESS
TEST_CATALOGUE = Path(_TESTS_DIR) / "data" / "edge_vulns_test.json"
UDP_ONLY = [c for c in services.CHECKS if getattr(c, "udp_only", False)]


# --------------------------------------------------------------------------------------------------
# Harness


def on(*svcs: Any, **kw: Any) -> HostPorts:
    """The clean host plus `svcs`."""
    return pf.host(*svcs, **kw)


def contains(text: str) -> Callable[[Any], bool]:
    return lambda value: text in str(value)


def _absent(value: Any) -> bool:
    """The evidence has no such key (check_table hands over its bare `object()` sentinel)."""
    return type(value) is object


# --------------------------------------------------------------------------------------------------
# Rules shared by every check


def test_every_check_has_metadata_and_every_table_a_check() -> None:
    assert {c.id for c in services.CHECKS} == set(META)
    assert len(services.CHECKS) == 18


def test_references_cite_only_rfc_urls() -> None:
    for meta in META.values():
        for ref in meta.references:
            if ref.url is not None:
                assert re.fullmatch(r"https://www\.rfc-editor\.org/rfc/rfc\d+", ref.url), ref.url


def test_kinds_parameters_parse() -> None:
    for meta in META.values():
        for raw in meta.params.get("kinds", []):
            kind = services._Kind.parse(raw)
            assert kind.tcp or kind.udp or kind.services or kind.patterns is not None, raw


@pytest.mark.parametrize("check", services.CHECKS, ids=lambda c: c.id)
def test_clean_host_with_443_and_25_passes(check: type[Check]) -> None:
    found = run(check, pf.facts())
    assert [(f.status, f.message_id, f.resource) for f in found] == [(Status.PASS, "none", A)]


@pytest.mark.parametrize("check", services.CHECKS, ids=lambda c: c.id)
def test_nothing_in_scope_is_not_tested(check: type[Check]) -> None:
    (finding,) = run(check, pf.empty(not_probed=("mairie-exemple.fr 198.51.100.7",)))
    assert (finding.status, finding.message_id) == (Status.NOT_TESTED, "no_scope")
    assert finding.evidence["not_probed"] == ["mairie-exemple.fr 198.51.100.7"]
    assert finding.resource == TARGET.name


@pytest.mark.parametrize("check", services.CHECKS, ids=lambda c: c.id)
def test_no_address_at_all_is_not_applicable(check: type[Check]) -> None:
    (finding,) = run(check, pf.empty())
    assert (finding.status, finding.message_id) == (Status.NOT_APPLICABLE, "no_host")


@pytest.mark.parametrize("check", services.CHECKS, ids=lambda c: c.id)
@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("timeout", ErrorKind.TIMEOUT),
        ("deadline", ErrorKind.DEADLINE),
        ("unreachable", ErrorKind.UNREACHABLE),
        ("tool_missing", ErrorKind.TOOL_MISSING),
        ("permission", ErrorKind.PERMISSION),
        ("weird", ErrorKind.UNREACHABLE),
    ],
)
def test_host_that_could_not_be_scanned_is_an_error(check: type[Check], raw: str, kind: ErrorKind) -> None:
    dead = pf.host(clean=False, address=pf.OTHER, error_kind=raw, error="nmap said no")
    found = run(check, pf.facts(pf.host(), dead))
    statuses = {f.resource: f for f in found}
    assert statuses[A].status is Status.PASS
    error = statuses[pf.OTHER]
    assert error.status is Status.ERROR and error.error is not None
    assert error.error.kind is kind
    assert "nmap said no" in error.params["detail"]


@pytest.mark.parametrize("check", UDP_ONLY, ids=lambda c: c.id)
def test_udp_only_checks_are_not_tested_without_udp_scan(check: type[Check]) -> None:
    (finding,) = run(check, pf.facts(udp=False))
    assert (finding.status, finding.message_id) == (Status.NOT_TESTED, "udp_off")
    assert finding.evidence["udp_ports"] == ""


def test_mixed_checks_say_udp_was_not_scanned() -> None:
    (finding,) = run(services.SmbNetbios, pf.facts(udp=False))
    assert finding.status is Status.PASS and finding.evidence["udp_scanned"] is False


def test_evidence_names_the_service_and_bounds_the_banner() -> None:
    rdp = pf.svc(3389, "ms-wbt-server", product="Microsoft Terminal Services", banner="x" * 1000)
    (finding,) = run(services.RdpExposed, pf.facts(on(rdp, names=("srv.mairie-exemple.fr",))))
    ev = finding.evidence
    assert finding.resource == f"{A}:3389/tcp"
    assert ev["address"] == A and ev["port"] == "3389/tcp" and ev["service"] == "ms-wbt-server"
    assert ev["product"] == "Microsoft Terminal Services"
    assert ev["names"] == ["srv.mairie-exemple.fr"]
    assert len(ev["banner"]) <= 200


def test_ipv6_resource_is_bracketed() -> None:
    v6 = pf.host(pf.svc(23, "telnet"), address="2001:db8::5")
    (finding,) = run(services.Telnet, pf.facts(v6))
    assert finding.resource == "[2001:db8::5]:23/tcp"


def test_one_finding_per_matching_service_and_a_pass_for_clean_hosts() -> None:
    dirty = on(pf.svc(3306, "mysql", product="MySQL"), pf.svc(6379, "redis", product="Redis key-value store"))
    clean = pf.host(address=pf.OTHER)
    found = run(services.DbExposed, pf.facts(dirty, clean))
    assert sorted((f.resource, f.status.value) for f in found) == [
        (f"{A}:3306/tcp", "fail"),
        (f"{A}:6379/tcp", "fail"),
        (pf.OTHER, "pass"),
    ]


def test_checks_are_deterministic() -> None:
    facts = pf.facts(on(pf.svc(3389, "ms-wbt-server"), pf.svc(22, "ssh", product="OpenSSH", version="9.6p1")))
    for check in services.CHECKS:
        assert run(check, facts) == run(check, facts)


def test_probe_keys_are_in_one_place() -> None:
    keys = services.ProbeKey.ALL
    assert len(keys) == len(set(keys))
    for key in ("ftp_feat", "redis_ping", "rdp_negotiation", "http_title", "ssh_kex", "ssh_hostkeys"):
        assert key in keys
    for key in ("ssh_ciphers", "ssh_macs", "vnc_security_types", "smb_dialects", "docker_version"):
        assert key in keys


def test_user_severity_wins_over_branch_severity() -> None:
    meta = META["SVC-FTP"]
    check = services.Ftp(meta, dict(meta.params), TARGET, severity_forced=True)
    (finding,) = check.evaluate(FactBag([pf.facts(on(pf.svc(21, "ftp")))]))
    assert finding.status is Status.WARN and finding.severity is Severity.HIGH


# --------------------------------------------------------------------------------------------------
# Remote access and Windows services

RDP = cases(
    services.RdpExposed,
    case(
        "3389",
        on(pf.svc(3389, "ms-wbt-server", product="Microsoft Terminal Services")),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
        resource=f"{A}:3389/tcp",
    ),
    case("remapped-33890", on(pf.svc(33890, "ms-wbt-server")), Status.FAIL, "exposed", port="33890/tcp"),
    case("remapped-table-guess", on(pf.svc(3388, "", method="table")), Status.FAIL, "exposed"),
    case("xrdp-product", on(pf.svc(3390, "unknown", product="xrdp")), Status.FAIL, "exposed"),
    case(
        "no-nla",
        on(pf.svc(3389, "ms-wbt-server", probes={"rdp_negotiation": "PROTOCOL_SSL"})),
        Status.FAIL,
        "exposed_no_nla",
        nla_required=False,
    ),
    case(
        "nla",
        on(pf.svc(3389, "ms-wbt-server", probes={"rdp_negotiation": "PROTOCOL_HYBRID"})),
        Status.FAIL,
        "exposed",
        nla_required=True,
    ),
    case(
        "nla-required-by-server",
        on(pf.svc(3389, "ms-wbt-server", probes={"rdp_negotiation": "HYBRID_REQUIRED_BY_SERVER"})),
        Status.FAIL,
        "exposed",
        nla_required=True,
    ),
    case(
        "ssl-and-hybrid-accepted",
        on(pf.svc(3389, "ms-wbt-server", probes={"rdp_negotiation": "PROTOCOL_SSL,PROTOCOL_HYBRID"})),
        Status.FAIL,
        "exposed_no_nla",
    ),
    case(
        "nla-text",
        on(pf.svc(3389, "ms-wbt-server", probes={"rdp_negotiation": "NLA required"})),
        Status.FAIL,
        "exposed",
        nla_required=True,
    ),
    case(
        "no-nla-text",
        on(pf.svc(3389, "ms-wbt-server", probes={"rdp_negotiation": "NLA not required"})),
        Status.FAIL,
        "exposed_no_nla",
    ),
    case("http-on-3389-is-not-rdp", on(pf.svc(3389, "http", product="Apache httpd")), Status.PASS, "none"),
)


@pytest.mark.parametrize("row", RDP)
def test_rdp(row: Case) -> None:
    verify(services.RdpExposed, row)


SMB = cases(
    services.SmbNetbios,
    case("445", on(pf.svc(445, "microsoft-ds")), Status.FAIL, "exposed", kind="smb"),
    case("139", on(pf.svc(139, "netbios-ssn")), Status.FAIL, "exposed", kind="netbios"),
    case(
        "135", on(pf.svc(135, "msrpc", product="Microsoft Windows RPC")), Status.FAIL, "exposed", kind="msrpc"
    ),
    case("137-udp", on(pf.udp(137, "netbios-ns")), Status.FAIL, "exposed", resource=f"{A}:137/udp"),
    case(
        "138-udp-silent",
        on(pf.udp(138, "netbios-dgm", state="open|filtered", method="table")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
    case(
        "smbv1",
        on(pf.svc(445, "microsoft-ds", probes={"smb_dialects": "NT LM 0.12,2.0.2,2.1"})),
        Status.FAIL,
        "exposed_smbv1",
        smbv1=True,
    ),
    case(
        "smb3-only",
        on(pf.svc(445, "microsoft-ds", probes={"smb_dialects": "2.0.2,2.1,3.0,3.0.2,3.1.1"})),
        Status.FAIL,
        "exposed",
        smbv1=False,
    ),
)


@pytest.mark.parametrize("row", SMB)
def test_smb(row: Case) -> None:
    verify(services.SmbNetbios, row)


AD = cases(
    services.AdExposed,
    case("kerberos", on(pf.svc(88, "kerberos-sec")), Status.FAIL, "exposed", kind="kerberos"),
    case(
        "ldap",
        on(pf.svc(389, "ldap", product="Microsoft Windows Active Directory LDAP")),
        Status.FAIL,
        "exposed",
        kind="ldap",
    ),
    case("gc", on(pf.svc(3268, "ldap")), Status.FAIL, "exposed", kind="global_catalog"),
    case(
        "winrm-http",
        on(pf.svc(5985, "http", product="Microsoft HTTPAPI httpd", version="2.0")),
        Status.FAIL,
        "exposed",
        kind="winrm",
    ),
    case(
        "adws",
        on(pf.svc(9389, "mc-nmf", product=".NET Message Framing")),
        Status.FAIL,
        "exposed",
        kind="adws",
    ),
    case(
        "kerberos-udp-silent",
        on(pf.udp(88, "kerberos-sec", state="open|filtered")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
)


@pytest.mark.parametrize("row", AD)
def test_ad(row: Case) -> None:
    verify(services.AdExposed, row)


VNC = cases(
    services.VncRemote,
    case("vnc", on(pf.svc(5900, "vnc", product="RealVNC Enterprise", version="5.3")), Status.FAIL, "exposed"),
    case("vnc-5906", on(pf.svc(5906, "", method="table")), Status.FAIL, "exposed"),
    case("x11", on(pf.svc(6000, "X11")), Status.FAIL, "exposed", kind="x11"),
    case("radmin", on(pf.svc(4899, "radmin")), Status.FAIL, "exposed", kind="radmin"),
    case(
        "no-auth",
        on(pf.svc(5901, "vnc", probes={"vnc_security_types": "None"})),
        Status.FAIL,
        "no_auth",
        no_authentication=True,
        severity=Severity.CRITICAL,
    ),
    case(
        "password",
        on(pf.svc(5901, "vnc", probes={"vnc_security_types": "VNC Authentication"})),
        Status.FAIL,
        "exposed",
        no_authentication=False,
    ),
)


@pytest.mark.parametrize("row", VNC)
def test_vnc(row: Case) -> None:
    verify(services.VncRemote, row)


TELNET = cases(
    services.Telnet,
    case(
        "23",
        on(pf.svc(23, "telnet", product="BusyBox telnetd")),
        Status.FAIL,
        "exposed",
        severity=Severity.HIGH,
    ),
    case("2323-guess", on(pf.svc(2323, "3d-nfsd", method="table")), Status.FAIL, "exposed"),
    case("telnet-elsewhere", on(pf.svc(8023, "telnet")), Status.FAIL, "exposed"),
)


@pytest.mark.parametrize("row", TELNET)
def test_telnet(row: Case) -> None:
    verify(services.Telnet, row)


FTP = cases(
    services.Ftp,
    case(
        "cleartext",
        on(pf.svc(21, "ftp", product="vsftpd", probes={"ftp_feat": "EPRT\nPASV\nUTF8"})),
        Status.FAIL,
        "cleartext",
        severity=Severity.HIGH,
    ),
    case(
        "auth-tls",
        on(pf.svc(21, "ftp", product="ProFTPD", probes={"ftp_feat": "AUTH TLS\nPBSZ\nPROT\nUTF8"})),
        Status.WARN,
        "auth_tls",
        severity=Severity.MEDIUM,
    ),
    case("feat-unknown", on(pf.svc(21, "ftp")), Status.WARN, "feat_unknown", severity=Severity.MEDIUM),
    case(
        "implicit", on(pf.svc(990, "ftp", tunnel="ssl")), Status.WARN, "implicit_tls", severity=Severity.LOW
    ),
    case(
        "anonymous-noted",
        on(pf.svc(2121, "ftp", probes={"ftp_feat": " AUTH SSL"})),
        Status.WARN,
        "auth_tls",
        anonymous_login=contains("not tested"),
        opt_in_not_enabled=["ftp_anonymous"],
    ),
    case(
        "anonymous-allowed",
        on(pf.svc(21, "ftp", probes=pf.opted("ftp_anonymous", ftp_feat="AUTH TLS", ftp_anonymous="allowed"))),
        Status.FAIL,
        "anonymous",
        severity=Severity.HIGH,
        anonymous_login="allowed",
        opt_in_not_enabled=_absent,
    ),
    case(
        "anonymous-refused",
        on(pf.svc(21, "ftp", probes=pf.opted("ftp_anonymous", ftp_feat="AUTH TLS", ftp_anonymous="refused"))),
        Status.WARN,
        "auth_tls",
        anonymous_login="refused",
        opt_in_not_enabled=_absent,
    ),
    case(
        "anonymous-no-answer",
        on(pf.svc(21, "ftp", probes=pf.opted("ftp_anonymous", ftp_feat="EPSV"))),
        Status.FAIL,
        "cleartext",
        anonymous_login="not tested",
    ),
    case(
        "unknown-opt-in-name",
        on(pf.svc(21, "ftp", probes={"ftp_feat": "EPSV", "opt_in_unknown": "ftp_anon"})),
        Status.FAIL,
        "cleartext",
        opt_in_unknown=["ftp_anon"],
        opt_in_not_enabled=["ftp_anonymous"],
    ),
)


@pytest.mark.parametrize("row", FTP)
def test_ftp(row: Case) -> None:
    verify(services.Ftp, row)


_STRONG_SSH = {
    "ssh_kex": "curve25519-sha256,ecdh-sha2-nistp256",
    "ssh_hostkeys": "ssh-ed25519 256,ssh-rsa 3072",
    "ssh_ciphers": "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr",
    "ssh_macs": "hmac-sha2-256-etm@openssh.com",
    "ssh_auth_methods": "publickey",
}


def _ssh(**probes: str) -> HostPorts:
    return on(pf.svc(22, "ssh", product="OpenSSH", version="9.6p1", probes={**_STRONG_SSH, **probes}))


SSH = cases(
    services.Ssh,
    case("strong", _ssh(), Status.INFO, "exposed", severity=Severity.INFO, not_observed=[]),
    case(
        "no-probes",
        on(pf.svc(2222, "ssh", product="OpenSSH", version="9.6p1")),
        Status.INFO,
        "exposed",
        not_observed=contains("ssh_kex"),
    ),
    case(
        "ssh1",
        on(pf.svc(22, "ssh", banner="SSH-1.5-Cisco-1.25")),
        Status.FAIL,
        "ssh1",
        severity=Severity.MEDIUM,
    ),
    case("ssh-1.99-is-v2", on(pf.svc(22, "ssh", banner="SSH-1.99-OpenSSH_3.9p1")), Status.INFO, "exposed"),
    case(
        "weak-kex",
        _ssh(ssh_kex="diffie-hellman-group1-sha1,curve25519-sha256"),
        Status.WARN,
        "weak",
        weaknesses="diffie-hellman-group1-sha1",
    ),
    case("dss", _ssh(ssh_hostkeys="ssh-dss 1024,ssh-ed25519 256"), Status.WARN, "weak", weaknesses="ssh-dss"),
    case("rsa-1024", _ssh(ssh_hostkeys="ssh-rsa 1024"), Status.WARN, "weak", weaknesses="RSA 1024 bits"),
    case("cbc", _ssh(ssh_ciphers="aes128-ctr,aes256-cbc"), Status.WARN, "weak", weaknesses="aes256-cbc"),
    case("md5-mac", _ssh(ssh_macs="hmac-sha2-256,hmac-md5"), Status.WARN, "weak", weaknesses="hmac-md5"),
    case(
        "password",
        _ssh(ssh_auth_methods="publickey,password"),
        Status.WARN,
        "weak",
        weaknesses="password authentication",
        opt_in_not_enabled=["ssh_auth_methods"],
    ),
    case(
        "password-opted-in",
        _ssh(ssh_auth_methods="publickey,password", opt_in="ssh_auth_methods"),
        Status.WARN,
        "weak",
        weaknesses="password authentication",
        ssh_auth_methods="publickey,password",
        opt_in_not_enabled=_absent,
    ),
    case(
        "publickey-only-opted-in",
        _ssh(opt_in="ftp_anonymous,ssh_auth_methods"),
        Status.INFO,
        "exposed",
        opt_in_not_enabled=_absent,
    ),
    case("ssh-on-other-port", on(pf.svc(2200, "ssh", product="OpenSSH")), Status.INFO, "exposed"),
)


@pytest.mark.parametrize("row", SSH)
def test_ssh(row: Case) -> None:
    verify(services.Ssh, row)


# --------------------------------------------------------------------------------------------------
# Data, management planes, edge devices

DB = cases(
    services.DbExposed,
    case(
        "mysql",
        on(pf.svc(3306, "mysql", product="MySQL", version="8.0.36")),
        Status.FAIL,
        "exposed",
        kind="mysql",
        severity=Severity.CRITICAL,
    ),
    case(
        "postgres-moved",
        on(pf.svc(15432, "postgresql", product="PostgreSQL DB")),
        Status.FAIL,
        "exposed",
        kind="postgresql",
    ),
    case("mssql-udp", on(pf.udp(1434, "ms-sql-m")), Status.FAIL, "exposed", kind="mssql"),
    case("mongo-27019-guess", on(pf.svc(27019, "", method="table")), Status.FAIL, "exposed", kind="mongodb"),
    case(
        "elastic-http",
        on(pf.svc(9200, "http", product="Elasticsearch REST API", version="7.10.2")),
        Status.FAIL,
        "exposed",
        kind="elasticsearch",
    ),
    case(
        "redis-noauth",
        on(pf.svc(6379, "redis", probes={"redis_ping": "-NOAUTH Authentication required."})),
        Status.FAIL,
        "exposed",
        redis_ping=contains("NOAUTH"),
    ),
    case(
        "redis-open",
        on(pf.svc(6379, "redis", probes={"redis_ping": "+PONG"})),
        Status.FAIL,
        "unauthenticated",
        authentication=False,
    ),
    case(
        "mssql-udp-silent",
        on(pf.udp(1434, "ms-sql-m", state="open|filtered")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
    case("http-on-3306-is-not-mysql", on(pf.svc(3306, "http", product="nginx")), Status.PASS, "none"),
)


@pytest.mark.parametrize("row", DB)
def test_db(row: Case) -> None:
    verify(services.DbExposed, row)


ADMIN = cases(
    services.AdminInterfaces,
    case(
        "esxi-902",
        on(pf.svc(902, "vmware-auth", product="VMware Authentication Daemon")),
        Status.FAIL,
        "exposed",
        kind="vmware",
        severity=Severity.CRITICAL,
    ),
    case(
        "proxmox",
        on(pf.svc(8006, "https", tunnel="ssl", product="pve-api-daemon")),
        Status.FAIL,
        "exposed",
        kind="proxmox",
        severity=Severity.CRITICAL,
    ),
    case(
        "idrac-title",
        on(pf.svc(8443, "https", probes={"http_title": "Integrated Dell Remote Access Controller 9"})),
        Status.FAIL,
        "exposed",
        kind="bmc",
        severity=Severity.CRITICAL,
    ),
    case("ipmi-udp", on(pf.udp(623, "asf-rmcp")), Status.FAIL, "exposed", kind="bmc"),
    case(
        "synology",
        on(pf.svc(5001, "https", product="nginx", probes={"http_title": "Synology DiskStation"})),
        Status.FAIL,
        "exposed",
        kind="nas",
        severity=Severity.CRITICAL,
    ),
    case(
        "webmin",
        on(pf.svc(10000, "http", product="MiniServ", version="1.973")),
        Status.FAIL,
        "exposed",
        kind="webmin",
        severity=Severity.HIGH,
    ),
    case(
        "plesk",
        on(pf.svc(8443, "https", probes={"http_title": "Plesk Obsidian 18.0"})),
        Status.FAIL,
        "exposed",
        kind="plesk",
    ),
    case(
        "grafana",
        on(pf.svc(3000, "http", probes={"http_title": "Grafana"})),
        Status.FAIL,
        "exposed",
        kind="grafana",
    ),
    case("plain-web-on-8443", on(pf.svc(8443, "https", product="nginx")), Status.PASS, "none"),
    case("upnp-on-5000", on(pf.svc(5000, "upnp", product="MiniUPnP")), Status.PASS, "none"),
    case(
        "ipmi-silent",
        on(pf.udp(623, "asf-rmcp", state="open|filtered")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
)


@pytest.mark.parametrize("row", ADMIN)
def test_admin(row: Case) -> None:
    verify(services.AdminInterfaces, row)


VPN = cases(
    services.VpnGateway,
    case(
        "fortinet-version",
        on(pf.svc(10443, "https", product="Fortinet FortiGate SSL VPN", version="7.2.5")),
        Status.INFO,
        "inventory",
        version="7.2.5",
        severity=Severity.INFO,
        mfa=contains("provider"),
    ),
    case(
        "globalprotect-title",
        on(pf.svc(4443, "https", probes={"http_title": "GlobalProtect Portal"})),
        Status.WARN,
        "no_version",
        kind="paloalto",
        severity=Severity.MEDIUM,
    ),
    case("ike", on(pf.udp(500, "isakmp")), Status.INFO, "protocol", kind="ike"),
    case(
        "openvpn-udp-silent",
        on(pf.udp(1194, "openvpn", state="open|filtered")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
)


@pytest.mark.parametrize("row", VPN)
def test_vpn(row: Case) -> None:
    verify(services.VpnGateway, row)


def _load_test_catalogue() -> list[Any]:
    data = json.loads(TEST_CATALOGUE.read_text(encoding="utf-8"))
    entries = data["entries"]
    assert isinstance(entries, list)
    return entries


CAT = {"catalogue": _load_test_catalogue(), "catalogue_as_of": "2025-01-01"}

EDGE = cases(
    services.EdgeKnownVuln,
    case(
        "kev",
        on(pf.svc(443, "https", product="ExampleVPN", version="7.1R2")),
        Status.FAIL,
        "kev",
        params=CAT,
        cves="CVE-0000-0001",
        severity=Severity.CRITICAL,
        catalogue_as_of="2025-01-01",
    ),
    case(
        "kev-last-affected",
        on(pf.svc(443, "https", product="ExampleVPN", version="8.1")),
        Status.FAIL,
        "kev",
        params=CAT,
    ),
    case(
        "fixed",
        on(pf.svc(443, "https", product="ExampleVPN", version="7.2R3")),
        Status.PASS,
        "not_affected",
        params=CAT,
        checked=["CVE-0000-0001"],
    ),
    case(
        "after-range",
        on(pf.svc(443, "https", product="ExampleVPN", version="8.2")),
        Status.PASS,
        "not_affected",
        params=CAT,
    ),
    case(
        "not-kev",
        on(pf.svc(7000, "exampled", product="exampled", version="1.2.3")),
        Status.FAIL,
        "known_vuln",
        params=CAT,
        cves="CVE-0000-0002",
        severity=Severity.HIGH,
    ),
    case(
        "no-version",
        on(pf.svc(443, "https", product="ExampleVPN")),
        Status.WARN,
        "low_confidence",
        params=CAT,
        severity=Severity.MEDIUM,
        candidates=["CVE-0000-0001"],
    ),
    case(
        "table-guess",
        on(pf.svc(443, "https", product="ExampleVPN", version="7.1", method="table")),
        Status.WARN,
        "low_confidence",
        params=CAT,
    ),
    case(
        "distro-build",
        on(pf.svc(7000, "exampled", product="exampled", version="1.2.3 Debian 2+deb12u1")),
        Status.WARN,
        "distro_build",
        params=CAT,
        cves="CVE-0000-0002",
    ),
    case(
        "packaged-regresshion-distro",
        on(pf.svc(22, "ssh", product="OpenSSH", version="8.9p1 Ubuntu 3ubuntu0.6", extrainfo="Ubuntu Linux")),
        Status.WARN,
        "distro_build",
        cves="CVE-2024-6387",
    ),
    case(
        "packaged-apache-kev",
        on(pf.svc(80, "http", product="Apache httpd", version="2.4.49", extrainfo="(Unix)")),
        Status.FAIL,
        "kev",
        cves=contains("CVE-2021-41773"),
    ),
    case(
        "packaged-vsftpd",
        on(pf.svc(21, "ftp", product="vsftpd", version="2.3.4")),
        Status.FAIL,
        "known_vuln",
        cves="CVE-2011-2523",
    ),
)


@pytest.mark.parametrize("row", EDGE)
def test_edge_known_vuln(row: Case) -> None:
    verify(services.EdgeKnownVuln, row)


def test_edge_invalid_catalogue_is_an_error() -> None:
    (finding,) = run(services.EdgeKnownVuln, pf.facts(), {"catalogue": [{"id": "CVE-1"}]})
    assert finding.status is Status.ERROR and "catalogue" in finding.params["detail"]


def test_packaged_catalogue_validates_and_is_honest() -> None:
    raw = json.loads(
        resources.files("cyberscan").joinpath("data/edge_vulns.json").read_text(encoding="utf-8")
    )
    catalogue = services.PACKAGED_CATALOGUE
    assert catalogue.as_of and catalogue.entries
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", catalogue.as_of)
    for entry in catalogue.entries:
        assert re.fullmatch(r"CVE-\d{4}-\d{4,}", entry.id)
        assert entry.source and re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry.published)
    allowed = {
        "id",
        "vendor",
        "title",
        "product_pattern",
        "versions",
        "version_pattern",
        "kev",
        "severity",
        "source",
        "published",
    }
    assert len(raw["entries"]) == len(catalogue.entries)
    for entry in raw["entries"]:
        assert set(entry) <= allowed, entry["id"]


def test_test_catalogue_validates() -> None:
    catalogue = services.parse_catalogue(json.loads(TEST_CATALOGUE.read_text(encoding="utf-8")))
    assert [e.id for e in catalogue.entries] == ["CVE-0000-0001", "CVE-0000-0002"]


@pytest.mark.parametrize(
    "bad",
    [
        {"entries": "x"},
        [{"id": "CVE-1", "product_pattern": "x", "source": "s", "kev": "yes", "version_pattern": "1"}],
        [{"id": "CVE-1", "product_pattern": "x", "source": "s", "kev": True}],
        [{"id": "CVE-1", "product_pattern": "(", "source": "s", "kev": True, "version_pattern": "1"}],
        [{"id": "CVE-1", "product_pattern": "x", "source": "s", "kev": True, "versions": [{"from": "1"}]}],
    ],
)
def test_malformed_catalogues_are_rejected(bad: Any) -> None:
    with pytest.raises(services.CatalogueError):
        services.parse_catalogue(bad)


@pytest.mark.parametrize(
    ("version", "affected"),
    [("8.4p1", False), ("8.5p1", True), ("9.7p1", True), ("9.8p1", False), ("4.3p2", True), ("4.4p1", False)],
)
def test_regresshion_range(version: str, affected: bool) -> None:
    entry = next(e for e in services.PACKAGED_CATALOGUE.entries if e.id == "CVE-2024-6387")
    assert entry.affects(version) is affected


def test_version_key_orders_vendor_versions() -> None:
    key = services.version_key
    assert key("8.5") < key("8.5p1") < key("8.6") < key("10.0")
    assert key("9.0R3") < key("9.0R3.4") < key("9.1R1")
    assert key("2.4.9") < key("2.4.49")


EOL = cases(
    services.EolSoftware,
    case(
        "iis-7.5",
        on(pf.svc(80, "http", product="Microsoft IIS httpd", version="7.5")),
        Status.FAIL,
        "eol",
        software=contains("IIS 6.0-7.5"),
        severity=Severity.HIGH,
    ),
    case(
        "apache-2.2",
        on(pf.svc(80, "http", product="Apache httpd", version="2.2.15", extrainfo="(CentOS)")),
        Status.FAIL,
        "eol",
        software=contains("2.2.15"),
    ),
    case(
        "php-7",
        on(pf.svc(80, "http", product="Apache httpd", version="2.4.41", extrainfo="(Ubuntu) PHP/7.4.3")),
        Status.FAIL,
        "eol",
        software=contains("PHP < 8.2 (7.4.3)"),
    ),
    case(
        "php-8.2",
        on(pf.svc(80, "http", product="Apache httpd", version="2.4.62", extrainfo="PHP/8.2.20")),
        Status.WARN,
        "outdated",
        severity=Severity.MEDIUM,
    ),
    case(
        "php-8.3",
        on(pf.svc(80, "http", product="Apache httpd", version="2.4.62", extrainfo="PHP/8.3.9")),
        Status.PASS,
        "none",
    ),
    case(
        "windows-2008-smb",
        on(pf.svc(445, "microsoft-ds", product="Microsoft Windows Server 2008 R2 microsoft-ds")),
        Status.FAIL,
        "eol",
        software=contains("Windows Server 2008"),
    ),
    case(
        "exchange-2013",
        on(pf.svc(587, "smtp", product="Microsoft Exchange smtpd", version="15.0.1497.2")),
        Status.FAIL,
        "eol",
        software=contains("Exchange 2013"),
    ),
    case(
        "old-openssh",
        on(pf.svc(22, "ssh", product="OpenSSH", version="5.3", banner="SSH-2.0-OpenSSH_5.3")),
        Status.FAIL,
        "eol",
        software=contains("OpenSSH < 7.4"),
    ),
    case("recent-openssh", on(pf.svc(22, "ssh", product="OpenSSH", version="9.6p1")), Status.PASS, "none"),
    case(
        "openssl-1.0",
        on(
            pf.svc(
                8080,
                "http",
                product="Apache httpd",
                version="2.4.6",
                extrainfo="(CentOS) OpenSSL/1.0.2k-fips",
            )
        ),
        Status.FAIL,
        "eol",
        software=contains("1.0.2k"),
    ),
)


@pytest.mark.parametrize("row", EOL)
def test_eol(row: Case) -> None:
    verify(services.EolSoftware, row)


# --------------------------------------------------------------------------------------------------
# UDP, IoT, industrial, infrastructure

SNMP = cases(
    services.Snmp,
    case(
        "reachable",
        on(pf.udp(161, "snmp", product="SNMPv3 server")),
        Status.WARN,
        "reachable",
        severity=Severity.MEDIUM,
        community_test=contains("not run"),
        opt_in_not_enabled=["snmp_community"],
    ),
    case(
        "default-community",
        on(
            pf.udp(
                161, "snmp", probes=pf.opted("snmp_community", snmp_sysdescr="Linux nas 5.10 " + "x" * 300)
            )
        ),
        Status.FAIL,
        "default_community",
        severity=Severity.HIGH,
        sysdescr=lambda v: v.startswith("Linux nas 5.10") and len(v) <= 200,
        opt_in_not_enabled=_absent,
    ),
    case(
        "community-refused",
        on(pf.udp(161, "snmp", probes=pf.opted("snmp_community"))),
        Status.WARN,
        "community_refused",
        severity=Severity.MEDIUM,
        community_test=contains("no answer"),
        opt_in_not_enabled=_absent,
    ),
    case(
        "silent",
        on(pf.udp(161, "snmp", state="open|filtered", method="table")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
    case("udp-off", pf.facts(on(), udp=False), Status.NOT_TESTED, "udp_off"),
    case("tcp-161-ignored", on(pf.svc(161, "http")), Status.PASS, "none"),
)


@pytest.mark.parametrize("row", SNMP)
def test_snmp(row: Case) -> None:
    verify(services.Snmp, row)


IOT = cases(
    services.IotVideo,
    case(
        "rtsp",
        on(pf.svc(554, "rtsp", product="Hikvision IP camera rtspd")),
        Status.FAIL,
        "exposed",
        kind="rtsp",
        severity=Severity.HIGH,
    ),
    case("hikvision-8000", on(pf.svc(8000, "", method="table")), Status.FAIL, "exposed", kind="hikvision"),
    case("dev-server-8000", on(pf.svc(8000, "http", product="WSGIServer")), Status.PASS, "none"),
    case(
        "nvr-title",
        on(pf.svc(8080, "http", probes={"http_title": "NVR Login"})),
        Status.FAIL,
        "exposed",
        kind="camera_web",
    ),
    case(
        "printer",
        on(pf.svc(9100, "jetdirect")),
        Status.WARN,
        "exposed",
        kind="printer",
        severity=Severity.MEDIUM,
    ),
    case(
        "ipp", on(pf.svc(631, "ipp", product="CUPS", version="2.4")), Status.WARN, "exposed", kind="printer"
    ),
)


@pytest.mark.parametrize("row", IOT)
def test_iot(row: Case) -> None:
    verify(services.IotVideo, row)


ICS = cases(
    services.IcsBms,
    case(
        "modbus", on(pf.svc(502, "mbap")), Status.FAIL, "exposed", kind="modbus", severity=Severity.CRITICAL
    ),
    case("s7", on(pf.svc(102, "iso-tsap", product="Siemens S7 PLC")), Status.FAIL, "exposed", kind="s7"),
    case("bacnet", on(pf.udp(47808, "bacnet")), Status.FAIL, "exposed", kind="bacnet"),
    case("knx-silent", on(pf.udp(3671, "efcp", state="open|filtered")), Status.NOT_TESTED, "udp_unconfirmed"),
    case("fox", on(pf.svc(1911, "niagara-fox")), Status.FAIL, "exposed", kind="niagara"),
    case("mqtt", on(pf.svc(1883, "mqtt")), Status.FAIL, "exposed", kind="mqtt"),
    case("usermin-on-20000", on(pf.svc(20000, "http", product="MiniServ")), Status.PASS, "none"),
)


@pytest.mark.parametrize("row", ICS)
def test_ics(row: Case) -> None:
    verify(services.IcsBms, row)


AMP = cases(
    services.Amplifiers,
    case(
        "ntp-answers-unmeasured",
        on(pf.udp(123, "ntp", product="NTP", version="v4")),
        Status.WARN,
        "answers",
        kind="ntp",
        amplification=contains("not measured"),
    ),
    case(
        "ntp-monlist", on(pf.udp(123, "ntp", probes={"ntp_monlist": "600 entries"})), Status.FAIL, "monlist"
    ),
    case(
        "ssdp-measured",
        on(pf.udp(1900, "upnp", probes={"udp_amplification": "request 90 B, response 2900 B"})),
        Status.FAIL,
        "exposed",
        amplification=contains("2900"),
    ),
    case(
        "memcached-silent",
        on(pf.udp(11211, "memcache", state="open|filtered")),
        Status.NOT_TESTED,
        "udp_unconfirmed",
    ),
    case("cldap-tcp-ldap-not-amplifier", on(pf.svc(389, "ldap")), Status.PASS, "none"),
    case("udp-off", pf.facts(on(), udp=False), Status.NOT_TESTED, "udp_off"),
)


@pytest.mark.parametrize("row", AMP)
def test_amplifiers(row: Case) -> None:
    verify(services.Amplifiers, row)


INFRA = cases(
    services.InfraApi,
    case(
        "docker",
        on(pf.svc(2375, "docker", product="Docker", version="24.0.7")),
        Status.FAIL,
        "exposed",
        severity=Severity.CRITICAL,
    ),
    case(
        "docker-unauth",
        on(pf.svc(2375, "http", probes={"docker_version": "24.0.7"})),
        Status.FAIL,
        "unauthenticated",
        docker_version="24.0.7",
    ),
    case("kubelet", on(pf.svc(10250, "ssl", method="probed")), Status.FAIL, "exposed", kind="kubelet"),
    case("nfs", on(pf.svc(2049, "nfs")), Status.FAIL, "exposed", kind="nfs"),
    case("rpcbind", on(pf.svc(111, "rpcbind", version="2-4")), Status.FAIL, "exposed", kind="rpcbind"),
    case(
        "rsync-modules",
        on(pf.svc(873, "rsync", probes={"rsync_modules": "backup, www"})),
        Status.FAIL,
        "unauthenticated",
    ),
    case("tftp-silent", on(pf.udp(69, "tftp", state="open|filtered")), Status.NOT_TESTED, "udp_unconfirmed"),
)


@pytest.mark.parametrize("row", INFRA)
def test_infra(row: Case) -> None:
    verify(services.InfraApi, row)


SURFACE = cases(
    services.PortSurface,
    case("profile", on(pf.svc(80, "http"), pf.svc(53, "domain"), pf.svc(993, "imaps")), Status.PASS, "none"),
    case("no-port", pf.host(clean=False, state="down"), Status.PASS, "none", open_tcp=[]),
    case(
        "one-unexpected",
        on(pf.svc(8080, "http-proxy")),
        Status.WARN,
        "unexpected",
        count=1,
        ports="8080 (http-proxy)",
    ),
    case(
        "two-unexpected", on(pf.svc(8080, "http"), pf.svc(8443, "https")), Status.WARN, "unexpected", count=2
    ),
    case(
        "three",
        on(pf.svc(8080, "http"), pf.svc(8443, "https"), pf.svc(8888, "http")),
        Status.FAIL,
        "too_many",
        count=3,
    ),
    case("one-sensitive", on(pf.svc(3389, "ms-wbt-server")), Status.FAIL, "sensitive", sensitive=[3389]),
    case("moved-sensitive", on(pf.svc(33890, "ms-wbt-server")), Status.FAIL, "sensitive", sensitive=[33890]),
    case("udp-ignored", on(pf.udp(161, "snmp")), Status.PASS, "none"),
)


@pytest.mark.parametrize("row", SURFACE)
def test_port_surface(row: Case) -> None:
    verify(services.PortSurface, row)


# --------------------------------------------------------------------------------------------------
# Coverage of the metadata by the tables above

_ENGINE_MESSAGES = {"error", "out_of_scope"}
# test_nothing_in_scope_is_not_tested, test_no_address_at_all_is_not_applicable, the clean-host test
_COVERED_ELSEWHERE = {"no_scope", "no_host", "none"}


def test_every_declared_message_is_exercised() -> None:
    for check in services.CHECKS:
        declared = set(META[check.id].messages)
        exercised = {p.values[0].message for p in CASES.get(check.id, [])} | _COVERED_ELSEWHERE
        assert declared - exercised == set(), check.id
        assert exercised - declared - _ENGINE_MESSAGES == set(), check.id
