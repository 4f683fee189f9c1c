"""Splits: determinism, groups kept whole, fixed samples kept, ratios met, class balance better than random."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from click.testing import CliRunner

from animeparse import AnimeparseError, Dataset, Sample
from animeparse.cli.main import cli
from animeparse.stats.split import (
    AUTO_TAG,
    FIXED_TAG,
    SplitConfig,
    group_samples,
    is_fixed,
    plan_split,
    presence_deviation,
    split_dataset,
)

from .stats import Spec, make_store

NAMES, RATIOS = ["train", "val", "test"], [0.8, 0.1, 0.1]
# class id -> samples per 100 that contain it: rare classes are where a random split goes wrong
RARE = {18: 10, 6: 6, 16: 30, 9: 4, 15: 8}


def _imbalanced_specs(n: int = 100, seed: int = 1) -> list[Spec]:
    """4x4 masks of skin with a few pixels of rare classes; the first 30 samples in near-duplicate triples."""
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(n):
        mask = np.ones((4, 4), np.uint8)
        for j, cid in enumerate(c for c, per100 in RARE.items() if rng.random() < per100 / 100):
            mask[j // 4, j % 4] = cid
        specs.append(Spec(mask, dup_group=f"g{i // 3}" if i < 30 else None, pixel_seed=i))
    return specs


def _presence(specs: list[Spec], ids: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for sid, spec in zip(ids, specs):
        vec = np.zeros(19, bool)
        vec[np.unique(spec.mask)] = True
        out[sid] = vec
    return out


@pytest.fixture(scope="module")
def imbalanced(tmp_path_factory):
    specs = _imbalanced_specs()
    root, ids = make_store(tmp_path_factory.mktemp("imb") / "ds", specs)
    return root, ids, specs


def test_same_seed_same_split_other_seed_other_split(imbalanced):
    with Dataset.open(imbalanced[0]) as ds:
        a = plan_split(ds, SplitConfig(seed=0))
        b = plan_split(ds, SplitConfig(seed=0), workers=0)
        c = plan_split(ds, SplitConfig(seed=1))
    assert a.assignment == b.assignment
    assert sum(a.assignment[s] != c.assignment[s] for s in a.assignment) >= 10


def test_independent_of_row_order(tmp_path):
    specs = _imbalanced_specs(15, seed=5)
    forward, _ = make_store(tmp_path / "fwd", specs)
    backward, _ = make_store(tmp_path / "bwd", specs[::-1])
    with Dataset.open(forward) as f, Dataset.open(backward) as b:
        assert plan_split(f, SplitConfig(seed=3)).assignment == plan_split(b, SplitConfig(seed=3)).assignment


def test_near_duplicate_groups_never_straddle(imbalanced):
    with Dataset.open(imbalanced[0]) as ds:
        groups = {s.id: s.dup_group for s in ds.samples()}
        for seed in range(5):
            plan = plan_split(ds, SplitConfig(seed=seed, ratios=(0.5, 0.25, 0.25)))
            splits_of = defaultdict(set)
            for sid, group in groups.items():
                if group:
                    splits_of[group].add(plan.assignment[sid])
            assert len(splits_of) == 10 and all(len(v) == 1 for v in splits_of.values())
            assert plan.summary["groups"].sum() == 100 - 20


def test_ratios_met_and_reported(imbalanced):
    with Dataset.open(imbalanced[0]) as ds:
        plan = plan_split(ds, SplitConfig(seed=0))
    summary = plan.summary.set_index("split")
    assert list(summary.index) == NAMES and summary["samples"].sum() == 100
    for name, target in zip(NAMES, RATIOS):
        assert abs(summary.loc[name, "share"] - target) <= 0.03
    shares = plan.class_shares.set_index("name")
    assert shares.loc["skin", "samples"] == 100 and list(shares.columns[-4:]) == [*NAMES, "max_dev"]
    assert shares.loc["hat", NAMES].sum() == pytest.approx(1.0)


def test_class_balance_beats_random(imbalanced):
    root, ids, specs = imbalanced
    presence = _presence(specs, ids)
    with Dataset.open(root) as ds:
        group_of = group_samples(ds.samples())
        plans = [plan_split(ds, SplitConfig(seed=seed)) for seed in range(3)]
    for plan in plans:
        assert plan.deviation == pytest.approx(presence_deviation(plan.assignment, presence, NAMES, RATIOS))
    random_devs = []
    for seed in range(100):  # random group-wise splits with the same ratios, as a baseline
        rng = np.random.default_rng(seed)
        by_group = {g: NAMES[rng.choice(3, p=RATIOS)] for g in sorted(set(group_of.values()))}
        random_devs.append(presence_deviation({s: by_group[g] for s, g in group_of.items()}, presence, NAMES, RATIOS))
    ours = max(p.deviation for p in plans)
    assert ours < 0.6 * float(np.mean(random_devs)), (ours, np.mean(random_devs))
    assert ours <= float(np.percentile(random_devs, 10))


def _sample(sid: str, *, source: str = "", split: str = "train", tags: tuple[str, ...] = (),
            meta: dict | None = None, dup: str | None = None) -> Sample:
    return Sample(id=sid, name=sid, source=source, image="", width=4, height=4, sha256="", file_sha256="", phash="",
                  dup_group=dup, split=split, tags=tags, status="annotated", created_at="", meta=meta or {})


def test_groupings():
    samples = [
        _sample("a", source="/art/p1.png", meta={"source_image": "p1.png"}),
        _sample("b", source="/art/p1.png", meta={"source_image": "p1.png"}),
        _sample("c", source="/art/p2.png", meta={"source_image": "p2.png"}),
        _sample("d", source="/shots/ep1/001.png"),
        _sample("e", source="/shots/ep1/002.png", tags=("character:alice",)),
        _sample("f", source="/shots/ep2/001.png", tags=("character:alice",), dup="g1"),
        _sample("g", source="/other/x.png", dup="g1"),
        _sample("h", source="nofolder.png", tags=("character:bob",)),
    ]
    dup_only = group_samples(samples)
    assert dup_only["f"] == dup_only["g"] == "f" and len(set(dup_only.values())) == 7
    by_source = group_samples(samples, ["source"])
    assert by_source["a"] == by_source["b"] != by_source["c"]  # crops of one picture, not of the folder
    assert by_source["d"] == by_source["e"] != by_source["f"]
    assert by_source["f"] == by_source["g"] and by_source["h"] == "h"
    by_tag = group_samples(samples, ["tag:character"])
    assert by_tag["e"] == by_tag["f"] == by_tag["g"] == "e" and by_tag["h"] == "h"
    both = group_samples(samples, ["source", "tag:character"])
    assert len({both[s] for s in "defg"}) == 1
    assert group_samples(samples[::-1], ["source", "tag:character"]) == both


@pytest.mark.parametrize("split,tags,fixed", [
    ("train", (), False), ("test", (), True), ("val", (AUTO_TAG,), False), ("train", (FIXED_TAG,), True),
    ("val", (AUTO_TAG, FIXED_TAG), True), ("test_68", (), True)],
    ids=["default", "from-ingest", "placed-before", "tagged", "tag-wins", "other-name"])
def test_fixed_rule(split, tags, fixed):
    assert is_fixed(_sample("x", split=split, tags=tags)) is fixed


def _store_with_fixed(root):
    specs = _imbalanced_specs(40, seed=7)
    for i in (30, 31, 32, 33):
        specs[i].split = "test"  # a dataset's own test set, as ingest records it
    specs[34].tags = (FIXED_TAG,)  # pinned in train by hand
    specs[35].split, specs[35].tags = "val", (AUTO_TAG,)  # placed by an earlier split run: free
    specs[36].split = "test"
    specs[37].dup_group = specs[36].dup_group = "near-fixed"  # a free near duplicate of a fixed test sample
    return make_store(root, specs)


def test_fixed_samples_kept_and_written_in_one_run(tmp_path):
    root, ids = _store_with_fixed(tmp_path / "ds")
    fixed = {ids[i]: s for i, s in [(30, "test"), (31, "test"), (32, "test"), (33, "test"), (34, "train"),
                                    (36, "test")]}
    with Dataset.open(root, write=True) as ds:
        plan = split_dataset(ds, SplitConfig(seed=0))
        after = {s.id: s for s in ds.samples()}
        assert len(ds.runs(kind="split")) == 1 and ds.runs(kind="split")[0].status == "finished"
    assert plan.run_id and set(plan.free) == set(ids) - set(fixed)
    for sid, split in fixed.items():
        assert after[sid].split == split and AUTO_TAG not in after[sid].tags
    assert after[ids[37]].split == "test"  # follows its fixed near duplicate
    assert all(AUTO_TAG in after[s].tags and after[s].split == plan.assignment[s] for s in plan.free)
    summary = plan.summary.set_index("split")
    assert summary.loc["test", "fixed"] == 5 and summary.loc["train", "fixed"] == 1
    assert summary.loc["test", "samples"] >= 6  # fixed samples count towards the total of 4 (0.1 of 40) ...
    assert summary.loc["val", "samples"] == 4  # ... so test gets no more, and val its share
    # a second run with another seed moves only what a split placed
    with Dataset.open(root, write=True) as ds:
        split_dataset(ds, SplitConfig(seed=9))
        again = {s.id: s.split for s in ds.samples()}
    assert all(again[sid] == split for sid, split in fixed.items())


def test_reassign_fixed_and_extra_split(tmp_path):
    root, ids = _store_with_fixed(tmp_path / "ds")
    with Dataset.open(root) as ds:
        freed = plan_split(ds, SplitConfig(reassign_fixed=True))
        two = plan_split(ds, SplitConfig(ratios=(0.9, 0.1), names=("train", "val")))
    assert set(freed.free) == set(ids) and freed.summary["fixed"].sum() == 0
    # fixed samples in a split outside the names stay there, reported after the named splits with target 0
    rows = two.summary.set_index("split")
    assert list(rows.index) == ["train", "val", "test"] and rows.loc["test", "target"] == 0
    assert rows.loc["test", "samples"] == 6 and np.isnan(rows.loc["test", "share"])
    assert rows.loc[["train", "val"], "samples"].sum() == 34


def test_conflicting_fixed_group_warns(tmp_path):
    specs = [Spec(np.ones((4, 4), np.uint8), split=s, dup_group="g") for s in ("test", "val", "train")]
    root, ids = make_store(tmp_path / "ds", specs)
    with Dataset.open(root) as ds:
        plan = plan_split(ds)
    assert plan.warnings and "several splits" in plan.warnings[0]
    # the fixed samples stay; the free one joins the earlier named split of the tie (val before test)
    assert [plan.assignment[i] for i in ids] == ["test", "val", "val"]


def test_one_big_group_warns(tmp_path):
    specs = [Spec(np.ones((4, 4), np.uint8), source=f"/flat/{i}.png") for i in range(6)]
    specs += [Spec(np.ones((4, 4), np.uint8), source=f"/other{i}/x.png") for i in range(4)]
    root, ids = make_store(tmp_path / "ds", specs)
    with Dataset.open(root) as ds:
        assert not plan_split(ds).warnings
        plan = plan_split(ds, SplitConfig(group=("source",)))
    assert len({plan.assignment[i] for i in ids[:6]}) == 1
    assert len(plan.warnings) == 1 and "holds 6 of 10 samples" in plan.warnings[0]
    assert "flat folder" in plan.warnings[0]


@pytest.mark.parametrize("kwargs,message", [
    ({"ratios": (0.8, 0.2), "names": ("a", "b", "c")}, "2 ratios for 3 split names"),
    ({"ratios": (0.8, -0.1, 0.3)}, "ratios must be >= 0"),
    ({"ratios": (0, 0, 0)}, "positive sum"),
    ({"names": ("train", "train", "test")}, "unique"),
    ({"group": ("folder",)}, "unknown grouping"),
    ({"group": ("tag:",)}, "unknown grouping"),
], ids=["count", "negative", "zero", "duplicate-names", "grouping", "empty-tag"])
def test_config_validation(kwargs, message):
    with pytest.raises(AnimeparseError, match=message):
        SplitConfig(**kwargs)


def test_cli_split_dry_run_then_write(tmp_path):
    root, ids = _store_with_fixed(tmp_path / "ds")
    runner = CliRunner()
    r = runner.invoke(cli, ["-q", "split", str(root), "--ratios", "0.8,0.1,0.1", "--names", "train,val,test",
                            "--seed", "2", "--group", "near-duplicates", "--group", "source", "--keep-fixed",
                            "--layer", "gt", "--workers", "0", "--dry-run"])
    assert r.exit_code == 0, r.output
    # the plan is what a dry run is for: printed even with -q
    assert "dry run: nothing written" in r.output and "hat" in r.output and "groups" in r.output
    with Dataset.open(root) as ds:
        assert ds.info().by_split == {"test": 5, "train": 34, "val": 1} and not ds.runs(kind="split")
    with Dataset.open(root, write=True):  # another writer holds the lock: a dry run still reads ...
        assert runner.invoke(cli, ["-q", "split", str(root), "--dry-run"]).exit_code == 0
        r = runner.invoke(cli, ["-q", "split", str(root)])  # ... a real run is refused
        assert r.exit_code == 1 and "another animeparse process" in r.output
    r = runner.invoke(cli, ["split", str(root), "--ratios", "9,1", "--reassign-fixed", "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert "written (run split-" in r.output
    with Dataset.open(root) as ds:
        by_split = ds.info().by_split
    assert set(by_split) == {"train", "val"} and by_split["val"] == 4
    r = runner.invoke(cli, ["split", str(root), "--ratios", "0.5,x"])
    assert r.exit_code == 2 and "--ratios" in r.output
