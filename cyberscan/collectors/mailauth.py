"""Mail-authentication records (SPF, DMARC, DKIM, MTA-STS, TLS-RPT, DANE) parsed for collectors and checks.

Written here rather than taken from checkdmarc or pyspf: both resolve names themselves while they
parse (checkdmarc through its own dnspython resolver, pyspf through pydns or dnspython), so their
verdicts cannot be recomputed from a recorded snapshot, `--facts` replays would re-query the
Internet, and tests would need their network mocked. Here one walker serves both sides: the
collector passes a function that queries (and records), a check passes the snapshot's lookup.
Record *syntax* that dnspython knows (TLSA, MX presentation format) is left to dnspython.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .dns_facts import DnsAnswer, Outcome
from .mail_facts import PresentedCertificate

#: RFC 7208 §4.6.4: more than 10 DNS-querying terms, or more than 2 void lookups, is a permerror.
SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
#: The walker stops here to bound the queries a hostile record can make us send (it reports "over").
SPF_WALK_CAP = 30
#: Each `mx` mechanism may look up at most 10 MX hosts' addresses (RFC 7208 §4.6.4).
SPF_MX_HOST_LIMIT = 10
#: Nesting depth of include/redirect (the lookup limit stops real records long before this).
_SPF_MAX_DEPTH = 10

_MECHANISMS = {"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"}
_QUERYING = {"include", "a", "mx", "ptr", "exists"}

#: answers a query: (name, rdtype) -> the recorded answer, or None when it was never asked
Lookup = Callable[[str, str], DnsAnswer | None]


class RecordSyntaxError(ValueError):
    """A record that does not parse (an SPF permerror, a DMARC record receivers ignore)."""


@dataclass(frozen=True)
class SpfTerm:
    """One SPF directive or modifier."""

    #: "+", "-", "~", "?" for mechanisms, "" for modifiers
    qualifier: str
    #: mechanism or modifier name, lower case ("include", "ip4", "all", "redirect", "exp")
    name: str
    #: the domain-spec or network after ":" / "=", "" when absent (macros not expanded)
    value: str = ""

    @property
    def is_modifier(self) -> bool:
        return self.qualifier == ""


def _check_network(name: str, value: str, raw: str) -> None:
    network = ipaddress.IPv4Network if name == "ip4" else ipaddress.IPv6Network
    try:
        network(value, strict=False)
    except ValueError:
        raise RecordSyntaxError(f"invalid network in {raw!r}") from None


def parse_spf(record: str) -> list[SpfTerm]:
    """Parse one `v=spf1` record into terms (raises RecordSyntaxError on a permerror)."""
    parts = record.split()
    if not parts or parts[0].lower() != "v=spf1":
        raise RecordSyntaxError("the record does not start with v=spf1")
    terms: list[SpfTerm] = []
    for raw in parts[1:]:
        modifier = re.fullmatch(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", raw)
        if modifier:
            terms.append(SpfTerm("", modifier.group(1).lower(), modifier.group(2)))
            continue
        qualifier = raw[0] if raw[0] in "+-~?" else "+"
        body = raw[1:] if raw[0] in "+-~?" else raw
        split = re.match(r"([^:/]*)([:/].*)?$", body)
        assert split is not None  # the pattern matches any string
        name, rest = split.group(1).lower(), split.group(2) or ""
        if name not in _MECHANISMS:
            raise RecordSyntaxError(f"unknown mechanism {raw!r}")
        # "a:host/24" keeps "host/24"; "a/24" keeps "/24" (the current domain with a prefix)
        value = rest[1:] if rest.startswith(":") else rest
        if name in ("include", "exists", "ip4", "ip6") and not value:
            raise RecordSyntaxError(f"{name} needs a value in {raw!r}")
        if name in ("ip4", "ip6"):
            _check_network(name, value, raw)
        if name == "all" and value:
            raise RecordSyntaxError(f"'all' takes no value in {raw!r}")
        terms.append(SpfTerm(qualifier, name, value))
    names = [t.name for t in terms if t.is_modifier]
    for unique in ("redirect", "exp"):
        if names.count(unique) > 1:
            raise RecordSyntaxError(f"more than one {unique}= modifier")
    return terms


def spf_records(answer: DnsAnswer | None) -> tuple[str, ...]:
    """The SPF records among a TXT answer's records."""
    if answer is None or answer.outcome is not Outcome.NOERROR:
        return ()
    return tuple(r for r in answer.records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 "))


def spf_denies_all(record: str) -> bool:
    """Whether an SPF record authorises no sender at all: `v=spf1 -all` (modifiers such as exp= aside)."""
    try:
        terms = parse_spf(record)
    except RecordSyntaxError:
        return False
    mechanisms = [t for t in terms if not t.is_modifier]
    redirect = any(t.name == "redirect" for t in terms if t.is_modifier)
    return not redirect and [(t.qualifier, t.name) for t in mechanisms] == [("-", "all")]


def _target(value: str, current: str) -> str | None:
    """The domain a mechanism queries: its domain-spec, or the current domain; None if macros remain."""
    domain = value.split("/", 1)[0] if value and not value.startswith("/") else current
    # Only %{d} (the current domain) can be expanded offline; other macros depend on the sender.
    domain = domain.replace("%{d}", current)
    if "%" in domain:
        return None
    return domain.lower().rstrip(".")


@dataclass
class SpfWalk:
    """The SPF record of a domain and the DNS cost of evaluating it, include by include."""

    domain: str
    #: the top record, None when absent
    record: str | None = None
    #: DNS-querying terms counted over the whole tree (include, a, mx, ptr, exists, redirect)
    lookups: int = 0
    #: lookups that returned NXDOMAIN or no record
    void_lookups: int = 0
    uses_ptr: bool = False
    #: the qualifier of the `all` that ends evaluation (the top record's, or its redirect target's)
    all_qualifier: str | None = None
    #: the top record's redirect= target (the first one, when redirects chain)
    redirect: str | None = None
    #: domains whose records were included or redirected to, in walk order, each once
    visited: list[str] = field(default_factory=list)
    #: why the record is a permerror (syntax, several records, missing include target, loop…)
    permerror: str | None = None
    #: a lookup the walker needed timed out, failed or was not recorded: the counts are then a lower
    #: bound (and, when the top TXT query itself failed, `record` is unknown rather than absent)
    temperror: str | None = None
    #: the outcome behind `temperror`: "TIMEOUT", "SERVFAIL"… or NOT_QUERIED (absent from the snapshot)
    temperror_outcome: str | None = None
    #: the walk stopped at SPF_WALK_CAP terms
    truncated: bool = False

    @property
    def over_limit(self) -> bool:
        return self.lookups > SPF_LOOKUP_LIMIT or self.void_lookups > SPF_VOID_LIMIT


#: `SpfWalk.temperror_outcome` of an answer the lookup does not have (a snapshot that never asked)
NOT_QUERIED = "NOT_QUERIED"


def _unanswered(answer: DnsAnswer | None, name: str, rdtype: str) -> str | None:
    """Why a needed answer cannot be used ("not queried", "TIMEOUT"…), None when it can."""
    if answer is None:
        return f"{rdtype} {name}: not queried"
    if answer.outcome.failed:
        detail = f" ({answer.detail})" if answer.detail else ""
        return f"{rdtype} {name}: {answer.outcome.value}{detail}"
    return None


def _temperror(walk: SpfWalk, answer: DnsAnswer | None, reason: str) -> None:
    """Record the first lookup the walk could not use (later ones change nothing)."""
    if walk.temperror is None:
        walk.temperror = reason
        walk.temperror_outcome = answer.outcome.value if answer is not None else NOT_QUERIED


def walk_spf(domain: str, lookup: Lookup) -> SpfWalk:
    """Evaluate the cost and terminal policy of `domain`'s SPF tree through `lookup` (no sender IP)."""
    walk = SpfWalk(domain=domain.lower().rstrip("."))
    answer = lookup(walk.domain, "TXT")
    # "No SPF record" must be proven by an answer: a failed or missing query is a temperror.
    unanswered = _unanswered(answer, walk.domain, "TXT")
    if unanswered is not None:
        _temperror(walk, answer, unanswered)
        return walk
    records = spf_records(answer)
    if not records:
        return walk
    walk.record = records[0]
    if len(records) > 1:
        walk.permerror = f"{len(records)} SPF records at {walk.domain}"
        return walk
    _walk_record(walk, walk.domain, records[0], lookup, chain=(walk.domain,), top=True)
    return walk


def _walk_record(
    walk: SpfWalk, domain: str, record: str, lookup: Lookup, chain: tuple[str, ...], top: bool
) -> None:
    try:
        terms = parse_spf(record)
    except RecordSyntaxError as exc:
        walk.permerror = walk.permerror or f"{domain}: {exc}"
        return
    for term in terms:
        if term.is_modifier:
            continue
        if term.name == "all":
            if top:
                walk.all_qualifier = term.qualifier
            # RFC 7208 §5.1: mechanisms after "all" are never evaluated, so they cost no lookup.
            break
        if term.name not in _QUERYING:
            continue
        if walk.lookups >= SPF_WALK_CAP:
            walk.truncated = True
            return
        walk.lookups += 1
        walk.uses_ptr = walk.uses_ptr or term.name == "ptr"
        target = _target(term.value, domain)
        if target is None or term.name == "ptr":
            continue  # depends on the connecting client: not resolvable without a sender
        if term.name == "include":
            _descend(walk, target, lookup, chain, top=False, what="include")
        elif term.name == "a":
            _count_void(walk, lookup, target, ("A", "AAAA"))
        elif term.name == "mx":
            _count_void(walk, lookup, target, ("MX",))
        elif term.name == "exists":
            _count_void(walk, lookup, target, ("A",))
    redirect = next((t.value for t in terms if t.is_modifier and t.name == "redirect"), None)
    has_all = any(t.name == "all" and not t.is_modifier for t in terms)
    if redirect is not None and not has_all:  # RFC 7208 §6.1: redirect is ignored beside an "all"
        if top and walk.redirect is None:
            walk.redirect = redirect
        if walk.lookups >= SPF_WALK_CAP:
            walk.truncated = True
            return
        walk.lookups += 1
        target = _target(redirect, domain)
        if target is not None:
            _descend(walk, target, lookup, chain, top=top, what="redirect")


def _descend(
    walk: SpfWalk, target: str, lookup: Lookup, chain: tuple[str, ...], top: bool, what: str
) -> None:
    # A loop is a domain that includes one of its own ancestors. The same domain reached through two
    # different branches (two includes that both include _spf.google.com) is legitimate and costs twice.
    if target in chain or len(chain) > _SPF_MAX_DEPTH:
        walk.permerror = walk.permerror or f"{what} loop or nesting too deep at {target}"
        return
    if target not in walk.visited:
        walk.visited.append(target)
    answer = lookup(target, "TXT")
    unanswered = _unanswered(answer, target, "TXT")
    if unanswered is not None:
        _temperror(walk, answer, unanswered)
        return
    records = spf_records(answer)
    if not records:
        if answer is not None and answer.outcome.absent:
            walk.void_lookups += 1
        # RFC 7208 §5.2 / §6.1: an include or redirect target without an SPF record is a permerror.
        walk.permerror = walk.permerror or f"{what}:{target} has no SPF record"
        return
    if len(records) > 1:
        walk.permerror = walk.permerror or f"{len(records)} SPF records at {target}"
        return
    _walk_record(walk, target, records[0], lookup, (*chain, target), top)


def _count_void(walk: SpfWalk, lookup: Lookup, name: str, rdtypes: tuple[str, ...]) -> None:
    answers = {rdtype: lookup(name, rdtype) for rdtype in rdtypes}
    # One answer with records settles the term (an AAAA timeout beside an A answer changes nothing);
    # a void needs every type proven absent.
    if not any(a is not None and a.outcome is Outcome.NOERROR for a in answers.values()):
        for rdtype, answer in answers.items():
            unanswered = _unanswered(answer, name, rdtype)
            if unanswered is not None:
                _temperror(walk, answer, unanswered)
                return
        walk.void_lookups += 1
        return
    mx_answer = answers.get("MX")
    if mx_answer is not None:
        hosts = [h for h in (mx_host(r) for r in mx_answer.records) if h]
        if len(hosts) > SPF_MX_HOST_LIMIT:
            # RFC 7208 §4.6.4: an "mx" mechanism that would resolve more than 10 hosts is a permerror.
            walk.permerror = walk.permerror or f"mx:{name} has {len(hosts)} MX hosts (more than 10)"
            return
        # each MX host is resolved too (not counted in the 10, but voids count)
        for host in hosts:
            _count_void(walk, lookup, host, ("A", "AAAA"))


def mx_host(record: str) -> str:
    """The exchange of an MX record in presentation format, lower case without the trailing dot; "" for
    the null MX ("0 ." of RFC 7505) and for a record that does not parse."""
    # dnspython's record parser, imported on first use: checks import this module at start-up.
    import dns.exception
    import dns.name
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, record)
    except (dns.exception.DNSException, ValueError):
        return ""
    exchange = getattr(rdata, "exchange", None)
    if not isinstance(exchange, dns.name.Name) or exchange == dns.name.root:
        return ""
    return exchange.to_text(omit_final_dot=True).lower()


