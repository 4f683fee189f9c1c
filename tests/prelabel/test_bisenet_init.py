"""BiSeNet training start: torchvision ResNet-18 weights land in ``cp.resnet``, bad files are refused, one step trains.

No ImageNet weights can be downloaded here, so torchvision's own ``resnet18(weights=None)`` with a fixed seed stands
in: it has exactly the layout of ``resnet18-f37072fd.pth``.
"""

import hashlib

import pytest
import torch
import torch.nn.functional as F
import torchvision

from animeparse import AnimeparseError
from animeparse.prelabel.bisenet import BiSeNet
from animeparse.prelabel.bisenet_init import bisenet_loss, init_bisenet, load_backbone_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tv_state() -> dict[str, torch.Tensor]:
    """torchvision ResNet-18 state dict (with fc.*), weights unlike BiSeNet's default init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        net = torchvision.models.resnet18(weights=None)
    state = net.state_dict()
    with torch.no_grad():  # running stats differ from the 0/1 defaults, so copying buffers is checked too
        for key, value in state.items():
            if key.endswith(("running_mean", "running_var")):
                value.uniform_(0.5, 1.5)
            elif key.endswith("num_batches_tracked"):
                value.fill_(7)
    return state


def _assert_backbone_equals(model: BiSeNet, tv_state: dict[str, torch.Tensor]) -> None:
    backbone = model.cp.resnet.state_dict()
    assert set(backbone) == {k for k in tv_state if not k.startswith("fc.")}
    for key, value in backbone.items():
        assert torch.equal(value, tv_state[key]), key


def test_torchvision_resnet18_loads_exactly(tmp_path, tv_state):
    path = tmp_path / "resnet18-test.pth"
    torch.save(tv_state, path)
    model = BiSeNet(19)
    head_before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("cp.resnet.")}

    info = load_backbone_weights(model, path)

    _assert_backbone_equals(model, tv_state)
    assert all(torch.equal(v, head_before[k]) for k, v in model.state_dict().items() if k in head_before)
    assert info == {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                    "keys": len(model.cp.resnet.state_dict())}


def _drop_nbt(sd):
    return {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize(("wrap", "has_nbt"), [
    (lambda sd: {"state_dict": sd}, True),
    (lambda sd: {"model": sd, "epoch": 90}, True),
    (lambda sd: {f"module.{k}": v for k, v in sd.items()}, True),
    (lambda sd: {"state_dict": {f"module.module.{k}": v for k, v in sd.items()}}, True),
    (_drop_nbt, False),
], ids=["state_dict", "model+meta", "module-prefix", "wrapped+double-prefix", "no-num_batches_tracked"])
def test_wrapped_and_prefixed_files_load(tmp_path, tv_state, wrap, has_nbt):
    path = tmp_path / "wrapped.pth"
    torch.save(wrap(tv_state), path)
    model = BiSeNet(19)
    before = {k: v.clone() for k, v in model.cp.resnet.state_dict().items()}
    info = load_backbone_weights(model, path)
    for key, value in model.cp.resnet.state_dict().items():
        kept = key.endswith("num_batches_tracked") and not has_nbt  # the model's own counter stays
        assert torch.equal(value, before[key] if kept else tv_state[key]), key
    assert info["keys"] == len(_drop_nbt(before)) + (len(before) - len(_drop_nbt(before))) * has_nbt


def _without_layer4(sd):
    return {k: v for k, v in sd.items() if not k.startswith("layer4.")}


def _bad_shape(sd):
    return {**sd, "layer2.0.downsample.0.weight": torch.zeros(128, 64, 3, 3)}


@pytest.mark.parametrize(("make", "needles"), [
    (_without_layer4, ["missing", "layer4.0.conv1.weight", "resnet18-f37072fd.pth"]),
    (_bad_shape, ["layer2.0.downsample.0.weight", "(128, 64, 3, 3)", "(128, 64, 1, 1)"]),
    (lambda sd: {**sd, "layer1.2.conv1.weight": sd["layer1.0.conv1.weight"]}, ["layer1.2.conv1.weight", "ResNet"]),
    (lambda sd: list(sd.values())[:3], ["not a state dict", "list"]),
    (lambda sd: {"epoch": 3, "arch": "resnet18"}, ["not a state dict", "epoch"]),
    (lambda sd: {}, ["not a state dict"]),
], ids=["missing-layer4", "wrong-shape", "resnet34-extra", "list", "no-tensors", "empty"])
def test_bad_files_are_refused_naming_file_and_problem(tmp_path, tv_state, make, needles):
    path = tmp_path / "bad-backbone.pth"
    torch.save(make(tv_state), path)
    model = BiSeNet(19)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(AnimeparseError) as info:
        load_backbone_weights(model, path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message
    assert "resnet18" in message
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # refused files change nothing


def test_not_a_torch_file_is_refused(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(AnimeparseError, match="notes.pth"):
        load_backbone_weights(BiSeNet(19), path)


def test_init_with_backbone_weights_returns_info(tmp_path, tv_state):
    path = tmp_path / "resnet18.pth"
    torch.save(tv_state, path)
    model, info = init_bisenet(5, backbone_weights=path, seed=0)
    _assert_backbone_equals(model, tv_state)
    assert model.conv_out.conv_out.out_channels == 5
    assert info is not None and info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_training_step_then_strict_reload(tmp_path):
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64)
    targets = torch.randint(0, 19, (2, 64, 64))
    model, info = init_bisenet(19, backbone_weights=None, seed=0)
    assert info is None
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    outputs = model(images)
    assert all(o.shape == (2, 19, 64, 64) for o in outputs)
    loss = bisenet_loss(outputs, lambda logits: F.cross_entropy(logits, targets, ignore_index=255))
    assert loss.ndim == 0 and torch.isfinite(loss)
    optimizer.zero_grad()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())  # every head, aux ones included, gets a gradient
    optimizer.step()

    after = model.state_dict()
    for key in ("cp.resnet.conv1.weight", "conv_out.conv_out.weight", "conv_out16.conv_out.weight",
                "conv_out32.conv_out.weight", "ffm.convblk.conv.weight"):
        assert not torch.equal(before[key], after[key]), key

    path = tmp_path / "bisenet.pth"
    torch.save(model.state_dict(), path)
    reloaded = BiSeNet(19)
    reloaded.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        for got, want in zip(reloaded(images), model(images), strict=True):
            torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_bisenet_loss_weights_aux_heads():
    outputs = (torch.full((1,), 1.0), torch.full((1,), 10.0), torch.full((1,), 100.0))
    assert bisenet_loss(outputs, lambda t: t.sum()).item() == 111.0
    assert bisenet_loss(outputs, lambda t: t.sum(), aux_weight=0.4).item() == pytest.approx(1.0 + 0.4 * 110.0)


def test_init_is_deterministic_by_seed_and_leaves_global_rng():
    torch.manual_seed(42)
    global_state = torch.random.get_rng_state()
    a, _ = init_bisenet(19, backbone_weights=None, seed=0)
    b, _ = init_bisenet(19, backbone_weights=None, seed=0)
    c, _ = init_bisenet(19, backbone_weights=None, seed=1)
    assert torch.equal(torch.random.get_rng_state(), global_state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["cp.resnet.conv1.weight"], sc["cp.resnet.conv1.weight"])
    assert not torch.equal(sa["conv_out.conv_out.weight"], sc["conv_out.conv_out.weight"])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True], ids=["zero", "negative", "float", "bool"])
def test_init_refuses_bad_class_count(bad):
    with pytest.raises(AnimeparseError, match="num_classes"):
        init_bisenet(bad, backbone_weights=None, seed=0)
