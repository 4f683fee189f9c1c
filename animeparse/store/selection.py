"""The one sample-selection grammar (``--only``) of the commands that work on part of a store.

Terms: ``all``; ``unlabeled`` (no ``gt`` mask); ``labeled`` (a ``gt`` mask); ``low-confidence`` (no ``gt`` mask,
and the newest earlier prelabel scored below a threshold); ``tag:NAME``, ``split:NAME``, ``status:NAME``;
``character:NAME`` (the character id, or a display name; ``character:none`` = no character set); and the colours
computed from the ``gt`` mask, ``hair_color:NAME``, ``eye_color:NAME``, ``skin_color:NAME`` (current attributes
only: run ``animeparse attributes DS`` first; see :mod:`animeparse.stats.attributes`). Several
terms select the samples that match all of them. Each command offers the terms that make sense for it
(``allowed``) and words its own error: :class:`UnknownSelection` carries the rule it could not read.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AnimeparseError, StoreError
from .attributes import DatasetAttributes
from .characters import DatasetCharacters
from .records import Sample

__all__ = ["ATTRIBUTE_TERMS", "SELECTION_TERMS", "DatasetSelection", "UnknownSelection"]

# a term is a word, or a prefix ending in ':' that needs a NAME after it
SELECTION_TERMS = ("all", "unlabeled", "labeled", "low-confidence", "tag:", "split:", "status:", "character:",
                   "hair_color:", "eye_color:", "skin_color:")
# the terms that read the attributes table (colour names computed from the gt mask)
ATTRIBUTE_TERMS = ("hair_color:", "eye_color:", "skin_color:")


class UnknownSelection(AnimeparseError):
    """A selection rule that is not one of the allowed terms (``rule`` carries it)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"unknown selection {rule!r}; use one of {', '.join(SELECTION_TERMS)}")
        self.rule = rule


class DatasetSelection(DatasetCharacters, DatasetAttributes):
    """The selection method of :class:`~animeparse.store.Dataset`."""

    def select(self, rules: Sequence[str], *, allowed: Sequence[str] = SELECTION_TERMS,
               low_confidence_below: float = 0.7) -> list[Sample]:
        """The samples matching every rule of ``rules``, sorted by id (no rules: every sample). Raises
        :class:`UnknownSelection` for a rule that is not one of ``allowed`` (``tag:`` allows ``tag:NAME``)."""
        samples = self.samples()
        keep = {s.id for s in samples}
        has_gt: set[str] | None = None
        for rule in rules:
            kind, colon, value = rule.partition(":")
            term = kind + colon
            if term not in allowed or (colon and not value):
                raise UnknownSelection(rule)
            if term == "all":
                continue
            if term == "character:":
                keep &= self._character_ids(value)
                continue
            if term in ATTRIBUTE_TERMS:
                keep &= self.samples_with_attribute(kind, value)
                continue
            if colon:
                keep &= {s.id for s in self.samples(**{kind: value})}
                continue
            has_gt = has_gt if has_gt is not None else {s.id for s in self.samples(layer="gt")}
            if term == "labeled":
                keep &= has_gt
            else:
                keep -= has_gt
                if term == "low-confidence":
                    keep = {sid for sid in keep if self._low_confidence(sid, low_confidence_below)}
        return [s for s in samples if s.id in keep]

    def resolve_target(self, target: str) -> list[str]:
        """Sample ids for a command's SAMPLE_OR_SELECTION argument: a sample id of this store, else one selection
        rule (``split:test``, ``character:nino``). StoreError when it is neither."""
        if target in self:
            return [target]
        try:
            return [s.id for s in self.select([target])]
        except UnknownSelection:
            raise StoreError(f"{target!r} is neither a sample id of this store nor a selection; use a sample id or "
                             f"one of {', '.join(t + 'NAME' if t.endswith(':') else t for t in SELECTION_TERMS)}",
                             path=self.root) from None

    def _character_ids(self, value: str) -> set[str]:
        """Samples whose character is ``value`` (an id, or a display name); ``none``: samples without one."""
        if value == "none":
            return {s.id for s in self.samples() if s.character is None}
        ids = {c.id for c in self.characters() if value in (c.id, c.name)}
        return {sid for cid in sorted(ids) for sid in self.samples_of_character(cid)}

    def _low_confidence(self, sample_id: str, below: float) -> bool:
        # the newest earlier prelabel decides (a later, better model may have fixed an old low score)
        newest = max(((m.created_at, m.score) for m in self.masks_of(sample_id)
                      if m.layer.startswith("prelabel/") and m.score is not None), default=None)
        return newest is not None and newest[1] < below
