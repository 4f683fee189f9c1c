"""animeparse: a toolkit and annotation pipeline for anime parsing datasets.

The canonical label is one HxW uint8 class-index mask per image plus a locked, versioned label map.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    AnimeparseError,
    FormatError,
    LabelMapError,
    LockError,
    MissingDependencyError,
    StoreError,
)
from .imageio import read_image, read_mask, write_mask  # noqa: E402
from .labelmap import LabelClass, LabelMap, Remap, builtin_labelmaps, load_labelmap, load_remap  # noqa: E402
from .store import Dataset, MaskInput, Sample  # noqa: E402

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
