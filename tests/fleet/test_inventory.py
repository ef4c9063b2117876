"""The inventory: the example loads, bad files get one `file:line:` line, CSV import round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cyberscan.fleet.commands import fleet
from cyberscan.fleet.inventory import InventoryError, load_inventory
from cyberscan.registry import Registry, load_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """\
[syndicat]
name = "Syndicat de test"
contact = "rssi@syndicat.test"

[[communes]]
name = "Alpha"
insee = "45001"
domains = ["mairie-alpha.test"]
ranges = ["192.0.2.0/28"]
contacts = ["dgs@mairie-alpha.test"]

[[communes]]
name = "Bêta"
insee = "2A004"
domains = ["mairie-beta.test"]
exclusions = ["WEB-CMS-*"]

[communes.owners]
web = "Hébergeur"

[[communes.waivers]]
check = "WEB-HSTS"
reason = "Site en refonte"
owner = "DGS"
expires = 2030-01-01
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(load_plugins=False)


def test_example_inventory_loads(registry: Registry) -> None:
    inventory = load_inventory(EXAMPLES / "inventaire.toml", registry)
    assert [c.insee for c in inventory.communes] == ["45999", "45998", "2B999"]
    assert inventory.syndicat.config == (EXAMPLES / "cyberscan.toml").resolve()
    first = inventory.communes[0]
    assert first.slug == "45999-saint-exemple-sur-loire"
    assert first.targets == ("mairie-saint-exemple.test", "ville-saint-exemple.test", "192.0.2.0/28")
    settings = inventory.settings_for(inventory.base_settings(registry), first, registry)
    assert "192.0.2.0/28" in settings.scope and settings.report.insee == "45999"
    assert "mairie2024" in settings.collectors["dns"]["dkim_selectors"]
    assert settings.owners["web"] == "Hébergeur Exemple" and settings.waivers[-1].check == "SVC-SSH"


def test_good_inventory(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(GOOD, encoding="utf-8")
    inventory = load_inventory(path, registry)
    beta = inventory.communes[1]
    assert beta.owners == {"web": "Hébergeur"} and beta.waivers[0].check == "WEB-HSTS"
    assert beta.slug == "2A004-beta" and beta.exclusions == ("WEB-CMS-*",)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        (
            'contacts = ["dgs@mairie-alpha.test"]',
            'contacts = ["dgs@mairie-alpha.test"]\ncolour = "red"',
            11,
            "unknown key 'colour'",
        ),
        ('insee = "2A004"', 'insee = "45001"', 14, "duplicate INSEE code 45001"),
        ('ranges = ["192.0.2.0/28"]', 'ranges = ["192.0.2.0/33"]', 9, "invalid CIDR range '192.0.2.0/33'"),
        ('contacts = ["dgs@mairie-alpha.test"]', 'contacts = ["dgs at mairie"]', 10, "invalid e-mail"),
        ('insee = "45001"', 'insee = "4500"', 7, "invalid INSEE code"),
        ('web = "Hébergeur"', 'cloud = "Hébergeur"', 19, "unknown asset 'owners.cloud'"),
        ("expires = 2030-01-01", 'expires = "2030-01-01"', 25, "waiver #1: 'expires' must be a TOML date"),
        ('exclusions = ["WEB-CMS-*"]', 'exclusions = ["NOPE-*"]', 16, "exclusion 'NOPE-*' matches no check"),
        ("[syndicat]", '[syndicat]\nlogo = "x.png"', 2, "unknown key 'syndicat.logo'"),
    ],
)
def test_bad_inventory_is_one_line_with_its_line(
    tmp_path: Path, registry: Registry, old: str, new: str, line: int, message: str
) -> None:
    assert old in GOOD
    path = tmp_path / "inv.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(path, registry)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:{line}: "), text
    assert message in text


