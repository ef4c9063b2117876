"""Test zones for the DNS collector: signed (NSEC and NSEC3), unsigned, bogus and badly configured.

Keys are generated and zones signed at test time with the helpers of `cyberscan.demo.dnszones`
(cryptography, dnspython): nothing is recorded, so the signatures are valid "now" or expired "now"
by construction. `build_world()`
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

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from cyberscan.demo.dnsserver import ServedZone

# Zone building and signing are product code (the demo serves signed zones): the tests build their
# own world with the same helpers.
from cyberscan.demo.dnszones import (
    DAY,
    SPF_CHAIN,
    ZoneKeys,
    anchor_file_text,
    dkim_record,
    ds_text,
    key_pair,
    make_zone,
    sign_nsec,
    sign_nsec3,
    spf_include_tree,
    txt,
    zone_keys,
)

NSEC3_SALT = "aabb"
NSEC3_ITERATIONS = 5


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
    spf = spf_include_tree(SPF_CHAIN)
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
