"""SVC checks (checklist §1.4): services a commune exposes to the Internet, judged from the port scan.

Every check judges `PortFacts` only (the nmap service scan of the target's in-scope addresses). A
service is the pair of an address and an open port; the finding's resource is "ADDRESS:PORT/PROTO"
(e.g. "203.0.113.5:3389/tcp", "[2001:db8::5]:22/tcp"), or "ADDRESS" for a per-host verdict.

Rules shared by every check (`_SvcCheck`), in this order:
- no scanned address at all: `not_tested` ("no_scope", the addresses the scope kept nmap away from in
  the evidence) when the target had addresses outside the scope, `not_applicable` ("no_host") otherwise;
- a check that only reads UDP ports is `not_tested` ("udp_off") when the collector did not scan UDP;
- an address nmap could not scan (`error_kind`) is an `error` for that address (kinds: `_ERROR_KINDS`);
- each check matches services against its `kinds` parameter (a list of tables: `tcp`/`udp` ports,
  nmap `services` names, `patterns` searched in product, extra info, banner and HTTP title, and
  `port_services`). A service nmap *identified* (method "probed", a real service name) is judged on what
  it is: it matches by service name or pattern, and by port only when its name is one of the kind's
  `port_services` (e.g. "http" for WinRM on 5985). An unidentified service ("table" guess, "unknown",
  "tcpwrapped") matches by port. So RDP moved to 33890 is still found ("ms-wbt-server"), and a web
  server on 3389 is not called RDP;
- a UDP port nmap saw as "open|filtered" (no answer) is `not_tested` ("udp_unconfirmed");
- one finding per matching service; an address with no matching service gets one `pass` ("none").

Greeting probes are optional extra evidence: their names are in `ProbeKey`, the only place to align
with the collector. Without them, the checks decide from nmap's service, product, version and banner.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

from cyberscan.bounds import join_bounded
from cyberscan.collectors.ports_facts import HostPorts, PortFacts, ServiceInfo
from cyberscan.models import ErrorKind, Finding, Severity, Status
from cyberscan.plugin import Check, FactBag

_MAX_BANNER = 200
_MAX_ITEMS = 20


class ProbeKey:
    """Keys of `ServiceInfo.probes` (greeting-level facts) the SVC checks read, all optional.

    The single place to align with the ports collector. Expected values (bounded strings):
    """

    #: FTP FEAT answer, one feature per line ("AUTH TLS\\nPBSZ\\nUTF8")
    FTP_FEAT = "ftp_feat"
    #: Redis answer to PING: "+PONG" (no authentication) or "-NOAUTH Authentication required."
    REDIS_PING = "redis_ping"
    #: protocols the RDP server selected/accepts: "PROTOCOL_HYBRID" (NLA), "PROTOCOL_SSL", "PROTOCOL_RDP"
    RDP_NEGOTIATION = "rdp_negotiation"
    #: <title> of the page served on the port (admin consoles, NAS, cameras, VPN portals)
    HTTP_TITLE = "http_title"
    #: comma-separated SSH algorithm lists from the server's KEXINIT
    SSH_KEX = "ssh_kex"
    #: comma-separated host keys, optionally with their size: "ssh-rsa 2048,ssh-ed25519 256"
    SSH_HOSTKEYS = "ssh_hostkeys"
    SSH_CIPHERS = "ssh_ciphers"
    SSH_MACS = "ssh_macs"
    #: comma-separated authentication methods offered after a "none" request ("publickey,password")
    SSH_AUTH_METHODS = "ssh_auth_methods"
    #: VNC security types offered: "None", "VNC Authentication", …
    VNC_SECURITY = "vnc_security_types"
    #: comma-separated SMB dialects negotiated/offered: "NT LM 0.12,2.0.2,3.1.1"
    SMB_DIALECTS = "smb_dialects"
    #: Docker Engine answer to GET /version without credentials (e.g. "24.0.7"): unauthenticated API
    DOCKER_VERSION = "docker_version"
    #: rsync module list obtained without credentials
    RSYNC_MODULES = "rsync_modules"
    #: NTP mode 7 monlist answer (any non-empty value means the server answered monlist)
    NTP_MONLIST = "ntp_monlist"
    #: measured UDP answer vs request, e.g. "request 48 B, response 468 B"
    UDP_AMPLIFICATION = "udp_amplification"
    #: opt-in anonymous FTP login (only when "ftp_anonymous" is opted in): "allowed" | "refused"
    FTP_ANONYMOUS = "ftp_anonymous"
    #: sysDescr read with the community "public" (only when "snmp_community" is opted in): present
    #: means the default community answered
    SNMP_SYSDESCR = "snmp_sysdescr"
    #: the opt-in tests this run made, comma-separated ("ftp_anonymous,snmp_community"), on every
    #: service; absent when none was enabled
    OPT_IN = "opt_in"
    #: `opt_in` setting names that are no opt-in test (ignored by the collector)
    OPT_IN_UNKNOWN = "opt_in_unknown"

    ALL: ClassVar[tuple[str, ...]] = (
        FTP_FEAT,
        REDIS_PING,
        RDP_NEGOTIATION,
        HTTP_TITLE,
        SSH_KEX,
        SSH_HOSTKEYS,
        SSH_CIPHERS,
        SSH_MACS,
        SSH_AUTH_METHODS,
        VNC_SECURITY,
        SMB_DIALECTS,
        DOCKER_VERSION,
        RSYNC_MODULES,
        NTP_MONLIST,
        UDP_AMPLIFICATION,
        FTP_ANONYMOUS,
        SNMP_SYSDESCR,
        OPT_IN,
        OPT_IN_UNKNOWN,
    )


#: `HostPorts.error_kind` values -> engine error kinds
_ERROR_KINDS = {
    "timeout": ErrorKind.TIMEOUT,
    "host_timeout": ErrorKind.TIMEOUT,
    "deadline": ErrorKind.DEADLINE,
    "unreachable": ErrorKind.UNREACHABLE,
    "tool_missing": ErrorKind.TOOL_MISSING,
    "permission": ErrorKind.PERMISSION,
    "protocol": ErrorKind.PROTOCOL,
    "bug": ErrorKind.BUG,
}

#: nmap names that say "not identified": such a service is judged by its port number
_UNIDENTIFIED = frozenset({"", "unknown", "tcpwrapped"})


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def _error_kind(kind: str | None) -> ErrorKind:
    if kind in _ERROR_KINDS:
        return _ERROR_KINDS[kind]
    try:
        return ErrorKind(kind or "unreachable")
    except ValueError:
        return ErrorKind.UNREACHABLE


def _strs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _ints(value: Any) -> frozenset[int]:
    if value is None:
        return frozenset()
    if isinstance(value, int):
        return frozenset({value})
    return frozenset(int(item) for item in value)


def _regex(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _resource(host: HostPorts, svc: ServiceInfo) -> str:
    return f"{_host(host.address)}:{svc.port}/{svc.proto}"


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_BANNER else flat[: _MAX_BANNER - 1] + "…"


def _identified(svc: ServiceInfo) -> bool:
    return svc.method == "probed" and svc.service not in _UNIDENTIFIED


def _fingerprint(svc: ServiceInfo) -> str:
    """What the service says about itself: product, version, extra info, banner and page title."""
    parts = [svc.product, svc.version, svc.extrainfo, svc.banner, svc.probes.get(ProbeKey.HTTP_TITLE)]
    return " ".join(p for p in parts if p)


def _seen(svc: ServiceInfo) -> str:
    """Short description for a message: "ssh OpenSSH 9.2p1" or "port 3389 (unidentified)"."""
    product = " ".join(p for p in (svc.product, svc.version) if p)
    name = svc.service or "?"
    if not _identified(svc):
        name = f"{name}, unidentified" if svc.service else "unidentified"
    return f"{name} {product}".strip() if product else name


def _evidence(host: HostPorts, svc: ServiceInfo, **extra: Any) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "address": host.address,
        "port": svc.label,
        "state": svc.state,
        "service": svc.service,
        "product": svc.product,
        "version": svc.version,
        "extrainfo": svc.extrainfo,
        "method": svc.method,
        "confidence": svc.confidence,
    }
    if svc.tunnel:
        evidence["tunnel"] = svc.tunnel
    if host.names:
        evidence["names"] = list(host.names)
    if svc.banner:
        evidence["banner"] = _excerpt(svc.banner)
    title = svc.probes.get(ProbeKey.HTTP_TITLE)
    if title:
        evidence["http_title"] = _excerpt(title)
    evidence.update(extra)
    return {k: v for k, v in evidence.items() if v is not None}


def _opt_in_evidence(svc: ServiceInfo, test: str) -> dict[str, Any]:
    """{"opt_in_not_enabled": [test]} when the user did not enable the opt-in `test` for this run (so
    the report says it was not run), plus any ignored unknown names of the `opt_in` setting."""
    evidence: dict[str, Any] = {}
    if test not in _algorithms(svc.probes.get(ProbeKey.OPT_IN)):
        evidence["opt_in_not_enabled"] = [test]
    unknown = _algorithms(svc.probes.get(ProbeKey.OPT_IN_UNKNOWN))
    if unknown:
        evidence["opt_in_unknown"] = unknown
    return evidence


def _is_open(svc: ServiceInfo) -> bool:
    return svc.state.startswith("open")


def _confirmed(svc: ServiceInfo) -> bool:
    """TCP "open", or a UDP port that answered ("open|filtered" means nmap got no answer)."""
    return svc.state == "open"


def version_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """A comparable key for versions such as "2.4.49", "8.9p1", "9.0R3.4": numbers compare as
    numbers, letters as text and sort before numbers ("8.5" < "8.5p1" < "8.6")."""
    tokens = re.findall(r"\d+|[a-z]+", text.lower())
    return tuple((1, int(t), "") if t.isdigit() else (0, 0, t) for t in tokens)


def _version_token(version: str | None) -> tuple[str | None, str]:
    """nmap's version split into the version proper and what follows ("8.9p1", "Ubuntu 3ubuntu0.10")."""
    if not version or not version.strip():
        return None, ""
    first, _, rest = version.strip().partition(" ")
    return first, rest.strip()


