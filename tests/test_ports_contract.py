"""The ports collector and the SVC checks agree on greeting probe keys and values."""

from __future__ import annotations

import pytest
from cyberscan.checks import services

from cyberscan.collectors.ports import rdp_verdict

_HYBRID, _SSL, _RDP = 2, 1, 0


@pytest.mark.parametrize(
    ("first", "tls_only", "nla_required"),
    [
        (("rsp", _HYBRID), ("failure", 5), True),  # HYBRID_REQUIRED_BY_SERVER on the TLS-only retry
        (("rsp", _HYBRID), ("rsp", _SSL), False),  # accepts TLS alone as well
        (("rsp", _HYBRID), None, None),  # retry not made: cannot tell
        (("rsp", _SSL), None, False),
        (("rsp", _RDP), None, False),
        (("bare", None), None, False),
        (("none", None), None, None),
    ],
)
def test_rdp_verdicts_of_the_collector_are_understood_by_the_check(
    first: tuple[str, int | None], tls_only: tuple[str, int | None] | None, nla_required: bool | None
) -> None:
    probes = rdp_verdict(first, tls_only)
    assert services._nla_required(probes["rdp_negotiation"]) is nla_required


def test_vnc_key_matches_the_collector() -> None:
    import inspect

    import cyberscan.collectors.ports as ports

    assert f'"{services.ProbeKey.VNC_SECURITY}"' in inspect.getsource(ports)
