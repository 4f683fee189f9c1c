"""Dataset statistics: per-class pixel shares, presence, mask areas, image sizes and splits, as CSV, PNG and a
one-page HTML or Markdown summary. ``compute_stats`` reads; ``write_report`` writes."""

from .compute import AREA_PERCENTILES, DatasetStats, compute_stats, order_splits
from .histograms import default_workers, mask_histograms
from .report import CSV_FILES, FORMATS, StatsReport, write_report

__all__ = [
    "AREA_PERCENTILES",
    "CSV_FILES",
    "DatasetStats",
    "FORMATS",
    "StatsReport",
    "compute_stats",
    "default_workers",
    "mask_histograms",
    "order_splits",
    "write_report",
]
