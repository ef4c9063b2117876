"""Test zones for the DNS collector: signed (NSEC and NSEC3), unsigned, bogus and badly configured.

Keys are generated here (cryptography), zones signed with dnspython at test time: nothing is
recorded, so the signatures are valid "now" or expired "now" by construction. `build_world()`
returns the whole tree under the test TLD `test.` (itself signed, its DS given as the trust anchor):

- mairie-modele.test  signed (ECDSA P-256, NSEC), DS at the parent; two name servers (127.0.0.1 and
  127.0.0.2), SPF -all, DMARC p=reject, DKIM 2048 bits, MTA-STS, TLS-RPT, TLSA, CAA; closed AXFR.
- mairie-rsa.test      signed (RSA/SHA-256 2048 bits), DS at the parent.
- mairie-nsec3.test    signed with NSEC3 (salt aabb, 5 iterations), DS at the parent.
- mairie-passoire.test unsigned (no DS): open AXFR, SPF +all with 11 lookups through a tree of
  includes, DMARC p=none, DKIM 1024 bits, a dangling CNAME (target NXDOMAIN), a CNAME to a name
  no served zone holds (the local server REFUSES it), no CAA, and two lame name servers:
  127.0.0.2 (REFUSED: not authoritative) and 127.0.0.3 (nothing listens).
- bogus-expire.test    signed with signatures that expired yesterday, DS at the parent.
- bogus-ds.test        signed, but the parent's DS is the digest of a key the zone does not serve.
- bogus-sig.test       signed, with the SOA's signature corrupted.
- bogus-dnskey.test    signed, with the DNSKEY RRset's self-signature corrupted.
- hebergeur.test       a hosting provider (unsigned, no DS): the SPF includes, no "ancien-portail"
  name, and an unsigned child zone quartier.hebergeur.test.
- quartier.services.mairie-modele.test  signed, delegated with DS from mairie-modele.test below the
  empty non-terminal services.mairie-modele.test (the validator must step over it).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.NSEC3
import dns.rdtypes.ANY.NSEC3PARAM
import dns.rrset
import dns.zone
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dns.dnssectypes import Algorithm
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from cyberscan.demo.dnsserver import ServedZone

DAY = 86400
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
NSEC3_SALT = "aabb"
NSEC3_ITERATIONS = 5
#: SPF includes under mairie-passoire.test's record: 11 DNS-querying terms in all (limit: 10)
SPF_CHAIN = 11


@dataclass(frozen=True)
class KeyPair:
    """A private key and its DNSKEY record."""

    private: PrivateKey
    dnskey: DNSKEY


@dataclass(frozen=True)
class ZoneKeys:
    """The key-signing and zone-signing keys of one zone."""

    ksk: KeyPair
    zsk: KeyPair

    def pairs(self) -> list[tuple[PrivateKey, DNSKEY]]:
        return [(self.ksk.private, self.ksk.dnskey), (self.zsk.private, self.zsk.dnskey)]


def key_pair(algorithm: int, ksk: bool, rsa_bits: int = 2048) -> KeyPair:
    """A fresh key for `algorithm` (13: ECDSA P-256, 8: RSA/SHA-256)."""
    private: PrivateKey
    if algorithm == Algorithm.ECDSAP256SHA256:
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == Algorithm.RSASHA256:
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        raise ValueError(f"no test key for algorithm {algorithm}")
    flags = 257 if ksk else 256
    return KeyPair(private, dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags))


def zone_keys(algorithm: int) -> ZoneKeys:
    return ZoneKeys(key_pair(algorithm, ksk=True), key_pair(algorithm, ksk=False))


def ds_text(origin: str, key: DNSKEY) -> str:
    """The DS record (SHA-256) of `key` for zone `origin`, as presentation text."""
    return dns.dnssec.make_ds(dns.name.from_text(origin), key, "SHA256").to_text()


def anchor_file_text(origin: str, keys: ZoneKeys) -> str:
    """A trust-anchor file (zone-file syntax) holding the DS of `origin`'s KSK."""
    return f"; test anchor\n{origin.rstrip('.')}. 3600 IN DS {ds_text(origin, keys.ksk.dnskey)}\n"


