"""Layout rules for face parsing maps (run only when the label map has the classes involved).

- Left/right: each sample votes for the convention its ``l_``/``r_`` pairs follow (``subject``: l_eye on the image
  right of a frontal face; ``image``: on the image left); the driver compares every vote with the dataset majority
  and the card's declared ``lr_convention``. Codes ``lr_swapped`` (error, per sample) and ``lr_convention``
  (error, store level: the majority contradicts the card).
- Eyes and brows sit in the face: the 2-pixel band around each must be partly skin. Code ``part_outside_skin``.
- Hair is not under the neck: hair starting below the neck's top, or centred below the neck's centre, means an
  upside-down mask or swapped ids. Code ``hair_below_neck``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from ..labelmap import LabelMap
from ..store import Dataset
from .config import QAConfig
from .findings import Finding, Severity
from .sample_view import SampleFacts, SampleView, ring_values

__all__ = ["check_layout", "check_lr_convention", "lr_vote", "lr_pairs", "LR_WORDS"]

LR_WORDS = {"subject": "subject-left", "image": "image-left"}
_SKIN_PARTS = ("l_eye", "r_eye", "l_brow", "r_brow")


def lr_pairs(labelmap: LabelMap) -> list[tuple[int, int, str, str]]:
    """(l id, r id, l name, r name) for every ``l_x``/``r_x`` flip pair of the map."""
    out = []
    for c in labelmap.classes:
        if c.name.startswith("l_") and c.flip == "r_" + c.name[2:] and c.flip in labelmap:
            out.append((c.id, labelmap.id_of(c.flip), c.name, c.flip))
    # eyes first: the reason a finding gives names the most telling pair
    return sorted(out, key=lambda p: ("eye" not in p[2], p[0]))


def lr_vote(view: SampleView, cfg: QAConfig) -> tuple[str | None, str]:
    """("subject" | "image" | None, reason) from the centroids of the mask's l_/r_ pairs: each pair further apart
    than ``lr_min_dx`` of the width votes; the majority of pair votes wins, a tie gives None."""
    mask = view.mask
    if mask is None:
        return None, ""
    votes: list[tuple[str, str]] = []
    for lid, rid, lname, rname in lr_pairs(view.labelmap):
        ls, rs = view.class_stats(lid), view.class_stats(rid)
        if ls is None or rs is None:
            continue
        dx = ls.centroid_xy[0] - rs.centroid_xy[0]
        if abs(dx) < cfg.lr_min_dx * mask.shape[1]:
            continue
        side = "right" if dx > 0 else "left"
        votes.append(("subject" if dx > 0 else "image", f"{lname} is {side} of {rname} in image coordinates"))
    tally = Counter(v for v, _ in votes)
    if not tally or tally["subject"] == tally["image"]:
        return None, ""
    winner = "subject" if tally["subject"] > tally["image"] else "image"
    return winner, next(reason for v, reason in votes if v == winner)


def check_layout(view: SampleView, cfg: QAConfig) -> Iterator[Finding]:
    """Eyes/brows next to skin; hair not below the neck."""
    mask, lm = view.mask, view.labelmap
    if mask is None:
        return
    if "skin" in lm:
        skin = lm.id_of("skin")
        for name in _SKIN_PARTS:
            stats = view.class_stats(lm.id_of(name)) if name in lm else None
            if stats is None:
                continue
            x, y, w, h = stats.bbox
            band = ring_values(mask, mask[y:y + h, x:x + w] == stats.id, (x, y), width=2)
            share = float((band == skin).mean()) if band.size else 0.0
            if share < cfg.min_skin_contact:
                yield Finding(Severity.WARNING, "part_outside_skin", view.sample.id,
                              f"mask {view.mask_rel}: {name} at ({x}, {y}, {w}x{h}) is not next to skin (skin is "
                              f"{share:.0%} of the 2 px band around it, expected at least {cfg.min_skin_contact:.0%}); "
                              "check that part's label and position",
                              file=view.mask_rel, data={"class": name, "skin_share": round(share, 3),
                                                        "xywh": [x, y, w, h]})
    if "hair" in lm and "neck" in lm:
        hair, neck = view.class_stats(lm.id_of("hair")), view.class_stats(lm.id_of("neck"))
        if hair is not None and neck is not None:
            hy, ny = hair.centroid_xy[1], neck.centroid_xy[1]
            if hair.top > neck.top or hy > ny:
                what = f"starts at y={hair.top}, below the neck's top (y={neck.top})" if hair.top > neck.top else \
                    f"is centred at y={hy:.0f}, below the neck's centre (y={ny:.0f})"
                yield Finding(Severity.WARNING, "hair_below_neck", view.sample.id,
                              f"mask {view.mask_rel}: hair {what}; the mask is upside down or the hair and neck ids "
                              "are swapped: re-export it", file=view.mask_rel,
                              data={"hair_top": hair.top, "neck_top": neck.top, "hair_cy": round(hy, 1),
                                    "neck_cy": round(ny, 1)})


def check_lr_convention(ds: Dataset, cfg: QAConfig, facts: Mapping[str, SampleFacts]) -> Iterator[Finding]:
    """Compare each sample's left/right vote with the reference: the dataset majority when at least
    ``lr_majority`` of the voting samples agree, else the card's declared convention."""
    votes = {sid: f for sid, f in facts.items() if f.lr is not None}
    if not votes:
        return
    tally = Counter(f.lr for f in votes.values())
    declared = ds.card.lr_convention
    top, n_top = tally.most_common(1)[0]
    majority = top if n_top >= cfg.lr_majority * len(votes) and n_top * 2 > len(votes) else None
    reference = majority or declared
    n_ref = tally[reference]
    if majority is not None and majority != declared:
        yield Finding(Severity.ERROR, "lr_convention", None,
                      f"animeparse.json declares lr_convention {declared!r} ({LR_WORDS.get(declared, declared)}) but "
                      f"{n_ref} of {len(votes)} samples follow {LR_WORDS[majority]}; correct the card's "
                      "lr_convention, or swap the l_/r_ ids of those masks", file="animeparse.json",
                      data={"declared": declared, "majority": majority, "votes": dict(tally)})
    for sid in sorted(votes):
        f = votes[sid]
        if f.lr == reference:
            continue
        rec = ds.mask_record(sid, cfg.layer)
        rel = rec.path if rec else f"masks/{cfg.layer}/{sid}.png"
        basis = f"{n_ref} of {len(votes)} samples follow {LR_WORDS[reference]}" if majority else \
            f"the card declares {LR_WORDS[reference]} (votes: {tally['subject']} subject-left, {tally['image']} " \
            "image-left)"
        yield Finding(Severity.ERROR, "lr_swapped", sid,
                      f"mask {rel}: {f.lr_reason}: this sample follows the {LR_WORDS[f.lr or '']} convention while "
                      f"{basis}; swap its l_/r_ ids (LabelMap.flip_lut) and re-import it",
                      file=rel, data={"follows": f.lr, "reference": reference, "votes": dict(tally)})
