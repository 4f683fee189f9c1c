"""Character identity against the store's declared character list (``animeparse character declare``).

Codes: ``unknown_character`` (error), ``missing_character`` (warning). A store that declares no list is not
checked: characters are optional until a dataset says which ones it has.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ..store import Dataset
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleFacts

__all__ = ["check_characters"]


def check_characters(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]:
    """Where the store declares a character list: a sample whose character is not on it (a typo, or a character
    to declare), and a sample with no character."""
    declared = ds.declared_characters()
    if not declared:
        return
    known = set(declared)
    for s in ds.samples():
        if s.character is None:
            yield Finding(Severity.WARNING, "missing_character", s.id,
                          f"sample {s.id} ({s.name}) has no character, and the store declares "
                          f"{len(declared)}: set it with animeparse character set {ds.root} {s.id} CHARACTER",
                          file=s.image, data={"declared": declared})
        elif s.character not in known:
            yield Finding(Severity.ERROR, "unknown_character", s.id,
                          f"sample {s.id} ({s.name}) has character {s.character!r}, which the store's list "
                          f"({', '.join(declared)}) does not declare: correct it with animeparse character set, or "
                          f"declare it with animeparse character declare {ds.root} {s.character}",
                          file=s.image, data={"character": s.character, "declared": declared})
