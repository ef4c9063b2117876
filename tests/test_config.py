"""Strict TOML configuration: every mistake is one line naming the file and the line."""

from pathlib import Path

import pytest
from engine_fakes import fake_registry

from cyberscan.config import ConfigError, load_config, locate
from cyberscan.models import Severity


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
        ("[scan\n", None, "Expected"),
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