def parse_tags(record: str) -> dict[str, str]:
    """Parse a `k=v; k=v` record (DMARC, DKIM, TLS-RPT, MTA-STS TXT); keys lower case, first wins."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            raise RecordSyntaxError(f"malformed tag {part[:40]!r}")
        tags.setdefault(key, value.strip())
    return tags


@dataclass(frozen=True)
class DmarcPolicy:
    """A parsed DMARC record (RFC 7489 §6.3; `np` from RFC 9091)."""

    p: str
    sp: str | None
    np: str | None
    pct: int
    rua: tuple[str, ...]
    ruf: tuple[str, ...]


_DISPOSITIONS = ("none", "quarantine", "reject")
_DMARC_VERSION = re.compile(r"^\s*v\s*=\s*DMARC1\s*(;|$)", re.IGNORECASE)


def is_dmarc_record(record: str) -> bool:
    """Whether a TXT record is a DMARC record candidate (starts with the v=DMARC1 tag, RFC 7489 §6.6.3)."""
    return bool(_DMARC_VERSION.match(record))


def parse_dmarc(record: str) -> DmarcPolicy:
    """Parse a DMARC record; raises RecordSyntaxError when receivers would ignore it."""
    tags = parse_tags(record)
    if record.split(";", 1)[0].strip().replace(" ", "").upper() != "V=DMARC1":
        raise RecordSyntaxError("the record does not start with v=DMARC1")
    p = tags.get("p", "").lower()
    if p not in _DISPOSITIONS:
        raise RecordSyntaxError(f"missing or invalid p= ({tags.get('p', '')[:20]!r})")
    sp = tags.get("sp", "").lower() or None
    np = tags.get("np", "").lower() or None
    for name, value in (("sp", sp), ("np", np)):
        if value is not None and value not in _DISPOSITIONS:
            raise RecordSyntaxError(f"invalid {name}={value[:20]!r}")
    pct_text = tags.get("pct", "100")
    if not pct_text.isdecimal() or int(pct_text) > 100:
        raise RecordSyntaxError(f"invalid pct={pct_text[:20]!r}")

    def uris(key: str) -> tuple[str, ...]:
        return tuple(u.strip() for u in tags.get(key, "").split(",") if u.strip())

    return DmarcPolicy(p, sp, np, int(pct_text), uris("rua"), uris("ruf"))


def dmarc_names(domain: str) -> list[str]:
    """Where a receiver looks for the DMARC record of `domain`: itself, then its parents (DMARCbis tree walk).

    The DMARCbis tree walk replaces RFC 7489's Public Suffix List lookup, which would need a list we
    would have to ship and update; the TLD itself is not queried (no public-suffix DMARC here).
    """
    labels = domain.lower().rstrip(".").split(".")
    # DMARCbis: after the domain itself, a long name jumps to its 7 rightmost labels
    candidates = [labels, labels[-7:]] if len(labels) > 8 else [labels]
    while len(candidates[-1]) > 2:
        candidates.append(candidates[-1][1:])
    return ["_dmarc." + ".".join(c) for c in candidates]


@dataclass(frozen=True)
class DmarcDiscovery:
    """The outcome of the DMARC tree walk for one domain, over recorded (or live) answers."""

    domain: str
    #: the `_dmarc` names looked at, in order, up to the one that decided
    looked_at: tuple[str, ...] = ()
    #: the `_dmarc` name holding the record that applies, None when none does
    found_at: str | None = None
    record: str | None = None
    policy: DmarcPolicy | None = None
    #: the record found is unusable (several DMARC records at one name, syntax): receivers apply nothing
    invalid: str | None = None
    #: a query the walk needed failed or was not recorded: nothing can be concluded
    failure: str | None = None
    #: the failed outcome (TIMEOUT, SERVFAIL…), None when the query was not recorded at all
    failed_outcome: Outcome | None = None

    @property
    def inherited(self) -> bool:
        """The record applies from a parent domain (organisational domain or above)."""
        return self.found_at is not None and self.found_at != f"_dmarc.{self.domain}"

    @property
    def source_domain(self) -> str | None:
        """The domain whose `_dmarc` record applies ("mairie.fr" for "_dmarc.mairie.fr")."""
        return self.found_at[len("_dmarc.") :] if self.found_at else None

    @property
    def disposition(self) -> str | None:
        """The policy receivers apply to mail from `domain`: p= on the domain itself; sp= (else p=) when
        inherited from a parent (RFC 7489 §6.6.3). None without a valid policy."""
        if self.policy is None:
            return None
        if self.inherited and self.policy.sp is not None:
            return self.policy.sp
        return self.policy.p


def discover_dmarc(domain: str, lookup: Lookup) -> DmarcDiscovery:
    """Walk `dmarc_names(domain)` through `lookup` and say which DMARC record applies, if any."""
    name = domain.lower().rstrip(".")
    looked: list[str] = []
    for candidate in dmarc_names(name):
        looked.append(candidate)
        answer = lookup(candidate, "TXT")
        unanswered = _unanswered(answer, candidate, "TXT")
        if unanswered is not None:
            outcome = answer.outcome if answer is not None else None
            return DmarcDiscovery(name, tuple(looked), failure=unanswered, failed_outcome=outcome)
        assert answer is not None
        records = [r for r in answer.records if is_dmarc_record(r)]
        if not records:
            continue
        if len(records) > 1:
            # RFC 7489 §6.6.3: several DMARC records at one name end discovery; no policy applies.
            return DmarcDiscovery(
                name, tuple(looked), candidate, records[0], invalid=f"{len(records)} DMARC records"
            )
        try:
            policy = parse_dmarc(records[0])
        except RecordSyntaxError as exc:
            return DmarcDiscovery(name, tuple(looked), candidate, records[0], invalid=str(exc))
        return DmarcDiscovery(name, tuple(looked), candidate, records[0], policy)
    return DmarcDiscovery(name, tuple(looked))


@dataclass(frozen=True)
class DkimKey:
    """A DKIM public key record (RFC 6376 §3.6.1)."""

    key_type: str
    #: RSA modulus bits, 256 for Ed25519, None when the key does not decode
    bits: int | None
    #: `p=` is empty: the key was revoked
    revoked: bool
    error: str | None = None


def parse_dkim_key(record: str) -> DkimKey:
    """Decode a DKIM key record's type and size (raises RecordSyntaxError when it is not one)."""
    tags = parse_tags(record)
    if "v" in tags and tags["v"] != "DKIM1":
        raise RecordSyntaxError("v= is not DKIM1")
    if "p" not in tags:
        raise RecordSyntaxError("no p= tag")
    key_type = tags.get("k", "rsa").lower()
    data = re.sub(r"\s+", "", tags["p"])
    if not data:
        return DkimKey(key_type, None, revoked=True)
    if key_type not in ("rsa", "ed25519"):
        return DkimKey(key_type, None, revoked=False, error=f"unknown key type k={key_type[:20]}")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(key_type, None, revoked=False, error="p= is not valid base64")
    if key_type == "ed25519":
        if len(raw) != 32:
            return DkimKey(key_type, None, revoked=False, error="an Ed25519 key has 32 bytes")
        return DkimKey(key_type, 256, revoked=False)
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    # RFC 6376 names the PKCS#1 RSAPublicKey, while nearly everyone publishes a SubjectPublicKeyInfo:
    # cryptography's DER loader accepts both.
    try:
        key = load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm):  # garbage, or a valid key of a type cryptography lacks
        return DkimKey(key_type, None, revoked=False, error="p= is not a DER public key")
    if not isinstance(key, rsa.RSAPublicKey):
        return DkimKey(key_type, None, revoked=False, error="k=rsa but the key is not RSA")
    return DkimKey(key_type, key.key_size, revoked=False)


