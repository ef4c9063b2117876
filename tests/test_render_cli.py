"""`cyberscan render` re-renders a saved report in any format or language; `scan -f csv|sarif`."""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from cyberscan.cli import cli
from cyberscan.reporting.csv_report import COLUMNS
from cyberscan.reporting.json_report import load_schema

SAMPLE = Path(__file__).parent / "data" / "report_sample.json"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_sample_report_is_schema_valid() -> None:
    # The renderers are built against this fixture: it must stay what `scan -f json` writes.
    jsonschema.validate(json.loads(SAMPLE.read_text(encoding="utf-8")), load_schema())


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_render_every_text_format_to_a_file(tmp_path: Path, lang: str) -> None:
    outputs = {}
    for fmt in ("html", "csv", "sarif", "json"):
        out = tmp_path / f"report.{lang}.{fmt}"
        code, stdout, err = invoke("render", str(SAMPLE), "-f", fmt, "--lang", lang, "-o", str(out))
        assert (code, stdout, err) == (0, "", "")
        outputs[fmt] = out.read_text(encoding="utf-8")
    assert outputs["html"].startswith("<!DOCTYPE html>") and f'<html lang="{lang}">' in outputs["html"]
    header = next(csv.reader(io.StringIO(outputs["csv"])))
    assert tuple(header) == COLUMNS
    sarif = json.loads(outputs["sarif"])
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["language"] == lang
    report: dict[str, Any] = json.loads(outputs["json"])
    jsonschema.validate(report, load_schema())
    assert report["lang"] == lang
    telnet = next(f for t in report["targets"] for f in t["findings"] if f["check_id"] == "SVC-TELNET")
    expected = "Telnet est joignable" if lang == "fr" else "Telnet is reachable"
    assert expected in telnet["message"]


def test_render_defaults_to_html_on_stdout_in_the_reports_language() -> None:
    code, out, err = invoke("render", str(SAMPLE))
    assert code == 0 and err == ""
    assert out.startswith("<!DOCTYPE html>") and '<html lang="fr">' in out


@pytest.fixture
def facts(tmp_path: Path) -> Path:
    """Saved facts with nothing collected: a scan replays them offline into error findings."""
    path = tmp_path / "facts.json"
    targets = {"mairie-exemple.fr": {"kind": "domain", "facts": {}, "errors": {}}}
    path.write_text(
        json.dumps({"format": "cyberscan-facts", "version": 1, "targets": targets}), encoding="utf-8"
    )
    return path


def test_render_round_trips_a_report_written_by_scan(tmp_path: Path, facts: Path) -> None:
    saved = tmp_path / "rapport.json"
    code, _, _ = invoke(
        "scan", "--facts", str(facts), "--only", "WEB-*", "-f", "json", "-o", str(saved), "-q"
    )
    assert code == 0
    code, out, _ = invoke("render", str(saved), "-f", "html", "--lang", "en")
    assert code == 0 and '<html lang="en">' in out and "scanner error" in out
    code, out, _ = invoke("render", str(saved), "-f", "json")
    assert code == 0 and json.loads(out) == json.loads(saved.read_text(encoding="utf-8"))


def test_scan_writes_csv_and_sarif(facts: Path) -> None:
    code, out, _ = invoke("scan", "--facts", str(facts), "--only", "WEB-HSTS", "-f", "csv")
    assert code == 0 and "Cible" not in out  # the CSV is stdout; no terminal summary mixed in
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [(r["check_id"], r["status"]) for r in rows] == [("WEB-HSTS", "error")]
    code, out, _ = invoke("scan", "--facts", str(facts), "--only", "WEB-HSTS", "-f", "sarif")
    assert code == 0
    result = json.loads(out)["runs"][0]["results"][0]
    assert (result["ruleId"], result["kind"], result["level"]) == ("WEB-HSTS", "open", "none")


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{", "not a JSON report"),
        ("[1, 2]", "a JSON object is expected"),
        ('{"schema_version": "0.9"}', "unsupported report schema_version '0.9'"),
        ("\ud800", "not a JSON report"),
    ],
)
def test_bad_reports_are_one_line_errors(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content.encode("utf-8", "surrogatepass"))
    code, out, err = invoke("render", str(path))
    assert code == 2 and words in err and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_report_breaking_the_schema_is_refused(tmp_path: Path) -> None:
    report = json.loads(SAMPLE.read_text(encoding="utf-8"))
    report["targets"][0]["findings"][0]["status"] = "<script>alert(1)</script>" + "x" * 5000
    code, _, err = invoke("render", _write(tmp_path / "r.json", json.dumps(report)))
    assert code == 2 and "not a valid cyberscan report: targets/0/findings/0/status" in err
    assert len(err.strip().splitlines()) == 1 and len(err) < 500
    del report["targets"]
    code, _, err = invoke("render", _write(tmp_path / "r.json", json.dumps(report)))
    assert code == 2 and "'targets' is a required property" in err


def test_deeply_nested_report_is_refused(tmp_path: Path) -> None:
    code, _, err = invoke("render", _write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000))
    assert code == 2 and "nested too deeply" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["render", "/nonexistent/report.json"], "cannot read report /nonexistent/report.json"),
        (["render", str(SAMPLE), "-f", "pdf"], "--format pdf writes a binary file: give -o FILE"),
        (["render", str(SAMPLE), "-o", "/nonexistent/dir/r.html"], "output directory does not exist"),
        (["render", str(SAMPLE), "-f", "docx"], "Invalid value"),
    ],
)
def test_bad_render_arguments_exit_2(args: list[str], words: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2 and words in err


def test_render_pdf(tmp_path: Path) -> None:
    pytest.importorskip(
        "weasyprint", reason="the optional cyberscan[pdf] extra (WeasyPrint) is not installed"
    )
    # One target only: WeasyPrint's layout time grows with the page count, and one is enough here.
    report = json.loads(SAMPLE.read_text(encoding="utf-8"))
    report["targets"] = report["targets"][1:]
    saved = _write(tmp_path / "rapport.json", json.dumps(report))
    out = tmp_path / "rapport.pdf"
    code, _, err = invoke("render", saved, "-f", "pdf", "-o", str(out))
    assert (code, err) == (0, "")
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000


def test_pdf_printing_fetches_nothing() -> None:
    pytest.importorskip(
        "weasyprint", reason="the optional cyberscan[pdf] extra (WeasyPrint) is not installed"
    )
    from cyberscan.reporting.html_report import html_to_pdf

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        server.settimeout(0.5)
        port = server.getsockname()[1]
        html = (
            f'<p>x</p><img src="http://127.0.0.1:{port}/pixel.png">'
            f'<link rel="stylesheet" href="http://127.0.0.1:{port}/style.css">'
            '<img src="file:///etc/hostname"><img src="data:image/png;base64,iVBORw0KGgo=">'
        )
        assert html_to_pdf(html).startswith(b"%PDF")
        with pytest.raises(TimeoutError):
            server.accept()  # nobody ever connected
