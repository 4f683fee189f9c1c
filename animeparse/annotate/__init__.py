"""Label Studio round trip: label configs from a label map, ``push`` (tasks + predictions), ``pull`` (``gt``),
and ``ls serve``'s ML backend (:func:`make_server`: interactive SAM, pre-annotation, retraining from the webhook).

Needs ``label-studio-sdk`` (``pip install 'animeparse[labelstudio]'``) for :class:`Connection` only; the config
generator and :func:`apply_export` work without it. See docs/labelstudio.md.
"""

from .backend import Backend, BackendConfig, BackendError
from .client import Connection, LabelStudioError, ProjectInfo, TaskInfo
from .config import bundled_configs, config_labels, label_config, write_bundled_configs
from .pull import DEFAULT_ALPHA_THRESHOLD, PullConfig, PullReport, apply_export, pull
from .push import PushConfig, PushReport, mask_to_results, push, select_samples
from .serve import MLBackendServer, make_server

__all__ = [
    "Backend",
    "BackendConfig",
    "BackendError",
    "Connection",
    "MLBackendServer",
    "DEFAULT_ALPHA_THRESHOLD",
    "LabelStudioError",
    "ProjectInfo",
    "PullConfig",
    "PullReport",
    "PushConfig",
    "PushReport",
    "TaskInfo",
    "apply_export",
    "bundled_configs",
    "config_labels",
    "label_config",
    "make_server",
    "mask_to_results",
    "pull",
    "push",
    "select_samples",
    "write_bundled_configs",
]
