"""The export engine's names for what every writer shares, defined with the writers in
:mod:`animeparse.formats.writing` (kept here for the CLI and the Ray runner, which import them from the engine's
package)."""

from ..formats.writing import (
    IMAGE_MODES,
    ExportConfig,
    ExportError,
    FileSink,
    SampleJob,
    Sink,
    WorkContext,
    WorkResult,
    class_ids_for_export,
    ignore_label,
    palette_png_to_grey,
    place_image,
    present_ids,
    read_job_mask,
    read_store_mask,
    write_index_mask,
)

__all__ = ["ExportConfig", "ExportError", "SampleJob", "WorkContext", "WorkResult", "Sink", "FileSink", "IMAGE_MODES",
           "read_job_mask", "read_store_mask", "place_image", "palette_png_to_grey", "present_ids", "ignore_label",
           "write_index_mask", "class_ids_for_export"]
