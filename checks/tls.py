"""TLS checks (checklist §1.1): protocol versions, cipher suites, key exchange, certificates, protocol
options and known flaws, on every TLS endpoint of the target (HTTPS, SMTP STARTTLS, submission, IMAPS…).

Every check judges `TlsFacts` only (sslyze results distilled by the TLS collector) and yields exactly one
finding per endpoint. Its resource is "host:port (service)", e.g. "www.mairie-exemple.fr:443 (https)";
when one name and port were scanned at several addresses, the address is added:
"mx.mairie-exemple.fr:25 (smtp, 192.0.2.25)". A target without any TLS endpoint gets one not_applicable.

Rules shared by every check (`_TlsCheck`), in this order:
- an endpoint that could not be scanned at all (`error_kind`) is an `error` (kinds mapped by
  `_ERROR_KINDS`; "not_tls", a port that answered without speaking TLS or refused STARTTLS, is a
  PROTOCOL error: the handshake was never attempted);
- a check reading an *active* sslyze command (protocol enumeration, curves, options, vulnerability
  probes) is `not_tested` on an endpoint outside the declared scope, where only the certificate was
  retrieved; certificate checks read `certificate_info` only, which is passive, and judge every endpoint;
- each check names the sslyze commands it reads (`commands`). When one of them failed on the endpoint
  (`unavailable`) or left no result, the check is an `error` naming the command, and only that check.
  Exception (`fail_stands`): where the results that did arrive already prove a fail (SSLv3 accepted,
  Heartbleed found), the fail stands and the undecided commands are listed in the evidence;
- dates are judged against `TlsFacts.collected_at`, never the clock, so a replay of saved facts gives the
  verdicts of the day of the scan.

Port 25 (service "smtp", STARTTLS between mail servers) is opportunistic TLS: a sending server that cannot
negotiate falls back to clear text, and accepts any certificate unless the domain publishes MTA-STS or
DANE. TLS-PROTO-LEGACY, TLS-CERT-NAME and TLS-CERT-CHAIN therefore warn instead of failing there; MAIL-MX-TLS
(mail family) is the check that turns those into failures when MTA-STS or DANE is published.
"""

from __future__ import annotations

import dataclasses
import re
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from cyberscan.bounds import bound_evidence, join_bounded
from cyberscan.collectors.tls_facts import (
    ACTIVE_COMMANDS,
    PROTOCOL_COMMANDS,
    CertificateSummary,
    CipherSuiteInfo,
    TlsEndpoint,
    TlsFacts,
)
from cyberscan.models import ErrorKind, Finding, Severity, Status
from cyberscan.plugin import Check, FactBag
from cyberscan.targets import TargetKind
from cyberscan.timestamps import parse_instant, utc_day

_MAX_ITEMS = 20

#: `TlsEndpoint.error_kind` and `CommandError.kind` values -> engine error kinds
_ERROR_KINDS = {
    "timeout": ErrorKind.TIMEOUT,
    "deadline": ErrorKind.DEADLINE,
    "unreachable": ErrorKind.UNREACHABLE,
    "refused": ErrorKind.UNREACHABLE,
    "dns": ErrorKind.DNS_FAILURE,
    # The port answered but not in TLS (or refused STARTTLS): a protocol mismatch, no handshake failed.
    "not_tls": ErrorKind.PROTOCOL,
    "protocol": ErrorKind.PROTOCOL,
    "tls": ErrorKind.TLS_HANDSHAKE,
    "handshake": ErrorKind.TLS_HANDSHAKE,
    "tool_missing": ErrorKind.TOOL_MISSING,
    "permission": ErrorKind.PERMISSION,
    "bug": ErrorKind.BUG,
}

_VERSION_OF_COMMAND = {command: version for version, command in PROTOCOL_COMMANDS.items()}
_ACTIVE = frozenset(ACTIVE_COMMANDS)
_SSL = ("SSLv2", "SSLv3")
_LEGACY = ("TLSv1.0", "TLSv1.1")
_BEFORE_13 = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2")
_ALL_PROTOCOLS = tuple(PROTOCOL_COMMANDS)
_SMTP = "smtp"
_MOZILLA = "Mozilla"
_SUPPLIED = "Supplied CA file"


# --------------------------------------------------------------------------------------------------
# Small pure helpers


_ADDRESS_TARGETS = (TargetKind.IP, TargetKind.NETWORK)


def _error_kind(kind: str | None) -> ErrorKind:
    if kind is None:
        return ErrorKind.UNREACHABLE
    if kind in _ERROR_KINDS:
        return _ERROR_KINDS[kind]
    try:
        return ErrorKind(kind)
    except ValueError:
        return ErrorKind.UNREACHABLE


def _p_int(params: Mapping[str, Any], name: str) -> int:
    return int(params[name])


def _p_strs(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name, [])
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _resource(ep: TlsEndpoint, with_address: bool) -> str:
    host = f"[{ep.host}]" if ":" in ep.host else ep.host
    where = f"{ep.service}, {ep.address}" if with_address and ep.address else ep.service
    return f"{host}:{ep.port} ({where})"


def _accepted(ep: TlsEndpoint, *versions: str) -> list[tuple[str, CipherSuiteInfo]]:
    """(version, suite) accepted for the given versions, oldest first; a version not enumerated adds none."""
    return [(p.version, s) for p in ep.protocols if p.version in versions for s in p.accepted]


def _supported(ep: TlsEndpoint, version: str) -> bool:
    found = ep.protocol(version)
    return found is not None and found.supported


def _offered(ep: TlsEndpoint, versions: Iterable[str] = _ALL_PROTOCOLS) -> list[str]:
    return [v for v in versions if _supported(ep, v)]


def _suite_list(pairs: Iterable[tuple[str, CipherSuiteInfo]]) -> list[str]:
    return [f"{version} {suite.name}" for version, suite in pairs][:_MAX_ITEMS]


_CN = re.compile(r"(?:^|,)\s*CN=((?:[^,\\]|\\.)+)", re.IGNORECASE)


