"""Facts round-trip through JSON, and wrong shapes are refused with a clear error."""

from dataclasses import dataclass
from typing import ClassVar

import pytest

from cyberscan.plugin import Facts
from cyberscan.serialization import FactsDecodeError


@dataclass(frozen=True)
class Inner:
    name: str
    port: int | None = None


@dataclass(frozen=True)
class SampleFacts(Facts):
    kind: ClassVar[str] = "sample"
    items: tuple[Inner, ...] = ()
    scores: dict[str, float] | None = None
    flags: tuple[tuple[str, str], ...] = ()


def test_round_trip() -> None:
    facts = SampleFacts((Inner("a", 443), Inner("b")), {"x": 1.5}, (("k", "v"),))
    assert SampleFacts.from_json(facts.to_json()) == facts


@pytest.mark.parametrize(
    "data",
    [
        {"items": [{"port": 1}]},
        {"items": "nope"},
        {"items": [{"name": "a", "port": "443"}]},
        {"scores": {"x": "high"}},
    ],
)
def test_wrong_shapes_raise(data: object) -> None:
    with pytest.raises(FactsDecodeError):
        SampleFacts.from_json(data)
