"""Plugin discovery: built-ins, entry points, broken plugins skipped, built-ins win ID clashes."""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cyberscan.registry import BUILTIN_PACKAGE, family_checks, load_registry

CHECK_MODULE = '''
from cyberscan import Check, Status
from cyberscan.collectors.http_facts import HttpFacts

class {cls}(Check):
    """Always passes."""
    id = "{check_id}"
    requires = (HttpFacts,)
    def evaluate(self, facts):
        yield self.finding(Status.PASS, self.target.name, "ok")

CHECKS = [{cls}]
'''

META = """
["{check_id}"]
severity = "low"
title.fr = "Titre"
title.en = "Title"
rationale.fr = "Pourquoi"
rationale.en = "Why"
remediation.fr = "Corriger"
remediation.en = "Fix"
references = [{{ label = "Exemple" }}]
messages.ok.fr = "ok"
messages.ok.en = "ok"
"""


def make_distribution(root: Path, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A real installed distribution: a package and a .dist-info that importlib.metadata reads."""
    package = root / "fakeplug"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in modules.items():
        (package / name).write_text(textwrap.dedent(text))
    info = root / "fakeplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[cyberscan.plugins]\n{lines}\n")


@pytest.fixture
def plugins_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("CYBERSCAN_NO_PLUGINS", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def test_builtin_families_are_discovered() -> None:
    registry = load_registry(load_plugins=False)
    assert "WEB-HSTS" in registry.checks
    assert all(reg.source == "builtin" for reg in registry.checks.values())
    assert list(registry.checks) == sorted(registry.checks)


def test_every_builtin_family_passes_the_eager_plugin_validation() -> None:
    """Built-ins load their metadata lazily; the plugin path's eager validation must accept them all."""
    lazy = load_registry(load_plugins=False)
    package = importlib.import_module(BUILTIN_PACKAGE)
    eager: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            checks, _ = family_checks(importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}"))
            eager.update({reg.id: reg.meta.title.fr for reg in checks})
    assert eager == {cid: reg.meta.title.fr for cid, reg in lazy.checks.items()}


def test_plugins_good_broken_and_clashing(plugins_on: Path) -> None:
    make_distribution(
        plugins_on,
        {
            "good": "fakeplug.good",
            "broken": "fakeplug.broken",
            "clash": "fakeplug.clash",
            "nometa": "fakeplug.nometa",
        },
        {
            "good.py": CHECK_MODULE.format(cls="Good", check_id="EXT-GOOD"),
            "good.toml": META.format(check_id="EXT-GOOD"),
            "broken.py": "raise ImportError('missing dependency foo')\n",
            "clash.py": CHECK_MODULE.format(cls="Clash", check_id="WEB-HSTS"),
            "clash.toml": META.format(check_id="WEB-HSTS"),
            "nometa.py": CHECK_MODULE.format(cls="NoMeta", check_id="EXT-NOMETA"),
        },
    )
    registry = load_registry()
    assert registry.checks["EXT-GOOD"].source == "fakeplug 0.1"
    assert registry.checks["WEB-HSTS"].source == "builtin"
    assert "EXT-NOMETA" not in registry.checks
    warnings = "\n".join(registry.warnings)
    assert "'broken' (fakeplug 0.1) skipped: ImportError: missing dependency foo" in warnings
    assert "WEB-HSTS already provided by the built-in" in warnings
    assert "no nometa.toml beside the module" in warnings
    assert "EXT-GOOD" not in load_registry(load_plugins=False).checks


@pytest.mark.slow
def test_example_plugin_installed_with_pip_lists_and_runs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(root / "examples" / "plugin"),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("CYBERSCAN_NO_PLUGINS", None)
    listed = subprocess.run(
        [sys.executable, "-m", "cyberscan", "checks", "list", "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert rows["EXT-WEB-LEGAL-NOTICE"]["source"] == "cyberscan-mentions-legales 0.1.0"
    facts = {
        "format": "cyberscan-facts",
        "version": 1,
        "targets": {
            "mairie-exemple.fr": {
                "kind": "domain",
                "facts": {
                    "http": {
                        "hosts": [
                            {
                                "host": "mairie-exemple.fr",
                                "role": "apex",
                                "https": {
                                    "start_url": "https://mairie-exemple.fr/",
                                    "hops": [
                                        {
                                            "url": "https://mairie-exemple.fr/",
                                            "status": 200,
                                            "body": "<a href='/ml'>Mentions légales</a>",
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                },
            }
        },
    }
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps(facts), encoding="utf-8")
    scanned = subprocess.run(
        [
            sys.executable,
            "-m",
            "cyberscan",
            "scan",
            "--facts",
            str(facts_file),
            "--only",
            "EXT-*",
            "-f",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    report = json.loads(scanned.stdout)
    [finding] = report["targets"][0]["findings"]
    assert (finding["check_id"], finding["status"], finding["message_id"]) == (
        "EXT-WEB-LEGAL-NOTICE",
        "pass",
        "found",
    )
