"""ISO 8601 instants as facts carry them (`collected_at`, certificate and RRSIG dates), parsed leniently."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_instant(text: str | None) -> datetime | None:
    """An ISO 8601 instant (a trailing Z allowed); naive means UTC; None when absent or unreadable.

    The "Z" is replaced because `datetime.fromisoformat` only accepts it from Python 3.11 on.
    """
    if not text or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def utc_day(moment: datetime) -> str:
    """The UTC calendar day of `moment`, e.g. "2026-11-23" (what reports show)."""
    return moment.astimezone(timezone.utc).date().isoformat()
