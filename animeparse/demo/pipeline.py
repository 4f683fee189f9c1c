"""The main job end to end on generated data with the embedded defaults (SQLite store, bundled label map).

Stages: generate faces -> init store -> ingest -> split -> validate -> stats -> export (COCO and the
Danbooru-Parsing layout) -> manga pseudo data (bundled translator, a derived store) and its contact sheet ->
full-body figures (:data:`FIGURES` small ones in the AnimeCharacterParsing layout) -> their store
(``anime-character-parsing-13``, read through that layout's reader, the character id in each sample's meta) ->
validate -> export in the AnimeCharacterParsing layout.
Each stage is idempotent, so a demo killed at any moment finishes when run again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..ingest import IngestConfig, ingest
from ..labelmap import load_labelmap
from ..store import Dataset, DatasetInfo
from .synth import LR_CONVENTION, write_demo_data

__all__ = ["DemoResult", "run_demo"]

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
FIGURES, FIGURE_SIZE = 8, 256  # the full-body stage: a handful of small figures keeps the demo fast


@dataclass
class DemoResult:
    """Where each output of the demo is, and the headline numbers of each stage."""

    root: Path
    raw: Path
    store: Path
    info: DatasetInfo
    outputs: dict[str, Path] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)


def run_demo(root: Path | str, *, n: int = 50, seed: int = 0, size: int = 512,
             progress: Callable[[str], Progress | None] | None = None) -> DemoResult:
    """Run every stage on ``n`` generated faces under ``root``; resumable.

    ``progress(stage)`` returns a ``progress(done, total)`` callback for that stage (or None).
    """
    from ..export import ExportConfig, export
    from ..qa import validate
    from ..stats import compute_stats, write_report
    from ..stats.split import SplitConfig, split_dataset

    def bar(stage: str) -> Progress | None:
        return progress(stage) if progress else None

    root = Path(root)
    raw, store = root / "raw", root / "store"
    # what a killed demo left at the top of its own folder: temp files and folders of atomic writes
    for stale in [*root.glob(".*.tmp"), *root.glob(".*.init-*")] if root.is_dir() else []:
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    result = DemoResult(root=root, raw=raw, store=store, info=None)  # type: ignore[arg-type]
    write_demo_data(raw, n, seed=seed, size=size, progress=bar("generate"))
    with Dataset.create(store, labelmap=load_labelmap("danbooru-parsing"), name="animeparse-demo",
                        lr_convention=LR_CONVENTION, exist_ok=True) as ds:
        ingest(ds, raw, IngestConfig(format="index-folder"), progress=progress)
        plan = split_dataset(ds, SplitConfig(seed=seed), progress=bar("split"))
        result.facts["split"] = ", ".join(f"{s} {int(k)}" for s, k in zip(plan.summary["split"],
                                                                            plan.summary["samples"]))
        report = validate(ds, progress=bar("validate"))
        report.write_json(root / "validate.json")
        result.facts["validate"] = (f"{report.count('error')} errors, {report.count('warning')} warnings on "
                                    f"{report.samples} samples")
        stats = write_report(compute_stats(ds, progress=bar("stats")), root / "stats", force=True)
        for fmt in ("coco", "danbooru-parsing"):
            out = root / f"export-{fmt}"
            if not out.exists():  # an export is renamed into place only when complete: present means done
                done = export(ds, out, ExportConfig(format=fmt), progress=bar(f"export {fmt}"))
                result.facts[f"export {fmt}"] = f"{done.samples} samples"
            result.outputs[f"export ({fmt})"] = out
        result.info = ds.info()
    from ..translate.pseudo import PseudoConfig, contact_sheet, make_manga

    manga = make_manga(store, root / "manga", config=PseudoConfig(seed=seed), progress=bar("pseudo manga"))
    result.facts["pseudo manga"] = (f"{manga.translated} translated, {manga.skipped_existing} already there "
                                    f"({manga.translator})")
    sheet = contact_sheet(root / "manga", root / "manga-sheet.png", rows=None, tile=160)  # every sample
    result.outputs["manga store"] = root / "manga"
    result.outputs["manga contact sheet"] = Path(sheet.path)
    figures = _figure_stage(root, seed=seed, size=size, bar=bar)
    result.facts.update(figures.facts)
    result.outputs.update(figures.outputs)
    result.outputs = {"generated faces": raw / "images", "generated masks": raw / "masks", "store": store,
                      "validate report": root / "validate.json", "stats report": stats.summary, **result.outputs}
    return result


def _figure_stage(root: Path, *, seed: int, size: int, bar: Callable[[str], Progress | None]) -> DemoResult:
    """Full-body figures: generate, read the layout into a store (each sample's character set), validate, export.

    Short on purpose (:data:`FIGURES` figures of at most :data:`FIGURE_SIZE` pixels): a handful of images keeps the
    demo fast. Samples are added with :meth:`Dataset.add_sample` from the reader's items, with the character id
    the generator gave each figure (what ``ingest --character-from csv:characters.csv`` would set).
    """
    from ..export import ExportConfig, export
    from ..formats import anime_character_parsing as acp
    from ..imageio import read_mask
    from ..qa import validate
    from ..store import MaskInput
    from .figures import LABELMAP, write_figure_data

    raw, store = root / "raw-figures", root / "figures"
    records = write_figure_data(raw, FIGURES, seed=seed, size=min(size, FIGURE_SIZE), progress=bar("figures"))
    character = {r.name: r.character for r in records}
    out = DemoResult(root=root, raw=raw, store=store, info=None)  # type: ignore[arg-type]
    with Dataset.create(store, labelmap=load_labelmap(LABELMAP), name="animeparse-demo-figures", kind="character",
                        exist_ok=True) as ds:
        for item in acp.read(raw, labelmap=ds.labelmap):
            if item.error is not None:
                raise item.error
            masks = {"gt": MaskInput(read_mask(item.mask_path))} if item.mask_path else None
            ds.add_sample(item.image_path, name=item.name, split=item.split or "train", masks=masks,
                          character=character[Path(item.name).stem])
        report = validate(ds, progress=bar("validate figures"))
        report.write_json(root / "validate-figures.json")
        labelled = len(ds.samples(layer="gt"))
        out.facts["figures"] = (f"{len(records)} figures of {len(set(character.values()))} characters, {labelled} "
                                f"labelled; validate: {report.count('error')} errors, {report.count('warning')} "
                                "warnings")
        exported = root / "export-anime-character-parsing"
        if not exported.exists():
            done = export(ds, exported, ExportConfig(format="anime-character-parsing"),
                          progress=bar("export anime-character-parsing"))
            out.facts["export anime-character-parsing"] = f"{done.samples} samples"
    out.outputs.update({"generated figures": raw, "figure store": store,
                        "export (anime-character-parsing)": exported})
    return out
