"""Shared pieces of the fuzz tests: each property's example budget and the mask strategies.

A property's example count is its share (``BUDGET``) of the active Hypothesis profile's ``max_examples``
(``ci`` or ``long``, see conftest.py), so docs/reliability.md can list the counts of both profiles from here
(``test_fuzz_docs.py`` checks the table against this module).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import numpy.typing as npt
from hypothesis import settings
from hypothesis import strategies as st

from .conftest import PROFILES

# property -> share of the profile's max_examples; the costly ones (pure-Python SDK decoders, SQLite copies) take less
BUDGET: dict[str, float] = {
    "coco_encode_agrees_with_pycocotools": 2.0,
    "coco_counts_round_trip": 2.0,
    "coco_odd_strings_parse_like_pycocotools": 2.0,
    "coco_invalid_counts_refused": 2.0,
    "ls_encode_agrees_with_sdk": 1.0,
    "ls_flat_runs_agree_with_sdk": 1.0,
    "ls_decode_agrees_with_sdk": 1.0,
    "ls_alpha_threshold_agrees_with_sdk": 0.5,
    "ls_damaged_streams": 2.0,
    "remap_bundled_bijective": 0.5,
    "remap_random_tables": 1.0,
    "id_map_counts_preserved": 1.0,
    "png_mask_round_trip": 1.0,
    "png_mutations": 2.0,
    "png_idat_flips": 1.0,
    "png_palette_rewrite_mutations": 1.0,
    "manifest_random_page_garbage": 0.5,
}


def examples(prop: str, profile: str | None = None) -> int:
    """The example count of property ``prop`` under ``profile`` (default: the loaded one)."""
    base = PROFILES[profile]["max_examples"] if profile else settings.default.max_examples
    return max(1, round(base * BUDGET[prop]))


def fuzz(prop: str) -> settings:
    """``@fuzz("name")``: the property's settings (its example count) on top of the loaded profile."""
    return settings(max_examples=examples(prop))


def budget_table() -> str:
    """The Markdown table of every property's example count per profile, as docs/reliability.md shows it
    (``python -m tests.reliability.fuzzkit`` prints it)."""
    names = list(PROFILES)
    lines = ["| property | " + " | ".join(f"`{n}` examples" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    lines += [f"| `{prop}` | " + " | ".join(str(examples(prop, n)) for n in names) + " |" for prop in BUDGET]
    totals = " | ".join(f"**{sum(examples(p, n) for p in BUDGET)}**" for n in names)
    return "\n".join([*lines, f"| total | {totals} |"])


# property -> outcome -> how many inputs had it (shrinking and replays included); shown after the run
OUTCOMES: defaultdict[str, Counter[str]] = defaultdict(Counter)


def tally(prop: str, outcome: str) -> None:
    OUTCOMES[prop][outcome] += 1


# -- masks ---------------------------------------------------------------------------------------------------------
PATTERNS = ("fill", "rows", "cols", "checker", "blobs", "noise", "pixel", "border")


def side(max_side: int) -> st.SearchStrategy[int]:
    """A side length, often 1 (1xN and Nx1 masks are where column-major/row-major mix-ups show)."""
    return st.one_of(st.just(1), st.integers(1, 4), st.integers(1, max_side))


@st.composite
def label_masks(draw: st.DrawFn, *, ids: tuple[int, ...] = (0, 1), max_side: int = 48,
                shape_hw: tuple[int, int] | None = None) -> npt.NDArray[np.uint8]:
    """An HxW uint8 mask of values from ``ids``: a flat fill (all-zero, all-one), row or column stripes, a
    checkerboard, random rectangles and ellipses on a fill, per-pixel noise, one pixel, or a one-pixel frame."""
    h, w = shape_hw if shape_hw else (draw(side(max_side)), draw(side(max_side)))
    pattern = draw(st.sampled_from(PATTERNS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = np.asarray(ids, np.uint8)

    def pick() -> np.uint8:
        return values[rng.integers(len(values))]

    mask = np.full((h, w), pick(), np.uint8)
    if pattern == "rows":
        band = int(rng.integers(1, 4))
        mask[:] = values[(np.arange(h) // band + int(rng.integers(len(values)))) % len(values)][:, None]
    elif pattern == "cols":
        band = int(rng.integers(1, 4))
        mask[:] = values[(np.arange(w) // band + int(rng.integers(len(values)))) % len(values)][None, :]
    elif pattern == "checker":
        mask[(np.add.outer(np.arange(h), np.arange(w)) % 2) == 1] = pick()
    elif pattern == "blobs":
        yy, xx = np.mgrid[:h, :w]
        for _ in range(int(rng.integers(1, 6))):
            cy, cx = rng.uniform(-2, h + 2), rng.uniform(-2, w + 2)
            ry, rx = rng.uniform(0.5, h), rng.uniform(0.5, w)
            if rng.random() < 0.5:
                mask[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = pick()
            else:
                mask[(abs(yy - cy) <= ry / 2) & (abs(xx - cx) <= rx / 2)] = pick()
    elif pattern == "noise":
        mask = values[rng.integers(len(values), size=(h, w))]
    elif pattern == "pixel":
        mask[rng.integers(h), rng.integers(w)] = pick()
    elif pattern == "border":
        mask[[0, -1], :] = pick()
        mask[:, [0, -1]] = mask[0, 0]
    return np.ascontiguousarray(mask, dtype=np.uint8)


def binary_masks(max_side: int = 48) -> st.SearchStrategy[npt.NDArray[np.bool_]]:
    """HxW bool masks (see :func:`label_masks`), all-False and all-True included."""
    return label_masks(ids=(0, 1), max_side=max_side).map(lambda m: m.astype(bool))


if __name__ == "__main__":
    print(budget_table())
