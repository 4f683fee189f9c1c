"""Per-sample attributes computed from a mask layer (face box, part centres, dominant colours), cached in the
``attributes`` table keyed by (sample, layer) and the SHA-256 of the mask file they came from.

A row is *current* while the layer's mask still has that SHA-256; a replaced mask makes it stale, and
:meth:`DatasetAttributes.attributes` leaves stale rows out, so callers recompute exactly those. What the values
mean is :mod:`animeparse.stats.attributes`'s business; the store keeps JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .manifest import now_utc
from .writes import DatasetWrites

__all__ = ["DatasetAttributes"]


class DatasetAttributes(DatasetWrites):
    """The attribute methods of :class:`~animeparse.store.Dataset`."""

    def attributes(self, layer: str = "gt", *, stale: bool = False) -> dict[str, dict[str, Any]]:
        """{sample id: attribute dict} of the rows computed from the layer's current mask (``stale``: every row,
        current or not)."""
        sql = ("SELECT a.sample_id, a.data FROM attributes a JOIN masks m ON m.sample_id = a.sample_id AND "
               "m.layer = a.layer WHERE a.layer = ?" + ("" if stale else " AND m.sha256 = a.mask_sha256"))
        return {str(r[0]): json.loads(r[1]) for r in self._db.execute(sql + " ORDER BY a.sample_id", (layer,))}

    def put_attributes(self, layer: str, rows: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        """Store attributes in one transaction: {sample id: (mask SHA-256 they were computed from, data)}."""
        now = now_utc()
        with self.transaction() as db:
            for sid, (sha, data) in rows.items():
                db.execute("INSERT OR REPLACE INTO attributes (sample_id, layer, mask_sha256, data, computed_at) "
                           "VALUES (?,?,?,?,?)", (sid, layer, sha, json.dumps(dict(data), sort_keys=True), now))

    def samples_with_attribute(self, key: str, value: str, *, layer: str = "gt") -> set[str]:
        """Ids of samples whose current ``layer`` attributes have ``key`` equal to ``value`` (``hair_color:pink``)."""
        return {sid for sid, data in self.attributes(layer).items() if str(data.get(key)) == value}
