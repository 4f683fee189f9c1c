"""Fuzz: COCO RLE, our encoder and decoder against pycocotools (the reference) and a plain numpy model.

COCO RLE walks the mask column by column (Fortran order), background run first. The export encodes with
:func:`animeparse.formats.coco.encode_mask_annotations`; the reader checks run lengths with
:func:`animeparse.formats.coco.rle_run_lengths` (its own parser of the compressed string) and then lets
pycocotools' C decoder, which trusts them, paint the mask (:func:`~animeparse.formats.coco.rle_to_mask`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pycocotools import mask as coco_mask

from animeparse.errors import FormatError
from animeparse.formats.coco import encode_mask_annotations, rle_run_lengths, rle_to_mask
from animeparse.formats.coco.reader import _counts_from_string

from .fuzzkit import binary_masks, fuzz, label_masks, tally

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools 2.0.x under numpy 2


def model_runs(mask_hw: npt.NDArray[np.bool_]) -> list[int]:
    """COCO run lengths from first principles: column-major, starting with a (possibly empty) background run."""
    flat = mask_hw.ravel(order="F").astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat[0] else runs


def model_decode(runs: list[int], shape_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(shape_hw[1], shape_hw[0]).T


def reference(mask_hw: npt.NDArray[np.bool_]) -> dict[str, Any]:
    return coco_mask.encode(np.asfortranarray(mask_hw.astype(np.uint8)))


def compressed_of(runs: list[int], shape_hw: tuple[int, int]) -> str:
    """pycocotools' compressed string for an uncompressed RLE."""
    h, w = shape_hw
    return coco_mask.frPyObjects({"size": [h, w], "counts": runs}, h, w)["counts"].decode("ascii")


@fuzz("coco_encode_agrees_with_pycocotools")
@given(label_masks(ids=(0, 1, 2, 7, 255)), st.booleans())
def test_export_encoder_agrees_with_pycocotools(mask, instances):
    """Every region the export writes has pycocotools' own counts, area and box, and its regions cover exactly the
    class's pixels (per class, or split into 8-connected instances)."""
    present = [int(c) for c in np.unique(mask) if c != 0]
    cats, rles, areas, boxes = encode_mask_annotations(mask, class_ids=present, instances=instances)
    assert sorted(set(cats)) == present
    for c in present:
        region = mask == c
        mine = [k for k, cat in enumerate(cats) if cat == c]
        if not instances:
            (k,) = mine
            ref = reference(region)
            assert rles[k]["size"] == ref["size"] == [mask.shape[0], mask.shape[1]]
            assert rles[k]["counts"] == ref["counts"]
        union = np.zeros(mask.shape, np.int64)
        for k in mine:
            part = coco_mask.decode(rles[k]).astype(bool)
            assert part.any()
            union += part
            assert areas[k] == part.sum() == sum(model_runs(part)[1::2])
            ys, xs = np.nonzero(part)
            box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
            assert boxes[k].tolist() == pytest.approx(box)
        assert np.array_equal(union, region.astype(np.int64))  # instances are disjoint and cover the class


def test_export_instances_over_255_regions():
    """Found by the long run: pycocotools' area() overflows a uint8 count past 255 RLEs under NumPy 2, so a speckled
    mask exported with --instances crashed; areas now come in chunks."""
    rng = np.random.default_rng(0)
    mask = np.asarray([0, 1, 2, 7, 255], np.uint8)[rng.integers(5, size=(40, 40))]
    present = [int(c) for c in np.unique(mask) if c]
    cats, rles, areas, _ = encode_mask_annotations(mask, class_ids=present, instances=True)
    assert len(rles) > 255
    assert areas.tolist() == [int(coco_mask.decode(r).sum()) for r in rles]
    assert sum(areas) == int((mask != 0).sum())


@fuzz("coco_counts_round_trip")
@given(binary_masks())
def test_counts_round_trip_between_list_string_and_mask(mask):
    """pycocotools' string parses to the first-principles runs; both forms decode to the mask; area agrees."""
    h, w = mask.shape
    runs = model_runs(mask)
    string = reference(mask)["counts"].decode("ascii")
    assert compressed_of(runs, (h, w)) == string  # list -> string (the reference's own writer)
    assert rle_run_lengths({"size": [h, w], "counts": string}, source="t.json") == runs  # string -> list (ours)
    assert rle_run_lengths({"size": [h, w], "counts": runs}, source="t.json") == runs
    for counts in (runs, string, string.encode("ascii")):
        decoded = rle_to_mask({"size": [h, w], "counts": counts}, source="t.json")
        assert decoded.dtype == bool and decoded.shape == (h, w)
        assert np.array_equal(decoded, mask)
    assert int(coco_mask.area({"size": [h, w], "counts": string.encode()})) == int(mask.sum()) == sum(runs[1::2])


_ALPHABET = "".join(chr(c) for c in range(48, 112))  # COCO's 64 characters, '0'..'o'


@st.composite
def odd_strings(draw: st.DrawFn) -> str:
    """Counts strings pycocotools never writes but parses: a written string with characters replaced, inserted or
    deleted, or random characters; over-long continuations and redundant sign bits come up often."""
    if draw(st.booleans()):
        return draw(st.text(alphabet=_ALPHABET, min_size=1, max_size=12))
    runs = draw(st.lists(st.integers(0, 300), min_size=1, max_size=12))
    chars = list(compressed_of(runs, (1, sum(runs))) if sum(runs) else "0")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(chars)))
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        if op == "insert" or not chars:
            chars.insert(i, draw(st.sampled_from(_ALPHABET)))
        elif op == "replace":
            chars[min(i, len(chars) - 1)] = draw(st.sampled_from(_ALPHABET))
        else:
            del chars[min(i, len(chars) - 1)]
    return "".join(chars)


