"""Where the bundled schemas and label maps live, and JSON Schema validation against them.

The repository keeps them in the top-level ``schemas/`` folder; setup.cfg installs that folder as the
``animeparse.schemas`` package, so the same files are found from a checkout and from an installed wheel.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import AnimeparseError

__all__ = ["schemas_dir", "load_schema", "validate_json"]


def schemas_dir() -> Path:
    """The folder holding ``*.schema.json`` and ``labelmaps/``."""
    return Path(str(resources.files("animeparse.schemas")))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json``."""
    return json.loads((schemas_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


def validate_json(data: Any, schema: str, *, path: Path | str, error: type[AnimeparseError]) -> None:
    """Validate ``data`` against a bundled JSON Schema; raise ``error`` listing every violation with its JSON path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(schema))
    problems = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [f"{'/'.join(str(p) for p in e.absolute_path) or '(top level)'}: {e.message}" for e in problems[:10]]
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise error(
            f"does not follow {schema}.schema.json: " + "; ".join(lines) + more
            + f"; fix the file (see schemas/{schema}.schema.json)",
            path=path,
        )
