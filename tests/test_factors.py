"""Factor classifier and the re-render quality measure, on a tiny procedural dataset."""

import signal

import numpy as np
import pytest
import torch

from latentdirs.data import get_dataset
from latentdirs.data.base import GroundTruthData
from latentdirs.errors import UserError
from latentdirs.factors import (
    binary_iou,
    coverage_gaps,
    factor_probabilities,
    factor_proportions,
    is_binary_dataset,
    load_factor_classifier,
    predict_factors,
    rerender_quality,
    rerender_shapes,
    save_factor_classifier,
    shapes_balanced,
    total_variation,
    train_factor_classifier,
)
from latentdirs.interrupt import Interrupted
from latentdirs.io import torch_load


class Blocks(GroundTruthData):
    """16×16 binary images: a 4×4 square or a 4-px-wide plus at one of 3×3 positions; one constant factor."""

    name = "blocks"
    factor_names = ("shape", "colour", "x", "y")
    factor_sizes = (2, 1, 3, 3)
    observation_shape = (1, 16, 16)

    def _render(self, factors: np.ndarray) -> np.ndarray:
        images = np.zeros((len(factors), 1, 16, 16), np.float32)
        for i, (shape, _, x, y) in enumerate(factors):
            top, left = 2 + 4 * y, 2 + 4 * x
            if shape == 0:
                images[i, 0, top:top + 4, left:left + 4] = 1
            else:
                images[i, 0, top + 1:top + 3, left:left + 4] = 1
                images[i, 0, top:top + 4, left + 1:left + 3] = 1
        return images


class Grey(Blocks):
    name = "grey"

    def _render(self, factors: np.ndarray) -> np.ndarray:
        return super()._render(factors) * 0.5 + 0.25


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    model, info = train_factor_classifier(Blocks(), steps=120, seed=0, device="cpu", batch_size=32, width=8,
                                          hidden=32, progress=False)
    return model, info


def test_binary_iou_oracle():
    a = np.zeros((3, 1, 4, 4), np.float32)
    b = np.zeros_like(a)
    a[0, 0, :2, :2] = 1          # 4 px
    b[0, 0, :2, :3] = 1          # 6 px, 4 shared → 4/6
    a[1, 0, 0, 0] = 1            # disjoint → 0
    b[1, 0, 3, 3] = 0.9
    np.testing.assert_allclose(binary_iou(a, b), [4 / 6, 0.0, 1.0])  # both empty → 1
    with pytest.raises(UserError):
        binary_iou(a, b[:2])


def test_proportions_and_binary_detection():
    props = factor_proportions(np.array([[0, 1], [0, 0], [1, 1], [0, 1]]), (2, 3), ("s", "t"))
    assert props == {"s": [0.75, 0.25], "t": [0.25, 0.75, 0.0]}
    assert is_binary_dataset(Blocks()) and not is_binary_dataset(Grey())


def test_total_variation_and_coverage_gaps():
    assert total_variation([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]) == pytest.approx(0.5)
    assert total_variation([1.0, 0.0], [0.0, 1.0]) == 1.0 and total_variation([0.2, 0.8], [0.2, 0.8]) == 0.0
    gaps = coverage_gaps({"s": [1.0, 0.0], "c": [1.0], "x": [0.2, 0.3, 0.5]},
                         {"s": [0.5, 0.5], "c": [1.0], "x": [0.5, 0.3, 0.2]})
    assert gaps == {"s": 0.5, "x": 0.3}                       # single-valued factors are left out
    with pytest.raises(UserError, match="same values"):
        total_variation([0.5, 0.5], [1.0])
    with pytest.raises(UserError, match="differ"):
        coverage_gaps({"s": [1.0, 0.0]}, {"t": [1.0, 0.0]})