@dataclass(frozen=True)
class MtaStsPolicyText:
    """A parsed MTA-STS policy file (RFC 8461 §3.2)."""

    version: str
    mode: str
    mx: tuple[str, ...]
    max_age: int | None


def parse_mta_sts_policy(body: str) -> MtaStsPolicyText:
    """Parse a policy body; raises RecordSyntaxError when a sender would reject it."""
    fields: dict[str, list[str]] = {}
    for line in body.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise RecordSyntaxError(f"malformed line {line[:40]!r}")
        fields.setdefault(key.strip().lower(), []).append(value.strip())
    version = (fields.get("version") or [""])[0]
    mode = (fields.get("mode") or [""])[0].lower()
    if version != "STSv1":
        raise RecordSyntaxError("version is not STSv1")
    if mode not in ("enforce", "testing", "none"):
        raise RecordSyntaxError(f"invalid mode {mode[:20]!r}")
    max_age_text = (fields.get("max_age") or [""])[0]
    max_age = int(max_age_text) if max_age_text.isdecimal() else None
    if max_age is None:
        raise RecordSyntaxError("missing or invalid max_age")
    patterns = tuple(m.lower().rstrip(".") for m in fields.get("mx", []) if m)
    # RFC 8461 §3.2: a policy that is applied (enforce, testing) lists the MX patterns it allows.
    if mode != "none" and not patterns:
        raise RecordSyntaxError(f"mode {mode} without any mx: line")
    return MtaStsPolicyText(version, mode, patterns, max_age)


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: a literal host, or "*.example.net" matching exactly one leftmost label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host