def _cn(name: str) -> str:
    """The common name of an RFC 4514 distinguished name, else the whole name."""
    match = _CN.search(name)
    return match.group(1).strip() if match else (name or "?")


def _short_error(text: str | None) -> str:
    """sslyze's path-validation error without the certificate dump cryptography appends."""
    if not text:
        return "?"
    return text.split(" (encountered processing", 1)[0].strip()


def _has_result(ep: TlsEndpoint, command: str) -> bool:
    """Whether the facts hold the result of `command` (the collector records a result or a failure)."""
    version = _VERSION_OF_COMMAND.get(command)
    if version is not None:
        return ep.protocol(version) is not None
    present = {
        "certificate_info": bool(ep.chain),
        "elliptic_curves": ep.groups is not None,
        "tls_compression": ep.compression is not None,
        "session_renegotiation": ep.secure_renegotiation is not None and ep.client_renegotiation is not None,
        "tls_1_3_early_data": ep.early_data is not None,
        "tls_extended_master_secret": ep.extended_master_secret is not None,
        "tls_fallback_scsv": ep.fallback_scsv is not None,
        "heartbleed": ep.heartbleed is not None,
        "openssl_ccs_injection": ep.ccs_injection is not None,
        "robot": ep.robot is not None,
    }
    # session_resumption: sslyze rarely measures the ticket lifetime hint; None is a normal result.
    return present.get(command, True)


def _judged_certificates(chain: tuple[CertificateSummary, ...]) -> list[tuple[str, CertificateSummary]]:
    """The leaf and the intermediates sent, skipping self-signed roots (clients use their own copy)."""
    if not chain:
        return []
    return [("leaf", chain[0])] + [("intermediate", c) for c in chain[1:] if not c.self_signed]


# --------------------------------------------------------------------------------------------------
# Common base


class _TlsCheck(Check):
    """Iterates over the target's TLS endpoints; applies the error, scope and failed-command rules."""

    requires = (TlsFacts,)
    #: sslyze scan commands whose results this check reads (keys of `TlsEndpoint.unavailable`)
    commands: ClassVar[tuple[str, ...]] = ()
    #: True when a fail is only ever proven by something observed: it stands when another command failed
    fail_stands: ClassVar[bool] = False
    _collected_at: str = ""

    @classmethod
    def active(cls) -> bool:
        """Whether the check needs an active command (then it is not_tested outside the scope)."""
        return any(command in _ACTIVE for command in cls.commands)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        tls = facts.get(TlsFacts)
        if not tls.endpoints:
            yield self.finding(
                Status.NOT_APPLICABLE, self.target.name, "no_endpoint", target=self.target.name
            )
            return
        self._collected_at = tls.collected_at
        names = Counter((ep.host, ep.port, ep.service) for ep in tls.endpoints)
        for ep in tls.endpoints:
            resource = _resource(ep, names[(ep.host, ep.port, ep.service)] > 1)
            yield self._endpoint(ep, resource)

    def _endpoint(self, ep: TlsEndpoint, resource: str) -> Finding:
        if ep.error_kind == "out_of_scope":
            return self.out_of_scope(resource, ep.host)
        if ep.error_kind in ("unreachable", "timeout") and self.target.kind in _ADDRESS_TARGETS:
            # An address typed by the user (IP, network) that serves no TLS on the port: a fact about
            # the address, not a failure. A name the commune publishes that does not answer stays one.
            return self.finding(Status.NOT_APPLICABLE, resource, "no_service", endpoint=resource)
        if ep.error_kind == "not_tls" and ep.starttls is not None:
            # A mail server that answers but refuses STARTTLS has no TLS to judge: that is a verdict
            # about the service (MAIL-STARTTLS fails it), not a scanner failure.
            return self.finding(Status.NOT_APPLICABLE, resource, "starttls_refused", endpoint=resource)
        if ep.error_kind is not None:
            reason = ep.error or ep.error_kind
            return self.error(resource, _error_kind(ep.error_kind), f"{ep.host}:{ep.port}: {reason}")
        if self.active() and not ep.active_allowed:
            return self.out_of_scope(resource, ep.host)
        gaps: list[tuple[str, ErrorKind, str]] = []
        for command in self.commands:
            failure = ep.unavailable.get(command)
            if failure is not None:
                gaps.append((command, _error_kind(failure.kind), f"{command} failed: {failure.detail}"))
            elif not _has_result(ep, command):
                gaps.append((command, ErrorKind.BUG, f"{command} left no result"))
        if not gaps:
            return self.unreadable(ep, resource) or self.judge(ep, resource)
        if self.fail_stands:
            verdict = self.judge(ep, resource)
            if verdict.status is Status.FAIL:
                evidence = {**verdict.evidence, "undecided_commands": [g[0] for g in gaps]}
                return dataclasses.replace(verdict, evidence=bound_evidence(evidence))
        return self.error(resource, gaps[0][1], "; ".join(g[2] for g in gaps))

    @abstractmethod
    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        """The finding for one endpoint whose needed results are present (or, with `fail_stands`,
        partly present: a missing result must read as "nothing observed")."""

    def verdict(
        self,
        status: Status,
        resource: str,
        message_id: str,
        /,
        evidence: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
        **params: Any,
    ) -> Finding:
        """A finding whose message can name the endpoint (`{endpoint}`)."""
        return self.finding(
            status, resource, message_id, evidence=evidence, severity=severity, endpoint=resource, **params
        )

    def _now(self) -> datetime | None:
        return parse_instant(self._collected_at)

    def _legacy_period_over(self) -> bool:
        """Whether the collection date is past `legacy_until` (PG-083: 2048-bit RSA/DH until end-2030).
        Without a collection date the period is taken as still running."""
        now = self._now()
        until = parse_instant(str(self.params.get("legacy_until", "")) + "T23:59:59+00:00")
        return now is not None and until is not None and now > until

    def unreadable(self, ep: TlsEndpoint, resource: str) -> Finding | None:
        """An error when the results the check reads are present but unusable; None otherwise."""
        return None


