"""DNS zones for `cyberscan demo` and the tests: zone building, DNSSEC signing (NSEC and NSEC3), DKIM, TLSA.

Keys are generated at run time (cryptography) and zones signed with dnspython relative to "now": nothing
is recorded, so every signature is valid when the demo or a test runs. `demo_zones()` builds the demo's
whole tree under the special-use TLD `test.`, signed, whose DS is the trust anchor the demo hands to the
DNS collector (a `.test` zone has no parent in the real DNS):

- test.                 signed; delegations (with DS for mairie-modele.test only), and the stand-in
                        registry's RDAP server rdap.nic.test;
- mairie-modele.test    signed (ECDSA P-256, NSEC); two name servers; AXFR refused; CAA; SPF -all;
                        DMARC p=reject with rua; DKIM selector1 RSA-2048; MX with a DANE-EE TLSA record
                        of the SMTP server's key; MTA-STS (TXT + policy host) and TLS-RPT;
- mairie-passoire.test  unsigned (no DS); AXFR open on both servers; SPF +all through 11 lookups of
                        includes at hebergeur.test; DMARC p=none; DKIM 1024 bits; no CAA; a CNAME to a
                        deleted Azure App Service name (NXDOMAIN: takeover);
- hebergeur.test        the hosting provider whose SPF includes the weak commune pulls in;
- azurewebsites.net     a local stand-in for the cloud provider's zone, which answers NXDOMAIN for
                        the deleted resource (only ever served on loopback).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from dns.dnssectypes import Algorithm
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from .dnsserver import ServedZone
from .sites import MODELE, MODELE_MX, PASSOIRE, PASSOIRE_MX

DAY = 86400
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
#: SPF includes under the weak commune's record: 11 DNS-querying terms in all (the limit is 10)
SPF_CHAIN = 11
#: the stand-in registry's RDAP server, a name of the `test.` zone
RDAP_HOST = "rdap.nic.test"
#: the deleted cloud resource the weak commune's "demarches" name still points at
DANGLING_TARGET = "passoire-demarches.azurewebsites.net"


# --- keys and records ------------------------------------------------------------------------------


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

    def pairs(self) -> list[tuple[dns.dnssec.PrivateKey, DNSKEY]]:
        return [(self.ksk.private, self.ksk.dnskey), (self.zsk.private, self.zsk.dnskey)]


def key_pair(algorithm: int, ksk: bool, rsa_bits: int = 2048) -> KeyPair:
    """A fresh key for `algorithm` (13: ECDSA P-256, 8: RSA/SHA-256)."""
    private: PrivateKey
    if algorithm == Algorithm.ECDSAP256SHA256:
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == Algorithm.RSASHA256:
        private = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    else:
        raise ValueError(f"no key generator for DNSSEC algorithm {algorithm}")
    flags = 257 if ksk else 256
    return KeyPair(private, dns.dnssec.make_dnskey(private.public_key(), algorithm, flags=flags))


def zone_keys(algorithm: int) -> ZoneKeys:
    """A fresh KSK and ZSK of `algorithm`."""
    return ZoneKeys(key_pair(algorithm, ksk=True), key_pair(algorithm, ksk=False))


def ds_text(origin: str, key: DNSKEY) -> str:
    """The DS record (SHA-256) of `key` for zone `origin`, as presentation text."""
    return cast(dns.rdata.Rdata, dns.dnssec.make_ds(dns.name.from_text(origin), key, "SHA256")).to_text()


def anchor_file_text(origin: str, keys: ZoneKeys) -> str:
    """A trust-anchor file (zone-file syntax) holding the DS of `origin`'s KSK."""
    return f"; trust anchor\n{origin.rstrip('.')}. 3600 IN DS {ds_text(origin, keys.ksk.dnskey)}\n"


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


def tlsa_dane_ee(certificate_pem: bytes) -> str:
    """A TLSA record (RFC 6698) "3 1 1": DANE-EE, the SHA-256 of the first certificate's public key."""
    leaf = x509.load_pem_x509_certificate(certificate_pem)
    spki = leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"3 1 1 {hashlib.sha256(spki).hexdigest()}"


def spf_include_tree(count: int = SPF_CHAIN) -> str:
    """TXT lines of hebergeur.test: `_spf` includes spf2 to spf6, spf6 includes spf7 to spf<count>.

    With the top include, a record pulling in `_spf.hebergeur.test` costs `count` DNS-querying terms.
    """
    tree = {1: range(2, 7), 6: range(7, count + 1)}
    names = {i: "_spf" if i == 1 else f"spf{i}" for i in range(1, count + 1)}
    return "\n".join(
        f'{names[i]} TXT "v=spf1 '
        + "".join(f"include:{names[j]}.hebergeur.test " for j in tree.get(i, ()))
        + ('~all"' if i in tree else 'ip4:192.0.2.0/24 ~all"')
        for i in range(1, count + 1)
    )


# --- zones and signing -----------------------------------------------------------------------------


