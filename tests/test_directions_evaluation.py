"""Evaluation pieces: the LPIPS embedding equals LPIPS, traversal scores, RCA on frozen directions."""

import signal

import lpips
import numpy as np
import pytest
import torch
from directions_support import tiny_generator
from torch import nn

from latentdirs.directions.closed_form import sefa_directions
from latentdirs.directions.evaluation import reconstructor_accuracy, traversal_distances
from latentdirs.directions.features import ImageFeatures, LpipsEmbedding
from latentdirs.directions.generator import GeneratorHandle
from latentdirs.directions.spaces import LatentSpace, SpaceRenderer
from latentdirs.directions.statistics import make_direction_set
from latentdirs.directions.trainer import DirectionTrainer
from latentdirs.errors import UserError
from latentdirs.interrupt import Interrupted

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lpips_embedding_distances_equal_lpips():
    embedding = LpipsEmbedding(seed=3)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        reference = lpips.LPIPS(net="alex", pnet_rand=not embedding.pretrained_backbone, verbose=False)
    gen = torch.Generator().manual_seed(0)
    for size, channels in [(64, 3), (32, 1)]:
        x = torch.rand(3, channels, size, size, generator=gen) * 2 - 1
        y = torch.rand(3, channels, size, size, generator=gen) * 2 - 1
        ours = (embedding(x) - embedding(y)).square().sum(dim=1)
        xs, ys = (t.expand(-1, 3, -1, -1) for t in (x, y))
        if size < 64:
            up = nn.Upsample(size=(64, 64), mode="bilinear", align_corners=False)
            xs, ys = up(xs), up(ys)
        with torch.no_grad():
            theirs = reference(xs, ys).flatten()
        assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert ("RANDOM" in embedding.description) != embedding.pretrained_backbone


def test_feature_kinds():
    images = torch.rand(2, 3, 64, 64)
    assert ImageFeatures("pixels")(images).shape == (2, 3 * 64 * 64)
    down = ImageFeatures("downsample", size=16)(images)
    assert down.shape == (2, 3 * 16 * 16)
    assert torch.allclose(down.reshape(2, 3, 16, 16)[:, :, 0, 0], images[:, :, :4, :4].mean(dim=(2, 3)), atol=1e-6)


def test_traversal_distances_and_smoothness():
    flat = nn.Flatten()
    steps = torch.arange(5, dtype=torch.float64)
    frames = (steps[None, :, None, None, None] * torch.ones(1, 5, 1, 2, 2, dtype=torch.float64))
    distances = traversal_distances(flat, frames)
    # squared distances: each step moves 4 pixels by 1 → 4; end to end 4 · 4² = 64
    assert torch.allclose(distances, torch.tensor([[4.0, 4.0, 4.0, 4.0, 64.0]], dtype=torch.float64))


def test_rca_separates_distinct_directions_from_duplicates():
    handle = GeneratorHandle(tiny_generator())
    renderer = SpaceRenderer(handle, LatentSpace("w"))
    gen = torch.Generator().manual_seed(0)
    sefa, _, _ = sefa_directions(handle, None, 2)
    distinct = make_direction_set(renderer, sefa, method="t", generator=gen, num_samples=64)
    duplicate = make_direction_set(renderer, torch.stack([sefa[0], sefa[0]]), method="t", generator=gen,
                                   num_samples=64)
    kwargs = dict(steps=100, batch_size=16, eval_batches=6, lr=3e-3, net="small")
    good = reconstructor_accuracy(handle, distinct, **kwargs)
    bad = reconstructor_accuracy(handle, duplicate, **kwargs)
    assert good.chance == 0.5 and len(good.per_direction) == 2
    assert good.accuracy > 0.7, good  # about 0.8-0.9 over seeds
    assert bad.accuracy < 0.65, bad  # chance: 0.5


