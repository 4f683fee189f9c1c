"""setup.cfg lists packages explicitly (the schemas folder is mapped in); a new subpackage must be listed too."""

import configparser

from .conftest import REPO


def test_every_subpackage_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    listed = {p.strip() for p in cfg["options"]["packages"].split() if p.strip()}
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "animeparse").rglob("__init__.py")}
    found.add("animeparse.schemas")
    assert found <= listed, f"add to setup.cfg [options] packages: {sorted(found - listed)}"
