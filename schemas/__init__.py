"""Bundled JSON Schemas and label maps, installed as ``animeparse.schemas`` (see setup.cfg ``package_dir``)."""
