"""DNSSEC validation of a domain's zone from a trust anchor down, with dnspython's dns.dnssec.

The chain of trust is walked the way a validating resolver does (RFC 4035 §5): at each zone from the
anchor down, the DNSKEY RRset must contain a key matching the parent's DS (or the anchor) and be
signed by it; the DS of the next zone must be signed by the current zone's keys; at the domain's zone
the SOA (and the domain's MX and TXT RRsets that exist) must be signed by the zone's keys. Signatures
are judged at the collection time. The queries go through a `Fetch` function (the DNS collector's
memoised resolver), so each (name, type) is asked once and recorded in the snapshot.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zonefile
from dns.dnssecalgs import get_algorithm_cls
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS
from dns.rdtypes.ANY.NSEC3 import NSEC3
from dns.rdtypes.ANY.NSEC3PARAM import NSEC3PARAM
from dns.rdtypes.ANY.RRSIG import RRSIG

from ..bounds import clip
from .dns_facts import DnssecFacts, DnssecKey, Outcome, SignatureWindow

#: IANA's root zone trust anchors, from https://data.iana.org/root-anchors/root-anchors.xml:
#: KSK-2017 (key tag 20326) and KSK-2024 (key tag 38696), RSA/SHA-256 (8), digest SHA-256 (2).
IANA_ROOT_DS = (
    "20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    "38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
)
IANA_ROOT = "IANA root"
#: a trust-anchor file is a handful of records: anything bigger is not one
MAX_ANCHOR_TEXT = 64 * 1024
#: asked under the zone to see which denial-of-existence records come back (NSEC or NSEC3)
DENIAL_PROBE_LABEL = "cyberscan-nx-probe"
MAX_REASON = 300
#: DS digest types dnspython computes (SHA-1, SHA-256, SHA-384)
_DIGESTS = frozenset({1, 2, 4})
_RSA = frozenset({1, 5, 7, 8, 10})
#: key sizes of the fixed-size algorithms: ECDSA P-256 and P-384, Ed25519, Ed448 (RFC 8080: 57 octets)
_FIXED_BITS = {13: 256, 14: 384, 15: 256, 16: 456}
# Validation is not refused for old algorithms (RSA/SHA-1, 5 and 7): a validator that still accepts
# them sees the zone as secure, and judging the algorithm is DNS-DNSSEC-ALGO's job, not the chain's.
_POLICY = dns.dnssec.allow_all_policy


@dataclass(frozen=True)
class TrustAnchor:
    """Where validation starts: DS or DNSKEY records of one zone."""

    zone: dns.name.Name
    ds: tuple[DS, ...] = ()
    dnskeys: tuple[DNSKEY, ...] = ()
    #: "IANA root" or "file NAME"
    source: str = IANA_ROOT


def root_anchor() -> TrustAnchor:
    """The built-in anchor: IANA's root KSKs."""
    ds = tuple(cast(DS, dns.rdata.from_text("IN", "DS", text)) for text in IANA_ROOT_DS)
    return TrustAnchor(dns.name.root, ds=ds)


def parse_trust_anchor(text: str, source: str = "file") -> TrustAnchor:
    """Parse DS or DNSKEY records of one zone in zone-file syntax (raises ValueError, one line)."""
    if len(text) > MAX_ANCHOR_TEXT:
        raise ValueError("a trust anchor file holds a few DS or DNSKEY records, not 64 KiB of text")
    try:
        rrsets = dns.zonefile.read_rrsets(
            text, rdclass=None, default_ttl=0, origin=dns.name.root, relativize=False
        )
    except (dns.exception.DNSException, ValueError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"not DS or DNSKEY records in zone-file syntax: {clip(first, 200)}") from None
    if not rrsets:
        raise ValueError("no DS or DNSKEY record found")
    owners = {r.name for r in rrsets}
    if len(owners) != 1:
        raise ValueError(f"records for several zones ({', '.join(sorted(_text(o) or '.' for o in owners))})")
    ds: list[DS] = []
    keys: list[DNSKEY] = []
    for rrset in rrsets:
        if rrset.rdtype == dns.rdatatype.DS:
            ds.extend(cast(DS, r) for r in rrset)
        elif rrset.rdtype == dns.rdatatype.DNSKEY:
            for key in rrset:
                dnskey = cast(DNSKEY, key)
                if not dnskey.flags & 0x0100 or dnskey.protocol != 3:
                    raise ValueError(f"DNSKEY with flags {dnskey.flags}: not a zone key")
                keys.append(dnskey)
        else:
            raise ValueError(f"a {dns.rdatatype.to_text(rrset.rdtype)} record: only DS or DNSKEY are anchors")
    return TrustAnchor(owners.pop(), tuple(ds), tuple(keys), source)


