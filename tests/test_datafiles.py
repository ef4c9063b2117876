"""Reference data files: packaged by default, replaced by a validated user copy, given to checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cyberscan.cli import cli
from cyberscan.config import Settings
from cyberscan.datafiles import load_data
from cyberscan.registry import load_registry
from cyberscan.runner import select_checks

TEST_CATALOGUE = Path(__file__).parent / "data" / "edge_vulns_test.json"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CYBERSCAN_DATA_DIR", str(tmp_path))
    load_data.cache_clear()
    yield tmp_path
    load_data.cache_clear()


def catalogue_param() -> object:
    registry = load_registry(load_plugins=False)
    [selected] = select_checks(registry, Settings(), only=["SVC-EDGE-KNOWN-VULN"])
    return selected.params["catalogue"]


def test_packaged_catalogue_until_an_update_is_installed(data_dir: Path) -> None:
    packaged = catalogue_param()
    assert (
        isinstance(packaged, dict)
        and packaged["as_of"]
        == json.loads((Path(__file__).parents[1] / "cyberscan" / "data" / "edge_vulns.json").read_text())[
            "as_of"
        ]
    )
    result = CliRunner().invoke(cli, ["data", "update", "edge_vulns.json", str(TEST_CATALOGUE)])
    assert result.exit_code == 0, result.output
    assert (data_dir / "edge_vulns.json").is_file()
    assert catalogue_param() == json.loads(TEST_CATALOGUE.read_text())
    listed = CliRunner().invoke(cli, ["data", "list"])
    assert str(data_dir / "edge_vulns.json") in listed.stdout and "SVC-EDGE-KNOWN-VULN" in listed.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"entries": [{"id": ""}]}', "rejected by SVC-EDGE-KNOWN-VULN"),
        ("not json", "not JSON"),
        ('{"no": "entries"}', "rejected by SVC-EDGE-KNOWN-VULN"),
    ],
)
def test_an_invalid_catalogue_is_refused_and_nothing_is_installed(
    data_dir: Path, tmp_path: Path, content: str, words: str
) -> None:
    source = tmp_path / "candidate.json"
    source.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(cli, ["data", "update", "edge_vulns.json", str(source)])
    assert result.exit_code == 2 and words in result.stderr
    assert not (data_dir / "edge_vulns.json").exists()


def test_update_refuses_unknown_files_and_plain_http(data_dir: Path) -> None:
    unknown = CliRunner().invoke(cli, ["data", "update", "nope.json", str(TEST_CATALOGUE)])
    assert unknown.exit_code == 2 and "no check uses a data file named 'nope.json'" in unknown.stderr
    clear = CliRunner().invoke(cli, ["data", "update", "edge_vulns.json", "http://127.0.0.1:9/x.json"])
    assert clear.exit_code == 2 and "https://" in clear.stderr


def test_configuration_still_wins_over_the_data_file(data_dir: Path) -> None:
    from cyberscan.config import CheckSettings

    entries = json.loads(TEST_CATALOGUE.read_text())["entries"][:1]
    settings = Settings(checks={"SVC-EDGE-KNOWN-VULN": CheckSettings(params={"catalogue": entries})})
    [selected] = select_checks(load_registry(load_plugins=False), settings, only=["SVC-EDGE-KNOWN-VULN"])
    assert selected.params["catalogue"] == entries


def test_a_corrupt_user_catalogue_makes_only_its_check_an_error(data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "edge_vulns.json").write_text("{broken", encoding="utf-8")
    facts = tmp_path / "facts.json"
    facts.write_text(
        json.dumps(
            {
                "format": "cyberscan-facts",
                "version": 1,
                "targets": {
                    "192.0.2.10": {"kind": "ip", "facts": {"ports": {"hosts": [{"address": "192.0.2.10"}]}}}
                },
            }
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["scan", "--facts", str(facts), "--only", "SVC-*", "-f", "json"])
    assert result.exit_code == 0, result.output
    findings = {f["check_id"]: f for f in json.loads(result.stdout)["targets"][0]["findings"]}
    assert findings["SVC-EDGE-KNOWN-VULN"]["status"] == "error"
    assert "cannot read data file edge_vulns.json" in findings["SVC-EDGE-KNOWN-VULN"]["message"]
    assert findings["SVC-RDP-EXPOSED"]["status"] == "pass"  # the other checks are unaffected
