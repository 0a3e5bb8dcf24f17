"""Generator configurations are checked against the weights' shapes and sane ranges before anything is built."""

import itertools
import json
import resource
import shutil
import time
from pathlib import Path

import pytest
import torch

from latentdirs.cli import main
from latentdirs.errors import UserError
from latentdirs.gan import Generator, load_generator
from latentdirs.gan.config import LIMITS, check_generator_config, state_shapes

BUNDLED = Path(__file__).resolve().parents[1] / "pretrained" / "dsprites_generator"


def _configs():
    """Each architecture with the defaults, then with each option that changes the state dict, at small sizes."""
    variations = [{}, {"c_dim": 3}, {"use_noise": False}, {"kernel_size": 1}, {"resample_filter": [1, 2, 1]},
                  {"resample_filter": [1] * 8}, {"resample_filter": [[1, 2]]}, {"embed_features": 5, "c_dim": 3},
                  {"layer_features": 7}, {"w_avg_beta": None}, {"num_layers": 1}]
    for architecture, change in itertools.product(("orig", "skip", "resnet"), variations):
        mapping = {k: change[k] for k in ("num_layers", "embed_features", "layer_features", "w_avg_beta")
                   if k in change}
        synthesis = {k: change[k] for k in ("use_noise", "kernel_size", "resample_filter") if k in change}
        yield dict(z_dim=6, c_dim=change.get("c_dim", 0), w_dim=4, img_resolution=16, img_channels=2,
                   mapping_kwargs={"num_layers": 2, **mapping},
                   synthesis_kwargs=dict(channel_base=64, channel_max=8, architecture=architecture, **synthesis))


def test_predicted_shapes_are_the_built_state_dict():
    """``state_shapes`` (arithmetic) equals the state dict of the network built from the same arguments."""
    count = 0
    for kwargs in _configs():
        built = {name: tuple(t.shape) for name, t in Generator(**kwargs).state_dict().items()}
        assert state_shapes(kwargs) == built, kwargs
        count += 1
    assert count == 3 * 11


def _forged_copy(tmp_path: Path, **changes) -> Path:
    """The bundled generator's JSON with ``changes`` applied to its init_kwargs (or their groups), beside a copy
    of its genuine weights: the sha256 in the JSON still matches them."""
    config = json.loads(BUNDLED.with_suffix(".json").read_text())
    for key, value in changes.items():
        group, _, field = key.rpartition(".")
        (config["init_kwargs"][group] if group else config["init_kwargs"])[field] = value
    shutil.copy(BUNDLED.with_suffix(".safetensors"), tmp_path / "forged.safetensors")
    path = tmp_path / "forged.json"
    path.write_text(json.dumps({**config, "weights": "forged.safetensors"}))
    return path


FORGED = [  # (change, the part of the one-line message that names it)
    ({"z_dim": 2**24}, "z_dim = 16777216 is refused"),
    ({"z_dim": 2**15}, "mapping.fc0.weight has shape [64, 64] in the weights"),
    ({"mapping_kwargs.num_layers": 200000}, "num_layers = 200000 is refused"),
    ({"mapping_kwargs.num_layers": 40}, "missing ['mapping.fc2.weight'"),
    ({"img_resolution": 2**14}, "channel_base = 1024 is refused (expected at least img_resolution = 16384"),
    ({"img_resolution": 2**14, "synthesis_kwargs.channel_base": 2**14}, "missing ['synthesis.b128.resample_filter'"),
    ({"img_resolution": 2**20}, "img_resolution = 1048576 is refused"),
    ({"img_resolution": 96}, "img_resolution = 96 is refused (expected a power of two"),
    ({"synthesis_kwargs.channel_base": 2**30}, "synthesis.b32.conv0.weight has shape [32, 64, 3, 3] in the weights"),
    ({"synthesis_kwargs.channel_base": 8}, "channel_base = 8 is refused (expected at least img_resolution"),
    ({"synthesis_kwargs.channel_max": 2**16}, "has shape"),
    ({"w_dim": 0}, "w_dim = 0 is refused"),
    ({"img_channels": 1.5}, "img_channels = 1.5 is refused"),
    ({"z_dim": True}, "z_dim = True is refused"),
    ({"synthesis_kwargs.kernel_size": 4}, "kernel_size = 4 is refused (expected an odd number)"),
    ({"synthesis_kwargs.resample_filter": [1, -1]}, "non-zero sum"),
    ({"synthesis_kwargs.conv_clamp": float("nan")}, "conv_clamp = nan is refused"),
    ({"synthesis_kwargs.architecture": "transformer"}, "architecture = 'transformer' is refused"),
    ({"mapping_kwargs.lr_multiplier": 0}, "lr_multiplier = 0 is refused"),
    ({"mapping_kwargs.bogus": 1}, "unsupported mapping_kwargs ['bogus']"),
]


@pytest.mark.parametrize(("change", "message"), FORGED, ids=[next(iter(c)) + "=" + str(next(iter(c.values())))[:12]
                                                               for c, _ in FORGED])
def test_forged_config_beside_genuine_weights_is_refused_before_building(tmp_path, change, message):
    """The issue's forged JSONs (z_dim 2^24 took 28.6 s and 9.0 GB, num_layers 200000 57 s, resolution 2^14
    13 s and 3.4 GB, 2^20 a ZeroDivisionError): refused at once, nothing large allocated. The peak RSS of this
    process may rise only by what reading the 0.8 MB weights costs (loosely: 200 MB), the time stays far
    below a second (loosely: 5 s on a loaded machine)."""
    path = _forged_copy(tmp_path, **change)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    start = time.perf_counter()
    with pytest.raises(UserError) as info:
        load_generator(path)
    elapsed = time.perf_counter() - start
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert message in str(info.value) and "\n" not in str(info.value)
    assert elapsed < 5.0 and grown_mib < 200, (elapsed, grown_mib)


def test_forged_config_is_one_error_line_in_the_cli(tmp_path, capsys):
    path = _forged_copy(tmp_path, z_dim=2**24)
    with pytest.raises(SystemExit) as info:
        main(["generate", "--generator", str(path), "--seeds", "0", "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "z_dim" in err
    assert not (tmp_path / "x.png").exists()


def test_the_bundled_generator_passes():
    config = json.loads(BUNDLED.with_suffix(".json").read_text())["init_kwargs"]
    G = load_generator(BUNDLED.with_suffix(".json"))
    check_generator_config(config, {k: v.shape for k, v in G.state_dict().items()}, "bundled")
    assert LIMITS["img_resolution"][0] <= G.img_resolution <= LIMITS["img_resolution"][1]


def test_pickle_and_checkpoint_arguments_are_checked_by_the_same_code():
    """ADA pickles' recorded arguments and rosinality settings reach ``build_generator``, which checks them
    against the tensors first: a mismatch is a UserError before anything is allocated."""
    from latentdirs.gan.loaders.build import build_generator

    kwargs = dict(z_dim=6, c_dim=0, w_dim=4, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 32, "channel_max": 4})
    state = Generator(**kwargs).state_dict()
    assert build_generator(kwargs, state, "ok", {}).z_dim == 6
    with pytest.raises(UserError, match=r"bad: mapping\.fc0\.weight has shape \[4, 6\] in the weights"):
        build_generator({**kwargs, "z_dim": 2**16}, state, "bad", {})
    with pytest.raises(UserError, match="dtype torch.int64"):
        build_generator(kwargs, {**state, "mapping.w_avg": torch.zeros(4, dtype=torch.long)}, "int", {})