class _CertificateCheck(_TlsCheck):
    """A check of the certificate chain (passive: judged on every endpoint, in scope or not)."""

    commands = ("certificate_info",)

    def unreadable(self, ep: TlsEndpoint, resource: str) -> Finding | None:
        # The collector turns a leaf that cryptography could not parse into a summary without key or
        # dates (the reason in signature_algorithm): the server sent it, so it is a protocol problem.
        leaf = ep.chain[0]
        if not leaf.key_type and not leaf.not_after:
            detail = f"the leaf certificate could not be parsed ({leaf.signature_algorithm or leaf.subject})"
            return self.error(resource, ErrorKind.PROTOCOL, detail)
        return None


# --------------------------------------------------------------------------------------------------
# Protocol versions


def _refused(ep: TlsEndpoint, versions: tuple[str, ...]) -> dict[str, Any]:
    """Evidence of the versions the server refused outright (one handshake offering every suite,
    answered by a refusal of the version itself: their suites were not tried one by one)."""
    refused = {v: ep.refused_versions[v] for v in versions if v in ep.refused_versions}
    return {"refused_outright": refused} if refused else {}


class ProtoSsl(_TlsCheck):
    """PASS: neither SSLv2 nor SSLv3 negotiable. FAIL: either accepted."""

    id = "TLS-PROTO-SSL"
    commands = tuple(PROTOCOL_COMMANDS[v] for v in _SSL)
    fail_stands = True

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        offered = _offered(ep, _SSL)
        evidence = {"offered": offered, "suites": _suite_list(_accepted(ep, *_SSL)), **_refused(ep, _SSL)}
        if offered:
            return self.verdict(
                Status.FAIL, resource, "offered", evidence=evidence, versions=join_bounded(offered)
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence)


class ProtoLegacy(_TlsCheck):
    """PASS: neither TLS 1.0 nor TLS 1.1 negotiable. FAIL: either accepted. On port 25 (smtp) the same
    finding is a WARN: refusing them there would make old sending servers fall back to clear text."""

    id = "TLS-PROTO-LEGACY"
    commands = tuple(PROTOCOL_COMMANDS[v] for v in _LEGACY)
    fail_stands = True

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        offered = _offered(ep, _LEGACY)
        evidence = {
            "offered": offered,
            "suites": _suite_list(_accepted(ep, *_LEGACY)),
            **_refused(ep, _LEGACY),
        }
        if not offered:
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence)
        if ep.service == _SMTP:
            return self.verdict(
                Status.WARN, resource, "offered_smtp", evidence=evidence, versions=join_bounded(offered)
            )
        return self.verdict(
            Status.FAIL, resource, "offered", evidence=evidence, versions=join_bounded(offered)
        )


class ProtoModern(_TlsCheck):
    """PASS: TLS 1.3 offered (1.2 allowed). WARN (low): TLS 1.2 without 1.3. FAIL (high): neither."""

    id = "TLS-PROTO-MODERN"
    commands = (PROTOCOL_COMMANDS["TLSv1.2"], PROTOCOL_COMMANDS["TLSv1.3"])

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        offered = _offered(ep)
        evidence = {"offered": offered}
        versions = join_bounded(offered) if offered else "-"
        if "TLSv1.3" in offered:
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, versions=versions)
        if "TLSv1.2" in offered:
            return self.verdict(
                Status.WARN,
                resource,
                "tls12_only",
                evidence=evidence,
                severity=Severity.LOW,
                versions=versions,
            )
        return self.verdict(Status.FAIL, resource, "no_modern", evidence=evidence, versions=versions)


# --------------------------------------------------------------------------------------------------
# Cipher suites


class CipherWeak(_TlsCheck):
    """PASS: no accepted suite (any version) has a NULL, anonymous, EXPORT, 64-bit-block (DES, 3DES,
    IDEA, RC2) or RC4 cipher, an MD5 MAC or a symmetric key under 128 bits. FAIL: any does."""

    id = "TLS-CIPHER-WEAK"
    commands = tuple(PROTOCOL_COMMANDS.values())
    fail_stands = True

    def _weaknesses(self, suite: CipherSuiteInfo) -> list[str]:
        cipher = suite.cipher.upper()
        reasons = []
        if cipher == "NULL" or suite.key_bits == 0:
            reasons.append("NULL")
        if suite.anonymous or suite.kex.upper() == "ANON":
            reasons.append("anonymous")
        if suite.export:
            reasons.append("EXPORT")
        if cipher in {c.upper() for c in _p_strs(self.params, "weak_ciphers")}:
            reasons.append(cipher)
        if suite.mac.upper() in {m.upper() for m in _p_strs(self.params, "weak_macs")}:
            reasons.append(f"{suite.mac.upper()} MAC")
        if 0 < suite.key_bits < _p_int(self.params, "min_key_bits"):
            reasons.append(f"{suite.key_bits}-bit key")
        return reasons

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        weak = []
        for version, suite in _accepted(ep, *_ALL_PROTOCOLS):
            reasons = self._weaknesses(suite)
            if reasons:
                weak.append((version, suite, reasons))
        evidence = {
            "weak": [{"version": v, "suite": s.name, "reasons": r} for v, s, r in weak][:_MAX_ITEMS],
            "count": len(weak),
        }
        if weak:
            labels = [f"{s.name} ({', '.join(r)})" for _, s, r in weak]
            return self.verdict(
                Status.FAIL,
                resource,
                "weak",
                evidence=evidence,
                count=len(weak),
                suites=join_bounded(labels, 4),
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence)


