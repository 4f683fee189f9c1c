"""``validate`` checks the manifest itself: ``PRAGMA integrity_check`` and ``PRAGMA foreign_key_check``
(:mod:`animeparse.qa.manifest`, code ``manifest_corrupt``), on copies of a real store whose pages are damaged.

SQLite keeps no checksum of its pages: damage inside a row's values (a changed character of a path) passes its
integrity_check, and is left to the file checks (missing_file, bit_rot). What it does see is structure: cells off
their page, rows missing from an index, entries out of order. The random-damage property asks only that validate
never crashes: it reports (findings; damage to a value another check reads, such as a phash that is no longer hex,
may come out as that check's ``check_failed`` error), refuses (StoreError, exit code 2), or sees nothing (the bytes
fell in free space or inside a value).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from animeparse import Dataset
from animeparse.cli.main import cli
from animeparse.demo.defects import make_face_store
from animeparse.errors import StoreError
from animeparse.qa import QAConfig, validate

from .fuzzkit import fuzz, tally

CFG = QAConfig(workers=0)


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("manifest") / "ds"
    make_face_store(root, 6, size=64, workers=0)
    return copy_store(root, root.with_name("checkpointed"))  # no WAL left: its size is the same in every copy


def copy_store(src: Path, dst: Path) -> Path:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    db = sqlite3.connect(dst / "manifest.sqlite")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file, where the damage goes
    db.close()
    return dst


def page_of(root: Path, name: str) -> tuple[int, int]:
    """(root page number, page size) of a table or index."""
    db = sqlite3.connect(f"file:{root / 'manifest.sqlite'}?mode=ro", uri=True)
    try:
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
        return int(page), int(db.execute("PRAGMA page_size").fetchone()[0])
    finally:
        db.close()


def damage(root: Path, offset: int, garbage: bytes) -> None:
    with open(root / "manifest.sqlite", "r+b") as fh:
        fh.seek(offset)
        fh.write(garbage)


def corrupt_codes(report) -> list[str]:
    return [f.code for f in report.findings if f.code == "manifest_corrupt"]


def test_clean_store_has_no_manifest_finding(clean_store, tmp_path):
    root = copy_store(clean_store, tmp_path / "ds")
    with Dataset.open(root) as ds:
        report = validate(ds, CFG)
    assert "manifest" in report.checks
    assert corrupt_codes(report) == []


def test_damaged_index_page_is_reported(clean_store, tmp_path):
    """Garbage over the cell area (second half) of the samples_status index page: SQLite still opens the file and
    every query validate makes still answers, so only integrity_check tells."""
    root = copy_store(clean_store, tmp_path / "ds")
    page, size = page_of(root, "samples_status")
    damage(root, (page - 1) * size + size // 2, bytes((i * 37 + 11) % 256 for i in range(size // 2)))
    with Dataset.open(root) as ds:
        assert len(ds.samples()) == 6  # the store reads as usual
        report = validate(ds, CFG)
        skipped = validate(ds, QAConfig(workers=0, skip=("manifest",)))
    (finding,) = [f for f in report.findings if f.code == "manifest_corrupt"]
    assert finding.severity == "error" and finding.file == "manifest.sqlite" and finding.check == "manifest"
    assert "samples_status" in " ".join(finding.data["problems"]) and "REINDEX" in finding.message
    assert corrupt_codes(skipped) == []  # nothing else would have noticed

    out = tmp_path / "qa.json"
    result = CliRunner().invoke(cli, ["validate", str(root), "--json", str(out), "--workers", "0"])
    assert result.exit_code == 1, result.output
    assert "manifest_corrupt" in {f["code"] for f in json.loads(out.read_text())["findings"]}

    # and the fix the message gives works
    db = sqlite3.connect(root / "manifest.sqlite")
    db.execute("REINDEX")
    db.close()
    with Dataset.open(root) as ds:
        assert corrupt_codes(validate(ds, CFG)) == []


def test_rows_pointing_at_deleted_rows_are_reported(clean_store, tmp_path):
    root = copy_store(clean_store, tmp_path / "ds")
    db = sqlite3.connect(root / "manifest.sqlite")  # foreign keys off, as in any sqlite3 shell
    sid = db.execute("SELECT sample_id FROM masks LIMIT 1").fetchone()[0]
    db.execute("DELETE FROM samples WHERE id = ?", (sid,))
    db.commit()
    db.close()
    with Dataset.open(root) as ds:
        report = validate(ds, CFG)
    (finding,) = [f for f in report.findings if f.code == "manifest_corrupt"]
    assert "masks rowid" in finding.message and "do not exist" in finding.message


def test_unreadable_rows_stop_validate_with_the_damage_named(clean_store, tmp_path):
    """The samples table's page overwritten whole: the rows cannot be read, so nothing can be checked; validate
    refuses (exit code 2) and says what integrity_check found."""
    root = copy_store(clean_store, tmp_path / "ds")
    page, size = page_of(root, "samples")
    damage(root, (page - 1) * size, bytes(range(256)) * (size // 256))
    with Dataset.open(root) as ds, pytest.raises(StoreError, match="manifest") as err:
        validate(ds, CFG)
    assert "manifest.sqlite" in str(err.value)
    result = CliRunner().invoke(cli, ["validate", str(root), "--workers", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def replace_bytes(root: Path, old: bytes, new: bytes) -> None:
    """Overwrite the first occurrence of ``old`` in the manifest file with ``new`` (same length)."""
    path = root / "manifest.sqlite"
    data = path.read_bytes()
    assert len(old) == len(new) and old in data
    path.write_bytes(data.replace(old, new, 1))


def test_text_that_is_not_utf8_is_named(clean_store, tmp_path):
    """One byte of a sample's name made invalid UTF-8: integrity_check passes (no checksums), the rows cannot be
    read, and validate says which row holds it."""
    root = copy_store(clean_store, tmp_path / "ds")
    replace_bytes(root, b"face_0003", b"face\xe90003")
    with Dataset.open(root) as ds, pytest.raises(StoreError, match=r"not UTF-8 \(first: samples rowid \d+\)"):
        validate(ds, CFG)


def test_garbled_schema_is_named(clean_store, tmp_path):
    """A column renamed inside the stored CREATE TABLE text: SQLite reads the table as before, under the wrong name."""
    root = copy_store(clean_store, tmp_path / "ds")
    replace_bytes(root, b"source      TEXT", b"sourze      TEXT")
    with Dataset.open(root) as ds, pytest.raises(StoreError, match="schema of manifest.sqlite is not the one"):
        validate(ds, CFG)


def test_nul_byte_in_a_path_is_a_missing_file(clean_store, tmp_path):
    """Found by the long run: a NUL byte in a mask row's path (valid UTF-8, so only its use shows it) crashed the
    left/right vote, which ran outside the checks' guard. Now the file is unreadable, reported as missing_file."""
    root = copy_store(clean_store, tmp_path / "ds")
    replace_bytes(root, b"masks/gt/", b"\x00asks/gt/")
    with Dataset.open(root) as ds:
        report = validate(ds, CFG)
    (finding,) = [f for f in report.findings if f.code == "missing_file"]
    assert "embedded null byte" in finding.message
    assert not [f for f in report.findings if f.code == "check_failed"]


