"""Mail collector: SMTP dialogues with a domain's MX hosts, its clear-text mailbox ports, MTA-STS policy.

What is sent, for a domain target (or a URL's host); nothing for IP and network targets, whose ports
the ports family already covers (an address has no MX):

1. one MX query (the engine resolver's cached `mx_hosts`, shared with the TLS and ports collectors);
2. port 25 of every MX host (passive: what any sending mail server does): greeting, EHLO, STARTTLS
   when offered, the TLS handshake without verification (the presented chain is recorded, hashed as
   DANE compares it), EHLO again, QUIT. Never DATA;
3. the clear-text mailbox ports (IMAP 143, POP3 110, submission 587) of the MX hosts and of the
   `mail_hosts` names under the domain (mail.<domain>…, when they resolve): greeting, CAPABILITY /
   CAPA / EHLO, then LOGOUT / QUIT, never a login. Active probes: only towards addresses inside the
   declared scope, the others are listed in `not_probed`. One probe per address and port;
4. opt-in only (`opt_in = ["open_relay"]`), and only on in-scope MX addresses: MAIL FROM and RCPT TO
   between two external domains the scanner chose (`relay_from_domain`, `relay_to_domain`, RFC 2606
   names by default), then RSET; never DATA;
5. when `_mta-sts.<domain>` has a `v=STSv1` TXT record: one HTTPS GET of the policy (certificate
   verified with the engine's trust, no redirect followed, RFC 8461 §3.3), passive.

How the facts read, for the checks. A probe's `error_kind` says the dialogue could not complete:
"timeout", "refused", "unreachable", "protocol", "tls" (a STARTTLS handshake the server broke),
"dns" (the host name did not resolve), "deadline" (the target's deadline passed first). A STARTTLS the
server refused with a 4xx/5xx reply is an answer, not an error: `starttls_ok` False, `error_kind`
None. A failed MX lookup (timeout, SERVFAIL) is one SmtpProbe for the domain itself, address "",
with that error: "no MX" and "could not ask" stay apart. A `_mta-sts` TXT lookup that failed gives
an MtaStsPolicy with `error_kind` "timeout" or "dns" and nothing fetched, never None (None means no
record).

Time budget: every network operation gets the engine's per-operation timeout capped by the
target's deadline; probes run `MAX_PARALLEL` at a time in daemon threads, so one dead MX only costs
its own timeouts.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, ClassVar, TypeVar

import dns.exception
import dns.resolver

from ..bounds import clip
from ..models import ErrorKind
from ..net.guard import OutOfScopeError
from ..net.resolver import ResolutionError
from ..plugin import Collector, CollectorContext, CollectorError
from ..scope import ProbeLevel
from ..targets import Target, TargetError, TargetKind, normalise_hostname
from .http_session import HttpSession, permissive_context
from .mail_facts import MailboxProbe, MailFacts, MtaStsPolicy, SmtpProbe
from .mailproto import MAX_BANNER, RelayPlan, mailbox_probe, smtp_probe

#: probes run at once (per target)
MAX_PARALLEL = 4
#: RFC 8461 §3.3: a sender may stop reading a policy at 64 KiB
MTA_STS_MAX_BYTES = 64 * 1024
#: the opt-in tests this collector knows
OPT_IN_PROBES = ("open_relay",)
#: the local part of the relay test's addresses
RELAY_LOCAL_PART = "probe"
_MAX_NOT_PROBED = 50

#: what a probe job produces
Probe = SmtpProbe | MailboxProbe | MtaStsPolicy

T = TypeVar("T")


@dataclass(frozen=True)
class _Settings:
    helo_name: str
    mail_hosts: tuple[str, ...]
    smtp_port: int
    ports: tuple[tuple[str, int], ...]
    mta_sts_port: int
    relay: RelayPlan | None

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> _Settings:
        merged = {**MailCollector.defaults, **settings}
        # These names end up on the wire inside our commands: a CR/LF or a space here would let the
        # configuration inject SMTP commands, so only real host names are accepted.
        helo = _host_setting(merged, "helo_name")
        raw = merged["opt_in"]
        opt_in = {str(n).strip().lower() for n in ([raw] if isinstance(raw, str) else raw or ())}
        relay = None
        if "open_relay" in opt_in:
            sender = _host_setting(merged, "relay_from_domain")
            recipient = _host_setting(merged, "relay_to_domain")
            relay = RelayPlan(f"{RELAY_LOCAL_PART}@{sender}", f"{RELAY_LOCAL_PART}@{recipient}")
        ports = (
            ("imap", _port(merged["imap_port"])),
            ("pop3", _port(merged["pop3_port"])),
            ("submission", _port(merged["submission_port"])),
        )
        return cls(
            helo_name=helo,
            mail_hosts=tuple(str(h).strip().lower() for h in merged["mail_hosts"] if str(h).strip()),
            smtp_port=_port(merged["smtp_port"]),
            ports=tuple((p, n) for p, n in ports if n),
            mta_sts_port=_port(merged["mta_sts_port"]) or 443,
            relay=relay,
        )


def _port(value: Any) -> int:
    """A TCP port, or 0 (disabled) for anything else."""
    port = int(value)
    return port if 0 < port < 65536 else 0


def _host_setting(settings: Mapping[str, Any], key: str) -> str:
    try:
        return normalise_hostname(str(settings[key]))
    except TargetError:
        raise CollectorError(
            ErrorKind.PROTOCOL,
            f"[collectors.mail] {key} must be a host name, got {str(settings[key])[:60]!r}",
        ) from None


@dataclass(frozen=True)
class _Job:
    """One probe to run, planned before any connection."""

    run: Callable[[], Probe]
    #: what to record if the probe has not finished by the deadline
    late: Probe


class MailCollector(Collector):
    """Talks to a domain's MX hosts and mailbox ports (SMTP/IMAP/POP3) and fetches its MTA-STS policy."""

    name = "mail"
    provides = MailFacts
    defaults: ClassVar[Mapping[str, Any]] = {
        # the name given in EHLO; set it to the scanning machine's real FQDN to be a polite client
        "helo_name": "cyberscan.invalid",
        # labels under the domain probed for clear-text mailbox ports, besides the MX hosts
        "mail_hosts": ["mail", "imap", "smtp", "pop"],
        # 0 disables a port
        "smtp_port": 25,
        "imap_port": 143,
        "pop3_port": 110,
        "submission_port": 587,
        # the MTA-STS policy host's HTTPS port (443 in RFC 8461; another only for test stand-ins)
        "mta_sts_port": 443,
        # opt-in probes, off unless named: "open_relay"
        "opt_in": [],
        # the open-relay test sends MAIL FROM:<probe@relay_from_domain> RCPT TO:<probe@relay_to_domain>
        "relay_from_domain": "relay-test.example.com",
        "relay_to_domain": "relay-test.example.net",
    }

    def collect(self, target: Target, ctx: CollectorContext) -> MailFacts:
        settings = _Settings.from_mapping(ctx.settings)
        ctx.op_timeout()  # raises CollectorError(DEADLINE) when nothing is left
        collected_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        domain = _domain_of(target)
        if not domain:
            return MailFacts(collected_at=collected_at)
        mx_hosts, mx_failure = _mx_hosts(domain, settings.smtp_port, ctx)
        planner = _Planner(ctx, settings)
        if mx_failure is not None:
            planner.done.append(mx_failure)
        if settings.smtp_port:
            for host in mx_hosts:
                planner.smtp(host)
        for host in [*mx_hosts, *_mail_host_names(domain, settings.mail_hosts, mx_hosts)]:
            planner.mailbox(host, is_mx=host in mx_hosts)
        mta_sts = _mta_sts_plan(domain, settings.mta_sts_port, ctx)
        jobs = [*planner.jobs, *([mta_sts] if isinstance(mta_sts, _Job) else [])]
        results = _run_jobs(jobs, ctx)
        policy = results.pop() if isinstance(mta_sts, _Job) else mta_sts
        probes = [*planner.done, *results]
        return MailFacts(
            domain=domain,
            mx_hosts=tuple(mx_hosts),
            smtp=tuple(r for r in probes if isinstance(r, SmtpProbe)),
            mailbox=tuple(r for r in probes if isinstance(r, MailboxProbe)),
            mta_sts=policy if isinstance(policy, MtaStsPolicy) else None,
            # enabled, not "ran": MAIL-OPEN-RELAY tells "not enabled" (not_tested) from "enabled but
            # this MX address is outside the scope" (out_of_scope, from the probe's missing verdict)
            opt_in=("open_relay",) if settings.relay is not None else (),
            not_probed=tuple(planner.not_probed[:_MAX_NOT_PROBED]),
            collected_at=collected_at,
        )


