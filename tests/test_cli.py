import json
import re

import click
import pytest
from click.testing import CliRunner

from animeparse.cli.main import cli

from .conftest import REPO, make_pair


def _commands(group=cli, prefix="animeparse"):
    for name, cmd in sorted(group.commands.items()):
        yield f"{prefix} {name}", cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, f"{prefix} {name}")


ALL = list(_commands())


@pytest.mark.parametrize("path,cmd", ALL, ids=[p for p, _ in ALL])
def test_every_command_has_help_with_example(path, cmd):
    assert cmd.help and len(cmd.help.strip()) > 20, f"{path} has no help text"
    assert "Example" in cmd.help, f"{path}: help must end with an example"
    result = CliRunner().invoke(cli, [*path.split()[1:], "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


@pytest.mark.parametrize("path,cmd", ALL, ids=[p for p, _ in ALL])
def test_every_command_and_option_documented_in_cli_md(path, cmd):
    doc = (REPO / "docs" / "cli.md").read_text()
    section = re.search(rf"^## `{re.escape(path)}`.*?(?=^## |\Z)", doc, re.M | re.S)
    assert section, f"docs/cli.md has no '## `{path}`' section"
    for param in cmd.params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("-") and opt not in ("-h", "--help"):
                assert opt in section.group(0), f"docs/cli.md: {path} does not mention {opt}"


def test_version_and_root_help():
    runner = CliRunner()
    assert re.match(r"animeparse, version \d+\.\d+", runner.invoke(cli, ["--version"]).output)
    assert "Example" in runner.invoke(cli, ["--help"]).output


def test_init_info_ingest_roundtrip(tmp_path):
    runner = CliRunner()
    for i in range(3):
        make_pair(tmp_path / "src", f"s{i}", seed=i)
    r = runner.invoke(cli, ["init", str(tmp_path / "ds"), "--labelmap", "danbooru-parsing"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    assert "3 added, 3 with masks" in r.output
    r = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds")])
    assert "0 added" in r.output and "3 exact duplicates skipped" in r.output
    r = runner.invoke(cli, ["info", str(tmp_path / "ds"), "--json"])
    info = json.loads(r.output)
    assert info["samples"] == 3 and info["by_layer"] == {"gt": 3} and info["by_status"] == {"annotated": 3}
    r = runner.invoke(cli, ["info", str(tmp_path / "ds")])
    assert "danbooru-parsing v2" in r.output and "train" in r.output


def test_init_with_classes(tmp_path):
    r = CliRunner().invoke(cli, ["init", str(tmp_path / "ds"), "--classes", "hair,face,top", "--kind", "character"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "ds" / "labelmap.json").read_text())["classes"][1]["name"] == "hair"


def test_library_error_is_one_line_exit_1(tmp_path):
    r = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert r.exit_code == 1
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "animeparse init" in lines[0]


def test_usage_error_exit_2(tmp_path):
    r = CliRunner().invoke(cli, ["init"])
    assert r.exit_code == 2


def test_ingest_bad_mask_names_file_and_keeps_store(tmp_path):
    import numpy as np
    from PIL import Image

    make_pair(tmp_path / "src", "a", seed=1)
    make_pair(tmp_path / "src", "b", seed=2)
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(tmp_path / "src" / "masks" / "b.png")
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path / "ds")])
    r = runner.invoke(cli, ["-q", "ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds")])
    assert r.exit_code == 1 and "b.png" in r.output and "--resize-masks nearest" in r.output
    r = runner.invoke(cli, ["-q", "ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"),
                            "--on-error", "skip"])
    assert r.exit_code == 1 and "1 added" in r.output and "1 refused" in r.output
    r = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds"),
                            "--resize-masks", "nearest"])
    assert r.exit_code == 0 and "1 added" in r.output and "1 exact duplicates skipped" in r.output


def test_init_refuses_non_empty_folder(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("1")
    r = CliRunner().invoke(cli, ["init", str(tmp_path / "x")])
    assert r.exit_code == 1 and "not empty" in r.output


def test_demo_data_defects_then_validate_finds_them(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["demo-data", str(tmp_path / "broken"), "--defects", "-n", "3", "--size", "128"])
    assert r.exit_code == 0, r.output
    assert "lr_swapped" in r.output or "orphan_file" in r.output
    r = runner.invoke(cli, ["-q", "validate", str(tmp_path / "broken"), "--json", str(tmp_path / "v.json")])
    assert r.exit_code == 1
    codes = {f["code"] for f in json.loads((tmp_path / "v.json").read_text())["findings"]}
    assert {"orphan_file", "corrupt_image"} <= codes


def test_quiet_means_errors_only(tmp_path):
    """-q: no summaries or notes; what a command exists to print (info, ls config, --json) still prints; a
    refused ingest still reports its errors."""
    import numpy as np
    from PIL import Image

    runner = CliRunner()
    for i in range(2):
        make_pair(tmp_path / "src", f"s{i}", seed=i)
    r = runner.invoke(cli, ["-q", "init", str(tmp_path / "ds"), "--labelmap", "danbooru-parsing"])
    assert r.exit_code == 0 and r.output == ""
    r = runner.invoke(cli, ["-q", "ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds")])
    assert r.exit_code == 0 and r.output == ""
    r = runner.invoke(cli, ["-q", "demo-data", str(tmp_path / "faces"), "-n", "1", "--size", "64"])
    assert r.exit_code == 0 and r.output == ""
    r = runner.invoke(cli, ["-q", "validate", str(tmp_path / "ds")])
    assert r.exit_code == 0 and r.output == ""
    r = runner.invoke(cli, ["-q", "info", str(tmp_path / "ds")])
    assert r.exit_code == 0 and "samples         2" in r.output
    r = runner.invoke(cli, ["-q", "info", str(tmp_path / "ds"), "--json"])
    assert json.loads(r.output)["samples"] == 2
    r = runner.invoke(cli, ["ingest", str(tmp_path / "src"), "--into", str(tmp_path / "ds")])
    assert "\r" not in r.output  # stderr is no terminal here: no progress bar, so no carriage returns in logs
    r = runner.invoke(cli, ["-q", "ls", "config", "--labelmap", "manga-page"])
    assert r.output.startswith("<!-- generated by animeparse ls config")
    make_pair(tmp_path / "bad", "b", seed=5)
    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(tmp_path / "bad" / "masks" / "b.png")
    r = runner.invoke(cli, ["-q", "ingest", str(tmp_path / "bad"), "--into", str(tmp_path / "ds")])
    assert r.exit_code == 1 and "b.png" in r.output and "NOTHING WRITTEN" in r.output
