"""The dataset store (folder + SQLite manifest). See :class:`Dataset`."""

from .card import DatasetCard, stores_below
from .characters import Character
from .dataset import Dataset, DatasetInfo, new_run_id
from .lock import WriterLock
from .manifest import SCHEMA_VERSION
from .prepare import MaskInput, PreparedSample, prepare_sample
from .records import STATUSES, MaskRecord, RunRecord, Sample, check_character
from .selection import SELECTION_TERMS, UnknownSelection

__all__ = [
    "Character",
    "Dataset",
    "DatasetCard",
    "DatasetInfo",
    "MaskInput",
    "MaskRecord",
    "PreparedSample",
    "prepare_sample",
    "RunRecord",
    "SCHEMA_VERSION",
    "SELECTION_TERMS",
    "STATUSES",
    "Sample",
    "UnknownSelection",
    "WriterLock",
    "check_character",
    "new_run_id",
    "stores_below",
]