def _domain_of(target: Target) -> str:
    """The mail domain of a domain target or of a URL's host name; "" for addresses."""
    if target.kind not in (TargetKind.DOMAIN, TargetKind.URL) or not target.host:
        return ""
    try:
        ipaddress.ip_address(target.host)
    except ValueError:
        return target.host
    return ""  # a URL on an IP address


def _mail_host_names(domain: str, labels: Sequence[str], mx_hosts: Sequence[str]) -> list[str]:
    """mail.<domain>, imap.<domain>…: valid names only, the MX hosts (already listed) left out."""
    names: list[str] = []
    for label in labels:
        try:
            name = normalise_hostname(f"{label}.{domain}")
        except TargetError:
            continue
        if name not in mx_hosts and name not in names:
            names.append(name)
    return names


def _mx_hosts(domain: str, smtp_port: int, ctx: CollectorContext) -> tuple[list[str], SmtpProbe | None]:
    """MX hosts by preference (null MX: none); a failed lookup is an SmtpProbe error for the domain."""
    try:
        return ctx.guard.resolver.mx_hosts(domain, ctx.op_timeout()), None
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return [], None  # no MX: not a mail domain (a parked one, for MAIL-PARKED-DOMAIN)
    except dns.exception.Timeout:
        failure = SmtpProbe(
            domain, "", smtp_port, error_kind="timeout", error=f"MX lookup for {domain} timed out"
        )
    except dns.exception.DNSException as exc:
        failure = SmtpProbe(
            domain,
            "",
            smtp_port,
            error_kind="dns",
            error=clip(f"MX lookup for {domain} failed: {exc}", MAX_BANNER),
        )
    return [], failure


