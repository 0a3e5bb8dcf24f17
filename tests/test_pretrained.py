"""The bundled models: files match MANIFEST.json, they load, and the quality measure is sound on real images."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentdirs.data import get_dataset
from latentdirs.factors import (
    classifier_input,
    load_factor_classifier,
    predict_factors,
    rerender_quality,
    resolve_metric,
)
from latentdirs.gan import load_generator
from latentdirs.gan.training import QualityProbe
from latentdirs.io import sha256_file
from latentdirs.pretrained import MANIFEST, PRETRAINED_DIR, bundled_factor_classifier, bundled_path, manifest

pytestmark = pytest.mark.skipif(not MANIFEST.is_file(), reason="no pretrained/MANIFEST.json in this checkout")


def _bundled(kind: str) -> list[str]:
    """The manifest's models of one kind (read when the tests are collected: a model bundled later, such as
    ``ellipses_generator``, is tested without editing this file)."""
    if not MANIFEST.is_file():
        return []
    return sorted(name for name, entry in manifest()["models"].items() if entry.get("kind") == kind)


GENERATORS = _bundled("generator")
CLASSIFIERS = _bundled("factor_classifier")


def test_files_match_manifest_hashes_and_stay_small():
    models = manifest()["models"]
    assert {"dsprites_generator", "dsprites_factor_classifier", "ellipses_factor_classifier"} <= set(models)
    total = 0
    listed = set()
    for entry in models.values():
        for name, digest in entry["files"].items():
            path = PRETRAINED_DIR / name
            assert sha256_file(path) == digest, name
            total += path.stat().st_size
            listed.add(name)
        for key in ("kind", "dataset", "stem", "command", "seed", "wall_time_s", "hardware", "quality"):
            assert key in entry
        if entry["kind"] in ("generator", "factor_classifier"):  # weights + the JSON that says how to build them
            assert {f"{entry['stem']}.safetensors", f"{entry['stem']}.json"} <= set(entry["files"])
    # every weights or config file in pretrained/ is listed (unlisted ones are only the manifest and README pictures)
    present = {path.relative_to(PRETRAINED_DIR).as_posix() for path in PRETRAINED_DIR.rglob("*") if path.is_file()}
    assert {name for name in present - listed if not name.endswith(".png")} == {"MANIFEST.json"}
    assert total < 12 * 2**20  # two generators, two classifiers and a VAE


@pytest.mark.parametrize("name", GENERATORS)
def test_bundled_generator_loads_generates_and_matches_its_recorded_quality(name):
    """Every bundled generator loads, draws images of its dataset's shape, names its dataset (evaluate-directions
    and the demo find the factor classifier through it), has a bundled factor classifier, and scores on 64
    samples close to the mean its manifest records for 1024 (dSprites: 0.7432 against 0.7427)."""
    entry = manifest()["models"][name]
    dataset = get_dataset(entry["dataset"])
    G = load_generator(bundled_path(name).with_suffix(".json")).eval()
    assert (G.img_channels, G.img_resolution, G.img_resolution) == tuple(dataset.observation_shape)
    assert G.source["provenance"]["training"]["dataset"] == entry["dataset"]
    with torch.no_grad():
        images = G(torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    assert images.shape == (4, *dataset.observation_shape) and torch.isfinite(images).all()
    quality = entry["quality"]["psi_1"]
    assert quality["metric"] == resolve_metric(dataset) and quality["num_images"] == 1024
    assert {k: len(v) for k, v in quality["proportions"].items()} == dict(
        zip(dataset.factor_names, dataset.factor_sizes, strict=True))
    assert set(quality["coverage"]["tv_to_real"]) == {n for n, s in zip(dataset.factor_names, dataset.factor_sizes,
                                                                        strict=True) if s > 1}
    classifier = bundled_factor_classifier(entry["dataset"])
    assert classifier is not None
    fit = "fitted_mean" in quality  # the goal's score where the geometry is fitted between grid values
    measured = QualityProbe(load_factor_classifier(classifier), dataset).measure(G, 64, seed=0, fit=fit)
    assert abs(measured["mean"] - quality["mean"]) < 0.06, (measured["mean"], quality["mean"])
    if fit:
        assert abs(measured["fitted_mean"] - quality["fitted_mean"]) < 0.06
        assert entry["quality"]["goal_reached"] == (quality["fitted_mean"] >= 0.9
                                                    and quality["coverage"]["worst_tv"] <= 0.15)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_bundled_classifier_scores_real_images_above_095(name):
    entry = manifest()["models"][name]
    classifier = load_factor_classifier(bundled_path(name))
    dataset = get_dataset(entry["dataset"])
    images = dataset.sample_observations(300, np.random.RandomState(2024))
    assert rerender_quality(classifier, dataset, images).mean >= 0.95


#: factors a bundled classifier cannot read to 0.95 from real images, and why; for these the test holds the
#: classifier to the accuracy its manifest records instead
NOT_IDENTIFIED = {("dsprites", "orientation"): "a square a quarter turn on, an ellipse half a turn on, renders "
                                               "nearly the same image (manifest: 0.5735)"}


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_factors_round_trip_through_the_bundled_classifier(name):
    """factors → ``observations_from_factors`` → bundled classifier → factors agree on ≥ 95 % of 400 real images
    for every factor (measured, seed 2024: ellipses 400/400 on each of its seven factors; dSprites shape 400,
    scale 400, posX 398, posY 396, orientation 238 = 0.595 — see NOT_IDENTIFIED), and each factor's agreement is
    within sampling error of the accuracy the manifest records on 2000 other real images."""
    entry = manifest()["models"][name]
    classifier = load_factor_classifier(bundled_path(name))
    dataset = get_dataset(entry["dataset"])
    factors = dataset.sample_factors(400, np.random.RandomState(2024))
    images = dataset.observations_from_factors(factors)
    read = predict_factors(classifier, classifier_input(images, resolve_metric(dataset)))  # dSprites: binarized
    agreement = dict(zip(dataset.factor_names, (read == factors).mean(axis=0), strict=True))
    recorded = entry["quality"]["real_images"]["factor_accuracy"]
    for factor, value in agreement.items():
        if (entry["dataset"], factor) not in NOT_IDENTIFIED:
            assert value >= 0.95, (factor, value)
        p = recorded[factor]
        assert abs(value - p) <= 4 * np.sqrt(p * (1 - p) / len(factors)) + 0.01, (factor, value, p)


def test_score_generator_cli(capsys, tmp_path):
    from latentdirs.cli import main

    main(["score-generator", "--generator", str(bundled_path("dsprites_generator").with_suffix(".json")),
          "--num", "16", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "16 samples (seed 0" in out and "mean IoU " in out and "shape proportions: " in out
    assert "coverage, TV to real images" in out and "posY " in out
    main(["score-generator", "--generator", str(bundled_path("dsprites_generator").with_suffix(".json")),
          "--num", "16", "--device", "cpu", "--json", "--pairs", str(tmp_path / "pairs.png")])
    scores = json.loads(capsys.readouterr().out)
    assert scores["metric"] == "iou" and scores["num_images"] == 16 and len(scores["proportions"]["shape"]) == 3
    assert set(scores["coverage"]["tv_to_real"]) == {"shape", "scale", "orientation", "posX", "posY"}
    with Image.open(tmp_path / "pairs.png") as picture:  # 16 samples beside their re-renders: 2 rows of 16
        assert 7 * picture.size[1] < picture.size[0] < 9 * picture.size[1]
    with pytest.raises(SystemExit) as stop:  # dSprites' shapes have no geometry to fit between grid values
        main(["score-generator", "--generator", str(bundled_path("dsprites_generator").with_suffix(".json")),
              "--num", "4", "--device", "cpu", "--fit"])
    assert stop.value.code == 2 and "error: the fitted score needs" in capsys.readouterr().err


def test_bundled_vae_loads_encodes_and_matches_its_recorded_mig():
    from latentdirs.metrics.suite import evaluate_representation
    from latentdirs.vae.runs import load_trained

    entry = manifest()["models"]["dsprites_topdis_vae"]
    vae = load_trained(bundled_path("dsprites_topdis_vae"))
    assert entry["kind"] == "vae" and "topdis" in str(vae.config["regularizers"])
    images = vae.dataset.sample_observations(8, np.random.RandomState(0))
    codes = vae.encode_mean(images)
    assert codes.shape == (8, vae.model.encoder.latent_dim) and np.isfinite(np.asarray(codes)).all()
    # the recorded MIG is reproducible (same protocol, fewer points: only roughly equal)
    quick = evaluate_representation(vae.dataset, vae.encode_mean, ["mig"], num_train=2000, num_test=100)
    assert abs(quick["mig"] - entry["quality"]["metrics"]["mig"]) < 0.1