def test_effect_matrix_scores():
    from latentdirs.directions.groundtruth import score_effects

    perfect = score_effects(np.diag([0.5, 1.0, 2.0]), ["a", "b", "c"])
    assert perfect.disentanglement == pytest.approx(1.0, abs=1e-6)
    assert perfect.completeness == pytest.approx(1.0, abs=1e-6)
    assert perfect.gap == pytest.approx(1.0) and perfect.main_factor == ["a", "b", "c"]
    mixed = score_effects(np.ones((3, 3)), ["a", "b", "c"])
    assert mixed.disentanglement == pytest.approx(0.0, abs=1e-6) and mixed.gap == pytest.approx(0.0)
    # two directions change factor a equally, nobody changes c: gap 0 for a and c, 1 for b
    partial = score_effects(np.array([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0]]), ["a", "b", "c"])
    assert partial.gap_per_factor == pytest.approx([0.0, 1.0, 0.0])
    assert partial.disentanglement == pytest.approx(1.0, abs=1e-6) and partial.completeness < 1
    assert partial.main_share == pytest.approx([1.0, 1.0, 1.0])


def test_effect_matrix_with_a_brightness_reader():
    from latentdirs.directions.groundtruth import effect_matrix

    handle = GeneratorHandle(tiny_generator())
    renderer = SpaceRenderer(handle, LatentSpace("w"))
    sefa, _, _ = sefa_directions(handle, None, 3)
    dset = make_direction_set(renderer, sefa, method="t", generator=torch.Generator().manual_seed(0), num_samples=64)
    dset.scales[2] = 0.0  # a direction that does nothing

    def read(images):  # factor 0: brightness in 5 bins; factor 1: a single value
        bins = (images.mean(dim=(1, 2, 3)).clamp(0, 0.999) * 5).long()
        return [torch.nn.functional.one_hot(bins, 5).float().numpy(), np.ones((images.shape[0], 1), np.float32)]

    matrix, kept = effect_matrix(renderer, dset, read, samples=6, strengths=[-3.0, 0.0, 3.0])
    assert kept == [0] and matrix.shape == (3, 1)
    assert np.isfinite(matrix).all() and (matrix >= 0).all() and matrix[2, 0] == 0.0 and matrix[:2].sum() > 0


def test_ground_truth_needs_a_recorded_dataset():
    from latentdirs.directions.groundtruth import open_ground_truth

    probe, note = open_ground_truth(GeneratorHandle(tiny_generator()), None, None, "auto", "cpu")
    assert probe is None and "--dataset" in note


@pytest.mark.parametrize("net", ["small", pytest.param("resnet18", marks=pytest.mark.slow)])
def test_rca_resumes_from_its_checkpoint_bit_for_bit(tmp_path, monkeypatch, net):
    handle = GeneratorHandle(tiny_generator())
    renderer = SpaceRenderer(handle, LatentSpace("w"))
    gen = torch.Generator().manual_seed(0)
    sefa, _, _ = sefa_directions(handle, None, 3)
    dset = make_direction_set(renderer, sefa[:2], method="t", generator=gen, num_samples=64)
    other = make_direction_set(renderer, sefa[1:], method="t", generator=gen, num_samples=64)
    kwargs = dict(batch_size=8, eval_batches=2, lr=1e-3, net=net)
    straight = reconstructor_accuracy(handle, dset, steps=4, **kwargs)
    checkpoint = tmp_path / "rca.pt"
    step = DirectionTrainer.train_step

    def step_with_ctrl_c(self):
        if self.step == 1:  # Ctrl-C during the 2nd step: it finishes, a checkpoint is saved at step 2
            signal.raise_signal(signal.SIGINT)
        return step(self)

    monkeypatch.setattr(DirectionTrainer, "train_step", step_with_ctrl_c)
    with pytest.raises(Interrupted, match="stopped at step 2 of 4"):
        reconstructor_accuracy(handle, dset, steps=4, checkpoint=checkpoint, **kwargs)
    monkeypatch.setattr(DirectionTrainer, "train_step", step)
    resumed = reconstructor_accuracy(handle, dset, steps=4, checkpoint=checkpoint, resume=True, **kwargs)
    assert resumed == straight  # accuracies, losses of every step and the network's description
    assert straight.net == net and straight.input_size == 16 and net in straight.describe()
    with pytest.raises(UserError, match="other directions"):
        reconstructor_accuracy(handle, other, steps=4, checkpoint=checkpoint, resume=True, **kwargs)
    with pytest.raises(UserError, match="different settings"):
        reconstructor_accuracy(handle, dset, steps=4, checkpoint=checkpoint, resume=True,
                               **{**kwargs, "net": "small" if net == "resnet18" else "resnet18"})
    with pytest.raises(UserError, match="nothing to resume"):
        reconstructor_accuracy(handle, dset, steps=4, checkpoint=tmp_path / "none.pt", resume=True, **kwargs)