def _resolution_kind(exc: ResolutionError) -> str:
    return "timeout" if exc.reason == "timeout" else "dns"


class _Planner:
    """Turns hosts into probe jobs, asking the guard first; skipped and failed ones are recorded."""

    def __init__(self, ctx: CollectorContext, settings: _Settings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.jobs: list[_Job] = []
        self.done: list[SmtpProbe | MailboxProbe] = []
        self.not_probed: list[str] = []
        self._mailbox_seen: set[tuple[str, int]] = set()
        self._tls_context = permissive_context()

    def smtp(self, host: str) -> None:
        """Port 25 of an MX host: passive; the relay test rides on it when opted in and in scope."""
        port = self.settings.smtp_port
        relay = self.settings.relay
        if self.ctx.remaining() <= 0:  # name resolution ate the budget (a DNS server that stalls)
            self.done.append(SmtpProbe(host, "", port, error_kind="deadline", error=_LATE))
            return
        try:
            address = self.ctx.guard.pin(host, ProbeLevel.PASSIVE)
            if relay is not None:
                try:
                    # an in-scope address of the host when it has one: the relay test is active
                    address = self.ctx.guard.pin(host, ProbeLevel.ACTIVE)
                except OutOfScopeError as exc:
                    self._skip(host, exc.addresses)
                    relay = None
        except ResolutionError as exc:
            self.done.append(SmtpProbe(host, "", port, error_kind=_resolution_kind(exc), error=exc.detail))
            return
        helo, timeout = self.settings.helo_name, self.ctx.op_timeout
        probe = partial(smtp_probe, host, address, port, helo, timeout, self._tls_context, relay)
        self.jobs.append(
            _Job(
                self._shared(("smtp", host, address, port, helo, relay), probe),
                SmtpProbe(host, address, port, error_kind="deadline", error=_LATE),
            )
        )

    def _shared(self, key: tuple[Any, ...], probe: Callable[[], T]) -> Callable[[], T]:
        """In fleet mode, one probe per endpoint for the whole run: the syndicat's mail platform is the
        MX of many communes, and each would otherwise get its own EHLO/STARTTLS dialogue."""
        memo = self.ctx.memo
        if memo is None:
            return probe
        return partial(memo.once, ("mail", *key), probe, self.ctx.remaining())

    def mailbox(self, host: str, is_mx: bool) -> None:
        """The clear-text mailbox ports of a host: active, so in scope only; unknown names are skipped."""
        if not self.settings.ports:
            return
        if self.ctx.remaining() <= 0:
            for protocol, port in self.settings.ports:
                self.done.append(MailboxProbe(host, "", port, protocol, error_kind="deadline", error=_LATE))
            return
        try:
            address = self.ctx.guard.pin(host, ProbeLevel.ACTIVE)
        except OutOfScopeError as exc:
            self._skip(host, exc.addresses)
            return
        except ResolutionError as exc:
            if exc.reason in ("nxdomain", "no_address") or is_mx:
                return  # a mail_hosts guess that does not exist; an MX's failure is in its SmtpProbe
            for protocol, port in self.settings.ports:
                self.done.append(
                    MailboxProbe(host, "", port, protocol, error_kind=_resolution_kind(exc), error=exc.detail)
                )
            return
        helo, timeout = self.settings.helo_name, self.ctx.op_timeout
        for protocol, port in self.settings.ports:
            if (address, port) in self._mailbox_seen:
                continue  # mail.<domain> and imap.<domain> are often one server: probe it once
            self._mailbox_seen.add((address, port))
            probe = partial(mailbox_probe, host, address, port, protocol, helo, timeout)
            self.jobs.append(
                _Job(
                    self._shared(("mailbox", host, address, port, protocol, helo), probe),
                    MailboxProbe(host, address, port, protocol, error_kind="deadline", error=_LATE),
                )
            )

    def _skip(self, host: str, addresses: Sequence[str]) -> None:
        for address in addresses:
            entry = f"{host} {address}"
            if entry not in self.not_probed:
                self.not_probed.append(entry)


_LATE = "the target's scan deadline passed before this probe finished"


def _mta_sts_plan(domain: str, port: int, ctx: CollectorContext) -> _Job | MtaStsPolicy | None:
    """A job fetching the policy when `_mta-sts.<domain>` publishes v=STSv1; None when it does not."""
    url = f"https://mta-sts.{domain}{'' if port == 443 else f':{port}'}/.well-known/mta-sts.txt"
    try:
        answer = ctx.guard.resolver.dns.resolve(
            f"_mta-sts.{domain}", "TXT", search=False, lifetime=ctx.op_timeout()
        )
    except CollectorError as exc:  # the deadline passed: the SMTP probes planned so far still run
        return MtaStsPolicy(url, error_kind="deadline", error=clip(exc.detail, MAX_BANNER))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    except dns.exception.Timeout:
        return MtaStsPolicy(url, error_kind="timeout", error=f"_mta-sts.{domain} TXT lookup timed out")
    except dns.exception.DNSException as exc:
        return MtaStsPolicy(
            url, error_kind="dns", error=clip(f"_mta-sts.{domain} TXT lookup failed: {exc}", 300)
        )
    records = [b"".join(r.strings) for r in answer]
    # RFC 8461 §3.1: the record starts with "v=STSv1" (case-sensitive); other TXT records are ignored.
    if not any(r.startswith(b"v=STSv1") for r in records):
        return None
    return _Job(partial(_fetch_policy, url, ctx), MtaStsPolicy(url, error_kind="deadline", error=_LATE))


def _fetch_policy(url: str, ctx: CollectorContext) -> MtaStsPolicy:
    """GET the policy with the engine's trust (HttpSession follows no redirect), body ≤ 64 KiB."""
    with HttpSession(ctx.guard, ctx.op_timeout, ctx.user_agent, ctx.ca_bundle) as session:
        response = session.get(url, ProbeLevel.PASSIVE, MTA_STS_MAX_BYTES)
    # The session retries a failed verified handshake without verification (to see the headers):
    # a sender would have ignored that policy, so the TLS error is what counts, the body is evidence.
    tls_error = response.tls.error if response.tls is not None and not response.tls.verified else None
    content_type = response.header("content-type")
    return MtaStsPolicy(
        url=url,
        fetched=response.ok,
        status=response.status,
        content_type=clip(content_type, 200) if content_type is not None else None,
        body=response.body if response.ok else None,
        tls_error=clip(tls_error, 300) if tls_error else None,
        error_kind=None if response.ok else response.error_kind,
        error=None if response.ok else response.error,
    )


def _run_jobs(jobs: Sequence[_Job], ctx: CollectorContext) -> list[Probe]:
    """Run `jobs` MAX_PARALLEL at a time in daemon threads; a job still running at the deadline is late.

    Not a ThreadPoolExecutor: its workers are joined at interpreter exit, so a server dribbling its
    replies could keep the process alive after the runner abandoned this collector.
    """
    results: list[Probe | None] = [None] * len(jobs)
    failures: list[BaseException] = []
    pending = list(range(len(jobs)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                index = pending.pop(0)
            try:
                results[index] = jobs[index].run()
            except CollectorError as exc:  # the deadline passed in a step that does not record it
                results[index] = replace(jobs[index].late, error=clip(exc.detail, MAX_BANNER))
            except BaseException as exc:  # a bug: re-raised in the collector's thread below
                failures.append(exc)

    threads = [
        threading.Thread(target=worker, name="cyberscan-mail", daemon=True)
        for _ in range(min(MAX_PARALLEL, len(jobs)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # every step of a probe is bounded by the deadline; the grace covers the last one's clean-up
        thread.join(timeout=ctx.remaining() + 2.0)
    if failures:
        raise failures[0]
    return [r if r is not None else jobs[i].late for i, r in enumerate(results)]