class CipherNoFs(_TlsCheck):
    """PASS: every accepted TLS 1.2 suite is forward-secret (ECDHE/DHE), or only TLS 1.3 is offered.
    WARN: non-forward-secret suites (TLS_RSA_*, static ECDH/DH) accepted beside forward-secret ones.
    FAIL: no accepted TLS 1.2 suite is forward-secret. N/A: neither TLS 1.2 nor 1.3 (TLS-PROTO-MODERN).

    sslyze 6 does not measure the server's preference order, so "accepted but never preferred" cannot be
    told from "preferred": a non-FS suite beside FS ones is a warning, whatever the order (the message says
    so). Modern clients all offer ECDHE, so in practice they get forward secrecy there.
    """

    id = "TLS-CIPHER-NOFS"
    commands = (PROTOCOL_COMMANDS["TLSv1.2"], PROTOCOL_COMMANDS["TLSv1.3"])

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        tls12 = [s for _, s in _accepted(ep, "TLSv1.2")]
        if not tls12:
            if _supported(ep, "TLSv1.3"):
                return self.verdict(Status.PASS, resource, "tls13_only", evidence={"tls12": False})
            return self.verdict(Status.NOT_APPLICABLE, resource, "no_modern", evidence={"tls12": False})
        no_fs = [s.name for s in tls12 if not s.forward_secret]
        evidence = {
            "non_forward_secret": no_fs[:_MAX_ITEMS],
            "accepted": len(tls12),
            "server_preference": "not_measured",
        }
        if not no_fs:
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, count=len(tls12))
        if len(no_fs) < len(tls12):
            return self.verdict(
                Status.WARN,
                resource,
                "mixed",
                evidence=evidence,
                count=len(no_fs),
                suites=join_bounded(no_fs, 4),
            )
        return self.verdict(
            Status.FAIL, resource, "none", evidence=evidence, count=len(no_fs), suites=join_bounded(no_fs, 4)
        )


class CipherNonAead(_TlsCheck):
    """PASS: TLS 1.2 accepts AEAD suites only (AES-GCM/CCM, ChaCha20-Poly1305), or only TLS 1.3 is offered.
    WARN (low): CBC (non-AEAD) suites beside AEAD ones. FAIL (medium): no AEAD suite at all (none in TLS 1.2,
    and no TLS 1.3). The server's cipher-order enforcement (ANSSI R13) is not reported: sslyze 6 does not
    measure it."""

    id = "TLS-CIPHER-NONAEAD"
    commands = (PROTOCOL_COMMANDS["TLSv1.2"], PROTOCOL_COMMANDS["TLSv1.3"])

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        tls12 = [s for _, s in _accepted(ep, "TLSv1.2")]
        tls13 = _supported(ep, "TLSv1.3")
        if not tls12 and tls13:
            return self.verdict(Status.PASS, resource, "tls13_only", evidence={"tls12": False})
        non_aead = [s.name for s in tls12 if not s.aead]
        evidence = {"non_aead": non_aead[:_MAX_ITEMS], "accepted": len(tls12), "tls13": tls13}
        if tls12 and not non_aead:
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, count=len(tls12))
        if len(non_aead) < len(tls12):
            return self.verdict(
                Status.WARN,
                resource,
                "cbc_alongside",
                evidence=evidence,
                count=len(non_aead),
                suites=join_bounded(non_aead, 4),
            )
        return self.verdict(Status.FAIL, resource, "no_aead", evidence=evidence, severity=Severity.MEDIUM)


# --------------------------------------------------------------------------------------------------
# Key exchange

_GROUP_ALIASES = {
    "prime256v1": "secp256r1",
    "p-256": "secp256r1",
    "p256": "secp256r1",
    "prime192v1": "secp192r1",
    "p-384": "secp384r1",
    "p384": "secp384r1",
    "p-521": "secp521r1",
    "p521": "secp521r1",
    "curve25519": "x25519",
    "curve448": "x448",
}
_FFDHE = re.compile(r"^ffdhe(\d+)$")
_HYBRID_MARKERS = ("mlkem", "kyber")


def _group_name(name: str) -> str:
    """A group name as compared with the params: lower case, OpenSSL aliases resolved, no TLS 1.3 suffix."""
    lowered = name.strip().lower()
    if lowered.startswith("brainpool") and lowered.endswith("tls13"):
        lowered = lowered[: -len("tls13")]
    return _GROUP_ALIASES.get(lowered, lowered)


def _curve_bits(name: str) -> int | None:
    """The field size written in a curve's name (secp192r1 -> 192, sect163k1 -> 163), if any."""
    match = re.search(r"(\d{3})", name)
    return int(match.group(1)) if match else None


