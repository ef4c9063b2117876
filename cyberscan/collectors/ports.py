"""Ports collector: one nmap service scan (python-nmap) of a target's in-scope addresses, plus greetings.

What is sent, per in-scope address (nothing at all to an address outside the declared scope):

1. nmap ``-n -Pn -sS|-sT -sV --version-intensity N -T<timing> --max-rate R --host-timeout S`` on the
   TCP ports §1.4 of the checklist names plus nmap's `top_ports` most frequent ones (UDP, ``-sU``, only
   when the `udp` setting is on), with a few NSE scripts from the ``safe`` + ``discovery`` categories
   that only read what the service announces to any client (`SAFE_SCRIPTS`);
2. our own greeting probes, one short connection each, on what nmap found open: SSH (read the banner
   line, send nothing), FTP (banner, ``FEAT``, ``QUIT``: no USER/PASS unless `ftp_anonymous` is opted
   in), Redis (``PING``: never a data command) and RDP (X.224 Connection Requests asking for
   TLS+CredSSP, then TLS only, to learn whether Network Level Authentication is required). No
   credential is sent (the anonymous FTP login of 3. is the only login ever attempted).
3. only when the user names them in the `opt_in` setting (§3.3: "opt-in only"), and each only where it
   applies: `ftp_anonymous` (in our FTP greeting, ``USER anonymous`` / ``PASS`` of a placeholder
   address, then ``QUIT``: never a listing or a transfer), `ssh_auth_methods` (NSE ssh-auth-methods:
   one "none" authentication request as a random user, no password) and `snmp_community` (NSE
   snmp-sysdescr with the community "public", only when `udp` is on: one GET of sysDescr/sysUpTime).
   Every service then carries ``probes["opt_in"]`` (the opt-in tests this run made) so that the
   checks can tell "not enabled" from "enabled, nothing found".

The pure half — `parse_nmap_xml`, `script_probes`, `port_spec`, the probe parsers — is tested on
recorded XML (tests/data/nmap_*.xml). The I/O half is `PortsCollector._run_nmap` and `greet`.

Time budget. The nmap process gets what is left of the target's deadline (python-nmap kills it after
that), minus `GREETING_RESERVE` seconds kept for the greetings; each host gets at most `host_timeout`
seconds (nmap's own `--host-timeout`). Wall time is dominated by -sV's NULL probe, which waits ~6 s
for services that only answer a client (RDP, SMB, Redis) whatever the number of ports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import ipaddress
import os
import shutil
import socket
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import nmap

from ..bounds import clip
from ..models import ErrorKind
from ..net.guard import NetworkGuard, OutOfScopeError
from ..net.resolver import ResolutionError
from ..plugin import Collector, CollectorContext, CollectorError
from ..scope import ProbeLevel
from ..targets import Target, TargetKind
from .ports_facts import HostPorts, PortFacts, ServiceInfo

#: every TCP port §1.4 names, grouped by check (SVC-PORT-SURFACE's expected profile included)
DEFAULT_TCP_PORTS = ",".join(
    [
        "3388-3390,33890",  # SVC-RDP-EXPOSED
        "135,139,445",  # SVC-SMB-NETBIOS
        "88,389,636,3268,3269,5985,5986,9389",  # SVC-AD-EXPOSED
        "5800,5900-5906,6000,4899",  # SVC-VNC-REMOTE
        "23,2323",  # SVC-TELNET
        "21,990",  # SVC-FTP
        "22,2222",  # SVC-SSH
        "1433,1521,3306,5432,5984,6379,8086,9042,9200,9300,11211,27017-27019",  # SVC-DB-EXPOSED
        "902,2082-2087,3000,5000,5001,5480,5601,8006,8080,8443,10000",  # SVC-ADMIN-INTERFACES
        "443,4433,10443",  # SVC-VPN-GATEWAY (SSL-VPN portals)
        "515,554,631,8000,8554,9100,37777",  # SVC-IOT-VIDEO
        "102,502,1883,1911,4840,4911,8883,20000,44818",  # SVC-ICS-BMS
        "111,873,2049,2375,2376,2379,3260,6443,10250",  # SVC-INFRA-API
        "25,53,80,465,587,993,995",  # SVC-PORT-SURFACE profile
    ]
)
#: the UDP ports §1.4 names (SNMP, NTP, SSDP, IKE, IPMI, NetBIOS, BACnet, KNX, MSSQL browser, CLDAP,
#: memcached, chargen, QOTD, WS-Discovery, Ubiquiti, TFTP)
DEFAULT_UDP_PORTS = "161,123,1900,500,4500,623,137,47808,3671,1434,389,11211,19,17,3702,10001,69"

#: NSE scripts run with -sV. Each is in nmap's "safe" and "discovery" categories (script.db of 7.93),
#: sends no credential and reads only what the service tells any client:
#: ssh2-enum-algos (KEXINIT lists), ssh-hostkey (host key types and sizes from key exchanges),
#: vnc-info (RFB version, offered security types), http-title (GET / title), smb-protocols (dialects
#: offered to negotiate requests: is SMBv1 on?). Deliberately absent: ftp-anon (logs in), *-brute,
#: the vuln/intrusive/auth categories, redis-info and mongodb-info (read server state: our own PING
#: and the -sV match are enough), rdp-enum-encryption (dozens of connections; one negotiation of our
#: own tells whether NLA is required).
SAFE_SCRIPTS = ("ssh2-enum-algos", "ssh-hostkey", "vnc-info", "http-title", "smb-protocols")

#: opt-in tests the user can enable by name (`[collectors.ports] opt_in = [...]`), §3.3
OPT_IN_PROBES = ("ftp_anonymous", "snmp_community", "ssh_auth_methods")
#: the NSE script of each NSE-based opt-in test. Categories (script.db of 7.93): ssh-auth-methods is
#: "auth", "intrusive" (it starts an authentication, which the server may log); snmp-sysdescr is
#: "default", "discovery", "safe" (its dependency on snmp-brute only orders scripts: snmp-brute is
#: never selected, so never run).
OPT_IN_SCRIPTS = {"ssh_auth_methods": "ssh-auth-methods", "snmp_community": "snmp-sysdescr"}
#: the only community string ever tried (the factory default the checklist names)
SNMP_COMMUNITY = "public"
#: the anonymous FTP password: an address of the reserved .invalid TLD, as RFC 1635 customs ask
ANONYMOUS_PASSWORD = "cyberscan@example.invalid"

MAX_TEXT = 300
#: seconds of the deadline kept back for the greeting probes after nmap
GREETING_RESERVE = 10.0
#: greeting probes per target, at most
MAX_GREETINGS = 64
GREETING_TIMEOUT = 5.0
INSTALL_HINT = "nmap is not installed: sudo apt-get install nmap"

RDP_PORTS = frozenset({3388, 3389, 3390, 33890})
_NMAP_DATA_DIRS = ("/usr/share/nmap", "/usr/local/share/nmap", "/opt/homebrew/share/nmap")


# --- settings and port specifications (pure) ----------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    tcp_ports: str
    top_ports: int
    udp_ports: str
    udp: bool
    max_rate: int
    host_timeout: int
    timing: int
    version_intensity: int
    scripts: bool
    greetings: bool
    #: the opt-in tests enabled and applicable (ftp_anonymous needs greetings, snmp_community UDP)
    opt_in: frozenset[str] = frozenset()
    #: names in the `opt_in` setting that are no opt-in test (ignored, reported on every service)
    opt_in_unknown: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> _Settings:
        merged = {**PortsCollector.defaults, **settings}
        raw = merged["opt_in"]
        # A typo must neither run something unexpected nor stop the whole scan: unknown names are
        # ignored and reported ("opt_in_unknown" on every service, shown by the SVC checks).
        names = [str(raw)] if isinstance(raw, str) else [str(n) for n in raw or ()]
        names = [n.strip().lower() for n in names]
        opt_in = {n for n in names if n in OPT_IN_PROBES}
        if not bool(merged["greetings"]):
            opt_in.discard("ftp_anonymous")  # it rides on our own FTP greeting
        if not bool(merged["udp"]):
            opt_in.discard("snmp_community")  # SNMP is UDP 161
        return cls(
            tcp_ports=str(merged["tcp_ports"]),
            top_ports=max(0, int(merged["top_ports"])),
            udp_ports=str(merged["udp_ports"]),
            udp=bool(merged["udp"]),
            max_rate=max(1, int(merged["max_rate"])),
            host_timeout=max(5, int(merged["host_timeout"])),
            timing=min(5, max(0, int(merged["timing"]))),
            version_intensity=min(9, max(0, int(merged["version_intensity"]))),
            scripts=bool(merged["scripts"]),
            greetings=bool(merged["greetings"]),
            opt_in=frozenset(opt_in),
            opt_in_unknown=tuple(dict.fromkeys(n for n in names if n not in OPT_IN_PROBES)),
        )


def parse_ports(spec: str) -> list[int]:
    """Ports of an nmap-style list "21-23,25" (raises ValueError on anything else)."""
    ports: set[int] = set()
    for item in spec.replace(" ", "").split(","):
        if not item:
            continue
        low, _, high = item.partition("-")
        first, last = int(low), int(high or low)
        if not 0 < first <= last < 65536:
            raise ValueError(f"invalid port range {item!r}")
        ports.update(range(first, last + 1))
    return sorted(ports)


def port_spec(ports: Iterable[int]) -> str:
    """The shortest nmap list for `ports`: consecutive ports become ranges."""
    ordered = sorted(set(ports))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def top_ports(services_text: str, count: int, proto: str = "tcp") -> list[int]:
    """The `count` most frequent `proto` ports of an nmap-services file (what --top-ports picks)."""
    ranked: list[tuple[float, int]] = []
    for line in services_text.splitlines():
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        port, _, family = fields[1].partition("/")
        if family != proto or not port.isdigit():
            continue
        try:
            ranked.append((float(fields[2]), int(port)))
        except ValueError:
            continue
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return [p for _, p in ranked[:count]]


def _nmap_services_text(nmap_path: str) -> str:
    real = Path(nmap_path).resolve()
    for directory in (real.parent.parent / "share" / "nmap", *map(Path, _NMAP_DATA_DIRS)):
        candidate = directory / "nmap-services"
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8", errors="replace")
    return ""


def nmap_arguments(settings: _Settings, tcp: str, udp: str, privileged: bool, host_timeout: int) -> str:
    """nmap's arguments, except the targets and python-nmap's own `-oX -`."""
    args = [
        "-n",  # never reverse-resolve: no DNS traffic outside the engine resolver
        "-Pn",  # the scope says the hosts exist; ICMP is often filtered anyway
        "-sS" if privileged else "-sT",  # SYN scan needs root (CAP_NET_RAW); connect scan otherwise
        "-sV",
        "--version-intensity",
        str(settings.version_intensity),
        f"-T{settings.timing}",
        "--max-rate",
        str(settings.max_rate),  # §3.3: ≤ 50 packets/s per target host
        "--max-retries",
        "1",  # §3.3: one retry
        "--host-timeout",
        f"{host_timeout}s",
    ]
    if udp:
        args.append("-sU")
    scripts = list(SAFE_SCRIPTS) if settings.scripts else []
    # opt-in scripts run whenever the user named them, even with `scripts` off: they asked for them
    scripts += [
        OPT_IN_SCRIPTS[name] for name in OPT_IN_PROBES if name in OPT_IN_SCRIPTS and name in settings.opt_in
    ]
    if scripts:
        args += ["--script", ",".join(scripts)]
    if "snmp_community" in settings.opt_in:
        args += ["--script-args", f"snmpcommunity={SNMP_COMMUNITY}"]
    ports = f"T:{tcp}" + (f",U:{udp}" if udp else "")
    return " ".join([*args, "-p", ports])


# --- XML parsing (pure) ---------------------------------------------------------------------------


def _text(value: str | None, limit: int = MAX_TEXT) -> str:
    return clip(" ".join((value or "").split()), limit)


def _elems(table: ET.Element) -> list[str]:
    return [e.text or "" for e in table.findall("elem")]


def script_probes(script: ET.Element) -> dict[str, str]:
    """Greeting-level facts from one NSE <script> element, as bounded strings (see `ServiceInfo.probes`)."""
    sid = script.get("id", "")
    tables = {t.get("key", ""): t for t in script.findall("table")}
    elems = {e.get("key", ""): e.text or "" for e in script.findall("elem")}
    found: dict[str, str] = {}
    if sid == "ssh2-enum-algos":
        for key, name in (
            ("kex_algorithms", "ssh_kex"),
            ("server_host_key_algorithms", "ssh_hostkey_algorithms"),
            ("encryption_algorithms", "ssh_ciphers"),
            ("mac_algorithms", "ssh_macs"),
            ("compression_algorithms", "ssh_compression"),
        ):
            if key in tables:
                found[name] = ",".join(_elems(tables[key]))
    elif sid == "ssh-hostkey":
        keys = []
        for table in script.findall("table"):
            fields = {e.get("key", ""): e.text or "" for e in table.findall("elem")}
            if fields.get("type"):
                keys.append(f"{fields['type']} {fields.get('bits', '?')}")
        if keys:
            found["ssh_hostkeys"] = ",".join(keys)
    elif sid == "vnc-info":
        if "Protocol version" in elems:
            found["vnc_protocol"] = elems["Protocol version"]
        types = tables.get("Security types")
        if types is not None:
            names = []
            for entry in types.findall("table"):
                fields = {e.get("key", ""): e.text or "" for e in entry.findall("elem")}
                names.append(fields.get("name") or fields.get("type", "?"))
            found["vnc_security_types"] = ",".join(names)
    elif sid == "http-title":
        found["http_title"] = elems.get("title") or script.get("output") or ""
    elif sid == "smb-protocols" and "dialects" in tables:
        found["smb_dialects"] = ",".join(_elems(tables["dialects"]))
    elif sid == "ssh-auth-methods":
        methods = tables.get("Supported authentication methods")
        if methods is not None:
            found["ssh_auth_methods"] = ",".join(m.strip() for m in _elems(methods) if m.strip())
        else:  # a plain string: "Failed to connect to ssh server"
            found["ssh_auth_methods_error"] = script.get("output") or "no answer"
    elif sid == "snmp-sysdescr":
        # a plain string: sysDescr, then "  System uptime: …" on a second line; nothing at all when
        # the community was refused (the script returns nil and nmap writes no <script> element)
        lines = [ln.strip() for ln in (script.get("output") or "").splitlines() if ln.strip()]
        if lines:
            found["snmp_sysdescr"] = lines[0]
        uptime = next((ln for ln in lines[1:] if ln.startswith("System uptime:")), None)
        if uptime:
            found["snmp_uptime"] = uptime.removeprefix("System uptime:").strip()
    return {k: _text(v) for k, v in found.items()}


def _service(port: ET.Element) -> ServiceInfo | None:
    state_el = port.find("state")
    state = state_el.get("state", "") if state_el is not None else ""
    if not state.startswith("open"):
        return None
    svc = port.find("service")
    attrs = svc.attrib if svc is not None else {}
    probes: dict[str, str] = {}
    banner: str | None = None
    for script in port.findall("script"):
        probes.update(script_probes(script))
        if script.get("id") == "fingerprint-strings" and banner is None:
            banner = _text(script.get("output"))  # an unrecognised service's answers
    cpes = tuple(_text(c.text) for c in (svc.findall("cpe") if svc is not None else []) if c.text)
    return ServiceInfo(
        port=int(port.get("portid", "0")),
        proto=port.get("protocol", "tcp"),
        state=state,
        service=_text(attrs.get("name")),
        product=_text(attrs["product"]) if attrs.get("product") else None,
        version=_text(attrs["version"]) if attrs.get("version") else None,
        extrainfo=_text(attrs["extrainfo"]) if attrs.get("extrainfo") else None,
        tunnel=attrs.get("tunnel"),
        cpes=cpes,
        method=attrs.get("method", "table"),
        confidence=int(attrs.get("conf", "0") or 0),
        banner=banner or None,
        probes=probes,
    )


def parse_nmap_xml(xml_text: str | bytes) -> list[HostPorts]:
    """Every <host> of nmap's XML output as HostPorts (names are left empty: the caller knows them).

    Raises ValueError when the text is not nmap XML.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"nmap output is not XML: {exc}") from None
    if root.tag != "nmaprun":
        raise ValueError(f"not an nmap run: <{root.tag}>")
    hosts: list[HostPorts] = []
    for host in root.findall("host"):
        address = next(
            (a.get("addr", "") for a in host.findall("address") if a.get("addrtype") in ("ipv4", "ipv6")), ""
        )
        status = host.find("status")
        state = status.get("state", "unknown") if status is not None else "unknown"
        services = []
        ports_el = host.find("ports")
        for port in ports_el.findall("port") if ports_el is not None else []:
            info = _service(port)
            if info is not None:
                services.append(info)
        error_kind = error = None
        if host.get("timedout") == "true":
            error_kind, error = ErrorKind.TIMEOUT.value, "nmap's --host-timeout expired: results are partial"
        hosts.append(
            HostPorts(
                address=address,
                state=state,
                services=tuple(sorted(services, key=lambda s: (s.proto, s.port))),
                error_kind=error_kind,
                error=error,
            )
        )
    return hosts


