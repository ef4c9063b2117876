"""MAIL checks (checklist §1.3): SPF, DMARC, DKIM, parked domains, MX hygiene, STARTTLS, TLS of the mail
endpoints, MTA-STS and TLS-RPT, DANE, open relay, clear-text authentication and greeting banners.

The DNS checks judge `DnsSnapshot` (every query with its outcome), re-running the shared parsers of
`cyberscan.collectors.mailauth` over the recorded answers; the SMTP/IMAP/POP checks judge
`MailFacts`; MAIL-MX-TLS judges the mail endpoints of `TlsFacts` with the TLS family's own checks.
Nothing is re-queried.

Rules shared by every check (`_MailCheck`):
- IP and network targets, and facts without a domain, give one `not_applicable` ("not_a_domain"): mail
  records and mail hosts belong to a domain;
- a DNS answer the verdict needs that failed (timeout, SERVFAIL…) or was never recorded is an `error`
  naming the query; "no record" (NXDOMAIN, NODATA) is a fact, judged as such;
- resources are what was examined: "mairie.fr TXT", "_dmarc.mairie.fr TXT", "mx.mairie.fr:25 (192.0.2.25)",
  "mx.mairie.fr:993 (imaps)";
- a domain sends mail when it has an MX or an SPF record that designates senders (any mechanism but
  `all`, a redirect, or `+all`); `v=spf1 -all` (or a lone `~all`) designates none.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cyberscan.bounds import clip, join_bounded
from cyberscan.collectors.dns_facts import DnsAnswer, DnsSnapshot, Outcome
from cyberscan.collectors.mail_facts import MailboxProbe, MailFacts, MtaStsPolicy, SmtpProbe
from cyberscan.collectors.mailauth import (
    DANE_TA,
    NOT_QUERIED,
    SPF_LOOKUP_LIMIT,
    SPF_VOID_LIMIT,
    DkimKey,
    DmarcDiscovery,
    RecordSyntaxError,
    TlsaRecord,
    dane_match,
    discover_dmarc,
    mx_host,
    mx_pattern_matches,
    parse_dkim_key,
    parse_mta_sts_policy,
    parse_spf,
    parse_sts_txt,
    parse_tlsa,
    parse_tlsrpt,
    spf_denies_all,
    spf_records,
    walk_spf,
)
from cyberscan.collectors.tls_facts import TlsEndpoint, TlsFacts
from cyberscan.metadata import CheckMeta, load_module_metadata
from cyberscan.models import ErrorKind, Finding, Severity, Status
from cyberscan.net.resolver import MAX_MX_HOSTS
from cyberscan.plugin import Check, FactBag, Facts
from cyberscan.targets import TargetKind, is_ip_literal

from . import tls as tls_checks

_MAX_ITEMS = 20
_ADDRESS_TARGETS = (TargetKind.IP, TargetKind.NETWORK)
_SEVERITY_ORDER = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_DISPOSITION_RANK = {"none": 0, "quarantine": 1, "reject": 2}
#: MailFacts `error_kind` values -> engine error kinds
_PROBE_ERRORS = {
    "timeout": ErrorKind.TIMEOUT,
    "deadline": ErrorKind.DEADLINE,
    "refused": ErrorKind.UNREACHABLE,
    "unreachable": ErrorKind.UNREACHABLE,
    "dns": ErrorKind.DNS_FAILURE,
    "protocol": ErrorKind.PROTOCOL,
    "tls": ErrorKind.TLS_HANDSHAKE,
    "bug": ErrorKind.BUG,
}
#: a mailbox port that did not accept a connection is closed or filtered: not exposed, nothing to judge
_CLOSED = ("refused", "timeout", "unreachable")


# --------------------------------------------------------------------------------------------------
# Small pure helpers


def _dns_kind(outcome: str | None) -> ErrorKind:
    if outcome == Outcome.TIMEOUT.value:
        return ErrorKind.TIMEOUT
    if outcome in (None, NOT_QUERIED):
        return ErrorKind.NO_FACTS
    return ErrorKind.DNS_FAILURE


def _probe_kind(kind: str | None) -> ErrorKind:
    return _PROBE_ERRORS.get(kind or "", ErrorKind.UNREACHABLE)


def _worst(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=_SEVERITY_ORDER.index)


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _designates_senders(record: str) -> bool:
    """An SPF record that authorises someone to send: a mechanism other than `all`, a redirect, or
    `+all`. `v=spf1 -all`, `~all` or `?all` alone designate nobody."""
    try:
        terms = parse_spf(record)
    except RecordSyntaxError:
        return False
    for term in terms:
        if term.is_modifier:
            if term.name == "redirect":
                return True
        elif term.name != "all" or term.qualifier == "+":
            return True
    return False


@dataclass(frozen=True)
class _MxSet:
    """The domain's MX answer, read once: real hosts by preference, and whether it is a null MX."""

    answer: DnsAnswer | None
    hosts: tuple[str, ...] = ()
    #: only "0 ." (RFC 7505): the domain accepts no mail
    null: bool = False
    #: distinct hosts in the answer, before the cap
    total: int = 0

    @property
    def records(self) -> tuple[str, ...]:
        return self.answer.records if self.answer is not None else ()


def _mx(snap: DnsSnapshot) -> _MxSet:
    answer = snap.answer(snap.domain, "MX")
    if answer is None or answer.outcome is not Outcome.NOERROR:
        return _MxSet(answer)
    ranked: list[tuple[int, str]] = []
    for record in answer.records:
        preference = record.split()[0] if record.split() else ""
        ranked.append((int(preference) if preference.isdigit() else 65536, mx_host(record)))
    # Same order and cap as the collectors (preference, then name; MAX_MX_HOSTS): the hosts judged are
    # the hosts whose addresses and TLSA were queried and whose port 25 was probed.
    hosts = tuple(dict.fromkeys(h for _, h in sorted(ranked) if h))
    null = not hosts and any(r.split()[1:] == ["."] for r in answer.records)
    return _MxSet(answer, hosts[:MAX_MX_HOSTS], null, len(hosts))


def _probe_resource(host: str, port: int, address: str, protocol: str | None = None) -> str:
    where = f"{protocol}, {address}" if protocol else address
    return f"{host}:{port} ({where})"


# --------------------------------------------------------------------------------------------------
# Common base


