"""Mail-authentication records (SPF, DMARC, DKIM, MTA-STS) parsed for the DNS collector and MAIL checks.

Written here rather than taken from checkdmarc or pyspf: both resolve names themselves while they
parse (checkdmarc through its own dnspython resolver, pyspf through pydns or dnspython), so their
verdicts cannot be recomputed from a recorded snapshot, `--facts` replays would re-query the
Internet, and tests would need their network mocked. Here one walker serves both sides: the
collector passes a function that queries (and records), a check passes the snapshot's lookup.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .collectors.dns_facts import DnsAnswer, Outcome

#: RFC 7208 §4.6.4: more than 10 DNS-querying terms, or more than 2 void lookups, is a permerror.
SPF_LOOKUP_LIMIT = 10
SPF_VOID_LIMIT = 2
#: The walker stops here to bound the queries a hostile record can make us send (it reports "over").
SPF_WALK_CAP = 30
#: Each `mx` mechanism may look up at most 10 MX hosts' addresses (RFC 7208 §4.6.4).
SPF_MX_HOST_LIMIT = 10

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
    redirect: str | None = None
    #: domains whose records were included or redirected to, in walk order
    visited: list[str] = field(default_factory=list)
    #: why the record is a permerror (syntax, several records, missing include target, loop…)
    permerror: str | None = None
    #: a lookup the walker needed timed out or failed: the counts are then a lower bound
    temperror: str | None = None
    #: the walk stopped at SPF_WALK_CAP terms
    truncated: bool = False

    @property
    def over_limit(self) -> bool:
        return self.lookups > SPF_LOOKUP_LIMIT or self.void_lookups > SPF_VOID_LIMIT


def walk_spf(domain: str, lookup: Lookup) -> SpfWalk:
    """Evaluate the cost and terminal policy of `domain`'s SPF tree through `lookup` (no sender IP)."""
    walk = SpfWalk(domain=domain.lower().rstrip("."))
    records = spf_records(lookup(walk.domain, "TXT"))
    if not records:
        return walk
    walk.record = records[0]
    if len(records) > 1:
        walk.permerror = f"{len(records)} SPF records at {walk.domain}"
        return walk
    _walk_record(walk, walk.domain, records[0], lookup, depth=0, top=True)
    return walk


def _walk_record(walk: SpfWalk, domain: str, record: str, lookup: Lookup, depth: int, top: bool) -> None:
    try:
        terms = parse_spf(record)
    except RecordSyntaxError as exc:
        walk.permerror = walk.permerror or f"{domain}: {exc}"
        return
    for term in terms:
        if term.name == "all" and not term.is_modifier and top:
            walk.all_qualifier = term.qualifier
        if term.is_modifier or term.name not in _QUERYING:
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
            _descend(walk, target, lookup, depth, top=False, what="include")
        elif term.name == "a":
            _count_void(walk, lookup, target, ("A", "AAAA"))
        elif term.name == "mx":
            _count_void(walk, lookup, target, ("MX",))
        elif term.name == "exists":
            _count_void(walk, lookup, target, ("A",))
    redirect = next((t.value for t in terms if t.is_modifier and t.name == "redirect"), None)
    has_all = any(t.name == "all" and not t.is_modifier for t in terms)
    if redirect and not has_all:  # RFC 7208 §6.1: redirect is ignored when the record has an "all"
        if top:
            walk.redirect = redirect
        if walk.lookups >= SPF_WALK_CAP:
            walk.truncated = True
            return
        walk.lookups += 1
        target = _target(redirect, domain)
        if target is not None:
            _descend(walk, target, lookup, depth, top=top, what="redirect")


def _descend(walk: SpfWalk, target: str, lookup: Lookup, depth: int, top: bool, what: str) -> None:
    if target in walk.visited or depth >= 10:
        walk.permerror = walk.permerror or f"{what} loop or nesting too deep at {target}"
        return
    walk.visited.append(target)
    answer = lookup(target, "TXT")
    if answer is not None and answer.outcome.failed:
        walk.temperror = walk.temperror or f"TXT {target}: {answer.outcome.value}"
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
    _walk_record(walk, target, records[0], lookup, depth + 1, top)


def _count_void(walk: SpfWalk, lookup: Lookup, name: str, rdtypes: tuple[str, ...]) -> None:
    answers = [lookup(name, rdtype) for rdtype in rdtypes]
    if any(a is not None and a.outcome.failed for a in answers):
        walk.temperror = walk.temperror or f"{name}: lookup failed"
        return
    if answers and all(a is not None and a.outcome.absent for a in answers):
        walk.void_lookups += 1
        return
    if rdtypes == ("MX",) and answers[0] is not None:
        # each MX host is resolved too (not counted in the 10, but voids count)
        for record in answers[0].records[:SPF_MX_HOST_LIMIT]:
            host = record.split()[-1].lower().rstrip(".")
            if host:
                _count_void(walk, lookup, host, ("A", "AAAA"))


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
    if not pct_text.isdigit() or int(pct_text) > 100:
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
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(key_type, None, revoked=False, error="p= is not valid base64")
    if key_type == "ed25519":
        if len(raw) != 32:
            return DkimKey(key_type, None, revoked=False, error="an Ed25519 key has 32 bytes")
        return DkimKey(key_type, 256, revoked=False)
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(raw)
    except ValueError:
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
    max_age = int(max_age_text) if max_age_text.isdigit() else None
    if max_age is None:
        raise RecordSyntaxError("missing or invalid max_age")
    patterns = tuple(m.lower().rstrip(".") for m in fields.get("mx", []))
    return MtaStsPolicyText(version, mode, patterns, max_age)


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: a literal host, or "*.example.net" matching exactly one leftmost label."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == host
