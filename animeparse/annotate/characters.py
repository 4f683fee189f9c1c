"""Character identity in Label Studio: a single-choice ``<Choices name="character">`` block in the labelling
config (:func:`animeparse.annotate.config.label_config` with ``characters=``), the sample's character pushed as a
``choices`` result with its prediction, and the annotator's choice pulled back into the store.

What a pull takes: the choice in the task's latest annotation that was not cancelled (the rule the masks follow);
a task whose annotation chose nothing leaves the stored character as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..formats.labelstudio import time_key
from ..store import Dataset
from .config import CHARACTER_CONTROL, IMAGE_KEY

__all__ = ["character_ids", "character_result", "characters_for_config", "chosen_character"]


def characters_for_config(ds: Dataset) -> list[str]:
    """The ids a project's Choices block offers: the store's declared list, else every character it knows."""
    return ds.declared_characters() or [c.id for c in ds.characters()]


def character_ids(spec: str) -> list[str]:
    """``ls config --characters``: a store folder (its :func:`characters_for_config`), else ids separated by
    commas (each checked)."""
    from pathlib import Path

    from ..store import check_character
    from ..store.card import CARD_NAME

    if (Path(spec) / CARD_NAME).is_file():
        with Dataset.open(spec) as ds:
            return characters_for_config(ds)
    return [check_character(c.strip()) for c in spec.split(",") if c.strip()]


def character_result(character: str) -> dict[str, Any]:
    """The ``choices`` result that preselects ``character`` in the Choices block."""
    return {"id": "apchar", "from_name": CHARACTER_CONTROL, "to_name": IMAGE_KEY, "type": "choices",
            "value": {"choices": [character]}}


def chosen_character(task: Mapping[str, Any]) -> str | None:
    """The character chosen in the task's latest live annotation (None: no annotation, or no choice made)."""
    annotations: Sequence[Any] = task.get("annotations") or []
    live = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not live:
        return None
    for result in max(live, key=time_key).get("result") or []:
        if isinstance(result, dict) and result.get("from_name") == CHARACTER_CONTROL \
                and result.get("type") == "choices":
            choices = (result.get("value") or {}).get("choices")
            if isinstance(choices, list) and choices and isinstance(choices[0], str):
                return choices[0]
    return None
