"""The run-wide probe memo: one probe per key across concurrent scans; failures are not remembered."""

from __future__ import annotations

import threading
import time

import pytest

from cyberscan.probememo import ProbeMemo


def test_concurrent_scans_asking_for_one_endpoint_probe_it_once() -> None:
    memo, calls, results = ProbeMemo(), [], []

    def probe() -> str:
        calls.append(1)
        time.sleep(0.2)  # long enough for the other threads to arrive while it runs
        return "facts"

    threads = [threading.Thread(target=lambda: results.append(memo.once("mx", probe, 5.0))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(calls), results, memo.misses, memo.hits) == (1, ["facts"] * 4, 1, 3)


def test_a_failed_probe_is_not_remembered() -> None:
    memo = ProbeMemo()

    def broken() -> str:
        raise OSError("connection reset")

    with pytest.raises(OSError):
        memo.once("mx", broken, 1.0)
    assert memo.once("mx", lambda: "second try", 1.0) == "second try"


def test_a_waiter_that_cannot_wait_longer_probes_itself() -> None:
    memo, started = ProbeMemo(), threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(1.0)
        return "slow"

    threading.Thread(target=lambda: memo.once("mx", slow, 5.0), daemon=True).start()
    started.wait(2)
    began = time.monotonic()
    assert memo.once("mx", lambda: "mine", 0.1) == "mine"  # its deadline is nearer than the other probe
    assert time.monotonic() - began < 0.8
