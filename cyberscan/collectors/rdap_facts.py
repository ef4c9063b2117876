"""Facts gathered by the RDAP collector: the registry's view of the registered domain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..plugin import Facts


@dataclass(frozen=True)
class RdapFacts(Facts):
    """Registration data of one registered domain (RFC 9083 domain object, distilled)."""

    kind: ClassVar[str] = "rdap"
    #: the registered domain queried ("mairie-x.fr" for target "www.mairie-x.fr"); "" for IP targets
    domain: str = ""
    #: the RDAP URL queried
    url: str | None = None
    #: "ok", "not_found" (404: the domain is not registered), "unreachable" (no RDAP service could be
    #: reached or it timed out: checks say not_tested), "unsupported" (no RDAP base URL for this TLD),
    #: "invalid" (an answer that is not an RDAP domain object), "skipped" (IP target)
    outcome: str = "skipped"
    detail: str | None = None
    #: event dates, ISO 8601 UTC, from the "events" array
    registration: str | None = None
    expiration: str | None = None
    last_changed: str | None = None
    #: RDAP status values, lower case as RFC 8056 maps EPP ("client transfer prohibited", …)
    statuses: tuple[str, ...] = ()
    registrar: str | None = None
    #: when the facts were collected (ISO 8601 UTC)
    collected_at: str = ""