def test_quality_probe_coverage_sees_a_generator_stuck_at_one_position(trained):
    """Every shape at one place re-renders well (high IoU) but the position TV to real images shows it."""
    from latentdirs.gan.training import QualityProbe

    model, _ = trained
    data = Blocks()
    probe = QualityProbe(model, data)
    factors = data.sample_factors(300, np.random.RandomState(11))
    real = probe.score_images(torch.from_numpy(data.observations_from_factors(factors)))
    factors[:, 2] = 0                                          # x always 0 (of 3 equally likely)
    stuck = probe.score_images(torch.from_numpy(data.observations_from_factors(factors)))
    assert real["mean"] > 0.9 and stuck["mean"] > 0.9
    assert set(real["coverage"]["tv_to_real"]) == {"shape", "x", "y"}
    assert max(real["coverage"]["tv_to_real"].values()) < 0.15   # noise level √(k/πn) ≈ 0.06 for k=3, n=300
    assert stuck["coverage"]["worst_factor"] == "x" and stuck["coverage"]["worst_tv"] == pytest.approx(2 / 3, abs=0.1)
    assert stuck["coverage"]["tv_to_real"]["y"] < 0.15
    images = torch.from_numpy(data.observations_from_factors(factors[:5]))
    pairs = probe.rerender_pairs(images)  # sample, re-render of its predicted factors, sample, …
    assert pairs.shape == (10, 1, 16, 16)
    np.testing.assert_array_equal(pairs[0::2], images.numpy())
    np.testing.assert_array_equal(pairs[1::2], data.observations_from_factors(predict_factors(model, images.numpy())))


def test_classifier_learns_and_rerender_scores_real_images(trained):
    model, info = trained
    data = Blocks()
    factors, images = data.sample(200, np.random.RandomState(7))
    predicted = predict_factors(model, images)
    assert predicted.shape == (200, 4) and predicted.dtype == np.int64
    assert (predicted[:, 1] == 0).all()                     # single-valued factor: no head, always 0
    assert (predicted == factors).all(axis=1).mean() > 0.9
    probabilities = factor_probabilities(model, images)
    assert [p.shape for p in probabilities] == [(200, 2), (200, 1), (200, 3), (200, 3)]
    np.testing.assert_allclose(probabilities[0].sum(1), 1, atol=1e-5)
    quality = rerender_quality(model, data, images)
    assert quality.metric == "iou" and quality.mean > 0.9
    # the score is exactly the IoU against the re-render of the predictions
    np.testing.assert_allclose(quality.per_image, binary_iou(images, data.observations_from_factors(predicted)))
    assert set(quality.summary()) == {"metric", "mean", "num_images", "blank", "proportions", "shape_by_rerender"}
    # the re-render reading of shapes: the shape whose render (other factors as predicted) overlaps most
    shapes = rerender_shapes(data, images, predicted)
    assert (shapes == factors[:, 0]).mean() > 0.9
    expected = np.bincount(shapes, minlength=2) / len(shapes)
    np.testing.assert_allclose(quality.shape_by_rerender, expected)
    assert set(info["train_accuracy_last_10pct"]) == {"shape", "x", "y"}


def test_shape_target_reads_the_re_render_shapes_when_there():
    by_classifier = {"proportions": {"shape": [0.34, 0.34, 0.32]}}
    assert shapes_balanced(by_classifier)
    assert not shapes_balanced({**by_classifier, "shape_by_rerender": [0.36, 0.60, 0.04]})
    assert shapes_balanced({**by_classifier, "shape_by_rerender": [0.42, 0.34, 0.24]})
    assert not shapes_balanced({**by_classifier, "shape_by_rerender": [0.44, 0.34, 0.22]})


def test_grey_and_blank_samples_are_read_as_their_binarized_image(trained):
    """The score compares binarized images, so the classifier reads those: a dimmed copy of real images
    (identical once binarized) scores the same; blank samples score 0 and take no factor value."""
    model, _ = trained
    data = Blocks()
    _, images = data.sample(100, np.random.RandomState(3))
    full = rerender_quality(model, data, images)
    dimmed = rerender_quality(model, data, 0.1 + 0.5 * images)  # 0 → 0.1, 1 → 0.6: grey, same binary image
    np.testing.assert_array_equal(dimmed.per_image, full.per_image)
    assert dimmed.proportions == full.proportions and full.blank == 0.0
    blanks = np.concatenate([images[:75], np.zeros_like(images[:25])])
    quality = rerender_quality(model, data, blanks)
    assert quality.blank == 0.25 and (quality.per_image[75:] == 0).all()
    assert sum(quality.proportions["shape"]) == pytest.approx(0.75)


