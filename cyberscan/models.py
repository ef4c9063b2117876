"""Result models: statuses, severities, findings, collector runs and the scan report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Status(str, Enum):
    """Verdict vocabulary of the checklist; only pass, warn and fail are scored."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"
    NOT_APPLICABLE = "not_applicable"
    NOT_TESTED = "not_tested"
    ERROR = "error"

    @property
    def scored(self) -> bool:
        return self in (Status.PASS, Status.WARN, Status.FAIL)


class Severity(str, Enum):
    """Severity scale of the checklist (§0.3)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical = 4 … info = 0."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class ErrorKind(str, Enum):
    """Why the scanner could not decide: carried by every `error` finding."""

    TIMEOUT = "timeout"
    DEADLINE = "deadline"
    UNREACHABLE = "unreachable"
    DNS_FAILURE = "dns_failure"
    TLS_HANDSHAKE = "tls_handshake"
    PROTOCOL = "protocol"
    TOOL_MISSING = "tool_missing"
    PERMISSION = "permission"
    NO_FACTS = "no_facts"
    BUG = "bug"


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong, where: `source` is a collector name or a check ID."""

    kind: ErrorKind
    detail: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "detail": self.detail, "source": self.source}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorInfo:
        # Bounded like any other text from a file the user may have received from elsewhere.
        return cls(ErrorKind(data["kind"]), str(data["detail"])[:2000], str(data["source"])[:100])


@dataclass(frozen=True)
class Finding:
    """One verdict of one check on one resource of one target (language-neutral)."""

    check_id: str
    target: str
    resource: str
    status: Status
    severity: Severity
    message_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    evidence: Mapping[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None

    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.target, self.check_id, self.resource, self.message_id)


class RunStatus(str, Enum):
    """Outcome of one collector for one target."""

    OK = "ok"
    ERROR = "error"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class CollectorRun:
    """How one collector fared on one target."""

    name: str
    status: RunStatus
    duration_s: float
    error: ErrorInfo | None = None


@dataclass(frozen=True)
class NotProbed:
    """An address the scope boundary kept active probes away from, and why."""

    host: str
    address: str
    #: a code ("out_of_scope"), worded in the report's language by i18n.NOT_PROBED_REASONS
    reason: str


@dataclass(frozen=True)
class TargetResult:
    """Everything a scan learned about one target."""

    target: str
    kind: str
    collector_runs: tuple[CollectorRun, ...]
    findings: tuple[Finding, ...]
    not_probed: tuple[NotProbed, ...] = ()