def test_cli_rejects_bad_inventory_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "inv.toml"
    path.write_text(GOOD.replace('ranges = ["192.0.2.0/28"]', 'ranges = ["not-a-cidr"]'), encoding="utf-8")
    result = CliRunner().invoke(fleet, ["run", str(path), "--db", str(tmp_path / "h.sqlite")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert f"{path}:9: invalid CIDR range 'not-a-cidr'" in result.stderr


@pytest.mark.parametrize("separator", [";", ","])
def test_csv_import_round_trip(tmp_path: Path, registry: Registry, separator: str) -> None:
    source = (EXAMPLES / "communes.csv").read_text(encoding="utf-8")
    csv_path = tmp_path / "communes.csv"
    if separator == ",":
        source = source.replace(",", "").replace(";", ",")  # no comma inside fields of this example
    csv_path.write_text("\ufeff" + source, encoding="utf-8")
    out = tmp_path / "inventaire.toml"
    result = CliRunner().invoke(fleet, ["import", str(csv_path), "-o", str(out), "--syndicat", "SIVU test"])
    assert result.exit_code == 0, result.output
    imported = load_inventory(out, registry)
    reference = load_inventory(EXAMPLES / "inventaire.toml", registry)
    assert imported.syndicat.name == "SIVU test"
    for got, want in zip(imported.communes, reference.communes, strict=True):
        assert (got.name, got.insee, got.epci, got.population) == (
            want.name,
            want.insee,
            want.epci,
            want.population,
        )
        assert (got.domains, got.ranges, got.contacts) == (want.domains, want.ranges, want.contacts)


def test_csv_errors_name_the_csv_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "communes.csv"
    csv_path.write_text(
        "name;insee;domains;ranges\nA;45001;a.test;192.0.2.0/28\nB;45001;b.test;\n", encoding="utf-8"
    )
    result = CliRunner().invoke(fleet, ["import", str(csv_path), "-o", str(tmp_path / "x.toml")])
    assert result.exit_code == 2
    assert f"{csv_path}:3: duplicate INSEE code 45001" in result.stderr
    csv_path.write_text("name;insee;colour\nA;45001;red\n", encoding="utf-8")
    result = CliRunner().invoke(fleet, ["import", str(csv_path), "-o", str(tmp_path / "x.toml")])
    assert result.exit_code == 2 and f"{csv_path}:1: unknown column 'colour'" in result.stderr
    assert not (tmp_path / "x.toml").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_alerts_table_is_parsed_and_its_errors_point_at_the_line(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "inventaire.toml"
    path.write_text(GOOD + '\n[alerts]\nsmtp_host = "relais.syndicat.test"\nsender = "audit@syndicat.test"\n')
    alerts = load_inventory(path, registry).alerts
    assert alerts is not None and alerts.smtp_host == "relais.syndicat.test"
    # the syndicat's contact gets the fleet-wide digest when no other address is named
    assert alerts.syndicat_contacts == ("rssi@syndicat.test",)
    bad = GOOD + '\n[alerts]\nsmtp_host = "relais.test"\nsender = "a@syndicat.test"\nthreshold = "urgent"\n'
    path.write_text(bad)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path, registry)
    line = bad.splitlines().index('threshold = "urgent"') + 1
    assert str(caught.value).startswith(f"{path}:{line}: 'alerts.threshold'")


def test_inventory_logo_follows_the_configuration_rules(tmp_path: Path, registry: Registry) -> None:
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    path = tmp_path / "inventaire.toml"
    path.write_text(
        GOOD.replace(
            'contact = "rssi@syndicat.test"', 'contact = "rssi@syndicat.test"\nbranding.logo = "logo.svg"'
        )
    )
    inventory = load_inventory(path, registry)
    with pytest.raises(InventoryError, match=r"'syndicat\.branding\.logo' SVG contains scripts"):
        inventory.settings_for(inventory.base_settings(registry), inventory.communes[0], registry)
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    settings = inventory.settings_for(inventory.base_settings(registry), inventory.communes[0], registry)
    assert settings.report.logo_data_uri is not None
    assert settings.report.logo_data_uri.startswith("data:image/svg+xml;base64,")
