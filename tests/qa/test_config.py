"""QAConfig: defaults, validation, JSON and TOML files; findings and the report's text."""

from __future__ import annotations

import pytest

from animeparse.errors import AnimeparseError
from animeparse.qa import Finding, QAConfig, QAReport, Severity, load_config


@pytest.mark.parametrize("text,suffix,expected", [
    ('{"min_fragment_px": 32, "lr_majority": 0.7}', ".json", {"min_fragment_px": 32, "lr_majority": 0.7}),
    ("min_pinhole_px = 3\nskip = ['layout']\n", ".toml", {"min_pinhole_px": 3, "skip": ("layout",)}),
    ("[validate]\nmax_ignore_share = 1\nlayer = 'prelabel/r1'\n", ".toml",
     {"max_ignore_share": 1.0, "layer": "prelabel/r1"}),
], ids=["json", "toml-top-level", "toml-table"])
def test_load_config(tmp_path, text, suffix, expected):
    path = tmp_path / f"qa{suffix}"
    path.write_text(text)
    cfg = load_config(path)
    for key, value in expected.items():
        assert getattr(cfg, key) == value
    assert cfg.near_dup_bits == QAConfig().near_dup_bits  # the rest stays default


@pytest.mark.parametrize("text,message", [
    ('{"min_fragment": 3}', "unknown config keys ['min_fragment']; valid keys: layer, fail_on"),
    ('{"min_fragment_px": 2.5}', "must be a int"),
    ('{"lr_majority": 1.5}', "lr_majority must be a share between 0 and 1"),
    ('{"fail_on": "info"}', "fail_on must be 'error' or 'warning'"),
    ('{"skip": "layout"}', "must be a list of strings"),
    ("[1, 2]", "must hold an object"),
    ("{not json", "not valid JSON"),
], ids=["unknown-key", "wrong-type", "out-of-range", "bad-choice", "skip-not-list", "not-object", "bad-json"])
def test_bad_config_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "qa.json"
    path.write_text(text)
    with pytest.raises(AnimeparseError, match="qa.json") as err:
        load_config(path)
    assert message in str(err.value)


def test_config_defaults_are_documented_and_frozen():
    cfg = QAConfig()
    assert (cfg.layer, cfg.fail_on, cfg.min_fragment_px, cfg.max_pinhole_px, cfg.min_class_px) == \
        ("gt", "error", 64, 64, 8)
    with pytest.raises(AttributeError):
        cfg.layer = "x"  # type: ignore[misc]
    with pytest.raises(AnimeparseError, match="min_class_px must be >= 0"):
        QAConfig(min_class_px=-1)


def test_report_failed_and_render():
    findings = [Finding(Severity.WARNING, "pinhole", "b", "mask masks/gt/b.png has a hole; fill it",
                        file="masks/gt/b.png", check="shapes"),
                Finding(Severity.ERROR, "bit_rot", "a", "images/a.png: changed; restore it", file="images/a.png",
                        check="integrity"),
                Finding(Severity.INFO, "note", None, "for the record: nothing to do", check="files")]
    report = QAReport(store="ds", layer="gt", samples=2, checks=["integrity", "shapes", "files"], config={},
                      findings=findings)
    assert [f.code for f in report.findings] == ["bit_rot", "pinhole", "note"]  # errors first
    assert report.failed("error") and report.failed("warning")
    assert not QAReport("ds", "gt", 2, [], {}, findings[:1]).failed("error")
    assert QAReport("ds", "gt", 2, [], {}, findings[:1]).failed("warning")
    text = report.render(limit=1)
    assert "1 errors, 1 warnings, 1 info" in text and "... and 2 more" in text
    assert text.index("integrity") < text.index("shapes")
    assert [w["sample"] for w in report.worst_samples()] == ["a", "b"]