def make_zone(origin: str, text: str) -> dns.zone.Zone:
    """A zone with absolute names (what the signers below expect) and a SOA naming ns1.<origin>."""
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
            bitmap = " ".join(dns.rdatatype.to_text(t) for t in sorted(types))
            record = _rdata("NSEC3", f"1 0 {iterations} {salt} {next_digest} {bitmap}")
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


def delegation(child: str, addresses: Sequence[str], keys: ZoneKeys | None = None) -> str:
    """The parent-side records of `child` ("mairie-x" under `test.`): NS ns<N>, their glue, its DS."""
    lines = []
    for number, address in enumerate(addresses, start=1):
        lines.append(f"{child} NS ns{number}.{child}\nns{number}.{child} A {address}")
    if keys is not None:
        lines.append(f"{child} DS {ds_text(f'{child}.test', keys.ksk.dnskey)}")
    return "\n".join(lines)


def name_servers(addresses: Sequence[str]) -> str:
    """A zone's own NS records (ns1, ns2…) and their addresses."""
    return "\n".join(f"@ NS ns{n}\nns{n} A {a}" for n, a in enumerate(addresses, start=1))


# --- the demo's zones ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoZones:
    """What the demo's name servers serve, and the trust anchor (DS of `test.`) for the DNS collector."""

    #: every zone, for the primary server (also the resolver the scans use)
    primary: tuple[ServedZone, ...]
    #: the communes' zones, for the secondary name server
    secondary: tuple[ServedZone, ...]
    anchor: str


def demo_zones(modele_mx_pem: bytes, ns_addresses: Sequence[str], now: float | None = None) -> DemoZones:
    """The demo's zones, signed relative to `now`; `modele_mx_pem` is the certificate TLSA must match.

    `ns_addresses` are the communes' name servers: the primary's address first, then the secondary's
    (all sharing one port, as the DNS collector asks every name server on `ns_port`).
    """
    now = time.time() if now is None else now
    valid = (now - DAY, now + 30 * DAY)
    keys = {"test": zone_keys(Algorithm.ECDSAP256SHA256), MODELE: zone_keys(Algorithm.ECDSAP256SHA256)}
    primary_address = ns_addresses[0]

    # CAA names Let's Encrypt while the demo's certificates come from a throwaway test CA (trustme) that
    # DNS-CAA's table of CAs does not know: it passes with "CAA present, the CA in use could not be
    # identified", never a fail (an unknown issuer proves no exclusion).
    modele = make_zone(
        MODELE,
        f"""
{name_servers(ns_addresses)}
@ A {primary_address}
www CNAME {MODELE}.
mta-sts A {primary_address}
@ MX 10 {MODELE_MX}.
{MODELE_MX}. A {primary_address}
_25._tcp.{MODELE_MX}. TLSA {tlsa_dane_ee(modele_mx_pem)}
@ TXT "v=spf1 mx -all"
@ CAA 0 issue "letsencrypt.org"
@ CAA 0 iodef "mailto:securite@{MODELE}"
_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{MODELE}"
_mta-sts TXT "v=STSv1; id=20261101T000000"
_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{MODELE}"
selector1._domainkey TXT {txt(dkim_record(2048))}
""",
    )
    sign_nsec(modele, keys[MODELE], *valid)

    passoire = make_zone(
        PASSOIRE,
        f"""
{name_servers(ns_addresses)}
@ A {primary_address}
www A {primary_address}
extranet A {primary_address}
@ MX 10 {PASSOIRE_MX}.
{PASSOIRE_MX}. A {primary_address}
@ TXT "v=spf1 include:_spf.hebergeur.test +all"
_dmarc TXT "v=DMARC1; p=none"
mail._domainkey TXT {txt(dkim_record(1024))}
demarches CNAME {DANGLING_TARGET}.
""",
    )
    hebergeur = make_zone("hebergeur.test", f"@ NS ns1\nns1 A {primary_address}\n{spf_include_tree()}\n")
    # No record for the deleted resource: the provider's servers answer NXDOMAIN for it.
    azure = make_zone("azurewebsites.net", f"@ NS ns1\nns1 A {primary_address}\n")

    parent = make_zone(
        "test",
        f"@ NS ns1\nns1 A {primary_address}\n"
        f"{RDAP_HOST.removesuffix('.test')} A {primary_address}\n"
        + delegation("mairie-modele", ns_addresses, keys[MODELE])
        + "\n"
        + delegation("mairie-passoire", ns_addresses)
        + "\n"
        + delegation("hebergeur", [primary_address])
        + "\n",
    )
    sign_nsec(parent, keys["test"], *valid)

    communes = (ServedZone(modele), ServedZone(passoire, axfr=True))
    return DemoZones(
        primary=(ServedZone(parent), *communes, ServedZone(hebergeur), ServedZone(azure)),
        secondary=communes,
        anchor=anchor_file_text("test", keys["test"]),
    )
