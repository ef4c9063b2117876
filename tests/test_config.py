"""Strict TOML configuration: every mistake is one line naming the file and the line."""

import base64
from datetime import date
from pathlib import Path

import pytest
from engine_fakes import fake_registry

from cyberscan.config import MAX_LOGO_BYTES, ConfigError, load_config, locate
from cyberscan.metadata import COMMUNE
from cyberscan.models import Severity
from cyberscan.reporting.grading import DEFAULT_AREA_WEIGHTS, Weights
from cyberscan.waivers import Waiver

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cyberscan.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[scan]
timeout = 5
lang = "en"
scope = ["192.0.2.0/28"]
fail_on = "high"

[hosts]
"WWW.Mairie.test" = "127.0.0.1"

[collectors.count]
value = 7

[checks."TST-COUNT-MIN"]
severity = "critical"
minimum = 5

[checks."TST-RAISES"]
enabled = false
""",
    )
    settings = load_config(path, fake_registry())
    assert settings.timeout == 5.0 and settings.lang == "en" and settings.fail_on is Severity.HIGH
    assert settings.scope == ("192.0.2.0/28",)
    assert settings.hosts == {"www.mairie.test": "127.0.0.1"}
    assert settings.collectors == {"count": {"value": 7}}
    assert settings.checks["TST-COUNT-MIN"].severity is Severity.CRITICAL
    assert settings.checks["TST-COUNT-MIN"].params == {"minimum": 5}
    assert settings.checks["TST-RAISES"].enabled is False


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("[scan]\ntimeout = 5\ntimout = 3\n", 3, "unknown key 'scan.timout'"),
        ('[scan]\n\njobs = "4"\n', 3, "wrong type"),
        ("[scann]\n", 1, "unknown section"),
        ('[scan]\nlang = "de"\n', 2, "lang"),
        ('[scan]\nscope = ["192.0.2.0/33"]\n', 2, "invalid scope entry"),
        ('[collectors.count]\nvalue = "x"\n', 2, "must be an integer"),
        ("[collectors.nope]\n", 1, "unknown collector"),
        ('[checks."TST-NOPE"]\n', 1, "unknown check"),
        ('[checks."TST-COUNT-MIN"]\n# comment\nminimun = 1\n', 3, "unknown parameter 'minimun'"),
        ('[checks."TST-COUNT-MIN"]\nminimum = true\n', 2, "must be an integer"),
        ('[checks."TST-COUNT-MIN"]\nseverity = "urgent"\n', 2, "severity"),
        ('[hosts]\n"a.test" = "not-an-ip"\n', 2, "IP address"),
        # tomllib's own errors get the same file:line: prefix (its position moved out of the message)
        ("[scan\n", 1, "Expected"),
        ("[scan]\ntimeout = 5\njobs = = 3\n", 3, "Invalid value"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int | None, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, fake_registry())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert words in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", fake_registry())


def test_locate_handles_dotted_and_quoted_keys() -> None:
    text = '[scan]\ntimeout = 1\n\n[checks."WEB-HSTS"]\nmin_max_age = 1\n'
    assert locate(text, ("checks", "WEB-HSTS", "min_max_age")) == 5
    assert locate(text, ("checks", "WEB-HSTS")) == 4
    assert locate("a.b = 1\n", ("a", "b")) == 1


def test_shipped_example_config_is_valid() -> None:
    from cyberscan.registry import load_registry

    example = Path(__file__).resolve().parents[1] / "examples" / "cyberscan.toml"
    settings = load_config(example, load_registry(load_plugins=False))
    assert settings.fail_on is Severity.HIGH and settings.scope == ("192.0.2.0/28",)
    assert settings.checks["WEB-SECURITY-TXT"].severity is Severity.INFO


def test_report_owners_and_waivers(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(PNG)
    path = write(
        tmp_path,
        """
[report]
commune = "Mairie-X"
insee = "2A004"
organisation = "Syndicat numérique"
logo = "logo.png"

[report.weights]
provider_factor = 0.25
severity = { high = 8 }

[report.weights.area]
SVC = 40
TST = 5

[owners]
web = "Hébergeur X"
mail = "Commune"

[[waivers]]
check = "TST-COUNT-MIN"
resource = "https://extranet.mairie-x.fr*"
reason = "Extranet remplacé en mars 2027"
owner = "DSI syndicat"
expires = 2027-03-31