class _MailCheck(Check):
    """Applies the domain rule, then judges one domain (`judge`); helpers for recorded DNS answers."""

    requires: ClassVar[tuple[type[Facts], ...]] = (DnsSnapshot,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        domain = ""
        for kind in self.requires:
            value = getattr(facts.get(kind), "domain", "")
            if isinstance(value, str) and value:
                domain = value.lower().rstrip(".")
                break
        if self.target.kind in _ADDRESS_TARGETS or not domain:
            target = self.target.name
            yield self.finding(Status.NOT_APPLICABLE, target, "not_a_domain", target=target)
            return
        yield from self.judge(domain, facts)

    @abstractmethod
    def judge(self, domain: str, facts: FactBag) -> Iterable[Finding]:
        """The findings for `domain` (at least one)."""

    def unproven(self, resource: str, answer: DnsAnswer | None, name: str, rdtype: str) -> Finding | None:
        """An `error` when the answer the verdict needs failed or was not recorded; None when usable."""
        if answer is None:
            return self.error(resource, ErrorKind.NO_FACTS, f"{rdtype} {name}: not in the DNS snapshot")
        if answer.outcome.failed:
            detail = f"{rdtype} {name}: {answer.outcome.value}" + (
                f" ({answer.detail})" if answer.detail else ""
            )
            kind = _dns_kind(answer.outcome.value)
            # The DNS collector records the queries it had no time left for as TIMEOUT "skipped: …".
            if (answer.detail or "").startswith("skipped"):
                kind = ErrorKind.DEADLINE
            return self.error(resource, kind, detail)
        return None

    def dmarc_error(self, resource: str, found: DmarcDiscovery) -> Finding:
        outcome = found.failed_outcome.value if found.failed_outcome is not None else None
        return self.error(resource, _dns_kind(outcome), str(found.failure))

    def sending(self, snap: DnsSnapshot, mx: _MxSet) -> tuple[bool | None, str]:
        """Whether the domain sends mail (MX, or an SPF designating senders) and why; None: cannot tell."""
        if mx.hosts:
            return True, "MX"
        txt = snap.answer(snap.domain, "TXT")
        if any(_designates_senders(r) for r in spf_records(txt)):
            return True, "SPF"
        for answer, what in ((mx.answer, "MX"), (txt, "TXT")):
            if answer is None or answer.outcome.failed:
                state = answer.outcome.value if answer is not None else "not queried"
                return None, f"{what} {snap.domain}: {state}"
        return False, "no MX, no SPF sender"


# --------------------------------------------------------------------------------------------------
# SPF


class _SpfCheck(_MailCheck):
    """Reads the apex SPF record; N/A without one, `error` when the apex TXT query failed."""

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        resource = f"{domain} TXT"
        answer = snap.answer(domain, "TXT")
        failed = self.unproven(resource, answer, domain, "TXT")
        if failed is not None:
            yield failed
            return
        records = spf_records(answer)
        if not records:
            yield self.finding(Status.NOT_APPLICABLE, resource, "no_spf", domain=domain)
            return
        try:
            if len(records) > 1:
                raise RecordSyntaxError(f"{len(records)} SPF records")
            parse_spf(records[0])
        except RecordSyntaxError as exc:
            # MAIL-SPF-PRESENT fails it; the other SPF checks have nothing valid to judge.
            evidence = {"records": list(records)}
            yield self.finding(
                Status.NOT_APPLICABLE, resource, "invalid", evidence=evidence, domain=domain, reason=str(exc)
            )
            return
        yield self.judge_spf(snap, domain, resource, records[0])

    @abstractmethod
    def judge_spf(self, snap: DnsSnapshot, domain: str, resource: str, record: str) -> Finding:
        """The finding for a domain with exactly one valid SPF record."""


class SpfPresent(_MailCheck):
    """PASS: exactly one valid `v=spf1` TXT record at the apex. FAIL: none, several, or a syntax error
    (permerror: receivers then ignore SPF). ERROR: the apex TXT query failed."""

    id = "MAIL-SPF-PRESENT"

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        resource = f"{domain} TXT"
        answer = snap.answer(domain, "TXT")
        failed = self.unproven(resource, answer, domain, "TXT")
        if failed is not None:
            yield failed
            return
        assert answer is not None
        records = spf_records(answer)
        evidence: dict[str, Any] = {"outcome": answer.outcome.value, "spf": list(records)}
        if not records:
            evidence["txt"] = list(answer.records[:_MAX_ITEMS])
            yield self.finding(Status.FAIL, resource, "missing", evidence=evidence, domain=domain)
            return
        if len(records) > 1:
            yield self.finding(
                Status.FAIL, resource, "several", evidence=evidence, domain=domain, count=len(records)
            )
            return
        try:
            parse_spf(records[0])
        except RecordSyntaxError as exc:
            yield self.finding(
                Status.FAIL, resource, "syntax", evidence=evidence, domain=domain, reason=str(exc)
            )
            return
        yield self.finding(Status.PASS, resource, "pass", evidence=evidence, domain=domain, record=records[0])


class SpfPolicy(_SpfCheck):
    """PASS: the SPF record ends in `-all`, or in `~all` while DMARC quarantines or rejects. WARN: `~all`
    with DMARC p=none or no DMARC. FAIL: `?all`, no `all` (nor a redirect ending in one), or `+all` (high).
    The terminal `all` is followed through `redirect=`. N/A: no valid SPF record (MAIL-SPF-PRESENT)."""

    id = "MAIL-SPF-POLICY"

    def judge_spf(self, snap: DnsSnapshot, domain: str, resource: str, record: str) -> Finding:
        walk = walk_spf(domain, snap.answer)
        qualifier = walk.all_qualifier
        evidence: dict[str, Any] = {"record": record, "redirect": walk.redirect, "all": qualifier}
        if qualifier is None:
            if walk.redirect is not None and walk.temperror is not None:
                # The redirect target could not be read: its "all" is unknown.
                return self.error(resource, _dns_kind(walk.temperror_outcome), walk.temperror)
            return self.finding(Status.FAIL, resource, "no_all", evidence=evidence, domain=domain)
        if qualifier == "+":
            return self.finding(
                Status.FAIL, resource, "plus_all", evidence=evidence, severity=Severity.HIGH, domain=domain
            )
        if qualifier == "?":
            return self.finding(Status.FAIL, resource, "neutral_all", evidence=evidence, domain=domain)
        if qualifier == "-":
            return self.finding(Status.PASS, resource, "pass", evidence=evidence, domain=domain)
        found = discover_dmarc(domain, snap.answer)
        if found.failure is not None:
            return self.dmarc_error(resource, found)
        disposition = found.disposition
        evidence["dmarc"] = {"record": found.record, "found_at": found.found_at, "applies": disposition}
        if disposition in ("quarantine", "reject"):
            return self.finding(
                Status.PASS, resource, "softfail_dmarc", evidence=evidence, domain=domain, policy=disposition
            )
        dmarc = disposition or ("invalid" if found.invalid else "absent")
        return self.finding(Status.WARN, resource, "softfail", evidence=evidence, domain=domain, dmarc=dmarc)


class SpfLookups(_SpfCheck):
    """PASS: evaluating the SPF tree costs at most `pass_max_lookups` (8) DNS-querying terms. WARN: 9 or 10,
    or `ptr` used. FAIL: more than 10 lookups, more than 2 void lookups, or another permerror in the tree
    (include without SPF record, loop, syntax error in an include). ERROR: a lookup of the tree failed
    and the counts so far do not already prove a fail. N/A: no valid SPF record at the apex."""

    id = "MAIL-SPF-LOOKUPS"

    def judge_spf(self, snap: DnsSnapshot, domain: str, resource: str, record: str) -> Finding:
        walk = walk_spf(domain, snap.answer)
        evidence: dict[str, Any] = {
            "lookups": walk.lookups,
            "void_lookups": walk.void_lookups,
            "uses_ptr": walk.uses_ptr,
            "visited": walk.visited[:_MAX_ITEMS],
            "truncated": walk.truncated,
            "permerror": walk.permerror,
            "temperror": walk.temperror,
        }
        # Counts are lower bounds when part of the tree is unknown: only a proven excess fails then.
        at_least = "+" if walk.truncated or walk.temperror else ""
        values: dict[str, Any] = {"domain": domain, "count": f"{walk.lookups}{at_least}"}
        if walk.permerror is not None:
            return self.finding(
                Status.FAIL, resource, "permerror", evidence=evidence, reason=walk.permerror, **values
            )
        if walk.lookups > SPF_LOOKUP_LIMIT:
            return self.finding(Status.FAIL, resource, "over", evidence=evidence, **values)
        if walk.void_lookups > SPF_VOID_LIMIT:
            return self.finding(
                Status.FAIL, resource, "void", evidence=evidence, domain=domain, voids=walk.void_lookups
            )
        if walk.temperror is not None:
            detail = f"SPF tree incomplete ({walk.lookups} lookups counted so far): {walk.temperror}"
            return self.error(resource, _dns_kind(walk.temperror_outcome), detail)
        if walk.lookups > int(self.params["pass_max_lookups"]):
            return self.finding(Status.WARN, resource, "near_limit", evidence=evidence, **values)
        if walk.uses_ptr:
            return self.finding(Status.WARN, resource, "ptr", evidence=evidence, **values)
        return self.finding(Status.PASS, resource, "pass", evidence=evidence, **values)


# --------------------------------------------------------------------------------------------------
# DMARC


def _dmarc_evidence(found: DmarcDiscovery) -> dict[str, Any]:
    return {"looked_at": list(found.looked_at), "found_at": found.found_at, "record": found.record}


class DmarcPresent(_MailCheck):
    """PASS: a valid `v=DMARC1` record applies to the domain, at `_dmarc.<domain>` or inherited from a
    parent by the DMARCbis tree walk (the message names the domain it comes from). FAIL: none found, or
    the record that applies is unusable (several records, syntax). ERROR: a query of the walk failed."""

    id = "MAIL-DMARC-PRESENT"

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        found = discover_dmarc(domain, facts.get(DnsSnapshot).answer)
        resource = f"_dmarc.{domain} TXT"
        evidence = _dmarc_evidence(found)
        if found.failure is not None:
            yield self.dmarc_error(resource, found)
        elif found.invalid is not None:
            yield self.finding(
                Status.FAIL, resource, "invalid", evidence=evidence, domain=domain, reason=found.invalid
            )
        elif found.found_at is None:
            yield self.finding(Status.FAIL, resource, "missing", evidence=evidence, domain=domain)
        elif found.inherited:
            yield self.finding(
                Status.PASS,
                resource,
                "inherited",
                evidence=evidence,
                domain=domain,
                source=str(found.source_domain),
                record=str(found.record),
            )
        else:
            yield self.finding(
                Status.PASS, resource, "pass", evidence=evidence, domain=domain, record=str(found.record)
            )


class DmarcPolicy(_MailCheck):
    """PASS: the policy that applies rejects (p=reject, or sp= when inherited), pct=100 and rua= set
    (np=reject is named as a bonus). WARN: p=quarantine; pct < 100; sp= weaker than p=; no rua=; p=none on
    a domain that sends no mail (MAIL-PARKED-DOMAIN). FAIL: p=none on a sending domain (MX, or SPF
    designating senders). N/A: no usable DMARC record (MAIL-DMARC-PRESENT). ERROR: a query it needs failed."""

    id = "MAIL-DMARC-POLICY"

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        found = discover_dmarc(domain, snap.answer)
        resource = f"_dmarc.{domain} TXT"
        if found.failure is not None:
            yield self.dmarc_error(resource, found)
            return
        if found.policy is None:
            message = "invalid" if found.invalid is not None else "no_dmarc"
            yield self.finding(
                Status.NOT_APPLICABLE, resource, message, evidence=_dmarc_evidence(found), domain=domain
            )
            return
        policy, applied = found.policy, str(found.disposition)
        issues: list[str] = []
        if policy.pct < 100:
            issues.append(f"pct={policy.pct}")
        if applied == "quarantine":
            issues.append("p=quarantine")
        weak_sp = (
            not found.inherited
            and policy.sp is not None
            and _DISPOSITION_RANK[policy.sp] < _DISPOSITION_RANK[policy.p]
        )
        if weak_sp:
            issues.append(f"sp={policy.sp}")
        if not policy.rua:
            issues.append("no rua")
        evidence: dict[str, Any] = {
            **_dmarc_evidence(found),
            "p": policy.p,
            "sp": policy.sp,
            "np": policy.np,
            "pct": policy.pct,
            "rua": list(policy.rua),
            "applies": applied,
            "issues": issues,
        }
        values: dict[str, Any] = {"domain": domain, "source": str(found.source_domain), "policy": applied}
        if applied == "none":
            sending, why = self.sending(snap, _mx(snap))
            evidence["sending"] = why
            if sending is None:
                yield self.error(
                    resource, ErrorKind.DNS_FAILURE, f"cannot tell whether {domain} sends mail: {why}"
                )
            elif sending:
                yield self.finding(Status.FAIL, resource, "none_sending", evidence=evidence, **values)
            else:
                yield self.finding(Status.WARN, resource, "none_parked", evidence=evidence, **values)
            return
        if policy.pct < 100:
            yield self.finding(Status.WARN, resource, "partial", evidence=evidence, pct=policy.pct, **values)
        elif applied == "quarantine":
            yield self.finding(Status.WARN, resource, "quarantine", evidence=evidence, **values)
        elif weak_sp:
            yield self.finding(
                Status.WARN, resource, "weak_sp", evidence=evidence, sp=str(policy.sp), **values
            )
        elif not policy.rua:
            yield self.finding(Status.WARN, resource, "no_rua", evidence=evidence, **values)
        elif policy.np == "reject":
            yield self.finding(Status.PASS, resource, "pass_np", evidence=evidence, **values)
        else:
            yield self.finding(Status.PASS, resource, "pass", evidence=evidence, **values)


class ParkedDomain(_MailCheck):
    """For a domain that receives and sends no mail (no MX or a null MX, no SPF designating senders):
    PASS: `v=spf1 -all` and a DMARC policy that rejects (the message says when a null MX `0 .` would
    complete it). WARN: either is missing. N/A: the domain sends mail, or does not exist (NXDOMAIN).
    ERROR: the MX, TXT or DMARC queries failed."""

    id = "MAIL-PARKED-DOMAIN"

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        mx = _mx(snap)
        resource = domain
        failed = self.unproven(resource, mx.answer, domain, "MX")
        if failed is not None:
            yield failed
            return
        assert mx.answer is not None
        if mx.answer.outcome is Outcome.NXDOMAIN:
            yield self.finding(Status.NOT_APPLICABLE, resource, "nxdomain", domain=domain)
            return
        sending, why = self.sending(snap, mx)
        if sending:
            seen = {"sending": why, "mx": list(mx.hosts[:_MAX_ITEMS])}
            yield self.finding(Status.NOT_APPLICABLE, resource, "sending", evidence=seen, domain=domain)
            return
        txt = snap.answer(domain, "TXT")
        failed = self.unproven(resource, txt, domain, "TXT")
        if failed is not None:
            yield failed
            return
        found = discover_dmarc(domain, snap.answer)
        if found.failure is not None:
            yield self.dmarc_error(resource, found)
            return
        spf = spf_records(txt)
        missing: list[str] = []
        if not (len(spf) == 1 and spf_denies_all(spf[0])):
            missing.append("v=spf1 -all")
        if found.disposition != "reject":
            missing.append("DMARC p=reject")
        evidence: dict[str, Any] = {
            "null_mx": mx.null,
            "mx": list(mx.records),
            "spf": list(spf),
            "dmarc": found.record,
            "dmarc_found_at": found.found_at,
            "missing": missing,
        }
        if missing:
            yield self.finding(
                Status.WARN,
                resource,
                "unprotected",
                evidence=evidence,
                domain=domain,
                missing=join_bounded(missing),
            )
        elif mx.null:
            yield self.finding(Status.PASS, resource, "pass", evidence=evidence, domain=domain)
        else:
            yield self.finding(Status.PASS, resource, "pass_no_null_mx", evidence=evidence, domain=domain)


# --------------------------------------------------------------------------------------------------
# DKIM


def _key_text(key: DkimKey) -> str:
    return "Ed25519" if key.key_type == "ed25519" else f"RSA {key.bits} bits"


class Dkim(_MailCheck):
    """One finding per selector found among those tried (`DnsSnapshot.dkim_selectors`). PASS: RSA ≥ 2048
    bits or Ed25519. WARN: RSA from 1024 to 2047 bits, or a key that does not decode. FAIL: RSA under 1024
    bits. INFO: empty p= (revoked key). NOT_TESTED: no key at the selectors tried — absence cannot be
    proven from outside (the evidence lists them). ERROR: every selector query failed."""

    id = "MAIL-DKIM"

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        tried = list(snap.dkim_selectors)
        failures: list[str] = []
        found: list[tuple[str, str, DkimKey]] = []
        for selector in tried:
            name = f"{selector}._domainkey.{domain}"
            answer = snap.answer(name, "TXT")
            if answer is None or answer.outcome.failed:
                failures.append(f"{selector}: {answer.outcome.value if answer else 'not queried'}")
                continue
            for record in answer.records:
                try:
                    found.append((selector, record, parse_dkim_key(record)))
                    break
                except RecordSyntaxError as exc:
                    if record.replace(" ", "").lower().startswith("v=dkim1"):
                        found.append((selector, record, DkimKey("?", None, False, str(exc))))
                        break
        context = {"selectors_tried": tried[:_MAX_ITEMS], "failed": failures[:_MAX_ITEMS]}
        resource = f"{domain} DKIM"
        if not found:
            if tried and len(failures) == len(tried):
                yield self.error(
                    resource,
                    ErrorKind.DNS_FAILURE,
                    f"every DKIM selector query failed: {join_bounded(failures)}",
                )
            elif not tried:
                yield self.finding(Status.NOT_TESTED, resource, "none_tried", evidence=context, domain=domain)
            else:
                yield self.finding(
                    Status.NOT_TESTED,
                    resource,
                    "not_found",
                    evidence=context,
                    domain=domain,
                    count=len(tried),
                )
            return
        for selector, record, key in found:
            yield self._key(f"{selector}._domainkey.{domain} TXT", selector, record, key, context)

    def _key(
        self, resource: str, selector: str, record: str, key: DkimKey, context: Mapping[str, Any]
    ) -> Finding:
        evidence: dict[str, Any] = {
            "selector": selector,
            "record": record,
            "key_type": key.key_type,
            "bits": key.bits,
            **context,
        }
        if key.revoked:
            return self.finding(Status.INFO, resource, "revoked", evidence=evidence, selector=selector)
        if key.error is not None or (key.key_type == "rsa" and key.bits is None):
            return self.finding(
                Status.WARN, resource, "invalid", evidence=evidence, selector=selector, reason=str(key.error)
            )
        values: dict[str, Any] = {"selector": selector, "key": _key_text(key)}
        if key.key_type == "rsa" and key.bits is not None:
            if key.bits < int(self.params["fail_below_bits"]):
                return self.finding(Status.FAIL, resource, "weak", evidence=evidence, **values)
            if key.bits < int(self.params["pass_min_bits"]):
                return self.finding(Status.WARN, resource, "short", evidence=evidence, **values)
        return self.finding(Status.PASS, resource, "pass", evidence=evidence, **values)


# --------------------------------------------------------------------------------------------------
# MX hosts in DNS


@dataclass(frozen=True)
class _MxHost:
    """What the snapshot says about one MX host's name."""

    host: str
    #: "ok" (addresses), "nxdomain", "no_address" (NODATA for A and AAAA), "ip_literal", "unknown"
    state: str
    addresses: tuple[str, ...] = ()
    cname: tuple[str, ...] = ()
    provider: str | None = None
    reason: str | None = None


class MxHygiene(_MailCheck):
    """PASS: every MX host is a name with A/AAAA records (no CNAME, no IP literal) and, when the mail is
    self-hosted (MX host under the domain itself, not a CNAME to a known provider), there are at least two.
    WARN: an MX host that is a CNAME, an IP literal or has no address; a single self-hosted MX. FAIL: an MX
    host that does not exist (NXDOMAIN: mail lost, name open to takeover) or no MX host resolvable at all.
    N/A: no MX or a null MX. ERROR: an MX query or, absent a fail, an MX host's address query failed.
    Provider MX hosts (`providers`: name and DNS suffixes) are never penalised for being single."""

    id = "MAIL-MX-HYGIENE"

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        mx = _mx(snap)
        resource = f"{domain} MX"
        failed = self.unproven(resource, mx.answer, domain, "MX")
        if failed is not None:
            yield failed
            return
        if mx.null:
            yield self.finding(Status.NOT_APPLICABLE, resource, "null_mx", domain=domain)
            return
        if not mx.records:
            yield self.finding(Status.NOT_APPLICABLE, resource, "no_mx", domain=domain)
            return
        hosts = [self._host(snap, host) for host in mx.hosts]
        evidence: dict[str, Any] = {
            "mx": list(mx.records[:_MAX_ITEMS]),
            "hosts": [{k: v for k, v in dataclasses.asdict(h).items() if v not in (None, ())} for h in hosts][
                :_MAX_ITEMS
            ],
        }

        def named(*states: str) -> list[str]:
            return [h.host for h in hosts if h.state in states]

        if named("nxdomain"):
            yield self.finding(
                Status.FAIL, resource, "nxdomain", evidence=evidence, hosts=join_bounded(named("nxdomain"))
            )
            return
        unknown = join_bounded(f"{h.host}: {h.reason}" for h in hosts if h.state == "unknown")
        if not named("ok", "ip_literal"):
            # No host can receive: the answer decides unless a host's lookup failed (it might resolve).
            if unknown:
                yield self.error(resource, ErrorKind.DNS_FAILURE, unknown)
            else:
                shown = join_bounded(mx.hosts) if mx.hosts else join_bounded(mx.records)
                yield self.finding(Status.FAIL, resource, "unresolvable", evidence=evidence, hosts=shown)
            return
        if unknown:
            yield self.error(resource, ErrorKind.DNS_FAILURE, unknown)
            return
        warnings = (
            ("ip_literal", named("ip_literal")),
            ("cname", [h.host for h in hosts if h.cname]),
            ("address_missing", named("no_address")),
        )
        for message, listed in warnings:
            if listed:
                yield self.finding(
                    Status.WARN, resource, message, evidence=evidence, hosts=join_bounded(listed)
                )
                return
        only = hosts[0]
        if len(hosts) == 1 and _under(only.host, domain) and only.provider is None:
            yield self.finding(Status.WARN, resource, "single", evidence=evidence, host=only.host)
            return
        providers = join_bounded(h.provider for h in hosts if h.provider) or "-"
        yield self.finding(
            Status.PASS,
            resource,
            "pass",
            evidence=evidence,
            count=len(hosts),
            hosts=join_bounded(mx.hosts),
            providers=providers,
        )

    def _provider(self, names: Iterable[str]) -> str | None:
        for entry in self.params.get("providers", []):
            for suffix in entry.get("suffixes", []):
                wanted = str(suffix).lower().rstrip(".")
                if any(_under(name, wanted) for name in names):
                    return str(entry.get("name", wanted))
        return None

    def _host(self, snap: DnsSnapshot, host: str) -> _MxHost:
        if is_ip_literal(host):
            return _MxHost(host, "ip_literal")
        cname_answer = snap.answer(host, "CNAME")
        answers = [snap.answer(host, "A"), snap.answer(host, "AAAA")]
        chain: tuple[str, ...] = ()
        if cname_answer is not None and cname_answer.outcome is Outcome.NOERROR:
            chain = tuple(r.lower().rstrip(".") for r in cname_answer.records)
        for answer in answers:
            if answer is not None and answer.cname_chain and not chain:
                chain = answer.cname_chain
        provider = self._provider((host, *chain))
        addresses = tuple(
            r for a in answers if a is not None and a.outcome is Outcome.NOERROR for r in a.records
        )
        if addresses:
            return _MxHost(host, "ok", addresses, chain, provider)
        if any(a is not None and a.outcome is Outcome.NXDOMAIN for a in answers):
            return _MxHost(host, "nxdomain", (), chain, provider)
        if all(a is not None and a.outcome.absent for a in answers):
            return _MxHost(host, "no_address", (), chain, provider)
        reasons = [
            f"{t} {a.outcome.value if a is not None else 'not queried'}"
            for t, a in zip(("A", "AAAA"), answers, strict=True)
            if a is None or a.outcome.failed
        ]
        return _MxHost(host, "unknown", (), chain, provider, join_bounded(reasons))


# --------------------------------------------------------------------------------------------------
# SMTP dialogues


class _ProbeCheck(_MailCheck):
    """Judges `MailFacts` probes; N/A when the domain has no MX (proven by the DNS snapshot)."""

    requires = (DnsSnapshot, MailFacts)

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        mx = _mx(snap)
        resource = f"{domain} MX"
        failed = self.unproven(resource, mx.answer, domain, "MX")
        if failed is not None:
            yield failed
            return
        if not mx.hosts:
            yield self.finding(Status.NOT_APPLICABLE, resource, "no_mx", domain=domain)
            return
        yield from self.judge_mail(domain, snap, mx, facts.get(MailFacts))

    @abstractmethod
    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterable[Finding]:
        """The findings for a domain with MX hosts."""

    def probe_error(self, resource: str, probe: SmtpProbe | MailboxProbe) -> Finding:
        if probe.error_kind == "out_of_scope":
            return self.out_of_scope(resource, probe.host)
        detail = probe.error or probe.error_kind or "the probe recorded no outcome"
        where = f"{probe.host} [{probe.address}]:{probe.port}" if probe.address else probe.host
        # No error kind on a failed probe: the collector broke its own contract.
        kind = _probe_kind(probe.error_kind) if probe.error_kind else ErrorKind.BUG
        return self.error(resource, kind, f"{where}: {detail}")

    def mx_probes(
        self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts
    ) -> Iterator[Finding | SmtpProbe]:
        """The port-25 probe of every MX address, or the finding that replaces a missing one."""
        for host in mail.mx_hosts or mx.hosts:
            probes = self.probes_of(domain, host, mail)
            if not probes:
                yield self.no_probe(host, snap, None)
            for probe in probes:
                yield probe if probe.address else self.no_probe(host, snap, probe)

    @staticmethod
    def probes_of(domain: str, host: str, mail: MailFacts) -> list[SmtpProbe]:
        """The port-25 probes of one MX host (one per address; without address when it did not resolve)."""
        probes = [p for p in mail.smtp if p.host == host]
        if not probes and not mail.mx_hosts:
            # The collector records its own failed MX lookup as a probe of the domain, without address.
            probes = [p for p in mail.smtp if p.host == domain and not p.address]
        return probes

    def no_probe(self, host: str, snap: DnsSnapshot, probe: SmtpProbe | None) -> Finding:
        """An MX host that was not probed: N/A when DNS proves it has no address (MAIL-MX-HYGIENE judges
        that), else an error (its resolution failed, or no probe was recorded)."""
        resource = f"{host}:25"
        answers = [snap.answer(host, "A"), snap.answer(host, "AAAA")]
        if all(a is not None and a.outcome.absent for a in answers):
            return self.finding(Status.NOT_APPLICABLE, resource, "no_address", host=host)
        if probe is not None:
            return self.probe_error(resource, probe)
        return self.error(resource, ErrorKind.NO_FACTS, f"no SMTP probe of {host} was recorded")


def _tls_state(probe: SmtpProbe) -> str:
    """ "ok" (STARTTLS completed), "no_tls" (proven: not offered, refused, or a handshake the server broke)
    or "undecided" (the dialogue failed before that could be known: timeout, EHLO refused…)."""
    if probe.starttls_ok:
        return "ok"
    if probe.starttls_offered:
        # A 4xx/5xx to STARTTLS (no error_kind) or a handshake the server broke ("tls") is an answer.
        return "no_tls" if probe.starttls_ok is False and probe.error_kind in (None, "tls") else "undecided"
    # Without STARTTLS among the EHLO keywords, EHLO must have been answered to prove its absence.
    return "no_tls" if probe.ehlo or probe.error_kind is None else "undecided"


class StartTls(_ProbeCheck):
    """Per MX address on port 25. PASS: EHLO advertises STARTTLS and the TLS handshake completes. FAIL
    (high): no STARTTLS; STARTTLS offered but the handshake fails (senders then deliver in clear). ERROR:
    the probe failed (timeout, refused…). N/A: no MX, or an MX host without address (MAIL-MX-HYGIENE)."""

    id = "MAIL-STARTTLS"

    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterator[Finding]:
        for item in self.mx_probes(domain, snap, mx, mail):
            yield item if isinstance(item, Finding) else self._probe(item)

    def _probe(self, probe: SmtpProbe) -> Finding:
        resource = _probe_resource(probe.host, probe.port, probe.address)
        if not probe.connected:
            return self.probe_error(resource, probe)
        evidence = {
            "banner": probe.banner,
            "ehlo": list(probe.ehlo[:_MAX_ITEMS]),
            "starttls_offered": probe.starttls_offered,
            "tls_version": probe.tls_version,
            "starttls_error": probe.starttls_error,
            "error": probe.error,
        }
        values: dict[str, Any] = {"endpoint": resource}
        state = _tls_state(probe)
        if state == "ok":
            version = probe.tls_version or "?"
            return self.finding(Status.PASS, resource, "pass", evidence=evidence, version=version, **values)
        if state == "undecided" and probe.error_kind is None:
            return self.error(
                resource, ErrorKind.BUG, "STARTTLS was offered but the handshake was not attempted"
            )
        if state == "undecided":
            return self.probe_error(resource, probe)
        if not probe.starttls_offered:
            return self.finding(Status.FAIL, resource, "not_offered", evidence=evidence, **values)
        reason = probe.starttls_error or probe.error or "?"
        return self.finding(
            Status.FAIL, resource, "handshake_failed", evidence=evidence, reason=reason, **values
        )


# --------------------------------------------------------------------------------------------------
# TLS of the mail endpoints

#: TlsEndpoint services that carry mail: SMTP on 25 and submission 587 (STARTTLS), SMTPS 465, IMAPS, POP3S
_MAIL_SERVICES = ("smtp", "submission", "smtps", "imaps", "pop3s")
#: the port-25 softenings of the TLS family (warn where other ports fail) that strict senders do not grant
_NAME_WARN = ("TLS-CERT-NAME", "mismatch_smtp")
_CHAIN_WARN = ("TLS-CERT-CHAIN", "untrusted_smtp")


@functools.lru_cache(maxsize=1)
def _tls_meta() -> Mapping[str, CheckMeta]:
    """The TLS family's metadata (messages, severities, default parameters), read once from the package."""
    package = tls_checks.__name__.rpartition(".")[0]
    return load_module_metadata(package, "tls")


class MxTls(_MailCheck):
    """One finding per mail TLS endpoint of `TlsFacts` (MX port 25 after STARTTLS, and 465/587/993/995 in
    scope), judged by every TLS-* check with its default parameters. FAIL/WARN/PASS: the worst verdict of
    those rules, at the worst severity among them; the evidence lists each rule not passed. On port 25 the
    TLS family only warns on a certificate name mismatch or an untrusted chain (opportunistic TLS): here
    they FAIL when the domain's MTA-STS policy is in enforce mode (senders then require a valid
    certificate), and a name mismatch fails when the MX publishes a DANE-TA (usage 2) TLSA record (RFC 7672
    §3.2.2 keeps the name check). DANE-EE (usage 3) records ignore names and chains: no escalation, MAIL-DANE
    judges the match. ERROR: undecided rules and no fail. N/A: no MX, or no mail endpoint."""

    id = "MAIL-MX-TLS"
    requires = (TlsFacts, DnsSnapshot)

    def judge(self, domain: str, facts: FactBag) -> Iterator[Finding]:
        snap = facts.get(DnsSnapshot)
        tls = facts.get(TlsFacts)
        endpoints = tuple(ep for ep in tls.endpoints if ep.service in _MAIL_SERVICES)
        if not endpoints:
            mx = _mx(snap)
            resource = f"{domain} MX"
            failed = self.unproven(resource, mx.answer, domain, "MX")
            if failed is not None:
                yield failed
            elif mx.hosts:
                detail = f"no TLS endpoint of the MX hosts ({join_bounded(mx.hosts)}) was recorded"
                yield self.error(resource, ErrorKind.NO_FACTS, detail)
            else:
                yield self.finding(Status.NOT_APPLICABLE, resource, "no_mx", domain=domain)
            return
        bag = FactBag([dataclasses.replace(tls, endpoints=endpoints)])
        metas = _tls_meta()
        per_check: list[tuple[str, list[Finding]]] = []
        for check in tls_checks.CHECKS:
            meta = metas[check.id]
            found = list(check(meta, meta.params, self.target).evaluate(bag))
            if len(found) != len(endpoints):
                raise AssertionError(f"{check.id} gave {len(found)} findings for {len(endpoints)} endpoints")
            per_check.append((check.id, found))
        mta_sts = self._mta_sts_mode(domain, snap, facts)
        for index, ep in enumerate(endpoints):
            results = [(check_id, found[index]) for check_id, found in per_check]
            yield self._summarise(ep, results, mta_sts, self._dane_usages(snap, ep))

    def _mta_sts_mode(self, domain: str, snap: DnsSnapshot, facts: FactBag) -> str | None:
        """ "enforce"/"testing"/"none" from the fetched policy; "published" when the TXT record exists but
        the policy was not collected (MailFacts absent); None when there is no usable policy."""
        records = [r for r in snap.records(f"_mta-sts.{domain}", "TXT") if r.startswith("v=STSv1")]
        if not records:
            return None
        if MailFacts not in facts:
            return "published"
        policy = facts.get(MailFacts).mta_sts
        if policy is None or policy.tls_error or policy.status != 200 or not policy.body:
            return None  # senders ignore a policy they cannot fetch over valid HTTPS
        try:
            return parse_mta_sts_policy(policy.body).mode
        except RecordSyntaxError:
            return None

    @staticmethod
    def _dane_usages(snap: DnsSnapshot, ep: TlsEndpoint) -> set[int]:
        if ep.service != "smtp":
            return set()
        usages = set()
        for record in snap.records(f"_25._tcp.{ep.host}", "TLSA"):
            try:
                usages.add(parse_tlsa(record).usage)
            except RecordSyntaxError:
                continue
        return usages

    def _summarise(
        self, ep: TlsEndpoint, results: Sequence[tuple[str, Finding]], mta_sts: str | None, dane: set[int]
    ) -> Finding:
        resource = results[0][1].resource
        strict_name, strict_chain = [], []
        if mta_sts in ("enforce", "published"):
            strict_name.append(f"MTA-STS {mta_sts}")
            strict_chain.append(f"MTA-STS {mta_sts}")
        if DANE_TA in dane:
            strict_name.append("DANE-TA")
        metas = _tls_meta()
        rules: dict[str, dict[str, Any]] = {}
        buckets: dict[Status, list[tuple[str, Severity]]] = {}
        escalated: list[str] = []
        for check_id, finding in results:
            status, severity = finding.status, finding.severity
            key = (check_id, finding.message_id)
            if status is Status.WARN and (
                (key == _NAME_WARN and strict_name) or (key == _CHAIN_WARN and strict_chain)
            ):
                status, severity = Status.FAIL, metas[check_id].severity
                escalated.append(check_id)
            buckets.setdefault(status, []).append((check_id, severity))
            if status not in (Status.PASS, Status.INFO):
                params = {k: v for k, v in finding.params.items() if k != "endpoint"}
                rules[check_id] = {
                    "status": status.value,
                    "severity": severity.value,
                    "message_id": finding.message_id,
                    "params": params,
                }
        evidence: dict[str, Any] = {
            "rules": rules,
            "mta_sts": mta_sts,
            "dane_usages": sorted(dane),
            "escalated": escalated,
            "strict_because": join_bounded([*strict_name, *strict_chain]) or None,
        }
        values: dict[str, Any] = {"endpoint": resource}
        if ep.error_kind == "out_of_scope":
            return self.out_of_scope(resource, ep.host)
        if ep.error_kind == "not_tls" and ep.starttls is not None:
            return self.finding(Status.NOT_APPLICABLE, resource, "starttls_refused", endpoint=resource)
        errors = [f for _, f in results if f.status is Status.ERROR and f.error is not None]
        if ep.error_kind is not None and errors:
            return self.error(
                resource,
                errors[0].error.kind if errors[0].error else ErrorKind.BUG,
                errors[0].params["detail"],
            )
        if Status.FAIL in buckets:
            fails = buckets[Status.FAIL]
            severity = _worst(s for _, s in fails)
            message = "fail_strict" if escalated else "fail"
            return self.finding(
                Status.FAIL,
                resource,
                message,
                evidence=evidence,
                severity=severity,
                rules=join_bounded((c for c, _ in fails), 17),
                why=join_bounded([*strict_name, *strict_chain]) or "-",
                **values,
            )
        if errors:
            first = errors[0].error
            assert first is not None
            detail = "; ".join(
                f"{c}: {f.params.get('detail', '?')}" for c, f in results if f.status is Status.ERROR
            )
            return self.error(resource, first.kind, detail)
        if Status.WARN in buckets:
            warns = buckets[Status.WARN]
            return self.finding(
                Status.WARN,
                resource,
                "warn",
                evidence=evidence,
                severity=_worst(s for _, s in warns),
                rules=join_bounded((c for c, _ in warns), 17),
                **values,
            )
        judged = len(buckets.get(Status.PASS, [])) + len(buckets.get(Status.INFO, []))
        untested = len(results) - judged
        if untested:
            return self.finding(
                Status.PASS,
                resource,
                "pass_partial",
                evidence=evidence,
                count=judged,
                untested=untested,
                **values,
            )
        return self.finding(Status.PASS, resource, "pass", evidence=evidence, count=judged, **values)


# --------------------------------------------------------------------------------------------------
# MTA-STS and TLS-RPT


class MtaStsTlsrpt(_ProbeCheck):
    """MTA-STS: PASS: `_mta-sts` TXT valid and the policy, fetched over valid HTTPS, is `mode: enforce`
    with MX patterns matching every real MX host. WARN: no MTA-STS, or mode testing/none. FAIL: invalid
    TXT record or policy, policy fetched with a TLS error or an HTTP status other than 200, or MX patterns
    not matching a real MX host. ERROR: the policy could not be fetched (timeout…). TLS-RPT is a second
    finding (`_smtp._tls` TXT): INFO when valid or absent (absence is not scored, as the checklist says),
    WARN when published but unusable. N/A: no MX (both)."""

    id = "MAIL-MTA-STS-TLSRPT"

    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterator[Finding]:
        yield self._mta_sts(domain, snap, mx, mail.mta_sts)
        yield self._tlsrpt(domain, snap)

    def _mta_sts(self, domain: str, snap: DnsSnapshot, mx: _MxSet, policy: MtaStsPolicy | None) -> Finding:
        name = f"_mta-sts.{domain}"
        resource = f"{name} TXT"
        answer = snap.answer(name, "TXT")
        failed = self.unproven(resource, answer, name, "TXT")
        if failed is not None:
            return failed
        records = [r for r in snap.records(name, "TXT") if r.startswith("v=STSv1")]
        evidence: dict[str, Any] = {"txt": records, "mx": list(mx.hosts[:_MAX_ITEMS])}
        if not records:
            return self.finding(Status.WARN, resource, "absent", evidence=evidence, domain=domain)
        try:
            if len(records) > 1:
                raise RecordSyntaxError(f"{len(records)} v=STSv1 records")
            parse_sts_txt(records[0])
        except RecordSyntaxError as exc:
            return self.finding(
                Status.FAIL, resource, "invalid_txt", evidence=evidence, domain=domain, reason=str(exc)
            )
        if policy is None:
            return self.error(resource, ErrorKind.NO_FACTS, "the MTA-STS policy was not fetched")
        url = policy.url
        evidence.update(
            url=url,
            status=policy.status,
            content_type=policy.content_type,
            body=policy.body,
            tls_error=policy.tls_error,
        )
        if policy.tls_error:
            return self.finding(
                Status.FAIL, url, "tls_error", evidence=evidence, url=url, reason=policy.tls_error
            )
        if not policy.fetched:
            if policy.error_kind == "out_of_scope":
                return self.out_of_scope(url, f"mta-sts.{domain}")
            return self.error(
                url, _probe_kind(policy.error_kind), f"{url}: {policy.error or policy.error_kind}"
            )
        if policy.status != 200:
            return self.finding(
                Status.FAIL, url, "http_status", evidence=evidence, url=url, status=str(policy.status)
            )
        try:
            parsed = parse_mta_sts_policy(policy.body or "")
        except RecordSyntaxError as exc:
            return self.finding(
                Status.FAIL, url, "invalid_policy", evidence=evidence, url=url, reason=str(exc)
            )
        evidence.update(mode=parsed.mode, patterns=list(parsed.mx[:_MAX_ITEMS]), max_age=parsed.max_age)
        unmatched = [h for h in mx.hosts if not any(mx_pattern_matches(p, h) for p in parsed.mx)]
        if parsed.mode != "none" and unmatched:
            return self.finding(
                Status.FAIL,
                url,
                "mx_mismatch",
                evidence=evidence,
                url=url,
                hosts=join_bounded(unmatched),
                patterns=join_bounded(parsed.mx) or "-",
            )
        if parsed.mode == "enforce":
            return self.finding(Status.PASS, url, "pass", evidence=evidence, url=url)
        return self.finding(Status.WARN, url, f"mode_{parsed.mode}", evidence=evidence, url=url)

    def _tlsrpt(self, domain: str, snap: DnsSnapshot) -> Finding:
        name = f"_smtp._tls.{domain}"
        resource = f"{name} TXT"
        failed = self.unproven(resource, snap.answer(name, "TXT"), name, "TXT")
        if failed is not None:
            return failed
        records = [r for r in snap.records(name, "TXT") if r.replace(" ", "").startswith("v=TLSRPTv1")]
        evidence = {"txt": records}
        if not records:
            return self.finding(Status.INFO, resource, "tlsrpt_absent", evidence=evidence, domain=domain)
        try:
            if len(records) > 1:
                raise RecordSyntaxError(f"{len(records)} v=TLSRPTv1 records")
            uris = parse_tlsrpt(records[0])
        except RecordSyntaxError as exc:
            return self.finding(
                Status.WARN,
                resource,
                "tlsrpt_invalid",
                evidence=evidence,
                severity=Severity.LOW,
                reason=str(exc),
            )
        return self.finding(
            Status.INFO, resource, "tlsrpt_present", evidence=evidence, rua=join_bounded(uris, 3)
        )


# --------------------------------------------------------------------------------------------------
# DANE


class Dane(_ProbeCheck):
    """Per MX host, TLSA at `_25._tcp.<host>`. INFO: none published. PASS: a usable record (DANE-EE
    matching the leaf, or DANE-TA matching a certificate of the chain; selector 0/1, matching type 0/1/2)
    matches the chain presented at every address, and the TLSA answer is DNSSEC-secure. FAIL (high): no
    usable record matches at some address, or STARTTLS is missing/fails there (DANE senders then refuse
    to deliver). WARN: only unusable records (PKIX usages 0/1, unknown types); TLSA published in a zone
    that is not DNSSEC-secure (senders ignore it). NOT_TESTED: the zone's DNSSEC state is unknown
    (another zone, no AD flag). ERROR: TLSA query or probe failed."""

    id = "MAIL-DANE"

    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterator[Finding]:
        for host in mail.mx_hosts or mx.hosts:
            yield self._host(snap, host, self.probes_of(domain, host, mail))

    def _host(self, snap: DnsSnapshot, host: str, probes: Sequence[SmtpProbe]) -> Finding:
        name = f"_25._tcp.{host}"
        resource = f"{name} TLSA"
        answer = snap.answer(name, "TLSA")
        failed = self.unproven(resource, answer, name, "TLSA")
        if failed is not None:
            return failed
        assert answer is not None
        if answer.outcome is not Outcome.NOERROR or not answer.records:
            return self.finding(Status.INFO, resource, "absent", host=host)
        records: list[TlsaRecord] = []
        invalid: list[str] = []
        for text in answer.records:
            try:
                records.append(parse_tlsa(text))
            except RecordSyntaxError:
                invalid.append(text)
        usable = [r for r in records if r.usable]
        dnssec = self._dnssec(snap, host, answer)
        evidence: dict[str, Any] = {
            "tlsa": [r.text() for r in records][:_MAX_ITEMS],
            "invalid": invalid[:_MAX_ITEMS],
            "dnssec": dnssec,
        }
        if not usable:
            return self.finding(
                Status.WARN, resource, "unusable", evidence=evidence, severity=Severity.MEDIUM, host=host
            )
        if not probes:
            return self.no_probe(host, snap, None)
        addresses = []
        no_tls: list[str] = []
        mismatched: list[str] = []
        for probe in probes:
            if not probe.address:
                return self.no_probe(host, snap, probe)
            state = _tls_state(probe) if probe.connected else "undecided"
            if state == "undecided":
                return self.probe_error(_probe_resource(probe.host, probe.port, probe.address), probe)
            row: dict[str, Any] = {"address": probe.address}
            if state == "no_tls":
                row["tls"] = probe.starttls_error or probe.error or "STARTTLS not offered"
                no_tls.append(probe.address)
            elif not probe.chain:
                detail = f"{host} [{probe.address}]: STARTTLS completed but no certificate chain was recorded"
                return self.error(resource, ErrorKind.NO_FACTS, detail)
            else:
                match = dane_match(usable, probe.chain)
                row["matched"] = match.text() if match else None
                row["chain"] = [
                    {
                        "position": c.position,
                        "subject": c.subject,
                        "cert_sha256": c.cert_sha256,
                        "spki_sha256": c.spki_sha256,
                    }
                    for c in probe.chain[:5]
                ]
                if match is None:
                    mismatched.append(probe.address)
            addresses.append(row)
        evidence["addresses"] = addresses
        if mismatched:
            return self.finding(
                Status.FAIL,
                resource,
                "mismatch",
                evidence=evidence,
                severity=Severity.HIGH,
                host=host,
                addresses=join_bounded(mismatched),
            )
        if no_tls:
            return self.finding(
                Status.FAIL,
                resource,
                "no_tls",
                evidence=evidence,
                severity=Severity.HIGH,
                host=host,
                addresses=join_bounded(no_tls),
            )
        if dnssec == "secure":
            return self.finding(Status.PASS, resource, "pass", evidence=evidence, host=host)
        if dnssec in ("insecure", "bogus"):
            return self.finding(
                Status.WARN, resource, "not_secure", evidence=evidence, host=host, dnssec=dnssec
            )
        return self.finding(
            Status.NOT_TESTED, resource, "dnssec_unknown", evidence=evidence, host=host, dnssec=dnssec
        )

    @staticmethod
    def _dnssec(snap: DnsSnapshot, host: str, answer: DnsAnswer) -> str:
        """ "secure", "insecure", "bogus", "indeterminate" or "unknown" for the zone of the TLSA record."""
        if answer.authenticated:
            return "secure"
        verdict = snap.dnssec
        if verdict is not None and verdict.zone and _under(host, verdict.zone):
            return verdict.status
        return "unknown"


# --------------------------------------------------------------------------------------------------
# Probes of the mail hosts (open relay, clear-text authentication, banners)


#: SASL mechanisms that send the password itself
_PASSWORD_MECHANISMS = ("PLAIN", "LOGIN")


def _auth_mechanisms(ehlo: Iterable[str]) -> list[str]:
    """SASL mechanisms of the EHLO AUTH keyword ("AUTH PLAIN LOGIN", or the old "AUTH=LOGIN" form)."""
    mechanisms: list[str] = []
    for keyword in ehlo:
        upper = keyword.upper()
        if upper == "AUTH" or upper.startswith(("AUTH ", "AUTH=")):
            mechanisms.extend(upper[5:].split())
    return list(dict.fromkeys(mechanisms))


def _scope_refused(mail: MailFacts, address: str) -> bool:
    return any(entry.split()[-1:] == [address] for entry in mail.not_probed)


class OpenRelay(_ProbeCheck):
    """Opt-in (`[collectors.mail] opt_in = ["open_relay"]`): per MX address, RCPT of an external sender to
    an external recipient, never DATA. PASS: refused. FAIL (critical): accepted. NOT_TESTED: the opt-in
    test did not run (not enabled, or no MX address in scope), or this address is outside the declared
    scope. ERROR: the probe failed."""

    id = "MAIL-OPEN-RELAY"

    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterator[Finding]:
        if "open_relay" not in mail.opt_in:
            # MailFacts.opt_in lists the opt-in probes the configuration enabled: this one was not.
            evidence = {"opt_in": list(mail.opt_in), "not_probed": list(mail.not_probed[:_MAX_ITEMS])}
            yield self.finding(Status.NOT_TESTED, f"{domain} MX", "not_run", evidence=evidence, domain=domain)
            return
        for item in self.mx_probes(domain, snap, mx, mail):
            yield item if isinstance(item, Finding) else self._probe(item, mail)

    def _probe(self, probe: SmtpProbe, mail: MailFacts) -> Finding:
        resource = _probe_resource(probe.host, probe.port, probe.address)
        evidence = {"relay": probe.relay, "reply": probe.relay_reply}
        if probe.relay is None:
            if _scope_refused(mail, probe.address):
                return self.out_of_scope(resource, probe.host)
            if probe.error_kind is not None or not probe.connected:
                return self.probe_error(resource, probe)
            return self.error(resource, ErrorKind.NO_FACTS, "the relay probe did not run on this address")
        reply = probe.relay_reply or "-"
        if probe.relay == "accepted":
            return self.finding(
                Status.FAIL, resource, "accepted", evidence=evidence, endpoint=resource, reply=reply
            )
        if probe.relay == "refused":
            return self.finding(
                Status.PASS, resource, "refused", evidence=evidence, endpoint=resource, reply=reply
            )
        return self.error(resource, ErrorKind.PROTOCOL, f"relay probe: {reply}")


class CleartextAuth(_ProbeCheck):
    """SMTP on 25 (each MX address) and the mailbox ports 143/110/587 probed in scope. FAIL: a password
    can be sent before TLS (AUTH PLAIN/LOGIN advertised before STARTTLS or without it; IMAP without
    LOGINDISABLED, POP3 USER/PLAIN, submission AUTH before STARTTLS). WARN (medium): IMAP 143 or POP3 110
    open with authentication only after STARTTLS (implicit TLS on 993/995 is preferred); SMTP advertising
    only non-password mechanisms (NTLM, GSSAPI, CRAM-MD5) before TLS. PASS: no authentication in clear
    (or every probed mailbox port closed). NOT_TESTED: the mailbox ports of addresses outside the declared
    scope were not probed. ERROR: a probe failed. Closed or filtered mailbox ports are listed in the
    evidence only."""

    id = "MAIL-CLEARTEXT-AUTH"

    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterator[Finding]:
        for item in self.mx_probes(domain, snap, mx, mail):
            yield item if isinstance(item, Finding) else self._smtp(item)
        closed: list[str] = []
        for box in mail.mailbox:
            resource = _probe_resource(box.host, box.port, box.address or "?", box.protocol)
            if not box.connected and box.error_kind in _CLOSED:
                closed.append(resource)
            elif not box.connected or (box.error_kind is not None and not box.cleartext_auth):
                # A password accepted in clear stays proven even when the dialogue broke afterwards.
                yield self.probe_error(resource, box)
            else:
                yield self._mailbox(box, resource)
        if mail.not_probed:
            evidence = {"not_probed": list(mail.not_probed[:_MAX_ITEMS]), "closed": closed[:_MAX_ITEMS]}
            yield self.finding(
                Status.NOT_TESTED,
                f"{domain} (143, 110, 587)",
                "not_probed",
                evidence=evidence,
                addresses=join_bounded(e.split()[-1] for e in mail.not_probed),
            )
        elif closed and not any(box.connected for box in mail.mailbox):
            yield self.finding(
                Status.PASS,
                f"{domain} (143, 110, 587)",
                "closed",
                evidence={"closed": closed[:_MAX_ITEMS]},
                ports=join_bounded(closed, 3),
            )

    def _smtp(self, probe: SmtpProbe) -> Finding:
        resource = _probe_resource(probe.host, probe.port, probe.address)
        if not probe.connected or (not probe.ehlo and probe.error_kind is not None):
            return self.probe_error(resource, probe)  # no EHLO answer: nothing to judge
        mechanisms = _auth_mechanisms(probe.ehlo)
        # PLAIN and LOGIN carry the password itself (base64 is no encryption); NTLM, GSSAPI or CRAM-MD5
        # do not, but still let anyone try passwords, and NTLM's answers can be cracked offline.
        cleartext = [m for m in mechanisms if m in _PASSWORD_MECHANISMS]
        evidence = {
            "ehlo": list(probe.ehlo[:_MAX_ITEMS]),
            "auth_before_tls": mechanisms,
            "starttls_offered": probe.starttls_offered,
        }
        values: dict[str, Any] = {"endpoint": resource, "auth": join_bounded(mechanisms) or "-"}
        if cleartext and not probe.starttls_offered:
            return self.finding(Status.FAIL, resource, "smtp_no_tls", evidence=evidence, **values)
        if cleartext:
            return self.finding(Status.FAIL, resource, "smtp_before_tls", evidence=evidence, **values)
        if mechanisms:
            return self.finding(
                Status.WARN,
                resource,
                "smtp_auth_exposed",
                evidence=evidence,
                severity=Severity.MEDIUM,
                **values,
            )
        return self.finding(Status.PASS, resource, "smtp_pass", evidence=evidence, **values)

    def _mailbox(self, box: MailboxProbe, resource: str) -> Finding:
        evidence: dict[str, Any] = {
            "protocol": box.protocol,
            "capabilities": list(box.capabilities[:_MAX_ITEMS]),
            "starttls_offered": box.starttls_offered,
            "cleartext_auth": box.cleartext_auth,
        }
        values: dict[str, Any] = {"endpoint": resource, "protocol": box.protocol.upper()}
        if box.cleartext_auth:
            message = "cleartext" if box.starttls_offered else "cleartext_no_tls"
            return self.finding(Status.FAIL, resource, message, evidence=evidence, **values)
        if box.protocol in ("imap", "pop3"):
            return self.finding(
                Status.WARN, resource, "legacy_port", evidence=evidence, severity=Severity.MEDIUM, **values
            )
        return self.finding(Status.PASS, resource, "pass", evidence=evidence, **values)


class Banner(_ProbeCheck):
    """Per greeting (SMTP on each MX address, and the mailbox ports probed). WARN: the greeting names a
    product with its version (`products`: name and regular expression with a `version` group). INFO: a
    product without version. PASS: no known product named. NOT_TESTED: no greeting was received. An
    end-of-life version is SVC-EOL-SOFTWARE's finding."""

    id = "MAIL-BANNER"

    def judge_mail(self, domain: str, snap: DnsSnapshot, mx: _MxSet, mail: MailFacts) -> Iterator[Finding]:
        try:
            products = self._products()
        except (re.error, KeyError, TypeError) as exc:
            yield self.error(f"{domain} MX", ErrorKind.BUG, f"invalid `products` parameter: {exc}")
            return
        greetings: list[tuple[str, str, int, str]] = []
        for probe in mail.smtp:
            if probe.connected and probe.banner:
                greetings.append(
                    (_probe_resource(probe.host, probe.port, probe.address), "smtp", probe.port, probe.banner)
                )
        for box in mail.mailbox:
            if box.connected and box.banner:
                resource = _probe_resource(box.host, box.port, box.address, box.protocol)
                greetings.append((resource, box.protocol, box.port, box.banner))
        if not greetings:
            yield self.finding(Status.NOT_TESTED, f"{domain} MX", "no_banner", domain=domain)
            return
        for resource, protocol, port, banner in greetings:
            yield self._greeting(resource, protocol, port, banner, products)

    def _products(self) -> list[tuple[str, re.Pattern[str]]]:
        compiled = []
        for entry in self.params.get("products", []):
            compiled.append((str(entry["name"]), re.compile(str(entry["pattern"]), re.IGNORECASE)))
        return compiled

    def _greeting(
        self,
        resource: str,
        protocol: str,
        port: int,
        banner: str,
        products: Sequence[tuple[str, re.Pattern[str]]],
    ) -> Finding:
        # Greetings are bounded by the collector; cut again so that no pattern runs on a long text.
        text = clip(banner, 1024)
        evidence = {"banner": text, "protocol": protocol, "port": port}
        values: dict[str, Any] = {"endpoint": resource}
        for name, pattern in products:
            match = pattern.search(text)
            if match is None:
                continue
            version = match.groupdict().get("version")
            evidence["product"] = name
            if version:
                evidence["version"] = version
                return self.finding(
                    Status.WARN,
                    resource,
                    "version",
                    evidence=evidence,
                    product=name,
                    version=version,
                    **values,
                )
            return self.finding(Status.INFO, resource, "product", evidence=evidence, product=name, **values)
        return self.finding(Status.PASS, resource, "pass", evidence=evidence, **values)


CHECKS: list[type[Check]] = [
    SpfPresent,
    SpfPolicy,
    SpfLookups,
    DmarcPresent,
    DmarcPolicy,
    ParkedDomain,
    Dkim,
    MxHygiene,
    StartTls,
    MxTls,
    MtaStsTlsrpt,
    Dane,
    OpenRelay,
    CleartextAuth,
    Banner,
]
