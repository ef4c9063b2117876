"""Small fake facts, collectors and checks for engine tests (no network)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from cyberscan.metadata import parse_check_meta
from cyberscan.models import ErrorKind, Finding, Status
from cyberscan.plugin import Check, Collector, CollectorContext, CollectorError, FactBag, Facts
from cyberscan.registry import RegisteredCheck, Registry
from cyberscan.targets import Target


@dataclass(frozen=True)
class CountFacts(Facts):
    kind: ClassVar[str] = "count"
    value: int = 0
    target: str = ""


@dataclass(frozen=True)
class SlowFacts(Facts):
    kind: ClassVar[str] = "slow"
    value: int = 0


class CountCollector(Collector):
    """Counts calls; misbehaves on purpose for some target names."""

    name = "count"
    provides = CountFacts
    defaults: ClassVar[dict[str, Any]] = {"value": 3}
    calls: ClassVar[list[str]] = []

    def collect(self, target: Target, ctx: CollectorContext) -> Facts:
        CountCollector.calls.append(target.name)
        if target.name.startswith("timeout."):
            raise CollectorError(ErrorKind.TIMEOUT, "no answer within 1 s")
        if target.name.startswith("crash."):
            raise ValueError("boom")
        return CountFacts(value=int(ctx.settings["value"]), target=target.name)


class SlowCollector(Collector):
    """Sleeps past any reasonable deadline."""

    name = "slow"
    provides = SlowFacts
    started: ClassVar[int] = 0

    def collect(self, target: Target, ctx: CollectorContext) -> Facts:
        SlowCollector.started += 1
        time.sleep(3)
        return SlowFacts(1)


def meta(check_id: str, **extra: Any) -> Any:
    raw = {
        "severity": "high",
        "title": {"fr": "Titre", "en": "Title"},
        "rationale": {"fr": "Pourquoi", "en": "Why"},
        "remediation": {"fr": "Corriger", "en": "Fix"},
        "references": [{"label": "RFC 0"}],
        "messages": {
            "ok": {"fr": "Bien : {value}", "en": "Good: {value}"},
            "bad": {"fr": "Mauvais : {value}", "en": "Bad: {value}"},
        },
        **extra,
    }
    return parse_check_meta(check_id, raw)


class AtLeast(Check):
    """PASS when the count is at least `minimum`, FAIL otherwise."""

    id = "TST-COUNT-MIN"
    requires = (CountFacts,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        value = facts.get(CountFacts).value
        ok = value >= int(self.params["minimum"])
        yield self.finding(
            Status.PASS if ok else Status.FAIL, self.target.name, "ok" if ok else "bad", value=value
        )


class Raises(Check):
    """Always raises: a check bug."""

    id = "TST-RAISES"
    requires = (CountFacts,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        raise RuntimeError("check bug")


class Silent(Check):
    """Yields nothing: must still show up as an error."""

    id = "TST-SILENT"
    requires = (CountFacts,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        return iter(())


class NeedsSlow(Check):
    """Needs the slow collector."""

    id = "TST-SLOW"
    requires = (SlowFacts,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        yield self.finding(Status.PASS, self.target.name, "ok", value=facts.get(SlowFacts).value)


def fake_registry(*checks: type[Check]) -> Registry:
    registry = Registry()
    registry.collectors = {CountFacts: CountCollector, SlowFacts: SlowCollector}
    for cls in checks or (AtLeast, Raises, Silent, NeedsSlow):
        extra = {"params": {"minimum": 2}} if cls is AtLeast else {}
        registry.checks[cls.id] = RegisteredCheck(cls, meta(cls.id, **extra), "builtin")
    return registry
