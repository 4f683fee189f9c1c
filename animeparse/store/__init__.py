"""The dataset store (folder + SQLite manifest). See :class:`Dataset`."""

from .card import DatasetCard
from .dataset import Dataset, DatasetInfo, MaskInput
from .lock import WriterLock
from .manifest import SCHEMA_VERSION
from .records import STATUSES, MaskRecord, RunRecord, Sample

__all__ = [
    "Dataset",
    "DatasetCard",
    "DatasetInfo",
    "MaskInput",
    "MaskRecord",
    "RunRecord",
    "SCHEMA_VERSION",
    "STATUSES",
    "Sample",
    "WriterLock",
]