@pytest.mark.parametrize("version", [-1, 0, 2], ids=lambda v: f"user_version={v}")
def test_damaged_schema_version_in_the_header_is_refused(clean_store, tmp_path, version):
    """The header's user_version below the schema the file holds: the migrations would run again on it."""
    root = copy_store(clean_store, tmp_path / "ds")
    db = sqlite3.connect(root / "manifest.sqlite")
    db.execute(f"PRAGMA user_version = {version}")
    db.close()
    with pytest.raises(StoreError, match="header is damaged"):
        Dataset.open(root).close()
    result = CliRunner().invoke(cli, ["validate", str(root), "--workers", "0"])
    assert result.exit_code == 2 and "header is damaged" in result.output


@fuzz("manifest_random_page_garbage")
@given(st.data())
def test_random_page_damage_is_reported_or_refused(clean_store, tmp_path_factory, data):
    size = (clean_store / "manifest.sqlite").stat().st_size
    root = copy_store(clean_store, tmp_path_factory.mktemp("fuzz") / "ds")
    offset = data.draw(st.integers(0, size - 1), label="offset")  # page 1: the file header and the schema
    garbage = data.draw(st.binary(min_size=1, max_size=512), label="garbage")
    damage(root, offset, garbage[:size - offset])
    try:
        with Dataset.open(root) as ds:
            report = validate(ds, CFG)
    except StoreError as err:  # refused with one message (exit code 2)
        tally("manifest_random_page_garbage", "refused at open" if "could not be opened" in str(err) or
              "schema version" in str(err) else "refused: rows unreadable")
        return
    codes = {f.code for f in report.findings if f.severity == "error"}
    tally("manifest_random_page_garbage", "manifest_corrupt" if "manifest_corrupt" in codes else
          f"other errors ({', '.join(sorted(codes))})" if codes else "unseen (no error finding)")