def test_noise_images_score_low_and_grey_data_uses_mae(trained):
    model, _ = trained
    noise = np.random.RandomState(0).rand(50, 1, 16, 16).astype(np.float32)
    assert rerender_quality(model, Blocks(), noise).mean < 0.5
    grey_images = Grey().sample_observations(20, np.random.RandomState(1))
    assert rerender_quality(model, Grey(), grey_images).metric == "mae"


def test_save_load_round_trip_and_errors(trained, tmp_path):
    model, info = trained
    weights, config = save_factor_classifier(tmp_path / "clf", model, info)
    assert weights.name == "clf.safetensors" and config.name == "clf.json"
    loaded = load_factor_classifier(tmp_path / "clf.json")
    images = Blocks().sample_observations(16, np.random.RandomState(3))
    for a, b in zip(factor_probabilities(model, images), factor_probabilities(loaded, images), strict=True):
        np.testing.assert_array_equal(a, b)
    weights.write_bytes(b"not a safetensors file")
    with pytest.raises(UserError, match="safetensors"):
        load_factor_classifier(tmp_path / "clf")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(UserError, match="not a latentdirs factor classifier"):
        load_factor_classifier(tmp_path / "other")
    with pytest.raises(UserError, match="not found"):
        load_factor_classifier(tmp_path / "missing")
    with pytest.raises(UserError, match="expects images"):
        predict_factors(model, np.zeros((2, 1, 8, 8), np.float32))


class _CrashingBlocks(Blocks):
    """Blocks that count their batches, fail on call number ``crash_at`` (a killed run; 0: never) and receive
    a Ctrl-C during call number ``sigint_at``."""

    def __init__(self, crash_at: int = 0, sigint_at: int = 0) -> None:
        self.calls, self.crash_at, self.sigint_at = 0, crash_at, sigint_at

    def sample(self, n, random_state):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt
        if self.calls == self.sigint_at:
            signal.raise_signal(signal.SIGINT)
        return super().sample(n, random_state)


def test_classifier_training_resumes_bit_for_bit(tmp_path):
    settings = dict(steps=9, seed=3, device="cpu", batch_size=8, width=4, hidden=8, progress=False)
    straight, info = train_factor_classifier(Blocks(), **settings)
    checkpoint = tmp_path / "clf.ckpt.pt"
    with pytest.raises(KeyboardInterrupt):  # dies in step 8 (index 7): the checkpoint holds steps 0-5
        train_factor_classifier(_CrashingBlocks(crash_at=8), checkpoint=checkpoint, checkpoint_every=3, **settings)
    assert checkpoint.is_file()
    with pytest.raises(UserError, match="pass --resume"):  # never silently overwritten
        train_factor_classifier(Blocks(), checkpoint=checkpoint, checkpoint_every=3, **settings)
    with pytest.raises(UserError, match="other settings"):
        train_factor_classifier(Blocks(), checkpoint=checkpoint, checkpoint_every=3, resume=True,
                                **{**settings, "seed": 4})
    counting = _CrashingBlocks()
    resumed, resumed_info = train_factor_classifier(counting, checkpoint=checkpoint, checkpoint_every=3, resume=True,
                                                    **settings)
    assert counting.calls == 3  # steps 6-8 only: it continued, it did not start over
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert resumed_info["train_accuracy_last_10pct"] == info["train_accuracy_last_10pct"]
    checkpoint.unlink()  # the caller removes it once the classifier is saved (the CLI test checks that)

    # Ctrl-C in step 5 (index 4): the step finishes, the state is saved at step 5, the run stops; resuming gives
    # the same classifier as the uninterrupted run
    with pytest.raises(Interrupted, match="stopped at step 5 of 9"):
        train_factor_classifier(_CrashingBlocks(sigint_at=5), checkpoint=checkpoint, checkpoint_every=3, **settings)
    assert torch_load(checkpoint)["step"] == 5
    counting = _CrashingBlocks()
    resumed, _ = train_factor_classifier(counting, checkpoint=checkpoint, resume=True, checkpoint_every=3, **settings)
    assert counting.calls == 4
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(),
                                                  strict=True))