class KexGroups(_TlsCheck):
    """PASS: ECDHE groups among x25519, x448, secp256r1/384r1/521r1, brainpool*r1 and DHE ≥ 3072 bits (a
    hybrid post-quantum group such as X25519MLKEM768 is named as a bonus). WARN: DHE 2048 bits (accepted
    until end-2030, a fail afterwards) or an unusual curve. FAIL: DHE < 2048 bits (high when ≤ 1024:
    Logjam) or a curve under 256 bits. N/A: no ephemeral key exchange at all (TLS-CIPHER-NOFS)."""

    id = "TLS-KEX-GROUPS"
    commands = ("elliptic_curves", *PROTOCOL_COMMANDS.values())
    fail_stands = True

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        suites = [s for _, s in _accepted(ep, *_ALL_PROTOCOLS)]
        # The curves and DH sizes seen in the suites' own handshakes complete what elliptic_curves listed.
        names: dict[str, str] = {}  # normalised -> as reported
        dhe = set(ep.dhe_bits)
        for name in [*(ep.groups or ()), *(s.ephemeral_type or "" for s in suites)]:
            if name.upper() != "DH" and name:
                names.setdefault(_group_name(name), name)
        dhe.update(
            s.ephemeral_bits for s in suites if (s.ephemeral_type or "").upper() == "DH" and s.ephemeral_bits
        )
        good = {_group_name(g) for g in _p_strs(self.params, "good_groups")}
        min_curve = _p_int(self.params, "min_curve_bits")
        hybrid: list[str] = []
        small_curves: list[str] = []
        unusual: list[str] = []
        for key, name in names.items():
            ffdhe = _FFDHE.match(key)
            bits = _curve_bits(key)
            if any(marker in key for marker in _HYBRID_MARKERS):
                hybrid.append(name)
            elif ffdhe:
                dhe.add(int(ffdhe.group(1)))
            elif key in good:
                continue
            elif bits is not None and bits < min_curve:
                small_curves.append(f"{name} ({bits} bits)")
            else:
                unusual.append(name)
        minimum = _p_int(self.params, "min_dhe_bits")
        recommended = _p_int(self.params, "recommended_dhe_bits")
        if self._legacy_period_over():
            minimum = recommended
        weak_dhe = sorted(b for b in dhe if b < minimum)
        tolerated_dhe = sorted(b for b in dhe if minimum <= b < recommended)
        evidence = {
            "groups": list(names.values())[:_MAX_ITEMS],
            "dhe_bits": sorted(dhe),
            "hybrid_pq": hybrid,
            "small_curves": small_curves,
            "unusual_curves": unusual,
        }
        logjam = [b for b in weak_dhe if b <= _p_int(self.params, "logjam_dhe_bits")]
        if logjam:
            items = [f"DHE {b} bits" for b in weak_dhe] + small_curves
            return self.verdict(
                Status.FAIL,
                resource,
                "logjam",
                evidence=evidence,
                severity=Severity.HIGH,
                bits=str(max(logjam)),
                items=join_bounded(items),
            )
        if weak_dhe or small_curves:
            items = [f"DHE {b} bits" for b in weak_dhe] + small_curves
            return self.verdict(Status.FAIL, resource, "weak", evidence=evidence, items=join_bounded(items))
        if tolerated_dhe or unusual:
            items = [f"DHE {b} bits" for b in tolerated_dhe] + unusual
            return self.verdict(
                Status.WARN, resource, "tolerated", evidence=evidence, items=join_bounded(items)
            )
        if not names and not dhe:
            return self.verdict(Status.NOT_APPLICABLE, resource, "no_ephemeral", evidence=evidence)
        shown = join_bounded([*names.values(), *(f"DHE {b} bits" for b in sorted(dhe))])
        if hybrid:
            return self.verdict(
                Status.PASS,
                resource,
                "pass_hybrid",
                evidence=evidence,
                groups=shown,
                hybrid=join_bounded(hybrid),
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence, groups=shown)


# --------------------------------------------------------------------------------------------------
# Certificates

_GOOD_EC_CURVES = (
    "secp256r1",
    "secp384r1",
    "secp521r1",
    "brainpoolp256r1",
    "brainpoolp384r1",
    "brainpoolp512r1",
)


def _key_text(cert: CertificateSummary) -> str:
    kind = cert.key_type.upper()
    if kind == "RSA" or kind == "DSA":
        return f"{kind} {cert.key_bits} bits"
    if kind == "EC":
        return f"ECDSA {cert.curve or '?'} ({cert.key_bits} bits)"
    return cert.key_type or "?"


class CertKeysize(_CertificateCheck):
    """PASS: leaf key RSA ≥ 3072, ECDSA P-256/P-384 (also P-521, brainpool), Ed25519/Ed448. WARN (low):
    RSA 2048, compliant until 31/12/2030 (`legacy_until`; a fail once the scan date is past it); WARN
    (medium): an unusual key (DSA, other curve). FAIL: RSA < 2048 or an elliptic curve under 256 bits."""

    id = "TLS-CERT-KEYSIZE"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        leaf = ep.chain[0]
        kind = leaf.key_type.upper()
        key = _key_text(leaf)
        evidence = {"key_type": leaf.key_type, "key_bits": leaf.key_bits, "curve": leaf.curve}
        rsa_min = _p_int(self.params, "rsa_min_bits")
        rsa_recommended = _p_int(self.params, "rsa_recommended_bits")
        if kind == "RSA":
            minimum = rsa_recommended if self._legacy_period_over() else rsa_min
            if leaf.key_bits < minimum:
                return self.verdict(
                    Status.FAIL, resource, "rsa_small", evidence=evidence, bits=leaf.key_bits, minimum=minimum
                )
            if leaf.key_bits < rsa_recommended:
                return self.verdict(
                    Status.WARN,
                    resource,
                    "rsa_2048",
                    evidence=evidence,
                    severity=Severity.LOW,
                    bits=leaf.key_bits,
                    recommended=rsa_recommended,
                )
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, key=key)
        if kind == "EC":
            curve = _group_name(leaf.curve or "")
            bits = leaf.key_bits or _curve_bits(curve) or 0
            if curve in _GOOD_EC_CURVES:
                return self.verdict(Status.PASS, resource, "pass", evidence=evidence, key=key)
            if bits < _p_int(self.params, "ec_min_bits"):
                return self.verdict(Status.FAIL, resource, "ec_small", evidence=evidence, key=key)
        elif kind in ("ED25519", "ED448"):
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, key=key)
        return self.verdict(
            Status.WARN, resource, "unusual", evidence=evidence, severity=Severity.MEDIUM, key=key
        )


class CertSigalg(_CertificateCheck):
    """PASS: the leaf and intermediates are signed with SHA-256 or stronger (or EdDSA). FAIL: MD5 or SHA-1
    (`weak_hashes`). WARN: another hash (e.g. SHA-224). Self-signed roots are ignored: clients trust
    their own copy whatever signs it."""

    id = "TLS-CERT-SIGALG"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        weak_hashes = {h.lower() for h in _p_strs(self.params, "weak_hashes")}
        strong_hashes = {h.lower() for h in _p_strs(self.params, "strong_hashes")}
        weak: list[str] = []
        odd: list[str] = []
        seen = []
        for role, cert in _judged_certificates(ep.chain):
            digest = (cert.signature_hash or "").lower()
            # EdDSA signs without a separate hash; anything else without one is unknown, not strong.
            eddsa = not digest and cert.signature_algorithm.lower() in ("ed25519", "ed448")
            seen.append({"role": role, "subject": cert.subject, "hash": cert.signature_hash or None})
            label = f"{_cn(cert.subject)} ({cert.signature_hash or cert.signature_algorithm or '?'})"
            if digest in weak_hashes:
                weak.append(label)
            elif not eddsa and digest not in strong_hashes:
                odd.append(label)
        evidence = {"certificates": seen[:_MAX_ITEMS]}
        if weak:
            return self.verdict(
                Status.FAIL, resource, "weak", evidence=evidence, certificates=join_bounded(weak)
            )
        if odd:
            return self.verdict(
                Status.WARN,
                resource,
                "unusual",
                evidence=evidence,
                severity=Severity.MEDIUM,
                certificates=join_bounded(odd),
            )
        hashes = join_bounded(str(c["hash"] or "EdDSA") for c in seen)
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence, hashes=hashes)


