"""Table-driven check tests shared by the family test modules: rows of facts and expected verdicts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from cyberscan.metadata import load_module_metadata
from cyberscan.models import Finding, Status
from cyberscan.plugin import Check, FactBag, Facts
from cyberscan.targets import parse_target

_MISSING = object()


@dataclasses.dataclass(frozen=True)
class Case:
    """One row: the facts, the expected (status, message_id), key params/evidence and check params."""

    facts: Facts
    status: Status
    message: str
    expect: dict[str, Any]
    params: dict[str, Any]


class CheckTable:
    """The metadata, target and row helpers of one family's table-driven tests."""

    def __init__(self, family: str, target: str, wrap: Callable[[Any], Facts]) -> None:
        self.meta = load_module_metadata("cyberscan.checks", family)
        self.target = parse_target(target)
        self._wrap = wrap  # turns one resource (host, endpoint) into the family's facts
        #: every case, by check ID: used to prove each declared message is exercised
        self.by_check: dict[str, list[Any]] = {}

    def cases(self, check: type[Check], *params: Any) -> list[Any]:
        self.by_check.setdefault(check.id, []).extend(params)
        return list(params)

    def case(
        self,
        case_id: str,
        facts: Any,
        status: Status,
        message: str,
        /,
        params: dict[str, Any] | None = None,
        **expect: Any,
    ) -> Any:
        """One row: facts (or one resource), the expected (status, message_id) and key params/evidence."""
        return pytest.param(Case(self._wrap(facts), status, message, expect, params or {}), id=case_id)

    def run(self, check: type[Check], facts: Facts, params: dict[str, Any] | None = None) -> list[Finding]:
        meta = self.meta[check.id]
        instance = check(meta, {**meta.params, **(params or {})}, self.target)
        return list(instance.evaluate(FactBag([facts])))

    def verify(self, check: type[Check], row: Case) -> Finding:
        found = self.run(check, row.facts, row.params)
        assert len(found) == 1, [(x.status, x.message_id, x.resource) for x in found]
        finding = found[0]
        assert (finding.status, finding.message_id) == (row.status, row.message)
        for key, wanted in row.expect.items():
            if key == "severity":
                actual: Any = finding.severity
            elif key == "resource":
                actual = finding.resource
            elif key == "error_kind":
                actual = finding.error.kind if finding.error else None
            elif key in finding.params:
                actual = finding.params[key]
            else:
                actual = finding.evidence.get(key, _MISSING)
            if callable(wanted):
                assert wanted(actual), f"{key}={actual!r}"
            else:
                assert actual == wanted, f"{key}={actual!r}"
        return finding
