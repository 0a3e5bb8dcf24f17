"""The bundled models: files match MANIFEST.json, they load, and the quality measure is sound on real images."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from latentdirs.data import get_dataset
from latentdirs.factors import load_factor_classifier, rerender_quality
from latentdirs.gan import load_generator
from latentdirs.io import sha256_file
from latentdirs.pretrained import MANIFEST, PRETRAINED_DIR, bundled_factor_classifier, bundled_path, manifest

pytestmark = pytest.mark.skipif(not MANIFEST.is_file(), reason="no pretrained/MANIFEST.json in this checkout")


def test_files_match_manifest_hashes_and_stay_small():
    models = manifest()["models"]
    assert {"dsprites_generator", "dsprites_factor_classifier"} <= set(models)
    total = 0
    for entry in models.values():
        for name, digest in entry["files"].items():
            path = PRETRAINED_DIR / name
            assert sha256_file(path) == digest, name
            total += path.stat().st_size
        for key in ("command", "seed", "wall_time_s", "hardware", "quality"):
            assert key in entry
    assert total < 8 * 2**20


def test_bundled_generator_loads_and_generates():
    G = load_generator(bundled_path("dsprites_generator").with_suffix(".json")).eval()
    assert (G.img_resolution, G.img_channels) == (64, 1)
    with torch.no_grad():
        images = G(torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    assert images.shape == (4, 1, 64, 64) and torch.isfinite(images).all()
    quality = manifest()["models"]["dsprites_generator"]["quality"]["psi_1"]
    assert quality["metric"] == "iou" and len(quality["proportions"]["shape"]) == 3


def test_bundled_classifier_scores_real_images_above_095():
    path = bundled_factor_classifier("dsprites")
    assert path is not None
    classifier = load_factor_classifier(path)
    dataset = get_dataset("dsprites")
    images = dataset.sample_observations(300, np.random.RandomState(2024))
    assert rerender_quality(classifier, dataset, images).mean >= 0.95


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
