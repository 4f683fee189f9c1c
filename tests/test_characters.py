"""Character identity: the store (schema 4 and its migration), the ``character`` commands, ingest's
``--character-from`` and the ``--only character:`` selection."""

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.errors import StoreError
from animeparse.store import SCHEMA_VERSION, check_character
from animeparse.store.manifest import connect, migrate, schema_version

from .conftest import make_pair


def _invoke(*args):
    return CliRunner().invoke(cli, [*[str(a) for a in args]])


def _image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 10, 3), value, np.uint8)).save(path)


def test_a_version_3_store_migrates_and_keeps_its_samples(tmp_path, danbooru):
    root = tmp_path / "ds"
    Dataset.create(root, labelmap=danbooru).close()
    for suffix in ("", "-wal", "-shm"):
        if (root / f"manifest.sqlite{suffix}").exists():
            os.remove(root / f"manifest.sqlite{suffix}")
    db = connect(root / "manifest.sqlite")
    migrate(db, path=root, target=3)
    db.execute("INSERT INTO samples (id, name, image, width, height, sha256, file_sha256, created_at) "
               "VALUES ('abc', 'a.png', 'images/abc.png', 2, 2, 'x', 'y', 'now')")
    assert schema_version(db) == 3
    db.close()
    with Dataset.open(root) as ds:
        assert ds.sample("abc").character is None and ds.characters() == []
    with Dataset.open(root, write=True) as ds:
        ds.set_character(["abc"], "nino", name="Nakano Nino")
        assert ds.sample("abc").character == "nino"
        assert [(c.id, c.name, c.samples) for c in ds.characters()] == [("nino", "Nakano Nino", 1)]
    assert schema_version(connect(root / "manifest.sqlite")) == SCHEMA_VERSION == 4


@pytest.mark.parametrize("bad", ["", " nino", "ni\tno", "a\nb", "none", "x" * 201],
                         ids=["empty", "space", "tab", "newline", "reserved", "long"])
def test_bad_character_ids_are_refused(bad):
    with pytest.raises(StoreError, match="character id"):
        check_character(bad)


def test_store_characters_declared_list_and_selection(store, tmp_path):
    ids = []
    for i, character in enumerate(["nino", "miku", None, "nino"]):
        _image(tmp_path / f"{i}.png", 30 * i)
        s, _ = store.add_sample(tmp_path / f"{i}.png", character=character)
        ids.append(s.id)
    store.declare_characters({"nino": "Nakano Nino", "miku": None})
    assert store.declared_characters() == ["miku", "nino"]
    assert {s.id for s in store.select(["character:nino"])} == {ids[0], ids[3]}
    assert {s.id for s in store.select(["character:Nakano Nino"])} == {ids[0], ids[3]}  # the display name too
    assert [s.id for s in store.select(["character:none"])] == [ids[2]]
    assert store.select(["character:ichika"]) == []
    assert store.set_character([ids[2]], "miku") == 1 and store.set_character([ids[2]], "miku") == 0
    store.declare_characters({"ichika": None}, replace=True)
    assert store.declared_characters() == ["ichika"]
    assert {c.id: c.samples for c in store.characters()} == {"ichika": 0, "miku": 2, "nino": 2}


def test_character_commands(store, tmp_path):
    for i in range(3):
        _image(tmp_path / f"{i}.png", 40 * i)
        store.add_sample(tmp_path / f"{i}.png", split="test" if i else "train")
    first = store.samples(split="train")[0].id
    root = store.root
    store.close()
    r = _invoke("character", "set", root, "split:test", "zero_two", "--name", "Zero Two")
    assert r.exit_code == 0 and "2 samples selected, 2 changed" in r.output, r.output
    r = _invoke("character", "set", root, first, "hiro")
    assert r.exit_code == 0, r.output
    r = _invoke("character", "declare", root, "zero_two", "hiro=Hiro")
    assert r.exit_code == 0 and "2 characters declared: hiro, zero_two" in r.output, r.output
    data = json.loads(_invoke("character", "list", root, "--json").output)
    assert data == {"without": 0, "characters": [
        {"id": "hiro", "name": "Hiro", "declared": True, "samples": 1},
        {"id": "zero_two", "name": "Zero Two", "declared": True, "samples": 2}]}
    r = _invoke("character", "set", root, "character:zero_two", "none")
    assert r.exit_code == 0 and "2 changed" in r.output
    r = _invoke("character", "set", root, "nosuchsample", "hiro")
    assert r.exit_code != 0 and "neither a sample id of this store nor a selection" in r.output
    with Dataset.open(root) as ds:
        assert [s.character for s in ds.samples()].count(None) == 2


