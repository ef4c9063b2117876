"""Who acts: configured owner, else a provider known from MX, NS, CNAME, headers or RDAP, else the commune."""

from __future__ import annotations

from dataclasses import replace

import pytest
from dns_factories import snapshot

from cyberscan.collectors.dns_facts import DnsAnswer, NameServer, Outcome
from cyberscan.collectors.http_facts import HttpFacts, HttpResponse, RedirectChain, WebHost
from cyberscan.collectors.mail_facts import MailFacts
from cyberscan.collectors.rdap_facts import RdapFacts
from cyberscan.owners import (
    COMMUNE,
    Detection,
    Owner,
    Owners,
    detect,
    load_providers,
    parse_providers,
    resource_host,
)

DOMAIN = "mairie-x.fr"


def web_host(host: str, *headers: tuple[str, str]) -> WebHost:
    response = HttpResponse(f"https://{host}/", status=200, headers=headers)
    return WebHost(host, "www", https=RedirectChain(f"https://{host}/", (response,)))


@pytest.mark.parametrize(
    ("mx_records", "provider"),
    [
        (["0 mairie-x-fr.mail.protection.outlook.com."], "Microsoft 365"),
        (["1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com."], "Google"),
        (["1 mx1.mail.ovh.net.", "5 mx2.mail.ovh.net."], "OVHcloud"),
        (["10 spool.mail.gandi.net.", "50 fb.mail.gandi.net."], "Gandi"),
        (["10 smtp-in.orange.fr."], "Orange"),
        (["10 mx00.ionos.fr."], "IONOS"),
        # The most preferred MX decides: a provider's backup MX does not make it the mail provider.
        (["20 backup.mail.ovh.net.", "10 mail.mairie-x.fr."], None),
        (["0 ."], None),
    ],
)
def test_mail_provider_from_mx_records(mx_records: list[str], provider: str | None) -> None:
    facts = snapshot(DOMAIN, {(DOMAIN, "MX"): mx_records})
    assert detect([facts]).providers.get("mail") == provider


def test_mail_facts_mx_order_wins_over_dns_records() -> None:
    dns = snapshot(DOMAIN, {(DOMAIN, "MX"): ["10 mx1.mail.ovh.net."]})
    mail = MailFacts(domain=DOMAIN, mx_hosts=("mairie-x-fr.mail.protection.outlook.com", "mx1.mail.ovh.net"))
    detection = detect([dns, mail])
    assert detection.providers["mail"] == "Microsoft 365"
    assert detection.mx_hosts == ("mairie-x-fr.mail.protection.outlook.com", "mx1.mail.ovh.net")


@pytest.mark.parametrize(
    ("ns_hosts", "provider"),
    [
        (["dns200.anycast.me", "ns200.anycast.me"], "OVHcloud"),
        (["ns1.ovh.net", "dns1.ovh.net"], "OVHcloud"),
        (["ns-123-a.gandi.net", "ns-45-b.gandi.net", "ns-67-c.gandi.net"], "Gandi"),
        (["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"], "Cloudflare"),
        (["ns-1.awsdns-01.org", "ns-2.awsdns-02.co.uk"], "Amazon Web Services"),
        (["ns1-01.azure-dns.com", "ns2-01.azure-dns.net"], "Microsoft Azure"),
        # Most NS hosts win; a lone secondary elsewhere does not.
        (["ns1.ovh.net", "ns2.ovh.net", "ns-1.gandi.net"], "OVHcloud"),
        (["ns1.mairie-x.fr", "ns2.mairie-x.fr"], None),
    ],
)
def test_dns_provider_from_name_servers(ns_hosts: list[str], provider: str | None) -> None:
    servers = tuple(NameServer(h, Outcome.NOERROR) for h in ns_hosts)
    assert detect([snapshot(DOMAIN, nameservers=servers)]).providers.get("dns") == provider
    # Without per-server facts, the NS records of the zone say the same.
    records = snapshot(DOMAIN, {(DOMAIN, "NS"): [f"{h}." for h in ns_hosts]})
    assert detect([records]).providers.get("dns") == provider


