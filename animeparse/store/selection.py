"""The one sample-selection grammar (``--only``) of the commands that work on part of a store.

Terms: ``all``; ``unlabeled`` (no ``gt`` mask); ``labeled`` (a ``gt`` mask); ``low-confidence`` (no ``gt`` mask,
and the newest earlier prelabel scored below a threshold); ``tag:NAME``, ``split:NAME``, ``status:NAME``. Several
terms select the samples that match all of them. Each command offers the terms that make sense for it
(``allowed``) and words its own error: :class:`UnknownSelection` carries the rule it could not read.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import AnimeparseError
from .queries import DatasetReads
from .records import Sample

__all__ = ["SELECTION_TERMS", "DatasetSelection", "UnknownSelection"]

# a term is a word, or a prefix ending in ':' that needs a NAME after it
SELECTION_TERMS = ("all", "unlabeled", "labeled", "low-confidence", "tag:", "split:", "status:")


class UnknownSelection(AnimeparseError):
    """A selection rule that is not one of the allowed terms (``rule`` carries it)."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"unknown selection {rule!r}; use one of {', '.join(SELECTION_TERMS)}")
        self.rule = rule


class DatasetSelection(DatasetReads):
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

    def _low_confidence(self, sample_id: str, below: float) -> bool:
        # the newest earlier prelabel decides (a later, better model may have fixed an old low score)
        newest = max(((m.created_at, m.score) for m in self.masks_of(sample_id)
                      if m.layer.startswith("prelabel/") and m.score is not None), default=None)
        return newest is not None and newest[1] < below
