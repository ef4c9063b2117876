"""Builders of recorded DNS snapshots for pure check tests: a zone as a dict, the rest defaulted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from cyberscan.collectors.dns_facts import DnsAnswer, DnsSnapshot, Outcome

COLLECTED_AT = "2026-11-01T12:00:00+00:00"

#: a zone: {(name, rdtype): records}; an empty list records NODATA; a key missing is not asked,
#: unless the name is listed in `nxdomain`, or the pair in `outcomes`
Zone = Mapping[tuple[str, str], Iterable[str]]


def answer(name: str, rdtype: str, *records: str, outcome: Outcome | None = None, ttl: int = 3600) -> DnsAnswer:
    """One recorded query; NOERROR with records, NODATA without, unless `outcome` says otherwise."""
    status = outcome or (Outcome.NOERROR if records else Outcome.NODATA)
    return DnsAnswer(name, rdtype, status, ttl if status is Outcome.NOERROR else None, tuple(records))


def snapshot(
    domain: str = "mairie.fr",
    zone: Zone | None = None,
    nxdomain: Iterable[tuple[str, str]] = (),
    outcomes: Mapping[tuple[str, str], Outcome] | None = None,
    **overrides: Any,
) -> DnsSnapshot:
    """A snapshot whose queries are `zone` (NOERROR/NODATA), `nxdomain` pairs and failed `outcomes`."""
    queries = [answer(name, rdtype, *records) for (name, rdtype), records in (zone or {}).items()]
    queries += [answer(name, rdtype, outcome=Outcome.NXDOMAIN) for name, rdtype in nxdomain]
    queries += [answer(name, rdtype, outcome=o) for (name, rdtype), o in (outcomes or {}).items()]
    base = DnsSnapshot(
        domain=domain,
        zone=domain,
        queries=tuple(queries),
        resolver="127.0.0.1:53",
        collected_at=COLLECTED_AT,
    )
    return replace(base, **overrides)
