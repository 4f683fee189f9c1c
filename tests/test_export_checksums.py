"""Every export the CLI offers, pinned byte for byte on a small demo store.

The store is built the way ``animeparse demo`` builds its own (generated faces, index-folder ingest, a seeded
split, a character per face), with 8 faces of 96x96 and an ignore patch painted into one mask so the ignore paths
are exported too. Each case runs ``animeparse export`` and compares ``relative path -> SHA-256`` of every file
written with the literal table below, recorded from the code before the format modules were reorganised (issue 15,
item 2; sis-anime added with issue 18). A difference
means an output changed: if the change is intended, say so in the commit and record the new values with
``python -m tests.test_export_checksums``.

What is not byte-stable is left out, and only that:
- ``coco --info``: the info block holds the export date (``year``, ``date_created``); those two values are blanked
  before hashing, everything else in the file is pinned.
- ``parquet``: the tables hold the store's absolute path (``root``), timestamps (``created_at``, runs'
  ``started_at``/``finished_at``), random run ids, the generated files' absolute paths (``source``, ``origin``)
  and pyarrow's version in the file footer. Its rows are pinned instead: samples.parquet and masks.parquet as
  JSON without those columns and substrings; runs.parquet holds nothing else, so it is left out.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from animeparse import Dataset, load_labelmap
from animeparse.cli.main import cli
from animeparse.demo.synth import LR_CONVENTION, write_demo_data
from animeparse.ingest import IngestConfig, ingest
from animeparse.stats.split import SplitConfig, split_dataset

N_FACES, SIZE, SEED = 8, 96, 0

CASES: dict[str, list[str]] = {
    "coco": ["--format", "coco"],
    "coco-instances": ["--format", "coco", "--instances"],
    "coco-polygons": ["--format", "coco", "--polygons"],
    "coco-instances-polygons": ["--format", "coco", "--instances", "--polygons"],
    "coco-background": ["--format", "coco", "--include-background"],
    "coco-info": ["--format", "coco", "--info", "--images", "none"],
    "coco-split-test": ["--format", "coco", "--split", "test", "--images", "none"],
    "danbooru-parsing": ["--format", "danbooru-parsing"],
    "danbooru-parsing-link": ["--format", "danbooru-parsing", "--images", "link"],
    "anime-character-parsing": ["--format", "anime-character-parsing"],
    "celebamask": ["--format", "celebamask"],
    "index-png": ["--format", "index-png"],
    "index-png-p": ["--format", "index-png", "--palette-mode", "p", "--images", "none"],
    "labelme": ["--format", "labelme"],
    "labelstudio": ["--format", "labelstudio"],
    "labelstudio-predictions": ["--format", "labelstudio", "--as", "predictions", "--images", "none"],
    "parquet": ["--format", "parquet"],
    "sis-anime": ["--format", "sis-anime"],
}

_DATE = re.compile(rb'"year":\d+|"date_created":"[^"]*"')
_PARQUET_UNSTABLE = {"root", "created_at", "started_at", "finished_at", "parent_run"}
# absolute paths of the generated source files and run ids (a timestamp + random suffix) inside string columns
_PARQUET_NOISE = re.compile(r'/[^"\\]*/raw/|\b[a-z]+-\d{8}-\d{6}-[0-9a-f]{4}\b')


def build_demo_store(root: Path) -> Path:
    """The demo's pipeline in small: generated faces -> index-folder ingest -> seeded split."""
    raw, store = root / "raw", root / "store"
    write_demo_data(raw, N_FACES, seed=SEED, size=SIZE)
    mask_path = raw / "masks" / "face_0001.png"
    mask = np.array(Image.open(mask_path))
    mask[:6, :10] = 255  # an ignore region: exported as __ignore__ / ignore parts, dropped by COCO
    Image.fromarray(mask).save(mask_path)
    with Dataset.create(store, labelmap=load_labelmap("danbooru-parsing"), name="animeparse-demo",
                        lr_convention=LR_CONVENTION) as ds:
        ingest(ds, raw, IngestConfig(format="index-folder", workers=0))
        split_dataset(ds, SplitConfig(seed=SEED), workers=0)
        # a character per face, for sis-anime's class.txt (no other export writes characters)
        for s in ds.samples():
            ds.set_character([s.id], ("ichika", "nino", "miku")[int(s.name[5:9]) % 3])
    return store


def _parquet_rows(path: Path) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    keep = [c for c in table.column_names if c not in _PARQUET_UNSTABLE]
    return _PARQUET_NOISE.sub("", json.dumps(table.select(keep).to_pylist(), sort_keys=True)).encode()


