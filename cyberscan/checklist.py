"""The checklist catalogue shipped with cyberscan: its identity, areas and stable check IDs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from ._compat import tomllib
from .metadata import Localized


@dataclass(frozen=True)
class Area:
    """One scored area of the checklist (TLS, DNS, MAIL, SVC, WEB) and its check IDs."""

    code: str
    title: Localized
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Checklist:
    """The catalogue: every check ID cyberscan knows, implemented or not yet."""

    id: str
    version: str
    title: Localized
    areas: tuple[Area, ...]

    @property
    def check_ids(self) -> frozenset[str]:
        return frozenset(cid for area in self.areas for cid in area.checks)


@cache
def load_checklist() -> Checklist:
    """Load the catalogue from the package data."""
    text = resources.files("cyberscan").joinpath("data/checklist.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    areas = tuple(
        Area(code, Localized(**raw["title"]), tuple(raw["checks"])) for code, raw in data["areas"].items()
    )
    return Checklist(data["id"], data["version"], Localized(**data["title"]), areas)