@dataclass(frozen=True)
class Fetched:
    """One DNSSEC-aware query (DO bit set): its outcome, the RRset asked for, its RRSIGs, the authority."""

    outcome: Outcome
    rrset: dns.rrset.RRset | None = None
    rrsigs: dns.rrset.RRset | None = None
    authority: tuple[dns.rrset.RRset, ...] = ()
    detail: str | None = None


#: answers (name without trailing dot, "" for the root; type) with a Fetched
Fetch = Callable[[str, str], Fetched]


def key_bits(algorithm: int, public_key: bytes) -> int | None:
    """Key size of a DNSKEY: RSA modulus bits (RFC 3110 wire format), curve size, or None."""
    if algorithm in _RSA:
        if not public_key:
            return None
        exponent_length, offset = public_key[0], 1
        if exponent_length == 0:  # a long exponent: its length takes the next two octets
            if len(public_key) < 3:
                return None
            exponent_length, offset = int.from_bytes(public_key[1:3], "big"), 3
        modulus = public_key[offset + exponent_length :]
        return int.from_bytes(modulus, "big").bit_length() if modulus else None
    if algorithm in (3, 6):  # DSA (RFC 2536): T in the first octet, p has 64 + 8T octets
        return 512 + 64 * public_key[0] if public_key else None
    return _FIXED_BITS.get(algorithm)


def _text(name: dns.name.Name) -> str:
    return "" if name == dns.name.root else name.to_text(omit_final_dot=True).lower()


def _shown(name: dns.name.Name) -> str:
    return _text(name) or "."


def _iso(timestamp: int) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _supported(algorithm: int) -> bool:
    try:
        get_algorithm_cls(algorithm)
    except dns.exception.UnsupportedAlgorithm:
        return False
    return True


def _ds_matches(zone: dns.name.Name, key: DNSKEY, ds: DS) -> bool:
    if key.algorithm != ds.algorithm or dns.dnssec.key_id(key) != ds.key_tag:
        return False
    try:
        made = dns.dnssec.make_ds(zone, key, ds.digest_type, policy=_POLICY, validating=True)
    except (dns.exception.UnsupportedAlgorithm, dns.exception.DeniedByPolicy, ValueError):
        return False
    return bool(made == ds)


def _names_between(top: dns.name.Name, bottom: dns.name.Name) -> list[dns.name.Name]:
    """The names from just below `top` down to `bottom` included: where zone cuts may be."""
    relative = bottom.relativize(top).labels
    return [dns.name.Name(relative[i:] + top.labels) for i in range(len(relative) - 1, -1, -1)]


