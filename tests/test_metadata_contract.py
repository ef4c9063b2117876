"""Contract of every built-in check: catalogue ID, fr/en metadata, docstring, usable parameters."""

from __future__ import annotations

import re

import pytest

from cyberscan.checklist import load_checklist
from cyberscan.metadata import ASSETS, EFFORTS, placeholders
from cyberscan.registry import RegisteredCheck, load_registry

REGISTRY = load_registry(load_plugins=False)
CHECKS = list(REGISTRY.checks.values())


@pytest.mark.parametrize("reg", CHECKS, ids=lambda r: r.id)
def test_check_is_in_the_catalogue_and_documented(reg: RegisteredCheck) -> None:
    assert reg.id in load_checklist().check_ids
    assert reg.meta.family == reg.id.split("-")[0]
    assert reg.cls.__doc__ and reg.cls.__doc__.strip(), "one-line docstring stating the verdicts"
    assert reg.cls.requires, "a check must say which facts it judges"
    for facts in reg.cls.requires:
        assert REGISTRY.collector_for(facts) is not None, f"no collector provides {facts.kind}"


@pytest.mark.parametrize("reg", CHECKS, ids=lambda r: r.id)
def test_prose_exists_in_both_languages_and_reads_as_a_desired_state(reg: RegisteredCheck) -> None:
    meta = reg.meta
    for text in (meta.title, meta.rationale, meta.remediation, *meta.messages.values()):
        assert text.fr.strip() and text.en.strip()
    assert not re.match(r"(?i)^(vérifier|ensure|check)\b", meta.title.fr + " " + meta.title.en)
    assert meta.title.fr != meta.title.en
    for message in meta.messages.values():
        assert placeholders(message.fr) == placeholders(message.en)
    assert meta.references and all(r.label.strip() for r in meta.references)


@pytest.mark.parametrize("reg", CHECKS, ids=lambda r: r.id)
def test_collector_requests_work_with_default_params(reg: RegisteredCheck) -> None:
    requests = list(reg.cls.collector_requests(reg.meta.params))
    keys = [getattr(r, "key", None) for r in requests]
    assert len(keys) == len(set(keys)), "probe keys must be unique"


@pytest.mark.parametrize("reg", CHECKS, ids=lambda r: r.id)
def test_check_declares_its_effort_class_and_asset(reg: RegisteredCheck) -> None:
    # The report says who acts (the asset's owner) and how much fixing costs: both come from here.
    assert reg.meta.effort in EFFORTS, f"effort = one of {EFFORTS}"
    assert reg.meta.asset in ASSETS, f"asset = one of {ASSETS}"


def test_catalogue_has_the_five_areas_and_eighty_checks() -> None:
    checklist = load_checklist()
    assert [a.code for a in checklist.areas] == ["TLS", "DNS", "MAIL", "SVC", "WEB"]
    assert len(checklist.check_ids) == 80
    implemented = {cid for cid in REGISTRY.checks if cid.startswith("WEB-")}
    assert implemented == {cid for cid in checklist.check_ids if cid.startswith("WEB-")} - {
        "WEB-TRACKERS-CONSENT"
    }