def test_ingest_character_from_dirname_and_regex(tmp_path):
    src = tmp_path / "src"
    for i, folder in enumerate(["nino", "nino", "miku"]):
        _image(src / folder / f"shot_{folder}_{i}.png", 50 * i + 5)
    _image(src / "loose.png", 200)
    expected = {"nino/shot_nino_0.png": "nino", "nino/shot_nino_1.png": "nino", "miku/shot_miku_2.png": "miku",
                "loose.png": None}
    for rule in ("dirname", "regex:shot_(?P<character>[a-z]+)_", "regex:^([a-z]+)/"):
        root = tmp_path / f"ds{len(rule)}"
        assert _invoke("init", root).exit_code == 0
        r = _invoke("ingest", src, "--into", root, "--workers", "0", "--character-from", rule)
        assert r.exit_code == 0, r.output
        with Dataset.open(root) as ds:
            assert {s.name: s.character for s in ds.samples()} == expected


def test_ingest_character_from_csv_with_names_and_refusals(tmp_path):
    make_pair(tmp_path / "src", "a", seed=1)
    make_pair(tmp_path / "src", "b", seed=2)
    table = tmp_path / "chars.csv"
    table.write_text("image,character,name\na.png,nino,Nakano Nino\nimages/b.png,miku,\n", encoding="utf-8")
    root = tmp_path / "ds"
    _invoke("init", root)
    r = _invoke("ingest", tmp_path / "src", "--into", root, "--workers", "0", "--character-from", f"csv:{table}")
    assert r.exit_code == 0, r.output
    with Dataset.open(root) as ds:
        assert {s.name: s.character for s in ds.samples()} == {"a.png": "nino", "b.png": "miku"}
        assert {c.id: c.name for c in ds.characters()} == {"miku": "", "nino": "Nakano Nino"}
    table.write_text("image,character\na.png,nino\nb.png,miku\na.png,ichika\n", encoding="utf-8")
    fresh = tmp_path / "fresh"
    _invoke("init", fresh)
    r = _invoke("ingest", tmp_path / "src", "--into", fresh, "--workers", "0", "--character-from", f"csv:{table}")
    assert r.exit_code != 0
    assert str(table) in r.output and "line 4: image 'a.png' is listed again (first on line 2)" in r.output
    table.write_text("file,who\na.png,nino\n", encoding="utf-8")
    r = _invoke("ingest", tmp_path / "src", "--into", fresh, "--workers", "0", "--character-from", f"csv:{table}")
    assert r.exit_code != 0 and "line 1: the header must name the columns image and character" in r.output
    r = _invoke("ingest", tmp_path / "src", "--into", fresh, "--workers", "0", "--character-from", "folder")
    assert r.exit_code != 0 and "use dirname, regex:PATTERN or csv:FILE" in r.output
    with Dataset.open(fresh) as ds:
        assert len(ds) == 0  # every refusal came before anything was written


def test_validate_reports_unknown_and_missing_characters_once_a_list_is_declared(store, tmp_path):
    for i, character in enumerate(["nino", "nnio", None]):
        _image(tmp_path / f"{i}.png", 60 * i)
        store.add_sample(tmp_path / f"{i}.png", character=character)
    root = store.root
    store.close()
    r = _invoke("validate", root, "--json", tmp_path / "before.json")
    codes = {f["code"] for f in json.loads((tmp_path / "before.json").read_text())["findings"]}
    assert not codes & {"unknown_character", "missing_character"}  # no list declared: nothing to check against
    _invoke("character", "declare", root, "nino", "miku")
    r = _invoke("validate", root, "--json", tmp_path / "after.json")
    found = {(f["code"], f["severity"]) for f in json.loads((tmp_path / "after.json").read_text())["findings"]
             if f["check"] == "characters"}
    assert found == {("unknown_character", "error"), ("missing_character", "warning")}, r.output
    assert "'nnio'" in r.output or "unknown_character" in r.output