def txt(value: str) -> str:
    """A TXT record's RDATA: `value` cut into quoted character-strings of at most 255 octets."""
    parts = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join(f'"{p}"' for p in parts)


def dkim_record(bits: int) -> str:
    """A DKIM key record (RFC 6376) for a fresh RSA key of `bits` bits."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def make_zone(origin: str, text: str) -> dns.zone.Zone:
    """A zone with absolute names (what the signers below expect)."""
    header = f"$TTL 300\n@ IN SOA ns1.{origin}. hostmaster.{origin}. 2026110101 3600 600 86400 300\n"
    return dns.zone.from_text(header + text, origin=origin, relativize=False)


def sign_nsec(zone: dns.zone.Zone, keys: ZoneKeys, inception: float, expiration: float) -> None:
    """Sign with NSEC (dnspython's sign_zone)."""
    dns.dnssec.sign_zone(zone, keys=keys.pairs(), inception=inception, expiration=expiration)


def sign_nsec3(
    zone: dns.zone.Zone, keys: ZoneKeys, inception: float, expiration: float, salt: str, iterations: int
) -> None:
    """Sign with NSEC3 (RFC 5155), which dnspython's sign_zone does not implement yet.

    Every name and empty non-terminal gets an NSEC3 at its hashed owner, chained in hash order; the
    zone must have no delegation (names below a cut would need opt-out handling).
    """
    origin = zone.origin
    assert origin is not None
    salt_bytes = bytes.fromhex(salt)
    with zone.writer() as txn:
        txn.add(origin, 0, _rdata("NSEC3PARAM", f"1 0 {iterations} {salt}"))
        for pair in keys.pairs():
            txn.add(origin, 300, pair[1])
    names: set[dns.name.Name] = set()
    for name in zone.nodes:
        while name.is_subdomain(origin):
            names.add(name)
            if name == origin:
                break
            name = name.parent()
    hashed = sorted((dns.dnssec.nsec3_hash(n, salt_bytes, iterations, 1), n) for n in names)
    with zone.writer() as txn:
        for index, (digest, name) in enumerate(hashed):
            node = zone.get_node(name)
            types = {rds.rdtype for rds in node.rdatasets} if node is not None else set()
            if types:
                types.add(dns.rdatatype.RRSIG)
            next_digest = hashed[(index + 1) % len(hashed)][0]
            record = dns.rdtypes.ANY.NSEC3.NSEC3(
                dns.rdataclass.IN,
                dns.rdatatype.NSEC3,
                1,
                0,
                iterations,
                salt_bytes,
                base64.b32hexdecode(next_digest),
                dns.rdtypes.ANY.NSEC3.Bitmap.from_rdtypes(sorted(types)),
            )
            txn.add(dns.name.Name((digest.lower().encode(), *origin.labels)), 300, record)
    with zone.writer() as txn:
        for name, rdataset in list(txn.iterate_rdatasets()):
            if rdataset.rdtype == dns.rdatatype.RRSIG:
                continue
            signer = keys.ksk if rdataset.rdtype == dns.rdatatype.DNSKEY else keys.zsk
            rrset = dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset))
            sig = dns.dnssec.sign(
                rrset, signer.private, origin, signer.dnskey, inception=inception, expiration=expiration
            )
            txn.add(name, rdataset.ttl, sig)


def _rdata(rdtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text("IN", rdtype, text)


def corrupt_signature(zone: dns.zone.Zone, name: str, covered: str) -> None:
    """Flip one bit of every RRSIG over (`name`, `covered`): a bad signature, not an expired one."""
    owner = dns.name.from_text(name)
    covers = dns.rdatatype.from_text(covered)
    node = zone.get_node(owner)
    assert node is not None
    sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, covers)
    assert sigs is not None
    broken = [sig.replace(signature=bytes([sig.signature[0] ^ 1]) + sig.signature[1:]) for sig in sigs]
    node.delete_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, covers)
    replaced = node.find_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, covers, create=True)
    for sig in broken:
        replaced.add(sig, sigs.ttl)


