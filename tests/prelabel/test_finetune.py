"""``parser train --init-from``: fine-tuning starts from an earlier parser's weights (the Label Studio learning loop
uses it for every round after the first)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from animeparse import AnimeparseError, Dataset
from animeparse.cli.main import cli
from animeparse.prelabel import TrainConfig, train_parser
from animeparse.prelabel.device import load_torch_file

from ..conftest import require
from . import make_face_store

torch = require("torch", extra="sam")
pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = {"epochs": 1, "size": 64, "device": "cpu", "unlabeled": "none", "time_budget": 0}


@pytest.fixture(scope="module")
def store_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    with make_face_store(root, n_train=4, size=96) as ds:
        train_parser(ds, TrainConfig(run_id="p1", **FAST))
    return root / "store"


def _weights(root, run):
    return load_torch_file(root / "runs" / run / "parser.pt")["state_dict"]


def test_init_from_a_run_starts_from_its_weights(store_root):
    with Dataset.open(store_root, write=True) as ds:
        train_parser(ds, TrainConfig(run_id="fresh", lr=1e-12, seed=5, **FAST))
        train_parser(ds, TrainConfig(run_id="tuned", lr=1e-12, seed=5, init_from="p1", **FAST))
        assert ds.run("tuned").models["parser"]["init"] == "checkpoint"
        assert ds.run("tuned").models["parser"]["backbone"]["init_from"].endswith("p1/parser.pt")
    before, fresh, tuned = (_weights(store_root, r) for r in ("p1", "fresh", "tuned"))
    key = next(k for k, v in before.items() if v.dtype.is_floating_point and v.numel() > 100)
    # a learning rate of 1e-12 leaves the weights where they started: p1's, not the seed's
    assert torch.allclose(tuned[key], before[key], atol=1e-6)
    assert not torch.allclose(fresh[key], before[key], atol=1e-3)


def test_init_from_refusals(store_root, tmp_path):
    with Dataset.open(store_root, write=True) as ds:
        with pytest.raises(AnimeparseError, match="neither a parser run of this store nor a file"):
            train_parser(ds, TrainConfig(run_id="x1", init_from="no-such-run", **FAST))
        with pytest.raises(AnimeparseError, match="its net is not the one being trained"):
            train_parser(ds, TrainConfig(run_id="x2", init_from="p1", widths=(8, 16, 32, 48), **FAST))
    r = CliRunner().invoke(cli, ["parser", "train", str(store_root), "--init-from", "p1", "--epochs", "1",
                                 "--size", "64", "--device", "cpu", "--unlabeled", "none", "--time-budget", "0",
                                 "--run", "cli-tuned", "--json"])
    assert r.exit_code == 0, r.output
