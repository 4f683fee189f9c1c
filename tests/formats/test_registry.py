"""The one format registry: every entry's descriptor agrees with its key and with what its module offers, and the
views (readers, writers, the export engine's names) come from it."""

from __future__ import annotations

import pytest

from animeparse.export import EXPORTERS
from animeparse.formats import FORMATS, READERS, WRITERS, FormatSpec
from animeparse.formats.writing import ExportConfig

from ..test_conformance import EXPORT_READERS, LOSSLESS


@pytest.mark.parametrize("name", list(FORMATS))
def test_descriptor_matches_module(name):
    module = FORMATS[name]
    spec = module.FORMAT
    assert isinstance(spec, FormatSpec) and spec.name == name == module.NAME
    assert spec.reads or spec.writes
    if spec.reads:
        assert callable(module.detect) and callable(module.read)
    if spec.writes and spec.manifest_only:
        assert callable(module.write_manifest)
    elif spec.writes:
        assert all(callable(getattr(module, f)) for f in ("image_relpath", "work", "open_sink"))
    assert spec.read_by is None or spec.read_by in READERS
    assert spec.options <= {f for f in ExportConfig.__dataclass_fields__}


def test_views_come_from_the_registry():
    assert {n: m for n, m in FORMATS.items() if m.FORMAT.reads} == READERS
    assert {n: m for n, m in FORMATS.items() if m.FORMAT.writes} == WRITERS
    assert EXPORTERS is WRITERS


def test_descriptors_agree_with_the_conformance_tables():
    """read_by and lossless say what tests/test_conformance.py checks by round trip."""
    for name, (reader, lossless) in EXPORT_READERS.items():
        spec = FORMATS[name].FORMAT
        assert (spec.read_by, spec.lossless) == (reader, lossless), name
    for name in LOSSLESS & WRITERS.keys():
        assert FORMATS[name].FORMAT.lossless, name
    assert {n for n, m in WRITERS.items() if not m.FORMAT.manifest_only} == set(EXPORT_READERS)


def test_each_option_belongs_to_one_writer():
    owners: dict[str, str] = {}
    for name, module in WRITERS.items():
        for option in module.FORMAT.options:
            assert option not in owners, f"{option} in {owners.get(option)} and {name}"
            owners[option] = name
    assert set(owners) == {"instances", "polygons", "include_background", "info", "palette_mode", "ls_as", "class_line"}
