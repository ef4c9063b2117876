"""CLI contract: exit codes, one-line errors for bad input, checks list/explain, version, quiet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cyberscan import __version__
from cyberscan.cli import cli


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "cyberscan.toml"
    path.write_text('[scan]\ntimeout = 5\n\n[checks."WEB-HSTS"]\nmin_max_ag = 1\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["scan"], "no target given"),
        (["scan", "ftp://mairie.fr"], "unsupported URL scheme"),
        (["scan", "mairie.fr", "--scope", "10.0.0.0/33"], "invalid scope entry"),
        (["scan", "mairie.fr", "--resolver", "dns.example"], "resolver must be an IP address"),
        (["scan", "mairie.fr", "--resolve", "www.mairie.fr=nope"], "--resolve expects NAME=IP"),
        (["scan", "mairie.fr", "--only", "NOPE-*"], "no check matches 'NOPE-*'"),
        (["scan", "mairie.fr", "-o", "/nonexistent/dir/report.json"], "output directory does not exist"),
        (["scan", "mairie.fr", "--ca-bundle", "/nonexistent.pem"], "--ca-bundle file not found"),
        (["scan", "mairie.fr", "-i", "/nonexistent.txt"], "cannot read targets file"),
        (["checks", "explain", "WEB-NOPE"], "unknown check 'WEB-NOPE'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], words: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert words in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_bad_config_names_file_and_line(bad_config: Path) -> None:
    code, _, err = invoke("scan", "mairie.fr", "-c", str(bad_config))
    assert code == 2
    assert err.startswith(f"cyberscan: error: {bad_config}:5: unknown parameter 'min_max_ag' for WEB-HSTS")
    assert "min_max_age" in err and len(err.strip().splitlines()) == 1


def test_bad_facts_file(tmp_path: Path) -> None:
    junk = tmp_path / "facts.json"
    junk.write_text('{"format": "autre"}', encoding="utf-8")
    code, _, err = invoke("scan", "--facts", str(junk))
    assert code == 2 and "not a cyberscan facts file" in err
    junk.write_text("{", encoding="utf-8")
    code, _, err = invoke("scan", "--facts", str(junk))
    assert code == 2 and "not a JSON facts file" in err


def test_checks_list_and_explain() -> None:
    code, out, _ = invoke("checks", "list", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids) and "WEB-HSTS" in ids and "WEB-TRACKERS-CONSENT" not in ids
    code, out, _ = invoke("checks", "list", "--all", "--lang", "en")
    assert code == 0 and "WEB-TRACKERS-CONSENT" in out and "(planned)" in out
    code, out, _ = invoke("checks", "explain", "web-hsts")
    assert code == 0 and out.startswith("WEB-HSTS — ") and "Pourquoi" in out and "RFC 6797" in out
    code, out, _ = invoke("checks", "explain", "WEB-HSTS", "--lang", "en")
    assert code == 0 and "Why" in out and "min_max_age" in out


def test_version_and_module_entry_point() -> None:
    code, out, _ = invoke("--version")
    assert code == 0 and __version__ in out
    proc = subprocess.run(
        [sys.executable, "-m", "cyberscan", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in proc.stdout


def test_quiet_prints_nothing_but_errors(tmp_path: Path) -> None:
    facts = {
        "format": "cyberscan-facts",
        "version": 1,
        "targets": {"mairie-exemple.fr": {"kind": "domain", "facts": {}, "errors": {}}},
    }
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    code, out, err = invoke("scan", "--facts", str(path), "--only", "WEB-HSTS", "-q")
    assert (code, out, err) == (0, "", "")
    code, out, _ = invoke("scan", "--facts", str(path), "--only", "WEB-HSTS", "--strict", "-f", "json")
    assert code == 1  # --strict: the missing facts are an error finding
    assert json.loads(out)["targets"][0]["findings"][0]["error"]["kind"] == "no_facts"


def test_demo_writes_schema_valid_reports(tmp_path: Path) -> None:
    import jsonschema

    from cyberscan.reporting.json_report import load_schema

    out = tmp_path / "demo"
    code, stdout, _ = invoke("demo", "-o", str(out), "--lang", "en")
    assert code == 0
    modele, passoire = (
        json.loads((out / f"rapport-{name}.json").read_text(encoding="utf-8"))
        for name in ("mairie-modele", "mairie-passoire")
    )
    for report in (modele, passoire):
        jsonschema.validate(report, load_schema())
    # one scan per commune: the weak commune's server room and extranet are in its own report only
    assert [t["target"] for t in modele["targets"]] == ["mairie-modele.test"]
    names = [t["target"] for t in passoire["targets"]]
    assert names[:2] == ["mairie-passoire.test", "127.0.0.2"]
    assert names[2].startswith("https://extranet.mairie-passoire.test:")  # the legacy TLS portal
    [site] = modele["targets"]
    commune, server_room, extranet = passoire["targets"]
    exposed = {f["check_id"] for f in server_room["findings"] if f["status"] == "fail"}
    assert {"SVC-RDP-EXPOSED", "SVC-DB-EXPOSED", "SVC-VNC-REMOTE", "SVC-TELNET"} <= exposed
    assert server_room["summary"]["error"] == 0  # no web server there: not applicable, not an error
    assert site["summary"]["fail"] == 0 and site["summary"]["error"] == 0
    assert commune["summary"]["fail"] >= 10
    failed = {f["check_id"] for f in extranet["findings"] if f["status"] == "fail"}
    assert {"TLS-PROTO-LEGACY", "TLS-CIPHER-WEAK"} <= failed
    for name, report in (("mairie-modele", modele), ("mairie-passoire", passoire)):
        html = (out / f"rapport-{name}.html").read_text(encoding="utf-8")
        assert html.startswith("<!DOCTYPE html>") and "<script" not in html
        assert json.loads((out / f"facts-{name}.json").read_text())["format"] == "cyberscan-facts"
        assert f"{report['commune']['name']} ({name}.test): grade {report['grade']['letter']}" in stdout
        assert f"HTML report: {out / f'rapport-{name}.html'}" in stdout


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("[scan]\ndeadline = inf\n", "must be a positive, finite number"),
        ("[scan]\ntimeout = nan\n", "must be a positive, finite number"),
        ("[scan]\njobs = 100000\n", "at most 64"),
        ("a=" + "{b=" * 1000 + "1" + "}" * 1000 + "\n", "nested too deeply"),
    ],
)
def test_config_values_that_would_break_the_scan_are_refused(tmp_path: Path, config: str, words: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(config, encoding="utf-8")
    code, _, err = invoke("scan", "mairie.fr", "-c", str(path))
    assert code == 2 and words in err and "Traceback" not in err


def test_hostile_facts_files_are_one_line_errors(tmp_path: Path) -> None:
    bad_name = tmp_path / "names.json"
    bad_name.write_text('{"format": "cyberscan-facts", "version": 1, "targets": {"pas une cible!!": {}}}')
    code, _, err = invoke("scan", "--facts", str(bad_name))
    assert code == 2 and "invalid host name" in err and "Traceback" not in err
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200000 + "]" * 200000)
    code, _, err = invoke("scan", "--facts", str(deep))
    assert code == 2 and "nested too deeply" in err


def test_error_details_from_a_facts_file_are_bounded_and_cleaned(tmp_path: Path) -> None:
    detail = "\x1b[31mRED\x1b]0;TITLE\x07 </pre><script>x</script>" + "A" * 20000
    facts = {
        "format": "cyberscan-facts",
        "version": 1,
        "targets": {
            "mairie-exemple.fr": {
                "kind": "domain",
                "facts": {},
                "errors": {"http": {"kind": "timeout", "detail": detail, "source": "http"}},
            }
        },
    }
    path = tmp_path / "f.json"
    path.write_text(json.dumps(facts), encoding="utf-8")
    code, out, _ = invoke("scan", "--facts", str(path), "--only", "WEB-HSTS")
    assert code == 0 and "\x1b" not in out and len(out) < 5000
    code, out, _ = invoke("scan", "--facts", str(path), "--only", "WEB-HSTS", "-f", "json")
    finding = json.loads(out)["targets"][0]["findings"][0]
    assert len(finding["error"]["detail"]) <= 200 and "\x1b" not in finding["params"]["detail"]


def test_output_that_is_a_directory_is_refused_before_scanning(tmp_path: Path) -> None:
    code, _, err = invoke("scan", "mairie.fr", "-f", "json", "-o", str(tmp_path))
    assert code == 2 and "output is a directory" in err