@dataclass
class World:
    """The test TLD, its children and what the tests need to know about them."""

    zones: dict[str, dns.zone.Zone]
    anchor: str
    keys: dict[str, ZoneKeys]
    dkim_2048: str
    dkim_1024: str
    axfr_open: frozenset[str] = frozenset({"mairie-passoire.test"})
    #: zones the second name server (127.0.0.2) serves; the others make it a lame server
    secondary: tuple[str, ...] = ("mairie-modele.test",)
    built_at: float = field(default_factory=time.time)

    def served(self, names: Iterable[str] | None = None) -> list[ServedZone]:
        chosen = list(self.zones) if names is None else list(names)
        return [ServedZone(self.zones[n], axfr=n in self.axfr_open) for n in chosen]


def build_world(now: float | None = None) -> World:
    """Every test zone, signed relative to `now` (default: the current time)."""
    now = time.time() if now is None else now
    valid = (now - DAY, now + 30 * DAY)
    expired = (now - 30 * DAY, now - DAY)
    keys = {
        "test": zone_keys(13),
        "mairie-modele.test": zone_keys(13),
        "mairie-rsa.test": zone_keys(8),
        "mairie-nsec3.test": zone_keys(13),
        "bogus-expire.test": zone_keys(13),
        "bogus-ds.test": zone_keys(13),
        "bogus-sig.test": zone_keys(13),
        "bogus-dnskey.test": zone_keys(13),
        "quartier.services.mairie-modele.test": zone_keys(13),
    }
    stranger = key_pair(13, ksk=True)  # the key bogus-ds.test's DS was (wrongly) made from
    dkim_2048, dkim_1024 = dkim_record(2048), dkim_record(1024)
    zones: dict[str, dns.zone.Zone] = {}

    # a signed grandchild, delegated with DS from below an empty non-terminal of mairie-modele.test
    quartier = "quartier.services.mairie-modele.test"
    zones[quartier] = make_zone(quartier, "@ NS ns1.mairie-modele.test.\n@ A 127.0.0.1\n")
    sign_nsec(zones[quartier], keys[quartier], *valid)
    zones["mairie-modele.test"] = make_zone(
        "mairie-modele.test",
        f"""
@ NS ns1
@ NS ns2
ns1 A 127.0.0.1
ns2 A 127.0.0.2
@ A 127.0.0.1
@ MX 10 mx1
mx1 A 127.0.0.1
_25._tcp.mx1 TLSA 3 1 1 {"ab" * 32}
@ TXT "v=spf1 mx -all"
@ CAA 0 issue "letsencrypt.org"
@ CAA 0 iodef "mailto:securite@mairie-modele.test"
_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@mairie-modele.test"
_mta-sts TXT "v=STSv1; id=20261101"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@mairie-modele.test"
selector1._domainkey TXT {txt(dkim_2048)}
www CNAME mairie-modele.test.
quartier.services NS ns1.mairie-modele.test.
quartier.services DS {ds_text(quartier, keys[quartier].ksk.dnskey)}
""",
    )
    sign_nsec(zones["mairie-modele.test"], keys["mairie-modele.test"], *valid)

    zones["mairie-rsa.test"] = make_zone("mairie-rsa.test", "@ NS ns1\nns1 A 127.0.0.1\n@ A 127.0.0.1\n")
    sign_nsec(zones["mairie-rsa.test"], keys["mairie-rsa.test"], *valid)

    zones["mairie-nsec3.test"] = make_zone(
        "mairie-nsec3.test", "@ NS ns1\nns1 A 127.0.0.1\n@ A 127.0.0.1\nwww.services A 127.0.0.1\n"
    )
    sign_nsec3(zones["mairie-nsec3.test"], keys["mairie-nsec3.test"], *valid, NSEC3_SALT, NSEC3_ITERATIONS)

    for name in ("bogus-expire.test", "bogus-ds.test", "bogus-sig.test", "bogus-dnskey.test"):
        zones[name] = make_zone(name, "@ NS ns1\nns1 A 127.0.0.1\n@ A 127.0.0.1\n@ MX 10 ns1\n")
        sign_nsec(zones[name], keys[name], *(expired if name == "bogus-expire.test" else valid))
    corrupt_signature(zones["bogus-sig.test"], "bogus-sig.test.", "SOA")
    corrupt_signature(zones["bogus-dnskey.test"], "bogus-dnskey.test.", "DNSKEY")

    # _spf includes spf2 to spf6, spf6 includes spf7 to spf11: with the top include, 11 lookups
    tree = {1: range(2, 7), 6: range(7, SPF_CHAIN + 1)}
    names = {i: "_spf" if i == 1 else f"spf{i}" for i in range(1, SPF_CHAIN + 1)}
    spf = "\n".join(
        f'{names[i]} TXT "v=spf1 '
        + "".join(f"include:{names[j]}.hebergeur.test " for j in tree.get(i, ()))
        + ('~all"' if i in tree else 'ip4:192.0.2.0/24 ~all"')
        for i in range(1, SPF_CHAIN + 1)
    )
    zones["hebergeur.test"] = make_zone(
        "hebergeur.test",
        f"@ NS ns1\nns1 A 127.0.0.1\nportail A 127.0.0.1\n{spf}\nquartier NS ns1\n",
    )
    zones["quartier.hebergeur.test"] = make_zone("quartier.hebergeur.test", "@ NS ns1.hebergeur.test.\n")
    zones["mairie-passoire.test"] = make_zone(
        "mairie-passoire.test",
        f"""
@ NS ns1
@ NS ns2
@ NS ns3
ns1 A 127.0.0.1
ns2 A 127.0.0.2
ns3 A 127.0.0.3
@ A 127.0.0.1
@ MX 10 mail
mail A 127.0.0.1
@ TXT "v=spf1 include:_spf.hebergeur.test +all"
@ TXT "google-site-verification=abc"
_dmarc TXT "v=DMARC1; p=none"
mail._domainkey TXT {txt(dkim_1024)}
extranet CNAME ancien-portail.hebergeur.test.
autodiscover CNAME autodiscover.messagerie.example.
intranet A 10.0.0.5
vpn A 192.0.2.10
""",
    )

    #: the parent's view of each delegation: NS hosts and their glue (the same as the children's)
    servers = {
        "mairie-modele": ("1", "2"),
        "mairie-passoire": ("1", "2", "3"),
        **{child: ("1",) for child in ("mairie-rsa", "mairie-nsec3", "hebergeur")},
        **{child: ("1",) for child in ("bogus-expire", "bogus-ds", "bogus-sig", "bogus-dnskey")},
    }
    delegations = []
    for child, numbers in servers.items():
        for n in numbers:
            delegations.append(f"{child} NS ns{n}.{child}\nns{n}.{child} A 127.0.0.{n}")
        origin = f"{child}.test"
        if origin in keys:
            ksk = stranger.dnskey if origin == "bogus-ds.test" else keys[origin].ksk.dnskey
            delegations.append(f"{child} DS {ds_text(origin, ksk)}")
    zones["test"] = make_zone("test", "@ NS ns1\nns1 A 127.0.0.1\n" + "\n".join(delegations) + "\n")
    sign_nsec(zones["test"], keys["test"], *valid)

    return World(
        zones=zones,
        anchor=anchor_file_text("test", keys["test"]),
        keys=keys,
        dkim_2048=dkim_2048,
        dkim_1024=dkim_1024,
        built_at=now,
    )
