import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from animeparse import Dataset, FormatError, LockError, MaskInput, StoreError
from animeparse.store import SCHEMA_VERSION
from animeparse.store.manifest import connect, migrate, schema_version

from .conftest import make_pair


def test_create_layout_and_card(tmp_path, danbooru):
    with Dataset.create(tmp_path / "ds", labelmap=danbooru, lr_convention="image") as ds:
        assert ds.card.labelmap["sha256"] == danbooru.sha256 and ds.card.lr_convention == "image"
    root = tmp_path / "ds"
    assert {p.name for p in root.iterdir()} >= {"animeparse.json", "labelmap.json", "manifest.sqlite", "images",
                                                  "masks"}
    db = sqlite3.connect(root / "manifest.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # the temp build folder is gone


def test_create_refuses_non_empty_folder_and_existing_store(tmp_path, danbooru):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not empty"):
        Dataset.create(tmp_path / "full", labelmap=danbooru)
    assert (tmp_path / "full" / "x.txt").read_text() == "keep me"
    Dataset.create(tmp_path / "ds", labelmap=danbooru).close()
    with pytest.raises(StoreError, match="already exists"):
        Dataset.create(tmp_path / "ds", labelmap=danbooru)
    Dataset.create(tmp_path / "ds", labelmap=danbooru, exist_ok=True).close()


def test_open_non_store_says_how_to_init(tmp_path):
    with pytest.raises(StoreError, match="animeparse init"):
        Dataset.open(tmp_path)


def test_add_sample_with_mask_and_dedupe(tmp_path, store):
    ip, mp, mask = make_pair(tmp_path / "src", "a")
    sample, added = store.add_sample(ip, masks={"gt": MaskInput(mask)}, split="val")
    assert added and sample.split == "val" and sample.status == "annotated" and sample.size_wh == (32, 24)
    assert np.array_equal(store.read_mask(sample.id), mask)
    assert (store.root / sample.image).read_bytes() == ip.read_bytes()
    rec = store.mask_record(sample.id)
    assert rec.path == f"masks/gt/{sample.id}.png"
    # same pixels under another name and format: one sample
    from PIL import Image

    Image.open(ip).save(tmp_path / "copy.tiff")
    again, added2 = store.add_sample(tmp_path / "copy.tiff")
    assert not added2 and again.id == sample.id and len(store) == 1


def test_mask_size_and_ids_checked_before_anything_is_written(tmp_path, store):
    ip, _, mask = make_pair(tmp_path / "src", "a")
    with pytest.raises(FormatError, match=r"m.png.*32x23.*--resize-masks nearest"):
        store.add_sample(ip, masks={"gt": MaskInput(mask[:-1], source="m.png")})
    bad = mask.copy()
    bad[0, 0] = 40
    with pytest.raises(FormatError, match=r"ids \[40\].*--map"):
        store.add_sample(ip, masks={"gt": MaskInput(bad)})
    assert len(store) == 0 and not list((store.root / "images").iterdir())


def test_human_mask_protected_and_history_kept(tmp_path, store):
    ip, _, mask = make_pair(tmp_path / "src", "a")
    s, _ = store.add_sample(ip, masks={"gt": MaskInput(mask, origin={"kind": "human", "annotator": "ann1"})})
    new = np.full_like(mask, 17)
    with pytest.raises(StoreError, match="--force"):
        store.put_mask(s.id, "gt", MaskInput(new, origin={"kind": "human"}))
    with pytest.raises(StoreError, match="machine result cannot be written"):
        store.put_mask(s.id, "gt", MaskInput(new, origin={"kind": "machine"}), replace=True)
    rec = store.put_mask(s.id, "gt", MaskInput(new, origin={"kind": "human", "annotator": "ann2"}), replace=True)
    assert np.array_equal(store.read_mask(s.id), new) and rec.origin["annotator"] == "ann2"
    (hist,) = store.mask_history(s.id)
    assert json.loads(hist["origin"])["annotator"] == "ann1"
    from animeparse import read_mask

    assert np.array_equal(read_mask(store.root / hist["path"]), mask)  # the old file is still there


def test_status_follows_layers(tmp_path, store):
    ip, _, mask = make_pair(tmp_path / "src", "a")
    s, _ = store.add_sample(ip)
    assert s.status == "unlabeled"
    store.put_mask(s.id, "prelabel/run1", MaskInput(mask, origin={"kind": "machine"}, score=0.7))
    assert store.sample(s.id).status == "prelabeled"
    store.put_mask(s.id, "prelabel/run1", MaskInput(np.zeros_like(mask), origin={"kind": "machine"}))  # rerun
    assert store.read_mask(s.id, "prelabel/run1").max() == 0
    store.put_mask(s.id, "gt", MaskInput(mask, origin={"kind": "human"}))
    assert store.sample(s.id).status == "annotated"
    assert store.layers() == {"gt": 1, "prelabel/run1": 1}
    assert [x.id for x in store.samples(layer="gt")] == [s.id] and store.samples(status="unlabeled") == []


def test_invalid_layer_names_refused(tmp_path, store):
    ip, _, mask = make_pair(tmp_path / "src", "a")
    s, _ = store.add_sample(ip)
    for layer in ("../x", "GT", "prelabel/../../etc", "_history"):
        with pytest.raises(StoreError, match="invalid layer"):
            store.put_mask(s.id, layer, MaskInput(mask))


def test_transaction_rolls_back_and_orphans_are_cleaned(tmp_path, danbooru, monkeypatch):
    ds = Dataset.create(tmp_path / "ds", labelmap=danbooru)
    ip, _, mask = make_pair(tmp_path / "src", "a")

    def boom(*a, **k):
        raise RuntimeError("injected failure after the rows were inserted")

    monkeypatch.setattr(Dataset, "_event", boom)
    with pytest.raises(RuntimeError, match="injected"):
        ds.add_sample(ip, masks={"gt": MaskInput(mask)})
    assert len(ds) == 0 and ds.layers() == {}
    files = [p for p in (ds.root / "images").iterdir()] + list((ds.root / "masks").rglob("*.png"))
    assert files == []  # file-first, and a batch that fails takes its files back out (a kill leaves them to repair)
    ds.close()
    monkeypatch.undo()
    with Dataset.open(tmp_path / "ds", write=True) as ds2:  # the next writer cleans up
        assert not list((ds2.root / "images").iterdir()) and not list((ds2.root / "masks").rglob("*.png"))
        ds2.add_sample(ip, masks={"gt": MaskInput(mask)})
        assert len(ds2) == 1


def test_read_only_store_refuses_writes(tmp_path, store):
    ip, _, _ = make_pair(tmp_path / "src", "a")
    with Dataset.open(store.root) as ro, pytest.raises(StoreError, match="read-only"):
        ro.add_sample(ip)


HOLDER = textwrap.dedent("""
    import sys, time
    from animeparse import Dataset
    ds = Dataset.open(sys.argv[1], write=True)
    print("ready", flush=True)
    time.sleep(60)
""")


def test_second_writer_refused_with_holder_pid_then_lock_freed_on_sigkill(tmp_path, danbooru):
    Dataset.create(tmp_path / "ds", labelmap=danbooru).close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "ds")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(LockError, match=f"PID {proc.pid}") as err:
            Dataset.open(tmp_path / "ds", write=True)
        assert err.value.pid == proc.pid
        with Dataset.open(tmp_path / "ds") as reader:  # readers are never blocked
            assert len(reader) == 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Dataset.open(tmp_path / "ds", write=True) as ds:  # a killed holder leaves no stale lock
        assert ds.repair() == {"temp_files": 0, "orphan_images": 0, "orphan_masks": 0}


