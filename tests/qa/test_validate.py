"""validate on a store with every defect type seeded in known samples, next to clean synthetic faces."""

from __future__ import annotations

import json

import pytest

from animeparse import Dataset
from animeparse.demo.defects import DEFECT_CODES
from animeparse.errors import AnimeparseError
from animeparse.qa import CHECKS, QAConfig, Severity, validate

from . import defect_report, defects


def _found(code: str, where: str) -> bool:
    report = defect_report()
    if where.startswith(("images/", "masks/")):  # a file no sample row names
        return any(f.code == code and f.file == where for f in report.findings)
    return code in report.codes_of(where)


@pytest.mark.parametrize("code", sorted(DEFECT_CODES), ids=sorted(DEFECT_CODES))
def test_every_seeded_defect_is_found_on_its_sample(code):
    _, expected = defects()
    assert expected[code], f"nothing seeded for {code}"
    for where in expected[code]:
        got = sorted(defect_report().codes_of(where))
        assert _found(code, where), f"{code} not reported for {where} (found there: {got})"


def test_clean_samples_have_nothing_at_warning_or_above():
    _, expected = defects()
    clean = set(expected["clean"])
    assert len(clean) == 24
    flagged = [(f.sample, f.code, f.message) for f in defect_report().findings
               if f.sample in clean and f.severity.rank >= Severity.WARNING.rank]
    assert flagged == []


def test_store_level_findings_are_only_the_seeded_ones():
    """Findings without a sample: exactly the two orphan files (the card's convention matches the majority)."""
    assert sorted(f.file for f in defect_report().findings if f.sample is None) == \
        sorted(defects()[1]["orphan_file"])


def test_findings_name_their_file_and_carry_json_data():
    report = defect_report()
    assert report.count("error") and report.count("warning")
    for f in report.findings:
        assert f.check in CHECKS
        if f.file:
            assert f.file in f.message, f"{f.code}: message does not name {f.file}: {f.message}"
        assert "; " in f.message or ": " in f.message  # problem, then the fix
        json.dumps(f.data)


def test_report_json_summary_and_worst_samples():
    data = json.loads(json.dumps(defect_report().to_json()))
    assert data["counts"]["error"] == sum(r["count"] for r in data["summary"] if r["severity"] == "error")
    assert {r["code"] for r in data["summary"]} >= set(DEFECT_CODES)
    worst = data["worst_samples"]
    keys = [(-w["error"], -w["warning"]) for w in worst]
    assert keys == sorted(keys) and worst[0]["error"] >= 1
    assert data["stats"]["lr"]["subject"] > 30 and data["stats"]["lr"]["image"] == 1


def test_in_process_run_equals_worker_run():
    root, _ = defects()
    with Dataset.open(root) as ds:
        here = validate(ds, QAConfig(workers=0))
    assert [f.to_json() for f in here.findings] == [f.to_json() for f in defect_report().findings]


def test_progress_callback_and_skip():
    root, expected = defects()
    calls = []
    with Dataset.open(root) as ds:
        report = validate(ds, QAConfig(skip=("shapes", "layout", "duplicates")),
                          progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (report.samples, report.samples) and calls == sorted(calls)
    codes = {f.code for f in report.findings}
    assert not codes & {"fragment", "pinhole", "tiny_class", "part_outside_skin", "exact_duplicate"}
    assert "bit_rot" in codes and "shapes" not in report.checks


def test_unknown_check_name_is_refused():
    root, _ = defects()
    with Dataset.open(root) as ds, pytest.raises(AnimeparseError, match="unknown checks"):
        validate(ds, QAConfig(skip=("nope",)))


def test_layer_option_checks_that_layer():
    """The prelabel layer of the stale sample is a copy of its clean gt: checking it finds nothing wrong in it."""
    root, expected = defects()
    with Dataset.open(root) as ds:
        report = validate(ds, QAConfig(layer="prelabel/seed", workers=0))
    assert report.layer == "prelabel/seed"
    pixel_codes = {"fragment", "pinhole", "tiny_class", "label_order", "hair_below_neck", "part_outside_skin"}
    assert not {f.code for f in report.findings} & pixel_codes


def test_a_crashing_check_becomes_one_error_finding(monkeypatch):
    """Findings are data: a check that raises on a sample is reported, and the other checks still run."""
    import animeparse.qa as qa

    def boom(view, cfg):
        raise RuntimeError("kaput")
        yield  # pragma: no cover

    monkeypatch.setitem(qa.SAMPLE_CHECKS, "values", boom)
    root, expected = defects()
    with Dataset.open(root) as ds:
        report = validate(ds, QAConfig(workers=0, skip=("shapes", "layout", "label_order")))
    failed = [f for f in report.findings if f.code == "check_failed"]
    assert len(failed) == report.samples and all(f.check == "values" for f in failed)
    assert "RuntimeError('kaput')" in failed[0].message and "--skip values" in failed[0].message
    assert "bit_rot" in report.codes_of(expected["bit_rot"][0])