@fuzz("coco_odd_strings_parse_like_pycocotools")
@given(odd_strings(), st.integers(0, 3))
def test_any_string_is_refused_or_decoded_as_its_checked_runs(counts, shape_pick):
    """Our parser (which does the checking) and pycocotools' C parser (which paints) must read a string the same
    way, or a string that passed the checks could paint something else. The size is chosen to fit the runs our
    parser reads (when they are sane), so the decode happens and is compared with those runs."""
    try:
        runs = _counts_from_string(counts, "t.json")  # the parse rle_run_lengths checks, before any size
    except FormatError:
        runs = [-1]  # a bad character or a number cut off: refused like a negative run
    total = sum(runs)
    if min(runs, default=0) < 0:  # refused for its content: any size must refuse it too
        with pytest.raises(FormatError, match="t.json"):
            rle_to_mask({"size": [3, 5], "counts": counts}, source="t.json")
        tally("coco_odd_strings_parse_like_pycocotools", "refused (negative run, bad character, cut number)")
        return
    if not 0 < total <= 200_000:
        with pytest.raises(FormatError, match="t.json"):
            rle_to_mask({"size": [1, 7], "counts": counts}, source="t.json")
        tally("coco_odd_strings_parse_like_pycocotools", "refused (sum fits no size tried)")
        return
    divisors = [d for d in (1, 2, 3, 5, 7) if total % d == 0]
    h = divisors[shape_pick % len(divisors)]
    shape = (h, total // h) if shape_pick < 2 else (total // h, h)
    runs = rle_run_lengths({"size": list(shape), "counts": counts}, source="t.json")
    decoded = rle_to_mask({"size": list(shape), "counts": counts}, source="t.json")
    assert np.array_equal(decoded, model_decode(runs, shape))
    tally("coco_odd_strings_parse_like_pycocotools", "decoded, same runs as pycocotools")


_NOT_INTS = st.one_of(st.floats(allow_nan=True), st.booleans(), st.text(max_size=3), st.none(),
                      st.lists(st.integers(0, 3), max_size=2))


@st.composite
def broken_rles(draw: st.DrawFn) -> dict[str, Any]:
    """An uncompressed or compressed RLE of a random mask, broken in one way: runs that do not sum to h*w, a
    negative run (sum kept), a non-integer run, a compressed string cut in the middle of a number, a character
    outside COCO's alphabet, or a size that is not two positive ints."""
    mask = draw(binary_masks(max_side=24))
    h, w = mask.shape
    runs = model_runs(mask)
    how = draw(st.sampled_from(["sum", "negative", "not_int", "cut", "alphabet", "size", "counts_type"]))
    if how == "sum":
        i = draw(st.integers(0, len(runs) - 1))
        delta = draw(st.integers(-runs[i], 50).filter(lambda d: d != 0))
        runs[i] += delta
        counts: Any = runs if draw(st.booleans()) else compressed_of(runs, (1, sum(runs) or 1))
        return {"size": [h, w], "counts": counts}
    if how == "negative":
        i = draw(st.integers(0, len(runs) - 1))
        k = draw(st.integers(1, 40))
        if len(runs) == 1:
            runs = [runs[0] + k, -k]
        else:
            j = (i + draw(st.integers(1, len(runs) - 1))) % len(runs)
            runs[j] += runs[i] + k
            runs[i] = -k
        assert sum(runs) == h * w
        return {"size": [h, w], "counts": runs}
    if how == "not_int":
        i = draw(st.integers(0, len(runs) - 1))
        runs[i] = draw(_NOT_INTS | st.just(float(runs[i])))  # 3.0 is a JSON float: refused too
        return {"size": [h, w], "counts": runs}
    string = compressed_of(runs, (h, w))
    if how == "cut":
        # a character with the continuation bit (0x20) set as the last one: the number never ends
        return {"size": [h, w], "counts": string + draw(st.sampled_from([chr(c) for c in range(48 + 32, 112)]))}
    if how == "alphabet":
        i = draw(st.integers(0, len(string)))
        bad = draw(st.characters(exclude_characters=_ALPHABET, codec="utf-8"))
        return {"size": [h, w], "counts": string[:i] + bad + string[i:]}
    if how == "size":
        bad_size = draw(st.sampled_from([[h], [h, w, 1], [0, w * h], [-h, -w], [float(h), w], [True, w * h],
                                         [str(h), w], None, {"h": h}]))
        return {"size": bad_size, "counts": runs}
    return {"size": [h, w], "counts": draw(st.one_of(st.integers(), st.none(), st.dictionaries(st.text(max_size=2),
                                                                                               st.integers())))}


@fuzz("coco_invalid_counts_refused")
@given(broken_rles())
def test_broken_rles_are_refused_naming_the_file(rle):
    """Never a crash (pycocotools' decoder would write past its buffer for runs that sum too high) and never a
    wrong mask: a FormatError naming the file."""
    with pytest.raises(FormatError, match="broken.json"):
        rle_to_mask(rle, source="broken.json")
    with pytest.raises(FormatError, match="broken.json"):
        rle_run_lengths(rle, source="broken.json")
    tally("coco_invalid_counts_refused", "refused")


def test_negative_run_with_the_right_sum_is_refused():
    """A run of -2 balanced by +2 sums to h*w; pycocotools would read it as 2**32 - 2 and overrun."""
    with pytest.raises(FormatError, match="negative"):
        rle_to_mask({"size": [2, 2], "counts": [3, -2, 3]}, source="x.json")