# --------------------------------------------------------------------------------------------------
# Kinds of services (the `kinds` parameter)


@dataclass(frozen=True)
class _Kind:
    """One kind of service a check looks for (a table of its `kinds` parameter)."""

    name: str
    label: str
    tcp: frozenset[int]
    udp: frozenset[int]
    services: frozenset[str]
    patterns: re.Pattern[str] | None
    port_services: frozenset[str]
    severity: Severity | None
    status: Status | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> _Kind:
        severity = raw.get("severity")
        status = raw.get("status")
        return cls(
            name=str(raw["name"]),
            label=str(raw.get("label", raw["name"])),
            tcp=_ints(raw.get("tcp")),
            udp=_ints(raw.get("udp")),
            services=frozenset(s.lower() for s in _strs(raw.get("services"))),
            patterns=_regex(_strs(raw.get("patterns"))),
            port_services=frozenset(s.lower() for s in _strs(raw.get("port_services"))),
            severity=Severity(severity) if severity else None,
            status=Status(status) if status else None,
        )

    def matches(self, svc: ServiceInfo) -> bool:
        # A product or title pattern identifies the kind on any port and protocol (an iDRAC web page).
        if self.patterns is not None and self.patterns.search(_fingerprint(svc)):
            return True
        # Names and ports: a kind with ports on one protocol only (CLDAP: UDP 389) ignores the other
        # (LDAP: TCP 389).
        protos = {p for p, ports in (("tcp", self.tcp), ("udp", self.udp)) if ports}
        if protos and svc.proto not in protos:
            return False
        name = svc.service.lower()
        if name in self.services:
            return True
        ports = self.tcp if svc.proto == "tcp" else self.udp if svc.proto == "udp" else frozenset()
        if svc.port not in ports:
            return False
        return not _identified(svc) or name in self.port_services


