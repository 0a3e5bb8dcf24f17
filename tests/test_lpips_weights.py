"""LPIPS weight files are read by latentdirs (sha256, then weights-only), never by lpips or torchvision."""

import hashlib
from pathlib import Path

import pytest
import torch
from directions_support import tiny_generator_file

from latentdirs.cli import main
from latentdirs.directions import features
from latentdirs.directions.features import ALEXNET_FILE, ImageFeatures, LpipsEmbedding, read_weights
from latentdirs.errors import UserError

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]


class Payload:
    """Unpickling this writes ``marker``: what a planted weights file would do with ``weights_only=False``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub for this test (``$TORCH_HOME/hub/checkpoints``)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def _plant_payload(path: Path, marker: Path) -> None:
    torch.save({"features.0.weight": Payload(marker)}, path)


def test_payload_at_the_alexnet_path_is_refused_and_never_runs(hub, tmp_path, monkeypatch):
    marker = tmp_path / "ran"
    _plant_payload(hub / ALEXNET_FILE, marker)
    with pytest.raises(UserError, match=r"is not torchvision's AlexNet ImageNet weights: its sha256 is") as info:
        LpipsEmbedding()
    assert ALEXNET_FILE in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UserError, match="AlexNet"):
        ImageFeatures("lpips")  # discover … features=lpips
    assert not marker.exists()
    # a payload whose hash passed (a forged prefix is 2^32 tries): weights-only loading still refuses it
    monkeypatch.setattr(features, "ALEXNET_SHA256_PREFIX", hashlib.sha256((hub / ALEXNET_FILE).read_bytes())
                        .hexdigest()[:8])
    with pytest.raises(UserError, match="nothing in it was run"):
        LpipsEmbedding()
    assert not marker.exists()
    torch.load(hub / ALEXNET_FILE, weights_only=False)  # the payload is live: torchvision's way runs it
    assert marker.read_text() == "ran"


def test_payload_as_the_lpips_linear_weights_is_refused(tmp_path, monkeypatch):
    marker, planted = tmp_path / "ran", tmp_path / "alex.pth"
    _plant_payload(planted, marker)
    monkeypatch.setattr(features, "lpips_linear_weights_path", lambda: planted)
    with pytest.raises(UserError, match="is not the lpips package's AlexNet linear weights: its sha256"):
        LpipsEmbedding()
    with pytest.raises(UserError, match="nothing in it was run"):
        read_weights(planted, "weights", "")  # no hash to pass: the weights-only reader alone
    assert not marker.exists()


def test_corrupt_alexnet_file_is_one_error_line_before_any_work(hub, tmp_path, capsys):
    (hub / ALEXNET_FILE).write_bytes(b"PK\x03\x04 not really a zip archive" * 100)
    generator = tiny_generator_file(tmp_path)
    assert main(["discover", "--generator", generator, "--method", "sefa", "-k", "2", "--stats-samples", "16",
                 "--grid-samples", "1", "--grid-steps", "2", "--out", str(tmp_path / "d"), "--quiet",
                 "--device", "cpu"]) is None
    capsys.readouterr()
    runs = {"evaluate-directions": ["evaluate-directions", str(tmp_path / "d" / "directions.safetensors"),
                                    "--generator", generator, "--rca-steps", "1000000", "--out", str(tmp_path / "e"),
                                    "--quiet", "--device", "cpu"],
            "discover": ["discover", "--generator", generator, "--method", "gmg:features=lpips", "-k", "2",
                         "--steps", "1", "--out", str(tmp_path / "g"), "--quiet", "--device", "cpu"]}
    for name, argv in runs.items():
        with pytest.raises(SystemExit) as info:
            main(argv)  # a million RCA steps: the error must come before them
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, (name, err)
        assert ALEXNET_FILE in err and "is not torchvision's AlexNet ImageNet weights" in err, (name, err)
    assert not (tmp_path / "e").exists() and not (tmp_path / "g" / "directions.safetensors").exists()


def test_weights_with_the_file_hash_reach_the_backbone(hub, monkeypatch):
    """A file of torchvision's AlexNet layout whose hash is the expected one is loaded into the backbone
    (the real file cannot be fetched here: the expected prefix is set to this file's)."""
    generator = torch.Generator().manual_seed(5)
    like = LpipsEmbedding().backbone.state_dict()  # lpips' slices of torchvision's AlexNet ``features``
    state = {"features." + name.split(".", 1)[1]: torch.randn(t.shape, generator=generator) for name, t in like.items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # the classifier is in the real file; LPIPS does not use it
    torch.save(state, hub / ALEXNET_FILE)
    monkeypatch.setattr(features, "ALEXNET_SHA256_PREFIX", hashlib.sha256((hub / ALEXNET_FILE).read_bytes())
                        .hexdigest()[:8])
    embedding = LpipsEmbedding()
    assert embedding.pretrained_backbone and "RANDOM" not in embedding.description
    backbone = embedding.backbone.state_dict()
    assert len(backbone) == 10
    for name, tensor in backbone.items():  # slice2.3.weight is features.3.weight
        assert torch.equal(tensor, state["features." + name.split(".", 1)[1]]), name
    del state["features.8.bias"]
    torch.save(state, hub / ALEXNET_FILE)
    monkeypatch.setattr(features, "ALEXNET_SHA256_PREFIX", hashlib.sha256((hub / ALEXNET_FILE).read_bytes())
                        .hexdigest()[:8])
    with pytest.raises(UserError, match=r"expected features\.8\.bias of shape \[256\], found nothing"):
        LpipsEmbedding()
