"""Where ingest takes each sample's character id from (``--character-from``).

- ``dirname``: the name of the folder the image is in (``src/nino/001.png`` -> ``nino``); an image directly in the
  source folder gets none.
- ``regex:PATTERN``: a Python regular expression searched in the image's path relative to the source, ``/``
  separated; the group named ``character`` if the pattern has one, else group 1, else the whole match. No match:
  no character.
- ``csv:FILE``: a CSV file with a header naming ``image`` (a file name, or a path relative to the source) and
  ``character``, and optionally ``name`` (a display name, recorded in the store's character table). An image listed
  twice is refused, naming the file and both lines.

A reader may give an item its character itself (the SIS-anime ``class.txt``); ``--character-from`` overrides it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ..errors import AnimeparseError, FormatError
from ..formats.base import Item
from ..store import check_character

__all__ = ["CharacterRule", "apply_rule", "parse_character_rule"]

KINDS = ("dirname", "regex:", "csv:")


@dataclass(frozen=True)
class CharacterRule:
    """A parsed ``--character-from``: ``kind`` (dirname / regex / csv), its ``pattern`` or ``table``
    ({image name or relative path: character id}) and ``names`` ({character id: display name}) from a CSV."""

    kind: str
    spec: str
    pattern: re.Pattern[str] | None = None
    table: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def character_of(self, item: Item, src: Path) -> str | None:
        """The character id for ``item`` read from ``src``, or None when the rule gives none."""
        try:
            rel = PurePosixPath(Path(item.image_path).relative_to(src).as_posix())
        except ValueError:  # a file a reader extracted elsewhere (an archive): its name is all there is
            rel = PurePosixPath(item.name)
        if self.kind == "dirname":
            return rel.parent.name or None
        if self.kind == "regex":
            assert self.pattern is not None  # set by parse_character_rule
            m = self.pattern.search(str(rel))
            if m is None:
                return None
            if "character" in self.pattern.groupindex:
                return m.group("character") or None
            return (m.group(1) if self.pattern.groups else m.group(0)) or None
        return self.table.get(str(rel)) or self.table.get(item.name) or self.table.get(rel.name)


def apply_rule(rule: CharacterRule, item: Item, src: Path) -> Item:
    """``item`` with the rule's character, or with ``error`` set (naming the image) when the id is not usable."""
    character = rule.character_of(item, src)
    try:
        if character is not None:
            check_character(character, where=f"--character-from {rule.spec}")
    except AnimeparseError as err:
        return replace(item, character=None, error=item.error or FormatError(str(err), path=item.image_path))
    return replace(item, character=character)


def parse_character_rule(spec: str) -> CharacterRule:
    """Parse ``dirname``, ``regex:PATTERN`` or ``csv:FILE`` (the CSV is read and checked now). Raises
    AnimeparseError for an unknown form or a bad pattern, FormatError naming the CSV file and line."""
    if spec == "dirname":
        return CharacterRule("dirname", spec)
    kind, colon, value = spec.partition(":")
    if colon and value and kind == "regex":
        try:
            return CharacterRule("regex", spec, pattern=re.compile(value))
        except re.error as err:
            raise AnimeparseError(f"--character-from {spec!r}: not a regular expression ({err})") from err
    if colon and value and kind == "csv":
        table, names = _read_csv(Path(value))
        return CharacterRule("csv", spec, table=table, names=names)
    raise AnimeparseError(f"--character-from {spec!r}: use dirname, regex:PATTERN or csv:FILE")


def _read_csv(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise FormatError(f"character CSV cannot be read ({err}); give a UTF-8 CSV with columns image,character",
                          path=path) from err
    rows = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(rows, [])]
    if "image" not in header or "character" not in header:
        raise FormatError(f"line 1: the header must name the columns image and character (and optionally name), "
                          f"got {','.join(header) or 'nothing'}", path=path)
    col_image, col_char = header.index("image"), header.index("character")
    col_name = header.index("name") if "name" in header else None
    table: dict[str, str] = {}
    first_line: dict[str, int] = {}
    names: dict[str, str] = {}
    for line, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(col_image, col_char):
            raise FormatError(f"line {line}: {len(row)} columns, the header has {len(header)}", path=path)
        image, character = row[col_image].strip().replace("\\", "/"), row[col_char].strip()
        if not image:
            raise FormatError(f"line {line}: the image column is empty", path=path)
        if image in first_line:
            raise FormatError(f"line {line}: image {image!r} is listed again (first on line {first_line[image]}); "
                              "list each image once", path=path)
        try:
            check_character(character, where=f"line {line}")
        except AnimeparseError as err:
            raise FormatError(str(err), path=path) from err
        first_line[image], table[image] = line, character
        if col_name is not None and len(row) > col_name and row[col_name].strip():
            names[character] = row[col_name].strip()
    return table, names