def test_web_provider_from_cname_chain_and_headers() -> None:
    chained = replace(
        snapshot(DOMAIN),
        queries=(
            DnsAnswer(
                f"www.{DOMAIN}", "A", Outcome.NOERROR, 300, ("203.0.113.9",), ("cluster029.hosting.ovh.net",)
            ),
        ),
    )
    assert detect([chained]).providers["web"] == "OVHcloud"
    cname = snapshot(DOMAIN, {(f"www.{DOMAIN}", "CNAME"): ["mairie-x.wixdns.net."]})
    assert detect([cname]).providers["web"] == "Wix"
    cloudflare = HttpFacts(
        hosts=(web_host(f"www.{DOMAIN}", ("server", "cloudflare"), ("cf-ray", "8a1b-CDG")),)
    )
    assert detect([cloudflare]).providers["web"] == "Cloudflare"
    plain = HttpFacts(hosts=(web_host(f"www.{DOMAIN}", ("server", "Apache/2.4.62")),))
    assert "web" not in detect([plain]).providers
    # A CNAME of a name that is not a web host of the target says nothing about web hosting.
    other = snapshot(DOMAIN, {(f"autodiscover.{DOMAIN}", "CNAME"): ["autodiscover.outlook.com."]})
    assert "web" not in detect([other]).providers


def test_registrar_from_rdap_is_named_even_when_unknown() -> None:
    known = RdapFacts(domain=DOMAIN, outcome="ok", registrar="OVH, SAS")
    assert detect([known]).providers["domain"] == "OVHcloud"
    unknown = RdapFacts(domain=DOMAIN, outcome="ok", registrar="Registrar\x1b[31m  Local " + "x" * 300)
    name = detect([unknown]).providers["domain"]
    assert name.startswith("Registrar\ufffd[31m Local") and len(name) <= 100 and name.isprintable()
    assert (
        "domain" not in detect([RdapFacts(domain=DOMAIN, outcome="unreachable", registrar="OVH")]).providers
    )


def test_no_facts_detect_nothing() -> None:
    assert detect([]) == Detection()


def test_config_wins_over_detection_then_default_commune() -> None:
    detection = Detection({"mail": "Microsoft 365", "dns": "OVHcloud"}, ())
    owners = Owners({"dns": "Syndicat informatique", "network": COMMUNE}, detection)
    assert owners.owner("dns") == Owner("dns", "Syndicat informatique", "config")
    assert owners.owner("mail") == Owner("mail", "Microsoft 365", "detected")
    assert owners.owner("web") == Owner("web", COMMUNE, "default")
    assert owners.owner("network") == Owner("network", COMMUNE, "config")
    assert not owners.owner("network").provider_managed and owners.owner("mail").provider_managed
    # A plugin check without an asset stays with the commune.
    assert owners.owner(None) == Owner(None, COMMUNE, "default")


def test_a_tls_endpoint_on_an_mx_host_belongs_to_the_mail_provider() -> None:
    mx = "mairie-x-fr.mail.protection.outlook.com"
    owners = Owners({"web": "Hébergeur X"}, Detection({"mail": "Microsoft 365"}, (mx,)))
    assert owners.owner("web", f"{mx}:25 (smtp)") == Owner("mail", "Microsoft 365", "detected")
    assert owners.owner("web", f"www.{DOMAIN}:443 (https)") == Owner("web", "Hébergeur X", "config")
    # Only the web asset is re-attributed: a port finding on the MX address stays a network one.
    assert owners.owner("network", f"{mx}:25 (smtp)").asset == "network"


@pytest.mark.parametrize(
    ("resource", "host"),
    [
        ("https://www.mairie-x.fr/login", "www.mairie-x.fr"),
        ("www.mairie-x.fr:443 (https)", "www.mairie-x.fr"),
        ("mx1.mail.ovh.net:25 (smtp, 192.0.2.1)", "mx1.mail.ovh.net"),
        ("[2001:db8::1]:25 (smtp)", "2001:db8::1"),
        ("203.0.113.5:3389/tcp", "203.0.113.5"),
        ("_dmarc.mairie-x.fr TXT", "_dmarc.mairie-x.fr"),
        ("http://[bad", ""),
        ("", ""),
    ],
)
def test_resource_host(resource: str, host: str) -> None:
    assert resource_host(resource) == host


def test_shipped_provider_table_is_valid_and_every_entry_matches_something() -> None:
    providers = load_providers()
    names = [p.name for p in providers]
    assert len(names) == len(set(names))
    assert all(p.mx or p.ns or p.web or p.web_headers or p.registrar for p in providers)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"provider": []}, "list of [[providers]]"),
        ({"providers": [{"mx": ["*.x"]}]}, "needs a name"),
        ({"providers": [{"name": "X", "smtp": ["*.x"]}]}, "unknown keys"),
        ({"providers": [{"name": "X", "mx": "*.x"}]}, "list of patterns"),
        ({"providers": [{"name": "X", "web_headers": ["server"]}]}, "header=value-glob"),
    ],
)
def test_a_bad_provider_table_is_refused(data: object, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[")):
        parse_providers(data)