def parse_sts_txt(record: str) -> str:
    """The policy id of an `_mta-sts` TXT record (RFC 8461 §3.1); raises RecordSyntaxError if invalid."""
    tags = parse_tags(record)
    if record.split(";", 1)[0].strip().replace(" ", "") != "v=STSv1":
        raise RecordSyntaxError("the record does not start with v=STSv1")
    policy_id = tags.get("id", "")
    if not re.fullmatch(r"[A-Za-z0-9]{1,32}", policy_id):
        raise RecordSyntaxError(f"missing or invalid id= ({policy_id[:40]!r})")
    return policy_id


def parse_tlsrpt(record: str) -> tuple[str, ...]:
    """The report URIs of a `_smtp._tls` TXT record (RFC 8460 §3); raises RecordSyntaxError if invalid."""
    tags = parse_tags(record)
    if record.split(";", 1)[0].strip().replace(" ", "") != "v=TLSRPTv1":
        raise RecordSyntaxError("the record does not start with v=TLSRPTv1")
    uris = tuple(u.strip() for u in tags.get("rua", "").split(",") if u.strip())
    if not uris:
        raise RecordSyntaxError("no rua= report address")
    bad = [u for u in uris if not u.lower().startswith(("mailto:", "https:"))]
    if bad:
        raise RecordSyntaxError(f"rua= is neither mailto: nor https: ({bad[0][:40]!r})")
    return uris