class _Verdict(Exception):
    """The walk ends here with this status and reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = clip(reason, MAX_REASON)


class _Walk:
    """One validation: the chain from the anchor to `target`, and what was seen on the way."""

    def __init__(self, anchor: TrustAnchor, fetch: Fetch, now: float, target: dns.name.Name) -> None:
        self.anchor = anchor
        self.fetch = fetch
        self.now = now
        self.target = target
        self.chain: list[str] = []
        self.target_ds: tuple[str, ...] = ()
        self.windows: dict[tuple[str, str, int, int, int], SignatureWindow] = {}

    def _get(self, name: dns.name.Name, rdtype: str) -> Fetched:
        return self.fetch(_text(name), rdtype)

    @staticmethod
    def _failed(what: str, fetched: Fetched) -> _Verdict:
        detail = f" ({fetched.detail})" if fetched.detail else ""
        return _Verdict("indeterminate", f"{what}: {fetched.outcome.value}{detail}")

    def run(self, domain: dns.name.Name) -> tuple[str, str]:
        anchor_zone = self.anchor.zone
        if not self.target.is_subdomain(anchor_zone):
            raise _Verdict(
                "indeterminate",
                f"the trust anchor ({self.anchor.source}, zone {_shown(anchor_zone)}) "
                f"does not cover {_shown(self.target)}",
            )
        if anchor_zone == self.target:
            self.target_ds = tuple(cast(dns.rdata.Rdata, ds).to_text() for ds in self.anchor.ds)
        keys = self._zone_keys(anchor_zone, self.anchor.ds, self.anchor.dnskeys)
        current = anchor_zone
        for name in _names_between(anchor_zone, self.target):
            ds = self._get(name, "DS")
            if ds.outcome is Outcome.NOERROR and ds.rrset is not None:
                self._verify(ds, current, keys, f"DS {_shown(name)}")
                if name == self.target:
                    self.target_ds = tuple(sorted(r.to_text() for r in ds.rrset))
                keys = self._zone_keys(name, tuple(cast(DS, r) for r in ds.rrset), ())
                current = name
                continue
            if not ds.outcome.absent:
                raise self._failed(f"DS {_shown(name)}", ds)
            # No DS here. The NSEC/NSEC3 records that should prove this absence are not verified,
            # so "insecure" means "apparently unsigned": a forged NODATA would not be detected.
            if name == self.target:
                raise _Verdict(
                    "insecure", f"no DS record for {_shown(name)} in its parent zone {_shown(current)}"
                )
            soa = self._get(name, "SOA")
            if soa.outcome.failed:
                raise self._failed(f"SOA {_shown(name)}", soa)
            if soa.outcome is Outcome.NOERROR and soa.rrset is not None and soa.rrset.name == name:
                raise _Verdict(
                    "insecure",
                    f"{_shown(name)} is delegated from {_shown(current)} without DS: "
                    f"{_shown(self.target)} below it is unsigned",
                )
        self._verify_data(self.target, "SOA", keys, required=True)
        for rdtype in ("MX", "TXT"):
            self._verify_data(domain, rdtype, keys, required=False)
        return "secure", f"chain of trust validated from {self.anchor.source} down to {_shown(self.target)}"

    def _zone_keys(
        self, zone: dns.name.Name, ds_set: tuple[DS, ...], trusted: tuple[DNSKEY, ...]
    ) -> dns.rdataset.Rdataset:
        self.chain.append(_text(zone))
        fetched = self._get(zone, "DNSKEY")
        if fetched.outcome.failed:
            raise self._failed(f"DNSKEY {_shown(zone)}", fetched)
        if fetched.rrset is None or fetched.rrset.name != zone:
            raise _Verdict(
                "bogus", f"{_shown(zone)} has a DS at its parent (or an anchor) but serves no DNSKEY"
            )
        if not fetched.rrsigs and zone == self.anchor.zone:
            # The anchor's own zone is signed by definition: a DNSKEY RRset without RRSIG here means
            # the resolver strips DNSSEC records (old forwarders do), not that every zone is bogus.
            raise _Verdict(
                "indeterminate",
                f"the resolver returned the DNSKEY of {_shown(zone)} without RRSIG: "
                "it does not pass DNSSEC records on (use a DNSSEC-aware resolver)",
            )
        keys = [
            cast(DNSKEY, k)
            for k in fetched.rrset
            if cast(DNSKEY, k).flags & 0x0100 and cast(DNSKEY, k).protocol == 3
        ]
        tags = ", ".join(str(dns.dnssec.key_id(k)) for k in keys) or "none"
        if ds_set:
            usable = [ds for ds in ds_set if _supported(ds.algorithm) and ds.digest_type in _DIGESTS]
            if not usable:
                # RFC 4035 §5.2: with no DS this validator can use, the zone is treated as unsigned.
                raise _Verdict(
                    "insecure",
                    f"the DS records of {_shown(zone)} use only algorithms or digests this validator "
                    "does not implement",
                )
            matched = [k for k in keys if any(_ds_matches(zone, k, ds) for ds in usable)]
            if not matched:
                ds_tags = ", ".join(str(ds.key_tag) for ds in ds_set)
                raise _Verdict(
                    "bogus",
                    f"the DS of {_shown(zone)} (key tag {ds_tags}) matches no DNSKEY (key tags {tags})",
                )
        else:
            matched = [k for k in keys if k in trusted]
            if not matched:
                raise _Verdict(
                    "bogus", f"no DNSKEY of {_shown(zone)} is the trust anchor's key (key tags {tags})"
                )
        self._verify(fetched, zone, dns.rdataset.from_rdata_list(0, matched), f"DNSKEY {_shown(zone)}")
        return dns.rdataset.from_rdata_list(0, keys)

    def _verify_data(
        self, owner: dns.name.Name, rdtype: str, keys: dns.rdataset.Rdataset, required: bool
    ) -> None:
        fetched = self._get(owner, rdtype)
        if fetched.outcome is Outcome.NOERROR and fetched.rrset is not None:
            if fetched.rrset.name == owner:  # a CNAME's target lives in another zone: not judged here
                self._verify(fetched, self.target, keys, f"{rdtype} {_shown(owner)}")
        elif required and not fetched.outcome.absent:
            raise self._failed(f"{rdtype} {_shown(owner)}", fetched)

    def _verify(
        self, fetched: Fetched, signer: dns.name.Name, keys: dns.rdataset.Rdataset, what: str
    ) -> None:
        assert fetched.rrset is not None
        sigs = [cast(RRSIG, s) for s in fetched.rrsigs or ()]
        self._remember(fetched.rrset.name, sigs)
        if not sigs:
            raise _Verdict("bogus", f"{what} is not signed (no RRSIG)")
        failures: list[tuple[str, RRSIG]] = []
        for sig in sigs:
            try:
                dns.dnssec.validate_rrsig(fetched.rrset, sig, {signer: keys}, now=self.now, policy=_POLICY)
                return
            except dns.exception.ValidationFailure as exc:
                failures.append((str(exc), sig))
            except dns.exception.UnsupportedAlgorithm:
                failures.append(("unsupported algorithm", sig))
        raise _Verdict("bogus", _explain(failures, what, signer))

    def _remember(self, owner: dns.name.Name, sigs: Iterable[RRSIG]) -> None:
        for sig in sigs:
            # Only the zone's own signatures: a DS is signed by the parent, whose windows are not
            # the commune's to fix.
            if sig.signer != self.target:
                continue
            key = (
                _text(owner),
                dns.rdatatype.to_text(sig.type_covered),
                sig.key_tag,
                sig.inception,
                sig.expiration,
            )
            self.windows.setdefault(
                key,
                SignatureWindow(
                    name=key[0],
                    covered=key[1],
                    algorithm=int(sig.algorithm),
                    key_tag=sig.key_tag,
                    inception=_iso(sig.inception),
                    expiration=_iso(sig.expiration),
                ),
            )

    def denial(self) -> tuple[str | None, int | None]:
        """Which denial records a non-existent name brings back, and the NSEC3 iterations."""
        probe = dns.name.Name((DENIAL_PROBE_LABEL.encode(), *self.target.labels))
        fetched = self._get(probe, "A")
        nsec3 = [r for rrset in fetched.authority if rrset.rdtype == dns.rdatatype.NSEC3 for r in rrset]
        if nsec3:
            param = self._get(self.target, "NSEC3PARAM")
            if param.outcome is Outcome.NOERROR and param.rrset is not None:
                return "nsec3", cast(NSEC3PARAM, param.rrset[0]).iterations
            return "nsec3", cast(NSEC3, nsec3[0]).iterations
        if any(rrset.rdtype == dns.rdatatype.NSEC for rrset in fetched.authority):
            return "nsec", None
        return None, None


def _explain(failures: list[tuple[str, RRSIG]], what: str, signer: dns.name.Name) -> str:
    """The most telling reason among the failed signatures: timing, then a bad signature, then keys."""
    for wanted in ("expired", "not yet valid", "verify failure", "unsupported algorithm", "unknown key"):
        for message, sig in failures:
            if message != wanted:
                continue
            if wanted == "expired":
                return f"RRSIG over {what} expired on {_iso(sig.expiration)}"
            if wanted == "not yet valid":
                return f"RRSIG over {what} is not valid before {_iso(sig.inception)}"
            if wanted == "verify failure":
                return f"bad signature over {what} (key tag {sig.key_tag})"
            if wanted == "unsupported algorithm":
                return f"{what} is signed with algorithm {int(sig.algorithm)}, which this validator lacks"
            return (
                f"{what} is signed by key tag {sig.key_tag} of {_shown(sig.signer)}, "
                f"not a validated key of {_shown(signer)}"
            )
    return f"{what}: {failures[0][0] if failures else 'no valid signature'}"


def zone_keys_facts(fetch: Fetch, zone: str) -> tuple[DnssecKey, ...]:
    """The zone's DNSKEYs as facts (tag, algorithm, flags, size), from the recorded DNSKEY answer."""
    fetched = fetch(zone, "DNSKEY")
    if fetched.outcome is not Outcome.NOERROR or fetched.rrset is None:
        return ()
    keys = [
        DnssecKey(
            key_tag=dns.dnssec.key_id(key),
            algorithm=int(key.algorithm),
            flags=key.flags,
            key_bits=key_bits(int(key.algorithm), key.key),
        )
        for key in (cast(DNSKEY, k) for k in fetched.rrset)
    ]
    return tuple(sorted(keys, key=lambda k: (-k.flags, k.key_tag)))


def validate_zone(zone: str, domain: str, anchor: TrustAnchor, fetch: Fetch, now: float) -> DnssecFacts:
    """Validate `zone` (holding `domain`) from `anchor` through `fetch`, judging signatures at `now`."""
    target = dns.name.from_text(zone or ".")
    walk = _Walk(anchor, fetch, now, target)
    try:
        status, reason = walk.run(dns.name.from_text(domain or "."))
    except _Verdict as verdict:
        status, reason = verdict.status, verdict.reason
    keys = zone_keys_facts(fetch, zone)
    denial, iterations = walk.denial() if keys else (None, None)
    return DnssecFacts(
        status=status,
        reason=clip(reason, MAX_REASON),
        zone=zone,
        anchor=anchor.source,
        anchor_zone=_text(anchor.zone),
        chain=tuple(walk.chain),
        ds=walk.target_ds,
        keys=keys,
        signatures=tuple(walk.windows[k] for k in sorted(walk.windows)),
        denial=denial,
        nsec3_iterations=iterations,
    )