# --------------------------------------------------------------------------------------------------
# Common base


class _SvcCheck(Check):
    """Iterates over the scanned addresses; applies the scope, UDP, error and per-host pass rules."""

    requires = (PortFacts,)
    #: True when the check reads UDP ports only (then `not_tested` when UDP was not scanned)
    udp_only: ClassVar[bool] = False
    _facts: PortFacts = PortFacts()

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        ports = facts.get(PortFacts)
        target = self.target.name
        if not ports.hosts:
            if ports.not_probed:
                evidence = {"not_probed": list(ports.not_probed)}
                yield self.finding(Status.NOT_TESTED, target, "no_scope", evidence=evidence, target=target)
            else:
                yield self.finding(Status.NOT_APPLICABLE, target, "no_host", target=target)
            return
        if self.udp_only and not self._udp_scanned(ports):
            yield self.finding(Status.NOT_TESTED, target, "udp_off", evidence=self._scan_evidence(ports))
            return
        self._facts = ports
        for host in ports.hosts:
            if host.error_kind is not None:
                detail = f"{host.address} could not be scanned: {host.error or host.error_kind}"
                yield self.error(host.address, _error_kind(host.error_kind), detail)
                continue
            found = list(self.judge_host(host))
            yield from found or [self.host_pass(host)]

    @staticmethod
    def _udp_scanned(ports: PortFacts) -> bool:
        return bool(ports.udp_ports.strip())

    @staticmethod
    def _scan_evidence(ports: PortFacts) -> dict[str, Any]:
        return {"tcp_ports": ports.tcp_ports, "udp_ports": ports.udp_ports, "nmap_args": ports.nmap_args}

    def kinds(self) -> list[_Kind]:
        return [_Kind.parse(raw) for raw in self.params.get("kinds", [])]

    def judge_host(self, host: HostPorts) -> Iterator[Finding]:
        """Findings for the matching services of one scanned address (none: the host passes)."""
        kinds = self.kinds()
        for svc in host.services:
            if not _is_open(svc):
                continue
            kind = next((k for k in kinds if k.matches(svc)), None)
            if kind is None:
                continue
            if not _confirmed(svc):
                yield self.finding(
                    Status.NOT_TESTED,
                    _resource(host, svc),
                    "udp_unconfirmed",
                    evidence=_evidence(host, svc, kind=kind.name),
                    resource=_resource(host, svc),
                    label=kind.label,
                )
                continue
            yield self.judge_service(host, svc, kind)

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        """Default verdict: any matching service is a fail (at the kind's severity, if it has one)."""
        return self.service_finding(kind.status or Status.FAIL, host, svc, kind, "exposed")

    def service_finding(
        self,
        status: Status,
        host: HostPorts,
        svc: ServiceInfo,
        kind: _Kind,
        message_id: str,
        /,
        severity: Severity | None = None,
        evidence: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> Finding:
        resource = _resource(host, svc)
        return self.finding(
            status,
            resource,
            message_id,
            evidence=_evidence(host, svc, kind=kind.name, **(evidence or {})),
            severity=severity or kind.severity,
            resource=resource,
            label=kind.label,
            seen=_seen(svc),
            **params,
        )

    def host_pass(self, host: HostPorts) -> Finding:
        ports = [s.label for s in host.services if _is_open(s)]
        evidence: dict[str, Any] = {"address": host.address, "host_state": host.state, "open_ports": ports}
        if not self._udp_scanned(self._facts):
            evidence["udp_scanned"] = False
        return self.finding(Status.PASS, host.address, "none", evidence=evidence, address=host.address)


# --------------------------------------------------------------------------------------------------
# Remote access and Windows services


def _nla_required(text: str | None) -> bool | None:
    """From the RDP negotiation probe: True when NLA (CredSSP) is required, False when the server accepts
    standard RDP security or TLS alone, None when unknown. Expected values: the protocols the server
    accepted ("PROTOCOL_SSL,PROTOCOL_HYBRID"), or its refusal "HYBRID_REQUIRED_BY_SERVER", or a short
    verdict such as "NLA required" / "NLA not required"."""
    if not text:
        return None
    upper = text.upper()
    if "NOT REQUIRED" in upper or "WITHOUT NLA" in upper or "NO NLA" in upper:
        return False
    if "REQUIRED_BY_SERVER" in upper or re.search(r"\bNLA\s+REQUIRED\b", upper):
        return True
    if "PROTOCOL_RDP" in upper or "PROTOCOL_SSL" in upper:
        return False
    if "HYBRID" in upper:
        return True
    return None


class RdpExposed(_SvcCheck):
    """FAIL (critical): any RDP listener (3389, common remaps, or nmap "ms-wbt-server" on any port);
    "exposed_no_nla" when the negotiation shows NLA is not required. PASS per address without RDP.
    RD Gateway / RD Web on 443 (warn) is a web-side check, not implemented here."""

    id = "SVC-RDP-EXPOSED"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        negotiation = svc.probes.get(ProbeKey.RDP_NEGOTIATION)
        nla = _nla_required(negotiation)
        evidence = {"rdp_negotiation": negotiation, "nla_required": nla}
        message = "exposed_no_nla" if nla is False else "exposed"
        return self.service_finding(Status.FAIL, host, svc, kind, message, evidence=evidence)


_SMB1 = re.compile(r"NT LM 0\.12|\bSMB\s*v?1\b|(?:^|[,;\s])1\.0(?:$|[,;\s])", re.IGNORECASE)


class SmbNetbios(_SvcCheck):
    """FAIL (critical): SMB 445, NetBIOS 139 (TCP) or 137/138 (UDP), MS-RPC 135 reachable;
    "exposed_smbv1" when SMBv1 (NT LM 0.12) is among the dialects. PASS per address otherwise."""

    id = "SVC-SMB-NETBIOS"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        dialects = svc.probes.get(ProbeKey.SMB_DIALECTS)
        smb1 = bool(dialects and _SMB1.search(dialects))
        evidence = {"smb_dialects": dialects, "smbv1": smb1 if dialects else None}
        message = "exposed_smbv1" if smb1 else "exposed"
        return self.service_finding(Status.FAIL, host, svc, kind, message, evidence=evidence)


class AdExposed(_SvcCheck):
    """FAIL (critical): Kerberos, LDAP/LDAPS, Global Catalog, WinRM or ADWS reachable. PASS otherwise."""

    id = "SVC-AD-EXPOSED"


def _no_vnc_auth(text: str | None) -> bool:
    return bool(text) and any(t.strip().lower() == "none" for t in re.split(r"[,;\n]", text or ""))


class VncRemote(_SvcCheck):
    """FAIL (critical): VNC, X11, Radmin or similar remote-control listener reachable; "no_auth" when
    the VNC server offers the "None" security type. PASS per address otherwise."""

    id = "SVC-VNC-REMOTE"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        security = svc.probes.get(ProbeKey.VNC_SECURITY)
        no_auth = _no_vnc_auth(security)
        evidence = {"vnc_security": security, "no_authentication": no_auth if security else None}
        message = "no_auth" if no_auth else "exposed"
        return self.service_finding(Status.FAIL, host, svc, kind, message, evidence=evidence)


class Telnet(_SvcCheck):
    """FAIL (high): a Telnet service (23, 2323 or nmap "telnet" anywhere). PASS otherwise."""

    id = "SVC-TELNET"


_AUTH_TLS = re.compile(r"^\s*AUTH\b[^\n]*\b(?:TLS|SSL)\b", re.IGNORECASE | re.MULTILINE)


class Ftp(_SvcCheck):
    """FAIL (high): anonymous login accepted ("anonymous", opt-in test "ftp_anonymous"), or FTP whose
    FEAT lacks AUTH TLS (clear text only). WARN (medium): AUTH TLS offered, or FEAT unknown
    ("feat_unknown"). WARN (low): implicit FTPS (990, TLS tunnel). PASS otherwise. When the opt-in test
    was not enabled, the evidence says so ("opt_in_not_enabled")."""

    id = "SVC-FTP"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        feat = svc.probes.get(ProbeKey.FTP_FEAT)
        anonymous = svc.probes.get(ProbeKey.FTP_ANONYMOUS)
        # the probe's verdict only: nothing was ever listed or retrieved, so there is nothing more to show
        opt_in = _opt_in_evidence(svc, "ftp_anonymous")
        if anonymous is None:
            anonymous = "not tested" + (" (opt-in not enabled)" if "opt_in_not_enabled" in opt_in else "")
        evidence = {"ftp_feat": _excerpt(feat), "anonymous_login": anonymous, **opt_in}
        if anonymous == "allowed":
            return self.service_finding(
                Status.FAIL, host, svc, kind, "anonymous", severity=Severity.HIGH, evidence=evidence
            )
        if svc.tunnel == "ssl" or svc.service.lower() == "ftps":
            return self.service_finding(
                Status.WARN, host, svc, kind, "implicit_tls", severity=Severity.LOW, evidence=evidence
            )
        if feat is None:
            return self.service_finding(
                Status.WARN, host, svc, kind, "feat_unknown", severity=Severity.MEDIUM, evidence=evidence
            )
        if _AUTH_TLS.search(feat):
            return self.service_finding(
                Status.WARN, host, svc, kind, "auth_tls", severity=Severity.MEDIUM, evidence=evidence
            )
        return self.service_finding(Status.FAIL, host, svc, kind, "cleartext", evidence=evidence)


_SSH1_BANNER = re.compile(r"^SSH-1\.(?!99)\d+")
_SSH1_INFO = re.compile(r"\bprotocol 1\.(?!99)\d+", re.IGNORECASE)
_RSA_BITS = re.compile(r"(?:ssh-)?rsa[\s:/=-]*(\d{3,5})|(\d{3,5})[\s:/-]*(?:ssh-)?rsa", re.IGNORECASE)


def _algorithms(text: str | None) -> list[str]:
    return [a.strip() for a in re.split(r"[,\s]+", text or "") if a.strip()]


class Ssh(_SvcCheck):
    """INFO: SSH exposed with nothing weak seen. FAIL (medium): SSH-1 protocol. WARN (medium): weak KEX,
    host key (ssh-dss, RSA < min_rsa_bits), cipher (CBC, arcfour) or MAC (MD5, SHA1-96), or password
    authentication offered (from the optional ssh_* probes). PASS per address without SSH."""

    id = "SVC-SSH"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        banner = svc.banner or ""
        if _SSH1_BANNER.match(banner) or _SSH1_INFO.search(svc.extrainfo or ""):
            return self.service_finding(Status.FAIL, host, svc, kind, "ssh1")
        weak = self._weaknesses(svc)
        seen = {key: _excerpt(svc.probes.get(key)) for key in _SSH_PROBES if svc.probes.get(key)}
        seen |= _opt_in_evidence(svc, "ssh_auth_methods")
        if weak:
            evidence = {"weak": weak, **seen}
            return self.service_finding(
                Status.WARN, host, svc, kind, "weak", evidence=evidence, weaknesses=join_bounded(weak)
            )
        unobserved = [key for key in _SSH_PROBES if not svc.probes.get(key)]
        evidence = {**seen, "not_observed": unobserved}
        return self.service_finding(
            Status.INFO, host, svc, kind, "exposed", severity=Severity.INFO, evidence=evidence
        )

    def _weaknesses(self, svc: ServiceInfo) -> list[str]:
        p = self.params
        weak: list[str] = []
        weak_kex = {a.lower() for a in _strs(p.get("weak_kex"))}
        weak += [a for a in _algorithms(svc.probes.get(ProbeKey.SSH_KEX)) if a.lower() in weak_kex]
        hostkeys = svc.probes.get(ProbeKey.SSH_HOSTKEYS) or ""
        weak_keys = {a.lower() for a in _strs(p.get("weak_hostkeys"))}
        for entry in re.split(r"[,\n]", hostkeys):
            algo = entry.strip().split(" ")[0].lower() if entry.strip() else ""
            if algo in weak_keys:
                weak.append(algo)
            match = _RSA_BITS.search(entry)
            if match:
                bits = int(match.group(1) or match.group(2))
                if bits < int(p.get("min_rsa_bits", 2048)):
                    weak.append(f"RSA {bits} bits")
        cipher_re = _regex(_strs(p.get("weak_cipher_patterns")))
        mac_re = _regex(_strs(p.get("weak_mac_patterns")))
        for key, pattern in ((ProbeKey.SSH_CIPHERS, cipher_re), (ProbeKey.SSH_MACS, mac_re)):
            if pattern is not None:
                weak += [a for a in _algorithms(svc.probes.get(key)) if pattern.search(a)]
        methods = [m.lower() for m in _algorithms(svc.probes.get(ProbeKey.SSH_AUTH_METHODS))]
        if "password" in methods and p.get("warn_password_auth", True):
            weak.append("password authentication")
        return list(dict.fromkeys(weak))[:_MAX_ITEMS]


_SSH_PROBES = (
    ProbeKey.SSH_KEX,
    ProbeKey.SSH_HOSTKEYS,
    ProbeKey.SSH_CIPHERS,
    ProbeKey.SSH_MACS,
    ProbeKey.SSH_AUTH_METHODS,
)


# --------------------------------------------------------------------------------------------------
# Data, management planes, edge devices


class DbExposed(_SvcCheck):
    """FAIL (critical): a database or cache service reachable (MySQL, PostgreSQL, MSSQL, Oracle,
    MongoDB, Redis, Elasticsearch, CouchDB, Cassandra, Memcached, InfluxDB); "unauthenticated" when
    Redis answered PING with +PONG. PASS per address otherwise."""

    id = "SVC-DB-EXPOSED"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        ping = svc.probes.get(ProbeKey.REDIS_PING)
        if ping is not None and ping.strip().upper().startswith("+PONG"):
            evidence = {"redis_ping": _excerpt(ping), "authentication": False}
            return self.service_finding(Status.FAIL, host, svc, kind, "unauthenticated", evidence=evidence)
        evidence = {"redis_ping": _excerpt(ping)} if ping is not None else {}
        return self.service_finding(Status.FAIL, host, svc, kind, "exposed", evidence=evidence)


class AdminInterfaces(_SvcCheck):
    """FAIL: a management plane reachable — high, critical for hypervisors, BMC and NAS (per kind):
    ESXi/vCenter, Proxmox, iDRAC/iLO/IPMI, Synology/QNAP, Webmin, Plesk, cPanel, Tomcat manager, Jenkins,
    Portainer, Kibana, Grafana, firewall GUIs. PASS per address otherwise."""

    id = "SVC-ADMIN-INTERFACES"


class VpnGateway(_SvcCheck):
    """INFO: a remote-access gateway (Fortinet, Ivanti/Pulse, Citrix, GlobalProtect, Cisco, SonicWall,
    Stormshield, Check Point) with a known version, or an OpenVPN/IKE endpoint. WARN (medium): appliance
    whose version is not determinable. Known flaws: SVC-EDGE-KNOWN-VULN. PASS per address without one."""

    id = "SVC-VPN-GATEWAY"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        evidence = {"mfa": "not observable: to confirm with the provider", "end_of_support": "not assessed"}
        if kind.name in _strs(self.params.get("protocol_kinds")):
            return self.service_finding(
                Status.INFO, host, svc, kind, "protocol", severity=Severity.INFO, evidence=evidence
            )
        version, _ = _version_token(svc.version)
        if version is None:
            return self.service_finding(
                Status.WARN, host, svc, kind, "no_version", severity=Severity.MEDIUM, evidence=evidence
            )
        return self.service_finding(
            Status.INFO,
            host,
            svc,
            kind,
            "inventory",
            severity=Severity.INFO,
            evidence=evidence,
            version=version,
        )


# --------------------------------------------------------------------------------------------------
# Known vulnerabilities (catalogue) and end-of-life software


class CatalogueError(ValueError):
    """The vulnerability catalogue is malformed."""


@dataclass(frozen=True)
class VulnEntry:
    """One catalogue entry: a CVE, the products (regex on nmap's product) and versions it affects."""

    id: str
    vendor: str
    product_pattern: re.Pattern[str]
    #: (introduced, fixed, last_affected): introduced inclusive, fixed exclusive, last_affected inclusive
    ranges: tuple[tuple[str | None, str | None, str | None], ...]
    version_pattern: re.Pattern[str] | None
    kev: bool
    severity: str
    title: str
    source: str
    published: str

    def affects(self, version: str) -> bool:
        if self.version_pattern is not None and self.version_pattern.search(version):
            return True
        key = version_key(version)
        for introduced, fixed, last in self.ranges:
            if introduced is not None and key < version_key(introduced):
                continue
            if fixed is not None and key >= version_key(fixed):
                continue
            if last is not None and key > version_key(last):
                continue
            return True
        return False


@dataclass(frozen=True)
class Catalogue:
    as_of: str
    entries: tuple[VulnEntry, ...]


def _entry(raw: Any, where: str) -> VulnEntry:
    if not isinstance(raw, Mapping):
        raise CatalogueError(f"{where}: an entry must be an object")
    for key in ("id", "product_pattern", "source"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise CatalogueError(f"{where}: '{key}' must be a non-empty string")
    if not isinstance(raw.get("kev"), bool):
        raise CatalogueError(f"{where}: 'kev' must be true or false")
    ranges: list[tuple[str | None, str | None, str | None]] = []
    for item in raw.get("versions", []):
        if not isinstance(item, Mapping) or not set(item) <= {"introduced", "fixed", "last_affected"}:
            raise CatalogueError(f"{where}: versions are {{introduced, fixed, last_affected}} objects")
        bounds = [item.get(k) for k in ("introduced", "fixed", "last_affected")]
        if not any(bounds) or not all(b is None or isinstance(b, str) for b in bounds):
            raise CatalogueError(f"{where}: a version range needs at least one string bound")
        ranges.append((bounds[0], bounds[1], bounds[2]))
    version_pattern = raw.get("version_pattern")
    if not ranges and not version_pattern:
        raise CatalogueError(f"{where}: 'versions' or 'version_pattern' is required")
    severity = str(raw.get("severity", "critical"))
    if severity not in ("critical", "high", "medium", "low"):
        raise CatalogueError(f"{where}: unknown severity {severity!r}")
    try:
        product = re.compile(raw["product_pattern"], re.IGNORECASE)
        version = re.compile(version_pattern) if version_pattern else None
    except re.error as exc:
        raise CatalogueError(f"{where}: bad regular expression: {exc}") from None
    return VulnEntry(
        id=raw["id"],
        vendor=str(raw.get("vendor", "")),
        product_pattern=product,
        ranges=tuple(ranges),
        version_pattern=version,
        kev=raw["kev"],
        severity=severity,
        title=str(raw.get("title", "")),
        source=raw["source"],
        published=str(raw.get("published", "")),
    )


def parse_catalogue(data: Any) -> Catalogue:
    """Validate a catalogue: the JSON object of edge_vulns.json, or a bare list of entries."""
    if isinstance(data, list):
        data = {"entries": data}
    if not isinstance(data, Mapping) or not isinstance(data.get("entries"), list):
        raise CatalogueError("a catalogue is an object with an 'entries' list")
    entries = tuple(_entry(raw, f"entry {i}") for i, raw in enumerate(data["entries"]))
    ids = [e.id for e in entries]
    if len(ids) != len(set(ids)):
        raise CatalogueError("duplicate entry IDs")
    return Catalogue(as_of=str(data.get("as_of", "")), entries=entries)


def _packaged_catalogue() -> Catalogue:
    text = resources.files("cyberscan").joinpath("data/edge_vulns.json").read_text(encoding="utf-8")
    return parse_catalogue(json.loads(text))


#: The packaged catalogue, read once at import (checks do no I/O while evaluating)
PACKAGED_CATALOGUE = _packaged_catalogue()

_DISTRO = re.compile(r"debian|ubuntu|red ?hat|rhel|centos|rocky|alma|suse|\bel\d|deb\d", re.IGNORECASE)


class EdgeKnownVuln(_SvcCheck):
    """FAIL (critical): a fingerprinted product/version listed in the catalogue as known exploited (KEV);
    FAIL (high): another catalogued flaw. WARN (medium): product catalogued but version unknown, guessed
    from the port, or a distribution build that may carry a backported fix. PASS per address otherwise."""

    id = "SVC-EDGE-KNOWN-VULN"
    # The engine hands in the catalogue file (packaged, or updated with `cyberscan data update`).
    data_files: ClassVar[Mapping[str, str]] = {"catalogue": "edge_vulns.json"}

    @classmethod
    def validate_data(cls, param: str, data: Any) -> None:
        parse_catalogue(data)  # CatalogueError is a ValueError

    def catalogue(self) -> Catalogue:
        value = self.params.get("catalogue")
        if isinstance(value, str):  # the engine could not load the data file: it says why
            raise CatalogueError(value)
        if isinstance(value, Mapping):
            return parse_catalogue(value)
        entries = value or []
        if entries:
            as_of = str(self.params.get("catalogue_as_of") or "configuration")
            return parse_catalogue({"as_of": as_of, "entries": list(entries)})
        return PACKAGED_CATALOGUE

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        try:
            self._catalogue = self.catalogue()
        except CatalogueError as exc:
            yield self.error(self.target.name, ErrorKind.BUG, f"vulnerability catalogue: {exc}")
            return
        yield from super().evaluate(facts)

    def judge_host(self, host: HostPorts) -> Iterator[Finding]:
        for svc in host.services:
            if not _is_open(svc) or not svc.product:
                continue
            candidates = [e for e in self._catalogue.entries if e.product_pattern.search(svc.product)]
            if candidates:
                yield self._judge(host, svc, candidates)

    def _judge(self, host: HostPorts, svc: ServiceInfo, candidates: list[VulnEntry]) -> Finding:
        resource = _resource(host, svc)
        version, build = _version_token(svc.version)
        base = _evidence(host, svc, catalogue_as_of=self._catalogue.as_of)
        params: dict[str, Any] = {"resource": resource, "seen": _seen(svc)}
        ids = [e.id for e in candidates]
        if version is None or svc.method != "probed":
            evidence = {**base, "candidates": ids}
            return self.finding(
                Status.WARN, resource, "low_confidence", evidence=evidence, severity=Severity.MEDIUM, **params
            )
        hits = [e for e in candidates if e.affects(version)]
        if not hits:
            return self.finding(
                Status.PASS, resource, "not_affected", evidence={**base, "checked": ids}, **params
            )
        listed = [
            {"id": e.id, "kev": e.kev, "title": e.title, "source": e.source, "published": e.published}
            for e in hits
        ]
        evidence = {**base, "vulnerabilities": listed}
        cves = join_bounded(e.id for e in hits)
        if build or _DISTRO.search(svc.extrainfo or ""):
            evidence["distribution_build"] = build or svc.extrainfo
            return self.finding(
                Status.WARN,
                resource,
                "distro_build",
                evidence=evidence,
                severity=Severity.MEDIUM,
                cves=cves,
                **params,
            )
        if any(e.kev for e in hits):
            kev = join_bounded(e.id for e in hits if e.kev)
            return self.finding(
                Status.FAIL,
                resource,
                "kev",
                evidence=evidence,
                severity=Severity.CRITICAL,
                cves=kev,
                **params,
            )
        return self.finding(
            Status.FAIL,
            resource,
            "known_vuln",
            evidence=evidence,
            severity=Severity.HIGH,
            cves=cves,
            **params,
        )

    def host_pass(self, host: HostPorts) -> Finding:
        products = [f"{s.product} {s.version or ''}".strip() for s in host.services if s.product]
        evidence = {
            "address": host.address,
            "fingerprinted": products,
            "catalogue_as_of": self._catalogue.as_of,
            "catalogue_entries": len(self._catalogue.entries),
        }
        return self.finding(Status.PASS, host.address, "none", evidence=evidence, address=host.address)


@dataclass(frozen=True)
class _EolRule:
    name: str
    pattern: re.Pattern[str]
    below: str | None
    status: Status
    eol: str

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> _EolRule:
        return cls(
            name=str(raw["name"]),
            pattern=re.compile(str(raw["pattern"]), re.IGNORECASE),
            below=str(raw["below"]) if raw.get("below") else None,
            status=Status(raw.get("status", "fail")),
            eol=str(raw.get("eol", "")),
        )

    def matches(self, text: str) -> str | None:
        """The version matched in `text` (or the whole match), when the rule applies."""
        for match in self.pattern.finditer(text):
            found = match.group(1) if match.groups() and match.group(1) else match.group(0)
            if self.below is None or version_key(found) < version_key(self.below):
                return found
        return None


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class EolSoftware(_SvcCheck):
    """FAIL (high): a banner shows end-of-life software (rules in `rules`: Windows Server 2008/2012 and
    their IIS, Exchange 2010/2013/2016, Apache 2.2, old PHP, OpenSSL and OpenSSH branches). WARN (medium):
    a branch outside full support but not yet EOL. PASS per address otherwise. Dates: see `as_of`."""

    id = "SVC-EOL-SOFTWARE"

    def _aged(self, rule: _EolRule) -> _EolRule:
        day = self._facts.collected_at[:10]
        if rule.status is Status.WARN and _ISO_DAY.match(rule.eol) and _ISO_DAY.match(day) and day > rule.eol:
            return dataclasses.replace(rule, status=Status.FAIL)
        return rule

    def judge_host(self, host: HostPorts) -> Iterator[Finding]:
        rules = [_EolRule.parse(raw) for raw in self.params.get("rules", [])]
        for svc in host.services:
            text = _fingerprint(svc)
            if not _is_open(svc) or not text:
                continue
            hits = [(rule, found) for rule in rules if (found := rule.matches(text)) is not None]
            if not hits:
                continue
            # A "warn" rule whose ISO end-of-life date is past at collection time is a fail (replays of
            # saved facts keep the verdict of the day of the scan).
            hits = [(self._aged(rule), found) for rule, found in hits]
            fails = [h for h in hits if h[0].status is Status.FAIL]
            status = Status.FAIL if fails else Status.WARN
            chosen = fails or hits
            resource = _resource(host, svc)
            software = join_bounded(f"{rule.name} ({found})" for rule, found in chosen)
            listed = [{"rule": r.name, "found": f, "status": r.status.value, "eol": r.eol} for r, f in hits]
            evidence = _evidence(host, svc, eol=listed, as_of=str(self.params.get("as_of", "")))
            yield self.finding(
                status,
                resource,
                "eol" if status is Status.FAIL else "outdated",
                evidence=evidence,
                severity=None if status is Status.FAIL else Severity.MEDIUM,
                resource=resource,
                software=software,
            )


# --------------------------------------------------------------------------------------------------
# UDP, IoT, industrial, infrastructure


class Snmp(_SvcCheck):
    """FAIL (high): the default community "public" answered ("default_community", opt-in test
    "snmp_community"). WARN (medium): SNMP answers on UDP 161 ("reachable" when the opt-in test was not
    enabled, "community_refused" when it ran and got no answer). NOT_TESTED when UDP was not scanned
    or the port stayed silent. PASS per address otherwise."""

    id = "SVC-SNMP"
    udp_only = True

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        sysdescr = svc.probes.get(ProbeKey.SNMP_SYSDESCR)
        opt_in = _opt_in_evidence(svc, "snmp_community")
        if sysdescr:
            evidence = {"community": "public", "sysdescr": _excerpt(sysdescr), **opt_in}
            return self.service_finding(
                Status.FAIL, host, svc, kind, "default_community", severity=Severity.HIGH, evidence=evidence
            )
        if "opt_in_not_enabled" in opt_in:
            evidence = {"community_test": "not run", **opt_in}
            message = "reachable"
        else:
            evidence = {"community_test": "public: no answer", **opt_in}
            message = "community_refused"
        return self.service_finding(
            Status.WARN, host, svc, kind, message, severity=Severity.MEDIUM, evidence=evidence
        )


class IotVideo(_SvcCheck):
    """FAIL (high): camera, NVR/DVR or RTSP reachable. WARN (medium): printer services (9100, 631, 515).
    PASS per address otherwise."""

    id = "SVC-IOT-VIDEO"


class IcsBms(_SvcCheck):
    """FAIL (critical): an industrial or building-management protocol reachable (Modbus, S7, EtherNet/IP,
    BACnet, KNX, Niagara Fox, DNP3, OPC UA, MQTT, SCADA HMIs). PASS per address otherwise."""

    id = "SVC-ICS-BMS"


class Amplifiers(_SvcCheck):
    """FAIL (medium): a UDP service usable for DDoS amplification answered "monlist" or with a measured
    response larger than the request. WARN: it answers, amplification not measured. NOT_TESTED when UDP
    was off or the port stayed silent. Services: NTP, SSDP, CLDAP, Memcached, chargen, QOTD, WS-Discovery,
    Ubiquiti discovery."""

    id = "SVC-AMPLIFIERS"
    udp_only = True

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        monlist = svc.probes.get(ProbeKey.NTP_MONLIST)
        measured = svc.probes.get(ProbeKey.UDP_AMPLIFICATION)
        evidence: dict[str, Any] = {
            "amplification": measured or "not measured (the service answered nmap's UDP probe)"
        }
        if monlist:
            evidence["ntp_monlist"] = _excerpt(monlist)
            return self.service_finding(Status.FAIL, host, svc, kind, "monlist", evidence=evidence)
        if measured:
            return self.service_finding(Status.FAIL, host, svc, kind, "exposed", evidence=evidence)
        # The checklist fails a response larger than the request; an answer alone (any NTP or DNS
        # server gives one) proves reachability, not amplification: a warning until it is measured.
        return self.service_finding(Status.WARN, host, svc, kind, "answers", evidence=evidence)


class InfraApi(_SvcCheck):
    """FAIL (critical): Docker, Kubernetes, kubelet, etcd, NFS, portmapper, rsync, iSCSI or TFTP reachable;
    "unauthenticated" when the Docker API or the rsync module list answered without credentials. PASS
    per address otherwise."""

    id = "SVC-INFRA-API"

    def judge_service(self, host: HostPorts, svc: ServiceInfo, kind: _Kind) -> Finding:
        docker = svc.probes.get(ProbeKey.DOCKER_VERSION)
        rsync = svc.probes.get(ProbeKey.RSYNC_MODULES)
        if docker or rsync:
            evidence = {"docker_version": _excerpt(docker), "rsync_modules": _excerpt(rsync)}
            return self.service_finding(
                Status.FAIL, host, svc, kind, "unauthenticated", severity=Severity.CRITICAL, evidence=evidence
            )
        return self.service_finding(Status.FAIL, host, svc, kind, "exposed")


class PortSurface(_SvcCheck):
    """Per address, open TCP ports outside the expected profile (web, mail, DNS). PASS: none. WARN: 1 or
    2 unexpected ports, none sensitive. FAIL: 3 or more, or any sensitive one. Inventory comparison (hosts
    missing from the commune's inventory) is not implemented."""

    id = "SVC-PORT-SURFACE"

    def judge_host(self, host: HostPorts) -> Iterator[Finding]:
        expected = _ints(self.params.get("expected_tcp_ports"))
        sensitive = _ints(self.params.get("sensitive_tcp_ports"))
        sensitive_names = {s.lower() for s in _strs(self.params.get("sensitive_services"))}
        threshold = int(self.params.get("fail_threshold", 3))
        tcp = sorted(
            {s.port: s for s in host.services if s.proto == "tcp" and s.state == "open"}.values(),
            key=lambda s: s.port,
        )
        unexpected = [s for s in tcp if s.port not in expected]
        risky = [
            s
            for s in unexpected
            if s.port in sensitive or (_identified(s) and s.service.lower() in sensitive_names)
        ]
        labels = [f"{s.port} ({s.service or '?'})" for s in unexpected]
        evidence = {
            "address": host.address,
            "open_tcp": [s.port for s in tcp],
            "unexpected": labels[:_MAX_ITEMS],
            "sensitive": [s.port for s in risky],
            "expected_profile": sorted(expected),
            "inventory_comparison": "not implemented",
        }
        if not unexpected:
            yield self.finding(Status.PASS, host.address, "none", evidence=evidence, address=host.address)
        elif len(unexpected) >= threshold or risky:
            message = "too_many" if len(unexpected) >= threshold else "sensitive"
            yield self.finding(
                Status.FAIL,
                host.address,
                message,
                evidence=evidence,
                address=host.address,
                count=len(unexpected),
                ports=join_bounded(labels),
            )
        else:
            yield self.finding(
                Status.WARN,
                host.address,
                "unexpected",
                evidence=evidence,
                address=host.address,
                count=len(unexpected),
                ports=join_bounded(labels),
            )


CHECKS: list[type[Check]] = [
    RdpExposed,
    SmbNetbios,
    AdExposed,
    VncRemote,
    Telnet,
    Ftp,
    Ssh,
    DbExposed,
    AdminInterfaces,
    VpnGateway,
    EdgeKnownVuln,
    EolSoftware,
    Snmp,
    IotVideo,
    IcsBms,
    Amplifiers,
    InfraApi,
    PortSurface,
]
