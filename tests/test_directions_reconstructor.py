"""Reconstructor networks: the paper's ResNet-18 (2·C-channel stem, random weights, full resolution), its MNIST
LeNet and our small CNN; the ResNet-18 learns to tell directions of the bundled generator apart."""

import pytest
import torch
from torch import nn

from latentdirs.directions.reconstructor import build_reconstructor, parameter_count
from latentdirs.directions.trainer import build_term
from latentdirs.errors import UserError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RESNET18_PARAMETERS = 11_689_512  # torchvision's resnet18(): 3-channel stem, 1000-way ImageNet layer (513 000)


def _input_shape(net, module, x):
    seen = []
    handle = module.register_forward_hook(lambda mod, args, out: seen.append(tuple(args[0].shape)))
    logits, shift = net(x, x)
    handle.remove()
    return seen[0], logits, shift


def test_resnet18_is_the_papers_network(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("the reconstructor must never download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    net = build_reconstructor("resnet18", 5, 3, 96)
    stem = net.body.conv1
    assert (stem.in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding) == \
        (6, 64, (7, 7), (2, 2), (3, 3)) and stem.bias is None
    assert isinstance(net.body.fc, nn.Identity)
    # ResNet-18 without its ImageNet layer, 3 more stem input channels, heads Linear(512, K) and Linear(512, 1)
    assert parameter_count(net) == RESNET18_PARAMETERS - 513_000 + 3 * 64 * 49 + (512 * 5 + 5) + (512 + 1)
    x = torch.rand(2, 3, 96, 96) * 2 - 1
    shape, logits, shift = _input_shape(net, stem, x)
    assert shape == (2, 6, 96, 96)  # the pair, stacked along channels, at full resolution
    assert logits.shape == (2, 5) and shift.shape == (2,)
    gray = build_reconstructor("resnet18", 4, 1, 64)
    assert gray.body.conv1.in_channels == 2
    down = build_reconstructor("resnet18", 4, 1, 64, size=32)
    shape, _, _ = _input_shape(down, down.body.conv1, torch.zeros(2, 1, 64, 64))
    assert shape == (2, 2, 32, 32)


def test_small_and_lenet_networks():
    small = build_reconstructor("small", 6, 1, 128)
    shape, logits, shift = _input_shape(small, small.body[0], torch.zeros(3, 1, 128, 128))
    assert shape == (3, 2, 64, 64) and logits.shape == (3, 6) and shift.shape == (3,)  # pooled to 64 px
    assert parameter_count(build_reconstructor("small", 6, 1, 64)) == 389_927
    lenet = build_reconstructor("lenet", 6, 1, 32)
    convs = [m for m in lenet.body if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(2, 6, (5, 5)), (6, 16, (5, 5)),
                                                                               (16, 120, (5, 5))]
    logits, shift = lenet(torch.zeros(4, 1, 32, 32), torch.zeros(4, 1, 32, 32))
    assert logits.shape == (4, 6) and shift.shape == (4,)
    with pytest.raises(UserError, match="at least 32 px"):
        build_reconstructor("lenet", 6, 1, 28)
    with pytest.raises(UserError, match="unknown reconstructor net"):
        build_reconstructor("vgg", 6, 1, 64)
    with pytest.raises(UserError, match="net"):
        build_term("reconstructor:net=vgg")


@pytest.mark.slow
def test_resnet18_tells_apart_ganspace_directions_of_the_bundled_generator():
    """A fresh ResNet-18 reconstructor, 40 steps on three of GANSpace's top components (they move the shape
    vertically, horizontally and turn it): accuracy far above chance (1/3) on new batches, reported as RCA."""
    from latentdirs.directions.evaluation import reconstructor_accuracy
    from latentdirs.directions.generator import load_handle
    from latentdirs.directions.spaces import SpaceRenderer
    from latentdirs.directions.statistics import make_direction_set
    from latentdirs.directions.trainer import DiscoveryConfig, discover_closed_form
    from latentdirs.pretrained import bundled_path

    handle = load_handle(str(bundled_path("dsprites_generator").with_suffix(".json")), device=torch.device("cpu"))
    ganspace = discover_closed_form(handle, DiscoveryConfig(method="ganspace", num_directions=5, pca_samples=4096))
    dset = make_direction_set(SpaceRenderer(handle, ganspace.space), ganspace.directions[[0, 2, 4]], method="t",
                              generator=torch.Generator().manual_seed(0), num_samples=256)
    result = reconstructor_accuracy(handle, dset, steps=40, batch_size=16, eval_batches=6, lr=1e-3, shift_min=2.0)
    assert result.net == "resnet18" and result.input_size == 64 and result.parameters > 11_000_000
    assert result.accuracy > 0.5, result  # 0.64, 0.77, 0.76 with seeds 0, 1, 2