def nmap_run_info(xml_text: str | bytes) -> tuple[str, str]:
    """(nmap version, command line) from the <nmaprun> element ("" when absent)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return "", ""
    return root.get("version", ""), _text(root.get("args", ""), 2000)


# --- greeting probes --------------------------------------------------------------------------------


def _recv_until(sock: socket.socket, done: Callable[[bytes], bool], limit: int = 4096) -> bytes:
    data = b""
    while len(data) < limit and not done(data):
        chunk = sock.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _ftp_reply_complete(data: bytes) -> bool:
    lines = data.split(b"\r\n")
    return any(len(line) >= 4 and line[:3].isdigit() and line[3:4] == b" " for line in lines[:-1])


def _printable(data: bytes) -> str:
    return _text(data.decode("latin-1"))


def parse_rdp_confirm(data: bytes) -> tuple[str, int | None]:
    """("rsp"|"failure"|"bare"|"invalid", selected protocol or failure code) of an X.224 CC."""
    if len(data) < 11 or data[0] != 3 or data[5] != 0xD0:
        return "invalid", None
    if len(data) >= 19:
        kind, _, _, value = struct.unpack("<BBHI", data[11:19])
        if kind == 2:
            return "rsp", value
        if kind == 3:
            return "failure", value
    return "bare", None


def rdp_request(requested: int) -> bytes:
    """X.224 Connection Request with an RDP_NEG_REQ for `requested` protocols ([MS-RDPBCGR] 2.2.1.1)."""
    cookie = b"Cookie: mstshash=cyberscan\r\n"
    neg = struct.pack("<BBHI", 1, 0, 8, requested)
    x224 = bytes([6 + len(cookie) + len(neg), 0xE0, 0, 0, 0, 0, 0]) + cookie + neg
    return b"\x03\x00" + struct.pack(">H", 4 + len(x224)) + x224


_RDP_PROTOCOLS = {0: "RDP", 1: "SSL", 2: "HYBRID", 8: "HYBRID_EX", 4: "RDSTLS"}


def rdp_verdict(first: tuple[str, int | None], tls_only: tuple[str, int | None] | None) -> dict[str, str]:
    """probes["rdp_protocol"] and probes["rdp_negotiation"] from the two negotiation answers."""
    kind, value = first
    if kind == "rsp":
        protocol = _RDP_PROTOCOLS.get(value or 0, str(value))
        if protocol in ("HYBRID", "HYBRID_EX") and tls_only is not None:
            required = tls_only[0] == "failure" and tls_only[1] == 5  # HYBRID_REQUIRED_BY_SERVER
            verdict = "NLA required" if required else "NLA supported, not required"
        elif protocol in ("HYBRID", "HYBRID_EX"):
            verdict = "NLA supported"
        elif protocol == "SSL":
            verdict = "TLS without NLA"
        else:
            verdict = "standard RDP security (no TLS, no NLA)"
        return {"rdp_protocol": protocol, "rdp_negotiation": verdict}
    if kind == "failure":
        return {"rdp_negotiation": f"negotiation failure code {value}"}
    if kind == "bare":
        return {"rdp_negotiation": "standard RDP security (no TLS, no NLA)", "rdp_protocol": "RDP"}
    return {"rdp_negotiation": "no X.224 answer"}


def _ftp_code(reply: bytes) -> str:
    return reply[:3].decode("latin-1") if reply[:3].isdigit() else ""


def _ftp_anonymous(sock: socket.socket) -> str:
    """The anonymous-login verdict: "allowed" on 230, "refused" on anything else.

    Logs in and nothing more: the caller sends QUIT right after; no LIST, RETR or CWD ever.
    """
    sock.sendall(b"USER anonymous\r\n")
    reply = _recv_until(sock, _ftp_reply_complete)
    if _ftp_code(reply) == "331":
        sock.sendall(f"PASS {ANONYMOUS_PASSWORD}\r\n".encode("ascii"))
        reply = _recv_until(sock, _ftp_reply_complete)
    return "allowed" if _ftp_code(reply) == "230" else "refused"


def greet(
    address: str, service: ServiceInfo, timeout: float, opt_in: frozenset[str] = frozenset()
) -> tuple[str | None, dict[str, str]]:
    """(banner, probes) of our own greeting for `service`, or (None, {}) when we have none for it.

    `opt_in`: the opt-in tests the user enabled (only "ftp_anonymous" concerns a greeting). The caller
    checked that `address` is inside the scope.
    """
    kind = greeting_kind(service)
    if kind is None:
        return None, {}
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def connect() -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect((address, service.port))
        return sock

    try:
        if kind == "ssh":
            with connect() as sock:
                line = _recv_until(sock, lambda d: b"\n" in d, 512).split(b"\n")[0].rstrip(b"\r")
            return _printable(line), {"ssh_banner": _printable(line)}
        if kind == "ftp":
            with connect() as sock:
                banner = _recv_until(sock, _ftp_reply_complete)
                sock.sendall(b"FEAT\r\n")
                feat = _recv_until(sock, _ftp_reply_complete)
                anonymous = _ftp_anonymous(sock) if "ftp_anonymous" in opt_in else None
                sock.sendall(b"QUIT\r\n")
            lines = [ln.strip() for ln in feat.decode("latin-1").splitlines()]
            features = [ln for ln in lines if ln and not ln[:3].isdigit()]
            auth_tls = any(ln.upper().startswith("AUTH") and "TLS" in ln.upper() for ln in features)
            first = banner.split(b"\r\n")[0]
            found = {
                "ftp_banner": _printable(first),
                "ftp_feat": clip("\n".join(features) if features else (lines[0] if lines else ""), MAX_TEXT),
                "ftp_auth_tls": "yes" if auth_tls else "no",
            }
            return _printable(first), found | ({"ftp_anonymous": anonymous} if anonymous else {})
        if kind == "redis":
            with connect() as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                reply = _recv_until(sock, lambda d: b"\r\n" in d, 512).split(b"\r\n")[0]
            return None, {"redis_ping": _printable(reply)}
        # rdp: ask for TLS + CredSSP; if CredSSP is chosen, ask again for TLS only
        with connect() as sock:
            sock.sendall(rdp_request(0x03))
            answer = parse_rdp_confirm(_recv_until(sock, lambda d: len(d) >= 19, 64))
        tls_only = None
        if answer[0] == "rsp" and answer[1] in (2, 8):
            with connect() as sock:
                sock.sendall(rdp_request(0x01))
                tls_only = parse_rdp_confirm(_recv_until(sock, lambda d: len(d) >= 19, 64))
        return None, rdp_verdict(answer, tls_only)
    except (OSError, ValueError) as exc:
        return None, {f"{kind}_error": _text(f"{type(exc).__name__}: {exc}")}


def greeting_kind(service: ServiceInfo) -> str | None:
    """Which of our greetings fits `service` (by nmap's name, else by its well-known port)."""
    if service.proto != "tcp" or service.tunnel == "ssl":
        return None
    name = service.service
    if name == "ssh" or (name in ("", "unknown") and service.port in (22, 2222)):
        return "ssh"
    if name == "ftp" or (name in ("", "unknown") and service.port == 21):
        return "ftp"
    if name == "redis" or service.port == 6379:
        return "redis"
    if name == "ms-wbt-server" or service.port in RDP_PORTS:
        return "rdp"
    return None


# --- the collector ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    #: in-scope address -> the target names that resolve to it
    addresses: dict[str, list[str]]
    not_probed: list[str]
    errors: list[HostPorts]


def plan_addresses(target: Target, guard: NetworkGuard, mx_hosts: Sequence[str] = ()) -> _Plan:
    """Split the target's addresses into the in-scope ones (to scan) and the refused ones.

    Every refused address goes through `guard.pin(address, ACTIVE)`, which raises and records the
    refusal, so that it appears in the report's not_probed list.
    """
    plan = _Plan({}, [], [])
    if target.kind in (TargetKind.IP, TargetKind.NETWORK):
        named: list[tuple[str, list[str]]] = [("", target.addresses())]
    else:
        named = []
        hosts = [o.host for o in target.web_origins()] + list(mx_hosts)
        for host in dict.fromkeys(hosts):
            try:
                named.append((host, guard.resolver.addresses(host)))
            except ResolutionError as exc:
                if exc.reason in ("nxdomain", "no_address"):
                    continue  # www. not existing is a fact, not a failure
                kind = ErrorKind.TIMEOUT if exc.reason == "timeout" else ErrorKind.DNS_FAILURE
                plan.errors.append(HostPorts("", (host,), "unknown", (), kind.value, _text(exc.detail)))
    for name, addresses in named:
        for address in addresses:
            if guard.scope.allows(address):
                names = plan.addresses.setdefault(address, [])
                if name and name not in names:
                    names.append(name)
                continue
            with contextlib.suppress(OutOfScopeError):
                guard.pin(address, ProbeLevel.ACTIVE)
            entry = f"{name} {address}" if name else address
            if entry not in plan.not_probed:
                plan.not_probed.append(entry)
    return plan


def _mx_hosts(domain: str, ctx: CollectorContext) -> tuple[list[str], HostPorts | None]:
    import dns.resolver  # NXDOMAIN/NoAnswer; imported with the first MX lookup

    try:
        hosts = ctx.guard.resolver.mx_hosts(domain, ctx.op_timeout())
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return [], None
    except dns.exception.Timeout:
        return [], HostPorts("", (domain,), "unknown", (), ErrorKind.TIMEOUT.value, "MX lookup timed out")
    except dns.exception.DNSException as exc:
        return [], HostPorts(
            "", (domain,), "unknown", (), ErrorKind.DNS_FAILURE.value, _text(f"MX lookup: {exc}")
        )
    return hosts, None


class PortsCollector(Collector):
    """nmap service scan of every in-scope address of a target (see the module docstring)."""

    name: ClassVar[str] = "ports"
    provides: ClassVar[type[PortFacts]] = PortFacts
    defaults: ClassVar[Mapping[str, Any]] = {
        # TCP ports scanned on every address: every port §1.4 names (nmap list syntax)
        "tcp_ports": DEFAULT_TCP_PORTS,
        # plus nmap's N most frequent TCP ports (from its nmap-services file); 0 = none
        "top_ports": 100,
        # UDP ports, scanned only when `udp` is true (UDP scans are slow: one timeout per closed port)
        "udp_ports": DEFAULT_UDP_PORTS,
        "udp": False,
        # nmap --max-rate (packets/s for the whole run; a run covers one target) — §3.3
        "max_rate": 50,
        # nmap --host-timeout in seconds (also capped by the target's deadline)
        "host_timeout": 120,
        # nmap -T timing template 0-5
        "timing": 3,
        # nmap --version-intensity 0-9
        "version_intensity": 5,
        # run the SAFE_SCRIPTS NSE scripts
        "scripts": True,
        # our own greeting probes (SSH banner, FTP FEAT, Redis PING, RDP negotiation)
        "greetings": True,
        # opt-in tests, each enabled by name (§3.3): "ftp_anonymous", "snmp_community" (needs `udp`),
        # "ssh_auth_methods"; none by default
        "opt_in": [],
        # also scan the in-scope addresses of a domain target's MX hosts (one MX query)
        "mail": True,
    }

    def collect(self, target: Target, ctx: CollectorContext) -> PortFacts:
        settings = _Settings.from_mapping(ctx.settings)
        ctx.op_timeout()  # raises CollectorError(DEADLINE) when nothing is left
        collected_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        try:
            tcp_ports = parse_ports(settings.tcp_ports)
            udp_ports = parse_ports(settings.udp_ports) if settings.udp else []
        except ValueError as exc:
            raise CollectorError(ErrorKind.BUG, f"invalid ports setting: {exc}") from None
        scanner = self._scanner()
        if settings.top_ports:
            tcp_ports = sorted(
                set(tcp_ports)
                | set(top_ports(_nmap_services_text(scanner_path(scanner)), settings.top_ports))
            )
        tcp, udp = port_spec(tcp_ports), port_spec(udp_ports)
        mx_hosts: list[str] = []
        errors: list[HostPorts] = []
        if target.kind is TargetKind.DOMAIN and target.host and ctx.settings.get("mail", True):
            mx_hosts, mx_error = _mx_hosts(target.host, ctx)
            errors += [mx_error] if mx_error else []
        plan = plan_addresses(target, ctx.guard, mx_hosts)
        errors += plan.errors
        privileged = hasattr(os, "geteuid") and os.geteuid() == 0
        hosts: list[HostPorts] = []
        versions: list[str] = []
        commands: list[str] = []
        by_family: dict[int, list[str]] = {}
        for address in plan.addresses:
            by_family.setdefault(ipaddress.ip_address(address).version, []).append(address)
        for family in sorted(by_family):
            addresses = by_family[family]
            version, command, found = self._run_nmap(
                scanner, addresses, settings, tcp, udp, privileged, family, ctx
            )
            versions.append(version)
            commands.append(command)
            hosts += found
        names = plan.addresses
        hosts = [
            HostPorts(h.address, tuple(names.get(h.address, ())), h.state, h.services, h.error_kind, h.error)
            for h in hosts
        ]
        if settings.greetings:
            hosts = self._greet_all(hosts, ctx, settings.opt_in)
        hosts = _mark_opt_in(hosts, settings)
        return PortFacts(
            hosts=(*hosts, *errors),
            not_probed=tuple(plan.not_probed),
            nmap_version=next((v for v in versions if v), ""),
            nmap_args=" ; ".join(commands),
            scan_type="syn" if privileged else "connect",
            tcp_ports=f"T:{tcp}",
            udp_ports=f"U:{udp}" if udp else "",
            collected_at=collected_at,
        )

    @staticmethod
    def _scanner() -> Any:
        """A python-nmap PortScanner (it runs `nmap -V` to find the binary)."""
        try:
            return nmap.PortScanner()
        except nmap.PortScannerError:
            raise CollectorError(ErrorKind.TOOL_MISSING, INSTALL_HINT) from None

    def _run_nmap(
        self,
        scanner: Any,
        addresses: list[str],
        settings: _Settings,
        tcp: str,
        udp: str,
        privileged: bool,
        family: int,
        ctx: CollectorContext,
    ) -> tuple[str, str, list[HostPorts]]:
        budget = ctx.remaining() - (GREETING_RESERVE if settings.greetings else 0.0)
        if budget < 5:
            raise CollectorError(ErrorKind.DEADLINE, "not enough time left before the deadline to run nmap")
        host_timeout = int(min(settings.host_timeout, budget))
        arguments = nmap_arguments(settings, tcp, udp, privileged, host_timeout)
        if family == 6:
            arguments = "-6 " + arguments
        # Defensive: the target list is built from scope-allowed addresses only; never let any
        # other address reach nmap, whatever a future change to the planning does.
        assert addresses and all(ctx.guard.scope.allows(a) for a in addresses), addresses
        try:
            scanner.scan(hosts=" ".join(addresses), arguments=arguments, timeout=int(budget))
        except nmap.PortScannerTimeout:
            raise CollectorError(
                ErrorKind.DEADLINE, f"nmap did not finish within the {int(budget)} s left before the deadline"
            ) from None
        except nmap.PortScannerError as exc:
            detail = _text(str(exc))
            if "root privileges" in detail or "Operation not permitted" in detail:
                raise CollectorError(ErrorKind.PERMISSION, f"nmap: {detail}") from None
            raise CollectorError(ErrorKind.PROTOCOL, f"nmap failed: {detail}") from None
        output = scanner.get_nmap_last_output()
        try:
            found = {h.address: h for h in parse_nmap_xml(output)}
        except ValueError as exc:
            raise CollectorError(ErrorKind.PROTOCOL, _text(str(exc))) from None
        version, command = nmap_run_info(output)
        hosts = [
            found.get(a)
            or HostPorts(
                a, (), "unknown", (), ErrorKind.TIMEOUT.value, "no result from nmap for this address"
            )
            for a in addresses
        ]
        return version, command, hosts

    @staticmethod
    def _greet_all(
        hosts: list[HostPorts], ctx: CollectorContext, opt_in: frozenset[str] = frozenset()
    ) -> list[HostPorts]:
        done = 0
        result: list[HostPorts] = []
        for host in hosts:
            services: list[ServiceInfo] = []
            for service in host.services:
                if done < MAX_GREETINGS and greeting_kind(service) and ctx.remaining() > 1:
                    assert ctx.guard.scope.allows(host.address), host.address
                    done += 1
                    banner, probes = greet(
                        host.address, service, min(GREETING_TIMEOUT, ctx.op_timeout()), opt_in
                    )
                    service = dataclasses.replace(
                        service, banner=service.banner or banner, probes={**service.probes, **probes}
                    )
                services.append(service)
            result.append(
                HostPorts(host.address, host.names, host.state, tuple(services), host.error_kind, host.error)
            )
        return result


def _mark_opt_in(hosts: list[HostPorts], settings: _Settings) -> list[HostPorts]:
    """Every service carries which opt-in tests ran ("opt_in") and which names were ignored."""
    marks: dict[str, str] = {}
    if settings.opt_in:
        marks["opt_in"] = ",".join(n for n in OPT_IN_PROBES if n in settings.opt_in)
    if settings.opt_in_unknown:
        marks["opt_in_unknown"] = _text(",".join(settings.opt_in_unknown))
    if not marks:
        return hosts
    return [
        dataclasses.replace(
            h, services=tuple(dataclasses.replace(s, probes={**s.probes, **marks}) for s in h.services)
        )
        for h in hosts
    ]


def scanner_path(scanner: Any) -> str:
    """The nmap binary python-nmap found (private attribute; falls back to PATH)."""
    path = getattr(scanner, "_nmap_path", "") or shutil.which("nmap") or "nmap"
    return str(path)


__all__ = [
    "DEFAULT_TCP_PORTS",
    "DEFAULT_UDP_PORTS",
    "OPT_IN_PROBES",
    "SAFE_SCRIPTS",
    "PortsCollector",
    "greet",
    "greeting_kind",
    "nmap_arguments",
    "nmap_run_info",
    "parse_nmap_xml",
    "parse_ports",
    "parse_rdp_confirm",
    "plan_addresses",
    "port_spec",
    "rdp_request",
    "rdp_verdict",
    "script_probes",
    "top_ports",
]
