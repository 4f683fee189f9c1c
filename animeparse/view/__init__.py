"""FiftyOne bridge: a persistent FiftyOne dataset mirroring a store, for visual QA in the FiftyOne app.

One segmentation field per mask layer (single-channel copies of the store's masks that the mirror owns), coloured by
the label map, plus a ``disagreement`` mask where the pre-label differs from gt; per-sample
QA fields (split, status, source, near-duplicate group, pre-label score, per-class IoU and mIoU against gt, validate
finding codes); saved views for the worst pre-labels, validate errors and unlabelled samples. Syncs are incremental
(per-sample fingerprints), and tags set in the app come back into the store with :func:`pull_tags`; the
``character`` Classification (the sample's character identity), edited in the app, comes back with
:func:`pull_characters`.

FiftyOne is an optional dependency (``pip install 'animeparse[fiftyone]'``), imported only when a function here
needs it::

    from animeparse import Dataset
    from animeparse.view import FiftyOneDB, serve_app, sync_store

    with FiftyOneDB() as db:                      # starts (or joins) the MongoDB of the database folder
        with Dataset.open("my-ds") as ds:
            result = sync_store(ds, db, layers=["gt", "prelabel/run1"])
        with serve_app(db, port=5151) as app:     # http://127.0.0.1:5151/datasets/<result.slug>
            app.wait()

See docs/view.md.
"""

from .app import AppServer, dataset_url, sample_url, serve_app
from .env import ENV_DB_DIR, FiftyOneDB, default_db_dir, import_fiftyone, resolve_db_dir
from .metrics import class_iou, mean_iou
from .mirror import SAMPLE_FIELDS, layer_field, mask_targets
from .sync import SAVED_VIEWS, PullResult, SyncResult, default_name, pull_characters, pull_tags, sync_store

__all__ = [
    "AppServer",
    "ENV_DB_DIR",
    "FiftyOneDB",
    "PullResult",
    "SAMPLE_FIELDS",
    "SAVED_VIEWS",
    "SyncResult",
    "class_iou",
    "dataset_url",
    "default_db_dir",
    "default_name",
    "import_fiftyone",
    "layer_field",
    "mask_targets",
    "mean_iou",
    "pull_characters",
    "pull_tags",
    "resolve_db_dir",
    "sample_url",
    "serve_app",
    "sync_store",
]
