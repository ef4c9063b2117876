"""The terminal summary printed after a scan (rich); target-sent text is never read as markup."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..i18n import NOT_PROBED_REASONS, SEVERITY_LABELS, STATUS_LABELS, label
from ..models import Severity

_STYLE = {
    "fail": "bold red",
    "warn": "yellow",
    "error": "bold magenta",
    "pass": "green",
    "not_tested": "cyan",
    "not_applicable": "dim",
    "info": "blue",
}
_SHOWN = ("fail", "warn", "error", "not_tested")
_TEXT = {
    "fr": {
        "target": "Cible",
        "findings": "constats",
        "not_probed": "non sondé",
        "none": "Aucun problème relevé.",
    },
    "en": {
        "target": "Target",
        "findings": "findings",
        "not_probed": "not probed",
        "none": "No problem found.",
    },
}


def _sort_key(finding: Mapping[str, Any]) -> tuple[int, int, str, str]:
    status_rank = _SHOWN.index(finding["status"]) if finding["status"] in _SHOWN else len(_SHOWN)
    return (status_rank, -Severity(finding["severity"]).rank, finding["check_id"], finding["resource"])


def print_summary(report: Mapping[str, Any], console: Console) -> None:
    """Print per target the status counts and the findings that need attention."""
    lang = report["lang"]
    words = _TEXT.get(lang, _TEXT["fr"])
    for target in report["targets"]:
        counts = ", ".join(
            f"{n} {label(STATUS_LABELS, status, lang)}" for status, n in target["summary"].items() if n
        )
        console.print(
            Text.assemble((f"{words['target']} ", "bold"), (target["target"], "bold"), f"  ({counts})")
        )
        for item in target["not_probed"]:
            console.print(
                Text(
                    f"  {words['not_probed']}: {item['host']} {item['address']} — "
                    f"{label(NOT_PROBED_REASONS, item['reason'], lang)}",
                    "cyan",
                )
            )
        shown = sorted((f for f in target["findings"] if f["status"] in _SHOWN), key=_sort_key)
        if not shown:
            console.print(Text(f"  {words['none']}", "green"))
            continue
        table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
        for _ in range(3):
            table.add_column(no_wrap=True)
        # Fold rather than truncate: a cut URL or host name would be useless to the reader.
        table.add_column(overflow="fold")
        for finding in shown:
            status = finding["status"]
            table.add_row(
                Text(label(STATUS_LABELS, status, lang), _STYLE.get(status, "")),
                Text(label(SEVERITY_LABELS, finding["severity"], lang)),
                Text(finding["check_id"], "bold"),
                Text(finding["message"]),
            )
        console.print(table)
