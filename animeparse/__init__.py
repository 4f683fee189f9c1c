"""animeparse: a toolkit and annotation pipeline for anime parsing datasets.

The canonical label is one HxW uint8 class-index mask per image plus a locked, versioned label map.
"""

from ._version import __version__
from .errors import (
    AnimeparseError,
    FormatError,
    LabelMapError,
    LockError,
    MissingDependencyError,
    StoreError,
)
from .imageio import read_image, read_mask, write_mask
from .labelmap import LabelClass, LabelMap, Remap, builtin_labelmaps, load_labelmap, load_remap
from .store import Dataset, MaskInput, Sample

__all__ = [
    "__version__",
    "AnimeparseError",
    "Dataset",
    "FormatError",
    "LabelClass",
    "LabelMap",
    "LabelMapError",
    "LockError",
    "MaskInput",
    "MissingDependencyError",
    "Remap",
    "Sample",
    "StoreError",
    "builtin_labelmaps",
    "load_labelmap",
    "load_remap",
    "read_image",
    "read_mask",
    "write_mask",
]