# --------------------------------------------------------------------------------------------------
# DANE (RFC 6698, RFC 7672)

#: TLSA certificate usages an SMTP client uses (RFC 7672 §3.1): PKIX-TA(0)/PKIX-EE(1) are unusable.
DANE_TA = 2
DANE_EE = 3


@dataclass(frozen=True)
class TlsaRecord:
    """One TLSA record: usage, selector, matching type and the association data (lower-case hex)."""

    usage: int
    selector: int
    mtype: int
    data: str

    @property
    def usable(self) -> bool:
        """Whether an SMTP client uses it (RFC 7672 §3.1.3): DANE-TA or DANE-EE, a known selector and
        matching type."""
        return self.usage in (DANE_TA, DANE_EE) and self.selector in (0, 1) and self.mtype in (0, 1, 2)

    def text(self) -> str:
        return f"{self.usage} {self.selector} {self.mtype} {self.data}"


def parse_tlsa(record: str) -> TlsaRecord:
    """Parse a TLSA record in presentation format ("3 1 1 ab12…"); raises RecordSyntaxError."""
    import dns.exception
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TLSA, record)
    except (dns.exception.DNSException, ValueError) as exc:
        raise RecordSyntaxError(f"invalid TLSA record: {exc}") from None
    usage, selector, mtype = (getattr(rdata, a) for a in ("usage", "selector", "mtype"))
    cert = getattr(rdata, "cert", b"")
    return TlsaRecord(int(usage), int(selector), int(mtype), bytes(cert).hex())


