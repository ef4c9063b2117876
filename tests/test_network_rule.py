"""The suite's own network rule (conftest): nothing but loopback and test namespaces is reachable."""

from __future__ import annotations

import socket

import pytest
from conftest import _network_violations


def test_a_connection_outside_loopback_is_refused_before_any_packet() -> None:
    refused = pytest.raises(OSError, match="network rule")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, refused:
        sock.sendto(b"x", ("192.0.2.1", 53))  # TEST-NET-1: would never be answered anyway
    refused = pytest.raises(OSError, match="network rule")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, refused:
        sock.connect(("192.0.2.1", 443))
    assert _network_violations[-2:] == ["sendto to ('192.0.2.1', 53)", "connect to ('192.0.2.1', 443)"]
    del _network_violations[-2:]  # expected here: do not fail this test in the autouse check


def test_loopback_stays_reachable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2) as client:
            assert client.getpeername() == server.getsockname()
