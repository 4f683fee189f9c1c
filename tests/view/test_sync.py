"""The FiftyOne mirror against the real FiftyOne database: build, fields, IoU, saved views, incremental re-sync,
tags both ways, a reload in a new process."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, MaskInput
from animeparse.cli.main import cli
from animeparse.errors import AnimeparseError
from animeparse.imageio import encode_mask_png
from animeparse.qa import QAConfig, validate

from ..conftest import REPO
from .conftest import independent_iou, make_store, stripes

HW = (16, 24)
SPECS = [
    {"gt": stripes(HW, (0, 1, 17)), "pre": stripes(HW, (0, 1, 17), shift=2), "score": 0.9},
    {"gt": stripes(HW, (0, 1, 16, 17)), "pre": stripes(HW, (0, 16, 17)), "score": 0.4, "split": "val"},
    {"gt": stripes(HW, (0, 4, 5))},
    {"pre": stripes(HW, (0, 17)), "score": 0.7},
    {},
]


@pytest.fixture()
def mirrored(tmp_path, labelmap, fo_db):
    """(store root, sample ids, first SyncResult, the FiftyOne dataset) for SPECS."""
    import fiftyone as fo

    from animeparse.view import sync_store

    root = tmp_path / "store"
    ids = make_store(root, labelmap, SPECS)
    with Dataset.open(root) as ds:
        result = sync_store(ds, fo_db)
    return root, ids, result, fo.load_dataset(result.name)


def _by_store_id(fd):
    return {s.store_id: s for s in fd}


def _modified(fd):
    return dict(zip(*fd.values(["store_id", "last_modified_at"]), strict=True))


def test_build_masks_targets_and_fields_match_the_store(mirrored, labelmap, fo_db):
    root, ids, result, fd = mirrored
    assert (result.samples, result.added, result.touched) == (5, 5, 5)
    assert result.layers == {"gt": "gt", "prelabel/run1": "prelabel_run1"}
    assert fd.persistent and len(fd) == 5
    # integer targets (every class but background, and ignore) over the mirror's single-channel copies, painted in
    # the label map's colours by the dataset's colour scheme; gt shown, the pre-label and disagreement one tick away
    expected = {c.id: c.name for c in labelmap.classes if c.id} | {255: "ignore"}
    assert fd.default_mask_targets == expected
    assert fd.mask_targets["disagreement"][255] == "pre-label only (gt background)"
    scheme = fd.app_config.color_scheme
    colours = {d["intTarget"]: d["color"] for d in scheme.default_mask_targets_colors}
    assert all(colours[c.id] == "#{:02x}{:02x}{:02x}".format(*c.color) for c in labelmap.classes if c.id)
    assert colours[255] not in ("#ffffff", "#000000")
    assert [f["path"] for f in scheme.fields] == ["disagreement"]
    assert list(fd.app_config.active_fields.paths) == ["gt"]
    assert {"gt", "prelabel_run1", "disagreement"} <= set(fd.get_field_schema())
    groups = {g.name: list(g.paths) for g in fd.app_config.sidebar_groups}
    assert "miou" in groups["animeparse qa"] and "fingerprint" in groups["animeparse sync"]
    samples = _by_store_id(fd)
    copies = fo_db.db_dir / "animeparse-masks" / fd.name
    with Dataset.open(root) as ds:
        report = validate(ds, QAConfig(workers=0))
        for sid, spec in zip(ids, SPECS, strict=True):
            s = samples[sid]
            row = ds.sample(sid)
            assert (s.split, s.status, s.name, s.filepath) == (row.split, row.status, row.name,
                                                               str(ds.image_path(row)))
            assert (s.metadata.width, s.metadata.height) == (24, 16)
            for layer, fld in result.layers.items():
                rec = ds.mask_record(sid, layer)
                if rec is None:
                    assert s[fld] is None
                    continue
                assert s[fld].mask_path == str(copies / f"{sid}.{fld}.{rec.sha256[:16]}.png")  # the mirror's copy
                got = s[fld].get_mask()  # single-channel: FiftyOne reads the class ids themselves
                assert got.shape == HW and got.dtype == np.uint8
                np.testing.assert_array_equal(got, ds.read_mask(sid, layer))
            if "gt" in spec and "pre" in spec:  # gt's class where the pre-label differs, 255 on gt background
                want = np.where(spec["pre"] != spec["gt"], spec["gt"], 0)
                want[(spec["pre"] != spec["gt"]) & (spec["gt"] == 0)] = 255
                np.testing.assert_array_equal(s.disagreement.get_mask(), want)
                assert want.any() and set(np.unique(want)) <= {0, 255, *np.unique(spec["gt"])}
            else:
                assert s.disagreement is None
            assert s.prelabel_score == spec.get("score")
            # the stripes trip validate's layout checks (eyes outside skin ...): the codes travel as they are
            assert s.findings == sorted(report.codes_of(sid))
            assert s.n_errors == sum(f.severity == "error" for f in report.by_sample(sid))


def test_iou_fields_equal_independent_values(mirrored, labelmap):
    _, ids, _, fd = mirrored
    samples = _by_store_id(fd)
    names = {c.id: c.name for c in labelmap.classes}
    for sid, spec in zip(ids, SPECS, strict=True):
        s = samples[sid]
        if "gt" not in spec or "pre" not in spec:
            assert s.miou is None and s.iou is None
            continue
        want = independent_iou(spec["pre"], spec["gt"], labelmap.ids)
        assert s.prelabel_layer == "prelabel/run1"
        assert s.miou == pytest.approx(np.mean(list(want.values())))
        for cid, value in want.items():
            assert s.iou[names[cid]] == pytest.approx(value)
        assert set(s.iou.field_names) == {names[c] for c in want}  # absent classes: no IoU at all


def test_saved_views(mirrored):
    _, ids, _, fd = mirrored
    assert sorted(fd.list_saved_views()) == ["unlabelled", "validate errors", "worst pre-labels"]
    worst = fd.load_saved_view("worst pre-labels")
    assert worst.values("store_id") == [ids[1], ids[0]]  # lowest mIoU first; samples without both layers left out
    assert sorted(fd.load_saved_view("unlabelled").values("store_id")) == sorted([ids[3], ids[4]])
    assert len(fd.load_saved_view("validate errors")) == 0


def test_resync_touches_only_what_changed(mirrored, fo_db, labelmap):
    from animeparse.view import sync_store

    root, ids, _, fd = mirrored
    before = _modified(fd)
    with Dataset.open(root) as ds:
        assert sync_store(ds, fo_db).touched == 0
    assert _modified(fd) == before
    new_gt = stripes(HW, (0, 17))
    with Dataset.open(root, write=True) as ds:
        ds.put_mask(ids[2], "gt", MaskInput(mask_hw=new_gt, origin={"kind": "human"}), replace=True)
    with Dataset.open(root) as ds:
        result = sync_store(ds, fo_db)
        new_path = str(root / ds.mask_record(ids[2], "gt").path)
    assert (result.updated, result.touched, result.unchanged) == (1, 1, 4)
    after = _modified(fd)
    assert [sid for sid in ids if after[sid] != before[sid]] == [ids[2]]
    from fiftyone import ViewField as F

    shown = fd.one(F("store_id") == ids[2]).gt.mask_path
    assert shown != new_path and Path(shown).exists()  # the mirror's copy of the new mask ...
    np.testing.assert_array_equal(np.asarray(Image.open(shown)), new_gt)
    assert len(list(Path(shown).parent.glob(f"{ids[2]}.gt.*.png"))) == 1  # ... and the old copy is gone
    # a sample deleted from the store (no delete API yet: straight in the manifest) leaves the mirror
    with sqlite3.connect(root / "manifest.sqlite") as db:
        db.execute("DELETE FROM masks WHERE sample_id = ?", (ids[4],))
        db.execute("DELETE FROM samples WHERE id = ?", (ids[4],))
    with Dataset.open(root) as ds:
        result = sync_store(ds, fo_db)
    assert (result.removed, result.touched, len(fd)) == (1, 1, 4)
    assert ids[4] not in fd.values("store_id")


def test_validate_findings_and_error_view(mirrored, fo_db):
    from animeparse.view import sync_store

    root, ids, _, fd = mirrored
    with Dataset.open(root) as ds:
        rel = ds.mask_record(ids[0], "gt").path
    # the file no longer matches its manifest hash: validate's bit_rot error (the mask still decodes)
    (root / rel).write_bytes(encode_mask_png(stripes(HW, (0, 17)), palette=None))
    with Dataset.open(root) as ds:
        result = sync_store(ds, fo_db)
    assert result.touched == 1 and "validate" in result.findings
    s = fd.load_saved_view("validate errors").first()
    assert s.store_id == ids[0] and "bit_rot" in s.findings and s.n_errors >= 1
    with Dataset.open(root) as ds:  # skipping validate keeps the last findings rather than wiping them
        assert sync_store(ds, fo_db, findings=False).touched == 0
    s.reload()
    assert "bit_rot" in s.findings


def test_tags_round_trip(mirrored, fo_db):
    from animeparse.view import pull_tags, sync_store

    root, ids, _, fd = mirrored
    with Dataset.open(root, write=True) as ds:
        ds.add_tags(ids[1], ["keep"])
    with Dataset.open(root) as ds:
        assert sync_store(ds, fo_db).touched == 1
    samples = _by_store_id(fd)
    assert samples[ids[1]].tags == ["keep"]
    samples[ids[0]].tags.append("needs-fix")
    samples[ids[0]].save()
    samples[ids[1]].tags.remove("keep")  # the store has no tag removal: reported, kept
    samples[ids[1]].save()
    result = pull_tags(root, fo_db)
    assert result.tags_added == {"needs-fix": 1} and result.samples_tagged == 1
    assert result.removed_in_app == {"keep": 1}
    with Dataset.open(root) as ds:
        assert ds.sample(ids[0]).tags == ("needs-fix",)
        assert ds.sample(ids[1]).tags == ("keep",)
        assert [s.id for s in ds.samples(tag="needs-fix")] == [ids[0]]
        assert sync_store(ds, fo_db).touched == 0  # pull-tags recorded what it wrote
    # an app tag not yet pulled survives a store-side change of its sample
    fd.reload()
    s2 = _by_store_id(fd)[ids[2]]
    s2.tags.append("check-ears")
    s2.save()
    with Dataset.open(root, write=True) as ds:
        ds.set_split([ids[2]], "test")
    with Dataset.open(root) as ds:
        assert sync_store(ds, fo_db).updated == 1
    s2.reload()
    assert s2.split == "test" and s2.tags == ["check-ears"]


def test_layer_selection_and_name_checks(mirrored, fo_db, tmp_path, labelmap):
    from animeparse.view import sync_store

    root, _, result, fd = mirrored
    with Dataset.open(root) as ds:
        only_gt = sync_store(ds, fo_db, layers=["gt"])
        # the fingerprint covers the masks shown: the three samples with a pre-label change
        assert only_gt.layers == {"gt": "gt"} and only_gt.updated == 3
        with pytest.raises(AnimeparseError, match="no mask layer 'prelabel/nope'"):
            sync_store(ds, fo_db, layers=["prelabel/nope"])
    fd.reload()
    assert "prelabel_run1" not in fd.get_field_schema() and "disagreement" not in fd.get_field_schema()
    assert list(fd.app_config.active_fields.paths) == ["gt"]
    other = tmp_path / "other"
    make_store(other, labelmap, SPECS[:1])
    with Dataset.open(other) as ds, pytest.raises(AnimeparseError, match="mirrors another store"):
        sync_store(ds, fo_db, name=result.name)


def test_one_database_per_process(fo_db, tmp_path):
    from animeparse.view import FiftyOneDB

    with pytest.raises(AnimeparseError, match="one database per process"):
        FiftyOneDB(tmp_path / "second-db").open()


def test_cli_in_process(tmp_path, labelmap, fo_db):
    root = tmp_path / "store"
    ids = make_store(root, labelmap, SPECS[:2])
    runner = CliRunner()
    db = ["--db-dir", str(fo_db.db_dir)]
    r = runner.invoke(cli, ["view", str(root), "--no-launch", *db, "--layer", "gt", "--json", "--no-validate"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["added"] == 2 and data["layers"] == {"gt": "gt"} and data["url"] is None
    assert data["findings"].startswith("kept from the last sync")
    r = runner.invoke(cli, ["view", str(root), "--no-launch", *db])
    assert r.exit_code == 0 and "2 updated" in r.output and "prelabel/run1 -> prelabel_run1" in r.output
    r = runner.invoke(cli, ["view", "pull-tags", str(root), *db, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["samples_tagged"] == 0
    r = runner.invoke(cli, ["view", str(root), "--no-launch", *db, "--layer", "prelabel/zzz"])
    assert r.exit_code == 1 and "no mask layer 'prelabel/zzz'" in r.output
    r = runner.invoke(cli, ["view", "pull-tags", str(root), *db, "--name", "never-synced"])
    assert r.exit_code == 1 and "run 'animeparse view" in r.output
    assert len(ids) == 2


def test_reload_in_a_new_process(mirrored, fo_db):
    """A second process joins the session's MongoDB, sees the same dataset (a CLI re-sync touches nothing, and its
    stdout is pure JSON despite FiftyOne's MongoDB banner), and leaves the database running for us."""
    from animeparse.view.env import port_open

    root, ids, result, _ = mirrored
    cmd = [sys.executable, "-m", "animeparse", "view", str(root), "--no-launch", "--json", "--db-dir",
           str(fo_db.db_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # the whole stdout is one JSON object
    assert (data["name"], data["samples"], data["touched"]) == (result.name, 5, 0)
    script = ("import json, sys\n"
              "from animeparse.view import FiftyOneDB\n"
              "with FiftyOneDB(sys.argv[1]):\n"
              "    import fiftyone as fo\n"
              "    fd = fo.load_dataset(sys.argv[2])\n"
              "    out = {'targets': fd.default_mask_targets,\n"
              "           'samples': {s.store_id: [s.gt.mask_path if s.gt else None, s.miou] for s in fd}}\n"
              "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", script, str(fo_db.db_dir), result.name], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    with Dataset.open(root) as ds:
        for sid in ids:
            rec = ds.mask_record(sid, "gt")
            path = data["samples"][sid][0]
            assert (path is None) == (rec is None)
            if rec:
                np.testing.assert_array_equal(np.asarray(Image.open(path)), ds.read_mask(sid, "gt"))
        assert len(data["targets"]) == len(ds.labelmap.classes)  # the classes but background, and ignore
    assert port_open("127.0.0.1", fo_db.port)  # the other process did not stop our mongod


def test_identical_mask_put_again_moves_the_file_and_the_mirror_follows(mirrored, fo_db):
    """Re-putting a machine layer with the same pixels writes a new file name and deletes the old one: the SHA-256
    is unchanged, so the fingerprint must cover the path or the mirror would point at a deleted file."""
    from fiftyone import ViewField as F

    from animeparse.view import sync_store

    root, ids, _, fd = mirrored
    with Dataset.open(root, write=True) as ds:
        rec = ds.put_mask(ids[0], "prelabel/run1", MaskInput(mask_hw=SPECS[0]["pre"], origin={"kind": "machine"},
                                                             score=0.9))
    with Dataset.open(root) as ds:
        assert sync_store(ds, fo_db).touched == 1
    path = fd.one(F("store_id") == ids[0]).prelabel_run1.mask_path
    assert rec.sha256[:16] in path and Path(path).exists() and (root / rec.path).exists()
    np.testing.assert_array_equal(np.asarray(Image.open(path)), SPECS[0]["pre"])


def test_busy_port_is_refused(fo_db):
    import socket

    from animeparse.view import serve_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(AnimeparseError, match="is in use"):
            serve_app(fo_db, port=sock.getsockname()[1])


@pytest.mark.server  # starts its own mongod (not through the fo_db fixture)
def test_mongod_of_a_killed_process_is_adopted_and_stopped(tmp_path):
    """A process killed with SIGKILL leaves its mongod running (own session); the next process on that folder
    joins it, and being the last user, stops it."""
    import os
    import signal

    from .conftest import processes_using

    db_dir = tmp_path / "db"
    hold = ("import sys, time\nfrom animeparse.view import FiftyOneDB\ndb = FiftyOneDB(sys.argv[1]).open()\n"
            "print(db.pid, flush=True)\ntime.sleep(600)\n")
    join = ("import sys\nfrom animeparse.view import FiftyOneDB\nwith FiftyOneDB(sys.argv[1]) as db:\n"
            "    print(db.pid, db.started_here)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(db_dir)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        mongod = int(holder.stdout.readline())
        holder.kill()
        holder.wait()
        assert processes_using(db_dir) == [mongod]  # orphaned, still serving the folder
        done = subprocess.run([sys.executable, "-c", join, str(db_dir)], capture_output=True, text=True, timeout=120,
                              cwd=REPO)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [str(mongod), "False"]  # joined, not started
        assert processes_using(db_dir) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for pid in processes_using(db_dir):
            os.kill(pid, signal.SIGKILL)


def test_character_and_colours_round_trip(mirrored, fo_db):
    """The character shows as a Classification, the computed colours as fields; a label edited in the app comes
    back with pull_characters, and the next sync has nothing to do."""
    from animeparse.stats.attributes import update_attributes
    from animeparse.view import pull_characters, sync_store

    root, ids, _, fd = mirrored
    with Dataset.open(root, write=True) as ds:
        ds.set_character([ids[0], ids[1]], "nino")
        update_attributes(ds)
    with Dataset.open(root) as ds:
        colours = {sid: a["hair_color"] for sid, a in ds.attributes().items()}
        assert sync_store(ds, fo_db).updated >= 2
    samples = _by_store_id(fd)
    assert samples[ids[0]].character.label == "nino" and samples[ids[2]].character is None
    assert {sid: samples[sid].hair_color for sid in colours} == colours
    samples[ids[0]].character.label = "miku"
    samples[ids[0]].save()
    samples[ids[1]].character = None
    samples[ids[1]].save()
    result = pull_characters(root, fo_db)
    assert result["changed"] == {ids[0]: ["nino", "miku"], ids[1]: ["nino", None]}
    with Dataset.open(root) as ds:
        assert (ds.sample(ids[0]).character, ds.sample(ids[1]).character) == ("miku", None)
        assert sync_store(ds, fo_db).touched == 2  # the store changed: both rows rewritten from it
    assert pull_characters(root, fo_db)["changed"] == {}
