"""The face-parsing.PyTorch BiSeNet: its state-dict layout loads strictly and runs as a parser.

The released Danbooru-Parsing / face-parsing checkpoints cannot be downloaded here, so a randomly initialised
instance is saved in that layout; key names and shapes are checked against the original model.py / resnet.py
(zllrunning/face-parsing.PyTorch: ContextPath with a ResNet-18, ARMs 256->128 and 512->128, FFM 256, outputs
256->256->n, 128->64->n).
"""

import numpy as np
import pytest
import torch

from animeparse import AnimeparseError, load_labelmap
from animeparse.prelabel.bisenet import BiSeNet
from animeparse.prelabel.parser import parser_from_checkpoint

# (key, shape) as the original modules name and size them
ORIGINAL_KEYS = [
    ("cp.resnet.conv1.weight", (64, 3, 7, 7)),
    ("cp.resnet.bn1.running_var", (64,)),
    ("cp.resnet.layer1.0.conv1.weight", (64, 64, 3, 3)),
    ("cp.resnet.layer2.0.downsample.0.weight", (128, 64, 1, 1)),
    ("cp.resnet.layer2.0.downsample.1.weight", (128,)),
    ("cp.resnet.layer3.1.conv2.weight", (256, 256, 3, 3)),
    ("cp.resnet.layer4.1.bn2.num_batches_tracked", ()),
    ("cp.arm16.conv.conv.weight", (128, 256, 3, 3)),
    ("cp.arm16.conv_atten.weight", (128, 128, 1, 1)),
    ("cp.arm16.bn_atten.weight", (128,)),
    ("cp.arm32.conv.conv.weight", (128, 512, 3, 3)),
    ("cp.conv_head32.conv.weight", (128, 128, 3, 3)),
    ("cp.conv_head16.bn.bias", (128,)),
    ("cp.conv_avg.conv.weight", (128, 512, 1, 1)),
    ("ffm.convblk.conv.weight", (256, 256, 1, 1)),
    ("ffm.conv1.weight", (64, 256, 1, 1)),
    ("ffm.conv2.weight", (256, 64, 1, 1)),
    ("conv_out.conv.conv.weight", (256, 256, 3, 3)),
    ("conv_out.conv_out.weight", (19, 256, 1, 1)),
    ("conv_out16.conv.conv.weight", (64, 128, 3, 3)),
    ("conv_out16.conv_out.weight", (19, 64, 1, 1)),
    ("conv_out32.conv_out.weight", (19, 64, 1, 1)),
]


@pytest.fixture(scope="module")
def bisenet_state():
    torch.manual_seed(0)
    return BiSeNet(19).state_dict()


@pytest.mark.parametrize("key,shape", ORIGINAL_KEYS, ids=[k for k, _ in ORIGINAL_KEYS])
def test_state_dict_layout_matches_the_original(bisenet_state, key, shape):
    assert tuple(bisenet_state[key].shape) == shape


def test_layout_has_no_extra_modules(bisenet_state):
    assert {k.split(".")[0] for k in bisenet_state} == {"cp", "ffm", "conv_out", "conv_out16", "conv_out32"}
    assert not any(".sp." in k or k.startswith("sp.") or ".fc." in k for k in bisenet_state)
    params = sum(v.numel() for k, v in bisenet_state.items() if "running" not in k and "num_batches" not in k)
    # the released 79999_iter.pth is ~53 MB of float32: ~13.3 M parameters
    assert 13.0e6 < params < 13.5e6


@pytest.mark.parametrize("wrap", ["plain", "module-prefix", "state_dict-key", "no-num-batches-tracked"])
def test_checkpoint_loads_strictly_as_a_parser(tmp_path, bisenet_state, wrap):
    state = dict(bisenet_state)
    if wrap == "module-prefix":  # saved from nn.DataParallel
        state = {f"module.{k}": v for k, v in state.items()}
    elif wrap == "state_dict-key":
        state = {"state_dict": state, "epoch": 3}
    elif wrap == "no-num-batches-tracked":  # saved by torch < 0.4.1
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "79999_iter.pth"
    torch.save(state, path)
    parser = parser_from_checkpoint(path, load_labelmap("danbooru-parsing"), torch.device("cpu"))
    assert parser.kind == "bisenet" and parser.input_size == 512 and parser.channel_map is None
    ref = parser.model.state_dict()
    assert all(torch.equal(ref[k], bisenet_state[k]) for k in ("cp.resnet.conv1.weight", "conv_out.conv_out.weight"))


def test_bisenet_predicts_store_classes_via_the_celebamask_order(tmp_path, bisenet_state):
    path = tmp_path / "bisenet.pth"
    torch.save(bisenet_state, path)
    celeb = load_labelmap("celebamask-hq")  # same names, other ids: outputs are folded by name
    parser = parser_from_checkpoint(path, celeb, torch.device("cpu"))
    assert parser.channel_map is not None
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    (probs,) = parser.predict([image])
    assert probs.shape == (19, 40, 56) and torch.allclose(probs.sum(0), torch.ones(40, 56), atol=1e-4)
    hair = celeb.id_of("hair")
    net_hair = load_labelmap("danbooru-parsing").id_of("hair")
    # the store channel for hair carries the net's hair output
    logits = parser.model((torch.nn.functional.interpolate(
        torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=(512, 512), mode="bilinear",
        align_corners=False, antialias=True) / 255 - torch.tensor(parser.mean).view(1, 3, 1, 1))
        / torch.tensor(parser.std).view(1, 3, 1, 1))[0].softmax(1)
    small = torch.nn.functional.interpolate(logits, size=(40, 56), mode="bilinear", align_corners=False)[0]
    assert torch.allclose(probs[celeb.ids.index(hair)], small[net_hair], atol=1e-4)


def test_other_files_are_refused_with_the_reason(tmp_path):
    path = tmp_path / "random.pth"
    torch.save({"weight": torch.zeros(3)}, path)
    with pytest.raises(AnimeparseError, match="neither an animeparse parser checkpoint nor a BiSeNet"):
        parser_from_checkpoint(path, load_labelmap("danbooru-parsing"), torch.device("cpu"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(AnimeparseError, match="cannot be read as a torch checkpoint"):
        parser_from_checkpoint(bad, load_labelmap("danbooru-parsing"), torch.device("cpu"))
    truncated = {k: v for k, v in BiSeNet(19).state_dict().items() if not k.startswith("conv_out16")}
    torch.save(truncated, tmp_path / "partial.pth")
    with pytest.raises(AnimeparseError, match="not a face-parsing.PyTorch BiSeNet state dict"):
        parser_from_checkpoint(tmp_path / "partial.pth", load_labelmap("danbooru-parsing"), torch.device("cpu"))
