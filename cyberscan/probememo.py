"""A run-wide memo of endpoint probes: in fleet mode, a mail server or TLS endpoint shared by many
communes (the syndicat's mail platform, a hoster's web server) is probed once per run, not once per
commune that points at it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ProbeMemo:
    """Results of endpoint probes by key; a key being probed by one scan is awaited by the others.

    Keys must hold everything the result depends on (address, port, protocol, options, and whether
    active probes were allowed), so that a reused result is exactly what the second scan would get.
    A probe that raises is not remembered: the next scan asking for it probes again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[Hashable, Any] = {}
        self._running: dict[Hashable, threading.Event] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        """The remembered result of `key`, or None (counts a hit when found)."""
        with self._lock:
            if key in self._results:
                self.hits += 1
                return self._results[key]
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._results[key] = value
            self.misses += 1

    def once(self, key: Hashable, probe: Callable[[], T], wait: float) -> T:
        """`probe()`'s result for `key`, probing only if no other scan has or is: waits up to `wait`
        seconds for a probe in flight elsewhere, then probes itself rather than miss its deadline."""
        while True:
            with self._lock:
                if key in self._results:
                    self.hits += 1
                    result: T = self._results[key]
                    return result
                running = self._running.get(key)
                if running is None:
                    mine = threading.Event()
                    self._running[key] = mine
            if running is None:
                break
            if not running.wait(timeout=max(0.0, wait)):
                return probe()  # the other scan is too slow for our deadline: probe ourselves
        try:
            value = probe()
            with self._lock:
                self._results[key] = value
                self.misses += 1
            return value
        finally:
            with self._lock:
                self._running.pop(key, None)
            mine.set()