def tlsa_matches(record: TlsaRecord, cert: PresentedCertificate) -> bool:
    """Whether `cert` matches the record's selector and matching type (usage is the caller's concern).

    Matching type 0 carries the whole certificate or SubjectPublicKeyInfo: it is compared by hashing it
    with SHA-256, as the facts keep digests rather than the DER itself.
    """
    if record.selector not in (0, 1) or not record.data:
        return False
    sha256, sha512 = (
        (cert.cert_sha256, cert.cert_sha512) if record.selector == 0 else (cert.spki_sha256, cert.spki_sha512)
    )
    if record.mtype == 0:
        return hashlib.sha256(bytes.fromhex(record.data)).hexdigest() == sha256.lower()
    if record.mtype == 1:
        return record.data == sha256.lower()
    if record.mtype == 2:
        return record.data == sha512.lower()
    return False


def dane_match(records: Iterable[TlsaRecord], chain: Sequence[PresentedCertificate]) -> TlsaRecord | None:
    """The first usable record matching the chain: DANE-EE the leaf, DANE-TA any certificate sent."""
    for record in records:
        if not record.usable:
            continue
        candidates = chain[:1] if record.usage == DANE_EE else chain
        if any(tlsa_matches(record, cert) for cert in candidates):
            return record
    return None