class CertValidity(_CertificateCheck):
    """PASS: the leaf and every intermediate sent stay valid more than 30 days. WARN (medium): 8 to 30 days
    left. FAIL: 7 days or less, expired, or notBefore in the future. Judged at `collected_at` (an error when
    the facts carry no collection time)."""

    id = "TLS-CERT-VALIDITY"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        now = self._now()
        if now is None:
            return self.error(
                resource, ErrorKind.BUG, "the TLS facts carry no collection time (collected_at)"
            )
        rows = []
        for role, cert in _judged_certificates(ep.chain):
            start, end = parse_instant(cert.not_before), parse_instant(cert.not_after)
            if start is None or end is None:
                detail = (
                    f"unreadable validity dates on {cert.subject}: {cert.not_before!r}, {cert.not_after!r}"
                )
                return self.error(resource, ErrorKind.PROTOCOL, detail)
            rows.append((role, cert, start, end, (end - now) // timedelta(days=1)))
        evidence = {
            "collected_at": self._collected_at,
            "certificates": [
                {
                    "role": r,
                    "subject": c.subject,
                    "not_before": c.not_before,
                    "not_after": c.not_after,
                    "days_left": d,
                }
                for r, c, _, _, d in rows
            ][:_MAX_ITEMS],
        }
        future = next((row for row in rows if row[2] > now), None)
        if future is not None:
            role, cert, start, _, _ = future
            return self.verdict(
                Status.FAIL,
                resource,
                "not_yet_valid",
                evidence=evidence,
                subject=_cn(cert.subject),
                date=utc_day(start),
            )
        role, cert, _, end, days = min(rows, key=lambda row: row[3])
        values: dict[str, Any] = {"subject": _cn(cert.subject), "date": utc_day(end), "days": days}
        if end <= now:
            return self.verdict(Status.FAIL, resource, "expired", evidence=evidence, **values)
        if days <= _p_int(self.params, "fail_days"):
            return self.verdict(Status.FAIL, resource, "expiring", evidence=evidence, **values)
        if days <= _p_int(self.params, "warn_days"):
            return self.verdict(
                Status.WARN, resource, "renew_soon", evidence=evidence, severity=Severity.MEDIUM, **values
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence, **values)


class CertName(_CertificateCheck):
    """PASS: a subjectAltName entry of the leaf matches the endpoint's name (CN ignored, wildcards one label
    deep, computed by the collector). FAIL: mismatch. On port 25 (smtp) a mismatch is a WARN: sending
    servers accept any certificate there unless MTA-STS or DANE is published (judged by MAIL-MX-TLS)."""

    id = "TLS-CERT-NAME"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        leaf = ep.chain[0]
        evidence = {"host": ep.host, "sans": list(leaf.sans[:_MAX_ITEMS]), "subject": leaf.subject}
        if ep.hostname_matches is None:
            return self.error(resource, ErrorKind.BUG, "the host name match was not computed")
        if ep.hostname_matches:
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, host=ep.host)
        sans = join_bounded(leaf.sans, 5) if leaf.sans else "-"
        if ep.service == _SMTP:
            return self.verdict(
                Status.WARN,
                resource,
                "mismatch_smtp",
                evidence=evidence,
                severity=Severity.MEDIUM,
                host=ep.host,
                sans=sans,
            )
        return self.verdict(Status.FAIL, resource, "mismatch", evidence=evidence, host=ep.host, sans=sans)


#: path-validation errors that stop on a problem another check judges, before the chain is looked at
_HIDING_ERRORS = re.compile(
    r"subjectaltname|hostname|name mismatch|not valid at validation time|expired|not yet valid", re.IGNORECASE
)


class CertChain(_CertificateCheck):
    """PASS: the chain validates against a chosen trust store (`trust_stores`: Mozilla, or the --ca-bundle
    the user supplied, reported by sslyze as "Supplied CA file"). WARN: root sent needlessly (low);
    incomplete chain (medium). FAIL: self-signed leaf, private CA (an untrusted root sent), or otherwise
    untrusted. On port 25 (smtp) untrusted chains WARN (opportunistic TLS, see MAIL-MX-TLS).
    NOT_TESTED: validation stopped on a name mismatch or an expiry (sslyze reports only the first problem
    of a path), so the chain itself could not be judged; TLS-CERT-NAME/-VALIDITY report that problem.

    Incomplete chain is inferred: an untrusted chain that does not end in a root, whose leaf embeds SCTs
    (CT logs only accept chains to public roots, so the issuer is public: the intermediate is missing or
    wrong). Without SCTs a missing intermediate cannot be told from a private CA: it is reported untrusted.
    Qualified (RGS/eIDAS) issuers are named only when the leaf's issuer contains one of the
    `qualified_issuers` the user lists (empty by default: no list is shipped, the trust list changes).
    """

    id = "TLS-CERT-CHAIN"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        stores = _p_strs(self.params, "trust_stores")
        results = [t for t in ep.trust if t.store in stores]
        if not results:
            return self.error(resource, ErrorKind.BUG, f"no path validation against {join_bounded(stores)}")
        chain = ep.chain
        leaf, last = chain[0], chain[-1]
        evidence = {
            "trust": {t.store: "trusted" if t.trusted else _short_error(t.error) for t in ep.trust},
            "chain": [
                {"subject": c.subject, "issuer": c.issuer, "self_signed": c.self_signed} for c in chain
            ][:_MAX_ITEMS],
        }
        smtp = ep.service == _SMTP
        trusted = [t.store for t in results if t.trusted]
        if trusted:
            store = next(s for s in stores if s in trusted)
            if len(chain) > 1 and last.self_signed:
                return self.verdict(
                    Status.WARN,
                    resource,
                    "extra_root",
                    evidence=evidence,
                    severity=Severity.LOW,
                    root=_cn(last.subject),
                )
            qualified = next(
                (
                    q
                    for q in _p_strs(self.params, "qualified_issuers")
                    if q and q.lower() in leaf.issuer.lower()
                ),
                None,
            )
            if qualified is not None:
                return self.verdict(
                    Status.PASS,
                    resource,
                    "pass_qualified",
                    evidence=evidence,
                    issuer=_cn(leaf.issuer),
                    qualified=qualified,
                )
            message = "pass" if store == _MOZILLA else "pass_ca_bundle"
            return self.verdict(Status.PASS, resource, message, evidence=evidence, issuer=_cn(leaf.issuer))
        if leaf.self_signed:
            if smtp:
                return self._untrusted_smtp(resource, evidence, leaf)
            return self.verdict(
                Status.FAIL, resource, "self_signed", evidence=evidence, subject=_cn(leaf.subject)
            )
        hiding = next((t.error for t in results if t.error and _HIDING_ERRORS.search(t.error)), None)
        if hiding is not None:
            return self.verdict(
                Status.NOT_TESTED, resource, "undecided", evidence=evidence, reason=_short_error(hiding)
            )
        if not last.self_signed and leaf.sct_count > 0:
            return self.verdict(
                Status.WARN,
                resource,
                "incomplete",
                evidence=evidence,
                severity=Severity.MEDIUM,
                issuer=_cn(last.issuer),
            )
        if smtp:
            return self._untrusted_smtp(resource, evidence, leaf)
        if last.self_signed:
            return self.verdict(
                Status.FAIL, resource, "private_ca", evidence=evidence, root=_cn(last.subject)
            )
        error = _short_error(next((t.error for t in results if t.error), None))
        return self.verdict(
            Status.FAIL, resource, "untrusted", evidence=evidence, issuer=_cn(leaf.issuer), error=error
        )

    def _untrusted_smtp(
        self, resource: str, evidence: Mapping[str, Any], leaf: CertificateSummary
    ) -> Finding:
        issuer = _cn(leaf.issuer)
        return self.verdict(
            Status.WARN,
            resource,
            "untrusted_smtp",
            evidence=evidence,
            severity=Severity.MEDIUM,
            issuer=issuer,
        )


class CertLifetime(_CertificateCheck):
    """PASS: the leaf's total validity is at most 398 days. WARN (low): longer. WARN (medium): 5 years or
    more. FAIL (high): 10 years or more (typical of appliance default certificates)."""

    id = "TLS-CERT-LIFETIME"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        leaf = ep.chain[0]
        start, end = parse_instant(leaf.not_before), parse_instant(leaf.not_after)
        if start is None or end is None:
            detail = f"unreadable validity dates on {leaf.subject}: {leaf.not_before!r}, {leaf.not_after!r}"
            return self.error(resource, ErrorKind.PROTOCOL, detail)
        days = (end - start) // timedelta(days=1)
        evidence = {"not_before": leaf.not_before, "not_after": leaf.not_after, "days": days}
        values: dict[str, Any] = {"days": days, "years": days // 365}
        if days >= _p_int(self.params, "fail_days"):
            return self.verdict(
                Status.FAIL, resource, "decade", evidence=evidence, severity=Severity.HIGH, **values
            )
        if days >= _p_int(self.params, "long_days"):
            return self.verdict(
                Status.WARN, resource, "very_long", evidence=evidence, severity=Severity.MEDIUM, **values
            )
        if days > _p_int(self.params, "max_days"):
            return self.verdict(
                Status.WARN, resource, "long", evidence=evidence, severity=Severity.LOW, **values
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence, **values)


class CertCt(_CertificateCheck):
    """PASS: the leaf embeds Signed Certificate Timestamps. WARN: none embedded (SCTs sent in the TLS
    extension or in a stapled OCSP response are not in the facts; the message says so). N/A: a private CA
    the user supplied with --ca-bundle (CT is for public CAs). The search of CT logs for every certificate
    issued for the commune's names is not done (no log is queried): the evidence says `not_tested`."""

    id = "TLS-CERT-CT"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        leaf = ep.chain[0]
        evidence = {"embedded_scts": leaf.sct_count, "ct_log_search": "not_tested"}
        trusted_by = {t.store for t in ep.trust if t.trusted}
        if _SUPPLIED in trusted_by and _MOZILLA not in trusted_by:
            return self.verdict(Status.NOT_APPLICABLE, resource, "private_ca", evidence=evidence)
        if leaf.sct_count > 0:
            return self.verdict(Status.PASS, resource, "pass", evidence=evidence, count=leaf.sct_count)
        return self.verdict(Status.WARN, resource, "none", evidence=evidence)


class CertRevocation(_CertificateCheck):
    """PASS: the leaf names a CRL distribution point or an OCSP responder (CRL only passes: some public
    CAs dropped OCSP); the message also says whether an OCSP response is stapled (informative, not scored).
    WARN: neither CRL nor OCSP."""

    id = "TLS-CERT-REVOCATION"

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        leaf = ep.chain[0]
        methods = (["CRL"] if leaf.crl_urls else []) + (["OCSP"] if leaf.ocsp_urls else [])
        evidence = {
            "crl_urls": list(leaf.crl_urls[:5]),
            "ocsp_urls": list(leaf.ocsp_urls[:5]),
            "ocsp_stapled": ep.ocsp_stapled,
        }
        if not methods:
            return self.verdict(Status.WARN, resource, "none", evidence=evidence)
        if ep.ocsp_stapled:
            return self.verdict(
                Status.PASS, resource, "stapled", evidence=evidence, methods=join_bounded(methods)
            )
        if leaf.ocsp_urls and ep.ocsp_stapled is False:
            return self.verdict(
                Status.PASS, resource, "no_stapling", evidence=evidence, methods=join_bounded(methods)
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence, methods=join_bounded(methods))


# --------------------------------------------------------------------------------------------------
# Protocol options and known flaws


class ExtHardening(_TlsCheck):
    """PASS: no TLS compression, RFC 5746 secure renegotiation and no client-initiated renegotiation
    (TLS ≤ 1.2), no 0-RTT early data, session-ticket lifetime hint ≤ 24 h when measured, extended master
    secret with TLS 1.2. FAIL (medium): compression (CRIME). WARN: any other item (medium for the
    renegotiation ones, low otherwise). Items are named by their sslyze field (same in both languages).

    Limits of sslyze 6.3: it reports extended master secret as supported whenever TLS 1.3 is offered
    (no TLS 1.2 handshake is tried: the evidence says `extended_master_secret_tested: false`), and it
    does not measure the ticket lifetime hint (None: not judged). TLS_FALLBACK_SCSV is reported in the
    evidence only (not a checklist criterion)."""

    id = "TLS-EXT-HARDENING"
    commands = (
        "tls_compression",
        "session_renegotiation",
        "session_resumption",
        "tls_1_3_early_data",
        "tls_extended_master_secret",
        PROTOCOL_COMMANDS["TLSv1.2"],
    )
    fail_stands = True

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        before_13 = bool(_offered(ep, _BEFORE_13))
        evidence = {
            "compression": ep.compression,
            "secure_renegotiation": ep.secure_renegotiation,
            "client_renegotiation": ep.client_renegotiation,
            "early_data": ep.early_data,
            "session_tickets": ep.session_tickets,
            "ticket_lifetime_hint": ep.ticket_lifetime_hint,
            "extended_master_secret": ep.extended_master_secret,
            # sslyze reports EMS as supported whenever TLS 1.3 is offered, without a TLS 1.2 handshake.
            "extended_master_secret_tested": not _supported(ep, "TLSv1.3"),
            "fallback_scsv": ep.fallback_scsv,
        }
        if ep.compression:
            return self.verdict(Status.FAIL, resource, "compression", evidence=evidence)
        serious: list[str] = []
        minor: list[str] = []
        if before_13 and ep.secure_renegotiation is False:
            serious.append("secure_renegotiation=no")
        if before_13 and ep.client_renegotiation:
            serious.append("client_renegotiation=yes")
        if ep.early_data:
            minor.append("early_data=yes")
        max_hint = _p_int(self.params, "max_ticket_lifetime")
        if ep.ticket_lifetime_hint is not None and ep.ticket_lifetime_hint > max_hint:
            minor.append(f"ticket_lifetime_hint={ep.ticket_lifetime_hint}s")
        if _supported(ep, "TLSv1.2") and ep.extended_master_secret is False:
            minor.append("extended_master_secret=no")
        if serious or minor:
            severity = Severity.MEDIUM if serious else Severity.LOW
            return self.verdict(
                Status.WARN,
                resource,
                "weak_options",
                evidence=evidence,
                severity=severity,
                items=join_bounded(serious + minor),
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence)


_ROBOT_POSITIVE = {"weak_oracle": "ROBOT (weak oracle)", "strong_oracle": "ROBOT (strong oracle)"}


class VulnKnown(_TlsCheck):
    """PASS: not vulnerable to Heartbleed, OpenSSL CCS injection nor ROBOT (sslyze's safe probes).
    FAIL (critical): any of them. NOT_TESTED: a probe could not decide (ROBOT "unknown") and nothing was
    found. Ticketbleed and DROWN through another SSLv2 host are not probed (the evidence says so; SSLv2
    on the endpoint itself is TLS-PROTO-SSL)."""

    id = "TLS-VULN-KNOWN"
    commands = ("heartbleed", "openssl_ccs_injection", "robot")
    fail_stands = True

    def judge(self, ep: TlsEndpoint, resource: str) -> Finding:
        found: list[str] = []
        undecided: list[str] = []
        if ep.heartbleed:
            found.append("Heartbleed (CVE-2014-0160)")
        if ep.ccs_injection:
            found.append("OpenSSL CCS injection (CVE-2014-0224)")
        if ep.robot in _ROBOT_POSITIVE:
            found.append(_ROBOT_POSITIVE[ep.robot])
        elif ep.robot is not None and ep.robot != "not_vulnerable":
            undecided.append(f"ROBOT ({ep.robot})")
        evidence = {
            "heartbleed": ep.heartbleed,
            "ccs_injection": ep.ccs_injection,
            "robot": ep.robot,
            "undecided": undecided,
            "not_probed": ["Ticketbleed", "DROWN (shared key with an SSLv2 host)"],
        }
        if found:
            return self.verdict(
                Status.FAIL, resource, "vulnerable", evidence=evidence, flaws=join_bounded(found)
            )
        if undecided:
            return self.verdict(
                Status.NOT_TESTED, resource, "undecided", evidence=evidence, probes=join_bounded(undecided)
            )
        return self.verdict(Status.PASS, resource, "pass", evidence=evidence)


CHECKS: list[type[Check]] = [
    ProtoSsl,
    ProtoLegacy,
    ProtoModern,
    CipherWeak,
    CipherNoFs,
    CipherNonAead,
    KexGroups,
    CertKeysize,
    CertSigalg,
    CertValidity,
    CertName,
    CertChain,
    CertLifetime,
    CertCt,
    CertRevocation,
    ExtHardening,
    VulnKnown,
]