def checksums(out: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file under ``out`` (see the module docstring for what is normalised)."""
    found: dict[str, str] = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel == "runs.parquet":
            continue  # nothing in it is stable but its column names, which the schema test pins
        data = _parquet_rows(path) if path.suffix == ".parquet" else _DATE.sub(b"", path.read_bytes())
        found[rel] = hashlib.sha256(data).hexdigest()
    return found


def run_case(store: Path, out: Path, args: list[str]) -> dict[str, str]:
    result = CliRunner().invoke(cli, ["-q", "export", str(store), "--out", str(out), "--workers", "0", *args])
    assert result.exit_code == 0, result.output
    return checksums(out)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Path:
    return build_demo_store(tmp_path_factory.mktemp("checksums"))


@pytest.mark.parametrize("case", list(CASES))
def test_export_is_byte_identical(tmp_path, demo_store, case):
    assert run_case(demo_store, tmp_path / case, CASES[case]) == EXPECTED[case]


def test_every_export_format_is_pinned():
    from animeparse.export import EXPORTERS

    assert {args[1] for args in CASES.values()} == set(EXPORTERS)


EXPECTED: dict[str, dict[str, str]] = {
    "coco": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "instances_test.json": "1cd512ec7f5532dfd6373478587d8834758e05bef77621c5d220a96906407559",
        "instances_train.json": "d01fa8461bc00aad4c6c9d6ce2e01e588c427e1ab84bfccc0b54ffcc9fadb64a",
        "instances_val.json": "37586834ef65362b3f5f2ced88206f7ef46f3e21e993d0fff41f4d013bb43256",
    },
    "coco-instances": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "instances_test.json": "436684a69a7e84c1015b72827fb7fd6213cccb17c180bafb557ec323b2101c04",
        "instances_train.json": "aac9bc6ade2674bfc8e788b5bd2dcdf8bc635c355d1c8b0fac1ec0db383cb73c",
        "instances_val.json": "e8385de169cac21454e2da3fb0291ce7f788f05a4e846ffe7328a90dbe3576c8",
    },
    "coco-polygons": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "instances_test.json": "86114c5b79e1e9e02e2e092ea926963cb20b34a1af8b692875c32faee3cb340f",
        "instances_train.json": "f9b263f92cc0d9ff8e1741edc2ce05669419c1ba91da1bf5e8a0926b438fd89d",
        "instances_val.json": "e6706ac88e763718793f8d71c0d3a41dfa574cd82ff2c4f0cb6a20ca47759a8a",
    },
    "coco-instances-polygons": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "instances_test.json": "4bf4b6784405a12ffe074085e9d098e8bb43f4edb898440b281ec31a1d991edc",
        "instances_train.json": "7f92d5353aacb5d9cdf4872007fda21882205282ebc6707a6e817b4f8f06c333",
        "instances_val.json": "593d998dcdd837d9d0f1045164eee83edc84e2cb9ca981f7f197e79d7e20441b",
    },
    "coco-background": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "instances_test.json": "9f0c05f254f7b2bcb0695c58238db260e639eaaa81578fdf6c1690c9b57ea055",
        "instances_train.json": "d1322bc935f146c94ff460830ba7a68984fe31c33b9b9fa2cf480f6e11b51235",
        "instances_val.json": "7080598fae3d3b9fbb0e6ae5b618922a93e202f548785e34f42d9a2c818ca53e",
    },
    "coco-info": {
        "instances_test.json": "c16efe09a27287f219a1167948757133210b55b80b92d2616fe7ea6304d72971",
        "instances_train.json": "9ee6a645d1f100391b72dd97c6577f4a4b7feeabcf8d62c10c5ca80e61d628f1",
        "instances_val.json": "f1177bf7e0746c7c0cee6f11ff698fcb8434200da8cd6096d27d44de46bcc508",
    },
    "coco-split-test": {
        "instances_test.json": "a5dbd4d17c78269ddc4fc160d4d8b50670f9150f834c9445f44982b11967beb2",
    },
    "danbooru-parsing": {
        "anime_face_test/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "anime_face_train/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "anime_face_train/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "anime_face_train/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "anime_face_train/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "anime_face_train/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "anime_face_train/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "anime_face_val/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "anime_seg_test/face_0007.png": "1800560dba0c14791ca6d4486d1eb2bc6f71141a17a4a6bf747f894eb34974e2",
        "anime_seg_train/face_0000.png": "ffb4410c2bb32349f0ed9376b52d89818be3445f5ca8311cb7b4b7de73fe649f",
        "anime_seg_train/face_0001.png": "6a9f7ea764a6bb53f8e2fb53457b1ab03f4dcca614b6fddedbf881842134b033",
        "anime_seg_train/face_0002.png": "85920a1c51cb6505eb3f0d2355cda4a92089c4c92d4db6897f2263fcca127cc0",
        "anime_seg_train/face_0003.png": "feeeb51cf0cf17fa9540964f3f1e7db21a08b17218c895fa9b4147ff25821cba",
        "anime_seg_train/face_0005.png": "a3ddaf231fccd9330c4a001583e03ee458fbe016b4cac26536944161abf6d1ca",
        "anime_seg_train/face_0006.png": "722e10addf2da2286114b67b449511ae161c9ee1fee8b16bffcae64cee57c145",
        "anime_seg_val/face_0004.png": "29d7bb3678cd1f74eef95250af21c33bbcd4e7050c13ba0f75d21fbc42c92f90",
    },
    "danbooru-parsing-link": {
        "anime_face_test/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "anime_face_train/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "anime_face_train/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "anime_face_train/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "anime_face_train/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "anime_face_train/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "anime_face_train/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "anime_face_val/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "anime_seg_test/face_0007.png": "1800560dba0c14791ca6d4486d1eb2bc6f71141a17a4a6bf747f894eb34974e2",
        "anime_seg_train/face_0000.png": "ffb4410c2bb32349f0ed9376b52d89818be3445f5ca8311cb7b4b7de73fe649f",
        "anime_seg_train/face_0001.png": "6a9f7ea764a6bb53f8e2fb53457b1ab03f4dcca614b6fddedbf881842134b033",
        "anime_seg_train/face_0002.png": "85920a1c51cb6505eb3f0d2355cda4a92089c4c92d4db6897f2263fcca127cc0",
        "anime_seg_train/face_0003.png": "feeeb51cf0cf17fa9540964f3f1e7db21a08b17218c895fa9b4147ff25821cba",
        "anime_seg_train/face_0005.png": "a3ddaf231fccd9330c4a001583e03ee458fbe016b4cac26536944161abf6d1ca",
        "anime_seg_train/face_0006.png": "722e10addf2da2286114b67b449511ae161c9ee1fee8b16bffcae64cee57c145",
        "anime_seg_val/face_0004.png": "29d7bb3678cd1f74eef95250af21c33bbcd4e7050c13ba0f75d21fbc42c92f90",
    },
    "anime-character-parsing": {
        "labelmap.json": "28208e3b1c8d1060aa3173a6656deaf8d69f4efbb7985b21605bd498d6be50ee",
        "test/face_0007.jpg": "f976dd15bac25f415f090700d909030640a2f3dfa84de4de0b06e58b73855b7d",
        "test_label/face_0007.png": "1800560dba0c14791ca6d4486d1eb2bc6f71141a17a4a6bf747f894eb34974e2",
        "train.txt": "6ce98173c4fb34b8b2325c2a81569e61faf0be73ebf14e87f500a9bb210ae85b",
        "train_aug/image/face_0000.jpg": "ae426e61e0e52a13ee0a74c7110c2c8070bf52506ab3fa6966991d4671708ab4",
        "train_aug/image/face_0001.jpg": "6f65a2703198cdd3ba876ef33430d5b7eb64d2959e7395623ae1428bc216900c",
        "train_aug/image/face_0002.jpg": "e8e6904d19252b26012a0c189470c4790cba74487154daf62ed81a315a056932",
        "train_aug/image/face_0003.jpg": "5b9e5d8f4228204f6c337c3d238226b6b3c9b7e28eca656943102a8d2cd88895",
        "train_aug/image/face_0005.jpg": "4db03bef80b4d2006e795930db3e2b309b1aef41f97aa757d15982d46e00d839",
        "train_aug/image/face_0006.jpg": "dbc4c7d120ec7d9f9e994dab18e3d9ef36c2d39d13a3a09c52b12eaef7637065",
        "train_aug/label/face_0000.png": "ffb4410c2bb32349f0ed9376b52d89818be3445f5ca8311cb7b4b7de73fe649f",
        "train_aug/label/face_0001.png": "6a9f7ea764a6bb53f8e2fb53457b1ab03f4dcca614b6fddedbf881842134b033",
        "train_aug/label/face_0002.png": "85920a1c51cb6505eb3f0d2355cda4a92089c4c92d4db6897f2263fcca127cc0",
        "train_aug/label/face_0003.png": "feeeb51cf0cf17fa9540964f3f1e7db21a08b17218c895fa9b4147ff25821cba",
        "train_aug/label/face_0005.png": "a3ddaf231fccd9330c4a001583e03ee458fbe016b4cac26536944161abf6d1ca",
        "train_aug/label/face_0006.png": "722e10addf2da2286114b67b449511ae161c9ee1fee8b16bffcae64cee57c145",
        "unsuper_train.txt": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "val/image/face_0004.jpg": "2a2db35e9167f5d1c4f8b61e6d5f623264d0ecc1b3450505c0f0dc032f239027",
        "val/label/face_0004.png": "29d7bb3678cd1f74eef95250af21c33bbcd4e7050c13ba0f75d21fbc42c92f90",
        "val.txt": "eaa9efc86934d774b87ed0991a5794c761eee68a32e926b910d75b70d688ba99",
    },
    "celebamask": {
        "CelebA-HQ-img/0.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "CelebA-HQ-img/1.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "CelebA-HQ-img/2.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "CelebA-HQ-img/3.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "CelebA-HQ-img/4.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "CelebA-HQ-img/5.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "CelebA-HQ-img/6.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "CelebA-HQ-img/7.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "CelebA-HQ-to-animeparse-mapping.csv": "98f0485f9759c1e257e85a4d880caeac6bbb24466f7c0988a0231677ea57933a",
        "CelebAMask-HQ-mask-anno/0/00000_cloth.png": "daed3e50b76060a86ce3a16690dbc826b3587857cb475eb1afb100b4b014f542",
        "CelebAMask-HQ-mask-anno/0/00000_hair.png": "9518ecce2c0322082565e64735685654ee6c16438924d7a51ec62d47af27dfc6",
        "CelebAMask-HQ-mask-anno/0/00000_hat.png": "82a05beefeabc3006544d778b59dee1d0f581c41cb974c5458ade84da1c974c2",
        "CelebAMask-HQ-mask-anno/0/00000_l_brow.png":
            "bcea4d8d154150995296e100d12df0c11fb57921d58d51a32e1b32d34c3f3aa9",
        "CelebAMask-HQ-mask-anno/0/00000_l_ear.png": "102de2639db1de586f33495e7981039b8370ee2c1e76fa71826c446c3542b2ea",
        "CelebAMask-HQ-mask-anno/0/00000_l_eye.png": "28cb70df63c043af4cf27988811a81283b97d44dfb342dbe002769e059dff076",
        "CelebAMask-HQ-mask-anno/0/00000_l_lip.png": "4249fd9e652a4685ee56b15fdf23179dd3835ae54d6171e379539097d7a83b43",
        "CelebAMask-HQ-mask-anno/0/00000_mouth.png": "9ab0f7035a29205a4e8181ca0a7a407c1118b31babbebc719a45a9c885969767",
        "CelebAMask-HQ-mask-anno/0/00000_neck.png": "0defebd639c78ddb1281a4b5070e7f653786542206c819e7ebbe08e7d73381d4",
        "CelebAMask-HQ-mask-anno/0/00000_neck_l.png":
            "b218326afe2d8cf9145a764256211757f3398c8e7746ed89d4d3ba7d9b1fbfac",
        "CelebAMask-HQ-mask-anno/0/00000_nose.png": "5ea55efe7b1232ec7cdb7e68435e0b5c91d1d1878f8088832f7c1392e38348cd",
        "CelebAMask-HQ-mask-anno/0/00000_r_brow.png":
            "343f73e3b149fb833844760981a2c24f3b9e260c6e236413d68d8d165fd87230",
        "CelebAMask-HQ-mask-anno/0/00000_r_ear.png": "2f15eaac4948a880f51568d650efe316d5c4afcc9a838e7a4f7e7d8010a88084",
        "CelebAMask-HQ-mask-anno/0/00000_r_eye.png": "0425854ff37dfd0b9d575727bf8a5185fabb88dfa4de4417e623d8b96a753964",
        "CelebAMask-HQ-mask-anno/0/00000_skin.png": "4145c6ec3a97b4ab8cb315ac046975f0804a021fe389f8c531a5ec5f8b8ba4bc",
        "CelebAMask-HQ-mask-anno/0/00000_u_lip.png": "d702a527cfc96176e0b190bad85c6c0eaa6ac50d3344b69dd8e6ec04701cedde",
        "CelebAMask-HQ-mask-anno/0/00001_cloth.png": "17cb90a3991bd8299d170dd4fd62ab655c6369515fe513841e40261d0c771bfe",
        "CelebAMask-HQ-mask-anno/0/00001_ear_r.png": "981093154c10f3e3e69ea5379bcb82c41d8906fd9990c2181bb09f40207c3711",
        "CelebAMask-HQ-mask-anno/0/00001_hair.png": "5a97d3f6b67eb45dab314574a4c367f7f81ac6e87e21243a59d8b0698ee63cfe",
        "CelebAMask-HQ-mask-anno/0/00001_hat.png": "7b8c91671d63ad11ab0bc489cf85bafa25be52b3623d31caa958f0c695375b9f",
        "CelebAMask-HQ-mask-anno/0/00001_l_brow.png":
            "599a8caab318cc6e2da076b4dcc1dd8a9a3b48f914a0bfe1527d38d959fddf68",
        "CelebAMask-HQ-mask-anno/0/00001_l_ear.png": "f9962e5d51b0a66923518b1c5fbb5a2121d6ef0eb564c57cbc462548e200004c",
        "CelebAMask-HQ-mask-anno/0/00001_l_eye.png": "6ded442c455dd39c954da1abdc8c9cf5f86e9cdadccf09b0a168f1404d0b78b9",
        "CelebAMask-HQ-mask-anno/0/00001_l_lip.png": "08a82a246ae2e60cae9eccad180f801b2900a79422c9f3cc47474a0041b176ca",
        "CelebAMask-HQ-mask-anno/0/00001_mouth.png": "2991433953010f5fb788c8e17eafe70ad964c2d2d56db394aabd588d57c04aa5",
        "CelebAMask-HQ-mask-anno/0/00001_neck.png": "bdc09ad5c2775c952b9a4a9d9ef1117ff2f4bb48ac55d5a2ad80c840dc39f83c",
        "CelebAMask-HQ-mask-anno/0/00001_nose.png": "192f1de8fb065217a968cb1f41d6739156408d704509e7107ced97d8bb0648c1",
        "CelebAMask-HQ-mask-anno/0/00001_r_brow.png":
            "171b84375dd2b75199385c20462264300c2ccd2da31b697eeb66d3a5a771a96d",
        "CelebAMask-HQ-mask-anno/0/00001_r_ear.png": "53013f8b3de9688f64a0f4729ffb42ee4f90d0fa1bfe46979dfed55f8e398fec",
        "CelebAMask-HQ-mask-anno/0/00001_r_eye.png": "1306a09a6235c0e963cd49aeae230b094707cdb0fcc03361aabd4d0e6617d059",
        "CelebAMask-HQ-mask-anno/0/00001_skin.png": "3d0a10d9829d977c9b3835c8ba507a237277ec4acc98ff6f9dc52afd866088bc",
        "CelebAMask-HQ-mask-anno/0/00001_u_lip.png": "e35315acb84a3bd005278001475442f0f4bebaae6df4d235ccbec24d0d6aeaef",
        "CelebAMask-HQ-mask-anno/0/00002_cloth.png": "62ea46d0299b53fc5988445db208af3e31dcc71cac8a4eeeca48532d47021cbb",
        "CelebAMask-HQ-mask-anno/0/00002_eye_g.png": "1bf6a472c3f49e3e60d58fcb8f3544e1c85239b871ad50a61781739c2fc3ca26",
        "CelebAMask-HQ-mask-anno/0/00002_hair.png": "402d45e4bb5c46061ffffe40ddbb137d9de8df492405ace833daae0e262bb0ae",
        "CelebAMask-HQ-mask-anno/0/00002_hat.png": "35a36d222f02c773bf198a3418846485ba0dcd9558b734d58a8bf925d378aa27",
        "CelebAMask-HQ-mask-anno/0/00002_l_brow.png":
            "8d94c3c72830bad94ee96aaf755d9d3e8f709bb2ded97c4c9e908ceab405e39b",
        "CelebAMask-HQ-mask-anno/0/00002_l_ear.png": "f7f25763bbe142e55933bcc2b16ebcc5c9c3ef1662dedd5c64294afd86bb6d90",
        "CelebAMask-HQ-mask-anno/0/00002_l_eye.png": "8213539702209cee7b31bf2dad3e752e62f4e1b029d334bc6b83328e235567f1",
        "CelebAMask-HQ-mask-anno/0/00002_l_lip.png": "22aceda117a90b4a0a093dea9ea7b46ecb9fbcfe9b01b5b9a84129a4bcdb29bd",
        "CelebAMask-HQ-mask-anno/0/00002_mouth.png": "41997db4d138d7309d3e4983828379ebc15ab0c2d58ee03278924eed2c63805b",
        "CelebAMask-HQ-mask-anno/0/00002_neck.png": "0676b3c84d27d4d40409ab70dc8b5cd59d8737814518945be2114c7ca1e722d1",
        "CelebAMask-HQ-mask-anno/0/00002_neck_l.png":
            "6abe58cab53ea123e7000e6a8185c761ea1ce095392c8725c793b681e7188446",
        "CelebAMask-HQ-mask-anno/0/00002_nose.png": "e1970bd41f9c11559209721efdf5305c1a7bf2e14a0f2fec7f8f1b3746ed016c",
        "CelebAMask-HQ-mask-anno/0/00002_r_brow.png":
            "72c8a6007924b24095854727c7ffa52908f9ee1c0a9d6ca2443ffcd6a0f1274b",
        "CelebAMask-HQ-mask-anno/0/00002_r_ear.png": "8ed865b651d09dcff8adbe6c3aa7928e66e853dcc869ae6803d7b77ba93d81cc",
        "CelebAMask-HQ-mask-anno/0/00002_r_eye.png": "6288acad02c3a4b6dfeee487181b2e9cc157008a62e00aceda59ce1618d30b84",
        "CelebAMask-HQ-mask-anno/0/00002_skin.png": "e2c735f74d4b854144390c47f64e8fff02e82db305fa0d3f1327f37754c23183",
        "CelebAMask-HQ-mask-anno/0/00002_u_lip.png": "8b8c55458f15434c972d24d78185d882b281ba7eabf2aaa9741bd7f5dca708e2",
        "CelebAMask-HQ-mask-anno/0/00003_cloth.png": "5c06170902107cf97d506772553373c27be73fef8d5265c35fece0ce4be8bee9",
        "CelebAMask-HQ-mask-anno/0/00003_hair.png": "46d25a0d6b49f60442d5c4ca6c06a66f2d8f02d464f18018648ced394ec6d13b",
        "CelebAMask-HQ-mask-anno/0/00003_hat.png": "7dcc9d2134594b9ba825aab061a6beae047d0481b9d8ce837bbbf0228947e622",
        "CelebAMask-HQ-mask-anno/0/00003_l_brow.png":
            "9d5bf233bff5f28a353240be8b68311a48566c1b7b5b6ba5d86a0877ede7be4a",
        "CelebAMask-HQ-mask-anno/0/00003_l_ear.png": "1b0c98c89f11bdb582993df2265c375ee5749d4a629e6072141ee4c1e8793835",
        "CelebAMask-HQ-mask-anno/0/00003_l_eye.png": "f5b6e8f44dc7f2970bbbcca5ec8a5931cdd3ec7eebcb557cc019607962b5143c",
        "CelebAMask-HQ-mask-anno/0/00003_l_lip.png": "15a7dc56757542e85512909fa0cfde412b8cc0ce9d4506c53021a8596d58d1a2",
        "CelebAMask-HQ-mask-anno/0/00003_mouth.png": "8e0c1eb4e0b5db2532386fb8c02bfb8e4a6354b8d4a4a96d931080fd5d239e3f",
        "CelebAMask-HQ-mask-anno/0/00003_neck.png": "11360dff1d5d5a3ffcede8f39e4eacf06988f8ea2ed348131c6331b02bb761e3",
        "CelebAMask-HQ-mask-anno/0/00003_nose.png": "7a8f1cc3573822a28f47a086e4992e77a94cb31d20819a8fd41914d70b928f0d",
        "CelebAMask-HQ-mask-anno/0/00003_r_brow.png":
            "04dc1ff400973e8dea068486bbdadcdfb717378e72e8b342845a7c6710e990b1",
        "CelebAMask-HQ-mask-anno/0/00003_r_ear.png": "79305ee3ec40360f17d540d0eff042429fce2226e88a760f169cd8efea94269f",
        "CelebAMask-HQ-mask-anno/0/00003_r_eye.png": "df9d8e6583e15a2e183d00cfea2ff5508af0355fead9a484d11af8e37919b280",
        "CelebAMask-HQ-mask-anno/0/00003_skin.png": "7ad1591a7dc2c28adf4dacdbc888743f4052362c96f0c8342a24b272eb45d096",
        "CelebAMask-HQ-mask-anno/0/00003_u_lip.png": "cf362a838b2ac8ab3a3e754316a9f850f7a832bd460894478c71baaced113b29",
        "CelebAMask-HQ-mask-anno/0/00004_cloth.png": "9b8e6b2314953209ec031f8e44f3c42ae94cfdff54fc06cd67cba35e6a82db12",
        "CelebAMask-HQ-mask-anno/0/00004_ear_r.png": "2c2485cdadfd9e38cf363488a5377e7d9ab8bcb9c75f1e20e6a430e10ecd52f7",
        "CelebAMask-HQ-mask-anno/0/00004_hair.png": "828d5e3fc6438c289e6fd78511b3e835bdff09ba239eb3d31d34333ddb7336c4",
        "CelebAMask-HQ-mask-anno/0/00004_l_brow.png":
            "14db2f5af5e7a33152c9bda55b29dc618d18cd44f183f42cb204f9747fa8e8ee",
        "CelebAMask-HQ-mask-anno/0/00004_l_ear.png": "22ed92b92809d8d20d2bdbdf9587389809054be47a813782701bae6b9f3ee334",
        "CelebAMask-HQ-mask-anno/0/00004_l_eye.png": "c5a466039f7169cf202f9628719a69ac1a8b5711046207c3e59772aaa02fef16",
        "CelebAMask-HQ-mask-anno/0/00004_l_lip.png": "a80b271770d12cc00eda2aef9fe830357d67a0d1e0355beb6de3036857d3a6ff",
        "CelebAMask-HQ-mask-anno/0/00004_mouth.png": "670816acaebc477910e0d54557d36b83c7dd18e577e338b875f0c77f33f16f65",
        "CelebAMask-HQ-mask-anno/0/00004_neck.png": "dda4651fa1fb6fe619a8a2297d9918f423a35624a74982878343b38d1ec61d3f",
        "CelebAMask-HQ-mask-anno/0/00004_nose.png": "aa7e1cbb4d5db665d7281399b038b26feb605dfba3c100f7758adba20aa43073",
        "CelebAMask-HQ-mask-anno/0/00004_r_brow.png":
            "97166d9c3834d57ff20067437166076cb65151d8a37304fe4a6b529762474288",
        "CelebAMask-HQ-mask-anno/0/00004_r_ear.png": "9dec3083b57af0c88c89e80ada910878d7f8a8f8fc49d90f0b870d8ad753bdf2",
        "CelebAMask-HQ-mask-anno/0/00004_r_eye.png": "4a077af50d432788f44148bcbbf26514875e20bb18b37b3048665386b86bd3c5",
        "CelebAMask-HQ-mask-anno/0/00004_skin.png": "edb254aa0c34ae4aee47beec90fabab153aff537dd993f4c03b28d2bc0309a8c",
        "CelebAMask-HQ-mask-anno/0/00004_u_lip.png": "eda3673fc60fbfd8a730121fca75dcce916d604aa5bc863268459085557dd46c",
        "CelebAMask-HQ-mask-anno/0/00005_cloth.png": "f88f11b2a2f7727ce9860b89b0fce87c311ab9fbd84af3b77dcbe23043c11e67",
        "CelebAMask-HQ-mask-anno/0/00005_hair.png": "f23bb6a167bd0bcbfd686536fe898f8f79f30668a29d6fdbba2907f3dd927d8c",
        "CelebAMask-HQ-mask-anno/0/00005_l_brow.png":
            "7abe8eb76f2e0dde610364958d18607d279f1edd7f4ed3212d4d81f2957d2fd8",
        "CelebAMask-HQ-mask-anno/0/00005_l_ear.png": "cea09af6b17e51fd11dc47eee2d357207d19ee9f7b3a020c1f981ac04f0b9794",
        "CelebAMask-HQ-mask-anno/0/00005_l_eye.png": "d511df25077a32919591fc85a1dba2495e940cecf1e6ec912dec3a405a07bdf5",
        "CelebAMask-HQ-mask-anno/0/00005_l_lip.png": "69c826f7879bc03cd0e88dd0039bc1b14f36792973e14c634124b305c8b58eb0",
        "CelebAMask-HQ-mask-anno/0/00005_mouth.png": "5977727197aaaaf5e8a237987c15fccc258d11615962bf129a8caf1d8bb958c7",
        "CelebAMask-HQ-mask-anno/0/00005_neck.png": "e95653279fdb8484ba1da618b2e0db2fc1cc9189327bb679e27cc7a1751edbfb",
        "CelebAMask-HQ-mask-anno/0/00005_nose.png": "9c65a30d5a31c261c1543e9b0f04e30574064195700dd71841ae537226db656c",
        "CelebAMask-HQ-mask-anno/0/00005_r_brow.png":
            "7436b5e3f688bc428fbae902f757fcdf59a3cf9318a767092496d744cd2a3dba",
        "CelebAMask-HQ-mask-anno/0/00005_r_ear.png": "2365b9024f7dfa646c3ee62d303ed1f17a3b21f8e71fba45ed4f39c79056d90a",
        "CelebAMask-HQ-mask-anno/0/00005_r_eye.png": "ea9ced42f3a370080100c2bd0efa64b59737c46e0e7c1ddca504d22a1a51b99c",
        "CelebAMask-HQ-mask-anno/0/00005_skin.png": "81f07a4343a8d8b9f4e34211efd6d0828e3b9bd95583712980e7bf635c8ba1c1",
        "CelebAMask-HQ-mask-anno/0/00005_u_lip.png": "5663f265c7be68a1e414e07c677fb53bf684ea017b0a48125ec9b5d778a52812",
        "CelebAMask-HQ-mask-anno/0/00006_cloth.png": "2f712e149e7f661c3fdc50fd7a35b62d19015650da9c76e954097edabd597c04",
        "CelebAMask-HQ-mask-anno/0/00006_ear_r.png": "a0c0ff83fbe65436f5e20fcadaa759f3dde9f7015859f832843bd7c6bba53ee1",
        "CelebAMask-HQ-mask-anno/0/00006_hair.png": "9aa5241bba405f74e1ad74a86ba71f1687bed5b9fa28a5470236374184eb9a66",
        "CelebAMask-HQ-mask-anno/0/00006_ignore.png":
            "628c1161e2d5766c168955399d35bc28ede08b4b9938f5bdd4162bb94d28ef5a",
        "CelebAMask-HQ-mask-anno/0/00006_l_brow.png":
            "8cf99026ec787c90af332ca07f3c0e0ab6e202026bed0cf0a1698c04574aa802",
        "CelebAMask-HQ-mask-anno/0/00006_l_ear.png": "d03156182d5a44e726ded7dd7fa19f1d2e03ca2633ea767010e2e46dffc3073a",
        "CelebAMask-HQ-mask-anno/0/00006_l_eye.png": "cc7b2ac56e6c8567561b57afc1ff092ccfba8a9dd43b2486a974004df11f12ec",
        "CelebAMask-HQ-mask-anno/0/00006_l_lip.png": "579d67885ae6360a3752e63071d0256ccc1e9d43157b1be6db55c72a2a286aaf",
        "CelebAMask-HQ-mask-anno/0/00006_mouth.png": "bb865de1ca85eb01dd8df3614a5cc0242c8ed7c29a06a74d99e0110856794d26",
        "CelebAMask-HQ-mask-anno/0/00006_neck.png": "d5ed3d925403eb13ada5ce1d6c9cf0d522ab241a33b1bad94a2877875fc1337e",
        "CelebAMask-HQ-mask-anno/0/00006_neck_l.png":
            "95ac40602b32f8da84d6990a91be10d470587c3386610a6bc3e571941ff9f5c4",
        "CelebAMask-HQ-mask-anno/0/00006_nose.png": "8284731a5bb85a78690d4761e4ff6dc2a2834b2e6b440f2ba6b26a45451c5b1b",
        "CelebAMask-HQ-mask-anno/0/00006_r_brow.png":
            "1a79cfec92815b284b6ad43438648d1f0f452e38ec3ffe4ba1661fe0d750f016",
        "CelebAMask-HQ-mask-anno/0/00006_r_ear.png": "92a4253f9632aaf9075e43ac0bccb38c1b80d13d0147594b0edbc4ff75b10803",
        "CelebAMask-HQ-mask-anno/0/00006_r_eye.png": "bdb2e6340e733aeb48ddf35149ce53224e0b81ce57814a66ebd16be13a57993d",
        "CelebAMask-HQ-mask-anno/0/00006_skin.png": "9d8d8df24a54a092575c3c65bf0b7d4a2f7e496d34c6be0dac72a0c0611537d8",
        "CelebAMask-HQ-mask-anno/0/00006_u_lip.png": "debfca27e3b276d5d08bee99d23e5de03b97bf8fc229db1a8baf9956bc80d429",
        "CelebAMask-HQ-mask-anno/0/00007_cloth.png": "5ce285f5a52dfd66cb40fbed014abccd647262fe4738364497933d97d99e6e6c",
        "CelebAMask-HQ-mask-anno/0/00007_ear_r.png": "a0219bcebe13be7860ca4d90090f69268c80c7c3678bf40d7b1123225aaee22c",
        "CelebAMask-HQ-mask-anno/0/00007_hair.png": "c96204a1f48684103b036c8c90f4e61820b2d3468f9c0b8828262f9ca05cd54c",
        "CelebAMask-HQ-mask-anno/0/00007_l_brow.png":
            "2fb11cefa71c36ed4a9d83eb20d6e04f22c40b0e6f9b4173e85ce5e65df2ca3e",
        "CelebAMask-HQ-mask-anno/0/00007_l_ear.png": "72e54f55dc14e2cc62517b27f2887ea7f2de4f6c138ae6ba25d1939b9cb4d37e",
        "CelebAMask-HQ-mask-anno/0/00007_l_eye.png": "a0ae6e82a1f4e0077a95f1690df447c6c93aa298a52e1505f53a0199aea7d03c",
        "CelebAMask-HQ-mask-anno/0/00007_l_lip.png": "b45fe81ab4dcef23e6c6d3a231eb5e2b93c5a30888a7dd995c3029776628cc76",
        "CelebAMask-HQ-mask-anno/0/00007_mouth.png": "0b2ef0c89afdcfa3c3ef11d3ba9eec3b1a61165c5e0b5bf15ee4058a8edbe989",
        "CelebAMask-HQ-mask-anno/0/00007_neck.png": "731a1fccbee8218bc1bd6698233cc3ee20c8352c5026727832f0c3aad524014b",
        "CelebAMask-HQ-mask-anno/0/00007_nose.png": "3fcbf5acfcfd74e7319d66d7d3101015da8ac579246076a79eb27008f0f2e903",
        "CelebAMask-HQ-mask-anno/0/00007_r_brow.png":
            "cfbd645a20af035d79ea3d35729c75e3d5426fcd75b09efd239847c77182d28d",
        "CelebAMask-HQ-mask-anno/0/00007_r_ear.png": "f5bdec16f76b0aa6d5b0fffb47fe55bfdb2787825d5d700c270ed2e4f54414da",
        "CelebAMask-HQ-mask-anno/0/00007_r_eye.png": "915818b4878d64ce26c5f041cea4ee92ade5c1902bc4cc7879da2de022e8039b",
        "CelebAMask-HQ-mask-anno/0/00007_skin.png": "6c252897d2110d419abf3d8d6665e4ab73f5b1b2f03c8a1e2fdc042e38123365",
        "CelebAMask-HQ-mask-anno/0/00007_u_lip.png": "0ce6cc287beaef35b45f9fd65d3fd7f67da9f0bb4e93ea8c549e95eaddc55004",
    },
    "index-png": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "labelmap.json": "28208e3b1c8d1060aa3173a6656deaf8d69f4efbb7985b21605bd498d6be50ee",
        "masks/face_0000.png": "ffb4410c2bb32349f0ed9376b52d89818be3445f5ca8311cb7b4b7de73fe649f",
        "masks/face_0001.png": "6a9f7ea764a6bb53f8e2fb53457b1ab03f4dcca614b6fddedbf881842134b033",
        "masks/face_0002.png": "85920a1c51cb6505eb3f0d2355cda4a92089c4c92d4db6897f2263fcca127cc0",
        "masks/face_0003.png": "feeeb51cf0cf17fa9540964f3f1e7db21a08b17218c895fa9b4147ff25821cba",
        "masks/face_0004.png": "29d7bb3678cd1f74eef95250af21c33bbcd4e7050c13ba0f75d21fbc42c92f90",
        "masks/face_0005.png": "a3ddaf231fccd9330c4a001583e03ee458fbe016b4cac26536944161abf6d1ca",
        "masks/face_0006.png": "722e10addf2da2286114b67b449511ae161c9ee1fee8b16bffcae64cee57c145",
        "masks/face_0007.png": "1800560dba0c14791ca6d4486d1eb2bc6f71141a17a4a6bf747f894eb34974e2",
        "splits/test.txt": "00f516aa8b2bbc5b66715a4fd06df41919498aed63861a4b173e2c8ae64a2bb6",
        "splits/train.txt": "6ce98173c4fb34b8b2325c2a81569e61faf0be73ebf14e87f500a9bb210ae85b",
        "splits/val.txt": "eaa9efc86934d774b87ed0991a5794c761eee68a32e926b910d75b70d688ba99",
    },
    "index-png-p": {
        "labelmap.json": "28208e3b1c8d1060aa3173a6656deaf8d69f4efbb7985b21605bd498d6be50ee",
        "masks/face_0000.png": "e33b5a8a29effe436010f029d4901a1521ab05a1f3a141e72936616b900d891d",
        "masks/face_0001.png": "c29990e5916d56e2195af8423d26ab1908ddd47522c6e3120ed4edbac14b2bc6",
        "masks/face_0002.png": "c6604ce26f204c09ff96495e409ccd5e552fd43966d1a65e9002552d99304c82",
        "masks/face_0003.png": "d24657478b90208704f8eef286b4632e5fa29e3b0a1e569fc8403ad991a923c8",
        "masks/face_0004.png": "433a4725cdbf19eba1a2e89619590dd99a28b5c4e043c5a0dfa6cfcff092756c",
        "masks/face_0005.png": "7ba3816f2071802e42f3fa080097faccb166a3ff3b981d98e0a4829b71bcced3",
        "masks/face_0006.png": "9b7a229c7b73bb199945fdb66d227a29c52299fb07e74bcdd8d8b5c9a08f0d37",
        "masks/face_0007.png": "98390fc4d61f63c89695e56558bd6f0957306af7db164478e1e2186311371b63",
        "splits/test.txt": "00f516aa8b2bbc5b66715a4fd06df41919498aed63861a4b173e2c8ae64a2bb6",
        "splits/train.txt": "6ce98173c4fb34b8b2325c2a81569e61faf0be73ebf14e87f500a9bb210ae85b",
        "splits/val.txt": "eaa9efc86934d774b87ed0991a5794c761eee68a32e926b910d75b70d688ba99",
    },
    "labelme": {
        "test/face_0007.json": "1883fb4d1f06b75587a8b475d102f2e252a9065cb883e37f95ffdf10af282295",
        "test/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "train/face_0000.json": "318b9e9ccc1334333a039ee2c4d86272edaeb7b503352ee8dd31ef847f9c2804",
        "train/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "train/face_0001.json": "bf0caee5b0cf6bb7fd1d1054514f8eb36ff5cf4f44fab1834418eb6d13d44df8",
        "train/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "train/face_0002.json": "fbc60fc5f9b3439133d8df16f6c30e9c243f672cfadc285527aa39eaab9a8f78",
        "train/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "train/face_0003.json": "5e45530a99636281f21c9fd2a04d5c26449a961c24c4b76f79775d9fc7f9b094",
        "train/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "train/face_0005.json": "f1067e443e42d63c86213c111700473ebc31f69fca83a475d54593372668104a",
        "train/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "train/face_0006.json": "c4906a35f5cd33a26105ed8f2264bc294fb0be5b56a8a69f7b5e2bbbae01dfd9",
        "train/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "val/face_0004.json": "eaf1c9a63a214a3c73713bcddf3d0582d210883e292491de1ca0f32cfddb064e",
        "val/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
    },
    "labelstudio": {
        "images/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
        "images/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "label_config.xml": "4683f232a00793cbc5964fe66de80010c49e8919deeaf7112495138d4be5148b",
        "tasks.json": "061228eb08adaa4006e9be1d9cfd183abfff16222176c3d1f09de77e061fc9b4",
    },
    "labelstudio-predictions": {
        "label_config.xml": "4683f232a00793cbc5964fe66de80010c49e8919deeaf7112495138d4be5148b",
        "tasks.json": "64f6fcfd63dbae4397377836edccceb6943daf44f227415a7cad21589cc82209",
    },
    "parquet": {
        "masks.parquet": "024423e1bc65ab414cc590841811592576a7050069d6cefda9c6256fa7529b86",
        "samples.parquet": "f5f94ab4cf98639cca22c9473b9b1edd2fec6825372b5caa89028cdcdcdc3734",
    },    "sis-anime": {
        "annotations/test/face_0007.png": "1800560dba0c14791ca6d4486d1eb2bc6f71141a17a4a6bf747f894eb34974e2",
        "annotations/training/face_0000.png": "ffb4410c2bb32349f0ed9376b52d89818be3445f5ca8311cb7b4b7de73fe649f",
        "annotations/training/face_0001.png": "6a9f7ea764a6bb53f8e2fb53457b1ab03f4dcca614b6fddedbf881842134b033",
        "annotations/training/face_0002.png": "85920a1c51cb6505eb3f0d2355cda4a92089c4c92d4db6897f2263fcca127cc0",
        "annotations/training/face_0003.png": "feeeb51cf0cf17fa9540964f3f1e7db21a08b17218c895fa9b4147ff25821cba",
        "annotations/training/face_0005.png": "a3ddaf231fccd9330c4a001583e03ee458fbe016b4cac26536944161abf6d1ca",
        "annotations/training/face_0006.png": "722e10addf2da2286114b67b449511ae161c9ee1fee8b16bffcae64cee57c145",
        "annotations/validation/face_0004.png": "29d7bb3678cd1f74eef95250af21c33bbcd4e7050c13ba0f75d21fbc42c92f90",
        "characters.json": "7eca3bfeb3cc607b2ec47f6f1c6bb558c3fcd3f0fccfe0d0ade1a15dbad5a8c9",
        "class.txt": "42b584e53837e72e2ceb94826890b9ef3c91730dd4416457c9fe004e84fde0c8",
        "images/test/face_0007.png": "4a6e345f5c429e760a44ee82a74f3370e2abcfd573f3e57b9af0101d1b757aa9",
        "images/training/face_0000.png": "b29da3f9159864fdcbf8ed0d4b1b3f65bc51a2c480d2c02d23eccd398b3075aa",
        "images/training/face_0001.png": "760d28bf91c52e148bb008ea437e342c09d1ff4efe71ab9f81f589860753792a",
        "images/training/face_0002.png": "36e02811e928ac0958ee4b9b4ed3f356aa465ce7f2121edfd1a75641c95b40d4",
        "images/training/face_0003.png": "5cc2ba3107bed4ee973c9f7cac5dee45b2d02b362f7da2c54dc0b0343eba24d0",
        "images/training/face_0005.png": "7616eef37ba3de051260eeb9bf7711a69ac53c8faae5d956efefbc7670aa776d",
        "images/training/face_0006.png": "a419f6255dc44f331a307cbccf0b6baf1b115b6dcc0b32077bd90e7962fe835a",
        "images/validation/face_0004.png": "3acd48474d0ceb450a76d5e120aa08e7047af659b4c8a3c9a97e55b8833370d8",
    },
}


if __name__ == "__main__":  # record the table: python -m tests.test_export_checksums > table.py
    import pprint
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        store = build_demo_store(Path(tmp))
        table = {case: run_case(store, Path(tmp) / case, args) for case, args in CASES.items()}
    # paste over EXPECTED, then wrap the lines over 120 columns
    print("EXPECTED: dict[str, dict[str, str]] = " + pprint.pformat(table, width=118, sort_dicts=False))
