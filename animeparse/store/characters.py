"""Character identity: which character a sample shows (``samples.character``), and the store's character list.

A character is a string id (``nino``, ``zero_two``) with an optional display name (``Nakano Nino``). Samples carry
the id; the ``characters`` table holds display names and which ids are *declared*: once a store declares a list,
``validate`` reports samples whose character is missing or not on it. Label maps stay per pixel: a character is a
property of the whole image.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import StoreError
from .records import check_character
from .writes import DatasetWrites

__all__ = ["Character", "DatasetCharacters", "check_character"]

@dataclass(frozen=True)
class Character:
    """One character: ``id`` (what samples carry), ``name`` (display name, '' when none), ``declared`` (on the
    store's list) and ``samples`` (how many samples carry the id)."""

    id: str
    name: str = ""
    declared: bool = False
    samples: int = 0

    @property
    def label(self) -> str:
        """The display name, else the id."""
        return self.name or self.id


class DatasetCharacters(DatasetWrites):
    """The character methods of :class:`~animeparse.store.Dataset` (writes need ``open(..., write=True)``)."""

    def characters(self) -> list[Character]:
        """Every character named in the table or carried by a sample, sorted by id, with sample counts."""
        counts = {str(r[0]): int(r[1]) for r in self._db.execute(
            "SELECT character, count(*) FROM samples WHERE character IS NOT NULL GROUP BY character")}
        rows = {str(r["id"]): (str(r["name"]), bool(r["declared"]))
                for r in self._db.execute("SELECT id, name, declared FROM characters")}
        return [Character(cid, *rows.get(cid, ("", False)), samples=counts.get(cid, 0))
                for cid in sorted(counts.keys() | rows.keys())]

    def declared_characters(self) -> list[str]:
        """The declared character ids, sorted (empty: the store declares no list)."""
        return [str(r[0]) for r in self._db.execute("SELECT id FROM characters WHERE declared = 1 ORDER BY id")]

    def samples_of_character(self, character: str) -> list[str]:
        """Ids of the samples carrying ``character``, sorted."""
        return [str(r[0]) for r in self._db.execute("SELECT id FROM samples WHERE character = ? ORDER BY id",
                                                    (character,))]

    def set_character(self, sample_ids: Iterable[str], character: str | None, *, name: str | None = None) -> int:
        """Give every sample of ``sample_ids`` the character id ``character`` (None clears it), in one transaction;
        ``name`` also records its display name. Returns how many samples changed. StoreError for an unknown id."""
        if character is not None:
            check_character(character)
        ids = list(dict.fromkeys(sample_ids))
        changed = 0
        with self.transaction() as db:
            for sid in ids:
                row = db.execute("SELECT character FROM samples WHERE id = ?", (sid,)).fetchone()
                if row is None:
                    raise StoreError(f"no sample {sid!r} in this store", path=self.root, sample_id=sid)
                if row[0] != character:
                    db.execute("UPDATE samples SET character = ? WHERE id = ?", (character, sid))
                    changed += 1
            if character is not None and name is not None:
                _upsert(db, character, name=name, declared=None)
            self._event(db, "set_character", None, None,
                        {"character": character, "samples": len(ids), "changed": changed})
        return changed

    def set_characters(self, assignment: Mapping[str, str | None]) -> int:
        """Set many samples' characters at once ({sample id: character id or None}); returns how many changed."""
        for character in set(assignment.values()):
            if character is not None:
                check_character(character)
        changed = 0
        with self.transaction() as db:
            for sid, character in assignment.items():
                cur = db.execute("UPDATE samples SET character = ? WHERE id = ? AND character IS NOT ?",
                                 (character, sid, character))
                changed += cur.rowcount
        return changed

    def name_characters(self, names: Mapping[str, str]) -> None:
        """Record display names ({id: name}) without declaring the ids."""
        for cid in names:
            check_character(cid)
        with self.transaction() as db:
            for cid, name in names.items():
                _upsert(db, cid, name=name, declared=None)

    def declare_characters(self, names: Mapping[str, str | None], *, replace: bool = False) -> None:
        """Declare character ids ({id: display name or None to keep the one recorded}). ``replace``: the ids given
        become the whole list (others are undeclared, their names kept)."""
        for cid in names:
            check_character(cid)
        with self.transaction() as db:
            if replace:
                db.execute("UPDATE characters SET declared = 0")
            for cid, name in names.items():
                _upsert(db, cid, name=name, declared=True)


def _upsert(db: sqlite3.Connection, cid: str, *, name: str | None, declared: bool | None) -> None:
    db.execute("INSERT INTO characters (id, name, declared) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
               "name = CASE WHEN ? IS NULL THEN name ELSE ? END, "
               "declared = CASE WHEN ? IS NULL THEN declared ELSE ? END",
               (cid, name or "", int(bool(declared)), name, name or "", declared, int(bool(declared))))
