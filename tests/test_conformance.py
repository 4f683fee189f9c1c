"""Conformance over FORMATS (Datumaro's idea): every format with a writer round-trips a store pixel-exactly
through write -> detect -> read. The export issue adds writers; each joins this suite by existing."""

import numpy as np
import pytest
from PIL import Image

from animeparse import Dataset, MaskInput, load_labelmap
from animeparse.formats import FORMATS, detect_format
from animeparse.ingest import IngestConfig, ingest
from animeparse.synth import generate_face

WRITERS = sorted(name for name, mod in FORMATS.items() if hasattr(mod, "write"))
LOSSLESS = {"index-folder", "palette"}


def test_suite_is_not_empty():
    assert {"index-folder", "palette"} <= set(WRITERS)


@pytest.fixture(scope="module")
def source_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("conf")
    ds = Dataset.create(root / "store", labelmap=load_labelmap("danbooru-parsing"))
    for i in range(4):
        image, mask = generate_face(3, i, size=80)
        if i == 1:
            mask[:5, :5] = 255  # an ignore region must survive too
        ext = (".png", ".jpg", ".webp", ".bmp")[i]
        path = root / f"img{i}{ext}"
        Image.fromarray(image).save(path, **({"quality": 95} if ext == ".jpg" else {}))
        ds.add_sample(path, masks={"gt": MaskInput(mask)})
    ds.close()
    return root / "store"


@pytest.mark.parametrize("name", WRITERS)
def test_write_detect_read_roundtrip(tmp_path, source_store, name):
    with Dataset.open(source_store) as src:
        FORMATS[name].write(src, tmp_path / "out")
        expected = {s.name: (src.read_image(s), src.read_mask(s.id)) for s in src.samples()}
        labelmap = src.labelmap
    assert detect_format(tmp_path / "out") == name
    with Dataset.create(tmp_path / "back", labelmap=labelmap) as back:
        report = ingest(back, tmp_path / "out", IngestConfig(workers=0, near_dup_bits=-1))
        assert report.format == name and report.added == len(expected)
        for s in back.samples():
            image, mask = expected[s.name]
            assert np.array_equal(back.read_image(s), image), s.name
            if name in LOSSLESS:
                assert np.array_equal(back.read_mask(s.id), mask), s.name


@pytest.mark.parametrize("name", WRITERS)
def test_writer_refuses_non_empty_output_and_leaves_no_temp(tmp_path, source_store, name):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with Dataset.open(source_store) as src, pytest.raises(Exception, match="not empty"):
        FORMATS[name].write(src, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