def test_train_factor_classifier_cli(tmp_path, capsys):
    from latentdirs.cli import main

    main(["train-factor-classifier", "--steps", "3", "--batch-size", "8", "--width", "4", "--eval-samples", "16",
          "--device", "cpu", "--checkpoint-every", "1", "--out", str(tmp_path / "clf")])
    assert "held-out re-render iou" in capsys.readouterr().out
    info = load_factor_classifier(tmp_path / "clf").config
    assert info["factor_names"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clf.json", "clf.safetensors"]  # checkpoint removed


def test_ctrl_c_during_the_held_out_measure_keeps_the_trained_classifier(tmp_path, monkeypatch):
    import latentdirs.factors
    from latentdirs.cli import main

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(latentdirs.factors, "rerender_quality", interrupted)  # the command imports it when it runs
    with pytest.raises(SystemExit) as exc:
        main(["train-factor-classifier", "--steps", "3", "--batch-size", "8", "--width", "4", "--eval-samples", "16",
              "--device", "cpu", "--out", str(tmp_path / "clf")])
    assert exc.value.code == 130
    assert load_factor_classifier(tmp_path / "clf").config["factor_names"][0] == "shape"


def test_desaturation_keeps_hue_and_greys_and_scales_chroma():
    """The saturation-jitter augmentation: grey pixels and every pixel's hue unchanged, chroma (max − min over
    channels) scaled by the factor, checked with colorsys on random pixels."""
    import colorsys

    from latentdirs.factors.train import desaturate

    rng = np.random.RandomState(0)
    images = torch.from_numpy(rng.uniform(0.05, 0.95, (4, 3, 5, 5)).astype(np.float32))
    images[0, :, 0, 0] = 0.4  # a grey pixel
    keep = torch.tensor([0.3, 0.5, 0.8, 1.0])
    out = desaturate(images, keep)
    assert torch.equal(out[0, :, 0, 0], images[0, :, 0, 0]) and torch.allclose(out[3], images[3])
    chroma = images.amax(dim=1) - images.amin(dim=1)
    assert torch.allclose(out.amax(dim=1) - out.amin(dim=1), chroma * keep[:, None, None], atol=1e-6)
    for n, i, j in [(1, 2, 3), (2, 4, 0), (0, 1, 1)]:
        before = colorsys.rgb_to_hsv(*images[n, :, i, j].tolist())[0]
        after = colorsys.rgb_to_hsv(*out[n, :, i, j].tolist())[0]
        assert abs(before - after) < 1e-5


def test_saturation_jitter_is_recorded_changes_training_and_needs_rgb(tmp_path, capsys):
    from latentdirs.cli import main

    settings = dict(steps=3, seed=1, device="cpu", batch_size=8, width=4, hidden=8, progress=False)
    ellipses = get_dataset("ellipses")
    plain, _ = train_factor_classifier(ellipses, **settings)
    jittered, info = train_factor_classifier(ellipses, saturation_jitter=0.5, **settings)
    assert info["saturation_jitter"] == 0.5
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), jittered.state_dict().values(),
                                                     strict=True))
    with pytest.raises(SystemExit) as exc:
        main(["train-factor-classifier", "--dataset", "dsprites", "--saturation-jitter", "0.5", "--steps", "2",
              "--device", "cpu", "--out", str(tmp_path / "clf")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "needs RGB images" in err, err
    assert not any(tmp_path.iterdir())
