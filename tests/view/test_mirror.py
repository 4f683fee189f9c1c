"""The FiftyOne-free parts of the bridge: field names, mask targets, fingerprints, the database folder, the
missing-dependency error, the ``view`` group's argument parsing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from click.testing import CliRunner

from animeparse import Dataset, MaskInput, MissingDependencyError
from animeparse.cli.main import cli
from animeparse.errors import AnimeparseError
from animeparse.view import ENV_DB_DIR, layer_field, mask_targets, resolve_db_dir
from animeparse.view.mirror import fingerprint, primary_prelabel, read_store

from .conftest import make_store, stripes


@pytest.mark.parametrize("layer,field", [("gt", "gt"), ("prelabel/run-1", "prelabel_run_1"),
                                         ("pseudo/a.b", "pseudo_a_b"), ("split", "split_mask")],
                         ids=["gt", "prelabel", "dots", "reserved"])
def test_layer_field(layer, field):
    assert layer_field(layer) == field


def test_mask_targets_are_class_ids_without_background(labelmap):
    targets = mask_targets(labelmap)
    assert targets[1] == "skin" and targets[17] == "hair" and targets[255] == "ignore"
    assert "background" not in targets.values() and len(targets) == len(labelmap.classes)


def test_disagreement_marks_gt_class_where_the_prelabel_differs():
    from animeparse.view.masks import PRE_ONLY, disagreement

    gt = np.array([[0, 0, 1, 1, 255], [17, 17, 16, 16, 255]], np.uint8)
    pre = np.array([[0, 1, 1, 17, 3], [17, 0, 16, 255, 255]], np.uint8)
    assert disagreement(pre, gt).tolist() == [[0, PRE_ONLY, 0, 1, 0], [0, 17, 0, 16, 0]]
    with pytest.raises(ValueError, match="5x2"):
        disagreement(pre, gt[:, :4])


def test_mask_copy_is_single_channel_with_the_ids(tmp_path):
    from PIL import Image

    from animeparse.view.masks import copy_path, stale_files, write_index_png

    mask = np.array([[0, 1, 17], [255, 16, 0]], np.uint8)
    path = write_index_png(copy_path(tmp_path / "m", "abc", "gt", "f" * 64), mask)
    assert path.name == "abc.gt.ffffffffffffffff.png"
    with Image.open(path) as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), mask)
    other = write_index_png(tmp_path / "m" / "old.png", mask)
    assert stale_files(tmp_path / "m", {str(path)}) == [other]


def test_primary_prelabel_is_the_latest_run():
    assert primary_prelabel(["gt", "prelabel/parser-20260101", "prelabel/parser-20260301", "pseudo/x"]) == \
        "prelabel/parser-20260301"
    assert primary_prelabel(["gt"]) is None


def test_fingerprint_follows_masks_split_and_findings_not_tags(tmp_path, labelmap):
    root = tmp_path / "store"
    (sid,) = make_store(root, labelmap, [{"gt": stripes((16, 24), (0, 1))}])

    def current(**kw):
        with Dataset.open(root) as ds:
            snap = read_store(ds, findings=False, **kw)
            return fingerprint(snap, sid, root=str(root), labelmap_sha=labelmap.sha256)

    first = current()
    assert current() == first
    with Dataset.open(root, write=True) as ds:
        ds.add_tags(sid, ["needs-fix"])  # tags are compared on their own (pull-tags writes them)
    assert current() == first
    with Dataset.open(root, write=True) as ds:
        ds.set_split([sid], "val")
    second = current()
    assert second != first
    with Dataset.open(root, write=True) as ds:
        ds.put_mask(sid, "prelabel/r1", MaskInput(mask_hw=stripes((16, 24), (0, 17)), origin={"kind": "machine"}))
    assert current() != second
    assert current(layers=["gt"]) == second  # a layer not shown does not count
    with Dataset.open(root) as ds, pytest.raises(AnimeparseError, match="no mask layer 'prelabel/x'; it has: gt"):
        read_store(ds, layers=["prelabel/x"], findings=False)


def test_db_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_DB_DIR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_db_dir() == tmp_path / "xdg" / "animeparse" / "fiftyone"
    monkeypatch.setenv(ENV_DB_DIR, str(tmp_path / "env"))
    assert resolve_db_dir() == tmp_path / "env"
    assert resolve_db_dir(tmp_path / "opt") == tmp_path / "opt"


def test_missing_fiftyone_names_the_extra(monkeypatch):
    from animeparse.view import import_fiftyone

    monkeypatch.setitem(sys.modules, "fiftyone", None)  # makes "import fiftyone" raise ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'animeparse\[fiftyone\]'"):
        import_fiftyone()


def test_view_group_parsing_without_fiftyone(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["view"])
    assert r.exit_code == 2 and "Missing argument 'DS'" in r.output
    r = runner.invoke(cli, ["view", "pull-tags"])
    assert r.exit_code == 2 and "Missing argument 'DS'" in r.output
    r = runner.invoke(cli, ["view", str(tmp_path / "nowhere"), "--no-launch", "--db-dir", str(tmp_path / "db")])
    assert r.exit_code == 1  # options after DS are parsed; the missing store is one line
    assert len([line for line in r.output.splitlines() if line.strip()]) == 1
    r = runner.invoke(cli, ["view", "pull-tags", "--help"])
    assert r.exit_code == 0 and "pull-tags [OPTIONS] DS" in r.output
    r = runner.invoke(cli, ["view", "pull-tags", str(tmp_path / "nowhere"), "--db-dir", str(tmp_path / "db")])
    assert r.exit_code == 1 and not (tmp_path / "db").exists()  # refused before MongoDB starts