[[waivers]]
check = "tst-*"
reason = "Tout"
owner = "Maire"
expires = 2026-12-31
""",
    )
    settings = load_config(path, fake_registry())
    report = settings.report
    assert (report.commune, report.insee, report.organisation) == ("Mairie-X", "2A004", "Syndicat numérique")
    assert report.logo_data_uri == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert report.weights == Weights(
        severity={"critical": 10.0, "high": 8.0, "medium": 3.0, "low": 1.0, "info": 0.0},
        area={**DEFAULT_AREA_WEIGHTS, "SVC": 40.0, "TST": 5.0},
        provider_factor=0.25,
    )
    assert settings.owners == {"web": "Hébergeur X", "mail": COMMUNE}
    assert settings.waivers == (
        Waiver(
            "TST-COUNT-MIN",
            "https://extranet.mairie-x.fr*",
            "Extranet remplacé en mars 2027",
            "DSI syndicat",
            date(2027, 3, 31),
        ),
        Waiver("TST-*", "*", "Tout", "Maire", date(2026, 12, 31)),
    )


def test_no_report_sections_give_defaults(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, "[scan]\ntimeout = 3\n"), fake_registry())
    assert settings.report.commune is None and settings.report.logo_data_uri is None
    assert settings.report.weights == Weights() and settings.owners == {} and settings.waivers == ()


WAIVER = """[[waivers]]
check = "TST-COUNT-MIN"
reason = "r"
owner = "o"
expires = 2027-03-31
"""


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[report]\ncommune = "X"\ncommunes = "Y"\n', 3, "unknown key 'report.communes'"),
        ('[report]\ninsee = "7505"\n', 2, "INSEE"),
        ("[report]\ncommune = 3\n", 2, "printable line"),
        ('[report]\nlogo = "absent.png"\n', 2, "cannot be read"),
        ("[report.weights]\nseverity = { urgent = 3 }\n", 2, "unknown severity 'urgent'"),
        ("[report.weights.area]\nWEB = 20\nWWW = 3\n", 3, "unknown area 'WWW'"),
        ("[report.weights.area]\nWEB = -1\n", 2, "between 0 and 1000"),
        ('[report.weights.severity]\nhigh = "6"\n', 2, "must be a number"),
        ("[report.weights]\nprovider_factor = 1.5\n", 2, "between 0 and 1"),
        (
            "[report.weights]\n[report.weights.area]\nSVC = 0\nMAIL = 0\nWEB = 0\nTLS = 0\nDNS = 0\n",
            2,
            "at least one area weight must be positive",
        ),
        ("[report.weights]\nprovider = 0.5\n", 2, "unknown key 'report.weights.provider'"),
        ('[owners]\nmail = "M365"\nsite = "X"\n', 3, "unknown asset 'owners.site'"),
        ('[owners]\nweb = ""\n', 2, "printable characters"),
        # waivers: the line of the offending key, in the right [[waivers]] table
        (WAIVER + "team = 3\n", 6, "waiver #1: unknown waiver key 'team'"),
        (WAIVER.replace("expires = 2027-03-31\n", ""), 1, "waiver #1: waiver without 'expires'"),
        (WAIVER.replace("TST-COUNT-MIN", "TST-NOPE"), 2, "unknown check 'TST-NOPE'"),
        (WAIVER.replace("TST-COUNT-MIN", "WEB-*"), 2, "matches no check"),
        (WAIVER.replace("2027-03-31", '"2027-03-31"'), 5, "TOML date"),
        (WAIVER.replace("2027-03-31", "2027-03-31T10:00:00"), 5, "TOML date"),
        (WAIVER.replace("2027-03-31", "2027-02-30"), 5, "Invalid date"),
        (WAIVER + "\n" + WAIVER.replace('reason = "r"', 'reason = ""'), 9, "waiver #2: 'reason' must be"),
        ("waivers = 3\n", 1, "array of tables"),
    ],
)
def test_report_owner_and_waiver_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, fake_registry())
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 16, "image/jpeg"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>',
            "image/svg+xml",
        ),
    ],
)
def test_logo_becomes_a_data_uri(tmp_path: Path, content: bytes, mime: str) -> None:
    # The type comes from the bytes: the file name says nothing.
    (tmp_path / "logo.bin").write_bytes(content)
    settings = load_config(write(tmp_path, '[report]\nlogo = "logo.bin"\n'), fake_registry())
    assert settings.report.logo_data_uri == f"data:{mime};base64," + base64.b64encode(content).decode()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "refused"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>', "refused"),
        (b'<svg><a href="javascript:alert(1)"><rect/></a></svg>', "refused"),
        (b"<svg><foreignObject><p>x</p></foreignObject></svg>", "refused"),
        (b"GIF89a" + b"\x00" * 10, "PNG, JPEG or SVG"),
        (b"\xff\xfe<\x00s\x00v\x00g\x00", "PNG, JPEG or SVG"),
        (PNG + b"\x00" * MAX_LOGO_BYTES, "larger than 200 KB"),
    ],
)
def test_unsafe_or_unknown_logos_are_refused(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / "logo.svg").write_bytes(content)
    path = write(tmp_path, '[report]\norganisation = "Cabinet"\nlogo = "logo.svg"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, fake_registry())
    assert str(info.value).startswith(f"{path}:3: ") and words in str(info.value)
