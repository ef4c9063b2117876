"""The plugin API: Facts, Check and Collector, the only names a check family needs to import."""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .bounds import MAX_RESOURCE, bound_evidence, bound_params, clip
from .i18n import ENGINE_MESSAGES
from .metadata import CheckMeta, placeholders
from .models import ErrorInfo, ErrorKind, Finding, Severity, Status
from .net.guard import NetworkGuard
from .probememo import ProbeMemo
from .serialization import from_jsonable, to_jsonable
from .targets import Target

F = TypeVar("F", bound="Facts")


class Facts:
    """Base class of the frozen dataclasses a collector produces; they must round-trip through JSON."""

    kind: ClassVar[str]

    def to_json(self) -> Any:
        return to_jsonable(self)

    @classmethod
    def from_json(cls: type[F], data: Any) -> F:
        return from_jsonable(cls, data)


class MissingFacts(LookupError):
    """A check asked for facts that are not in the bag (its collector failed or was not run)."""


class FactBag:
    """The facts gathered for one target, keyed by their type."""

    def __init__(self, facts: Iterable[Facts] = ()) -> None:
        self._facts: dict[type[Facts], Facts] = {type(f): f for f in facts}

    def get(self, kind: type[F]) -> F:
        try:
            found = self._facts[kind]
        except KeyError:
            raise MissingFacts(kind.kind) from None
        assert isinstance(found, kind)
        return found

    def __contains__(self, kind: object) -> bool:
        return kind in self._facts


class CollectorError(Exception):
    """An expected collector failure (timeout, unreachable, tool missing): becomes `error` findings."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass
class CollectorContext:
    """What the engine hands a collector: its settings, time budget and the network boundary."""

    settings: Mapping[str, Any]
    timeout: float
    deadline: float
    guard: NetworkGuard
    user_agent: str
    ca_bundle: Path | None = None
    requests: tuple[Any, ...] = field(default_factory=tuple)
    #: run-wide memo of endpoint probes (fleet mode); None for a single scan
    memo: ProbeMemo | None = None

    def remaining(self) -> float:
        """Seconds left before the target's deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def op_timeout(self) -> float:
        """Timeout for the next network operation: the per-operation timeout, capped by the deadline."""
        remaining = self.remaining()
        if remaining <= 0:
            raise CollectorError(ErrorKind.DEADLINE, "the target's scan deadline has passed")
        return min(self.timeout, remaining)


class Collector(ABC):
    """Gathers one kind of facts about a target, once. Does all the I/O; must honour its timeouts."""

    name: ClassVar[str]
    provides: ClassVar[type[Facts]]
    #: configurable settings and their defaults; the default's type is the accepted type
    defaults: ClassVar[Mapping[str, Any]] = {}

    @abstractmethod
    def collect(self, target: Target, ctx: CollectorContext) -> Facts:
        """Return complete facts or raise CollectorError. Per-datum failures go inside the facts."""


class Check(ABC):
    """One checklist item: a pure function from facts to findings. No I/O, no clock, no globals."""

    id: ClassVar[str]
    requires: ClassVar[tuple[type[Facts], ...]]
    #: reference data the check needs, by parameter: {"catalogue": "edge_vulns.json"}. The engine loads
    #: the user's updated copy (`cyberscan data update`) or the packaged file and passes its parsed JSON
    #: as that parameter, unless the configuration sets it.
    data_files: ClassVar[Mapping[str, str]] = {}

    @classmethod
    def validate_data(cls, param: str, data: Any) -> None:
        """Raise ValueError when `data` is not a valid content for `param` (used before installing it)."""
        return None  # a check without data files accepts anything

    def __init__(
        self,
        meta: CheckMeta,
        params: Mapping[str, Any],
        target: Target,
        severity_forced: bool = False,
    ) -> None:
        self.meta = meta
        self.params = params
        self.target = target
        self.severity_forced = severity_forced

    @classmethod
    def collector_requests(cls, params: Mapping[str, Any]) -> Iterable[Any]:
        """Extra work this check needs from its collectors (e.g. HTTP paths to probe)."""
        return ()

    @abstractmethod
    def evaluate(self, facts: FactBag) -> Iterable[Finding]:
        """Yield at least one finding per resource examined. Raise only on bugs."""

    def finding(
        self,
        status: Status,
        resource: str,
        message_id: str,
        /,
        evidence: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
        **params: Any,
    ) -> Finding:
        """Build a finding; a message ID or placeholder missing from the metadata is a loud bug."""
        message = self.meta.messages.get(message_id) or ENGINE_MESSAGES.get(message_id)
        if message is None:
            raise KeyError(f"{self.id}: no message {message_id!r} in metadata")
        missing = placeholders(message.fr) - set(params)
        if missing:
            raise KeyError(f"{self.id}: message {message_id!r} needs params {sorted(missing)}")
        # A severity set by the user in config wins over the branch severity a check may choose.
        effective = self.meta.severity if self.severity_forced or severity is None else severity
        return Finding(
            check_id=self.id,
            target=self.target.name,
            resource=clip(resource, MAX_RESOURCE),
            status=status,
            severity=effective,
            message_id=message_id,
            params=bound_params(params),
            evidence=bound_evidence(evidence or {}),
        )

    def error(self, resource: str, kind: ErrorKind, detail: str) -> Finding:
        """An `error` finding: the check could not decide for `resource` (host dead, datum missing…)."""
        finding = self.finding(Status.ERROR, resource, "error", detail=detail)
        return dataclasses.replace(finding, error=ErrorInfo(kind, finding.params["detail"], self.id))

    def out_of_scope(self, resource: str, host: str) -> Finding:
        """A `not_tested` finding: the probe this check needs is active and `host` is outside the scope."""
        return self.finding(Status.NOT_TESTED, resource, "out_of_scope", host=host)