def test_same_process_second_writer_refused(tmp_path, store):
    with pytest.raises(LockError):
        Dataset.open(store.root, write=True)


def test_migration_from_v1_keeps_data(tmp_path, danbooru):
    root = tmp_path / "ds"
    Dataset.create(root, labelmap=danbooru).close()
    os.remove(root / "manifest.sqlite")
    for suffix in ("-wal", "-shm"):
        if (root / f"manifest.sqlite{suffix}").exists():
            os.remove(root / f"manifest.sqlite{suffix}")
    db = connect(root / "manifest.sqlite")
    migrate(db, path=root, target=1)
    db.execute("INSERT INTO samples (id, name, image, width, height, sha256, file_sha256, created_at) "
               "VALUES ('abc', 'a.png', 'images/abc.png', 2, 2, 'x', 'y', 'now')")
    assert schema_version(db) == 1
    db.close()
    with Dataset.open(root) as ds:  # even a reader migrates an old manifest, under the lock
        s = ds.sample("abc")
        assert s.name == "a.png" and s.parent_id is None
        assert ds.mask_history("abc") == []
    db = connect(root / "manifest.sqlite")
    assert schema_version(db) == SCHEMA_VERSION


def test_newer_schema_refused(tmp_path, danbooru):
    Dataset.create(tmp_path / "ds", labelmap=danbooru).close()
    db = sqlite3.connect(tmp_path / "ds" / "manifest.sqlite")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="upgrade animeparse"):
        Dataset.open(tmp_path / "ds", write=True)


def test_edited_labelmap_refused(tmp_path, danbooru):
    Dataset.create(tmp_path / "ds", labelmap=danbooru).close()
    path = tmp_path / "ds" / "labelmap.json"
    data = json.loads(path.read_text())
    data["classes"][17]["name"] = "hairs"
    path.write_text(json.dumps(data))
    with pytest.raises(StoreError, match="SHA-256 mismatch"):
        Dataset.open(tmp_path / "ds")


def test_runs_recorded_and_resumed(store):
    rid = store.start_run("prelabel", params={"batch": 4}, models={"sam": "ab" * 32}, run_id="prelabel-x")
    assert store.start_run("prelabel", run_id="prelabel-x") == rid
    store.finish_run(rid, summary={"n": 3})
    (run,) = store.runs()
    assert run.status == "finished" and run.params == {"batch": 4} and run.summary == {"n": 3}
    assert run.versions["animeparse"]
