"""Target parsing: domains, URLs, IPs and networks, and the web origins each stands for."""

import pytest

from cyberscan.targets import TargetError, TargetKind, parse_target, parse_targets_file


@pytest.mark.parametrize(
    ("text", "name", "kind"),
    [
        ("Mairie-Exemple.FR", "mairie-exemple.fr", TargetKind.DOMAIN),
        ("mairie-exemple.fr.", "mairie-exemple.fr", TargetKind.DOMAIN),
        ("saint-étienne.fr", "xn--saint-tienne-geb.fr", TargetKind.DOMAIN),
        (
            "https://Portail.Mairie-Exemple.fr/famille",
            "https://portail.mairie-exemple.fr/famille",
            TargetKind.URL,
        ),
        ("https://portail.mairie-exemple.fr:443/", "https://portail.mairie-exemple.fr/", TargetKind.URL),
        ("http://portail.mairie-exemple.fr:8080", "http://portail.mairie-exemple.fr:8080/", TargetKind.URL),
        ("https://[2001:db8::1]:8443/x", "https://[2001:db8::1]:8443/x", TargetKind.URL),
        ("192.0.2.10", "192.0.2.10", TargetKind.IP),
        ("2001:db8::1", "2001:db8::1", TargetKind.IP),
        ("192.0.2.7/28", "192.0.2.0/28", TargetKind.NETWORK),
    ],
)
def test_parse_target_normalises(text: str, name: str, kind: TargetKind) -> None:
    target = parse_target(text)
    assert (target.name, target.kind) == (name, kind)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("ftp://mairie.fr/", "scheme"),
        ("https:///nohost", "host"),
        ("mairie", "fully qualified"),
        ("mai rie.fr", "invalid host name"),
        ("-bad-.fr", "invalid host name"),
        ("10.0.0.0/8", "split it"),
        ("https://mairie.fr:99999/", "invalid URL"),
    ],
)
def test_parse_target_rejects(text: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        parse_target(text)


def test_web_origins_of_each_kind() -> None:
    assert [o.host for o in parse_target("mairie-exemple.fr").web_origins()] == [
        "mairie-exemple.fr",
        "www.mairie-exemple.fr",
    ]
    assert [o.host for o in parse_target("www.mairie-exemple.fr").web_origins()] == [
        "www.mairie-exemple.fr",
        "mairie-exemple.fr",
    ]
    url = parse_target("https://portail.mairie-exemple.fr:8443/famille").web_origins()
    assert [(o.host, o.path, o.https_port, o.http_port) for o in url] == [
        ("portail.mairie-exemple.fr", "/famille", 8443, None)
    ]
    assert [o.host for o in parse_target("192.0.2.0/30").web_origins()] == ["192.0.2.1", "192.0.2.2"]


def test_targets_file_reports_the_bad_line() -> None:
    lines = ["# communes", "mairie-a.fr", "", "mairie-b.fr  # commentaire", "pas une cible"]
    with pytest.raises(TargetError, match=r"^targets.txt:5: "):
        parse_targets_file(lines, "targets.txt")
    assert [t.name for t in parse_targets_file(lines[:4], "t")] == ["mairie-a.fr", "mairie-b.fr"]
